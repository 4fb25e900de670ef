from __future__ import annotations

import re
from dataclasses import replace

import pytest

from corsgen.errors import CorsgenError
from corsgen.targets import apache
from tests.targets.conftest import plan_of


@pytest.mark.parametrize(("length", "most"), [(30, 1_040), (300, 108)])
def test_regexes_hold_every_origin_under_pcre2s_limit(length: int, most: int) -> None:
    """`most` origins of `length` characters load in one SetEnvIf, one more does not."""
    origins = [f"{'x'.ljust(length - 17, 's')}://h{i:05d}.example" for i in range(3_000)]
    regexes = apache.origin_regexes(plan_of(f"allow_origins = {origins!r}"))
    bodies = [regex.removeprefix("^(?:").removesuffix(")$") for regex in regexes]
    assert "|".join(bodies) == "|".join(re.escape(o) for o in origins)
    assert max(map(len, bodies)) <= apache.REGEX_CHARS
    assert max(body.count("|") + 1 for body in bodies) <= most // 2


def test_regexes_end_with_each_pattern() -> None:
    plan = plan_of('allow_origins = ["https://a.com", "https://*.b.com"]')
    assert apache.origin_regexes(plan) == (r"^(?:https://a\.com)$", *plan.anchored_patterns)


def test_any_origin_is_any_non_empty_origin() -> None:
    assert apache.origin_regexes(plan_of('allow_origins = ["*"]')) == ("^.+$",)


@pytest.mark.parametrize("value", ["50%", "a${HOME}", "a\\"])
def test_quoting_refuses_what_httpd_would_expand(value: str) -> None:
    with pytest.raises(CorsgenError, match="refusing to quote"):
        apache.quote(value)


def test_quoting_keeps_a_regex_as_it_is() -> None:
    assert apache.quote(r"^https://a\.com$") == r'"^https://a\.com$"'


def test_grants_keep_each_regex_under_ap_exprs_limit() -> None:
    """ap_expr refuses a regex over 8,191 characters; 2,000 long origins need several grants."""
    origins = [f"https://tenant-{i:05d}.{'x' * 60}.{'y' * 60}.example.com" for i in range(2_000)]
    grants = apache.preflight_grants(apache.origin_regexes(plan_of(f"allow_origins = {origins!r}")))
    assert len(grants) > 1
    for grant in grants:
        regex = grant.rsplit(" =~ m", 1)[1]
        assert len(regex) - 2 <= apache.REGEX_CHARS + len("^(?:)$")


def test_a_grant_picks_a_delimiter_the_regex_does_not_hold() -> None:
    # The rules refuse # in a regex; the output must not rely on that.
    plan = replace(plan_of("allow_origins = []"), origin_patterns=("https://a#b",))
    assert apache.preflight_grants(apache.origin_regexes(plan))[0].endswith("m!^(?:https://a#b)$!")
