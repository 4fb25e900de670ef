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
  earlier block runs later; a response nobody writes (200 when the chain ends) skips them, and
  an error skips the routes' ones: it is written on the server's own writer;
- static_response (respond, redir) writes its status; reverse_proxy asks the backend, applies
  header_down to its headers and ADDS them to the response's (an immediate ACAO and the
  upstream's are two); forward_auth asks it too, and a non-2xx answer is the answer; basicauth
  without credentials, `error`, try_files' =404, file_server on a missing file (or, from 2.7, a
  method other than GET and HEAD) are errors: the server's error routes (handle_errors) run on
  the same response, what was set immediately kept, and write the error's status at their end
  through their own deferred blocks.
Each handler keeps the Caddyfile line it came from (caddy_compiled), each header its sender.
Not modelled, and said so in the trail: an upstream that cannot be reached (the backend
function always answers), handle_response other than forward_auth's, matchers other than the
above (remote_ip, ...), CEL beyond simple comparisons; basicauth takes any credentials as valid.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from corsgen.errors import CorsgenError
from corsgen.files import shown
from corsgen.limits import MAX_CONFIG_DEPTH
from corsgen.routing import Answered, Asked, Backend, Place, Scope, Sent, audit_backend
from corsgen.server_config import check_routes
from corsgen.targets import caddy_compiled, caddy_scopes
from corsgen.targets.caddy_compiled import (
    Handler,
    Json,
    Route,
    Server,
    exact_hosts,
    is_forward_auth,
)
from corsgen.targets.caddy_exchange import (
    CONTINUE,
    DONE,
    Deferred,
    Exchange,
    HandlerError,
    MatcherError,
    Outcome,
    canonical,
    expanded,
    json_text,
    python_regex,
    response_matches,
)
from corsgen.targets.caddy_index import index, one_by_one
from corsgen.targets.caddy_lines import Statement
from corsgen.targets.caddy_matchers import clean_path, field_values, host_matches, matches

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


@dataclass(frozen=True)
class CaddyRoutes:
    """One Caddyfile's model: its servers, and the corsgen policies its imports hold, by file."""

    servers: tuple[Server, ...]
    statements: tuple[Statement, ...]
    policies: Mapping[str, str]  # file -> the corsgen policy it was rendered from
    version: tuple[int, int]  # Caddy's, (2, 11): what its handlers do changed on the way

    def answer(self, asked: Asked, backend: Backend = audit_backend) -> Answered:
        server = next((s for s in self.servers if asked.port in s.ports), None)
        if server is None:
            server = self.servers[0] if self.servers else Server("", (), frozenset(), (), ())
        path, _, query = asked.path.partition("?")
        run = Exchange(asked, backend, self.version, path, query, asked.method, list(asked.headers))
        routes = server.candidates(asked.host)
        site = next((r.at for r in routes if _site_for(run, r)), Place("", 0))
        outcome = _run_routes(run, routes)
        if isinstance(outcome, HandlerError):
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

    def scopes(self) -> Sequence[Scope]:
        return caddy_scopes.scopes(self)


def _site_for(run: Exchange, route: Route) -> bool:
    return not route.match or any(
        host_matches(h, run.asked.host) for m in route.match for h in m.get("host", [])
    )


def _errors(run: Exchange, server: Server, error: HandlerError) -> None:
    """The error chain: on the server's own writer (no deferred wrapper of the routes), the
    original method and URI, what was set immediately kept."""
    run.error, run.wrappers = error.status, []
    run.path, _, run.query = run.asked.path.partition("?")
    run.method = run.asked.method
    if not server.errors:
        run.status, run.by = error.status, error.at
        return
    run.trail.append(f"error {error.status}: handle_errors")
    again = _run_routes(run, server.errors)
    if isinstance(again, HandlerError):  # "well... this is awkward": the first one's status
        run.trail.append(f"error {again.status} in handle_errors at {again.at}")
        run.status, run.by = error.status, again.at
    elif run.status is None:  # errorEmptyHandler, through the error routes' deferred blocks
        run.write(error.status, error.at)


def load(
    config: Json,
    statements: tuple[Statement, ...],
    policies: Mapping[str, str],
    version: tuple[int, int],
) -> CaddyRoutes:
    """The model of an adapted config, its handlers placed in these statements."""
    return CaddyRoutes(
        caddy_compiled.servers(config, statements, policies), statements, policies, version
    )


def _routes(config: Json) -> int:
    """The routes in the adapted JSON matched one by one, nested ones too: those with a matcher
    that is found neither by the host (a server's own routes) nor by a path prefix (walked
    without recursion: the JSON may nest deeper than Python's frames before NestedTooDeep
    refuses it)."""
    servers = config.get("apps", {}).get("http", {}).get("servers", {})
    tops = {id(s) for s in servers.values()} if isinstance(servers, dict) else set()
    count, stack = 0, [config]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            routes = value.get("routes")
            for route in routes if isinstance(routes, list) else ():
                match = route.get("match", []) if isinstance(route, dict) else []
                by_host = id(value) in tops and exact_hosts(match) is not None
                count += not by_host and one_by_one(match)
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return count


# What check_routes counts.
CADDY_UNIT = "routes matched one by one (matchers other than exact hosts and path prefixes)"


# Asked once per binary: `corsgen import` reads a Caddyfile again for each scope it renders.
@functools.cache
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
    """The model of the Caddyfile at path, or caddy adapt's error. What it imports is read
    first within the run's bounds, as `corsgen audit` reads it (caddy_config)."""
    from corsgen.server_config import ConfigBudget, decode_config
    from corsgen.targets import caddy_config, caddy_lines

    budget = ConfigBudget()
    caddy_config._read_imports(path, decode_config(budget.read(path)), budget)
    try:
        config = caddy_config.adapt(path, binary)  # json.loads recurses too
        if isinstance(config, str):
            return config
        caddyfile = caddy_lines.read(path, ConfigBudget())
        check_routes(_routes(config), str(path), CADDY_UNIT)
        return load(config, caddyfile.statements, caddyfile.policies, version(binary))
    except (caddy_compiled.NestedTooDeep, RecursionError):  # an import corsgen did not follow
        raise CorsgenError(
            f"cannot read what {binary} adapt makes of {shown(path)}: its routes nest deeper "
            f"than `corsgen audit` reads ({MAX_CONFIG_DEPTH} blocks); nest them less"
        ) from None


# --- the handlers ----------------------------------------------------------------------------


def _status(run: Exchange, value: object, default: int) -> int:
    text = run.replace(str(value), known=False) if value not in (None, "") else ""
    return int(text) if text.isdigit() else default


def _run_routes(run: Exchange, routes: Sequence[Route]) -> Outcome:
    filed = index(routes)  # the routes a path cannot match are skipped, not tried
    position = 0
    while (found := filed.next(position, run.path)) is not None:
        route, position = routes[found], found + 1
        try:
            if not matches(run, route.match):
                continue
        except MatcherError as error:  # the matcher's error ends the chain (try_files =404)
            run.trail.append(f"matcher at {route.match_at}: {error.status}")
            return HandlerError(error.status, route.match_at)
        if route.group:
            if route.group in run.groups:
                continue
            run.groups.add(route.group)
        for handler in route.handlers:
            outcome = _handle(run, handler)
            if outcome != CONTINUE:
                return outcome
        if route.terminal:
            return DONE
    return CONTINUE


def _handle(run: Exchange, h: Handler) -> Outcome:
    kind, spec = h.kind, h.json
    if kind == "subroute":
        run.trail.append(f"{h.title or 'block'} at {h.at}")
        outcome = _run_routes(run, h.routes)
        if isinstance(outcome, HandlerError) and h.errors:
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
        return DONE
    if kind == "reverse_proxy":
        return _proxy(run, h)
    if kind == "authentication":
        run.auth = h.at
        if field_values(run, "Authorization"):
            run.trail.append(f"basic_auth at {h.at}: credentials taken as valid")
            return CONTINUE
        realm = spec.get("providers", {}).get("http_basic", {}).get("realm") or "restricted"
        run.response["Www-Authenticate"] = [
            Sent("Www-Authenticate", f'Basic realm="{realm}"', h.at)
        ]
        run.trail.append(f"basic_auth at {h.at}: 401")
        return HandlerError(401, h.at)
    if kind == "error":
        run.trail.append(f"error at {h.at}")
        return HandlerError(_status(run, spec.get("status_code"), 500), h.at)
    if kind == "file_server":
        return _file(run, h)
    if kind == "vars":
        for key, value in spec.items():
            if key != "handler":
                run.variables[key] = run.replace(json_text(value), known=False)
        return CONTINUE
    if kind == "map":
        for destination in spec.get("destinations", []):
            run.maps[str(destination).strip("{}")] = spec  # as map's Provision trims them
        return CONTINUE
    if kind == "rewrite":
        _rewrite(run, spec, h.at)
        return CONTINUE
    if kind not in _PASSING:
        run.trail.append(f"{kind} at {h.at} not modelled: passed")
    return CONTINUE


def _headers(run: Exchange, h: Handler) -> Outcome:
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
            run.wrappers.append(Deferred(response, h, response.get("require")))
        else:
            run.apply(response, run.response, h)
    return CONTINUE


def _proxy(run: Exchange, h: Handler) -> Outcome:
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
    if is_forward_auth(spec):  # the auth service's answer decides: 2xx lets the request on
        run.auth = h.at
        run.trail.append(f"forward_auth at {h.at}: {status}")
        if 200 <= status < 300:
            return CONTINUE
    else:
        run.reached = True
        run.trail.append(f"reverse_proxy at {h.at}: {status}")
        if "handle_response" in spec:
            run.trail.append(f"handle_response at {h.at} not modelled: the backend's answer")
    down = (spec.get("headers") or {}).get("response")
    if down and (down.get("require") is None or response_matches(down["require"], status, run)):
        run.apply(down, upstream, h)
    for key, sent in upstream.items():
        run.response.setdefault(key, []).extend(sent)
    run.write(status, h.block)
    return DONE


def _file(run: Exchange, h: Handler) -> Outcome:
    root = run.replace(str(h.json.get("root") or "{http.vars.root}"), known=False) or "."
    path = os.path.join(root, clean_path(run.path).lstrip("/"))
    if os.path.isdir(path):
        path = next((p for i in _INDEX if os.path.isfile(p := os.path.join(path, i))), "")
    if not os.path.isfile(path):
        run.trail.append(f"file_server at {h.at}: no file, 404")
        return HandlerError(404, h.at)
    if run.method not in ("GET", "HEAD") and run.version >= (2, 7):  # 2.6 serves any method
        run.response.setdefault("Allow", []).append(Sent("Allow", "GET, HEAD", h.at))
        run.trail.append(f"file_server at {h.at}: {run.method}, 405")
        return HandlerError(405, h.at)
    run.trail.append(f"file_server at {h.at}")
    run.write(200, h.block)
    return DONE


def _rewrite(run: Exchange, spec: Json, at: Place) -> None:
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
        find = python_regex(str(rx.get("find", "")))
        run.path = re.sub(find, functools.partial(expanded, template=template), run.path)
    if run.path != before:
        # Read on by the routes after it, in the same block: no redirect (routing.py's `->`).
        run.trail.append(f"rewrite at {at}: {before}, now {run.path}")
