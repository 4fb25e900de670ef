"""HAProxy's answers of its own that a config may replace or write: errorfiles (a raw HTTP
answer), `http-error` pages, `errorloc` redirects, and what `return`, `deny` and `http-error`
say of the answer they make (status, content type, body, `hdr` lines).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from corsgen.routing import Place
from corsgen.targets.haproxy_lines import (
    Unmodeled,
)
from corsgen.targets.haproxy_samples import (
    Format,
    number,
    parse_format,
)

# The statuses HAProxy has an answer of its own for (and an errorfile may replace).
ERROR_STATUSES = frozenset({200, 400, 401, 403, 404, 405, 407, 408, 410, 413, 425, 429, 500})
ERROR_STATUSES |= {501, 502, 503, 504}
# errorloc's redirect status, by its keyword.
ERRORLOC = {"errorloc": 302, "errorloc302": 302, "errorloc303": 303}
# Reads a header value of a rule's answer: a log-format string, checked for the rule's phase.
Parse = Callable[[str], Format]


@dataclass(frozen=True)
class ErrorFile:
    """What HAProxy sends instead of its own answer for one status: an errorfile's raw answer,
    an `http-error` (its `hdr` values read when the error happens, as checked: variables and
    the request's headers are seen), an `errorloc` redirect."""

    status: int
    headers: tuple[tuple[str, Format], ...]
    # The line that names the page, where its headers come from: where a finding can point (a
    # .http file holds no comments), and what the user edits or removes.
    at: Place
    raw: bool = False  # an errorfile's: sent as written, an empty header too


def parse_errorfile(text: str, file: str, at: Place) -> ErrorFile:
    lines = text.split("\n")
    status = lines[0].split()[1] if len(lines[0].split()) > 1 else ""
    if not status.isdigit():
        raise Unmodeled(f"{file} does not start with an HTTP status line", at)
    headers = []
    for count, raw in enumerate(lines[1:], start=2):
        line = raw.rstrip("\r")
        if not line:
            break
        name, colon, value = line.partition(":")
        if not colon:
            raise Unmodeled(f"{file}:{count} is not a header line", at)
        headers.append((name.strip(), (value.strip(),)))
    return ErrorFile(int(status), tuple(headers), at, raw=True)


def http_error(
    args: Sequence[str], at: Place, page: Callable[[str, Place], ErrorFile]
) -> ErrorFile:
    """`http-error status N [content-type T] [a body or errorfile F] [hdr NAME VALUE]...`."""
    said = payload(args, at, lambda text: parse_format(text, at), page)
    status = said.status or 0
    if status not in ERROR_STATUSES:
        raise Unmodeled(f"HAProxy has no error answer for {status} (haproxy -c refuses it)", at)
    if said.page:  # its own headers after the file's, which it sends as written
        return ErrorFile(status, (*said.page.headers, *said.headers), at, raw=True)
    return ErrorFile(status, tuple(said.headers), at)


@dataclass
class Payload:
    """What return, deny and http-error say of their answer."""

    status: int | None = None
    head: str = ""  # "" (none said), "own", "errorfile" (default-errorfiles), "file"
    page: ErrorFile | None = None
    headers: list[tuple[str, Format]] = field(default_factory=list)


# Words that take a value and say what the answer's body is (or its type).
_BODY = ("string", "lf-string", "file", "lf-file")


def payload(
    words: Sequence[str], at: Place, value: Parse, page: Callable[[str, Place], ErrorFile]
) -> Payload:
    """status (deny_status), content-type, a body or an errorfile, hdr NAME VALUE: as return,
    deny and http-error read them; a body without a content-type is refused as haproxy -c
    refuses it."""
    out, typed, body, i = Payload(), False, False, 0
    while i < len(words):
        word, more = words[i], len(words) - i - 1
        if word in ("status", "deny_status") and more:
            out.status, i = number(words[i + 1], at), i + 2
        elif word == "content-type" and more:
            typed, out.head, i = True, out.head or "own", i + 2
        elif word in _BODY and more:
            body, out.head, i = True, out.head or "own", i + 2
        elif word == "default-errorfiles":
            out.head, i = "errorfile", i + 1
        elif word == "errorfile" and more:
            out.head, out.page, i = "file", page(words[i + 1], at), i + 2
        elif word == "hdr" and more >= 2:
            out.headers.append((words[i + 1], value(words[i + 2])))
            out.head, i = out.head or "own", i + 3
        else:
            raise Unmodeled(f"{word} is not modeled here", at)
    if body and not typed:
        raise Unmodeled("a body without a content-type (haproxy -c refuses it)", at)
    return out
