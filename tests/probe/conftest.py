"""Every flaw of flawed.py served for real: one process per server build, started when a test first
needs it and kept for the session, each flaw on a port of its own; the upstream behind them all."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path

import pytest

from corsgen.verify import find_binary
from tests.conformance.servers import (
    DEBIAN_CADDY,
    PASSWORD,
    TEMP_PATHS,
    USER,
    apache_head,
    free_port,
    latest_caddy,
    process,
)
from tests.conformance.upstream import Upstream
from tests.conftest import need_binary
from tests.probe.flawed import FLAWS, Flaw, Server

# Server build to the templates it runs: both Caddys, whose Caddyfile parsers differ.
KINDS: Mapping[str, Server] = {
    "nginx": "nginx",
    "apache": "apache",
    "caddy-debian": "caddy",
    "caddy-latest": "caddy",
}

# Each flaw's filled templates (Flaw.files), by the flaw's name.
Rendered = Mapping[str, Mapping[str, str]]


def _binary(kind: str) -> str | None:
    if kind == "caddy-debian":
        return DEBIAN_CADDY if Path(DEBIAN_CADDY).exists() else None
    if kind == "caddy-latest":
        return latest_caddy()
    return find_binary(kind)


def _nginx(binary: str, root: Path, rendered: Rendered) -> list[str]:
    http = ""
    for name, files in rendered.items():
        (root / f"cors-{name}.conf").write_text(files["cors"])
        http += files["http"]
    (root / "htpasswd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}\n")  # for the /auth/ locations
    temps = "".join(f"{t}_temp_path {root}/{t};\n" for t in TEMP_PATHS)
    user = "user root;\n" if os.geteuid() == 0 else ""  # else nginx drops to nobody, who can't
    (root / "nginx.conf").write_text(
        f"{user}daemon off;\nworker_processes 1;\npid {root}/nginx.pid;\n"
        f"error_log {root}/error.log warn;\nevents {{ worker_connections 256; }}\n"
        f"http {{\naccess_log off;\n{temps}{http}}}\n"
    )
    return [binary, "-p", str(root), "-c", str(root / "nginx.conf")]


def _apache(binary: str, root: Path, rendered: Rendered) -> list[str]:
    # apache_head loads the modules and writes the htpasswd the /auth/ locations name.
    vhosts = "".join(files["vhost"] for files in rendered.values())
    (root / "httpd.conf").write_text(apache_head(root) + vhosts)
    return [binary, "-f", str(root / "httpd.conf"), "-DFOREGROUND"]


def _caddy(binary: str, root: Path, rendered: Rendered) -> list[str]:
    sites = "".join(files["site"] for files in rendered.values())
    (root / "Caddyfile").write_text("{\n    admin off\n    auto_https off\n}\n" + sites)
    return [binary, "run", "--adapter", "caddyfile", "--config", str(root / "Caddyfile")]


LAUNCH: Mapping[Server, Callable[[str, Path, Rendered], list[str]]] = {
    "nginx": _nginx,
    "apache": _apache,
    "caddy": _caddy,
}


class Servers:
    """Each server build started on first use, with every flaw of its server; stopped with the
    session."""

    def __init__(self, stack: ExitStack, upstream: int) -> None:
        self.stack = stack
        self.upstream = upstream
        self.ports: dict[str, dict[str, int]] = {}

    def port(self, kind: str, flaw: Flaw) -> int:
        if kind not in self.ports:
            self.ports[kind] = self._start(kind, [f for f in FLAWS if f.server == KINDS[kind]])
        return self.ports[kind][flaw.name]

    def _start(self, kind: str, flaws: Sequence[Flaw]) -> dict[str, int]:
        binary = _binary(kind)
        need_binary(kind, binary)
        assert binary is not None
        root = Path(self.stack.enter_context(tempfile.TemporaryDirectory(prefix="corsgen-probe-")))
        root.chmod(0o755)  # httpd reads it as nobody
        ports = {flaw.name: free_port() for flaw in flaws}
        dead = free_port()  # nothing listens there: the server's own 502 (httpd's 503)
        rendered = {f.name: f.files(ports[f.name], root, self.upstream, dead) for f in flaws}
        command = LAUNCH[KINDS[kind]](binary, root, rendered)
        self.stack.enter_context(process(command, root, ports.values()))
        return ports


@pytest.fixture(scope="session")
def servers(upstream: Upstream) -> Iterator[Servers]:
    with ExitStack() as stack:
        yield Servers(stack, upstream.port)
