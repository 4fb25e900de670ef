"""Every flaw of flawed.py served for real: one process per server build, started when a test first
needs it and kept for the session, each flaw on a port of its own; the upstream behind them all.
The servers' own config files are their targets' (corsgen.targets.NAME_serving)."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path

from corsgen.targets import apache_serving, caddy_serving, nginx_serving, serving_of
from corsgen.targets.serving import Site
from testing.binaries import need_binary
from testing.flawed import FLAWS, Flaw, Server
from testing.processes import free_port, process
from testing.servers import PASSWORD, USER

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
    return serving_of(KINDS[kind]).kinds()[kind]


def _nginx(binary: str, root: Path, rendered: Rendered) -> list[str]:
    http = ""
    for name, files in rendered.items():
        (root / f"cors-{name}.conf").write_text(files["cors"])
        http += files["http"]
    (root / "htpasswd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}\n")  # for the /auth/ locations
    return nginx_serving.command(binary, root, http)


def _apache(binary: str, root: Path, rendered: Rendered) -> list[str]:
    # The head loads the modules and writes the htpasswd the /auth/ locations name.
    vhosts = "".join(files["vhost"] for files in rendered.values())
    head = apache_serving.head(root, Site((), {}, 0, 0, user=USER, password=PASSWORD))
    return apache_serving.command(binary, root, head + vhosts)


def _caddy(binary: str, root: Path, rendered: Rendered) -> list[str]:
    sites = "".join(files["site"] for files in rendered.values())
    return caddy_serving.command(binary, root, sites)


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
