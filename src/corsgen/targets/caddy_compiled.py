"""The JSON `caddy adapt` writes, compiled for the routing model: each route and handler with
the Caddyfile line it came from.

The JSON is what Caddy runs, but it carries no line, and a finding needs the line of the
directive that sent a header. The adapter sorts directives, merges a site's unmatched ones into
one route and wraps blocks in subroutes, so a handler is found by what it holds: among the
statements (caddy_lines) of the block its subroute came from (a site, handle, route,
handle_path, handle_errors), the directive of its kind whose words share the most with the
handler's JSON (header names and values, paths, statuses, upstreams, a named matcher's
definition), the first unclaimed one on a tie. A snippet imported in two sites is two statements
with one line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from corsgen.limits import MAX_CONFIG_DEPTH
from corsgen.routing import Place
from corsgen.targets.caddy_lines import Statement

Json = Mapping[str, Any]


class NestedTooDeep(Exception):
    """Subroutes nested past MAX_CONFIG_DEPTH: the model runs them recursively."""


# The Caddyfile directives each JSON handler comes from (the handler's own name otherwise).
KINDS: Mapping[str, frozenset[str]] = {
    "headers": frozenset({"header", "request_header"}),
    "static_response": frozenset({"respond", "redir", "abort"}),
    "reverse_proxy": frozenset({"reverse_proxy", "php_fastcgi", "forward_auth"}),
    "authentication": frozenset({"basic_auth", "basicauth"}),
    "subroute": frozenset({"handle", "handle_path", "route", "handle_errors", "forward_auth"}),
    "rewrite": frozenset({"rewrite", "uri", "try_files", "handle_path"}),
    "vars": frozenset({"vars", "root"}),
}


def is_forward_auth(spec: Json) -> bool:
    """forward_auth, as the adapter writes it: reverse_proxy asking with a rewritten request
    (GET to its uri) and handling the answer (2xx lets the request on, copying headers)."""
    return "handle_response" in spec and "rewrite" in spec


@dataclass(frozen=True)
class Handler:
    """One handler of the adapted JSON as Caddy runs it, with the line of the directive that
    made it and the block it is in; a subroute's with its routes."""

    json: Json
    at: Place  # the directive that made it
    block: Place  # the block it is in: the site, handle, route, handle_path
    routes: tuple[Route, ...] = ()  # a subroute's
    errors: tuple[Route, ...] = ()  # a subroute's own error routes
    title: str = ""  # a subroute's block as the Caddyfile writes it: "handle /api/*"
    matcher: Place | None = None  # the named matcher its directive names, where it is defined
    # A header block's lines by the header each names (lower case): the line that sent it.
    fields: Mapping[str, Place] = field(default_factory=dict)

    def sender(self, name: str) -> Place:
        return self.fields.get(name.lower(), self.at)

    @property
    def kind(self) -> str:
        return str(self.json.get("handler", ""))


@dataclass(frozen=True)
class Route:
    """A route: its matcher sets (any matching, every matcher of a set), its handlers in order,
    its group (only the first matching route of a group runs) and whether it ends the chain."""

    match: tuple[Json, ...]
    handlers: tuple[Handler, ...]
    group: str
    terminal: bool
    at: Place  # the directive of its first handler, or its block
    matcher: Place | None = None  # where its named matcher is defined

    @property
    def match_at(self) -> Place:
        return self.matcher or self.at


@dataclass(frozen=True)
class Server:
    """A server: the ports it listens on, its routes and its error routes (handle_errors)."""

    name: str
    listen: tuple[str, ...]  # its addresses, as the JSON writes them: ":443"
    ports: frozenset[int]
    routes: tuple[Route, ...]
    errors: tuple[Route, ...]
    # The routes a request for a host can match, in order: those matching only exact hosts are
    # found by the host (a config of 5,000 sites is not tried site by site), the rest always.
    by_host: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    others: tuple[int, ...] = ()

    def candidates(self, host: str) -> list[Route]:
        name = host.rsplit(":", 1)[0].lower() if "]" not in host else host.lower()
        return [self.routes[i] for i in sorted((*self.by_host.get(name, ()), *self.others))]


def servers(
    config: Json, statements: tuple[Statement, ...], policies: Mapping[str, str]
) -> tuple[Server, ...]:
    """Each server of an adapted config, its handlers placed in these statements; `policies`:
    the files corsgen rendered, whose blocks answer for the user's block they are imported in."""
    compiler = _Compiler(statements, policies)
    found = config.get("apps", {}).get("http", {}).get("servers", {})
    return tuple(compiler.server(name, server) for name, server in found.items())


def exact_hosts(match: Sequence[Json]) -> list[str] | None:
    """The hosts a server's route is found by, when it matches exact hosts only; else None."""
    hosts = [h.lower() for m in match for h in m.get("host", [])]
    exact = match and all(set(m) == {"host"} for m in match)
    return None if not exact or any("*" in h for h in hosts) else hosts


def _by_host(routes: Sequence[Route]) -> tuple[dict[str, tuple[int, ...]], tuple[int, ...]]:
    by_host: dict[str, tuple[int, ...]] = {}
    others: list[int] = []
    for index, route in enumerate(routes):
        hosts = exact_hosts(route.match)
        if hosts is None:
            others.append(index)
            continue
        for host in dict.fromkeys(hosts):
            by_host[host] = (*by_host.get(host, ()), index)
    return by_host, tuple(others)


@dataclass
class _Compiler:
    """Attributes each handler to its statement, block by block (caddy_lines)."""

    statements: tuple[Statement, ...]
    policies: Mapping[str, str]  # the files corsgen rendered
    claimed: set[int] = field(default_factory=set)
    words: dict[int, set[str]] = field(default_factory=dict)  # each statement's, read once
    depth: int = 0  # subroutes being compiled
    # Each block's statements of some directive names, as bit sets (_Finder), by id() of the
    # block, which is kept with them so that the id names no other.
    finders: dict[tuple[int, frozenset[str]], tuple[Sequence[Statement], _Finder]] = field(
        default_factory=dict
    )

    def server(self, name: str, server: Json) -> Server:
        ports = frozenset(_port(a) for a in server.get("listen", []))
        # The site blocks on these ports by their hosts, looked up once per route (not a scan
        # of every site for each of thousands).
        sites: dict[frozenset[str], Statement] = {}
        for st in self.statements:
            if st.body and st.words and not st.name.startswith("("):
                hosts = _site_hosts(st, ports)
                if hosts is not None:
                    sites.setdefault(frozenset(hosts), st)
        found = list(server.get("routes", []))
        if set(sites) == {frozenset()} and not _wrapped(found):
            # The only site, of no host: the adapter writes its routes as the server's own, not
            # in a subroute of the site. The model reads them as the site block's.
            found = [{"handle": [{"handler": "subroute", "routes": found}], "terminal": True}]
        routes = tuple(self.top(r, sites) for r in found)
        errors = tuple(self.top(r, sites) for r in server.get("errors", {}).get("routes", []))
        listen = tuple(server.get("listen", []))
        return Server(name, listen, ports, routes, errors, *_by_host(routes))

    def top(self, route: Json, sites: Mapping[frozenset[str], Statement]) -> Route:
        hosts = frozenset(h.lower() for m in route.get("match", []) for h in m.get("host", []))
        site = sites.get(hosts)
        if site is None:
            site = Statement(("(site)",), Place("", 0), ())
        defs = _matchers(site)
        handlers = []
        for handler in route.get("handle", []):
            if handler.get("handler") != "subroute":
                handlers.append(self.handler(handler, [], site.body, site.at, defs))
                continue
            # The site block itself: its statements are what the subroute's routes come from.
            inner = tuple(
                self.route(r, site.body, site.at, defs) for r in handler.get("routes", [])
            )
            handlers.append(Handler(handler, site.at, site.at, inner, (), " ".join(site.words)))
        match = tuple(route.get("match", []))
        return Route(match, tuple(handlers), "", bool(route.get("terminal")), site.at)

    def route(
        self, route: Json, block: Sequence[Statement], at: Place, defs: Mapping[str, Statement]
    ) -> Route:
        match = tuple(route.get("match", []))
        handlers = tuple(self.handler(h, match, block, at, defs) for h in route.get("handle", []))
        return Route(
            match,
            handlers,
            str(route.get("group", "")),
            bool(route.get("terminal")),
            handlers[0].at if handlers else at,
            handlers[0].matcher if handlers else None,
        )

    def handler(
        self,
        handler: Json,
        match: Sequence[Json],
        block: Sequence[Statement],
        at: Place,
        defs: Mapping[str, Statement],
    ) -> Handler:
        st = self.find(handler, match, block, defs)
        own = st.at if st is not None else at
        named = next((w[1:] for w in st.words if w[1:] in defs), "") if st is not None else ""
        matcher = defs[named].at if named else None
        if handler.get("handler") != "subroute":
            fields = {} if st is None else _fields(st)
            return Handler(handler, own, at, matcher=matcher, fields=fields)
        self.depth += 1
        if self.depth > MAX_CONFIG_DEPTH:  # before Python's recursion limit, wherever it is
            raise NestedTooDeep
        try:
            return self.subroute(handler, st, own, matcher, block, at, defs)
        finally:
            self.depth -= 1

    def subroute(
        self,
        handler: Json,
        st: Statement | None,
        own: Place,
        matcher: Place | None,
        block: Sequence[Statement],
        at: Place,
        defs: Mapping[str, Statement],
    ) -> Handler:
        inner_block, inner_at = (st.body, st.at) if st is not None else (block, at)
        if inner_at.file in self.policies:
            # A block of a corsgen snippet (its preflight handle) answers for the user's block
            # the snippet is imported in: findings go where the user can change something.
            inner_at = at
        routes = tuple(
            self.route(r, inner_block, inner_at, defs) for r in handler.get("routes", [])
        )
        errors = tuple(
            self.route(r, inner_block, inner_at, defs)
            for r in handler.get("errors", {}).get("routes", [])
        )
        title = " ".join(st.words) if st is not None else ""
        return Handler(handler, own, at, routes, errors, title, matcher)

    def find(
        self,
        handler: Json,
        match: Sequence[Json],
        block: Sequence[Statement],
        defs: Mapping[str, Statement],
    ) -> Statement | None:
        kind = str(handler.get("handler", ""))
        names = KINDS.get(kind, frozenset({kind}))
        leaves = _leaves(handler) | _leaves(list(match))
        if (id(block), names) not in self.finders:
            for st in block:
                if st.name in names and id(st) not in self.words:
                    self.words[id(st)] = _words(st, defs)
            finder = _Finder([st for st in block if st.name in names], self.words, self.claimed)
            self.finders[id(block), names] = (block, finder)
        found = self.finders[id(block), names][1].best(leaves)
        if found is not None:
            self.claimed.add(id(found))
            for kept, finder in self.finders.values():
                if kept is block:
                    finder.claim(found)
        return found


class _Finder:
    """A block's statements of some directive names, and the one a handler comes from: the most
    of the handler's words (its JSON's leaves) it has, then one not claimed yet, then the first.
    Each word is the set of statements that have it, as the bits of an int, and the statements'
    counts are added up in bit slices: a block of thousands of `handle`s is not scanned once per
    handler (which took minutes), and the choice is the one a scan makes."""

    def __init__(
        self, statements: Sequence[Statement], words: Mapping[int, set[str]], claimed: set[int]
    ) -> None:
        self.statements = statements
        self.bits = {id(st): 1 << at for at, st in enumerate(statements)}
        positions: dict[str, list[int]] = {}
        for at, st in enumerate(statements):
            for word in words[id(st)]:
                positions.setdefault(word, []).append(at)
        self.masks = {word: sum(1 << at for at in ats) for word, ats in positions.items()}
        self.claimed = sum(bit for key, bit in self.bits.items() if key in claimed)

    def claim(self, st: Statement) -> None:
        self.claimed |= self.bits.get(id(st), 0)

    def best(self, leaves: set[str]) -> Statement | None:
        if not self.statements:
            return None
        levels: list[int] = []  # bit i of each statement's count of leaves: levels[i]
        for leaf in leaves:
            carry = self.masks.get(leaf, 0)
            for i, level in enumerate(levels):
                if not carry:
                    break
                levels[i], carry = level ^ carry, level & carry
            if carry:
                levels.append(carry)
        chosen = (1 << len(self.statements)) - 1
        for level in reversed(levels):  # the highest count: bit by bit from the top
            if chosen & level:
                chosen &= level
        if chosen & ~self.claimed:
            chosen &= ~self.claimed
        return self.statements[(chosen & -chosen).bit_length() - 1]


def _fields(st: Statement) -> dict[str, Place]:
    """The line of each header a directive's block names (header, header_down)."""
    found: dict[str, Place] = {}
    for inner in st.body:
        words = inner.words[1:] if inner.name in ("header_down", "header_up") else inner.words
        if words:
            found.setdefault(words[0].lstrip("+-><?").lower(), inner.at)
    return found


def _wrapped(routes: Sequence[Json]) -> bool:
    """Whether a server's routes are its sites, each a terminal route of one subroute (as the
    adapter writes every site of a server of several, or of a host or path)."""
    return bool(routes) and all(
        r.get("terminal") and [h.get("handler") for h in r.get("handle", [])] == ["subroute"]
        for r in routes
    )


def _port(address: str) -> int:
    tail = address.rpartition(":")[2]
    return int(tail) if tail.isdigit() else 443


def _site_hosts(site: Statement, ports: frozenset[int]) -> set[str] | None:
    """The hosts of a site block's addresses on these ports; None when it listens elsewhere."""
    hosts: set[str] = set()
    on = False
    for word in site.words:
        for address in filter(None, word.split(",")):
            scheme, _, rest = address.rpartition("://")
            hostport = rest.split("/")[0]
            host, _, port = hostport.rpartition(":") if ":" in hostport else (hostport, "", "")
            number = int(port) if port.isdigit() else (80 if scheme == "http" else 443)
            if number in ports:
                on = True
                if host:
                    hosts.add(host.lower())
    return hosts if on else None


def _matchers(site: Statement) -> dict[str, Statement]:
    """The named matchers a site defines, by name."""
    found: dict[str, Statement] = {}

    def walk(statements: Sequence[Statement]) -> None:
        for st in statements:
            if st.name.startswith("@"):
                found.setdefault(st.name[1:], st)
            walk(st.body)

    walk(site.body)
    return found


_SHORTHANDS = (
    ("{http.request.header.", "{header."),
    ("{http.vars.", "{vars."),
    ("{http.regexp.", "{re."),
    ("{http.error.", "{err."),
    ("{http.request.uri.path}", "{path}"),
    ("{http.request.method}", "{method}"),
    ("{http.request.host}", "{host}"),
)


def _normal(word: str) -> str:
    word = word.lower().lstrip("+-><?")
    for long, short in _SHORTHANDS:
        word = word.replace(long, short)
    return word


def _leaves(value: object) -> set[str]:
    if isinstance(value, Mapping):
        return {_normal(str(k)) for k in value} | {x for v in value.values() for x in _leaves(v)}
    if isinstance(value, list):
        return {x for v in value for x in _leaves(v)}
    return {_normal(str(value))}


def _words(st: Statement, defs: Mapping[str, Statement]) -> set[str]:
    words = {_normal(w) for w in st.all_words()}
    for word in st.all_words():
        if word.startswith("@") and word[1:] in defs:
            words |= {_normal(w) for w in defs[word[1:]].all_words()}
    return words
