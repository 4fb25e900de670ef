"""The Kubernetes outputs' offline validation, held to the upstreams' own verdicts.

The tables are the upstream test cases and examples, rewritten here as values (the Go structs
as the YAML they serialize to), each named as upstream names it. Each asserts upstream's
verdict: no problem for a valid case; for an invalid one, a problem and every wanted text
within the problems (upstream's tests look for the texts inside the API server's error, case
insensitive, as these do).
"""

from __future__ import annotations

import string
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from corsgen.errors import VerifyError
from corsgen.targets import kube_schema, kube_validate
from corsgen.targets.kube_validate import check_files, main, problems

FILTER = ("spec", "rules", 0, "filters", 0)  # where upstream's HTTPRoute tests put the filter


def _verdict(found: list[kube_validate.Problem], wanted: list[str]) -> None:
    text = "\n".join(str(problem) for problem in found).lower()
    assert bool(found) == bool(wanted), text
    for want in wanted:
        assert want.lower() in text


def _pattern_error(at: str, value: str) -> str:
    return f'{at}: Invalid value: "{value}": {at} in body should match'


# kubernetes-sigs/gateway-api v1.6.1, tests/cel/httproute_test.go, TestHTTPRouteCORS: the CORS
# filter of spec.rules[0].filters[0].
_O = "spec.rules[0].filters[0].cors.allowOrigins"
GATEWAY_CORS = [
    (
        "Valid cors should be accepted",
        {
            "allowOrigins": [
                "https://xpto.com",
                "http://*.abcd.com",
                "http://*.abcd.com:12345",
                "https://*:443",
                "https://*",
            ]
        },
        [],
    ),
    ("Using wildcard only is accepted", {"allowOrigins": ["*"]}, []),
    (
        "Wildcard and other hosts on the same origin list should be denied",
        {"allowOrigins": ["*", "https://xpto.com"]},
        ["AllowOrigins cannot contain '*' alongside other origins"],
    ),
    (
        "An origin without the format scheme://host should be denied",
        {"allowOrigins": ["https://xpto.com", "xpto.com"]},
        ['Invalid value: "xpto.com": ' + _O + "[1] in body should match"],
    ),
    ("An origin as http://*.com should be accepted", {"allowOrigins": ["https://*.com"]}, []),
    *(
        (name, {"allowOrigins": [origin]}, [_pattern_error(f"{_O}[0]", origin)])
        for name, origin in [
            ("An origin with an invalid port should be denied", "https://xpto.com:notaport"),
            ("invalid-origin-with-six-digit-port", "http://www.example.com:111111"),
            ("invalid-origin-with-empty-port", "http://www.example.com:"),
            ("invalid-origin-with-non-empty-path", "http://www.example.com/cart"),
            ("invalid-origin-with-non-http-https-scheme", "spiffe://www.example.com"),
            ("invalid-origin-with-wildcard-as-label-prefix", "http://*bar.com"),
            ("invalid-origin-with-wildcard-as-label-sufix", "http://bar*.com"),
            ("invalid-origin-with-wildcard-as-label", "http://bar.*.com"),
            ("invalid-origin-with-wildcard-as-hostname-prefix", "http://*bar"),
            ("invalid-origin-with-wildcard-as-hostname-sufix", "http://bar*"),
            ("invalid-origin-with-multiple-wildcards", "http://*.bar.*.dev"),
        ]
    ),
    (
        "An origin with a value before the scheme definition should be denied",
        {"allowOrigins": ["xpto/https://xpto.com"]},
        ['Invalid value: "xpto/https://xpto.com"'],
    ),
    (
        "Using an invalid HTTP method should be denied",
        {"allowMethods": ["BAZINGA"]},
        ['Unsupported value: "BAZINGA"'],
    ),
    (
        "Using wildcard and a valid method should be denied",
        {"allowMethods": ["GET", "*", "POST"]},
        ["AllowMethods cannot contain '*' alongside other methods"],
    ),
    (
        "Using an array of valid methods should be accepted",
        {"allowMethods": ["GET", "OPTIONS", "POST"]},
        [],
    ),
]


@pytest.mark.parametrize(("name", "cors", "wanted"), GATEWAY_CORS, ids=[c[0] for c in GATEWAY_CORS])
def test_gateway_api_cors_filter_as_upstream_tests_it(
    name: str, cors: dict[str, Any], wanted: list[str]
) -> None:
    _verdict(problems("HTTPRouteFilter", {"type": "CORS", "cors": cors}, FILTER), wanted)


# The same file, TestHTTPRouteFilter's CORS cases (the filter's type and its members), and
# TestHTTPRouteRule's "invalid because multiple filters are repeated" (its CORS pair).
GATEWAY_FILTERS: list[tuple[str, str, object, list[str]]] = [
    (
        "invalid HTTPCORSFilter type filter with non-matching field",
        "HTTPRouteFilter",
        {"type": "CORS", "requestMirror": {}},
        [
            "filter.cors must be specified for CORS filter.type",
            "filter.requestMirror must be nil if the filter.type is not RequestMirror",
        ],
    ),
    (
        "invalid HTTPCORSFilter type filter with empty value field",
        "HTTPRouteFilter",
        {"type": "CORS"},
        ["filter.cors must be specified for CORS filter.type"],
    ),
    (
        "valid HTTPCORSFilter test",
        "HTTPRouteFilter",
        {"type": "CORS", "cors": {"allowOrigins": ["*"]}},
        [],
    ),
    (
        "invalid because multiple filters are repeated",
        "HTTPRouteFilters",
        [
            {"type": "CORS", "cors": {"allowOrigins": ["http://foo.example.com"]}},
            {"type": "CORS", "cors": {"allowOrigins": ["http://bar.example.com"]}},
        ],
        ["CORS filter cannot be repeated"],
    ),
]


@pytest.mark.parametrize(
    ("name", "kind", "value", "wanted"), GATEWAY_FILTERS, ids=[c[0] for c in GATEWAY_FILTERS]
)
def test_gateway_api_filter_rules_as_upstream_tests_them(
    name: str, kind: str, value: object, wanted: list[str]
) -> None:
    at = FILTER if kind == "HTTPRouteFilter" else FILTER[:-1]
    _verdict(problems(kind, value, at), wanted)


# gateway-api v1.6.1 examples/standard/http-cors/*.yaml: the filters of the five examples, all
# valid (hack/verify-examples applies them to a cluster).
GATEWAY_EXAMPLES = {
    "httproute-all-fields-set.yaml": {
        "allowOrigins": ["https://www.foo.com", "https://*.bar.com"],
        "allowMethods": ["GET", "OPTIONS"],
        "allowHeaders": ["*"],
        "exposeHeaders": ["x-header-3", "x-header-4"],
        "allowCredentials": True,
        "maxAge": 3600,
    },
    "httproute-all-origins-no-creds.yaml": {"allowOrigins": ["*"], "allowCredentials": False},
    "httproute-credentials-true.yaml": {
        "allowOrigins": ["https://app.example"],
        "allowCredentials": True,
    },
    "httproute-origins-with-wildcards-no-creds.yaml": {
        "allowOrigins": ["https://www.baz.com", "https://*.bar.com", "https://*.foo.com"],
        "allowCredentials": False,
    },
    "httproute-specific-origin-no-creds.yaml": {
        "allowOrigins": ["https://app.example"],
        "allowCredentials": False,
    },
}


@pytest.mark.parametrize("example", GATEWAY_EXAMPLES)
def test_gateway_api_examples_are_valid(example: str) -> None:
    cors = GATEWAY_EXAMPLES[example]
    assert problems("HTTPRouteFilter", {"type": "CORS", "cors": cors}, FILTER) == []


# The CRD's limits, which upstream's tests do not reach (the values are the CRD's).
GATEWAY_LIMITS: list[tuple[str, dict[str, Any], str]] = [
    (
        "65 origins",
        {"allowOrigins": [f"https://o{i}.example" for i in range(65)]},
        f"{_O}: Too many: 65: must have at most 64 items",
    ),
    (
        "10 methods",
        {"allowMethods": [*kube_schema.METHODS, "GET"]},
        "allowMethods: Too many: 10: must have at most 9 items",
    ),
    ("a repeated origin", {"allowOrigins": ["https://a.b", "https://a.b"]}, f"{_O}[1]: Duplicate"),
    (
        "a 254-character origin",
        {"allowOrigins": ["https://" + "a" * 246]},
        f"{_O}[0]: Too long: may not be more than 253",
    ),
    (
        "an underscore",
        {"allowOrigins": ["https://a_b.example"]},
        _pattern_error(f"{_O}[0]", "https://a_b.example"),
    ),
    ("maxAge 0", {"maxAge": 0}, "maxAge in body should be greater than or equal to 1"),
    ("maxAge beyond int32", {"maxAge": 2**31}, "maxAge in body must be of type int32"),
    ("maxAge as text", {"maxAge": "600"}, "maxAge in body must be of type integer"),
    (
        "credentials as text",
        {"allowCredentials": "true"},
        "allowCredentials in body must be of type boolean",
    ),
    ("a header with a space", {"allowHeaders": ["X A"]}, "allowHeaders[0]: Invalid value"),
    ("* beside a header", {"allowHeaders": ["*", "X-A"]}, "AllowHeaders cannot contain '*'"),
    ("a lower-case method", {"allowMethods": ["get"]}, 'Unsupported value: "get"'),
    ("a field the CRD lacks", {"allowOrigin": ["*"]}, 'unknown field "spec.rules[0]'),
]


@pytest.mark.parametrize(
    ("name", "cors", "wanted"), GATEWAY_LIMITS, ids=[c[0] for c in GATEWAY_LIMITS]
)
def test_gateway_api_limits(name: str, cors: dict[str, Any], wanted: str) -> None:
    _verdict(problems("HTTPRouteFilter", {"type": "CORS", "cors": cors}, FILTER), [wanted])


def test_star_beside_names_is_allowed_in_expose_headers_alone() -> None:
    """exposeHeaders has no CEL rule: `*` may stand beside names there (GEP-1767)."""
    cors = {"exposeHeaders": ["*", "X-A"], "allowHeaders": ["*"], "allowMethods": ["*"]}
    assert problems("HTTPRouteFilter", {"type": "CORS", "cors": cors}, FILTER) == []


# envoyproxy/gateway v1.9.0, test/cel-validation/securitypolicy_test.go,
# TestSecurityPolicyTarget: its cors and target cases, on a SecurityPolicy named "sp".
_GATEWAY = {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "eg"}
_EG_PATTERN = kube_schema.EG_ORIGIN.pattern


def _eg_origin_error(origin: str) -> str:
    return (
        f'spec.cors.allowOrigins[0]: Invalid value: "{origin}": spec.cors.allowOrigins[0] in '
        f"body should match '{_EG_PATTERN}'"
    )


ENVOY_GATEWAY: list[tuple[str, dict[str, Any], list[str]]] = [
    *(
        (name, {"cors": {"allowOrigins": [origin]}, "targetRef": _GATEWAY}, [])
        for name, origin in [
            ("cors alloworigin valid without port", "https://foo.bar.com"),
            ("cors alloworigin valid with port", "https://foo.bar.com:8080"),
            ("cors alloworigin valid with wildcard", "https://*.foo.bar"),
            ("cors alloworigin valid with wildcard and port", "http://*.foo.com:8080"),
            ("cors alloworigin valid with scheme and wildcard", "http://*"),
            ("cors alloworigin valid with wildcard only", "*"),
            ("cors alloworigin valid with simple hostname without tld", "http://localhost"),
            ("cors alloworigin valid with browser extension scheme", "moz-extension://example.com"),
            (
                "cors alloworigin valid with custom scheme, wildcard and port",
                "foo://*.example.com:8080",
            ),
        ]
    ),
    *(
        (
            name,
            {"cors": {"allowOrigins": [origin]}, "targetRef": _GATEWAY},
            [_eg_origin_error(origin)],
        )
        for name, origin in [
            ("cors alloworigin with wildcard in the middle", "https://foo.*.com"),
            ("cors alloworigin invalid without scheme", "foo.bar.com"),
            (
                "cors alloworigin invalid with scheme not starting with a letter",
                "1http://foo.bar.com",
            ),
        ]
    ),
    ("valid targetRef", {"targetRef": _GATEWAY}, []),
    ("valid ListenerSet targetRef", {"targetRef": {**_GATEWAY, "kind": "ListenerSet"}}, []),
    ("valid ListenerSet targetRefs", {"targetRefs": [{**_GATEWAY, "kind": "ListenerSet"}]}, []),
    (
        "valid mergeType with xRoute targetRef",
        {"targetRef": {**_GATEWAY, "kind": "HTTPRoute"}, "mergeType": "StrategicMerge"},
        [],
    ),
    (
        "mergeType rejected on ListenerSet targetRefs",
        {"targetRefs": [{**_GATEWAY, "kind": "ListenerSet"}], "mergeType": "StrategicMerge"},
        ["mergeType can only be used with xRoute targets"],
    ),
    (
        "no targetRef",
        {},
        ["spec: Invalid value:", ": either targetRef or targetRefs must be used"],
    ),
    (
        "targetRef unsupported kind",
        {"targetRef": {**_GATEWAY, "kind": "foo"}},
        [
            "spec: Invalid value:",
            ": this policy can only have a targetRef.kind of "
            "Gateway/ListenerSet/HTTPRoute/GRPCRoute/TCPRoute",
        ],
    ),
    (
        "targetRef unsupported group",
        {"targetRef": {**_GATEWAY, "group": "foo"}},
        [
            "spec: Invalid value:",
            ": this policy can only have a targetRef.group of gateway.networking.k8s.io",
        ],
    ),
    (
        "targetRef unsupported group and kind - targetRefs",
        {"targetRefs": [{**_GATEWAY, "group": "foo", "kind": "bar"}]},
        [
            "spec: Invalid value:",
            ": this policy can only have a targetRefs[*].group of gateway.networking.k8s.io",
            ": this policy can only have a targetRefs[*].kind of "
            "Gateway/ListenerSet/HTTPRoute/GRPCRoute/TCPRoute",
        ],
    ),
    # Not upstream's: the reference's own field rules.
    (
        "a targetRef without a name",
        {"targetRef": {**_GATEWAY, "name": None}},
        ["spec.targetRef.name"],
    ),
    ("a targetRef named ''", {"targetRef": {**_GATEWAY, "name": ""}}, ["at least 1 chars long"]),
    (
        "a targetRef with no kind",
        {"targetRefs": [{"group": _GATEWAY["group"], "name": "eg"}]},
        ["spec.targetRefs[0].kind: Required value"],
    ),
    (
        "sectionName supported for kind xRoute - targetRefs",
        {
            "targetRefs": [
                {**_GATEWAY, "kind": "HTTPRoute", "name": "backend", "sectionName": "foo"}
            ]
        },
        [],
    ),
]


def _security_policy(spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "gateway.envoyproxy.io/v1alpha1",
        "kind": "SecurityPolicy",
        "metadata": {"name": "sp", "namespace": "default"},
        "spec": spec,
    }


@pytest.mark.parametrize(
    ("name", "spec", "wanted"), ENVOY_GATEWAY, ids=[c[0] for c in ENVOY_GATEWAY]
)
def test_envoy_gateway_security_policy_as_upstream_tests_it(
    name: str, spec: dict[str, Any], wanted: list[str]
) -> None:
    _verdict(problems("SecurityPolicy", _security_policy(spec)), wanted)


def test_envoy_gateway_pattern_message_is_upstreams_to_the_letter() -> None:
    """Upstream's test spells out the whole message, the CRD's pattern included."""
    spec = {"cors": {"allowOrigins": ["foo.bar.com"]}, "targetRef": _GATEWAY}
    found = problems("SecurityPolicy", _security_policy(spec))
    assert [str(p) for p in found] == [_eg_origin_error("foo.bar.com")]


# istio/istio 1.30.3, pkg/config/validation/validation_test.go, TestValidateCORSPolicy: istiod's
# webhook on a corsPolicy (a durationpb as YAML holds it: Seconds 2, Nanos 42 is 2.000000042s).
_ISTIO_BASE = {
    "allowMethods": ["GET", "POST"],
    "allowHeaders": ["header1", "header2"],
    "exposeHeaders": ["header3"],
    "maxAge": "2s",
}
ISTIO: list[tuple[str, dict[str, Any], bool]] = [
    ("valid", {}, True),
    ("bad method", {"allowMethods": ["GET", "PUTT"]}, False),
    ("bad header", {"exposeHeaders": [""]}, False),
    ("bad max age", {"maxAge": "2.000000042s"}, False),
    (
        "empty matchType AllowOrigins",
        {"allowOrigins": [{"exact": ""}, {"prefix": ""}, {"regex": ""}]},
        False,
    ),
    (
        "non empty matchType AllowOrigins",
        {"allowOrigins": [{"exact": "exact"}, {"prefix": "prefix"}, {"regex": "regex"}]},
        True,
    ),
]


@pytest.mark.parametrize(("name", "policy", "valid"), ISTIO, ids=[c[0] for c in ISTIO])
def test_istio_cors_policy_as_upstream_tests_it(
    name: str, policy: dict[str, Any], valid: bool
) -> None:
    found = problems("CorsPolicy", {**_ISTIO_BASE, **policy}, ("spec", "http", 0, "corsPolicy"))
    assert (found == []) == valid, found


# What the messages of istiod (validation.go) and of the CRD's CEL rule say, case by case.
ISTIO_MESSAGES: list[tuple[dict[str, Any], str]] = [
    ({"allowMethods": ["PROPFIND"]}, 'allowMethods[0]: "PROPFIND" is not a supported HTTP method'),
    ({"allowMethods": ["*"]}, ""),
    ({"allowHeaders": ["bad header"]}, "header name bad header is not a valid header name"),
    ({"allowHeaders": ["*"]}, ""),
    ({"exposeHeaders": [""]}, "exposeHeaders[0]: header name cannot be empty"),
    (
        {"maxAge": "0s"},
        'maxAge: Invalid value: "0s": must be a valid duration greater than 1ms',
    ),
    ({"maxAge": "1.5s"}, "max_age duration is accurate only to seconds precision"),
    ({"maxAge": "24h"}, ""),
    ({"allowOrigins": [{"exact": "a", "regex": "b"}]}, "one and only one schema (oneOf)"),
    ({"allowOrigins": [{"regex": "(a"}]}, "Istio uses RE2 style regex-based match"),
    ({"allowOrigins": [{"regex": "a" * 1025}]}, "regex is too large, max length allowed is 1024"),
    ({"allowOrigins": [{"regex": r"https://[a-z]+\.example\.com"}]}, ""),
    (
        {"maxAge": "ten minutes"},
        "maxAge: Invalid value: \"string\": invalid duration StringType('ten minutes') "
        "evaluating rule: must be a valid duration greater than 1ms",
    ),
    ({"allowCredentials": None}, ""),  # nullable in the CRD
    ({"unmatchedPreflights": "DROP"}, 'Unsupported value: "DROP"'),
]


@pytest.mark.parametrize(("policy", "wanted"), ISTIO_MESSAGES)
def test_istio_messages(policy: dict[str, Any], wanted: str) -> None:
    found = problems("CorsPolicy", policy, ("spec", "http", 0, "corsPolicy"))
    _verdict(found, [wanted] if wanted else [])


def test_istio_rules_say_who_enforces_them() -> None:
    found = problems("CorsPolicy", {"allowMethods": ["PUTT"], "maxAge": "0s"})
    assert [(p.field, p.by) for p in found] == [
        ("allowMethods[0]", kube_schema.WEBHOOK),
        ("maxAge", kube_schema.CRD),
    ]


# traefik/traefik v3.7.9, docs/content/reference/routing-configuration/http/middlewares/
# headers.md, "CORS Headers", its Kubernetes example: valid. The CRD only types the fields.
TRAEFIK_HEADERS = {
    "accessControlAllowMethods": ["GET", "OPTIONS", "PUT"],
    "accessControlAllowHeaders": ["*"],
    "accessControlAllowOriginList": ["https://foo.bar.org", "https://example.org"],
    "accessControlMaxAge": 100,
    "addVaryHeader": True,
}


def _middleware(headers: dict[str, Any], name: str = "test-header") -> dict[str, Any]:
    return {
        "apiVersion": "traefik.io/v1alpha1",
        "kind": "Middleware",
        "metadata": {"name": name},
        "spec": {"headers": headers},
    }


TRAEFIK: list[tuple[dict[str, Any], str]] = [
    ({}, ""),
    ({"accessControlMaxAge": "100"}, "accessControlMaxAge in body must be of type integer"),
    ({"accessControlAllowOriginList": "https://a.b"}, "must be of type array"),
    ({"addVaryHeader": "true"}, "addVaryHeader in body must be of type boolean"),
    ({"customResponseHeaders": {"Vary": ""}}, ""),
    (
        {"customResponseHeaders": {"X-A": 1}},
        "customResponseHeaders.X-A in body must be of type string",
    ),
    ({"accessControlAllowOrigin": "*"}, 'unknown field "spec.headers.accessControlAllowOrigin"'),
]


@pytest.mark.parametrize(("change", "wanted"), TRAEFIK)
def test_traefik_middleware(change: dict[str, Any], wanted: str) -> None:
    _verdict(
        problems("Middleware", _middleware({**TRAEFIK_HEADERS, **change})),
        [wanted] if wanted else [],
    )


@pytest.mark.parametrize(
    ("name", "wanted"),
    [
        ("corsgen-api", ""),
        ("corsgen_api", 'metadata.name: Invalid value: "corsgen_api": a lowercase RFC 1123'),
        ("Corsgen", "a lowercase RFC 1123 subdomain"),
    ],
)
def test_resource_names_are_dns_subdomains(name: str, wanted: str) -> None:
    _verdict(problems("Middleware", _middleware({}, name)), [wanted] if wanted else [])


# Origins against the Gateway API pattern, beyond upstream's cases: RE2's reading, which is not
# Python's re (whose $ matches before a final newline, whose \w is any letter).
_LABEL = st.text(string.ascii_letters + string.digits + "-", min_size=1, max_size=12)


@st.composite
def _origins(draw: st.DrawFn) -> str:
    labels = draw(st.lists(_LABEL, min_size=1, max_size=4))
    wildcard = draw(st.sampled_from(["", "*."]))
    port = draw(st.one_of(st.just(""), st.integers(0, 99999).map(lambda p: f":{p}")))
    return f"{draw(st.sampled_from(['http', 'https']))}://{wildcard}{'.'.join(labels)}{port}"


@given(_origins())
def test_origins_of_the_patterns_shape_are_valid(origin: str) -> None:
    cors = {"allowOrigins": [origin]}
    assert problems("HTTPRouteFilter", {"type": "CORS", "cors": cors}) == []


@given(_origins(), st.sampled_from(["_", "/", " ", "\n", "\t", "é", "*", "@", "?", "#"]), st.data())
def test_an_origin_with_a_character_outside_the_pattern_is_refused(
    origin: str, bad: str, data: st.DataObject
) -> None:
    where = data.draw(st.integers(len("https://"), len(origin)))
    if bad == "*" and origin[where - 1 : where + 1] in {"/.", "//"}:
        return  # "*." after the scheme is the wildcard itself
    spoiled = origin[:where] + bad + origin[where:]
    if bad == "*" and spoiled.endswith("//*"):
        return  # http://* is valid
    found = problems("HTTPRouteFilter", {"type": "CORS", "cors": {"allowOrigins": [spoiled]}})
    assert any("should match" in str(p) for p in found), spoiled


@pytest.mark.parametrize(
    ("kind", "origin"),
    [
        ("HTTPRouteFilter", "https://a.example\n"),  # re's $ would take it
        ("SecurityPolicy", "https://\u00e4.example"),  # re's \w would take it
        ("SecurityPolicy", "https://a.example\n"),
        ("SecurityPolicy", "https://a.example:\u0661"),  # re's \d would take an Arabic-Indic 1
    ],
)
def test_patterns_are_read_as_re2_reads_them(kind: str, origin: str) -> None:
    if kind == "SecurityPolicy":
        found = problems(
            kind, _security_policy({"cors": {"allowOrigins": [origin]}, "targetRef": _GATEWAY})
        )
    else:
        found = problems(kind, {"type": "CORS", "cors": {"allowOrigins": [origin]}})
    assert any("should match" in str(p) for p in found), found


def _rules(schema: kube_schema.Schema) -> list[kube_schema.Rule]:
    inner = [*schema.properties.values(), schema.items, schema.additional]
    return [*schema.rules, *(r for s in inner if s is not None for r in _rules(s))]


@pytest.mark.parametrize("kind", kube_schema.KINDS)
def test_every_rule_compiles_once(kind: str) -> None:
    """A typo in a rule's CEL fails here, not in a user's verify; and a program is compiled
    once for every check after."""
    for rule in _rules(kube_schema.KINDS[kind].schema):
        for text in filter(None, (rule.rule, rule.message_expression)):
            kube_validate._program(text)
    before = kube_validate._program.cache_info().misses
    problems("HTTPRouteFilter", {"type": "CORS", "cors": {"allowOrigins": ["*", "https://a.b"]}})
    assert kube_validate._program.cache_info().misses == before


# Files: the four outputs as the Kubernetes targets render them, and what check_files says.
PATCH = """\
# one op per rule; the rule needs a `filters:` list
- op: add
  path: /spec/rules/0/filters/0
  value:
    type: CORS
    cors:
      allowOrigins:
        - "https://app.example"
      allowMethods:
        - "GET"
      allowHeaders: []
      exposeHeaders: []
      allowCredentials: true
      maxAge: 600
"""
SECURITY_POLICY = """\
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: SecurityPolicy
metadata:
  name: corsgen-api
spec:
  targetRefs:
    - group: gateway.networking.k8s.io
      kind: HTTPRoute
      name: api
  cors:
    allowOrigins:
      - "https://app.example"
    allowMethods:
      - "GET"
    allowHeaders: []
    exposeHeaders: []
    allowCredentials: true
    maxAge: "600s"
"""
VIRTUAL_SERVICE_PATCH = """\
- op: add
  path: /spec/http/0/corsPolicy
  value:
    allowOrigins:
      - exact: "https://app.example"
      - regex: "https://[a-z0-9-]+[.]example[.]com"
    allowMethods:
      - "GET"
    allowHeaders: []
    exposeHeaders: []
    allowCredentials: true
    maxAge: "600s"
"""
MIDDLEWARE = """\
apiVersion: traefik.io/v1alpha1
kind: Middleware
metadata:
  name: corsgen-api
spec:
  headers:
    accessControlAllowOriginList:
      - "https://app.example"
    accessControlAllowMethods:
      - "GET"
    accessControlAllowCredentials: true
    accessControlMaxAge: 600
    addVaryHeader: true
"""
FILES = {
    "api.httproute-patch.yaml": PATCH,
    "api.securitypolicy.yaml": SECURITY_POLICY,
    "api.virtualservice-patch.yaml": VIRTUAL_SERVICE_PATCH,
    "api.middleware.yaml": MIDDLEWARE,
}


def test_the_four_outputs_pass() -> None:
    check_files(FILES)


BROKEN = [
    (
        "api.httproute-patch.yaml",
        PATCH.replace('"https://app.example"', '"https://app.example/"'),
        8,
        'spec.rules[0].filters[0].cors.allowOrigins[0]: Invalid value: "https://app.example/"',
    ),
    ("api.httproute-patch.yaml", PATCH.replace("maxAge: 600", "maxAge: 0"), 14, "maxAge"),
    (
        "api.httproute-patch.yaml",
        PATCH.replace("type: CORS", "type: Cors"),
        5,
        'spec.rules[0].filters[0].type: Unsupported value: "Cors"',
    ),
    (
        "api.httproute-patch.yaml",
        PATCH.replace("/spec/rules/0/filters/0", "/spec/rules/0/filter/0"),
        2,
        "not a patch op corsgen checks",
    ),
    (
        "api.securitypolicy.yaml",
        SECURITY_POLICY.replace("kind: HTTPRoute", "kind: Service"),
        5,  # the rule is the spec's: the API server names spec
        "spec: Invalid value: this policy can only have a targetRefs[*].kind",
    ),
    (
        "api.securitypolicy.yaml",
        SECURITY_POLICY.replace('"600s"', '"10 minutes"'),
        18,
        "spec.cors.maxAge: Invalid value",
    ),
    (
        "api.securitypolicy.yaml",
        SECURITY_POLICY.replace("v1alpha1", "v1"),
        1,
        'no matches for kind "SecurityPolicy" in version "gateway.envoyproxy.io/v1"',
    ),
    (
        "api.virtualservice-patch.yaml",
        VIRTUAL_SERVICE_PATCH.replace("[.]com", "[.com"),
        6,
        'spec.http[0].corsPolicy.allowOrigins[1]: "corsPolicy.allowOrigins": the regex',
    ),
    (
        "api.virtualservice-patch.yaml",
        VIRTUAL_SERVICE_PATCH.replace('"600s"', "600"),
        12,
        "spec.http[0].corsPolicy.maxAge: Invalid value: 600: spec.http[0].corsPolicy.maxAge in "
        'body must be of type string: "integer"',
    ),
    (
        "api.middleware.yaml",
        MIDDLEWARE.replace("accessControlMaxAge: 600", 'accessControlMaxAge: "600"'),
        12,
        "spec.headers.accessControlMaxAge",
    ),
    ("api.middleware.yaml", MIDDLEWARE.replace("kind: Middleware\n", ""), 1, "no matches for kind"),
    ("api.middleware.yaml", "spec: [\n", 2, "not YAML"),
]


@pytest.mark.parametrize(("file", "text", "line", "wanted"), BROKEN)
def test_a_broken_output_is_refused_at_its_line(
    file: str, text: str, line: int, wanted: str
) -> None:
    with pytest.raises(VerifyError) as raised:
        check_files({**FILES, file: text})
    assert (raised.value.file, raised.value.line) == (file, line)
    assert wanted in raised.value.msg
    assert str(raised.value).endswith(f" in {file}:{line}")


def test_the_message_names_the_upstream_and_who_enforces() -> None:
    text = VIRTUAL_SERVICE_PATCH.replace('"GET"', '"PROPFIND"')
    with pytest.raises(VerifyError, match=r"\(Istio 1\.30\.3 webhook\) in x:8$"):
        check_files({"x": text})


def test_the_command_is_a_config_test(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good, bad = tmp_path / "api.middleware.yaml", tmp_path / "api.httproute-patch.yaml"
    good.write_text(MIDDLEWARE)
    bad.write_text(PATCH.replace("maxAge: 600", "maxAge: 0").replace('"GET"', '"get"'))
    assert main([str(good)]) == 0
    assert capsys.readouterr().out == f"{good}: ok\n"
    assert main([str(good), str(bad)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"{good}: ok"
    assert [line.split(": ")[0] for line in lines[1:]] == [f"{bad}:10", f"{bad}:14"]
    assert main([str(tmp_path / "missing.yaml")]) == 1
    assert main([]) == 1


def test_a_rule_of_neither_bool_nor_string_is_an_error() -> None:
    """A rule table's mistake (a CEL expression that gives a number) is no pass."""
    assert isinstance(kube_validate._evaluate("1 + 1", None), TypeError)


def test_documents_that_are_no_object_or_patch() -> None:
    with pytest.raises(
        VerifyError,
        match=r'no matches for kind "None" in version "None": .*traefik.io/v1alpha1 in x:1$',
    ):
        check_files({"x": "just text\n"})
    check_files({"x": "---\n# nothing\n"})
