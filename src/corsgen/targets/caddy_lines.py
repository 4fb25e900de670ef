"""The Caddyfile as statements with their lines, imports written out, and which statement made
each handler of the JSON `caddy adapt` writes.

The adapted JSON is what Caddy runs (targets/caddy_routing.py runs it), but it carries no line:
a finding needs the line of the directive that sent a header. The adapter sorts directives, merges
a site's unmatched ones into one route and wraps blocks in subroutes, so a handler is found by
what it holds: among the statements of the block its subroute came from (a site, handle, route,
handle_path, handle_errors), the directive of its kind whose words share the most with the
handler's JSON (header names and values, paths, statuses, upstreams, a named matcher's
definition), the first unclaimed one on a tie. Each import is written out where it is, so a
snippet imported in two sites is two statements with one line.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from corsgen.routing import Place
from corsgen.server_config import ConfigBudget, decode_config
from corsgen.targets.caddy_config import _environ, _tokens, _unquoted, _with_args

# The Caddyfile directives each JSON handler comes from (the handler's own name otherwise).
KINDS: Mapping[str, frozenset[str]] = {
    "headers": frozenset({"header", "request_header"}),
    "static_response": frozenset({"respond", "redir", "abort"}),
    "reverse_proxy": frozenset({"reverse_proxy", "php_fastcgi", "forward_auth"}),
    "authentication": frozenset({"basic_auth", "basicauth"}),
    "subroute": frozenset({"handle", "handle_path", "route", "handle_errors", "forward_auth"}),
    "rewrite": frozenset({"rewrite", "uri", "try_files", "handle_path"}),
    "vars": frozenset({"vars", "root"}),
}
_SNIPPET = re.compile(r"\((.+)\)")
_PREFIX = "+-><?"  # header operations: add, delete, defer, default


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


def read(path: Path, budget: ConfigBudget) -> tuple[Statement, ...]:
    """The Caddyfile's statements, imports written out, within the run's bounds."""
    return tuple(_Reader(budget).file(path, str(path), (), None))


@dataclass
class _Reader:
    budget: ConfigBudget
    snippets: dict[str, tuple[Statement, ...]] = field(default_factory=dict)
    active: list[str] = field(default_factory=list)  # files and snippets being written out

    def file(
        self, path: Path, shown: str, args: tuple[str, ...], at: str | None
    ) -> Iterator[Statement]:
        key = os.path.abspath(path)
        if key in self.active:  # a cycle, which Caddy refuses itself
            return
        text = _environ(decode_config(self.budget.read(path, at)), path, self.budget)
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
            words = tuple(w for word in st.words for w in _with_args(word, args, self.budget, at))
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
                written = os.path.join(os.path.dirname(shown), os.path.relpath(name, here))
                yield from self.file(Path(name), os.path.normpath(written), args, at)


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

    for token, number, first in _tokens(text):
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
            words.append(_unquoted(token))
    close()
    while stack:  # an unclosed block: caddy adapt refuses it before this is read
        inner = tuple(body)
        body, opened, at = stack.pop()
        body.append(Statement(opened, Place(file, at), inner))
    return tuple(body)
