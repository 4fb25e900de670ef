"""The audit corpus (tests/audit/corpus/NAME/) served by the real servers, each config with
testing/upstream.py behind it and the target's routing model read from the same files: what the
model tests, the probe-agreement test and the import round trip share. Per target, the pieces
(filling a config's placeholders, copying its files, waiting for the server) and a context
manager serving one config with them.

Placeholders each corpus fills: nginx's PORT, UPSTREAM and ROOT (and a `# host:` comment naming
the site asked when a test needs one); Apache's listening port :8080, the application's :9000
and the corpus's directory /srv/corsgen; Traefik's upstream URL 127.0.0.1:18080, on an entry
point `web`; Envoy's listener ports 1000N, its cluster's 18080 and a dead service's 18081;
HAProxy's "${PORT}" and "${UPSTREAM}", from the environment haproxy starts in (a config is a
file, or a directory whose haproxy.cfg haproxy loads after its other *.cfg files); Caddy's
environment placeholders {$CORSGEN_PORT}, {$CORSGEN_UPSTREAM} and {$CORSGEN_CORPUS}, which
`caddy adapt` (the model) and `caddy run` read from the environment.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import tempfile
import time
import urllib.request
from collections.abc import Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from corsgen.routing import Routes
from corsgen.targets import (
    caddy_routing,
    envoy_routing,
    haproxy_routing,
    nginx_routing,
    traefik_routing,
)
from corsgen.targets.apache import TARGET as APACHE
from corsgen.targets.apache_serving import head
from corsgen.targets.caddy_serving import kinds
from corsgen.targets.envoy import TARGET as ENVOY
from corsgen.targets.envoy_serving import command as envoy_command
from corsgen.targets.haproxy import TARGET as HAPROXY
from corsgen.targets.haproxy_serving import loading
from corsgen.targets.nginx import main_config
from corsgen.targets.nginx_routing import NginxRoutes
from corsgen.targets.serving import Site, slash_version
from corsgen.targets.traefik import TARGET as TRAEFIK
from corsgen.targets.traefik_check import static
from corsgen.verify import find_binary
from testing.binaries import need_binary
from testing.processes import free_port, process

CORPUS = Path(__file__).parent.parent / "tests" / "audit" / "corpus"
TRAEFIK_UPSTREAM = "127.0.0.1:18080"
ENVOY_LISTENER, ENVOY_UPSTREAM = re.compile(r"port_value: (1000\d)\b"), "port_value: 18080"
ENVOY_DEAD = "port_value: 18081"  # a service nothing answers for (an authorization service)
# Apache's: the port its virtual host listens on, the application's, the corpus's directory.
APACHE_LISTEN, APACHE_APPLICATION, APACHE_HOME = ":8080", ":9000", "/srv/corsgen"
# Each DocumentRoot holds a file for every path asked (SetHandler hands files only to the
# application, and <Directory> applies to directories that exist): htaccess/ has .htaccess files.
APACHE_DOCUMENT_ROOTS = ("docroot", "htaccess")
APACHE_PATHS = (
    "/api/ok",
    "/api/admin/ok",
    "/api/private/ok",
    "/own-cors",
    "/errors/401.json",  # the files ErrorDocument names
    "/errors/404.json",
)


# The files of a corpus that are configs, where not every entry is one (the rest is what they
# include or serve).
_CONFIGS = {"nginx": "*.conf", "apache": "*.conf", "caddy": "*.Caddyfile"}


def configs(target: str) -> list[str]:
    """The corpus's configs of a target: its files matching _CONFIGS, else each file or
    directory."""
    pattern = _CONFIGS.get(target)
    found = (CORPUS / target).glob(pattern) if pattern else (CORPUS / target).iterdir()
    return sorted(p.name for p in found)


@dataclass(frozen=True)
class Served:
    """A corpus config on its real server, and the model of the same files."""

    routes: Routes
    ports: tuple[int, ...]  # every port it listens on, the first the default
    text: str  # the config as written in the corpus (nginx: the file named)


def nginx_version(binary: str) -> tuple[int, int, int]:
    """The version `nginx -v` names: the model follows it (add_header_inherit from 1.29.3)."""
    major, minor, patch = (int(n) for n in slash_version(binary).split(".")[:3])
    return major, minor, patch


def nginx_fill(root: Path, name: str, port: int, upstream: int) -> Path:
    """The corpus copied into `root` (www/, htpasswd and cors/ beside each config), and the
    config `name` written there with PORT, UPSTREAM and ROOT filled: the file nginx includes in
    http {}, and the model loads."""
    root.chmod(0o755)
    shutil.copytree(CORPUS / "nginx", root, dirs_exist_ok=True)
    text = (CORPUS / "nginx" / name).read_text()
    served = text.replace("PORT", str(port)).replace("UPSTREAM", f"127.0.0.1:{upstream}")
    (root / name).write_text(served.replace("ROOT", str(root)))
    return root / name


def nginx_binary() -> str:
    """The nginx the corpus is served by."""
    binary = find_binary("nginx")
    need_binary("nginx", binary)
    assert binary is not None
    return binary


def nginx_loaded(root: Path, name: str, port: int, upstream: int) -> tuple[Path, NginxRoutes]:
    """The corpus config filled in `root` (nginx_fill) and its model, as the nginx the corpus is
    served by runs it, asked from 127.0.0.1."""
    config = nginx_fill(root, name, port, upstream)
    version = nginx_version(nginx_binary())
    routes, errors = nginx_routing.load([config], client="127.0.0.1", version=version)
    assert routes is not None, errors
    return config, routes


@contextmanager
def nginx(name: str, root: Path, upstream: int) -> Iterator[Served]:
    binary = nginx_binary()
    port = free_port()
    config, routes = nginx_loaded(root, name, port, upstream)
    conf = main_config(root, f"    include {config};\n", serve=True)
    with process([binary, "-p", str(root), "-c", str(conf)], root, [port]):
        yield Served(routes, (port,), (CORPUS / "nginx" / name).read_text())


def traefik_loaded(api: int, routers: int) -> None:
    """Wait until Traefik's API lists every router the files define."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{api}/api/http/routers") as answer:
                listed = [r for r in json.load(answer) if r["name"].endswith("@file")]
                if len(listed) == routers:
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError("Traefik did not load the routers")


def traefik_files(name: str) -> list[Path]:
    """A Traefik corpus config's files: the file, or each file of the directory."""
    source = CORPUS / "traefik" / name
    return sorted(source.iterdir()) if source.is_dir() else [source]


def traefik_copy(name: str, into: Path, upstream: int) -> None:
    """The config's files into the file provider's directory, the upstream the test's."""
    for file in traefik_files(name):
        text = file.read_text().replace(TRAEFIK_UPSTREAM, f"127.0.0.1:{upstream}")
        (into / file.name).write_text(text)


@contextmanager
def traefik(name: str, root: Path, upstream: int) -> Iterator[Served]:
    binary = TRAEFIK.find_binary()
    need_binary("traefik", binary)
    dynamic = root / "dynamic"
    dynamic.mkdir()
    traefik_copy(name, dynamic, upstream)
    web, api = free_port(), free_port()
    (root / "traefik.yml").write_text(static(dynamic, {"web": web}, api))
    routes, findings = traefik_routing.load([root / "traefik.yml"])
    assert routes is not None, findings
    assert routes.config.routers, "the model read no router"
    with process([str(binary), f"--configFile={root / 'traefik.yml'}"], root, [web, api]):
        traefik_loaded(api, len(routes.config.routers))
        yield Served(routes, (web,), "\n".join(f.read_text() for f in traefik_files(name)))


def envoy_filled(name: str, upstream: int) -> tuple[str, list[int]]:
    """The bootstrap with its ports filled (listeners free ports, the cluster the test upstream,
    the dead service a port nothing answers on), and the ports it listens on."""
    text = (CORPUS / "envoy" / name).read_text()
    ports = {placeholder: free_port() for placeholder in ENVOY_LISTENER.findall(text)}
    text = ENVOY_LISTENER.sub(lambda m: f"port_value: {ports[m[1]]}", text)
    text = text.replace(ENVOY_UPSTREAM, f"port_value: {upstream}")
    return text.replace(ENVOY_DEAD, f"port_value: {free_port()}"), list(ports.values())


@contextmanager
def envoy(name: str, root: Path, upstream: int) -> Iterator[Served]:
    binary = ENVOY.find_binary()
    need_binary("envoy", binary)
    served, ports = envoy_filled(name, upstream)
    run = envoy_command(str(binary), root, served)
    routes, findings = envoy_routing.load([root / "envoy.yaml"])
    assert routes is not None, findings
    with process(run, root, ports):
        yield Served(routes, tuple(ports), (CORPUS / "envoy" / name).read_text())


def apache_copied(home: Path, text: str, paths: Iterable[str] = APACHE_PATHS) -> Path:
    """The Apache corpus copied into `home`, `text` written there as served.conf with
    APACHE_HOME made that directory, and a file for each of `paths` under each DocumentRoot:
    the config's path."""
    shutil.copytree(CORPUS / "apache", home, dirs_exist_ok=True)
    home.parent.chmod(0o755)
    config = home / "served.conf"
    config.write_text(text.replace(APACHE_HOME, str(home)))
    for path, top in itertools.product(paths, APACHE_DOCUMENT_ROOTS):
        file = home / top / path.lstrip("/")
        if path.endswith("/"):  # a directory asked for
            file.mkdir(parents=True, exist_ok=True)
            continue
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text("not served: proxied\n")
    return config


def apache_filled(text: str, port: int, upstream: int) -> str:
    """An Apache corpus config's text listening on `port`, the application on `upstream`."""
    return text.replace(APACHE_LISTEN, f":{port}").replace(APACHE_APPLICATION, f":{upstream}")


@contextmanager
def apache_home() -> Iterator[Path]:
    """A directory for a copy of the corpus that httpd's children can read (not below pytest's,
    which only root may enter), removed after."""
    with tempfile.TemporaryDirectory(prefix="corsgen-apache-") as tmp:
        yield Path(tmp) / "corpus"


@contextmanager
def apache_running(home: Path, configs: Sequence[Path], ports: Sequence[int]) -> Iterator[None]:
    """apache2 on these configs, each Included in turn behind a server-wide head (in `home`) that
    loads the modules, until the block ends, once it listens on every port."""
    binary = APACHE.find_binary()
    need_binary("apache2", binary)
    httpd = home / "httpd.conf"
    httpd.write_text(head(home, Site((), {}, 0, 0)) + "".join(f"Include {c}\n" for c in configs))
    with process([str(binary), "-f", str(httpd), "-DFOREGROUND"], home, ports):
        yield


@contextmanager
def apache_text(text: str, upstream: int, paths: Iterable[str] = APACHE_PATHS) -> Iterator[Served]:
    """An httpd config (a corpus file's text) served by apache2 from a copy of the corpus in
    apache_home, and the model of the same file."""
    port = free_port()
    with apache_home() as home:
        config = apache_copied(home, apache_filled(text, port, upstream), paths)
        loaded = APACHE.routes([config])
        assert loaded.routes is not None, loaded.findings
        with apache_running(home, [config], [port]):
            yield Served(loaded.routes, (port,), text)


@contextmanager
def apache(name: str, root: Path, upstream: int) -> Iterator[Served]:
    """A config of the Apache corpus, served (from a directory of its own, not `root`)."""
    with apache_text((CORPUS / "apache" / name).read_text(), upstream) as served:
        yield served


def haproxy_files(config: Path) -> list[Path]:
    """A HAProxy config's files in haproxy's -f order: the file, or the directory's *.cfg files
    with haproxy.cfg last (as targets/haproxy_serving.py loads corsgen's sections)."""
    if config.is_file():
        return [config]
    others = sorted(p for p in config.glob("*.cfg") if p.name != "haproxy.cfg")
    return [*others, config / "haproxy.cfg"]


@contextmanager
def haproxy_served(paths: Sequence[Path], root: Path, upstream: int) -> Iterator[Served]:
    """haproxy on these files on a free port, "${PORT}", in front of "${UPSTREAM}", started in the
    directory of the last (it reads a relative errorfile from where it starts); and the model of
    the same files."""
    binary = HAPROXY.find_binary()
    need_binary("haproxy", binary)
    assert binary is not None
    port = free_port()
    environ = {"PORT": str(port), "UPSTREAM": str(upstream)}
    routes = haproxy_routing.load(paths, environ)
    here = ("env", "-C", str(paths[-1].parent), *(f"{k}={v}" for k, v in environ.items()))
    with process(loading(binary, paths), root, [port], prefix=here):
        yield Served(routes, (port,), "\n".join(p.read_text() for p in paths))


@contextmanager
def haproxy(name: str, root: Path, upstream: int) -> Iterator[Served]:
    with haproxy_served(haproxy_files(CORPUS / "haproxy" / name), root, upstream) as served:
        yield served


def caddy_environment(port: int, upstream: int) -> dict[str, str]:
    """What a Caddy corpus config reads from the environment: the port it listens on, the
    upstream, the corpus's directory (its document root, www/)."""
    return {
        "CORSGEN_PORT": str(port),
        "CORSGEN_UPSTREAM": f"127.0.0.1:{upstream}",
        "CORSGEN_CORPUS": str(CORPUS / "caddy"),
    }


@contextmanager
def caddy_running(binary: str, config: Path, root: Path, ports: Iterable[int]) -> Iterator[None]:
    """A Caddyfile run by `binary` (files in `root`) until the block ends, once it listens."""
    command = [binary, "run", "--adapter", "caddyfile", "--config", str(config)]
    with process(command, root, ports):
        yield


def caddy_binary() -> str:
    """The Caddy the corpus is served by: the newest (else Debian's)."""
    binary = kinds()["caddy-latest"] or kinds()["caddy-debian"]
    need_binary("caddy", binary)
    assert binary is not None
    return binary


@contextmanager
def caddy(name: str, root: Path, upstream: int) -> Iterator[Served]:
    """A Caddy corpus config on the newest Caddy (else Debian's), and its model: the environment
    set while both read it, and put back before the block runs (a test in it sees its own)."""
    binary = caddy_binary()
    port = free_port()
    config = CORPUS / "caddy" / name
    saved = dict(os.environ)
    with ExitStack() as stack:
        os.environ.update(caddy_environment(port, upstream))
        try:
            routes = caddy_routing.read(config, binary)
            assert not isinstance(routes, str), routes
            stack.enter_context(caddy_running(binary, config, root, [port]))
        finally:
            os.environ.clear()
            os.environ.update(saved)
        yield Served(routes, (port,), config.read_text())
