"""The nginx routing model (routing.py): what nginx does with one request through the user's whole
config, read once with its includes (nginx_config's loader, within ConfigBudget).

Each step is nginx's own, as nginx 1.22 runs it (tests/audit/nginx_routing_test.py holds the model
to the real nginx on every corpus config):
- the server and the location (nginx_blocks.py), the server's rewrite directives between them;
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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

from corsgen.errors import Finding
from corsgen.routing import Answered, Asked, Backend, Place, Scope, Sent, audit_backend
from corsgen.targets.nginx_blocks import Conf, Server, Step, find_location, read, select_server
from corsgen.targets.nginx_variables import Map, Variables

Version = tuple[int, int, int]
# The statuses add_header sends on without `always`.
_SAFE = frozenset({200, 201, 204, 206, 301, 302, 303, 304, 307, 308})
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
_MAX_CHANGES = 10  # NGX_HTTP_MAX_URI_CHANGES
# Subrequests in subrequests: nginx allows 50 (NGX_HTTP_MAX_SUBREQUESTS) in all, the model 5 deep.
_MAX_SUBREQUESTS = 5
ADD_HEADER_INHERIT: Version = (1, 29, 3)
JOINED_HEADERS: Version = (1, 23, 0)  # $http_NAME joins a header sent twice
TESTED: Version = (1, 22, 1)  # the nginx the corpus is held to
OUTSIDE = "203.0.113.7"  # the client the audit's requests come from: not the loopback


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
    server: Server
    trail: list[str] = field(default_factory=list)
    changes: int = _MAX_CHANGES + 1
    error_page: bool = False
    err_status: int = 0
    auth: Place | None = None
    backend: bool = False
    internal: bool = False
    depth: int = 0  # subrequests (auth_request) above this one
    location: Conf | None = None  # the location found (for proxy_pass's URI)
    request_uri: str = ""  # as the client sent it
    vars: Variables = field(init=False)


def normalise(path: str) -> str:
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
        servers: list[Server],
        maps: Mapping[str, Map],
        *,
        version: Version = TESTED,
        client: str = OUTSIDE,
        files: Callable[[str], str | None] = _file_kind,
        prefix: str = "/usr/share/nginx",
    ) -> None:
        self.http, self.servers, self.maps = http, servers, maps
        self.version, self.client, self.files, self.prefix = version, client, files, prefix
        self._scopes: list[Scope] | None = None

    # The request -------------------------------------------------------------------------------

    def answer(self, asked: Asked, backend: Backend = audit_backend) -> Answered:
        headers = self._headers_in(asked.headers)
        host = asked.host.rsplit(":", 1)[0].lower().rstrip(".") if asked.host else ""
        server = select_server(self.servers, host, asked.port)
        uri, args = _split(asked.path)
        request = _Request(asked.method.upper(), normalise(uri), args or "", headers, host, server)
        request.request_uri = asked.path
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

    def _headers_in(self, pairs: Sequence[tuple[str, str]]) -> dict[str, str]:
        """The request's headers as $http_NAME reads them: a name sent twice is its first value
        before nginx 1.23, every value joined with ", " (cookies "; ") since."""
        joined = self.version >= JOINED_HEADERS
        headers: dict[str, str] = {}
        for name, value in pairs:
            key = name.lower()
            if key not in headers:
                headers[key] = value
            elif joined:
                headers[key] += ("; " if key == "cookie" else ", ") + value
        return headers

    def _variables(self, r: _Request, kept: dict[str, str]) -> None:
        """The request's variables; a subrequest shares its parent's `kept` (nginx shares them)."""
        r.vars = Variables(self.maps, lambda name: self._builtin(r, name), r.headers, kept)

    def _builtin(self, r: _Request, name: str) -> str | None:
        values = {
            "request_uri": r.request_uri,
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
                if key.lower() == name[7:].lower():  # as nginx compares them, in any case
                    return value
        return None

    def _serve(self, r: _Request, backend: Backend, jump: _Jump) -> _Final:
        """The request from one entry (the server's rewrite phase, or a named location) to its
        end, following internal redirects and error pages."""
        while True:
            r.uri, r.args = jump.uri, jump.args if jump.args is not None else r.args
            outcome = self._pass(r, backend, jump.named)
            if isinstance(outcome, _Final):
                redirect = self._error_page(r, outcome)
                if redirect is None:
                    return outcome
                outcome = redirect
            if not self._change(r):
                return _Final(500, r.location or r.server.conf)
            jump = outcome

    def _change(self, r: _Request) -> bool:
        """Count one more change of URI (an internal redirect, a search again after a rewrite):
        the 11th ends the request with 500, as in nginx."""
        r.changes -= 1
        if r.changes == 0:
            r.trail.append("more than 10 internal redirects or rewrites: 500")
        return r.changes > 0

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
            # A method limit_except does not let by gets its block, whose (empty) rewrite
            # directives run instead of the location's: a preflight's `if ... return` too.
            limited = conf.limit[1] if conf.limit and r.method not in conf.limit[0] else conf
            if limited is not conf:
                r.trail.append(f"{r.method} not in limit_except at {limited.at}")
            uri, ended = r.uri, _Rewritten()
            self._rewrite(r, limited, limited.code, ended)
            if ended.final is not None:
                return ended.final
            if ended.stop == "last" or (not ended.stop and r.uri != uri):
                if not self._change(r):
                    return _Final(500, conf)
                found = self._find(r)
                if isinstance(found, _Final):
                    return found
                conf = found
                continue
            active = ended.active or limited
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
        conf, redirect = find_location(r.server.conf, r.uri, r.vars)
        if redirect:
            r.trail.append(f"{conf.title()}: 301 to {r.uri}/")
            return _Final(301, conf)
        r.trail.append(conf.title())
        return conf

    # The rewrite phase -----------------------------------------------------------------------

    def _rewrite(self, r: _Request, conf: Conf, code: list[Step], done: _Rewritten) -> bool:
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
            elif step.block is not None and r.vars.condition(list(step.args), self._exists):
                r.trail.append(f"if ({' '.join(step.args)}) at {step.at}: true")
                if conf.kind != "server":  # a server's if has no config of its own
                    done.active = step.block
                if self._rewrite(r, step.block, step.block.code, done):
                    return True
        return False

    def _return(self, r: _Request, conf: Conf, step: Step) -> _Final:
        args = step.args
        status = int(args[0]) if args and args[0].isdigit() else 302  # `return URL`: 302
        r.trail.append(f"return {status} at {step.at}")
        final = _Final(status, conf)
        final.own_error = len(args) < 2  # `return code text` answers itself, never an error page
        return final

    def _rewrite_uri(self, r: _Request, conf: Conf, step: Step) -> _Final | str:
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
        if replacement.endswith("?"):  # the request's arguments are not appended, nor the ?
            r.args = (args or "").removesuffix("?")
        elif args is not None:
            r.args = "&".join(filter(None, [args, r.args]))
        r.trail.append(f"rewrite at {step.at} -> {r.uri}")
        return flag if flag in ("last", "break") else ""

    # The access phase ------------------------------------------------------------------------

    def _access(self, r: _Request, conf: Conf, backend: Backend) -> _Final | None:
        """allow/deny, auth_basic, auth_request, in nginx's order: each None when not set, 0 when
        it lets the request through, else the status it answers."""
        any_passes = conf.value("satisfy", "all") == "any"
        failed: list[int] = []
        checks: list[Callable[[], int | None]] = [
            lambda: self._rules(r, conf),
            lambda: self._basic(r, conf),
            lambda: self._auth_request(r, conf, backend),
        ]
        for check in checks:  # each runs only when the ones before it let the request on
            first, r.auth = r.auth, None
            verdict = check()
            # The auth named is the one that refused the request, else the first it met.
            r.auth = (r.auth or first) if verdict else (first or r.auth)
            if verdict == 0 and any_passes:
                return None
            if verdict:
                failed.append(verdict)
                if not any_passes:
                    break
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
        if r.depth >= _MAX_SUBREQUESTS:
            r.trail.append(f"auth_request at {at}: subrequests nested too deep: 500")
            return 500
        sub = _Request("GET", "", "", r.headers, r.host, r.server, internal=True, depth=r.depth + 1)
        self._variables(sub, r.vars.kept)
        answer = self._serve(sub, backend, _Jump(*_split(found[-1][0][0])))
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
        prefix = location is not None and location.modifier in ("", "^~", "=")
        if prefix and location is not None and r.uri.startswith(location.pattern):
            return part + r.uri[len(location.pattern) :] + query
        return part + query

    # error_page ------------------------------------------------------------------------------

    def _error_page(self, r: _Request, final: _Final) -> _Jump | None:
        if final.status < 300 or (r.error_page and not self._recursive(final.conf)):
            return None
        intercepts = f"{final.module}_intercept_errors"
        if not final.own_error and final.conf.value(intercepts, "off") != "on":
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
        for args, _ in conf.inherited("more_clear_headers"):
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
        1.29.3, as add_header_inherit says (inherited itself): merge, the block's own and then
        those of the levels above; off, the block's own only."""
        chain: list[tuple[tuple[str, ...], Place]] = []
        level: Conf | None = conf
        while level is not None:
            mode = (
                level.value("add_header_inherit", "on")
                if self.version >= ADD_HEADER_INHERIT
                else "on"
            )
            mine = level.set_here("add_header")
            chain += mine  # merge: a block's own, then those above it (ngx_array_push_n)
            if (mine and mode == "on") or mode == "off":
                break
            level = level.parent
        return [(args, at, len(args) > 2 and args[2] == "always") for args, at in chain]

    def _hidden(self, conf: Conf, module: str) -> set[str]:
        hides = {a[0].lower() for a, _ in conf.inherited(f"{module}_hide_header") if a}
        passes = {a[0].lower() for a, _ in conf.inherited(f"{module}_pass_header") if a}
        return (set(_HIDDEN.get(module, ())) | hides) - passes

    # Scopes ----------------------------------------------------------------------------------

    def scopes(self) -> list[Scope]:
        """Found once: the audit's structural reading and its probing both ask."""
        from corsgen.targets.nginx_scopes import scopes  # only audit and import ask

        if self._scopes is None:
            self._scopes = scopes(self)
        return self._scopes


def _in_network(client: ipaddress.IPv4Address | ipaddress.IPv6Address, spec: str) -> bool:
    try:
        return client in ipaddress.ip_network(spec, strict=False)
    except ValueError:
        return False


def load(
    configs: Sequence[Path],
    *,
    version: Version = TESTED,
    client: str = OUTSIDE,
    files: Callable[[str], str | None] = _file_kind,
) -> tuple[NginxRoutes | None, list[Finding]]:
    """The model of the config whose files are `configs` (a main nginx.conf, or sites' files that
    nginx includes in http {}), with what its structure shows that no answer does
    (nginx_structure.py); or, without a model, what keeps nginx from loading it: parse errors,
    an include loop, a snippet without its http part (nginx refuses its unknown variables).
    `version`: the nginx it runs on; `client`: the address requests come from (allow/deny)."""
    from corsgen.targets import nginx_structure  # only the audit asks

    config, errors = read(configs)
    if config is None:
        return None, errors
    routes = NginxRoutes(
        config.http, config.servers, config.maps, version=version, client=client, files=files
    )
    found = nginx_structure.findings(config)
    return (None if nginx_structure.refused(found) else routes), found
