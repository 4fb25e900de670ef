"""The house rules a reviewer would otherwise check by hand: who may name a target, a slug."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from corsgen.targets import TARGETS
from testing.paths import ROOT

SRC = ROOT / "src" / "corsgen"
# Words of a title that are common words too ("Gateway API"): the whole title and name are
# looked for instead (PHRASES).
COMMON = {"api", "gateway"}
WORDS = {word.lower() for t in TARGETS.values() for word in (t.name, *t.title.split())} - COMMON
PHRASES = {p.lower() for t in TARGETS.values() for p in (t.name, t.title) if not p.isalnum()}


def _strings(path: Path) -> list[tuple[int, str]]:
    """Every string constant in a module but its docstrings: the values code acts on or shows.

    Docstrings and comments may say why (PCRE2 is what nginx links); code may not decide by name.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    ]


# ingress-nginx, the Kubernetes controller `corsgen import` reads, and its annotations' prefix
# name no target.
_CONTROLLER = re.compile(r"ingress-nginx|nginx\.ingress\.kubernetes\.io")
OUTSIDE = sorted(p for p in SRC.rglob("*.py") if "targets" not in p.relative_to(SRC).parts)


@pytest.mark.parametrize("path", OUTSIDE, ids=lambda p: str(p.relative_to(SRC)))
def test_no_module_outside_targets_names_a_target(path: Path) -> None:
    found = [
        f"{path.name}:{line}: {word}"
        for line, text in _strings(path)
        for word in re.findall(r"[a-z0-9]+", _CONTROLLER.sub("", text.lower()))
        if word in WORDS
    ]
    found += [
        f"{path.name}:{line}: {phrase}"
        for line, text in _strings(path)
        for phrase in PHRASES
        if phrase in text.lower()
    ]
    assert not found


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    names += [
        n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level == 0
    ]
    return names + [
        "." * n.level for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level
    ]


SHARED_CODE = sorted(
    p for folder in ("tests", "benchmarks", "testing") for p in (ROOT / folder).rglob("*.py")
)


@pytest.mark.parametrize("path", SHARED_CODE, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_imports_a_test_module(path: Path) -> None:
    """What tests share lives in testing/ (fixtures in conftest.py reach tests through pytest):
    a test file can be renamed, moved or deleted without breaking another."""
    found = [name for name in _imports(path) if name == "tests" or name.startswith(("tests.", "."))]
    assert not found


def test_no_two_test_files_share_a_name() -> None:
    """`pytest tests/x_test.py` and a failure's file name each point at one file."""
    names = [p.name for p in (ROOT / "tests").rglob("*_test.py")]
    assert sorted(names) == sorted(set(names))


# The browser model judges everything else: it shares no code with what it judges.
JUDGE = {"fetch.py": set(), "cookies.py": {"corsgen.fetch"}}


@pytest.mark.parametrize("name", JUDGE)
def test_the_browser_model_imports_nothing_it_judges(name: str) -> None:
    found = {i for i in _imports(SRC / name) if i == "corsgen" or i.startswith(("corsgen.", "."))}
    assert found == JUDGE[name]
