"""One request a page makes, step by step: the preflight when one is needed, the request, and the
browser's verdict on each answer (corsgen.fetch). The answers come from corsgen's output, as the
plan says (`corsgen explain`), or from a live server (`corsgen probe URL --origin`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from corsgen.fetch import (
    SAFELISTED_METHODS,
    Failure,
    Request,
    cors_failure,
    exposed,
    needs_preflight,
    preflight_failure,
    preflight_headers,
)

if TYPE_CHECKING:
    from corsgen.plan import Plan

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
