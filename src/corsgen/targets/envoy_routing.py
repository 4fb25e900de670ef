"""Envoy's routing through a static bootstrap, modelled (routing.py).

A request arrives on a listener (its port); its HTTP connection manager picks the virtual host by
the Host header (exact domains, then `*.suffix` wildcards longest first, then `prefix.*`, then
`*`) and the first route whose match (prefix, path, safe_regex, path_separated_prefix, headers)
takes the request. Then the HTTP filters run in their order, with no route too, each may answer
itself (cors a preflight, basic_auth a 401, ext_authz a refusal), and the router answers last:
the cluster (the backend), a direct_response, a redirect, or 404 without a route. The router's
answers get the route's, virtual host's and route configuration's response_headers_to_remove and
_add; a filter's local reply gets them on a route to a cluster only, the cors filter's preflight
answer never. An answer passes back through the filter that made it and those before it, last
first: the cors filter's own preflight answer gets its expose headers, and none of the filters
after it see it.

The cors filter (source/extensions/filters/http/cors/cors_filter.cc), on a route to a cluster
only: each CorsPolicy field comes from the route's typed_per_filter_config, else the virtual
host's, else the route configuration's (or, with none, the deprecated `cors` fields, the same
way). An Origin allowed by a string matcher (exact, prefix, suffix, contains, safe_regex, which
matches the whole Origin; a matcher that matches "*" allows any) is sent back on every answer,
with credentials and expose, over the backend's copies. A preflight from an allowed Origin is
answered 200 with the Allow-Origin, credentials, methods, headers and Max-Age ("*" sends the
request's own); from a refused one it goes on to the next filters and the backend, unless
forward_not_matching_preflights is false: then answered the same, without the Allow-Origin. Never
a Vary. A refused Origin's answers keep the backend's CORS headers. Envoy joins a request
header's copies with commas, two Origin headers too, and a CORS header appended to one already
there (response_headers_to_add) joins it in one header. Each of these was measured on 1.40
(tests/audit/envoy_routing_test.py).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from corsgen.errors import CorsgenError, Finding
from corsgen.marker import LEAD
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
from corsgen.targets.base import SHARED
from corsgen.targets.prefix_index import Index
from corsgen.targets.replies import Reply, malformed, set_header, static_granted, without
from corsgen.targets.yaml_lines import NONE, Node, read

SERVER = "Envoy"
# The filters a model runs, by the end of their typed_config's type (names are the user's).
CORS = "filters.http.cors.v3.Cors"
BASIC_AUTH = "filters.http.basic_auth.v3.BasicAuth"
EXT_AUTHZ = "filters.http.ext_authz.v3.ExtAuthz"
HEADER_MUTATION = "filters.http.header_mutation.v3.HeaderMutation"
ROUTER = "filters.http.router.v3.Router"
MANAGER = "http_connection_manager.v3.HttpConnectionManager"
FILTER_CONFIG = "config.route.v3.FilterConfig"
# The response headers the cors filter registers as Envoy's inline headers: a value appended to
# one that is there joins it, after a comma, in the one header.
INLINE = frozenset(
    "access-control-" + name
    for name in (
        "allow-origin",
        "allow-credentials",
        "allow-methods",
        "allow-headers",
        "max-age",
        "expose-headers",
        "allow-private-network",
    )
)
CREDENTIALS = "Access-Control-Allow-Credentials"
# envoy.type.v3.StatusCode names, of those an ext_authz's status_on_error is likely to be.
_STATUS = {
    "Unauthorized": 401,
    "Forbidden": 403,
    "ServiceUnavailable": 503,
    "InternalServerError": 500,
}
_REDIRECTS = {"FOUND": 302, "SEE_OTHER": 303, "TEMPORARY_REDIRECT": 307, "PERMANENT_REDIRECT": 308}


def _kind(node: Node) -> str:
    kind = ((node.get("typed_config") or NONE).get("@type") or NONE).text()
    kinds = (CORS, BASIC_AUTH, EXT_AUTHZ, HEADER_MUTATION, ROUTER)
    return next((k for k in kinds if kind.endswith(k)), "")


def _type(node: Node) -> str:
    return (node.get("@type") or NONE).text()


# Compiled once per regex, not once per request and route (a route table of regexes is tried
# route by route); as many as a config may hold routes (limits.MAX_CONFIG_ROUTES).
@functools.lru_cache(maxsize=16_384)
def _re2_full(source: str, ignore_case: bool = False) -> Callable[[str], bool]:
    import re2

    options = re2.Options()
    options.log_errors = False
    options.case_sensitive = not ignore_case
    compiled = re2.compile(source, options=options)
    return lambda text: compiled.fullmatch(text) is not None


@dataclass(frozen=True)
class StringMatcher:
    """An envoy.type.matcher.v3.StringMatcher, and the regex it amounts to for the audit."""

    test: Callable[[str], bool]
    regex: OriginRegex | None  # None for an exact one
    exact: str | None
    at: Place

    @classmethod
    def read(cls, node: Node) -> StringMatcher:
        fold = (node.get("ignore_case") or NONE).true()
        for kind in ("exact", "prefix", "suffix", "contains"):
            if (value := node.get(kind)) is None:
                continue
            text = value.text()
            wanted = text.lower() if fold else text
            test: Callable[[str], bool] = {
                "exact": lambda o, w=wanted: o == w,
                "prefix": lambda o, w=wanted: o.startswith(w),
                "suffix": lambda o, w=wanted: o.endswith(w),
                "contains": lambda o, w=wanted: w in o,
            }[kind]
            folded = (lambda o, t=test: t(o.lower())) if fold else test
            if kind == "exact":
                return cls(folded, None, text, node.at)
            before, after = ("", ".*") if kind == "prefix" else (".*", "")
            if kind == "contains":
                before, after = ".*", ".*"
            regex = f"^{before}{re.escape(text)}{after}$"
            return cls(folded, OriginRegex(regex, node.at, "re2", fold), None, node.at)
        regex_node = node.get("safe_regex") or NONE
        source = (regex_node.get("regex") or NONE).text()
        anchored = f"^(?:{source})$"  # Envoy matches the whole Origin
        return cls(_re2_full(source), OriginRegex(anchored, node.at, "re2", False), None, node.at)


@dataclass(frozen=True)
class Policy:
    """One CorsPolicy (a route's, a virtual host's or a route configuration's), field by field;
    a field it leaves unset is None: the next policy's is used."""

    at: Place
    origins: tuple[StringMatcher, ...] | None
    origins_at: Place | None
    credentials: tuple[bool, Place] | None
    methods: tuple[str, Place] | None
    headers: tuple[str, Place] | None
    expose: tuple[str, Place] | None
    max_age: tuple[str, Place] | None
    forward: tuple[bool, Place] | None
    enabled: bool

    @classmethod
    def read(cls, node: Node) -> Policy:
        def text(key: str) -> tuple[str, Place] | None:
            found = node.get(key)
            return (found.text(), found.at) if found is not None and found.text() else None

        def flag(key: str) -> tuple[bool, Place] | None:
            found = node.get(key)
            return (found.true(), found.at) if found is not None else None

        origins = node.get("allow_origin_string_match")
        enabled = node.get("filter_enabled")
        percent = ((enabled or NONE).get("default_value") or NONE).get("numerator")
        return cls(
            node.at,
            tuple(StringMatcher.read(item) for item in origins.items()) if origins else None,
            origins.at if origins else None,
            flag("allow_credentials"),
            text("allow_methods"),
            text("allow_headers"),
            text("expose_headers"),
            text("max_age"),
            flag("forward_not_matching_preflights"),
            enabled is None or percent is None or percent.text() not in ("", "0"),
        )


@dataclass(frozen=True)
class Cors:
    """The policies that apply to one route, most specific first, and what each field comes to."""

    policies: tuple[Policy, ...]

    def field(self, name: str) -> tuple[str, Place] | None:
        return next((v for p in self.policies if (v := getattr(p, name)) is not None), None)

    def origins(self) -> tuple[StringMatcher, ...]:
        return next((p.origins for p in self.policies if p.origins), ())

    def credentials(self) -> Place | None:
        found = next((p.credentials for p in self.policies if p.credentials is not None), None)
        return found[1] if found and found[0] else None

    def forward(self) -> tuple[bool, Place | None]:
        """Whether a refused Origin's preflight goes on (Envoy's default), and the line that
        says otherwise."""
        return next((p.forward for p in self.policies if p.forward is not None), (True, None))

    def allows(self, origin: str) -> StringMatcher | None:
        return next((m for m in self.origins() if m.test("*") or m.test(origin)), None)

    def preflight(self, asked: Mapping[str, str], allowed: StringMatcher | None) -> list[Sent]:
        """The filter's own answer to a preflight; to a refused Origin, each header is there
        because forward_not_matching_preflights is false: sent by that line."""
        headers = self._preflight(asked, allowed)
        if allowed is None and (refused := self.forward()[1]) is not None:
            headers = [replace(h, at=refused) for h in headers]
        return headers

    def _preflight(self, asked: Mapping[str, str], allowed: StringMatcher | None) -> list[Sent]:
        headers: list[Sent] = []
        if allowed is not None:
            headers.append(Sent("Access-Control-Allow-Origin", asked["origin"], allowed.at))
        if credentials := self.credentials():
            headers.append(Sent(CREDENTIALS, "true", credentials))
        for key, name, request in (
            ("methods", "Access-Control-Allow-Methods", "access-control-request-method"),
            ("headers", "Access-Control-Allow-Headers", "access-control-request-headers"),
        ):
            if found := self.field(key):
                value = asked.get(request, "") if found[0] == "*" else found[0]
                headers.append(Sent(name, value, found[1]))
        if age := self.field("max_age"):
            headers.append(Sent("Access-Control-Max-Age", *age))
        return headers

    def actual(self, headers: Sequence[Sent], origin: str, allowed: StringMatcher) -> list[Sent]:
        out = set_header(headers, "Access-Control-Allow-Origin", origin, allowed.at)
        if credentials := self.credentials():
            out = set_header(out, CREDENTIALS, "true", credentials)
        if expose := self.field("expose"):
            out = set_header(out, "Access-Control-Expose-Headers", *expose)
        return out

    def granted(self) -> Granted:
        origins = self.origins()
        at = {
            key: found[1]
            for key, name in (
                ("allow_methods", "methods"),
                ("allow_headers", "headers"),
                ("expose_headers", "expose"),
                ("max_age", "max_age"),
            )
            if (found := self.field(name))
        }
        if origins:
            at["allow_origins"] = origins[0].at
        if credentials := self.credentials():
            at["allow_credentials"] = credentials

        def split(key: str) -> tuple[str, ...]:
            found = self.field(key)
            return tuple(v.strip() for v in found[0].split(",")) if found else ()

        age = self.field("max_age")
        return Granted(
            origins=tuple(m.exact for m in origins if m.exact is not None and m.exact != "*"),
            regexes=tuple(m.regex for m in origins if m.regex is not None),
            reflects=any(m.test("*") for m in origins),
            credentials=self.credentials() is not None,
            methods=split("methods"),
            headers=split("headers"),
            expose=split("expose"),
            max_age=int(age[0]) if age and age[0].isdigit() else None,
            preflight_status=200,
            at=at,
        )


@dataclass(frozen=True)
class Filter:
    name: str
    kind: str  # CORS, BASIC_AUTH, HEADER_MUTATION, ROUTER or "" (one the model passes through)
    node: Node
    disabled: bool


@dataclass(frozen=True)
class Route:
    node: Node
    vhost: Node
    table: Node  # the route configuration

    def levels(self) -> tuple[Node, Node, Node]:
        """Where per-filter configs and header lists are, most specific first."""
        return self.node, self.vhost, self.table

    def wrapped(self, name: str) -> list[Node]:
        """The filter's typed_per_filter_config at each level, as written."""
        return [c for level in self.levels() if (c := _per_filter(level, name)) is not None]

    def per_filter(self, name: str) -> list[Node]:
        """The filter's own per-route configs, most specific first: a FilterConfig's `config`,
        and none for a FilterConfig that only turns the filter on or off."""
        out = []
        for config in self.wrapped(name):
            if _type(config).endswith(FILTER_CONFIG):
                config = config.get("config") or NONE
            if config is not NONE:
                out.append(config)
        return out


def _per_filter(level: Node, name: str) -> Node | None:
    return (level.get("typed_per_filter_config") or NONE).get(name)


def _path_key(match: Node) -> tuple[str | None, str | None]:
    """What the path of every request a route's match takes starts with (_matches_route): its
    prefix, path or separated prefix, "i" when it is compared in lower case; a regex, (None,
    None): any."""
    sensitive = (match.get("case_sensitive") or Node("true", "", 0)).true()
    case = "" if sensitive else "i"
    for name in ("prefix", "path", "safe_regex", "path_separated_prefix"):
        if (node := match.get(name)) is not None:
            if name == "safe_regex":
                return None, None
            return case, node.text() if sensitive else node.text().lower()
    return None, None  # no path: it matches nothing, and is tried as before


def _matches_route(match: Node, path: str, headers: Mapping[str, list[str]]) -> bool:
    bare = path.split("?")[0]
    sensitive = (match.get("case_sensitive") or Node("true", "", 0)).true()
    subject = bare if sensitive else bare.lower()

    def fold(text: str) -> str:
        return text if sensitive else text.lower()

    if (prefix := match.get("prefix")) is not None:
        ok = subject.startswith(fold(prefix.text()))
    elif (exact := match.get("path")) is not None:
        ok = subject == fold(exact.text())
    elif (regex := match.get("safe_regex")) is not None:
        ok = _re2_full((regex.get("regex") or NONE).text())(bare)
    elif (separated := match.get("path_separated_prefix")) is not None:
        want = fold(separated.text())
        ok = subject == want or subject.startswith(want + "/")
    else:
        ok = False
    return ok and all(_matches_header(h, headers) for h in (match.get("headers") or NONE).items())


def _matches_header(node: Node, headers: Mapping[str, list[str]]) -> bool:
    values = headers.get((node.get("name") or NONE).text().lower(), [])
    value = ",".join(values) if values else None
    invert = (node.get("invert_match") or NONE).true()
    if (present := node.get("present_match")) is not None:
        found = (value is not None) == present.true()
    elif value is None:
        found = False
    elif (matcher := node.get("string_match")) is not None:
        found = StringMatcher.read(matcher).test(value)
    elif (exact := node.get("exact_match")) is not None:
        found = value == exact.text()
    else:
        found = True
    return found != invert


def _domain_rank(domain: str, host: str) -> tuple[int, int] | None:
    """How well a virtual host's domain takes the host (lower is better), None if it does not."""
    domain = domain.lower()
    if domain == host:
        return (0, 0)
    if domain == "*":
        return (3, 0)
    if domain.startswith("*") and host.endswith(domain[1:]) and len(host) > len(domain) - 1:
        return (1, -len(domain))
    if domain.endswith("*") and host.startswith(domain[:-1]) and len(host) > len(domain) - 1:
        return (2, -len(domain))
    return None


@dataclass(frozen=True)
class Listener:
    port: int | None
    at: Place
    filters: tuple[Filter, ...]
    table: Node
    strip_port: bool


def _listeners(root: Node) -> list[Listener]:
    out = []
    for listener in ((root.get("static_resources") or NONE).get("listeners") or NONE).items():
        socket = ((listener.get("address") or NONE).get("socket_address")) or NONE
        port = (socket.get("port_value") or NONE).text()
        chains = (listener.get("filter_chains") or NONE).items()
        for network in (chains[0].get("filters") or NONE).items() if chains else ():
            manager = network.get("typed_config") or NONE
            if not (manager.get("@type") or NONE).text().endswith(MANAGER):
                continue
            filters = tuple(
                Filter(
                    (f.get("name") or NONE).text(),
                    _kind(f),
                    f,
                    (f.get("disabled") or NONE).true(),
                )
                for f in (manager.get("http_filters") or NONE).items()
            )
            strip = any(
                (manager.get(k) or NONE).true()
                for k in ("strip_any_host_port", "strip_matching_host_port")
            )
            table = manager.get("route_config") or NONE
            out.append(
                Listener(int(port) if port.isdigit() else None, listener.at, filters, table, strip)
            )
    return out


def _joined(headers: Sequence[tuple[str, str]]) -> dict[str, str]:
    """The request's headers by lower-case name, as Envoy's codec keeps them: the copies of a
    header joined by commas (two Origin headers are one, "a,b")."""
    out: dict[str, str] = {}
    for name, value in headers:
        key = name.lower()
        out[key] = f"{out[key]},{value}" if key in out else value
    return out


def _users(node: Node) -> dict[str, str]:
    text = ((node.get("users") or NONE).get("inline_string") or NONE).text()
    return dict(line.split(":", 1) for line in text.splitlines() if ":" in line)


def _authorized(header: str, users: Mapping[str, str]) -> bool:
    if not header.startswith("Basic "):
        return False
    try:
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except ValueError:
        return False
    digest = base64.b64encode(hashlib.sha1(password.encode()).digest()).decode()
    return users.get(user) == "{SHA}" + digest


def _header_list(level: Node, headers: list[Sent]) -> list[Sent]:
    """A level's response_headers_to_remove, then its response_headers_to_add."""
    for name in (level.get("response_headers_to_remove") or NONE).texts():
        headers = without(headers, name)
    for item in (level.get("response_headers_to_add") or NONE).items():
        header = item.get("header") or NONE
        name, value = (header.get("key") or NONE).text(), (header.get("value") or NONE).text()
        headers = _append(headers, name, value, item)
    return headers


def _append(headers: list[Sent], name: str, value: str, item: Node) -> list[Sent]:
    """A HeaderValueOption, by its append_action (or the older `append`)."""
    action = (item.get("append_action") or NONE).text()
    if not action:
        legacy = item.get("append")
        action = "OVERWRITE_IF_EXISTS_OR_ADD" if legacy is not None and not legacy.true() else ""
    present = any(h.name.lower() == name.lower() for h in headers)
    if action == "OVERWRITE_IF_EXISTS_OR_ADD":
        return set_header(headers, name, value, item.at)
    if action == "ADD_IF_ABSENT":
        return headers if present else [*headers, Sent(name, value, item.at)]
    if action == "OVERWRITE_IF_EXISTS":
        return set_header(headers, name, value, item.at) if present else headers
    if present and name.lower() in INLINE:
        # One header, its values joined: "*,*" (measured on 1.40).
        old = next(h for h in headers if h.name.lower() == name.lower())
        return set_header(headers, old.name, f"{old.value},{value}", item.at)
    return [*headers, Sent(name, value, item.at)]


def _mutations(config: Node, headers: list[Sent]) -> list[Sent]:
    """A header_mutation config's response_mutations."""
    for step in ((config.get("mutations") or NONE).get("response_mutations") or NONE).items():
        if (removed := step.get("remove")) is not None:
            headers = without(headers, removed.text())
        elif (added := step.get("append")) is not None:
            header = added.get("header") or NONE
            name, value = (header.get("key") or NONE).text(), (header.get("value") or NONE).text()
            headers = _append(headers, name, value, added)
    return headers


class EnvoyRoutes:
    """The model of one Envoy bootstrap: its listeners and their route configurations."""

    def __init__(self, listeners: list[Listener], markers: Mapping[str, list[tuple[int, str]]]):
        self.listeners = listeners
        self.markers = markers  # each file's corsgen markers: (line, policy)
        # Each route's policies, read (their regexes compiled) once for all the requests.
        self.policies: dict[tuple[str, int, int, int], tuple[Policy, ...]] = {}
        # Each virtual host's routes filed by path (prefix_index.py), by id() of the virtual
        # host, which is kept with them so that the id names no other.
        self.indexes: dict[int, tuple[Node, Index[Node], bool]] = {}
        self.chosen: dict[tuple[int, str], Node | None] = {}  # (vhost, path): its route

    def _listener(self, port: int | None) -> Listener | None:
        return next((x for x in self.listeners if port is None or x.port in (port, None)), None)

    def _route(self, listener: Listener, asked: Asked) -> Route | None:
        host = asked.host.lower()
        if listener.strip_port and ":" in host and not host.startswith("["):
            host = host.rsplit(":", 1)[0]
        ranked = []
        for vhost in (listener.table.get("virtual_hosts") or NONE).items():
            ranks = [
                r for d in (vhost.get("domains") or NONE).texts() if (r := _domain_rank(d, host))
            ]
            if ranks:
                ranked.append((min(ranks), vhost))
        if not ranked:
            return None
        vhost = min(ranked, key=lambda pair: pair[0])[1]
        headers: dict[str, list[str]] = {":method": [asked.method], ":authority": [asked.host]}
        for name, value in asked.headers:
            headers.setdefault(name.lower(), []).append(value)
        index, by_path = self.index_of(vhost)
        if by_path and (id(vhost), asked.path) in self.chosen:  # found for this path already
            chosen = self.chosen[id(vhost), asked.path]
            return None if chosen is None else Route(chosen, vhost, listener.table)
        bare = asked.path.split("?")[0]
        tried = index.at(
            index.positions("", bare)
            | index.positions("i", bare.lower())
            | {*index.filed.get((None, None), ())}
        )
        chosen = next(
            (r for r in tried if _matches_route(r.get("match") or NONE, asked.path, headers)),
            None,
        )
        if by_path:
            self.chosen[id(vhost), asked.path] = chosen
        return None if chosen is None else Route(chosen, vhost, listener.table)

    def index_of(self, vhost: Node) -> tuple[Index[Node], bool]:
        """The virtual host's routes filed by path, and whether they test the path alone (no
        route tests a header): then the route chosen for a path is kept for the next request."""
        if id(vhost) not in self.indexes:
            routes = (vhost.get("routes") or NONE).items()
            keyed = [(r, (_path_key(r.get("match") or NONE),)) for r in routes]
            by_path = all((r.get("match") or NONE).get("headers") is None for r in routes)
            self.indexes[id(vhost)] = (vhost, Index(keyed), by_path)
        return self.indexes[id(vhost)][1:]

    def answer(self, asked: Asked, backend: Backend = audit_backend) -> Answered:
        listener = self._listener(asked.port)
        if listener is None:
            raise CorsgenError(f"no listener on port {asked.port}")
        if malformed(asked.headers):
            # The codec's 400, before any route is chosen or any filter decodes: it goes back
            # through every filter's encoder all the same (a header_mutation's Vary; measured on
            # 1.40), with no route's configuration and no request header.
            plain = (Sent("content-type", "text/plain", None),)
            reply = Reply(400, plain, ("a control character in a header: the codec's 400",))
            nowhere = Route(NONE, NONE, listener.table)
            for here in reversed(listener.filters):
                reply = self._encode(here, nowhere, asked, {}, reply)
            return Answered(reply.status, reply.headers, listener.at, reply.trail)
        # With no route, the filters still run (auth asks for its user), and the router says 404.
        route = self._route(listener, asked) or Route(NONE, NONE, listener.table)
        request = _joined(asked.headers)
        reply, index = self._decode(listener, route, asked, request, backend)
        # The router's answers get the route's, the virtual host's and the route configuration's
        # header lists; a filter's local reply (basic_auth's 401) too, on a route to a cluster
        # only; the cors filter's preflight answer, which it encodes itself, never (measured on
        # 1.40).
        answered_by = listener.filters[index].kind if listener.filters else ""
        by_router = answered_by == ROUTER and route.node is not NONE
        if by_router or (answered_by != CORS and route.node.get("route") is not None):
            headers = list(reply.headers)
            for level in route.levels():
                headers = _header_list(level, headers)
            reply = replace(reply, headers=tuple(headers))
        # Back through the filter that answered and those before it, last first: the cors
        # filter's encodeHeaders runs on its own preflight answer too (measured on 1.40).
        for here in reversed(listener.filters[: index + 1]):
            reply = self._encode(here, route, asked, request, reply)
        by = route.node.at if route.node is not NONE else listener.at
        return Answered(reply.status, reply.headers, by, reply.trail, reply.backend, reply.auth)

    def _enabled(self, here: Filter, route: Route) -> bool:
        # The most specific per-route config decides: a FilterConfig (or ext_authz's own) turns
        # the filter on or off, any other config turns on a filter that is off by default
        # (measured on 1.40).
        for config in route.wrapped(here.name):
            return not (config.get("disabled") or NONE).true()
        return not here.disabled

    def _cors(self, here: Filter, route: Route) -> Cors | None:
        if route.node.get("route") is None:  # a direct_response or a redirect: no CORS at all
            return None
        key = (here.name, id(route.node), id(route.vhost), id(route.table))
        if key not in self.policies:
            self.policies[key] = _policies(here, route)
        policies = self.policies[key]
        return Cors(policies) if policies and policies[0].enabled else None

    def _decode(
        self,
        listener: Listener,
        route: Route,
        asked: Asked,
        request: Mapping[str, str],
        backend: Backend,
    ) -> tuple[Reply, int]:
        """The answer, and the index of the filter that made it."""
        trail = (
            [f"route at {route.node.at} of {_title(route.vhost)}"] if route.node is not NONE else []
        )
        auth = None
        for index, here in enumerate(listener.filters):
            if not self._enabled(here, route):
                continue
            if here.kind == CORS and (cors := self._cors(here, route)) is not None:
                origin = request.get("origin", "")
                preflight = asked.method == "OPTIONS" and request.get(
                    "access-control-request-method"
                )
                if origin and preflight:
                    allowed = cors.allows(origin)
                    if allowed is not None or not cors.forward()[0]:
                        trail.append(f"preflight answered by the cors filter {here.name}")
                        return Reply(
                            200, tuple(cors.preflight(request, allowed)), tuple(trail), auth=auth
                        ), index
            elif here.kind == BASIC_AUTH:
                auth = here.node.at
                users = _users(here.node.get("typed_config") or NONE)
                for config in route.per_filter(here.name):
                    users = _users(config) or users
                if not _authorized(request.get("authorization", ""), users):
                    trail.append(f"basic_auth {here.name} at {here.node.at}: 401")
                    return Reply(401, (), tuple(trail), auth=auth), index
            elif here.kind == EXT_AUTHZ:
                # The authorization service decides, which the model cannot ask: it refuses, as
                # one does a request without credentials, and as Envoy does when it cannot
                # reach it (status_on_error, 403 unless set).
                auth = here.node.at
                error = (here.node.get("typed_config") or NONE).get("status_on_error") or NONE
                code = (error.get("code") or NONE).text()
                trail.append(f"ext_authz {here.name} at {here.node.at}: refused")
                return Reply(_STATUS.get(code, 403), (), tuple(trail), auth=auth), index
            elif here.kind == ROUTER:
                reply = self._router(route, asked, backend)
                return replace(reply, trail=(*trail, *reply.trail), auth=auth), index
        return Reply(500, (), (*trail, "no router filter"), auth=auth), len(listener.filters) - 1

    def _router(self, route: Route, asked: Asked, backend: Backend) -> Reply:
        action = route.node.get("route")
        if (direct := route.node.get("direct_response")) is not None:
            status = int((direct.get("status") or Node("200", "", 0)).text())
            reply = Reply(status, (), (f"direct_response at {direct.at}",))
        elif (redirect := route.node.get("redirect")) is not None:
            code = (redirect.get("response_code") or NONE).text()
            reply = Reply(_REDIRECTS.get(code, 301), (), (f"redirect at {redirect.at}",))
        elif action is not None:
            path = asked.path
            rewrite = (action.get("prefix_rewrite") or NONE).text()
            match = route.node.get("match") or NONE
            prefix = (match.get("prefix") or match.get("path_separated_prefix") or NONE).text()
            if rewrite and prefix:
                path = rewrite + path[len(prefix) :]
            elif rewrite and (match.get("path") or match.get("safe_regex")) is not None:
                # The whole path is the match: all of it is swapped, the query kept.
                _, mark, query = path.partition("?")
                path = rewrite + mark + query
            status, pairs = backend(asked.method, path)
            sent = tuple(Sent(n, v, None) for n, v in pairs)
            cluster = (action.get("cluster") or NONE).text()
            reply = Reply(status, sent, (f"cluster {cluster}",), backend=True)
        else:
            return Reply(404, (), ("no virtual host or route matches: 404",))
        return reply

    def _encode(
        self, here: Filter, route: Route, asked: Asked, request: Mapping[str, str], reply: Reply
    ) -> Reply:
        if not self._enabled(here, route):
            return reply
        headers = list(reply.headers)
        if here.kind == CORS and (cors := self._cors(here, route)) is not None:
            origin = request.get("origin", "")
            allowed = cors.allows(origin) if origin else None
            if allowed is not None:
                headers = cors.actual(headers, origin, allowed)
        elif here.kind == HEADER_MUTATION:
            for config in route.per_filter(here.name):
                headers = _mutations(config, headers)
            headers = _mutations(here.node.get("typed_config") or NONE, headers)
        return replace(reply, headers=tuple(headers))

    def scopes(self) -> list[Scope]:
        """Each route the cors filter applies to, or whose header lists set Access-Control-*
        headers (hand-written static CORS), with a host and path that reach it."""
        out = []
        for listener in self.listeners:
            cors = next((f for f in listener.filters if f.kind == CORS), None)
            for vhost in (listener.table.get("virtual_hosts") or NONE).items():
                for node in (vhost.get("routes") or NONE).items():
                    route = Route(node, vhost, listener.table)
                    policy = self._cors(cors, route) if cors is not None else None
                    static = _static(route)
                    if policy is None and not static:
                        continue
                    marked = self._marked(policy.policies[0].at) if policy else None
                    granted = policy.granted() if policy else static_granted(static)
                    host, path = self._reach(listener, route)
                    title = f"route at line {node.line} of {_title(vhost)}"
                    out.append(Scope(node.at, host, (path,), title, marked, granted, listener.port))
        return out

    def _reach(self, listener: Listener, route: Route) -> tuple[str, str]:
        """A host and path this route answers (not one before it), from its own match and its
        virtual host's domains; else the first of them."""
        domains = (route.vhost.get("domains") or NONE).texts()
        hosts = [
            d.replace("*", "a", 1) if d.startswith("*") else d.replace("*", "com") for d in domains
        ]
        hosts = [h for h in hosts if h != "a"] + ["localhost"]
        match = route.node.get("match") or NONE
        literal = next(
            (match.get(k) for k in ("prefix", "path", "path_separated_prefix") if match.get(k)),
            None,
        )
        paths = [literal.text()] if literal is not None else []
        if (regex := match.get("safe_regex")) is not None:
            paths += _sample((regex.get("regex") or NONE).text())
        paths.append("/")
        for host in hosts:
            for path in paths:
                found = self._route(listener, Asked(host, "GET", path, (), listener.port))
                if found is not None and found.node is route.node:
                    return host, path
        return hosts[0], paths[0]

    def _marked(self, at: Place) -> str | None:
        """The corsgen policy whose fragment holds this line: the nearest marker above it."""
        above = [(line, name) for line, name in self.markers.get(at.file, []) if line < at.line]
        return max(above)[1] if above else None


def _policies(here: Filter, route: Route) -> tuple[Policy, ...]:
    policies = tuple(Policy.read(c) for c in route.per_filter(here.name))
    if not policies:
        legacy = [(level.get("route") or level).get("cors") for level in route.levels()[:2]]
        policies = tuple(Policy.read(c) for c in legacy if c is not None)
    return policies


def _sample(pattern: str) -> list[str]:
    """A path a safe_regex matches, for the audit to ask for; none when it cannot say."""
    from corsgen.regex.language import samples

    try:
        return samples(pattern)[:1]
    except Exception:  # a pattern interegular cannot read: the audit asks for the others
        return []


def _static(route: Route) -> dict[str, tuple[str, Place]]:
    """The Access-Control-* headers the route's header lists add, by lower-case name."""
    out: dict[str, tuple[str, Place]] = {}
    for level in reversed(route.levels()):  # the most specific last: it is the one kept
        for item in (level.get("response_headers_to_add") or NONE).items():
            header = item.get("header") or NONE
            name = (header.get("key") or NONE).text().lower()
            if name.startswith("access-control-"):
                out[name] = ((header.get("value") or NONE).text(), item.at)
    return out


def _title(vhost: Node) -> str:
    return f"virtual host {(vhost.get('name') or NONE).text()}"


def load(configs: Sequence[Path]) -> tuple[EnvoyRoutes | None, list[Finding]]:
    budget = ConfigBudget()
    listeners: list[Listener] = []
    markers: dict[str, list[tuple[int, str]]] = {}
    for path in configs:
        text = decode_config(budget.read(path))
        try:
            root = read(text, str(path))
        except CorsgenError as exc:
            return None, [finding("CG401", "parse", file=str(path), error=str(exc), server=SERVER)]
        listeners += _listeners(root)
        markers[str(path)] = [
            (n, found[1])
            for n, line in enumerate(text.splitlines(), start=1)
            if (found := re.search(re.escape(LEAD) + r"policy=(\S+)", line.strip()))
            and found[1] != SHARED  # the filters' file, the same for every policy
        ]
    model = EnvoyRoutes(listeners, markers)
    routes = sum(  # those matched one by one: filed under no path prefix
        model.index_of(vhost)[0].unfiled()
        for listener in listeners
        for vhost in (listener.table.get("virtual_hosts") or NONE).items()
    )
    check_routes(routes, str(configs[0]), ENVOY_UNIT)
    return model, []


# What check_routes counts.
ENVOY_UNIT = "routes matched one by one (without a prefix or path match)"


def claims(text: str) -> bool:
    """An Envoy bootstrap: static_resources (or dynamic ones) at the top."""
    return bool(
        re.search(r"^(static_resources|dynamic_resources|admin)\s*:", text, re.MULTILINE)
    ) or ('"static_resources"' in text)
