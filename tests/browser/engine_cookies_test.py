"""Which cookies each engine sends back on a credentialed fetch(), and corsgen.cookies' verdict for
that engine: both against a table of intent written by hand (issue 25). What `explain --cookie`
says of each engine, and what `probe` finds in the same answer (PR013: no engine sends the cookie
back; PR014: some do, not all), must agree with the engines too.

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
from corsgen.explain import cookie_lines
from corsgen.fetch import ENGINES, Request
from corsgen.probe.battery import Probe
from corsgen.probe.client import Client, Site
from corsgen.probe.judge import cookies
from testing.client import Page
from testing.engines import NAMES, Engine, EngineName

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


def explained(engine: EngineName, page: str, url: str) -> set[str]:
    """The kinds `corsgen explain --url URL --credentials --cookie SET-COOKIE` says `engine`
    sends, from its line for the engine: "    TITLE: sent: why" or "    TITLE: not sent: why"."""
    request = Request(page, "GET", credentials=True)
    line = f"    {ENGINES[engine].title}: sent: "
    return {
        kind
        for kind, attributes in KINDS.items()
        if any(
            said.startswith(line)
            for said in cookie_lines(request, url, [parse(f"{kind}=secret{attributes}")])
        )
    }


def probed(page: str, url: str) -> dict[str, tuple[str, set[EngineName]]]:
    """What `corsgen probe` finds in the API's answer to /set, a credentialed GET from `page`
    the policy allows: each kind it reports, with its check (PR013 or PR014) and the engines it
    says do not send the cookie back."""
    probe = Probe("allowed", "GET", "/set?", (("Origin", page),), Request(page, "GET", True))
    api = Site(url, "")
    with Client(api, 10.0, 1, True) as client:
        answer = client.send(probe.method, probe.path, probe.headers)
    assert not answer.error, answer.error
    # A finding's summary is "NAME; ATTRIBUTES: TITLE: why; TITLE: why": /set? names each
    # cookie its kind.
    return {
        f.summary.split(";")[0].split(":")[0]: (
            f.check.id,
            {e for e in NAMES if f"{ENGINES[e].title}: " in f.summary},
        )
        for f in cookies(api.url, [probe], [answer])
    }


def intended_finding(where: Where, kind: str) -> str | None:
    """probe's finding for `kind` by SENT: none when every engine sends it back, else PR013
    when none does and PR014 when some do. Both checks are about cross-site requests only: a
    same-site answer's cookies are not probe's to judge (see judge.cookies)."""
    senders = [e for e in NAMES if kind in SENT[(e, where)]]
    if len(senders) == len(NAMES) or where == "same-site":
        return None
    return "PR014" if senders else "PR013"


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
    # explain and probe on the same request, the API asked straight.
    found = probed(page, url)
    observed = {
        "explain --cookie says sent": explained(engine.name, page, url),
        "probe says not sent": {kind for kind, (_, left) in found.items() if engine.name in left},
        "probe's findings": {kind: check for kind, (check, _) in found.items()},
    }
    expected = {
        "explain --cookie says sent": came,
        # PR013 and PR014 are about cross-site requests only (see intended_finding).
        "probe says not sent": set(KINDS) - came if where == "cross-site" else set(),
        "probe's findings": {k: c for k in KINDS if (c := intended_finding(where, k))},
    }
    assert observed == expected, f"explain and probe against {engine.name}, {where}"
