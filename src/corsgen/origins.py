"""Origins as browsers serialise them: parse, normalise, match, and turn into portable regexes."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from functools import cache

import idna
from publicsuffixlist import PublicSuffixList

DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
# Label-bounded: a wildcard never matches across a dot boundary into a look-alike domain.
LABEL = "[a-z0-9-]+"
_SCHEME = re.compile(r"[a-z][a-z0-9+.-]*")
_SPLIT = re.compile(r"(?P<scheme>[^:/]*)://(?P<rest>.*)", re.DOTALL)
_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
# Anything that could end a quoted string or start a variable in nginx, Apache or Caddy syntax.
_CONFIG_HOSTILE = re.compile(r"[\s\"'`;{}$\\%]|[\x00-\x1f\x7f]")


class OriginError(ValueError):
    """An origin that cannot be used; `rule` names the rule it breaks."""

    def __init__(self, rule: str, message: str, fix: str) -> None:
        super().__init__(message)
        self.rule, self.message, self.fix = rule, message, fix


@dataclass(frozen=True, order=True)
class Origin:
    """A serialised origin, or a `*.` wildcard over every subdomain of `host`."""

    scheme: str
    host: str
    port: int | None
    wildcard: bool = False

    def __str__(self) -> str:
        port = "" if self.port is None else f":{self.port}"
        star = "*." if self.wildcard else ""
        return f"{self.scheme}://{star}{self.host}{port}"

    def regex(self) -> str:
        """The unanchored pattern, in the syntax PCRE and RE2 share."""
        port = "" if self.port is None else f":{self.port}"
        host = re.escape(self.host)
        sub = f"(?:{LABEL}\\.)+" if self.wildcard else ""
        return f"{re.escape(self.scheme)}://{sub}{host}{re.escape(port)}"

    def matches(self, other: Origin) -> bool:
        """Whether a browser origin `other` is allowed by this entry."""
        if (self.scheme, self.port) != (other.scheme, other.port) or other.wildcard:
            return False
        if not self.wildcard:
            return self.host == other.host
        return other.host.endswith("." + self.host)


@cache
def _psl() -> PublicSuffixList:
    return PublicSuffixList()


def is_public_suffix(host: str) -> bool:
    """True for `com`, `co.uk`, `github.io`: a wildcard right above one spans many owners."""
    return bool(_psl().is_public(host))


def registrable_domain(host: str) -> str:
    """The part of a host one owner controls (`example.co.uk`); the host itself for IPs."""
    if host.startswith("[") or _is_ipv4(host):
        return host
    return str(_psl().privatesuffix(host) or host)


def _is_ipv4(host: str) -> bool:
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        return False
    return True


def _bad(rule: str, message: str, fix: str) -> OriginError:
    return OriginError(rule, message, fix)


def _host(raw: str, text: str) -> str:
    if raw.startswith("["):
        try:
            return f"[{ipaddress.IPv6Address(raw[1:-1]).compressed}]"
        except ValueError:
            raise _bad(
                "CG117", f"{text!r} has an invalid IPv6 address", "write it as [::1]"
            ) from None
    host = raw.lower()
    # Plain ASCII names need no IDNA mapping (idna costs ~0.3 ms a host); punycode is checked.
    if not host.isascii() or any(p.startswith("xn--") for p in host.split(".")):
        try:
            host = idna.encode(raw, uts46=True, transitional=False).decode("ascii")
        except idna.IDNAError as exc:
            raise _bad(
                "CG117", f"{text!r} has an invalid host ({exc})", "use a valid host name"
            ) from None
    if not host or len(host) > 253 or not all(_LABEL.fullmatch(p) for p in host.split(".")):
        raise _bad("CG117", f"{text!r} has an invalid host", "use a valid host name")
    return host


def _port(raw: str, text: str) -> int:
    if not raw.isascii() or not raw.isdigit() or not 0 < int(raw) < 65536 or raw.startswith("0"):
        raise _bad("CG104", f"{text!r} has an invalid port {raw!r}", "use a port from 1 to 65535")
    return int(raw)


@cache
def parse_origin(text: str) -> Origin:
    """Parse one allow_origins entry (not `*`) into its normalised form, or raise OriginError."""
    if not text.strip():
        raise _bad(
            "CG105", "empty origin", "remove the entry; corsgen never treats it as allow-all"
        )
    if text.strip().lower() == "null" or text.lower().startswith("file:"):
        raise _bad(
            "CG102",
            f"{text!r} is an opaque origin that sandboxed frames, data: and file: pages all share",
            "serve the page from a real https:// origin and list that",
        )
    if _CONFIG_HOSTILE.search(text):
        raise _bad(
            "CG111",
            f"{text!r} contains a character that is not allowed in an origin",
            "write scheme://host[:port] with no spaces, quotes or punctuation",
        )
    split = _SPLIT.fullmatch(text)
    if split is None or not _SCHEME.fullmatch(split["scheme"].lower()):
        raise _bad(
            "CG117", f"{text!r} is not scheme://host[:port]", "write e.g. https://app.example.com"
        )
    scheme, rest = split["scheme"].lower(), split["rest"]
    if "@" in rest:
        raise _bad("CG103", f"{text!r} contains userinfo", "remove the user@ part")
    for char, what in (("#", "a fragment"), ("?", "a query"), ("/", "a path")):
        if char in rest:
            if char == "/" and rest.index("/") == len(rest) - 1:
                what = "a trailing slash"
            bare = f"{scheme}://{rest.split('/')[0].split('?')[0].split('#')[0]}"
            raise _bad("CG103", f"{text!r} has {what}; an origin never does", f"write {bare!r}")
    host_raw, port_raw = rest, None
    bracket = rest.rfind("]")
    colon = rest.rfind(":")
    if colon > bracket:
        host_raw, port_raw = rest[:colon], rest[colon + 1 :]
    wildcard = host_raw.startswith("*.")
    if wildcard:
        host_raw = host_raw[2:]
    if "*" in host_raw:
        raise _bad(
            "CG118",
            f"{text!r} has a '*' that is not a whole leftmost label",
            "write https://*.example.com, or use allow_origin_regex",
        )
    host = _host(host_raw, text)
    port = None if port_raw is None else _port(port_raw, text)
    if port is not None and DEFAULT_PORTS.get(scheme) == port:
        port = None
    if wildcard and host.startswith("["):
        raise _bad("CG118", f"{text!r} puts a wildcard on an IP address", "list each origin")
    return Origin(scheme, host, port, wildcard)


def is_local(origin: Origin) -> bool:
    """Loopback hosts, where plain http:// is normal in development."""
    return origin.host in {"localhost", "127.0.0.1", "[::1]"} or origin.host.endswith(".localhost")
