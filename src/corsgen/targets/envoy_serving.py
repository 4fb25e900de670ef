"""Envoy, started for real around corsgen's output: see targets/serving.py. The tests' bootstrap
is the config test's (envoy.bootstrap); the benchmark's is built from the YAML fragments corsgen
writes (pyyaml, of the test extra), as JSON, which Envoy reads as YAML."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from corsgen.targets.envoy import Listener, bootstrap, program_size
from corsgen.targets.serving import (
    Serving,
    Setup,
    Site,
    free_port,
    one_build,
    version_output,
    write_snippets,
)

_ENVOY = "type.googleapis.com/envoy."


def typed(name: str) -> dict[str, str]:
    """An Envoy typed_config's type, for a name under envoy."""
    return {"@type": _ENVOY + name}


ROUTER = {
    "name": "envoy.filters.http.router",
    "typed_config": typed("extensions.filters.http.router.v3.Router"),
}


def version(binary: str) -> str:
    out = version_output(binary, "--version")
    found = re.search(r"/(\d+\.\d+\.\d+)/", out)
    return found[1] if found else out.strip()


def listener(port: int, filters: list[Any], vhost: dict[str, Any]) -> dict[str, Any]:
    """A loopback listener whose HTTP connection manager runs `filters` for one virtual host."""
    manager = {
        **typed("extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"),
        "stat_prefix": f"port{port}",
        "http_filters": filters,
        "route_config": {"virtual_hosts": [vhost]},
    }
    return {
        "name": f"port{port}",
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
        "filter_chains": [{"filters": [{"name": "manager", "typed_config": manager}]}],
    }


def cluster(name: str, port: int) -> dict[str, Any]:
    """A cluster of one loopback endpoint."""
    endpoint = {"address": {"socket_address": {"address": "127.0.0.1", "port_value": port}}}
    return {
        "name": name,
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{"lb_endpoints": [{"endpoint": endpoint}]}],
        },
    }


def command(binary: str, root: Path, text: str) -> list[str]:
    """Write `text` as root/envoy.yaml (JSON is YAML too); the command that runs Envoy on it in
    the foreground."""
    (root / "envoy.yaml").write_text(text)
    # One worker thread, as nginx has one worker; no hot restart: several run at once.
    command = [binary, "-c", str(root / "envoy.yaml"), "--disable-hot-restart", "-l", "warning"]
    return [*command, "--concurrency", "1"]


def configure(context: str, binary: str, root: Path, site: Site) -> list[str]:
    """The fragments in a virtual host ("") or, "route", in each route: several policies on one
    port, each on routes of its own paths."""
    (filters,) = write_snippets(root, site.plans, "envoy")
    listeners = [
        Listener(
            port,
            tuple(((root / f"{p.name}.yaml").read_text(), site.prefix(p)) for p in plans),
        )
        for port, plans in site.servers().items()
    ]
    text = bootstrap(
        (root / filters).read_text(),
        listeners,
        on_routes=context == "route",
        upstream=site.upstream,
        dead=site.dead,
        users=site.sha_password(),
        # The regex size the policies need, as corsgen check's CG501 says to allow it.
        program_size=max(100, *(program_size(plan) for plan in site.plans)),
    )
    return command(binary, root, text)


def bench(binary: str, root: Path, port: int, setup: Setup) -> list[str]:
    """The cors filter works on routes to a cluster only (none on a direct_response): the route
    goes to a second listener of the same Envoy that answers itself, for corsgen and the floor
    alike."""
    import yaml

    filters: list[Any] = []
    host: dict[str, Any] = {}
    if setup.plan is not None:
        (shared,) = write_snippets(root, (setup.plan,), "envoy")
        filters = yaml.safe_load((root / shared).read_text()) or []
        host = yaml.safe_load((root / f"{setup.plan.name}.yaml").read_text()) or {}
    elif setup.snippet:
        text = yaml.safe_load(setup.snippet)
        filters, host = text["http_filters"] or [], text["virtual_host"] or {}
    elif setup.headers:
        # response_headers_to_add overwrites the upstream's copy: replacing costs nothing more.
        added = [
            {"header": {"key": k, "value": v}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}
            for k, v in setup.headers.items()
        ]
        host = {"response_headers_to_add": added}
    behind = free_port()
    answer = {"status": 200, "body": {"inline_string": "ok\n"}}
    front = {
        "name": "bench",
        "domains": ["*"],
        "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "self"}}],
        **host,
    }
    answering = {"match": {"prefix": "/"}, "direct_response": answer}
    back = {"name": "self", "domains": ["*"], "routes": [answering]}
    listeners = [listener(port, [*filters, ROUTER], front), listener(behind, [ROUTER], back)]
    config = {"static_resources": {"listeners": listeners, "clusters": [cluster("self", behind)]}}
    return command(binary, root, json.dumps(config))


# The fragment in a virtual host, or in each route; several policies each on its own routes.
SERVING = Serving(one_build("envoy"), configure, bench, version, ("", "route"), ("route",))
