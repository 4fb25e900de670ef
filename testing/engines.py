"""Three browser engines behind one face, from Debian's packages, nothing downloaded: Chromium
(chromium, chromium-driver) through Selenium; Firefox ESR (firefox-esr) through its own WebDriver
BiDi (testing/bidi.py); WebKitGTK's MiniBrowser (libwebkit2gtk-4.1-0) through WebKitWebDriver
(webkit2gtk-driver) and Selenium, on an Xvfb display (xvfb), since MiniBrowser has no headless
mode. A test asks for an engine by name (`start(name)`) and gets an Engine that opens a page and
runs a fetch() in it; every engine runs the same script, FETCH.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, Literal, NoReturn, TypedDict, cast

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service as ChromeService
from selenium.webdriver.common.selenium_manager import SeleniumManager
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.webkitgtk.service import Service as WebKitService

from corsgen.fetch import ENGINES
from testing.bidi import USER_JS, Bidi
from testing.binaries import need_binary
from testing.processes import START_SECONDS, free_port, process

EngineName = Literal["chromium", "firefox", "webkit"]
Permission = Literal["granted", "denied", "prompt"]  # prompt: ask the user (again)
NAMES: tuple[EngineName, ...] = ("chromium", "firefox", "webkit")
TIMEOUT = 10  # seconds for a page load or a fetch; every server is on 127.0.0.1

CHROMIUM = "/usr/bin/chromium"  # chromium
CHROMEDRIVER = "/usr/bin/chromedriver"  # chromium-driver
# --no-sandbox: the tests run as root, where Chromium refuses its sandbox. --disable-dev-shm-usage:
# a container's /dev/shm is small, and Chromium crashes when it runs out.
CHROMIUM_ARGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage")
# Chrome's own default, which a Chromium build lacks: Chromium (like Chrome for Testing,
# GoogleChromeLabs/chrome-for-testing#148) blocks third-party cookies on a new profile; Chrome
# sends them. 0 is Settings' "Allow third-party cookies" (1 blocks, 2 blocks in Incognito).
CHROMIUM_PREFS = {"profile.cookie_controls_mode": 0}
FIREFOX = "/usr/bin/firefox-esr"  # firefox-esr
MINIBROWSER = "/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser"  # libwebkit2gtk-4.1-0
WEBKITDRIVER = "/usr/bin/WebKitWebDriver"  # webkit2gtk-driver
XVFB = "/usr/bin/Xvfb"  # xvfb


class Seen(TypedDict):
    """FETCH's result; status None when fetch() rejected, with the error."""

    status: int | None
    headers: dict[str, str]  # Object.fromEntries(response.headers)
    read: dict[str, str | None]  # response.headers.get(name), for the names asked about
    error: str | None


# A function of (url, init, names) that resolves to a Seen; each engine calls it its own way.
FETCH = """async (url, init, names) => {
  try {
    const response = await fetch(url, init);
    await response.arrayBuffer();  // the whole body: a failure while reading counts too
    return {
      status: response.status,
      headers: Object.fromEntries(response.headers),
      read: Object.fromEntries(names.map((name) => [name, response.headers.get(name)])),
      error: null,
    };
  } catch (error) {
    return {status: null, headers: {}, read: {}, error: String(error)};
  }
}"""
# Selenium's execute_async_script passes the callback last; {function} is an async function.
_ASYNC = """const done = arguments[arguments.length - 1];
({function})(...[...arguments].slice(0, -1)).then(done);"""


class Engine(ABC):
    """One running browser with one tab."""

    name: EngineName
    version: str
    start_seconds: float  # from launch to a session that can navigate

    def open(self, origin: str) -> None:
        """Show a page of `origin` (the server's "/") unless one is shown already."""
        if not self.url().startswith(origin + "/"):
            self.navigate(origin + "/")

    @abstractmethod
    def url(self) -> str: ...

    def origin(self) -> str:
        """The shown page's origin as the engine serialises it (location.origin)."""
        return str(self.call("async () => location.origin"))

    @abstractmethod
    def navigate(self, url: str) -> None: ...

    @abstractmethod
    def call(self, function: str, *args: object) -> Any:
        """What the async JavaScript `function` resolves to, called with `args` in the shown
        page; both cross as JSON."""

    def fetch(self, url: str, init: dict[str, Any], names: list[str]) -> Seen:
        """What a script in the shown page gets from fetch(url, init)."""
        return cast(Seen, self.call(FETCH, url, init, names))

    def console(self) -> str:
        """What the engine logged since the last call, where it says why it blocked a fetch;
        "" where the driver cannot read it (WebKitWebDriver has no log, and no BiDi)."""
        return ""

    def permit(self, name: str, state: Permission) -> None:
        """Answer the permission `name` for the shown page's origin as its user would."""
        raise NotImplementedError(f"no way to set a permission in {self.name}")


class _Selenium(Engine):
    def __init__(self, name: EngineName, driver: WebDriver, start_seconds: float) -> None:
        self.name = name
        self.driver = driver
        self.version = str(driver.capabilities.get("browserVersion", "?"))
        self.start_seconds = start_seconds
        driver.set_page_load_timeout(TIMEOUT)
        driver.set_script_timeout(TIMEOUT)

    def url(self) -> str:
        return self.driver.current_url

    def navigate(self, url: str) -> None:
        self.driver.get(url)

    def call(self, function: str, *args: object) -> Any:
        return self.driver.execute_async_script(_ASYNC.format(function=function), *args)


class _Chromium(_Selenium):
    def console(self) -> str:
        chrome = cast(webdriver.Chrome, self.driver)
        entries: list[dict[str, Any]] = chrome.get_log("browser")  # type: ignore[no-untyped-call]
        return " | ".join(str(entry["message"]) for entry in entries)

    def permit(self, name: str, state: Permission) -> None:
        chrome = cast(webdriver.Chrome, self.driver)
        setting = {"permission": {"name": name}, "setting": state, "origin": self.origin()}
        chrome.execute_cdp_cmd("Browser.setPermission", setting)


class _Firefox(Engine):
    name: EngineName = "firefox"

    def __init__(self, bidi: Bidi, start_seconds: float) -> None:
        self.bidi = bidi
        self.version = str(bidi.capabilities.get("browserVersion", "?"))
        self.start_seconds = start_seconds
        self.context = bidi.tab()
        self._url = "about:blank"
        # Firefox says why it blocked a fetch in the page's console, as a "javascript" error.
        bidi.command("session.subscribe", {"events": ["log.entryAdded"]})

    def url(self) -> str:
        return self._url

    def navigate(self, url: str) -> None:
        self.bidi.navigate(self.context, url)
        self._url = url

    def call(self, function: str, *args: object) -> Any:
        return self.bidi.call(self.context, function, *args)

    def console(self) -> str:
        # The log entry comes a moment after the fetch's answer; 0.1 s has been enough here.
        events = self.bidi.drain(0.1)
        texts = (e["params"].get("text") for e in events if e["method"] == "log.entryAdded")
        return " | ".join(str(text) for text in texts)

    def permit(self, name: str, state: Permission) -> None:
        setting = {"descriptor": {"name": name}, "state": state, "origin": self.origin()}
        self.bidi.command("permissions.setPermission", setting)


def _no_selenium_manager(*args: object) -> NoReturn:
    raise AssertionError("Selenium Manager was asked for a driver: it would download one")


@contextmanager
def _offline_selenium() -> Iterator[None]:
    """With the driver's path given, Selenium skips Selenium Manager; should a later Selenium
    not, it fails here instead of going to the network. Offline, in case it runs anyway."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SE_OFFLINE", "true")
        patch.setattr(SeleniumManager, "binary_paths", _no_selenium_manager)
        yield


@contextmanager
def chromium(args: tuple[str, ...] = ()) -> Iterator[Engine]:
    """Headless Chromium; `args` after CHROMIUM_ARGS (the standard's rule for `*` and
    Authorization is --enable-features=CorsNonWildcardRequestHeadersSupport)."""
    need_binary("chromium", os.access(CHROMIUM, os.X_OK))
    need_binary("chromium-driver", os.access(CHROMEDRIVER, os.X_OK))
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (*CHROMIUM_ARGS, *args):
        options.add_argument(arg)
    options.add_experimental_option("prefs", CHROMIUM_PREFS)
    # The console says why Chromium blocked a fetch; the script itself sees only a TypeError.
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    began = time.monotonic()
    with _offline_selenium():
        driver = webdriver.Chrome(options=options, service=ChromeService(CHROMEDRIVER))
    try:
        yield _Chromium("chromium", driver, time.monotonic() - began)
    finally:
        driver.quit()


@contextmanager
def firefox(prefs: Mapping[str, bool | int | str] | None = None) -> Iterator[Engine]:
    """Headless Firefox ESR on a fresh profile, its WebDriver BiDi on a free port; `prefs` go
    into the profile's user.js (BiDi cannot set a pref; the standard's rule for `*` and
    Authorization is network.cors_preflight.authorization_covered_by_wildcard = false)."""
    need_binary("firefox-esr", os.access(FIREFOX, os.X_OK))
    with tempfile.TemporaryDirectory(prefix="corsgen-firefox-") as tmp:
        profile = Path(tmp) / "profile"
        profile.mkdir()
        more = (f"user_pref({json.dumps(k)}, {json.dumps(v)});\n" for k, v in (prefs or {}).items())
        (profile / "user.js").write_text(USER_JS + "".join(more))
        # A free port races as every test server's does; --remote-debugging-port=0 would not,
        # but then the port is in PROFILE/WebDriverBiDiServer.json, to be polled for.
        port = free_port()
        command = [FIREFOX, "--headless", "--no-remote", "--profile", str(profile)]
        command.append(f"--remote-debugging-port={port}")
        began = time.monotonic()
        with process(command, Path(tmp), [port]):
            bidi = Bidi(port, TIMEOUT)
            try:
                yield _Firefox(bidi, time.monotonic() - began)
            finally:
                bidi.close()


@contextmanager
def xvfb() -> Iterator[str]:
    """An X display of its own until the block ends: its name, ":N". Xvfb picks a free number
    itself and writes it to the pipe given by -displayfd."""
    need_binary("xvfb", os.access(XVFB, os.X_OK))
    read, write = os.pipe()
    command = [XVFB, "-displayfd", str(write), "-screen", "0", "1280x800x24", "-nolisten", "tcp"]
    proc = subprocess.Popen(command, pass_fds=(write,), stderr=subprocess.DEVNULL)
    os.close(write)
    try:
        with os.fdopen(read) as pipe:  # a line once it serves, or EOF if it died
            number = pipe.readline().strip()
        if not number:
            raise RuntimeError(f"Xvfb did not start (exit {proc.wait(START_SECONDS)})")
        yield f":{number}"
    finally:
        proc.terminate()
        proc.wait()


@contextmanager
def webkit() -> Iterator[Engine]:
    """MiniBrowser under WebKitWebDriver on its own Xvfb display, with a fresh HOME (and so
    fresh cookies and caches)."""
    need_binary("webkit2gtk-driver", os.access(WEBKITDRIVER, os.X_OK))
    need_binary("libwebkit2gtk-4.1-0 (MiniBrowser)", os.access(MINIBROWSER, os.X_OK))
    began = time.monotonic()  # Xvfb's start counts: every run of WebKit needs one
    with xvfb() as display, tempfile.TemporaryDirectory(prefix="corsgen-webkit-") as home:
        env = {
            **os.environ,
            "DISPLAY": display,
            "HOME": home,
            "XDG_CONFIG_HOME": home,
            "XDG_DATA_HOME": home,
            "XDG_CACHE_HOME": home,
        }
        options = webdriver.WebKitGTKOptions()
        options.binary_location = MINIBROWSER
        options.add_argument("--automation")  # MiniBrowser accepts a driver only with it
        with _offline_selenium(), warnings.catch_warnings():
            # Selenium's own WebKitGTK driver still passes remote_server_addr (Selenium 4.51).
            warnings.filterwarnings("ignore", "setting remote_server_addr", DeprecationWarning)
            driver = webdriver.WebKitGTK(
                options=options, service=WebKitService(WEBKITDRIVER, env=env)
            )
        try:
            yield _Selenium("webkit", driver, time.monotonic() - began)
        finally:
            driver.quit()


STARTERS: dict[EngineName, Callable[[], AbstractContextManager[Engine]]] = {
    "chromium": chromium,
    "firefox": firefox,
    "webkit": webkit,
}


def start(name: EngineName) -> AbstractContextManager[Engine]:
    """The engine `name`, running until the block ends; skipped where it is not installed
    (a failure under CI=true)."""
    return STARTERS[name]()


def strict(name: EngineName) -> AbstractContextManager[Engine]:
    """The engine `name` switched to the standard's rule for * and Authorization, by the switch
    corsgen.fetch.ENGINES names: a Chromium argument, or a Firefox pref written `pref = value`."""
    switch = ENGINES[name].strict_authorization
    if not switch:
        raise ValueError(f"corsgen.fetch.ENGINES knows no switch for {name}")
    if name == "chromium":
        return chromium((switch,))
    if name == "firefox":
        pref, _, value = switch.partition(" = ")
        return firefox({pref: json.loads(value)})
    raise ValueError(f"no way to pass {name} the switch {switch!r}")
