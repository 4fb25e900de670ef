"""An answer on its way out of a modelled server, header by header with the line that sent each:
what the routing models of servers that pass it through layers (Traefik's middlewares, Envoy's
HTTP filters) hand from one layer to the next, in routing.Sent's terms.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from corsgen.routing import Place, Sent


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
