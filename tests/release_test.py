"""The release as a user gets it: the sdist and wheel `python -m build` makes, checked by twine,
and the wheel installed into a fresh virtual environment running the quick start.

An installed corsgen without its templates was a real bug once: these tests read the built
archives and run the installed command, never the source tree. Under CI=true they must run; on a
developer's machine they skip only when `build` or `twine` is not installed (the `test` extra
has both). Building and installing reach PyPI (setuptools, corsgen's dependencies) through pip's
cache; about a minute in all.
"""

from __future__ import annotations

import fnmatch
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tomllib
import venv
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pytest

import corsgen
from corsgen import __version__

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = Path(corsgen.__file__).resolve().parent
TEMPLATES = PACKAGE / "templates"
# What the copy of the tree that is built leaves out: the build never reads these.
NOT_BUILT = shutil.ignore_patterns(
    ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", ".hypothesis"
)
# The quick start's render, for two targets.
RENDERED = ("nginx", "caddy")


def _tools() -> None:
    missing = [m for m in ("build", "twine") if importlib.util.find_spec(m) is None]
    if not missing:
        return
    message = f"{' and '.join(missing)} not installed (pip install -e '.[test]')"
    if os.environ.get("CI") == "true":
        pytest.fail(message + " (CI=true: the release tests must run, not skip)")
    pytest.skip(message)


def _run(argv: list[str], cwd: Path, env: Mapping[str, str] | None = None) -> str:
    done = subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, f"{argv}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _template_files() -> list[str]:
    """Every file under the package's templates/, relative to the package, in POSIX form."""
    return sorted(
        str(PurePosixPath(*path.relative_to(PACKAGE).parts))
        for path in TEMPLATES.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    )


def test_package_data_names_every_template() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    globs = pyproject["tool"]["setuptools"]["package-data"]["corsgen"]

    def covered(name: str) -> bool:
        parts = name.split("/")
        return any(
            len(glob.split("/")) == len(parts)
            and all(map(fnmatch.fnmatchcase, parts, glob.split("/")))
            for glob in globs
        )

    assert [name for name in _template_files() if not covered(name)] == []
    assert "py.typed" in globs


def test_the_version_has_a_changelog_section() -> None:
    changelog = (ROOT / "CHANGELOG.md").read_text()
    versions = re.findall(r"^## \[([^\]]+)\]", changelog, re.MULTILINE)
    assert versions[:2] == ["Unreleased", __version__]
    assert re.search(rf"^## \[{re.escape(__version__)}\] - \d{{4}}-\d\d-\d\d$", changelog, re.M)


@dataclass(frozen=True)
class Dist:
    sdist: Path
    wheel: Path


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Dist:
    """The sdist, and the wheel build makes from it, of a copy of this tree."""
    _tools()
    tree = tmp_path_factory.mktemp("tree") / "corsgen"
    shutil.copytree(ROOT, tree, ignore=NOT_BUILT)
    out = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "build", "--outdir", str(out), str(tree)], tree)
    sdist, wheel = (
        out / f"corsgen-{__version__}.tar.gz",
        out / f"corsgen-{__version__}-py3-none-any.whl",
    )
    assert sorted(out.iterdir()) == sorted([sdist, wheel])
    return Dist(sdist, wheel)


def test_twine_checks_the_sdist_and_the_wheel(dist: Dist, tmp_path: Path) -> None:
    out = _run(
        [sys.executable, "-m", "twine", "check", "--strict", str(dist.sdist), str(dist.wheel)],
        tmp_path,
    )
    assert out.count("PASSED") == 2, out


def test_the_sdist_holds_every_template(dist: Dist) -> None:
    with tarfile.open(dist.sdist) as archive:
        names = set(archive.getnames())
    top = f"corsgen-{__version__}"
    wanted = [f"{top}/src/corsgen/{name}" for name in [*_template_files(), "py.typed"]]
    assert [name for name in wanted if name not in names] == []
    assert {f"{top}/pyproject.toml", f"{top}/README.md"} <= names


def test_the_wheel_holds_every_template_and_py_typed(dist: Dist) -> None:
    with zipfile.ZipFile(dist.wheel) as archive:
        names = set(archive.namelist())
        metadata = archive.read(f"corsgen-{__version__}.dist-info/METADATA").decode()
    wanted = [f"corsgen/{name}" for name in [*_template_files(), "py.typed"]]
    assert [name for name in wanted if name not in names] == []
    assert f"\nVersion: {__version__}\n" in metadata


@pytest.fixture(scope="module")
def installed(dist: Dist, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh virtual environment with the wheel installed: its corsgen executable."""
    home = tmp_path_factory.mktemp("venv") / "venv"
    venv.create(home, with_pip=True)
    python = home / "bin" / "python"
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    _run([*pip, str(dist.wheel)], home, _clean_env())
    yield home / "bin" / "corsgen"


def _clean_env() -> dict[str, str]:
    """The environment without anything that would show the source tree to the installed corsgen."""
    drop = {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP"}
    return {k: v for k, v in os.environ.items() if k not in drop}


def _quick_start(argv0: list[str], directory: Path, env: Mapping[str, str]) -> dict[str, str]:
    """What the quick start prints and writes, run in an empty directory with argv0 as corsgen."""
    directory.mkdir()
    seen = {"--version": _run([*argv0, "--version"], directory, env)}
    seen["init"] = _run([*argv0, "init"], directory, env)
    for target in RENDERED:
        seen[target] = _run([*argv0, "render", "cors/api.toml", "--target", target], directory, env)
    for path in sorted(directory.rglob("*")):
        if path.is_file():
            seen[str(path.relative_to(directory))] = path.read_text()
    # init names what it wrote by absolute path
    return {key: text.replace(str(directory), "DIR") for key, text in seen.items()}


def test_the_installed_wheel_runs_the_quick_start_as_the_source_does(
    installed: Path, tmp_path: Path
) -> None:
    wheel = _quick_start([str(installed)], tmp_path / "wheel", _clean_env())
    # The source tree's corsgen, whatever the environment says: the one these tests import.
    source_env = {**_clean_env(), "PYTHONPATH": str(PACKAGE.parent)}
    source = _quick_start([sys.executable, "-m", "corsgen"], tmp_path / "source", source_env)
    assert wheel["--version"] == f"corsgen {__version__}\n"
    assert {"corsgen.toml", "cors/api.toml"} <= wheel.keys()
    for target in RENDERED:
        assert f"# Generated by corsgen {__version__} from api.toml;" in wheel[target]
    assert wheel == source
    # And the wheel's corsgen is not the source tree's.
    where = _run(
        [str(installed.parent / "python"), "-c", "import corsgen; print(corsgen.__file__)"],
        tmp_path,
        _clean_env(),
    )
    assert Path(where.strip()).resolve().is_relative_to(installed.parent.parent)
