"""Policies at every limit corsgen accepts (docs/limits.md, "Limits"), loaded and answered for real.

Each server runs three policies at once: every list at its longest (`lists`), the same lists for any
origin (`public`, where nginx sends a constant), and the most origins, the longest origins and the
longest regex together (`origins`). Each answer must carry the whole value, byte for byte.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from corsgen.fetch import Request, cors_check, header_value, preflight_ok, token_list
from corsgen.limits import MAX_ORIGIN_LENGTH, MAX_ORIGINS, MAX_REGEX_LENGTH
from corsgen.plan import Plan
from testing.client import Answer, send
from testing.intents import falls_short
from testing.policies import long_origin, longest_names, regex_of_length
from testing.servers import Endpoint, server_kinds, serving, unchecked_plan
from testing.upstream import Upstream
from testing.verdicts import Verdicts, add_put_preflight, answer_note

pytestmark = pytest.mark.conformance

ORIGIN = "https://app.example.com"
METHODS, HEADERS, EXPOSE = longest_names("M"), longest_names("X-Req"), longest_names("X-Res")
# Of the most origins, this many are the longest: all of them would take Caddy 15 s to load
# (tests/servers_test.py loads them in every server's config test).
LONG = [long_origin(MAX_ORIGIN_LENGTH, i) for i in range(3_000)]
# The rest; one place is kept for the wildcard.
SHORT = [f"https://t{i:06d}.example.com" for i in range(MAX_ORIGINS - len(LONG) - 1)]
WILDCARD_ORIGIN = "https://a.b.wild.example.com"
REGEX = regex_of_length(MAX_REGEX_LENGTH)
REGEX_ORIGIN = REGEX.replace("\\", "")  # its escapes are all of literals


def _toml_list(values: list[str]) -> str:
    return "[" + ", ".join(f'"{v}"' for v in values) + "]"


def _plans() -> tuple[Plan, ...]:
    lists = (
        f"allow_methods = {_toml_list(METHODS)}\nallow_headers = {_toml_list(HEADERS)}\n"
        f"expose_headers = {_toml_list(EXPOSE)}\n"
    )
    origins = _toml_list([*LONG, *SHORT, "https://*.wild.example.com"])
    regex = f"allow_origin_regex = '{REGEX}'\n"
    # corsgen-map-hash.conf, sized for these together, is included before every .http.conf.
    return (
        unchecked_plan("origins", f"allow_origins = {origins}\n{regex}allow_credentials = true\n"),
        unchecked_plan("lists", f'allow_origins = ["{ORIGIN}"]\nallow_credentials = true\n{lists}'),
        unchecked_plan("public", f'allow_origins = ["*"]\n{lists}'),
    )


@pytest.fixture(scope="module")
def limit_plans() -> tuple[Plan, ...]:
    return _plans()


@pytest.fixture(scope="module", params=sorted(server_kinds()))
def limits_server(
    request: pytest.FixtureRequest, limit_plans: tuple[Plan, ...], upstream: Upstream
) -> Iterator[tuple[str, dict[str, Endpoint]]]:
    """The kind, and each limits policy's endpoint."""
    with serving(request.param, limit_plans, upstream.port) as ports:
        yield request.param, ports


def _preflight(port: Endpoint, origin: str, method: str, header: str) -> Answer:
    return send(
        port,
        "OPTIONS",
        "/ok",
        {
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": header,
        },
    )


def test_whole_lists_on_a_preflight_and_a_response(
    limits_server: tuple[str, dict[str, Endpoint]],
) -> None:
    port = limits_server[1]["lists"]
    answer = _preflight(port, ORIGIN, METHODS[-1], HEADERS[-1].lower())
    request = Request(ORIGIN, METHODS[-1], True, (HEADERS[-1].lower(),))
    assert preflight_ok(request, answer.headers, answer.status) == (True, "ok")
    assert token_list(answer.headers, "Access-Control-Allow-Methods") == list(METHODS)
    assert token_list(answer.headers, "Access-Control-Allow-Headers") == list(HEADERS)
    actual = send(port, "GET", "/own-cors", {"Origin": ORIGIN})
    assert cors_check(Request(ORIGIN, credentials=True), actual.headers)[0]
    assert token_list(actual.headers, "Access-Control-Expose-Headers") == list(EXPOSE)


def test_whole_lists_for_any_origin(limits_server: tuple[str, dict[str, Endpoint]]) -> None:
    port = limits_server[1]["public"]
    actual = send(port, "GET", "/own-cors", {"Origin": ORIGIN})
    star = "*" if not falls_short(limits_server[0], "no-star") else ORIGIN
    assert header_value(actual.headers, "Access-Control-Allow-Origin") == star
    assert token_list(actual.headers, "Access-Control-Expose-Headers") == list(EXPOSE)
    answer = _preflight(port, ORIGIN, METHODS[0], HEADERS[0].lower())
    assert token_list(answer.headers, "Access-Control-Allow-Headers") == list(HEADERS)


# Each origin (by name: the longest are long), and whether the policy allows it.
ORIGINS = {
    "long, first": (LONG[0], True),
    "long, last": (LONG[-1], True),
    "short, first": (SHORT[0], True),
    "short, last": (SHORT[-1], True),
    "by the wildcard": (WILDCARD_ORIGIN, True),
    "by the regex": (REGEX_ORIGIN, True),
    "long, near miss": (long_origin(MAX_ORIGIN_LENGTH, len(LONG)), False),
    "short, near miss": (f"https://t{MAX_ORIGINS:06d}.example.com", False),
    "regex, near miss": (REGEX_ORIGIN.replace("-", "", 1), False),
}


def test_most_and_longest_origins(limits_server: tuple[str, dict[str, Endpoint]]) -> None:
    kind, ports = limits_server
    port = ports["origins"]
    verdicts = Verdicts()
    for name, (origin, allowed) in ORIGINS.items():
        actual = send(port, "GET", "/own-cors", {"Origin": origin})
        ok, why = cors_check(Request(origin, credentials=True), actual.headers)
        verdicts.add(
            f"GET /own-cors from the origin {name}",
            {"allowed by fetch": ok},
            {"allowed by fetch": allowed},
            answer_note(actual, why),
        )
        case = f"OPTIONS /ok from the origin {name}, asking for PUT"
        add_put_preflight(verdicts, kind, port, origin, allowed, case)
    verdicts.check()
