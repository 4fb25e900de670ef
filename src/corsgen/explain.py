"""One request a page makes, step by step: the preflight when one is needed, the request, and the
browser's verdict on each answer (corsgen.fetch). The answers come from corsgen's output, as the
plan says (`corsgen explain POLICY`), or from a live server (`corsgen explain --url URL`).

The request is described as a user writes it (an origin, a method, headers, what the script
reads) and refused here, with the part that says it, when fetch() would never send it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

from corsgen.errors import CorsgenError, clip
from corsgen.fetch import (
    BROWSERS,
    ENGINES,
    SAFELISTED_METHODS,
    Failure,
    Request,
    cors_failure,
    exposed,
    local_network_request,
    needs_preflight,
    preflight_failure,
    preflight_headers,
)

if TYPE_CHECKING:
    from corsgen.cookies import Cookie
    from corsgen.plan import Plan
    from corsgen.probe.client import Site

Pairs = list[tuple[str, str]]
# Sends one request (method, headers) and returns the status and the response headers.
Send = Callable[[str, Pairs], tuple[int, Pairs]]

# What to change in the policy for each way a request fails: the key, and how. `{subject}` is the
# refused method or header, `{origin}` the page's origin.
FIXES = {
    "origin": ("allow_origins", 'add "{origin}", or a wildcard or allow_origin_regex matching it'),
    "credentials": ("allow_credentials", "set it to true, or have the page send no credentials"),
    "any-credentials": (
        "allow_origins",
        'list "{origin}" instead of "*" and set allow_credentials = true: a browser never lets '
        "a page read a credentialed answer to *",
    ),
    "method": ("allow_methods", 'add "{subject}"'),
    "header": ("allow_headers", 'add "{subject}"'),
    "exposed": ("expose_headers", 'add "{subject}"'),
}


@dataclass(frozen=True)
class Exchange:
    """One request sent and the answer to it, with the browser's verdict (None: it passes)."""

    method: str
    sent: Pairs
    status: int
    received: Pairs
    failure: Failure | None


@dataclass(frozen=True)
class Trace:
    request: Request
    exchanges: tuple[Exchange, ...]  # the preflight first, when one is needed
    unreadable: tuple[str, ...]  # response headers the script asked for but may not read
    reads: tuple[str, ...] = ()  # every response header the script reads

    @property
    def failure(self) -> Failure | None:
        return self.exchanges[-1].failure

    @property
    def allowed(self) -> bool:
        return self.failure is None and not self.unreadable


def trace(request: Request, author: Pairs, send: Send, reads: Sequence[str] = ()) -> Trace:
    """What a browser does for `request`, asking `send` for each answer."""
    exchanges: list[Exchange] = []
    if needs_preflight(request):
        sent = preflight_headers(request)
        status, got = send("OPTIONS", sent)
        exchanges.append(
            Exchange("OPTIONS", sent, status, got, preflight_failure(request, got, status))
        )
        if exchanges[-1].failure is not None:
            return Trace(request, tuple(exchanges), (), tuple(reads))
    sent = [("Origin", request.origin), *author]
    status, got = send(request.method, sent)
    failure = cors_failure(request, got)
    exchanges.append(Exchange(request.method, sent, status, got, failure))
    unreadable: tuple[str, ...] = ()
    if failure is None:
        readable = exposed(got, request.credentials)
        unreadable = tuple(name for name in reads if name.lower() not in readable)
    return Trace(request, tuple(exchanges), unreadable, tuple(reads))


def _why_preflight(request: Request) -> str:
    reasons = []
    if request.method not in SAFELISTED_METHODS:
        reasons.append(f"{request.method} is not GET, HEAD or POST")
    if request.author_headers:
        reasons.append(f"{', '.join(request.author_headers)} not safelisted")
    return "; ".join(reasons)


def _headers(pairs: Pairs) -> list[str]:
    return [f"      {name}: {value}" for name, value in pairs]


def lines(trace: Trace) -> list[str]:
    """The trace for people: each request, its answer and the browser's verdict."""
    request = trace.request
    credentials = "with credentials" if request.credentials else "without credentials"
    out = [f"{request.method} from {request.origin}, {credentials}"]
    preflight = needs_preflight(request)
    if not preflight:
        out.append("  no preflight: a GET, HEAD or POST with safelisted headers only")
    # What the verdict reads: the CORS headers, Vary, and what the script asks for.
    wanted = {name.lower() for name in trace.reads}
    for step, exchange in enumerate(trace.exchanges, 1):
        # The preflight is the first exchange when there is one; a script's own OPTIONS is not.
        kind = f"preflight ({_why_preflight(request)})" if preflight and step == 1 else "request"
        out.append(f"  {step}. {kind}: {exchange.method}")
        out += _headers(exchange.sent)
        out.append(f"     answer: {exchange.status}")
        out += _headers(
            [
                (name, value)
                for name, value in exchange.received
                if name.lower().startswith("access-control-") or name.lower() in {"vary", *wanted}
            ]
        )
        verdict = "passes" if exchange.failure is None else f"blocks it: {exchange.failure.why}"
        out.append(f"     browser: {verdict}")
    if trace.failure is None:
        last = trace.exchanges[-1]
        readable = sorted(exposed(last.received, request.credentials))
        out.append(f"  the script reads the answer, status {last.status}")
        if readable:
            out.append(f"  and these headers of it: {', '.join(readable)}")
    for name in trace.unreadable:
        out.append(f"  the script cannot read {name}: it is not in Access-Control-Expose-Headers")
    return out


def fixes(trace: Trace, any_origin: bool) -> list[str]:
    """Which policy key to change, and how, for each reason the request fails."""
    reasons: list[tuple[str, str]] = []  # (a key of FIXES, the refused method or header)
    failure = trace.failure
    if failure is not None and failure.kind in ("origin", "credentials", "method", "header"):
        any_credentials = failure.kind == "credentials" and any_origin
        reasons.append(("any-credentials" if any_credentials else failure.kind, failure.subject))
    elif failure is not None:  # a status or a list that does not parse: not the policy's doing
        return []
    reasons += [("exposed", name) for name in trace.unreadable]
    out = []
    for kind, subject in reasons:
        key, how = FIXES[kind]
        out.append(f"{key}: " + how.format(origin=trace.request.origin, subject=subject))
    return out


def offline_trace(plan: Plan, request: Request, author: Pairs, reads: Sequence[str]) -> Trace:
    """The trace against what corsgen's output for `plan` answers (corsgen.promise). The
    application is taken to send every header the script reads: the verdict is about exposure."""
    from corsgen.promise import promised_answer

    app = [(name, "…") for name in reads]
    return trace(
        request, author, lambda method, headers: promised_answer(plan, method, headers, app), reads
    )


# The parts of a request as a user describes it (explain's options are named after them).
Part = Literal["origin", "method", "header", "read"]


class RequestRefused(CorsgenError):
    """A request as described that no page can make: why, and which part of it."""

    def __init__(self, part: Part, why: str) -> None:
        super().__init__(why)
        self.part = part


def page_origin(text: str) -> str:
    """The Origin a browser would send for a page at `text`; refused if it sends none such."""
    from corsgen.origins import OriginError, parse_origin

    if text == "null":
        return text
    if text.startswith(("file:", "data:")):
        raise RequestRefused("origin", f"a {text.split(':')[0]}: page sends Origin null")
    try:
        return str(parse_origin(text))
    except OriginError as exc:
        # The reason whole, the origin clipped: it may be ten thousand characters long.
        raise RequestRefused("origin", str(exc).replace(repr(text), repr(clip(text)))) from None


def _token(text: str, part: Part, what: str) -> str:
    from corsgen.fetch import is_token

    if not is_token(text):
        raise RequestRefused(part, f"{clip(text)!r} is not {what}: fetch() throws")
    return text


def author_headers(headers: Sequence[str]) -> Pairs:
    """Each `NAME` or `NAME: value` a script sets; a bare Content-Type is JSON's, the usual
    reason to ask, any other bare name is sent as 1."""
    from corsgen.fetch import is_forbidden_request_header

    out = []
    for text in headers:
        name, colon, value = text.partition(":")
        name, value = _token(name.strip(), "header", "a header name"), value.strip(" \t")
        if is_forbidden_request_header(name):
            raise RequestRefused("header", f"fetch() drops {name}: the browser sets it itself")
        if any(c in "\r\n\0" or "\ud800" <= c <= "\udfff" for c in value):
            raise RequestRefused("header", f"{clip(text)!r}: not a header value")
        if not colon:
            value = "application/json" if name.lower() == "content-type" else "1"
        out.append((name, value))
    return out


def readable(reads: Sequence[str]) -> tuple[str, ...]:
    """The response headers a script reads; refuses one no script can ever read."""
    from corsgen.fetch import NEVER_EXPOSED

    for name in reads:
        if _token(name, "read", "a header name").lower() in NEVER_EXPOSED:
            raise RequestRefused("read", f"a script can never read {name}")
    return tuple(reads)


def fetch_method(text: str) -> str:
    """The method as fetch() sends it; refuses one fetch() refuses."""
    from corsgen.fetch import FORBIDDEN_METHODS, normalize_method

    if _token(text, "method", "a method").upper() in FORBIDDEN_METHODS:
        raise RequestRefused("method", f"fetch() refuses {text}")
    return normalize_method(text)


def page_request(
    origin: str, method: str, headers: Sequence[str], credentials: bool
) -> tuple[Request, Pairs]:
    """The request a page at `origin` makes, and the headers its script sets."""
    from corsgen.fetch import unsafe_names

    author = author_headers(headers)
    request = Request(page_origin(origin), fetch_method(method), credentials, unsafe_names(author))
    return request, author


@dataclass(frozen=True)
class Explanation:
    """What `corsgen explain` says, line by line (each still to be escaped when printed)."""

    lines: tuple[str, ...]
    allowed: bool


def _told(result: Trace, heading: str, before: Sequence[str] = ()) -> list[str]:
    """The trace under its heading, `before` the verdict, and "allowed" when it is."""
    return [heading, *lines(result), *before, *(["allowed"] if result.allowed else [])]


def local_network_lines(url: str, origin: str) -> list[str]:
    """What Local Network Access asks before a page at `origin` may reach `url`, in the engines
    that have it, when the URL's host is more private than the page's; nothing otherwise."""
    page = urlsplit(origin)
    space = local_network_request(page.hostname or "", urlsplit(url).hostname or "")
    if space is None:
        return []
    feature = f"{space}-network"
    asking = [ENGINES[e] for e in BROWSERS if ENGINES[e].local_network_access]
    secure_only = [b.title for b in asking if b.local_network_secure_context]
    any_page = [b.title for b in asking if not b.local_network_secure_context]
    silent = [ENGINES[e].title for e in BROWSERS if not ENGINES[e].local_network_access]
    told = [
        f"Local Network Access: {url} is a {space} address, more private than the page's, so "
        f"{' and '.join(b.title for b in asking)} ask the user first (Chrome 142 and later, "
        "Firefox ESR 153):",
        f"  the page needs the user's {feature} permission (a prompt); refused or dismissed, "
        "the request fails before CORS is asked, whatever the server answers",
        f'  fetch(url, {{targetAddressSpace: "{space}"}}) says so in advance'
        + (
            ", and lets an https:// page reach a plain http:// address (mixed content otherwise)"
            if space == "local"
            else ""
        ),
        "  from a cross-origin iframe, only when the embedding page delegates it: "
        f'allow="{feature}" (the Permissions-Policy {feature}; Chrome 142 named it '
        "local-network-access)",
    ]
    if page.scheme == "http" and secure_only:
        told.append(
            f"  in {' and '.join(secure_only)} the permission is for secure contexts only: from "
            "this http:// page the request fails there without a prompt"
            + (f" ({' and '.join(any_page)} asks all the same)" if any_page else "")
            + "; serve the page over https://"
        )
    told.append(
        f"  no Local Network Access in {' or '.join(silent)} yet: CORS alone decides there; "
        "Access-Control-Allow-Private-Network plays no part in any of them"
    )
    return told


def _fixes(result: Trace, plan: Plan) -> list[str]:
    return [f"  {fix}" for fix in fixes(result, plan.any_origin)]


def explain_offline(
    plan: Plan, policy: Path, request: Request, author: Pairs, reads: Sequence[str]
) -> Explanation:
    """The request against corsgen's output for the policy at `policy`, and what to change in it
    when it is blocked."""
    from corsgen.files import shown

    result = offline_trace(plan, request, author, reads)
    heading = f"{shown(policy)}, as corsgen's output answers on a server that keeps every promise:"
    told = _told(result, heading)
    if not result.allowed:
        told += [f"blocked; to allow it, change {shown(policy)}:", *_fixes(result, plan)]
    return Explanation(tuple(told), result.allowed)


def live_trace(
    site: Site,
    path: str,
    request: Request,
    author: Pairs,
    reads: Sequence[str],
    timeout: float,
    verify_tls: bool = True,
) -> Trace:
    """The trace against what the live server at `site` answers on `path`, one request at a
    time; a request that gets no answer is a CorsgenError."""
    from corsgen.probe.client import Client

    with Client(site, timeout, 1, verify_tls) as client:

        def send(method: str, headers: Pairs) -> tuple[int, Pairs]:
            got = client.send(method, path, headers)
            if got.error:
                raise CorsgenError(f"{method} {site.url(path)}: {got.error}")
            return got.status, got.headers

        return trace(request, author, send, reads)


def explain_live(
    site: Site,
    path: str,
    request: Request,
    author: Pairs,
    reads: Sequence[str],
    timeout: float,
    verify_tls: bool = True,
    policy: tuple[Plan, Path] | None = None,
) -> Explanation:
    """The request against the live server; when blocked and given a policy, whether the server
    or the policy is what blocks it."""
    from corsgen.files import shown

    result = live_trace(site, path, request, author, reads, timeout, verify_tls)
    local = local_network_lines(site.origin, request.origin)
    told = _told(result, f"{site.url(path)} answers:", local)
    if result.allowed:
        return Explanation(tuple(told), True)
    if policy is None:
        return Explanation((*told, "blocked"), False)
    plan, where = policy
    offline = offline_trace(plan, request, author, reads)
    if offline.allowed:
        told.append(
            f"blocked, though {shown(where)} allows it: the server does not answer as corsgen's "
            f"output would; probe it with --policy {shown(where)}"
        )
    else:  # the policy's reasons, not the server's
        told += [f"blocked, and {shown(where)} refuses it too; to allow it, change:"]
        told += _fixes(offline, plan)
    return Explanation(tuple(told), False)


def cookie_lines(request: Request, url: str | None, cookies: Sequence[Cookie]) -> list[str]:
    """Whether each engine sends each cookie on this request, and why; with no cookie given,
    what a cookie needs to be sent. `url` None (offline: no API address) is taken as an https
    API on another site than the page, the case where cookies go missing."""
    from corsgen.cookies import missing, same_site, third_party, verdict
    from corsgen.fetch import BROWSERS

    if not request.credentials:
        if not cookies:
            return []
        return [
            "cookies: none sent: the page sends no credentials (--credentials: fetch's 'include')"
        ]
    cross_site = url is None or not same_site(request.origin, url)
    if url is None:
        heading = "the API's address is unknown offline: taken as https on another site than the "
        heading += "page; give --url to know"
    elif cross_site:
        heading = f"{request.origin} and {url} are different sites: a cross-site request"
    else:
        heading = (
            f"{request.origin} and {url} are the same site (one scheme, one registrable domain):"
        )
        heading += " every cookie the browser keeps is sent, whatever its SameSite"
    out = [f"cookies ({heading}):"]
    if not cookies:
        if cross_site:
            out.append(
                "  a cookie comes back cross-site only when set with SameSite=None; Secure (over "
                "https); give --cookie to check one"
            )
            out += [f"  {third_party(engine)}" for engine in BROWSERS]
        return out
    for cookie in cookies:
        out.append(f"  {cookie.shown}:")
        for engine in BROWSERS:
            said = verdict(cookie, engine, request.origin, url)
            title = ENGINES[engine].title
            out.append(f"    {title}: {'sent' if said.sent else 'not sent'}: {said.why}")
        if cross_site and not cookie.expired and (lacks := missing(cookie)):
            out.append(f"    to have it sent cross-site: add {lacks}, and serve it over https")
    if cross_site:  # where a cookie from a login on the API's own site goes missing
        out += [f"  {third_party(e)}" for e in BROWSERS if not ENGINES[e].third_party_cookies]
    return out
