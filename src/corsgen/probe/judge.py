"""Each answer, judged by corsgen.fetch against what its probe stands for: findings.

In conformance mode the plan says which origins may read and what the preflight answers; in scan
mode an answer is a finding when a hostile origin may read it. Either way Vary, duplicates and
error answers are held to the same bar as on corsgen's own output.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace

from corsgen.cookies import CookieError, parse, same_site, verdict
from corsgen.explain import max_age_note
from corsgen.fetch import (
    BROWSERS,
    ENGINES,
    Request,
    cors_failure,
    header_value,
    preflight_failure,
    token_list,
    vary_tokens,
    who,
)
from corsgen.plan import ACAO, ACAPN, OWNED, Plan
from corsgen.probe.battery import Probe, credentials, listed
from corsgen.probe.checks import BY_ID, PRIVATE_NETWORK_OBSOLETE, Check, Severity
from corsgen.probe.client import Answer

AUTH_STATUSES = (401, 403, 407)
_OWNED = {name.lower() for name in OWNED}


@dataclass(frozen=True)
class Fault:
    """One answer that fails a check: a finding of the report (rule findings are errors.py's)."""

    check: Check
    severity: Severity
    summary: str  # this answer's failure, in a line
    probe: Probe
    answer: Answer
    browser: str  # what the browser does with the answer


def _reads(origin: str, headers: Sequence[tuple[str, str]], credentials: bool) -> bool:
    return cors_failure(Request(origin, credentials=credentials), headers) is None


def _verdict(probe: Probe, answer: Answer) -> str:
    """What the browser does with this answer for the page's request."""
    request = probe.request
    if request is None:
        return "not a CORS request"
    if probe.method == "OPTIONS":
        failure = preflight_failure(request, answer.headers, answer.status)
    else:
        failure = cors_failure(request, answer.headers)
    with_ = " with credentials" * request.credentials
    return f"blocks it: {failure.why}" if failure else f"lets the page read it{with_}"


def _fault(check_id: str, summary: str, probe: Probe, answer: Answer) -> Fault:
    """A finding, its severity raised when the answer also lets the user's cookies through."""
    check = BY_ID[check_id]
    request = probe.request
    creds = request is not None and _reads(request.origin, answer.headers, True)
    severity = check.severity_with(creds)
    return Fault(check, severity, summary, probe, answer, _verdict(probe, answer))


def _duplicates(answer: Answer) -> list[str]:
    counts = Counter(name.lower() for name, _ in answer.headers if name.lower() in _OWNED)
    return [name for name, count in counts.items() if count > 1]


def _common(probe: Probe, answer: Answer, vary: bool) -> Iterator[tuple[str, str]]:
    if repeated := _duplicates(answer):
        yield "PR010", f"{', '.join(repeated)} sent more than once"
    # Vary: Origin keeps an HTTP cache from serving one origin's answer to another. A preflight's
    # answer needs none: no HTTP cache stores an OPTIONS answer (RFC 9110, 9.3.7), and the
    # browser's preflight cache is keyed by origin already (Fetch, #cors-preflight-cache).
    if vary and probe.method != "OPTIONS" and "origin" not in vary_tokens(answer.headers):
        yield "PR009", f"no Vary: Origin (Vary: {header_value(answer.headers, 'Vary') or 'absent'})"


def _preflight_differs(plan: Plan, probe: Probe, answer: Answer) -> list[str]:
    """How a preflight that passes differs from the plan's answer."""
    out = []
    if answer.status != plan.preflight_status:
        out.append(f"status {answer.status}, not {plan.preflight_status}")
    for key, name, fold in (
        ("methods", "Access-Control-Allow-Methods", False),
        ("headers", "Access-Control-Allow-Headers", True),
    ):
        got = token_list(answer.headers, name) or []
        want = listed(plan, key)
        if fold:  # header names are compared case-insensitively, methods byte for byte
            got, want = [v.lower() for v in got], tuple(v.lower() for v in want)
        if set(got) != set(want):
            out.append(f"{name}: {', '.join(got) or 'absent'}")
    if header_value(answer.headers, "Access-Control-Max-Age") != plan.value("max_age"):
        out.append(
            f"Access-Control-Max-Age: {header_value(answer.headers, 'Access-Control-Max-Age')}"
        )
    # What a policy that keeps allow_private_network promises old clients, held like its lists.
    asked = header_value(probe.headers, "Access-Control-Request-Private-Network") == "true"
    if asked and header_value(answer.headers, ACAPN) != "true":
        out.append(f"no {ACAPN}: true")
    return out


def _conformance_one(
    plan: Plan, probe: Probe, answer: Answer, dependent: bool
) -> Iterator[tuple[str, str]]:
    yield from _common(probe, answer, plan.vary_origin and dependent)
    request = probe.request
    if request is None:
        return
    origin = request.origin
    kind = f" ({probe.note})" if probe.note else ""
    if not credentials(plan) and _reads(origin, answer.headers, True):
        yield "PR011", f"{origin} reads a {answer.status} with credentials"
    if probe.purpose in ("allowed", "error"):
        if (failure := cors_failure(request, answer.headers)) is not None:
            code = "PR001" if probe.purpose == "allowed" else "PR002"
            yield code, f"{origin} cannot read a {answer.status}: {failure.why}"
    elif probe.purpose == "preflight":
        if (failure := preflight_failure(request, answer.headers, answer.status)) is not None:
            code = "PR004" if answer.status in AUTH_STATUSES else "PR003"
            yield code, f"{origin}'s preflight for {request.method} fails: {failure.why}"
        elif differs := _preflight_differs(plan, probe, answer):
            yield "PR005", f"{origin}'s preflight: {'; '.join(differs)}"
    elif probe.purpose in ("refused-method", "refused-header"):
        if preflight_failure(request, answer.headers, answer.status) is None:
            asked = request.author_headers[0] if request.author_headers else request.method
            yield "PR008", f"a preflight for {asked}, which the policy does not allow, passes"
    elif probe.purpose in ("refused", "refused-preflight"):
        if probe.purpose == "refused" and _reads(origin, answer.headers, False):
            yield "PR006", f"{origin}{kind} can read a {answer.status}"
        elif (
            probe.purpose == "refused-preflight"
            and preflight_failure(
                replace(request, credentials=False), answer.headers, answer.status
            )
            is None
        ):
            yield "PR006", f"{origin}{kind}: its preflight passes"
        elif owned := _given(origin, answer):
            yield "PR007", f"{origin}{kind} gets {', '.join(owned)}"


def _given(origin: str, refused: Answer) -> list[str]:
    """The CORS headers a refused origin gets, but an Allow-Origin that names another origin: as
    browsers read it, that refuses this one (Fetch asks a static origin to go on every answer)."""
    other = {(ACAO.lower(), v) for _, v in refused.headers if v not in ("*", origin)}
    return sorted(
        {n for n, v in refused.headers if n.lower() in _OWNED and (n.lower(), v) not in other}
    )


def conformance(plan: Plan, probes: Sequence[Probe], answers: Sequence[Answer]) -> list[Fault]:
    pairs = list(zip(probes, answers, strict=True))
    dependent = _dependent(pairs)
    return [
        _fault(code, summary, probe, answer)
        for probe, answer in pairs
        for code, summary in _conformance_one(plan, probe, answer, _asked(probe) in dependent)
    ]


# The cookies one answer is faulted for at most: a browser keeps about 180 per site, and each
# finding repeats the answer (2,000 Set-Cookie lines made a 360 MB JSON report).
COOKIES_TOLD = 20


def cookies(
    url: Callable[[str], str], probes: Sequence[Probe], answers: Sequence[Answer]
) -> list[Fault]:
    """Each cookie an allowed origin's credentialed answer sets that some browser will not send
    back on the page's next request (corsgen.cookies), once per cookie and for COOKIES_TOLD
    cookies of an answer at most: PR013 when no browser sends it, PR014 when some do. Only names
    and attributes are told, never a value."""
    seen = set()
    out: list[Fault] = []
    for probe, answer in zip(probes, answers, strict=True):
        request, api = probe.request, url(probe.path)
        if request is None or probe.purpose not in ("allowed", "error"):
            continue
        if same_site(request.origin, api) or not _reads(request.origin, answer.headers, True):
            continue
        told = len(out)
        for name, value in answer.headers:
            if len(out) - told == COOKIES_TOLD:  # each finding shows the answer's headers again
                break
            try:
                cookie = parse(value) if name.lower() == "set-cookie" else None
            except CookieError:  # ignored by every browser: nothing to send back either way
                continue
            if cookie is None or cookie.expired or cookie in seen:  # a deletion asks no return
                continue
            said = {e: verdict(cookie, e, request.origin, api) for e in BROWSERS}
            left = [f"{ENGINES[e].title}: {v.why}" for e, v in said.items() if not v.sent]
            if left:
                seen.add(cookie)
                code = "PR013" if len(left) == len(BROWSERS) else "PR014"
                out.append(_fault(code, f"{cookie.shown}: {'; '.join(left)}", probe, answer))
    return out


def _asked(probe: Probe) -> tuple[str, str]:
    return probe.method, probe.path


def _dependent(pairs: Sequence[tuple[Probe, Answer]]) -> set[tuple[str, str]]:
    """The requests (method and path) whose answers' CORS headers differ from one Origin to
    another, or none: only an answer that depends on Origin needs Vary: Origin (Fetch,
    #cors-protocol-and-http-caches: a static * or one static origin goes on every answer
    without it), refusals and answers to no Origin included."""
    seen: dict[tuple[str, str], set[tuple[tuple[str, str], ...]]] = {}
    for probe, answer in pairs:
        cors = tuple(sorted((n.lower(), v) for n, v in answer.headers if n.lower() in _OWNED))
        seen.setdefault(_asked(probe), set()).add(cors)
    return {asked for asked, answers in seen.items() if len(answers) > 1}


def _acao(answer: Answer) -> str | None:
    return header_value(answer.headers, "Access-Control-Allow-Origin")


def _scan_one(
    probe: Probe, answer: Answer, dependent: bool, readable: set[str]
) -> Iterator[tuple[str, str]]:
    yield from _common(probe, answer, dependent)
    acao = _acao(answer)
    if acao == "*" and header_value(answer.headers, "Access-Control-Allow-Credentials") == "true":
        yield "PR111", "Access-Control-Allow-Origin * with credentials"
    request = probe.request
    if request is None:
        return
    origin = request.origin
    if (
        probe.purpose == "error"
        and origin in readable
        and not _reads(origin, answer.headers, False)
    ):
        yield "PR002", f"{origin} reads the path, not a {answer.status} error"
    if not probe.check or acao in (None, "*"):  # a static * is for everyone, and meant so
        return
    if probe.purpose == "hostile" and _reads(origin, answer.headers, False):
        yield probe.check, f"{origin} can read a {answer.status}"
    passes = preflight_failure(request, answer.headers, answer.status) is None
    if probe.purpose == "hostile-preflight" and passes:
        yield probe.check, f"{origin}: its preflight for {request.method} passes"


def scan(probes: Sequence[Probe], answers: Sequence[Answer]) -> list[Fault]:
    pairs = list(zip(probes, answers, strict=True))
    dependent = _dependent(pairs)
    readable = {
        p.request.origin
        for p, a in pairs
        if p.purpose == "hostile" and p.request and _reads(p.request.origin, a.headers, False)
    }
    return [
        _fault(code, summary, probe, answer)
        for probe, answer in pairs
        for code, summary in _scan_one(probe, answer, _asked(probe) in dependent, readable)
    ]


def checks_run(probes: Sequence[Probe], plan: Plan | None) -> list[str]:
    """The checks a battery exercised, in the table's order."""
    purposes = {p.purpose for p in probes}
    if plan is None:
        ran = {p.check for p in probes if p.check} | {"PR002", "PR009", "PR010", "PR111"}
    else:
        by_purpose = {
            "allowed": ("PR001",),
            "error": ("PR002",),
            "preflight": ("PR003", "PR004", "PR005"),
            "refused-method": ("PR008",),
            "refused-header": ("PR008",),
            "refused": ("PR006", "PR007"),
            "refused-preflight": ("PR006", "PR007"),
        }
        ran = {c for purpose in purposes for c in by_purpose.get(purpose, ())} | {"PR010"}
        if not credentials(plan):
            ran.add("PR011")
        elif purposes & {"allowed", "error"}:
            ran |= {"PR013", "PR014"}
        if plan.vary_origin:
            ran.add("PR009")
    return [check for check in BY_ID if check in ran]


def notes(probes: Sequence[Probe], answers: Sequence[Answer]) -> list[str]:
    """What the answers show that fails no check but is worth a line, once each: the obsolete
    Access-Control-Allow-Private-Network, and where the engines part on the answers to
    preflights: the Authorization header under Access-Control-Allow-Headers: * (the only verdict
    that differs from one engine to another, corsgen.fetch.ENGINES), and a Max-Age an engine
    caps."""
    notes: dict[str, None] = {}
    if any(header_value(answer.headers, ACAPN) is not None for answer in answers):
        notes[PRIVATE_NETWORK_OBSOLETE] = None
    for probe, answer in zip(probes, answers, strict=True):
        request = probe.request
        if probe.method != "OPTIONS" or request is None:
            continue
        if not any(
            preflight_failure(request, answer.headers, answer.status, e) is None for e in BROWSERS
        ):
            continue  # no engine keeps a preflight it refuses, nor sends the request
        if "*" not in request.author_headers:  # the answer to * may be it echoed: no * at all
            notes.update(dict.fromkeys(_authorization(request, answer)))
        if kept := max_age_note(answer.headers):
            notes[f"Access-Control-Max-Age: {kept}"] = None
    return list(notes)


def _authorization(request: Request, answer: Answer) -> Iterator[str]:
    """Whether the engines and the standard part on this answer, were Authorization asked too."""
    names = (*request.author_headers, "Authorization")
    asked = replace(request, author_headers=tuple(dict.fromkeys(names)))
    passing = {
        e: preflight_failure(asked, answer.headers, answer.status, e) is None for e in ENGINES
    }
    if len(set(passing.values())) > 1:
        let = [e for e in BROWSERS if passing[e]]
        value = header_value(answer.headers, "Access-Control-Allow-Headers")
        yield (
            f"Access-Control-Allow-Headers: {value} lets Authorization through in {who(let)} "
            f"today, not under {ENGINES['spec'].title}: list Authorization if clients send it"
        )
