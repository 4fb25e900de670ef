"""`corsgen verify --config` on nginx configs as users write them (the real nginx serving these
traps is tests/conformance/nginx_contexts_test.py); one config per finding the audit can give."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from corsgen.cli import main
from corsgen.plan import build_plan
from corsgen.policy import parse_policy
from corsgen.render import render

HTTP = "    include cors/api.http.conf;\n"
ORIGIN = 'allow_origins = ["https://a.com"]'
# Each server {} body, and the finding it must give as (line, rule id, words of its message).
CONFIGS: dict[str, tuple[str, str, list[tuple[int, str, str]]]] = {
    "ok-server": (HTTP, "include cors/api.conf;\nlocation / { location /a/ { } }", []),
    "ok-location": (
        HTTP,
        "add_header X-Frame-Options DENY;\n"
        "location / { include cors/api.conf; add_header X-Frame-Options DENY; auth_basic x; }",
        [],
    ),
    "add-header": (
        HTTP,
        "include cors/api.conf;\nlocation /static/ {\n"
        '    if ($arg_x) { add_header Cache-Control "no-store"; }\n}',
        [(9, "CG402", "add_header Cache-Control here drops every CORS header of api")],
    ),
    "hide-header": (
        HTTP,
        "include cors/api.conf;\nlocation / { proxy_hide_header X-Powered-By; }",
        [(8, "CG402", "a *_hide_header here drops those of api")],
    ),
    "dropped": (
        HTTP,
        "add_header Content-Security-Policy \"default-src 'self'\";\nadd_header X-A b;\n"
        "location / { include cors/api.conf; add_header X-A b; }",
        [(9, "CG403", "(1, the first Content-Security-Policy at")],
    ),
    "nested": (
        HTTP,
        "location / {\n    include cors/api.conf;\n    location /a/ { }\n}",
        [(9, "CG404", "a preflight here goes to the handler")],
    ),
    "nested-auth": (
        HTTP,
        "auth_request /auth;\nlocation / {\n    include cors/api.conf;\n"
        "    location /a/ { auth_basic off; }\n}",
        [(10, "CG404", "meets auth_request at")],
    ),
    "server-wide": (
        HTTP + "    include cors/web.http.conf;\n",
        "include cors/web.conf;\nlocation / { include cors/api.conf; }",
        [(9, "CG404", "web's snippet in the server block, at")],
    ),
    "missing": (
        "",
        "location / { include cors/api.conf; }",
        [(6, "CG405", "but not api.http.conf")],
    ),
    "none": (HTTP, "location / { }", [(0, "CG406", "no file this config includes carries")]),
    "parse": (HTTP, "location / { include cors/api.conf; map $a $b { } }", [(7, "CG401", "map")]),
    "named-location": (
        HTTP,
        "location /files/ {\n    include cors/api.conf;\n    try_files $uri @backend;\n}\n"
        "location @backend { return 200; }",
        [(9, "CG402", "try_files here hands the request to @backend, which answers it without")],
    ),
    "ok-named-location": (
        HTTP,
        "location /files/ { include cors/api.conf; error_page 404 @backend; }\n"
        "location @backend { include cors/api.conf; return 200; }",
        [],
    ),
    # A glob that matches the file it is in: crossplane reads each file once, the reader must too.
    "loop": (HTTP, "include nginx*.conf;", [(7, "CG401", "leads back to")]),
}


def write_config(root: Path, name: str) -> Path:
    """The user's nginx.conf for CONFIGS[name], with corsgen's files in root/cors/."""
    http, server, _ = CONFIGS[name]
    (root / "cors").mkdir(exist_ok=True)
    for policy in ("api", "web"):
        plan = build_plan(parse_policy(ORIGIN, f"{policy}.toml"), policy, f"{policy}.toml")
        files = render(plan, "nginx")
        for file, text in files.items():
            (root / "cors" / file).write_text(text)
    body = "".join(f"        {line}\n" for line in server.splitlines())
    conf = root / "nginx.conf"
    conf.write_text(
        "events {}\n\nhttp {\n"  # lines 1-3
        + http  # line 4, and 5 when there are two
        + "    server {\n        listen 8080;\n"
        + body
        + "    }\n}\n"
    )
    return conf


def verify_config(name: str) -> Callable[[Path], None]:
    """Run `corsgen verify --config` on CONFIGS[name], expecting exit 1 when it finds anything."""

    def run(tmp_path: Path) -> None:
        conf = write_config(tmp_path, name)
        code = main(["verify", "--config", str(conf), "--target", "nginx"])
        assert code == (1 if CONFIGS[name][2] else 0)

    return run


@pytest.mark.parametrize("name", CONFIGS)
def test_each_config_gives_its_findings(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    verify_config(name)(tmp_path)
    out = capsys.readouterr()
    lines = [line for line in out.err.splitlines() if " error CG" in line]
    expected = CONFIGS[name][2]
    assert len(lines) == len(expected), out.err
    for line, (number, rule, words) in zip(lines, expected, strict=True):
        where = f"{tmp_path}/nginx.conf:{number}:" if number else f"{tmp_path}/nginx.conf:"
        assert line.startswith(where) and f" error {rule} " in line and words in line, line
        assert "; fix: " in line
    if not expected:
        assert out.out.strip().endswith("nginx.conf: ok")


@pytest.mark.parametrize("kind", ["fifo", "device", "huge"])
@pytest.mark.parametrize("how", ["config", "include"])
def test_a_file_that_is_no_config_is_named_not_read(
    kind: str, how: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A FIFO hung crossplane, /dev/zero and a 100 MB file kept it reading: each is refused by
    name before crossplane opens anything."""
    odd = tmp_path / "odd.conf"
    if kind == "fifo":
        os.mkfifo(odd)
    elif kind == "device":
        odd = Path("/dev/zero")
    else:
        with odd.open("wb") as handle:
            handle.truncate(100 * 1024 * 1024)
    conf = write_config(tmp_path, "ok-server")
    if how == "include":
        conf.write_text(conf.read_text().replace("listen 8080;", f"listen 8080; include {odd};"))
    assert main(["verify", "--config", str(conf if how == "include" else odd), "-t", "nginx"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"corsgen: cannot read {odd}"), err
    assert ("included at " in err) == (how == "include"), err
