"""The claims of the README and the docs that can drift: the rule table, the two commands, the
probe's checks and the explain example. The README is short and links into docs/, where the
tables and examples live now; tests/docs_test.py checks the generated ones are fresh."""

from __future__ import annotations

import re

from corsgen.rules.table import RULES
from testing.paths import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
DOCS = ROOT / "docs"
RULES_PAGE = (DOCS / "rules.md").read_text(encoding="utf-8")
LIVE_PAGE = (DOCS / "live.md").read_text(encoding="utf-8")


def test_rule_table_matches_the_rules() -> None:
    rows = re.findall(
        r"^\| (CG\d{3}) \| (\w+) \| `([a-z-]+)` \| (.+) \|$", RULES_PAGE, re.MULTILINE
    )
    assert rows == [(r.id, r.severity, r.slug, r.summary) for r in RULES]


def test_the_two_commands() -> None:
    assert "corsgen render examples/spa-api.toml --target nginx" in README
    assert "bash scripts/test.sh" in README
    assert "bash scripts/test.sh" in (ROOT / ".ci" / "run").read_text()
    quick_start = (DOCS / "quickstart.md").read_text(encoding="utf-8")
    assert "corsgen render examples/spa-api.toml --target nginx" in quick_start
    assert "bash scripts/test.sh" in (DOCS / "tests.md").read_text(encoding="utf-8")


def test_probe_check_table_matches_the_checks() -> None:
    from corsgen.probe.checks import CHECKS

    rows = re.findall(r"^\| (PR\d{3}) `([a-z-]+)` \|", LIVE_PAGE, re.MULTILINE)
    assert rows == [(c.id, c.slug) for c in CHECKS if c.id.startswith("PR0")]
    scan = re.findall(r"PR1\d\d", LIVE_PAGE)
    assert set(scan) == {c.id for c in CHECKS if c.id.startswith("PR1")}


def test_the_explain_example_is_what_explain_prints() -> None:
    import subprocess
    import sys

    block = re.search(r"```console\n\$ corsgen (explain [^\n]+)\n(.*?)```", LIVE_PAGE, re.DOTALL)
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
