"""Istio's translation of a CORS configuration into Envoy's own, as its published code writes
it, to serve on the real Envoy what an Istio gateway answers. Test equipment: it models someone
else's translation; corsgen renders nothing from it.

Read from istio/istio 1.30.3 (56df41f6, 2026-07-13); the same functions on master at 86c9f01f
(2026-08-22). Each step and where it is in their code:

- createCorsFilter (pilot/pkg/config/kube/gateway/conversion.go, since 1.30.0, istio#59018): the
  Gateway API HTTPRoute filter's `cors` to a VirtualService corsPolicy: `*` becomes the regex
  ANY_ORIGIN below; an origin without `*` an exact match; one ending in its only `*` a prefix
  (the text before it); any other `*` the anchored regex of wildcard_regex; allowCredentials
  written only when true; maxAge in seconds when above 0 (the API server defaults it to 5);
  unmatchedPreflights IGNORE;
- TranslateCORSPolicy (pilot/pkg/networking/core/route/route.go): a VirtualService corsPolicy to
  the route's CorsPolicy: exact, prefix and regex (a safe_regex) matchers as they are; methods,
  headers and expose headers joined with "," (no space); max_age the duration's whole seconds;
  allow_credentials as given (unset when absent); forward_not_matching_preflights false only for
  IGNORE; filter_enabled at 100%;
- listener_builder.go: the cors filter (empty config) comes after the authentication and
  authorization filters (ext_authz, jwt_authn, RBAC) and before the router; served here with
  basic_auth in their place (testing/translated.py, `auth_first`).

Nothing is added that their code does not write: no Vary, no removal of the upstream's own CORS
headers, no private-network field (the VirtualService corsPolicy has none).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from corsgen.targets.envoy_serving import typed
from testing.translated import wildcard_regex

# What createCorsFilter writes for "*": scheme://host[:port], no "/", white space, "?" or "#".
ANY_ORIGIN = r"^[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s?#]+$"


def _origin(origin: str) -> dict[str, str]:
    """One allowOrigins StringMatch of createCorsFilter."""
    if origin == "*":
        return {"regex": ANY_ORIGIN}
    if "*" not in origin:
        return {"exact": origin}
    if origin.count("*") == 1 and origin.endswith("*"):
        return {"prefix": origin.removesuffix("*")}
    return {"regex": f"^{wildcard_regex(origin)}$"}


def from_route_filter(cors: Mapping[str, Any]) -> dict[str, Any]:
    """createCorsFilter: an HTTPRoute `CORS` filter's `cors` mapping, maxAge as defaulted, to a
    VirtualService corsPolicy."""
    policy: dict[str, Any] = {
        "allowOrigins": [_origin(str(o)) for o in cors.get("allowOrigins") or () if o],
        "allowMethods": list(cors.get("allowMethods") or ()),
        "allowHeaders": list(cors.get("allowHeaders") or ()),
        "exposeHeaders": list(cors.get("exposeHeaders") or ()),
        "unmatchedPreflights": "IGNORE",
    }
    if cors.get("allowCredentials"):
        policy["allowCredentials"] = True
    if (max_age := int(cors.get("maxAge", 5))) > 0:
        policy["maxAge"] = f"{max_age}s"
    return policy


def _matcher(match: Mapping[str, str]) -> dict[str, Any]:
    """ConvertToEnvoyMatch: exact and prefix as they are, regex as a safe_regex."""
    if "regex" in match:
        return {"safe_regex": {"regex": match["regex"]}}
    return dict(match)


def _seconds(duration: str) -> int:
    """A protobuf Duration's seconds ("600s", "1.5s"), as GetSeconds gives them."""
    return int(float(duration.removesuffix("s")))


def cors_policy(cors: Mapping[str, Any]) -> dict[str, Any]:
    """TranslateCORSPolicy: a VirtualService corsPolicy to the route's CorsPolicy; an empty string
    field is unset, as proto3 leaves it."""
    policy: dict[str, Any] = {
        **typed("extensions.filters.http.cors.v3.CorsPolicy"),
        "forward_not_matching_preflights": cors.get("unmatchedPreflights") != "IGNORE",
        "allow_origin_string_match": [_matcher(m) for m in cors.get("allowOrigins") or ()],
        "filter_enabled": {"default_value": {"numerator": 100, "denominator": "HUNDRED"}},
        "allow_headers": ",".join(cors.get("allowHeaders") or ()),
        "allow_methods": ",".join(cors.get("allowMethods") or ()),
        "expose_headers": ",".join(cors.get("exposeHeaders") or ()),
    }
    if "allowCredentials" in cors:
        policy["allow_credentials"] = bool(cors["allowCredentials"])
    if "maxAge" in cors:
        policy["max_age"] = str(_seconds(str(cors["maxAge"])))
    return {key: value for key, value in policy.items() if value != ""}
