"""Three real browser engines against corsgen's output on real servers.

Chromium, Firefox ESR and WebKitGTK (testing/engines.py) each load a page from an origin the
policy allows, or from one it does not, and call fetch() on every build of every target serving
each of POLICIES. Each case says by hand what the policy means for its request, in the
Fetch standard and, where an engine departs from it, in that engine; the engine must do that, and
corsgen.fetch, the model the other tests judge by, must reach that engine's verdict from the same
server's raw answers. So must `explain --url` for that engine, in its verdict and in where it says
the engines and the standard part, and `probe --policy`'s notes on the same server must name the
engines that let Authorization through under * and those that cap a Max-Age.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Literal

import pytest

from corsgen.explain import Trace, disagreement, live_trace
from corsgen.fetch import (
    ENGINES,
    Request,
    cors_check,
    exposed,
    header_value,
    needs_preflight,
    preflight_headers,
    preflight_ok,
    preflight_seconds,
    unsafe_names,
    who,
)
from corsgen.plan import Plan
from corsgen.probe.client import Site
from corsgen.probe.run import Limits, build, run
from testing.client import Page, send
from testing.engines import NAMES, Engine, EngineName, strict
from testing.servers import Endpoint, serving, servings, unchecked_plan
from testing.tally import Tally
from testing.upstream import Upstream
from testing.verdicts import Verdicts

pytestmark = [pytest.mark.conformance, pytest.mark.browser]

# Every build of every registered target (nginx, Apache, both Caddys, ...), in its default context.
KINDS = tuple(kind for serving in servings().values() for kind in serving.kinds())
MAX_AGE = 2  # seconds: "cached"'s, short enough to wait out, far within every engine's cap
OVER_CAPS = 86401  # seconds: "capped"'s, over every engine's cap (Firefox's 86400 the longest)
# Each policy a server serves, on a port of its own. No max_age in "credentialed": an engine then
# caches a preflight for 5 s only, and every case's URL is its own (see add_case), so no case rides
# on another's preflight. "star" has no credentials, where a * in allow_headers means "any header";
# "cached" and "capped" are MaxAge's.
POLICIES = {
    "credentialed": """\
allow_origins = ["{allowed}"]
allow_methods = ["GET", "HEAD", "POST", "PUT"]
allow_headers = ["X-Custom"]
expose_headers = ["ETag"]
allow_credentials = true
""",
    "star": """\
allow_origins = ["{allowed}"]
allow_methods = ["GET"]
allow_headers = ["*"]
""",
    **{
        policy: f"""\
allow_origins = ["{{allowed}}"]
allow_methods = ["PUT"]
allow_headers = ["X-Custom"]
max_age = {seconds}
"""
        for policy, seconds in (("cached", MAX_AGE), ("capped", OVER_CAPS))
    },
}
TIMEOUT = 10.0  # seconds: explain's and probe's for each request, as the CLI's --timeout
BLOCKED = None  # the status of a fetch that rejects with a TypeError: the script reads nothing
Judged = Literal["spec"] | EngineName  # whose rules a verdict is by: the standard or an engine
# One case for Verdicts.add: its name, the verdict observed, the verdict expected, a note.
Noted = tuple[str, dict[str, object], dict[str, object], str]


@dataclass(frozen=True)
class Case:
    """A fetch() from one of the pages, and what its policy means for it, written by hand."""

    name: str
    page: Page
    method: str
    path: str  # the upstream answers /ok with 200 and /error with 500
    status: int | None  # what the script reads by the Fetch standard, or BLOCKED
    headers: tuple[tuple[str, str], ...] = ()  # set by the script
    visible: tuple[str, ...] = ()  # response headers the script can read
    hidden: tuple[str, ...] = ()  # and some it must not: response.headers.get() gives null
    policy: str = "credentialed"  # which of POLICIES answers it
    credentials: bool = True  # credentials: "include", as a page of a credentialed API does
    # What an engine does where it departs from the standard, as measured (corsgen.fetch.ENGINES).
    engines: Mapping[EngineName, int | None] = field(default_factory=dict)


CUSTOM = (("X-Custom", "1"),)
# MaxAge's fetch: leaving the HTTP cache as it is (see in_engine) lets the preflight cache work.
CACHEABLE = {"method": "PUT", "headers": dict(CUSTOM)}
# With cache: "no-store", Chromium and Firefox preflight again inside Max-Age; WebKit does not.
NO_STORE_PREFLIGHTS: dict[EngineName, int] = {"chromium": 1, "firefox": 1, "webkit": 0}
CASES = (
    Case("credentialed-get", "allowed", "GET", "/ok", 200),
    Case("preflighted-put", "allowed", "PUT", "/ok", 200, CUSTOM),
    Case("method-not-allowed", "allowed", "DELETE", "/ok", BLOCKED),
    Case("header-not-allowed", "allowed", "GET", "/ok", BLOCKED, (("X-Other", "1"),)),
    # An error is the application's answer; the browser must show it, not a CORS failure.
    Case("upstream-error", "allowed", "GET", "/error", 500),
    # The upstream sends ETag and X-Total-Count on everything; the policy exposes ETag only.
    Case(
        "exposed-only", "allowed", "GET", "/ok", 200, visible=("ETag",), hidden=("X-Total-Count",)
    ),
    Case("refused-get", "refused", "GET", "/ok", BLOCKED),
    Case("refused-preflighted-put", "refused", "PUT", "/ok", BLOCKED, CUSTOM),
    # The standard: a * in Access-Control-Allow-Headers never covers Authorization. All three
    # engines let it through (test_strict_authorization switches Chromium and Firefox over).
    Case(
        "star-authorization",
        "allowed",
        "GET",
        "/ok",
        BLOCKED,
        (("Authorization", "Bearer corsgen"),),
        policy="star",
        credentials=False,
        engines={"chromium": 200, "firefox": 200, "webkit": 200},
    ),
)
STAR_AUTHORIZATION = CASES[-1]
# The kinds that render "star"'s * otherwise, and what that means for star-authorization.
ECHOES_STAR = {
    # CG501 star-headers: Envoy answers a * with the preflight's own list, so Authorization is
    # listed by name, and the standard lets it through too.
    "envoy": 200,
}


def intended(case: Case, kind: str, judged: Judged) -> int | None:
    """What the script reads from `case` on `kind`, by the standard or by an engine."""
    if case.policy == "star" and kind in ECHOES_STAR:
        return ECHOES_STAR[kind]
    return case.status if judged == "spec" else case.engines.get(judged, case.status)


@dataclass(frozen=True)
class Server:
    """One running server of a kind, each of POLICIES on an endpoint of its own; MaxAge's behind
    a Tally each, which counts the preflights an engine sends; and `probe --policy`'s notes on
    each endpoint, probed once, straight, before any engine counts a preflight."""

    kind: str
    endpoints: dict[str, Endpoint]
    tallies: dict[str, Tally]
    notes: dict[str, tuple[str, ...]]


def site(at: Endpoint) -> Site:
    return Site(f"http://127.0.0.1:{at.port}", "")


def probed(plan: Plan, at: Endpoint) -> tuple[str, ...]:
    """The notes `corsgen probe URL --policy` gives on the server at `at` serving `plan`."""
    battery = build(site(at), plan, [f"{at.prefix}/ok"], [f"{at.prefix}/missing"])
    return run(site(at), plan, "conformance", battery, Limits(4, TIMEOUT, True)).notes


class Servers:
    """The servers the tests asked for so far, each started on first use and kept until the
    session ends: each engine's tests then run against the same servers."""

    def __init__(self, stack: ExitStack, allowed: str, upstream: Upstream) -> None:
        self._stack, self._allowed, self._upstream = stack, allowed, upstream
        self._running: dict[str, Server] = {}

    def __call__(self, kind: str) -> Server:
        if kind not in self._running:
            plans = tuple(
                unchecked_plan(name, text.format(allowed=self._allowed))
                for name, text in POLICIES.items()
            )
            endpoints = self._stack.enter_context(serving(kind, plans, self._upstream.port))
            tallies = {
                policy: self._stack.enter_context(Tally(endpoints[policy]))
                for policy in ("cached", "capped")
            }
            notes = {plan.name: probed(plan, endpoints[plan.name]) for plan in plans}
            self._running[kind] = Server(kind, endpoints, tallies, notes)
        return self._running[kind]


@pytest.fixture(scope="session")
def servers(pages: dict[Page, str], upstream: Upstream) -> Iterator[Servers]:
    with ExitStack() as stack:
        yield Servers(stack, pages["allowed"], upstream)


@dataclass(frozen=True)
class Verdict:
    """What the page's script gets: a status and every header it can read (lowercase names),
    or BLOCKED and nothing."""

    status: int | None
    headers: dict[str, str]
    why: str = field(default="", compare=False)  # the model's reason, or the engine's message


def in_engine(
    engine: Engine, origin: str, url: str, case: Case
) -> tuple[Verdict, dict[str, str | None]]:
    """What a script on `origin` gets from fetch(url), with what the engine logged on a block as
    the reason; and response.headers.get() for the names the case asks about."""
    engine.open(origin)
    init = {
        "method": case.method,
        "headers": dict(case.headers),
        "credentials": "include" if case.credentials else "same-origin",
        # Every fetch reaches the server; this adds no request header. In Chromium and Firefox it
        # also bypasses the preflight cache (WebKit's it does not): test_fetch's Max-Age leaves
        # it out.
        "cache": "no-store",
    }
    seen = engine.fetch(url, init, [*case.visible, *case.hidden])
    why = seen["error"] or ""
    if seen["status"] is BLOCKED:
        why = " | ".join(filter(None, (why, engine.console())))
    return Verdict(seen["status"], seen["headers"], why), seen["read"]


def asked(origin: str, case: Case) -> Request:
    return Request(origin, case.method, case.credentials, author_headers=unsafe_names(case.headers))


def in_model(at: Endpoint, path: str, origin: str, case: Case, judged: Judged) -> Verdict:
    """corsgen.fetch's verdict for `judged` on the same request, from the raw answers of the
    same server."""
    request = asked(origin, case)
    if needs_preflight(request):
        answer = send(at, "OPTIONS", path, preflight_headers(request))
        ok, why = preflight_ok(request, answer.headers, answer.status, judged)
        if not ok:
            return Verdict(BLOCKED, {}, why)
    answer = send(at, case.method, path, [("Origin", origin), *case.headers])
    ok, why = cors_check(request, answer.headers)
    if not ok:
        return Verdict(BLOCKED, {}, why)
    readable = exposed(answer.headers, request.credentials)
    # Every exposed name is present, so get() never gives None; the filter is for the type.
    values = {name: header_value(answer.headers, name) for name in readable}
    return Verdict(answer.status, {n: v for n, v in values.items() if v is not None}, why)


def in_explain(at: Endpoint, path: str, origin: str, case: Case) -> Trace:
    """What `corsgen explain --url` traces for the same request, sent straight to the server."""
    request = asked(origin, case)
    reads = case.visible
    return live_trace(site(at), at.prefix + path, request, list(case.headers), reads, TIMEOUT)


def explained(trace: Trace, judged: Judged) -> int | None:
    """explain's verdict for `judged`: the status the script reads, or BLOCKED."""
    return trace.exchanges[-1].status if trace.allowed_in(judged) else BLOCKED


def named(whom: str) -> set[EngineName]:
    """The engines corsgen.fetch.who() names in `whom`."""
    if who(NAMES) in whom:
        return set(NAMES)
    return {e for e in NAMES if ENGINES[e].title in whom}


def parting(said: list[str]) -> set[EngineName]:
    """The engines explain's disagreement() says part from the standard, from its first line:
    "WHO allow(s) this today; ..." or "WHO block this today; ..."."""
    return named(said[0].partition(" this today")[0].rsplit(" ", 1)[0]) if said else set()


# How probe's notes begin where the engines part: "...: * lets Authorization through in WHO
# today, not ..." and "Access-Control-Max-Age: N is capped: the preflight is kept N s in WHO, ...".
AUTHORIZATION = "lets Authorization through in "
CAPPED = "Access-Control-Max-Age: "


def authorization_note(notes: tuple[str, ...]) -> set[EngineName]:
    """The engines probe's notes say let Authorization through under * today."""
    return {
        e
        for n in notes
        if AUTHORIZATION in n
        for e in named(n.split(AUTHORIZATION)[1].split(" today")[0])
    }


def cap_note(notes: tuple[str, ...]) -> set[EngineName]:
    """The engines probe's notes say keep a preflight less than its Max-Age asks."""
    return {e for n in notes if n.startswith(CAPPED) for e in named(n)}


def add_case(
    verdicts: Verdicts, engine: Engine, judged: Judged, origin: str, server: Server, case: Case
) -> None:
    """Run `case` in `engine` and in corsgen.fetch for `judged`, and note both against the
    intent."""
    at = server.endpoints[case.policy]
    # A URL no earlier fetch used, on this server or on one that had its port before.
    path = f"{case.path}?kind={server.kind}&case={case.name}"
    url = f"http://127.0.0.1:{at.port}{at.prefix}{path}"
    seen, read = in_engine(engine, origin, url, case)
    model = in_model(at, path, origin, case, judged)
    trace = in_explain(at, path, origin, case)  # after the engine's: the counts are Tally's only
    status = intended(case, server.kind, judged)
    agree = f"{engine.name} and corsgen.fetch ({judged}) agree"
    unreadable = tuple(name for name in case.visible if read[name] is None)
    observed: dict[str, object] = {
        "status": seen.status,
        "unreadable": unreadable,
        "readable": tuple(name for name in case.hidden if read[name] is not None),
        agree: seen == model,
        f"explain's verdict ({judged})": explained(trace, judged),
    }
    expected: dict[str, object] = {
        "status": status,
        "unreadable": (),
        "readable": (),
        agree: True,
        # What the engine did: a header the script asks for and cannot read is a block to explain.
        f"explain's verdict ({judged})": BLOCKED if unreadable else seen.status,
    }
    if status is BLOCKED:
        observed["blocked with a TypeError"] = seen.why.startswith("TypeError")
        expected["blocked with a TypeError"] = True
    if judged == engine.name:  # as shipped: what explain and probe say of engines against spec
        parts = (seen.status is BLOCKED) != (intended(case, server.kind, "spec") is BLOCKED)
        observed[f"explain says {engine.name} parts from the standard"] = engine.name in parting(
            disagreement(trace)
        )
        expected[f"explain says {engine.name} parts from the standard"] = parts
        if case.policy == "star":
            noted = engine.name in authorization_note(server.notes["star"])
            observed[f"probe notes Authorization gets through under * in {engine.name}"] = noted
            expected[f"probe notes Authorization gets through under * in {engine.name}"] = parts
    name = f"{case.name}: {case.method} {path} from the {case.page} page"
    lines = " | ".join(disagreement(trace)) or "allowed" * trace.allowed or "blocked"
    note = f"{engine.name} {seen}; corsgen.fetch {model}; explain: {lines}"
    verdicts.add(name, observed, expected, note)


class MaxAge:
    """The same preflighted PUT three times to "cached" (Access-Control-Max-Age: MAX_AGE): twice
    at once, then once the cache entry has expired; and a fourth time at once, with cache:
    "no-store". Another twice at once to "capped" (OVER_CAPS). Tallies count the preflights."""

    def __init__(self, engine: Engine, origin: str, server: Server) -> None:
        self.engine, self.origin, self.server = engine, origin, server
        engine.open(origin)
        # A fresh Firefox profile sends the preflight again on its first would-be cache hit of
        # the run (page and API both on 127.0.0.1; two, by other measurements), then caches.
        for _ in range(3):
            self._fetch("cached", case="max-age-warm-up")
        self.began = time.monotonic()
        self.preflights = [self._fetch("cached")]
        self.first_done = time.monotonic()
        self.preflights.append(self._fetch("cached"))
        self.second_after = time.monotonic() - self.began  # at most this after the preflight
        began = time.monotonic()
        self.capped = [self._fetch("capped"), self._fetch("capped")]
        self.capped_after = time.monotonic() - began

    def url(self, policy: str, case: str = "max-age") -> str:
        return f"http://127.0.0.1:{self.server.tallies[policy].endpoint.port}/ok?case={case}"

    def _fetch(self, policy: str, cache: str = "default", case: str = "max-age") -> int:
        """The preflights one fetch to `policy` sent; -1 when the fetch failed."""
        methods = self.server.tallies[policy].methods
        methods.clear()
        seen = self.engine.fetch(self.url(policy, case), {**CACHEABLE, "cache": cache}, [])
        return methods.count("OPTIONS") if seen["status"] == 200 else -1

    def _kept(self, policy: str, judged: Judged) -> int:
        """How long corsgen.fetch says `judged` keeps the preflight `policy`'s server answers."""
        request = Request(self.origin, "PUT", author_headers=unsafe_names(CUSTOM))
        answer = send(self.server.endpoints[policy], "OPTIONS", "/ok", preflight_headers(request))
        return preflight_seconds(answer.headers, judged)

    def finish(self, judged: Judged) -> Noted:
        """Wait out the entry, fetch a third and a fourth time, and note them against the intent
        and corsgen.fetch's preflight_seconds for `judged`."""
        time.sleep(max(0.0, self.first_done + MAX_AGE + 0.3 - time.monotonic()))
        third_after = time.monotonic() - self.first_done  # at least this after the preflight
        self.preflights.append(self._fetch("cached"))
        no_store = self._fetch("cached", "no-store")
        seconds, capped = self._kept("cached", judged), self._kept("capped", judged)
        model = [1, int(self.second_after >= seconds), int(third_after >= seconds)]
        model_capped = [1, int(self.capped_after >= capped)]
        agree = f"{self.engine.name} and corsgen.fetch ({judged}) agree"
        no_store_sent = 'preflights sent with cache: "no-store"'
        # probe's notes on the same servers: the engine keeps MAX_AGE as asked (measured: sent
        # again once it is over, not before), and caps OVER_CAPS (each engine's cap is read from
        # its source: a run shows only that the preflight is kept, not for how long).
        notes = self.server.notes
        capping = {
            f"probe notes a cap on Max-Age {seconds} in {self.engine.name}": (
                self.engine.name in cap_note(notes[policy]),
                policy == "capped",
            )
            for policy, seconds in (("cached", MAX_AGE), ("capped", OVER_CAPS))
        }
        return (
            f"max-age: PUT {self.url('cached')} three times, the third after {MAX_AGE} s; "
            f"PUT {self.url('capped')} twice",
            {
                "preflights sent": self.preflights,
                no_store_sent: no_store,
                f"preflights sent with Max-Age {OVER_CAPS}": self.capped,
                agree: (self.preflights, self.capped) == (model, model_capped),
                **{said: observed for said, (observed, _) in capping.items()},
            },
            # Sent, then cached, then sent again: one preflight each (-1: a fetch failed).
            # corsgen.fetch knows no cache mode: no-store's intent is measured, by hand. Over
            # its cap, each engine keeps the preflight for the cap: a cache hit, not a refusal.
            {
                "preflights sent": [1, 0, 1],
                no_store_sent: NO_STORE_PREFLIGHTS[self.engine.name],
                f"preflights sent with Max-Age {OVER_CAPS}": [1, 0],
                agree: True,
                **{said: meant for said, (_, meant) in capping.items()},
            },
            f"corsgen.fetch keeps them {seconds} s and {capped} s; the second fetch "
            f"{self.second_after:.2f} s and the third {third_after:.2f} s after the first",
        )


@pytest.fixture(scope="session")
def max_age(engine: Engine, pages: dict[Page, str], servers: Servers) -> dict[str, Noted]:
    """MaxAge on every kind in `engine`, all waiting out their entries at once: a kind's case,
    for test_fetch to note. A kind that is not installed is left out (its test_fetch skips)."""
    started: list[MaxAge] = []
    for kind in KINDS:
        try:
            server = servers(kind)
        except pytest.skip.Exception:
            continue
        started.append(MaxAge(engine, pages["allowed"], server))
    return {run.server.kind: run.finish(engine.name) for run in started}


@pytest.mark.parametrize("kind", KINDS)
def test_fetch(
    engine: Engine,
    pages: dict[Page, str],
    servers: Servers,
    max_age: dict[str, Noted],
    kind: str,
) -> None:
    """Every case on one server in one engine: what the engine gives the script is the intent
    for that engine, and what corsgen.fetch reaches for it from the same server's answers."""
    server = servers(kind)
    verdicts = Verdicts()
    for case in CASES:
        add_case(verdicts, engine, engine.name, pages[case.page], server, case)
    verdicts.add(*max_age[kind])
    verdicts.check()


# The engines that have a switch to the standard's rule for * and Authorization: WebKit has none.
SWITCHABLE: tuple[EngineName, ...] = ("chromium", "firefox")


@pytest.fixture(scope="session", params=SWITCHABLE)
def switched(request: pytest.FixtureRequest) -> Iterator[Engine]:
    """Chromium and Firefox, switched to the standard's rule for * and Authorization."""
    with strict(request.param) as running:
        yield running


@pytest.mark.parametrize("kind", KINDS)
def test_strict_authorization(
    switched: Engine, pages: dict[Page, str], servers: Servers, kind: str
) -> None:
    """Switched by the switch corsgen.fetch.ENGINES names, Chromium and Firefox do what the
    standard says of star-authorization, and corsgen.fetch's verdict for the standard is theirs."""
    verdicts = Verdicts()
    add_case(verdicts, switched, "spec", pages["allowed"], servers(kind), STAR_AUTHORIZATION)
    verdicts.check()


@pytest.mark.parametrize("page", ["allowed", "refused"])
def test_origin_is_serialised(engine: Engine, pages: dict[Page, str], page: Page) -> None:
    """The policies list the page's origin as the pages fixture spells it, http://127.0.0.1:PORT;
    each engine must serialise it, and so send it in Origin, byte for byte the same."""
    engine.open(pages[page])
    assert engine.origin() == pages[page]
