"""Each engine (testing/engines.py) blocks and allows a cross-origin fetch() as CORS says, against
a tiny API on 127.0.0.1: the ground the per-engine browser matrix stands on (issue 25).

The page is one of the blank pages of conftest.py; the API is another port, so another origin.
It answers /allow with Access-Control-Allow-Origin (and a preflight that allows PUT and X-Custom)
and /deny with nothing of CORS; corsgen.fetch must reach each engine's verdict from the same
answers.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from corsgen.fetch import Request, cors_check, needs_preflight, preflight_ok, unsafe_names
from testing.client import Page
from testing.engines import Engine

pytestmark = [pytest.mark.conformance, pytest.mark.browser]

BODY = b'{"ok": true}\n'


class _Api(BaseHTTPRequestHandler):
    """/allow... allows any origin, credentials not included; /deny... sends no CORS header."""

    def _cors(self) -> list[tuple[str, str]]:
        if not self.path.startswith("/allow"):
            return []
        return [
            ("Access-Control-Allow-Origin", self.headers.get("Origin", "*")),
            ("Vary", "Origin"),
        ]

    def _answer(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.server.answers.append(self.command)  # type: ignore[attr-defined]
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._answer(200, [("Content-Type", "application/json"), *self._cors()], BODY)

    do_PUT = do_GET

    def do_OPTIONS(self) -> None:
        headers = self._cors()
        if headers:
            headers += [
                ("Access-Control-Allow-Methods", "PUT"),
                ("Access-Control-Allow-Headers", "X-Custom"),
            ]
        self._answer(204, headers, b"")

    def log_message(self, format: str, *args: object) -> None:
        pass


class Api(ThreadingHTTPServer):
    answers: list[str]  # the method of every request answered, in order


@pytest.fixture(scope="module")
def api() -> Iterator[Api]:
    server = Api(("127.0.0.1", 0), _Api)
    server.answers = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


# (case, method, path, request headers, allowed)
CASES: tuple[tuple[str, str, str, dict[str, str], bool], ...] = (
    ("get-allowed", "GET", "/allow", {}, True),
    ("get-denied", "GET", "/deny", {}, False),
    ("put-preflighted-allowed", "PUT", "/allow", {"X-Custom": "1"}, True),
    ("put-preflighted-denied", "PUT", "/deny", {"X-Custom": "1"}, False),
)


def model(origin: str, method: str, path: str, headers: dict[str, str]) -> bool:
    """corsgen.fetch's verdict from what _Api answers (it answers every request the same)."""
    request = Request(origin, method, author_headers=unsafe_names(tuple(headers.items())))
    allows = path.startswith("/allow")
    cors = [("Access-Control-Allow-Origin", origin)] if allows else []
    if needs_preflight(request):
        extra = [
            ("Access-Control-Allow-Methods", "PUT"),
            ("Access-Control-Allow-Headers", "X-Custom"),
        ]
        ok, _ = preflight_ok(request, cors + (extra if allows else []), 204)
        if not ok:
            return False
    return cors_check(request, cors)[0]


@pytest.mark.parametrize(("case", "method", "path", "headers", "allowed"), CASES)
def test_engine_follows_cors(
    engine: Engine,
    pages: dict[Page, str],
    api: Api,
    case: str,
    method: str,
    path: str,
    headers: dict[str, str],
    allowed: bool,
) -> None:
    origin = pages["allowed"]
    engine.open(origin)
    url = f"http://127.0.0.1:{api.server_address[1]}{path}?engine={engine.name}&case={case}"
    init = {"method": method, "headers": headers, "cache": "no-store"}
    api.answers.clear()
    seen = engine.fetch(url, init, [])
    # The engine did preflight what needs it; and, refused, sent no PUT after.
    sent = (["OPTIONS"] if method == "PUT" else []) + (
        [method] if allowed or method == "GET" else []
    )
    assert api.answers == sent
    assert model(origin, method, path, headers) is allowed
    if allowed:
        assert (seen["status"], seen["error"]) == (200, None), engine.console()
    else:
        assert seen["status"] is None, seen
        assert (seen["error"] or "").startswith("TypeError"), seen
        print(f"{engine.name} {case}: {seen['error']} | {engine.console()}")


def test_timings(
    engine: Engine, pages: dict[Page, str], api: Api, record_property: Callable[[str, object], None]
) -> None:
    """Start-up and the time of one fetch, allowed and preflighted, as the NOTES report them:
    -s prints them, the JUnit XML keeps them."""
    engine.open(pages["allowed"])
    base = f"http://127.0.0.1:{api.server_address[1]}"
    times: dict[str, float] = {}
    for label, method, headers in (
        ("simple", "GET", {}),
        ("preflighted", "PUT", {"X-Custom": "1"}),
    ):
        rounds = 20
        began = time.monotonic()
        for i in range(rounds):
            init = {"method": method, "headers": headers, "cache": "no-store"}
            seen = engine.fetch(f"{base}/allow?timing={engine.name}-{label}-{i}", init, [])
            assert seen["status"] == 200, seen
        times[label] = (time.monotonic() - began) / rounds
    line = (
        f"{engine.name} {engine.version}: start {engine.start_seconds:.2f} s, "
        f"fetch {times['simple'] * 1000:.0f} ms, preflighted {times['preflighted'] * 1000:.0f} ms"
    )
    record_property("timing", line)
    print(line)
