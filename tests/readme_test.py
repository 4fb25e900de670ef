"""The README's claims that can drift: the rule table and the two commands."""

from __future__ import annotations

import re

from corsgen.rules import RULES
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_rule_table_matches_the_rules() -> None:
    rows = re.findall(r"^\| (CG\d{3}) \| (\w+) \| `([a-z-]+)` \| (.+) \|$", README, re.MULTILINE)
    assert rows == [(r.id, r.severity, r.slug, r.summary) for r in RULES]


def test_the_two_commands() -> None:
    assert "corsgen render examples/spa-api.toml --target nginx" in README
    assert "bash scripts/test.sh" in README
    assert "bash scripts/test.sh" in (ROOT / ".ci" / "run").read_text()
