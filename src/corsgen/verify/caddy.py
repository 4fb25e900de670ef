"""A small structural check of Caddyfile output: balanced blocks, known directives and matchers."""

from __future__ import annotations

from collections.abc import Mapping

from corsgen.errors import VerifyError
from corsgen.verify.tokens import Line, split_lines

DIRECTIVES = {"header", "handle", "respond", "map", "vars"}
MATCHERS: Mapping[str, tuple[int, int]] = {
    "method": (1, 9),
    "header": (1, 99),
    "vars": (2, 99),
    "not": (0, 99),
}


def _matcher(words: tuple[str, ...], file: str, number: int) -> None:
    if words[0] not in MATCHERS:
        raise VerifyError(f'unknown matcher "{words[0]}"', file, number)
    low, high = MATCHERS[words[0]]
    if not low <= len(words) - 1 <= high:
        raise VerifyError(f'wrong number of arguments for matcher "{words[0]}"', file, number)


def _check_line(stack: list[str], line: Line, file: str) -> None:
    words = list(line.words)
    opens = words[-1] == "{"
    if opens:
        words.pop()
    if words == ["}"]:
        if not stack:
            raise VerifyError("unexpected }", file, line.number)
        stack.pop()
        return
    if not words:
        raise VerifyError("a { with nothing before it", file, line.number)
    context = stack[-1] if stack else "top"
    head = words[0]
    if context == "top":
        if head.startswith("@"):
            if len(words) > 1:
                _matcher(tuple(words[1:]), file, line.number)
            kind = "matcher"
        elif head in DIRECTIVES:
            kind = head
        else:
            raise VerifyError(f'unknown directive "{head}"', file, line.number)
    elif context in ("matcher", "not"):
        _matcher(tuple(words), file, line.number)
        kind = head
    elif context == "header":
        bad_field = len(words) > 2 or head.lstrip("+-?>") == ""
        if (head == "defer" and len(words) > 1) or (head != "defer" and bad_field):
            raise VerifyError(f'bad header field line "{" ".join(words)}"', file, line.number)
        kind = "field"
    elif context == "map":
        if len(words) != 2 or opens:
            raise VerifyError(
                f'a map entry is not "input output": "{" ".join(words)}"', file, line.number
            )
        kind = "entry"
    elif context == "handle":
        if head not in DIRECTIVES:
            raise VerifyError(f'unknown directive "{head}"', file, line.number)
        kind = head
    else:
        raise VerifyError(f'nothing is allowed inside "{context}"', file, line.number)
    if opens:
        stack.append(kind)


def check(files: Mapping[str, str]) -> None:
    for file, text in files.items():
        stack: list[str] = []
        lines = split_lines(text, file)
        for line in lines:
            _check_line(stack, line, file)
        if stack:
            raise VerifyError("unclosed {", file, lines[-1].number if lines else None)
