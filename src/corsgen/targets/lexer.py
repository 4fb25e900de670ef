"""A shared lexer for the structural checks of line-based configs: words, "strings", # comments."""

from __future__ import annotations

from dataclasses import dataclass

from corsgen.errors import VerifyError


@dataclass(frozen=True)
class Line:
    number: int
    words: tuple[str, ...]


def split_lines(text: str, file: str) -> list[Line]:
    """Non-empty, non-comment lines as words; quotes removed, \\" kept as a quote."""
    out = []
    for number, raw in enumerate(text.splitlines(), start=1):
        words: list[str] = []
        word, quoted, escaped, started = "", False, False, False
        for char in raw:
            if quoted:
                if escaped:
                    word += char if char == '"' else "\\" + char
                    escaped = False
                elif char == "\\":
                    escaped = True
                elif char == '"':
                    quoted = False
                else:
                    word += char
            elif char == '"':
                quoted, started = True, True
            elif char == "#" and not started and not words:
                break
            elif char in " \t":
                if started:
                    words.append(word)
                word, started = "", False
            else:
                word, started = word + char, True
        if quoted:
            raise VerifyError("unterminated quoted string", file, number)
        if started:
            words.append(word)
        if words:
            out.append(Line(number, tuple(words)))
    return out
