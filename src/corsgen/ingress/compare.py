"""What a browser may read from a server's answers, request by request: the battery an Ingress is
asked with, the exchange (a preflight first where Fetch sends one), and its verdict judged by
corsgen.fetch. The import's proofs and the comparisons it prints (ingress-nginx against
corsgen's policy, its Gateway API output, and ingress2gateway's) all go through here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from corsgen.explain import Send, Trace, trace
from corsgen.fetch import Request, exposed

PATH = "/ok"  # what the test upstream answers 200
COOKIE = ("Cookie", "session=1")  # what a credentialed request carries
REFUSED = "https://evil.example"
MAX_ORIGINS = 40  # origins asked per Ingress: a long list is asked about its first items

_ITEM = re.compile(r"([a-z][a-z0-9+.-]*)://(\*\.)?([^,:/\s]*)(:[0-9]+)?", re.IGNORECASE)


def origins(texts: Iterable[str]) -> list[str]:
    """The Origins to ask with: each origin the annotation text names, in upper case, one label
    deeper, with its wildcard filled by one and two labels, with a scheme in front, and some
    that no text allows."""
    out = [REFUSED, "https://app.example.com", "null"]
    for text in texts:
        for match in _ITEM.finditer(text):
            scheme, star, host, port = match[1], match[2], match[3], match[4] or ""
            hosts = [f"x.{host}", f"x.y.{host}"] if star else [host, f"x.{host}"]
            for name in hosts:
                if "*" in name:  # a second wildcard: no Origin is spelled so
                    continue
                origin = f"{scheme.lower()}://{name}{port}"
                out += [origin, origin.upper(), f"x{origin}", f"{origin}.evil.example"]
        out += [t for t in (s.strip() for s in text.split(",")) if t == "null"]
    return list(dict.fromkeys(out))[:MAX_ORIGINS]


_HEADERS = ((), ("X-Custom",), ("Authorization",), ("Content-Type",))
_METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "PROPFIND")


def battery(texts: Iterable[str]) -> list[Request]:
    """Requests a page may make: each origin, method and set of headers, with and without
    credentials (a few combinations per origin, all of them for the first origins)."""
    out = []
    for number, origin in enumerate(origins(texts)):
        for credentials in (False, True):
            for method in _METHODS if number < 8 else ("GET", "PUT"):
                for names in _HEADERS if number < 8 else ((), ("X-Custom",)):
                    out.append(Request(origin, method, credentials, names))
    return out


def exchange(request: Request, server: Send) -> Trace:
    """The requests a browser sends for `request` (a preflight first where Fetch sends one) and
    the answers, as `corsgen explain` traces them."""
    author = [COOKIE] if request.credentials else []
    for name in request.author_headers:
        author.append((name, "application/json" if name == "Content-Type" else "1"))
    return trace(request, author, server)


def readable(request: Request, done: Trace) -> frozenset[str] | None:
    """What the page may read: the response headers its script sees (but the CORS headers
    themselves, which say nothing of the resource), or None when the fetch fails."""
    if done.failure is not None:
        return None
    names = exposed(done.exchanges[-1].received, request.credentials)
    return frozenset(n for n in names if not n.startswith("access-control-"))


def shown(request: Request) -> str:
    headers = f" with {', '.join(request.author_headers)}" if request.author_headers else ""
    cookies = " with cookies" if request.credentials else ""
    return f"{request.method} from {request.origin}{headers}{cookies}"


@dataclass(frozen=True)
class Versus:
    """How B's verdicts differ from A's on a battery: what B lets a page read that A does not
    (wider), and what A lets it read that B does not (narrower)."""

    wider: tuple[str, ...]
    narrower: tuple[str, ...]


def versus(requests: Sequence[Request], a: Send, b: Send) -> Versus:
    wider, narrower = [], []
    for request in requests:
        before, after = (
            readable(request, exchange(request, a)),
            readable(request, exchange(request, b)),
        )
        if after is not None and (before is None or not after <= before):
            more = sorted(after - before) if before is not None else []
            wider.append(shown(request) + (f" (reads {', '.join(more)})" if more else ""))
        if before is not None and (after is None or not before <= after):
            narrower.append(shown(request))
    return Versus(tuple(wider), tuple(narrower))


# The application behind every server the comparisons ask offline: a 200 with a header a page
# may only read when it is exposed.
BACKEND = (
    200,
    [("Content-Type", "text/plain"), ("Vary", "Accept-Encoding"), ("X-Total-Count", "42")],
)
