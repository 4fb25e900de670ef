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

import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from corsgen.plan import Plan
from corsgen.regex import one_origins
from corsgen.rules.table import Violation
from corsgen.targets import yaml_lines
from corsgen.targets.base import SHARED, WRAPPER, Part, Target, preflight_always_200

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
        wrapper = root / (WRAPPER + ".yaml")
        wrapper.write_text(bootstrap(files))
        return [binary, "--mode", "validate", "-c", str(wrapper), "-l", "warning"]

    def error_lines(self, output: str) -> list[str]:
        # "[2026-...][123][critical][main] [source/...:76] error initializing configuration ..."
        return [_CRITICAL.sub("", line) for line in output.splitlines() if "[critical]" in line]


def _indented(text: str, spaces: int) -> str:
    return "".join(" " * spaces + line + "\n" for line in text.splitlines() if line.strip())


def bootstrap(files: Mapping[str, str]) -> str:
    """A bootstrap around the fragments: their filters, then the router; a virtual host for each
    policy, answering directly. Any regex size is allowed: CG501 tells the user the one needed."""
    filters = "".join(
        _indented(text, 10) for name, text in files.items() if name.endswith(FILTERS.suffix)
    )
    policies = [text for name, text in sorted(files.items()) if not name.endswith(FILTERS.suffix)]
    hosts = "".join(
        f'            - name: {WRAPPER}-{n}\n              domains: ["{n}.test"]\n'
        '              routes:\n              - match: {prefix: "/"}\n'
        "                direct_response: {status: 200}\n" + _indented(text, 14)
        for n, text in enumerate(policies)
    )
    router = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
    manager = (
        "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3."
        "HttpConnectionManager"
    )
    return (
        "layered_runtime:\n  layers:\n  - name: corsgen\n    static_layer:\n"
        "      re2.max_program_size.error_level: 4294967295\n"
        "static_resources:\n  listeners:\n  - name: corsgen\n"
        "    address: {socket_address: {address: 127.0.0.1, port_value: 1}}\n"
        "    filter_chains:\n    - filters:\n"
        "      - name: envoy.filters.network.http_connection_manager\n        typed_config:\n"
        f'          "@type": {manager}\n          stat_prefix: corsgen\n          http_filters:\n'
        f"{filters}          - name: envoy.filters.http.router\n            typed_config:\n"
        f'              "@type": {router}\n          route_config:\n            virtual_hosts:\n'
        f"{hosts}"
    )


TARGET = Envoy()
