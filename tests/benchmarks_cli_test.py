"""benchmarks/cli.py still measures: one quick run of every figure (the bounds are not checked)."""

from __future__ import annotations

import shutil

from benchmarks.cli import CliFigure, markdown, measure
from testing.binaries import need_binary


def test_a_figure_is_ok_within_its_bound() -> None:
    assert CliFigure("a", 0.1, 0.12, "s").ok and CliFigure("b", 0.12, 0.12, "s").ok
    assert not CliFigure("c", 201, 200, "MB").ok


def test_every_figure_is_measured_and_shown() -> None:
    need_binary("hyperfine", shutil.which("hyperfine"))
    figures = measure(smoke=True)
    assert len(figures) == len({f.name for f in figures}) >= 4
    assert all(f.value > 0 and f.unit in ("s", "MB") for f in figures)
    text = markdown(figures)
    assert all(f"| {f.name} | " in text for f in figures)
