"""The requests `probe` sends, each with what it stands for: which page asks, and why.

Conformance mode takes its origins from the plan: every exact origin (an even sample of a long
list), samples of each wildcard and regex, and the scanners' hostile variants of the first few,
each expected to be allowed or refused as the plan says. Scan mode builds the variants from the
server's own origin. Nothing is sent here.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from corsgen.fetch import SAFELISTED_METHODS, Request, preflight_headers
from corsgen.plan import Plan
from corsgen.probe.checks import BY_ID
from corsgen.probe.hostile import variants

# What a probe stands for, so the judge knows what its answer must show.
Purpose = Literal[
    "allowed",  # a page at an allowed origin reads the path
    "error",  # ... and an error path
    "preflight",  # ... after a preflight for an allowed method and the allowed headers
    "refused-method",  # a preflight for a method the policy does not list: must fail
    "refused-header",  # a preflight for a header the policy does not list: must fail
    "authorization",  # a preflight for Authorization under a * in allow_headers: for notes only
    "refused",  # a page at a refused origin reads the path
    "refused-preflight",  # ... or asks a preflight
    "no-origin",  # no Origin: not a CORS request, still a cached answer
    "hostile",  # scan mode: a hostile origin reads the path
    "hostile-preflight",  # scan mode: ... or asks a preflight
]

SAMPLED = 50  # exact origins probed in full; a longer list is sampled evenly
VARIED = 5  # exact origins whose hostile variants are probed, besides each pattern's
REFUSED_HEADER = "X-Corsgen-Probe"
SCAN_METHOD = "PUT"  # what a scanner's preflight asks for


@dataclass(frozen=True)
class Probe:
    purpose: Purpose
    method: str
    path: str
    headers: tuple[tuple[str, str], ...]
    request: Request | None = None  # the page's request this answers; None without Origin
    check: str = ""  # scan mode: the check a hostile origin's acceptance proves
    note: str = field(default="", compare=False)  # the variant's kind, for the report


@dataclass(frozen=True)
class Battery:
    probes: tuple[Probe, ...]
    notes: tuple[str, ...]  # what was sampled rather than probed in full


def listed(plan: Plan, key: str) -> tuple[str, ...]:
    """The values of one of the plan's list headers (methods, headers, expose)."""
    return tuple(v for v in (plan.value(key) or "").split(", ") if v)


def credentials(plan: Plan) -> bool:
    return plan.value("credentials") is not None


def wildcard(plan: Plan, key: str) -> bool:
    """Whether the plan's methods or headers allow any name: `*`, which browsers read as a
    wildcard only for a request without credentials (Fetch, CORS-preflight fetch), so no method
    or header is refused."""
    return "*" in listed(plan, key) and not credentials(plan)


def _even(items: Sequence[str], most: int) -> list[str]:
    if len(items) <= most:
        return list(items)
    step = (len(items) - 1) / (most - 1)
    return [items[round(i * step)] for i in range(most)]


def _samples(plan: Plan) -> list[list[str]]:
    """For each wildcard and regex of the plan, origins it allows: the shortest, and another."""
    if not plan.origin_patterns:
        return []
    from corsgen.regex.language import samples  # interegular: only for a plan with patterns

    return [samples(pattern) for pattern in dict.fromkeys(plan.origin_patterns)]


def _preflight(
    purpose: Purpose, origin: str, method: str, names: Sequence[str], creds: bool, note: str = ""
) -> Probe:
    request = Request(origin, method, creds, tuple(names))
    return Probe(purpose, "OPTIONS", "", tuple(preflight_headers(request)), request, note=note)


def _refused_method(plan: Plan) -> str:
    methods = listed(plan, "methods")
    return next((m for m in ("DELETE", "PUT", "PATCH", "PURGE") if m not in methods), "CORSGEN")


def _allowed(plan: Plan, origin: str, creds: bool, first: bool) -> Iterator[Probe]:
    request = Request(origin, "GET", creds)
    actual = (("Origin", origin),)
    yield Probe("allowed", "GET", "", actual, request)
    yield Probe("error", "GET", "", actual, request)
    unsafe = [m for m in listed(plan, "methods") if m not in SAFELISTED_METHODS]
    if not unsafe and not listed(plan, "headers"):
        return  # nothing this policy allows needs a preflight
    ask = _preflight("preflight", origin, (unsafe or ["GET"])[0], listed(plan, "headers"), creds)
    yield ask
    if plan.private_network and first:
        pna = (*ask.headers, ("Access-Control-Request-Private-Network", "true"))
        yield Probe("preflight", "OPTIONS", "", pna, ask.request, note="private network")
    if first and not wildcard(plan, "methods"):
        yield _preflight("refused-method", origin, _refused_method(plan), (), creds)
    if first and not wildcard(plan, "headers"):
        yield _preflight("refused-header", origin, "GET", (REFUSED_HEADER,), creds)
    if first and wildcard(plan, "headers"):
        # Whether the * covers Authorization, where the engines and the standard part (judge.notes):
        # the answer to `ask`, for a header named *, cannot tell a * from the list asked echoed.
        yield _preflight("authorization", origin, "GET", ("Authorization",), creds)


def _refused(origin: str, creds: bool, note: str) -> Iterator[Probe]:
    request = Request(origin, "GET", creds)
    yield Probe("refused", "GET", "", (("Origin", origin),), request, note=note)
    yield _preflight("refused-preflight", origin, SCAN_METHOD, (), creds, note)


def _for_paths(probes: Sequence[Probe], paths: Sequence[str], errors: Sequence[str]) -> list[Probe]:
    return [
        replace(probe, path=path)
        for probe in probes
        for path in (errors if probe.purpose == "error" else paths)
    ]


def conformance(plan: Plan, paths: Sequence[str], errors: Sequence[str]) -> Battery:
    creds = credentials(plan)
    exact = list(plan.exact_origins)
    chosen = _even(exact, SAMPLED)
    notes: tuple[str, ...] = ()
    if len(exact) > SAMPLED:
        notes = (f"{len(chosen)} of {len(exact)} exact origins, evenly sampled",)
    sampled = _samples(plan)
    allowed = list(dict.fromkeys([*chosen, *(s for pattern in sampled for s in pattern)]))
    # The hostile variants of a few exact origins and of one sample of every pattern.
    varied = [*chosen[:VARIED], *(pattern[0] for pattern in sampled if pattern)]
    if plan.any_origin:
        allowed = varied = ["https://corsgen-probe.example"]
    probes = [Probe("no-origin", "GET", "", ())]
    for index, origin in enumerate(allowed):
        probes += list(_allowed(plan, origin, creds, first=index == 0))
    # Each variant with its kind (prefix-match, ...) for the report.
    hostile = {
        o: BY_ID[kind].slug if kind else "another port, or upper case"
        for a in varied
        for kind, o in variants(a)
        if o not in allowed
    }
    for origin, kind in hostile.items():
        if plan.allows(origin):  # a variant the policy means to allow is an allowed origin
            probes += [p for p in _allowed(plan, origin, creds, False) if p.purpose == "allowed"]
        else:
            probes += list(_refused(origin, creds, kind))
    return Battery(tuple(_for_paths(probes, paths, errors)), notes)


def scan(site: str, paths: Sequence[str], errors: Sequence[str]) -> Battery:
    """The scanners' questions, built from the server's own origin `site`."""
    own = Request(site, "GET")
    probes = [
        Probe("no-origin", "GET", "", ()),
        Probe("hostile", "GET", "", (("Origin", site),), own, note="the site's own origin"),
        Probe("error", "GET", "", (("Origin", site),), own),
    ]
    for check, origin in variants(site):
        if not check:
            continue
        request = Request(origin, "GET")
        probes.append(Probe("hostile", "GET", "", (("Origin", origin),), request, check))
        probes.append(Probe("error", "GET", "", (("Origin", origin),), request, check))
        if check == "PR101":
            ask = _preflight("hostile-preflight", origin, SCAN_METHOD, (REFUSED_HEADER,), False)
            probes.append(replace(ask, check=check))
    return Battery(tuple(_for_paths(probes, paths, errors)), ())
