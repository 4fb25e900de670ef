"""Traefik's config test, which Traefik lacks: start it, ask its API, stop it.

`python -m corsgen.targets.traefik_check TRAEFIK DIR ROUTER...` starts TRAEFIK with the file
provider on DIR, an entrypoint and its API on free loopback ports, and waits until every ROUTER
(defined by the wrapper in DIR, each using one middleware) is enabled. It exits 1, printing the
errors, when one is disabled, when Traefik logs an error (a file it cannot decode drops the whole
directory, and only the log says so), when it exits, or after TIMEOUT seconds; 0 once all are
enabled while it still runs. Nothing is ever served: the entrypoint only exists so that the
routers, and their middlewares, are built.

Traefik takes its static configuration from one source: a traefik.yml in the working directory or
/etc/traefik, if there is one, over any flag. So the check writes its own file, passes it with
--configFile and runs in a directory of its own: the user's file never decides what is checked.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

TIMEOUT = 30.0
POLL = 0.05


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def static(
    directory: Path,
    entrypoints: Mapping[str, int],
    api: int | None = None,
    log: Path | None = None,
    ping: bool = False,
) -> str:
    """A static configuration: loopback entrypoints, the file provider on `directory` (and what is
    below it), the API on the entrypoint named traefik when `api` is given, errors only, to `log`
    as JSON when given; with `ping`, ping@internal for a router to name."""
    points = dict(entrypoints) | ({"traefik": api} if api is not None else {})
    text = "entryPoints:\n" + "".join(
        f"  {name}:\n    address: {json.dumps(f'127.0.0.1:{port}')}\n"
        for name, port in points.items()
    )
    text += f"providers:\n  file:\n    directory: {json.dumps(str(directory))}\n    watch: false\n"
    if api is not None:
        text += "api:\n  insecure: true\n  dashboard: false\n"
    if ping:
        text += "ping:\n  manualRouting: true\n"
    # No call home: a test or check runs offline, and a user's CI has no business being counted.
    text += "global:\n  checkNewVersion: false\n  sendAnonymousUsage: false\n"
    text += "log:\n  level: ERROR\n"
    if log is not None:
        text += f"  format: json\n  filePath: {json.dumps(str(log))}\n"
    return text


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
    with tempfile.TemporaryDirectory(prefix="corsgen-traefik-") as tmp:
        here = Path(tmp)
        log, said, config = here / "traefik.log", here / "said.txt", here / "static.yml"
        api = _free_port()
        config.write_text(static(root, {"web": _free_port()}, api, log))
        with said.open("wb") as out:
            proc = subprocess.Popen(
                [binary, f"--configFile={config}"], cwd=here, stdout=out, stderr=subprocess.STDOUT
            )
        try:
            errors = _wait(proc, api, log, routers)
            if not errors and proc.poll() is not None:  # another process's API answered
                errors = [f"Traefik exited, status {proc.returncode}"]
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        # What Traefik printed itself (a flag it refused, a panic), after its log's errors.
        return errors + (said.read_text(errors="replace").splitlines() if errors else [])


def _wait(proc: subprocess.Popen[bytes], api: int, log: Path, routers: Sequence[str]) -> list[str]:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return _errors(log) or [f"Traefik exited, status {proc.returncode}"]
        if errors := _errors(log):
            return errors
        shown = [_router(api, name) for name in routers]
        if all(errors is not None for errors in shown):
            return [error for errors in shown if errors is not None for error in errors]
        time.sleep(POLL)
    return [f"no answer from Traefik's API within {TIMEOUT:.0f} s"]


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
