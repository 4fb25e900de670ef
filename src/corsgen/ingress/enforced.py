"""What ingress-nginx (controller v1.13.9) enforces from an Ingress's CORS annotations, and every
place where that differs from what the annotation says.

Read from its code, not its docs: internal/ingress/annotations/cors/main.go (the parser),
internal/ingress/annotations/parser/{main,validators}.go (how an annotation is read and
validated), and the CORS block of rootfs/etc/nginx/template/nginx.tmpl with buildOriginRegex and
buildCorsOriginRegex (internal/ingress/controller/template/template.go). An annotation is first
validated whole (annotation validation is on by default: --enable-annotation-validation=true),
with its spaces removed for the list annotations; a value that fails falls back to the default,
which for the origins is `*`. Then the value is read with each line trimmed, and the origins are
split on commas and each item checked again: an item that fails then is skipped.

Go's regexes are RE2; the ones below are rewritten so that Python's backtracking re reads the
same language in linear time (tests/ingress/enforced_test.py compares them with the originals
on every short string).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from corsgen.fetch import ParseFailure, normalize_method, token_list
from corsgen.ingress.manifests import Annotation, Ingress
from corsgen.routing import Place

DEFAULT_METHODS = "GET, PUT, POST, DELETE, PATCH, OPTIONS"
DEFAULT_HEADERS = (
    "DNT,Keep-Alive,User-Agent,X-Requested-With,If-Modified-Since,Cache-Control,Content-Type,"
    "Range,Authorization"
)
DEFAULT_MAX_AGE = 1728000  # 20 days

_SPACE = "\t\n\f\r "  # Go's \s
# corsOriginRegexValidator, ^((((([a-z]+://)?(\*\.)?[A-Za-z0-9\-.]*(:\d+)?,?)|null)+)|\*)?$: its
# items run together, so it admits any run of host characters and commas in which each * is
# followed by a dot, each : by a digit or by // after a lower-case letter.
ORIGINS_VALID = re.compile(r"\*|(?:[A-Za-z0-9.,-]|\*\.|:(?=[0-9])|(?<=[a-z])://)*")
# corsOriginRegex, one item: ^([a-z]+://(\*\.)?[A-Za-z0-9\-.]*(:\d+)?|\*|null)?$
ORIGIN_ITEM = re.compile(r"(?:[a-z]+://(?:\*\.)?[A-Za-z0-9.-]*(?::[0-9]+)?|\*|null)?")
_SEPARATOR = rf"(?:,[{_SPACE}]?|[{_SPACE}])"
# corsMethodsRegex, ^([A-Za-z]+,?\s?)+$
METHODS_VALID = re.compile(rf"[A-Za-z]+(?:{_SEPARATOR}[A-Za-z]+)*{_SEPARATOR}?")
# parser.HeadersVariable, ^[A-Za-z0-9-_, ]*$
HEADERS_VALID = re.compile(r"[A-Za-z0-9_, -]*")
# corsExposeHeadersRegex, ^(([A-Za-z0-9\-\_]+|\*),?\s?)+$
EXPOSE_VALID = re.compile(rf"[A-Za-z0-9_*-]+(?:{_SEPARATOR}[A-Za-z0-9_*-]+)*{_SEPARATOR}?")
_MALICIOUS = re.compile(r"\r|\n")  # parser.MaliciousRegex
# Go's unicode.IsSpace, which strings.TrimSpace trims.
_GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"  # noqa: E501
_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})  # strconv.ParseBool
_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})
_INT = re.compile(r"[+-]?[0-9]+")  # strconv.Atoi, base 10
_INT64 = 2**63
T = TypeVar("T")


def go_bool(text: str) -> bool | None:
    """strconv.ParseBool: True, False, or None where Go returns an error."""
    return True if text in _TRUE else False if text in _FALSE else None


def go_int(text: str) -> int | None:
    """strconv.Atoi on a 64-bit build, None where Go returns an error."""
    if not _INT.fullmatch(text):
        return None
    value = int(text)
    return value if -_INT64 <= value < _INT64 else None


def go_trim(text: str) -> str:
    return text.strip(_GO_SPACE)


def _normalized(text: str) -> str:
    """parser.normalizeString: each line trimmed, the lines joined again."""
    return "\n".join(go_trim(line) for line in text.split("\n"))


def _valid(regex: re.Pattern[str], text: str, remove_space: bool) -> bool:
    """parser.ValidateRegex: the pattern and no CR or LF, on the value (its spaces removed)."""
    if remove_space:
        text = text.replace(" ", "")
    return regex.fullmatch(text) is not None and not _MALICIOUS.search(text)


@dataclass(frozen=True)
class Difference:
    """One place where an annotation's text and ingress-nginx's effect differ."""

    at: Place
    annotation: str  # without the prefix; "" for the Ingress as a whole
    says: str  # what the text says (or "(missing)")
    does: str  # what ingress-nginx does instead

    def __str__(self) -> str:
        what = f"{self.annotation}: {self.says}" if self.annotation else self.says
        return f"{self.at}: {what}: {self.does}"


@dataclass(frozen=True)
class Enforced:
    """The CORS block ingress-nginx writes for an Ingress, as its template's values."""

    enabled: bool
    origins: tuple[str, ...]  # ("*",), the items kept, or () when every item was skipped
    credentials: bool
    methods: str  # as sent in Access-Control-Allow-Methods
    headers: str  # Access-Control-Allow-Headers
    expose: str  # Access-Control-Expose-Headers; "" sends none
    max_age: int
    at: dict[str, Place] = field(default_factory=dict)  # annotation (or "enable-cors") -> line
    differences: tuple[Difference, ...] = ()

    @property
    def any_origin(self) -> bool:
        return self.origins == ("*",)

    @property
    def origin_regex(self) -> str:
        """The regex of its `if ($http_origin ~* (...)$ )`, as buildCorsOriginRegex writes it."""
        return "(" + "|".join(origin_regex(o) for o in self.origins) + ")$"

    def allows(self, origin: str) -> bool:
        """Whether the block sets $cors to true for this Origin (nginx's ~*: PCRE, caseless in
        ASCII, unanchored at the start; its $ also matches before a final newline, as re's)."""
        if not self.origins:
            return False
        if self.any_origin:
            return True
        return re.search(self.origin_regex, origin, re.IGNORECASE | re.ASCII) is not None


_GO_QUOTED = re.compile(r"([\\.+*?()|\[\]{}^$])")  # what Go's regexp.QuoteMeta escapes


def origin_regex(origin: str) -> str:
    """buildOriginRegex: the origin quoted, its first * made one DNS label."""
    quoted = _GO_QUOTED.sub(r"\\\1", origin)
    return "(" + quoted.replace("\\*", r"[A-Za-z0-9\-]+", 1) + ")"


class _Reader:
    """Reads one Ingress's annotations as ingress-nginx does, noting each difference."""

    def __init__(self, ingress: Ingress) -> None:
        self.ingress = ingress
        self.differences: list[Difference] = []
        enable = ingress.annotations.get("enable-cors")
        self.default_at = enable.at if enable is not None else ingress.at
        self.at: dict[str, Place] = {}

    def get(self, name: str) -> Annotation | None:
        found = self.ingress.annotations.get(name)
        self.at[name] = found.at if found is not None else self.default_at
        return found

    def differs(self, name: str, found: Annotation | None, does: str) -> None:
        at = found.at if found is not None else self.default_at
        says = repr(found.value) if found is not None else "(missing)"
        self.differences.append(Difference(at, name, says, does))


def enforced(ingress: Ingress) -> Enforced:
    """What ingress-nginx's CORS block for this Ingress is, and where it differs from the text."""
    read = _Reader(ingress)
    for name, note in ingress.annotations.items():
        if note.unquoted:
            read.differs(
                name,
                note,
                "not a string: the API server refuses the whole Ingress (quote it); "
                "read here as its text",
            )
    enable = read.get("enable-cors")
    enabled = go_bool(enable.value) if enable is not None else False
    if enable is not None and enabled is None:
        read.differs("enable-cors", enable, "not a Go bool (strconv.ParseBool): CORS is off")
    off = tuple(read.differences)
    origins = _origins(read)
    credentials = _parsed(
        read,
        "cors-allow-credentials",
        go_bool,
        "a Go bool",
        True,
        "Access-Control-Allow-Credentials: true is sent",
    )
    methods = _listed(read, "cors-allow-methods", METHODS_VALID, DEFAULT_METHODS, "methods")
    headers = _listed(read, "cors-allow-headers", HEADERS_VALID, DEFAULT_HEADERS, "headers")
    expose = _listed(read, "cors-expose-headers", EXPOSE_VALID, "", "expose")
    max_age = _parsed(
        read,
        "cors-max-age",
        go_int,
        "an integer",
        DEFAULT_MAX_AGE,
        f"Access-Control-Max-Age: {DEFAULT_MAX_AGE} (20 days)",
    )
    origin = ingress.annotations.get("cors-allow-origin")
    if origins == ("*",):
        read.differs(
            "cors-allow-origin",
            origin,
            "Access-Control-Allow-Origin: * is sent on every answer, with or without an Origin, "
            "and every OPTIONS request is answered 204"
            + " with Access-Control-Allow-Credentials: true, which browsers refuse for a "
            "credentialed read (so * reads without cookies only)" * credentials,
        )
    elif origins:
        read.differs("cors-allow-origin", origin, "the Origin is sent back without Vary: Origin")
    return Enforced(
        bool(enabled),
        origins,
        credentials,
        methods,
        headers,
        expose,
        max_age,
        read.at,
        tuple(read.differences) if enabled else off,
    )


def _origins(read: _Reader) -> tuple[str, ...]:
    name = "cors-allow-origin"
    found = read.get(name)
    if found is None:
        read.differs(name, found, "every origin is allowed: ingress-nginx's default is *")
        return ("*",)
    raw = found.value
    if raw and not _valid(ORIGINS_VALID, raw, remove_space=True):
        bad = [i for i in (go_trim(i) for i in raw.split(",")) if not ORIGIN_ITEM.fullmatch(i)]
        why = ", ".join(map(repr, bad)) or "* beside other origins"
        if "\t" in raw:
            why = "a tab"
        if _MALICIOUS.search(raw):
            why = "a newline (a YAML | block)"
        read.differs(
            name, found, f"fails ingress-nginx's check ({why}): every origin is allowed (*)"
        )
        return ("*",)
    value = _normalized(raw)
    if not value:
        read.differs(name, found, "blank: every origin is allowed (*)")
        return ("*",)
    kept: list[str] = []
    for item in (go_trim(i) for i in value.split(",")):
        if not item:
            continue
        if item == "*":  # alone: the check refused it beside others
            return ("*",)
        if not ORIGIN_ITEM.fullmatch(item):
            read.differs(name, found, f"{item!r} is skipped (not scheme://host[:port])")
            continue
        kept.append(item)
        _item_differences(read, found, item)
    if not kept:
        read.differs(
            name,
            found,
            "every item is skipped: no CORS header is sent at all, and "
            "preflights reach the backend",
        )
        return ()
    read.differs(
        name,
        found,
        "matched case-insensitively and anchored at the end only (~* (...)$): an Origin that "
        "ends in an allowed one is allowed",
    )
    return tuple(kept)


def _item_differences(read: _Reader, found: Annotation, item: str) -> None:
    if "*" in item:
        read.differs(
            "cors-allow-origin", found, f"{item!r} matches exactly one DNS label for its *"
        )
    if item == "null":
        read.differs(
            "cors-allow-origin",
            found,
            "'null' (sandboxed pages, file: URLs) is sent back, "
            "with credentials when they are allowed",
        )
    elif not item.startswith(("http://", "https://")):
        read.differs(
            "cors-allow-origin", found, f"{item!r} has a custom scheme (accepted since v1.12.0)"
        )


def _parsed(
    read: _Reader, name: str, parse: Callable[[str], T | None], what: str, default: T, sent: str
) -> T:
    """A bool or integer annotation: its value, or the default where it is missing or does not
    parse as Go parses it (`sent`: what ingress-nginx sends then)."""
    found = read.get(name)
    value = parse(found.value) if found is not None else None
    if value is None:
        why = f"not {what}" if found is not None else "ingress-nginx's default"
        read.differs(name, found, f"{why}: {sent}")
        return default
    return value


def _listed(read: _Reader, name: str, valid: re.Pattern[str], default: str, what: str) -> str:
    """A list annotation: validated with its spaces removed, then checked again as written (with
    each line trimmed); the default where either fails."""
    found = read.get(name)
    instead = f"ingress-nginx sends {default!r}" if default else "no header is sent"
    if found is None:
        if default:
            read.differs(name, found, f"the default: {instead}")
        return default
    raw = found.value
    if raw and not _valid(valid, raw, remove_space=True):
        read.differs(name, found, f"fails ingress-nginx's check: {instead}")
        return default
    value = _normalized(raw)
    if not value:
        read.differs(name, found, f"blank: {instead}")
        return default
    if not valid.fullmatch(value):
        read.differs(name, found, f"fails ingress-nginx's second check (as written): {instead}")
        return default
    try:
        token_list([("List", value)], "List")
    except ParseFailure:
        read.differs(
            name,
            found,
            "sent as written, which browsers cannot parse as a list (a space "
            "without a comma): every preflight fails",
        )
    if what == "methods":
        items = (go_trim(m) for m in value.split(","))
        lower = [m for m in items if m and normalize_method(m) != m]
        if lower:
            read.differs(
                name,
                found,
                f"{', '.join(lower)}: fetch() upper-cases these methods and browsers compare "
                "them case-sensitively, so in lower case they allow nothing",
            )
    return value
