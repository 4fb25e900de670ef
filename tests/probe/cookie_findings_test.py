"""probe, with a policy that allows credentials, reads the Set-Cookie headers of the answers its
allowed origins may read with credentials: PR013 for a cookie no browser sends back cross-site,
PR014 for one some browsers do not; names and attributes only, never a value."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from corsgen.cli import main
from corsgen.fetch import Request
from corsgen.probe.battery import Probe
from corsgen.probe.client import Answer
from corsgen.probe.judge import COOKIES_TOLD, cookies

SECRET = "S3CRET"
COOKIES = [
    f"lax={SECRET}1; Path=/; SameSite=Lax; Secure",
    f"login={SECRET}2; Path=/; SameSite=None; Secure",
    f"plain={SECRET}3",
    f"none={SECRET}4; SameSite=None; Secure; Partitioned",
    f"{SECRET}5; SameSite=Strict",  # no "=": a nameless cookie, all of it the value
    "gone=; Max-Age=0",  # a deletion (a logout): nothing to send back, no finding
    # A quoted value is no shelter for a ";": past it, the rest of the value reads as attributes.
    f'quoted="{SECRET}6; {SECRET}7=1"; Max-Age=0',
]


class _Api(BaseHTTPRequestHandler):
    """Lets any origin read with credentials, and sets COOKIES on every answer."""

    def do_GET(self) -> None:
        self.send_response(200)
        if origin := self.headers.get("Origin"):
            self.send_header("Access-Control-Allow-Origin", origin)
            self.send_header("Access-Control-Allow-Credentials", "true")
        self.send_header("Vary", "Origin")
        for cookie in COOKIES:
            self.send_header("Set-Cookie", cookie)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_OPTIONS = do_GET

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def api() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Api)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/ok"
    finally:
        server.shutdown()
        server.server_close()


def _probe(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], policy: str, *args: str
) -> tuple[int, str]:
    path = tmp_path / "api.toml"
    path.write_text(policy)
    capsys.readouterr()
    code = main(["probe", *args, "--policy", str(path)])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out


CREDENTIALS = 'allow_origins = ["https://app.example.com"]\nallow_credentials = true\n'


def test_cookies_that_do_not_come_back(
    api: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = _probe(tmp_path, capsys, CREDENTIALS, api, "--format", "json")
    found = [f for f in json.loads(out)["findings"] if f["id"] in ("PR013", "PR014")]
    lax = "SameSite=Lax: a cross-site fetch() carries only SameSite=None cookies"
    strict = lax.replace("Lax", "Strict")
    webkit = "WebKit refuses a Secure cookie set over http even on loopback"
    # The API is http on loopback: WebKit refuses Secure there, Chromium and Firefox keep it.
    assert [(f["id"], f["severity"], f["summary"]) for f in found] == [
        (
            "PR013",
            "medium",
            f"lax; SameSite=Lax; Secure: Chromium: {lax}; Firefox: {lax}; WebKit: {webkit}",
        ),
        (
            "PR014",
            "low",
            f"login; SameSite=None; Secure: WebKit: {webkit}",
        ),
        (
            "PR014",
            "low",
            "plain: Chromium: no SameSite (Chromium takes it as Lax): a cross-site fetch() "
            "carries only SameSite=None cookies; WebKit: WebKit blocks third-party cookies by "
            "default",
        ),
        (
            "PR014",
            "low",
            f"none; SameSite=None; Secure; Partitioned: WebKit: {webkit}",
        ),
        (
            "PR013",
            "medium",
            f"(nameless); SameSite=Strict: Chromium: {strict}; Firefox: {strict}; WebKit: {strict}",
        ),
    ]
    shown = found[0]["response"]["headers"]
    assert ["Set-Cookie", "lax=…; Path=/; SameSite=Lax; Secure"] in shown
    assert ["Set-Cookie", "…; SameSite=Strict"] in shown
    assert ["Set-Cookie", "quoted=…; …; Max-Age=0"] in shown
    assert SECRET not in out
    assert code == 1


def test_the_text_report_names_the_cookie_only(
    api: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out = _probe(tmp_path, capsys, CREDENTIALS, api)
    assert "FAIL PR013 cookie-not-sent-cross-site (medium)" in out
    assert "    fix: set it with SameSite=None; Secure, over https" in out
    assert SECRET not in out


def test_without_credentials_cookies_are_not_probe_business(
    api: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = 'allow_origins = ["https://app.example.com"]\n'
    _, out = _probe(tmp_path, capsys, policy, api)
    assert "PR013" not in out and "PR014" not in out


def test_an_answer_with_thousands_of_cookies_is_faulted_for_a_few() -> None:
    """Each finding shows the answer again: 2,000 cookies must not make 2,000 findings."""
    origin = "https://app.example.com"
    probe = Probe("allowed", "GET", "/", (("Origin", origin),), Request(origin, "GET", True))
    headers = [
        ("Access-Control-Allow-Origin", origin),
        ("Access-Control-Allow-Credentials", "true"),
        *[("Set-Cookie", f"c{n}=1") for n in range(2000)],
    ]
    found = cookies(
        lambda path: "https://api.other.example" + path, [probe], [Answer(200, headers)]
    )
    assert len(found) == COOKIES_TOLD
