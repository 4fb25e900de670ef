"""Whether a browser sends a cookie back on a credentialed request: part of the browser model.

CORS letting a page read a credentialed answer is not the cookie being sent. A cookie comes back
only when the browser kept it (RFC 6265bis: SameSite=None needs Secure, Secure needs a secure
transport) and, on a cross-site request, when its SameSite and the browser's third-party-cookie
policy allow it. Like corsgen.fetch this is part of the independent judge of `explain`, `probe`
and the browser tests: it imports nothing from corsgen but corsgen.fetch (tests/house_test.py).

Cookie values are secrets: a parsed Cookie keeps no value, and nothing here repeats one.
"""

from __future__ import annotations

import ipaddress
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import cache
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

from corsgen.fetch import ENGINES, Engine

if TYPE_CHECKING:
    from publicsuffixlist import PublicSuffixList

SameSite = Literal["strict", "lax", "none"]
_SAME_SITE: dict[str, SameSite] = {"strict": "strict", "lax": "lax", "none": "none"}
# RFC 6265bis, 5.7: a cookie-string with a control character (but tab) is ignored whole.
_CONTROL = frozenset(chr(c) for c in (*range(0x00, 0x09), *range(0x0A, 0x20), 0x7F))


class CookieError(ValueError):
    """A Set-Cookie value every browser ignores; the message never holds the value."""


@dataclass(frozen=True)
class Cookie:
    """What decides whether a cookie is sent cross-site: its name and the attributes that
    matter, never its value. Domain and Path choose which URLs of the API's own site get it, the
    same for every page: parsed past."""

    name: str
    same_site: SameSite | None = None  # None: absent or not one of the three (the default)
    secure: bool = False
    partitioned: bool = False
    expired: bool = False  # Max-Age <= 0 or an Expires past: it deletes the cookie

    @property
    def shown(self) -> str:
        """The cookie for people: its name and the attributes that matter here."""
        attributes = [f"SameSite={self.same_site.title()}"] if self.same_site else []
        attributes += ["Secure"] * self.secure + ["Partitioned"] * self.partitioned
        return "; ".join([self.name or "(nameless)", *attributes])


def parse(text: str) -> Cookie:
    """A Set-Cookie value (or `--cookie`'s description) as RFC 6265bis, 5.7 parses it: the
    name-value pair up to the first `;`, then attributes, names case-insensitive; the last of an
    attribute wins, and an unknown one is ignored."""
    if any(c in _CONTROL for c in text):
        raise CookieError("a control character in the cookie: browsers ignore it")
    pair, *attributes = text.split(";")
    name, equals, value = pair.partition("=")
    if not equals:  # a nameless cookie, all of the pair its value
        name, value = "", pair
    name, value = name.strip(" \t"), value.strip(" \t")
    if not name and not value:
        raise CookieError("no name and no value: browsers ignore the cookie")
    if len((name + value).encode("utf-8", "surrogatepass")) > 4096:
        raise CookieError(f"{name[:40]!r}: name and value over 4096 bytes: browsers ignore it")
    found: dict[str, str] = {}
    for attribute in attributes:
        key, _, setting = attribute.partition("=")
        found[key.strip(" \t").lower()] = setting.strip(" \t")
    same_site = _SAME_SITE.get(found.get("samesite", "").lower())
    return Cookie(name, same_site, "secure" in found, "partitioned" in found, _expired(found))


def _expired(found: dict[str, str]) -> bool:
    """Max-Age when it is an integer (RFC 6265bis, 5.7.2: it wins over Expires), else Expires;
    a date that does not parse here is taken as the future."""
    age = found.get("max-age", "")
    if age.removeprefix("-").isdigit() and age.isascii():  # compared, not converted: int()
        return age.startswith("-") or not age.strip("0")  # refuses 4,300 digits and more
    try:
        expires = parsedate_to_datetime(found.get("expires", ""))
    except (TypeError, ValueError):
        return False
    if expires.tzinfo is None:
        expires = expires.replace(tzinfo=UTC)
    return expires <= datetime.now(UTC)


@cache
def _psl() -> PublicSuffixList:
    from publicsuffixlist import PublicSuffixList

    return PublicSuffixList()


def _host(url: str) -> tuple[str, str]:
    """The scheme and host of a URL, the host as a browser holds it: an internationalised name in
    its ASCII form (--origin gives xn--bcher-kva.example, --url may say bücher.example)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").rstrip(".")
    if not host.isascii():
        import idna

        with suppress(idna.IDNAError):  # else no browser reaches it: compared as written
            host = idna.encode(host, uts46=True, transitional=False).decode("ascii")
    return parts.scheme.lower(), host


def site(url: str) -> tuple[str, str]:
    """The schemeful site of a URL or origin (HTML, #concept-site): its scheme and registrable
    domain; an IP address, or a host that is a public suffix itself (`localhost`), is its own."""
    scheme, host = _host(url)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return scheme, _psl().privatesuffix(host) or host
    return scheme, host


def same_site(page: str, url: str) -> bool:
    """Whether a request from a page of origin `page` to `url` is same-site: the same scheme and
    registrable domain (http://app.example.com and https://api.example.com are cross-site)."""
    return site(page) == site(url)


def _loopback(host: str) -> bool:
    """A host every engine here takes as this machine (a potentially trustworthy origin)."""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Rules:
    """How one engine keeps and sends cookies, where engines differ (measured in
    tests/browser/engine_cookies_test.py on Chromium 156, Firefox ESR 153 and WebKitGTK 2.50)."""

    # A cookie without SameSite is taken as Lax (RFC 6265bis); otherwise as None.
    lax_by_default: bool
    none_needs_secure: bool  # SameSite=None without Secure: the cookie is refused
    secure_on_loopback_http: bool  # a Secure cookie set over http://localhost is kept
    chips: bool  # Partitioned (CHIPS): kept for the top-level site, sent cross-site; needs Secure
    # Every cookie set in a cross-site answer is kept for the page's top-level site only, and a
    # cookie set on the API's own site is not sent cross-site: Firefox's Total Cookie Protection.
    partitions_third_party: bool


COOKIE_RULES: dict[Engine, Rules] = {
    # The cookie standard (RFC 6265bis), where Fetch leaves cookies: no third-party policy.
    "spec": Rules(True, True, True, False, False),
    "chromium": Rules(True, True, True, True, False),
    # network.cookie.sameSite.laxByDefault is off in release Firefox: no SameSite is None.
    "firefox": Rules(False, True, True, True, True),
    # WebKitGTK ignored Partitioned here, kept SameSite=None without Secure, and sent a cookie
    # without SameSite (set by a visit to the API's site) cross-site: not Lax by default.
    "webkit": Rules(False, False, False, False, False),
}


@dataclass(frozen=True)
class Verdict:
    """Whether the engine sends the cookie back, and why, in a clause."""

    sent: bool
    why: str


def kept(cookie: Cookie, engine: Engine, url: str | None) -> Verdict:
    """Whether the engine keeps the cookie when an answer from `url` sets it; None: an https URL
    not known further."""
    rules, title = COOKIE_RULES[engine], ENGINES[engine].title
    if cookie.expired:
        return Verdict(False, "it has expired: it deletes the cookie")
    scheme, host = _host(url) if url is not None else ("https", "")
    trustworthy = scheme == "https" or (_loopback(host) and rules.secure_on_loopback_http)
    if cookie.secure and not trustworthy:
        where = " even on loopback" if _loopback(host) else ""
        return Verdict(False, f"{title} refuses a Secure cookie set over http{where}")
    if cookie.same_site == "none" and not cookie.secure and rules.none_needs_secure:
        return Verdict(False, f"{title} refuses SameSite=None without Secure")
    if cookie.partitioned and not cookie.secure and rules.chips:
        return Verdict(False, f"{title} refuses Partitioned without Secure")
    return Verdict(True, f"{title} keeps it")


def verdict(cookie: Cookie, engine: Engine, page: str, url: str | None) -> Verdict:
    """Whether `engine` sends `cookie` back to `url` on a credentialed fetch() from a page of
    origin `page`, the cookie having been set by an answer to such a fetch (what `probe` sees
    and the browser tests do); `url` None: an https URL on another site. A cookie set when the
    user visited the API's own site (a login page there) fares the same, but in Firefox, which
    partitions it away (see `third_party`)."""
    stored = kept(cookie, engine, url)
    if not stored.sent:
        return stored
    if url is not None and same_site(page, url):
        return Verdict(True, "same-site: sent whatever its SameSite")
    rules, behaviour = COOKIE_RULES[engine], ENGINES[engine]
    title = behaviour.title
    effective = cookie.same_site or ("lax" if rules.lax_by_default else "none")
    if effective != "none":
        given = f"SameSite={effective.title()}" if cookie.same_site else f"no SameSite ({title} "
        given += "" if cookie.same_site else "takes it as Lax)"
        return Verdict(False, f"{given}: a cross-site fetch() carries only SameSite=None cookies")
    if cookie.partitioned and rules.chips:
        return Verdict(True, "Partitioned: kept for the page's top-level site and sent to it")
    if behaviour.third_party_cookies:
        return Verdict(True, f"{title} sends third-party cookies by default")
    if rules.partitions_third_party:
        return Verdict(
            True,
            f"{title} keeps it for the page's top-level site only (Total Cookie Protection)",
        )
    return Verdict(False, f"{title} blocks third-party cookies by default")


def missing(cookie: Cookie) -> str:
    """What a cookie lacks to be sent cross-site by a browser that sends third-party cookies:
    "" when nothing."""
    lacks = ["SameSite=None"] * (cookie.same_site != "none") + ["Secure"] * (not cookie.secure)
    return "; ".join(lacks)


def third_party(engine: Engine) -> str:
    """What the engine does by default with cookies on cross-site requests, and the way out."""
    title = ENGINES[engine].title
    if ENGINES[engine].third_party_cookies:
        return (
            f"{title} sends SameSite=None; Secure cookies cross-site by default (Chrome; where "
            "a user blocks third-party cookies, Storage Access headers, Chrome 133, ask them)"
        )
    if COOKIE_RULES[engine].partitions_third_party:
        return (
            f"{title} keeps a cookie set in a cross-site answer for the page's top-level site "
            "only, and does not send one set on the API's own site (a login there): the Storage "
            "Access API or Storage Access headers (Firefox 147) ask the user"
        )
    return (
        f"{title} (Safari) blocks third-party cookies by default: only the Storage Access API "
        "(document.requestStorageAccess()) gets them; or serve the API on the page's site"
    )
