"""corsgen.cookies: parsing a Set-Cookie as RFC 6265bis does, sites, and each engine's verdict on
sending a cookie back, against tables written by hand (the engines themselves are in
tests/browser/engine_cookies_test.py)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corsgen.cookies import (
    Cookie,
    CookieError,
    kept,
    missing,
    parse,
    same_site,
    site,
    verdict,
)
from corsgen.fetch import Engine

PARSED = [
    ("sid=abc", Cookie("sid")),
    ("sid=abc; SameSite=None; Secure", Cookie("sid", "none", secure=True)),
    (" sid = abc ;samesite=STRICT", Cookie("sid", "strict")),
    ("sid=a=b; SameSite=Lax; SameSite=None", Cookie("sid", "none")),  # the last one wins
    ("sid=abc; SameSite=Sometimes", Cookie("sid")),  # not one of the three: the default
    ("sid=abc; SameSite", Cookie("sid")),
    ("sid=; Partitioned; Secure; HttpOnly", Cookie("sid", secure=True, partitioned=True)),
    ("sid=1; Domain=.Example.COM; Path=/api", Cookie("sid")),
    ("abc; Secure", Cookie("", secure=True)),  # no "=": a nameless cookie, "abc" its value
    ("=abc", Cookie("")),
    ("sid=1; Max-Age=60; Expires=Wed, 21 Oct 2015 07:28:00 GMT", Cookie("sid")),  # Max-Age wins
    ("sid=; Max-Age=0", Cookie("sid", expired=True)),
    ("sid=; Max-Age=-1", Cookie("sid", expired=True)),
    ("sid=; Expires=Thu, 01 Jan 1970 00:00:00 GMT", Cookie("sid", expired=True)),
    ("sid=1; Expires=Fri, 01 Jan 2100 00:00:00 GMT", Cookie("sid")),
    ("sid=1; Expires=soon; Max-Age=ten", Cookie("sid")),  # neither parses: kept
]


@pytest.mark.parametrize(("text", "cookie"), PARSED, ids=[t for t, _ in PARSED])
def test_parse(text: str, cookie: Cookie) -> None:
    assert parse(text) == cookie


@pytest.mark.parametrize(("digits", "expired"), [("9" * 5000, False), ("-" + "9" * 5000, True)])
def test_a_max_age_past_the_digits_int_takes(digits: str, expired: bool) -> None:
    assert parse(f"sid=1; Max-Age={digits}") == Cookie("sid", expired=expired)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "no name and no value"),
        (" ; Secure", "no name and no value"),
        ("=", "no name and no value"),
        ("sid=a\nb", "control character"),
        ("sid=a\x00", "control character"),
        ("sid=" + "x" * 4094, "over 4096 bytes"),
        ("sid=" + "é" * 2047, "over 4096 bytes"),  # bytes, not characters
    ],
)
def test_a_cookie_browsers_ignore_is_refused(text: str, why: str) -> None:
    with pytest.raises(CookieError, match=why):
        parse(text)


SECRET = "S3CRET-VALUE"


@settings(max_examples=300, deadline=None)
@given(name=st.text(max_size=20), rest=st.text(max_size=60), tail=st.text(max_size=60))
def test_hostile_cookies_never_crash_and_never_echo_the_value(
    name: str, rest: str, tail: str
) -> None:
    """Whatever the header holds, parse either returns a Cookie or refuses it, and neither the
    Cookie, its verdicts nor the refusal repeat the value."""
    text = f"{name}={SECRET}{rest.replace(';', '')};{tail}"
    try:
        cookie = parse(text)
    except CookieError as exc:
        assert SECRET not in str(exc)
        return
    said = [verdict(cookie, e, "https://a.example", "https://b.example").why for e in ENGINES]
    assert SECRET not in repr(cookie) + cookie.shown + " ".join(said)


ENGINES: tuple[Engine, ...] = ("spec", "chromium", "firefox", "webkit")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://api.example.com/v1", ("https", "example.com")),
        ("https://app.example.co.uk", ("https", "example.co.uk")),
        ("https://alice.github.io", ("https", "alice.github.io")),  # github.io is a suffix
        ("http://localhost:8080", ("http", "localhost")),
        ("http://127.0.0.1:8080", ("http", "127.0.0.1")),
        ("http://[::1]:8080/", ("http", "::1")),
        ("HTTPS://API.Example.COM.", ("https", "example.com")),
    ],
)
def test_site(url: str, expected: tuple[str, str]) -> None:
    assert site(url) == expected


@pytest.mark.parametrize(
    ("page", "url", "same"),
    [
        ("https://app.example.com", "https://api.example.com/x", True),
        ("http://app.example.com", "https://api.example.com/x", False),  # schemeful
        ("https://alice.github.io", "https://bob.github.io/x", False),
        ("http://127.0.0.1:1", "http://localhost:2/", False),
        ("http://127.0.0.1:1", "http://127.0.0.1:2/", True),
        # --origin is in ASCII (xn--), --url as the user wrote it: one site.
        ("https://app.xn--bcher-kva.example", "https://api.BÜCHER.example/x", True),
    ],
)
def test_same_site(page: str, url: str, same: bool) -> None:
    assert same_site(page, url) is same


PAGE = "https://app.example.com"
CROSS = "https://api.example.net/v1"  # another site
SAME = "https://api.example.com/v1"
HTTP_PAGE = "http://app.example.com"
# (cookie, the API's URL, the engines that send it back to it from PAGE, or from HTTP_PAGE for
# an http URL); spec is RFC 6265bis, with no third-party-cookie policy.
SENT = [
    ("sid=1", CROSS, {"firefox"}),  # Lax by default but in Firefox and WebKit; WebKit blocks 3PC
    ("sid=1; SameSite=Lax", CROSS, set()),
    ("sid=1; SameSite=Strict", CROSS, set()),
    ("sid=1; SameSite=None", CROSS, set()),  # no Secure: Chromium, Firefox refuse; WebKit 3PC
    ("sid=1; SameSite=None; Secure", CROSS, {"spec", "chromium", "firefox"}),
    ("sid=1; SameSite=None; Secure; Partitioned", CROSS, {"spec", "chromium", "firefox"}),
    ("sid=1; SameSite=None; Secure", "http://api.example.net/", set()),  # Secure over http
    ("sid=1; SameSite=Lax", SAME, {"spec", "chromium", "firefox", "webkit"}),
    ("sid=1; SameSite=None", SAME, {"webkit"}),
    ("sid=1; Partitioned", SAME, {"spec", "webkit"}),  # CHIPS needs Secure where it is known
    ("sid=1; SameSite=None; Secure", "http://localhost:8080/", {"spec", "chromium", "firefox"}),
    ("sid=1; Secure", "http://api.example.com/", set()),
    ("sid=1; SameSite=None; Secure", None, {"spec", "chromium", "firefox"}),  # offline: cross
]


@pytest.mark.parametrize(("text", "url", "engines"), SENT, ids=[f"{t} {u}" for t, u, _ in SENT])
def test_which_engines_send_it(text: str, url: str | None, engines: set[str]) -> None:
    page = HTTP_PAGE if url and url.startswith("http:") else PAGE
    assert {e for e in ENGINES if verdict(parse(text), e, page, url).sent} == engines


@pytest.mark.parametrize(
    ("text", "engine", "url", "why"),
    [
        ("s=1", "chromium", CROSS, "no SameSite (Chromium takes it as Lax): a cross-site fetch()"),
        ("s=1; SameSite=Strict", "firefox", CROSS, "SameSite=Strict: a cross-site fetch() carries"),
        ("s=1; SameSite=None", "chromium", CROSS, "Chromium refuses SameSite=None without Secure"),
        (
            "s=1; Secure",
            "webkit",
            "http://localhost/",
            "refuses a Secure cookie set over http even",
        ),
        ("s=1; Secure", "chromium", "http://a.example/", "refuses a Secure cookie set over http"),
        ("s=1; Partitioned", "firefox", SAME, "Firefox refuses Partitioned without Secure"),
        ("s=1; SameSite=None; Secure", "webkit", CROSS, "WebKit blocks third-party cookies"),
        ("s=1; SameSite=None; Secure", "chromium", CROSS, "sends third-party cookies by default"),
        ("s=1; SameSite=None; Secure", "firefox", CROSS, "(Total Cookie Protection)"),
        ("s=1; SameSite=None; Secure; Partitioned", "chromium", CROSS, "Partitioned: kept for"),
        ("s=1; SameSite=Strict", "webkit", SAME, "same-site: sent whatever its SameSite"),
        ("s=; Max-Age=0; SameSite=None; Secure", "chromium", SAME, "it deletes the cookie"),
    ],
)
def test_each_verdict_says_why(text: str, engine: Engine, url: str, why: str) -> None:
    assert why in verdict(parse(text), engine, PAGE, url).why


def test_kept_offline_is_https() -> None:
    assert kept(parse("s=1; Secure"), "webkit", None).sent


@pytest.mark.parametrize(
    ("text", "lacks"),
    [
        ("s=1", "SameSite=None; Secure"),
        ("s=1; SameSite=Lax; Secure", "SameSite=None"),
        ("s=1; SameSite=None", "Secure"),
        ("s=1; SameSite=None; Secure", ""),
    ],
)
def test_missing(text: str, lacks: str) -> None:
    assert missing(parse(text)) == lacks
