"""`corsgen explain --credentials --cookie`: per engine, whether the cookie is sent, and why; the
lines are written by hand from corsgen.cookies' verdicts (tests/cookies_test.py), which
tests/browser/engine_cookies_test.py holds to the engines."""

from __future__ import annotations

import io
import re
import threading
from contextlib import redirect_stderr, redirect_stdout
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from corsgen.cli import main
from corsgen.cookies import parse
from corsgen.explain import cookie_lines
from corsgen.fetch import Request

POLICY = 'allow_origins = ["https://app.example.com"]\nallow_credentials = true\n'
OFFLINE = (
    "cookies (the API's address is unknown offline: taken as https on another site than the "
    "page; give --url to know):"
)
FIREFOX_LOGIN = "  Firefox keeps a cookie set in a cross-site answer for the page's top-level site"
SAFARI = "  WebKit (Safari) blocks third-party cookies by default"


def _explain(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    path = tmp_path / "api.toml"
    path.write_text(POLICY)
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(["explain", str(path), "--origin", "https://app.example.com", *args])
    return code, out.getvalue(), err.getvalue()


def _after(out: str, first: str) -> list[str]:
    lines = out.splitlines()
    return lines[lines.index(first) :]


def test_without_a_cookie_it_says_what_one_needs(tmp_path: Path) -> None:
    code, out, _ = _explain(tmp_path, "--credentials")
    assert code == 0
    said = _after(out, OFFLINE)
    assert said[1] == (
        "  a cookie comes back cross-site only when set with SameSite=None; Secure (over https); "
        "give --cookie to check one"
    )
    assert said[2].startswith("  Chromium sends SameSite=None; Secure cookies cross-site")
    assert said[3].startswith(FIREFOX_LOGIN)
    assert said[4].startswith(SAFARI)


def test_each_engine_says_whether_the_cookie_is_sent(tmp_path: Path) -> None:
    cookies = ["--cookie", "session=hunter2; SameSite=Lax; Secure"]
    cookies += ["--cookie", "sid=hunter3; SameSite=None; Secure; HttpOnly"]
    code, out, _ = _explain(tmp_path, "--credentials", *cookies)
    assert code == 0  # a cookie left behind is no CORS failure
    lax = "SameSite=Lax: a cross-site fetch() carries only SameSite=None cookies"
    assert _after(out, OFFLINE)[1:10] == [
        "  session; SameSite=Lax; Secure:",
        f"    Chromium: not sent: {lax}",
        f"    Firefox: not sent: {lax}",
        f"    WebKit: not sent: {lax}",
        "    to have it sent cross-site: add SameSite=None, and serve it over https",
        "  sid; SameSite=None; Secure:",
        "    Chromium: sent: Chromium sends third-party cookies by default",
        "    Firefox: sent: Firefox keeps it for the page's top-level site only (Total Cookie "
        "Protection)",
        "    WebKit: not sent: WebKit blocks third-party cookies by default",
    ]
    assert "hunter" not in out


def test_without_credentials_no_cookie_is_sent(tmp_path: Path) -> None:
    _, plain, _ = _explain(tmp_path)
    assert "cookies" not in plain
    _, out, _ = _explain(tmp_path, "--cookie", "sid=1")
    assert out.splitlines()[-1] == (
        "cookies: none sent: the page sends no credentials (--credentials: fetch's 'include')"
    )


@pytest.mark.parametrize(
    ("cookie", "message"),
    [
        ("", "no name and no value"),
        ("sid=secret\x01", "a control character"),
        # The attributes alone: the first pair is the cookie, named SameSite here.
        ("SameSite=None; Secure", "SameSite is an attribute: give the cookie's name and value"),
        ("secure; samesite=none", "secure is an attribute: give the cookie's name and value"),
    ],
)
def test_a_cookie_browsers_ignore_is_a_usage_error(
    tmp_path: Path, cookie: str, message: str
) -> None:
    code, _, err = _explain(tmp_path, "--credentials", "--cookie", cookie)
    assert code == 2 and f"Invalid value for --cookie: {message}" in err
    assert "secret" not in err


REQUEST = Request("https://app.example.com", credentials=True)


def test_a_same_site_api_gets_every_cookie() -> None:
    url = "https://api.example.com/v1"
    assert cookie_lines(REQUEST, url, [parse("s=1; SameSite=Strict")]) == [
        f"cookies (https://app.example.com and {url} are the same site (one scheme, one "
        "registrable domain): every cookie the browser keeps is sent, whatever its SameSite):",
        "  s; SameSite=Strict:",
        "    Chromium: sent: same-site: sent whatever its SameSite",
        "    Firefox: sent: same-site: sent whatever its SameSite",
        "    WebKit: sent: same-site: sent whatever its SameSite",
    ]


def test_a_live_url_on_another_site_is_cross_site() -> None:
    said = cookie_lines(REQUEST, "https://api.example.net/", [])
    assert said[0] == (
        "cookies (https://app.example.com and https://api.example.net/ are different sites: a "
        "cross-site request):"
    )
    assert len(said) == 5


def test_the_docs_example_is_what_explain_prints() -> None:
    """docs/live.md's cookie example: its lines after `...` end what the command prints."""
    import shlex
    import subprocess
    import sys

    from testing.paths import ROOT

    page = (ROOT / "docs" / "live.md").read_text(encoding="utf-8")
    block = re.search(
        r"```text\n\$ corsgen (explain [^\n]+--cookie[^\n]+)\n\.\.\.\n(.*?)```", page, re.DOTALL
    )
    assert block is not None
    command, shown = block.groups()
    done = subprocess.run(
        [sys.executable, "-m", "corsgen", *shlex.split(command)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert shown in done.stdout


class _Reflecting(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Access-Control-Allow-Origin", self.headers.get("Origin", ""))
        self.send_header("Access-Control-Allow-Credentials", "true")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.mark.parametrize(
    ("origin", "heading", "verdict"),
    [
        ("http://localhost:3000", "are different sites: a cross-site request", "not sent"),
        ("http://127.0.0.1:3000", "are the same site", "sent"),
    ],
)
def test_with_url_the_apis_address_decides(origin: str, heading: str, verdict: str) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Reflecting)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/ok"
    out = io.StringIO()
    try:
        with redirect_stdout(out):
            args = ["--url", url, "--origin", origin, "--credentials", "--cookie", "s=1"]
            code = main(["explain", *args])
    finally:
        server.shutdown()
        server.server_close()
    said = _after(out.getvalue(), "allowed")
    assert code == 0
    assert said[1].startswith(f"cookies ({origin} and {url} {heading}")
    assert said[3].startswith(f"    Chromium: {verdict}:")
