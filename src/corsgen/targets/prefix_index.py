"""Routes filed under what every request they match has: a key of the model's (a host, a case)
and a path prefix. A request is then tried against the routes filed under its own key and the
prefixes of its path only, and those filed under (None, None), which say nothing, in their order.
A key is only a necessary condition: each route is still matched as before, so a model that looks
its routes up here answers as it did, and thousands of routes cost a request what a few do.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
Key = tuple[str | None, str | None]  # (the model's key, a path prefix); None: any


class Index(Generic[T]):
    """Items (routes, in the order they are tried) filed under their keys."""

    def __init__(self, items: Sequence[tuple[T, Sequence[Key]]]) -> None:
        self.items = [item for item, _ in items]
        self.keys = [tuple(keys) for _, keys in items]
        self.filed: dict[Key, list[int]] = {}
        for position, (_, keys) in enumerate(items):
            for key in dict.fromkeys(keys):
                self.filed.setdefault(key, []).append(position)

    def positions(self, key: str | None, path: str) -> set[int]:
        """Where the items filed under key and a prefix of path (or no prefix) are."""
        found: set[int] = set()
        for prefix in (None, *(path[:end] for end in range(len(path) + 1))):
            found.update(self.filed.get((key, prefix), ()))
        return found

    def unfiled(self) -> int:
        """How many items are filed under (None, None) alone: tried on every request one by one
        (limits.MAX_CONFIG_ROUTES counts these)."""
        return sum(1 for keys in self.keys if (None, None) in keys)

    def at(self, positions: set[int]) -> list[T]:
        """The items at these positions, in their order."""
        return [self.items[position] for position in sorted(positions)]


class Named(Generic[T]):
    """Paths, each with what names it (a router), looked up by prefix."""

    def __init__(self, named: Sequence[tuple[T, str, str]]) -> None:
        # (rank, router, path, the path as rules match it), in the order given, sorted by the last
        self.named = sorted(
            ((rank, *entry) for rank, entry in enumerate(named)), key=lambda entry: entry[3]
        )
        self.routed = [entry[3] for entry in self.named]

    def under(self, keys: Sequence[Key], key: str | None = None) -> list[tuple[T, str]]:
        """(router, path) of every path under the prefixes of these keys whose own key is None
        or `key`, in the order given (a prefix of None: every path)."""
        found: set[int] = set()  # indexes into self.named
        for name, prefix in keys:
            if name is not None and name != key:
                continue
            start = bisect.bisect_left(self.routed, prefix or "")
            for at in range(start, len(self.named)):
                if prefix and not self.routed[at].startswith(prefix):
                    break
                found.add(at)
        return [self.named[at][1:3] for at in sorted(found, key=lambda at: self.named[at][0])]
