"""Run corsgen as a user would, under a memory cap and a time limit: the cost bounds docs/limits.md
states ("Bounds") are held by the tests that call these."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from corsgen.errors import CorsgenError

# Address space, not resident memory: Python with corsgen's libraries maps about 250 MiB before
# it reads a byte, and a 64 MiB file is read, decoded and parsed in well under 400 MiB more.
MEMORY = 768 * 1024 * 1024


# --- corsgen audit within its bounds (limits.py, MAX_CONFIG_*): for the tests of each config
# reader, tests/targets/{nginx,apache,caddy}_config_test.py.

_BOUNDED = """\
import resource, sys
limit = int(sys.argv[1]) << 20
if limit:
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
from corsgen.cli import main
code = main(sys.argv[2:])
# The peak of this program: ru_maxrss would count the pages of the forked test process too.
with open("/proc/self/status") as status:
    peak = next(line for line in status if line.startswith("VmHWM:")).split()[1]
print(f"\\nmaxrss {int(peak) >> 10}")
sys.exit(code)
"""


@dataclass(frozen=True)
class Bounded:
    code: int
    err: str
    seconds: float  # wall clock, Python's start-up included
    mib: int  # corsgen's own peak resident memory


def verify_bounded(
    config: Path, target: str, *, mib: int | None = 256, seconds: float = 20, path: str = ""
) -> Bounded:
    """`corsgen audit` in a child Python whose address space is capped at `mib` (None
    when Caddy runs: Go reserves far more address space than it uses), killed after `seconds`.
    `path` goes before PATH (the Caddy to run)."""
    env = {**os.environ, "PATH": f"{path}:{os.environ['PATH']}" if path else os.environ["PATH"]}
    command = [sys.executable, "-c", _BOUNDED, str(mib or 0), "audit", str(config)]
    start = time.monotonic()
    proc = subprocess.run(
        [*command, "--target", target], capture_output=True, text=True, timeout=seconds, env=env
    )
    took = time.monotonic() - start
    assert "maxrss " in proc.stdout, proc.stderr[-3000:]  # main returned: no traceback
    peak = int(proc.stdout.rsplit("maxrss ", 1)[1])
    return Bounded(proc.returncode, proc.stderr, took, peak)


def assert_refused(result: Bounded, *words: str) -> None:
    """One line on stderr, naming the bound, its number and what to change; no traceback."""
    assert result.code == 1, result
    assert result.err.count("\n") == 1 and result.err.startswith("corsgen: cannot "), result.err
    assert "Traceback" not in result.err and "Error:" not in result.err, result.err
    assert "the most `corsgen audit` reads" in result.err or "larger than" in result.err
    for word in words:
        assert word in result.err, result.err


# The largest file files.read_file holds whole while it is parsed.
READ_BUFFER_MIB = 64


def chain(root: Path, levels: int, body: str, leaf: str, suffix: str = ".conf") -> Path:
    """Files d0 to d{levels-1} (with suffix) in root: each `body`, {next} the next file's path
    and {level} its own number; the last `leaf`. Returns the first."""
    for level in range(levels):
        nxt = str(root / f"d{level + 1}{suffix}")
        text = body.replace("{next}", nxt).replace("{level}", str(level))
        (root / f"d{level}{suffix}").write_text(text if level + 1 < levels else leaf)
    return root / f"d0{suffix}"


def count_reads(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How often each file of a server config is read (server_config.read_config), from now on."""
    from corsgen import server_config

    reads: dict[str, int] = {}
    read = server_config.read_config

    def counted(path: Path, included_at: str | None = None) -> bytes:
        reads[str(path)] = reads.get(str(path), 0) + 1
        return read(path, included_at)

    monkeypatch.setattr(server_config, "read_config", counted)
    return reads


@contextmanager
def frozen_heap() -> Iterator[None]:
    """The garbage collector leaves alone what the suite already holds: a collection inside a
    timed block otherwise scans every object of every test before it (a reader test took 0.1 s
    alone and 1.1 s late in the whole suite)."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


# Coverage's tracer (branch mode) runs corsgen's Python three times slower at most on the suite's
# bounded tests (7.6 s of CPU for a 3 s bound, the worst, with tracemalloc on too). The bounds
# are stated for corsgen as users run it; under a tracer they are checked this many times wider.
TRACED_SLOWDOWN = 4


def cpu_seconds(seconds: float) -> float:
    """A bound on CPU time, widened when a tracer (coverage, a debugger) runs every line."""
    return seconds * TRACED_SLOWDOWN if sys.gettrace() is not None else seconds


@contextmanager
def cpu_within(seconds: float) -> Iterator[None]:
    """The block takes at most `seconds` of this process's CPU: wall time would measure the
    test servers and the other sessions the suite shares two cores with."""
    with frozen_heap():
        start = time.process_time()
        yield
        took = time.process_time() - start
    assert took < cpu_seconds(seconds), (took, seconds)


@contextmanager
def within(seconds: float, mib: int) -> Iterator[None]:
    """The block takes at most `seconds` of CPU (tracemalloc's own cost included: the suite shares
    two cores with test servers, so wall time would measure them), and `mib` of Python's
    allocations over the largest file read whole."""
    tracemalloc.start()
    with frozen_heap():
        start = time.process_time()
        try:
            yield
        finally:
            took = time.process_time() - start
        peak = tracemalloc.get_traced_memory()[1] >> 20
        tracemalloc.stop()
    assert took < cpu_seconds(seconds) and peak < READ_BUFFER_MIB + mib, (took, peak)


@st.composite
def include_graphs(draw: st.DrawFn) -> list[list[tuple[int, bool]]]:
    """Up to eight files, each including later ones as (file, in a block of its own): fans and
    diamonds that multiply, and sometimes one include back up the graph, a loop to be named."""
    n = draw(st.integers(1, 8))
    later = [
        st.lists(st.tuples(st.integers(i + 1, n - 1), st.booleans()), max_size=3)
        for i in range(n - 1)
    ]
    graph = [draw(files) for files in later] + [[]]
    if draw(st.booleans()):
        source = draw(st.integers(0, n - 1))
        graph[source].append((draw(st.integers(0, source)), draw(st.booleans())))
    return graph


# Eight files, each including the next twice in blocks of their own: 128 copies of the last.
FAN = [[(i + 1, True), (i + 1, True)] for i in range(7)] + [[]]
# A handful of examples, each well within the deadline: the bounds are lowered to reach them.
GRAPH_BUDGET = settings(
    max_examples=12,
    deadline=3000,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def bounded_or_refused(run: Callable[[], object]) -> object:
    """run()'s result, or None when it refuses a bound in `corsgen audit`'s words."""
    try:
        return run()
    except CorsgenError as exc:
        assert "the most `corsgen audit` reads" in str(exc), exc
        assert "\n" not in str(exc)
        return None


def run_capped(*argv: str, cwd: Path, memory: int = MEMORY, seconds: float = 60) -> Bounded:
    """`corsgen ARGV` in a fresh interpreter with at most `memory` bytes of address space."""
    command = [sys.executable, "-c", _BOUNDED, str(memory >> 20), *argv]
    start = time.monotonic()
    proc = subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, errors="replace", timeout=seconds
    )
    took = time.monotonic() - start
    assert "maxrss " in proc.stdout, proc.stderr[-3000:]  # main returned: no traceback
    return Bounded(proc.returncode, proc.stderr, took, int(proc.stdout.rsplit("maxrss ", 1)[1]))
