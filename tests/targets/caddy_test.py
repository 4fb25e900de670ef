from __future__ import annotations

import pytest

from corsgen.errors import CorsgenError
from corsgen.targets import caddy
from tests.targets.conftest import plan_of


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
