"""Envoy Gateway's translation of a CORS configuration into Envoy's own, as its published code
writes it, to serve on the real Envoy what a gateway running that code answers. Test equipment:
it models someone else's translation; corsgen renders nothing from it.

Read from envoyproxy/gateway v1.9.0 (39763b1c, 2026-08-15); the same files on main at d32f2829
(2026-08-21). Each step and where it is in their code:

- processCORSFilter (internal/gatewayapi/filters.go): the Gateway API HTTPRoute filter's `cors`
  to ir.CORS; `maxAge` is whole seconds (the API server defaults it to 5 when unset);
- buildCORS (internal/gatewayapi/securitypolicy.go): SecurityPolicy `spec.cors` to ir.CORS, the
  same but for `maxAge`, a Go duration ("600s"), left out when it does not parse;
- wildcard2regex (securitypolicy.go), both paths: an origin holding a `*` anywhere becomes a
  safe_regex, Go's regexp.QuoteMeta of it with each `\\*` turned into `.*`, so the lone `*` is
  `.*` and `https://*.a.com` is `https://.*\\.a\\.com`; any other origin is an exact match;
- patchHCM (internal/xds/translator/cors.go): envoy.filters.http.cors with an empty config, ahead
  of every auth filter (httpfilters.go orders cors 3, basic_auth 8) and the router;
- patchRoute (cors.go): a CorsPolicy in the route's typed_per_filter_config: the origins' string
  matchers, methods and headers joined with ", " (or "*" when one of them is "*"), expose headers
  joined, max_age in whole seconds (truncated) or unset, allow_credentials always written, and
  forward_not_matching_preflights false;
- basicauth.go: basic_auth in the connection manager disabled, enabled per route by a
  BasicAuthPerRoute of htpasswd {SHA} users (testing/translated.py serves it so under /auth/).

Nothing is added that their code does not write: no Vary, no removal of the upstream's own CORS
headers, no private-network field (ir.CORS has none).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from corsgen.targets.envoy_serving import typed
from testing.translated import wildcard_regex

# A Go duration as the Gateway API's Duration type allows it (GEP-2257): up to four parts.
_PART = re.compile(r"(\d+)(h|ms|m|s)")
_UNIT = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


@dataclass(frozen=True)
class Cors:
    """ir.CORS: what both paths translate to, and patchRoute reads."""

    allow_origins: tuple[dict[str, Any], ...]  # each an Envoy StringMatcher
    allow_methods: tuple[str, ...]
    allow_headers: tuple[str, ...]
    expose_headers: tuple[str, ...]
    max_age: float | None  # seconds; None leaves Max-Age out
    allow_credentials: bool


def origin_matcher(origin: str) -> dict[str, Any]:
    """An origin's StringMatcher: a safe_regex for one with a * (wildcard2regex), else exact."""
    if "*" in origin:
        return {"safe_regex": {"regex": wildcard_regex(origin)}}
    return {"exact": origin}


def go_duration(text: str) -> float | None:
    """Seconds in a duration such as "1h30m" or "600s"; None where time.ParseDuration fails (for
    the shapes the Duration type's pattern lets through)."""
    parts = _PART.findall(text)
    if not text or "".join(n + u for n, u in parts) != text:
        return None
    return sum(int(number) * _UNIT[unit] for number, unit in parts)


def _strings(cors: Mapping[str, Any], key: str) -> tuple[str, ...]:
    return tuple(str(value) for value in cors.get(key) or ())


def _common(cors: Mapping[str, Any], max_age: float | None) -> Cors:
    return Cors(
        allow_origins=tuple(origin_matcher(str(o)) for o in cors.get("allowOrigins") or ()),
        allow_methods=_strings(cors, "allowMethods"),
        allow_headers=_strings(cors, "allowHeaders"),
        expose_headers=_strings(cors, "exposeHeaders"),
        max_age=max_age,
        allow_credentials=bool(cors.get("allowCredentials", False)),
    )


def from_route_filter(cors: Mapping[str, Any]) -> Cors:
    """processCORSFilter: an HTTPRoute `CORS` filter's `cors` mapping, maxAge as defaulted."""
    return _common(cors, float(cors.get("maxAge", 5)))


def from_security_policy(cors: Mapping[str, Any]) -> Cors:
    """buildCORS: a SecurityPolicy's `spec.cors` mapping."""
    max_age = cors.get("maxAge")
    return _common(cors, None if max_age is None else go_duration(str(max_age)))


def _joined(values: Sequence[str]) -> str:
    return "*" if "*" in values else ", ".join(values)


def cors_policy(cors: Cors) -> dict[str, Any]:
    """patchRoute's CorsPolicy; an empty string field is unset, as proto3 leaves it."""
    policy: dict[str, Any] = {
        **typed("extensions.filters.http.cors.v3.CorsPolicy"),
        "allow_origin_string_match": list(cors.allow_origins),
        "allow_methods": _joined(cors.allow_methods),
        "allow_headers": _joined(cors.allow_headers),
        "expose_headers": ", ".join(cors.expose_headers),
        "max_age": "" if cors.max_age is None else str(int(cors.max_age)),
        "allow_credentials": cors.allow_credentials,
        "forward_not_matching_preflights": False,
    }
    return {key: value for key, value in policy.items() if value != ""}
