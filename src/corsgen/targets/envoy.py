"""Envoy: the CORS filter's policy, and what it lacks, as a virtual host's (or a route's) keys.

Envoy has no include. Two YAML fragments go into the user's bootstrap (or what generates it):
corsgen-filters.yaml, the same for every policy, is two HTTP filters to put first in the HTTP
connection manager's http_filters, before any auth filter and the router; NAME.yaml holds the keys
to merge into the virtual host (or the route) that serves the API: the cors filter's CorsPolicy,
a header_mutation that adds Vary: Origin, which the cors filter never does, and
response_headers_to_remove for the upstream's own CORS headers.

The header_mutation filter comes first so that its per-route Vary reaches every answer: the
upstream's, the cors filter's own preflight, auth's 401 and Envoy's 503. The router removes the
upstream's headers before the cors filter sets the policy's, so one of each is sent. A refused
origin's preflight is passed on (Envoy's default): with forward_not_matching_preflights false,
Envoy answers it itself with the policy's credentials, methods, headers and Max-Age (measured on
1.40), which no other target sends to a refused origin. Envoy joins two Origin headers with a
comma, so patterns are narrowed to match no comma (regex.one_origin).

Checked by a structural check of the YAML and `envoy --mode validate` on a bootstrap built
around the fragments.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from corsgen.plan import Plan
from corsgen.regex import one_origins
from corsgen.routing import Scope
from corsgen.rules.table import Violation
from corsgen.targets import yaml_lines
from corsgen.targets.base import SHARED, WRAPPER, Loaded, Part, Target, preflight_always_200

VARY_FILTER = "corsgen.vary_origin"
CORS_FILTER = "envoy.filters.http.cors"
# RE2's program size past which Envoy refuses a regex, unless its runtime says otherwise.
MAX_PROGRAM_SIZE = 100
FILTERS = Part("envoy/filters.yaml.j2", "-filters.yaml")
# Every key the fragments may hold.
KEYS = frozenset(
    {
        "name",
        "typed_config",
        '"@type"',
        "typed_per_filter_config",
        VARY_FILTER,
        CORS_FILTER,
        "mutations",
        "response_mutations",
        "append",
        "header",
        "key",
        "value",
        "append_action",
        "allow_origin_string_match",
        "exact",
        "safe_regex",
        "regex",
        "allow_credentials",
        "allow_methods",
        "allow_headers",
        "expose_headers",
        "max_age",
        "allow_private_network_access",
        "forward_not_matching_preflights",
        "response_headers_to_remove",
    }
)
# The CorsPolicy field for each header of the plan (Header.role) sent as a value of its own.
FIELDS = {
    "methods": "allow_methods",
    "headers": "allow_headers",
    "expose": "expose_headers",
    "max_age": "max_age",
}
_CRITICAL = re.compile(r"^\[[^]]*\]\[\d+\]\[critical\]\[\w+\] \[[^]]*\] ")


def quote(value: str) -> str:
    return yaml_lines.quote(value, "Envoy")


def _known(key: str, column: int) -> bool:
    return key in KEYS


def patterns(plan: Plan) -> list[str]:
    """The plan's patterns as Envoy's safe_regex runs them: anchored, and matching no comma."""
    return one_origins(plan.origin_patterns)


def program_size(plan: Plan) -> int:
    """RE2's program size for the plan's largest pattern, as Envoy measures it (0 for none)."""
    found = patterns(plan)
    if not found:
        return 0
    import re2  # only a policy with patterns pays for loading it

    return max(int(re2.compile(p).programsize) for p in found)


def _policy(plan: Plan) -> dict[str, object]:
    """The CorsPolicy's fields, quoted."""
    # Envoy has no literal *: "*" echoes the Origin (shortfalls() says so).
    exact = ["*"] if plan.any_origin else list(plan.exact_origins)
    # Written false too: a route's CorsPolicy takes each field it leaves unset from the virtual
    # host's. The refused preflight goes on to the upstream, whatever the virtual host says.
    flags = [
        ("allow_credentials", "true" if plan.value("credentials") is not None else "false"),
        ("allow_private_network_access", "true" if plan.private_network else "false"),
        ("forward_not_matching_preflights", "true"),
    ]
    return {
        "exact": [quote(origin) for origin in exact],
        "regexes": [quote(regex) for regex in patterns(plan)],
        "values": [(FIELDS[h.role], quote(h.value)) for h in plan.headers if h.role in FIELDS],
        "flags": flags,
    }


class Envoy(Target):
    name = "envoy"
    title = "Envoy"
    parts = (Part("envoy/virtual-host.yaml.j2", ".yaml"),)
    shared_parts = (FILTERS,)
    shared_sized = False  # the same two filters for every policy
    binaries = ("envoy",)
    config_test = "envoy --mode validate"

    def quote(self, value: str) -> str:
        return quote(value)

    def context(self, plan: Plan) -> Mapping[str, object]:
        filters = SHARED + FILTERS.suffix
        return {
            "note": f"Envoy: merge these keys into the virtual host or route; {filters} goes "
            "first in http_filters.",
            "vary_filter": VARY_FILTER,
            "cors_filter": CORS_FILTER,
            **_policy(plan),
            "removed": [quote(name.lower()) for name in plan.owned_headers],
        }

    def shared_context(self, plans: Sequence[Plan]) -> Mapping[str, object] | None:
        return {
            "note": "Envoy: first in the HTTP connection manager's http_filters, before any auth "
            "filter and the router, once.",
            "filters": [quote(VARY_FILTER), quote(CORS_FILTER)],
        }

    def check_structure(self, files: Mapping[str, str]) -> None:
        yaml_lines.check(files, _known)

    def routes(self, configs: Sequence[Path]) -> Loaded:
        from corsgen.targets import envoy_routing  # only `corsgen audit` and `import` read

        return Loaded(*envoy_routing.load(configs))

    def in_place(
        self, scope: Scope, plan: Plan, directory: Path, upstream: str, port: int
    ) -> list[Path] | None:
        """A bootstrap of one listener on `port`: corsgen's filters first, then the router; one
        virtual host of the scope's host, a route of each of its paths to `upstream`, the
        policy's keys on each route (a filter of the scope's listener it leaves out, ext_authz,
        basic_auth, is not carried over)."""
        from corsgen.render import render_parts, render_shared

        (filters,) = render_shared((plan,), "envoy").values()
        (fragment,) = render_parts(plan, "envoy").values()
        routes = "".join(
            f"              - match: {{prefix: {json.dumps(path)}}}\n"
            f"                route: {{cluster: up}}\n{_indented(fragment, 16)}"
            for path in scope.paths or ("/",)
        )
        host, _, number = upstream.rpartition(":")
        assert host == "127.0.0.1", upstream  # a cluster of one loopback endpoint (_cluster)
        manager = "extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
        bootstrap = directory / f"{plan.name}.envoy.yaml"
        bootstrap.write_text(
            "layered_runtime:\n  layers:\n  - name: corsgen\n    static_layer:\n"
            f"      re2.max_program_size.error_level: {max(100, program_size(plan))}\n"
            "static_resources:\n  listeners:\n"
            f"  - name: in-place\n"
            f"    address: {{socket_address: {{address: 127.0.0.1, port_value: {port}}}}}\n"
            "    filter_chains:\n    - filters:\n"
            "      - name: envoy.filters.network.http_connection_manager\n"
            f'        typed_config:\n          "@type": {_TYPE}{manager}\n'
            f"          stat_prefix: in-place\n          http_filters:\n{_indented(filters, 10)}"
            "          - name: envoy.filters.http.router\n            typed_config:\n"
            f'              "@type": {_TYPE}extensions.filters.http.router.v3.Router\n'
            "          route_config:\n            virtual_hosts:\n"
            f"            - name: in-place\n              domains: [{json.dumps(scope.host)}]\n"
            f"              routes:\n{routes}"
            f"  clusters:\n{_cluster('up', int(number))}"
        )
        return [bootstrap]

    def claims(self, text: str) -> bool:
        from corsgen.targets import envoy_routing

        return envoy_routing.claims(text)

    def shortfalls(self, plan: Plan) -> Iterator[Violation]:
        server = {"server": self.title}
        yield from preflight_always_200(plan, self.title)
        if plan.any_origin:
            yield Violation("CG501", "no-star", "allow_origins", server)
        if "*" in (plan.value("headers") or "").split(", "):
            # Envoy answers * with the request's own list, Authorization included, which a *
            # does not cover in browsers.
            yield Violation("CG501", "star-headers", "allow_headers", server)
        if (size := program_size(plan)) > MAX_PROGRAM_SIZE:
            fields = {**server, "size": size, "limit": MAX_PROGRAM_SIZE}
            yield Violation("CG501", "regex-size", "allow_origins", fields)

    def config_test_command(self, binary: str, root: Path, files: Mapping[str, str]) -> list[str]:
        # Each policy in a virtual host of its own, as the tests serve it (bootstrap()), on
        # placeholder ports: validate binds nothing.
        filters = "".join(text for name, text in files.items() if name.endswith(FILTERS.suffix))
        policies = [t for name, t in sorted(files.items()) if not name.endswith(FILTERS.suffix)]
        listeners = [Listener(1 + n, ((text, ""),)) for n, text in enumerate(policies)]
        wrapper = root / (WRAPPER + ".yaml")
        wrapper.write_text(bootstrap(filters, listeners))
        return [binary, "--mode", "validate", "-c", str(wrapper), "-l", "warning"]

    def error_lines(self, output: str) -> list[str]:
        # "[2026-...][123][critical][main] [source/...:76] error initializing configuration ..."
        return [_CRITICAL.sub("", line) for line in output.splitlines() if "[critical]" in line]


def _indented(text: str, spaces: int) -> str:
    return "".join(" " * spaces + line + "\n" for line in text.splitlines() if line.strip())


_TYPE = "type.googleapis.com/envoy."
AUTH_FILTER = "envoy.filters.http.basic_auth"
# The placeholder user of the config test's basic_auth: corsgen:{SHA} of "corsgen".
PLACEHOLDER_USER = "corsgen:{SHA}znyZPpGLEY+6d+/dDf/+u1jbpzc="
# The largest regex program size Envoy's runtime takes: any.
ANY_PROGRAM_SIZE = 4_294_967_295


@dataclass(frozen=True)
class Listener:
    """A loopback listener and the policies (their NAME.yaml, and the path prefix) it serves."""

    port: int
    policies: tuple[tuple[str, str], ...]  # (fragment, prefix)


def _no_auth(fragment: str) -> str:
    """The fragment's keys with basic_auth turned off, in its own typed_per_filter_config."""
    entry = (
        f'  {AUTH_FILTER}:\n    "@type": {_TYPE}config.route.v3.FilterConfig\n    disabled: true\n'
    )
    head = "typed_per_filter_config:\n"
    merged, found = re.subn(f"^{head}", head + entry, fragment, count=1, flags=re.MULTILINE)
    return merged if found else head + entry + fragment


def _routes(fragment: str, at: str, on_routes: bool) -> str:
    """The routes of one policy: /dead/ to the dead cluster, /auth/ behind basic_auth (which
    every other route turns off), the rest to the upstream; with `on_routes`, the fragment's keys
    on each."""
    text = ""
    for path, to in ((f"{at}/dead/", "dead"), (f"{at}/auth/", "up"), (f"{at}/", "up")):
        text += f"              - match: {{prefix: {json.dumps(path)}}}\n"
        text += f"                route: {{cluster: {to}}}\n"
        keys = fragment if on_routes else ""
        if "/auth/" not in path:
            keys = _no_auth(keys)
        text += _indented(keys, 16)
    return text


def _cluster(name: str, port: int) -> str:
    address = f"{{socket_address: {{address: 127.0.0.1, port_value: {port}}}}}"
    return (
        f"  - name: {name}\n    type: STATIC\n    connect_timeout: 1s\n"
        f"    load_assignment:\n      cluster_name: {name}\n"
        f"      endpoints: [{{lb_endpoints: [{{endpoint: {{address: {address}}}}}]}}]\n"
    )


def bootstrap(
    filters: str,
    listeners: Sequence[Listener],
    *,
    on_routes: bool = False,
    upstream: int = 9,
    dead: int = 9,
    users: str = PLACEHOLDER_USER,
    program_size: int = ANY_PROGRAM_SIZE,
) -> str:
    """The wrapper bootstrap around the fragments: the config test's (on placeholder ports and
    upstreams) and the one the tests serve (targets/envoy_serving.py). Each listener runs the
    shared `filters`, basic_auth for `users` (htpasswd's {SHA} lines) and the router for one
    virtual host; a policy's keys go in that virtual host or, `on_routes`, in each of its routes
    (several policies on one port). Everything goes to `upstream`, /dead/ to `dead`, and /auth/
    asks for a user. `program_size` is the largest regex Envoy's runtime takes: CG501 tells the
    user the one a policy needs."""
    manager = "extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
    text = (
        "layered_runtime:\n  layers:\n  - name: corsgen\n    static_layer:\n"
        f"      re2.max_program_size.error_level: {program_size}\n"
        "static_resources:\n  listeners:\n"
    )
    for front in listeners:
        port = front.port
        host = "".join(_indented(fragment, 14) for fragment, _ in front.policies)
        routes = "".join(_routes(fragment, at, on_routes) for fragment, at in front.policies)
        text += (
            f"  - name: port{port}\n"
            f"    address: {{socket_address: {{address: 127.0.0.1, port_value: {port}}}}}\n"
            "    filter_chains:\n    - filters:\n"
            "      - name: envoy.filters.network.http_connection_manager\n"
            f'        typed_config:\n          "@type": {_TYPE}{manager}\n'
            f"          stat_prefix: port{port}\n          http_filters:\n"
            f"{_indented(filters, 10)}"
            f"          - name: {AUTH_FILTER}\n            typed_config:\n"
            f'              "@type": {_TYPE}extensions.filters.http.basic_auth.v3.BasicAuth\n'
            f"              users: {{inline_string: {json.dumps(users)}}}\n"
            "          - name: envoy.filters.http.router\n            typed_config:\n"
            f'              "@type": {_TYPE}extensions.filters.http.router.v3.Router\n'
            "          route_config:\n            virtual_hosts:\n"
            f'            - name: port{port}\n              domains: ["*"]\n'
            f"{'' if on_routes else host}              routes:\n{routes}"
        )
    return text + "  clusters:\n" + _cluster("up", upstream) + _cluster("dead", dead)


TARGET = Envoy()
