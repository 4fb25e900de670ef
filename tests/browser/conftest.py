"""The three engines (testing/engines.py, where nothing is downloaded), and two blank pages on
127.0.0.1 for them to fetch from; the upstream is tests/conftest.py's, shared with every other
suite.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import ExitStack
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from testing.client import Page
from testing.engines import NAMES, Engine, start

BLANK = b"<!doctype html><meta charset=utf-8><title>corsgen browser test</title>\n"


class _Blank(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(BLANK)))
        self.end_headers()
        self.wfile.write(BLANK)

    def log_message(self, format: str, *args: object) -> None:
        pass


def _serve_blank(stack: ExitStack) -> str:
    """A blank page on a free port until `stack` closes; its origin."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Blank)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    stack.callback(server.server_close)
    stack.callback(server.shutdown)  # callbacks run last in, first out: shut down, then close
    return f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture(scope="session")
def pages() -> Iterator[dict[Page, str]]:
    """Each page's origin, as we expect a browser to serialise it (test_origin_is_serialised)."""
    with ExitStack() as stack:
        yield {"allowed": _serve_blank(stack), "refused": _serve_blank(stack)}


@pytest.fixture(scope="session", params=NAMES)
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    """Each engine in turn, one at a time (pytest groups a session fixture's tests by param):
    Chromium, Firefox ESR, WebKitGTK. Skipped where not installed; a failure under CI=true."""
    with start(request.param) as running:
        yield running
