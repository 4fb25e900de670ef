"""A shared lexer for the structural checks of line-based configs: words, "strings", # comments."""

from __future__ import annotations

import re
from dataclasses import dataclass

from corsgen.errors import VerifyError

_BLANKS = re.compile(r"[ \t]+")


@dataclass(frozen=True)
class Line:
    number: int
    words: tuple[str, ...]


def split_lines(text: str, file: str) -> list[Line]:
    """Non-empty, non-comment lines as words; quotes removed, \\" kept as a quote.

    Linear in the text: a line without quotes is split by a regex, one with quotes is read
    character by character into a list (a word grown by `+` copied itself per character: a
    3 MB word took 76 s)."""
    out = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if '"' in raw:
            words = _quoted(raw, file, number)
        else:
            words = [word for word in _BLANKS.split(raw) if word]
            if words and words[0].startswith("#"):
                continue
        if words:
            out.append(Line(number, tuple(words)))
    return out


def _quoted(raw: str, file: str, number: int) -> list[str]:
    words: list[str] = []
    word: list[str] = []
    quoted, escaped, started = False, False, False
    for char in raw:
        if quoted:
            if escaped:
                word.append(char if char == '"' else "\\" + char)
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                quoted = False
            else:
                word.append(char)
        elif char == '"':
            quoted, started = True, True
        elif char == "#" and not started and not words:
            break
        elif char in " \t":
            if started:
                words.append("".join(word))
            word, started = [], False
        else:
            word.append(char)
            started = True
    if quoted:
        raise VerifyError("unterminated quoted string", file, number)
    if started:
        words.append("".join(word))
    return words
