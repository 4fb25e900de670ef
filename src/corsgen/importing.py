"""`corsgen import`: each hand-written CORS configuration a routing model finds, as a policy that
states what it grants today, and what rendering that policy would change.

A scope is imported on the paths its block answers today (not those another block takes from it),
and its grant (routing.Granted, read from the model) narrowed to what the config grants today on
every origin, method and path it names (audit/today.py: the preflights it refuses, a deny-list,
CORS or credentials on some requests only); then it becomes the nearest policy corsgen
accepts (audit/granted.py): each key written with a comment naming the line of config it came
from, each value corsgen refuses dropped or narrowed, and said so. The changes are found the way
the audit finds flaws: the same battery is sent to the model of the old config and to the
target's model of the policy's output served where the scope was (Target.in_place; the policy's
promise, promise.py, for a target without one), and the two are compared request by request,
origin class by origin class, into the kinds of Change. Where the target falls short of the
promise (CG501) it is said. tests/audit/import_roundtrip_test.py holds both, and the kinds, to
the real servers.

The user's config is never written; the policies are written together, or none is, and an
existing file is never overwritten (as `corsgen init`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from corsgen.audit import today
from corsgen.audit.engine import MAX_SCOPES, error_path, passes
from corsgen.audit.granted import Imported, NothingLeft, nearest_safe, policy_name
from corsgen.errors import CorsgenError, Finding, PolicyError, blocking, escape
from corsgen.fetch import (
    cors_failure,
    header_value,
    preflight_failure,
    vary_tokens,
)
from corsgen.files import shown
from corsgen.limits import MAX_NAME_LENGTH
from corsgen.plan import ACAO, Plan, build_plan
from corsgen.policy.loading import parse_policy
from corsgen.probe import battery
from corsgen.probe.battery import Probe
from corsgen.promise import is_preflight, promised_answer
from corsgen.routing import (
    Answered,
    Asked,
    Routes,
    Scope,
    audit_backend,
)
from corsgen.rules.checks import check_policy
from corsgen.targets import limit_findings, shortfall_findings

# Keys in the order a policy file lists them (docs/policy.md).
_ORDER = (
    "name",
    "allow_origins",
    "allow_origin_regex",
    "allow_credentials",
    "allow_methods",
    "allow_headers",
    "expose_headers",
    "max_age",
    "preflight_status",
    "allow_private_network",
)
# Where a key's value came from when the grant names no line of its own: the origin's.
_SOURCE = {"allow_origin_regex": "allow_origins", "name": ""}
_SHOWN = 3  # requests named per kind of change; the rest are counted


@dataclass
class Policy:
    """One imported scope: the policy written, what was dropped, and what rendering changes."""

    scope: Scope
    path: Path | None  # None: nothing of the grant is left that corsgen accepts
    text: str = ""
    dropped: list[str] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    # Where the target cannot keep corsgen's promise (CG501): the changes are the promise's.
    shortfalls: list[Finding] = field(default_factory=list)


def _value(value: object) -> str:
    """A TOML value: JSON's strings, lists, booleans and integers are TOML's too."""
    return json.dumps(value)


def where(scope: Scope) -> str:
    """The scope as import names it, in the policy file and on the terminal."""
    host = f"host {scope.host}" if scope.host else "any host"  # a site of no name
    return f"{scope.title} at {scope.at} ({host})"


def policy_text(imported: Imported, scope: Scope, differs: Sequence[str] = ()) -> str:
    """The policy file: a header naming the scope, what was dropped, where the config's text and
    its effect differ (`differs`), then each key with the line of config it came from."""
    lines = [
        f"# Imported by `corsgen import` from {where(scope)}:",
        "# what the config grants today, not what its author meant.",
        # Where to include the output: the CORS may be sent on some of the block's paths only
        # (a Caddy `header @public`); included on all of them, it would answer more.
        f"# It answers CORS there on: {', '.join(scope.paths)}",
    ]
    lines += [f"# Dropped: {d}" for d in imported.dropped]
    lines += [f"# Differs: {d}" for d in differs]
    for key in _ORDER:
        if key not in imported.keys:
            continue
        source = imported.at.get(key) or imported.at.get(_SOURCE.get(key, key))
        if source is not None:
            lines.append(f"# from {source}")
        lines.append(f"{key} = {_value(imported.keys[key])}")
    # Each line escaped on its own: a newline in a file name or a quoted location ends a comment
    # and writes the rest as TOML (a key of the config's choosing, or a file import refuses).
    return "".join(escape(line) + "\n" for line in lines)


def checked_plan(text: str, file: str) -> Plan:
    """The policy's plan, through the same loading and rules as `corsgen check`: a policy import
    writes must pass it."""
    policy = parse_policy(text, file)
    name = str(policy.name)
    findings = check_policy(policy, name, file)
    if blocking(findings, strict=False):
        raise PolicyError(findings)
    plan = build_plan(policy, name, file)
    refused = limit_findings(plan, file)
    if refused:
        raise PolicyError(refused)
    return plan


def _names(scopes: Sequence[Scope]) -> Iterator[str]:
    """A distinct policy name per scope: the second api_v1 is api_v1_2."""
    return distinct(policy_name(scope.host, _title(scope)) for scope in scopes)


def distinct(names: Iterable[str]) -> Iterator[str]:
    """The names, each made distinct from those before it: the second api_v1 is api_v1_2."""
    seen: set[str] = set()
    for base in names:
        name = base
        number = 1
        while name in seen:
            number += 1
            suffix = f"_{number}"
            name = base[: MAX_NAME_LENGTH - len(suffix)] + suffix
        seen.add(name)
        yield name


# A block its server has no name for, named by its line ("route at line 42 of virtual host api"):
# its line says nothing in a policy's name, its path does.
_BY_LINE = re.compile(r"\bat line \d+ of ")


def _title(scope: Scope) -> str:
    """The scope's title as policy_name reads it (the words after its first)."""
    if not _BY_LINE.search(scope.title):
        return scope.title
    return f"{scope.title.split()[0]} {scope.paths[0] if scope.paths else ''}"


def imported(
    routes: Routes, out_dir: Path, target: str | None = None, configs: Sequence[Path] = ()
) -> list[Policy]:
    """A policy for every scope the config's CORS is written by hand in (a scope with a corsgen
    snippet is corsgen's already), with the changes rendering it would make, and where `target`
    falls short of what rendering promises. `configs`: the files the user named, whose origins
    are asked for beside those of the scope's own lines (audit/today.py)."""
    scopes = hand_written(routes)[:MAX_SCOPES]  # as many as the audit probes
    out = []
    for found, name in zip(scopes, _names(scopes), strict=True):
        scope = _answering(routes, found)
        if not scope.paths:
            out.append(Policy(scope, None, dropped=[_NOWHERE]))
            continue
        assert scope.granted is not None
        granted, refused = today.preflighted(routes, scope, scope.granted)
        files = [scope.at.file, *(p.file for p in granted.at.values()), *map(str, configs)]
        texts = today.read_texts(files)
        paths = today.asked_paths(routes, scope, texts)
        granted, denied = today.denied(routes, scope, granted, texts, paths)
        refused += denied
        try:
            safe = nearest_safe(granted, name)
        except NothingLeft as nothing:
            said = [*refused, *nothing.dropped]
            out.append(Policy(scope, None, dropped=[_NOTHING if said else _NO_ORIGIN, *said]))
            continue
        safe.dropped[:0] = refused
        unread = today.unread(routes, scope, safe, paths)
        if unread is not None:
            out.append(Policy(scope, None, dropped=[_UNALIKE, *refused, unread]))
            continue
        today.cookieless(routes, scope, safe, paths)
        path = out_dir / f"{name}.toml"
        text = policy_text(safe, scope)
        plan = checked_plan(text, path.name)
        changes = _changes(routes, scope, plan, target)
        short = shortfall_findings(plan, path.name, [target] if target else [])
        out.append(Policy(scope, path, text, safe.dropped, changes, short))
    return out


def hand_written(routes: Routes) -> list[Scope]:
    """The scopes whose CORS is written by hand (one with a corsgen snippet is corsgen's)."""
    return [s for s in routes.scopes() if s.granted is not None and s.policy is None]


def left_out(routes: Routes) -> str | None:
    """What `imported` leaves out, in words: the scopes past the first MAX_SCOPES (as the audit
    says what it did not probe), else None."""
    count = len(hand_written(routes))
    if count <= MAX_SCOPES:
        return None
    return (
        f"imported the first {MAX_SCOPES:,} of {count:,} places that answer CORS by hand; "
        f"the other {count - MAX_SCOPES:,} are not imported"
    )


_NOTHING = "corsgen accepts none of the origins or regexes it grants"
_UNALIKE = "the policy would let an origin read what it cannot today"
_NOWHERE = "another block answers every request the model finds for it"
# A place that sends CORS headers to no origin the model asks with: under a condition the model
# does not read as a test of Origin (nginx's `if ($uri ~ ...)`, an HAProxy `if { path_beg ... }`).
_NO_ORIGIN = (
    "the model finds no origin it sends Access-Control-Allow-Origin to here (a condition on "
    "something else than the Origin): write the policy by hand"
)


def _answering(routes: Routes, scope: Scope) -> Scope:
    """The scope with only the paths its block answers today (the audit's `paths` also name those
    another block takes from it, a longer Traefik rule, to show the takeover): the policy is
    served, and its changes found, only where the config grants it today."""
    paths = tuple(p for p in scope.paths if passes(routes, scope, p, audit_backend))
    return replace(scope, paths=paths)


@dataclass(frozen=True)
class Seen:
    """One answer as the changes compare it, whoever gave it: the model of the old config, the
    policy's promise, or a real server (the round-trip test observes the same fields)."""

    status: int
    headers: tuple[tuple[str, str], ...]  # as the browser reads them
    own: tuple[tuple[str, str], ...]  # the config's own, without the backend's
    theirs: tuple[str, ...] = ()  # the backend's CORS headers that reach the browser
    backend: bool = False  # the request reached the backend
    auth: str = ""  # the authentication it met, where known ("" for none)


@dataclass(frozen=True)
class Change:
    """One kind of change rendering makes, with every request (probe's) that shows it."""

    kind: str
    requests: tuple[str, ...]
    at: str = ""  # the line the kind names (the authentication the preflights stop meeting)

    def __str__(self) -> str:
        listed = ", ".join(dict.fromkeys(self.requests[:_SHOWN]))
        more = self.requests[_SHOWN:]
        rest = f" and {len(more)} more" if more else ""
        at = f" at {self.at}" if self.at else ""
        return f"{self.kind}{at}: {len(self.requests)} ({listed}{rest})"


# The kinds of change, in the order they are printed.
REFUSED = "origins that read today and will be refused"
ERRORS = "error answers that gain their CORS headers"
AUTH = "preflights that stop meeting the authentication"
BACKEND = "preflights answered by corsgen, not the backend"
READ = "requests that read after rendering and not today"
VARY = "answers that gain Vary: Origin"
THEIRS = "answers that lose the backend's own CORS headers"
COOKIES = "origins that read with the user's cookies today and will read without them"
ECHO = "answers that send the Origin back instead of *"
STAR = "answers that send * instead of the Origin back"
KINDS = (REFUSED, ERRORS, AUTH, BACKEND, READ, VARY, THEIRS, COOKIES, ECHO, STAR)


def seen(answered: Answered) -> Seen:
    """The model's answer, as the changes compare it."""
    own = tuple(answered.own())
    theirs = tuple(h.name for h in answered.headers if h.at is None and _cors(h.name))
    auth = str(answered.auth) if answered.auth is not None else ""
    return Seen(answered.status, answered.pairs(), own, theirs, answered.backend, auth)


def promised(plan: Plan, probe: Probe, old: Seen) -> Seen:
    """What the server sends once the policy's snippet is included where the old config answered:
    the snippet answers an allowed preflight; any other request keeps the application's status."""
    status, headers = promised_answer(plan, probe.method, probe.headers)
    asked = header_value(probe.headers, "Origin") or ""
    if not (is_preflight(probe.method, probe.headers) and plan.allows(asked)):
        status = old.status
    return Seen(status, tuple(headers), tuple(headers))


def probes(scope: Scope, plan: Plan) -> list[Probe]:
    """The requests the changes are found with: probe's conformance battery for the policy and
    the scanners' questions, on the scope's first paths and their error paths."""
    paths = list(scope.paths[:3])
    errors = [error_path(p) for p in paths]
    origin = plan.exact_origins[0] if plan.exact_origins else f"https://{scope.host}"
    conformance = battery.conformance(plan, paths, errors).probes
    scanned = battery.scan(origin, paths, errors).probes
    return list(dict.fromkeys([*conformance, *scanned]))


def asked(scope: Scope, probe: Probe) -> Asked:
    """The probe as a request to the scope's site."""
    return Asked(scope.host, probe.method, probe.path, probe.headers, scope.port)


def _changes(routes: Routes, scope: Scope, plan: Plan, target: str | None) -> list[Change]:
    """What rendering the policy changes: the battery answered by the model of the old config,
    and by the target's model of the output served where the scope was (else by the promise)."""
    sent = probes(scope, plan)
    old = [seen(routes.answer(asked(scope, p), audit_backend)) for p in sent]
    new = _rendered(scope, plan, target, sent, old)
    if new is None:
        new = [promised(plan, p, o) for p, o in zip(sent, old, strict=True)]
    return changes(sent, old, new)


# Where the output's model sends the application's requests: nowhere, the model answers them.
_APPLICATION = "127.0.0.1:9"


def _rendered(
    scope: Scope, plan: Plan, target: str | None, sent: Sequence[Probe], old: Sequence[Seen]
) -> list[Seen] | None:
    """The output's answers as the target's model gives them, served where the scope was: what
    the server does with it, where it falls short of the promise too. A request the output passes
    on keeps the application's status (the old config's: its auth and errors stay as they are)."""
    if target is None:
        return None
    import tempfile

    from corsgen.targets import by_name

    spec = by_name(target)
    port = scope.port or 80
    with tempfile.TemporaryDirectory(prefix="corsgen-import-") as directory:
        files = spec.in_place(scope, plan, Path(directory), _APPLICATION, port)
        if files is None:
            return None
        loaded = spec.routes(files)
        if loaded.routes is None:
            raise AssertionError(f"the output for {scope.title} does not load: {loaded.findings}")
        rendered = loaded.routes
        answers = [
            rendered.answer(replace(asked(scope, p), port=port), audit_backend) for p in sent
        ]
    return [
        Seen(o.status if a.backend else a.status, a.pairs(), a.pairs())
        for a, o in zip(answers, old, strict=True)
    ]


def changes(sent: Sequence[Probe], old: Sequence[Seen], new: Sequence[Seen]) -> list[Change]:
    """Request by request, how the new answer differs from the old, kind by kind."""
    found: dict[tuple[str, str], list[str]] = {}
    for probe, was, will in zip(sent, old, new, strict=True):
        for kind, at in _kinds(probe, was, will):
            found.setdefault((kind, at), []).append(_shown(probe))
    ordered = sorted(found.items(), key=lambda item: KINDS.index(item[0][0]))
    return [Change(kind, tuple(requests), at) for (kind, at), requests in ordered]


def _cors(name: str) -> bool:
    return name.lower().startswith("access-control-")


def _reads(
    probe: Probe, headers: Sequence[tuple[str, str]], status: int, cookies: bool | None = None
) -> bool:
    """Whether the page's request (or its preflight) succeeds on this answer: as the probe asks,
    or with the user's cookies (True) or without (False)."""
    request = probe.request
    if request is None:
        return False
    if cookies is not None:
        request = replace(request, credentials=cookies)
    if probe.method == "OPTIONS":
        return preflight_failure(request, headers, status) is None
    return cors_failure(request, headers) is None


def _shown(probe: Probe) -> str:
    origin = probe.request.origin if probe.request else "no Origin"
    return f"{probe.method} {probe.path} from {origin}"


def _kinds(probe: Probe, old: Seen, new: Seen) -> Iterator[tuple[str, str]]:
    before, after = _reads(probe, old.headers, old.status), _reads(probe, new.headers, new.status)
    if before and not after:
        yield REFUSED, ""
    if after and not before:
        if old.status >= 400 and probe.method != "OPTIONS":
            yield ERRORS, ""
        elif old.auth:
            yield AUTH, old.auth
        elif old.backend and probe.method == "OPTIONS":
            yield BACKEND, ""
        else:
            yield READ, ""
    if "origin" in vary_tokens(new.headers) and "origin" not in vary_tokens(old.headers):
        yield VARY, ""
    if old.theirs:
        yield THEIRS, ""
    # With cookies as a browser reads them: `*` with Allow-Credentials reads with none today.
    if (
        before
        and after
        and _reads(probe, old.headers, old.status, cookies=True)
        and not _reads(probe, new.headers, new.status, cookies=True)
    ):
        yield COOKIES, ""
    # What the config itself sends back: the backend's copy is THEIRS.
    was, will = header_value(old.own, ACAO), header_value(new.headers, ACAO)
    if was == "*" and will not in (None, "*"):
        yield ECHO, ""
    if was not in (None, "*") and will == "*":
        yield STAR, ""


def write_policies(policies: Sequence[Policy], configs: Sequence[Path]) -> None:
    """Write every policy, or none: an existing file is refused, and so is a config's own path.
    Under the out-dir's lock, as sync and render --out-dir write: two imports into one directory
    take turns, and the second finds the first's files (write_atomically replaces a file)."""
    from corsgen.sync import locked_outputs
    from corsgen.writing import write_atomically

    files: Mapping[Path, str] = {p.path: p.text for p in policies if p.path is not None}
    mine = {c.resolve() for c in configs}
    with locked_outputs({path.parent for path in files}):
        existing = [shown(p) for p in files if p.exists() or p.resolve() in mine]
        if existing:
            raise CorsgenError(f"refusing to overwrite {', '.join(existing)}; nothing was written")
        write_atomically(files)
