"""Real servers, rendered snippets, a small upstream, and a browser's verdict on every answer.

The expectations below are written by hand from what each example policy says in words; they are
not computed by corsgen. The verdicts come from corsgen.fetch, a model of the Fetch standard
that imports nothing else from corsgen.

Each test is one server kind, one policy (where the family has one) and one family of requests;
it sends every case of the family and compares the whole table of verdicts at once (Verdicts), so
a regression is one failure per kind, policy and family, listing the cases that differ by name.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import pytest

from corsgen.fetch import Request, cors_check, header_value, preflight_ok, token_list, vary_tokens
from corsgen.targets.caddy_serving import DEBIAN_CADDY, latest_caddy
from corsgen.targets.caddy_serving import version as caddy_version
from testing.client import AUTH, Answer, send, send_raw
from testing.intents import (
    INTENTS,
    LOOSE,
    PREFLIGHT_PROBES,
    Intent,
    falls_short,
    preflight_status,
)
from testing.servers import Endpoint, shared_kinds
from testing.upstream import STATUS
from testing.verdicts import (
    CORS,
    Verdict,
    Verdicts,
    answer_note,
    answered_itself,
    case_name,
    cors_sent,
    sent_twice,
)

pytestmark = pytest.mark.conformance

PREFLIGHT_ONLY = CORS[3:]
ACAO = "Access-Control-Allow-Origin"


def _refused_extras(intent: Intent, preflight: bool) -> set[str]:
    """What a server short of "refused-origin" sends a refused origin all the same."""
    sent = {"access-control-allow-credentials"} if intent.credentials else set()
    sent |= {"access-control-expose-headers"} if intent.expose else set()
    if preflight:
        sent |= {"access-control-allow-methods"}  # GET, HEAD, POST at the least
        sent |= {"access-control-allow-headers"} if intent.headers else set()
        sent |= {"access-control-max-age"} if intent.max_age else set()
    return sent


STATUS_PATHS = STATUS  # each path and the status the upstream answers it with
SERVER_ERROR_PATH = "/dead/x"  # nothing listens upstream: the server answers 502 or 503 itself


def _vary(answer: Answer, intent: Intent, kind: str) -> tuple[Verdict, Verdict]:
    """Vary as observed, and as expected: on Origin unless the answer is a static *; the
    upstream's own Vary kept."""
    tokens = vary_tokens(answer.headers)
    star = intent.any_origin and not falls_short(kind, "no-star")
    observed: Verdict = {"Vary: Origin": "origin" in tokens}
    expected: Verdict = {"Vary: Origin": not star}
    if answer.from_upstream:
        observed["the upstream's Vary: Accept-Encoding kept"] = "accept-encoding" in tokens
        expected["the upstream's Vary: Accept-Encoding kept"] = True
    return observed, expected


def _origins(policy: str, cases: Sequence[tuple[str, str]]) -> list[str]:
    return [origin for name, origin in cases if name == policy]


def _cases(kind: str) -> list[tuple[str, str]]:
    return [(name, origin) for name, intent in INTENTS.items() for origin in getattr(intent, kind)]


def test_every_server_under_test_is_distinct(server: tuple[str, dict[str, Endpoint]]) -> None:
    kind, ports = server
    answer = send(ports["spa-api"], "GET", "/ok", {})
    assert answer.status == 200
    if kind.startswith("caddy"):
        versions = {caddy_version(DEBIAN_CADDY), caddy_version(str(latest_caddy()))}
        assert len(versions) == 2 and any(v.startswith("2.6.") for v in versions), versions


@pytest.mark.parametrize("policy", INTENTS)
def test_actual_request(server: tuple[str, dict[str, Endpoint]], policy: str) -> None:
    """Every origin the policy allows or refuses, on every path: the upstream's statuses, and
    the server's own 502 or 503 where nothing listens upstream."""
    kind, ports = server
    intent = INTENTS[policy]
    short = falls_short(kind, "refused-origin")
    verdicts = Verdicts()
    for origin in _origins(policy, _cases("allowed") + _cases("refused")):
        for path in (*STATUS_PATHS, SERVER_ERROR_PATH):
            answer = send(ports[policy], "GET", path, {"Origin": origin})
            upstream = path in STATUS_PATHS
            ok, why = cors_check(Request(origin, credentials=intent.credentials), answer.headers)
            dead = "502 or 503"  # the server's own answer
            observed: Verdict = {
                "status": dead if not upstream and answer.status in (502, 503) else answer.status,
                "from the upstream": answer.from_upstream,
                "allowed by fetch": ok,
                "CORS headers sent twice": sent_twice(answer),
                "preflight-only headers": tuple(n for n in PREFLIGHT_ONLY if answer.count(n)),
            }
            expected: Verdict = {
                "status": STATUS_PATHS[path] if upstream else dead,
                "from the upstream": upstream,
                "allowed by fetch": origin in intent.allowed,
                "CORS headers sent twice": (),
                "preflight-only headers": (),
            }
            vary = _vary(answer, intent, kind)
            observed |= vary[0]
            expected |= vary[1]
            if origin in intent.allowed:
                expose = token_list(answer.headers, "Access-Control-Expose-Headers") or []
                observed["exposed"] = tuple(sorted({e.lower() for e in expose}))
                expected["exposed"] = tuple(sorted(intent.expose))
            elif not intent.any_origin:
                observed["CORS headers"] = cors_sent(answer)
                expected["CORS headers"] = tuple(
                    sorted(_refused_extras(intent, False) if short else ())
                )
            name = case_name("GET", path, {"Origin": origin})
            verdicts.add(name, observed, expected, answer_note(answer, why))
    verdicts.check()


@pytest.mark.parametrize("policy", INTENTS)
def test_request_without_origin(server: tuple[str, dict[str, Endpoint]], policy: str) -> None:
    kind, ports = server
    intent = INTENTS[policy]
    answer = send(ports[policy], "GET", "/own-cors", {})
    star = intent.any_origin and not falls_short(kind, "no-star")  # else nothing to echo
    vary = _vary(answer, intent, kind)
    verdicts = Verdicts()
    verdicts.add(
        case_name("GET", "/own-cors", {}),
        {
            "CORS headers sent twice": sent_twice(answer),
            "Access-Control-Allow-Origin": header_value(answer.headers, ACAO),
            **vary[0],
        },
        {"CORS headers sent twice": (), "Access-Control-Allow-Origin": "*" if star else None}
        | vary[1],
        answer_note(answer),
    )
    verdicts.check()


@pytest.mark.parametrize("policy", [p for p, intent in INTENTS.items() if not intent.any_origin])
def test_every_vary_line_of_the_upstream_is_kept(
    server: tuple[str, dict[str, Endpoint]], policy: str
) -> None:
    kind, ports = server
    headers = {"Origin": INTENTS[policy].allowed[0]}
    answer = send(ports[policy], "GET", "/two-vary", headers)
    kept = {"accept-encoding", "origin"} | (
        set() if falls_short(kind, "vary-lines") else {"cookie"}
    )
    verdicts = Verdicts()
    verdicts.add(
        case_name("GET", "/two-vary", headers),
        {
            "from the upstream": answer.from_upstream,
            "Vary": tuple(sorted(vary_tokens(answer.headers))),
        },
        {"from the upstream": True, "Vary": tuple(sorted(kept))},
        answer_note(answer),
    )
    verdicts.check()


@pytest.mark.parametrize("policy", INTENTS)
def test_preflight(server: tuple[str, dict[str, Endpoint]], policy: str) -> None:
    """Each allowed origin and every third refused one, asking for each method and header, on
    a path passed on, one behind auth, and one whose upstream sends CORS headers of its own."""
    kind, ports = server
    intent = INTENTS[policy]
    short = falls_short(kind, "refused-origin")
    verdicts = Verdicts()
    for origin in _origins(policy, _cases("allowed") + _cases("refused")[::3]):
        for method, header in PREFLIGHT_PROBES:
            for path in ("/ok", "/auth/ok", "/own-cors"):
                request_headers = {"Origin": origin, "Access-Control-Request-Method": method}
                if header:
                    request_headers["Access-Control-Request-Headers"] = header
                answer = send(ports[policy], "OPTIONS", path, request_headers)
                request = Request(origin, method, intent.credentials, (header,) if header else ())
                ok, why = preflight_ok(request, answer.headers, answer.status)
                method_ok = method in ("GET", "HEAD", "POST") or method in intent.methods
                header_ok = header is None or header in {h.lower() for h in intent.headers}
                observed: Verdict = {
                    "passed by fetch": ok,
                    "CORS headers sent twice": sent_twice(answer),
                }
                expected: Verdict = {
                    "passed by fetch": origin in intent.allowed and method_ok and header_ok,
                    "CORS headers sent twice": (),
                }
                if origin in intent.allowed:
                    observed |= {
                        "status": answer.status,
                        "body": answer.body,
                        "from the upstream": answer.from_upstream,
                        "Access-Control-Max-Age": header_value(
                            answer.headers, "Access-Control-Max-Age"
                        ),
                        "Access-Control-Allow-Private-Network": header_value(
                            answer.headers, "Access-Control-Allow-Private-Network"
                        ),
                    }
                    expected |= {
                        "status": preflight_status(kind, intent.status),
                        "body": b"",  # a preflight answer has an empty body
                        "from the upstream": False,
                        "Access-Control-Max-Age": intent.max_age,
                        "Access-Control-Allow-Private-Network": None,
                    }
                    if not intent.any_origin:
                        observed["Vary: Origin"] = "origin" in vary_tokens(answer.headers)
                        expected["Vary: Origin"] = not short
                elif short:  # answered as an allowed one is, but for Allow-Origin
                    itself = answered_itself(answer, _refused_extras(intent, True))
                    observed |= itself[0]
                    expected |= itself[1]
                else:  # passed on, but where auth answers first
                    if not path.startswith("/auth"):
                        observed["from the upstream"] = answer.from_upstream
                        expected["from the upstream"] = True
                    observed["CORS headers"] = cors_sent(answer)
                    expected["CORS headers"] = ()
                name = case_name("OPTIONS", path, request_headers)
                verdicts.add(name, observed, expected, answer_note(answer, why))
    verdicts.check()


@pytest.mark.parametrize("policy", INTENTS)
def test_options_without_request_method_is_not_a_preflight(
    server: tuple[str, dict[str, Endpoint]], policy: str
) -> None:
    intent = INTENTS[policy]
    origin = intent.allowed[0]
    answer = send(server[1][policy], "OPTIONS", "/ok", {"Origin": origin})
    ok, why = cors_check(Request(origin, credentials=intent.credentials), answer.headers)
    verdicts = Verdicts()
    verdicts.add(
        case_name("OPTIONS", "/ok", {"Origin": origin}),
        {
            "status": answer.status,
            "from the upstream": answer.from_upstream,
            "allowed by fetch": ok,
        },
        {"status": 200, "from the upstream": True, "allowed by fetch": True},
        answer_note(answer, why),
    )
    verdicts.check()


@pytest.mark.parametrize("policy", INTENTS)
def test_auth_errors_carry_cors_and_preflight_skips_auth(
    server: tuple[str, dict[str, Endpoint]], policy: str
) -> None:
    intent = INTENTS[policy]
    origin = intent.allowed[0]
    port = server[1][policy]
    verdicts = Verdicts()
    denied = send(port, "GET", "/auth/ok", {"Origin": origin})
    ok, why = cors_check(Request(origin, credentials=intent.credentials), denied.headers)
    verdicts.add(
        case_name("GET", "/auth/ok", {"Origin": origin}),
        {"status": denied.status, "allowed by fetch": ok},
        {"status": 401, "allowed by fetch": True},
        answer_note(denied, why),
    )
    headers = {"Origin": origin, "Authorization": AUTH}
    granted = send(port, "GET", "/auth/ok", headers)
    verdicts.add(
        case_name("GET", "/auth/ok", headers),
        {"status": granted.status, "from the upstream": granted.from_upstream},
        {"status": 200, "from the upstream": True},
        answer_note(granted),
    )
    verdicts.check()


@pytest.mark.parametrize("policy", INTENTS)
def test_private_network(server: tuple[str, dict[str, Endpoint]], policy: str) -> None:
    kind, ports = server
    intent = INTENTS[policy]
    keeps = not falls_short(kind, "private-network")
    verdicts = Verdicts()
    for asks in (True, False):
        headers = {"Origin": intent.allowed[0], "Access-Control-Request-Method": "GET"}
        if asks:
            headers["Access-Control-Request-Private-Network"] = "true"
        answer = send(ports[policy], "OPTIONS", "/own-cors", headers)
        name = "Access-Control-Allow-Private-Network"
        verdicts.add(
            case_name("OPTIONS", "/own-cors", headers),
            {name: header_value(answer.headers, name)},
            {name: "true" if asks and intent.private_network and keeps else None},
            answer_note(answer),
        )
    verdicts.check()


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


def _only_one_origin_is_allowed(
    verdicts: Verdicts, kind: str, at: Endpoint, allowed: str, method: str, loose: str | None = None
) -> None:
    """Each of _not_one_origin's requests, an actual one or a preflight, gets no Allow-Origin
    (but where the server falls short); the allowed origin alone gets it."""
    preflight = [("Access-Control-Request-Method", "GET")]
    for name, origins in [*_not_one_origin(allowed).items(), ("alone", [allowed])]:
        headers = [("Origin", o) for o in origins] + preflight
        answer = send_raw(at, method, "/own-cors", headers)
        expected = (
            allowed if name == "alone" else _granted_all_the_same(kind, origins, allowed, loose)
        )
        verdicts.add(
            f"{name}, around {allowed}: {case_name(method, '/own-cors', headers)}",
            {
                "Access-Control-Allow-Origin": header_value(answer.headers, ACAO),
                "CORS headers sent twice": sent_twice(answer),
            },
            {"Access-Control-Allow-Origin": expected, "CORS headers sent twice": ()},
            answer_note(answer),
        )


# An origin each policy allows by each of its shapes: listed, by a regex, by a wildcard.
SHAPES = {
    "spa-api": ("https://app.example.com",),
    "previews": ("https://app.example.com", "https://pr-1.preview.example.dev"),
    "tenants": ("https://acme.customers.example.com", "https://x.app.example.net"),
}


@pytest.mark.parametrize("policy", SHAPES)
def test_only_one_browser_sendable_origin_is_allowed(
    server: tuple[str, dict[str, Endpoint]], policy: str
) -> None:
    """No browser sends two Origin headers, an empty one or one with a comma, white space, a
    control byte or a CR; servers join two ("a,b"), or read the first."""
    kind, ports = server
    verdicts = Verdicts()
    for method in ("GET", "OPTIONS"):
        for allowed in SHAPES[policy]:
            assert allowed in INTENTS[policy].allowed
            _only_one_origin_is_allowed(verdicts, kind, ports[policy], allowed, method)
    verdicts.check()


def test_a_pattern_matching_the_empty_string_allows_no_missing_origin(
    empty_match_server: tuple[str, Endpoint],
) -> None:
    """SetEnvIf reads a missing Origin as "", which a pattern like (...)? matches."""
    kind, at = empty_match_server
    # Where the server falls short, credentials go on every answer (Traefik reads a missing
    # Origin as ""), Allow-Origin not: no pattern is written to match "".
    short = falls_short(kind, "refused-origin")
    verdicts = Verdicts()
    for origin in (None, "", "https://evil.example"):
        headers: dict[str, str] = {} if origin is None else {"Origin": origin}
        answer = send(at, "GET", "/own-cors", headers)
        sent = set(cors_sent(answer))
        if short:  # only Allow-Credentials, if anything
            sent -= {"access-control-allow-credentials"}
        verdicts.add(
            case_name("GET", "/own-cors", headers),
            {"CORS headers": tuple(sorted(sent))},
            {"CORS headers": ()},
            answer_note(answer),
        )
    headers = {"Origin": "https://app.example.com"}
    allowed = send(at, "GET", "/own-cors", headers)
    ok, why = cors_check(Request("https://app.example.com", credentials=True), allowed.headers)
    verdicts.add(
        case_name("GET", "/own-cors", headers),
        {"allowed by fetch": ok},
        {"allowed by fetch": True},
        answer_note(allowed, why),
    )
    verdicts.check()


def test_only_one_browser_sendable_origin_matches_a_loose_pattern(
    empty_match_server: tuple[str, Endpoint],
) -> None:
    """.+ matches across a comma, a space or a control byte (or what is left of a value once a
    CR is dropped), and (...)? matches ""."""
    kind, at = empty_match_server
    verdicts = Verdicts()
    for method in ("GET", "OPTIONS"):
        _only_one_origin_is_allowed(verdicts, kind, at, "https://x.example.com", method, LOOSE)
    verdicts.check()


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
@pytest.mark.parametrize("policy", sorted({policy for policy, _ in _strangers()}))
def test_each_policy_answers_only_on_its_own_paths(
    server: tuple[str, dict[str, Endpoint]], policy: str
) -> None:
    """Every example side by side in one server: an origin the next path allows is refused here."""
    kind, ports = server
    intent = INTENTS[policy]
    at = ports[policy]
    assert at.prefix, "a shared server serves each policy under a path of its own"
    short = falls_short(kind, "refused-origin")
    verdicts = Verdicts()
    for origin in _origins(policy, _strangers()):
        headers = {"Origin": origin}
        actual = send(at, "GET", "/own-cors", headers)
        ok, why = cors_check(Request(origin, credentials=intent.credentials), actual.headers)
        verdicts.add(
            case_name("GET", "/own-cors", headers),
            {
                "from the upstream": actual.from_upstream,
                "allowed by fetch": ok,
                "CORS headers": cors_sent(actual),
            },
            {
                "from the upstream": True,
                "allowed by fetch": False,
                "CORS headers": tuple(sorted(_refused_extras(intent, False) if short else ())),
            },
            answer_note(actual, why),
        )
        headers = {"Origin": origin, "Access-Control-Request-Method": "PUT"}
        preflight = send(at, "OPTIONS", "/ok", headers)
        request = Request(origin, "PUT", intent.credentials)
        ok, why = preflight_ok(request, preflight.headers, preflight.status)
        verdicts.add(
            case_name("OPTIONS", "/ok", headers),
            {
                "passed by fetch": ok,
                # else another policy's preflight answer reached this path
                "from the upstream": preflight.from_upstream,
                "CORS headers": cors_sent(preflight),
            },
            {
                "passed by fetch": False,
                "from the upstream": not short,
                "CORS headers": tuple(sorted(_refused_extras(intent, True) if short else ())),
            },
            answer_note(preflight, why),
        )
    verdicts.check()
