"""TOML into a pydantic model, with every problem as a Finding that names file, line and key."""

from __future__ import annotations

import contextlib
import functools
import json
import re
import sys
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import tomli

from corsgen.errors import SHOWN, Finding, PolicyError, clip
from corsgen.files import NotAFile, decode, read_file
from corsgen.limits import MAX_FILE_VALUES, MAX_FINDINGS
from corsgen.rules.table import finding

if TYPE_CHECKING:
    from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound="BaseModel")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _key(part: str) -> str:
    """A key as TOML spells it, clipped: bare when it can be, else quoted, so "a.b" is plain.

    A 60 MB key is clipped first (its two ends, as `clip` keeps them), so quoting it costs no
    more than quoting a short one.
    """
    if len(part) > 2 * SHOWN:
        part = part[:SHOWN] + part[-SHOWN:]
    return clip(part if _BARE_KEY.fullmatch(part) else json.dumps(part, ensure_ascii=False))


def key_path(loc: tuple[str | int, ...]) -> str:
    """pydantic's ('allow_origins', 2) as the user wrote it: allow_origins[2]."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{_key(part)}" if out else _key(part))
    return out


# Keys and indexes in a path key_lines notes: a finding's key has at most five
# (tool.corsgen.outputs[0].out_dir), and deeper paths would cost time and memory in the depth.
_DEEPEST = 6


def _below(path: str | None, part: str | int) -> str | None:
    """path.part or path[part], as key_path writes it; None past _DEEPEST, or below None."""
    if path is None or path.count(".") + path.count("[") >= _DEEPEST - 1:
        return None
    if isinstance(part, int):
        return f"{path}[{part}]"
    return f"{path}.{_key(part)}" if path else _key(part)


def _join(path: str | None, parts: list[str]) -> str | None:
    for part in parts:
        path = _below(path, part)
    return path


_ESCAPES = {
    "b": "\b",
    "t": "\t",
    "n": "\n",
    "f": "\f",
    "r": "\r",
    "e": "\x1b",
    '"': '"',
    "\\": "\\",
}
_SCALAR_END = frozenset(",]}#\r\n")


@dataclass
class _Open:
    """An array or inline table the scanner is inside."""

    path: str | None
    bracket: str
    index: int = 0
    expect: bool = True  # an entry comes next, not a comma


class _Lines:
    """One pass over TOML text, noting the line each key, table and array entry starts on.

    Best effort, for text tomli has read: on anything it does not follow it stops, keeping what
    it found. Linear in the text: every step moves forward, and no search goes over a stretch
    twice. Iterative, so arrays nested a thousand deep cost no recursion.
    """

    def __init__(self, text: str) -> None:
        self.text, self.pos = text, 0
        self.found: dict[str, int] = {}
        self.counts: dict[str, int] = {}  # each [[array]] table's entries so far
        self.table: str | None = ""  # the path of the [table] the scan is in
        self.line, self.counted = 1, 0  # the line at `counted`; positions only grow
        # The next backslash at or after pos, kept across strings: searching again in every
        # string for one that is not there would read the rest of the file each time.
        self.slash = text.find("\\")

    def next_slash(self, pos: int) -> int:
        if 0 <= self.slash < pos:
            self.slash = self.text.find("\\", pos)
        return self.slash

    def note(self, path: str | None, pos: int) -> None:
        if path is not None:
            self.line += self.text.count("\n", self.counted, pos)
            self.counted = pos
            self.found.setdefault(path, self.line)

    def peek(self) -> str:
        return self.text[self.pos : self.pos + 1]

    def blank(self, newlines: bool) -> None:
        """Skip spaces and tabs; with `newlines`, line breaks and comments too."""
        text, end = self.text, len(self.text)
        while self.pos < end:
            char = text[self.pos]
            if char == "#":
                stop = text.find("\n", self.pos)
                self.pos = end if stop < 0 else stop
            elif char in " \t" or (newlines and char in "\r\n"):
                self.pos += 1
            else:
                return

    def scan(self) -> dict[str, int]:
        while True:
            self.blank(newlines=True)
            if self.pos >= len(self.text):
                return self.found
            if self.peek() == "[":
                if not self.header():
                    return self.found
            elif not self.pair(self.table):
                return self.found
            self.blank(newlines=False)
            if self.peek() not in ("", "\r", "\n"):
                return self.found

    def header(self) -> bool:
        """A [table] or [[array]] header: its path, with the current index of each array table,
        becomes self.table."""
        start = self.pos
        array = self.text.startswith("[[", start)
        self.pos += 2 if array else 1
        parts = self.key()
        close = "]]" if array else "]"
        if parts is None or not self.text.startswith(close, self.pos):
            return False
        self.pos += len(close)
        path: str | None = ""
        for index, part in enumerate(parts):
            path = _below(path, part)
            if path is None:
                break
            if array and index == len(parts) - 1:
                self.note(path, start)
                self.counts[path] = self.counts.get(path, -1) + 1
                path = _below(path, self.counts[path])
            elif path in self.counts:
                path = _below(path, self.counts[path])
        self.note(path, start)
        self.table = path
        return True

    def pair(self, table: str | None) -> bool:
        start = self.pos
        parts = self.key()
        if parts is None or self.peek() != "=":
            return False
        self.pos += 1
        path = _join(table, parts)
        self.note(path, start)
        return self.value(path)

    def key(self) -> list[str] | None:
        """A dotted key's parts, bare or quoted; None when there is none."""
        parts = []
        while True:
            self.blank(newlines=False)
            part: str | None
            if self.peek() in ('"', "'"):
                part = self.string()
            else:
                bare = _BARE_KEY.match(self.text, self.pos)
                part = None if bare is None else bare[0]
                self.pos = self.pos if bare is None else bare.end()
            if part is None:
                return None
            parts.append(part)
            self.blank(newlines=False)
            if self.peek() != ".":
                return parts
            self.pos += 1

    def value(self, path: str | None) -> bool:
        """Skip one value, noting where each array entry and inline-table key starts."""
        self.blank(newlines=False)
        stack: list[_Open] = []
        while True:
            char = self.peek()
            if char in ("[", "{"):
                stack.append(_Open(path, char))
                self.pos += 1
            elif char in ('"', "'"):
                if self.string() is None:
                    return False
            elif not self.scalar():
                return False
            # On to where the next entry starts, or past the end of the outermost value.
            while True:
                if not stack:
                    return True
                top = stack[-1]
                self.blank(newlines=True)
                char = self.peek()
                if char == ("]" if top.bracket == "[" else "}"):
                    self.pos += 1
                    stack.pop()
                    continue
                if not top.expect:
                    if char != ",":
                        return False
                    self.pos += 1
                    top.expect = True
                    top.index += top.bracket == "["
                    continue
                if top.bracket == "[":
                    path = _below(top.path, top.index)
                    self.note(path, self.pos)
                else:
                    start = self.pos
                    parts = self.key()
                    if parts is None or self.peek() != "=":
                        return False
                    self.pos += 1
                    self.blank(newlines=False)
                    path = _join(top.path, parts)
                    self.note(path, start)
                top.expect = False
                break

    def scalar(self) -> bool:
        """A number, boolean or date (which may hold a space): up to what ends a value."""
        start, text = self.pos, self.text
        while self.pos < len(text) and text[self.pos] not in _SCALAR_END:
            self.pos += 1
        return self.pos > start

    def string(self) -> str | None:
        """Skip any of the four kinds of string and return its value; None if it never ends."""
        text, quote = self.text, self.text[self.pos]
        delim = quote * 3 if text.startswith(quote * 3, self.pos) else quote
        start = self.pos + len(delim)
        if quote == '"':
            return self.basic(start, delim)
        end = text.find(delim, start)
        if end < 0:
            return None
        end += _extra_quotes(text, end, delim)
        self.pos = end + len(delim)
        return text[start:end]

    def basic(self, pos: int, delim: str) -> str | None:
        """A basic string's value from `pos`, escapes decoded (as a quoted key needs)."""
        text, out = self.text, []
        quote, slash = text.find('"', pos), self.next_slash(pos)
        while True:
            if quote < 0:
                return None
            if 0 <= slash < quote:
                out.append(text[pos:slash])
                pos = self.escape(slash, out, multi=len(delim) == 3)
            elif text.startswith(delim, quote):
                end = quote + _extra_quotes(text, quote, delim)
                out.append(text[pos:end])
                self.pos = end + len(delim)
                return "".join(out)
            else:  # a lone " inside a multi-line string
                out.append(text[pos : quote + 1])
                pos = quote + 1
            if quote < pos:
                quote = text.find('"', pos)
            slash = self.next_slash(pos)

    def escape(self, slash: int, out: list[str], multi: bool) -> int:
        """Decode the escape at `slash` into `out`; return where the text goes on."""
        text = self.text
        char = text[slash + 1 : slash + 2]
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
            return slash + 2
        if char in ("u", "U"):
            end = slash + (6 if char == "u" else 10)
            with contextlib.suppress(ValueError):
                out.append(chr(int(text[slash + 2 : end], 16)))
            return end
        pos = slash + 1
        if multi:  # a line-ending backslash swallows the whitespace after it
            while pos < len(text) and text[pos] in " \t\r\n":
                pos += 1
        return pos


def _extra_quotes(text: str, end: int, delim: str) -> int:
    """A multi-line string may end in one or two of its own quotes: '''a''''' is a''."""
    extra = 0
    while len(delim) == 3 and extra < 2 and text.startswith(delim[0], end + 3 + extra):
        extra += 1
    return extra


def key_lines(text: str) -> dict[str, int]:
    """Each key path as findings write it (allow_origins, allow_origins[2], outputs[0].out_dir,
    tool.corsgen.outputs[1]) to the 1-based line it starts on. Best effort: a path the scanner
    does not follow has no line, and its finding then falls back to the enclosing key's line."""
    return _Lines(text).scan()


def _model_at(model: type[BaseModel], loc: tuple[str | int, ...]) -> type[BaseModel]:
    """The model whose keys are valid at `loc`, to suggest the closest one."""
    from pydantic import BaseModel

    for part in loc:
        if isinstance(part, int) or part not in model.model_fields:
            continue
        annotation = model.model_fields[part].annotation
        for candidate in (annotation, *typing.get_args(annotation)):
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                model = candidate
    return model


def _closest(key: str, known: list[str]) -> list[str]:
    """The known key a misspelt one is closest to, if any. difflib's cost and memory grow with
    the key (a 60 MB key took gigabytes), and a key twice as long as every known one is no
    misspelling of any: such a key gets no suggestion."""
    import difflib  # imported here: only a misspelt key needs it (start-up time)

    if len(key) > 2 * max(map(len, known), default=0):
        return []
    return difflib.get_close_matches(key, known, n=1)


def _findings(
    file: str, model: type[BaseModel], prefix: str, exc: ValidationError, lines: Mapping[str, int]
) -> list[Finding]:
    out = []
    # One finding per problem, up to a screenful with the line that counts the rest (errors.report
    # shows MAX_FINDINGS lines of a file): a million wrong values are one mistake.
    shown = MAX_FINDINGS - 1
    for err in exc.errors()[:shown]:
        loc = tuple(err["loc"])
        at = functools.partial(finding, file=file, key=prefix + key_path(loc), lines=lines)
        if err["type"] == "extra_forbidden":
            known = list(_model_at(model, loc[:-1]).model_fields)
            close = _closest(str(loc[-1]), known)
            if close:
                out.append(at("CG002", "close", close=close[0]))
            else:
                out.append(at("CG002", "no-close", known=", ".join(known)))
        elif err["type"] == "missing":
            out.append(at("CG004", "missing", name=key_path(loc[-1:])))
        else:
            detail = err["msg"].lower()
            out.append(at("CG003", "mismatch", detail=detail, value=err.get("input")))
    if exc.error_count() > shown:
        more = exc.error_count() - shown
        out.append(finding("CG003", "and-more", file=file, more=more))
    return out


def _syntax(file: str, exc: tomli.TOMLDecodeError) -> Finding:
    text = str(exc)
    where = re.search(r"\(at line (\d+), column (\d+)\)", text)
    line = int(where[1]) if where else getattr(exc, "lineno", None)
    col = int(where[2]) if where else getattr(exc, "colno", None)
    detail = re.sub(r"\s*\(at (line \d+, column \d+|end of document)\)", "", text)
    return finding("CG001", "syntax", file=file, line=line, col=col, detail=detail)


def parse_toml(text: str, file: str) -> dict[str, Any]:
    # Every value past the first in an array or table needs a comma, and every array or table a
    # bracket: counting them bounds what tomli would build (a 60 MB file of [] is 20 million
    # lists and gigabytes) before it is built. Backslashes count too: tomli and the key-line
    # scanner decode each escape on its own (32 million \" took 17 s and 700 MB). A policy at
    # every limit holds about 103,000.
    separators = sum(text.count(c) for c in ",[{\n\\")
    if separators > MAX_FILE_VALUES:
        raise PolicyError(
            [finding("CG120", "file-values", file=file, count=separators, most=MAX_FILE_VALUES)]
        )
    try:
        return tomli.loads(text)
    except tomli.TOMLDecodeError as exc:
        raise PolicyError([_syntax(file, exc)]) from None
    except RecursionError:  # tomli recurses once per [ or { level
        raise PolicyError([finding("CG001", "too-deep", file=file)]) from None
    except ValueError:  # the only other one: int() refuses a number this long
        digits = sys.get_int_max_str_digits()
        raise PolicyError([finding("CG001", "long-number", file=file, digits=digits)]) from None


def validate(
    data: Mapping[str, Any],
    file: str,
    model: type[M],
    prefix: str = "",
    text: str = "",
) -> M:
    """A model from parsed TOML, or PolicyError with one finding per problem, each on the line
    of its key in `text` (scanned only when there is a problem)."""
    # Imported here: pydantic takes longer to import than a small policy takes to render, and a
    # policy that plainly has its shape is read without it (policy/loading.py).
    from pydantic import ValidationError

    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise PolicyError(_findings(file, model, prefix, exc, key_lines(text))) from None


def read_text(path: Path) -> str:
    try:
        # A regular file of sane size only: a FIFO or /dev/zero named as a policy must not hang.
        return decode(read_file(path, follow=True))
    except (OSError, UnicodeDecodeError, NotAFile) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise PolicyError(
            [finding("CG000", "cannot-read", file=str(path), reason=reason)]
        ) from None
