"""The routing model of an HAProxy config: what HAProxy 2.6 answers a request, header by header.

The files are read as `haproxy -f a.cfg -f b.cfg` reads them, one after the other (HAProxy has no
include). A request arrives at the frontend (or listen) that binds its port. Each proxy's rules
are those of its defaults section (`from NAME`, else the last defaults above it) followed by its
own; an ACL is seen only by the section that declares it, below its line. In this order, as
tests/audit/haproxy_routing_test.py checks on Debian's haproxy 2.6:

1. the frontend's `http-request` rules: set-var and header edits, or a final `return`, `deny`,
   `auth` or `redirect` that HAProxy answers itself; `allow` ends the section's rules;
2. the frontend's `redirect` lines, then `use_backend` (the first whose condition holds), else
   `default_backend`; no backend, or one with no server: HAProxy's 503;
3. the backend's `http-request` rules and `redirect` lines, then its server (the `backend`
   function of `answer`);
4. `http-response` rules, the backend's then the frontend's, on the server's answer only: HAProxy's
   own answers (return, deny, auth, redirect, its 503) never pass them;
5. `http-after-response` rules, the backend's (when one was chosen) then the frontend's, on every
   answer.

An answer's `by` is the line that made it: the rule or `use_backend` line of HAProxy's own
answers, the backend (or listen) section of the server's.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from corsgen.marker import parse_marker
from corsgen.routing import (
    Answered,
    Asked,
    Backend,
    Granted,
    OriginRegex,
    Place,
    Scope,
    Sent,
    audit_backend,
)
from corsgen.server_config import ConfigBudget, decode_config
from corsgen.targets.haproxy_samples import (
    Acl,
    Condition,
    Expr,
    Format,
    Line,
    Txn,
    Unmodeled,
    fetch,
    number,
    parse_acl,
    parse_condition,
    parse_expr,
    parse_format,
    parse_predefined,
    render,
    split_line,
    usable,
)

PROXIES = ("frontend", "backend", "listen")
SECTIONS = frozenset(
    {*PROXIES, "defaults", "global", "userlist", "peers", "resolvers", "mailers", "program"}
    | {"http-errors", "ring", "cache", "fcgi-app"}
)
# tcp-request lines that let every HTTP request through.
_TCP_INERT = (("inspect-delay",), ("content", "accept"))
MAX_PORTS = 1_000  # of one bind's range: the model needs the ports it is asked on, not all
PHASES = ("http-request", "http-response", "http-after-response")
# Rules that change nothing a CORS answer shows (logging, QoS, counters): read past, conditions
# and all.
INERT = frozenset(
    {
        "capture",
        "set-log-level",
        "set-nice",
        "set-tos",
        "set-mark",
        "set-priority-class",
        "set-priority-offset",
        "set-timeout",
        "track-sc0",
        "track-sc1",
        "track-sc2",
        "sc-inc-gpc0",
        "sc-inc-gpc1",
        "sc-set-gpt0",
        "set-bandwidth-limit",
        "wait-for-body",
    }
)
# The actions each phase runs, beside the inert ones.
ACTIONS: Mapping[str, frozenset[str]] = {
    "http-request": frozenset(
        {"set-var", "set-var-fmt", "unset-var", "set-header", "add-header", "del-header"}
        | {"return", "deny", "auth", "redirect", "allow", "set-path", "replace-path"}
    ),
    "http-response": frozenset(
        {"set-var", "set-var-fmt", "unset-var", "set-header", "add-header", "del-header"}
        | {"set-status", "allow", "deny", "return"}
    ),
    "http-after-response": frozenset(
        {"set-var", "set-var-fmt", "unset-var", "set-header", "add-header", "del-header"}
        | {"set-status", "allow"}
    ),
}
# The statuses HAProxy has an answer of its own for (and an errorfile may replace).
ERROR_STATUSES = frozenset({200, 400, 401, 403, 404, 405, 407, 408, 410, 413, 425, 429, 500})
ERROR_STATUSES |= {501, 502, 503, 504}
FINAL = frozenset({"return", "deny", "auth", "redirect"})
DENIED = {"http-request": 403, "http-response": 502}
_NAMED_ACTION = re.compile(r"([a-z-]+)\((.+)\)$")


@dataclass(frozen=True)
class Rule:
    """One http-request, http-response, http-after-response or redirect line."""

    at: Place
    phase: str
    action: str
    name: str = ""  # the header or the variable
    value: Format = ()  # the header's value, set-var-fmt's, the redirect's target, set-path's
    expr: Expr | None = None  # set-var's sample
    status: int = 0
    headers: tuple[tuple[str, Format], ...] = ()  # return's and deny's `hdr`
    regex: str = ""  # replace-path's
    realm: str = ""
    # return's and deny's head: "errorfile" (the proxy's errorfile for the status, as a bare deny
    # or `default-errorfiles`), "file" (return's own `errorfile FILE`: in `page`), "" (its own).
    head: str = ""
    page: ErrorFile | None = None
    condition: Condition | None = None


@dataclass(frozen=True)
class ErrorFile:
    """An errorfile: the raw answer HAProxy sends instead of its own for one status."""

    status: int
    # Each at the line that names the file: where a finding can point (a .http file holds no
    # comments), and what the user edits or removes.
    headers: tuple[Sent, ...]


def parse_errorfile(text: str, file: str, at: Place) -> ErrorFile:
    lines = text.split("\n")
    status = lines[0].split()[1] if len(lines[0].split()) > 1 else ""
    if not status.isdigit():
        raise Unmodeled(f"{file} does not start with an HTTP status line", at)
    headers = []
    for count, raw in enumerate(lines[1:], start=2):
        line = raw.rstrip("\r")
        if not line:
            break
        name, colon, value = line.partition(":")
        if not colon:
            raise Unmodeled(f"{file}:{count} is not a header line", at)
        headers.append(Sent(name.strip(), value.strip(), at))
    return ErrorFile(int(status), tuple(headers))


@dataclass(eq=False)  # one section is one proxy: compared, and hashed, by identity
class Section:
    kind: str
    name: str
    at: Place
    parent: str | None  # `from NAME`
    defaults: Section | None = None
    mode: str = ""
    acls: dict[str, tuple[Acl, ...]] = field(default_factory=dict)
    rules: dict[str, list[Rule]] = field(default_factory=dict)  # phase (or "redirect") -> rules
    switches: list[tuple[str, Condition | None, Place]] = field(default_factory=list)
    default_backend: tuple[str, Place] | None = None
    servers: list[Place] = field(default_factory=list)
    ports: list[int] = field(default_factory=list)
    ssl: bool = False
    users: dict[str, str | None] = field(default_factory=dict)
    errorfiles: dict[int, ErrorFile] = field(default_factory=dict)

    def errorfile(self, status: int) -> ErrorFile | None:
        """This proxy's errorfile for a status: its own, else its defaults section's."""
        own = self.errorfiles.get(status)
        return own or (self.defaults.errorfile(status) if self.defaults else None)

    @property
    def title(self) -> str:
        return f"{self.kind} {self.name}".rstrip()

    def effective_mode(self) -> str:
        return self.mode or (self.defaults.effective_mode() if self.defaults else "tcp")

    def chain(self, phase: str) -> list[Rule]:
        """The rules this proxy runs in a phase: its defaults section's, then its own."""
        inherited = self.defaults.rules.get(phase, []) if self.defaults else []
        return [*inherited, *self.rules.get(phase, [])]


@dataclass
class _Reply:
    status: int
    headers: list[Sent]
    by: Place
    generated: bool  # HAProxy answered itself: http-response rules do not run


# ---------------------------------------------------------------------------------------------
# Reading the files.


def read_lines(text: str, file: str, environ: Mapping[str, str]) -> list[Line]:
    lines = []
    for count, raw in enumerate(text.splitlines(), start=1):
        at = Place(file, count)
        words = split_line(raw, at, environ)
        if words:
            lines.append(Line(at, words))
    return lines


class _Reader:
    def __init__(self, read: Callable[[str, Place], str]) -> None:
        self.read_file = read  # an errorfile's text
        self.sections: list[Section] = []
        self.defaults: dict[str, Section] = {}
        self.last_defaults: Section | None = None
        self.userlists: dict[str, dict[str, str | None]] = {}

    def read(self, lines: Sequence[Line]) -> None:
        current: Section | None = None
        for line in lines:
            keyword = line.words[0]
            if keyword in SECTIONS:
                current = self._open(line)
            elif current is not None:
                self._line(current, line)

    def _open(self, line: Line) -> Section | None:
        kind, rest = line.words[0], list(line.words[1:])
        parent = None
        if len(rest) >= 2 and rest[-2] == "from":
            parent, rest = rest[-1], rest[:-2]
        name = rest[0] if rest else ""
        if kind == "userlist":
            self.userlists[name] = {}
            return Section(kind, name, line.at, None, users=self.userlists[name])
        if kind == "global":
            return Section(kind, name, line.at, None)
        if kind not in (*PROXIES, "defaults"):
            return None  # the others route nothing
        section = Section(kind, name, line.at, parent)
        if parent is not None:
            if parent not in self.defaults:
                raise Unmodeled(f"no defaults section {parent!r} above this line", line.at)
            section.defaults = self.defaults[parent]
        elif kind != "defaults":
            section.defaults = self.last_defaults
        if kind == "defaults":
            if parent is not None:
                raise Unmodeled("a defaults section `from` another is not modeled", line.at)
            self.last_defaults = section
            if name:
                self.defaults[name] = section
        else:
            self.sections.append(section)
        return section

    def _line(self, section: Section, line: Line) -> None:
        keyword, args, at = line.words[0], line.words[1:], line.at
        if section.kind == "global":
            if keyword == "default-path":  # where relative errorfiles are read from
                raise Unmodeled("default-path is not modeled", at)
        elif section.kind == "userlist":
            if keyword == "user" and args:
                options = dict(zip(args[1::2], args[2::2], strict=False))
                section.users[args[0]] = options.get("insecure-password")
        elif keyword == "mode" and args:
            section.mode = args[0]
        elif keyword == "acl" and args:
            acl = parse_acl(args[1:], at)
            section.acls[args[0]] = (*section.acls.get(args[0], ()), acl)
        elif keyword in PHASES:
            self._rule(section, keyword, args, at)
        elif keyword == "redirect":
            self._rule(section, keyword, ("redirect", *args), at)
        elif keyword == "use_backend" and args:
            condition = self._condition(section, args[1:], at, response=False)
            section.switches.append((args[0], condition, at))
        elif keyword == "default_backend" and args:
            section.default_backend = (args[0], at)
        elif keyword == "server":
            if "disabled" not in args:
                section.servers.append(at)
        elif keyword == "bind":
            self._bind(section, args, at)
        elif keyword == "errorfile" and len(args) == 2:
            page = self._page(args[1], at)
            section.errorfiles[number(args[0], at)] = page
        elif keyword in ("errorfile", "errorfiles", "http-error", "errorloc", "errorloc302"):
            raise Unmodeled(f"{keyword} is not modeled", at)
        elif keyword.startswith("lua") or (
            keyword in ("tcp-request", "tcp-response")
            and tuple(args[:2]) not in _TCP_INERT
            and tuple(args[:1]) not in _TCP_INERT
        ):
            raise Unmodeled(f"{' '.join(line.words[:2])} is not modeled", at)

    def _page(self, path: str, at: Place) -> ErrorFile:
        return parse_errorfile(self.read_file(path, at), path, at)

    def _bind(self, section: Section, args: Sequence[str], at: Place) -> None:
        if not args:
            return
        for address in args[0].split(","):
            port = address.rsplit(":", 1)[-1]
            low, _, high = port.partition("-")
            if low.isdigit() and (high or low).isdigit():
                section.ports.extend(range(int(low), int(high or low) + 1)[:MAX_PORTS])
        section.ssl = section.ssl or "ssl" in args[1:]
        del at

    def _condition(
        self, section: Section, words: Sequence[str], at: Place, response: bool
    ) -> Condition | None:
        if not words:
            return None
        if words[0] not in ("if", "unless"):
            raise Unmodeled(f"expected if or unless, not {words[0]!r}", at)

        def named(name: str) -> tuple[Acl, ...]:
            found = section.acls.get(name) or parse_predefined(name, at)
            if not found:
                raise Unmodeled(f"no such ACL: {name!r} (haproxy -c refuses it)", at)
            return found

        return parse_condition(words, at, named, response)

    def _rule(self, section: Section, phase: str, args: Sequence[str], at: Place) -> None:
        if not args:
            raise Unmodeled(f"{phase} without an action", at)
        if section.kind == "defaults" and not section.name:
            raise Unmodeled(f"{phase} in an anonymous defaults section (haproxy -c refuses)", at)
        named = _NAMED_ACTION.match(args[0])
        action, name = (named[1], named[2]) if named else (args[0], "")
        cut = next((i for i, w in enumerate(args) if w in ("if", "unless")), len(args))
        words, response = args[1:cut], phase != "http-request" and phase != "redirect"
        condition = self._condition(section, args[cut:], at, response)
        if action in INERT:
            return
        if phase != "redirect" and action not in ACTIONS[phase]:
            raise Unmodeled(f"{phase} {action} is not modeled", at)
        rule = Rule(at, phase, action, name, condition=condition)
        rule = _parse_rule(rule, words, response, self._page)
        section.rules.setdefault(phase, []).append(rule)


def _parse_rule(
    rule: Rule, words: Sequence[str], response: bool, page: Callable[[str, Place], ErrorFile]
) -> Rule:
    at, action = rule.at, rule.action

    def value(text: str) -> Format:
        parsed = parse_format(text, at)
        for part in parsed:
            if isinstance(part, Expr):
                usable(part, at, response)
        return parsed

    def need(count: int) -> None:
        if len(words) < count:
            raise Unmodeled(f"{rule.phase} {action} needs {count} arguments here", at)

    if action == "set-var":
        need(1)
        expr = parse_expr(words[0], at)
        usable(expr, at, response)
        return _with(rule, expr=expr)
    if action == "set-var-fmt":
        need(1)
        return _with(rule, value=value(words[0]))
    if action in ("set-header", "add-header"):
        need(2)
        return _with(rule, name=words[0], value=value(words[1]))
    if action == "del-header":
        need(1)
        if len(words) > 1:
            raise Unmodeled("del-header with a match method is not modeled", at)
        return _with(rule, name=words[0])
    if action == "set-status":
        need(1)
        return _with(rule, status=number(words[0], at))
    if action in ("return", "deny"):
        return _answer_options(rule, words, value, page)
    if action == "auth":
        options = dict(zip(words[::2], words[1::2], strict=False))
        return _with(rule, realm=options.get("realm", ""))
    if action == "redirect":
        return _redirect(rule, words, value)
    if action == "set-path":
        need(1)
        return _with(rule, value=value(words[0]))
    if action == "replace-path":
        need(2)
        return _with(rule, regex=words[0], value=value(words[1]))
    return rule  # allow, unset-var


def _with(rule: Rule, **changes: object) -> Rule:
    return replace(rule, **changes)  # type: ignore[arg-type]


def _answer_options(
    rule: Rule, words: Sequence[str], value: _Parse, page: Callable[[str, Place], ErrorFile]
) -> Rule:
    """return's and deny's: status (deny_status), content-type, a body or an errorfile, hdr NAME
    VALUE. A deny with none of these answers with the proxy's errorfile for its status, as
    `default-errorfiles` does; checked on haproxy 2.6."""
    status = 200 if rule.action == "return" else DENIED[rule.phase]
    headers: list[tuple[str, Format]] = []
    head, errorfile, i = "", None, 0
    while i < len(words):
        word = words[i]
        if word in ("status", "deny_status") and i + 1 < len(words):
            status, i = number(words[i + 1], rule.at), i + 2
        elif word in ("content-type", "string", "lf-string", "file", "lf-file"):
            head, i = head or "own", i + 2
        elif word == "default-errorfiles":
            head, i = "errorfile", i + 1
        elif word == "errorfile" and i + 1 < len(words):
            head, errorfile, i = "file", page(words[i + 1], rule.at), i + 2
        elif word == "hdr" and i + 2 < len(words):
            headers.append((words[i + 1], value(words[i + 2])))
            head, i = head or "own", i + 3
        else:
            raise Unmodeled(f"{rule.phase} {rule.action} {word} is not modeled", rule.at)
    if not head:
        head = "errorfile" if rule.action == "deny" else "own"
    if head == "errorfile" and status not in ERROR_STATUSES:
        raise Unmodeled(
            f"HAProxy has no error answer for {status} (haproxy -c refuses it)", rule.at
        )
    head = "" if head == "own" else head
    return _with(rule, status=status, headers=tuple(headers), head=head, page=errorfile)


def _redirect(rule: Rule, words: Sequence[str], value: _Parse) -> Rule:
    if len(words) < 2 or words[0] not in ("location", "prefix", "scheme"):
        raise Unmodeled("a redirect without location, prefix or scheme", rule.at)
    options = dict(zip(words[2::2], words[3::2], strict=False))
    status = number(options.get("code", "302"), rule.at)
    return _with(rule, name=words[0], value=value(words[1]), status=status)


_Parse = Callable[[str], Format]


# ---------------------------------------------------------------------------------------------
# Answering a request.


class Model:
    """One config's routing model (routing.Routes)."""

    def __init__(self, reader: _Reader, policies: Mapping[str, str]) -> None:
        self.proxies = reader.sections
        self.users = reader.userlists
        self.policies = policies  # file -> the corsgen policy whose output it is
        self.backends = {s.name: s for s in self.proxies if s.kind in ("backend", "listen")}
        for proxy in self.proxies:
            for name, _, at in proxy.switches:
                self._backend(name, at)
            if proxy.default_backend:
                self._backend(*proxy.default_backend)
        self.fronts = [s for s in self.proxies if s.kind in ("frontend", "listen")]
        self.fronts = [s for s in self.fronts if s.effective_mode() == "http"]

    def _backend(self, name: str, at: Place) -> Section:
        if "%" in name:
            raise Unmodeled("a backend named by a sample is not modeled", at)
        if name not in self.backends:
            raise Unmodeled(f"no backend {name!r} (haproxy -c refuses it)", at)
        return self.backends[name]

    def frontend(self, port: int | None) -> Section:
        if not self.fronts:
            raise Unmodeled("no HTTP frontend or listen section", self.proxies[0].at)
        return next((f for f in self.fronts if port in f.ports), self.fronts[0])

    def answer(self, asked: Asked, backend: Backend = audit_backend) -> Answered:
        front = self.frontend(asked.port)
        headers = list(asked.headers)
        txn = Txn(asked.method, asked.path, asked.host, headers, front.ssl, self.users, front.at)
        trail = [f"{front.title} at {front.at}"]
        chosen: Section | None = None
        reply = self._request(front, txn, trail, front)
        if reply is None:
            chosen, reply = self._switch(front, txn, trail)
        if reply is None and chosen is not None and chosen is not front:
            trail.append(f"{chosen.title} at {chosen.at}")
            reply = self._request(chosen, txn, trail, front)
        reached = False
        proxies = [p for p in (chosen, front) if p is not None]
        proxies = [p for i, p in enumerate(proxies) if p not in proxies[:i]]
        if reply is None and chosen is not None:
            if not chosen.servers:
                trail.append(f"no server in {chosen.title}: HAProxy's 503")
                reply = _error(503, proxies, chosen.at)
            else:
                reached = True
                status, sent = backend(txn.method, txn.path)
                trail.append(f"{chosen.title}'s server: {status}")
                reply = _Reply(status, [Sent(n, v, None) for n, v in sent], chosen.at, False)
                reply = self._respond(proxies, "http-response", txn, reply, trail)
        assert reply is not None  # _switch answers when it chooses no backend
        self._respond(proxies, "http-after-response", txn, reply, trail)
        auth = txn.auth
        return Answered(reply.status, tuple(reply.headers), reply.by, tuple(trail), reached, auth)

    def _request(self, proxy: Section, txn: Txn, trail: list[str], front: Section) -> _Reply | None:
        reply = self._run(proxy, "http-request", txn, None, trail, front)
        return reply or self._run(proxy, "redirect", txn, None, trail, front)

    def _switch(
        self, front: Section, txn: Txn, trail: list[str]
    ) -> tuple[Section | None, _Reply | None]:
        for name, condition, at in front.switches:
            txn.at = at
            if condition is None or condition.holds(txn):
                trail.append(f"use_backend {name} at {at}")
                return self.backends[name], None
        if front.default_backend:
            name, at = front.default_backend
            trail.append(f"default_backend {name} at {at}")
            return self.backends[name], None
        if front.kind == "listen":
            return front, None
        trail.append(f"no backend for {front.title}: HAProxy's 503")
        return None, _error(503, [front], front.at)

    def _respond(
        self, proxies: Sequence[Section], phase: str, txn: Txn, reply: _Reply, trail: list[str]
    ) -> _Reply:
        txn.response, txn.status = reply.headers, reply.status
        for proxy in proxies:
            final = self._run(proxy, phase, txn, reply, trail, proxies[-1])
            if final is not None:
                return final
        return reply

    def _run(
        self,
        proxy: Section,
        phase: str,
        txn: Txn,
        reply: _Reply | None,
        trail: list[str],
        front: Section,
    ) -> _Reply | None:
        """Run a proxy's rules of one phase; the answer of a final rule, else None. `front`:
        where HAProxy looks for an errorfile the proxy has not."""
        for rule in proxy.chain(phase):
            txn.at = rule.at
            if rule.condition is not None and not rule.condition.holds(txn):
                continue
            if rule.action == "allow":
                trail.append(f"{phase} allow at {rule.at}")
                return None
            if rule.action in FINAL:
                trail.append(f"{phase} {rule.action} at {rule.at}: {rule.status or 401}")
                return _final(rule, txn, [proxy, front])
            _apply(rule, txn, reply)
        return None

    def scopes(self) -> Sequence[Scope]:
        """Each proxy that answers CORS: one whose defaults section is corsgen's output (the
        policy), or whose rules set Access-Control-* headers (what they grant, read from the
        model). A backend is asked for on the paths and port of the frontends that choose it."""
        found = []
        for proxy in self.proxies:
            if proxy.effective_mode() != "http":
                continue
            policy = self.policies.get(proxy.defaults.at.file) if proxy.defaults else None
            hand = [r for r in _all_rules(proxy) if _sets_cors(r)]
            hand = [r for r in hand if r.at.file not in self.policies]
            if not (policy or hand):
                continue
            for port, (paths, front) in self._reached(proxy).items():
                sections = (front.defaults, front, proxy.defaults, proxy)
                acls = [a for s in dict.fromkeys(sections) if s for a in _origin_acls(s)]
                granted = self._granted(port, paths[0], acls) if hand else None
                found.append(Scope(proxy.at, "", paths, proxy.title, policy, granted, port))
        return found

    def _reached(self, proxy: Section) -> dict[int | None, tuple[tuple[str, ...], Section]]:
        """The port of each frontend that answers with this proxy, the paths it routes there,
        and the frontend."""
        if proxy.kind != "backend":
            return {proxy.ports[0] if proxy.ports else None: (("/",), proxy)}
        reached: dict[int | None, tuple[tuple[str, ...], Section]] = {}
        for front in self.fronts:
            port = front.ports[0] if front.ports else None
            paths = [p for name, c, _ in front.switches if name == proxy.name for p in _paths(c)]
            if front.default_backend and front.default_backend[0] == proxy.name:
                paths.append("/")
            if paths and port not in reached:
                reached[port] = (tuple(dict.fromkeys(paths)), front)
        return reached

    def _granted(self, port: int | None, path: str, acls: Sequence[Acl]) -> Granted:
        """What the answers on this path grant: a policy's keys, each with the line that sent
        it. The origins and regexes are the origin ACLs' that the answers bear out."""

        def ask(method: str, origin: str, *more: tuple[str, str]) -> Answered:
            asked = Asked("", method, path, (("Origin", origin), *more), port)
            return self.answer(asked, _quiet_backend)

        first = ask("GET", IMPORT_ORIGIN)
        acao = _sent(first, "Access-Control-Allow-Origin")
        reflects = acao is not None and acao.value == IMPORT_ORIGIN
        exact = [p for a in acls if a.method == "str" and not a.ignore_case for p in a.patterns]
        origins = tuple(o for o in dict.fromkeys(exact) if _echoed(ask("GET", o), o))
        regexes = tuple(
            OriginRegex(_as_regex(a.method, p), a.at, "pcre", a.ignore_case)
            for a in acls
            if a.method in _AS_REGEX
            for p in a.patterns
        )
        # An origin the config allows, to read the rest from: a listed one, else one its
        # patterns admit (their host with a scheme), else any when it reflects or sends *.
        admitted = (o for o in _witnesses(acls) if _echoed(ask("GET", o), o))
        allowed = origins[0] if origins else next(admitted, IMPORT_ORIGIN)
        actual = ask("GET", allowed)
        ask_more = ("Access-Control-Request-Private-Network", "true")
        preflight = ask("OPTIONS", allowed, *IMPORT_PREFLIGHT, ask_more)
        keys = {
            "allow_origins": _sent(actual, "Access-Control-Allow-Origin"),
            "allow_credentials": _sent(actual, "Access-Control-Allow-Credentials"),
            "expose_headers": _sent(actual, "Access-Control-Expose-Headers"),
            "allow_methods": _sent(preflight, "Access-Control-Allow-Methods"),
            "allow_headers": _sent(preflight, "Access-Control-Allow-Headers"),
            "max_age": _sent(preflight, "Access-Control-Max-Age"),
            "private_network": _sent(preflight, "Access-Control-Allow-Private-Network"),
        }
        at = {key: sent.at for key, sent in keys.items() if sent and sent.at}
        if regexes:
            at.setdefault("allow_origin_regex", regexes[0].at)
        if not preflight.backend:
            at.setdefault("preflight_status", preflight.by)
        value = {key: sent.value if sent else "" for key, sent in keys.items()}
        age = value["max_age"].strip()
        return Granted(
            origins=origins,
            regexes=regexes,
            any_origin=acao is not None and acao.value == "*",
            reflects=reflects,
            credentials=value["allow_credentials"].strip().lower() == "true",
            methods=_listed(value["allow_methods"]),
            headers=_listed(value["allow_headers"]),
            expose=_listed(value["expose_headers"]),
            max_age=int(age) if age.isdigit() else None,
            private_network=value["private_network"].strip().lower() == "true",
            preflight_status=None if preflight.backend else preflight.status,
            at=at,
        )


# What `scopes` asks the model with: an origin no allowlist names (it is sent back only by a
# config that reflects any), and a preflight for a method and header no browser needs preflighted
# less.
IMPORT_ORIGIN = "https://corsgen-import.example"
IMPORT_PREFLIGHT = (
    ("Access-Control-Request-Method", "PATCH"),
    ("Access-Control-Request-Headers", "x-corsgen-import"),
)
_CORS_PREFIX = "access-control-"
_ORIGIN_FETCHES = frozenset({"hdr", "fhdr", "req.hdr", "req.fhdr"})
_AS_REGEX = ("reg", "beg", "end", "sub", "dom")


def _all_rules(proxy: Section) -> list[Rule]:
    return [rule for phase in (*PHASES, "redirect") for rule in proxy.chain(phase)]


def _sets_cors(rule: Rule) -> bool:
    names = [rule.name] if rule.action in ("set-header", "add-header") else []
    names += [name for name, _ in rule.headers]
    return any(name.lower().startswith(_CORS_PREFIX) for name in names)


def _origin_acls(section: Section) -> Iterator[Acl]:
    for acls in section.acls.values():
        for acl in acls:
            fetch_ = acl.expr.fetch
            if (
                fetch_.name in _ORIGIN_FETCHES
                and fetch_.args[:1]
                and fetch_.args[0].lower() == "origin"
            ):
                yield acl


def _quiet_backend(method: str, path: str) -> tuple[int, tuple[tuple[str, str], ...]]:
    """A backend that sends no CORS headers: what the config grants, without the backend's."""
    return 200, ()


_HOST = re.compile(r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")


def _witnesses(acls: Sequence[Acl]) -> Iterator[str]:
    """Origins an origin ACL's patterns may admit: each host they spell, with each scheme."""
    for acl in acls:
        for pattern in acl.patterns:
            for host in _HOST.findall(re.sub(r"\\(.)", r"\1", pattern)):
                for prefix in ("https://", "http://", "https://www."):
                    yield prefix + host.removeprefix("www.")


def _as_regex(method: str, pattern: str) -> str:
    """An origin test as the regex that admits the same origins."""
    if method == "reg":
        return pattern
    escaped = re.escape(pattern)
    # dom: the pattern as whole words between HAProxy's delimiters (haproxy_samples._match).
    dom = f"(?:^|[/?.:]){escaped}(?:$|[/?.:])"
    return {"beg": "^" + escaped, "end": escaped + "$", "dom": dom}.get(method, escaped)


def _paths(condition: Condition | None) -> list[str]:
    """The paths a use_backend condition names with path, path_beg or path_dir."""
    if condition is None:
        return ["/"]
    return [
        pattern
        for terms in condition.alternatives
        for term in terms
        if not term.negated and not condition.unless
        for acl in term.acls
        if acl.expr.fetch.name == "path" and acl.method in ("str", "beg", "dir")
        for pattern in acl.patterns
    ]


def _sent(answered: Answered, name: str) -> Sent | None:
    return next((s for s in reversed(answered.headers) if s.name.lower() == name.lower()), None)


def _echoed(answered: Answered, origin: str) -> bool:
    sent = _sent(answered, "Access-Control-Allow-Origin")
    return sent is not None and sent.value == origin


def _listed(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _final(rule: Rule, txn: Txn, proxies: Sequence[Section]) -> _Reply:
    """The answer of a return, deny, auth or redirect rule, in the first of `proxies`."""
    headers = [Sent(name, render(value, txn), rule.at) for name, value in rule.headers]
    status = rule.status
    if rule.action == "auth":
        # The errorfile's head, with HAProxy's own WWW-Authenticate in place of the file's.
        realm = rule.realm or proxies[0].name
        txn.auth, status = rule.at, 401
        page = _error(status, proxies, rule.at)
        kept = [h for h in page.headers if h.name.lower() != "www-authenticate"]
        return _Reply(
            status,
            [*kept, Sent("WWW-Authenticate", f'Basic realm="{realm}"', rule.at)],
            rule.at,
            True,
        )
    if rule.action == "redirect":
        headers.append(Sent("Location", _location(rule, txn), rule.at))
    elif rule.head == "errorfile":
        return _error(status, proxies, rule.at)
    elif rule.page is not None:
        return _Reply(rule.page.status, [*rule.page.headers, *headers], rule.at, True)
    return _Reply(status, headers, rule.at, generated=True)


def _error(status: int, proxies: Sequence[Section], by: Place) -> _Reply:
    """HAProxy's own error answer, or the errorfile of the first proxy that has one for it."""
    for proxy in proxies:
        page = proxy.errorfile(status)
        if page is not None:
            return _Reply(page.status, list(page.headers), by, generated=True)
    return _Reply(status, [], by, generated=True)


def _location(rule: Rule, txn: Txn) -> str:
    target = render(rule.value, txn)
    if rule.name == "prefix":
        return target.rstrip("/") + txn.path
    if rule.name == "scheme":
        return f"{target}://{txn.host}{txn.path}"
    return target


def _apply(rule: Rule, txn: Txn, reply: _Reply | None) -> None:
    """A rule that edits and goes on: a variable, a header, the path, the status."""
    action, at = rule.action, rule.at
    if action == "set-var" and rule.expr is not None:
        sample = fetch(rule.expr, txn)
        if sample is not None:  # a sample that is not found sets nothing
            txn.vars[rule.name] = sample
    elif action == "set-var-fmt":
        txn.vars[rule.name] = render(rule.value, txn)
    elif action == "unset-var":
        txn.vars.pop(rule.name, None)
    elif action in ("set-header", "add-header", "del-header"):
        value = render(rule.value, txn)
        name = rule.name.lower()
        if reply is None:
            if action != "add-header":
                txn.headers[:] = [(n, v) for n, v in txn.headers if n.lower() != name]
            if action != "del-header":
                txn.headers.append((rule.name, value))
        else:
            if action != "add-header":
                reply.headers[:] = [h for h in reply.headers if h.name.lower() != name]
            if action != "del-header":
                reply.headers.append(Sent(rule.name, value, at))
    elif action == "set-status" and reply is not None:
        reply.status = txn.status = rule.status
    elif action == "set-path":
        query = txn.path[len(txn.path.split("?", 1)[0]) :]
        txn.path = render(rule.value, txn) + query
    elif action == "replace-path":
        path = txn.path.split("?", 1)[0]
        found = re.search(rule.regex, path)
        if found:
            query = txn.path[len(path) :]
            txn.path = found.expand(render(rule.value, txn)) + query


# ---------------------------------------------------------------------------------------------
# Loading.


def load(configs: Sequence[Path], environ: Mapping[str, str] | None = None) -> Model:
    """The model of HAProxy started with these files (-f, in order); Unmodeled or CorsgenError
    (a file that cannot be read) when there is none. `environ`: what "${VAR}" expands to."""
    budget = ConfigBudget()

    def read(path: str, at: Place) -> str:
        # HAProxy 2.6 reads a relative path from the directory it starts in; the model, which
        # cannot know it, from the directory of the file that names it.
        try:
            return decode_config(budget.read(Path(at.file).parent / path, included_at=str(at)))
        except OSError as exc:
            raise Unmodeled(f"cannot read {path}: {exc.strerror}", at) from None

    reader = _Reader(read)
    policies: dict[str, str] = {}
    for path in configs:
        text = decode_config(budget.read(path))
        file = str(path)
        marker = _policy(text)
        if marker:
            policies[file] = marker
        lines = read_lines(text, file, environ or {})
        budget.parse(len(lines), file, "lines")
        budget.keep(sum(len(line.words) for line in lines), file)
        reader.read(lines)
    if not reader.sections:
        raise Unmodeled("no frontend, backend or listen section", Place(str(configs[0]), 1))
    _refused_inheritance(reader.sections)
    return Model(reader, policies)


def _refused_inheritance(proxies: Sequence[Section]) -> None:
    """What haproxy -c refuses of how proxies take their defaults: a named section taken both
    with `from` and as the last one above, and one with rules taken by frontends and backends."""
    users: dict[Section, list[Section]] = {}
    for proxy in proxies:
        if proxy.defaults is not None:
            users.setdefault(proxy.defaults, []).append(proxy)
    for defaults, taking in users.items():
        implicit = [p for p in taking if p.parent is None]
        if defaults.name and implicit and len(implicit) < len(taking):
            why = f"takes defaults {defaults.name} as the last one above, which others name"
            raise Unmodeled(f"{implicit[0].title} {why} (haproxy -c refuses it)", implicit[0].at)
        if any(defaults.rules.values()):
            fronts = [p for p in taking if p.kind in ("frontend", "listen")]
            backs = [p for p in taking if p.kind in ("backend", "listen")]
            if fronts and backs:
                why = f"frontends and backends take defaults {defaults.name}, which has rules"
                last = max(fronts[-1], backs[-1], key=lambda p: proxies.index(p))
                raise Unmodeled(f"{why} (haproxy -c refuses it)", last.at)


def _policy(text: str) -> str | None:
    marker = parse_marker(text)
    return marker.policy if marker else None
