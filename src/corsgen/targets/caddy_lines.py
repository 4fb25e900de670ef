"""The Caddyfile as statements with their lines, imports written out: what caddy_compiled
places each handler of the adapted JSON in.

A statement is a line's words and the block a `{` at its end opens. Each import is written out
where it is, with the import's arguments in place of {args[N]}, as Caddy splices it in; a
snippet imported in two sites is two statements with one line.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from corsgen.marker import parse_marker
from corsgen.routing import Place
from corsgen.server_config import ConfigBudget, decode_config
from corsgen.targets.caddy_config import environ, tokens, unquoted, with_args

_SNIPPET = re.compile(r"\((.+)\)")


@dataclass(frozen=True)
class Statement:
    """One directive (or a site's addresses, a named matcher) and the block it opens."""

    words: tuple[str, ...]
    at: Place
    body: tuple[Statement, ...] = ()

    @property
    def name(self) -> str:
        return self.words[0] if self.words else ""

    def all_words(self) -> Iterator[str]:
        yield from self.words
        for inner in self.body:
            yield from inner.all_words()


@dataclass(frozen=True)
class Caddyfile:
    """A Caddyfile's statements, and the files it imports that corsgen rendered, with the name
    of the policy each was rendered from (its marker)."""

    statements: tuple[Statement, ...]
    policies: dict[str, str]


def read(path: Path, budget: ConfigBudget) -> Caddyfile:
    """The Caddyfile's statements, imports written out, within the run's bounds."""
    reader = _Reader(budget)
    return Caddyfile(tuple(reader.file(path, str(path), (), None)), reader.policies)


@dataclass
class _Reader:
    budget: ConfigBudget
    snippets: dict[str, tuple[Statement, ...]] = field(default_factory=dict)
    active: list[str] = field(default_factory=list)  # files and snippets being written out
    policies: dict[str, str] = field(default_factory=dict)

    def file(
        self, path: Path, shown: str, args: tuple[str, ...], at: str | None
    ) -> Iterator[Statement]:
        key = os.path.abspath(path)
        if key in self.active:  # a cycle, which Caddy refuses itself
            return
        written = decode_config(self.budget.read(path, at))
        if at is not None and (marker := parse_marker(written)) is not None:
            self.policies[shown] = marker.policy  # the config itself is the user's
        text = environ(written, path, self.budget)
        self.active.append(key)
        try:
            yield from self.expand(_parse(text, shown), path, shown, args)
        finally:
            self.active.pop()

    def expand(
        self, statements: Sequence[Statement], path: Path, shown: str, args: tuple[str, ...]
    ) -> Iterator[Statement]:
        """statements with each import written out, and {args[N]} replaced by the import's."""
        for st in statements:
            at = str(st.at)
            words = tuple(w for word in st.words for w in with_args(word, args, self.budget, at))
            self.budget.walk(1, at, "directives")
            if len(words) == 1 and (snippet := _SNIPPET.fullmatch(words[0])) and st.body:
                self.snippets[snippet[1]] = st.body  # written out where it is imported
            elif words[:1] != ("import",) or len(words) < 2:
                yield Statement(words, st.at, tuple(self.expand(st.body, path, shown, args)))
            else:
                yield from self.imported(words[1], words[2:], path, shown, at)

    def imported(
        self, pattern: str, args: tuple[str, ...], path: Path, shown: str, at: str
    ) -> Iterator[Statement]:
        if pattern in self.snippets:
            if f"({pattern})" not in self.active:
                self.active.append(f"({pattern})")
                try:
                    yield from self.expand(self.snippets[pattern], path, shown, args)
                finally:
                    self.active.pop()
            return
        here = os.path.dirname(os.path.abspath(path))
        full = os.path.join(here, pattern)
        names = self.budget.glob(full, at, hidden=True) if any(c in full for c in "*?[") else [full]
        for name in names:
            if os.path.isfile(name):
                # Named as the user wrote it: beside the file that imports it, or absolute.
                relative = os.path.join(os.path.dirname(shown), os.path.relpath(name, here))
                written = name if os.path.isabs(pattern) else os.path.normpath(relative)
                yield from self.file(Path(name), written, args, at)


def _parse(text: str, file: str) -> tuple[Statement, ...]:
    """The statements of one file as written: the words of a line, and the block a `{` opens."""
    stack: list[tuple[list[Statement], tuple[str, ...], int]] = []
    body: list[Statement] = []
    words: list[str] = []
    line = 0

    def close() -> None:
        if words:
            body.append(Statement(tuple(words), Place(file, line)))
            words.clear()

    for token, number, first in tokens(text):
        if first or token == "}":
            close()
        if not words:
            line = number
        if token == "{":
            stack.append((body, tuple(words), line))
            body, words = [], []
        elif token == "}" and stack:
            inner = tuple(body)
            body, opened, at = stack.pop()
            body.append(Statement(opened, Place(file, at), inner))
        else:
            words.append(unquoted(token))
    close()
    while stack:  # an unclosed block: caddy adapt refuses it before this is read
        inner = tuple(body)
        body, opened, at = stack.pop()
        body.append(Statement(opened, Place(file, at), inner))
    return tuple(body)
