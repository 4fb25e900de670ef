"""Each target's benchmark server: a fixed 200 on 127.0.0.1, with one CORS configuration.

A configuration is corsgen's output, the floor (the same server setting the same headers
statically), no CORS at all, or a hand-written snippet. The response is the cheapest each server
has (nginx `return`, Caddy `respond`, a small static file for Apache httpd), so what differs
between two servers is the CORS configuration alone.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from tempfile import TemporaryDirectory

import yaml

from corsgen.plan import Plan
from corsgen.targets.traefik import middleware as traefik_middleware
from corsgen.targets.traefik_check import static as traefik_static
from corsgen.verify import find_binary
from tests.conformance.servers import (
    DEBIAN_CADDY,
    ENVOY_ROUTER,
    TEMP_PATHS,
    answers,
    apache_head,
    caddy_version,
    envoy_cluster,
    envoy_command,
    envoy_listener,
    free_port,
    latest_caddy,
    process,
    write_snippets,
)

PATH = "/ok.txt"  # every server answers it with "ok"
HANDWRITTEN = Path(__file__).parent / "handwritten"


@dataclass(frozen=True)
class Setup:
    """One CORS configuration: corsgen's plan, static headers, a hand-written snippet, or none."""

    plan: Plan | None = None
    headers: Mapping[str, str] | None = None
    snippet: str = ""
    # The static CORS headers also replace an upstream's copies, as corsgen's output promises:
    # what that promise alone costs each server, with no origin check at all.
    replace_upstream: bool = False

    def replaced(self) -> dict[str, str]:
        """The headers to replace: the Access-Control-* ones. Vary is added to, as corsgen does,
        never replaced."""
        if not self.replace_upstream:
            return {}
        headers = self.headers or {}
        return {k: v for k, v in headers.items() if k.lower().startswith("access-control-")}


# What each target writes: the files go in the server's directory, `http` is included once at the
# top level (nginx http {}), `site` where the request is served. Returns (http, site).
Write = Callable[[Path, Setup], tuple[str, str]]
# (directory, port, http, site) to the command that runs the server in the foreground.
Launch = Callable[[str, Path, int, str, str], list[str]]


def _nginx(root: Path, setup: Setup) -> tuple[str, str]:
    if setup.plan is not None:
        shared = write_snippets(root, (setup.plan,), "nginx")
        http = "".join(f"include {root}/{name};\n" for name in shared)
        http += f"include {root}/{setup.plan.name}.http.conf;\n"
        return http, f"include {root}/{setup.plan.name}.conf;\n"
    headers = "".join(f'add_header {k} "{v}" always;\n' for k, v in (setup.headers or {}).items())
    # proxy_hide_header is decided when nginx reads its config: nothing per request.
    headers += "".join(f"proxy_hide_header {k};\n" for k in setup.replaced())
    return "", headers + setup.snippet


def _nginx_launch(binary: str, root: Path, port: int, http: str, site: str) -> list[str]:
    user = "user root;\n" if os.geteuid() == 0 else ""
    temps = "".join(f"{t}_temp_path {root}/{t};\n" for t in TEMP_PATHS)
    (root / "nginx.conf").write_text(
        f"{user}daemon off;\nworker_processes 1;\npid {root}/nginx.pid;\n"
        f"error_log {root}/error.log warn;\nevents {{ worker_connections 1024; }}\n"
        f"http {{\naccess_log off;\nkeepalive_requests 1000000;\n{temps}{http}"
        f"server {{\nlisten 127.0.0.1:{port};\nlocation / {{\n{site}"
        'default_type text/plain;\nreturn 200 "ok\\n";\n}\n}\n}\n'
    )
    return [binary, "-p", str(root), "-c", str(root / "nginx.conf")]


def _apache(root: Path, setup: Setup) -> tuple[str, str]:
    if setup.plan is not None:
        write_snippets(root, (setup.plan,), "apache")
        return "", f"Include {root}/{setup.plan.name}.conf\n"
    headers = "".join(f'Header always set {k} "{v}"\n' for k, v in (setup.headers or {}).items())
    # A proxied response's own headers are in the onsuccess table.
    headers = "".join(f"Header onsuccess unset {k}\n" for k in setup.replaced()) + headers
    return "", headers + setup.snippet


# One process of threads, as nginx has one worker: the server runs on one core either way.
_APACHE_MPM = (
    "StartServers 1\nServerLimit 1\nThreadLimit 64\nThreadsPerChild 64\nMaxRequestWorkers 64\n"
    "MinSpareThreads 1\nMaxSpareThreads 64\nKeepAlive On\nMaxKeepAliveRequests 0\n"
)
_APACHE_MODULES = ("mpm_event", "authz_core", "headers", "setenvif", "rewrite")


def _apache_launch(binary: str, root: Path, port: int, http: str, site: str) -> list[str]:
    docroot = root / "docroot"
    docroot.mkdir(exist_ok=True)
    (docroot / PATH.lstrip("/")).write_text("ok\n")
    (root / "httpd.conf").write_text(
        apache_head(root, _APACHE_MODULES)
        + _APACHE_MPM
        + http
        + f"Listen 127.0.0.1:{port}\n<VirtualHost 127.0.0.1:{port}>\nDocumentRoot {docroot}\n"
        f"<Directory {docroot}>\nRequire all granted\n</Directory>\n{site}</VirtualHost>\n"
    )
    return [binary, "-f", str(root / "httpd.conf"), "-DFOREGROUND"]


def _caddy(root: Path, setup: Setup) -> tuple[str, str]:
    if setup.plan is not None:
        write_snippets(root, (setup.plan,), "caddy")
        return "", f"import {root}/{setup.plan.name}.caddy\n"
    # One header block: the cheapest way Caddy sets several headers.
    lines = "".join(f'\t{k} "{v}"\n' for k, v in (setup.headers or {}).items())
    if again := "".join(f'\t{k} "{v}"\n' for k, v in setup.replaced().items()):
        # Set again when the response is written, over what reverse_proxy copied: the deferred
        # block corsgen's output needs too (set now as well, or Caddy's own errors lack them).
        lines += f"}}\nheader {{\n\tdefer\n{again}"
    return "", (f"header {{\n{lines}}}\n" if lines else "") + setup.snippet


def _caddy_launch(binary: str, root: Path, port: int, http: str, site: str) -> list[str]:
    (root / "Caddyfile").write_text(
        f"{{\n\tadmin off\n\tauto_https off\n}}\n{http}"
        f'http://127.0.0.1:{port} {{\n{site}respond "ok" 200\n}}\n'
    )
    return [binary, "run", "--adapter", "caddyfile", "--config", str(root / "Caddyfile")]


def _haproxy(root: Path, setup: Setup) -> tuple[str, str]:
    """("from SECTION" for the frontend, or "", and the frontend's lines)."""
    if setup.plan is not None:
        write_snippets(root, (setup.plan,), "haproxy")
        return f"from corsgen_{setup.plan.name}", ""
    replaced = "".join(f"    http-after-response del-header {k}\n" for k in setup.replaced())
    headers = "".join(
        f'    http-after-response set-header {k} "{v}"\n' for k, v in (setup.headers or {}).items()
    )
    return "", replaced + headers + setup.snippet


def _haproxy_launch(binary: str, root: Path, port: int, http: str, site: str) -> list[str]:
    # One thread, as nginx has one worker; HAProxy answers itself (`return`), as nginx does.
    (root / "haproxy.cfg").write_text(
        "global\n    nbthread 1\n    maxconn 4096\ndefaults\n    mode http\n"
        "    timeout connect 5s\n    timeout client 30s\n    timeout server 30s\n"
        f"frontend bench {http}\n    bind 127.0.0.1:{port}\n    timeout client 30s\n{site}"
        '    http-request return status 200 content-type text/plain string "ok"\n'
    )
    snippets = [
        arg
        for path in sorted(root.glob("*.cfg"))
        if path.name != "haproxy.cfg"
        for arg in ("-f", str(path))
    ]
    return [binary, "-db", *snippets, "-f", str(root / "haproxy.cfg")]


def _haproxy_version(binary: str) -> str:
    out = subprocess.run([binary, "-v"], capture_output=True, text=True, check=False).stdout
    return out.split()[2] if len(out.split()) > 2 else out.strip()


# Traefik's file provider reads a directory and all below it: the static file stays out of it.
DYNAMIC = "dynamic"


def _traefik(root: Path, setup: Setup) -> tuple[str, str]:
    """("", the middleware the router names, or "" for none), written in DYNAMIC."""
    dynamic = root / DYNAMIC
    dynamic.mkdir()
    if setup.plan is not None:
        write_snippets(dynamic, (setup.plan,), "traefik")
        return "", traefik_middleware(setup.plan) + "@file"
    if setup.snippet:
        (dynamic / "handwritten.yml").write_text(setup.snippet)
        return "", "handwritten@file"
    if not setup.headers:
        return "", ""
    # customResponseHeaders sets each over the upstream's copy: replacing costs nothing more.
    lines = "".join(f'          {k}: "{v}"\n' for k, v in setup.headers.items())
    head = "http:\n  middlewares:\n    floor:\n      headers:\n        customResponseHeaders:\n"
    (dynamic / "floor.yml").write_text(head + lines)
    return "", "floor@file"


def _traefik_launch(binary: str, root: Path, port: int, http: str, site: str) -> list[str]:
    # Traefik answers itself (the ping handler's 200 "OK", on the same entrypoint), as nginx does.
    middlewares = f"      middlewares: [{site}]\n" if site else ""
    (root / DYNAMIC / "bench-router.yml").write_text(
        f"http:\n  routers:\n    bench:\n      rule: PathPrefix(`/`)\n{middlewares}"
        "      service: ping@internal\n"
    )
    (root / "traefik.yml").write_text(traefik_static(root / DYNAMIC, {"web": port}, ping=True))
    return [binary, f"--configFile={root / 'traefik.yml'}"]


def _traefik_version(binary: str) -> str:
    out = subprocess.run([binary, "version"], capture_output=True, text=True, check=False).stdout
    return out.split()[1] if len(out.split()) > 1 else out.strip()


def _envoy(root: Path, setup: Setup) -> tuple[str, str]:
    """(the HTTP filters, as YAML, and the virtual host's keys, as YAML)."""
    if setup.plan is not None:
        (filters,) = write_snippets(root, (setup.plan,), "envoy")
        return (root / filters).read_text(), (root / f"{setup.plan.name}.yaml").read_text()
    if setup.snippet:
        text = yaml.safe_load(setup.snippet)
        return yaml.safe_dump(text["http_filters"]), yaml.safe_dump(text["virtual_host"])
    # response_headers_to_add overwrites the upstream's copy: replacing costs nothing more.
    added = [
        {"header": {"key": k, "value": v}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}
        for k, v in (setup.headers or {}).items()
    ]
    return "", yaml.safe_dump({"response_headers_to_add": added} if added else {})


def _envoy_launch(binary: str, root: Path, port: int, http: str, site: str) -> list[str]:
    # The cors filter works on routes to a cluster only (none on a direct_response): the route
    # goes to a second listener of the same Envoy that answers itself, for corsgen and the floor
    # alike.
    filters = [*(yaml.safe_load(http) or []), ENVOY_ROUTER]
    behind = free_port()
    answer = {"status": 200, "body": {"inline_string": "ok\n"}}
    front = {
        "name": "bench",
        "domains": ["*"],
        "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "self"}}],
        **(yaml.safe_load(site) or {}),
    }
    answering = {"match": {"prefix": "/"}, "direct_response": answer}
    back = {"name": "self", "domains": ["*"], "routes": [answering]}
    listeners = [envoy_listener(port, filters, front), envoy_listener(behind, [ENVOY_ROUTER], back)]
    config = {
        "static_resources": {"listeners": listeners, "clusters": [envoy_cluster("self", behind)]}
    }
    return envoy_command(binary, root, config)


def _envoy_version(binary: str) -> str:
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False).stdout
    found = re.search(r"/(\d+\.\d+\.\d+)/", out)
    return found[1] if found else out.strip()


def _slash_version(binary: str) -> str:
    """The version in `nginx -v` ("nginx/1.22.1") or `apache2 -v` ("Apache/2.4.71 (Debian)")."""
    out = subprocess.run([binary, "-v"], capture_output=True, text=True, check=False)
    text = out.stdout + out.stderr
    return text.split("/", 1)[1].split()[0] if "/" in text else text.strip()


@dataclass(frozen=True)
class Bench:
    """How to benchmark one target: its builds, and how to serve a Setup with it."""

    target: str
    write: Write
    launch: Launch
    kinds: Callable[[], dict[str, str | None]]
    version: Callable[[str], str] = _slash_version

    def handwritten(self, alternation: str) -> str:
        text = (HANDWRITTEN / f"{self.target}.conf").read_text()
        return text.replace("@ALTERNATION@", alternation)


def _caddys() -> dict[str, str | None]:
    return {
        "Caddy (newest)": latest_caddy(),
        "Caddy (Debian)": DEBIAN_CADDY if Path(DEBIAN_CADDY).exists() else None,
    }


BENCH: Sequence[Bench] = (
    Bench("nginx", _nginx, _nginx_launch, lambda: {"nginx": find_binary("nginx")}),
    Bench("apache", _apache, _apache_launch, lambda: {"Apache httpd": find_binary("apache")}),
    Bench("caddy", _caddy, _caddy_launch, _caddys, caddy_version),
    Bench(
        "haproxy",
        _haproxy,
        _haproxy_launch,
        lambda: {"HAProxy": find_binary("haproxy")},
        _haproxy_version,
    ),
    Bench(
        "traefik",
        _traefik,
        _traefik_launch,
        lambda: {"Traefik": find_binary("traefik")},
        _traefik_version,
    ),
    Bench("envoy", _envoy, _envoy_launch, lambda: {"Envoy": find_binary("envoy")}, _envoy_version),
)


def pin(core: int) -> list[str]:
    """taskset to one core, when there are two to share between server and load."""
    return (
        ["taskset", "-c", str(core)]
        if (os.cpu_count() or 1) > 1 and shutil.which("taskset")
        else []
    )


@contextmanager
def serve(bench: Bench, binary: str, setup: Setup) -> Iterator[int]:
    """Run the server with `setup` on a free port, pinned to the second core; yields the port."""
    with TemporaryDirectory(prefix="corsgen-bench-") as tmp:
        root = Path(tmp)
        root.chmod(0o755)
        port = free_port()
        http, site = bench.write(root, setup)
        command = bench.launch(binary, root, port, http, site)
        with process(command, root, (port,), prefix=pin(1)):
            answers(port, PATH, lambda response: response.status == 200)
            yield port
