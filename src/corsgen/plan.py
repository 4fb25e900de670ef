"""Policy in, everything each target needs out. Every decision is made here, once.

Templates only loop over and interpolate what a Plan holds; they never decide.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Literal

from corsgen import __version__
from corsgen.errors import Finding, PolicyError
from corsgen.origins import Origin
from corsgen.policy import Policy, parse_policy, policy_name
from corsgen.regex import parse_regex
from corsgen.rules import check_policy, parsed_origins
from corsgen.tomlfile import read_text

ACAO = "Access-Control-Allow-Origin"
ACAC = "Access-Control-Allow-Credentials"
ACEH = "Access-Control-Expose-Headers"
ACAM = "Access-Control-Allow-Methods"
ACAH = "Access-Control-Allow-Headers"
ACMA = "Access-Control-Max-Age"
ACAPN = "Access-Control-Allow-Private-Network"
# Every response header the snippet owns: copies sent by the upstream are removed.
OWNED = (ACAO, ACAC, ACEH, ACAM, ACAH, ACMA, ACAPN)

# nginx builds exact map keys into a hash; past these sizes the defaults fail to load.
NGINX_DEFAULT_BUCKET = 64
NGINX_DEFAULT_KEYS = 64
NGINX_ENTRIES_PER_BUCKET = 8
# A header value longer than this is sent in several map variables that add_header joins, and that
# join is one parameter too. Values are tokens, which nginx_quote leaves as they are, so each part
# is about 900 bytes under nginx's 4,093. A list's header is at most 16 KiB (limits.py), so at most
# 6 parts, and add_header joins at most 6 variables of 39 bytes.
NGINX_VALUE_PART = 3_200
# Debian's PCRE2 (link size 2) refuses a compiled pattern over 64 KiB, about two bytes per literal
# character and three per alternative. `apache2 -t` on 2.4.71 loads one SetEnvIf of 108 origins of
# 300 characters (32,729 characters of regex) and refuses 109; of 30-character origins, 1,040 and
# 1,041. Exact origins are grouped into regexes of about half that, counted in escaped characters.
APACHE_REGEX_CHARS = 16_000


# When a header is sent: on every response, when the Origin is allowed, on the preflight answer,
# or on a preflight that asks for private-network access.
When = Literal["always", "allowed", "preflight", "private_network"]


# No origin holds a comma or white space; two Origin headers joined by a server ("a,b" in Caddy,
# "a, b" in Apache and nginx 1.23+) always do. A value matching this is never allowed, whatever a
# loose pattern such as https://.+\.example\.com would say of it.
NOT_ONE_ORIGIN = r"[,\s]"


@dataclass(frozen=True)
class Header:
    """One response header. `echo` means the value is the request's (allowed) Origin."""

    key: str
    name: str
    value: str
    when: When
    echo: bool = False


@dataclass(frozen=True)
class NginxPart:
    """An nginx map variable (`corsgen_NAME_SUFFIX`) holding a header value, or a piece of one."""

    suffix: str
    value: str


@dataclass(frozen=True)
class NginxHash:
    bucket_size: int
    max_size: int


@dataclass(frozen=True)
class Plan:
    """What every target renders, decided once from one checked policy."""

    name: str
    source: str
    digest: str
    version: str
    any_origin: bool
    exact_origins: tuple[str, ...]
    origin_patterns: tuple[str, ...]
    headers: tuple[Header, ...]
    preflight_status: int
    owned_headers: tuple[str, ...]
    nginx_hash: NginxHash | None

    @property
    def vary_origin(self) -> bool:
        """A static * is the same for everyone; anything computed from Origin must say so."""
        return not self.any_origin

    @property
    def groups(self) -> tuple[tuple[When, tuple[Header, ...]], ...]:
        """Headers by when they are sent, in a fixed order; empty groups left out."""
        order: tuple[When, ...] = ("always", "allowed", "preflight", "private_network")
        grouped = ((w, tuple(h for h in self.headers if h.when == w)) for w in order)
        return tuple((w, hs) for w, hs in grouped if hs)

    @property
    def private_network(self) -> bool:
        return any(h.when == "private_network" for h in self.headers)

    @property
    def var(self) -> str:
        """Prefix for nginx variables and Caddy matchers: unique per policy."""
        return f"corsgen_{self.name}"

    @property
    def env(self) -> str:
        """Prefix for Apache environment variables."""
        return f"CORSGEN_{self.name.upper()}"

    @cached_property
    def anchored_patterns(self) -> tuple[str, ...]:
        """Each wildcard or regex once, anchored: a map entry for nginx and Caddy, a SetEnvIf.

        Caddy refuses a map that lists an input twice, as when the regex spells out a wildcard.
        """
        return tuple(dict.fromkeys(_anchor([p]) for p in self.origin_patterns))

    @cached_property
    def apache_regexes(self) -> tuple[str, ...]:
        if self.any_origin:
            return ("^.+$",)  # any Origin at all makes a preflight
        chunks: list[list[str]] = []
        size = APACHE_REGEX_CHARS
        for escaped in map(re.escape, self.exact_origins):
            if size + len(escaped) > APACHE_REGEX_CHARS:
                chunks.append([])
                size = 0
            chunks[-1].append(escaped)
            size += len(escaped) + 1
        return tuple(map(_anchor, chunks)) + self.anchored_patterns

    @cached_property
    def nginx_parts(self) -> dict[str, tuple[NginxPart, ...]]:
        """Per header key, the map variables nginx sends the value in; none for a constant."""
        return {header.key: _nginx_parts(header) for header in self.headers}


def _nginx_parts(header: Header) -> tuple[NginxPart, ...]:
    value = header.value
    if header.echo or (header.when == "always" and len(value) <= NGINX_VALUE_PART):
        return ()
    # Cut wherever the count falls: add_header joins the variables back byte for byte.
    pieces = [value[i : i + NGINX_VALUE_PART] for i in range(0, len(value), NGINX_VALUE_PART)]
    if len(pieces) == 1:
        return (NginxPart(header.key, value),)
    return tuple(NginxPart(f"{header.key}_{n}", piece) for n, piece in enumerate(pieces, 1))


def _anchor(patterns: list[str]) -> str:
    return "^(?:" + "|".join(patterns) + ")$"


def _dedupe(values: list[str], fold: bool) -> tuple[str, ...]:
    seen: dict[str, str] = {}
    for value in values:
        seen.setdefault(value.lower() if fold else value, value)
    return tuple(seen.values())


def _nginx_hash(exact: tuple[str, ...]) -> NginxHash | None:
    if not exact:
        return None
    # ngx_hash_init: an element is a pointer plus the key and 2 bytes, aligned to a pointer.
    elt = max(8 + (len(o) + 2 + 7) // 8 * 8 for o in exact)
    if len(exact) <= NGINX_DEFAULT_KEYS and elt + 8 <= NGINX_DEFAULT_BUCKET:
        return None
    bucket = 1 << (NGINX_ENTRIES_PER_BUCKET * elt + 8 - 1).bit_length()
    return NginxHash(bucket, max(2048, 1 << (len(exact) - 1).bit_length()))


def _headers(policy: Policy) -> tuple[Header, ...]:
    """Which header goes out when, with its value; an empty list sends no header at all."""
    static = "*" in policy.allow_origins
    actual: When = "always" if static else "allowed"
    out = [
        Header("origin", ACAO, "*", actual) if static else Header("origin", ACAO, "", actual, True)
    ]
    if policy.allow_credentials:
        out.append(Header("credentials", ACAC, "true", actual))
    lists: tuple[tuple[str, str, tuple[str, ...], When], ...] = (
        ("expose", ACEH, _dedupe(policy.expose_headers, fold=True), actual),
        ("methods", ACAM, _dedupe(policy.allow_methods, fold=False), "preflight"),
        ("headers", ACAH, _dedupe(policy.allow_headers, fold=True), "preflight"),
    )
    out += [Header(key, name, ", ".join(v), when) for key, name, v, when in lists if v]
    if policy.max_age is not None:
        out.append(Header("max_age", ACMA, str(policy.max_age), "preflight"))
    if policy.allow_private_network:
        out.append(Header("private_network", ACAPN, "true", "private_network"))
    return tuple(out)


def build_plan(policy: Policy, name: str, source: str) -> Plan:
    """A plan for a policy that has already passed its checks."""
    origins = [o for _, o in parsed_origins(policy) if isinstance(o, Origin)]
    exact = _dedupe([str(o) for o in origins if not o.wildcard], fold=False)
    patterns = [o.regex() for o in sorted(set(origins)) if o.wildcard]
    if policy.allow_origin_regex is not None:
        patterns += parse_regex(policy.allow_origin_regex).alternatives
    return Plan(
        name=name,
        source=source,
        # The policy's meaning, not its text: a comment edit must not churn committed snippets.
        # The name counts once, however it was given (name = "api" or the file api.toml).
        digest=hashlib.sha256(
            f"{name}\n{policy.model_dump_json(exclude={'name'})}".encode()
        ).hexdigest(),
        version=__version__,
        any_origin="*" in policy.allow_origins,
        exact_origins=exact,
        origin_patterns=tuple(patterns),
        headers=_headers(policy),
        preflight_status=policy.preflight_status,
        owned_headers=OWNED,
        nginx_hash=_nginx_hash(exact),
    )


def load_and_plan(path: Path) -> tuple[Plan, list[Finding]]:
    """Load, check and plan one policy file; raise PolicyError on any error, return warnings."""
    text = read_text(path)
    policy = parse_policy(text, path.name)
    name = policy_name(policy, path)
    findings = check_policy(policy, name, path.name)
    if any(f.severity == "error" for f in findings):
        raise PolicyError(findings)
    return build_plan(policy, name, path.name), findings
