"""What each answer of the model shows whatever the plan, and the run's context: the backend's
CORS headers, a preflight that meets auth or the backend, the values no browser takes, a header
the config hides elsewhere, a grant's own values no answer showed (audit/engine.py sends the
requests and places probe's faults)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from corsgen.audit import regexes
from corsgen.audit.reported import Affected, Audit
from corsgen.fetch import header_value, preflight_seconds
from corsgen.plan import ACAC, ACAH, ACAO, ACAPN, ACMA, OWNED, Plan
from corsgen.probe import judge
from corsgen.probe.battery import Probe
from corsgen.probe.client import Answer
from corsgen.routing import (
    SECRET_HEADER,
    Answered,
    Asked,
    Granted,
    Place,
    Routes,
    Scope,
    audit_backend,
)
from corsgen.rules.checks import CHROMIUM_MAX_AGE

OWNED_LOWER = frozenset(name.lower() for name in OWNED)
_CORS_PREFIX = "access-control-"
_AUTH_STATUSES = frozenset(judge.AUTH_STATUSES)


@dataclass(frozen=True)
class Context:
    """What one audit run knows besides the model: the target, and the policies given."""

    server: str  # the server as its users name it, for the texts
    plans: Mapping[str, Plan]  # --policy, by policy name
    intent: Plan | None = None  # the one --policy no snippet names: for the hand-written scopes
    fixes: Mapping[tuple[str, str], str] = field(default_factory=dict)  # Target.fixes
    # The CG501 cases of Target.shortfalls for a plan: what the server cannot do as a plan means
    # (Traefik's middleware sends its lists to refused origins too), which no config can fix.
    shortfalls: Callable[[Plan], frozenset[str]] = lambda plan: frozenset()

    def case(self, rule: str, base: str) -> str:
        """The rule's case whose fix names this server's own directives, else `base`."""
        return self.fixes.get((rule, base), base)


@dataclass(frozen=True)
class Exchange:
    """One probe and the model's answer to it."""

    probe: Probe
    answered: Answered
    asked: Asked | None = None  # the request the model answered

    @property
    def answer(self) -> Answer:
        return Answer(self.answered.status, list(self.answered.pairs()))

    @property
    def shown(self) -> Affected:
        request = self.probe.request
        return Affected(self.probe.method, self.probe.path, request.origin if request else None)

    def at(self, name: str) -> Place | None:
        """The config line that sent this header, None when only the backend did or none was
        sent."""
        sent = (h.at for h in self.answered.headers if h.name.lower() == name.lower())
        return next((at for at in sent if at is not None), None)


Placed = tuple[str, str, Place, Mapping[str, object]]


def twice(sent: Exchange, context: Context) -> Iterator[Placed]:
    """A CORS header sent twice: at the second line that sent it, or where the backend's copy
    got through."""
    answered = sent.answered
    seen: dict[str, list[Place | None]] = {}
    for header in answered.headers:
        if header.name.lower() in OWNED_LOWER:
            seen.setdefault(header.name, []).append(header.at)
    for name, places in seen.items():
        if len(places) < 2:
            continue
        fields = {"server": context.server, "request": str(sent.shown), "names": name}
        if None in places:
            yield "CG414", context.case("CG414", "backend"), answered.by, fields
        else:
            yield "CG414", "answer", places[1] or answered.by, fields


def refused_by_auth(answered: Answered) -> bool:
    """Whether the authentication the request met answered it: an auth status, or an error the
    backend did not send (an auth service's own refusal, which Caddy's forward_auth copies)."""
    refused = answered.status in _AUTH_STATUSES or (answered.status >= 400 and not answered.backend)
    return answered.auth is not None and refused


def read(sent: Exchange, context: Context) -> Iterator[Placed]:
    """What is wrong with an answer whatever the plan: the backend's CORS headers, a preflight
    that meets auth or the backend, and the values no browser takes."""
    answered, probe = sent.answered, sent.probe
    request = str(sent.shown)
    fields = {"server": context.server, "request": request, "status": answered.status}
    mine = {h.name.lower() for h in answered.headers if h.at is not None}
    theirs = [
        h.name
        for h in answered.headers
        if h.at is None and h.name.lower().startswith(_CORS_PREFIX) and h.name.lower() not in mine
    ]
    if theirs:
        names = ", ".join(dict.fromkeys(theirs))
        yield "CG415", context.case("CG415", "answer"), answered.by, {**fields, "names": names}
    if probe.purpose == "preflight":
        if answered.auth is not None and refused_by_auth(answered):
            yield "CG416", "answer", answered.auth, {**fields, "auth": answered.auth}
        elif answered.backend:
            yield "CG417", "answer", answered.by, fields
    pairs = answered.pairs()
    credentials = header_value(pairs, ACAC) == "true"
    values = (
        ("CG101", ACAO, credentials and header_value(pairs, ACAO) == "*", "answered"),
        ("CG419", ACAH, credentials and "*" in _listed(header_value(pairs, ACAH)), "answer"),
        ("CG420", ACAPN, header_value(pairs, ACAPN) is not None, "answer"),
        ("CG202", ACMA, _over_cap(header_value(pairs, ACMA)), "over-cap"),
    )
    for rule, name, wrong, case in values:
        at = sent.at(name)
        if wrong and at is not None:
            seconds = header_value(pairs, ACMA)
            yield rule, case, at, {**fields, "seconds": seconds, "cap": CHROMIUM_MAX_AGE}


def _listed(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",")]


def _over_cap(value: str | None) -> bool:
    """Read as the browser model reads it: int() would refuse "²", or 4,300 digits."""
    return value is not None and preflight_seconds([(ACMA, value)]) > CHROMIUM_MAX_AGE


def static(grant: Granted, scope: Scope, context: Context, result: Audit) -> None:
    """What the grant says that no answer may show (a preflight the battery did not send), each at
    the line of its key, and each origin regex held to corsgen's proof."""
    hints = [*grant.origins, f"https://{scope.host}"]
    for regex in grant.regexes:
        verdict = regexes.judge(regex, hints[:2])
        if verdict is not None:
            result.add("CG411", verdict.case, regex.at, verdict.fields, None)
    fields = {
        "server": context.server,
        "seconds": grant.max_age,
        "cap": CHROMIUM_MAX_AGE,
        "origin": f"every origin, as {scope.title} grants it,",
    }
    reflected = "credentials" if grant.credentials else "no-credentials"
    static = (
        ("CG410", reflected, "allow_origins", grant.reflects),
        ("CG101", "answered", "allow_origins", grant.any_origin and grant.credentials),
        ("CG419", "answer", "allow_headers", grant.credentials and "*" in grant.headers),
        # A snippet's: its policy's choice (engine.POLICY_CHOICES).
        ("CG420", "answer", "allow_private_network", grant.private_network and not scope.policy),
        ("CG202", "over-cap", "max_age", (grant.max_age or 0) > CHROMIUM_MAX_AGE),
    )
    for rule, case, key, wrong in static:
        place = grant.at.get(key)
        if wrong and place is not None and not result.has(rule, scope.at):
            request = f"{scope.title} as the config grants it"
            result.add(rule, case, place, {**fields, "request": request}, None)


def hidden_leaks(sent: Sequence[Exchange], context: Context, result: Audit, routes: Routes) -> None:
    """The backend's secret header reaches the browser on some answers while the config hides it
    from others: a block that stopped hiding it (nginx's *_hide_header inheritance). An answer
    hides it only when it is the backend's answer (not an error page that replaced it)."""
    reached = [s for s in sent if s.answered.backend]
    leaked = [s for s in reached if header_value(s.answered.pairs(), SECRET_HEADER) is not None]
    shown = {id(s) for s in leaked}
    kept = [s for s in reached if id(s) not in shown][:_HIDING_ASKED]
    if not leaked or not any(_backends_answer(s, routes) for s in kept):
        return
    case = context.case("CG421", "answer")
    for s in leaked:
        fields = {"server": context.server, "header": SECRET_HEADER, "request": str(s.shown)}
        result.add("CG421", case, s.answered.by, fields, s.shown)


_HIDING_ASKED = 50  # answers without the secret asked again, for one that is the backend's
_MARK = ("X-Corsgen-Backend-Answer", "1")  # a header no config hides, to tell the backend's answer


def _marked(method: str, path: str) -> tuple[int, tuple[tuple[str, str], ...]]:
    status, headers = audit_backend(method, path)
    return status, (*headers, _MARK)


def _backends_answer(sent: Exchange, routes: Routes) -> bool:
    """Whether the answer is the backend's own (its headers sent on), asked again of the model
    with a backend that marks its answers."""
    if sent.asked is None:
        return True
    answered = routes.answer(sent.asked, _marked)
    return any((h.name, h.value) == _MARK for h in answered.headers)
