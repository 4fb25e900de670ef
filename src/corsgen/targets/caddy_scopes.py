"""Where a Caddyfile answers CORS (routing.Scope), and what its hand-written CORS grants,
read from the routing model.

A scope is a block (a site, handle, route, handle_path) whose own directives send CORS headers
or import a corsgen snippet; a block with no path of its own (handle @preflight) is part of the
one it is in. What it grants is read from its header directives and the matchers that gate them:
the origins a matcher on Origin lets through (exact values, globs, a regex, a map's entries), or
every origin when nothing tests Origin before it is sent back.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from corsgen.fetch import delta_seconds
from corsgen.routing import Granted, OriginRegex, Place, Scope
from corsgen.targets.caddy_compiled import Handler, Json, Route
from corsgen.targets.caddy_exchange import PLACEHOLDER, canonical, json_text

if TYPE_CHECKING:
    from corsgen.targets.caddy_routing import CaddyRoutes


def scopes(model: CaddyRoutes) -> Sequence[Scope]:
    """Every block that answers CORS, in the order of the files and lines."""
    found: list[Scope] = []
    maps = _maps(model)  # the whole config's, walked once
    for server in model.servers:
        port = min(server.ports, default=None)
        for route in server.routes:
            hosts = [h for m in route.match for h in m.get("host", [])]
            for handler in route.handlers:
                found.extend(_scopes(model, maps, handler, hosts[0] if hosts else "", "/", port))
    return sorted(found, key=lambda scope: scope.at)


def _scopes(
    model: CaddyRoutes,
    maps: Maps,
    block: Handler,
    host: str,
    path: str,
    port: int | None,
    prefix: str = "",
) -> Iterator[Scope]:
    """The scope of a block (site, handle, route, handle_path) when it answers CORS, and those
    of the blocks in it; a corsgen snippet's lines are its policy, not hand-written CORS. Its
    paths: those its CORS headers are sent on when a path matcher gates them all (header @fonts,
    @fonts path *.woff2), else its own and one for each path matcher in it (an `error
    /private/*`, a `basicauth /admin/*`, a handle_path of no CORS of its own). `prefix`: what the
    handle_path blocks around it strip, which a request has before its matchers see it."""
    inside = prefix + _stripped(block)

    def sample(pattern: str) -> str:  # a request path the pattern, inside this block, matches
        return inside.rstrip("/") + _sample(pattern)

    own = list(_own(block))
    policies = {model.policies[h.at.file] for _, h in own if h.at.file in model.policies}
    written = [(r, h) for r, h in own if h.at.file not in model.policies]
    granted = _granted(written, maps)
    if granted is None and policies:  # the snippet's own lines: its policy, without --policy
        granted = _granted([(r, h) for r, h in own if h.at.file in model.policies], maps)
    inner: list[Scope] = []
    for route in block.routes:
        for handler in route.handlers:
            if handler.kind == "subroute" and (pattern := _pattern(route)) is not None:
                inner += _scopes(model, maps, handler, host, sample(pattern), port, inside)
    if policies or granted is not None:
        policy = min(policies) if policies else None
        claimed = {p for scope in inner for p in scope.paths}
        gates = [_pattern(r) for r, h in written if h.kind == "headers"]
        if gates and all(gates):
            paths = [sample(p) for p in gates if p]
        else:
            paths = [path, *(sample(p) for r in block.routes if (p := _pattern(r)))]
        paths = [p for p in dict.fromkeys(paths) if p == path or p not in claimed]
        yield Scope(block.at, host, tuple(paths), block.title, policy, granted, port)
    yield from inner


# The list headers: the Granted field each fills, and the policy key it names.
_LISTS = {
    "Access-Control-Allow-Methods": ("methods", "allow_methods"),
    "Access-Control-Allow-Headers": ("headers", "allow_headers"),
    "Access-Control-Expose-Headers": ("expose", "expose_headers"),
}


def _granted(headers: Sequence[tuple[Route, Handler]], maps: Maps) -> Granted | None:
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
            elif name == "Access-Control-Max-Age" and delta_seconds(value) is not None:
                keys["max_age"], at["max_age"] = delta_seconds(value), where
            elif name == "Access-Control-Allow-Private-Network":
                keys["private_network"], at["allow_private_network"] = value == "true", where
    if not keys:
        return None
    return Granted(**keys, preflight_status=preflight, at=at)


_ORIGIN = "{http.request.header.Origin}"


def _origins(
    keys: dict[str, Any],
    at: dict[str, Place],
    route: Route,
    value: str,
    where: Place,
    maps: Maps,
) -> None:
    """The origins an Access-Control-Allow-Origin value grants: `*`, a literal, the Origin sent
    back (as far as the route's matchers on Origin let it: exact values, globs, a regex, a map's
    entries), or a map's outputs."""
    at["allow_origins"] = where
    exact: list[str] = []
    regexes: list[OriginRegex] = []
    named = PLACEHOLDER.fullmatch(value)
    if value == "*":
        keys["any_origin"] = True
    elif not PLACEHOLDER.search(value):
        exact.append(value)
    elif value == _ORIGIN:
        gated = False
        for matchers in route.match:
            gated |= _gate(matchers, maps, route.match_at, exact, regexes)
        keys["reflects"] = keys.get("reflects", False) or not gated
    elif named and named[1] in maps:
        _from_map(*maps[named[1]], None, route.match_at, exact, regexes)
    keys["origins"] = tuple(dict.fromkeys((*keys.get("origins", ()), *exact)))
    keys["regexes"] = (*keys.get("regexes", ()), *regexes)


def _gate(
    matchers: Json,
    maps: Maps,
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
            _from_map(*maps[name], values, at, exact, regexes)
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
            json_text(outputs[index]) if index < len(outputs) and outputs[index] is not None else ""
        )
        if not output or (wanted is not None and output not in wanted):
            continue
        if "input_regexp" in mapping:
            regexes.append(OriginRegex(str(mapping["input_regexp"]), at, "re2", False))
        elif wanted is not None or output == _ORIGIN:
            exact.append(str(mapping.get("input", "")))
        elif not PLACEHOLDER.search(output):
            exact.append(output)


def _answers_preflights(route: Route) -> bool:
    return any(
        "OPTIONS" in m.get("method", []) or "OPTIONS" in str(m.get("expression", ""))
        for m in route.match
    )


def _glob_regex(glob: str) -> str:
    """The header matcher's glob (*x, x*, *x*) as the anchored RE2 it means."""
    inner = re.escape(glob.strip("*"))
    return f"^{'.*' if glob.startswith('*') else ''}{inner}{'.*' if glob.endswith('*') else ''}$"


# A variable's map: the map handler and the destination the variable holds.
Maps = Mapping[str, tuple[Json, str]]


def _maps(model: CaddyRoutes) -> Maps:
    """Every map handler of the config, by each destination's name, and by the name of each
    variable a vars handler sets to one destination alone (corsgen's `vars NAME {listed}`, which
    looks the map up once a request): its matchers read the map's output too."""
    found: dict[str, tuple[Json, str]] = {}
    copies: list[tuple[str, str]] = []  # (variable, the destination it copies)

    def walk(routes: Sequence[Route]) -> None:
        for route in routes:
            for handler in route.handlers:
                if handler.kind == "map":
                    for d in handler.json.get("destinations", []):
                        found.setdefault(str(d).strip("{}"), (handler.json, str(d).strip("{}")))
                elif handler.kind == "vars":
                    copies.extend(
                        (name, value[1:-1])
                        for name, value in handler.json.items()
                        if name != "handler"
                        and isinstance(value, str)
                        and PLACEHOLDER.fullmatch(value)
                    )
                walk(handler.routes)

    for server in model.servers:
        walk(server.routes)
    for name, destination in copies:
        if destination in found:
            found.setdefault(name, found[destination])
    return found


def _stripped(block: Handler) -> str:
    """The prefix a handle_path block strips: its first route, unmatched, a rewrite that strips."""
    first = block.routes[0].handlers if block.routes and not block.routes[0].match else ()
    strips = (str(h.json.get("strip_path_prefix", "")) for h in first if h.kind == "rewrite")
    return next(strips, "")


def _pattern(route: Route) -> str | None:
    """The first path pattern of a route's matchers."""
    return next((p for m in route.match for p in m.get("path", [])), None)


def _sample(pattern: str) -> str:
    """A request path the path pattern matches: /api/* -> /api/, *.json -> /x.json."""
    path = pattern.replace("*", "x") if pattern.count("*") > 1 or not pattern.endswith("*") else ""
    path = path or pattern.removesuffix("*")
    return path if path.startswith("/") else "/" + path


def _own(block: Handler, outer: Route | None = None) -> Iterator[tuple[Route, Handler]]:
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
