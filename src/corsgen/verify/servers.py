"""Ask the real servers: nginx -t, apache2 -t and caddy validate, on a temporary wrapper config."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from corsgen.errors import VerifyError
from corsgen.render import Target
from corsgen.verify.nginx import wrapper as nginx_wrapper

APACHE_BINARIES = ("apache2", "httpd")
APACHE_MODULE_DIRS = (
    "/usr/lib/apache2/modules",
    "/usr/lib64/httpd/modules",
    "/usr/lib/httpd/modules",
    "/usr/local/apache2/modules",
)
# What the snippet needs, plus an MPM so httpd will start at all.
APACHE_MODULES = ("mpm_event", "authz_core", "headers", "setenvif", "rewrite")
BINARIES: dict[Target, tuple[str, ...]] = {
    "nginx": ("nginx",),
    "apache": APACHE_BINARIES,
    "caddy": ("caddy",),
}
TIMEOUT = 60


@dataclass(frozen=True)
class ServerResult:
    target: Target
    binary: str | None
    ok: bool
    output: str

    def __str__(self) -> str:
        if self.binary is None:
            # Name the program to install: "apache" alone does not say apache2 or httpd.
            wanted = " or ".join(BINARIES[self.target])
            return f"{self.target}: not checked, {wanted} not found on PATH"
        state = "ok" if self.ok else "FAILED"
        return f"{self.target}: {self.binary}: {state}"


def find_binary(target: Target) -> str | None:
    path = os.environ.get("PATH", "") + os.pathsep + "/usr/sbin:/sbin"
    return next((found for n in BINARIES[target] if (found := shutil.which(n, path=path))), None)


def apache_module_lines(modules: tuple[str, ...] = APACHE_MODULES) -> str:
    """LoadModule lines for modules not compiled in, from the first module directory present."""
    directory = next((d for d in APACHE_MODULE_DIRS if Path(d).is_dir()), APACHE_MODULE_DIRS[0])
    return "".join(
        f"LoadModule {m}_module {directory}/mod_{m}.so\n"
        for m in modules
        if Path(directory, f"mod_{m}.so").exists()
    )


def _apache_wrapper(root: Path, snippet: str) -> str:
    return (
        f"ServerRoot {root}\nServerName localhost\nPidFile {root}/httpd.pid\n"
        f"ErrorLog {root}/error.log\nListen 127.0.0.1:8080\n{apache_module_lines()}"
        f"<VirtualHost 127.0.0.1:8080>\n    Include {root}/{snippet}\n</VirtualHost>\n"
    )


def _caddy_wrapper(snippet: str) -> str:
    return (
        "{\n\tadmin off\n\tauto_https off\n}\n"
        f"http://127.0.0.1:0 {{\n\timport {snippet}\n\trespond 200\n}}\n"
    )


def _command(target: Target, binary: str, root: Path, files: Mapping[str, str]) -> list[str]:
    names = list(files)
    if target == "nginx":
        http_part = next(n for n in names if n.endswith(".http.conf"))
        location = next(n for n in names if n != http_part)
        conf = root / "nginx.conf"
        conf.write_text(
            f"pid {root}/nginx.pid;\nerror_log {root}/error.log;\n"
            + nginx_wrapper(str(root / http_part), str(root / location))
        )
        return [binary, "-t", "-q", "-p", str(root), "-c", str(conf)]
    if target == "apache":
        conf = root / "httpd.conf"
        conf.write_text(_apache_wrapper(root, names[0]))
        return [binary, "-t", "-f", str(conf)]
    conf = root / "Caddyfile"
    conf.write_text(_caddy_wrapper(str(root / names[0])))
    return [binary, "validate", "--adapter", "caddyfile", "--config", str(conf)]


def server_check(
    files: Mapping[str, str], target: Target, binary: str | None = None
) -> ServerResult:
    """Run the server's own config test; a missing binary is reported, not raised."""
    binary = binary or find_binary(target)
    if binary is None:
        return ServerResult(target, None, False, "")
    with tempfile.TemporaryDirectory(prefix="corsgen-") as tmp:
        root = Path(tmp)
        for name, text in files.items():
            (root / name).write_text(text, encoding="utf-8")
        command = _command(target, binary, root, files)
        try:
            proc = subprocess.run(
                command,
                capture_output=True,
                text=True,
                timeout=TIMEOUT,
                check=False,
                env={**os.environ, "HOME": tmp},
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise VerifyError(f"{binary} could not run: {exc}", target) from None
        output = (proc.stdout + proc.stderr).replace(tmp + "/", "")
    if proc.returncode != 0:
        lines = [ln for ln in output.splitlines() if ln.strip() and '"level":"info"' not in ln]
        raise VerifyError(f"{binary} rejected the output: {' | '.join(lines[-3:])}", target)
    return ServerResult(target, binary, True, output)
