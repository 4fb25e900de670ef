from __future__ import annotations

import pytest
import re2

from corsgen.errors import CorsgenError
from corsgen.targets import caddy
from testing.policies import plan_of


@pytest.mark.parametrize("value", ["a{$HOME}", "a\\"])
def test_quoting_refuses_what_caddy_would_expand(value: str) -> None:
    with pytest.raises(CorsgenError, match="refusing to quote"):
        caddy.quote(value)


def test_any_origin_has_no_map() -> None:
    context = caddy.TARGET.context(plan_of('allow_origins = ["*"]'))
    assert context["listed"] is None
    assert context["allowed"] == "@corsgen_api_allowed header Origin *"


def test_preflight_only_headers_are_set_once() -> None:
    """Headers only a preflight carries are set when `handle` writes that response, not before."""
    plan = plan_of('allow_origins = ["https://a.com"]\nallow_methods = ["PUT"]')
    context = caddy.TARGET.context(plan)
    now, deferred = context["now"], context["deferred"]
    assert isinstance(now, list) and isinstance(deferred, list)
    assert all("Access-Control-Allow-Methods" not in " ".join(b.lines) for b in now)
    assert any("Access-Control-Allow-Methods" in " ".join(b.lines) for b in deferred)


def test_quoting_keeps_a_regex_as_it_is() -> None:
    assert caddy.quote(r"^https://a\.com$") == r'"^https://a\.com$"'


@pytest.mark.parametrize(("count", "entries"), [(caddy.LISTED_MAX, caddy.LISTED_MAX), (100, 1)])
def test_a_long_list_is_one_regex_that_re2_matches_exactly(count: int, entries: int) -> None:
    origins = [f"https://t{i}.example.com" for i in range(count)]
    listed = caddy.TARGET.context(plan_of(f"allow_origins = {origins!r}"))["listed"]
    assert isinstance(listed, caddy.Listed)
    exact = listed.entries[2:]
    assert len(exact) == entries
    if entries == 1:
        regex = re2.compile(exact[0][0].strip('"').removeprefix("~"))
        assert all(regex.fullmatch(o) for o in origins)
        assert not regex.fullmatch("https://t100.example.com")
