"""A 10,000-origin allowlist, served for real: where the usual nginx and Apache patterns fail."""

from __future__ import annotations

import pytest

from corsgen.fetch import Request, cors_check, header_value, vary_tokens
from testing.client import send
from testing.intents import falls_short, preflight_status
from testing.servers import Endpoint

pytestmark = pytest.mark.conformance


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("https://tenant-00000.customers.example.com", True),
        ("https://tenant-04999.customers.example.com", True),
        ("https://tenant-09999.customers.example.com", True),
        ("https://a.b.app.example.com", True),
        ("https://tenant-10000.customers.example.com", False),
        ("https://tenant-00001.customers.example.com.evil.com", False),
        ("http://tenant-00001.customers.example.com", False),
        ("https://app.example.com", False),
    ],
)
def test_large_allowlist(big_server: tuple[str, Endpoint], origin: str, allowed: bool) -> None:
    answer = send(big_server[1], "GET", "/own-cors", {"Origin": origin})
    assert answer.status == 200
    assert cors_check(Request(origin, credentials=True), answer.headers)[0] is allowed
    assert "origin" in vary_tokens(answer.headers)
    preflight = send(
        big_server[1], "OPTIONS", "/ok", {"Origin": origin, "Access-Control-Request-Method": "PUT"}
    )
    assert (header_value(preflight.headers, "Access-Control-Allow-Origin") == origin) is allowed
    if allowed:
        assert preflight.status == preflight_status(big_server[0], 204)
    assert preflight.from_upstream is not (allowed or falls_short(big_server[0], "refused-origin"))
