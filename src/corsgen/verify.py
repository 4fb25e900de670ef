"""Read every output back before it is written: the target's structural check, then its server.

The server's own config test (nginx -t, apache2 -t, caddy validate, ...) runs on a temporary
wrapper config the target module writes; a missing binary is reported, never counted as a pass.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from corsgen.errors import VerifyError
from corsgen.render import render
from corsgen.targets import by_name

if TYPE_CHECKING:
    from corsgen.plan import Plan

TIMEOUT = 60


def check_structure(files: Mapping[str, str], target: str) -> None:
    """Raise VerifyError, `msg in file:line`, if the rendered files do not parse."""
    by_name(target).check_structure(files)


@dataclass(frozen=True)
class ServerResult:
    target: str
    binary: str | None
    ok: bool
    output: str

    def __str__(self) -> str:
        if self.binary is None:
            # Name the program to install: "apache" alone does not say apache2 or httpd.
            wanted = " or ".join(by_name(self.target).binaries)
            return f"{self.target}: not checked, {wanted} not found on PATH"
        state = "ok" if self.ok else "FAILED"
        return f"{self.target}: {by_name(self.target).checked_by(self.binary)}: {state}"


def checked_render(plan: Plan, target: str) -> dict[str, str]:
    """The files of `plan` for `target`, parsed back (check_structure) before anyone sees them."""
    files = render(plan, target)
    check_structure(files, target)
    return files


def find_binary(target: str) -> str | None:
    return by_name(target).find_binary()


def server_check(files: Mapping[str, str], target: str, binary: str | None = None) -> ServerResult:
    """Run the server's own config test; a missing binary is reported, not raised."""
    import subprocess  # imported here: only --verify and `verify` run a server (start-up time)

    binary = binary or find_binary(target)
    if binary is None:
        return ServerResult(target, None, False, "")
    with tempfile.TemporaryDirectory(prefix="corsgen-") as tmp:
        root = Path(tmp)
        for name, text in files.items():
            (root / name).write_text(text, encoding="utf-8")
        command = by_name(target).config_test_command(binary, root, files)
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
        lines = by_name(target).error_lines(output)
        raise VerifyError(f"{binary} rejected the output: {' | '.join(lines[-3:])}", target)
    return ServerResult(target, binary, True, output)
