"""The README's claims that can drift: the rule table and the two commands."""

from __future__ import annotations

import re

from corsgen.rules.table import RULES
from testing.paths import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_rule_table_matches_the_rules() -> None:
    rows = re.findall(r"^\| (CG\d{3}) \| (\w+) \| `([a-z-]+)` \| (.+) \|$", README, re.MULTILINE)
    assert rows == [(r.id, r.severity, r.slug, r.summary) for r in RULES]


def test_the_two_commands() -> None:
    assert "corsgen render examples/spa-api.toml --target nginx" in README
    assert "bash scripts/test.sh" in README
    assert "bash scripts/test.sh" in (ROOT / ".ci" / "run").read_text()


def test_probe_check_table_matches_the_checks() -> None:
    from corsgen.probe.checks import CHECKS

    rows = re.findall(r"^\| (PR\d{3}) `([a-z-]+)` \|", README, re.MULTILINE)
    assert rows == [(c.id, c.slug) for c in CHECKS if c.id.startswith("PR0")]
    scan = re.findall(r"PR1\d\d", README)
    assert set(scan) == {c.id for c in CHECKS if c.id.startswith("PR1")}


def test_the_explain_example_is_what_explain_prints() -> None:
    import subprocess
    import sys

    block = re.search(r"```console\n\$ corsgen (explain [^\n]+)\n(.*?)```", README, re.DOTALL)
    assert block is not None
    command, shown = block.groups()
    done = subprocess.run(
        [sys.executable, "-m", "corsgen", *command.split()],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.stdout == shown
    assert done.returncode == 1
