"""The nginx routing model (routing.py): what nginx does with one request through the user's whole
config, read once with its includes (nginx_config's loader, within ConfigBudget).

Each step is nginx's own, as nginx 1.22 runs it (tests/audit/nginx_routing_test.py holds the model
to the real nginx on every corpus config):
- the server: the port, then server_name (exact, *.suffix, prefix.*, ~regex in order), else the
  port's default_server, else its first server;
- the server's rewrite directives, then the location: `=` exact, else the longest prefix, whose
  nested locations are searched first; then, unless that prefix is `^~`, the regex locations of
  the level in the order written (the first match wins, its nested locations searched too); none
  matching: the server itself. A prefix ending in / with a *_pass answers 301 to the URI without
  its slash;
- the location's rewrite directives in order (set, rewrite, return, break, if): a true `if` makes
  its own block the request's config (add_header, hide lists: inherited by it as by a location);
  `rewrite ... last` and a rewrite without flag search the location again, `break` and
  `rewrite ... break` stop the rewrite directives (a later `if ... return` never runs);
  rewrite directives are never inherited;
- the access phase: allow/deny, auth_basic (passes only with an Authorization header), then
  auth_request's subrequest (2xx passes, 401/403 answer, else 500);
- try_files (a file or directory that exists serves; the last parameter is a URI, =code or
  @name), the content handler (proxy_pass and the other *_pass reach the backend; an `if` block
  inherits its location's), else static files: index (a file that exists, or an absolute last
  name, is an internal redirect), 405 for methods other than GET/HEAD/POST, 404 when absent;
- error_page for nginx's own error answers (and the backend's with *_intercept_errors on), once:
  a URI is an internal redirect as GET (HEAD stays HEAD) keeping the error's status (or `=code`),
  @name keeps the method;
- every internal redirect (try_files, index, error_page to a URI) starts again at the server's
  rewrite directives; a named location at its own; at most 10 URI changes, then 500;
- the answer's headers: the backend's (what reached it), less the module's hide list (its
  defaults, plus the *_hide_header of the nearest block that has any, less its *_pass_header of
  the nearest block with any: each list inherited only by a block with none of its own), then
  add_header of the nearest block with any (`add_header_inherit merge|off` from nginx 1.29.3),
  each sent when its value is not empty and the status is one of 200, 201, 204, 206, 301, 302,
  303, 304, 307, 308, or `always`; then more_set_headers / more_clear_headers (headers-more: every
  status, replacing; not served here, so not held to a real server).

Files are looked up on this machine's file system, under the config's root or alias.
"""

from __future__ import annotations

import ipaddress
import os
import posixpath
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

from corsgen.errors import Finding
from corsgen.marker import parse_marker  # noqa: F401  (the loader reads markers)
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
from corsgen.server_config import ConfigBudget
from corsgen.targets.nginx_config import _Directive, _File, _Loader
from corsgen.targets.nginx_variables import Map, Variables, compile_pcre

Version = tuple[int, int, int]
# The statuses add_header sends on without `always`.
_SAFE = frozenset({200, 201, 204, 206, 301, 302, 303, 304, 307, 308})
_MODULES = ("proxy", "fastcgi", "uwsgi", "scgi", "grpc")
_PASSES = {f"{m}_pass": m for m in _MODULES} | {"memcached_pass": "memcached"}
# What each module hides of the backend's answer without being told.
_ACCEL = ("x-accel-expires", "x-accel-redirect", "x-accel-limit-rate", "x-accel-buffering")
_HIDDEN = {
    "proxy": ("date", "server", "x-pad", *_ACCEL, "x-accel-charset"),
    "grpc": ("date", "server", *_ACCEL, "x-accel-charset"),
    "fastcgi": ("status", *_ACCEL, "x-accel-charset"),
    "uwsgi": ("status", *_ACCEL, "x-accel-charset"),
    "scgi": ("status", *_ACCEL, "x-accel-charset"),
    "memcached": (),
}
_REWRITE = ("set", "rewrite", "return", "break", "if")
_REDIRECTS = (301, 302, 303, 307, 308)
_MAX_CHANGES = 10  # NGX_HTTP_MAX_URI_CHANGES
ADD_HEADER_INHERIT: Version = (1, 29, 3)
TESTED: Version = (1, 22, 1)  # the nginx the corpus is held to
OUTSIDE = "203.0.113.7"  # the client the audit's requests come from: not the loopback


@dataclass(frozen=True)
class _Step:
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
    code: list[_Step] = field(default_factory=list)
    locations: list[Conf] = field(default_factory=list)
    own: dict[str, list[tuple[tuple[str, ...], Place]]] = field(default_factory=dict)
    policies: list[tuple[str, Place]] = field(default_factory=list)  # corsgen snippets here

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
        for directive, module in _PASSES.items():
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
class _Server:
    conf: Conf
    ports: tuple[int, ...]
    defaults: tuple[int, ...]  # the ports it is default_server on
    names: tuple[str, ...]


# --------------------------------------------------------------------------------------------
# Reading the config into blocks.

_SKIPPED_MAP_KEYS = ("hostnames", "volatile")


@dataclass
class _Reader:
    files: list[_File]
    maps: dict[str, Map] = field(default_factory=dict)
    servers: list[_Server] = field(default_factory=list)
    path: list[int] = field(default_factory=list)

    def read(self, directives: list[_Directive], file: str, conf: Conf) -> None:
        for d in directives:
            name, args = d["directive"], tuple(d.get("args", []))
            at = Place(file, d.get("line", 0))
            if name == "include":
                for index in d.get("includes", []):
                    if index in self.path:
                        continue  # the loader's audit reports the loop
                    included = self.files[index]
                    if included.policy is not None and "add_header" in included.names:
                        conf.policies.append((included.policy, at))
                    self.path.append(index)
                    self.read(included.parsed, included.name, conf)
                    self.path.pop()
            elif name == "map" and len(args) == 2:
                self.maps[args[1].lstrip("$")] = self.map(args[0], d.get("block", []))
            elif name in ("server", "location", "if", "limit_except") and "block" in d:
                self.block(name, args, at, d["block"], file, conf)
            elif name in ("allow", "deny"):  # one list, in order: the first rule that matches
                conf.own.setdefault("access", []).append(((name, *args), at))
            elif name in _REWRITE:
                conf.code.append(_Step(name, args, at))
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
            conf.code.append(_Step("if", args, at, child))
        elif name == "limit_except":
            conf.own.setdefault("limit_except", []).append((args, at))
        self.read(inner, file, child)
        if name == "server":
            self.servers.append(_server(child))

    def map(self, source: str, entries: list[_Directive]) -> Map:
        exact: dict[str, str] = {}
        regexes: list[tuple[str, bool, str]] = []
        default = ""
        for key, value in self.entries(entries):
            if key == "default":
                default = value
            elif key.startswith("~*"):
                regexes.append((key[2:], True, value))
            elif key.startswith("~"):
                regexes.append((key[1:], False, value))
            else:
                exact.setdefault(key.removeprefix("\\").lower(), value)
        return Map(source, exact, tuple(regexes), default)

    def entries(self, entries: list[_Directive]) -> Iterator[tuple[str, str]]:
        for entry in entries:
            key, args = entry["directive"], entry.get("args", [])
            if key == "include":
                for index in entry.get("includes", []):
                    yield from self.entries(self.files[index].parsed)
            elif key not in _SKIPPED_MAP_KEYS and args:
                yield key, args[0]


def _server(conf: Conf) -> _Server:
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
    return _Server(conf, tuple(ports), tuple(defaults), names)


# --------------------------------------------------------------------------------------------
# Answering a request.


@dataclass
class _Final:
    """How a request ended: the status, the block whose header filters apply, and the backend's
    answer when it reached the backend."""

    status: int
    conf: Conf
    module: str | None = None  # the upstream module whose answer this is
    upstream: tuple[tuple[str, str], ...] = ()
    own_error: bool = True  # nginx's own answer (error_page applies), not the backend's


@dataclass
class _Jump:
    """An internal redirect: to a URI (from the server's rewrite directives) or a named location."""

    uri: str
    args: str | None
    named: Conf | None = None


@dataclass
class _Rewritten:
    """Where a run of rewrite directives ended."""

    final: _Final | None = None  # return, or a rewrite that redirects
    active: Conf | None = None  # the block of the last true if: the request's config from then
    stop: str = ""  # "last", "break"


@dataclass
class _Request:
    method: str
    uri: str
    args: str
    headers: dict[str, str]
    host: str
    server: _Server
    trail: list[str] = field(default_factory=list)
    changes: int = _MAX_CHANGES + 1
    error_page: bool = False
    err_status: int = 0
    auth: Place | None = None
    backend: bool = False
    internal: bool = False
    location: Conf | None = None  # the location found (for proxy_pass's URI)
    vars: Variables = field(init=False)


def _normalise(path: str) -> str:
    """The URI nginx matches locations with: decoded, slashes merged, dot segments resolved."""
    uri = unquote(path) or "/"
    while "//" in uri:
        uri = uri.replace("//", "/")
    resolved = posixpath.normpath(uri)
    if uri.endswith("/") and resolved != "/":
        resolved += "/"
    return resolved if resolved.startswith("/") else "/" + resolved


def _split(target: str) -> tuple[str, str | None]:
    uri, sep, args = target.partition("?")
    return uri, args if sep else None


def _file_kind(path: str) -> str | None:
    """ "f" for a file, "d" for a directory, None when absent: the file system of this machine."""
    if os.path.isdir(path):
        return "d"
    return "f" if os.path.exists(path) else None


class NginxRoutes:
    """The model of one nginx config (routing.Routes)."""

    def __init__(
        self,
        http: Conf,
        servers: list[_Server],
        maps: Mapping[str, Map],
        *,
        version: Version = TESTED,
        client: str = OUTSIDE,
        files: Callable[[str], str | None] = _file_kind,
        prefix: str = "/usr/share/nginx",
    ) -> None:
        self.http, self.servers, self.maps = http, servers, maps
        self.version, self.client, self.files, self.prefix = version, client, files, prefix

    # The request -------------------------------------------------------------------------------

    def answer(self, asked: Asked, backend: Backend = audit_backend) -> Answered:
        headers = {k.lower(): v for k, v in asked.headers}
        host = asked.host.rsplit(":", 1)[0].lower().rstrip(".") if asked.host else ""
        server = self._server(host, asked.port)
        uri, args = _split(asked.path)
        request = _Request(asked.method.upper(), _normalise(uri), args or "", headers, host, server)
        self._variables(request, {})
        request.trail.append(f"server at {server.conf.at}")
        final = self._serve(request, backend, _Jump(request.uri, request.args))
        status = request.err_status or final.status
        return Answered(
            status,
            self._headers(request, final, status),
            final.conf.at,
            tuple(request.trail),
            request.backend,
            request.auth,
        )

    def _server(self, host: str, port: int | None) -> _Server:
        on_port = [s for s in self.servers if port is None or port in s.ports] or self.servers
        if not on_port:
            raise ValueError("the config has no server {}")
        for match in (_exact_name, _leading_name, _trailing_name, _regex_name):
            for server in on_port:
                if any(match(name, host) for name in server.names):
                    return server
        return next((s for s in on_port if port is None or port in s.defaults), on_port[0])

    def _variables(self, r: _Request, kept: dict[str, str]) -> None:
        """The request's variables; a subrequest shares its parent's `kept` (nginx shares them)."""
        r.vars = Variables(self.maps, lambda name: self._builtin(r, name), r.headers, kept)

    def _builtin(self, r: _Request, name: str) -> str | None:
        values = {
            "request_method": r.method,
            "uri": r.uri,
            "document_uri": r.uri,
            "args": r.args,
            "query_string": r.args,
            "is_args": "?" if r.args else "",
            "host": r.host or (r.server.names[0] if r.server.names else ""),
            "server_name": r.server.names[0] if r.server.names else "",
            "scheme": "http",
            "remote_addr": self.client,
            "request_uri": r.uri + ("?" + r.args if r.args else ""),
        }
        if name in values:
            return values[name]
        if name.startswith("arg_"):
            for pair in r.args.split("&"):
                key, _, value = pair.partition("=")
                if key.lower() == name[4:].lower():
                    return value
            return ""
        if name.startswith("cookie_"):
            for pair in r.headers.get("cookie", "").split(";"):
                key, _, value = pair.strip().partition("=")
                if key == name[7:]:
                    return value
        return None

    def _serve(self, r: _Request, backend: Backend, jump: _Jump) -> _Final:
        """The request from one entry (the server's rewrite phase, or a named location) to its
        end, following internal redirects and error pages."""
        while True:
            r.changes -= 1
            if r.changes <= 0:
                r.trail.append("more than 10 internal redirects: 500")
                return _Final(500, r.server.conf)
            r.uri, r.args = jump.uri, jump.args if jump.args is not None else r.args
            outcome = self._pass(r, backend, jump.named)
            if isinstance(outcome, _Final):
                redirect = self._error_page(r, outcome)
                if redirect is None:
                    return outcome
                outcome = redirect
            jump = outcome

    def _pass(self, r: _Request, backend: Backend, named: Conf | None) -> _Final | _Jump:
        server = r.server.conf
        if named is None:
            ended = _Rewritten()
            self._rewrite(r, server, server.code, ended)
            if ended.final is not None:
                return ended.final
            found = self._find(r)
            if isinstance(found, _Final):
                return found
            conf = found
        else:
            conf = named
        while True:
            r.location = conf
            if conf.set_here("internal") and not r.internal:
                r.trail.append(f"internal location {conf.title()}: 404")
                return _Final(404, conf)
            uri, ended = r.uri, _Rewritten()
            self._rewrite(r, conf, conf.code, ended)
            if ended.final is not None:
                return ended.final
            if ended.stop == "last" or (not ended.stop and r.uri != uri):
                r.changes -= 1
                if r.changes <= 0:
                    return _Final(500, conf)
                found = self._find(r)
                if isinstance(found, _Final):
                    return found
                conf = found
                continue
            active = ended.active or conf
            break
        denied = self._access(r, active, backend)
        if denied is not None:
            return denied
        tried = self._try_files(r, conf, active)
        if tried is not None:
            return tried
        return self._content(r, active, backend)

    # Locations -------------------------------------------------------------------------------

    def _find(self, r: _Request) -> Conf | _Final:
        conf, redirect = _find_location(r.server.conf, r.uri, r.vars)
        if redirect:
            r.trail.append(f"{conf.title()}: 301 to {r.uri}/")
            return _Final(301, conf)
        r.trail.append(conf.title())
        return conf

    # The rewrite phase -----------------------------------------------------------------------

    def _rewrite(self, r: _Request, conf: Conf, code: list[_Step], done: _Rewritten) -> bool:
        """Run rewrite directives in order, into `done`; True when they stopped (return, break,
        rewrite with a flag): the directives after it, in the block and around it, never run."""
        for step in code:
            if step.name == "set" and len(step.args) == 2:
                r.vars.set(step.args[0].lstrip("$"), r.vars.expand(step.args[1]))
            elif step.name == "break":
                r.trail.append(f"break at {step.at}")
                done.stop = "break"
                return True
            elif step.name == "return":
                done.final = self._return(r, done.active or conf, step)
                return True
            elif step.name == "rewrite" and len(step.args) >= 2:
                ended = self._rewrite_uri(r, done.active or conf, step)
                if isinstance(ended, _Final):
                    done.final = ended
                    return True
                if ended:
                    done.stop = ended
                    return True
            elif step.name == "if" and step.block is not None:
                if r.vars.condition(list(step.args), self._exists):
                    r.trail.append(f"if ({' '.join(step.args)}) at {step.at}: true")
                    if conf.kind != "server":  # a server's if has no config of its own
                        done.active = step.block
                    if self._rewrite(r, step.block, step.block.code, done):
                        return True
        return False

    def _return(self, r: _Request, conf: Conf, step: _Step) -> _Final:
        args = step.args
        if args and args[0].isdigit():
            status = int(args[0])
        else:
            status = 302  # return URL
        r.trail.append(f"return {status} at {step.at}")
        final = _Final(status, conf)
        final.own_error = len(args) < 2  # `return code text` answers itself, never an error page
        return final

    def _rewrite_uri(self, r: _Request, conf: Conf, step: _Step) -> _Final | str:
        regex, replacement = step.args[0], step.args[1]
        flag = step.args[2] if len(step.args) > 2 else ""
        if not r.vars.search(regex, False, r.uri):
            return ""
        target = r.vars.expand(replacement)
        if target.startswith(("http://", "https://")) or flag in ("redirect", "permanent"):
            status = 301 if flag == "permanent" else 302
            r.trail.append(f"rewrite at {step.at}: {status} to {target}")
            return _Final(status, conf)
        uri, args = _split(target)
        r.uri = uri
        if args is not None:
            r.args = args if replacement.endswith("?") else "&".join(filter(None, [args, r.args]))
        r.trail.append(f"rewrite at {step.at} -> {r.uri}")
        return flag if flag in ("last", "break") else ""

    # The access phase ------------------------------------------------------------------------

    def _access(self, r: _Request, conf: Conf, backend: Backend) -> _Final | None:
        """allow/deny, auth_basic, auth_request, in nginx's order: each None when not set, 0 when
        it lets the request through, else the status it answers."""
        checks = [self._rules(r, conf), self._basic(r, conf), self._auth_request(r, conf, backend)]
        if conf.value("satisfy", "all") == "any" and 0 in checks:
            return None
        failed = [c for c in checks if c]
        return _Final(failed[0], conf) if failed else None

    def _rules(self, r: _Request, conf: Conf) -> int | None:
        client = ipaddress.ip_address(self.client)
        for args, at in conf.inherited("access"):
            verdict, spec = args[0], args[1] if len(args) > 1 else ""
            if spec == "all" or _in_network(client, spec):
                r.auth = r.auth or at
                r.trail.append(f"{verdict} {spec} at {at}")
                return 0 if verdict == "allow" else 403
        return None

    def _basic(self, r: _Request, conf: Conf) -> int | None:
        found = conf.inherited("auth_basic")
        if not found or found[-1][0][:1] == ("off",):
            return None
        at = found[-1][1]
        r.auth = r.auth or at
        passes = "authorization" in r.headers
        r.trail.append(f"auth_basic at {at}: {'passed' if passes else 401}")
        return 0 if passes else 401

    def _auth_request(self, r: _Request, conf: Conf, backend: Backend) -> int | None:
        found = conf.inherited("auth_request")
        if not found or not found[-1][0] or found[-1][0][:1] == ("off",):
            return None
        at = found[-1][1]
        r.auth = r.auth or at
        sub = _Request("GET", "", "", r.headers, r.host, r.server, internal=True)
        self._variables(sub, r.vars.kept)
        answer = self._serve(sub, backend, _Jump(*_split(found[-1][0][0])))
        r.backend = r.backend or sub.backend
        status = sub.err_status or answer.status
        verdict = 0 if 200 <= status < 300 else status if status in (401, 403) else 500
        r.trail.append(f"auth_request at {at}: {verdict or 'passed'}")
        return verdict

    # try_files and content -------------------------------------------------------------------

    def _root(self, conf: Conf, uri: str) -> str:
        """The file a URI names under the block's root or alias."""
        source = conf.nearest("root", "alias")
        if source is None:
            return posixpath.join(self.prefix, "html") + uri
        if "alias" in source.own:
            alias = source.own["alias"][-1][0][0]
            location = source.location()
            if location.modifier in ("", "^~") and uri.startswith(location.pattern):
                return alias + uri[len(location.pattern) :]
            return alias
        root = source.own["root"][-1][0][0]
        return (root if root.startswith("/") else posixpath.join(self.prefix, root)) + uri

    def _exists(self, kind: str, path: str) -> bool:
        found = self.files(path)
        return found == "d" if kind == "-d" else found is not None

    def _try_files(self, r: _Request, location: Conf, conf: Conf) -> _Final | _Jump | None:
        tries = location.set_here("try_files")
        if not tries:
            return None
        args, at = tries[-1]
        for candidate in args[:-1]:
            # A parameter written with a trailing / tests a directory, any other a file: what
            # decides is the parameter as written, not its value ($uri may end in / itself).
            directory = candidate.endswith("/")
            path = r.vars.expand(candidate.removesuffix("/") if directory else candidate)
            kind = self.files(self._root(conf, path))
            if kind == ("d" if directory else "f"):
                r.trail.append(f"try_files at {at}: {path} exists")
                r.uri = path
                return None
        last = args[-1]
        r.internal = True
        if last.startswith("="):
            r.trail.append(f"try_files at {at}: {last[1:]}")
            return _Final(int(last[1:]), conf)
        if last.startswith("@"):
            r.trail.append(f"try_files at {at} -> {last}")
            return _Jump(r.uri, r.args, self._named(r, last))
        target = r.vars.expand(last)
        r.trail.append(f"try_files at {at} -> {target}")
        return _Jump(*_split(target))

    def _named(self, r: _Request, name: str) -> Conf:
        for conf in r.server.conf.locations:
            if conf.modifier == "@" and conf.pattern == name:
                return conf
        return r.server.conf

    def _content(self, r: _Request, conf: Conf, backend: Backend) -> _Final | _Jump:
        handler = conf.handler()
        if handler is not None:
            module, target, at = handler
            status, headers = backend(r.method, self._upstream_uri(r, target))
            r.backend = True
            r.trail.append(f"{module}_pass at {at}: {status}")
            return _Final(status, conf, module, headers, own_error=False)
        if r.uri.endswith("/"):
            indexed = self._index(r, conf)
            if indexed is not None:
                return indexed
        if r.method not in ("GET", "HEAD", "POST"):
            r.trail.append(f"static {r.method}: 405")
            return _Final(405, conf)
        if r.uri.endswith("/"):
            r.trail.append(f"directory {r.uri} without index: 403")
            return _Final(403, conf)
        kind = self.files(self._root(conf, r.uri))
        if kind is None:
            r.trail.append(f"no file for {r.uri}: 404")
            return _Final(404, conf)
        if kind == "d":
            return _Final(301, conf)
        status = 405 if r.method == "POST" else 200
        r.trail.append(f"file {r.uri}: {status}")
        return _Final(status, conf)

    def _index(self, r: _Request, conf: Conf) -> _Final | _Jump | None:
        if r.method not in ("GET", "HEAD", "POST"):
            return None
        names = [a for args, _ in conf.inherited("index") for a in args] or ["index.html"]
        for name in names:
            target = r.vars.expand(name)
            if target.startswith("/"):
                r.trail.append(f"index -> {target}")
                return _Jump(*_split(target))
            if self.files(self._root(conf, r.uri + target)) == "f":
                r.trail.append(f"index -> {r.uri + target}")
                return _Jump(r.uri + target, None)
        if self.files(self._root(conf, r.uri.rstrip("/") or "/")) is None:
            r.trail.append(f"no directory {r.uri}: 404")
            return _Final(404, conf)
        return None

    def _upstream_uri(self, r: _Request, target: str) -> str:
        """The URI proxy_pass sends: its own URI part in place of the location's prefix."""
        target = r.vars.expand(target)
        rest = target.split("://", 1)[-1]
        part = "/" + rest.split("/", 1)[1] if "/" in rest else ""
        location = r.location
        query = "?" + r.args if r.args else ""
        if not part:
            return r.uri + query
        if location is not None and location.modifier in ("", "^~", "="):
            if r.uri.startswith(location.pattern):
                return part + r.uri[len(location.pattern) :] + query
        return part + query

    # error_page ------------------------------------------------------------------------------

    def _error_page(self, r: _Request, final: _Final) -> _Jump | None:
        if final.status < 300 or r.error_page and not self._recursive(final.conf):
            return None
        if not final.own_error and final.module is not None:
            if final.conf.value(f"{final.module}_intercept_errors", "off") != "on":
                return None
        for args, at in final.conf.inherited("error_page"):
            codes = [int(a) for a in args if a.isdigit()]
            if final.status not in codes:
                continue
            target = args[-1]
            overwrite = next((a for a in args if a.startswith("=")), None)
            r.error_page = True
            r.err_status = final.status
            if overwrite is not None:
                r.err_status = int(overwrite[1:]) if len(overwrite) > 1 else 0
            r.internal = True
            if target.startswith("@"):
                r.trail.append(f"error_page at {at} -> {target}")
                return _Jump(r.uri, r.args, self._named(r, target))
            if target.startswith(("http://", "https://", "$scheme")):
                r.err_status = r.err_status if overwrite else 302
                final.status = r.err_status
                return None
            if r.method != "HEAD":
                r.method = "GET"
            r.trail.append(f"error_page at {at} -> {target} (as {r.method})")
            return _Jump(*_split(r.vars.expand(target)))
        return None

    def _recursive(self, conf: Conf) -> bool:
        return conf.value("recursive_error_pages", "off") == "on"

    # The header filters ----------------------------------------------------------------------

    def _headers(self, r: _Request, final: _Final, status: int) -> tuple[Sent, ...]:
        conf = final.conf
        sent: list[Sent] = []
        if final.module is not None:
            hidden = self._hidden(conf, final.module)
            sent += [Sent(n, v, None) for n, v in final.upstream if n.lower() not in hidden]
        for args, at, always in self._add_headers(conf):
            value = r.vars.expand(args[1]) if len(args) > 1 else ""
            if value and (always or status in _SAFE):
                sent.append(Sent(args[0], value, at))
        for args, at in conf.inherited("more_clear_headers"):
            names = {a.lower() for a in args if not a.startswith("-")}
            sent = [s for s in sent if s.name.lower() not in names]
        for args, at in conf.inherited("more_set_headers"):
            for spec in (a for a in args if not a.startswith("-")):
                name, _, value = spec.partition(":")
                sent = [s for s in sent if s.name.lower() != name.strip().lower()]
                if value.strip():
                    sent.append(Sent(name.strip(), r.vars.expand(value.strip()), at))
        return tuple(sent)

    def _add_headers(self, conf: Conf) -> list[tuple[tuple[str, ...], Place, bool]]:
        """The add_header lines that apply in a block: the nearest block's with any, or, from
        1.29.3, as add_header_inherit says (merge: the levels above too; off: this one's)."""
        chain: list[tuple[tuple[str, ...], Place]] = []
        level: Conf | None = conf
        while level is not None:
            mode = (
                level.value("add_header_inherit", "on")
                if self.version >= ADD_HEADER_INHERIT
                else "on"
            )
            mine = level.set_here("add_header")
            chain = mine + chain
            if mine and mode == "on" or mode == "off":
                break
            level = level.parent
        return [(args, at, len(args) > 2 and args[2] == "always") for args, at in chain]

    def _hidden(self, conf: Conf, module: str) -> set[str]:
        hides = {a[0].lower() for a, _ in conf.inherited(f"{module}_hide_header") if a}
        passes = {a[0].lower() for a, _ in conf.inherited(f"{module}_pass_header") if a}
        return (set(_HIDDEN.get(module, ())) | hides) - passes

    # Scopes ----------------------------------------------------------------------------------

    def scopes(self) -> list[Scope]:
        found: list[Scope] = []
        for server in self.servers:
            host = next((n for n in server.names if n and n[0] not in "~*." and "*" not in n), "")
            port = server.ports[0] if server.ports else None
            for conf in server.conf.walk():
                policy = conf.policies[0][0] if conf.policies else None
                granted = None if policy is not None else self._granted(conf)
                if policy is None and granted is None:
                    continue
                paths = self._paths(server, conf, host, port)
                title = conf.title().rsplit(" at ", 1)[0]
                found.append(Scope(conf.at, host, paths, title, policy, granted, port))
        return found

    def _paths(self, server: _Server, conf: Conf, host: str, port: int | None) -> tuple[str, ...]:
        """Requests that reach the block, found by asking the model where each candidate goes."""
        location = conf.location()
        if location.kind == "server":
            return ("/",)
        candidates = [location.pattern]
        if location.modifier in ("~", "~*"):
            candidates = list(_samples(location.pattern))
        reached = []
        for path in candidates:
            if not path.startswith("/"):
                continue
            found, _ = _find_location(server.conf, _normalise(path), None)
            if found is location:
                reached.append(path)
        return tuple(reached[:1])

    def _granted(self, conf: Conf) -> Granted | None:
        """Hand-written CORS in this block (its own add_header lines only): what it grants."""
        cors = [
            (a, at)
            for a, at in conf.set_here("add_header")
            if a[0].lower().startswith("access-control-") and len(a) > 1
        ]
        if not cors:
            return None
        values = {a[0].lower(): (a[1], at) for a, at in cors}
        at: dict[str, Place] = {}
        origin = values.get("access-control-allow-origin")
        kw: dict[str, object] = {}
        if origin is not None:
            value, place = origin
            at["allow_origins"] = place
            if value == "*":
                kw["any_origin"] = True
            elif value.startswith("$"):
                origins, regexes, reflects = self._origin_sources(conf, value.lstrip("$"), place)
                kw.update(origins=origins, regexes=regexes, reflects=reflects)
            else:
                kw["origins"] = (value,)
        for key, header, split in (
            ("allow_methods", "access-control-allow-methods", True),
            ("allow_headers", "access-control-allow-headers", True),
            ("expose_headers", "access-control-expose-headers", True),
        ):
            if header in values and not values[header][0].startswith("$"):
                kw[
                    {
                        "allow_methods": "methods",
                        "allow_headers": "headers",
                        "expose_headers": "expose",
                    }[key]
                ] = tuple(p.strip() for p in values[header][0].split(",") if p.strip())
                at[key] = values[header][1]
        if "access-control-allow-credentials" in values:
            kw["credentials"] = values["access-control-allow-credentials"][0] == "true"
            at["allow_credentials"] = values["access-control-allow-credentials"][1]
        if "access-control-max-age" in values and values["access-control-max-age"][0].isdigit():
            kw["max_age"] = int(values["access-control-max-age"][0])
            at["max_age"] = values["access-control-max-age"][1]
        if "access-control-allow-private-network" in values:
            kw["private_network"] = True
            at["allow_private_network"] = values["access-control-allow-private-network"][1]
        return Granted(at=at, **kw)  # type: ignore[arg-type]

    def _origin_sources(
        self, conf: Conf, name: str, at: Place
    ) -> tuple[tuple[str, ...], tuple[OriginRegex, ...], bool]:
        """What ACAO's variable sends: $http_origin under an if's regex, or a map's keys."""
        if name == "http_origin":
            tests = [
                s
                for s in _enclosing_ifs(conf)
                if s.args[:1] == ("$http_origin",) and len(s.args) == 3
            ]
            regexes = tuple(
                OriginRegex(s.args[2], s.at, "pcre", s.args[1] == "~*")
                for s in tests
                if s.args[1] in ("~", "~*")
            )
            return (), regexes, not regexes
        table = self.maps.get(name)
        if table is None or table.source != "$http_origin":
            return (), (), False
        origins = tuple(k for k, v in table.exact.items() if v)
        regexes = tuple(OriginRegex(r, at, "pcre", i) for r, i, v in table.regexes if v)
        return origins, regexes, bool(table.default) and table.default == "$http_origin"


def _enclosing_ifs(conf: Conf) -> Iterator[_Step]:
    """The if steps whose block is `conf` or holds it."""
    child, parent = conf, conf.parent
    while parent is not None:
        for step in parent.code:
            if step.block is child:
                yield step
        child, parent = parent, parent.parent


def _samples(regex: str) -> Iterator[str]:
    """Paths a regex location may take, for scopes(): the alternatives of a file extension."""
    import re

    found = re.search(r"\\\.\(\??:?([A-Za-z0-9|]+)\)\$?$", regex) or re.search(
        r"\\\.([A-Za-z0-9]+)\$?$", regex
    )
    if found:
        for ext in found[1].lstrip(":").split("|"):
            yield f"/corsgen-probe.{ext}"


def _in_network(client: ipaddress.IPv4Address | ipaddress.IPv6Address, spec: str) -> bool:
    try:
        return client in ipaddress.ip_network(spec, strict=False)
    except ValueError:
        return False


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


def _find_location(server: Conf, uri: str, variables: Variables | None) -> tuple[Conf, bool]:
    """ngx_http_core_find_location from the server: (the block, whether it answers 301 to add
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
        for regex in (c for c in level.locations if c.modifier in ("~", "~*")):
            if _matches(regex, uri, variables):
                inner, _ = _find(regex, uri, variables)
                return inner or regex, "ok"
    return found, rc


def _matches(regex: Conf, uri: str, variables: Variables | None) -> bool:
    if variables is not None:  # a request: its captures become $1..
        return variables.search(regex.pattern, regex.modifier == "~*", uri)
    pattern = compile_pcre(regex.pattern, regex.modifier == "~*")
    return pattern is not None and pattern.search(uri) is not None


def _static(level: Conf, uri: str) -> tuple[Conf | None, str]:
    """The level's exact match ("ok"), its *_pass prefix location that is the URI and a slash
    ("done": 301), else its longest prefix ("again")."""
    best: Conf | None = None
    for conf in level.locations:
        if conf.modifier == "=" and conf.pattern == uri:
            return conf, "ok"
        if conf.modifier in ("", "^~") and conf.pattern == uri + "/" and conf.handler():
            return conf, "done"
        if conf.modifier in ("", "^~") and uri.startswith(conf.pattern):
            if best is None or len(conf.pattern) > len(best.pattern):
                best = conf
    return best, "again" if best is not None else "declined"


# --------------------------------------------------------------------------------------------
# Loading.


def load(
    configs: Sequence[Path],
    *,
    version: Version = TESTED,
    client: str = OUTSIDE,
    files: Callable[[str], str | None] = _file_kind,
) -> tuple[NginxRoutes | None, list[Finding]]:
    """The model of the config whose files are `configs` (a main nginx.conf, or sites' files that
    nginx includes in http {}), and the parse errors that keep nginx from reading it."""
    budget = ConfigBudget()
    http = Conf("http", Place(str(configs[0]), 1), None)
    reader = _Reader([])
    errors: list[Finding] = []
    for path in configs:
        text = path.read_text(errors="replace") if path.is_file() else ""
        ctx: tuple[str, ...] = () if _top_words(text) & _MAIN else ("http",)
        loader = _Loader(os.path.dirname(str(path)), budget)
        loader.load(str(path), ctx)
        errors += loader.errors
        reader.files = loader.files
        top = loader.files[0].parsed if loader.files else []
        for d in top:
            if d["directive"] == "http" and "block" in d:
                reader.read(d["block"], loader.files[0].name, http)
        if ctx:
            reader.read(top, loader.files[0].name, http)
    if errors:
        return None, errors
    return NginxRoutes(
        http, reader.servers, reader.maps, version=version, client=client, files=files
    ), []


# Directives only nginx.conf's top level holds: a file without any is a file http {} includes.
_MAIN = {"http", "events", "worker_processes", "user", "pid", "daemon", "load_module"}


def _top_words(text: str) -> set[str]:
    """The first word of each line that is not a comment: what a file's top level holds."""
    return {
        line.split()[0].rstrip("{")
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#") and not line[:1].isspace()
    }
