from __future__ import annotations

import re

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
