"""What a hand-written config grants today, asked of its model, so that the policy `corsgen
import` writes never grants more (importing.py).

A model reads a grant from one origin, method and path the config allows (routing.Granted). A
config may grant less elsewhere: refuse some origins (a deny-list beside an Origin sent back),
answer CORS on GET alone, send credentials to some origins or paths only, refuse a method's
preflight itself. Each check here asks the model again with the origins and paths the config's
own files name, and words built from them, and narrows the grant, or says nothing can be
imported, where one policy would let an origin read what it cannot today. The candidates are a
sample the model judges, not a proof (docs/audit.md).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

from corsgen.audit.engine import passes
from corsgen.audit.granted import Imported, as_plan
from corsgen.errors import CorsgenError
from corsgen.fetch import (
    SAFELISTED_METHODS,
    Request,
    cors_failure,
    preflight_failure,
    preflight_headers,
)
from corsgen.files import decode, read_file
from corsgen.plan import Plan, build_plan
from corsgen.routing import (
    Answered,
    Asked,
    Backend,
    Granted,
    Routes,
    Scope,
    audit_backend,
    quiet_backend,
)

# An origin, or a host a regex or a list names (evil\.example\.com$), written in a config.
_NAMED_ORIGIN = re.compile(
    r"(?:\b([a-z][a-z0-9+.-]*)://)?((?:[a-z0-9-]+\\?\.)+[a-z][a-z0-9-]*)(?::(\d{1,5}))?", re.I
)
MAX_NAMED = 200  # origins a config names that import asks the model for, at the most
# A word of a config (evil, ru, partner): a deny-list may name a host by a piece of it (`~* evil`,
# `\.(ru|cn)$`) or build it from pieces (`set $bad "https://evil"; set $bad "${bad}.example.com"`).
_WORD = re.compile(r"[a-z][a-z0-9-]*[a-z0-9]", re.I)
MAX_WORDED = 200  # origins built from a config's words that import asks for, at the most


def read_texts(files: Sequence[str]) -> list[str]:
    """The files' texts (a file gone since the model read it is none)."""
    texts = []
    for file in dict.fromkeys(files):
        try:
            texts.append(decode(read_file(Path(file), follow=True), errors="replace"))
        except (OSError, CorsgenError):
            continue
    return texts


def _named(texts: Sequence[str]) -> list[str]:
    """The origins the texts name, in the order written: each written out, and each host with
    no scheme as https and http."""
    found: list[str] = []
    for text in texts:
        for match in _NAMED_ORIGIN.finditer(text):
            host = match[2].replace("\\", "").lower()
            port = f":{match[3]}" if match[3] else ""
            schemes = [match[1].lower()] if match[1] else ["https", "http"]
            found += [f"{scheme}://{host}{port}" for scheme in schemes]
            if len(found) >= MAX_NAMED:
                return list(dict.fromkeys(found))[:MAX_NAMED]
    return list(dict.fromkeys(found))


def _worded(texts: Sequence[str], named: Sequence[str]) -> list[str]:
    r"""Origins built from the texts' words, those of lines that speak of the Origin first: each
    word as a host and as its last label (https://evil.evil, which `evil`, `^https://evil\.` and
    `\.(evil|ru)$` match), and as the first label of each host the texts name
    (https://evil.example.com). A sample, not a proof: a regex may refuse what no word builds."""
    lines = [line for text in texts for line in text.splitlines()]
    lines.sort(key=lambda line: "origin" not in line.lower())
    words = dict.fromkeys(w.lower() for line in lines for w in _WORD.findall(line))
    hosts = list(dict.fromkeys(o.split("://", 1)[1] for o in named))[:5]
    found: dict[str, None] = {}
    for word in words:
        for origin in [f"https://{word}.{word}", *(f"https://{word}.{h}" for h in hosts)]:
            found.setdefault(origin)
        if len(found) >= MAX_WORDED:
            break
    return list(found)[:MAX_WORDED]


def denied(
    routes: Routes, scope: Scope, granted: Granted, texts: Sequence[str], paths: Sequence[str]
) -> tuple[Granted, list[str]]:
    """A grant of any origin (`*`, or the Origin sent back) with none of its origins, and why,
    where the config refuses some origin it names (a deny-list: `if ($http_origin ~* evil) {
    set $cors ""; }`, an HAProxy `!blocked` ACL): corsgen has no list of origins to refuse, and
    `*` would let them read. The models read "any origin" from an origin no config names; the
    origins the config names are asked for here, the model deciding each."""
    if not (granted.any_origin or granted.reflects) or not scope.paths:
        return granted, []
    named = _named(texts)
    refused = []
    for origin in dict.fromkeys([*named, *_worded(texts, named)]):
        if any(_refuses(routes, scope, origin, m, p) for m in _SIMPLE for p in paths):
            refused.append(origin)
    if not refused:
        return granted, []
    what = "sends any Origin back" if granted.reflects else "sends *"
    shown_ = ", ".join(refused[:3]) + (f" and {len(refused) - 3} more" if len(refused) > 3 else "")
    said = (
        f"allow_origins: the config {what} to every origin but those it refuses ({shown_}); "
        "corsgen has no list of origins to refuse, and * would let them read: list the origins "
        "that should read"
    )
    return replace(granted, any_origin=False, reflects=False), [said]


def _refuses(routes: Routes, scope: Scope, origin: str, method: str, path: str) -> bool:
    """Whether the config lets `origin` not read `method` `path`: on GET of the scope's first
    path, whatever the answer; elsewhere, where it answers with success (a config may refuse
    POST, or a path, with no CORS on its error). A deny-list may refuse on POST alone (HAProxy's
    `if !blocked || !post`)."""
    answered, own = _own(routes, scope, method, path, origin, quiet_backend)
    first = (method, path) == ("GET", scope.paths[0])
    succeeds = answered.status < 400 and answered.auth is None
    return (first or succeeds) and cors_failure(Request(origin, method, False), own) is not None


def preflighted(routes: Routes, scope: Scope, granted: Granted) -> tuple[Granted, list[str]]:
    """The grant without the methods and request headers today's preflight refuses, and each said.

    A method or header a browser must ask for is granted where the config's own answer to its
    preflight passes. A preflight the config answers itself, with success, and refuses (a
    server-level `if ($request_method = OPTIONS) { return 204; }` in front of the location's
    lists) is the config's answer: it grants none of them today, and rendering would widen. One
    that reaches the backend, meets authentication or ends in an error is a flaw rendering fixes:
    its lists are kept, and the preflights that start passing are a listed change (BACKEND, AUTH).
    A `*` in the headers is nearest_safe's (with credentials it is a name, dropped there)."""
    plan = as_plan(granted, "imported")
    origin = next(iter(_allowed(plan)), None)
    if origin is None:
        return granted, []
    unsafe = [m for m in granted.methods if m not in SAFELISTED_METHODS and m != "*"]
    asks = [("allow_methods", m, Request(origin, m, granted.credentials)) for m in unsafe]
    asks += [
        ("allow_headers", h, Request(origin, "GET", granted.credentials, (h,)))
        for h in granted.headers
        if h != "*"
    ]
    refused: dict[tuple[str, str], str] = {}
    for key, value, request in asks:
        for path in scope.paths[:3]:
            headers = tuple(preflight_headers(request))
            answered = routes.answer(Asked(scope.host, "OPTIONS", path, headers, scope.port))
            own = answered.own()
            answers = not answered.backend and answered.auth is None and answered.status < 300
            if answers and preflight_failure(request, own, answered.status):
                refused[key, value] = (
                    f"{key} {value}: the config answers its preflight (OPTIONS {path} from "
                    f"{origin}) at {answered.by} with {answered.status} and does not grant it: "
                    "it fails today"
                )
                break
    methods = [m for m in granted.methods if ("allow_methods", m) not in refused]
    names = [h for h in granted.headers if ("allow_headers", h) not in refused]
    narrowed = replace(granted, methods=tuple(methods), headers=tuple(names))
    return narrowed, list(refused.values())


# The methods a page sends without a preflight whose answer it reads: a config may answer CORS
# on GET alone (`if ($request_method = GET) { add_header ... }`, a map of $request_method), and
# a policy answers them all alike.
_SIMPLE = ("GET", "POST")


def _own(
    routes: Routes,
    scope: Scope,
    method: str,
    path: str,
    origin: str,
    backend: Backend = audit_backend,
) -> tuple[Answered, list[tuple[str, str]]]:
    """The config's answer to a request from `origin`, and the headers it sends itself."""
    asked = Asked(scope.host, method, path, (("Origin", origin),), scope.port)
    answered = routes.answer(asked, backend)
    return answered, answered.own()


# A path a config names (`map $uri $creds { ~^/api/public ""; ... }`, `header /api/public/*`).
_NAMED_PATH = re.compile(r"/[a-z0-9._~-][a-z0-9._~/-]*", re.I)
MAX_NAMED_PATHS = 20  # paths a config names, under the scope's, that import asks for


def asked_paths(routes: Routes, scope: Scope, texts: Sequence[str]) -> list[str]:
    """The scope's first three paths, then those the texts name under one of them that its
    block answers: a config may answer CORS, or credentials, on some of its paths alone."""
    named = dict.fromkeys(p for text in texts for p in _NAMED_PATH.findall(text))
    under = [p for p in named if any(p.startswith(s) and p != s for s in scope.paths)]
    kept = [p for p in under[:MAX_NAMED_PATHS] if passes(routes, scope, p, audit_backend)]
    return list(dict.fromkeys([*scope.paths[:3], *kept]))


def _asks(plan: Plan, paths: Sequence[str]) -> Iterator[tuple[str, str, str]]:
    """Each origin the policy allows, method a page reads without a preflight, and path the
    model is asked with."""
    for origin in _allowed(plan, every=True):
        for method in _SIMPLE:
            for path in paths:
                yield origin, method, path


def unread(routes: Routes, scope: Scope, safe: Imported, paths: Sequence[str]) -> str | None:
    """Why the policy would let an origin read what it cannot today: a request of a simple
    method, to one of `paths`, answered with success, that the config sends no CORS
    for. The config may answer CORS on GET alone; or the model may read an origin the config
    refuses as one it grants (HAProxy's `if !evil` on `acl evil req.hdr(origin) -m beg
    https://evil.example.com` gave allow_origin_regex https://evil\\.example\\.com). None when
    there is none."""
    plan = build_plan(safe.policy(), safe.name, "imported")
    for origin, method, path in _asks(plan, paths):
        answered, own = _own(routes, scope, method, path, origin, quiet_backend)
        succeeds = answered.status < 400 and answered.auth is None
        if succeeds and cors_failure(Request(origin, method, False), own) is not None:
            return (
                f"{origin} cannot read {method} {path} today ({answered.by} sends it no "
                "Access-Control-Allow-Origin), and one policy answers each origin it allows on "
                "every simple method and path of its place alike: write the policy by hand"
            )
    return None


def cookieless(routes: Routes, scope: Scope, safe: Imported, paths: Sequence[str]) -> None:
    """Credentials dropped when an origin the policy allows reads without them today.

    The grant's credentials are read from one origin, method and path the config allows; a
    config may send Allow-Credentials for some of its origins, methods or paths only (a second
    map or SetEnvIf for the origins that need cookies, `if ($request_method = GET)`, a map of
    $uri). One Allow-Credentials for every one would let the others read with the user's
    cookies: a widening. Without it, those that read with cookies today are a listed change
    (COOKIES)."""
    if not safe.keys.get("allow_credentials"):
        return
    plan = build_plan(safe.policy(), safe.name, "imported")
    for origin, method, path in _asks(plan, paths):
        request = Request(origin, method, credentials=True)
        answered, own = _own(routes, scope, method, path, origin)
        without = replace(request, credentials=False)
        if cors_failure(without, own) is None and cors_failure(request, own) is not None:
            safe.keys["allow_credentials"] = False
            safe.dropped.append(
                f"allow_credentials: {origin} reads {method} {path} without the user's cookies "
                f"today ({answered.by} sends it no Access-Control-Allow-Credentials); "
                "one policy sends the same to every origin, method and path it allows"
            )
            return


def _allowed(plan: Plan, every: bool = False) -> Iterator[str]:
    """Origins the grant allows: its exact ones, then a sample of each of its patterns (`every`:
    each of its samples)."""
    yield from plan.exact_origins
    if plan.any_origin:
        yield "https://corsgen-import.example"
    if plan.origin_patterns:
        from corsgen.regex.language import samples  # interegular: only for a grant with regexes

        for pattern in plan.origin_patterns:
            yield from samples(pattern)[: None if every else 1]
