"""Servers as processes: a free port, start and wait until it listens (and answers), stop."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from corsgen.targets.serving import free_port as free_port

# How long a server may take to listen, and then to answer as it should.
START_SECONDS = 20


def _wait(proc: subprocess.Popen[bytes], ports: Iterable[int], log: Path) -> None:
    deadline = time.monotonic() + START_SECONDS
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


def answers(port: int, path: str, ready: Callable[[http.client.HTTPResponse], bool]) -> None:
    """Wait until the server's answer to GET `path` is `ready`: Traefik listens before its file
    provider has loaded the routers, and answers 404 until then."""
    deadline = time.monotonic() + START_SECONDS
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
