"""Run corsgen as a user would, under a memory cap and a time limit: the cost bounds README.md
states ("Bounds") are held by tests that call this."""

from __future__ import annotations

import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

# Address space, not resident memory: Python with corsgen's libraries maps about 250 MiB before
# it reads a byte, and a 64 MiB file is read, decoded and parsed in well under 400 MiB more.
MEMORY = 768 * 1024 * 1024


@dataclass(frozen=True)
class Run:
    code: int
    stderr: str
    seconds: float

    @property
    def lines(self) -> list[str]:
        return self.stderr.splitlines()


def run_capped(*argv: str, cwd: Path, memory: int = MEMORY, seconds: float = 60) -> Run:
    """`corsgen ARGV` in a fresh interpreter with at most `memory` bytes of address space."""

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "corsgen", *argv],
        cwd=cwd,
        preexec_fn=cap,
        capture_output=True,
        text=True,
        errors="replace",
        timeout=seconds,
        check=False,
    )
    return Run(done.returncode, done.stderr, time.monotonic() - started)
