"""The field rules the Kubernetes API server holds the four Kubernetes outputs to, as data.

Each schema is the CORS part of a published CRD's openAPIV3Schema, written again here field by
field (type, pattern, enum, maxItems, maxLength, minimum, listType) with its CEL
x-kubernetes-validations (rule text and message, as the CRD has them). kube_validate.py checks a
value against them. Where a project enforces more in an admission webhook than in its CRD
(Istio), those checks are rules too, marked `by=WEBHOOK`, written in CEL where CEL can say them.

Read from (the CRD YAML as generated, and the Go types it is generated from):
- Gateway API v1.6.1 (kubernetes-sigs/gateway-api 8bb74df0): apis/v1/httproute_types.go
  HTTPCORSFilter, apis/v1/shared_types.go CORSOrigin and HeaderName,
  config/crd/standard/gateway.networking.k8s.io_httproutes.yaml; the filter rules and the
  CORS part are unchanged at the main branch of 2026-08-21.
- Envoy Gateway v1.9.0 (envoyproxy/gateway 39763b1c): api/v1alpha1/cors_types.go,
  charts/gateway-helm/charts/crds/crds/generated/gateway.envoyproxy.io_securitypolicies.yaml;
  spec.cors, the target references and the spec-level rules are unchanged at main 2026-08-21.
- Istio 1.30.3: istio/api 2e43f07b kubernetes/customresourcedefinitions.gen.yaml
  (VirtualService, http[].corsPolicy), and istiod's validation webhook, istio/istio 56df41f6
  pkg/config/validation/validation.go validateCORSPolicy (with agent.ValidateDuration).
- Traefik v3.7.9 (traefik/traefik d0bd2ec1):
  docs/content/reference/dynamic-configuration/traefik.io_middlewares.yaml (spec.headers).

Only what corsgen writes is typed; a field the CRD declares that corsgen never writes is ANY (the
API server would check it; corsgen does not), and a key the CRD does not declare is an unknown
field, which `kubectl apply` (strict field validation, its default) refuses.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

CRD = "CRD"
WEBHOOK = "webhook"

Type = Literal["object", "array", "string", "integer", "boolean"]


@dataclass(frozen=True)
class Rule:
    """One x-kubernetes-validations entry: a CEL rule on `self` and the message when it is false
    (or a CEL expression giving the message, as the CRDs' messageExpression); `by` says who
    enforces it, the API server from the CRD or an admission webhook."""

    rule: str
    message: str = ""
    message_expression: str = ""
    by: str = CRD


@dataclass(frozen=True)
class Schema:
    """One node of a structural schema. type None is any value: a field the CRD declares that
    corsgen does not check. `one_of` names keys of which at most one may be set (Istio's
    StringMatch oneOf, whose first branch is "none of them")."""

    type: Type | None = None
    properties: Mapping[str, Schema] = field(default_factory=dict)
    additional: Schema | None = None  # additionalProperties: a map's values; None: no other key
    required: tuple[str, ...] = ()
    one_of: tuple[str, ...] = ()
    items: Schema | None = None
    list_type: Literal["", "atomic", "set"] = ""
    max_items: int | None = None
    enum: tuple[str, ...] = ()
    pattern: str = ""
    # The API server's own message for a pattern it checks in Go (metadata.name), not the
    # generic "should match"; {value} is the value, JSON-quoted.
    pattern_message: str = ""
    min_length: int | None = None
    max_length: int | None = None
    minimum: int | None = None
    format: Literal["", "int32", "int64"] = ""
    nullable: bool = False
    rules: tuple[Rule, ...] = ()


ANY = Schema()
BOOLEAN = Schema("boolean")


def obj(
    properties: Mapping[str, Schema],
    *rules: Rule,
    required: tuple[str, ...] = (),
    additional: Schema | None = None,
    one_of: tuple[str, ...] = (),
) -> Schema:
    return Schema("object", properties, additional, required, one_of, rules=rules)


def array(
    items: Schema,
    *rules: Rule,
    list_type: Literal["", "atomic", "set"] = "",
    max_items: int | None = None,
) -> Schema:
    return Schema("array", items=items, list_type=list_type, max_items=max_items, rules=rules)


def string(
    pattern: str = "",
    min_length: int | None = None,
    max_length: int | None = None,
    enum: tuple[str, ...] = (),
    rules: tuple[Rule, ...] = (),
    pattern_message: str = "",
) -> Schema:
    return Schema(
        "string",
        pattern=pattern,
        pattern_message=pattern_message,
        min_length=min_length,
        max_length=max_length,
        enum=enum,
        rules=rules,
    )


def strings() -> Schema:
    return array(string())


# What kubectl is told the object is: apiVersion and kind as the API server resolves them.
@dataclass(frozen=True)
class Kind:
    api_version: str
    kind: str
    schema: Schema  # the whole object's, or (a patch's value) the node's
    source: str


# Kubernetes' own checks of metadata (apimachinery's ValidateObjectMeta): a custom resource's
# name is a DNS-1123 subdomain, its namespace a DNS-1123 label. Other metadata is not checked.
_SUBDOMAIN = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
METADATA = obj(
    {
        "name": string(
            pattern=f"^{_SUBDOMAIN}$",
            max_length=253,
            pattern_message=(
                "Invalid value: {value}: a lowercase RFC 1123 subdomain must consist of lower "
                "case alphanumeric characters, '-' or '.', and must start and end with an "
                "alphanumeric character (e.g. 'example.com', regex used for validation is "
                f"'{_SUBDOMAIN}')"
            ),
        ),
        "namespace": string(
            pattern=f"^{_LABEL}$",
            max_length=63,
            pattern_message=(
                "Invalid value: {value}: a lowercase RFC 1123 label must consist of lower case "
                "alphanumeric characters or '-', and must start and end with an alphanumeric "
                f"character (e.g. 'my-name',  or '123-abc', regex used for validation is "
                f"'{_LABEL}')"
            ),
        ),
    },
    required=("name",),
    additional=ANY,
)


def resource(spec: Schema) -> Schema:
    return obj(
        {"apiVersion": string(), "kind": string(), "metadata": METADATA, "spec": spec},
        required=("metadata", "spec"),
    )


# Gateway API v1.6.1, HTTPRoute spec.rules[].filters[] (also backendRefs[].filters[]).
# `*` alone: the same rule text on three lists; the third message says "methods" as upstream's.
_STAR_ALONE = "!('*' in self && self.size() > 1)"
HEADER_NAME = string(
    min_length=1, max_length=256, pattern=r"^[A-Za-z0-9!#$%&'*+\-.^_\x60|~]+$"
)  # HeaderName, an RFC 7230 token (\x60 is `)
CORS_ORIGIN = string(
    min_length=1,
    max_length=253,
    pattern=r"(^\*$)|(^(http(s)?):\/\/(((\*\.)?([a-zA-Z0-9\-]+\.)*[a-zA-Z0-9-]+|\*)(:([0-9]{1,5}))?)$)",
)
METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH")
HTTP_CORS_FILTER = obj(
    {
        "allowOrigins": array(
            CORS_ORIGIN,
            Rule(_STAR_ALONE, "AllowOrigins cannot contain '*' alongside other origins"),
            list_type="set",
            max_items=64,
        ),
        "allowCredentials": BOOLEAN,
        "allowMethods": array(
            string(enum=(*METHODS, "*")),
            Rule(_STAR_ALONE, "AllowMethods cannot contain '*' alongside other methods"),
            list_type="set",
            max_items=9,
        ),
        "allowHeaders": array(
            HEADER_NAME,
            Rule(_STAR_ALONE, "AllowHeaders cannot contain '*' alongside other methods"),
            list_type="set",
            max_items=64,
        ),
        "exposeHeaders": array(HEADER_NAME, list_type="set", max_items=64),
        "maxAge": Schema("integer", format="int32", minimum=1),  # default 5
    }
)
FILTER_TYPES = (
    "RequestHeaderModifier",
    "ResponseHeaderModifier",
    "RequestMirror",
    "RequestRedirect",
    "URLRewrite",
    "ExtensionRef",
    "CORS",
)
# The filter's other members, declared but never written by corsgen: their pairing rules with
# `type` are the CRD's like the CORS pair, so a filter that sets one with type CORS is refused.
_OTHER_FILTERS = {
    "requestHeaderModifier": "RequestHeaderModifier",
    "responseHeaderModifier": "ResponseHeaderModifier",
    "requestMirror": "RequestMirror",
    "requestRedirect": "RequestRedirect",
    "urlRewrite": "URLRewrite",
    "extensionRef": "ExtensionRef",
}


def _paired(member: str, kind: str) -> tuple[Rule, Rule]:
    """The CRD's two rules tying a filter member to its type, in the CRD's own words."""
    return (
        Rule(
            f"!(has(self.{member}) && self.type != '{kind}')",
            f"filter.{member} must be nil if the filter.type is not {kind}",
        ),
        Rule(
            f"!(!has(self.{member}) && self.type == '{kind}')",
            f"filter.{member} must be specified for {kind} filter.type",
        ),
    )


HTTPROUTE_FILTER = obj(
    {
        "type": string(enum=FILTER_TYPES),
        "cors": HTTP_CORS_FILTER,
        **dict.fromkeys(_OTHER_FILTERS, ANY),
    },
    *_paired("cors", "CORS"),
    *(rule for member, kind in _OTHER_FILTERS.items() for rule in _paired(member, kind)),
    required=("type",),
)


def _once(kind: str) -> Rule:
    return Rule(
        f"self.filter(f, f.type == '{kind}').size() <= 1", f"{kind} filter cannot be repeated"
    )


_REPEATABLE_NOT = (
    "RequestHeaderModifier",
    "ResponseHeaderModifier",
    "RequestRedirect",
    "URLRewrite",
)
# The list itself (a patch that writes the whole `filters:`): "CORS filter cannot be repeated"
# is in v1.5.1 and later (gateway-api PR 4639), not in v1.5.0.
HTTPROUTE_FILTERS = array(
    HTTPROUTE_FILTER,
    Rule(
        "!(self.exists(f, f.type == 'RequestRedirect') && self.exists(f, f.type == 'URLRewrite'))",
        "May specify either httpRouteFilterRequestRedirect or httpRouteFilterRequestRewrite, "
        "but not both",
    ),
    *(_once(kind) for kind in ("CORS", *_REPEATABLE_NOT)),
    list_type="atomic",
    max_items=16,
)

# Envoy Gateway v1.9.0, SecurityPolicy. The origin pattern takes any scheme, a wildcard host or
# a leading *. label, no wildcard port; \w and \d are ASCII (RE2).
EG_ORIGIN = string(
    min_length=1,
    max_length=253,
    pattern=r"^(\*|[A-Za-z][A-Za-z0-9+.-]*:\/\/(\*|(\*\.)?(([\w-]+\.?)+)?[\w-]+)(:\d{1,5})?)$",
)
EG_CORS = obj(
    {
        "allowOrigins": array(EG_ORIGIN),
        "allowMethods": strings(),
        "allowHeaders": strings(),
        "exposeHeaders": strings(),
        "maxAge": string(pattern=r"^([0-9]{1,5}(h|m|s|ms)){1,4}$"),  # a Gateway API Duration
        "allowCredentials": BOOLEAN,
    }
)
_GROUP = string(max_length=253, pattern=r"^$|^" + _SUBDOMAIN + "$")
TARGET_REF = obj(
    {
        "group": _GROUP,
        "kind": string(
            min_length=1, max_length=63, pattern=r"^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$"
        ),
        "name": string(min_length=1, max_length=253),
        "sectionName": string(min_length=1, max_length=253, pattern=f"^{_SUBDOMAIN}$"),
    },
    required=("group", "kind", "name"),
)
_TARGET_KINDS = "['Gateway', 'ListenerSet', 'HTTPRoute', 'GRPCRoute', 'TCPRoute']"
_ROUTE_KINDS = "['HTTPRoute', 'GRPCRoute', 'TCPRoute']"
# The spec's rules about its targets, as the CRD has them (trailing spaces included). Its last
# rule, on authorization and jwt, is left out: corsgen writes neither.
SECURITY_POLICY_SPEC = obj(
    {
        "cors": EG_CORS,
        "targetRef": TARGET_REF,
        "targetRefs": array(TARGET_REF),
        "targetSelectors": array(ANY),
        "mergeType": ANY,
        **dict.fromkeys(("apiKeyAuth", "authorization", "basicAuth", "csrf"), ANY),
        **dict.fromkeys(("extAuth", "jwt", "oidc"), ANY),
    },
    Rule(
        "(has(self.targetRef) && !has(self.targetRefs)) || (!has(self.targetRef) && "
        "has(self.targetRefs)) || (has(self.targetSelectors) && self.targetSelectors.size() > 0) ",
        "either targetRef or targetRefs must be used",
    ),
    Rule(
        "has(self.targetRef) ? self.targetRef.group == 'gateway.networking.k8s.io' : true",
        "this policy can only have a targetRef.group of gateway.networking.k8s.io",
    ),
    Rule(
        f"has(self.targetRef) ? self.targetRef.kind in {_TARGET_KINDS} : true",
        "this policy can only have a targetRef.kind of Gateway/ListenerSet/HTTPRoute/GRPCRoute/"
        "TCPRoute",
    ),
    Rule(
        "has(self.targetRefs) ? self.targetRefs.all(ref, ref.group == "
        "'gateway.networking.k8s.io') : true ",
        "this policy can only have a targetRefs[*].group of gateway.networking.k8s.io",
    ),
    Rule(
        f"has(self.targetRefs) ? self.targetRefs.all(ref, ref.kind in {_TARGET_KINDS}) : true ",
        "this policy can only have a targetRefs[*].kind of Gateway/ListenerSet/HTTPRoute/"
        "GRPCRoute/TCPRoute",
    ),
    Rule(
        f"!has(self.mergeType) || ((!has(self.targetRef) || self.targetRef.kind in "
        f"{_ROUTE_KINDS}) && (!has(self.targetRefs) || self.targetRefs.all(ref, ref.kind in "
        f"{_ROUTE_KINDS})) && (!has(self.targetSelectors) || self.targetSelectors.all(sel, "
        f"sel.kind in {_ROUTE_KINDS})))",
        "mergeType can only be used with xRoute targets",
    ),
)

# Istio 1.30.3, VirtualService spec.http[].corsPolicy. The CRD types the fields and checks
# maxAge with CEL; istiod's webhook (validateCORSPolicy) checks the rest, as these rules say.
_TOKEN = r"^[!#$%&'*+\-.^_`|~A-Za-z0-9]+$"  # validation.go tchars
_ISTIO_HEADER = string(
    rules=(
        Rule("self != ''", "header name cannot be empty", by=WEBHOOK),
        Rule(
            f"self == '' || self == '*' || self.matches({_TOKEN!r})",
            message_expression="'header name ' + self + ' is not a valid header name'",
            by=WEBHOOK,
        ),
    )
)
_ORIGIN_WHERE = '"corsPolicy.allowOrigins"'
STRING_MATCH = obj(
    {"exact": string(), "prefix": string(), "regex": string()},
    Rule(
        "[has(self.exact) ? self.exact : '', has(self.prefix) ? self.prefix : '', "
        "has(self.regex) ? self.regex : ''].exists(m, m != '')",
        "'' is not a valid match type for CORS allow origins",
        by=WEBHOOK,
    ),
    # Go's regexp.Compile, which isRE2 stands for (kube_validate.py), and a length cap.
    Rule(
        "!has(self.regex) || self.regex.size() <= 1024",
        f"{_ORIGIN_WHERE}: regex is too large, max length allowed is 1024",
        by=WEBHOOK,
    ),
    Rule(
        "!has(self.regex) || self.regex == '' || isRE2(self.regex)",
        f"{_ORIGIN_WHERE}: the regex does not compile; Istio uses RE2 style regex-based match "
        "(https://github.com/google/re2/wiki/Syntax)",
        by=WEBHOOK,
    ),
    one_of=("exact", "prefix", "regex"),
)
ISTIO_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "CONNECT", "OPTIONS", "TRACE")
ISTIO_CORS_POLICY = obj(
    {
        "allowOrigins": array(STRING_MATCH),
        "allowOrigin": strings(),  # deprecated; corsgen writes allowOrigins
        "allowMethods": array(
            string(
                rules=(
                    Rule(
                        f"self in {[*ISTIO_METHODS, '*']!r}",
                        message_expression="'\"' + self + '\" is not a supported HTTP method'",
                        by=WEBHOOK,
                    ),
                )
            )
        ),
        "allowHeaders": array(_ISTIO_HEADER),
        "exposeHeaders": array(_ISTIO_HEADER),
        "maxAge": string(
            rules=(
                Rule(
                    "duration(self) >= duration('1ms')", "must be a valid duration greater than 1ms"
                ),
                # agent.ValidateDuration, then the seconds precision of Access-Control-Max-Age.
                Rule(
                    "duration(self) == duration(string(duration(self).getMilliseconds()) + 'ms')",
                    "only durations to ms precision are supported",
                    by=WEBHOOK,
                ),
                # cel-python's durations are microseconds (a timedelta): the nanoseconds of
                # a protobuf JSON duration, 2.000000042s, are read from the text.
                Rule(
                    "duration(self).getMilliseconds() % 1000 == 0 && "
                    "!self.matches('^[0-9]+[.][0-9]*[1-9][0-9]*s$')",
                    "max_age duration is accurate only to seconds precision",
                    by=WEBHOOK,
                ),
            )
        ),
        "allowCredentials": Schema("boolean", nullable=True),
        "unmatchedPreflights": string(enum=("UNSPECIFIED", "FORWARD", "IGNORE")),
    }
)

# Traefik v3.7.9, Middleware spec.headers: types only, no pattern, no rule. The regexes in
# accessControlAllowOriginListRegex are compiled by Traefik when it builds the middleware, not
# by the API server.
_TRAEFIK_CORS = {
    "accessControlAllowCredentials": BOOLEAN,
    "accessControlAllowHeaders": strings(),
    "accessControlAllowMethods": strings(),
    "accessControlAllowOriginList": strings(),
    "accessControlAllowOriginListRegex": strings(),
    "accessControlExposeHeaders": strings(),
    "accessControlMaxAge": Schema("integer", format="int64"),
    "addVaryHeader": BOOLEAN,
    "customResponseHeaders": obj({}, additional=string()),
    "customRequestHeaders": obj({}, additional=string()),
}
_TRAEFIK_OTHER = (
    "allowedHosts",
    "browserXssFilter",
    "contentSecurityPolicy",
    "contentSecurityPolicyReportOnly",
    "contentTypeNosniff",
    "customBrowserXSSValue",
    "customFrameOptionsValue",
    "featurePolicy",
    "forceSTSHeader",
    "frameDeny",
    "hostsProxyHeaders",
    "isDevelopment",
    "permissionsPolicy",
    "publicKey",
    "referrerPolicy",
    "sslForceHost",
    "sslHost",
    "sslProxyHeaders",
    "sslRedirect",
    "sslTemporaryRedirect",
    "stsIncludeSubdomains",
    "stsPreload",
    "stsSeconds",
)
TRAEFIK_HEADERS = obj({**_TRAEFIK_CORS, **dict.fromkeys(_TRAEFIK_OTHER, ANY)})
# The Middleware's other middlewares (basicAuth, ...) are declared in the CRD; none is checked.
MIDDLEWARE_SPEC = Schema("object", properties={"headers": TRAEFIK_HEADERS}, additional=ANY)

KINDS: Mapping[str, Kind] = {
    "HTTPRouteFilter": Kind(
        "gateway.networking.k8s.io/v1", "HTTPRoute", HTTPROUTE_FILTER, "Gateway API v1.6.1"
    ),
    "HTTPRouteFilters": Kind(
        "gateway.networking.k8s.io/v1", "HTTPRoute", HTTPROUTE_FILTERS, "Gateway API v1.6.1"
    ),
    "SecurityPolicy": Kind(
        "gateway.envoyproxy.io/v1alpha1",
        "SecurityPolicy",
        resource(SECURITY_POLICY_SPEC),
        "Envoy Gateway v1.9.0",
    ),
    "CorsPolicy": Kind(
        "networking.istio.io/v1", "VirtualService", ISTIO_CORS_POLICY, "Istio 1.30.3"
    ),
    "Middleware": Kind(
        "traefik.io/v1alpha1", "Middleware", resource(MIDDLEWARE_SPEC), "Traefik v3.7.9"
    ),
}
# The whole resources, by (apiVersion, kind) as a manifest names them.
RESOURCES = ("SecurityPolicy", "Middleware")
# Where a JSON6902 patch op may put a value of which kind: the path, and the kind of its value.
PATCH_PATHS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"/spec/rules/(\d+)/filters/(\d+|-)"), "HTTPRouteFilter"),
    (re.compile(r"/spec/rules/(\d+)/filters"), "HTTPRouteFilters"),
    (re.compile(r"/spec/http/(\d+)/corsPolicy"), "CorsPolicy"),
)
