"""Load from wrk on the first core against two servers on the second, alternating A B A B."""

from __future__ import annotations

import re
import statistics
import subprocess
from dataclasses import dataclass

from benchmarks.servers import PATH, pin

CONNECTIONS = 16  # enough to keep one core of server busy; wrk's one thread stays ahead


@dataclass(frozen=True)
class Ratio:
    """A over B, the median of the pairs, with each side's median requests per second."""

    ratio: float
    a: float
    b: float
    spread: tuple[float, float]  # the lowest and highest pair's ratio


def requests_per_second(port: int, origin: str, seconds: int) -> float:
    """One wrk run of `seconds` GETs from `origin`; refuses a run with any non-2xx answer."""
    out = subprocess.run(
        [
            *pin(0),
            "wrk",
            "-t1",
            f"-c{CONNECTIONS}",
            f"-d{seconds}s",
            "-H",
            f"Origin: {origin}",
            f"http://127.0.0.1:{port}{PATH}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    if "Non-2xx" in out or "Socket errors" in out:
        raise RuntimeError(f"wrk saw errors on port {port}:\n{out}")
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if found is None:
        raise RuntimeError(f"no Requests/sec in wrk's output:\n{out}")
    return float(found.group(1))


def compare(a: int, b: int, origin: str, pairs: int, seconds: int) -> Ratio:
    """Alternate A and B `pairs` times: a slow minute on a shared machine hits both alike."""
    ratios, rates_a, rates_b = [], [], []
    for _ in range(pairs):
        rate_a = requests_per_second(a, origin, seconds)
        rate_b = requests_per_second(b, origin, seconds)
        rates_a.append(rate_a)
        rates_b.append(rate_b)
        ratios.append(rate_a / rate_b)
    return Ratio(
        statistics.median(ratios),
        statistics.median(rates_a),
        statistics.median(rates_b),
        (min(ratios), max(ratios)),
    )
