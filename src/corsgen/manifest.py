"""The manifest (corsgen.toml or [tool.corsgen]): which policies render for which targets, where."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema

from corsgen.errors import CorsgenError, Finding, PolicyError
from corsgen.globbing import Budget, GlobRefused, expand
from corsgen.rules.table import finding
from corsgen.targets import NAMES, kubernetes
from corsgen.tomlfile import key_lines, parse_toml, read_text, validate

if TYPE_CHECKING:
    TargetName = str
else:
    # A Literal of the registry's names: pydantic refuses any other, and the JSON Schema lists them.
    TargetName = Literal[NAMES]

# A Kubernetes namespace, a DNS-1123 label, and a route's name, a DNS-1123 subdomain
# (targets/kubernetes.py, as render's --namespace and --route take them).
# The check is label_problem's, so its words are the CLI's; the schema states the same pattern.


def _label(text: str) -> str:
    if (why := kubernetes.label_problem(text)) is not None:
        raise ValueError(f"not a Kubernetes name: {why}")
    return text


def _subdomain(text: str) -> str:
    if (why := kubernetes.label_problem(text, dots=True)) is not None:
        raise ValueError(f"not a Kubernetes name: {why}")
    return text


def _schema(pattern: str, most: int) -> WithJsonSchema:
    return WithJsonSchema({"type": "string", "pattern": f"^{pattern}$", "maxLength": most})


KubernetesName = Annotated[
    str, AfterValidator(_label), _schema(kubernetes.LABEL, kubernetes.MAX_LABEL)
]
RouteName = Annotated[
    str, AfterValidator(_subdomain), _schema(kubernetes.SUBDOMAIN, kubernetes.MAX_SUBDOMAIN)
]

MANIFEST = "corsgen.toml"
PYPROJECT = "pyproject.toml"


class Output(BaseModel):
    """One group of policies rendered for some targets into one directory."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    policies: list[str] = Field(
        min_length=1,
        description="Policy files, as paths or globs relative to the manifest (cors/*.toml); they "
        "must stay inside its directory unless sync gets --allow-outside.",
    )
    targets: list[TargetName] = Field(
        min_length=1,
        description="Servers to render for: " + ", ".join(f'"{n}"' for n in NAMES) + ".",
    )
    out_dir: str = Field(
        description="Directory for the generated files, relative to the manifest and inside its "
        "directory unless sync gets --allow-outside; {target} is replaced by the target's name "
        "(deploy/{target}).",
    )
    namespace: KubernetesName | None = Field(
        None,
        description="Kubernetes outputs: the namespace their whole resources are written in "
        "(default: none, as kustomize's namespace or kubectl -n gives it); other targets ignore "
        "it.",
    )
    routes: dict[str, RouteName] = Field(
        {},
        description="Kubernetes outputs: the HTTPRoute or VirtualService a policy, by its name, is "
        'for where it is not the policy\'s name with _ as - ({spa_api = "storefront"}).',
    )


class Manifest(BaseModel):
    """Everything `corsgen sync` renders."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    strict: bool = Field(False, description="Treat policy warnings as errors.")
    outputs: list[Output] = Field(min_length=1, description="What to render, and where.")


@dataclass(frozen=True)
class Job:
    """One policy file rendered for one target into one directory."""

    policy: Path
    target: str
    out_dir: Path
    key: str
    output: Output  # its namespace and routes, for the Kubernetes outputs


@dataclass(frozen=True)
class LoadedManifest:
    path: Path
    manifest: Manifest
    lines: Mapping[str, int] = field(default_factory=dict)  # key_lines of the manifest

    @property
    def root(self) -> Path:
        return self.path.parent

    @property
    def prefix(self) -> str:
        """What stands before outputs[0] in a key, as validate() names it."""
        return "tool.corsgen." if self.path.name == PYPROJECT else ""

    def jobs(self, allow_outside: bool = False) -> list[Job]:
        """Every (policy, target, directory), globs expanded; refuses a glob that matches nothing
        and, unless `allow_outside`, a path that leads out of the manifest's directory."""
        # Each output's own (its namespace and routes may differ): sync keeps one job per file,
        # or reports two outputs that would write one file differently (CG303).
        jobs: dict[tuple[Path, str, Path, str], Job] = {}
        problems: list[Finding] = []
        budget = Budget()
        for index, output in enumerate(self.manifest.outputs):
            key = f"{self.prefix}outputs[{index}]"
            out_dirs, found = self._out_dirs(output, f"{key}.out_dir", allow_outside)
            problems += found
            for pindex, pattern in enumerate(output.policies):
                policies, found = self._policies(
                    pattern, f"{key}.policies[{pindex}]", allow_outside, budget
                )
                problems += found
                for policy in policies:
                    for target, out_dir in out_dirs.items():
                        jobs.setdefault(
                            (policy, target, out_dir, key),
                            Job(policy, target, out_dir, key, output),
                        )
        if problems:
            raise PolicyError(problems)
        return list(jobs.values())

    def _out_dirs(
        self, output: Output, key: str, allow_outside: bool
    ) -> tuple[dict[str, Path], list[Finding]]:
        why = _malformed(output.out_dir)
        if why:
            return {}, [self.finding("CG305", "out-dir", key, out_dir=output.out_dir, why=why)]
        dirs = {t: self.root / output.out_dir.replace("{target}", t) for t in output.targets}
        stray = None if allow_outside else self._stray(dirs.values())
        if stray:
            where = {"path": _resolved(stray), "root": _resolved(self.root)}
            return {}, [self.finding("CG304", "out-dir", key, out_dir=output.out_dir, **where)]
        return dirs, []

    def _policies(
        self, pattern: str, key: str, allow_outside: bool, budget: Budget
    ) -> tuple[list[Path], list[Finding]]:
        pure = PurePosixPath(pattern)
        why = _malformed(pattern) or ("is absolute" if pure.is_absolute() else None)
        if why:
            return [], [self.finding("CG305", "glob", key, pattern=pattern, why=why)]
        if ".." in pure.parts and not allow_outside:
            root = _resolved(self.root)
            return [], [self.finding("CG304", "dot-dot", key, pattern=pattern, root=root)]
        try:
            # Regular files only: a FIFO or device would hang or flood the TOML reader.
            matches = expand(self.root, pattern, budget)
        except GlobRefused as exc:
            found = exc.violation
            return [], [self.finding(found.rule, found.case, key, pattern=pattern, **found.fields)]
        if not matches:
            return [], [self.finding("CG302", "no-match", key, pattern=pattern, root=self.root)]
        stray = None if allow_outside else self._stray(matches)
        if stray:
            where = {"path": _resolved(stray), "root": _resolved(self.root)}
            return [], [self.finding("CG304", "glob", key, pattern=pattern, **where)]
        return matches, []

    def _stray(self, paths: Iterable[Path]) -> Path | None:
        """The first path that, symlinks followed, is not inside the manifest's directory."""
        return next((p for p in paths if not self._inside(p)), None)

    def _inside(self, path: Path) -> bool:
        try:
            return path.resolve().is_relative_to(self.root.resolve())
        except (OSError, RuntimeError):  # a symlink loop leads nowhere, certainly not home
            return False

    def finding(self, rule: str, case: str, key: str, **fields: object) -> Finding:
        """A finding against this manifest's `key`, on its line (rules/table.py has the texts)."""
        return finding(rule, case, file=self.path.name, key=key, lines=self.lines, fields=fields)


def _malformed(value: str) -> str | None:
    """Why a manifest path or glob can be nothing but a mistake, or None."""
    if not value:
        return "is empty"
    encoded = value.encode("utf-8", "surrogatepass")  # as the file system counts: in bytes
    if len(encoded) > _PATH_MAX or any(len(part) > _NAME_MAX for part in encoded.split(b"/")):
        # No such path exists, and matching it would cost time and memory in its length.
        return f"is longer than a path can be ({_PATH_MAX:,} bytes, {_NAME_MAX} a name)"
    if any(unicodedata.category(ch) == "Cc" for ch in value):
        return "contains a control character"
    if not PurePosixPath(value).parts:
        return "names the manifest's own directory"
    return None


# Linux's PATH_MAX and NAME_MAX, which most file systems share, in bytes of UTF-8: 128 é are 256
# bytes, and a stat of such a name failed with "File name too long" (a traceback, not a finding).
_PATH_MAX = 4_096
_NAME_MAX = 255


def _resolved(path: Path) -> str:
    try:
        return str(path.resolve())
    except (OSError, RuntimeError):
        return str(path)


def find_manifest(directory: Path) -> Path:
    """corsgen.toml in `directory`, else a pyproject.toml there with a [tool.corsgen] table."""
    if (directory / MANIFEST).is_file():
        return directory / MANIFEST
    pyproject = directory / PYPROJECT
    if pyproject.is_file() and "corsgen" in parse_toml(read_text(pyproject), PYPROJECT).get(
        "tool", {}
    ):
        return pyproject
    raise CorsgenError(
        f"no {MANIFEST}, and no [tool.corsgen] in {PYPROJECT}, in {directory}; "
        "run `corsgen init` or pass --manifest"
    )


def load_manifest(path: Path) -> LoadedManifest:
    text = read_text(path)
    data = parse_toml(text, path.name)
    if path.name == PYPROJECT:
        table = data.get("tool", {}).get("corsgen")
        if table is None:
            raise CorsgenError(f"{path.name}: no [tool.corsgen] table")
        manifest = validate(table, path.name, Manifest, prefix="tool.corsgen.", text=text)
    else:
        manifest = validate(data, path.name, Manifest, text=text)
    return LoadedManifest(path, manifest, key_lines(text))
