"""The nginx snippet where users put it, on the real nginx: in server {} or a location, nested,
under auth, two policies in one server, two large lists in one http {}. Each config is written as a
user would write it; `corsgen audit` must find exactly the traps the server shows."""

from __future__ import annotations

import http.client
import os
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pytest

from corsgen.cli import main
from corsgen.fetch import Request, cors_check, header_value, preflight_ok
from corsgen.plan import Plan
from corsgen.render import render_parts, render_shared
from corsgen.targets.serving import Site
from corsgen.verify import find_binary
from testing.binaries import need_binary
from testing.processes import free_port
from testing.servers import running, unchecked_plan
from testing.upstream import Upstream

pytestmark = pytest.mark.conformance

PUT = 'allow_methods = ["GET", "PUT"]\n'
API = unchecked_plan("api", 'allow_origins = ["https://app.example.com"]\n' + PUT)
WEB = unchecked_plan("web", 'allow_origins = ["https://www.example.com"]\n' + PUT)
APP, WWW = "https://app.example.com", "https://www.example.com"
HSTS = "Strict-Transport-Security"


def _wide(name: str, label: str) -> Plan:
    """A list whose long origins need map_hash_bucket_size: nginx refuses the default outright."""
    host = f"{label * 60}.{label * 60}.{label * 60}.example.com"
    origins = ", ".join(f'"https://t{i:04d}.{host}"' for i in range(300))
    return unchecked_plan(name, f"allow_origins = [{origins}]\n" + PUT)


WIDE_A, WIDE_B = _wide("wide_a", "a"), _wide("wide_b", "b")


def _origin(plan: Plan, n: int = 7) -> str:
    return plan.exact_origins[n]


@pytest.fixture(scope="module")
def nginx() -> str:
    binary = find_binary("nginx")
    need_binary("nginx", binary)
    assert binary is not None
    return binary


def _write(root: Path, plans: tuple[Plan, ...]) -> None:
    """Every file `corsgen sync` writes for these policies into one directory."""
    files = render_shared(plans, "nginx")
    for plan in plans:
        files.update(render_parts(plan, "nginx"))
    for name, text in files.items():
        (root / name).write_text(text)
    (root / "htpasswd").write_text("corsgen:{PLAIN}s3cret\n")


def _nginx_conf(root: Path, port: int, up: int, http: str, server: str) -> Path:
    """nginx.conf for one server: the line numbers the audits below expect are this file's."""
    user = "user root;\n" if os.geteuid() == 0 else ""
    temps = "".join(f"    {t}_temp_path {root}/{t};\n" for t in ("client_body", "proxy"))
    conf = root / "nginx.conf"
    conf.write_text(
        f"{user}daemon off;\nworker_processes 1;\npid {root}/nginx.pid;\n"
        f"error_log {root}/error.log warn;\nevents {{}}\nhttp {{\n    access_log off;\n{temps}"
        + http.replace("ROOT", str(root))
        + f"    server {{\n        listen 127.0.0.1:{port};\n"
        + server.replace("ROOT", str(root)).replace("UP", f"http://127.0.0.1:{up}")
        + "    }\n}\n"
    )
    return conf


@contextmanager
def _serve(
    nginx: str, up: int, plans: tuple[Plan, ...], http: str, server: str
) -> Iterator[tuple[int, Path]]:
    port = free_port()

    def configure(root: Path, site: Site) -> list[str]:
        _write(root, plans)
        conf = _nginx_conf(root, port, up, http, server)
        return [nginx, "-p", str(root), "-c", str(conf)]

    with running(configure, Site(plans, {"server": port}, up, free_port())) as root:
        yield port, root


def _send(
    port: int, method: str, path: str, headers: Mapping[str, str]
) -> tuple[int, list[tuple[str, str]]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, headers=dict(headers))
        response = conn.getresponse()
        response.read()
        return response.status, response.getheaders()
    finally:
        conn.close()


def _preflight(port: int, path: str, origin: str) -> tuple[bool, int]:
    headers = {"Origin": origin, "Access-Control-Request-Method": "PUT"}
    status, answer = _send(port, "OPTIONS", path, headers)
    request = Request(origin, method="PUT", credentials=False)
    return preflight_ok(request, answer, status)[0], status


def _read(
    port: int, path: str, origin: str, auth: bool = True
) -> tuple[bool, list[tuple[str, str]]]:
    headers = {"Origin": origin}
    if auth:
        headers["Authorization"] = "Basic Y29yc2dlbjpzM2NyZXQ="  # corsgen:s3cret
    _, answer = _send(port, "GET", path, headers)
    return cors_check(Request(origin, credentials=False), answer)[0], answer


def _audit(root: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    """The rule ids and lines `corsgen audit` reports, as `line:ID`."""
    capsys.readouterr()
    code = main(["audit", str(root / "nginx.conf"), "--target", "nginx"])
    found = [
        f"{line.split(':')[1]}:{line.split(' error ')[1].split()[0]}"
        for line in capsys.readouterr().err.splitlines()
        if " error CG" in line
    ]
    assert code == (1 if found else 0)
    return found


# --- several policies: two large lists in one http {}, two policies in one server -------------


def test_two_large_lists_load_together(nginx: str, tmp_path: Path) -> None:
    """Each list alone needs map_hash_bucket_size; nginx takes it once, from the shared file."""
    _write(tmp_path, (WIDE_A, WIDE_B))
    http = (
        "    include ROOT/corsgen-map-hash.conf;\n"
        "    include ROOT/wide_a.http.conf;\n    include ROOT/wide_b.http.conf;\n"
    )
    server = (
        "        location /a/ { include ROOT/wide_a.conf; }\n"
        "        location /b/ { include ROOT/wide_b.conf; }\n"
    )
    conf = _nginx_conf(tmp_path, free_port(), free_port(), http, server)
    test = [nginx, "-t", "-p", str(tmp_path), "-c", str(conf)]
    proc = subprocess.run(test, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    # Without the shared file the default bucket cannot hold one of these origins.
    conf.write_text(conf.read_text().replace(f"include {tmp_path}/corsgen-map-hash.conf;", ""))
    proc = subprocess.run(test, capture_output=True, text=True, check=False)
    assert "could not build map_hash" in proc.stderr


def test_two_large_policies_serve_side_by_side(nginx: str, upstream: Upstream) -> None:
    http = (
        "    include ROOT/corsgen-map-hash.conf;\n"
        "    include ROOT/wide_a.http.conf;\n    include ROOT/wide_b.http.conf;\n"
    )
    server = (
        "        location /a/ { include ROOT/wide_a.conf; proxy_pass UP; }\n"
        "        location /b/ { include ROOT/wide_b.conf; proxy_pass UP; }\n"
    )
    with _serve(nginx, upstream.port, (WIDE_A, WIDE_B), http, server) as (port, _):
        a, b = _origin(WIDE_A, 299), _origin(WIDE_B, 0)
        assert _read(port, "/a/ok", a)[0] and _read(port, "/b/ok", b)[0]
        assert not _read(port, "/a/ok", b)[0] and not _read(port, "/b/ok", a)[0]
        assert _preflight(port, "/a/ok", a) == (True, 204)
        assert _preflight(port, "/b/ok", a)[0] is False


# --- where the snippet is included ----------------------------------------------------------

HTTP = "    include ROOT/api.http.conf;\n    include ROOT/web.http.conf;\n"
AUTH = "        auth_basic staff;\n        auth_basic_user_file ROOT/htpasswd;\n"


def test_in_server_it_answers_every_location_before_auth(
    nginx: str, upstream: Upstream, capsys: pytest.CaptureFixture[str]
) -> None:
    server = (
        "        include ROOT/api.conf;\n"
        + AUTH
        + "        location / { proxy_pass UP; }\n"
        + "        location /files/ {\n"
        + "            location /files/deep/ { proxy_pass UP; }\n"
        + "        }\n"
    )
    with _serve(nginx, upstream.port, (API, WEB), HTTP, server) as (port, root):
        for path in ("/ok", "/files/deep/ok", "/missing"):
            assert _preflight(port, path, APP) == (True, 204), path
            ok, answer = _read(port, path, APP)
            assert ok and header_value(answer, "X-Upstream") == "1", path
        assert _preflight(port, "/ok", WWW)[1] == 401  # refused origins meet auth as usual
        assert _audit(root, capsys) == []


def test_in_locations_two_policies_answer_on_their_own_paths_before_auth(
    nginx: str, upstream: Upstream, capsys: pytest.CaptureFixture[str]
) -> None:
    server = (
        AUTH
        + "        location /api/ { include ROOT/api.conf; proxy_pass UP; }\n"
        + "        location /web/ {\n            include ROOT/web.conf;\n"
        + "            auth_basic off;\n            auth_request /deny;\n"
        + "            proxy_pass UP;\n"
        + "            location /web/deep/ { include ROOT/web.conf; proxy_pass UP; }\n"
        + "        }\n"
        + "        location = /deny { return 403; }\n"
    )
    with _serve(nginx, upstream.port, (API, WEB), HTTP, server) as (port, root):
        # return runs in the rewrite phase, before auth_basic and auth_request (access phase).
        assert _preflight(port, "/api/ok", APP) == (True, 204)
        assert _preflight(port, "/web/ok", WWW) == (True, 204)
        assert _preflight(port, "/web/deep/ok", WWW) == (True, 204)
        assert _preflight(port, "/api/ok", WWW)[0] is False
        assert _preflight(port, "/web/ok", APP)[0] is False
        assert _read(port, "/api/ok", APP)[0] and not _read(port, "/api/ok", WWW)[0]
        assert _read(port, "/api/ok", APP, auth=False)[0]  # the 401 carries CORS too
        assert _audit(root, capsys) == []


# --- the traps: what nginx really does, and what corsgen audit says ------------------------


def test_inheritance_traps_are_real_and_each_is_found(
    nginx: str, upstream: Upstream, capsys: pytest.CaptureFixture[str]
) -> None:
    server = (  # the line numbers in the config are asserted below
        f'        add_header {HSTS} "max-age=63072000" always;\n'  # 15
        + AUTH  # 16, 17
        + "        location /api/ {\n"  # 18
        + "            include ROOT/api.conf;\n"  # 19: drops HSTS
        + "            proxy_pass UP;\n"
        + "            location /api/static/ {\n"  # 21: answers without CORS, no preflight
        + '                add_header Cache-Control "max-age=60";\n'  # 22: drops CORS
        + "                proxy_pass UP;\n"
        + "            }\n"
        + "            location /api/admin/ { proxy_pass UP; }\n"  # 25: no preflight
        + "        }\n"
    )
    with _serve(nginx, upstream.port, (API, WEB), HTTP, server) as (port, root):
        ok, answer = _read(port, "/api/ok", APP)
        assert ok and header_value(answer, HSTS) is None  # the server's HSTS is gone
        ok, answer = _read(port, "/api/static/ok", APP)
        assert not ok and header_value(answer, "Cache-Control") == "max-age=60"  # CORS is gone
        assert _preflight(port, "/api/static/ok", APP) == (False, 401)
        assert _preflight(port, "/api/admin/ok", APP) == (False, 401)
        assert _read(port, "/api/admin/ok", APP)[0]  # add_header is inherited, the if is not
        # The dropped HSTS is the config's structure (CG403); the rest the model's answers: the
        # preflights of both nested locations meet auth_basic (CG416, at its line, once), and
        # /api/static/ answers without the snippet's headers (CG402, at the block that answered).
        assert _audit(root, capsys) == ["19:CG403", "16:CG416", "21:CG402"]


@pytest.mark.parametrize("fixed", [False, True], ids=["trap", "fixed"])
def test_a_named_location_answers_without_the_snippet_and_it_is_found(
    nginx: str, upstream: Upstream, capsys: pytest.CaptureFixture[str], fixed: bool
) -> None:
    """try_files hands a missing file to @backend: nginx serves it with @backend's add_header."""
    server = (
        "        location /files/ {\n"  # 15
        "            include ROOT/api.conf;\n"
        "            try_files $uri @backend;\n"  # 17
        "        }\n"
        "        location @backend {\n"
        + ("            include ROOT/api.conf;\n" if fixed else "")
        + "            proxy_pass UP;\n"
        "        }\n"
    )
    with _serve(nginx, upstream.port, (API, WEB), HTTP, server) as (port, root):
        assert _preflight(port, "/files/x", APP) == (True, 204)
        assert _read(port, "/files/x", APP, auth=False)[0] == fixed
        # @backend answers without the snippet's headers (CG402, at @backend), and without its
        # hide list: the audit's backend, careless, gets its own CORS headers through (CG415).
        assert _audit(root, capsys) == ([] if fixed else ["19:CG402", "19:CG415"])


def test_a_missing_http_part_and_a_server_wide_snippet_are_found(
    nginx: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(tmp_path, (API, WEB))
    server = (
        "        include ROOT/api.conf;\n"  # 14
        "        location /web/ { include ROOT/web.conf; }\n"  # 15
    )
    _nginx_conf(tmp_path, free_port(), free_port(), "    include ROOT/api.http.conf;\n", server)
    # nginx refuses the config (below): the audit reports what its structure shows, and judges
    # no answer of a server that does not start.
    assert _audit(tmp_path, capsys) == ["15:CG404", "15:CG405"]
    test = [nginx, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")]
    proc = subprocess.run(test, capture_output=True, text=True, check=False)
    assert 'unknown "corsgen_web_' in proc.stderr  # what nginx says without the http part
