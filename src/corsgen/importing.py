"""`corsgen import`: each hand-written CORS configuration a routing model finds, as a policy that
states what it grants today, and what rendering that policy would change.

A scope is imported on the paths its block answers today (not those another block takes from it),
and its grant (routing.Granted, read from the model) without the methods and request headers the
config's own answer to their preflight refuses today; then it becomes the nearest policy corsgen
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
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from corsgen.audit.engine import MAX_SCOPES, error_path, passes
from corsgen.audit.granted import Imported, NothingLeft, as_plan, nearest_safe, policy_name
from corsgen.errors import CorsgenError, Finding, PolicyError, blocking, escape
from corsgen.fetch import (
    SAFELISTED_METHODS,
    Request,
    cors_failure,
    header_value,
    preflight_failure,
    preflight_headers,
    vary_tokens,
)
from corsgen.files import decode, read_file, shown
from corsgen.limits import MAX_NAME_LENGTH
from corsgen.plan import ACAO, Plan, build_plan
from corsgen.policy.loading import parse_policy
from corsgen.probe import battery
from corsgen.probe.battery import Probe
from corsgen.promise import is_preflight, promised_answer
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


def policy_text(imported: Imported, scope: Scope) -> str:
    """The policy file: a header naming the scope, what was dropped, then each key with the line
    of config it came from."""
    lines = [
        f"# Imported by `corsgen import` from {where(scope)}:",
        "# what the config grants today, not what its author meant.",
        # Where to include the output: the CORS may be sent on some of the block's paths only
        # (a Caddy `header @public`); included on all of them, it would answer more.
        f"# It answers CORS there on: {', '.join(scope.paths)}",
    ]
    lines += [f"# Dropped: {d}" for d in imported.dropped]
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
    seen: set[str] = set()
    for scope in scopes:
        name = base = policy_name(scope.host, _title(scope))
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
    are asked for beside those of the scope's own lines (_denied)."""
    scopes = hand_written(routes)[:MAX_SCOPES]  # as many as the audit probes
    out = []
    for found, name in zip(scopes, _names(scopes), strict=True):
        scope = _answering(routes, found)
        if not scope.paths:
            out.append(Policy(scope, None, dropped=[_NOWHERE]))
            continue
        assert scope.granted is not None
        granted, refused = _preflighted(routes, scope, scope.granted)
        files = [scope.at.file, *(p.file for p in granted.at.values()), *map(str, configs)]
        texts = _texts(files)
        paths = _paths(routes, scope, texts)
        granted, denied = _denied(routes, scope, granted, texts, paths)
        refused += denied
        try:
            safe = nearest_safe(granted, name)
        except NothingLeft as nothing:
            said = [*refused, *nothing.dropped]
            out.append(Policy(scope, None, dropped=[_NOTHING if said else _NO_ORIGIN, *said]))
            continue
        safe.dropped[:0] = refused
        unread = _unread(routes, scope, safe, paths)
        if unread is not None:
            out.append(Policy(scope, None, dropped=[_UNALIKE, *refused, unread]))
            continue
        _cookieless(routes, scope, safe, paths)
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


# An origin, or a host a regex or a list names (evil\.example\.com$), written in a config.
_NAMED_ORIGIN = re.compile(
    r"(?:\b([a-z][a-z0-9+.-]*)://)?((?:[a-z0-9-]+\\?\.)+[a-z][a-z0-9-]*)(?::(\d{1,5}))?", re.I
)
MAX_NAMED = 200  # origins a config names that import asks the model for, at the most
# A word of a config (evil, ru, partner): a deny-list may name a host by a piece of it (`~* evil`,
# `\.(ru|cn)$`) or build it from pieces (`set $bad "https://evil"; set $bad "${bad}.example.com"`).
_WORD = re.compile(r"[a-z][a-z0-9-]*[a-z0-9]", re.I)
MAX_WORDED = 200  # origins built from a config's words that import asks for, at the most


def _texts(files: Sequence[str]) -> list[str]:
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


def _denied(
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


def _preflighted(routes: Routes, scope: Scope, granted: Granted) -> tuple[Granted, list[str]]:
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


def _paths(routes: Routes, scope: Scope, texts: Sequence[str]) -> list[str]:
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


def _unread(routes: Routes, scope: Scope, safe: Imported, paths: Sequence[str]) -> str | None:
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


def _cookieless(routes: Routes, scope: Scope, safe: Imported, paths: Sequence[str]) -> None:
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
