"""An independent model of what a browser accepts, from the WHATWG Fetch standard.

The judge of the conformance tests (and of `probe` and `explain` to come). It imports nothing
else from corsgen, so it cannot share a mistake with what it judges: it reads raw response headers
the way Fetch's CORS check, CORS-preflight fetch and CORS-filtered response do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

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


class ParseFailure(Exception):
    """A header list that fails its ABNF: a network error for the request."""


@dataclass(frozen=True)
class Request:
    """The actual request a page makes; `origin` is its serialised origin."""

    origin: str
    method: str = "GET"
    credentials: bool = False  # credentials mode "include"
    author_headers: tuple[str, ...] = field(default_factory=tuple)  # unsafe names the script set


def _lower(text: str) -> str:
    return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in text)


def get(headers: Headers, name: str) -> str | None:
    """Fetch's `get`: every line with the name, trimmed, joined by ", "; None when absent."""
    values = [v.strip(" \t") for n, v in headers if _lower(n) == _lower(name)]
    return ", ".join(values) if values else None


def token_list(headers: Headers, name: str) -> list[str] | None:
    value = get(headers, name)
    if value is None:
        return None
    items = [item.strip(" \t") for item in value.split(",")]
    for item in items:
        if item and not set(item) <= TCHAR:
            raise ParseFailure(f"{name}: {item!r} is not a token")
    return [item for item in items if item]


def cors_check(request: Request, headers: Headers) -> tuple[bool, str]:
    """Fetch §CORS check, byte for byte."""
    acao = get(headers, "Access-Control-Allow-Origin")
    if acao is None:
        return False, "no Access-Control-Allow-Origin"
    if acao == "*" and not request.credentials:
        return True, "wildcard without credentials"
    if acao == "*":
        return False, "* with credentials"
    if acao != request.origin:
        return False, f"Access-Control-Allow-Origin {acao!r} is not {request.origin!r}"
    if not request.credentials:
        return True, "origin matches"
    if get(headers, "Access-Control-Allow-Credentials") == "true":
        return True, "origin matches, credentials allowed"
    return False, "Access-Control-Allow-Credentials is not exactly true"


def preflight_ok(request: Request, headers: Headers, status: int) -> tuple[bool, str]:
    """Fetch §CORS-preflight fetch, step 7, for the preflight of `request`."""
    ok, why = cors_check(request, headers)
    if not ok:
        return False, "preflight: " + why
    if not 200 <= status <= 299:
        return False, f"preflight status {status}"
    try:
        methods = token_list(headers, "Access-Control-Allow-Methods") or []
        names = token_list(headers, "Access-Control-Allow-Headers") or []
    except ParseFailure as exc:
        return False, str(exc)
    wildcard_ok = not request.credentials
    if (
        request.method not in methods
        and request.method not in SAFELISTED_METHODS
        and not (wildcard_ok and "*" in methods)
    ):
        return False, f"method {request.method} not allowed"
    allowed = {_lower(n) for n in names}
    for name in request.author_headers:
        low = _lower(name)
        if low == "authorization" and low not in allowed:
            return False, "Authorization must be listed"
        if low not in allowed and not (wildcard_ok and "*" in names):
            return False, f"header {name} not allowed"
    return True, "ok"


def exposed(headers: Headers, credentials: bool) -> set[str]:
    """Lowercase names a script can read from the response."""
    present = {_lower(n) for n, _ in headers}
    try:
        listed = token_list(headers, "Access-Control-Expose-Headers") or []
    except ParseFailure:
        listed = []
    names = present if not credentials and "*" in listed else {_lower(n) for n in listed}
    return {n for n in present if n in SAFELISTED_RESPONSE or n in names} - {"set-cookie"}


def vary_tokens(headers: Headers) -> list[str]:
    value = get(headers, "Vary") or ""
    return [_lower(t.strip()) for t in value.split(",") if t.strip()]
