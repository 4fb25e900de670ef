"""Routes filed under what every request they match has: a key of the model's (a host, a case)
and a path prefix. A request is then tried against the routes filed under its own key and the
prefixes of its path only, and those filed under (None, None), which say nothing, in their order.
A key is only a necessary condition: each route is still matched as before, so a model that looks
its routes up here answers as it did, and thousands of routes cost a request what a few do.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
Key = tuple[str | None, str | None]  # (the model's key, a path prefix); None: any


class Index(Generic[T]):
    """Items (routes, in the order they are tried) filed under their keys."""

    def __init__(self, items: Sequence[tuple[T, Sequence[Key]]]) -> None:
        self.items = [item for item, _ in items]
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

    def at(self, positions: set[int]) -> list[T]:
        """The items at these positions, in their order."""
        return [self.items[position] for position in sorted(positions)]
