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

Before the rules, a `monitor-uri` request is answered 200; after the http-request rules of a
proxy with a statistics page, GET, HEAD and POST under its URI are. HAProxy's own errors take
the errorfile of the proxy that makes them, else of the frontend (each with its defaults').

An answer's `by` is the line that made it: for HAProxy's own answers the rule (return, deny,
auth, redirect), the monitor-uri or stats line, or the section whose 503 it is (a backend with
no server, a frontend with no backend); for the server's answer, its backend (or listen).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from corsgen.fetch import delta_seconds
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
    quiet_backend,
)
from corsgen.server_config import check_routes
from corsgen.targets.haproxy_acls import (
    Acl,
    Condition,
    path_keys,
)
from corsgen.targets.haproxy_config import (
    FINAL,
    PHASES,
    Reader,
    Rule,
    Section,
    read_configs,
)
from corsgen.targets.haproxy_lines import (
    Unmodeled,
)
from corsgen.targets.haproxy_pages import ErrorFile
from corsgen.targets.haproxy_patterns import (
    search,
)
from corsgen.targets.haproxy_samples import (
    MAP,
    Expr,
    Format,
    Txn,
    authorized,
    fetch,
    render,
)
from corsgen.targets.prefix_index import Index, Named


@dataclass
class _Reply:
    status: int
    headers: list[Sent]
    by: Place
    generated: bool  # HAProxy answered itself: http-response rules do not run


# ---------------------------------------------------------------------------------------------
# Answering a request.


# A front's use_backend rule: the backend, its condition, its line.
Switch = tuple[str, Condition | None, Place]


class Model:
    """One config's routing model (routing.Routes)."""

    def __init__(self, reader: Reader, policies: Mapping[str, str]) -> None:
        self.proxies = reader.sections
        self.users = reader.userlists
        self.policies = policies  # file -> the corsgen policy whose output it is
        self.backends = {s.name: s for s in self.proxies if s.kind in ("backend", "listen")}
        # Each front's use_backend rules filed by path (prefix_index.py), by id() of the front,
        # which is kept with them so that the id names no other.
        self.switch_index: dict[int, tuple[Section, Index[Switch]]] = {}
        # Fronts whose switches test the path alone (each front is kept in switch_index, so its
        # id names no other), and the switch each chose for a path.
        self.by_path: dict[int, bool] = {}
        self.chosen: dict[tuple[int, str], Switch | None] = {}
        # What scopes() reads of a section, once per section (each kept with its key's).
        self.choosing: dict[int, tuple[Section, dict[str, list[Condition | None]]]] = {}
        self.tests: dict[int, tuple[Section, list[_Test]]] = {}
        self.ruled: dict[int, tuple[Section, Named[None]]] = {}
        for proxy in self.proxies:
            for name, _, at in proxy.switches:
                self._backend(name, at)
            if proxy.default_backend:
                self._backend(*proxy.default_backend)
        # Where requests arrive (read_configs made sure there is one).
        self.fronts = [
            s for s in self.proxies if s.kind != "backend" and s.effective_mode() == "http"
        ]

    def _backend(self, name: str, at: Place) -> Section:
        if "%" in name:
            raise Unmodeled("a backend named by a sample is not modeled", at)
        if name not in self.backends:
            raise Unmodeled(f"no backend {name!r} (haproxy -c refuses it)", at)
        return self.backends[name]

    def frontend(self, port: int | None) -> Section:
        """The frontend that binds the port; the first, for a port none binds (or None)."""
        return next((f for f in self.fronts if port in f.ports), self.fronts[0])

    def answer(self, asked: Asked, backend: Backend = audit_backend) -> Answered:
        front = self.frontend(asked.port)
        headers = list(asked.headers)
        if asked.host and not any(name.lower() == "host" for name, _ in headers):
            headers.insert(0, ("Host", asked.host))  # what hdr(host) and base read
        txn = Txn(asked.method, asked.path, headers, front.ssl, self.users, front.at)
        trail = [f"{front.title} at {front.at}"]
        chosen: Section | None = None
        reply = None
        if front.monitor is not None and txn.path == front.monitor[0]:
            trail.append(f"monitor-uri at {front.monitor[1]}")
            reply = _Reply(200, [], front.monitor[1], generated=True)
        reply = reply or self._request(front, txn, trail, front)
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
                reply = _error(503, proxies, chosen.at, txn)
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
        stats = proxy.stats
        if reply is None and stats is not None and stats.serves(txn.method, txn.path):
            trail.append(f"stats uri {stats.uri} at {stats.at}")
            txn.auth = stats.at if stats.users else txn.auth
            if stats.users and not authorized(txn, stats.users):
                realm = stats.realm or "HAProxy Statistics"
                reply = _challenge(realm, [proxy, front], stats.at, txn)
            else:
                reply = _Reply(200, [], stats.at, generated=True)
        return reply or self._run(proxy, "redirect", txn, None, trail, front)

    def _switch(
        self, front: Section, txn: Txn, trail: list[str]
    ) -> tuple[Section | None, _Reply | None]:
        switch = self._chosen(front, txn)
        if switch is not None:
            name, _, txn.at = switch
            trail.append(f"use_backend {name} at {txn.at}")
            return self.backends[name], None
        if front.switches:  # where the last one tried left it
            txn.at = front.switches[-1][2]
        if front.default_backend:
            name, at = front.default_backend
            trail.append(f"default_backend {name} at {at}")
            return self.backends[name], None
        if front.kind == "listen":
            return front, None
        trail.append(f"no backend for {front.title}: HAProxy's 503")
        return None, _error(503, [front], front.at, txn)

    def _chosen(self, front: Section, txn: Txn) -> Switch | None:
        """The front's first use_backend rule that holds. When they all test the path alone,
        the one found for a path is kept for the next request on it: the audit asks each path
        of a scope with some 200 origins and methods, and a regex is tried on every one."""
        by_path = self.by_path.get(id(front))
        if by_path is None:
            by_path = all(_path_only(condition) for _, condition, _ in front.switches)
            self.by_path[id(front)] = by_path
        key = (id(front), txn.path.split("?", 1)[0])
        if by_path and key in self.chosen:
            return self.chosen[key]
        chosen = None
        for switch in self._switches(front, txn):
            txn.at = switch[2]
            if switch[1] is None or switch[1].holds(txn):
                chosen = switch
                break
        if by_path:
            self.chosen[key] = chosen
        return chosen

    def switch_index_of(self, front: Section) -> Index[Switch]:
        """The front's use_backend rules filed by the path prefixes they test."""
        if id(front) not in self.switch_index:
            keyed = [(switch, path_keys(switch[1])) for switch in front.switches]
            self.switch_index[id(front)] = (front, Index(keyed))
        return self.switch_index[id(front)][1]

    def _switches(self, front: Section, txn: Txn) -> list[Switch]:
        """The front's use_backend rules a request on its path may take, in their order."""
        index = self.switch_index_of(front)
        path = txn.path.split("?", 1)[0]  # the path fetch's
        found = index.positions("", path) | index.positions("i", path.lower())
        return index.at(found | {*index.filed.get((None, None), ())})

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
            hand = [r.at for r in _all_rules(proxy) if _sets_cors(r.headers, _header(r))]
            hand += [p.at for p in _pages(proxy) if _sets_cors(p.headers)]
            hand = [at for at in hand if at.file not in self.policies]
            if not (policy or hand):
                continue
            for reach in self._reached(proxy):
                front, port, host = reach.front, reach.port, reach.host
                sections = (front.defaults, front, proxy.defaults, proxy)
                tests = [t for s in dict.fromkeys(sections) if s for t in self._origin_tests(s)]
                granted = None
                if hand:
                    granted = self._granted(host, port, reach.paths[0], tests)
                elif policy:
                    granted = self._snippet_grant(proxy, host, port, reach.paths[0])
                title = proxy.title
                paths = self._ruled(reach, (front, proxy))
                found.append(Scope(proxy.at, host, paths, title, policy, granted, port))
        return found

    def _snippet_grant(self, proxy: Section, host: str, port: int | None, path: str) -> Granted:
        """What a corsgen defaults section grants when it answers: read from a model of its
        lines alone, in a listen section of its own that passes every request to a server, so
        that the audit holds the scope to its snippet and finds where the config around it
        undoes it (a frontend's auth, deny or header rules)."""
        assert proxy.defaults is not None  # a policy's scope is a proxy `from` its snippet
        own = {
            phase: [r for r in rules if r.at.file in self.policies]
            for phase, rules in proxy.rules.items()
        }
        alone = replace(
            proxy,
            kind="listen",
            rules=own,
            switches=[],
            default_backend=None,
            servers=[proxy.at],
            ports=[port] if port is not None else [],
            users={},
            errorfiles={},
            monitor=None,
            stats=None,
        )
        reader = Reader(lambda name, at: "")
        reader.sections = [alone]
        model = Model(reader, self.policies)

        # A regex test grants when an origin it spells is sent back: not the snippet's test
        # that the Origin is one well-formed header, which only refuses.
        def grants(test: _Test) -> bool:
            asked = (Asked(host, "GET", path, (("Origin", o),), port) for o in _witnesses([test]))
            return test.method not in _AS_REGEX or any(
                _echoed(model.answer(a, quiet_backend), a.headers[0][1]) for a in asked
            )

        tests = [t for s in (proxy.defaults, alone) for t in _origin_tests(s) if grants(t)]
        return model._granted(host, port, path, tests)

    def _reached(self, proxy: Section) -> list[_Reach]:
        """How requests reach this proxy: each frontend that chooses it, with the paths and
        host its use_backend lines test for (or / and any host, its default_backend)."""
        if proxy.kind != "backend":
            return [_Reach(proxy, proxy.ports[0] if proxy.ports else None, "", ("/",))]
        reached = []
        for front in self.fronts:
            port = front.ports[0] if front.ports else None
            for condition in self._choosing(front).get(proxy.name, ()):
                paths = _tested(condition, _is_path) or ["/"]
                host = next(iter(_tested(condition, _is_host)), "")
                reached.append(_Reach(front, port, host, tuple(dict.fromkeys(paths))))
            if front.default_backend and front.default_backend[0] == proxy.name:
                reached.append(_Reach(front, port, "", ("/",)))
        # Once each: a use_backend on a Host the model reads as any (-m reg) and the
        # default_backend reach the same paths of any host, one scope (import wrote two policies).
        return list({(r.front.at, r.port, r.host, r.paths): r for r in reached}.values())

    # Read once per section, not once per scope: a frontend of thousands of use_backend rules is
    # a frontend of thousands of scopes.
    def _choosing(self, front: Section) -> Mapping[str, list[Condition | None]]:
        """The conditions of the front's use_backend rules, by backend, in their order."""
        if id(front) not in self.choosing:
            choosing: dict[str, list[Condition | None]] = {}
            for name, condition, _ in front.switches:
                choosing.setdefault(name, []).append(condition)
            self.choosing[id(front)] = (front, choosing)
        return self.choosing[id(front)][1]

    def _origin_tests(self, section: Section) -> list[_Test]:
        if id(section) not in self.tests:
            self.tests[id(section)] = (section, list(_origin_tests(section)))
        return self.tests[id(section)][1]

    def _ruled(self, reach: _Reach, sections: Sequence[Section]) -> tuple[str, ...]:
        """The paths a scope is asked on: those its switch tests, then each path under them that
        a request rule or a backend switch of the frontend or the proxy tests (an auth, a deny,
        a return, another backend for /api/admin/ answers there otherwise than on /api/)."""
        under = [(None, p) for p in reach.paths]
        tested = []
        for section in dict.fromkeys(sections):
            if id(section) not in self.ruled:
                named = Named([(None, path, path) for path in _tests_of_paths(section)])
                self.ruled[id(section)] = (section, named)
            tested += [path for _, path in self.ruled[id(section)][1].under(under)]
        return tuple(dict.fromkeys([*reach.paths, *tested]))

    def _granted(self, host: str, port: int | None, path: str, tests: Sequence[_Test]) -> Granted:
        """What the answers on this path grant: a policy's keys, each with the line that sent
        it. The origins and regexes are the origin ACLs' that the answers bear out, and the one
        origin a set-header sends whatever the Origin (only that origin reads)."""

        def ask(method: str, origin: str, *more: tuple[str, str]) -> Answered:
            asked = Asked(host, method, path, (("Origin", origin), *more), port)
            return self.answer(asked, quiet_backend)

        first = ask("GET", IMPORT_ORIGIN)
        acao = _sent(first, "Access-Control-Allow-Origin")
        reflects = acao is not None and acao.value == IMPORT_ORIGIN
        exact = [t.pattern for t in tests if t.method == "str" and not t.ignore_case]
        if acao is not None and acao.value not in ("*", IMPORT_ORIGIN):
            exact.append(acao.value)  # its own echo, below, shows it is sent to it too
        origins = tuple(o for o in dict.fromkeys(exact) if _echoed(ask("GET", o), o))
        regexes = tuple(
            OriginRegex(_as_regex(t.method, t.pattern), t.at, "pcre", t.ignore_case)
            for t in tests
            if t.method in _AS_REGEX
        )
        # An origin the config allows, to read the rest from: a listed one, else one its
        # patterns admit (their host with a scheme), else any when it reflects or sends *.
        admitted = (o for o in _witnesses(tests) if _echoed(ask("GET", o), o))
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
            "allow_private_network": _sent(preflight, "Access-Control-Allow-Private-Network"),
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
            max_age=delta_seconds(age),
            private_network=value["allow_private_network"].strip().lower() == "true",
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
_HEADER_FETCHES = frozenset({"hdr", "fhdr", "req.hdr", "req.fhdr"})
_AS_REGEX = ("reg", "beg", "end", "sub", "dom")


def _all_rules(proxy: Section) -> list[Rule]:
    return [rule for phase in (*PHASES, "redirect") for rule in proxy.chain(phase)]


def _sets_cors(headers: Sequence[tuple[str, Format]], name: str = "") -> bool:
    """Whether a rule (its header, its answer's `hdr`s) or an error page sends a CORS header."""
    names = [name, *(header for header, _ in headers)]
    return any(n.lower().startswith(_CORS_PREFIX) for n in names)


def _header(rule: Rule) -> str:
    return rule.name if rule.action in ("set-header", "add-header") else ""


def _pages(proxy: Section) -> list[ErrorFile]:
    """The error pages a proxy answers with: its own, its defaults section's."""
    own = [*proxy.errorfiles.values()]
    return own + ([*proxy.defaults.errorfiles.values()] if proxy.defaults else [])


@dataclass(frozen=True)
class _Test:
    """One test a section puts the Origin to: an ACL's pattern, or a map converter's key."""

    method: str  # the match method: str, beg, end, sub, reg, dom, dir
    pattern: str
    ignore_case: bool
    at: Place


def _origin_tests(section: Section) -> Iterator[_Test]:
    """Every test of the Origin a section writes: its ACLs', and the keys of the maps its
    samples look the Origin up in (`req.hdr(origin),map_beg(origins.map)`)."""
    for acls in section.acls.values():
        for acl in acls:
            if _of_origin(acl.expr):
                keys = _map_tests(acl.expr, acl.at)
                patterns = (_Test(acl.method, p, acl.ignore_case, acl.at) for p in acl.patterns)
                yield from keys or patterns
    for rules in section.rules.values():
        for rule in rules:
            samples = [rule.expr] if rule.expr else []
            values = [rule.value, *(value for _, value in rule.headers)]
            samples += [part for value in values for part in value if isinstance(part, Expr)]
            for expr in samples:
                if _of_origin(expr):
                    yield from _map_tests(expr, rule.at)


def _of_origin(expr: Expr) -> bool:
    fetch_ = expr.fetch
    return fetch_.name in _HEADER_FETCHES and [a.lower() for a in fetch_.args[:1]] == ["origin"]


def _map_tests(expr: Expr, at: Place) -> list[_Test]:
    """The keys of the maps a sample is looked up in, as tests (a `lower` before one folds case)."""
    tests, folded = [], False
    for conv in expr.converters:
        folded = folded or conv.name == "lower"
        found = MAP.match(conv.name)
        if found:
            tests += [_Test(found[1] or "str", key, folded, at) for key, _ in conv.table]
    return tests


_HOST = re.compile(r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")


def _witnesses(tests: Sequence[_Test]) -> Iterator[str]:
    """Origins the Origin tests may admit: each host they spell, with each scheme."""
    for test in tests:
        for host in _HOST.findall(re.sub(r"\\(.)", r"\1", test.pattern)):
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


@dataclass(frozen=True)
class _Reach:
    front: Section
    port: int | None
    host: str  # "" for any
    paths: tuple[str, ...]


def _path_only(condition: Condition | None) -> bool:
    """Whether a condition reads nothing of the request but its path."""
    return condition is None or all(
        acl.expr.fetch.name == "path" and not acl.expr.converters
        for terms in condition.alternatives
        for term in terms
        for acl in term.acls
    )


def _tests_of_paths(section: Section) -> list[str]:
    """The paths the request rules and backend switches of a section test, in order."""
    conditions = [
        *(
            rule.condition
            for phase in ("http-request", "redirect")
            for rule in section.chain(phase)
        ),
        *(condition for _, condition, _ in section.switches),
    ]
    return [path for condition in conditions for path in _tested(condition, _is_path)]


def _is_path(acl: Acl) -> bool:
    return acl.expr.fetch.name == "path" and acl.method in ("str", "beg", "dir")


def _is_host(acl: Acl) -> bool:
    fetch_ = acl.expr.fetch
    named = fetch_.args[:1] and fetch_.args[0].lower() == "host"
    return bool(named) and fetch_.name in _HEADER_FETCHES and acl.method == "str"


def _tested(condition: Condition | None, kind: Callable[[Acl], bool]) -> list[str]:
    """The values a condition's ACLs of a kind (paths, hosts) must hold for it to pass."""
    if condition is None or condition.unless:
        return []
    return [
        pattern
        for terms in condition.alternatives
        for term in terms
        if not term.negated
        for acl in term.acls
        if kind(acl)
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
    headers = _replied(rule.headers, txn, rule.at)
    status = rule.status
    if rule.action == "auth":
        txn.auth = rule.at
        return _challenge(rule.realm or proxies[0].name, proxies, rule.at, txn)
    if rule.action == "redirect":
        headers.append(Sent("Location", _location(rule, txn), rule.at))
    elif rule.head == "errorfile":
        return _error(status, proxies, rule.at, txn)
    elif rule.page is not None:
        return _Reply(rule.page.status, [*_page(rule.page, txn), *headers], rule.at, True)
    return _Reply(status, headers, rule.at, generated=True)


def _challenge(realm: str, proxies: Sequence[Section], by: Place, txn: Txn) -> _Reply:
    """HAProxy's 401 (or its errorfile's head) with its own WWW-Authenticate for `realm` in place
    of any the errorfile has."""
    page = _error(401, proxies, by, txn)
    kept = [h for h in page.headers if h.name.lower() != "www-authenticate"]
    challenge = Sent("WWW-Authenticate", f'Basic realm="{realm}"', by)
    return _Reply(page.status, [*kept, challenge], by, generated=True)


def _error(status: int, proxies: Sequence[Section], by: Place, txn: Txn) -> _Reply:
    """HAProxy's own error answer, or the errorfile of the first proxy that has one for it."""
    for proxy in proxies:
        page = proxy.errorfile(status)
        if page is not None:
            return _Reply(page.status, _page(page, txn), by, generated=True)
    return _Reply(status, [], by, generated=True)


def _page(page: ErrorFile, txn: Txn) -> list[Sent]:
    if page.raw:
        return [Sent(name, render(value, txn), page.at) for name, value in page.headers]
    return _replied(page.headers, txn, page.at)


def _replied(headers: Sequence[tuple[str, Format]], txn: Txn, at: Place) -> list[Sent]:
    """The `hdr` headers of an answer HAProxy makes (return, deny, http-error): one whose value
    comes out empty is left out (checked: `hdr X %[req.hdr(origin)]` without an Origin)."""
    rendered = [Sent(name, render(value, txn), at) for name, value in headers]
    return [sent for sent in rendered if sent.value]


def _location(rule: Rule, txn: Txn) -> str:
    target = render(rule.value, txn)
    if rule.name == "prefix":
        return target.rstrip("/") + txn.path
    if rule.name == "scheme":
        return f"{target}://{txn.host()}{txn.path}"
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
        found = search(rule.regex, path)
        if found:
            query = txn.path[len(path) :]
            txn.path = _expand(found, render(rule.value, txn)) + query


def _expand(found: Any, replacement: str) -> str:
    """\\1 to \\9 in a replacement, each the group it names or nothing (HAProxy's exp_replace)."""

    def group(match: re.Match[str]) -> str:
        number = int(match[1])
        if number > found.re.groups:
            return ""
        return str(found.group(number) or "")

    return re.sub(r"\\([0-9])", group, replacement)


# ---------------------------------------------------------------------------------------------
# Loading.


def load(configs: Sequence[Path], environ: Mapping[str, str] | None = None) -> Model:
    """The model of HAProxy started with these files (-f, in order); Unmodeled or CorsgenError
    (a file that cannot be read) when there is none. `environ`: what "${VAR}" expands to."""
    reader, policies = read_configs(configs, environ or {})
    # What every request is tried against one by one: the rules of the sections it arrives at
    # and their switches that test no path prefix (a backend's run only for the requests it is
    # chosen for).
    model = Model(reader, policies)
    rules = sum(
        model.switch_index_of(section).unfiled()
        + sum(len(rules) for rules in section.rules.values())
        for section in reader.sections
        if section.kind != "backend"
    )
    check_routes(rules, str(configs[0]), HAPROXY_UNIT)
    return model


# What check_routes counts.
HAPROXY_UNIT = (
    "rule lines and use_backend lines matched one by one in its frontends (those that do not "
    "test a path prefix first)"
)
