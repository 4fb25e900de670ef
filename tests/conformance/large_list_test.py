"""A 10,000-origin allowlist, served for real: where the usual nginx and Apache patterns fail."""

from __future__ import annotations

import pytest

from corsgen.fetch import Request, cors_check, vary_tokens
from testing.client import send
from testing.servers import Endpoint
from testing.verdicts import Verdicts, add_put_preflight, answer_note, case_name

pytestmark = pytest.mark.conformance


ORIGINS = {
    "https://tenant-00000.customers.example.com": True,
    "https://tenant-04999.customers.example.com": True,
    "https://tenant-09999.customers.example.com": True,
    "https://a.b.app.example.com": True,
    "https://tenant-10000.customers.example.com": False,
    "https://tenant-00001.customers.example.com.evil.com": False,
    "http://tenant-00001.customers.example.com": False,
    "https://app.example.com": False,
}


def test_large_allowlist(big_server: tuple[str, Endpoint]) -> None:
    kind, at = big_server
    verdicts = Verdicts()
    for origin, allowed in ORIGINS.items():
        answer = send(at, "GET", "/own-cors", {"Origin": origin})
        ok, why = cors_check(Request(origin, credentials=True), answer.headers)
        verdicts.add(
            case_name("GET", "/own-cors", {"Origin": origin}),
            {
                "status": answer.status,
                "allowed by fetch": ok,
                "Vary: Origin": "origin" in vary_tokens(answer.headers),
            },
            {"status": 200, "allowed by fetch": allowed, "Vary: Origin": True},
            answer_note(answer, why),
        )
        add_put_preflight(verdicts, kind, at, origin, allowed)
    verdicts.check()
