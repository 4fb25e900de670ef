"""A checked policy in, what every target renders out: which header is sent when, with what value.

Every decision common to the targets is made here, once; a target module (targets/) turns the plan
into its own names and syntax. Pure: no file is read here.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

from corsgen import __version__
from corsgen.origins import Origin
from corsgen.policy.loading import AnyPolicy, policy_json
from corsgen.regex import OUTSIDE_AN_ORIGIN, anchor, parse_regex
from corsgen.rules.checks import parsed_origins

ACAO = "Access-Control-Allow-Origin"
ACAC = "Access-Control-Allow-Credentials"
ACEH = "Access-Control-Expose-Headers"
ACAM = "Access-Control-Allow-Methods"
ACAH = "Access-Control-Allow-Headers"
ACMA = "Access-Control-Max-Age"
ACAPN = "Access-Control-Allow-Private-Network"
# Every response header the snippet owns: copies sent by the upstream are removed.
OWNED = (ACAO, ACAC, ACEH, ACAM, ACAH, ACMA, ACAPN)

# When a header is sent: on every response, when the Origin is allowed, on the preflight answer,
# or on a preflight that asks for private-network access.
When = Literal["always", "allowed", "preflight", "private_network"]


@dataclass(frozen=True)
class Header:
    """One response header and its role (origin, credentials, methods ...). `echo` means the value
    is the request's (allowed) Origin."""

    role: str
    name: str
    value: str
    when: When
    echo: bool = False


@dataclass(frozen=True)
class Attachment:
    """Where a Kubernetes output attaches, given by `render --namespace/--route` or the manifest's
    `namespace` and `routes`: the namespace written into a whole resource, and the HTTPRoute or
    VirtualService it is for. None is the default: no namespace (kustomize's or `kubectl -n`
    gives it), the route named after the policy. Never part of the policy or its digest."""

    namespace: str | None = None
    route: str | None = None


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
    # The wildcard origins as the policy wrote them (https://*.example.com), sorted: their regexes
    # open origin_patterns, for a format that takes wildcards as they are (the Gateway API's).
    wildcard_origins: tuple[str, ...] = ()
    attachment: Attachment = Attachment()

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
    def regex_patterns(self) -> tuple[str, ...]:
        """The alternatives of allow_origin_regex: the patterns that are no wildcard."""
        return self.origin_patterns[len(self.wildcard_origins) :]

    @property
    def private_network(self) -> bool:
        return any(h.when == "private_network" for h in self.headers)

    @cached_property
    def anchored_patterns(self) -> tuple[str, ...]:
        """Each wildcard or regex once, anchored. Once: a server may refuse a table that lists a
        key twice (Caddy's map does), as when the regex spells out a wildcard."""
        return tuple(dict.fromkeys(anchor([p]) for p in self.origin_patterns))

    def value(self, role: str) -> str | None:
        """The value of the header sent in this role (a Header.role), None when none is sent."""
        return next((h.value for h in self.headers if h.role == role), None)

    @cached_property
    def _exact(self) -> frozenset[str]:
        return frozenset(self.exact_origins)

    @cached_property
    def _patterns(self) -> tuple[re.Pattern[str], ...]:
        # Python's re reads the portable subset as PCRE and RE2 do; fullmatch is the anchoring.
        return tuple(re.compile(p) for p in dict.fromkeys(self.origin_patterns))

    def allows(self, origin: str) -> bool:
        """Whether the servers carrying this plan let a page at `origin` read their answers: the
        plan's meaning in Python, for `explain` and as `probe`'s expectation."""
        if self.any_origin:
            return True
        if not origin or re.search(OUTSIDE_AN_ORIGIN, origin):
            return False
        return origin in self._exact or any(p.fullmatch(origin) for p in self._patterns)


def _dedupe(values: list[str], fold: bool) -> tuple[str, ...]:
    seen: dict[str, str] = {}
    for value in values:
        seen.setdefault(value.lower() if fold else value, value)
    return tuple(seen.values())


def _headers(policy: AnyPolicy) -> tuple[Header, ...]:
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


def build_plan(policy: AnyPolicy, name: str, source: str) -> Plan:
    """A plan for a policy that has already passed its checks."""
    origins = [o for _, o in parsed_origins(policy) if isinstance(o, Origin)]
    exact = _dedupe([str(o) for o in origins if not o.wildcard], fold=False)
    # Sorted for a stable output; only the wildcards, since sorting 100,000 exact origins took
    # longer than the rest of the plan.
    wildcards = sorted({o for o in origins if o.wildcard})
    patterns = [o.regex() for o in wildcards]
    if policy.allow_origin_regex is not None:
        patterns += parse_regex(policy.allow_origin_regex).alternatives
    return Plan(
        name=name,
        source=source,
        # The policy's meaning, not its text: a comment edit must not churn committed snippets.
        # The name counts once, however it was given (name = "api" or the file api.toml).
        digest=hashlib.sha256(f"{name}\n{policy_json(policy)}".encode()).hexdigest(),
        version=__version__,
        any_origin="*" in policy.allow_origins,
        exact_origins=exact,
        origin_patterns=tuple(patterns),
        headers=_headers(policy),
        preflight_status=policy.preflight_status,
        owned_headers=OWNED,
        wildcard_origins=tuple(str(o) for o in wildcards),
    )
