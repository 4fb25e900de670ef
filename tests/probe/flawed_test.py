"""`corsgen probe` finds every planted flaw and nothing else, on real servers.

Each hand-written config of flawed.py runs on nginx, Apache httpd and both Caddys; the probe,
with intended.toml and without a policy, must report exactly the ids the table says: the planted
flaw's, and no false alarm on the baselines or beside the flaw.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from corsgen.cli import main
from testing.flawed import BASELINE, FLAWS, INTENDED, Flaw
from testing.flawed_servers import KINDS, Servers

MODES = ("policy", "scan")
CASES = [
    pytest.param(kind, flaw, mode, id=f"{kind}-{flaw.name}-{mode}")
    for kind, server in KINDS.items()
    for flaw in FLAWS
    if flaw.server == server
    for mode in MODES
]


def _probe(port: int, flaw: Flaw, mode: str, capsys: pytest.CaptureFixture[str]) -> Any:
    args = ["probe", f"http://127.0.0.1:{port}", "--format", "json", *flaw.arguments()]
    args += ["--policy", str(INTENDED)] if mode == "policy" else []
    code = main([*args, "--concurrency", "8"])
    report = json.loads(capsys.readouterr().out)
    assert code == (1 if report["findings"] or report["failed_requests"] else 0)
    return report


def _shown(report: Any, ids: set[str]) -> str:
    """A line per finding of these ids (the first three of each): what was sent, what came."""
    lines = []
    for check in sorted(ids):
        for found in [f for f in report["findings"] if f["id"] == check][:3]:
            sent = found["request"]
            lines.append(
                f"  {check} {found['summary']}: {sent['method']} {sent['url']} "
                f"{sent['headers']} -> {found['response']['status']} {found['response']['headers']}"
            )
    return "\n".join(lines)


@pytest.mark.conformance
@pytest.mark.parametrize(("kind", "flaw", "mode"), CASES)
def test_probe_finds_the_planted_flaw_and_nothing_else(
    kind: str, flaw: Flaw, mode: str, servers: Servers, capsys: pytest.CaptureFixture[str]
) -> None:
    report = _probe(servers.port(kind, flaw), flaw, mode, capsys)
    assert report["failed_requests"] == []
    found = {f["id"] for f in report["findings"]}
    expected = flaw.policy if mode == "policy" else flaw.scan
    assert found == expected, (
        f"{flaw.why}\nunexpected:\n{_shown(report, found - expected)}\n"
        f"missing: {sorted(expected - found)}"
    )
    assert expected <= set(report["checks_run"])  # each id expected is a check the battery ran


def test_each_server_has_one_baseline_and_unique_names() -> None:
    for server in BASELINE:
        names = [f.name for f in FLAWS if f.server == server]
        assert names[0] == "baseline"
        assert len(set(names)) == len(names)
    baselines = [f for f in FLAWS if f.name == "baseline"]
    assert all(f.policy == f.scan == frozenset() and not f.slots for f in baselines)


@pytest.mark.parametrize(
    "flaw", [f for f in FLAWS if f.name != "baseline"], ids=lambda f: f"{f.server}-{f.name}"
)
def test_each_flaw_changes_its_baseline(flaw: Flaw) -> None:
    """A slot misspelt would be ignored, leaving the baseline: the flaw would go untested."""
    assert set(flaw.slots) <= set(BASELINE[flaw.server])
    baseline = next(f for f in FLAWS if f.server == flaw.server and f.name == "baseline")
    # The name goes into the files (comments, nginx variables): the baseline under the flaw's.
    unflawed = replace(baseline, name=flaw.name)
    assert flaw.files(1, Path("/srv"), 2, 3) != unflawed.files(1, Path("/srv"), 2, 3)
