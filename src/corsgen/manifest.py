"""The manifest (corsgen.toml or [tool.corsgen]): which policies render for which targets, where."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from corsgen.errors import CorsgenError, PolicyError
from corsgen.render import Target
from corsgen.tomlfile import error, parse_toml, read_text, validate

MANIFEST = "corsgen.toml"
PYPROJECT = "pyproject.toml"


class Output(BaseModel):
    """One group of policies rendered for some targets into one directory."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    policies: list[str] = Field(
        min_length=1,
        description="Policy files, as paths or globs relative to the manifest (cors/*.toml).",
    )
    targets: list[Target] = Field(
        min_length=1, description='Servers to render for: "nginx", "apache", "caddy".'
    )
    out_dir: str = Field(
        description="Directory for the generated files, relative to the manifest; {target} is "
        "replaced by the target's name (deploy/{target}).",
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
    target: Target
    out_dir: Path
    key: str


@dataclass(frozen=True)
class LoadedManifest:
    path: Path
    manifest: Manifest

    @property
    def root(self) -> Path:
        return self.path.parent

    def out_dir(self, output: Output, target: str) -> Path:
        return self.root / output.out_dir.replace("{target}", target)

    def out_dirs(self) -> list[Path]:
        return sorted({self.out_dir(o, t) for o in self.manifest.outputs for t in o.targets})

    def jobs(self) -> list[Job]:
        """Every (policy, target, directory), globs expanded; a glob that matches nothing fails."""
        jobs: dict[tuple[Path, str, Path], Job] = {}
        problems = []
        for index, output in enumerate(self.manifest.outputs):
            for pindex, pattern in enumerate(output.policies):
                key = f"outputs[{index}].policies[{pindex}]"
                matches = sorted(p for p in self.root.glob(pattern) if p.is_file())
                if not matches:
                    problems.append(
                        error(
                            "CG302",
                            "glob-matches-nothing",
                            self.path.name,
                            key,
                            f"{pattern!r} matches no file",
                            f"check the path; it is relative to {self.root}",
                        )
                    )
                for policy in matches:
                    for target in output.targets:
                        out_dir = self.out_dir(output, target)
                        jobs.setdefault(
                            (policy, target, out_dir),
                            Job(policy, target, out_dir, f"outputs[{index}]"),
                        )
        if problems:
            raise PolicyError(problems)
        return list(jobs.values())


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
    data = parse_toml(read_text(path), path.name)
    if path.name == PYPROJECT:
        table = data.get("tool", {}).get("corsgen")
        if table is None:
            raise CorsgenError(f"{path.name}: no [tool.corsgen] table")
        return LoadedManifest(path, validate(table, path.name, Manifest, prefix="tool.corsgen."))
    return LoadedManifest(path, validate(data, path.name, Manifest))
