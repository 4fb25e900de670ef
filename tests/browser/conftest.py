"""Headless Chromium, and two blank pages on 127.0.0.1 for it to fetch from; the upstream is
tests/conftest.py's, shared with every other suite.

Nothing here is downloaded: Debian's chromium and chromium-driver are named by path, and Selenium
Manager, which would fetch a browser or driver it cannot find, is forbidden to run at all.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import NoReturn

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.selenium_manager import SeleniumManager

from testing.binaries import need_binary
from testing.client import Page
from testing.engines import NAMES, Engine, start

CHROMIUM = "/usr/bin/chromium"  # Debian's package chromium
CHROMEDRIVER = "/usr/bin/chromedriver"  # Debian's package chromium-driver
# --no-sandbox: the tests run as root, where Chromium refuses its sandbox. --disable-dev-shm-usage:
# a container's /dev/shm is small, and Chromium crashes when it runs out.
CHROMIUM_ARGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage")
TIMEOUT = 10  # seconds for a page load or a fetch; every server is on 127.0.0.1

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


def _no_selenium_manager(*args: object) -> NoReturn:
    raise AssertionError("Selenium Manager was asked for a driver: it would download one")


@pytest.fixture(scope="session")
def browser() -> Iterator[webdriver.Chrome]:
    """One headless Chromium for the whole session; each test opens the page it needs."""
    need_binary("chromium", os.access(CHROMIUM, os.X_OK))
    need_binary("chromium-driver", os.access(CHROMEDRIVER, os.X_OK))
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in CHROMIUM_ARGS:
        options.add_argument(arg)
    # The console says why Chromium blocked a fetch; the script itself sees only a TypeError.
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    with pytest.MonkeyPatch.context() as patch:
        # With the driver's path given, Selenium skips Selenium Manager; should a later Selenium
        # not, it fails here instead of going to the network. Offline, in case it runs anyway.
        patch.setenv("SE_OFFLINE", "true")
        patch.setattr(SeleniumManager, "binary_paths", _no_selenium_manager)
        driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        driver.set_page_load_timeout(TIMEOUT)
        driver.set_script_timeout(TIMEOUT)
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="session", params=NAMES)
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    """Each engine in turn, one at a time (pytest groups a session fixture's tests by param):
    Chromium, Firefox ESR, WebKitGTK. Skipped where not installed; a failure under CI=true."""
    with start(request.param) as running:
        yield running
