r"""An HAProxy config line as HAProxy 2.6's parser splits it into words, and what the model says
of a line it cannot follow (Unmodeled).

Checked on haproxy 2.6: a # starts a comment anywhere outside quotes; "..." unescapes \" \\ \$
and \# and expands ${VAR}; '...' is literal; an unquoted backslash escapes a blank, #, a quote or
itself and is kept before anything else, so `\.` stays `\.`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from corsgen.routing import Place


class Unmodeled(Exception):
    """A line the model cannot answer for (or that HAProxy would refuse)."""

    def __init__(self, message: str, at: Place) -> None:
        super().__init__(f"{at}: {message}")
        self.message, self.at = message, at


@dataclass(frozen=True, slots=True)
class Line:
    at: Place
    words: tuple[str, ...]


_UNQUOTED_ESCAPES = frozenset(" \t#\\'\"")
_QUOTED_ESCAPES = frozenset('"\\$#')
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def split_line(raw: str, at: Place, environ: Mapping[str, str]) -> tuple[str, ...]:
    words: list[str] = []
    word: list[str] = []
    started, i, n = False, 0, len(raw)
    while i < n:
        char = raw[i]
        if char in " \t\r":
            if started:
                words.append("".join(word))
            word, started = [], False
        elif char == "#":
            break
        elif char == "\\" and i + 1 < n and raw[i + 1] in _UNQUOTED_ESCAPES:
            word.append(raw[i + 1])
            started, i = True, i + 1
        elif char == "'":
            end = raw.find("'", i + 1)
            if end < 0:
                raise Unmodeled("unmatched quote", at)
            word.append(raw[i + 1 : end])
            started, i = True, end
        elif char == '"':
            i = _double_quoted(raw, i + 1, word, at, environ)
            started = True
        else:
            word.append(char)
            started = True
        i += 1
    if started:
        words.append("".join(word))
    return tuple(words)


def _double_quoted(raw: str, i: int, word: list[str], at: Place, env: Mapping[str, str]) -> int:
    """Read "..." from after its quote into word; the index of the closing quote."""
    while i < len(raw):
        char = raw[i]
        if char == '"':
            return i
        if char == "\\" and i + 1 < len(raw) and raw[i + 1] in _QUOTED_ESCAPES:
            word.append(raw[i + 1])
            i += 2
            continue
        if char == "$" and (found := _ENV.match(raw, i)):
            # An environment variable HAProxy would expand; one not set is empty.
            word.append(env.get(found[1] or found[2], ""))
            i = found.end()
            continue
        word.append(char)
        i += 1
    raise Unmodeled("unmatched quote", at)
