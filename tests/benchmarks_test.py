"""The server benchmark still runs: every case, briefly, on every server (numbers not asserted)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from benchmarks.__main__ import main
from benchmarks.cases import CASES, HANDWRITTEN, REPLACING
from benchmarks.servers import BENCH
from testing.binaries import need_binary

KINDS = [kind for bench in BENCH for kind in bench.kinds()]


@pytest.mark.conformance
@pytest.mark.parametrize("kind", KINDS)
def test_smoke_run_writes_every_case(kind: str, tmp_path: Path) -> None:
    need_binary("wrk", shutil.which("wrk"))
    binary = next(b.kinds()[kind] for b in BENCH if kind in b.kinds())
    need_binary(kind, binary)
    out = tmp_path / "BENCHMARKS.md"
    assert main(["--smoke", "--only", kind, "--output", str(out)]) == 0
    text = out.read_text()
    for case in (*CASES, HANDWRITTEN, REPLACING):
        assert f"| {case.title} |" in text
