"""Which cookies each engine sends back on a credentialed fetch(), and corsgen.cookies' verdict for
that engine: both against a table of intent written by hand (issue 25).

The page is conftest's blank page on 127.0.0.1; the API is another port of 127.0.0.1, asked as
http://localhost:PORT (another site: a cross-site request) and as http://127.0.0.1:PORT (the
page's site, another origin: a same-site request). A credentialed fetch() of /set gets one cookie
of each kind; a second one of /read gets back the names of the cookies that came, in a header
the page may read. Everything is plain http: a Secure cookie is kept over http on loopback by
Chromium and Firefox, and refused by WebKit, which the table says too; TLS would only add a
certificate to trust in three engines and show nothing more of the model.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal

import pytest

from corsgen.cookies import parse, verdict
from testing.client import Page
from testing.engines import Engine, EngineName

pytestmark = [pytest.mark.conformance, pytest.mark.browser]

Where = Literal["cross-site", "same-site"]
# Each kind of cookie /set sets, by the attributes after its name=value; every one has Path=/.
KINDS = {
    "plain": "",
    "lax": "; SameSite=Lax",
    "strict": "; SameSite=Strict",
    "none": "; SameSite=None",
    "secure": "; Secure",
    "none_secure": "; SameSite=None; Secure",
    "partitioned": "; SameSite=None; Secure; Partitioned",
    "partitioned_insecure": "; Partitioned",
}
KEPT_OVER_LOOPBACK_HTTP = {"plain", "lax", "strict", "secure", "none_secure", "partitioned"}
# The kinds each engine sends back: the intent, from measurements and each engine's documents.
SENT: dict[tuple[EngineName, Where], set[str]] = {
    # Chrome's default (testing/engines.CHROMIUM_PREFS): third-party cookies sent; no SameSite is
    # Lax; SameSite=None and Partitioned need Secure.
    ("chromium", "cross-site"): {"none_secure", "partitioned"},
    ("chromium", "same-site"): KEPT_OVER_LOOPBACK_HTTP,
    # Total Cookie Protection keeps these for the page's site; no SameSite is None, not Lax.
    ("firefox", "cross-site"): {"plain", "secure", "none_secure", "partitioned"},
    ("firefox", "same-site"): KEPT_OVER_LOOPBACK_HTTP,
    # MiniBrowser's default cookie policy: no third-party cookie is kept. Secure needs https even
    # on loopback; SameSite=None needs no Secure; Partitioned is ignored.
    ("webkit", "cross-site"): set(),
    ("webkit", "same-site"): {"plain", "lax", "strict", "none", "partitioned_insecure"},
}


class _Api(BaseHTTPRequestHandler):
    """/set?PREFIX sets one cookie PREFIXkind=secret of each kind; /read answers X-Cookies, the
    names of the cookies it got. Both let the page read a credentialed answer."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Access-Control-Allow-Origin", self.headers.get("Origin", ""))
        self.send_header("Access-Control-Allow-Credentials", "true")
        self.send_header("Vary", "Origin")
        path, _, prefix = self.path.partition("?")
        if path == "/set":
            for kind, attributes in KINDS.items():
                self.send_header("Set-Cookie", f"{prefix}{kind}=secret; Path=/{attributes}")
        else:
            pairs = (p.strip().partition("=")[0] for p in self.headers.get("Cookie", "").split(";"))
            self.send_header("X-Cookies", " ".join(sorted(name for name in pairs if name)))
            self.send_header("Access-Control-Expose-Headers", "X-Cookies")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def api() -> Iterator[int]:
    """The API's port on 127.0.0.1."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Api)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


HOSTS: dict[Where, str] = {"cross-site": "localhost", "same-site": "127.0.0.1"}


@pytest.mark.parametrize("where", HOSTS)
def test_cookies_sent_back(engine: Engine, pages: dict[Page, str], api: int, where: Where) -> None:
    page, url = pages["allowed"], f"http://{HOSTS[where]}:{api}"
    prefix = f"{where.replace('-', '_')}_"  # the engine keeps its cookies for the session
    engine.open(page)
    init = {"credentials": "include", "cache": "no-store"}
    assert engine.fetch(f"{url}/set?{prefix}", init, [])["status"] == 200
    seen = engine.fetch(f"{url}/read", init, ["X-Cookies"])
    assert seen["status"] == 200, seen["error"]
    came = {name.removeprefix(prefix) for name in (seen["read"]["X-Cookies"] or "").split()}
    modelled = {
        kind
        for kind, attributes in KINDS.items()
        if verdict(parse(f"{kind}=secret{attributes}"), engine.name, page, url).sent
    }
    intended = SENT[(engine.name, where)]
    assert (came, modelled) == (intended, intended)
