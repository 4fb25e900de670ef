"""Real servers, rendered snippets, a small upstream, and a browser's verdict on every answer.

The expectations below are written by hand from what each example policy says in words; they are
not computed by corsgen. The verdicts come from corsgen.fetch, a model of the Fetch standard
that imports nothing else from corsgen.
"""

from __future__ import annotations

import re

import pytest

from corsgen.fetch import Request, cors_check, header_value, preflight_ok, token_list, vary_tokens
from corsgen.targets.caddy_serving import DEBIAN_CADDY, latest_caddy
from corsgen.targets.caddy_serving import version as caddy_version
from testing.client import AUTH, Answer, send, send_raw
from testing.intents import INTENTS, LOOSE, Intent, falls_short, preflight_status
from testing.servers import Endpoint, shared_kinds
from testing.upstream import STATUS

pytestmark = pytest.mark.conformance

CORS = (
    "access-control-allow-origin",
    "access-control-allow-credentials",
    "access-control-expose-headers",
    "access-control-allow-methods",
    "access-control-allow-headers",
    "access-control-max-age",
    "access-control-allow-private-network",
)
PREFLIGHT_ONLY = CORS[3:]


def _refused_extras(intent: Intent, preflight: bool) -> set[str]:
    """What a server short of "refused-origin" sends a refused origin all the same."""
    sent = {"access-control-allow-credentials"} if intent.credentials else set()
    sent |= {"access-control-expose-headers"} if intent.expose else set()
    if preflight:
        sent |= {"access-control-allow-methods"}  # GET, HEAD, POST at the least
        sent |= {"access-control-allow-headers"} if intent.headers else set()
        sent |= {"access-control-max-age"} if intent.max_age else set()
    return sent


def _cors_names(answer: Answer) -> set[str]:
    return {n.lower() for n, _ in answer.headers if n.lower() in CORS}


STATUS_PATHS = STATUS  # each path and the status the upstream answers it with
SERVER_ERROR_PATH = "/dead/x"  # nothing listens upstream: the server answers 502 or 503 itself


def _cases(kind: str) -> list[tuple[str, str]]:
    return [(name, origin) for name, intent in INTENTS.items() for origin in getattr(intent, kind)]


def _assert_one_of_each(answer: Answer) -> None:
    for name in CORS:
        assert answer.count(name) <= 1, f"{name} sent {answer.count(name)} times: {answer.headers}"


def _assert_vary(answer: Answer, intent: Intent, kind: str) -> None:
    tokens = vary_tokens(answer.headers)
    if intent.any_origin and not falls_short(kind, "no-star"):
        assert "origin" not in tokens, "a static * must not Vary on Origin"
    else:
        assert "origin" in tokens, f"no Vary: Origin in {answer.headers}"
    if answer.from_upstream:
        assert "accept-encoding" in tokens, "the upstream's Vary was replaced"


def test_every_server_under_test_is_distinct(server: tuple[str, dict[str, Endpoint]]) -> None:
    kind, ports = server
    answer = send(ports["spa-api"], "GET", "/ok", {})
    assert answer.status == 200
    if kind.startswith("caddy"):
        versions = {caddy_version(DEBIAN_CADDY), caddy_version(str(latest_caddy()))}
        assert len(versions) == 2 and any(v.startswith("2.6.") for v in versions), versions


@pytest.mark.parametrize("path", [*STATUS_PATHS, SERVER_ERROR_PATH])
@pytest.mark.parametrize(("policy", "origin"), _cases("allowed") + _cases("refused"))
def test_actual_request(
    server: tuple[str, dict[str, Endpoint]], policy: str, origin: str, path: str
) -> None:
    intent = INTENTS[policy]
    answer = send(server[1][policy], "GET", path, {"Origin": origin})
    if path in STATUS_PATHS:
        assert answer.status == STATUS_PATHS[path]
        assert answer.from_upstream
    else:
        assert answer.status in (502, 503) and not answer.from_upstream
    ok, why = cors_check(Request(origin, credentials=intent.credentials), answer.headers)
    assert ok == (origin in intent.allowed), why
    _assert_one_of_each(answer)
    _assert_vary(answer, intent, server[0])
    for name in PREFLIGHT_ONLY:
        assert answer.count(name) == 0, f"{name} on an actual response"
    if origin in intent.allowed:
        expose = token_list(answer.headers, "Access-Control-Expose-Headers") or []
        assert {e.lower() for e in expose} == set(intent.expose)
    elif not intent.any_origin:
        expected = (
            _refused_extras(intent, False) if falls_short(server[0], "refused-origin") else set()
        )
        assert _cors_names(answer) == expected, f"a refused origin got {answer.headers}"


@pytest.mark.parametrize("policy", INTENTS)
def test_request_without_origin(server: tuple[str, dict[str, Endpoint]], policy: str) -> None:
    intent = INTENTS[policy]
    answer = send(server[1][policy], "GET", "/own-cors", {})
    _assert_one_of_each(answer)
    _assert_vary(answer, intent, server[0])
    acao = header_value(answer.headers, "Access-Control-Allow-Origin")
    star = intent.any_origin and not falls_short(server[0], "no-star")  # else nothing to echo
    assert acao == ("*" if star else None)


@pytest.mark.parametrize("policy", [p for p, intent in INTENTS.items() if not intent.any_origin])
def test_every_vary_line_of_the_upstream_is_kept(
    server: tuple[str, dict[str, Endpoint]], policy: str
) -> None:
    answer = send(server[1][policy], "GET", "/two-vary", {"Origin": INTENTS[policy].allowed[0]})
    assert answer.from_upstream
    kept = {"accept-encoding", "origin"} | (
        set() if falls_short(server[0], "vary-lines") else {"cookie"}
    )
    assert set(vary_tokens(answer.headers)) == kept, answer.headers


PREFLIGHT_PROBES = (
    ("GET", None),
    ("POST", "content-type"),
    ("PUT", None),
    ("PATCH", "x-request-id"),
    ("DELETE", "authorization"),
    ("PURGE", None),
    ("GET", "x-evil"),
    ("PUT", "x-tenant"),
)


@pytest.mark.parametrize("path", ["/ok", "/auth/ok", "/own-cors"])
@pytest.mark.parametrize(("method", "header"), PREFLIGHT_PROBES)
@pytest.mark.parametrize(("policy", "origin"), _cases("allowed") + _cases("refused")[::3])
def test_preflight(
    server: tuple[str, dict[str, Endpoint]],
    policy: str,
    origin: str,
    method: str,
    header: str | None,
    path: str,
) -> None:
    intent = INTENTS[policy]
    request_headers = {"Origin": origin, "Access-Control-Request-Method": method}
    if header:
        request_headers["Access-Control-Request-Headers"] = header
    answer = send(server[1][policy], "OPTIONS", path, request_headers)
    request = Request(origin, method, intent.credentials, (header,) if header else ())
    verdict, why = preflight_ok(request, answer.headers, answer.status)
    method_ok = method in ("GET", "HEAD", "POST") or method in intent.methods
    header_ok = header is None or header in {h.lower() for h in intent.headers}
    assert verdict == (origin in intent.allowed and method_ok and header_ok), why
    _assert_one_of_each(answer)
    short = falls_short(server[0], "refused-origin")
    if origin in intent.allowed:
        assert answer.status == preflight_status(server[0], intent.status)
        assert answer.body == b"", "a preflight answer has an empty body"
        assert not answer.from_upstream, "the preflight reached the upstream"
        assert header_value(answer.headers, "Access-Control-Max-Age") == intent.max_age
        assert header_value(answer.headers, "Access-Control-Allow-Private-Network") is None
        if not intent.any_origin:
            assert ("origin" in vary_tokens(answer.headers)) != short
    elif short:  # answered as an allowed one is, but for Allow-Origin
        assert answer.status == 200 and not answer.from_upstream
        assert _cors_names(answer) == _refused_extras(intent, True)
    else:
        assert answer.from_upstream or path.startswith("/auth"), "a refused preflight is passed on"
        assert not _cors_names(answer)


@pytest.mark.parametrize("policy", INTENTS)
def test_options_without_request_method_is_not_a_preflight(
    server: tuple[str, dict[str, Endpoint]], policy: str
) -> None:
    intent = INTENTS[policy]
    origin = intent.allowed[0]
    answer = send(server[1][policy], "OPTIONS", "/ok", {"Origin": origin})
    assert answer.from_upstream and answer.status == 200
    assert cors_check(Request(origin, credentials=intent.credentials), answer.headers)[0]


@pytest.mark.parametrize("policy", INTENTS)
def test_auth_errors_carry_cors_and_preflight_skips_auth(
    server: tuple[str, dict[str, Endpoint]], policy: str
) -> None:
    intent = INTENTS[policy]
    origin = intent.allowed[0]
    port = server[1][policy]
    denied = send(port, "GET", "/auth/ok", {"Origin": origin})
    assert denied.status == 401
    assert cors_check(Request(origin, credentials=intent.credentials), denied.headers)[0]
    granted = send(port, "GET", "/auth/ok", {"Origin": origin, "Authorization": AUTH})
    assert granted.status == 200 and granted.from_upstream


@pytest.mark.parametrize("policy", INTENTS)
@pytest.mark.parametrize("asks", [True, False])
def test_private_network(server: tuple[str, dict[str, Endpoint]], policy: str, asks: bool) -> None:
    intent = INTENTS[policy]
    headers = {"Origin": intent.allowed[0], "Access-Control-Request-Method": "GET"}
    if asks:
        headers["Access-Control-Request-Private-Network"] = "true"
    answer = send(server[1][policy], "OPTIONS", "/own-cors", headers)
    keeps = not falls_short(server[0], "private-network")
    expected = "true" if asks and intent.private_network and keeps else None
    assert header_value(answer.headers, "Access-Control-Allow-Private-Network") == expected


def _not_one_origin(allowed: str) -> dict[str, list[str]]:
    """The Origin headers of requests no browser sends, each named, built around an origin the
    policy allows: an empty one, one holding a comma, white space or a control byte (what a
    loose pattern's .+ would match across), a bare CR (the last just before the line's CRLF),
    and two headers in every order."""
    evil = "https://evil.com"
    return {
        "empty": [""],
        "comma": [f"{evil},{allowed}"],
        "comma after": [f"{allowed},{evil}"],
        "space": [f"{evil} {allowed}"],
        "tab": [f"{evil}\t{allowed}"],
        "NUL after": [f"{allowed}\x00"],
        "NUL": [f"{evil}\x00{allowed}"],
        "control byte": [f"{evil}\x01{allowed}"],
        "control byte after": [f"{allowed}\x01"],
        "DEL": [f"{evil}\x7f{allowed}"],
        "CR before": [f"\r{allowed}"],
        "CR inside": [f"{allowed[:-4]}\r{allowed[-4:]}"],
        "CR between": [f"{evil}\r{allowed}"],
        "CR between, allowed first": [f"{allowed}\r{evil}"],
        "CR after": [f"{allowed}\r"],
        "two CRs after": [f"{allowed}\r\r"],
        "empty, allowed": ["", allowed],
        "allowed, empty": [allowed, ""],
        "allowed, refused": [allowed, evil],
        "refused, allowed": [evil, allowed],
        "allowed twice": [allowed, allowed],
    }


def _granted_all_the_same(
    kind: str, origins: list[str], allowed: str, loose: str | None
) -> str | None:
    """The Allow-Origin a server short of one browser-sendable Origin sends such a request; a
    server with a `loose` pattern allows what it matches."""
    if len(origins) == 2 and origins[0] == allowed and falls_short(kind, "first-origin"):
        return allowed
    if sorted(origins) == ["", allowed] and falls_short(kind, "empty-joined"):
        return allowed
    if len(origins) == 1 and "\r" in origins[0]:
        if falls_short(kind, "cr-dropped"):
            seen = origins[0].replace("\r", "")
        elif falls_short(kind, "cr-trailing") and "\r" not in origins[0].rstrip("\r"):
            seen = origins[0].rstrip("\r")
        else:
            return None
        if seen == allowed or (loose and re.fullmatch(loose, seen)):
            return seen
    return None


def _assert_only_one_origin_is_allowed(
    kind: str, at: Endpoint, allowed: str, method: str, loose: str | None = None
) -> None:
    """Each of _not_one_origin's requests, an actual one or a preflight, gets no Allow-Origin
    (but where the server falls short); the allowed origin alone gets it."""
    preflight = [("Access-Control-Request-Method", "GET")]
    got: dict[str, str | None] = {}
    for name, origins in [*_not_one_origin(allowed).items(), ("alone", [allowed])]:
        answer = send_raw(at, method, "/own-cors", [("Origin", o) for o in origins] + preflight)
        _assert_one_of_each(answer)
        got[name] = header_value(answer.headers, "Access-Control-Allow-Origin")
    expected = {
        name: _granted_all_the_same(kind, origins, allowed, loose)
        for name, origins in _not_one_origin(allowed).items()
    }
    assert got == {**expected, "alone": allowed}


# An origin each policy allows by each of its shapes: listed, by a regex, by a wildcard.
SHAPES = {
    "spa-api": ("https://app.example.com",),
    "previews": ("https://app.example.com", "https://pr-1.preview.example.dev"),
    "tenants": ("https://acme.customers.example.com", "https://x.app.example.net"),
}


@pytest.mark.parametrize("method", ["GET", "OPTIONS"])
@pytest.mark.parametrize("policy", SHAPES)
def test_only_one_browser_sendable_origin_is_allowed(
    server: tuple[str, dict[str, Endpoint]], policy: str, method: str
) -> None:
    """No browser sends two Origin headers, an empty one or one with a comma, white space, a
    control byte or a CR; servers join two ("a,b"), or read the first."""
    kind, ports = server
    for allowed in SHAPES[policy]:
        assert allowed in INTENTS[policy].allowed
        _assert_only_one_origin_is_allowed(kind, ports[policy], allowed, method)


@pytest.mark.parametrize("origin", [None, "", "https://evil.example"])
def test_a_pattern_matching_the_empty_string_allows_no_missing_origin(
    empty_match_server: tuple[str, Endpoint], origin: str | None
) -> None:
    """SetEnvIf reads a missing Origin as "", which a pattern like (...)? matches."""
    headers = {} if origin is None else {"Origin": origin}
    answer = send(empty_match_server[1], "GET", "/own-cors", headers)
    if falls_short(empty_match_server[0], "refused-origin"):
        # Credentials go on every answer (Traefik reads a missing Origin as ""), Allow-Origin
        # not: no pattern is written to match "".
        assert _cors_names(answer) <= {"access-control-allow-credentials"}, answer.headers
    else:
        assert not _cors_names(answer), answer.headers
    allowed = send(empty_match_server[1], "GET", "/own-cors", {"Origin": "https://app.example.com"})
    assert cors_check(Request("https://app.example.com", credentials=True), allowed.headers)[0]


@pytest.mark.parametrize("method", ["GET", "OPTIONS"])
def test_only_one_browser_sendable_origin_matches_a_loose_pattern(
    empty_match_server: tuple[str, Endpoint], method: str
) -> None:
    """.+ matches across a comma, a space or a control byte (or what is left of a value once a
    CR is dropped), and (...)? matches ""."""
    kind, at = empty_match_server
    _assert_only_one_origin_is_allowed(kind, at, "https://x.example.com", method, LOOSE)


def _strangers() -> list[tuple[str, str]]:
    """(policy, origin) where another policy allows the origin and this one does not."""
    return sorted(
        {
            (policy, origin)
            for policy, intent in INTENTS.items()
            if not intent.any_origin
            for other in INTENTS.values()
            for origin in other.allowed
            if origin not in intent.allowed
        }
    )


@pytest.mark.parametrize("server", shared_kinds(), indirect=True)
@pytest.mark.parametrize(("policy", "origin"), _strangers())
def test_each_policy_answers_only_on_its_own_paths(
    server: tuple[str, dict[str, Endpoint]], policy: str, origin: str
) -> None:
    """Every example side by side in one server: an origin the next path allows is refused here."""
    intent = INTENTS[policy]
    at = server[1][policy]
    assert at.prefix, "a shared server serves each policy under a path of its own"
    actual = send(at, "GET", "/own-cors", {"Origin": origin})
    assert actual.from_upstream
    assert not cors_check(Request(origin, credentials=intent.credentials), actual.headers)[0]
    short = falls_short(server[0], "refused-origin")
    assert _cors_names(actual) == (_refused_extras(intent, False) if short else set())
    headers = {"Origin": origin, "Access-Control-Request-Method": "PUT"}
    preflight = send(at, "OPTIONS", "/ok", headers)
    assert not preflight_ok(
        Request(origin, "PUT", intent.credentials), preflight.headers, preflight.status
    )[0]
    assert preflight.from_upstream != short, "another policy's preflight answer reached this path"
    assert _cors_names(preflight) == (_refused_extras(intent, True) if short else set())
