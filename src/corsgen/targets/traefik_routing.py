"""Traefik 3's routing through the file provider's dynamic configuration, modelled (routing.py).

A request arrives on an entry point; of the routers on it (entryPoints, else every one), the one
of highest priority (its rule's length unless set) whose rule matches answers; none answers 404.
A router whose middleware or service does not exist is not built: it answers nothing. The router's
middlewares wrap each other in their order (a chain is its list, in place), the first outermost,
and the service is innermost.

The headers middleware, as pkg/middlewares/headers/header.go runs it (checked on 3.7, see
tests/audit/traefik_routing_test.py): with any CORS option set, an OPTIONS request with an Origin
and an Access-Control-Request-Method is a preflight, which it answers itself, 200, with
credentials, the allowed methods and headers, Max-Age and expose whatever the Origin, the
Allow-Origin only for a listed one, no Vary, and nothing inside it runs: no auth, no backend.
Every other answer from inside it, the backend's, basicAuth's 401 or a redirect, passes its
response modifier on the way out: customResponseHeaders set (or, empty, delete) theirs, then
Allow-Origin replaces the backend's for a listed Origin only (a refused one keeps the backend's),
credentials and expose are set whatever the Origin, and addVaryHeader appends Origin to the first
Vary only. "*" in the list is sent as it is, or with credentials as the request's Origin, any
Origin. A regex matches anywhere in the Origin (Go's MatchString), unless anchored.
"""

from __future__ import annotations

import base64
import glob
import hashlib
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from urllib.parse import parse_qs, unquote

from corsgen.errors import CorsgenError, Finding
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
from corsgen.rules.table import finding
from corsgen.server_config import ConfigBudget, check_routes, decode_config
from corsgen.targets.prefix_index import Index, Named
from corsgen.targets.replies import (
    Reply,
    first,
    malformed,
    set_header,
    static_granted,
    without,
)
from corsgen.targets.traefik import CORS_OPTIONS
from corsgen.targets.traefik_index import (
    ANY,
    Keys,
    both_keys,
    candidates,
    either_keys,
    host_key,
    matcher_keys,
)
from corsgen.targets.yaml_lines import NONE, Node, read

SERVER = "Traefik"
MAX_CHAIN = 32  # chains within chains: Traefik refuses a loop, this bounds the depth
CREDENTIALS = "Access-Control-Allow-Credentials"


# --- requests, and Go's regexp ---------------------------------------------------------------


def go_regexp(source: str) -> Callable[[str], bool]:
    """A Go regexp's MatchString: RE2, found anywhere unless anchored."""
    import re2

    options = re2.Options()
    options.log_errors = False
    try:
        compiled = re2.compile(source, options=options)
    except re2.error as exc:
        raise ValueError(f"not a Go regexp: {source}: {exc}") from None
    return lambda text: compiled.search(text) is not None


# Percent-escapes the router keeps as they are when it decodes the path it matches (mux.go).
_RESERVED = frozenset(f"%{ord(c):02X}" for c in ":/?#[]@!$&'()*+,;=%")


def routing_path(path: str) -> str:
    return re.sub(
        r"%[0-9A-Fa-f]{2}",
        lambda m: m[0] if m[0].upper() in _RESERVED else unquote(m[0]),
        path,
    )


@dataclass(frozen=True)
class Request:
    """A request as a router's rule sees it."""

    host: str  # lower case, without the port
    method: str
    path: str
    query: str
    headers: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, asked: Asked) -> Request:
        path, _, query = asked.path.partition("?")
        host = asked.host.lower()
        if host.startswith("["):
            host = host[1 : host.find("]")]
        elif host.count(":") == 1:
            host = host.split(":")[0]
        return cls(host, asked.method.upper(), path, query, asked.headers)

    # Computed once per request, not once per matcher: a request is matched against many rules.
    @cached_property
    def routed(self) -> str:
        """The path as the router's rules match it."""
        return routing_path(self.path)

    @cached_property
    def arguments(self) -> dict[str, list[str]]:
        return parse_qs(self.query, keep_blank_values=True)

    def values(self, name: str) -> list[str]:
        return [v for n, v in self.headers if n.lower() == name.lower()]

    def header(self, name: str) -> str:
        return next(iter(self.values(name)), "")

    def target(self) -> str:
        return self.path + ("?" + self.query if self.query else "")


# --- rules -----------------------------------------------------------------------------------

Matcher = Callable[[Request], bool]
_TOKEN = re.compile(r'\s*(&&|\|\||!|\(|\)|,|`[^`]*`|"(?:[^"\\]|\\.)*"|[A-Za-z]+)')


def _host_matches(host: str, expr: str) -> bool:
    """muxer.DomainMatchHostExpression, and the trailing dots Host() forgives."""
    if expr == "*":
        return True

    def match(domain: str, pattern: str) -> bool:
        if pattern.startswith("*"):
            domain = ".".join(["*", *domain.split(".")[1:]])
        return domain.lower() == pattern.lower()

    return bool(host) and (
        match(host, expr) or match(host, expr.rstrip(".")) or match(host.rstrip("."), expr)
    )


# How many arguments each of the rule's functions takes; Traefik refuses the router otherwise.
_ARITY = {"Header": (2,), "HeaderRegexp": (2,), "Query": (1, 2), "QueryRegexp": (1, 2)}


def _matcher(name: str, args: list[str]) -> Matcher:
    """One of the rule's functions (pkg/muxer/http/matcher.go)."""
    if len(args) not in _ARITY.get(name, (1,)):
        raise ValueError(f"{name} takes {' or '.join(map(str, _ARITY.get(name, (1,))))} values")
    first = args[0]
    if name == "Host":
        return lambda r: _host_matches(r.host, first.lower())
    if name == "HostRegexp":
        found = go_regexp(first)
        return lambda r: found(r.host)
    if name == "Path":
        return lambda r: r.routed == first
    if name == "PathPrefix":
        return lambda r: r.routed.startswith(first)
    if name == "PathRegexp":
        found = go_regexp(first)
        return lambda r: found(r.routed)
    if name == "Method":
        return lambda r: r.method == first.upper()
    if name in ("Header", "HeaderRegexp"):
        test = go_regexp(args[1]) if name == "HeaderRegexp" else args[1].__eq__
        return lambda r: any(test(v) for v in r.values(first))
    if name in ("Query", "QueryRegexp"):
        value = args[1] if len(args) == 2 else ""
        test = go_regexp(value) if name == "QueryRegexp" and len(args) == 2 else value.__eq__
        return lambda r: any(test(v) for v in r.arguments.get(first, ()))
    if name == "ClientIP":
        return lambda r: False  # the browser's address is nothing the config knows
    raise ValueError(f"unknown matcher {name}")


@dataclass(frozen=True)
class Rule:
    source: str
    match: Matcher
    # Hosts (Host()'s, and a sample of HostRegexp()'s) and paths (Path(), PathPrefix()) the rule
    # names: what the audit asks for in its scopes.
    hosts: tuple[str, ...]
    paths: tuple[str, ...]
    keys: Keys  # what every request it matches has: the index files the router under these
    # What else of a request it reads, besides its host, path and method: the headers its
    # Header() and HeaderRegexp() name (lower case), and whether Query() reads the query.
    headers: frozenset[str] = frozenset()
    query: bool = False


def parse_rule(source: str) -> Rule:
    """A router's rule (v3 syntax): matchers joined by && and ||, negated by !, in parentheses."""
    tokens: list[str] = []
    at = 0
    while at < len(source.rstrip()):
        found = _TOKEN.match(source, at)
        if found is None:
            raise ValueError(f"cannot read the rule at: {source[at:][:20]}")
        tokens.append(found[1])
        at = found.end()
    hosts: list[str] = []
    paths: list[str] = []
    names: set[str] = set()
    headers: set[str] = set()
    position = 0

    def take(expected: str | None = None) -> str:
        nonlocal position
        if position >= len(tokens) or (expected is not None and tokens[position] != expected):
            raise ValueError(f"expected {expected or 'more'} in the rule")
        position += 1
        return tokens[position - 1]

    def peek() -> str:
        return tokens[position] if position < len(tokens) else ""

    def either() -> tuple[Matcher, Keys]:
        parts = [both()]
        while peek() == "||":
            take()
            parts.append(both())
        if len(parts) == 1:
            return parts[0]
        matchers = [matcher for matcher, _ in parts]
        return lambda r: any(p(r) for p in matchers), either_keys([keys for _, keys in parts])

    def both() -> tuple[Matcher, Keys]:
        parts = [single()]
        while peek() == "&&":
            take()
            parts.append(single())
        if len(parts) == 1:
            return parts[0]
        matchers = [matcher for matcher, _ in parts]
        return lambda r: all(p(r) for p in matchers), both_keys([keys for _, keys in parts])

    def single() -> tuple[Matcher, Keys]:
        if peek() == "!":
            take()
            inner, _ = single()
            return lambda r: not inner(r), ANY
        if peek() == "(":
            take()
            grouped = either()
            take(")")
            return grouped
        name = take()
        take("(")
        args: list[str] = []
        while peek() != ")":
            text = take()
            args.append(_string(text))
            if peek() == ",":
                take()
        take(")")
        names.add(name)
        if name in ("Header", "HeaderRegexp"):
            headers.add(args[0].lower())
        if name == "Host":
            hosts.extend(a.replace("*", "x", 1) for a in args if a != "*")
        if name == "HostRegexp":
            hosts.extend(_sample(args[0]))
        if name == "Path":
            paths.extend(args)
        if name == "PathPrefix":  # a path below it, as the audit asks: /api -> /api/
            paths.extend(a if a.endswith("/") else a + "/" for a in args)
        return _matcher(name, args), matcher_keys(name, args)

    matcher, keys = either()
    if position != len(tokens):
        raise ValueError(f"unexpected {tokens[position]} in the rule")
    query = bool(names & {"Query", "QueryRegexp"})
    return Rule(source, matcher, tuple(hosts), tuple(paths), keys, frozenset(headers), query)


def _sample(pattern: str) -> list[str]:
    """A host a HostRegexp matches, for the audit to ask for; none when it cannot say."""
    from corsgen.regex.language import samples

    try:
        return samples(pattern.removeprefix("^").removesuffix("$"))[:1]
    except Exception:  # a pattern interegular cannot read: the audit asks for the others
        return []


def _string(token: str) -> str:
    if token[:1] == "`":
        return token[1:-1]
    if token[:1] == '"':
        return re.sub(r"\\(.)", r"\1", token[1:-1])
    raise ValueError(f"expected a quoted string, found {token}")


# --- answers ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Listed:
    """A list option's values and the line of its key."""

    values: tuple[str, ...]
    at: Place


@dataclass(frozen=True)
class Cors:
    """The headers middleware's CORS and custom response options, each with its line."""

    at: Place
    origins: Listed | None
    regexes: tuple[tuple[Callable[[str], bool], OriginRegex], ...]
    regex_at: Place | None
    credentials: Place | None
    methods: Listed | None
    headers: Listed | None
    expose: Listed | None
    max_age: tuple[str, Place] | None
    vary: Place | None
    custom: tuple[tuple[str, str, Place], ...]
    enabled: bool  # any CORS option set: it answers preflights

    @classmethod
    def read(cls, spec: Node, at: Place) -> Cors:
        def listed(key: str) -> Listed | None:
            node = spec.get(key)
            values = tuple(v for v in node.texts() if v) if node else ()
            return Listed(values, node.at) if node and values else None

        def flag(key: str) -> Place | None:
            node = spec.get(key)
            return node.at if node is not None and node.true() else None

        regex_node = spec.get("accessControlAllowOriginListRegex")
        regexes = []
        for item in regex_node.items() if regex_node else ():
            source = item.text()
            ignore = source.startswith("(?i)")
            regexes.append((go_regexp(source), OriginRegex(source, item.at, "re2", ignore)))
        age = spec.get("accessControlMaxAge")
        max_age = (str(int(age.text())), age.at) if age is not None and age.text() else None
        custom = tuple(
            (name, node.text(), node.at)
            for name, node in (spec.get("customResponseHeaders") or NONE).keys().items()
        )
        options = {k for k, node in spec.keys().items() if k in CORS_OPTIONS and _set_value(node)}
        return cls(
            at,
            listed("accessControlAllowOriginList"),
            tuple(regexes),
            regex_node.at if regex_node else None,
            flag("accessControlAllowCredentials"),
            listed("accessControlAllowMethods"),
            listed("accessControlAllowHeaders"),
            listed("accessControlExposeHeaders"),
            max_age,
            flag("addVaryHeader"),
            custom,
            bool(options),
        )

    def match(self, origin: str) -> tuple[str, Place] | None:
        """matchOrigin: the Allow-Origin value for this Origin, and the line that grants it."""
        listed = self.origins or Listed((), self.at)
        for value in listed.values:
            if value == origin:
                return value, listed.at
            if value == "*":  # with credentials, any Origin is sent back
                return (origin if self.credentials else "*"), listed.at
        for test, regex in self.regexes:
            if test(origin):
                return origin, regex.at
        return None

    def _expose(self, headers: list[Sent]) -> list[Sent]:
        if self.expose and not ("*" in self.expose.values and self.credentials):
            value = ",".join(self.expose.values)
            headers = set_header(headers, "Access-Control-Expose-Headers", value, self.expose.at)
        return headers

    def preflight(self, request: Request) -> Reply:
        """processCorsHeaders: the middleware's own answer to a preflight."""
        headers: list[Sent] = []
        if self.credentials:
            headers = set_header(headers, CREDENTIALS, "true", self.credentials)
        for listed, name, asked in (
            (self.headers, "Access-Control-Allow-Headers", "Access-Control-Request-Headers"),
            (self.methods, "Access-Control-Allow-Methods", "Access-Control-Request-Method"),
        ):
            if listed is None:
                continue
            if "*" in listed.values and self.credentials:  # the request's own list sent back
                if value := request.header(asked):
                    headers = set_header(headers, name, value, listed.at)
            else:
                headers = set_header(headers, name, ",".join(listed.values), listed.at)
        if matched := self.match(request.header("Origin")):
            headers = set_header(headers, "Access-Control-Allow-Origin", *matched)
        if self.max_age:
            headers = set_header(headers, "Access-Control-Max-Age", *self.max_age)
        headers = self._expose(headers)
        trail = (f"preflight answered by the headers middleware at {self.at}",)
        return Reply(200, tuple(headers), trail)

    def modify(self, reply: Reply, request: Request) -> Reply:
        """PostRequestModifyResponseHeaders, on every answer from inside the middleware."""
        headers = list(reply.headers)
        for name, value, at in self.custom:
            headers = set_header(headers, name, value, at) if value else without(headers, name)
        if matched := self.match(request.header("Origin")):
            headers = set_header(headers, "Access-Control-Allow-Origin", *matched)
        if self.credentials:
            headers = set_header(headers, CREDENTIALS, "true", self.credentials)
        headers = self._expose(headers)
        if self.vary:
            vary = first(headers, "Vary")
            if vary is None or vary.value != "Origin":
                value = f"{vary.value},Origin" if vary is not None and vary.value else "Origin"
                headers = set_header(headers, "Vary", value, self.vary)
        return replace(reply, headers=tuple(headers))

    def static(self) -> dict[str, tuple[str, Place]]:
        """The Access-Control-* headers customResponseHeaders sets, by lower-case name."""
        return {
            name.lower(): (value, at)
            for name, value, at in self.custom
            if value and name.lower().startswith("access-control-")
        }

    def granted(self) -> Granted:
        """What this middleware grants: its CORS options, or, with none, the static headers it
        sets (the preflight then goes on to the backend)."""
        return self._options() if self.enabled else static_granted(self.static())

    def _options(self) -> Granted:
        at: dict[str, Place] = {}
        origins = self.origins.values if self.origins else ()
        star = "*" in origins
        for key, value in (
            ("allow_origins", self.origins.at if self.origins else self.regex_at),
            ("allow_credentials", self.credentials),
            ("allow_methods", self.methods.at if self.methods else None),
            ("allow_headers", self.headers.at if self.headers else None),
            ("expose_headers", self.expose.at if self.expose else None),
            ("max_age", self.max_age[1] if self.max_age else None),
        ):
            if value is not None:
                at[key] = value
        return Granted(
            origins=tuple(o for o in origins if o != "*"),
            regexes=tuple(regex for _, regex in self.regexes),
            any_origin=star and not self.credentials,
            reflects=star and self.credentials is not None,
            credentials=self.credentials is not None,
            methods=self.methods.values if self.methods else (),
            headers=self.headers.values if self.headers else (),
            expose=self.expose.values if self.expose else (),
            max_age=int(self.max_age[0]) if self.max_age else None,
            preflight_status=200,
            at=at,
        )


def _set_value(node: Node) -> bool:
    text = node.text()
    return bool(node.items()) if isinstance(node.value, tuple) else text not in ("", "false")


# --- the configuration -------------------------------------------------------------------------


@dataclass(frozen=True)
class Middleware:
    name: str
    kind: str  # its one key: headers, basicAuth, chain, stripPrefix, ...
    spec: Node
    at: Place  # where it is defined: its options send the headers
    used: Place  # where the router (or a chain) names it: its place in the order
    policy: str | None  # the corsgen policy whose file defines it
    service: Service | None = None  # the errors middleware's, which serves its pages
    cors: Cors | None = None  # the headers middleware's options, read once


@dataclass(frozen=True)
class Service:
    name: str
    at: Place | None
    servers: int  # a load balancer's servers; -1 for anything else that answers (internal)
    internal: int | None = None  # the status an @internal service answers itself


@dataclass(frozen=True)
class Router:
    name: str
    at: Place
    rule: Rule
    priority: int
    entry_points: tuple[str, ...] | None
    middlewares: tuple[Middleware, ...]
    service: Service


# Each @internal service and what it answers (a noop router's 418; ping's "OK").
_INTERNAL = {"noop": 418, "ping": 200, "api": 200, "dashboard": 200}


@dataclass
class Config:
    """Every file read: the static configuration's entry points, and the dynamic sections."""

    entry_points: dict[str, int | None] = field(default_factory=dict)
    defaults: list[str] = field(default_factory=list)  # asDefault entry points
    routers: dict[str, Node] = field(default_factory=dict)
    middlewares: dict[str, tuple[Node, str | None]] = field(default_factory=dict)
    services: dict[str, Node] = field(default_factory=dict)
    first: Place | None = None
    findings: list[Finding] = field(default_factory=list)
    # Each file is read once: the provider's directory may hold the static file that names it.
    read: set[Path] = field(default_factory=set)


def _port(address: str) -> int | None:
    found = re.search(r":(\d+)(?:/\w+)?$", address)
    return int(found[1]) if found else None


def _local(name: str) -> str:
    """A reference to the file provider's own name: `name@file` or `name`."""
    return name.removesuffix("@file")


def _read(path: Path, config: Config, budget: ConfigBudget, at: str | None) -> None:
    if path.resolve() in config.read:
        return
    config.read.add(path.resolve())
    file = str(path)
    try:
        text = decode_config(budget.read(path, at))
    except OSError as exc:  # absent or unreadable (a name too long): Traefik says so too
        error = f"cannot read {file}: {exc.strerror or exc}"
        config.findings.append(finding("CG401", "parse", file=file, error=error, server=SERVER))
        return
    try:
        root = _toml(text, file) if path.suffix.lower() == ".toml" else read(text, file)
    except CorsgenError as exc:
        config.findings.append(finding("CG401", "parse", file=file, error=str(exc), server=SERVER))
        return
    if config.first is None:
        config.first = Place(file, 1)
    marker = parse_marker(text)
    policy = marker.policy if marker else None
    for name, point in (root.get("entryPoints") or NONE).keys().items():
        config.entry_points[name] = _port((point.get("address") or point).text())
        if (point.get("asDefault") or NONE).true():
            config.defaults.append(name)
    provider = (root.get("providers") or NONE).get("file")
    if provider is not None:
        for key in ("filename", "directory"):
            if (node := provider.get(key)) is not None and node.text():
                for found in _files(Path(node.text()), budget, str(node.at)):
                    _read(found, config, budget, str(node.at))
    http = root.get("http") or NONE
    for section, into in (("routers", config.routers), ("services", config.services)):
        into.update((http.get(section) or NONE).keys())
    for name, node in (http.get("middlewares") or NONE).keys().items():
        config.middlewares[name] = (node, policy)


def _toml(text: str, file: str) -> Node:
    """A TOML file as Nodes, each value at the line of its key (tomlfile.key_lines; a value it
    does not follow, deep in a table, at its table's line)."""
    import tomli

    from corsgen.tomlfile import key_lines, key_path

    try:
        data = tomli.loads(text)
    except tomli.TOMLDecodeError as exc:
        raise CorsgenError(f"{file}: not TOML: {exc}") from None
    lines = key_lines(text)

    def convert(value: object, loc: tuple[str | int, ...], line: int) -> Node:
        line = lines.get(key_path(loc), line) if loc else line
        if isinstance(value, dict):
            return Node({k: convert(v, (*loc, k), line) for k, v in value.items()}, file, line)
        if isinstance(value, list):
            return Node(tuple(convert(v, (*loc, i), line) for i, v in enumerate(value)), file, line)
        return Node(str(value).lower() if isinstance(value, bool) else str(value), file, line)

    return convert(data, (), 1)


def _files(path: Path, budget: ConfigBudget, at: str, depth: int = 0) -> Iterator[Path]:
    """The provider's file, or every YAML and TOML file in its directory and those below it
    (Traefik reads them all), in name order. os.path.isdir: False for a path that cannot be
    looked at (a name too long), which is then refused as unreadable, where Path.is_dir raised."""
    if not os.path.isdir(path):
        yield path
        return
    budget.nest(depth, at, "directories")
    for found in budget.glob(glob.escape(str(path)) + "/*", at, hidden=True):
        if os.path.isdir(found):
            yield from _files(Path(found), budget, at, depth + 1)
        elif Path(found).suffix.lower() in (".yml", ".yaml", ".toml"):
            yield Path(found)


def _middlewares(config: Config, names: Node | None, depth: int = 0) -> list[Middleware]:
    """The middlewares a list names, chains written out in place; KeyError names one that is
    missing."""
    if depth > MAX_CHAIN:
        raise KeyError(f"a chain of chains deeper than {MAX_CHAIN}")
    out: list[Middleware] = []
    for item in names.items() if names is not None else ():
        name = _local(item.text())
        node, policy = config.middlewares[name]
        kind, spec = next(iter(node.keys().items()), ("", Node({}, node.file, node.line)))
        if kind == "chain":
            out += _middlewares(config, spec.get("middlewares"), depth + 1)
        else:
            page = spec.get("service") if kind == "errors" else None
            service = _service(config, page.text()) if page is not None else None
            # ValueError for a regex Go does not compile: Traefik does not build the router.
            cors = Cors.read(spec, node.at) if kind == "headers" else None
            out.append(Middleware(name, kind, spec, node.at, item.at, policy, service, cors))
    return out


def _service(config: Config, name: str) -> Service:
    base, _, provider = name.partition("@")
    if provider == "internal":
        return Service(name, None, -1, _INTERNAL[base])
    node = config.services[_local(name)]
    balancer = node.get("loadBalancer")
    if balancer is None:  # weighted, mirroring, failover: their services answer
        return Service(name, node.at, -1)
    return Service(name, node.at, len((balancer.get("servers") or NONE).items()))


def _router(config: Config, name: str, node: Node) -> Router:
    rule_node = node.get("rule")
    if rule_node is None:
        raise ValueError("no rule")
    rule = parse_rule(rule_node.text())
    priority = node.get("priority")
    points = node.get("entryPoints")
    return Router(
        name,
        node.at,
        rule,
        int(priority.text()) if priority is not None and priority.text() else len(rule.source),
        tuple(points.texts()) if points is not None else None,
        tuple(_middlewares(config, node.get("middlewares"))),
        _service(config, (node.get("service") or NONE).text()),
    )


class TraefikRoutes:
    """The model of one Traefik: its entry points and the routers built from its files."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.routers: list[Router] = []
        self.broken: list[tuple[str, Place, str]] = []  # routers Traefik would not build
        for name, node in config.routers.items():
            if node.get("tls") is not None:
                continue  # it serves HTTPS only: no request the audit sends
            try:
                router = _router(config, name, node)
            except (KeyError, ValueError) as exc:
                self.broken.append((name, node.at, str(exc)))
                continue
            points = router.entry_points or ()
            if config.entry_points and points and not set(points) & set(config.entry_points):
                self.broken.append((name, node.at, "none of its entry points exists"))
                continue
            self.routers.append(router)
        # Highest priority first; Traefik leaves ties in no defined order, names decide here.
        self.routers.sort(key=lambda r: (-r.priority, r.name))
        self.index = Index([(r, r.rule.keys) for r in self.routers])
        # The router found for a request, kept by what the rules read of it (_matcher): the
        # audit asks each path of a scope with some 200 origins, which no rule but one that
        # names Origin reads, and a few methods.
        self.headers = sorted({name for r in self.routers for name in r.rule.headers})
        self.query = any(r.rule.query for r in self.routers)
        self.found: dict[tuple[object, ...], Router | None] = {}
        named = [(r, path) for r in self.routers for path in r.rule.paths]
        self.named = Named([(r, path, _routed(path)) for r, path in named])

    def _points(self, router: Router) -> tuple[str, ...] | None:
        if router.entry_points is not None:
            return router.entry_points
        return tuple(self.config.defaults) or None

    def _on(self, router: Router, port: int | None) -> bool:
        points = self._points(router)
        if port is None or points is None or not self.config.entry_points:
            return True
        return any(self.config.entry_points.get(p) == port for p in points)

    def route(self, asked: Asked) -> Router | None:
        request = Request.of(asked)
        read = tuple(tuple(request.values(name)) for name in self.headers)
        query = request.query if self.query else ""
        key = (request.host, request.routed, request.method, asked.port, read, query)
        if key in self.found:
            return self.found[key]
        router = next(
            (
                r
                for r in candidates(self.index, request.host, request.routed)
                if self._on(r, asked.port) and r.rule.match(request)
            ),
            None,
        )
        self.found[key] = router
        return router

    def answer(self, asked: Asked, backend: Backend = audit_backend) -> Answered:
        where = self.config.first or Place("", 0)
        headers = (Sent("Content-Type", "text/plain; charset=utf-8", None),)
        if malformed(asked.headers):
            return Answered(400, headers, where, ("a control character in a header: Go's 400",))
        router = self.route(asked)
        if router is None:
            return Answered(404, headers, where, ("no router matches: Traefik's 404",))
        request = Request.of(asked)
        reply = _run(router, 0, request, backend)
        trail = (f"router {router.name} at {router.at}", *reply.trail)
        return Answered(reply.status, reply.headers, router.at, trail, reply.backend, reply.auth)

    def scopes(self) -> list[Scope]:
        out = []
        for router in sorted(self.routers, key=lambda r: r.at):
            cors = [m for m in router.middlewares if m.kind == "headers"]
            policy = next((m.policy for m in cors if m.policy), None)
            hand = [m.cors for m in cors if m.policy is None and m.cors is not None]
            granted = next((c.granted() for c in hand if c.enabled or c.static()), None)
            # A corsgen middleware's own keys are its policy: the audit holds the router to
            # them without --policy.
            theirs = [m.cors for m in cors if m.policy is not None and m.cors is not None]
            granted = granted or next((c.granted() for c in theirs if c.enabled), None)
            if policy is None and granted is None:
                continue
            port = next(
                (
                    p
                    for point in self._points(router) or ()
                    if (p := self.config.entry_points.get(point))
                ),
                None,
            )
            host, paths = self._reach(router, port)
            title = f"router {router.name}"
            out.append(Scope(router.at, host, paths, title, policy, granted, port))
        return out

    def _reach(self, router: Router, port: int | None) -> tuple[str, tuple[str, ...]]:
        """A host, and the paths on it, that this router answers (not one of higher priority):
        from the names in its rule, else the rule's first host and paths as they are."""
        hosts = [*router.rule.hosts, "localhost"]
        paths = [*router.rule.paths, "/"]
        for host in hosts:
            reached = [p for p in paths if self.route(Asked(host, "GET", p, (), port)) is router]
            if reached:
                return host, tuple(dict.fromkeys(reached + self._taken(router, host, port)))
        return hosts[0], tuple(paths[:1])

    def _taken(self, router: Router, host: str, port: int | None) -> list[str]:
        """The paths other routers name that this router's rule matches too, and a router of
        higher priority answers (a longer rule added later, without its CORS)."""
        out = []
        for other, path in self.named.under(router.rule.keys, host_key(host)):
            asked = Asked(host, "GET", path, (), port)
            matched = other is not router and router.rule.match(Request.of(asked))
            if matched and self.route(asked) is not router:  # taken by one of higher priority
                out.append(path)
        return out


def _routed(path: str) -> str:
    """The path a rule matches when the audit asks for `path`."""
    return Request.of(Asked("", "GET", path, ())).routed


def _run(router: Router, index: int, request: Request, backend: Backend) -> Reply:
    """The answer of the router's middlewares from `index` on, and then its service."""
    if index == len(router.middlewares):
        return _serve(router.service, request, backend)
    here = router.middlewares[index]
    step = f"{here.kind} middleware {here.name} at {here.at}, named at {here.used}"
    reply = _MIDDLEWARES.get(here.kind, _through)(here, request, Inner(router, index + 1, backend))
    return replace(reply, trail=(step, *reply.trail))


@dataclass(frozen=True)
class Inner:
    """What a middleware wraps: the router's middlewares after it and the service; called with
    the request as the middleware passes it on."""

    router: Router
    index: int
    backend: Backend  # which the errors middleware asks for its page too

    def __call__(self, request: Request) -> Reply:
        return _run(self.router, self.index, request, self.backend)


def _headers(here: Middleware, request: Request, inner: Inner) -> Reply:
    cors = here.cors or Cors.read(here.spec, here.at)
    preflight = request.method == "OPTIONS" and request.header("Origin")
    if cors.enabled and preflight and request.header("Access-Control-Request-Method"):
        return cors.preflight(request)
    return cors.modify(inner(request), request)


def _basic_auth(here: Middleware, request: Request, inner: Inner) -> Reply:
    lines = (here.spec.get("users") or NONE).texts()
    users = dict(line.split(":", 1) for line in lines if ":" in line)
    if _authorized(request.header("Authorization"), users):
        reply = inner(request)
        return replace(reply, auth=reply.auth or here.used)
    realm = (here.spec.get("realm") or Node("traefik", "", 0)).text() or "traefik"
    headers = (
        Sent("Www-Authenticate", f'Basic realm="{realm}"', here.at),
        Sent("Content-Type", "text/plain; charset=utf-8", None),
    )
    return Reply(401, headers, ("no valid user: 401",), auth=here.used)


def _authorized(header: str, users: Mapping[str, str]) -> bool:
    """Whether Basic credentials match a user: the {SHA} and plain-text forms (others, bcrypt or
    apr1, are not checked here: their users are refused)."""
    if not header.startswith("Basic "):
        return False
    try:
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except ValueError:
        return False
    secret = users.get(user, "")
    if secret.startswith("{SHA}"):
        digest = base64.b64encode(hashlib.sha1(password.encode()).digest()).decode()
        return secret == "{SHA}" + digest
    return False


def _digest_auth(here: Middleware, request: Request, inner: Inner) -> Reply:
    return Reply(401, (), ("no digest credentials: 401",), auth=here.used)


def _strip_prefix(here: Middleware, request: Request, inner: Inner) -> Reply:
    for prefix in (here.spec.get("prefixes") or NONE).texts():
        if request.path.startswith(prefix):
            path = "/" + request.path[len(prefix) :].lstrip("/")
            return inner(replace(request, path=path))
    return inner(request)


def _add_prefix(here: Middleware, request: Request, inner: Inner) -> Reply:
    prefix = (here.spec.get("prefix") or NONE).text()
    return inner(replace(request, path=prefix + request.path))


def _replace_path(here: Middleware, request: Request, inner: Inner) -> Reply:
    path = (here.spec.get("path") or NONE).text()
    return inner(replace(request, path=path or request.path))


def _redirect(status: int, here: Middleware, request: Request) -> Reply:
    if (here.spec.get("permanent") or NONE).true():
        status = 301
    if request.method != "GET":
        status = {301: 308, 302: 307}[status]
    headers = (Sent("Location", "(redirect)", here.at),)
    return Reply(status, headers, (f"redirect: {status}",))


def _redirect_scheme(here: Middleware, request: Request, inner: Inner) -> Reply:
    scheme = (here.spec.get("scheme") or Node("https", "", 0)).text()
    return inner(request) if scheme == "http" else _redirect(302, here, request)


def _redirect_regex(here: Middleware, request: Request, inner: Inner) -> Reply:
    regex = (here.spec.get("regex") or NONE).text()
    url = f"http://{request.host}{request.target()}"
    return _redirect(302, here, request) if go_regexp(regex)(url) else inner(request)


def _codes(ranges: Sequence[str]) -> Callable[[int], bool]:
    """A status list as the errors middleware writes it: "404", "500-599"."""
    spans = [tuple(int(n) for n in (r.split("-", 1) * 2)[:2]) for r in ranges if r.strip()]
    return lambda code: any(low <= code <= high for low, high in spans)


def _errors(here: Middleware, request: Request, inner: Inner) -> Reply:
    """customErrors: an answer whose status is listed is dropped, headers and all (the headers
    middlewares inside set theirs on it in vain), and the error service's page is sent with the
    status, for a GET of the query."""
    reply = inner(request)
    listed = _codes((here.spec.get("status") or NONE).texts())
    if here.service is None or not listed(reply.status):
        return reply
    code = reply.status
    for codes, to in (here.spec.get("statusRewrites") or NONE).keys().items():
        if _codes([codes])(code):
            code = int(to.text())
            break
    query = "/" + (here.spec.get("query") or NONE).text().lstrip("/")
    query = query.replace("{status}", str(code)).replace("{originalStatus}", str(reply.status))
    page = _serve(here.service, replace(request, method="GET", path=query, query=""), inner.backend)
    trail = (f"status {reply.status}: the error page {query} of {here.service.name}",)
    return replace(page, status=code, trail=trail, auth=reply.auth)


def _through(here: Middleware, request: Request, inner: Inner) -> Reply:
    """A middleware that changes nothing a CORS audit sees (compress, rateLimit, ...)."""
    return inner(request)


_MIDDLEWARES: Mapping[str, Callable[[Middleware, Request, Inner], Reply]] = {
    "headers": _headers,
    "basicAuth": _basic_auth,
    "digestAuth": _digest_auth,
    "stripPrefix": _strip_prefix,
    "addPrefix": _add_prefix,
    "replacePath": _replace_path,
    "redirectScheme": _redirect_scheme,
    "redirectRegex": _redirect_regex,
    "errors": _errors,
}


def _serve(service: Service, request: Request, backend: Backend) -> Reply:
    if service.internal is not None:
        return Reply(service.internal, (), (f"service {service.name} answers itself",))
    if service.servers == 0:
        return Reply(503, (), (f"service {service.name} has no server: 503",))
    status, headers = backend(request.method, request.target())
    sent = tuple(Sent(name, value, None) for name, value in headers)
    return Reply(status, sent, (f"service {service.name} at {service.at}",), backend=True)


# What check_routes counts: the routers filed under no host and no path prefix.
TRAEFIK_UNIT = "routers matched one by one (rules without a Host or a path prefix)"


def load(configs: Sequence[Path]) -> tuple[TraefikRoutes | None, list[Finding]]:
    """The model of the Traefik whose static and dynamic files these are (a static file's file
    provider is followed)."""
    config = Config()
    budget = ConfigBudget()
    for path in configs:
        _read(path, config, budget, None)
    if config.findings:
        return None, config.findings
    routes = TraefikRoutes(config)
    check_routes(routes.index.unfiled(), str(configs[0]), TRAEFIK_UNIT)
    return routes, []


def claims(text: str) -> bool:
    """A Traefik dynamic file (http: routers, middlewares, services) or static one (entryPoints
    and providers), in YAML or TOML; Envoy's bootstraps have neither."""
    keys = set(re.findall(r"^\[*([A-Za-z]+)[:.\]]", text, re.MULTILINE))
    if keys & {"http", "tcp", "udp"}:
        sections = r"^(?:\s+|\[+(?:http|tcp|udp)\.)(routers|middlewares|services)\b"
        return bool(re.search(sections, text, re.MULTILINE))
    return {"entryPoints", "providers"} <= keys
