"""One request a page makes, step by step: the preflight when one is needed, the request, and
each engine's and the Fetch standard's verdict on each answer (corsgen.fetch.ENGINES), with every
reason it is blocked and every policy key to change. The answers come from corsgen's output, as
the plan says (`corsgen explain POLICY`), or from a live server (`corsgen explain --url URL`).
What is said is built from sections (Explanation), so that a caller may add one of its own.

The request is described as a user writes it (an origin, a method, headers, what the script
reads) and refused here, with the part that says it, when fetch() would never send it."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

from corsgen.errors import CorsgenError, clip
from corsgen.fetch import (
    BROWSERS,
    DEFAULT_MAX_AGE,
    ENGINES,
    SAFELISTED_METHODS,
    Engine,
    Failure,
    Request,
    cors_failure,
    exposed,
    header_value,
    local_network_request,
    max_age,
    needs_preflight,
    preflight_failures,
    preflight_headers,
    preflight_seconds,
    who,
)

if TYPE_CHECKING:
    from corsgen.cookies import Cookie
    from corsgen.plan import Plan
    from corsgen.probe.client import Site

Pairs = list[tuple[str, str]]
# Sends one request (method, headers) and returns the status and the response headers.
Send = Callable[[str, Pairs], tuple[int, Pairs]]
# Each engine's verdict on one answer: every reason it refuses it, none when it passes.
Verdicts = Mapping[Engine, tuple[Failure, ...]]
# Methods explain sends a live server after a preflight no browser passes, to say what the request
# would meet once it passes: only those that change nothing on the server (RFC 9110 §9.2.1).
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# What to change in the policy for each way a request fails: the key, and how. `{subjects}` are
# the refused methods or headers, quoted, `{origin}` the page's origin. One line per key.
FIXES = {
    "origin": ("allow_origins", 'add "{origin}", or a wildcard or allow_origin_regex matching it'),
    "credentials": ("allow_credentials", "set it to true, or have the page send no credentials"),
    "any-credentials": (
        "allow_origins",
        'list "{origin}" instead of "*" and set allow_credentials = true: a browser never lets '
        "a page read a credentialed answer to *",
    ),
    # Origin null, which no policy may list (CG102), in place of the two above.
    "null-origin": (
        "allow_origins",
        "cannot allow null: every sandboxed frame, data: and file: page sends it (CG102); serve "
        "the page from a real https:// origin and add that",
    ),
    "method": ("allow_methods", "add {subjects}"),
    "header": ("allow_headers", "add {subjects}"),
    "exposed": ("expose_headers", "add {subjects}"),
}


@dataclass(frozen=True)
class Exchange:
    """One request sent and the answer to it, with each engine's verdict on it."""

    method: str
    sent: Pairs
    status: int
    received: Pairs
    verdicts: Verdicts

    @property
    def failure(self) -> Failure | None:
        """The first reason the Fetch standard refuses the answer, None when it passes."""
        return next(iter(self.verdicts["spec"]), None)


def _same_everywhere(failure: Failure | None) -> Verdicts:
    """The verdict of a check every engine runs as the standard does (the CORS check)."""
    return {engine: () if failure is None else (failure,) for engine in ENGINES}


@dataclass(frozen=True)
class Trace:
    """The requests a browser sends for `request` and the answers. After a preflight that fails
    somewhere the request is still sent where it is safe to (`trace`), so that a trace says what
    it would meet once the preflight passes."""

    request: Request
    exchanges: tuple[Exchange, ...]  # the preflight first, when one is needed
    unreadable: tuple[str, ...]  # response headers the script asked for but may not read
    reads: tuple[str, ...] = ()  # every response header the script reads

    @property
    def preflighted(self) -> bool:
        return needs_preflight(self.request)

    @property
    def sent(self) -> bool:
        """Whether the request itself was sent (not only its preflight)."""
        return len(self.exchanges) > self.preflighted

    def failures(self, engine: Engine) -> tuple[Failure, ...]:
        return tuple(f for exchange in self.exchanges for f in exchange.verdicts[engine])

    @property
    def failure(self) -> Failure | None:
        """What the Fetch standard refuses first: the browser's verdict on the request."""
        return next(iter(self.failures("spec")), None)

    def allowed_in(self, engine: Engine) -> bool:
        return self.sent and not self.failures(engine) and not self.unreadable

    @property
    def allowed(self) -> bool:
        """Allowed in every engine and by the standard."""
        return all(self.allowed_in(engine) for engine in ENGINES)


def trace(
    request: Request, author: Pairs, send: Send, reads: Sequence[str] = (), onward: bool = False
) -> Trace:
    """What a browser does for `request`, asking `send` for each answer. After a preflight no
    engine passes the request is sent only when `onward` (to say what it would meet once the
    preflight passes)."""
    exchanges: list[Exchange] = []
    if needs_preflight(request):
        sent = preflight_headers(request)
        status, got = send("OPTIONS", sent)
        verdicts = {e: tuple(preflight_failures(request, got, status, e)) for e in ENGINES}
        exchanges.append(Exchange("OPTIONS", sent, status, got, verdicts))
        if not onward and all(verdicts[e] for e in ENGINES):
            return Trace(request, tuple(exchanges), (), tuple(reads))
    sent = [("Origin", request.origin), *author]
    status, got = send(request.method, sent)
    failure = cors_failure(request, got)
    exchanges.append(Exchange(request.method, sent, status, got, _same_everywhere(failure)))
    unreadable: tuple[str, ...] = ()
    # Once credentials are allowed, the answer's list is what the script may read; an answer to
    # a refused origin lists nothing for it.
    if failure is None or failure.kind == "credentials":
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


def max_age_note(headers: Pairs) -> str:
    """What a passed preflight's Access-Control-Max-Age comes to, when it is not what it says:
    not a number (5 s, as none), or capped by an engine, with how long each keeps it; "" when
    every engine keeps it as long as it says."""
    sent = header_value(headers, "Access-Control-Max-Age")
    if sent is not None and max_age(headers) is None:
        return (
            f"{clip(sent)!r} is not a number of seconds, so it counts as none: the preflight is "
            f"kept {DEFAULT_MAX_AGE} s; send digits only"
        )
    asked = preflight_seconds(headers, "spec")  # the standard caps nothing
    kept: dict[int, list[Engine]] = {}
    for engine in BROWSERS:
        kept.setdefault(preflight_seconds(headers, engine), []).append(engine)
    if min(kept) >= asked:
        return ""
    each = ", ".join(f"{seconds:,} s in {who(group)}" for seconds, group in sorted(kept.items()))
    # As sent: 5,000 digits clipped.
    return f"{clip((sent or '').lstrip('0'))} is capped: the preflight is kept {each}"


def _verdict_lines(exchange: Exchange) -> list[str]:
    """The engines grouped by verdict: one line when they all agree."""
    groups: dict[tuple[str, ...], list[Engine]] = {}
    for engine, failures in exchange.verdicts.items():
        groups.setdefault(tuple(f.why for f in failures), []).append(engine)
    out = []
    for whys, engines in groups.items():
        verdict = "passes" if not whys else f"blocks it: {'; '.join(whys)}"
        out.append(f"     {who(engines)}: {verdict}")
    return out


def lines(trace: Trace) -> list[str]:
    """The trace for people: each request, its answer and each engine's verdict."""
    request = trace.request
    credentials = "with credentials" if request.credentials else "without credentials"
    out = [f"{request.method} from {request.origin}, {credentials}"]
    if not trace.preflighted:
        out.append("  no preflight: a GET, HEAD or POST with safelisted headers only")
    # What the verdict reads: the CORS headers, Vary, and what the script asks for.
    wanted = {name.lower() for name in trace.reads}
    refused = trace.preflighted and any(trace.exchanges[0].verdicts.values())
    for step, exchange in enumerate(trace.exchanges, 1):
        # The preflight is the first exchange when there is one; a script's own OPTIONS is not.
        first = trace.preflighted and step == 1
        kind = f"preflight ({_why_preflight(request)})" if first else "request"
        if refused and not first:
            kind = "request, once the preflight passes"
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
        out += _verdict_lines(exchange)
        if (
            first
            and any(not exchange.verdicts[e] for e in BROWSERS)
            and (note := max_age_note(exchange.received))
        ):
            out.append(f"     cached: Max-Age {note}")
    if not trace.sent:
        out.append(
            f"  2. request: {request.method} not sent: no engine sends it after this preflight, "
            f"and explain sends a live server no {request.method} a browser would not"
        )
    elif not trace.exchanges[-1].failure:
        last = trace.exchanges[-1]
        readable = sorted(exposed(last.received, request.credentials))
        out.append(f"  the script reads the answer, status {last.status}")
        if readable:
            out.append(f"  and these headers of it: {', '.join(readable)}")
    for name in trace.unreadable:
        out.append(f"  the script cannot read {name}: it is not in Access-Control-Expose-Headers")
    return out


def disagreement(trace: Trace) -> list[str]:
    """Where the engines and the standard part: who allows the request today and who does not,
    and which engines can be switched to the standard's rule."""
    spec = trace.allowed_in("spec")
    parting = [e for e in BROWSERS if trace.allowed_in(e) != spec]
    if not parting:
        return []
    if spec:
        return [f"{who(parting)} block this today; {ENGINES['spec'].title} does not"]
    verb = "allow" if len(parting) > 1 else "allows"
    said = f"{who(parting)} {verb} this today; {ENGINES['spec'].title} does not"
    # An engine passes what the standard refuses only under `*` in Allow-Headers with
    # Authorization (Behaviour.star_covers_authorization), which some engines can be switched off.
    switchable = [e for e in parting if ENGINES[e].strict_authorization]
    if switchable:
        said += f", and {who(switchable)} can be switched to it"
    return [said, *(f"  {ENGINES[e].title}: {ENGINES[e].strict_authorization}" for e in switchable)]


def verdict(trace: Trace) -> list[str]:
    """The last word on the request: "allowed" when every engine and the standard allow it."""
    if trace.allowed:
        return ["allowed"]
    return disagreement(trace)


def _subject(kind: str, subject: str) -> str:
    """The subject as a key compares it: header names ignore case, methods do not."""
    return subject if kind == "method" else subject.lower()


# The lists whose "*" credentials make literal, and their roles in the plan (plan.Header.role).
_STARRED = {"method": "methods", "header": "headers", "exposed": "expose"}
STAR_WITH_CREDENTIALS = 'remove "*", which credentials make literal'


def fixes(trace: Trace, plan: Plan) -> list[str]:
    """Which policy key to change, and how, for every reason the request fails in any engine or
    under the standard: one line per key, with every subject."""
    subjects: dict[str, dict[str, str]] = {}  # a key of FIXES: its subjects, once each
    failures = [f for engine in ENGINES for f in trace.failures(engine)]
    for failure in failures:
        if failure.kind not in FIXES:  # a status or a list that does not parse: not the policy's
            continue
        any_credentials = failure.kind == "credentials" and plan.any_origin
        kind: str = "any-credentials" if any_credentials else failure.kind
        if kind in ("origin", "any-credentials") and trace.request.origin == "null":
            kind = "null-origin"
        subjects.setdefault(kind, {}).setdefault(_subject(kind, failure.subject), failure.subject)
    for name in trace.unreadable:
        subjects.setdefault("exposed", {}).setdefault(name.lower(), name)
    # Credentials turned on make a "*" in a list literal, and a policy with both is refused.
    crediting = {"credentials", "any-credentials"} & subjects.keys()
    out = []
    for kind, (key, how) in FIXES.items():  # the origin first, the exposed headers last
        quoted = ", ".join(f'"{s}"' for s in subjects.get(kind, {}).values())
        said = [how.format(origin=trace.request.origin, subjects=quoted)] * (kind in subjects)
        listed = (plan.value(_STARRED[kind]) or "").split(", ") if kind in _STARRED else []
        said += [STAR_WITH_CREDENTIALS] * bool(crediting and "*" in listed)
        if said:
            out.append(f"{key}: " + "; ".join(said))
    return out


def offline_trace(plan: Plan, request: Request, author: Pairs, reads: Sequence[str]) -> Trace:
    """The trace against what corsgen's output for `plan` answers (corsgen.promise). The
    application is taken to send every header the script reads: the verdict is about exposure."""
    from corsgen.promise import promised_answer

    app = [(name, "…") for name in reads]

    def send(method: str, headers: Pairs) -> tuple[int, Pairs]:
        return promised_answer(plan, method, headers, app)

    return trace(request, author, send, reads, onward=True)


def with_origin(plan: Plan, origin: str) -> Plan:
    """The plan once allow_origins lists `origin`: what the fix for a refused origin gives."""
    from dataclasses import replace

    return replace(plan, exact_origins=(*plan.exact_origins, origin))


def _refused_origin(trace: Trace) -> bool:
    return any(f.kind == "origin" for f in trace.failures("spec"))


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
class Section:
    """One part of what `corsgen explain` says, line by line (each still to be escaped when
    printed); `allowed` is False when what it says blocks the request."""

    lines: tuple[str, ...]
    allowed: bool = True


@dataclass(frozen=True)
class Explanation:
    """What `corsgen explain` says: its sections in order (the trace, the verdict, the fixes);
    a caller may append one of its own."""

    sections: tuple[Section, ...]

    @property
    def lines(self) -> tuple[str, ...]:
        return tuple(line for section in self.sections for line in section.lines)

    @property
    def allowed(self) -> bool:
        return all(section.allowed for section in self.sections)


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


def local_network_refusal(url: str, origin: str) -> str:
    """The verdict when Local Network Access refuses the request whatever the server answers: a
    page that is not a secure context (http://) gets no prompt, and the request fails; "" when
    it does not."""
    space = local_network_request(urlsplit(origin).hostname or "", urlsplit(url).hostname or "")
    if space is None or urlsplit(origin).scheme != "http":
        return ""
    refusing = [e for e in BROWSERS if ENGINES[e].local_network_secure_context]
    if not refusing:
        return ""
    asking = [e for e in BROWSERS if ENGINES[e].local_network_access and e not in refusing]
    cors = [e for e in ENGINES if not ENGINES[e].local_network_access]
    return (
        f"blocked in {who(refusing)}: Local Network Access refuses a request from an http:// page "
        f"to a {space} address, without a prompt"
        + (f"; {who(asking)} asks the user" if asking else "")
        + f"; {who(cors)} leave it to CORS"
    )


def _told(result: Trace, heading: str, before: Sequence[str] = (), refusal: str = "") -> Section:
    """The trace under its heading, `before` the verdict, and the verdict: `refusal` when the
    answers would let the request through, and it is refused before they count."""
    if refusal and result.allowed:
        return Section((heading, *lines(result), *before, refusal), False)
    return Section((heading, *lines(result), *before, *verdict(result)), result.allowed)


def policy_fixes(plan: Plan, result: Trace, author: Pairs, heading: str) -> tuple[Section, ...]:
    """Every change to the policy the request needs, `result` being its trace against the
    policy; when the policy refuses its origin, also what the request meets once it is allowed
    (an answer to a refused origin shows nothing else) if it is still blocked then."""
    told = [f"  {fix}" for fix in fixes(result, plan)]
    request, onward = result.request, None
    if _refused_origin(result):
        onward = offline_trace(with_origin(plan, request.origin), request, author, result.reads)
        told += [f"  {fix}" for fix in fixes(onward, plan)]
    fixed = Section((heading, *told), False)
    if onward is None or onward.allowed:
        return (fixed,)
    then = f"with {request.origin} allowed, corsgen's output answers:"
    return (Section((then, *lines(onward))), fixed)


def explain_offline(
    plan: Plan, policy: Path, request: Request, author: Pairs, reads: Sequence[str]
) -> Explanation:
    """The request against corsgen's output for the policy at `policy`, and every change to it
    the request needs when it is blocked in any engine or under the standard."""
    from corsgen.files import shown

    result = offline_trace(plan, request, author, reads)
    heading = f"{shown(policy)}, as corsgen's output answers on a server that keeps every promise:"
    told = [_told(result, heading)]
    if not result.allowed:
        told += policy_fixes(plan, result, author, f"blocked; to allow it, change {shown(policy)}:")
    return Explanation(tuple(told))


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

        return trace(request, author, send, reads, onward=request.method in SAFE_METHODS)


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
    refusal = local_network_refusal(site.origin, request.origin)
    told = [_told(result, f"{site.url(path)} answers:", local, refusal)]
    if result.allowed:  # by the server's answers: Local Network Access may still refuse it
        return Explanation(tuple(told))
    if policy is None:
        return Explanation((*told, Section(("blocked",), False)))
    plan, where = policy
    offline = offline_trace(plan, request, author, reads)
    if offline.allowed:
        said = (
            f"blocked, though {shown(where)} allows it: the server does not answer as corsgen's "
            f"output would; probe it with --policy {shown(where)}"
        )
        return Explanation((*told, Section((said,), False)))
    # The policy's reasons, not the server's.
    said = f"blocked, and {shown(where)} refuses it too; to allow it, change:"
    return Explanation((*told, *policy_fixes(plan, offline, author, said)))


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
