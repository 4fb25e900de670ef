"""Traefik's config test, which Traefik lacks: start it, ask its API, stop it.

`python -m corsgen.targets.traefik_check TRAEFIK DIR ROUTER...` starts TRAEFIK with the file
provider on DIR, an entrypoint and its API on free loopback ports, and waits until every ROUTER
(defined by the wrapper in DIR, each using one middleware) is enabled. It exits 1, printing the
errors, when one is disabled, when Traefik logs an error (a file it could not decode is dropped
whole, and only the log says so) or exits, or after TIMEOUT seconds; 0 once all are enabled.
Nothing is ever served: the entrypoint only exists so that the routers, and their middlewares,
are built.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

TIMEOUT = 30.0
POLL = 0.05


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def command(binary: str, root: Path, web: int, api: int, log: Path) -> list[str]:
    return [
        binary,
        f"--entrypoints.web.address=127.0.0.1:{web}",
        f"--entrypoints.traefik.address=127.0.0.1:{api}",
        "--api.insecure=true",
        "--api.dashboard=false",
        f"--providers.file.directory={root}",
        "--providers.file.watch=false",
        # No call home: the check runs offline, and a user's CI has no business being counted.
        "--global.checknewversion=false",
        "--global.sendanonymoususage=false",
        "--log.level=ERROR",
        "--log.format=json",
        f"--log.filepath={log}",
    ]


def _errors(log: Path) -> list[str]:
    """Each error Traefik logged, as `message: error`."""
    out = []
    text = log.read_text(errors="replace") if log.exists() else ""
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            out.append(line)
            continue
        if entry.get("level") in ("error", "fatal", "panic"):
            out.append(": ".join(str(entry[k]) for k in ("message", "error") if k in entry))
    return out


def _router(api: int, name: str) -> list[str] | None:
    """Why the router is not enabled (empty when it is), as Traefik's API says; None while the
    API does not list it yet."""
    url = f"http://127.0.0.1:{api}/api/http/routers/{name}@file"
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            shown = json.load(response)
    except (urllib.error.URLError, OSError, ValueError):
        return None
    if shown.get("status") == "enabled":
        return []
    return [str(error) for error in shown.get("error", [])] or [f"{name} is {shown.get('status')}"]


def check(binary: str, root: Path, routers: Sequence[str]) -> list[str]:
    """The errors that keep a router from loading; empty when every one is enabled."""
    log = root / "corsgen-wrapper.log"  # a "-": never a policy's file
    log.unlink(missing_ok=True)  # a try before this one's
    api = _free_port()
    proc = subprocess.Popen(
        command(binary, root, _free_port(), api, log),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                return _errors(log) + (proc.stderr.read().splitlines() if proc.stderr else [])
            if errors := _errors(log):
                return errors
            shown = [_router(api, name) for name in routers]
            if all(errors is not None for errors in shown):
                return [error for errors in shown if errors is not None for error in errors]
            time.sleep(POLL)
        return [f"no answer from Traefik's API within {TIMEOUT:.0f} s"]
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()


def main(argv: Sequence[str]) -> int:
    binary, root, *routers = argv
    for _ in range(3):
        errors = check(binary, Path(root), routers)
        # A free port may be taken by another process before Traefik binds it: new ports.
        if not any("address already in use" in error for error in errors):
            break
    for error in errors:
        print(error)
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
