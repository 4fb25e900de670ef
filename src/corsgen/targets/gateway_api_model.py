"""What a gateway conformant to GEP-1767 answers with an HTTPRoute `CORS` filter: given the
filter's `cors` mapping and a request, the status (None: passed on to the backend) and the CORS
headers it sends. Read from the GEP and apis/v1/httproute_types.go (gateway-api v1.5):

- an origin is `*`, or scheme://host[:port] compared in ASCII lower case, or https://*.host,
  whose `*` matches any number of labels (not the apex);
- `*` with allowCredentials true answers a request with credentials by sending its Origin back
  (GEP-1767's "Wildcard Resolution and Credentials" matrix, gateway-api PR 4506); Envoy-based
  gateways send it back on every allowed request then, which is what this model does;
- a request with credentials (a Cookie or Authorization) gets no CORS header at all when
  allowCredentials is not true (GEP-1767, "Wildcard Resolution and Credentials");
- the gateway answers every preflight itself: "any path containing a CORS filter MUST NOT pass
  the request to the upstream";
- `*` in allowMethods or allowHeaders with credentials sends back what the preflight asks for;
  `*` is never sent in Access-Control-Expose-Headers on a request with credentials;
- maxAge defaults to 5; an unmatched preflight is answered without CORS headers (this model:
  204; GEP allows 200, 204 or 403, all of which a browser reads as a refusal).

`corsgen_filter` reads the filter corsgen's gateway-api output writes for a plan back from that
output, and `problems` asks targets/kube_validate.py what the API server would refuse in one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from corsgen.fetch import Headers, header_value
from corsgen.plan import Plan
from corsgen.targets.gateway_api import TARGET

Cors = Mapping[str, object]
DEFAULT_MAX_AGE = 5
# The output's name as users know it, for what `corsgen import` prints.
TITLE = TARGET.title


def _list(cors: Cors, key: str) -> list[str]:
    value = cors.get(key) or []
    return [str(v) for v in value] if isinstance(value, Sequence) else []


def matches(pattern: str, origin: str) -> bool:
    if pattern == "*":
        return bool(origin)
    origin, pattern = origin.lower(), pattern.lower()
    scheme, _, host = pattern.partition("://")
    if host.startswith("*."):
        asked_scheme, _, asked = origin.partition("://")
        return asked_scheme == scheme and asked.endswith(host[1:]) and len(asked) > len(host) - 1
    return origin == pattern


def answer(cors: Cors, method: str, headers: Headers) -> tuple[int | None, list[tuple[str, str]]]:
    """The gateway's answer: (None, headers) passes the request on with those headers added."""
    origin = header_value(headers, "Origin")
    asked = header_value(headers, "Access-Control-Request-Method")
    preflight = method == "OPTIONS" and origin is not None and asked is not None
    origins = _list(cors, "allowOrigins")
    allowed = origin is not None and any(matches(p, origin) for p in origins)
    credentials = cors.get("allowCredentials") is True
    credentialed = any(header_value(headers, n) is not None for n in ("Cookie", "Authorization"))
    if not allowed or (credentialed and not credentials):
        return (204 if preflight else None), []
    assert origin is not None
    star = origins == ["*"] and not credentials
    out = [("Access-Control-Allow-Origin", "*" if star else origin)]
    if credentials:
        out.append(("Access-Control-Allow-Credentials", "true"))
    if not preflight:
        expose = [h for h in _list(cors, "exposeHeaders") if h != "*" or not credentialed]
        if expose:
            out.append(("Access-Control-Expose-Headers", ", ".join(expose)))
        return None, out
    methods = _list(cors, "allowMethods")
    if methods == ["*"] and credentials:
        methods = [asked or ""]
    requested = header_value(headers, "Access-Control-Request-Headers")
    names = _list(cors, "allowHeaders")
    if names == ["*"] and credentials:
        names = [requested] if requested else []
    out.append(("Access-Control-Allow-Methods", ", ".join(methods)))
    if names:
        out.append(("Access-Control-Allow-Headers", ", ".join(names)))
    max_age = cors.get("maxAge")
    out.append(("Access-Control-Max-Age", str(max_age if max_age is not None else DEFAULT_MAX_AGE)))
    return 200, out


def problems(cors: Cors) -> list[str]:
    """What the API server refuses in a filter of these fields, as it says it (kube_validate)."""
    from corsgen.targets import kube_validate

    found = kube_validate.problems("HTTPRouteFilter", {"type": "CORS", "cors": dict(cors)})
    return [str(problem) for problem in found]


def corsgen_filter(plan: Plan) -> Cors | str:
    """The filter corsgen's gateway-api output writes for the plan, read back from its file; or,
    where the format cannot express the plan, why (its CG530 findings)."""
    import yaml

    from corsgen.render import render_parts

    refused = ["; ".join(v.texts) for v in TARGET.refusals(plan)]
    if refused:
        return " / ".join(refused)
    (text,) = render_parts(plan, TARGET.name).values()
    cors: Cors = yaml.safe_load(text)[0]["value"]["cors"]
    return cors
