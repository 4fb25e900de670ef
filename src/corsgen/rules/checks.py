"""The checks behind the rules: a policy in, findings out. What each rule is called and says is in
the table (table.py); a check names the rule and case it found and the values to show.

Pure. The CLI decides what a warning costs (`--strict`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace

from corsgen.errors import Finding
from corsgen.fetch import ENGINES, Engine
from corsgen.limits import (
    MAX_HEADER_VALUE,
    MAX_LIST_ENTRIES,
    MAX_MAX_AGE,
    MAX_NAME_LENGTH,
    MAX_ORIGIN_LENGTH,
    MAX_ORIGINS,
    MAX_REGEX_LENGTH,
    MAX_TOKEN_LENGTH,
)
from corsgen.origins import Origin, OriginError, is_local, is_public_suffix, parse_origin
from corsgen.policy.loading import NAME_PATTERN, SHARED, AnyPolicy
from corsgen.regex import RegexError, check_regex, parse_regex
from corsgen.rules.table import Violation, violation

TCHAR = frozenset("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
# Tokens may hold these, but nginx reads $ as a variable and Apache's Header reads % as a format.
CONFIG_HOSTILE_IN_TOKEN = frozenset("$%")
FORBIDDEN_REQUEST_HEADERS = frozenset(
    [
        "accept-charset",
        "accept-encoding",
        "access-control-request-headers",
        "access-control-request-method",
        "connection",
        "content-length",
        "cookie",
        "cookie2",
        "date",
        "dnt",
        "expect",
        "host",
        "keep-alive",
        "origin",
        "referer",
        "set-cookie",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "via",
    ]
)
NORMALIZED_METHODS = frozenset({"DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT"})


def _cap(engine: Engine) -> int:
    cap = ENGINES[engine].max_age_cap
    assert cap is not None, engine  # every browser engine caps Max-Age
    return cap


# Above Chromium's cap a max_age is a warning (most users' browser keeps less), above WebKit's
# a note (Safari preflights more often than the others, nothing breaks).
CHROMIUM_MAX_AGE = _cap("chromium")
WEBKIT_MAX_AGE = _cap("webkit")


Check = Callable[[AnyPolicy, str], Iterator[Violation]]
CHECKS: list[Check] = []


def check(func: Check) -> Check:
    CHECKS.append(func)
    return func


def parsed_origins(policy: AnyPolicy) -> Iterator[tuple[int, Origin | OriginError]]:
    for index, text in enumerate(policy.allow_origins):
        if text == "*":
            continue
        try:
            yield index, parse_origin(text)
        except OriginError as exc:
            yield index, exc


def _too_many(key: str, values: list[str], most: int, case: str) -> Iterator[Violation]:
    if len(values) > most:
        yield violation("CG120", case, key, count=len(values), most=most)


def _too_long(
    key: str, values: list[str], most: int, cases: tuple[str, str]
) -> Iterator[Violation]:
    """The first entry over the limit, with how many more are: not one line per entry. `cases`
    are the rule's cases for one entry over, and for more."""
    over = [index for index, value in enumerate(values) if len(value) > most]
    if over:
        first = values[over[0]]
        fields = {"value": first, "length": len(first), "most": most, "more": len(over) - 1}
        yield violation("CG120", cases[len(over) > 1], f"{key}[{over[0]}]", **fields)


@check
def _limits(policy: AnyPolicy, name: str) -> Iterator[Violation]:
    """Sizes every server loads (limits.py). Registered first: check_policy stops after it when it
    finds anything, since the other checks take time in proportion to the size."""
    origins = policy.allow_origins
    yield from _too_many("allow_origins", origins, MAX_ORIGINS, "too-many-origins")
    cases = ("origin-too-long", "origins-too-long")
    yield from _too_long("allow_origins", origins, MAX_ORIGIN_LENGTH, cases)
    lists = (
        ("allow_methods", policy.allow_methods),
        ("allow_headers", policy.allow_headers),
        ("expose_headers", policy.expose_headers),
    )
    for key, values in lists:
        yield from _too_many(key, values, MAX_LIST_ENTRIES, "too-many-names")
        yield from _too_long(key, values, MAX_TOKEN_LENGTH, ("name-too-long", "names-too-long"))
        joined = sum(map(len, values)) + 2 * max(len(values) - 1, 0)
        if joined > MAX_HEADER_VALUE:
            yield violation("CG120", "joined-too-long", key, length=joined, most=MAX_HEADER_VALUE)
    if policy.max_age is not None and policy.max_age > MAX_MAX_AGE:
        yield violation("CG120", "max-age", "max_age", seconds=policy.max_age, most=MAX_MAX_AGE)
    regex = policy.allow_origin_regex
    if regex is not None and len(regex) > MAX_REGEX_LENGTH:
        length = len(regex)
        yield violation(
            "CG120", "regex-too-long", "allow_origin_regex", length=length, most=MAX_REGEX_LENGTH
        )


@check
def _name(policy: AnyPolicy, name: str) -> Iterator[Violation]:
    key = "name" if policy.name is not None else ""
    if len(name) > MAX_NAME_LENGTH:
        yield violation("CG116", "too-long", key, name=name, length=len(name), most=MAX_NAME_LENGTH)
    elif not NAME_PATTERN.fullmatch(name):
        yield violation("CG116", "pattern", key, name=name)
    elif name == SHARED:
        yield violation("CG116", "reserved", key, name=name)


@check
def _origins(policy: AnyPolicy, name: str) -> Iterator[Violation]:
    star = "*" in policy.allow_origins
    if not policy.allow_origins and policy.allow_origin_regex is None:
        yield violation("CG105", "empty-list", "allow_origins")
    if star and policy.allow_credentials:
        yield violation("CG101", "credentials", "allow_origins")
    if star and (len(policy.allow_origins) > 1 or policy.allow_origin_regex is not None):
        yield violation("CG119", "mixed", "allow_origins")
    seen: dict[Origin, int] = {}
    wildcards: dict[Origin, list[int]] = {}  # each `*.` entry to where it is listed
    parsed = list(parsed_origins(policy))
    # The loops run once per entry, up to 100,000 times: a key is written only for a finding.
    for index, origin in parsed:
        if isinstance(origin, OriginError):
            yield replace(origin.violation, key=_entry(index))
            continue
        if origin.wildcard:
            wildcards.setdefault(origin, []).append(index)
            if is_public_suffix(origin.host):
                yield violation("CG106", "public-suffix", _entry(index), host=origin.host)
        if origin.scheme in ("http", "ws") and not is_local(origin):
            yield violation(
                "CG201", "plain", _entry(index), origin=str(origin), scheme=origin.scheme
            )
        first = seen.setdefault(origin, index)
        if first != index:
            yield violation("CG203", "repeated", _entry(index), origin=str(origin), first=first)
    if not wildcards:
        return
    # Each origin looks up its few parent domains, not every wildcard: 20,000 of each stay fast.
    for index, origin in parsed:
        if isinstance(origin, Origin) and not origin.wildcard:
            covering = (wildcards.get(wild, []) for wild in origin.covering_wildcards())
            for windex in sorted(w for found in covering for w in found):
                yield violation(
                    "CG203", "covered", _entry(index), origin=str(origin), wildcard=windex
                )


def _entry(index: int) -> str:
    return f"allow_origins[{index}]"


@check
def _regex(policy: AnyPolicy, name: str) -> Iterator[Violation]:
    if policy.allow_origin_regex is None:
        return
    try:
        regex = parse_regex(policy.allow_origin_regex)
        check_regex(regex)
    except RegexError as exc:
        yield replace(exc.violation, key="allow_origin_regex")
        return


def _token_list(policy: AnyPolicy, field: str, values: list[str]) -> Iterator[Violation]:
    for index, value in enumerate(values):
        key = f"{field}[{index}]"
        if value == "*":
            if policy.allow_credentials:
                yield violation("CG107", "star", key)
            continue
        if set(value) & CONFIG_HOSTILE_IN_TOKEN:
            yield violation("CG111", "name", key, name=value)
        elif not value or not set(value) <= TCHAR:
            yield violation("CG110", "token", key, name=value)


@check
def _methods(policy: AnyPolicy, name: str) -> Iterator[Violation]:
    yield from _token_list(policy, "allow_methods", policy.allow_methods)
    for index, method in enumerate(policy.allow_methods):
        upper = method.upper()
        if upper in NORMALIZED_METHODS and method != upper:
            yield violation(
                "CG204", "lowercase", f"allow_methods[{index}]", upper=upper, method=method
            )


@check
def _headers(policy: AnyPolicy, name: str) -> Iterator[Violation]:
    yield from _token_list(policy, "allow_headers", policy.allow_headers)
    yield from _token_list(policy, "expose_headers", policy.expose_headers)
    for index, header in enumerate(policy.allow_headers):
        low = header.lower()
        if low in FORBIDDEN_REQUEST_HEADERS or low.startswith(("proxy-", "sec-")):
            yield violation("CG113", "forbidden", f"allow_headers[{index}]", name=header)
    listed = {header.lower() for header in policy.allow_headers}
    if "*" in listed and "authorization" not in listed and not policy.allow_credentials:
        # Engines let Authorization through a * today; the standard does not (corsgen.fetch).
        yield violation("CG205", "star", f"allow_headers[{policy.allow_headers.index('*')}]")
    for index, header in enumerate(policy.expose_headers):
        if header.lower() in ("set-cookie", "set-cookie2"):
            yield violation("CG112", "set-cookie", f"expose_headers[{index}]")


@check
def _numbers(policy: AnyPolicy, name: str) -> Iterator[Violation]:
    if policy.preflight_status not in (200, 204):
        yield violation("CG114", "status", "preflight_status", status=policy.preflight_status)
    if policy.max_age is not None and policy.max_age < 0:
        yield violation("CG115", "negative", "max_age", seconds=policy.max_age)
    elif policy.max_age is not None and policy.max_age > CHROMIUM_MAX_AGE:
        yield violation(
            "CG202", "over-cap", "max_age", seconds=policy.max_age, cap=CHROMIUM_MAX_AGE
        )
    elif policy.max_age is not None and policy.max_age > WEBKIT_MAX_AGE:
        yield violation(
            "CG202", "over-webkit-cap", "max_age", seconds=policy.max_age, cap=WEBKIT_MAX_AGE
        )


@check
def _private_network(policy: AnyPolicy, name: str) -> Iterator[Violation]:
    if policy.allow_private_network:
        yield violation("CG207", "kept", "allow_private_network")


def check_policy(policy: AnyPolicy, name: str, file: str) -> list[Finding]:
    """Every finding for one policy, errors first, each in file order. Without lines: the
    pipeline adds them, scanning the text only when there is a finding."""
    findings = []
    for func in CHECKS:
        for found in func(policy, name):
            findings.append(found.finding(file))
        if func is _limits and findings:
            break  # past a limit, the other checks could run for minutes: report the limit alone
    return sorted(findings, key=lambda f: f.severity != "error")
