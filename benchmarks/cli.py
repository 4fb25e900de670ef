"""The CLI's bounds from the issue, measured as a user meets them: whole `corsgen` processes.

Times come from hyperfine (wall clock, after warm-up runs), memory from the peak resident set of
one run. Every input is built in a temporary directory: a copy of examples/spa-api.toml, a policy
of 10,000 and one of 100,000 exact origins, and an infra repository of 100 small policies
rendered for every target. The runs see no PYTHONDONTWRITEBYTECODE, since installed corsgen has
its .pyc files.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from corsgen.pipeline import load_and_plan
from corsgen.targets import NAMES, expressible

ROOT = Path(__file__).resolve().parent.parent
SMALL = ROOT / "examples" / "spa-api.toml"


@dataclass(frozen=True)
class CliFigure:
    name: str  # e.g. "render, one small policy"
    value: float  # measured
    bound: float  # from the issue
    unit: str  # "s" or "MB"

    @property
    def ok(self) -> bool:
        return self.value <= self.bound


@dataclass(frozen=True)
class _Timed:
    """One figure to time: its name, bound, the corsgen arguments, and hyperfine's runs."""

    name: str
    bound: float
    argv: tuple[str, ...]
    runs: int
    prepare: tuple[str, ...] = ()  # a command run before each timed run, untimed


# Warm-up runs before the timed ones: they fill the page cache.
WARMUP = 3
MEGABYTE = 1_000_000


def measure(smoke: bool = False) -> list[CliFigure]:
    """Every figure. `smoke` runs each command once, to show the harness still works: its
    figures are not measurements and are not held to the bounds."""
    corsgen = Path(sys.executable).parent / "corsgen"
    if not corsgen.is_file():
        raise RuntimeError(f"no corsgen entry point next to {sys.executable}; pip install -e .")
    if shutil.which("hyperfine") is None:
        raise RuntimeError("hyperfine is not installed (Debian: apt-get install hyperfine)")
    with tempfile.TemporaryDirectory(prefix="corsgen-cli-bench-") as tmp:
        root = Path(tmp)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        figures = [
            CliFigure(job.name, _time(corsgen, job, env, root, smoke), job.bound, "s")
            for job in _jobs(root)
        ]
        argv = (str(corsgen), "check", str(root / "origins-100000.toml"))
        rss = _max_rss(argv, env) / MEGABYTE
        figures.append(CliFigure("check, 100,000 origins: peak memory", rss, 200, "MB"))
    return figures


def _jobs(root: Path) -> list[_Timed]:
    """The inputs, written under root, and what to time on them."""
    shutil.copy(SMALL, root / "small.toml")
    _origins_policy(root / "origins-10000.toml", 10_000)
    _origins_policy(root / "origins-100000.toml", 100_000)
    manifest = _infra_repo(root / "infra", 100)
    # A format that takes at most 64 origins (the Gateway API's) refuses 10,000 (CG530).
    large = expressible(load_and_plan(root / "origins-10000.toml")[0], NAMES)
    return [
        _Timed(
            f"render, one small policy ({SMALL.name}, {NAMES[0]})",
            0.12,
            ("render", str(root / "small.toml"), "--target", NAMES[0]),
            30,
        ),
        *(
            _Timed(
                f"render, 10,000 origins ({target})",
                0.3,
                ("render", str(root / "origins-10000.toml"), "--target", target),
                10,
            )
            for target in large
        ),
        _Timed(
            f"sync, 100 policies to {len(NAMES)} targets (every file written)",
            2,
            ("sync", "--manifest", str(manifest)),
            5,
            prepare=("rm", "-rf", str(manifest.parent / "deploy")),
        ),
        _Timed("check, 100,000 origins", 2, ("check", str(root / "origins-100000.toml")), 5),
    ]


def _origins_policy(path: Path, count: int) -> None:
    origins = "".join(f'  "https://tenant-{i}.example.com",\n' for i in range(count))
    path.write_text(
        f'allow_origins = [\n{origins}]\nallow_methods = ["GET", "POST"]\n'
        "allow_credentials = true\n",
        encoding="utf-8",
    )


def _infra_repo(root: Path, count: int) -> Path:
    """A repository as `corsgen init` starts one: every policy under cors/, for every target."""
    (root / "cors").mkdir(parents=True)
    for i in range(count):
        (root / "cors" / f"api{i:03d}.toml").write_text(
            f'allow_origins = ["https://app{i}.example.com", "https://admin{i}.example.com"]\n'
            'allow_methods = ["GET", "HEAD", "POST", "PUT", "DELETE"]\n'
            'allow_headers = ["Content-Type", "Authorization"]\n'
            "allow_credentials = true\nmax_age = 600\n",
            encoding="utf-8",
        )
    targets = ", ".join(f'"{name}"' for name in NAMES)
    manifest = root / "corsgen.toml"
    manifest.write_text(
        f'[[outputs]]\npolicies = ["cors/*.toml"]\ntargets = [{targets}]\n'
        'out_dir = "deploy/{target}"\n',
        encoding="utf-8",
    )
    return manifest


def _time(corsgen: Path, job: _Timed, env: dict[str, str], root: Path, smoke: bool) -> float:
    """The median wall time in seconds of `corsgen ARGV`, by hyperfine. The median, as for the
    servers' ratios: on a shared machine a run is only ever slowed by its neighbours, and a few
    slowed runs move the mean by more than a change to corsgen does."""
    report = root / "hyperfine.json"
    command = [
        "hyperfine",
        "--shell=none",  # no shell start-up in the figure
        "--style=none",
        f"--warmup={0 if smoke else WARMUP}",
        f"--runs={1 if smoke else job.runs}",
        f"--export-json={report}",
    ]
    if job.prepare:
        command.append(f"--prepare={shlex.join(job.prepare)}")
    command.append(shlex.join([str(corsgen), *job.argv]))
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    median: float = json.loads(report.read_text(encoding="utf-8"))["results"][0]["median"]
    return median


# Runs ARGV in a child and prints the child's peak resident set in bytes: a process of its own,
# so no other child this benchmark (or its caller) ran counts.
_RSS = (
    "import resource, subprocess, sys\n"
    "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024)\n"  # KiB on Linux
)


def _max_rss(argv: Sequence[str], env: dict[str, str]) -> float:
    run = subprocess.run(
        [sys.executable, "-c", _RSS, *argv], env=env, check=True, capture_output=True, text=True
    )
    return float(run.stdout)


def markdown(figures: Sequence[CliFigure]) -> str:
    """The figures as a section of BENCHMARKS.md, with how they were measured."""
    rows = [
        f"| {f.name} | {_shown(f.value, f.unit)} | ≤ {_shown(f.bound, f.unit)} | "
        f"{'ok' if f.ok else '**over**'} |"
        for f in figures
    ]
    return "\n".join(
        [
            "## The CLI",
            "",
            "Whole `corsgen` processes, as a user runs them, on inputs `benchmarks/cli.py` builds:",
            f"a copy of `examples/{SMALL.name}`, policies of 10,000 and 100,000 exact origins",
            "(`https://tenant-N.example.com`), and an infra repository of 100 small policies for",
            f"every target. Times are hyperfine's median wall time after {WARMUP} warm-up runs",
            "(`--shell=none`; the sync deletes its output before each run, so every file is",
            "written); memory is the peak resident set of one run. The runs have their `.pyc`",
            "files (no PYTHONDONTWRITEBYTECODE).",
            "",
            "| command | measured | bound (issue) | |",
            "|---|---|---|---|",
            *rows,
            "",
        ]
    )


def _shown(value: float, unit: str) -> str:
    return f"{value:.3f} s" if unit == "s" else f"{value:.0f} {unit}"
