"""What a gateway answers for corsgen's Kubernetes outputs, where the gateway's translation of
them into Envoy's cors filter is published: Envoy Gateway's (testing/envoy_gateway.py) and
Istio's (testing/istio_translation.py), of each example policy's CORS fields, served on the real
Envoy and judged by corsgen.fetch against the same hand-written intents as the conformance suite
(testing/intents.py).

Where a translation answers otherwise than the intent, its `differences` name the case and why,
and the tests assert what it does instead: a release that fixes one fails here, and its row goes
with the CG501 note it backs. One Envoy serves every translation, each on a port of its own.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from corsgen.fetch import Request, cors_check, header_value, preflight_ok, token_list, vary_tokens
from corsgen.pipeline import load_and_plan
from corsgen.render import render_parts
from corsgen.targets import by_name, serving_of
from corsgen.targets.envoy_serving import command
from corsgen.targets.kubernetes import BROWSER_MAX_AGE
from corsgen.targets.serving import Site
from testing import envoy_gateway, istio_translation
from testing.binaries import need_binary
from testing.client import AUTH, Answer, send, send_raw
from testing.intents import INTENTS, PREFLIGHT_PROBES
from testing.paths import EXAMPLES
from testing.processes import answers, free_port, process
from testing.servers import Endpoint
from testing.translated import Served, bootstrap
from testing.upstream import OWN_CORS, STATUS, Upstream
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

# corsgen's outputs whose CORS fields the gateways translate.
GATEWAY_API = "gateway-api"  # the HTTPRoute CORS filter's cors:
SECURITY_POLICY = "envoy-gateway"  # SecurityPolicy spec.cors
VIRTUAL_SERVICE = "istio"  # VirtualService http[].corsPolicy
# What each output cannot hold of an example policy, so that corsgen refuses the policy for it.
REFUSED: Mapping[str, Mapping[str, str]] = {
    GATEWAY_API: {
        "previews": "a regex origin: the filter takes exact origins and *. wildcards",
        "tenants": "capacitor:// and tauri://: the filter takes http and https only",
    },
    SECURITY_POLICY: {
        "previews": "a regex origin: cors takes exact origins and * wildcards",
        "tenants": "private-network access: cors has no field for it",
    },
    VIRTUAL_SERVICE: {"tenants": "private-network access: corsPolicy has no field for it"},
}

# Where a translation's real answers differ from the intent, and why (on Envoy 1.40): the CG501
# notes of the targets. Each case is asserted as the translation answers it. A row holds for
# every form the same code translates, though no example an HTTPRoute filter can hold reaches
# no-private-network or wildcard-any-text (the one with both, tenants, has custom schemes).
ENVOY = {
    "preflight-200": "Envoy's cors filter answers an allowed preflight with 200; no field sets 204",
    "no-vary": "neither Envoy's cors filter nor the translation adds Vary: Origin, though every "
    "Allow-Origin is the request's Origin echoed: a shared cache may serve one origin's answer "
    "to another",
    "upstream-cors-kept": "nothing removes the upstream's own CORS headers: the cors filter "
    "replaces Allow-Origin, Allow-Credentials (when true) and Expose-Headers on an allowed "
    "origin's answer and adds nothing to a refused one's, so the upstream's Allow-Methods, "
    "Allow-Headers, Max-Age and Allow-Private-Network reach every answer and its "
    "Allow-Origin: * reaches refused origins, and a refused preflight passed on (a read or "
    "preflight without credentials passes)",
    "no-private-network": "the format has no private-network field and the translation never "
    "sets allow_private_network_access: no Access-Control-Allow-Private-Network",
}
REFUSED_PREFLIGHT_ANSWERED = (
    "forward_not_matching_preflights is false: Envoy answers a refused origin's preflight "
    "itself, 200 with the policy's Allow-Credentials, Allow-Methods, Allow-Headers and Max-Age "
    "(no Allow-Origin), instead of passing it on"
)
ENVOY_GATEWAY = {
    **ENVOY,
    "no-star": 'allowOrigins ["*"] becomes the regex .* (wildcard2regex), which Envoy echoes: a '
    "request without Origin gets no Allow-Origin: *",
    "refused-preflight-answered": REFUSED_PREFLIGHT_ANSWERED,
    "wildcard-any-text": "a * becomes .* (wildcard2regex), which matches any text, a comma, "
    "space or tab too: an Origin header holding a refused origin before an allowed subdomain, "
    "or two Origin headers (Envoy joins them with a comma), is echoed; no browser sends one",
}
ISTIO = {
    **ENVOY,
    "auth-before-cors": "Istio puts its auth filters (ext_authz, jwt_authn, RBAC) before cors: "
    "a preflight to a path behind auth gets the auth's 401 or 403 without CORS headers, and so "
    "does the request itself, which the page cannot read",
}
ISTIO_HTTPROUTE = {
    **ISTIO,
    "no-star": 'allowOrigins ["*"] becomes a regex of scheme://host, which Envoy echoes: a '
    "request without Origin gets no Allow-Origin: *",
    "star-not-null": 'allowOrigins ["*"] becomes ^[a-zA-Z][a-zA-Z0-9+.-]*://[^/\\s?#]+$, '
    "which refuses Origin: null (sandboxed frames, file: pages)",
    "refused-preflight-answered": REFUSED_PREFLIGHT_ANSWERED + " (unmatchedPreflights IGNORE)",
}
ISTIO_VIRTUAL_SERVICE = {
    **ISTIO,
    "no-star": 'regex ".*" allows every origin and is echoed: a request without Origin gets no '
    "Allow-Origin: *",
}


@dataclass(frozen=True)
class Translation:
    """A gateway's translation of one of corsgen's outputs into the route's CorsPolicy."""

    form: str  # corsgen's output it reads
    translate: Callable[[Mapping[str, Any]], Mapping[str, Any]]
    differences: Mapping[str, str]
    auth_first: bool = False  # the gateway's auth filters come before cors


TRANSLATIONS = {
    "envoy-gateway/httproute": Translation(
        GATEWAY_API,
        lambda cors: envoy_gateway.cors_policy(envoy_gateway.from_route_filter(cors)),
        ENVOY_GATEWAY,
    ),
    "envoy-gateway/securitypolicy": Translation(
        SECURITY_POLICY,
        lambda cors: envoy_gateway.cors_policy(envoy_gateway.from_security_policy(cors)),
        ENVOY_GATEWAY,
    ),
    "istio/httproute": Translation(
        GATEWAY_API,
        lambda cors: istio_translation.cors_policy(istio_translation.from_route_filter(cors)),
        ISTIO_HTTPROUTE,
        auth_first=True,
    ),
    "istio/virtualservice": Translation(
        VIRTUAL_SERVICE, istio_translation.cors_policy, ISTIO_VIRTUAL_SERVICE, auth_first=True
    ),
}
PREFLIGHT_ONLY = (
    "access-control-allow-methods",
    "access-control-allow-headers",
    "access-control-max-age",
    "access-control-allow-private-network",
)
DEAD = "/dead/x"  # nothing listens upstream: Envoy answers 503 itself
ACAO = "Access-Control-Allow-Origin"
ACMA = "Access-Control-Max-Age"


def cors_mapping(form: str, example: Path) -> dict[str, Any] | None:
    """The CORS mapping corsgen's output for the target `form` holds for the example policy, read
    back from the rendered file; None where the target refuses the policy (CG530)."""
    plan = load_and_plan(example)[0]
    if list(by_name(form).refusals(plan)):
        return None
    (text,) = render_parts(plan, form).values()
    document = yaml.safe_load(text)
    if form == SECURITY_POLICY:  # a whole SecurityPolicy
        cors: dict[str, Any] = document["spec"]["cors"]
        return cors
    value: dict[str, Any] = document[0]["value"]  # a patch's one op
    return value["cors"] if form == GATEWAY_API else value


MAPPINGS = {
    (form, path.stem): cors_mapping(form, path)
    for form in REFUSED
    for path in sorted(EXAMPLES.glob("*.toml"))
}
SERVED = [
    (name, stem)
    for name, translation in TRANSLATIONS.items()
    for form, stem in MAPPINGS
    if form == translation.form and MAPPINGS[form, stem] is not None
]


def _id(served: tuple[str, str]) -> str:
    return "/".join(served)


def test_each_output_refuses_what_it_cannot_hold() -> None:
    refused = {key for key, fields in MAPPINGS.items() if fields is None}
    assert refused == {(form, stem) for form, stems in REFUSED.items() for stem in stems}


@pytest.fixture(scope="module")
def gateway(upstream: Upstream) -> Iterator[dict[tuple[str, str], Endpoint]]:
    """One Envoy serving each translation of each policy on a port of its own."""
    binary = serving_of("envoy").kinds()["envoy"]
    need_binary("envoy", binary)
    ports = {key: free_port() for key in SERVED}
    served = []
    for (name, stem), port in ports.items():
        translation = TRANSLATIONS[name]
        fields = MAPPINGS[translation.form, stem]
        assert fields is not None
        policy = translation.translate(fields)
        served.append(Served(port, policy, translation.auth_first))
    users = Site((), {}, upstream.port, 0).sha_password()  # the tests' user (testing.client.AUTH)
    text = bootstrap(served, upstream.port, free_port(), users)
    with tempfile.TemporaryDirectory(prefix="corsgen-translations-") as tmp:
        root = Path(tmp)
        with process(command(str(binary), root, text), root, ports.values()):
            for port in ports.values():
                answers(port, "/ok", lambda r: r.getheader("X-Upstream") == "1")
            yield {key: Endpoint(port) for key, port in ports.items()}


class Judged:
    """One translation of one policy: its intent, and where the translation differs from it."""

    def __init__(self, served: tuple[str, str]) -> None:
        self.translation = TRANSLATIONS[served[0]]
        self.intent = INTENTS[served[1]]

    def differs(self, case: str) -> bool:
        return case in self.translation.differences

    def allowed(self, origin: str) -> bool:
        """Whether the intent allows the origin, and the translation does too."""
        null = origin == "null" and self.intent.any_origin and self.differs("star-not-null")
        return origin in self.intent.allowed and not null

    def star(self) -> bool:
        """Whether the answer is a literal *, the same for every Origin."""
        return self.intent.any_origin and not self.differs("no-star")

    def vary(self, answer: Answer) -> tuple[Verdict, Verdict]:
        """Vary: Origin wherever Allow-Origin depends on the Origin (not for a literal *)."""
        observed: Verdict = {"Vary: Origin": "origin" in vary_tokens(answer.headers)}
        return observed, {"Vary: Origin": not self.star() and not self.differs("no-vary")}

    def upstream_kept(self, path: str) -> bool:
        return path.startswith("/own-cors") and self.differs("upstream-cors-kept")

    def auth_first(self, path: str) -> bool:
        return path.startswith("/auth") and self.differs("auth-before-cors")

    def refused_preflight(self) -> tuple[str, ...]:
        """What Envoy sends a refused origin's preflight it answers itself."""
        intent = self.intent
        sent = {"access-control-allow-methods"}
        sent |= {"access-control-allow-credentials"} if intent.credentials else set()
        sent |= {"access-control-allow-headers"} if intent.headers else set()
        sent |= {"access-control-max-age"}  # the outputs write maxAge always
        return tuple(sorted(sent))


def _own(name: str) -> tuple[str, ...]:
    """The upstream's own list in a CORS header, lower-case (testing.upstream.OWN_CORS)."""
    return tuple(v.strip().lower() for n, v in OWN_CORS if n == name for v in v.split(","))


def _own_passes(request: Request) -> bool:
    """Whether the upstream's own CORS headers pass a preflight: its * for one without
    credentials, its method and header lists."""
    methods = ("get", "head", "post", *_own("Access-Control-Allow-Methods"))
    headers = _own("Access-Control-Allow-Headers")
    return (
        not request.credentials
        and request.method.lower() in methods
        and all(h.lower() in headers for h in request.author_headers)
    )


@pytest.mark.parametrize("served", SERVED, ids=_id)
def test_actual_request(gateway: dict[tuple[str, str], Endpoint], served: tuple[str, str]) -> None:
    """Every origin the policy allows or refuses, on every status the upstream answers and on
    Envoy's own 503."""
    judged = Judged(served)
    intent = judged.intent
    verdicts = Verdicts()
    for origin in (*intent.allowed, *intent.refused):
        for path in (*STATUS, DEAD):
            answer = send(gateway[served], "GET", path, {"Origin": origin})
            ok, why = cors_check(Request(origin, credentials=intent.credentials), answer.headers)
            allowed = judged.allowed(origin)
            kept = judged.upstream_kept(path)
            observed: Verdict = {
                "status": answer.status,
                "from the upstream": answer.from_upstream,
                "allowed by fetch": ok,
                "CORS headers sent twice": sent_twice(answer),
            }
            expected: Verdict = {
                "status": STATUS.get(path, 503),
                "from the upstream": path in STATUS,
                # the upstream's own * passes a read without credentials
                "allowed by fetch": allowed or (kept and not intent.credentials),
                "CORS headers sent twice": (),
            }
            observed |= judged.vary(answer)[0]
            expected |= judged.vary(answer)[1]
            if allowed:
                sent = {n.lower() for n, _ in answer.headers}
                observed["preflight-only headers"] = tuple(n for n in PREFLIGHT_ONLY if n in sent)
                expected["preflight-only headers"] = PREFLIGHT_ONLY if kept else ()
                exposed = token_list(answer.headers, "Access-Control-Expose-Headers") or []
                observed["exposed"] = tuple(sorted({e.lower() for e in exposed}))
                # The cors filter sets Expose-Headers only when the policy has some.
                own = _own("Access-Control-Expose-Headers") if kept else ()
                expected["exposed"] = tuple(sorted(intent.expose or own))
            if intent.any_origin:
                observed[ACAO] = header_value(answer.headers, ACAO)
                refused = "*" if kept else None
                expected[ACAO] = "*" if judged.star() else origin if allowed else refused
            elif not allowed:
                observed["CORS headers"] = cors_sent(answer)
                expected["CORS headers"] = tuple(sorted(CORS)) if kept else ()
            name = case_name("GET", path, {"Origin": origin})
            verdicts.add(name, observed, expected, answer_note(answer, why))
    verdicts.check()


@pytest.mark.parametrize("served", SERVED, ids=_id)
def test_request_without_origin(
    gateway: dict[tuple[str, str], Endpoint], served: tuple[str, str]
) -> None:
    """Allow-Origin: * for any origin, nothing otherwise; the upstream's own dropped."""
    judged = Judged(served)
    verdicts = Verdicts()
    for path in ("/ok", "/own-cors"):
        answer = send(gateway[served], "GET", path, {})
        star = "*" if judged.star() or judged.upstream_kept(path) else None
        verdicts.add(
            case_name("GET", path, {}),
            {ACAO: header_value(answer.headers, ACAO)},
            {ACAO: star},
            answer_note(answer),
        )
    verdicts.check()


@pytest.mark.parametrize("served", SERVED, ids=_id)
def test_preflight(gateway: dict[tuple[str, str], Endpoint], served: tuple[str, str]) -> None:
    """Each allowed origin and every third refused one, asking for each method and header, on a
    path passed on, one behind basic auth, and one whose upstream sends CORS headers of its own."""
    judged = Judged(served)
    intent = judged.intent
    answered = judged.differs("refused-preflight-answered")
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
                allowed = judged.allowed(origin)
                observed: Verdict = {
                    "passed by fetch": ok,
                    "CORS headers sent twice": sent_twice(answer),
                }
                expected: Verdict = {
                    "passed by fetch": allowed and method_ok and header_ok,
                    "CORS headers sent twice": (),
                }
                if judged.auth_first(path):  # auth answers before cors sees it
                    observed |= {"status": answer.status, "CORS headers": cors_sent(answer)}
                    expected |= {"passed by fetch": False, "status": 401, "CORS headers": ()}
                elif allowed:
                    observed |= {
                        "status": answer.status,
                        "body": answer.body,
                        "from the upstream": answer.from_upstream,
                        ACMA: header_value(answer.headers, ACMA),
                        **judged.vary(answer)[0],
                    }
                    expected |= {
                        "status": 200 if judged.differs("preflight-200") else intent.status,
                        "body": b"",  # a preflight answer has an empty body
                        "from the upstream": False,
                        # No Max-Age is a browser's 5 seconds (Fetch), which the Kubernetes
                        # outputs write out: the filter's own default would be the same.
                        ACMA: intent.max_age or str(BROWSER_MAX_AGE),
                        **judged.vary(answer)[1],
                    }
                elif answered:  # by Envoy, as an allowed one is, but for Allow-Origin
                    itself = answered_itself(answer, judged.refused_preflight())
                    observed |= itself[0]
                    expected |= itself[1]
                else:  # passed on, but where auth answers first
                    if not path.startswith("/auth"):
                        observed["from the upstream"] = answer.from_upstream
                        expected["from the upstream"] = True
                    kept = judged.upstream_kept(path)
                    observed["CORS headers"] = cors_sent(answer)
                    expected["CORS headers"] = tuple(sorted(CORS)) if kept else ()
                    # the upstream's own Allow-Origin: * and lists, for a preflight without
                    # credentials
                    expected["passed by fetch"] = kept and _own_passes(request)
                name = case_name("OPTIONS", path, headers)
                verdicts.add(name, observed, expected, answer_note(answer, why))
    verdicts.check()


@pytest.mark.parametrize("served", SERVED, ids=_id)
def test_private_network(gateway: dict[tuple[str, str], Endpoint], served: tuple[str, str]) -> None:
    judged = Judged(served)
    name = "Access-Control-Allow-Private-Network"
    headers = {
        "Origin": judged.intent.allowed[0],
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Private-Network": "true",
    }
    answer = send(gateway[served], "OPTIONS", "/ok", headers)
    keeps = judged.intent.private_network and not judged.differs("no-private-network")
    verdicts = Verdicts()
    verdicts.add(
        case_name("OPTIONS", "/ok", headers),
        {name: header_value(answer.headers, name)},
        {name: "true" if keeps else None},
        answer_note(answer),
    )
    verdicts.check()


@pytest.mark.parametrize("served", SERVED, ids=_id)
def test_auth_errors_carry_cors(
    gateway: dict[tuple[str, str], Endpoint], served: tuple[str, str]
) -> None:
    """The 401 of the auth filter carries the policy's headers (where cors comes first), and the
    right password reaches the upstream."""
    judged = Judged(served)
    origin = judged.intent.allowed[0]
    credentials = judged.intent.credentials
    verdicts = Verdicts()
    for headers, status in (
        ({"Origin": origin}, 401),
        ({"Origin": origin, "Authorization": AUTH}, 200),
    ):
        answer = send(gateway[served], "GET", "/auth/ok", headers)
        ok, why = cors_check(Request(origin, credentials=credentials), answer.headers)
        readable = status == 200 or not judged.auth_first("/auth/ok")
        verdicts.add(
            case_name("GET", "/auth/ok", headers),
            {"status": answer.status, "allowed by fetch": ok},
            {"status": status, "allowed by fetch": readable},
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


# An origin each policy allows by each of its shapes, and whether that is by a *. wildcard.
SHAPES = {
    "spa-api": {"https://app.example.com": False},
    "previews": {"https://app.example.com": False, "https://pr-1.preview.example.dev": False},
    "tenants": {"https://acme.customers.example.com": False, "https://x.app.example.net": True},
}


@pytest.mark.parametrize("served", [s for s in SERVED if s[1] in SHAPES], ids=_id)
def test_only_one_browser_sendable_origin_is_allowed(
    gateway: dict[tuple[str, str], Endpoint], served: tuple[str, str]
) -> None:
    judged = Judged(served)
    verdicts = Verdicts()
    for allowed, by_wildcard in SHAPES[served[1]].items():
        for name, origins in _not_one_origin(allowed).items():
            headers = [("Origin", o) for o in origins] + [("Access-Control-Request-Method", "GET")]
            seen = ",".join(origins)  # as Envoy joins two Origin headers
            wide = by_wildcard and judged.differs("wildcard-any-text")
            for method in ("GET", "OPTIONS"):
                answer = send_raw(gateway[served], method, "/ok", headers)
                verdicts.add(
                    f"{name}, around {allowed}: {case_name(method, '/ok', headers)}",
                    {ACAO: header_value(answer.headers, ACAO)},
                    {ACAO: seen if wide else None},
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
def test_envoy_gateway_matches_an_origin_as_its_code_writes_it(
    origin: str, matcher: object
) -> None:
    """wildcard2regex: Go's QuoteMeta (which leaves - alone), then each \\* as .*."""
    assert envoy_gateway.origin_matcher(origin) == matcher


@pytest.mark.parametrize(
    ("max_age", "header"), [("600s", "600"), ("1h", "3600"), ("1m30s", "90"), ("1500ms", "1")]
)
def test_envoy_gateway_reads_a_security_policy_max_age_as_its_code_does(
    max_age: str, header: str
) -> None:
    """time.ParseDuration, then whole seconds (strconv.Itoa(int(d.Seconds())) truncates)."""
    cors = envoy_gateway.from_security_policy({"allowOrigins": ["*"], "maxAge": max_age})
    assert envoy_gateway.cors_policy(cors)["max_age"] == header


@pytest.mark.parametrize(
    ("origin", "match"),
    [
        ("*", {"regex": istio_translation.ANY_ORIGIN}),
        ("https://a.example.com", {"exact": "https://a.example.com"}),
        ("https://*", {"prefix": "https://"}),
        ("https://*.a-b.example.com", {"regex": r"^https://.*\.a-b\.example\.com$"}),
    ],
)
def test_istio_matches_an_origin_as_its_code_writes_it(origin: str, match: object) -> None:
    """createCorsFilter: a lone * a regex of scheme://host, a trailing one a prefix."""
    policy = istio_translation.from_route_filter({"allowOrigins": [origin]})
    assert policy["allowOrigins"] == [match]
