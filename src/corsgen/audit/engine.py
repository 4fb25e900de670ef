"""The audit: probe's battery sent to a routing model (routing.Routes), its answers judged as
`probe` judges a live server's, each fault placed on the line the model's attribution names.

Each scope (routing.Scope) is held to one plan:
- a scope whose corsgen snippet names a policy given with --policy: that policy (conformance);
- a hand-written scope: the one --policy no snippet names, when one is given, else what the
  scope grants itself (granted.as_plan): its answers must agree with its own grant, on errors,
  on preflights, with Vary; and the scanners' hostile origins, built from the origins it trusts,
  must not read;
- a snippet scope whose policy is not given: what the model reads its lines to grant, when it
  gives the scope a Granted too; else, as a scope that grants nothing, the scanners' questions
  alone (probe's scan mode), and a note that --policy would hold it to its policy.
Every answer is also read for what is wrong whatever the plan (the backend's CORS headers, `*`
with credentials, Max-Age over the caps, the Private Network Access header, a header the config
hides elsewhere), and each origin regex is held to corsgen's own proof (audit/regexes.py).

Findings are kept once per (rule, line), with every request that shows them. Bounded: at most
MAX_SCOPES scopes, MAX_PATHS paths of each, MAX_PROBES requests per scope (an even sample of a
larger battery) and MAX_SENT in all are sent; what was sampled or left out is said in a note.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace

from corsgen.audit import granted as granting
from corsgen.audit import regexes
from corsgen.audit.answers import (
    OWNED_LOWER,
    Context,
    Exchange,
    Placed,
    hidden_leaks,
    read,
    refused_by_auth,
    static,
    twice,
)
from corsgen.audit.reported import Audit, Probed
from corsgen.errors import clip
from corsgen.fetch import Request, header_value
from corsgen.plan import ACAC, ACAO, Plan
from corsgen.probe import battery, judge
from corsgen.probe.battery import Probe
from corsgen.probe.checks import BY_ID as CHECKS
from corsgen.routing import (
    NOT_FOUND,
    REDIRECT,
    Answered,
    Asked,
    Backend,
    Granted,
    Place,
    Routes,
    Scope,
    audit_backend,
)

MAX_SCOPES = 200  # scopes probed; a config with more is audited on the first ones, and says so
MAX_PATHS = 5  # paths of one scope probed, each with its error path: a frontend whose rules answer
# four prefixes otherwise (a deny, an auth, a return, another backend) is probed on each
MAX_PROBES = 1_000  # requests sent to one scope: a 50-origin policy on three paths is ~1,500
# Requests sent in one run: about 10 s of a model answering in 0.2 ms (the scripted one takes
# 0.15 ms with the judge), whatever the number of scopes.
MAX_SENT = 50_000
# Every rule the audit finds in a model's answers, and the line it reports it at (docs/gen.py
# writes the checks table of the README from this and the rule table).
PLACED_AT: Mapping[str, str] = {
    "CG101": "the line that sent Access-Control-Allow-Origin: *",
    "CG202": "the line that sent Access-Control-Max-Age",
    "CG402": "the block that answered",
    "CG410": "the line that sent the Origin back",
    "CG411": "the line of the regex",
    "CG412": "the block that answered the error",
    "CG413": "the block that answered",
    "CG414": "the second line that sent it; the block that let the backend's copy through",
    "CG415": "the block that let them through",
    "CG416": "the line of the authentication",
    "CG417": "the block that answered",
    "CG418": "the line that sent the header",
    "CG419": "the line that sent Access-Control-Allow-Headers",
    "CG420": "the line that sent Access-Control-Allow-Private-Network",
    "CG421": "the block that answered",
    "CG422": "the block that answered; the line that sent Access-Control-Allow-Origin",
}


# What a corsgen snippet sends because its policy says so (allow_private_network): a choice of
# the policy's, not a flaw of the config that includes the snippet.
POLICY_CHOICES = frozenset({"CG420"})


# The probe checks each CG501 shortfall of a target shows as (tests/conformance/probe_test.py):
# the server's, not the config's, so no finding.
SHORTFALL_CHECKS: Mapping[str, tuple[str, ...]] = {
    "refused-origin": ("PR007",),
    "preflight-200": ("PR005",),
    "private-network": ("PR005",),
}


def error_path(path: str) -> str:
    """probe's error path beside `path` (probe/run.py), with its extension, so that the same
    block serves it: one matched by the file's type (`*.woff2`, `location ~ \\.json$`) too."""
    folder, _, name = path.split("?")[0].rpartition("/")
    extension = name.rpartition(".")[2] if "." in name.strip(".") else ""
    return f"{folder}/{NOT_FOUND}" + (f".{extension}" if extension else "")


def audit(routes: Routes, context: Context, backend: Backend = audit_backend) -> Audit:
    """Every finding the model's answers show, scope by scope, with `backend` behind it (a test
    that holds the audit to a real server passes the backend that server proxies to)."""
    result = Audit()
    scopes = list(routes.scopes())
    if len(scopes) > MAX_SCOPES:
        result.notes.append(f"probed the first {MAX_SCOPES:,} of {len(scopes):,} CORS scopes")
    # Every exact origin some part of the config or a policy allows: where a scope is held to a
    # policy, each it refuses must be refused there (two sections merged, a site's policy
    # answering a path another policy is for).
    known = [o for s in scopes if s.granted for o in s.granted.origins]
    known += [o for plan in context.plans.values() for o in plan.exact_origins]
    others = list(dict.fromkeys(known))[: battery.SAMPLED]
    sent: list[Exchange] = []
    for index, scope in enumerate(scopes[:MAX_SCOPES]):
        if len(sent) >= MAX_SENT:
            left = min(len(scopes), MAX_SCOPES) - index
            result.notes.append(f"sent {MAX_SENT:,} requests; {left:,} scopes were not probed")
            break
        result.scope = scope.at
        sent += _audit_scope(routes, scope, context, result, others, backend)
    result.scope = None
    for host in dict.fromkeys(s.host for s in scopes[:MAX_SCOPES]):
        baseline = Probe("no-origin", "GET", "/", ())
        sent.append(_send(routes, Scope(Place("", 0), host, ("/",), "/"), baseline, backend))
    hidden_leaks(sent, context, result, routes)
    hand_written = any(s.granted is not None and s.policy is None for s in scopes)
    if context.intent is not None and not hand_written:
        name = context.intent.name
        result.notes.append(
            f"no snippet names {name}, and no CORS is written by hand to hold to it"
        )
    result.findings.sort(key=lambda r: (r.finding.file, r.finding.line or 0))
    return result


def _send(routes: Routes, scope: Scope, probe: Probe, backend: Backend) -> Exchange:
    asked = Asked(scope.host, probe.method, probe.path, probe.headers, scope.port)
    return Exchange(probe, routes.answer(asked, backend), asked)


def _plan_for(scope: Scope, context: Context, result: Audit) -> tuple[Plan | None, str | None]:
    """The plan a scope is held to, and the name of the policy it stands for, whose differences
    are findings (None: the hand-written scope's own grant, held to its flaws only)."""
    if scope.policy is not None and scope.policy in context.plans:
        return context.plans[scope.policy], scope.policy
    if scope.granted is not None and scope.policy is None and context.intent is not None:
        return context.intent, context.intent.name
    if scope.granted is not None:  # a snippet's own lines, read by the model: its promise
        return granting.as_plan(scope.granted, scope.policy or "config"), scope.policy
    if scope.policy is not None:
        result.notes.append(
            f"{scope.at}: the snippet of {scope.policy} is checked for what any origin can read; "
            f"give --policy {scope.policy}.toml to hold it to its policy"
        )
    return None, None


def _trusted(scope: Scope) -> list[str]:
    """Origins the scope means to allow, for the scanners' hostile variants: its first exact
    origin and a sample of each regex, else the site's own origin."""
    grant = scope.granted
    found = list(grant.origins[:1]) if grant else []
    for regex in grant.regexes if grant else ():
        found += regexes.trusted(regex)[:1]
    return list(dict.fromkeys(found)) or [f"https://{scope.host}"]


def _audit_scope(
    routes: Routes,
    scope: Scope,
    context: Context,
    result: Audit,
    others: Sequence[str],
    backend: Backend,
) -> list[Exchange]:
    paths = list(scope.paths[:MAX_PATHS])
    errors = [e for p in paths if passes(routes, scope, e := error_path(p), backend)]
    plan, policy = _plan_for(scope, context, result)
    checked = list(battery.conformance(plan, paths, errors).probes) if plan is not None else []
    if plan is not None and "POST" in battery.listed(plan, "methods"):
        checked += _posted(checked)
    if policy and plan is not None:
        checked += _refused(plan, others, paths)
    scanned: list[Probe] = []
    if not policy:  # the scanners' questions, of a grant or of nothing known, on one path
        for origin in _trusted(scope)[:2]:
            scanned += battery.scan(origin, paths[:1], errors[:1]).probes
    scanned = list(dict.fromkeys(scanned))
    if len(checked) + len(scanned) > MAX_PROBES:
        result.notes.append(
            f"{scope.at}: sent {MAX_PROBES:,} of {len(checked) + len(scanned):,} requests to "
            f"{scope.title}, evenly sampled"
        )
        share = round(MAX_PROBES * len(checked) / (len(checked) + len(scanned)))
        checked, scanned = _even(checked, share), _even(scanned, MAX_PROBES - share)
    conforming = [_send(routes, scope, p, backend) for p in checked]
    scanning = [_send(routes, scope, p, backend) for p in scanned]
    faults: list[judge.Fault] = []
    if plan is not None and conforming:
        faults += judge.conformance(plan, checked, [s.answer for s in conforming])
    if scanning:
        faults += judge.scan(scanned, [s.answer for s in scanning])
    everything = [*conforming, *scanning]
    by_probe = {id(s.probe): s for s in everything}
    # The blocks that answer with CORS headers of the config's own: an error answer without them
    # is that block's (no `always`), not that of a block a redirect handed the request to.
    cors = {s.answered.by for s in everything if s.at(ACAO) is not None}
    if scope.granted is not None:  # its own block grants CORS, even if no answer showed it
        cors.add(scope.at)
    answering = {s.answered.by for s in everything if s.answered.status < 400}
    reported: dict[int, list[str]] = {}  # id(probe): the rules found on its answer
    short = context.shortfalls(plan) if plan is not None else frozenset()
    known = {check for case in short for check in SHORTFALL_CHECKS.get(case, ())}
    where = _Where(routes, backend, scope, context, policy, cors, answering)
    for fault in (f for f in faults if f.check.id not in known):
        sent = by_probe[id(fault.probe)]
        placed = _placed(fault.check.id, fault.summary, sent, where)
        for rule, case, place, fields in placed:
            result.add(rule, case, place, fields, sent.shown)
            reported.setdefault(id(sent.probe), []).append(rule)
    for sent in everything:
        for rule, case, place, fields in (*read(sent, context), *_auth_decides(routes, sent)):
            if rule in POLICY_CHOICES and scope.policy is not None:
                continue
            result.add(rule, case, place, fields, sent.shown)
            reported.setdefault(id(sent.probe), []).append(rule)
    judged = tuple((f, tuple(dict.fromkeys(reported.get(id(f.probe), ())))) for f in faults)
    result.probed.append(Probed(scope, plan, tuple(checked), tuple(scanned), judged))
    if scope.granted is not None:
        static(scope.granted, scope, context, result)
    return everything


def _refusing(method: str, path: str) -> tuple[int, tuple[tuple[str, str], ...]]:
    """A backend that refuses every request, as an auth service refuses one without
    credentials."""
    return 401, ()


def _auth_decides(routes: Routes, sent: Exchange) -> Iterator[Placed]:
    """A preflight an authentication let through only because the backend standing for its auth
    service (forward_auth, auth_request) said yes: asked again with one that refuses, the auth
    answers it. A preflight carries no credentials, so a real auth service refuses it (read()
    reports an auth that answered the preflight with the run's backend)."""
    answered = sent.answered
    if sent.probe.purpose != "preflight" or sent.asked is None or answered.auth is None:
        return
    if refused_by_auth(answered):
        return
    again = routes.answer(sent.asked, _refusing)
    if again.auth is not None and refused_by_auth(again):
        fields = {"request": str(sent.shown), "status": again.status, "auth": again.auth}
        yield "CG416", "answer", again.auth, fields


def _posted(probes: Sequence[Probe]) -> list[Probe]:
    """The page's request as a POST too, for each GET an allowed origin sends, where the plan
    lists POST: a safelisted method, sent without a preflight, which a config may answer
    otherwise (enable-cors.org's `if ($request_method = 'POST')`)."""
    return [
        replace(p, method="POST", request=replace(p.request, method="POST"))
        for p in probes
        if p.purpose in ("allowed", "error") and p.method == "GET" and p.request is not None
    ]


def passes(routes: Routes, scope: Scope, path: str, backend: Backend) -> bool:
    """Whether the model's way to a request for `path` passes the scope's block (its trail names
    it): an error path beside an exact path (Traefik's Path(`/health`)) is no block's, answered
    by the server's own 404, which says nothing of the scope."""
    answered = routes.answer(Asked(scope.host, "GET", path, (), scope.port), backend)
    return answered.by == scope.at or any(_named(scope.at).search(s) for s in answered.trail)


def _named(place: Place) -> re.Pattern[str]:
    """A trail step naming the place."""
    return re.compile(re.escape(str(place)) + r"(?!\d)")


# Credentials any auth of a model lets through (none checks a password): what the same request
# gets once authentication passes it.
_CREDENTIALS = ("Authorization", "Basic Y29yc2dlbjpjb3JzZ2Vu")


def _auth_error(where: _Where, sent: Exchange) -> bool:
    """Whether authentication that ran inside the block that answered (not one that answers as a
    block of its own) made an error that lost the config's Allow-Origin for being an error: the
    same request with credentials gets it. A block that sends none either way dropped it (CG402),
    which `always` would not mend."""
    answered = sent.answered
    if answered.auth in (None, answered.by) or sent.asked is None:
        return False
    asked = replace(sent.asked, headers=(*sent.asked.headers, _CREDENTIALS))
    return _sends_origin(where.routes.answer(asked, where.backend))


def _sends_origin(answered: Answered) -> bool:
    """Whether the config itself (a line of it, not the backend) sent an Allow-Origin."""
    return any(h.at is not None and h.name.lower() == ACAO.lower() for h in answered.headers)


def _error_of_scope(where: _Where, sent: Exchange) -> bool:
    """Whether an error answer without the config's Allow-Origin lost it for being an error
    (CG412), not for where it went (CG402): answered by a block that sends CORS; or by what
    answers only errors here, the last step of its way (Caddy's basicauth, `error`, a
    file_server of no file), through the scope's block with no redirect after it (a step with
    routing.REDIRECT), while the same request for the scope's own paths gets the config's
    Allow-Origin."""
    answered, scope = sent.answered, where.scope
    if answered.by in where.cors:
        return True
    if answered.by in where.answering or not answered.trail:
        return False  # a block that answers other requests: it drops them whatever the status
    if not _named(answered.by).search(answered.trail[-1]):
        return False  # a block the request entered, where something else answered
    steps = [i for i, step in enumerate(answered.trail) if _named(scope.at).search(step)]
    if not steps or any(REDIRECT in step for step in answered.trail[steps[0] :]):
        return False
    probe = sent.probe
    for path in scope.paths[:MAX_PATHS]:
        asked = Asked(scope.host, probe.method, path, probe.headers, scope.port)
        if _sends_origin(where.routes.answer(asked, where.backend)):
            return True
    return False


def _even(probes: Sequence[Probe], most: int) -> list[Probe]:
    """At most `most` of the probes, evenly spread: each purpose and origin keeps some."""
    if len(probes) <= most:
        return list(probes)
    if most <= 0:
        return []
    step = len(probes) / most
    return [probes[int(i * step)] for i in range(most)]


def _refused(plan: Plan, others: Sequence[str], paths: Sequence[str]) -> list[Probe]:
    """A request from each origin the config or a policy allows elsewhere, which this plan
    refuses: each must be refused here."""
    creds = battery.credentials(plan)
    return [
        Probe("refused", "GET", path, (("Origin", origin),), Request(origin, "GET", creds))
        for origin in others
        if not plan.allows(origin)
        for path in paths
    ]


@dataclass(frozen=True)
class _Where:
    """What placing a fault needs to know of its scope."""

    routes: Routes
    backend: Backend  # the one behind the run, for asking the model again
    scope: Scope
    context: Context
    policy: str | None  # the policy the scope is held to: its differences are findings (CG422)
    cors: set[Place]  # the blocks that answered with the config's own CORS headers
    answering: set[Place]  # the blocks that answered some request of the scope's without error

    def differs(self, sent: Exchange, summary: str, place: Place) -> Iterator[Placed]:
        """The policy's difference, unless the backend's CORS headers explain it (CG414, CG415
        say where they got through)."""
        theirs = any(h.at is None and h.name.lower() in OWNED_LOWER for h in sent.answered.headers)
        if self.policy is not None and not theirs:
            fields = {"request": str(sent.shown), "summary": summary, "policy": self.policy}
            yield "CG422", "answer", place, fields


def _undoer(sent: Exchange, scope: Scope, by: Place) -> Place:
    """Where an allowed origin's failure belongs: the line that sent the Allow-Origin, when a
    line outside the scope's grant did (a frontend's rule over a snippet's: it undoes it), else
    the block that answered."""
    at, grant = sent.at(ACAO), scope.granted
    outside = at is not None and grant is not None and grant.at and at not in grant.at.values()
    return at if outside and at is not None else by


def _placed(check: str, summary: str, sent: Exchange, where: _Where) -> Iterator[Placed]:
    """The rule a fault of probe's is, at the line the attribution names; nothing when another
    check reports it better (the backend's headers, a preflight meeting auth, a duplicate) or it
    is no flaw of the config's own grant."""
    answered, context = sent.answered, where.context
    by, status = answered.by, answered.status
    fields = {"server": context.server, "request": str(sent.shown), "status": status}
    # The config's own Allow-Origin (the backend's is CG415's): with one, the answer fails for
    # another reason (a duplicate, `*` with credentials: _twice and _read report those).
    has_acao = sent.at(ACAO) is not None
    if check in ("PR001", "PR002"):
        if has_acao:
            yield from where.differs(sent, summary, _undoer(sent, where.scope, by))
        elif _yields_to_backend(where, sent):
            return  # CG415 says the backend's headers took the place of the config's
        elif status >= 400 and (_auth_error(where, sent) or _error_of_scope(where, sent)):
            # An error of the block's own, or of authentication that ran inside it (not one that
            # answers as a block of its own), or of what answers only errors there: the status
            # dropped its headers, no `always`.
            yield "CG412", context.case("CG412", "answer"), by, fields
        else:
            yield _dropped(sent, where.scope, context)
    elif check in ("PR003", "PR004"):
        if answered.auth is not None or answered.backend:
            return  # _read reports where the preflight went
        if has_acao:
            yield from where.differs(sent, summary, _undoer(sent, where.scope, by))
        else:
            yield _dropped(sent, where.scope, context)
    elif check in ("PR005", "PR008"):
        if answered.backend or (answered.auth is not None and status in judge.AUTH_STATUSES):
            return  # the backend or auth answered the preflight: _read says where it went
        yield from where.differs(sent, summary, _undoer(sent, where.scope, by))
    elif check == "PR006" and where.policy is None:
        yield from _refused_reads(sent, fields, where.scope, context)
    elif check in ("PR006", "PR011"):
        # The line that let the origin in, when the scope's own grant sent it; else the block
        # that let another's answer through (a site's snippet answering a path of another's).
        at = sent.at(ACAO)
        grant = where.scope.granted
        if at is not None and grant is not None and at not in grant.at.values():
            at = None
        yield from where.differs(sent, summary, at or by)
    elif check == "PR007":
        yield from _refused_gets(sent, fields, where.scope)
    elif check == "PR009" and by in where.cors and (has_acao or status < 400):
        # An error answer without CORS headers, or a block without any, is CG412's or CG402's.
        # Whether the answer depends on Origin (a preflight's needs no Vary) is the judge's.
        vary = header_value(answered.pairs(), "Vary") or "absent"
        yield "CG413", "answer", by, {**fields, "vary": vary}
    elif check == "PR010":
        yield from twice(sent, context)
    elif check.startswith("PR1") and check != "PR111":  # PR111: _read's CG101
        yield from _hostile(sent, where.scope, context, check)


def _quiet(backend: Backend) -> Backend:
    """The backend without CORS headers of its own."""

    def answer(method: str, path: str) -> tuple[int, tuple[tuple[str, str], ...]]:
        status, headers = backend(method, path)
        return status, tuple(h for h in headers if h[0].lower() not in OWNED_LOWER)

    return answer


def _yields_to_backend(where: _Where, sent: Exchange) -> bool:
    """Whether the config's own Allow-Origin is missing only because the backend sent one (an
    Envoy header added only if absent): the model, asked again with a backend that sends none,
    sends the config's."""
    if sent.asked is None or not any(
        h.at is None and h.name.lower() == ACAO.lower() for h in sent.answered.headers
    ):
        return False
    return _sends_origin(where.routes.answer(sent.asked, _quiet(where.backend)))


def _refused_gets(sent: Exchange, fields: Mapping[str, object], scope: Scope) -> Iterator[Placed]:
    """A refused origin gets CORS headers of the config's own (the backend's: CG415) that let it
    through or list what it may do; not one a regex of the scope's admits, which the plan left
    out (CG411 reports the regex)."""
    request = sent.probe.request
    if request is None:
        return
    grant = scope.granted or Granted()
    # A grant that sends every Origin back refuses none: the line that echoes it is the flaw
    # (the config's own line, beside any copy of the backend's).
    own = [h for h in sent.answered.headers if h.at is not None and h.name.lower() == ACAO.lower()]
    echo = next((h.at for h in own if h.value == request.origin), None) if grant.reflects else None
    if echo is not None:
        yield _echoed(sent, request.origin, str(fields["server"]), echo)
        return
    if any(regexes.admits(r, request.origin) for r in grant.regexes):
        return
    # An Allow-Origin that names another origin refuses this one, as browsers read it.
    owned = [
        h
        for h in sent.answered.headers
        if h.name.lower() in OWNED_LOWER
        and not (
            h.name.lower() == ACAO.lower() and request and h.value not in ("*", request.origin)
        )
    ]
    places = [h.at for h in owned if h.at is not None]
    if places:
        names = ", ".join(dict.fromkeys(h.name for h in owned if h.at is not None))
        yield "CG418", "answer", places[0], {**fields, "origin": request.origin, "names": names}


def _refused_reads(
    sent: Exchange, fields: Mapping[str, object], scope: Scope, context: Context
) -> Iterator[Placed]:
    """An origin the scope's own grant refuses reads, with no policy to differ from: the regex
    that admits it (CG411), the line that sends any Origin back (CG410), else the headers that
    let it through (CG418). Not an origin in upper case, which no browser sends (it serialises
    origins in lower case): a test that ignores case admits it, and means to."""
    request = sent.probe.request
    if request is None or request.origin != request.origin.lower():
        return
    grant = scope.granted or Granted()
    for regex in grant.regexes:
        if regexes.admits(regex, request.origin):
            kind = sent.probe.note or "an origin the grant refuses"
            yield (
                "CG411",
                "admits",
                regex.at,
                {"regex": regex.source, "origin": request.origin, "kind": kind},
            )
            return
    if grant.reflects and (reflected := _reflected(sent, context)) is not None:
        yield reflected
    else:
        yield from _refused_gets(sent, fields, scope)


def _dropped(sent: Exchange, scope: Scope, context: Context) -> Placed:
    # Each step in the finding's own file by its line alone: the way there fits in the message.
    steps = "; ".join(sent.answered.trail).replace(f" at {sent.answered.by.file}:", " at line ")
    trail = clip(steps) or f"answered by {sent.answered.by}"
    fields = {"server": context.server, "request": str(sent.shown), "scope": scope.title}
    return "CG402", context.case("CG402", "answer"), sent.answered.by, {**fields, "trail": trail}


def _hostile(sent: Exchange, scope: Scope, context: Context, check: str) -> Iterator[Placed]:
    """A scanner's hostile origin reads: the regex that admits it, else the line that sends any
    Origin back. An origin the config lists itself is its author's choice, not a finding here."""
    request = sent.probe.request
    if request is None:
        return
    origin = request.origin
    grant = scope.granted
    if grant is not None and origin in grant.origins:
        return
    for regex in grant.regexes if grant else ():
        if regexes.admits(regex, origin):
            kind = CHECKS[check].summary.split(": ")[-1]
            yield (
                "CG411",
                "admits",
                regex.at,
                {"regex": regex.source, "origin": origin, "kind": kind},
            )
            return
    if (reflected := _reflected(sent, context)) is not None:
        yield reflected


def _reflected(sent: Exchange, context: Context) -> Placed | None:
    """CG410 at the line that sent the request's Origin back, if one did."""
    at, origin = sent.at(ACAO), sent.probe.request.origin if sent.probe.request else None
    if at is None or origin is None or header_value(sent.answered.pairs(), ACAO) != origin:
        return None
    return _echoed(sent, origin, context.server, at)


def _echoed(sent: Exchange, origin: str, server: str, at: Place) -> Placed:
    """The origin sent back in Access-Control-Allow-Origin: CG410 at the line that sent it."""
    credentials = header_value(sent.answered.pairs(), ACAC) == "true"
    case = "credentials" if credentials else "no-credentials"
    return "CG410", case, at, {"server": server, "origin": origin}
