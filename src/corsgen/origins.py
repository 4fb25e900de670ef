"""Origins as browsers serialise them: parse, normalise, match, and turn into portable regexes."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from functools import cache

import idna
from publicsuffixlist import PublicSuffixList

DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
# Label-bounded: a wildcard never matches across a dot boundary into a look-alike domain. It takes
# every character a host label may hold (`_` included, as `_LABEL` below and browsers accept it), so
# whatever a `*.` entry covers in `Origin.matches` the rendered regex matches too.
LABEL = "[a-z0-9_-]+"
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
        if other.wildcard:
            return False
        return self in other.covering_wildcards() if self.wildcard else self == other

    def covering_wildcards(self) -> tuple[Origin, ...]:
        """The `*.` entries that allow this origin, one per parent domain: a key to look up."""
        labels = self.host.split(".")
        return tuple(
            Origin(self.scheme, ".".join(labels[i:]), self.port, wildcard=True)
            for i in range(1, len(labels))
        )


@cache
def _psl() -> PublicSuffixList:
    return PublicSuffixList()


def is_public_suffix(host: str) -> bool:
    """True for `com`, `co.uk`, `github.io`: a wildcard right above one spans many owners.

    `localhost` is special-use (RFC 6761): every name under it is this machine, so `*.localhost`
    spans no one else's sites, though the list's default rule calls any unlisted name a suffix.
    """
    return host != "localhost" and bool(_psl().is_public(host))


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


def _ipv6(raw: str, text: str) -> str:
    """WHATWG's IPv6 serializer: lowercase hex, the first longest run of 2+ zero pieces as `::`.

    Unlike Python's it never writes an embedded IPv4 address: `[::ffff:1.2.3.4]` is
    `[::ffff:102:304]`.
    """
    try:
        value = int(ipaddress.IPv6Address(raw[1:-1]))
    except ValueError:
        raise _bad("CG117", f"{text!r} has an invalid IPv6 address", "write it as [::1]") from None
    pieces = [f"{value >> 16 * (7 - i) & 0xFFFF:x}" for i in range(8)]
    start, length = 0, 0
    for i in range(8):
        run = next((j for j in range(i, 8) if pieces[j] != "0"), 8) - i
        if run > length:
            start, length = i, run
    if length < 2:
        return "[" + ":".join(pieces) + "]"
    return "[" + ":".join(pieces[:start]) + "::" + ":".join(pieces[start + length :]) + "]"


def _ipv4_number(part: str) -> int | None:
    """WHATWG's IPv4 number parser: decimal, 0x hex or 0-prefixed octal; None on failure."""
    if not part:
        return None
    radix = 10
    if part.startswith("0x"):
        part, radix = part[2:], 16
    elif len(part) > 1 and part.startswith("0"):
        part, radix = part[1:], 8
    if not all(c in "0123456789abcdef"[:radix] for c in part):
        return None
    return int(part, radix) if part else 0


def _ipv4_parts(host: str) -> list[str]:
    """The dot-separated parts, less one trailing empty part (`127.0.0.1.` is `127.0.0.1`)."""
    parts = host.split(".")
    return parts[:-1] if parts[-1] == "" and len(parts) > 1 else parts


def ends_in_number(host: str) -> bool:
    """WHATWG's ends-in-a-number checker: such a host is parsed as IPv4, never as a name."""
    last = _ipv4_parts(host)[-1]
    return (last.isascii() and last.isdigit()) or _ipv4_number(last) is not None


def _ipv4(host: str, text: str) -> str:
    """WHATWG's IPv4 parser and serializer: `127.1`, `0x7f.1` and `2130706433` are `127.0.0.1`."""
    parts = _ipv4_parts(host)
    numbers = [n for n in map(_ipv4_number, parts) if n is not None]
    if (
        len(parts) > 4
        or len(numbers) < len(parts)
        or max(numbers[:-1], default=0) > 255
        or numbers[-1] >= 256 ** (5 - len(parts))
    ):
        raise _bad(
            "CG117",
            f"{text!r} ends in a number but is not an IPv4 address",
            "write the address as four numbers, e.g. 127.0.0.1, or use a host name",
        )
    value = numbers[-1] + sum(n * 256 ** (3 - i) for i, n in enumerate(numbers[:-1]))
    return str(ipaddress.IPv4Address(value))


def _host(raw: str, text: str) -> str:
    if raw.startswith("["):
        return _ipv6(raw, text)
    host = raw.lower()
    # Plain ASCII names need no IDNA mapping (idna costs ~0.3 ms a host); punycode is checked.
    if not host.isascii() or any(p.startswith("xn--") for p in host.split(".")):
        try:
            host = idna.encode(raw, uts46=True, transitional=False).decode("ascii")
        except idna.IDNAError as exc:
            raise _bad(
                "CG117", f"{text!r} has an invalid host ({exc})", "use a valid host name"
            ) from None
    if ends_in_number(host):
        return _ipv4(host, text)
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
    if wildcard and (host.startswith("[") or _is_ipv4(host)):
        raise _bad("CG118", f"{text!r} puts a wildcard on an IP address", "list each origin")
    return Origin(scheme, host, port, wildcard)


def is_local(origin: Origin) -> bool:
    """Loopback hosts, where plain http:// is normal in development."""
    return origin.host in {"localhost", "127.0.0.1", "[::1]"} or origin.host.endswith(".localhost")
