"""An answer on its way out of a modelled server, header by header with the line that sent each:
what the routing models of servers that pass it through layers (Traefik's middlewares, Envoy's
HTTP filters) hand from one layer to the next, in routing.Sent's terms; and what static
Access-Control-* headers, set whatever the Origin, grant.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from corsgen.routing import Granted, Place, Sent


@dataclass(frozen=True)
class Reply:
    """An answer as one layer hands it to the one around it."""

    status: int
    headers: tuple[Sent, ...] = ()
    trail: tuple[str, ...] = ()
    backend: bool = False
    auth: Place | None = None


def without(headers: Sequence[Sent], name: str) -> list[Sent]:
    return [h for h in headers if h.name.lower() != name.lower()]


def set_header(headers: Sequence[Sent], name: str, value: str, at: Place | None) -> list[Sent]:
    """Every copy of the header replaced by one (Go's Header.Set, Envoy's setInline)."""
    return [*without(headers, name), Sent(name, value, at)]


def first(headers: Sequence[Sent], name: str) -> Sent | None:
    return next((h for h in headers if h.name.lower() == name.lower()), None)


def malformed(headers: Sequence[tuple[str, str]]) -> bool:
    """Whether a header value holds a control character other than tab, which Go's net/http
    (Traefik) and Envoy's HTTP/1 codec refuse with a 400 before any routing (measured on Traefik
    3 and Envoy 1.40; nginx passes them): an origin a regex sample spells with one reaches no
    middleware or filter."""
    return any(c != "\t" and (c < " " or c == "\x7f") for _, value in headers for c in value)


# Each policy key and the static header that grants it.
_STATIC = {
    "allow_origins": "access-control-allow-origin",
    "allow_credentials": "access-control-allow-credentials",
    "allow_methods": "access-control-allow-methods",
    "allow_headers": "access-control-allow-headers",
    "expose_headers": "access-control-expose-headers",
    "max_age": "access-control-max-age",
}


def static_granted(static: Mapping[str, tuple[str, Place]]) -> Granted:
    """What Access-Control-* headers set on every answer (by lower-case name, with the line
    that sets each) grant: the preflight is the backend's to answer."""

    def split(key: str) -> tuple[str, ...]:
        value = static.get(_STATIC[key], ("", None))[0]
        return tuple(v.strip() for v in value.split(",") if v.strip())

    origin = static.get(_STATIC["allow_origins"], ("", None))[0]
    age = static.get(_STATIC["max_age"], ("", None))[0]
    return Granted(
        origins=(origin,) if origin and origin != "*" else (),
        any_origin=origin == "*",
        credentials=static.get(_STATIC["allow_credentials"], ("", None))[0] == "true",
        methods=split("allow_methods"),
        headers=split("allow_headers"),
        expose=split("expose_headers"),
        max_age=int(age) if age.isdigit() else None,
        at={key: static[name][1] for key, name in _STATIC.items() if name in static},
    )
