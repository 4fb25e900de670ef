"""A real browser against corsgen's output on real servers.

Headless Chromium loads a page from an origin the policy allows, or from one it does not, and
calls fetch() on nginx, Apache httpd and Caddy serving POLICY. Each case says by hand what the
policy means for its request; Chromium must do that, and corsgen.fetch, the model the other tests
judge by, must reach Chromium's verdict from the same server's raw answers.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, TypedDict, cast

import pytest
from selenium import webdriver

from corsgen.fetch import (
    Request,
    cors_check,
    exposed,
    header_value,
    needs_preflight,
    preflight_headers,
    preflight_ok,
    unsafe_names,
)
from testing.client import Page, send
from testing.servers import Endpoint, serving, servings, unchecked_plan
from testing.upstream import Upstream
from testing.verdicts import Verdicts

pytestmark = [pytest.mark.conformance, pytest.mark.browser]

# Every build of every registered target (nginx, Apache, both Caddys), in its default context.
KINDS = tuple(kind for serving in servings().values() for kind in serving.kinds())
# No max_age: Chromium then caches a preflight for 5 s only, and every case's URL is its own (see
# test_fetch), so no case rides on another's preflight.
POLICY = """\
allow_origins = ["{allowed}"]
allow_methods = ["GET", "HEAD", "POST", "PUT"]
allow_headers = ["X-Custom"]
expose_headers = ["ETag"]
allow_credentials = true
"""
BLOCKED = None  # the status of a fetch that rejects with a TypeError: the script reads nothing


@dataclass(frozen=True)
class Case:
    """A fetch() from one of the pages, and what POLICY means for it, written by hand. Every
    fetch sends credentials (credentials: "include"), as a page of a credentialed API does."""

    name: str
    page: Page
    method: str
    path: str  # the upstream answers /ok with 200 and /error with 500
    status: int | None  # what the script reads, or BLOCKED
    headers: tuple[tuple[str, str], ...] = ()  # set by the script
    visible: tuple[str, ...] = ()  # response headers the script can read
    hidden: tuple[str, ...] = ()  # and some it must not: response.headers.get() gives null


CUSTOM = (("X-Custom", "1"),)
CASES = (
    Case("credentialed-get", "allowed", "GET", "/ok", 200),
    Case("preflighted-put", "allowed", "PUT", "/ok", 200, CUSTOM),
    Case("method-not-allowed", "allowed", "DELETE", "/ok", BLOCKED),
    Case("header-not-allowed", "allowed", "GET", "/ok", BLOCKED, (("X-Other", "1"),)),
    # An error is the application's answer; the browser must show it, not a CORS failure.
    Case("upstream-error", "allowed", "GET", "/error", 500),
    # The upstream sends ETag and X-Total-Count on everything; the policy exposes ETag only.
    Case(
        "exposed-only", "allowed", "GET", "/ok", 200, visible=("ETag",), hidden=("X-Total-Count",)
    ),
    Case("refused-get", "refused", "GET", "/ok", BLOCKED),
    Case("refused-preflighted-put", "refused", "PUT", "/ok", BLOCKED, CUSTOM),
)


@dataclass(frozen=True)
class Server:
    kind: str
    endpoint: Endpoint


@pytest.fixture(scope="module", params=KINDS)
def server(
    request: pytest.FixtureRequest, pages: dict[Page, str], upstream: Upstream
) -> Iterator[Server]:
    """POLICY, allowing the allowed page's origin, on one running server of each kind."""
    plan = unchecked_plan("browser", POLICY.format(allowed=pages["allowed"]))
    with serving(request.param, (plan,), upstream.port) as endpoints:
        yield Server(request.param, endpoints[plan.name])


@dataclass(frozen=True)
class Verdict:
    """What the page's script gets: a status and every header it can read (lowercase names),
    or BLOCKED and nothing."""

    status: int | None
    headers: dict[str, str]
    why: str = field(default="", compare=False)  # the model's reason, or Chromium's console


class Seen(TypedDict):
    """FETCH's result; status None when fetch() rejected, with the error."""

    status: int | None
    headers: dict[str, str]  # Object.fromEntries(response.headers)
    read: dict[str, str | None]  # response.headers.get(name), for the names a case asks about
    error: str | None


# Runs in the page; execute_async_script appends the callback that returns a result.
FETCH = """
const [url, init, names, done] = arguments;
fetch(url, init).then(
  async (response) => {
    await response.arrayBuffer();  // the whole body: a failure while reading counts too
    done({
      status: response.status,
      headers: Object.fromEntries(response.headers),
      read: Object.fromEntries(names.map((name) => [name, response.headers.get(name)])),
      error: null,
    });
  },
  (error) => done({status: null, headers: {}, read: {}, error: String(error)}),
);
"""


def console(browser: webdriver.Chrome) -> str:
    """Chromium's console since the last call: there it says why it blocked a fetch."""
    entries: list[dict[str, Any]] = browser.get_log("browser")  # type: ignore[no-untyped-call]
    return " | ".join(str(entry["message"]) for entry in entries)


def open_page(browser: webdriver.Chrome, origin: str) -> None:
    if not browser.current_url.startswith(origin + "/"):
        browser.get(origin + "/")


def in_chromium(
    browser: webdriver.Chrome, origin: str, url: str, case: Case
) -> tuple[Verdict, dict[str, str | None]]:
    """What a script on `origin` gets from fetch(url), with Chromium's console as the reason;
    and response.headers.get() for the names the case asks about."""
    open_page(browser, origin)
    console(browser)  # drop what earlier cases logged
    init = {
        "method": case.method,
        "headers": dict(case.headers),
        "credentials": "include",
        "cache": "no-store",  # every fetch reaches the server; this adds no request header
    }
    names = [*case.visible, *case.hidden]
    seen = cast(Seen, browser.execute_async_script(FETCH, url, init, names))
    why = " | ".join(filter(None, (seen["error"], console(browser))))
    return Verdict(seen["status"], seen["headers"], why), seen["read"]


def in_model(at: Endpoint, path: str, origin: str, case: Case) -> Verdict:
    """corsgen.fetch's verdict on the same request, from the raw answers of the same server."""
    request = Request(
        origin, case.method, credentials=True, author_headers=unsafe_names(case.headers)
    )
    if needs_preflight(request):
        answer = send(at, "OPTIONS", path, preflight_headers(request))
        ok, why = preflight_ok(request, answer.headers, answer.status)
        if not ok:
            return Verdict(BLOCKED, {}, why)
    answer = send(at, case.method, path, [("Origin", origin), *case.headers])
    ok, why = cors_check(request, answer.headers)
    if not ok:
        return Verdict(BLOCKED, {}, why)
    readable = exposed(answer.headers, request.credentials)
    # Every exposed name is present, so get() never gives None; the filter is for the type.
    values = {name: header_value(answer.headers, name) for name in readable}
    return Verdict(answer.status, {n: v for n, v in values.items() if v is not None}, why)


def test_fetch(browser: webdriver.Chrome, pages: dict[Page, str], server: Server) -> None:
    """Every case on one server: what Chromium gives the script is the intent, and what
    corsgen.fetch reaches from the same server's answers."""
    at = server.endpoint
    verdicts = Verdicts()
    for case in CASES:
        origin = pages[case.page]
        # A URL no earlier fetch used, on this server or on one that had its port before.
        path = f"{case.path}?kind={server.kind}&case={case.name}"
        url = f"http://127.0.0.1:{at.port}{at.prefix}{path}"
        chromium, read = in_chromium(browser, origin, url, case)
        model = in_model(at, path, origin, case)
        observed: dict[str, object] = {
            "status": chromium.status,
            "unreadable": tuple(name for name in case.visible if read[name] is None),
            "readable": tuple(name for name in case.hidden if read[name] is not None),
            "Chromium and corsgen.fetch agree": chromium == model,
        }
        expected: dict[str, object] = {
            "status": case.status,
            "unreadable": (),
            "readable": (),
            "Chromium and corsgen.fetch agree": True,
        }
        if case.status is BLOCKED:
            observed["blocked with a TypeError"] = chromium.why.startswith("TypeError")
            expected["blocked with a TypeError"] = True
        name = f"{case.name}: {case.method} {path} from the {case.page} page"
        verdicts.add(name, observed, expected, f"Chromium {chromium}; corsgen.fetch {model}")
    verdicts.check()


@pytest.mark.parametrize("page", ["allowed", "refused"])
def test_origin_is_serialised(
    browser: webdriver.Chrome, pages: dict[Page, str], page: Page
) -> None:
    """POLICY lists the page's origin as the pages fixture spells it, http://127.0.0.1:PORT;
    Chromium must serialise it, and so send it in Origin, byte for byte the same."""
    open_page(browser, pages[page])
    assert browser.execute_script("return location.origin") == pages[page]
