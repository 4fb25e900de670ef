"""nginx's config as the routing model (nginx_routing.py) reads it: the blocks (http, server,
location, if, limit_except) with what each sets itself, the maps, the servers; and how nginx picks
a server for a request and a location for a URI.

Settings are kept as written, each block's own; what a block inherits is looked up through its
parents when a request needs it (Conf.inherited): nginx inherits a list-valued directive
(add_header, *_hide_header, error_page, allow/deny) only into a block with none of its own, and
the rewrite directives (set, rewrite, return, break, if) never: they are each block's `code`.

The location search is ngx_http_core_find_location's: at each level the exact (=) match, else the
longest prefix, whose nested locations are searched first; then, unless that prefix is ^~ or the
search found an exact or regex location inside it, the level's regex locations in the order
written, the first match searched inside too. A prefix location ending in / with a *_pass answers
a URI that is it without the slash with a 301. No match: the server's own settings.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from corsgen.errors import Finding
from corsgen.routing import Place
from corsgen.rules.table import finding
from corsgen.server_config import ConfigBudget
from corsgen.targets.nginx_config import _Directive, _File, _Loader
from corsgen.targets.nginx_variables import Map, Variables, compile_pcre

MODULES = ("proxy", "fastcgi", "uwsgi", "scgi", "grpc")
# Each content handler that reaches a backend, and the module whose hide lists apply to it.
PASSES = {f"{m}_pass": m for m in MODULES} | {"memcached_pass": "memcached"}
_REWRITE = ("set", "rewrite", "return", "break", "if")


@dataclass(frozen=True)
class Step:
    """One rewrite-module directive, run in order in its server's or location's rewrite phase."""

    name: str
    args: tuple[str, ...]
    at: Place
    block: Conf | None = None  # an if's


@dataclass(eq=False)
class Conf:
    """One http, server, location, if or limit_except block: what it sets itself, and its place
    in the tree whose settings nginx merges downwards."""

    kind: str
    at: Place
    parent: Conf | None
    modifier: str = ""  # a location's: "=", "^~", "~", "~*", "@", "" (prefix)
    pattern: str = ""
    code: list[Step] = field(default_factory=list)
    locations: list[Conf] = field(default_factory=list)
    own: dict[str, list[tuple[tuple[str, ...], Place]]] = field(default_factory=dict)
    policies: list[tuple[str, Place]] = field(default_factory=list)  # corsgen snippets here
    snippets: set[str] = field(default_factory=set)  # the files of those snippets
    # limit_except METHODS {}: the methods it lets by, and the block every other method gets.
    limit: tuple[frozenset[str], Conf] | None = None

    def set_here(self, name: str) -> list[tuple[tuple[str, ...], Place]]:
        return self.own.get(name, [])

    def nearest(self, *names: str) -> Conf | None:
        """The nearest block, this one first, that sets any of `names` itself."""
        conf: Conf | None = self
        while conf is not None and not any(n in conf.own for n in names):
            conf = conf.parent
        return conf

    def inherited(self, name: str) -> list[tuple[tuple[str, ...], Place]]:
        """A directive nginx inherits whole: the list of the nearest block that has any."""
        source = self.nearest(name)
        return source.own[name] if source is not None else []

    def value(self, name: str, default: str = "") -> str:
        found = self.inherited(name)
        return found[-1][0][0] if found and found[-1][0] else default

    def title(self) -> str:
        if self.kind != "location":
            return f"{self.kind} at {self.at}"
        return f"location {self.modifier + ' ' if self.modifier else ''}{self.pattern} at {self.at}"

    def handler(self) -> tuple[str, str, Place] | None:
        """(module, target, where) of the block's *_pass; an if block inherits its location's."""
        for directive, module in PASSES.items():
            for args, at in self.own.get(directive, []):
                return module, args[0] if args else "", at
        if self.kind in ("if", "limit_except") and self.parent is not None:
            return self.parent.handler()
        return None

    def location(self) -> Conf:
        """The location (or server) an if block is in."""
        conf = self
        while conf.kind in ("if", "limit_except") and conf.parent is not None:
            conf = conf.parent
        return conf

    def walk(self) -> Iterator[Conf]:
        stack: list[Conf] = [self]
        while stack:
            conf = stack.pop()
            yield conf
            ifs = [s.block for s in conf.code if s.block is not None]
            stack.extend(reversed([*ifs, *conf.locations]))


@dataclass
class Server:
    """A server {} and what chooses it: its ports, those it is the default of, its names."""

    conf: Conf
    ports: tuple[int, ...]
    defaults: tuple[int, ...]  # the ports it is default_server on
    names: tuple[str, ...]


_SKIPPED_MAP_KEYS = ("hostnames", "volatile")


@dataclass
class Reader:
    """The loader's parsed files, read into blocks with their includes written out, as nginx
    reads them (a file included twice is read twice), within the run's ConfigBudget."""

    files: list[_File]
    budget: ConfigBudget
    maps: dict[str, Map] = field(default_factory=dict)
    servers: list[Server] = field(default_factory=list)
    path: list[int] = field(default_factory=list)  # the files on the include path being read
    # The policies whose http part (maps) is included in http {}, and each include that leads
    # back to a file on the path being read (nginx would include it without end: CG401 loop).
    http_parts: set[str] = field(default_factory=set)
    loops: list[Finding] = field(default_factory=list)

    def read(self, directives: list[_Directive], file: str, conf: Conf, depth: int = 0) -> None:
        self.budget.walk(len(directives), file, "directives")
        self.budget.nest(depth, file, "includes and blocks")
        for d in directives:
            name, args = d["directive"], tuple(d.get("args", []))
            at = Place(file, d.get("line", 0))
            if name == "include":
                for index in d.get("includes", []):
                    included = self.files[index]
                    if index in self.path:
                        fields = {"file": included.name, "server": "nginx"}
                        self.loops.append(
                            finding("CG401", "loop", file=file, line=at.line, fields=fields)
                        )
                        continue
                    if included.policy is not None and "map" in included.names:
                        if conf.kind == "http":  # the http part, however the user renamed it
                            self.http_parts.add(included.policy)
                    elif included.policy is not None and "add_header" in included.names:
                        conf.policies.append((included.policy, at))
                        conf.snippets.add(included.name)
                    self.path.append(index)
                    self.read(included.parsed, included.name, conf, depth + 1)
                    self.path.pop()
            elif name == "map" and len(args) == 2:
                self.maps[args[1].lstrip("$")] = self.map(args[0], d.get("block", []), file)
            elif name in ("server", "location", "if", "limit_except") and "block" in d:
                self.block(name, args, at, d["block"], file, conf, depth + 1)
            elif name in ("allow", "deny"):  # one list, in order: the first rule that matches
                conf.own.setdefault("access", []).append(((name, *args), at))
            elif name in _REWRITE:
                conf.code.append(Step(name, args, at))
            else:
                conf.own.setdefault(name, []).append((args, at))

    def block(
        self,
        name: str,
        args: tuple[str, ...],
        at: Place,
        inner: list[_Directive],
        file: str,
        conf: Conf,
        depth: int,
    ) -> None:
        child = Conf(name, at, conf)
        if name == "location":
            if len(args) > 1:
                child.modifier, child.pattern = args[0], args[1]
            elif args and args[0].startswith("@"):
                child.modifier, child.pattern = "@", args[0]
            elif args and args[0].startswith("=") and len(args[0]) > 1:
                child.modifier, child.pattern = "=", args[0][1:]  # location =/path
            elif args:
                child.pattern = args[0]
            conf.locations.append(child)
        elif name == "if":
            conf.code.append(Step("if", args, at, child))
        elif name == "limit_except":
            methods = frozenset(a.upper() for a in args)
            conf.limit = (methods | {"HEAD"} if "GET" in methods else methods, child)
        self.read(inner, file, child, depth)
        if name == "server":
            self.servers.append(server_of(child))

    def map(self, source: str, entries: list[_Directive], file: str) -> Map:
        exact: dict[str, str] = {}
        regexes: list[tuple[str, bool, str, Place]] = []
        default = ""
        for key, value, at in self.entries(entries, file):
            if key == "default":
                default = value
            elif key.startswith("~"):
                ignore_case = key.startswith("~*")
                regexes.append((key[2 if ignore_case else 1 :], ignore_case, value, at))
            else:
                exact.setdefault(key.removeprefix("\\").lower(), value)
        return Map(source, exact, tuple(regexes), default)

    def entries(self, entries: list[_Directive], file: str) -> Iterator[tuple[str, str, Place]]:
        for entry in entries:
            key, args = entry["directive"], entry.get("args", [])
            if key == "include":
                for index in entry.get("includes", []):
                    included = self.files[index]
                    yield from self.entries(included.parsed, included.name)
            elif key not in _SKIPPED_MAP_KEYS and args:
                yield key, args[0], Place(file, entry.get("line", 0))


def server_of(conf: Conf) -> Server:
    ports: list[int] = []
    defaults: list[int] = []
    for args, _ in conf.set_here("listen") or [(("80",), conf.at)]:
        address = args[0] if args else "80"
        port_text = address.rsplit(":", 1)[-1] if not address.endswith("]") else "80"
        port = int(port_text) if port_text.isdigit() else 80
        ports.append(port)
        if "default_server" in args or "default" in args:
            defaults.append(port)
    names = tuple(a for args, _ in conf.set_here("server_name") for a in args)
    return Server(conf, tuple(ports), tuple(defaults), names)


@dataclass
class Config:
    """A config read into blocks: http {} (the root), its servers in order, its maps."""

    http: Conf
    servers: list[Server]
    maps: dict[str, Map]
    http_parts: set[str] = field(default_factory=set)  # policies whose .http.conf http {} has


def read(configs: Sequence[Path]) -> tuple[Config | None, list[Finding]]:
    """The blocks of the config whose files are `configs` (a main nginx.conf, or sites' files that
    nginx includes in http {}), or the parse errors that keep nginx from reading it (an include
    that leads back to itself too)."""
    budget = ConfigBudget()
    http = Conf("http", Place(str(configs[0]), 1), None)
    reader = Reader([], budget)
    errors: list[Finding] = []
    for path in configs:
        loader = _Loader(os.path.dirname(str(path)), budget)
        loader.load(str(path), None)
        errors += loader.errors
        if errors or not loader.files:
            continue
        reader.files, main, reader.path = loader.files, loader.files[0], [0]
        if main.names & {"http", "events"}:
            for d in main.parsed:
                if d["directive"] == "http" and "block" in d:
                    reader.read(d["block"], main.name, http)
        else:
            reader.read(main.parsed, main.name, http)
    errors += reader.loops
    if errors:
        return None, errors
    if not reader.servers:  # nginx serves http {} alone as one server on port 80
        reader.servers.append(Server(Conf("server", http.at, http), (80,), (), ()))
    return Config(http, reader.servers, reader.maps, reader.http_parts), []


def select_server(servers: Sequence[Server], host: str, port: int | None) -> Server:
    """The server nginx picks for a Host on a port: exact name, then *.suffix, then prefix.*,
    then regexes in order, else the port's default_server, else its first server."""
    on_port = [s for s in servers if port is None or port in s.ports] or list(servers)
    for match in (_exact_name, _leading_name, _trailing_name, _regex_name):
        for server in on_port:
            if any(match(name, host) for name in server.names):
                return server
    defaults = [s for s in on_port if (port in s.defaults if port is not None else s.defaults)]
    return (defaults or on_port)[0]


def _exact_name(name: str, host: str) -> bool:
    return name.lower() == host


def _leading_name(name: str, host: str) -> bool:
    if name.startswith("*."):
        return host.endswith(name[1:].lower())
    return name.startswith(".") and (host == name[1:].lower() or host.endswith(name.lower()))


def _trailing_name(name: str, host: str) -> bool:
    return name.endswith(".*") and host.startswith(name[:-1].lower())


def _regex_name(name: str, host: str) -> bool:
    if not name.startswith("~"):
        return False
    pattern = compile_pcre(name[1:], False)
    return pattern is not None and pattern.search(host) is not None


def find_location(server: Conf, uri: str, variables: Variables | None) -> tuple[Conf, bool]:
    """ngx_http_corefind_location from the server: (the block, whether it answers 301 to add
    the slash a *_pass prefix location ends with)."""
    found, rc = _find(server, uri, variables)
    return found or server, rc == "done"


def _find(level: Conf, uri: str, variables: Variables | None) -> tuple[Conf | None, str]:
    """One level of the search: its exact or longest prefix location, searched inside first; then,
    unless that is ^~ or the search ended ("ok": exact or regex, "done": the 301), the level's
    regex locations in order. (block or None, "ok" | "done" | "again" | "declined")."""
    found, rc = _static(level, uri)
    noregex = False
    if rc == "again" and found is not None:
        noregex = found.modifier == "^~"
        inner, rc = _find(found, uri, variables)
        found = inner or found
    if rc in ("ok", "done"):
        return found, rc
    if not noregex:
        for regex in _index(level).regexes:
            if _matches(regex, uri, variables):
                inner, _ = _find(regex, uri, variables)
                return inner or regex, "ok"
    return found, rc


def _matches(regex: Conf, uri: str, variables: Variables | None) -> bool:
    if variables is not None:  # a request: its captures become $1..
        return variables.search(regex.pattern, regex.modifier == "~*", uri)
    pattern = compile_pcre(regex.pattern, regex.modifier == "~*")
    return pattern is not None and pattern.search(uri) is not None


@dataclass(frozen=True)
class _Static:
    """A level's exact and prefix locations by pattern, each the first written (index, block),
    and its regex locations:
    looked up by the URI and its prefixes, not scanned, so a config of 20,000 locations answers
    a request as fast as one of ten (nginx builds a tree for the same reason)."""

    exact: dict[str, tuple[int, Conf]]
    redirect: dict[str, tuple[int, Conf]]  # a *_pass prefix location, by its pattern
    prefix: dict[str, Conf]
    lengths: tuple[int, ...]  # of the prefix patterns, longest first
    regexes: tuple[Conf, ...]  # in the order written


_INDEXES: weakref.WeakKeyDictionary[Conf, _Static] = weakref.WeakKeyDictionary()


def _index(level: Conf) -> _Static:
    """The level's _Static, built once its locations are all read (a request is routed only
    then), and dropped with the block."""
    kept = _INDEXES.get(level)
    if kept is not None:
        return kept
    exact: dict[str, tuple[int, Conf]] = {}
    redirect: dict[str, tuple[int, Conf]] = {}
    prefix: dict[str, Conf] = {}
    for index, conf in enumerate(level.locations):
        if conf.modifier == "=":
            exact.setdefault(conf.pattern, (index, conf))
        elif conf.modifier in ("", "^~"):
            prefix.setdefault(conf.pattern, conf)
            if conf.handler():
                redirect.setdefault(conf.pattern, (index, conf))
    lengths = tuple(sorted({len(p) for p in prefix}, reverse=True))
    regexes = tuple(c for c in level.locations if c.modifier in ("~", "~*"))
    built = _Static(exact, redirect, prefix, lengths, regexes)
    _INDEXES[level] = built
    return built


def _static(level: Conf, uri: str) -> tuple[Conf | None, str]:
    """The level's exact match ("ok"), its *_pass prefix location that is the URI and a slash
    ("done": 301), whichever is written first; else its longest prefix ("again")."""
    index = _index(level)
    exact, redirect = index.exact.get(uri), index.redirect.get(uri + "/")
    if exact is not None and (redirect is None or exact[0] < redirect[0]):
        return exact[1], "ok"
    if redirect is not None:
        return redirect[1], "done"
    best = longest_prefix(level, uri)
    return best, "again" if best is not None else "declined"


def longest_prefix(level: Conf, uri: str) -> Conf | None:
    """The level's prefix (or ^~) location with the longest pattern the URI starts with."""
    index = _index(level)
    for length in index.lengths:
        if length <= len(uri) and (best := index.prefix.get(uri[:length])) is not None:
            return best
    return None
