"""The templates: jinja2 renders them, they only loop and interpolate, and nothing of them is read
from a place another user can write."""

from __future__ import annotations

import marshal
import os
import subprocess
import sys
from pathlib import Path

import pytest
from jinja2 import nodes

from corsgen.targets import NAMES
from corsgen.targets.base import comment
from corsgen.templating import Templates
from testing.paths import EXAMPLES

TEMPLATES = Path(__file__).parents[1] / "src" / "corsgen" / "templates"

# What "loop and interpolate" means in jinja2's tree: text and values, filters, for, if, with,
# include and macros (a macro is a named piece of text). No set, no call of a Python method.
ALLOWED = (
    nodes.Template,
    nodes.Output,
    nodes.TemplateData,
    nodes.Name,
    nodes.Const,
    nodes.Getattr,
    nodes.Getitem,
    nodes.Slice,
    nodes.Tuple,
    nodes.List,
    nodes.Filter,
    nodes.For,
    nodes.If,
    nodes.CondExpr,
    nodes.Compare,
    nodes.Operand,
    nodes.And,
    nodes.Or,
    nodes.Not,
    nodes.Concat,
    nodes.With,
    nodes.Include,
    nodes.Macro,
    nodes.Call,  # of a macro only: test_templates_only_loop_and_interpolate
    nodes.Keyword,
)


def _templates() -> list[str]:
    return sorted(str(p.relative_to(TEMPLATES)) for p in TEMPLATES.rglob("*.j2"))


@pytest.mark.parametrize("name", _templates())
def test_templates_only_loop_and_interpolate(name: str) -> None:
    environment = Templates({"comment": comment}).environment()
    tree = environment.parse((TEMPLATES / name).read_text())
    macros = {macro.name for macro in tree.find_all(nodes.Macro)}
    for node in tree.find_all(nodes.Node):
        assert isinstance(node, ALLOWED), f"{name}:{node.lineno}: {type(node).__name__}"
        if isinstance(node, nodes.Call):
            assert isinstance(node.node, nodes.Name) and node.node.name in macros, node


def _render(cache: Path) -> str:
    argv = [sys.executable, "-m", "corsgen", "render", str(EXAMPLES / "spa-api.toml")]
    env = {**os.environ, "XDG_CACHE_HOME": str(cache), "HOME": str(cache)}
    done = subprocess.run([*argv, "--target", NAMES[0]], env=env, capture_output=True, check=True)
    return done.stdout.decode()


def test_a_cache_planted_by_another_user_is_never_read(tmp_path: Path) -> None:
    """corsgen once ran compiled templates from $XDG_CACHE_HOME/corsgen: a blob another local
    user planted in a shared cache directory ran as the user (the hardening review)."""
    (tmp_path / "clean").mkdir()
    clean = _render(tmp_path / "clean")
    shared = tmp_path / "shared"
    (shared / "corsgen").mkdir(parents=True)
    shared.chmod(0o1777)
    evil = compile("raise SystemExit('planted code ran')", "<planted>", "exec")
    for name in ("templates-" + "0" * 32 + ".bin", "anything.bin"):
        (shared / "corsgen" / name).write_bytes(marshal.dumps(("key", evil)))
    assert _render(shared) == clean
    assert not list((tmp_path / "clean").rglob("*")), "a render writes no cache"
