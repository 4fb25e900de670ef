"""An Envoy serving CorsPolicies that a gateway's own translation wrote (testing/envoy_gateway.py,
testing/istio_translation.py): the harness around them, in the filter order that gateway uses,
so the real Envoy answers as a gateway running that translation does."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from corsgen.targets.envoy_serving import ROUTER, cluster, listener, typed

CORS_FILTER = "envoy.filters.http.cors"
AUTH_FILTER = "envoy.filters.http.basic_auth"
# Go's regexp.QuoteMeta escapes exactly these; Python's re.escape escapes more (- and #).
_GO_META = re.compile(r"([\\.+*?()|\[\]{}^$])")


def quote_meta(text: str) -> str:
    """Go's regexp.QuoteMeta."""
    return _GO_META.sub(r"\\\1", text)


def wildcard_regex(origin: str) -> str:
    """An origin holding a * as both gateways' translations write its regex, unanchored: Go's
    QuoteMeta, then each escaped * as .*, which matches any text."""
    return quote_meta(origin).replace(r"\*", ".*")


@dataclass(frozen=True)
class Served:
    """One translated CorsPolicy (typed, as a route's typed_per_filter_config holds it) on a
    loopback port of its own; `auth_first` where the gateway puts its auth filters before cors."""

    port: int
    policy: Mapping[str, Any]
    auth_first: bool = False


def _routes(policy: Mapping[str, Any], users: str) -> list[dict[str, Any]]:
    """/dead/ to a port nothing listens on, /auth/ behind basic auth, the rest to the upstream;
    each route with the CorsPolicy, as each rule of a route gets it."""
    auth = {
        **typed("extensions.filters.http.basic_auth.v3.BasicAuthPerRoute"),
        "users": {"inline_string": users},
    }
    routes = []
    for prefix, to in (("/dead/", "dead"), ("/auth/", "up"), ("/", "up")):
        per_filter: dict[str, Any] = {CORS_FILTER: dict(policy)}
        if prefix == "/auth/":
            per_filter[AUTH_FILTER] = auth
        routes.append(
            {
                "match": {"prefix": prefix},
                "route": {"cluster": to},
                "typed_per_filter_config": per_filter,
            }
        )
    return routes


def _filters(auth_first: bool, users: str) -> list[dict[str, Any]]:
    """The cors filter (an empty config: the routes hold the policy), basic_auth disabled but
    where a route enables it, before or after cors, and the router."""
    cors = {"name": CORS_FILTER, "typed_config": typed("extensions.filters.http.cors.v3.Cors")}
    auth = {
        "name": AUTH_FILTER,
        "typed_config": {
            **typed("extensions.filters.http.basic_auth.v3.BasicAuth"),
            "users": {"inline_string": users},
        },
        "disabled": True,
    }
    return [auth, cors, ROUTER] if auth_first else [cors, auth, ROUTER]


def bootstrap(served: Sequence[Served], upstream: int, dead: int, users: str) -> str:
    """An Envoy bootstrap (JSON, which Envoy reads as YAML) of one listener for each CorsPolicy,
    `users` (htpasswd {SHA} lines) asked for under /auth/."""
    listeners = [
        listener(
            one.port,
            _filters(one.auth_first, users),
            {"name": f"port{one.port}", "domains": ["*"], "routes": _routes(one.policy, users)},
        )
        for one in served
    ]
    clusters = [cluster("up", upstream), cluster("dead", dead)]
    return json.dumps({"static_resources": {"listeners": listeners, "clusters": clusters}})
