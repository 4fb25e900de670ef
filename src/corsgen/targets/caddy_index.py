"""Which of a list of Caddy routes a request may match next, found without trying every matcher.

A route whose matcher sets test only the path (as a prefix or an exact path), the host and the
method says what every request it matches has: a path, cleaned and in lower case, that starts
with one of its prefixes. The routes of a list are filed under those, so a request skips the
routes filed under prefixes its path does not have. Those matchers change nothing when they are
tried (no capture, no error), so a route skipped is one that would not have matched: every answer
stays. The path is looked up again after each route that runs, since a handler may rewrite it.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from functools import lru_cache
from urllib.parse import unquote

from corsgen.targets.caddy_compiled import Json, Route
from corsgen.targets.caddy_matchers import clean_path

# Matchers that neither capture nor fail when they are tried.
_PLAIN = frozenset({"path", "host", "method"})


def _prefixes(sets: Sequence[Json]) -> tuple[str, ...] | None:
    """The prefixes one of which every path the sets match starts with; None: any path."""
    found: list[str] = []
    for matchers in sets:
        paths = matchers.get("path")
        if not isinstance(paths, list) or not set(matchers) <= _PLAIN:
            return None
        for pattern in paths:
            text = str(pattern).lower()
            star = text.find("*")
            if "{" in text or "?" in text or star not in (-1, len(text) - 1) or text == "*":
                return None
            found.append(text.removesuffix("*"))
    return tuple(found) if sets else None


def one_by_one(match: Sequence[Json]) -> bool:
    """A route RouteIndex tries for any path, that tests something (one without a matcher
    matches at no cost): limits.MAX_CONFIG_ROUTES counts these."""
    return bool(match) and _prefixes(match) is None


@lru_cache(maxsize=4096)
def routed(path: str) -> str:
    """The path as a path matcher compares it (caddy_matchers._path_matches)."""
    return clean_path(unquote(path).lower())


class RouteIndex:
    """A list of routes, each filed under its prefixes, or with those any path may match."""

    def __init__(self, routes: Sequence[Route]) -> None:
        self.any: list[int] = []
        self.filed: dict[str, list[int]] = {}
        for position, route in enumerate(routes):
            prefixes = _prefixes(route.match)
            if prefixes is None:
                self.any.append(position)
            for prefix in dict.fromkeys(prefixes or ()):
                self.filed.setdefault(prefix, []).append(position)

    def next(self, start: int, path: str) -> int | None:
        """The first route from `start` on that a request for `path` may match."""
        if not self.filed:  # no route says a prefix: each is tried in turn
            return start if start < len(self.any) else None
        value = routed(path)
        lists = [self.any, *(self.filed.get(value[:end], ()) for end in range(len(value) + 1))]
        found = [
            positions[at]
            for positions in lists
            if (at := bisect.bisect_left(positions, start)) < len(positions)
        ]
        return min(found, default=None)


# Each list's index, with the list itself kept so that its id() names no other list.
_INDEXES: dict[int, tuple[Sequence[Route], RouteIndex]] = {}


def index(routes: Sequence[Route]) -> RouteIndex:
    if id(routes) not in _INDEXES:
        if len(_INDEXES) > 10_000:  # the models of earlier runs, in a process that runs many
            _INDEXES.clear()
        _INDEXES[id(routes)] = (routes, RouteIndex(routes))
    return _INDEXES[id(routes)][1]
