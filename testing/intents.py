"""What each example policy means, in a browser's terms, written by hand from its words (not
computed by corsgen); and where a server cannot keep a promise."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

ADVERSARIAL = (
    "null",
    "https://evil.com",
    "http://evil.com",
    "https://example.com",
    "https://app.example.com.evil.com",
    "https://appxexample.com",
    "https://evil-app.example.com",
    "http://app.example.com",
    "https://app.example.com:8443",
    "HTTPS://APP.EXAMPLE.COM",
    "https://app.example.co",
    "https://xapp.example.com",
)

# What each preflight asks for: a method, and a request header or none.
PREFLIGHT_PROBES = (
    ("GET", None),
    ("POST", "content-type"),
    ("PUT", None),
    ("PATCH", "x-request-id"),
    ("DELETE", "authorization"),
    ("PURGE", None),
    ("GET", "x-evil"),
    ("PUT", "x-tenant"),
)


@dataclass(frozen=True)
class Intent:
    """What a policy means, in a browser's terms."""

    credentials: bool
    any_origin: bool
    allowed: tuple[str, ...]
    refused: tuple[str, ...]
    methods: tuple[str, ...]
    headers: tuple[str, ...]
    expose: tuple[str, ...]
    max_age: str | None
    status: int
    private_network: bool


INTENTS = {
    "spa-api": Intent(
        credentials=True,
        any_origin=False,
        allowed=("https://app.example.com", "https://admin.example.com"),
        refused=(*ADVERSARIAL, "https://admin.example.com.evil.com"),
        methods=("PUT", "PATCH", "DELETE"),
        headers=("Content-Type", "Authorization", "X-Request-Id"),
        expose=("etag", "link", "x-request-id"),
        max_age="600",
        status=204,
        private_network=False,
    ),
    "public-read": Intent(
        credentials=False,
        any_origin=True,
        allowed=("https://anyone.example", "null", "http://localhost:8080", "https://evil.com"),
        refused=(),
        methods=(),
        headers=("If-None-Match",),
        expose=("etag", "x-ratelimit-remaining"),
        max_age="7200",
        status=204,
        private_network=False,
    ),
    "previews": Intent(
        credentials=True,
        any_origin=False,
        allowed=(
            "https://app.example.com",
            "https://pr-1.preview.example.dev",
            "https://pr-123456.preview.example.dev",
        ),
        refused=(
            *ADVERSARIAL,
            "https://pr-1234567.preview.example.dev",
            "https://pr-.preview.example.dev",
            "https://pr-1.preview.example.dev.evil.com",
            "https://pr-1xpreview.example.dev",
            "http://pr-1.preview.example.dev",
            "https://xpr-1.preview.example.dev",
            "https://a.pr-1.preview.example.dev",
            "https://pr-1.preview.example.dev:444",
        ),
        methods=(),
        headers=("Content-Type",),
        expose=(),
        max_age=None,
        status=204,
        private_network=False,
    ),
    "tenants": Intent(
        credentials=False,
        any_origin=False,
        allowed=(
            "https://acme.customers.example.com",
            "https://cyberdyne.customers.example.com",
            "https://x.app.example.net",
            "https://a-b.c9.app.example.net",
            "https://x_y.app.example.net",
            "https://xn--bcher-kva.example",
            "capacitor://localhost",
            "tauri://localhost",
            "http://localhost:5173",
        ),
        refused=(
            *ADVERSARIAL,
            "https://app.example.net",
            "https://evilapp.example.net",
            "https://x.app.example.net.evil.com",
            "http://x.app.example.net",
            "https://acme.customers.example.com.evil.com",
            "https://customers.example.com",
            "http://localhost:5174",
            "https://localhost:5173",
            "capacitor://evil",
            "https://x.app.example.net:8443",
        ),
        methods=("PUT", "DELETE"),
        headers=("Content-Type", "X-Tenant"),
        expose=("x-total-count",),
        max_age="300",
        status=200,
        private_network=True,
    ),
}
# Where a server cannot keep a promise, by the CG501 case `corsgen check` warns with
# (docs/promises.md, "What each server keeps"): the tests assert what it does today instead, so
# a release that keeps the promise fails here, and the table and the warning go.
FALLS_SHORT: Mapping[str, frozenset[str]] = {
    # The headers middleware answers every preflight with 200, itself, refused origins' too,
    # without Vary; sends Allow-Credentials and Expose-Headers whatever the Origin; has no PNA.
    # Only the upstream's first Vary line is kept (not a CG501 case: no policy relies on it).
    # Of two Origin headers it reads the first, as Go's Header.Get does: nothing else in the
    # middleware sees the second (not a CG501 case either: no browser sends two).
    "traefik": frozenset(
        {"preflight-200", "refused-origin", "private-network", "vary-lines", "first-origin"}
    ),
    # The CORS filter answers preflights with 200 and has no literal *: it echoes the Origin.
    # Its HTTP/1 codec joins two Origin headers before any filter or route match sees them, and
    # leaves out an empty one: "" and an allowed origin arrive as the allowed origin alone.
    # The same codec deletes a bare CR anywhere in a value before any filter sees it: "\rA",
    # "A\r" and A with a CR inside arrive as A, and "B\rA" as "BA", which a loose pattern may
    # match (and the filter echoes). No browser sends a CR; no config sees one.
    "envoy": frozenset({"preflight-200", "no-star", "empty-joined", "cr-dropped"}),
    # nginx 1.22 (Debian bookworm's, which the suite runs) reads the first of two Origin headers
    # in $http_origin, and no variable holds the second; 1.23 joins them ("a, b").
    # Its parser ends a value at its first CR and takes any more CRs before the LF as the line's
    # end: "A\r" and "A\r\r" are A in $http_origin (a CR anywhere else is a 400). No variable
    # holds the CR; no browser sends one.
    "nginx": frozenset({"first-origin", "cr-trailing"}),
}


def falls_short(kind: str, case: str) -> bool:
    return case in FALLS_SHORT.get(re.split(r"[-+]", kind)[0], frozenset())


def preflight_status(kind: str, intended: int) -> int:
    """The status an allowed preflight gets on this kind of server."""
    return 200 if falls_short(kind, "preflight-200") else intended


def relied_on(intent: Intent) -> set[str]:
    """The CG501 cases a policy with this intent relies on a server for."""
    cases = {"preflight-200"} if intent.status != 200 else set()
    cases |= {"private-network"} if intent.private_network else set()
    cases |= {"no-star"} if intent.any_origin else set()
    return cases | ({"refused-origin"} if not intent.any_origin else set())


# Matches "" as well as the origin. The rules refuse such a regex; the output must not rely on that.
EMPTY_MATCHING = r"(?:https://app\.example\.com)?"
# Accepted by CG108 (every origin it matches is under example.com), yet it matches two joined
# Origin headers such as "https://evil.com, https://x.example.com".
LOOSE = r"https://.+\.example\.com"
# Matches no origin a browser sends (CG108 lets it pass), but it matches "*", on which Envoy's cors
# filter tries every pattern, allowing every origin when one matches.
ONE_CHARACTER = "."
