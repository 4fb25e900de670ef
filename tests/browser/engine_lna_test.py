"""Local Network Access in the engines, against corsgen.fetch's model of it (the facts
`corsgen explain --url` tells from: local_network_request and ENGINES' local_network_access and
local_network_secure_context), both against a table of intent written by hand (issue 25).

Every server is on 127.0.0.1, and a loopback page reaching a loopback API is no local network
request, so each engine is made to see a more public page the way its own tests do:
- Chromium: --ip-address-space-overrides makes the page's port public (and one API port local),
  --host-resolver-rules sends public.test and 10.0.0.1 to 127.0.0.1. The page http://public.test
  is no secure context; the same page made one by --unsafely-treat-insecure-origin-as-secure
  stands for an https:// page, the only thing https would change here (so SECURE, not the
  scheme, tells the model which page is a secure context).
- Firefox ESR: network.lna.address_space.public.override makes the page's port public, and
  network.dns.native-is-localhost sends public.test to 127.0.0.1. Its own 10.0.0.1 is not
  mapped, so Firefox is shown loopback only.
- WebKitGTK has no such switch. Its page is on this machine's own address on its default route,
  a public or private one, truly more public than the API's loopback: WebKit lets the fetch
  through, and refuses it on CORS alone. That shows only that WebKit asks nothing by default in
  this build; it cannot show that no WebKit ever will.
The user's answer to the prompt is set through the driver (Engine.permit). Asked nothing, headless
Chromium refuses at once, as if the prompt were dismissed; headless Firefox would wait on its
prompt for ever, so its rows answer every permission.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal
from urllib.parse import urlsplit

import pytest
from selenium.common.exceptions import InvalidArgumentException

from corsgen.fetch import ENGINES, local_network_request
from testing.binaries import need_binary
from testing.engines import Engine, EngineName, Permission, chromium, firefox, webkit

pytestmark = [pytest.mark.conformance, pytest.mark.browser]

Outcome = Literal["allowed", "refused by CORS", "refused before CORS"]
PageName = Literal["secure", "http", "own"]
Target = Literal["loopback", "local"]
PERMISSIONS = ("loopback-network", "local-network")
SECURE: dict[PageName, bool] = {"secure": True, "http": False, "own": False}
# Where the test answers for the user, what every permission it does not grant is left at. Chromium
# keeps no permission for an http:// page (test_chromium_grants_no_http_page), WebKit has none.
UNANSWERED: dict[tuple[EngineName, PageName], Permission] = {
    ("chromium", "secure"): "prompt",
    ("firefox", "http"): "denied",
}


class _Server(BaseHTTPRequestHandler):
    """A blank page at /, and an API elsewhere: /allowed... answers CORS for any origin,
    /refused... does not. Every request is noted in the server's `reached`."""

    def do_GET(self) -> None:
        self.server.reached.append(self.path)  # type: ignore[attr-defined]
        page = self.path == "/"
        body = b"<!doctype html><title>corsgen LNA test</title>\n" if page else b"ok"
        self.send_response(200)
        self.send_header("Content-Type", "text/html" if page else "text/plain")
        if self.path.startswith("/allowed"):
            self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@dataclass(frozen=True)
class Servers:
    """The page origins and API URLs, each engine's switches, and what reached the APIs."""

    pages: dict[PageName, str]
    apis: dict[Target, str]
    ports: dict[str, int]
    reached: list[str]


def _own_address() -> str | None:
    """This machine's address on its default route, or None without one (the UDP socket only
    picks the address a packet would leave from; it sends nothing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))
        except OSError:
            return None
        address = str(probe.getsockname()[0])
    return None if ipaddress.ip_address(address).is_loopback else address


@pytest.fixture(scope="module")
def servers() -> Iterator[Servers]:
    reached: list[str] = []
    own = _own_address()
    with ExitStack() as stack:

        def serve(host: str) -> int:
            server = ThreadingHTTPServer((host, 0), _Server)
            server.reached = reached  # type: ignore[attr-defined]
            threading.Thread(target=server.serve_forever, daemon=True).start()
            stack.callback(server.server_close)
            stack.callback(server.shutdown)
            return int(server.server_address[1])

        ports = {name: serve("127.0.0.1") for name in ("secure", "http", "loopback", "local")}
        pages: dict[PageName, str] = {
            "secure": f"http://public.test:{ports['secure']}",
            "http": f"http://public.test:{ports['http']}",
        }
        if own:
            pages["own"] = f"http://{own}:{serve(own)}"
        apis: dict[Target, str] = {
            "loopback": f"http://127.0.0.1:{ports['loopback']}",
            "local": f"http://10.0.0.1:{ports['local']}",
        }
        yield Servers(pages, apis, ports, reached)


@pytest.fixture(scope="module")
def engines(servers: Servers) -> Iterator[dict[EngineName, Engine]]:
    """Each engine, switched to see the pages as more public than the APIs (the docstring)."""
    port = servers.ports
    chromium_args = (
        "--host-resolver-rules=MAP public.test 127.0.0.1, MAP 10.0.0.1 127.0.0.1",
        f"--ip-address-space-overrides=127.0.0.1:{port['secure']}=public,"
        f"127.0.0.1:{port['http']}=public,127.0.0.1:{port['local']}=local",
        f"--unsafely-treat-insecure-origin-as-secure={servers.pages['secure']}",
    )
    firefox_prefs: dict[str, bool | int | str] = {
        "network.dns.native-is-localhost": True,
        "network.lna.address_space.public.override": f"127.0.0.1:{port['http']}",
    }
    with ExitStack() as stack:
        yield {
            "chromium": stack.enter_context(chromium(chromium_args)),
            "firefox": stack.enter_context(firefox(firefox_prefs)),
            "webkit": stack.enter_context(webkit()),
        }


@dataclass(frozen=True)
class Case:
    engine: EngineName
    page: PageName
    target: Target
    granted: str | None  # the one permission the user granted; every other is unanswered
    path: Literal["allowed", "refused"]
    intended: Outcome


CASES = [
    # Chromium asks for the permission named after the target's space, only that one.
    Case("chromium", "secure", "loopback", None, "allowed", "refused before CORS"),
    Case("chromium", "secure", "loopback", "loopback-network", "allowed", "allowed"),
    Case("chromium", "secure", "loopback", "loopback-network", "refused", "refused by CORS"),
    Case("chromium", "secure", "loopback", "local-network", "allowed", "refused before CORS"),
    Case("chromium", "secure", "local", "local-network", "allowed", "allowed"),
    Case("chromium", "secure", "local", "loopback-network", "allowed", "refused before CORS"),
    # ... and never from an http:// page (test_chromium_grants_no_http_page: nor can it be given).
    Case("chromium", "http", "loopback", None, "allowed", "refused before CORS"),
    # Firefox asks an http:// page too.
    Case("firefox", "http", "loopback", "loopback-network", "allowed", "allowed"),
    Case("firefox", "http", "loopback", "loopback-network", "refused", "refused by CORS"),
    Case("firefox", "http", "loopback", None, "allowed", "refused before CORS"),
    # WebKit asks nothing: CORS alone decides.
    Case("webkit", "own", "loopback", None, "allowed", "allowed"),
    Case("webkit", "own", "loopback", None, "refused", "refused by CORS"),
]


def modelled(case: Case, page: str, url: str) -> Outcome:
    """What corsgen.fetch says the engine does with the case's fetch."""
    behaviour = ENGINES[case.engine]
    space = local_network_request(urlsplit(page).hostname or "", urlsplit(url).hostname or "")
    if space and behaviour.local_network_access:
        if behaviour.local_network_secure_context and not SECURE[case.page]:
            return "refused before CORS"
        if case.granted != f"{space}-network":
            return "refused before CORS"
    return "refused by CORS" if case.path == "refused" else "allowed"


@pytest.mark.parametrize(
    "case",
    CASES,
    ids=[f"{c.engine}-{c.page}-{c.target}-{c.granted or 'none'}-{c.path}" for c in CASES],
)
def test_local_network_access(
    engines: dict[EngineName, Engine], servers: Servers, case: Case
) -> None:
    if case.page not in servers.pages:
        need_binary("an address other than loopback (WebKit's page)", False)
    engine, page = engines[case.engine], servers.pages[case.page]
    path = f"/{case.path}?{CASES.index(case)}"  # its own: a /favicon.ico may come meanwhile
    url = servers.apis[case.target] + path
    engine.open(page)
    unanswered = UNANSWERED.get((case.engine, case.page))
    if unanswered:
        for name in PERMISSIONS:
            engine.permit(name, "granted" if name == case.granted else unanswered)
    seen = engine.fetch(url, {"cache": "no-store"}, [])
    if seen["status"] is not None:
        outcome: Outcome = "allowed"
    else:
        outcome = "refused by CORS" if path in servers.reached else "refused before CORS"
    intended = case.intended
    assert (outcome, modelled(case, page, url)) == (intended, intended), engine.console()


def test_chromium_grants_no_http_page(engines: dict[EngineName, Engine], servers: Servers) -> None:
    """The permission is for secure contexts: Chromium will not even record it for an http://
    page, so its request fails without a prompt."""
    engine = engines["chromium"]
    engine.open(servers.pages["http"])
    with pytest.raises(InvalidArgumentException, match="insecure context"):
        engine.permit("loopback-network", "granted")
