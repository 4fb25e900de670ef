"""Origins as browsers serialise them: parse, normalise, match, and turn into portable regexes."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

from corsgen.rules.table import RuleError

if TYPE_CHECKING:
    from publicsuffixlist import PublicSuffixList

DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
# Label-bounded: a wildcard never matches across a dot boundary into a look-alike domain. It takes
# every character a host label may hold (`_` included, as `_LABEL` below and browsers accept it), so
# whatever a `*.` entry covers in `Origin.matches` the rendered regex matches too.
LABEL = "[a-z0-9_-]+"
_SCHEME = re.compile(r"[a-z][a-z0-9+.-]*")
_SPLIT = re.compile(r"(?P<scheme>[^:/]*)://(?P<rest>.*)", re.DOTALL)
# A host label after its first character: at most 63 in all, never ending in "-".
_LABEL_REST = r"(?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_LABEL = re.compile(r"[a-z0-9_]" + _LABEL_REST)
# Anything that could end a quoted string or start a variable in nginx, Apache or Caddy syntax.
_CONFIG_HOSTILE = re.compile(r"[\s\"'`;{}$\\%]|[\x00-\x1f\x7f]")
# An origin already in the form parse_origin gives back: a lowercase scheme, host labels as
# _LABEL, the last one starting with a letter (so not an IPv4 number), an optional non-zero port.
_PLAIN = re.compile(
    rf"(?P<scheme>{_SCHEME.pattern})://(?P<star>\*\.)?"
    rf"(?P<host>(?:{_LABEL.pattern}\.)*[a-z_]{_LABEL_REST})"
    r"(?::(?P<port>[1-9][0-9]{0,4}))?"
)


class OriginError(RuleError):
    """An origin that cannot be used: the rule it breaks, the case and the origin's values."""


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
    # Imported here: only wildcards and regexes need the list, and loading it takes tens of ms.
    from publicsuffixlist import PublicSuffixList

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


def _ipv6(raw: str, text: str) -> str:
    """WHATWG's IPv6 serializer: lowercase hex, the first longest run of 2+ zero pieces as `::`.

    Unlike Python's it never writes an embedded IPv4 address: `[::ffff:1.2.3.4]` is
    `[::ffff:102:304]`.
    """
    try:
        value = int(ipaddress.IPv6Address(raw[1:-1]))
    except ValueError:
        raise OriginError("CG117", "ipv6", origin=text) from None
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
        raise OriginError("CG117", "ipv4", origin=text)
    value = numbers[-1] + sum(n * 256 ** (3 - i) for i, n in enumerate(numbers[:-1]))
    return str(ipaddress.IPv4Address(value))


def _host(raw: str, text: str) -> str:
    if raw.startswith("["):
        return _ipv6(raw, text)
    host = raw.lower()
    # Plain ASCII names need no IDNA mapping (idna costs ~0.3 ms a host, and importing it more
    # than a small policy's whole check); punycode is checked.
    if not host.isascii() or any(p.startswith("xn--") for p in host.split(".")):
        import idna

        try:
            host = idna.encode(raw, uts46=True, transitional=False).decode("ascii")
        except idna.IDNAError as exc:
            raise OriginError("CG117", "idna", origin=text, error=exc) from None
    if ends_in_number(host):
        return _ipv4(host, text)
    if not host or len(host) > 253 or not all(_LABEL.fullmatch(p) for p in host.split(".")):
        raise OriginError("CG117", "host", origin=text)
    return host


def _port(raw: str, text: str) -> int:
    if not raw.isascii() or not raw.isdigit() or not 0 < int(raw) < 65536 or raw.startswith("0"):
        raise OriginError("CG104", "port", origin=text, port=raw)
    return int(raw)


@cache
def parse_origin(text: str) -> Origin:
    """Parse one allow_origins entry (not `*`) into its normalised form, or raise OriginError."""
    return plain_origin(text) or parse_any_origin(text)


def plain_origin(text: str) -> Origin | None:
    """The origin, when the text is plainly one already in its normalised form (as almost every
    entry is); None for anything parse_any_origin has to look at. A shortcut: a list of 100,000
    origins spent most of `corsgen check` in the general parser."""
    plain = _PLAIN.fullmatch(text)
    # file: is opaque (CG102), and an xn-- label must pass IDNA's checks.
    if plain is None or plain["scheme"] == "file" or "xn--" in text or len(plain["host"]) > 253:
        return None
    scheme, port = plain["scheme"], int(plain["port"] or 0) or None
    if port is not None and port > 65535:
        return None
    if port is not None and DEFAULT_PORTS.get(scheme) == port:
        port = None
    return Origin(scheme, plain["host"], port, plain["star"] is not None)


def parse_any_origin(text: str) -> Origin:
    """parse_origin, for any text."""
    if not text.strip():
        raise OriginError("CG105", "empty-entry")
    if text.strip().lower() == "null" or text.lower().startswith("file:"):
        raise OriginError("CG102", "opaque", origin=text)
    if _CONFIG_HOSTILE.search(text):
        raise OriginError("CG111", "origin", origin=text)
    split = _SPLIT.fullmatch(text)
    if split is None or not _SCHEME.fullmatch(split["scheme"].lower()):
        raise OriginError("CG117", "shape", origin=text)
    scheme, rest = split["scheme"].lower(), split["rest"]
    if "@" in rest:
        raise OriginError("CG103", "userinfo", origin=text)
    for char, what in (("#", "a fragment"), ("?", "a query"), ("/", "a path")):
        if char in rest:
            if char == "/" and rest.index("/") == len(rest) - 1:
                what = "a trailing slash"
            bare = f"{scheme}://{rest.split('/')[0].split('?')[0].split('#')[0]}"
            raise OriginError("CG103", "not-bare", origin=text, part=what, bare=bare)
    host_raw, port_raw = rest, None
    bracket = rest.rfind("]")
    colon = rest.rfind(":")
    if colon > bracket:
        host_raw, port_raw = rest[:colon], rest[colon + 1 :]
    wildcard = host_raw.startswith("*.")
    if wildcard:
        host_raw = host_raw[2:]
    if "*" in host_raw:
        raise OriginError("CG118", "partial-label", origin=text)
    host = _host(host_raw, text)
    port = None if port_raw is None else _port(port_raw, text)
    if port is not None and DEFAULT_PORTS.get(scheme) == port:
        port = None
    if wildcard and (host.startswith("[") or _is_ipv4(host)):
        raise OriginError("CG118", "ip-address", origin=text)
    return Origin(scheme, host, port, wildcard)


def is_local(origin: Origin) -> bool:
    """Loopback hosts, where plain http:// is normal in development."""
    return origin.host in {"localhost", "127.0.0.1", "[::1]"} or origin.host.endswith(".localhost")
