"""What a gateway running Envoy Gateway answers for corsgen's gateway-api and envoy-gateway output:
Envoy Gateway's published translation (testing/envoy_gateway.py) of each example policy's CORS
fields, served on the real Envoy and judged by corsgen.fetch against the same hand-written
intents as the conformance suite (testing/intents.py).

Where the translation answers otherwise than the intent, DIFFERENCES names the case and why, and
the test asserts what it does instead: a release that fixes one fails here, and its row goes with
the CG501 note it backs. One Envoy serves every translation, each on a port of its own.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from corsgen.fetch import Request, cors_check, header_value, preflight_ok, token_list, vary_tokens
from corsgen.origins import parse_origin
from corsgen.policy.loading import parse_policy
from corsgen.targets import serving_of
from corsgen.targets.envoy_serving import command
from corsgen.targets.serving import Site
from testing.binaries import need_binary
from testing.client import AUTH, Answer, send, send_raw
from testing.envoy_gateway import (
    Cors,
    Served,
    bootstrap,
    cors_policy,
    from_route_filter,
    from_security_policy,
    origin_matcher,
)
from testing.intents import INTENTS, PREFLIGHT_PROBES, Intent
from testing.paths import EXAMPLES
from testing.processes import answers, free_port, process
from testing.servers import Endpoint
from testing.upstream import STATUS, Upstream
from testing.verdicts import CORS, Verdict, Verdicts, answer_note, case_name

pytestmark = pytest.mark.conformance

GATEWAY_API = "gateway-api"  # the HTTPRoute CORS filter's cors: (processCORSFilter)
SECURITY_POLICY = "envoy-gateway"  # SecurityPolicy.spec.cors (buildCORS)
TRANSLATIONS: Mapping[str, Callable[[Mapping[str, Any]], Cors]] = {
    GATEWAY_API: from_route_filter,
    SECURITY_POLICY: from_security_policy,
}
# What each format cannot hold of an example policy, so that corsgen refuses it for that output.
REFUSED: Mapping[tuple[str, str], str] = {
    (GATEWAY_API, "previews"): "a regex origin: the filter takes exact origins and *. wildcards",
    (SECURITY_POLICY, "previews"): "a regex origin: cors takes exact origins and * wildcards",
    (GATEWAY_API, "tenants"): "capacitor:// and tauri://: the filter takes http and https only",
}
# Where the translation's real answers differ from the intent, and why (Envoy Gateway v1.9.0 on
# Envoy 1.40): the CG501 notes of the gateway-api and envoy-gateway targets. The tests assert
# the translation's answer for these cases.
DIFFERENCES: Mapping[str, str] = {
    "preflight-200": "Envoy's cors filter answers an allowed preflight with 200; no field sets 204",
    "no-vary": "neither Envoy's cors filter nor the translation adds Vary: Origin, though every "
    "Allow-Origin is the request's Origin echoed: a shared cache may serve one origin's answer "
    "to another",
    "no-star": 'allowOrigins ["*"] becomes the regex .*, which Envoy echoes: a request without '
    "Origin gets no Allow-Origin: * (and the echo has no Vary)",
    "refused-preflight-answered": "forward_not_matching_preflights is false: Envoy answers a "
    "refused origin's preflight itself, 200 with the policy's Allow-Credentials, Allow-Methods, "
    "Allow-Headers and Max-Age (no Allow-Origin), instead of passing it on",
    "upstream-cors-kept": "nothing removes the upstream's own CORS headers: the cors filter "
    "replaces Allow-Origin, Allow-Credentials (when true) and Expose-Headers on an allowed "
    "origin's answer and adds nothing to a refused one's, so the upstream's Allow-Methods, "
    "Allow-Headers, Max-Age and Allow-Private-Network reach every answer and its "
    "Allow-Origin: * reaches refused origins (a read without credentials passes)",
    "no-private-network": "ir.CORS has no private-network field and the translation never sets "
    "allow_private_network_access: no Access-Control-Allow-Private-Network",
    "wildcard-any-text": "a * becomes .* (wildcard2regex), which matches any text, a comma, "
    "space or tab too: an Origin header holding a refused origin before an allowed subdomain, "
    "or two Origin headers (Envoy joins them with a comma), is echoed; no browser sends one",
}
PREFLIGHT_ONLY = (
    "access-control-allow-methods",
    "access-control-allow-headers",
    "access-control-max-age",
    "access-control-allow-private-network",
)
DEAD = "/dead/x"
ACAO = "Access-Control-Allow-Origin"
ACMA = "Access-Control-Max-Age"  # nothing listens upstream: Envoy answers 503 itself


def differs(case: str) -> bool:
    return case in DIFFERENCES


def cors_mapping(form: str, example: Path) -> dict[str, Any] | None:
    """The `cors:` mapping corsgen's output in `form` holds for the example policy, None where
    corsgen refuses the policy for it. A stand-in written from the decided field mapping: once
    targets/gateway_api.py and targets/envoy_gateway.py exist, this renders the example for the
    target and reads the mapping from its YAML, and nothing else here changes."""
    policy = parse_policy(example.read_text(), example.name)
    origins = [o if o == "*" else str(parse_origin(o)) for o in policy.allow_origins]
    web = all(o == "*" or o.startswith(("http://", "https://")) for o in origins)
    if policy.allow_origin_regex is not None or (form == GATEWAY_API and not web):
        return None
    fields: dict[str, Any] = {
        "allowOrigins": origins,
        "allowMethods": list(policy.allow_methods),
        "allowHeaders": list(policy.allow_headers),
        "exposeHeaders": list(policy.expose_headers),
        "allowCredentials": policy.allow_credentials,
    }
    if policy.max_age is not None:
        fields["maxAge"] = policy.max_age if form == GATEWAY_API else f"{policy.max_age}s"
    return fields


MAPPINGS = {
    (form, path.stem): cors_mapping(form, path)
    for form in TRANSLATIONS
    for path in sorted(EXAMPLES.glob("*.toml"))
}
SERVED = [key for key, fields in MAPPINGS.items() if fields is not None]
IDS = [f"{form}/{stem}" for form, stem in SERVED]


def test_each_format_refuses_what_it_cannot_hold() -> None:
    refused = {key for key, fields in MAPPINGS.items() if fields is None}
    assert refused == set(REFUSED)


@pytest.fixture(scope="module")
def gateway(upstream: Upstream) -> Iterator[dict[tuple[str, str], Endpoint]]:
    """One Envoy serving each translation on a port of its own."""
    binary = serving_of("envoy").kinds()["envoy"]
    need_binary("envoy", binary)
    ports = {key: free_port() for key in SERVED}
    served = []
    for key, port in ports.items():
        fields = MAPPINGS[key]
        assert fields is not None
        served.append(Served(port, TRANSLATIONS[key[0]](fields)))
    users = Site((), {}, upstream.port, 0).sha_password()  # the tests' user (testing.client.AUTH)
    text = bootstrap(served, upstream.port, free_port(), users)
    with tempfile.TemporaryDirectory(prefix="corsgen-envoy-gateway-") as tmp:
        root = Path(tmp)
        with process(command(str(binary), root, text), root, ports.values()):
            for port in ports.values():
                answers(port, "/ok", lambda r: r.getheader("X-Upstream") == "1")
            yield {key: Endpoint(port) for key, port in ports.items()}


def _cors_sent(answer: Answer) -> tuple[str, ...]:
    return tuple(sorted({n.lower() for n, _ in answer.headers if n.lower() in CORS}))


def _twice(answer: Answer) -> tuple[str, ...]:
    return tuple(name for name in CORS if answer.count(name) > 1)


def _star(intent: Intent) -> bool:
    """Whether the answer is a literal *, the same for every Origin."""
    return intent.any_origin and not differs("no-star")


def _vary(answer: Answer, intent: Intent) -> tuple[Verdict, Verdict]:
    """Vary: Origin wherever Allow-Origin depends on the Origin (not for a literal *)."""
    observed: Verdict = {"Vary: Origin": "origin" in vary_tokens(answer.headers)}
    return observed, {"Vary: Origin": not _star(intent) and not differs("no-vary")}


def _upstream_kept(path: str) -> bool:
    return path.startswith("/own-cors") and differs("upstream-cors-kept")


@pytest.mark.parametrize("served", SERVED, ids=IDS)
def test_actual_request(gateway: dict[tuple[str, str], Endpoint], served: tuple[str, str]) -> None:
    """Every origin the policy allows or refuses, on every status the upstream answers and on
    Envoy's own 503."""
    intent = INTENTS[served[1]]
    verdicts = Verdicts()
    for origin in (*intent.allowed, *intent.refused):
        for path in (*STATUS, DEAD):
            answer = send(gateway[served], "GET", path, {"Origin": origin})
            ok, why = cors_check(Request(origin, credentials=intent.credentials), answer.headers)
            allowed = origin in intent.allowed
            observed: Verdict = {
                "status": answer.status,
                "from the upstream": answer.from_upstream,
                "allowed by fetch": ok,
                "CORS headers sent twice": _twice(answer),
            }
            expected: Verdict = {
                "status": STATUS.get(path, 503),
                "from the upstream": path in STATUS,
                "allowed by fetch": allowed
                or (_upstream_kept(path) and not intent.credentials),  # the upstream's *
                "CORS headers sent twice": (),
            }
            observed |= _vary(answer, intent)[0]
            expected |= _vary(answer, intent)[1]
            if allowed:
                sent = {n.lower() for n, _ in answer.headers}
                observed["preflight-only headers"] = tuple(n for n in PREFLIGHT_ONLY if n in sent)
                expected["preflight-only headers"] = PREFLIGHT_ONLY if _upstream_kept(path) else ()
                exposed = token_list(answer.headers, "Access-Control-Expose-Headers") or []
                observed["exposed"] = tuple(sorted({e.lower() for e in exposed}))
                expected["exposed"] = tuple(sorted(intent.expose))
            if intent.any_origin:
                observed[ACAO] = header_value(answer.headers, ACAO)
                expected[ACAO] = "*" if _star(intent) else origin
            elif not allowed:
                observed["CORS headers"] = _cors_sent(answer)
                expected["CORS headers"] = tuple(sorted(CORS)) if _upstream_kept(path) else ()
            name = case_name("GET", path, {"Origin": origin})
            verdicts.add(name, observed, expected, answer_note(answer, why))
    verdicts.check()


@pytest.mark.parametrize("served", SERVED, ids=IDS)
def test_request_without_origin(
    gateway: dict[tuple[str, str], Endpoint], served: tuple[str, str]
) -> None:
    """Allow-Origin: * for any origin, nothing otherwise; the upstream's own dropped."""
    intent = INTENTS[served[1]]
    verdicts = Verdicts()
    for path in ("/ok", "/own-cors"):
        answer = send(gateway[served], "GET", path, {})
        star = "*" if _star(intent) else None
        verdicts.add(
            case_name("GET", path, {}),
            {ACAO: header_value(answer.headers, ACAO)},
            {ACAO: "*" if _upstream_kept(path) else star},
            answer_note(answer),
        )
    verdicts.check()


def _refused_preflight(intent: Intent) -> tuple[str, ...]:
    """What Envoy sends a refused origin's preflight it answers itself."""
    sent = {"access-control-allow-methods"}
    sent |= {"access-control-allow-credentials"} if intent.credentials else set()
    sent |= {"access-control-allow-headers"} if intent.headers else set()
    sent |= {"access-control-max-age"} if intent.max_age else set()
    return tuple(sorted(sent))


@pytest.mark.parametrize("served", SERVED, ids=IDS)
def test_preflight(gateway: dict[tuple[str, str], Endpoint], served: tuple[str, str]) -> None:
    """Each allowed origin and every third refused one, asking for each method and header, on a
    path passed on, one behind basic auth, and one whose upstream sends CORS headers of its own."""
    intent = INTENTS[served[1]]
    answered = differs("refused-preflight-answered")
    verdicts = Verdicts()
    for origin in (*intent.allowed, *intent.refused[::3]):
        for method, header in PREFLIGHT_PROBES:
            for path in ("/ok", "/auth/ok", "/own-cors"):
                headers = {"Origin": origin, "Access-Control-Request-Method": method}
                headers |= {"Access-Control-Request-Headers": header} if header else {}
                answer = send(gateway[served], "OPTIONS", path, headers)
                request = Request(origin, method, intent.credentials, (header,) if header else ())
                ok, why = preflight_ok(request, answer.headers, answer.status)
                method_ok = method in ("GET", "HEAD", "POST", *intent.methods)
                header_ok = header is None or header in {h.lower() for h in intent.headers}
                allowed = origin in intent.allowed
                observed: Verdict = {
                    "passed by fetch": ok,
                    "CORS headers sent twice": _twice(answer),
                }
                expected: Verdict = {
                    "passed by fetch": allowed and method_ok and header_ok,
                    "CORS headers sent twice": (),
                }
                if allowed:
                    observed |= {
                        "status": answer.status,
                        "body": answer.body,
                        "from the upstream": answer.from_upstream,
                        "Access-Control-Max-Age": header_value(answer.headers, ACMA),
                        **_vary(answer, intent)[0],
                    }
                    expected |= {
                        "status": 200 if differs("preflight-200") else intent.status,
                        "body": b"",  # a preflight answer has an empty body
                        "from the upstream": False,
                        "Access-Control-Max-Age": intent.max_age,
                        **_vary(answer, intent)[1],
                    }
                elif answered:  # by Envoy, as an allowed one is, but for Allow-Origin
                    observed |= {
                        "status": answer.status,
                        "from the upstream": answer.from_upstream,
                        "CORS headers": _cors_sent(answer),
                    }
                    expected |= {
                        "status": 200,
                        "from the upstream": False,
                        "CORS headers": _refused_preflight(intent),
                    }
                else:  # passed on, but where auth answers first
                    if not path.startswith("/auth"):
                        observed["from the upstream"] = answer.from_upstream
                        expected["from the upstream"] = True
                    observed["CORS headers"] = _cors_sent(answer)
                    expected["CORS headers"] = ()
                name = case_name("OPTIONS", path, headers)
                verdicts.add(name, observed, expected, answer_note(answer, why))
    verdicts.check()


@pytest.mark.parametrize("served", SERVED, ids=IDS)
def test_private_network(gateway: dict[tuple[str, str], Endpoint], served: tuple[str, str]) -> None:
    intent = INTENTS[served[1]]
    name = "Access-Control-Allow-Private-Network"
    headers = {
        "Origin": intent.allowed[0],
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Private-Network": "true",
    }
    answer = send(gateway[served], "OPTIONS", "/ok", headers)
    keeps = intent.private_network and not differs("no-private-network")
    verdicts = Verdicts()
    verdicts.add(
        case_name("OPTIONS", "/ok", headers),
        {name: header_value(answer.headers, name)},
        {name: "true" if keeps else None},
        answer_note(answer),
    )
    verdicts.check()


@pytest.mark.parametrize("served", SERVED, ids=IDS)
def test_auth_errors_carry_cors(
    gateway: dict[tuple[str, str], Endpoint], served: tuple[str, str]
) -> None:
    """basic_auth comes after the cors filter (Envoy Gateway orders it so): its 401 carries the
    policy's headers, and the right password reaches the upstream."""
    intent = INTENTS[served[1]]
    origin = intent.allowed[0]
    verdicts = Verdicts()
    for headers, status in (
        ({"Origin": origin}, 401),
        ({"Origin": origin, "Authorization": AUTH}, 200),
    ):
        answer = send(gateway[served], "GET", "/auth/ok", headers)
        ok, why = cors_check(Request(origin, credentials=intent.credentials), answer.headers)
        verdicts.add(
            case_name("GET", "/auth/ok", headers),
            {"status": answer.status, "allowed by fetch": ok},
            {"status": status, "allowed by fetch": True},
            answer_note(answer, why),
        )
    verdicts.check()


def _not_one_origin(allowed: str) -> dict[str, Sequence[str]]:
    """Origin headers no browser sends, around an allowed origin: a refused origin before it,
    joined by a comma, a space or a tab, or in a header of its own."""
    evil = "https://evil.com"
    return {
        "comma": [f"{evil},{allowed}"],
        "space": [f"{evil} {allowed}"],
        "tab": [f"{evil}\t{allowed}"],
        "refused, allowed": [evil, allowed],
    }


# An origin each served policy allows by each of its shapes (listed, or by a wildcard: True).
SHAPES = {
    "spa-api": {"https://app.example.com": False},
    "tenants": {"https://acme.customers.example.com": False, "https://x.app.example.net": True},
}


@pytest.mark.parametrize("served", [s for s in SERVED if s[1] in SHAPES], ids=lambda s: "/".join(s))
def test_only_one_browser_sendable_origin_is_allowed(
    gateway: dict[tuple[str, str], Endpoint], served: tuple[str, str]
) -> None:
    verdicts = Verdicts()
    for allowed, by_wildcard in SHAPES[served[1]].items():
        for name, origins in _not_one_origin(allowed).items():
            headers = [("Origin", o) for o in origins] + [("Access-Control-Request-Method", "GET")]
            seen = ",".join(origins)  # as Envoy joins two Origin headers
            echoed = seen if by_wildcard and differs("wildcard-any-text") else None
            for method in ("GET", "OPTIONS"):
                answer = send_raw(gateway[served], method, "/ok", headers)
                verdicts.add(
                    f"{name}, around {allowed}: {case_name(method, '/ok', headers)}",
                    {"Access-Control-Allow-Origin": header_value(answer.headers, ACAO)},
                    {"Access-Control-Allow-Origin": echoed},
                    answer_note(answer),
                )
    verdicts.check()


@pytest.mark.parametrize(
    ("origin", "matcher"),
    [
        ("*", {"safe_regex": {"regex": ".*"}}),
        ("https://*.a-b.example.com", {"safe_regex": {"regex": r"https://.*\.a-b\.example\.com"}}),
        ("git+ssh://x.example", {"exact": "git+ssh://x.example"}),
        ("git+ssh://*.example", {"safe_regex": {"regex": r"git\+ssh://.*\.example"}}),
    ],
)
def test_an_origin_is_matched_as_their_code_writes_it(origin: str, matcher: object) -> None:
    """wildcard2regex: Go's QuoteMeta (which leaves - alone), then each \\* as .*."""
    assert origin_matcher(origin) == matcher


@pytest.mark.parametrize(
    ("max_age", "header"), [("600s", "600"), ("1h", "3600"), ("1m30s", "90"), ("1500ms", "1")]
)
def test_a_security_policy_max_age_is_read_as_their_code_reads_it(
    max_age: str, header: str
) -> None:
    """time.ParseDuration, then whole seconds (strconv.Itoa(int(d.Seconds())) truncates)."""
    policy = cors_policy(from_security_policy({"allowOrigins": ["*"], "maxAge": max_age}))
    assert policy["max_age"] == header
