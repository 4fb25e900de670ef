"""gixy-ng, nginx's security linter, on every example together in one http {}."""

from __future__ import annotations

import subprocess
import sysconfig
from pathlib import Path

from corsgen.pipeline import load_and_plan
from corsgen.render import render
from testing.binaries import need_binary
from testing.paths import EXAMPLES

GIXY = Path(sysconfig.get_path("scripts"), "gixy")


def _gixy(config: Path) -> subprocess.CompletedProcess[str]:
    need_binary("gixy-ng", GIXY.exists())
    return subprocess.run([str(GIXY), str(config)], capture_output=True, text=True, check=False)


def test_examples_pass_gixy(tmp_path: Path) -> None:
    http, locations = "", ""
    for path in sorted(EXAMPLES.glob("*.toml")):
        plan = load_and_plan(path)[0]
        for name, text in render(plan, "nginx").items():
            (tmp_path / name).write_text(text)
        http += f"    include {tmp_path}/{plan.name}.http.conf;\n"
        locations += (
            f"        location /{plan.name}/ {{ include {tmp_path}/{plan.name}.conf; "
            "proxy_pass http://127.0.0.1:9; }\n"
        )
    config = tmp_path / "nginx.conf"
    config.write_text(
        f"events {{}}\nhttp {{\n    server_tokens off;\n{http}    server {{\n"
        f"        listen 127.0.0.1:8080;\n{locations}    }}\n}}\n"
    )
    result = _gixy(config)
    assert result.returncode == 0, result.stdout + result.stderr


def test_gixy_does_flag_the_usual_snippet(tmp_path: Path) -> None:
    """The widely copied pattern: an unanchored origin regex, add_header inside if."""
    config = tmp_path / "nginx.conf"
    config.write_text(
        "events {}\nhttp {\n    server_tokens off;\n    server {\n        listen 127.0.0.1:8080;\n"
        "        location / {\n"
        '            if ($http_origin ~* "https://.+\\.example\\.com") {\n'
        "                add_header Access-Control-Allow-Origin $http_origin;\n            }\n"
        "            proxy_pass http://127.0.0.1:9;\n        }\n    }\n}\n"
    )
    result = _gixy(config)
    assert result.returncode != 0 and "origins" in result.stdout
