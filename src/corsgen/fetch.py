"""An independent model of what a browser accepts, from the WHATWG Fetch standard.

The judge of the conformance and browser tests, of `probe` and of `explain`. It imports nothing
else from corsgen, so it cannot share a mistake with what it judges: it reads raw response headers
the way Fetch's CORS check, CORS-preflight fetch and CORS-filtered response do.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

Headers = Sequence[tuple[str, str]]
TCHAR = frozenset("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
SAFELISTED_METHODS = frozenset({"GET", "HEAD", "POST"})
SAFELISTED_RESPONSE = frozenset(
    {
        "cache-control",
        "content-language",
        "content-length",
        "content-type",
        "expires",
        "last-modified",
        "pragma",
    }
)


FORBIDDEN_METHODS = frozenset({"CONNECT", "TRACE", "TRACK"})  # fetch() throws, in any case
_NORMALIZED = frozenset({"DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT"})


def normalize_method(method: str) -> str:
    """Fetch §normalize: these six are uppercased, every other method keeps its case."""
    return method.upper() if method.upper() in _NORMALIZED else method


# Fetch §forbidden request-header: fetch() drops these silently, the browser sets its own.
FORBIDDEN_REQUEST_HEADERS = frozenset(
    {
        "accept-charset", "accept-encoding", "access-control-request-headers",
        "access-control-request-method", "connection", "content-length", "cookie", "cookie2",
        "date", "dnt", "expect", "host", "keep-alive", "origin", "referer", "set-cookie", "te",
        "trailer", "transfer-encoding", "upgrade", "via",
    }
)  # fmt: skip
NEVER_EXPOSED = frozenset({"set-cookie", "set-cookie2"})


def is_token(text: str) -> bool:
    """RFC 9110 token: what a method and a header name must be, or fetch() throws."""
    return bool(text) and set(text) <= TCHAR


def is_forbidden_request_header(name: str) -> bool:
    low = _lower(name)
    return low in FORBIDDEN_REQUEST_HEADERS or low.startswith(("proxy-", "sec-"))


# The engines a verdict can be for: the Fetch standard itself, and the three browser engines that
# run in corsgen's tests. Where they differ from the standard is ENGINES' table, measured in
# tests/browser on Chromium 156, Firefox ESR 153 and WebKitGTK 2.50 (see docs/tests.md, Browsers).
Engine = Literal["spec", "chromium", "firefox", "webkit"]
BROWSERS: tuple[Engine, ...] = ("chromium", "firefox", "webkit")
DEFAULT_MAX_AGE = 5  # Fetch: a preflight without a valid Access-Control-Max-Age is kept 5 s


@dataclass(frozen=True)
class Behaviour:
    """What one engine does where engines and the standard may differ."""

    title: str
    # Access-Control-Allow-Headers: * lets an uncredentialed Authorization through. The standard
    # says never; every engine measured here does, unless switched (`strict_authorization`).
    star_covers_authorization: bool
    strict_authorization: str  # how to switch it to the standard's rule, "" when it cannot be
    max_age_cap: int | None  # the longest a preflight is cached, seconds; None: no cap
    # What one cached preflight is shared across: each engine keeps it for one top-level site,
    # and an iframe embedded on another sends its own (tests/browser/engine_partition_test.py).
    preflight_cache: str
    # By default, a cross-site request carries SameSite=None cookies, unpartitioned (Firefox keeps
    # them per top-level site instead); corsgen.cookies has the rest of the cookie rules.
    third_party_cookies: bool
    # Local Network Access (not in Fetch yet: a WICG draft): a request from a page to a more
    # private address space (local_network_request) needs the user's permission first.
    local_network_access: bool = False
    # ... which only a secure context may ask for: from any other page the request fails at once.
    local_network_secure_context: bool = False


ENGINES: dict[Engine, Behaviour] = {
    "spec": Behaviour("the Fetch standard", False, "", None, "one network partition key", True),
    "chromium": Behaviour(
        "Chromium",
        True,
        "--enable-features=CorsNonWildcardRequestHeadersSupport",
        7200,
        "one network partition key (top-level site and frame site)",
        True,
        local_network_access=True,  # Chrome 142
        local_network_secure_context=True,
    ),
    "firefox": Behaviour(
        "Firefox",
        True,
        "network.cors_preflight.authorization_covered_by_wildcard = false",
        86400,
        "one top-level site",
        False,
        local_network_access=True,  # on by default in ESR 153 (network.lna.blocking)
    ),
    "webkit": Behaviour("WebKit", True, "", 600, "one top-level site", False),
}


# Local Network Access's address spaces, most private first. A page's request to a space more
# private than its own is a local network request.
AddressSpace = Literal["loopback", "local", "public"]
_SPACES: tuple[AddressSpace, ...] = ("loopback", "local", "public")
_LOCAL = tuple(
    ipaddress.ip_network(net)
    for net in (
        "10.0.0.0/8",
        "100.64.0.0/10",  # carrier-grade NAT
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "fc00::/7",
        "fe80::/10",
    )
)


_RADIX = {16: frozenset("0123456789abcdef"), 10: frozenset("0123456789"), 8: frozenset("01234567")}


def _ipv4(host: str) -> ipaddress.IPv4Address | None:
    """URL §IPv4 parser: one to four numbers, each decimal, octal (a leading 0) or hex (0x), the
    last filling the bytes left, as a browser reads `127.1`, `0x7f.1` or `2130706433`; None when
    the host is not such an address."""
    numbers = []
    for part in host.lower().split("."):
        base, digits = (16, part[2:]) if part.startswith("0x") else (10, part)
        if base == 10 and len(part) > 1 and part.startswith("0"):
            base, digits = 8, part[1:]
        if not set(digits) <= _RADIX[base] or not (digits or base == 16):
            return None
        numbers.append(_number(digits, base))
    *first, last = numbers
    if len(numbers) > 4 or any(n > 255 for n in first) or last >= 256 ** (5 - len(numbers)):
        return None
    return ipaddress.IPv4Address(sum(n << 8 * (3 - i) for i, n in enumerate(first)) + last)


def address_space(host: str) -> AddressSpace | None:
    """The address space of a host as a URL writes it: an IP address, or localhost (and names
    under it), which browsers resolve to loopback themselves. None for any other name, whose
    space is that of the address it resolves to."""
    host = host.lower().removeprefix("[").removesuffix("]").removesuffix(".")
    if host == "localhost" or host.endswith(".localhost"):
        return "loopback"
    address: ipaddress.IPv4Address | ipaddress.IPv6Address | None = _ipv4(host)
    try:
        address = address or ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_unspecified:
        return None  # 0.0.0.0 and ::, which browsers treat apart from any space
    if address.is_loopback:
        return "loopback"
    return "local" if any(address in net for net in _LOCAL) else "public"


def local_network_request(page: str, target: str) -> AddressSpace | None:
    """The space a request from a page on host `page` to host `target` enters when it is more
    private than the page's own (a page on a name is taken as public); None when it is not, or
    the target's space is not known from its name."""
    into = address_space(target)
    if into is None:
        return None
    own = address_space(page) or "public"
    return into if _SPACES.index(into) < _SPACES.index(own) else None


_COUNT = ("no", "one", "two", "three", "four", "five")


def _and(words: Sequence[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def who(engines: Sequence[Engine]) -> str:
    """The engines (and the standard, `spec`) named for people, from ENGINES: "all three
    engines", "every engine and the Fetch standard", "Chromium and Firefox"."""
    if not engines:
        return "no engine"
    browsers = [e for e in engines if e in BROWSERS]
    named = [ENGINES[e].title for e in engines if e not in BROWSERS]
    if len(browsers) == len(BROWSERS):
        return _and(["every engine", *named]) if named else f"all {_COUNT[len(BROWSERS)]} engines"
    return _and([ENGINES[e].title for e in browsers] + named)


def max_age(headers: Headers) -> int | None:
    """Access-Control-Max-Age in seconds; None when absent or not digits only (1e3, -0, +600,
    "600, 7200"), which Fetch takes as no Max-Age at all."""
    return delta_seconds(header_value(headers, "Access-Control-Max-Age"))


def delta_seconds(text: str | None) -> int | None:
    """A number of seconds as HTTP writes one (ASCII digits only: str.isdigit takes "²" too),
    one past 18 digits as 10**18; None when `text` is none or not one."""
    return _number(text) if text is not None and _digits(text) else None


def preflight_seconds(headers: Headers, engine: Engine = "spec") -> int:
    """How long `engine` keeps a passed preflight: Access-Control-Max-Age when it is a number,
    else 5 s; at most the engine's cap."""
    seconds = max_age(headers)
    seconds = DEFAULT_MAX_AGE if seconds is None else seconds
    cap = ENGINES[engine].max_age_cap
    return seconds if cap is None else min(seconds, cap)


class ParseFailure(Exception):
    """A header list that fails its ABNF: a network error for the request."""


@dataclass(frozen=True)
class Request:
    """The actual request a page makes; `origin` is its serialised origin."""

    origin: str
    method: str = "GET"
    credentials: bool = False  # credentials mode "include"
    author_headers: tuple[str, ...] = field(default_factory=tuple)  # unsafe names the script set


# ASCII lower case, as Fetch compares header names (str.lower would fold other letters too): a
# table, not a loop over characters, since the audit reads every header of 50,000 answers.
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _lower(text: str) -> str:
    return text.translate(_ASCII_LOWER)


def header_value(headers: Headers, name: str) -> str | None:
    """Fetch's `get`: every line with the name, trimmed, joined by ", "; None when absent."""
    wanted = _lower(name)
    values = [v.strip(" \t") for n, v in headers if _lower(n) == wanted]
    return ", ".join(values) if values else None


def token_list(headers: Headers, name: str) -> list[str] | None:
    value = header_value(headers, name)
    if value is None:
        return None
    items = [item.strip(" \t") for item in value.split(",")]
    for item in items:
        if item and not set(item) <= TCHAR:
            raise ParseFailure(f"{name}: {item!r} is not a token")
    return [item for item in items if item]


# Why a check failed, for a caller that says what to change: the origin, the credentials, the
# preflight's status, a method or a header, or a list that does not parse.
Kind = Literal["origin", "credentials", "status", "method", "header", "parse"]


@dataclass(frozen=True)
class Failure:
    kind: Kind
    why: str
    subject: str = ""  # the method or header name refused


def cors_failure(request: Request, headers: Headers) -> Failure | None:
    """Fetch §CORS check, byte for byte; None when it passes."""
    acao = header_value(headers, "Access-Control-Allow-Origin")
    if acao is None:
        return Failure("origin", "no Access-Control-Allow-Origin")
    if acao == "*" and not request.credentials:
        return None
    if acao == "*":
        return Failure("credentials", "Access-Control-Allow-Origin * with credentials")
    if acao != request.origin:
        return Failure("origin", f"Access-Control-Allow-Origin {acao!r} is not {request.origin!r}")
    if (
        not request.credentials
        or header_value(headers, "Access-Control-Allow-Credentials") == "true"
    ):
        return None
    return Failure("credentials", "Access-Control-Allow-Credentials is not exactly true")


def cors_check(request: Request, headers: Headers) -> tuple[bool, str]:
    failure = cors_failure(request, headers)
    if failure is not None:
        return False, failure.why
    if header_value(headers, "Access-Control-Allow-Origin") == "*":
        return True, "wildcard without credentials"
    return True, "origin matches" + ", credentials allowed" * request.credentials


def preflight_failures(
    request: Request, headers: Headers, status: int, engine: Engine = "spec"
) -> list[Failure]:
    """Fetch §CORS-preflight fetch, step 7, for the preflight of `request`, as `engine` runs it:
    every reason it fails, in the order Fetch checks them; empty when it passes.

    Fetch stops at the first; a caller that says what to change wants them all. After a refused
    origin nothing else is read: what such an answer lists is not meant for this page."""
    failure = cors_failure(request, headers)
    out = []
    if failure is not None:
        out.append(Failure(failure.kind, "preflight: " + failure.why, failure.subject))
        if failure.kind == "origin":
            return out
    if not 200 <= status <= 299:
        out.append(Failure("status", f"preflight status {status}"))
    try:
        methods = token_list(headers, "Access-Control-Allow-Methods") or []
        names = token_list(headers, "Access-Control-Allow-Headers") or []
    except ParseFailure as exc:
        return [*out, Failure("parse", str(exc))]
    wildcard_ok = not request.credentials
    if (
        request.method not in methods
        and request.method not in SAFELISTED_METHODS
        and not (wildcard_ok and "*" in methods)
    ):
        out.append(Failure("method", f"method {request.method} not allowed", request.method))
    allowed = {_lower(n) for n in names}
    star = wildcard_ok and "*" in names
    for name in request.author_headers:
        low = _lower(name)
        star_covers = ENGINES[engine].star_covers_authorization and star
        if low == "authorization" and low not in allowed and not star_covers:
            out.append(Failure("header", "Authorization must be listed", name))
        elif low not in allowed and not star:
            out.append(Failure("header", f"header {name} not allowed", name))
    return out


def preflight_failure(
    request: Request, headers: Headers, status: int, engine: Engine = "spec"
) -> Failure | None:
    """The first of preflight_failures, the one a browser reports; None when it passes."""
    return next(iter(preflight_failures(request, headers, status, engine)), None)


def preflight_ok(
    request: Request, headers: Headers, status: int, engine: Engine = "spec"
) -> tuple[bool, str]:
    failure = preflight_failure(request, headers, status, engine)
    return (True, "ok") if failure is None else (False, failure.why)


_UNSAFE_BYTES = frozenset('"():<>?@[\\]{}\x7f') | {chr(c) for c in range(0x20) if c != 9}
_LANGUAGE = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz *,-.;=")
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data", "text/plain")


def _digits(text: str) -> bool:
    return bool(text) and set(text) <= set("0123456789")  # str.isdigit takes "²" too


_LONGEST = 18  # digits: past them a number of seconds is longer than any engine keeps anything


def _number(digits: str, base: int = 10) -> int:
    """Digits a server or a URL sent, as a number; one too long to matter as 10**18 (int()
    refuses a string of 4,300 digits or more: a server must not crash the judge with one)."""
    digits = digits.lstrip("0")
    return int(digits or "0", base) if len(digits) <= _LONGEST else 10**_LONGEST


def _safelisted(name: str, value: str) -> bool:
    """Fetch §CORS-safelisted request-header, for one header a script sets."""
    low = _lower(name)
    if len(value.encode()) > 128:
        return False
    if low == "accept":
        return not set(value) & _UNSAFE_BYTES
    if low in ("accept-language", "content-language"):
        return set(value) <= _LANGUAGE
    if low == "content-type":
        essence = _lower(value.split(";")[0].strip(" \t"))
        return not set(value) & _UNSAFE_BYTES and essence in _FORM_TYPES
    if low == "range":
        start, dash, end = value.removeprefix("bytes=").partition("-")
        if not (value.startswith("bytes=") and dash and _digits(start)):
            return False
        return not end or (_digits(end) and int(start) <= int(end))
    return False


def unsafe_names(headers: Headers) -> tuple[str, ...]:
    """The names of the headers a script set that make a preflight necessary."""
    total = sum(len(v.encode()) for n, v in headers if _safelisted(n, v))
    return tuple(n for n, v in headers if total > 1024 or not _safelisted(n, v))


def needs_preflight(request: Request) -> bool:
    """Fetch §main fetch: a method but GET, HEAD and POST, or an unsafe header, asks first."""
    return request.method not in SAFELISTED_METHODS or bool(request.author_headers)


def preflight_headers(request: Request) -> list[tuple[str, str]]:
    """The headers of the preflight a browser sends before `request` (no credentials ever)."""
    out = [
        ("Origin", request.origin),
        ("Accept", "*/*"),
        ("Access-Control-Request-Method", request.method),
    ]
    names = sorted({_lower(n) for n in request.author_headers})
    if names:  # lowercased, deduplicated, sorted, joined by "," with no space
        out.append(("Access-Control-Request-Headers", ",".join(names)))
    return out


def exposed(headers: Headers, credentials: bool) -> set[str]:
    """Lowercase names a script can read from the response."""
    present = {_lower(n) for n, _ in headers}
    try:
        listed = token_list(headers, "Access-Control-Expose-Headers") or []
    except ParseFailure:
        listed = []
    names = present if not credentials and "*" in listed else {_lower(n) for n in listed}
    return {n for n in present if n in SAFELISTED_RESPONSE or n in names} - NEVER_EXPOSED


def vary_tokens(headers: Headers) -> list[str]:
    value = header_value(headers, "Vary") or ""
    return [_lower(t.strip()) for t in value.split(",") if t.strip()]
