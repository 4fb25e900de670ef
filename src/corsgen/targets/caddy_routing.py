"""Caddy's request routing, run in Python on the JSON `caddy adapt` makes of the Caddyfile.

What Caddy does with a request, as its source does it (caddyhttp routes.go, server.go, the
headers, static_response, reverse_proxy, caddyauth, fileserver and rewrite modules):
- the server listening on the request's port; its routes in order, each route's matcher sets
  tried when the request reaches it (after earlier rewrites), any set matching, every matcher of
  a set; a route of a group skipped once a route of that group ran (handle, handle_path); a
  `terminal` route ends the chain; a subroute runs its routes, then what follows it;
- `headers` on the response: immediate operations change the response's header map now
  (delete *, add, set, delete, replace, in that order); deferred ones (`defer`, `>`, a delete,
  `require`) wrap the writer and run when the status is written, the innermost first, so an
  earlier block runs later; a response nobody writes (200 when the chain ends) and every error
  answer skip the wrappers: the error is written on the server's own writer;
- static_response (respond, redir) writes its status; reverse_proxy asks the backend, applies
  header_down to its headers and ADDS them to the response's (an immediate ACAO and the
  upstream's are two); basic_auth without credentials, `error`, file_server on a missing file or
  a method other than GET and HEAD are errors: the server's error routes (handle_errors) run on
  the same response, with what was set immediately, and write the error's status at their end.
Each handler keeps the Caddyfile line it came from (caddy_lines), each header its sender.
"""

from __future__ import annotations

import ast
import functools
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

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
from corsgen.targets.caddy_lines import KINDS, Statement

Json = Mapping[str, Any]
_PLACEHOLDER = re.compile(r"\{([^{}\s]+)\}")
_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
# Handlers that pass the request on unchanged, as far as status and headers go.
_PASSING = frozenset({"encode", "templates", "request_body", "push", "log_append", "tracing"})
_INDEX = ("index.html", "index.txt")


def _text(value: object) -> str:
    """A JSON value as Caddy's ToString writes it: true, not True."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def canonical(name: str) -> str:
    """Go's http.CanonicalHeaderKey: how Caddy names every header it sends."""
    if not re.fullmatch(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+", name):
        return name
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


# --- the config, compiled: each route and handler with its place ------------------------------


@dataclass(frozen=True)
class _Handler:
    json: Json
    at: Place  # the directive that made it
    block: Place  # the block it is in: the site, handle, route, handle_path
    routes: tuple[_Route, ...] = ()  # a subroute's
    errors: tuple[_Route, ...] = ()  # a subroute's own error routes
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
class _Route:
    match: tuple[Json, ...]
    handlers: tuple[_Handler, ...]
    group: str
    terminal: bool
    at: Place  # the directive of its first handler, or its block
    matcher: Place | None = None  # where its named matcher is defined

    @property
    def match_at(self) -> Place:
        return self.matcher or self.at


@dataclass(frozen=True)
class _Server:
    name: str
    ports: frozenset[int]
    routes: tuple[_Route, ...]
    errors: tuple[_Route, ...]
    # The routes a request for a host can match, in order: those matching only exact hosts are
    # found by the host (a config of 5,000 sites is not tried site by site), the rest always.
    by_host: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    others: tuple[int, ...] = ()

    def candidates(self, host: str) -> list[_Route]:
        name = host.rsplit(":", 1)[0].lower() if "]" not in host else host.lower()
        return [self.routes[i] for i in sorted((*self.by_host.get(name, ()), *self.others))]


def _by_host(routes: Sequence[_Route]) -> tuple[dict[str, tuple[int, ...]], tuple[int, ...]]:
    by_host: dict[str, tuple[int, ...]] = {}
    others: list[int] = []
    for index, route in enumerate(routes):
        hosts = [h.lower() for m in route.match for h in m.get("host", [])]
        exact = route.match and all(set(m) == {"host"} for m in route.match)
        if not exact or any("*" in h for h in hosts):
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

    def server(self, name: str, server: Json) -> _Server:
        ports = frozenset(_port(a) for a in server.get("listen", []))
        # The site blocks on these ports by their hosts, looked up once per route (not a scan
        # of every site for each of thousands).
        sites: dict[frozenset[str], Statement] = {}
        for st in self.statements:
            if st.body and st.words and not st.name.startswith("("):
                hosts = _site_hosts(st, ports)
                if hosts is not None:
                    sites.setdefault(frozenset(hosts), st)
        routes = tuple(self.top(r, sites) for r in server.get("routes", []))
        errors = tuple(self.top(r, sites) for r in server.get("errors", {}).get("routes", []))
        return _Server(name, ports, routes, errors, *_by_host(routes))

    def top(self, route: Json, sites: Mapping[frozenset[str], Statement]) -> _Route:
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
            inner = tuple(self.route(r, site.body, site.at, defs) for r in handler["routes"])
            handlers.append(_Handler(handler, site.at, site.at, inner, (), " ".join(site.words)))
        match = tuple(route.get("match", []))
        return _Route(match, tuple(handlers), "", bool(route.get("terminal")), site.at)

    def route(
        self, route: Json, block: Sequence[Statement], at: Place, defs: Mapping[str, Statement]
    ) -> _Route:
        match = tuple(route.get("match", []))
        handlers = tuple(self.handler(h, match, block, at, defs) for h in route.get("handle", []))
        return _Route(
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
    ) -> _Handler:
        st = self.find(handler, match, block, defs)
        own = st.at if st is not None else at
        named = next((w[1:] for w in st.words if w[1:] in defs), "") if st is not None else ""
        matcher = defs[named].at if named else None
        if handler.get("handler") != "subroute":
            fields = {} if st is None else _fields(st)
            return _Handler(handler, own, at, matcher=matcher, fields=fields)
        inner_block, inner_at = (st.body, st.at) if st is not None else (block, at)
        if inner_at.file in self.policies:
            # A block of a corsgen snippet (its preflight handle) answers for the user's block
            # the snippet is imported in: findings go where the user can change something.
            inner_at = at
        routes = tuple(self.route(r, inner_block, inner_at, defs) for r in handler["routes"])
        errors = tuple(
            self.route(r, inner_block, inner_at, defs)
            for r in handler.get("errors", {}).get("routes", [])
        )
        title = " ".join(st.words) if st is not None else ""
        return _Handler(handler, own, at, routes, errors, title, matcher)

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
        best: tuple[int, bool, int] | None = None
        found = None
        for index, st in enumerate(block):
            if st.name not in names:
                continue
            if id(st) not in self.words:
                self.words[id(st)] = _words(st, defs)
            key = (len(leaves & self.words[id(st)]), id(st) not in self.claimed, -index)
            if best is None or key > best:
                best, found = key, st
        if found is not None:
            self.claimed.add(id(found))
        return found


def _fields(st: Statement) -> dict[str, Place]:
    """The line of each header a directive's block names (header, header_down)."""
    found: dict[str, Place] = {}
    for inner in st.body:
        words = inner.words[1:] if inner.name in ("header_down", "header_up") else inner.words
        if words:
            found.setdefault(words[0].lstrip("+-><?").lower(), inner.at)
    return found


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


# --- one request through the model ------------------------------------------------------------


@dataclass(frozen=True)
class _Error:
    status: int
    at: Place


_CONTINUE = "continue"
_DONE = "done"
_Outcome = str | _Error


@dataclass
class _Deferred:
    ops: Json
    by: _Handler
    require: Json | None


@dataclass
class _Run:
    asked: Asked
    backend: Backend
    version: tuple[int, int]
    path: str
    query: str
    method: str
    headers: list[tuple[str, str]]
    response: dict[str, list[Sent]] = field(default_factory=dict)
    wrappers: list[_Deferred] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)
    maps: dict[str, Json] = field(default_factory=dict)
    captures: dict[str, str] = field(default_factory=dict)
    groups: set[str] = field(default_factory=set)
    trail: list[str] = field(default_factory=list)
    status: int | None = None
    by: Place | None = None
    reached: bool = False
    auth: Place | None = None
    error: int | None = None

    # placeholders

    def get(self, key: str) -> str | None:
        """A placeholder's value; None for one Caddy does not know (left as it is written)."""
        if key in self.maps:
            return self.mapped(key, self.maps[key])
        header = key.removeprefix("http.request.header.")
        if header != key:
            values = [v for n, v in self.headers if n.lower() == header.lower()]
            return ",".join(values)
        fixed = {
            "http.request.method": self.method,
            "http.request.uri.path": self.path,
            "http.request.uri.query": self.query,
            "http.request.uri": self.path + ("?" + self.query if self.query else ""),
            "http.request.host": self.asked.host.rsplit(":", 1)[0].lower(),
            "http.request.hostport": self.asked.host,
            "http.request.scheme": "http",
            "http.error.status_code": str(self.error) if self.error is not None else None,
        }
        if key in fixed:
            return fixed[key]
        if key.startswith("http.vars."):
            return self.variables.get(key.removeprefix("http.vars."), "")
        if key.startswith("http.regexp."):
            return self.captures.get(key.removeprefix("http.regexp."), "")
        return None

    def replace(self, text: str, *, known: bool = True) -> str:
        """Caddy's ReplaceKnown (known=True: unknown placeholders stay) or ReplaceAll."""

        def one(match: re.Match[str]) -> str:
            value = self.get(match[1])
            if value is None:
                return match[0] if known else ""
            return value

        return _PLACEHOLDER.sub(one, text)

    def mapped(self, key: str, handler: Json) -> str:
        index = [str(d).strip("{}") for d in handler.get("destinations", [])].index(key)
        source = self.replace(str(handler.get("source", "")), known=False)
        for mapping in handler.get("mappings", []):
            outputs = mapping.get("outputs", [])
            output = outputs[index] if index < len(outputs) else None
            if output is None:
                continue
            if "input_regexp" in mapping:
                found = re.search(_python_regex(mapping["input_regexp"]), source)
                if found:
                    return _expanded(found, _text(output))
            elif source == mapping.get("input", ""):  # "" is left out of the JSON
                return self.replace(_text(output), known=False)
        defaults = handler.get("defaults", [])
        return self.replace(_text(defaults[index]), known=False) if index < len(defaults) else ""

    # the response's headers

    def apply(self, ops: Json, headers: dict[str, list[Sent]], by: _Handler | None) -> None:
        """HeaderOps.ApplyTo: delete *, add, set, delete, replace; each header sent by the line
        of `by` that names it."""
        deleted = [self.replace(str(n)) for n in ops.get("delete", [])]
        if "*" in deleted:
            headers.clear()
        for name, values in ops.get("add", {}).items():
            key = canonical(self.replace(name))
            at = by.sender(key) if by else None
            for value in values:
                headers.setdefault(key, []).append(Sent(key, self.replace(value), at))
        for name, values in ops.get("set", {}).items():
            key = canonical(self.replace(name))
            joined = ",".join(self.replace(v) for v in values)
            headers[key] = [Sent(key, joined, by.sender(key) if by else None)]
        for name in deleted:
            _delete(headers, name.lower())
        for name, replacements in ops.get("replace", {}).items():
            for key in [k for k in headers if name == "*" or k == canonical(name)]:
                at = by.sender(key) if by else None
                headers[key] = [_replaced(s, replacements, self, at) for s in headers[key]]

    def write(self, status: int, by: Place) -> None:
        """WriteHeader through the deferred wrappers, the innermost first."""
        for wrapper in reversed(self.wrappers):
            if wrapper.require is None or _response_matches(wrapper.require, status, self):
                self.apply(wrapper.ops, self.response, wrapper.by)
                self.trail.append(f"deferred header at {wrapper.by.at}")
        self.status, self.by = status, by


def _delete(headers: dict[str, list[Sent]], name: str) -> None:
    for key in list(headers):
        low = key.lower()
        if name.startswith("*") and name.endswith("*") and len(name) > 1:
            gone = name[1:-1] in low
        elif name.startswith("*"):
            gone = low.endswith(name[1:])
        elif name.endswith("*"):
            gone = low.startswith(name[:-1])
        else:
            gone = low == name
        if gone:
            del headers[key]


def _replaced(sent: Sent, replacements: Sequence[Json], run: _Run, at: Place | None) -> Sent:
    value = sent.value
    for r in replacements:
        if r.get("search_regexp"):
            pattern = _python_regex(run.replace(str(r["search_regexp"])))
            replace = run.replace(str(r.get("replace", "")))
            value = re.sub(pattern, functools.partial(_expanded, template=replace), value)
        else:
            search = run.replace(str(r.get("search", "")))
            value = value.replace(search, run.replace(str(r.get("replace", ""))))
    return sent if value == sent.value else Sent(sent.name, value, at)


def _response_matches(require: Json, status: int, run: _Run) -> bool:
    codes = require.get("status_code")
    if codes and not any(status == c or (c < 100 and status // 100 == c) for c in codes):
        return False
    for name, values in (require.get("headers") or {}).items():
        have = [s.value for s in run.response.get(canonical(name), [])]
        if (values is None and have) or (values is not None and not have):
            return False
        if values and not any(_header_value_matches(v, h) for v in values for h in have):
            return False
    return True


def _python_regex(pattern: str) -> str:
    """RE2 as Python reads it: named groups (?P<n>) read the same; \\z is Python's \\Z. A
    pattern Python cannot read ([[:alpha:]], \\pL) is one that matches nothing: the trail of
    the matcher that uses it says so."""
    try:
        re.compile(pattern.replace(r"\z", r"\Z"))
    except re.error:
        return r"(?!)"
    return pattern.replace(r"\z", r"\Z")


def _expanded(found: re.Match[str], template: str) -> str:
    """Go's Regexp.Expand: $1, ${1}, $name, ${name} replaced by the group, "" when there is no
    such group; $$ is a $."""

    def group(match: re.Match[str]) -> str:
        if match[0] == "$$":
            return "$"
        key = match[1] or match[2]
        try:
            return found.group(int(key) if key.isdigit() else key) or ""
        except IndexError:  # no such group
            return ""

    return re.sub(r"\$\$|\$\{(\w+)\}|\$(\w+)", group, template)


def _header_value_matches(allowed: str, actual: str) -> bool:
    if allowed == "*":
        return True
    if allowed.startswith("*") and allowed.endswith("*"):
        return allowed[1:-1] in actual
    if allowed.startswith("*"):
        return actual.endswith(allowed[1:])
    if allowed.endswith("*"):
        return actual.startswith(allowed[:-1])
    return actual == allowed


# --- matchers --------------------------------------------------------------------------------


def _clean(path: str) -> str:
    """CleanPath: slashes merged, dot segments resolved, a trailing slash kept."""
    cleaned = os.path.normpath("/" + re.sub(r"/+", "/", path)).replace("//", "/")
    return cleaned + "/" if path.endswith("/") and cleaned != "/" else cleaned


def _path_matches(pattern: str, path: str) -> bool:
    pattern, path = pattern.lower(), _clean(path.lower())
    if pattern == "*":
        return True
    stars = pattern.count("*")
    if stars == 2 and pattern.startswith("*") and pattern.endswith("*"):
        return pattern[1:-1] in path
    if stars == 1 and pattern.startswith("*"):
        return path.endswith(pattern[1:])
    if stars == 1 and pattern.endswith("*"):
        return path.startswith(pattern[:-1])
    # Go's path.Match: * and ? never cross a slash
    glob = "".join("[^/]*" if c == "*" else "[^/]" if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(glob, path) is not None


def _host_matches(pattern: str, host: str) -> bool:
    pattern, host = pattern.lower(), host.rsplit(":", 1)[0].lower() if "]" not in host else host
    if pattern == host:
        return True
    labels, want = host.split("."), pattern.split(".")
    return len(labels) == len(want) and all(
        w in ("*", h) for w, h in zip(want, labels, strict=True)
    )


def _regex(run: _Run, spec: Json, value: str) -> bool:
    pattern = str(spec.get("pattern", ""))
    if _python_regex(pattern) == r"(?!)":
        run.trail.append(f"regex {pattern!r} not modelled: taken as not matching")
    found = re.search(_python_regex(pattern), value)
    if found is None:
        return False
    name = spec.get("name", "")
    for index, group in enumerate((found[0], *found.groups())):
        for prefix in ([f"{name}."] if name else []) + [""]:
            run.captures[f"{prefix}{index}"] = group or ""
    for key, group in found.groupdict().items():
        for prefix in ([f"{name}."] if name else []) + [""]:
            run.captures[f"{prefix}{key}"] = group or ""
    return True


def _field(run: _Run, name: str) -> list[str]:
    if name.lower() == "host":
        return [run.asked.host]
    return [v for n, v in run.headers if n.lower() == name.lower()]


def _matcher(run: _Run, kind: str, spec: Any) -> bool:
    if kind == "host":
        return any(_host_matches(h, run.asked.host) for h in spec)
    if kind == "path":  # on the decoded path, as r.URL.Path is
        return any(_path_matches(run.replace(p, known=False), unquote(run.path)) for p in spec)
    if kind == "path_regexp":
        return _regex(run, spec, unquote(run.path))
    if kind == "method":
        return run.method in spec
    if kind == "header":
        return all(_header_matches(run, name, values) for name, values in spec.items())
    if kind == "header_regexp":
        return all(any(_regex(run, rx, v) for v in _field(run, name)) for name, rx in spec.items())
    if kind == "not":
        return not any(_matcher_set(run, s) for s in spec)
    if kind == "vars":
        return any(_vars_matches(run, key, values) for key, values in spec.items())
    if kind == "vars_regexp":
        return all(_regex(run, rx, _var(run, key)) for key, rx in spec.items())
    if kind == "query":
        pairs = [p.partition("=") for p in run.query.split("&") if p]
        return all(any(k == key and v in vals for k, _, v in pairs) for key, vals in spec.items())
    if kind == "protocol":
        return spec in ("http", "http/1.1")
    if kind == "expression":
        return _expression(run, spec if isinstance(spec, str) else str(spec.get("expr", "")))
    run.trail.append(f"matcher {kind} not modelled: taken as not matching")
    return False


def _header_matches(run: _Run, name: str, allowed: list[str] | None) -> bool:
    actual = _field(run, name)
    if allowed is not None and not allowed:
        return bool(actual)
    if allowed is None:
        return not actual
    return any(
        _header_value_matches(run.replace(a, known=False), v) for v in actual for a in allowed
    )


def _var(run: _Run, key: str) -> str:
    if key.startswith("{") and key.endswith("}") and key.count("{") == 1:
        return run.get(key[1:-1]) or ""
    return run.variables.get(key, "")


def _vars_matches(run: _Run, key: str, values: list[str]) -> bool:
    value = _var(run, key)
    return any(value == run.replace(v, known=False) for v in values)


def _matcher_set(run: _Run, matchers: Json) -> bool:
    return all(_matcher(run, kind, spec) for kind, spec in matchers.items())


def _matches(run: _Run, sets: Sequence[Json]) -> bool:
    return not sets or any(_matcher_set(run, s) for s in sets)


# Caddy's CEL expression, in the simple forms configs write: placeholders compared with ==, !=,
# in, joined by && || !, and the matcher functions (path('/api/*'), method('GET'), header({..})).
_CEL_FUNCTIONS = frozenset({"path", "method", "host", "header", "header_regexp", "path_regexp"})


def _expression(run: _Run, text: str) -> bool:
    values: list[object] = []

    def placeholder(match: re.Match[str]) -> str:
        value = run.get(match[1]) or ""
        values.append(int(value) if value.isdigit() else value)
        return f"_v[{len(values) - 1}]"

    source = _PLACEHOLDER.sub(placeholder, text)
    source = source.replace("&&", " and ").replace("||", " or ")
    source = re.sub(r"!(?!=)", " not ", source)
    try:
        tree = ast.parse(source, mode="eval")
        return bool(_evaluate(run, tree.body, values))
    except (SyntaxError, ValueError, TypeError, KeyError, IndexError):
        run.trail.append(f"expression {text!r} not modelled: taken as not matching")
        return False


def _call(run: _Run, name: str, args: list[object]) -> bool:
    """A matcher function of Caddy's CEL: path('/a/*'), header({'Origin': 'x'}), ..."""
    spec: object = args
    if name == "header" and len(args) == 1 and isinstance(args[0], dict):
        spec = {k: v if isinstance(v, list) else [v] for k, v in args[0].items()}
    elif name == "header_regexp" and len(args) >= 2:
        spec = {str(args[-2]): {"pattern": args[-1]}}
    elif name == "path_regexp" and args:
        spec = {"pattern": args[-1]}
    elif name not in _CEL_FUNCTIONS:
        raise ValueError(name)
    return _matcher(run, name, spec)


def _evaluate(run: _Run, node: ast.expr, values: list[object]) -> object:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.List | ast.Tuple):
        return [_evaluate(run, e, values) for e in node.elts]
    if isinstance(node, ast.Dict):
        return {
            _evaluate(run, k, values): _evaluate(run, v, values)
            for k, v in zip(node.keys, node.values, strict=True)
            if k is not None
        }
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
        return values[int(str(node.slice.value))]
    if isinstance(node, ast.BoolOp):
        parts = (bool(_evaluate(run, v, values)) for v in node.values)
        return all(parts) if isinstance(node.op, ast.And) else any(parts)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return not _evaluate(run, node.operand, values)
    if isinstance(node, ast.Compare) and len(node.ops) == 1:
        left = _evaluate(run, node.left, values)
        right = _evaluate(run, node.comparators[0], values)
        op = node.ops[0]
        if isinstance(op, ast.Eq | ast.NotEq):
            return (left == right) == isinstance(op, ast.Eq)
        if isinstance(op, ast.In) and isinstance(right, list | dict | str):
            return left in right
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        return _call(run, node.func.id, [_evaluate(run, a, values) for a in node.args])
    raise ValueError(ast.dump(node))


# --- handlers --------------------------------------------------------------------------------


def _status(run: _Run, value: object, default: int) -> int:
    text = run.replace(str(value), known=False) if value not in (None, "") else ""
    return int(text) if text.isdigit() else default


def _run_routes(run: _Run, routes: Sequence[_Route]) -> _Outcome:
    for route in routes:
        if not _matches(run, route.match):
            continue
        if route.group:
            if route.group in run.groups:
                continue
            run.groups.add(route.group)
        for handler in route.handlers:
            outcome = _handle(run, handler)
            if outcome != _CONTINUE:
                return outcome
        if route.terminal:
            return _DONE
    return _CONTINUE


def _handle(run: _Run, h: _Handler) -> _Outcome:
    kind, spec = h.kind, h.json
    if kind == "subroute":
        run.trail.append(f"{h.title or 'block'} at {h.at}")
        outcome = _run_routes(run, h.routes)
        if isinstance(outcome, _Error) and h.errors:
            run.error = outcome.status
            return _run_routes(run, h.errors)
        return outcome
    if kind == "headers":
        return _headers(run, h)
    if kind == "static_response":
        for name, values in (spec.get("headers") or {}).items():
            key = canonical(run.replace(name, known=False))
            run.response[key] = [Sent(key, run.replace(v, known=False), h.at) for v in values]
        default = run.error if run.error is not None else 200
        run.trail.append(f"respond at {h.at}")
        run.write(_status(run, spec.get("status_code"), default), h.block)
        return _DONE
    if kind == "reverse_proxy":
        return _proxy(run, h)
    if kind == "authentication":
        run.auth = h.at
        if _field(run, "Authorization"):
            run.trail.append(f"basic_auth at {h.at}: credentials taken as valid")
            return _CONTINUE
        realm = spec.get("providers", {}).get("http_basic", {}).get("realm") or "restricted"
        run.response["Www-Authenticate"] = [
            Sent("Www-Authenticate", f'Basic realm="{realm}"', h.at)
        ]
        run.trail.append(f"basic_auth at {h.at}: 401")
        return _Error(401, h.at)
    if kind == "error":
        run.trail.append(f"error at {h.at}")
        return _Error(_status(run, spec.get("status_code"), 500), h.at)
    if kind == "file_server":
        return _file(run, h)
    if kind == "vars":
        for key, value in spec.items():
            if key != "handler":
                run.variables[key] = run.replace(_text(value), known=False)
        return _CONTINUE
    if kind == "map":
        for destination in spec.get("destinations", []):
            run.maps[str(destination).strip("{}")] = spec  # as map's Provision trims them
        return _CONTINUE
    if kind == "rewrite":
        _rewrite(run, spec, h.at)
        return _CONTINUE
    if kind not in _PASSING:
        run.trail.append(f"{kind} at {h.at} not modelled: passed")
    return _CONTINUE


def _headers(run: _Run, h: _Handler) -> _Outcome:
    request = h.json.get("request")
    if request:
        headers: dict[str, list[Sent]] = {}
        for name, value in run.headers:
            headers.setdefault(canonical(name), []).append(Sent(name, value, None))
        run.apply(request, headers, h)
        run.headers = [(s.name, s.value) for sent in headers.values() for s in sent]
    response = h.json.get("response")
    if response:
        if response.get("deferred") or response.get("require") is not None:
            run.wrappers.append(_Deferred(response, h, response.get("require")))
        else:
            run.apply(response, run.response, h)
    return _CONTINUE


def _proxy(run: _Run, h: _Handler) -> _Outcome:
    spec = h.json
    rewrite = spec.get("rewrite") or {}
    method = str(rewrite.get("method") or run.method)
    uri = run.replace(str(rewrite["uri"]), known=False) if "uri" in rewrite else None
    target = uri or run.path + ("?" + run.query if run.query else "")
    status, pairs = run.backend(method, target)
    upstream: dict[str, list[Sent]] = {}
    for name, value in pairs:
        if name.lower() not in _HOP:
            upstream.setdefault(canonical(name), []).append(Sent(canonical(name), value, None))
    if "handle_response" in spec:  # forward_auth: the answer decides, 2xx lets the request on
        run.auth = h.at
        run.trail.append(f"forward_auth at {h.at}: {status}")
        if 200 <= status < 300:
            return _CONTINUE
    else:
        run.reached = True
        run.trail.append(f"reverse_proxy at {h.at}: {status}")
    down = (spec.get("headers") or {}).get("response")
    if down and (down.get("require") is None or _response_matches(down["require"], status, run)):
        run.apply(down, upstream, h)
    for key, sent in upstream.items():
        run.response.setdefault(key, []).extend(sent)
    run.write(status, h.block)
    return _DONE


def _file(run: _Run, h: _Handler) -> _Outcome:
    root = run.replace(str(h.json.get("root") or "{http.vars.root}"), known=False) or "."
    path = os.path.join(root, _clean(run.path).lstrip("/"))
    if os.path.isdir(path):
        path = next((p for i in _INDEX if os.path.isfile(p := os.path.join(path, i))), "")
    if not os.path.isfile(path):
        run.trail.append(f"file_server at {h.at}: no file, 404")
        return _Error(404, h.at)
    if run.method not in ("GET", "HEAD") and run.version >= (2, 7):  # 2.6 serves any method
        run.response.setdefault("Allow", []).append(Sent("Allow", "GET, HEAD", h.at))
        run.trail.append(f"file_server at {h.at}: {run.method}, 405")
        return _Error(405, h.at)
    run.trail.append(f"file_server at {h.at}")
    run.write(200, h.block)
    return _DONE


def _rewrite(run: _Run, spec: Json, at: Place) -> None:
    before = run.path
    if "method" in spec:
        run.method = run.replace(str(spec["method"]), known=False)
    if "uri" in spec:
        uri = run.replace(str(spec["uri"]), known=False)
        path, _, query = uri.partition("?")
        run.path, run.query = (path or run.path), (query if "?" in uri else run.query)
    prefix = str(spec.get("strip_path_prefix", ""))
    if prefix and run.path.lower().startswith(prefix.lower()):
        run.path = run.path[len(prefix) :] or "/"
        if not run.path.startswith("/"):
            run.path = "/" + run.path
    suffix = str(spec.get("strip_path_suffix", ""))
    if suffix and run.path.lower().endswith(suffix.lower()):
        run.path = run.path[: -len(suffix)]
    for sub in spec.get("uri_substring") or []:
        run.path = run.path.replace(str(sub.get("find", "")), str(sub.get("replace", "")))
    for rx in spec.get("path_regexp") or []:
        template = str(rx.get("replace", ""))
        find = _python_regex(str(rx.get("find", "")))
        run.path = re.sub(find, functools.partial(_expanded, template=template), run.path)
    if run.path != before:
        run.trail.append(f"rewrite at {at}: {before} -> {run.path}")


# --- the model -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CaddyRoutes:
    """One Caddyfile's model: its servers, and the corsgen policies its imports hold, by file."""

    servers: tuple[_Server, ...]
    statements: tuple[Statement, ...]
    policies: Mapping[str, str]  # file -> the corsgen policy it was rendered from
    version: tuple[int, int]  # Caddy's, (2, 11): what its handlers do changed on the way

    def answer(self, asked: Asked, backend: Backend = audit_backend) -> Answered:
        server = next((s for s in self.servers if asked.port in s.ports), None)
        if server is None:
            server = self.servers[0] if self.servers else _Server("", frozenset(), (), ())
        path, _, query = asked.path.partition("?")
        run = _Run(asked, backend, self.version, path, query, asked.method, list(asked.headers))
        routes = server.candidates(asked.host)
        site = next((r.at for r in routes if _site_for(run, r)), Place("", 0))
        outcome = _run_routes(run, routes)
        if isinstance(outcome, _Error):
            _errors(run, server, outcome)
        elif run.status is None:  # nobody wrote: Go writes 200, past every deferred wrapper
            run.status, run.by = 200, run.by or site
            run.trail.append("no handler answered: 200")
        headers = tuple(s for key in sorted(run.response) for s in run.response[key])
        return Answered(
            run.status or 200,
            headers,
            run.by or site,
            tuple(run.trail),
            run.reached,
            run.auth,
        )

    def maps(self) -> dict[str, Json]:
        """Every map handler of the config, by each destination's name."""
        found: dict[str, Json] = {}

        def walk(routes: Sequence[_Route]) -> None:
            for route in routes:
                for handler in route.handlers:
                    if handler.kind == "map":
                        for d in handler.json.get("destinations", []):
                            found.setdefault(str(d).strip("{}"), handler.json)
                    walk(handler.routes)

        for server in self.servers:
            walk(server.routes)
        return found

    def scopes(self) -> Sequence[Scope]:
        found: list[Scope] = []
        for server in self.servers:
            port = min(server.ports, default=None)
            for route in server.routes:
                hosts = [h for m in route.match for h in m.get("host", [])]
                for handler in route.handlers:
                    found.extend(self._scopes(handler, hosts[0] if hosts else "", "/", port))
        return sorted(found, key=lambda scope: scope.at)

    def _scopes(self, block: _Handler, host: str, path: str, port: int | None) -> Iterator[Scope]:
        """The scope of a block (site, handle, route, handle_path) when it answers CORS, and
        those of the blocks in it. A block with no path of its own (handle @preflight) is part
        of the scope it is in; a corsgen snippet's lines are its policy, not hand-written CORS.
        Its paths: its own, then one for each path matcher in it (an `error /private/*`, a
        `basicauth /admin/*`, a handle_path of no CORS of its own), which answer for it too."""
        own = list(_own(block))
        policies = {self.policies[h.at.file] for _, h in own if h.at.file in self.policies}
        written = [(r, h) for r, h in own if h.at.file not in self.policies]
        granted = _granted(written, self.maps())
        inner: list[Scope] = []
        for route in block.routes:
            for handler in route.handlers:
                if handler.kind == "subroute" and _pattern(route) is not None:
                    inner += self._scopes(handler, host, _sample(_pattern(route) or ""), port)
        if policies or granted is not None:
            policy = min(policies) if policies else None
            claimed = {p for scope in inner for p in scope.paths}
            # Headers sent on some paths only (header @fonts, @fonts path *.woff2): those paths.
            gates = [_pattern(r) for r, h in written if h.kind == "headers"]
            if gates and all(gates):
                paths = [_sample(p) for p in gates if p]
            else:
                paths = [path, *(_sample(p) for r in block.routes if (p := _pattern(r)))]
            paths = [p for p in dict.fromkeys(paths) if p == path or p not in claimed]
            yield Scope(block.at, host, tuple(paths), block.title, policy, granted, port)
        yield from inner


def _pattern(route: _Route) -> str | None:
    """The first path pattern of a route's matchers."""
    return next((p for m in route.match for p in m.get("path", [])), None)


def _sample(pattern: str) -> str:
    """A request path the path pattern matches: /api/* -> /api/, *.json -> /x.json."""
    path = pattern.replace("*", "x") if pattern.count("*") > 1 or not pattern.endswith("*") else ""
    path = path or pattern.removesuffix("*")
    return path if path.startswith("/") else "/" + path


def _own(block: _Handler, outer: _Route | None = None) -> Iterator[tuple[_Route, _Handler]]:
    """A block's handlers, with those of the blocks in it that have no path matcher (handle
    @preflight), each with the route whose matchers decide when it runs."""
    for route in block.routes:
        gate = outer if outer is not None and not route.match else route
        pathless = not any("path" in m for m in route.match)
        for handler in route.handlers:
            if handler.kind != "subroute":
                yield gate, handler
            elif pathless:
                yield from _own(handler, gate)


def _site_for(run: _Run, route: _Route) -> bool:
    return not route.match or any(
        _host_matches(h, run.asked.host) for m in route.match for h in m.get("host", [])
    )


def _errors(run: _Run, server: _Server, error: _Error) -> None:
    """The error chain: on the server's own writer (no deferred wrapper of the routes), the
    original method and URI, what was set immediately kept."""
    run.error, run.wrappers = error.status, []
    run.path, _, run.query = run.asked.path.partition("?")
    run.method = run.asked.method
    if not server.errors:
        run.status, run.by = error.status, error.at
        return
    run.trail.append(f"error {error.status}: handle_errors")
    outcome = _run_routes(run, server.errors)
    if run.status is None:
        # errorEmptyHandler writes the error's status; a second error, the first one's too
        run.status, run.by = error.status, run.by or error.at
    del outcome


def load(
    config: Json,
    statements: tuple[Statement, ...],
    policies: Mapping[str, str],
    version: tuple[int, int],
) -> CaddyRoutes:
    """The model of an adapted config, its handlers placed in these statements."""
    compiler = _Compiler(statements, policies)
    servers = config.get("apps", {}).get("http", {}).get("servers", {})
    return CaddyRoutes(
        tuple(compiler.server(name, server) for name, server in servers.items()),
        statements,
        policies,
        version,
    )


def version(binary: str) -> tuple[int, int]:
    """The Caddy's major and minor version: `v2.11.7 h1:...`, Debian's `2.6.2`."""
    import subprocess

    try:
        out = subprocess.run(
            [binary, "version"], capture_output=True, text=True, timeout=30, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        out = ""
    found = re.match(r"v?(\d+)\.(\d+)", out.strip())
    return (int(found[1]), int(found[2])) if found else (2, 99)  # unknown: the newest


def read(path: Path, binary: str) -> CaddyRoutes | str:
    """The model of the Caddyfile at path, or caddy adapt's error."""
    from corsgen.server_config import ConfigBudget, decode_config
    from corsgen.targets import caddy_config, caddy_lines

    budget = ConfigBudget()
    text = decode_config(budget.read(path))
    caddy_config._read_imports(path, text, budget)
    config = caddy_config._adapt(path, binary)
    if isinstance(config, str):
        return config
    statements = caddy_lines.read(path, ConfigBudget())
    return load(config, statements, _policies(statements), version(binary))


_MARKER = re.compile(r"^# corsgen: policy=(\S+) ", re.MULTILINE)


def _policies(statements: Sequence[Statement]) -> dict[str, str]:
    """The files among these statements' that corsgen rendered, with their policy's name."""
    files = {st.at.file for st in _all(statements)}
    found: dict[str, str] = {}
    for file in sorted(files):
        try:
            with open(file, encoding="utf-8", errors="replace") as f:
                head = f.read(4096)
        except OSError:
            continue
        if marker := _MARKER.search(head):
            found[file] = marker[1]
    return found


def _all(statements: Sequence[Statement]) -> Iterator[Statement]:
    for st in statements:
        yield st
        yield from _all(st.body)


# The list headers: the Granted field each fills, and the policy key it names.
_LISTS = {
    "Access-Control-Allow-Methods": ("methods", "allow_methods"),
    "Access-Control-Allow-Headers": ("headers", "allow_headers"),
    "Access-Control-Expose-Headers": ("expose", "expose_headers"),
}


def _granted(
    headers: Sequence[tuple[_Route, _Handler]], maps: Mapping[str, Json]
) -> Granted | None:
    """What a block's own header directives grant, key by key, each with its line: the origins
    its matchers on Origin admit (exact values, a regex, a vars list), or every origin; the
    status its preflight answer (a respond matching OPTIONS, after CORS headers) sends."""
    keys: dict[str, Any] = {}
    at: dict[str, Place] = {}
    preflight: int | None = None
    for route, handler in headers:
        if handler.kind == "static_response" and _answers_preflights(route):
            status = handler.json.get("status_code", 200)
            if str(status).isdigit() and "preflight_status" not in at:
                preflight = int(status)
                at["preflight_status"] = handler.at
        if handler.kind != "headers":
            continue
        ops = handler.json.get("response") or {}
        for written, values in {**ops.get("add", {}), **ops.get("set", {})}.items():
            name, value, where = canonical(written), ",".join(values), handler.at
            if name == "Access-Control-Allow-Origin":
                _origins(keys, at, route, value, where, maps)
            elif name == "Access-Control-Allow-Credentials":
                keys["credentials"], at["allow_credentials"] = value == "true", where
            elif name in _LISTS:
                field_name, key = _LISTS[name]
                keys[field_name] = tuple(w.strip() for w in value.split(",") if w.strip())
                at[key] = where
            elif name == "Access-Control-Max-Age" and value.isdigit():
                keys["max_age"], at["max_age"] = int(value), where
            elif name == "Access-Control-Allow-Private-Network":
                keys["private_network"], at["allow_private_network"] = value == "true", where
    if not keys:
        return None
    return Granted(**keys, preflight_status=preflight, at=at)


_ORIGIN = "{http.request.header.Origin}"


def _origins(
    keys: dict[str, Any],
    at: dict[str, Place],
    route: _Route,
    value: str,
    where: Place,
    maps: Mapping[str, Json],
) -> None:
    """The origins an Access-Control-Allow-Origin value grants: `*`, a literal, the Origin sent
    back (as far as the route's matchers on Origin let it: exact values, globs, a regex, a map's
    entries), or a map's outputs."""
    at["allow_origins"] = where
    exact: list[str] = []
    regexes: list[OriginRegex] = []
    named = _PLACEHOLDER.fullmatch(value)
    if value == "*":
        keys["any_origin"] = True
    elif not _PLACEHOLDER.search(value):
        exact.append(value)
    elif value == _ORIGIN:
        gated = False
        for matchers in route.match:
            gated |= _gate(matchers, maps, route.match_at, exact, regexes)
        keys["reflects"] = keys.get("reflects", False) or not gated
    elif named and named[1] in maps:
        _from_map(maps[named[1]], named[1], None, route.match_at, exact, regexes)
    keys["origins"] = tuple(dict.fromkeys((*keys.get("origins", ()), *exact)))
    keys["regexes"] = (*keys.get("regexes", ()), *regexes)


def _gate(
    matchers: Json,
    maps: Mapping[str, Json],
    at: Place,
    exact: list[str],
    regexes: list[OriginRegex],
) -> bool:
    """Add what one matcher set lets through to exact and regexes; whether it tests Origin."""
    gated = False
    for name, values in (matchers.get("header") or {}).items():
        if name.lower() == "origin" and values:
            for glob in values:
                if glob == "*":
                    return False  # any Origin at all
                if "*" in glob:
                    regexes.append(OriginRegex(_glob_regex(glob), at, "re2", False))
                else:
                    exact.append(glob)
            gated = True
    for name, spec in (matchers.get("header_regexp") or {}).items():
        if name.lower() == "origin":
            source = str(spec.get("pattern", ""))
            regexes.append(OriginRegex(source, at, "re2", source.startswith("(?i)")))
            gated = True
    for key, values in (matchers.get("vars") or {}).items():
        if key == _ORIGIN:
            exact += values
            gated = True
        elif (name := key.strip("{}")) in maps:
            _from_map(maps[name], name, values, at, exact, regexes)
            gated = True
    return gated


def _from_map(
    spec: Json,
    name: str,
    wanted: Sequence[str] | None,
    at: Place,
    exact: list[str],
    regexes: list[OriginRegex],
) -> None:
    """The origins of a map on Origin: the inputs whose output for `name` is one of `wanted`
    (a vars matcher's values), or (wanted None) whose output is a literal or the Origin."""
    if spec.get("source") != _ORIGIN:
        return
    index = [str(d).strip("{}") for d in spec.get("destinations", [])].index(name)
    for mapping in spec.get("mappings", []):
        outputs = mapping.get("outputs", [])
        output = (
            _text(outputs[index]) if index < len(outputs) and outputs[index] is not None else ""
        )
        if not output or (wanted is not None and output not in wanted):
            continue
        if "input_regexp" in mapping:
            regexes.append(OriginRegex(str(mapping["input_regexp"]), at, "re2", False))
        elif wanted is not None or output == _ORIGIN:
            exact.append(str(mapping.get("input", "")))
        elif not _PLACEHOLDER.search(output):
            exact.append(output)


def _answers_preflights(route: _Route) -> bool:
    return any(
        "OPTIONS" in m.get("method", []) or "OPTIONS" in str(m.get("expression", ""))
        for m in route.match
    )


def _glob_regex(glob: str) -> str:
    """The header matcher's glob (*x, x*, *x*) as the anchored RE2 it means."""
    inner = re.escape(glob.strip("*"))
    return f"^{'.*' if glob.startswith('*') else ''}{inner}{'.*' if glob.endswith('*') else ''}$"


@dataclass(frozen=True)
class SortedFirst:
    """An authentication Caddy runs before a corsgen snippet's preflight answer (CG404)."""

    policy: str
    auth: str  # "basic_auth" or "forward_auth"
    at: Place
    site: str


def auth_sorted_first(model: CaddyRoutes) -> Iterator[SortedFirst]:
    """Each corsgen snippet's preflight answer (a block of its file, matching OPTIONS) that an
    authentication reaches first in its chain: what the routes' order makes of it, whatever
    the Caddyfile's order. Auth inside a handle, route or handle_path stays in its block."""
    for server in model.servers:
        for top in server.routes:
            for handler in top.handlers:
                yield from _sorted_first(model, handler.routes, None, handler.title)


def _sorted_first(
    model: CaddyRoutes, routes: Sequence[_Route], auth: _Handler | None, site: str
) -> Iterator[SortedFirst]:
    for route in routes:
        for handler in route.handlers:
            if handler.kind == "subroute":
                policy = model.policies.get(handler.at.file)
                preflight = any("OPTIONS" in m.get("method", []) for m in route.match)
                if policy is not None and preflight:
                    if auth is not None:
                        kind = "basic_auth" if auth.kind == "authentication" else "forward_auth"
                        yield SortedFirst(policy, kind, auth.at, site)
                else:
                    yield from _sorted_first(model, handler.routes, auth, site)
            elif auth is None and _may_be_a_preflight(route) and _is_auth(handler):
                auth = handler


def _is_auth(handler: _Handler) -> bool:
    return handler.kind == "authentication" or (
        handler.kind == "reverse_proxy" and "handle_response" in handler.json
    )


def _may_be_a_preflight(route: _Route) -> bool:
    """False for a route whose matchers keep OPTIONS requests out."""
    return not route.match or any("OPTIONS" in m.get("method", ["OPTIONS"]) for m in route.match)
