"""The answers of ingress-nginx's CORS block (nginx.tmpl's "CORS" template) for one Ingress.

The block, in a location before its proxy_pass:

    set $http_origin *; set $cors 'true';              # origins "*"
    if ($http_origin ~* ((https://a\\.com)|...)$ ) { set $cors 'true'; }   # else, when any left
    if ($request_method = 'OPTIONS') { set $cors ${cors}options; }
    if ($cors = "true") { more_set_headers ... }       # passed on, the headers added
    if ($cors = "trueoptions") { more_set_headers ...; return 204; }

more_set_headers (the headers-more module) sets its headers on every answer of the location,
the backend's errors included, replacing a header of the same name the backend sent.
tests/ingress/block_test.py holds this model to that block on the real nginx.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from corsgen.fetch import Headers, header_value
from corsgen.ingress.enforced import Enforced


@dataclass(frozen=True)
class Reply:
    """The block's answer: `status` None when the request goes on to the backend, whose answer
    gets `headers` set on it."""

    status: int | None
    headers: tuple[tuple[str, str], ...]


PASSED = Reply(None, ())


def cors_headers(enforced: Enforced, origin: str) -> list[tuple[str, str]]:
    """The headers of `if ($cors = "true")`, the Origin sent back ($http_origin, or * after
    `set $http_origin *`)."""
    out = [("Access-Control-Allow-Origin", "*" if enforced.any_origin else origin)]
    if enforced.credentials:
        out.append(("Access-Control-Allow-Credentials", "true"))
    out.append(("Access-Control-Allow-Methods", enforced.methods))
    out.append(("Access-Control-Allow-Headers", enforced.headers))
    if enforced.expose:
        out.append(("Access-Control-Expose-Headers", enforced.expose))
    out.append(("Access-Control-Max-Age", str(enforced.max_age)))
    return out


def reply(enforced: Enforced, method: str, headers: Headers) -> Reply:
    """What the block does with a request."""
    if not enforced.enabled:
        return PASSED
    origin = header_value(headers, "Origin") or ""
    if not enforced.allows(origin):
        return PASSED  # $cors is "" or "options": neither if matches
    sent = cors_headers(enforced, origin)
    if method == "OPTIONS":  # any OPTIONS, a preflight or not
        preflight = [("Content-Type", "text/plain charset=UTF-8"), ("Content-Length", "0")]
        return Reply(204, (*sent, *preflight))
    return Reply(None, tuple(sent))


def merged(
    block: Reply, status: int, backend: Sequence[tuple[str, str]]
) -> tuple[int, list[tuple[str, str]]]:
    """The answer the client gets: the block's own, or the backend's with the block's headers set
    (replacing the backend's of the same name)."""
    if block.status is not None:
        return block.status, list(block.headers)
    names = {name.lower() for name, _ in block.headers}
    kept = [(n, v) for n, v in backend if n.lower() not in names]
    return status, [*kept, *block.headers]
