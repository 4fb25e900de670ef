"""The unsafe-combination rules, as a table: stable id, severity, what is wrong and how to fix it.

Pure: a policy in, findings out. The CLI decides what a warning costs (`--strict`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from corsgen.errors import Finding, Severity, shorten
from corsgen.limits import (
    MAX_HEADER_VALUE,
    MAX_LIST_ENTRIES,
    MAX_MAX_AGE,
    MAX_NAME_LENGTH,
    MAX_ORIGIN_LENGTH,
    MAX_ORIGINS,
    MAX_REGEX_LENGTH,
    MAX_TOKEN_LENGTH,
    NGINX_MAX_PARAMETER,
)
from corsgen.origins import Origin, OriginError, is_local, is_public_suffix, parse_origin
from corsgen.policy import NAME_PATTERN, Policy
from corsgen.regex import RegexError, check_regex, parse_regex

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
CHROMIUM_MAX_AGE = 7200


@dataclass(frozen=True)
class Rule:
    id: str
    slug: str
    severity: Severity
    summary: str


RULES: tuple[Rule, ...] = (
    Rule("CG000", "unreadable", "error", "the policy file cannot be read"),
    Rule("CG001", "toml-syntax", "error", "the file is not valid TOML"),
    Rule("CG002", "unknown-key", "error", "a key corsgen does not know (typo?)"),
    Rule("CG003", "wrong-type", "error", "a value of the wrong type"),
    Rule("CG004", "missing-key", "error", "a required key is missing"),
    Rule(
        "CG101",
        "wildcard-with-credentials",
        "error",
        '"*" origin together with allow_credentials; browsers reject it',
    ),
    Rule("CG102", "opaque-origin", "error", "a null or file:// origin, shared by every sandbox"),
    Rule(
        "CG103",
        "origin-not-bare",
        "error",
        "an origin with a path, query, fragment, userinfo or trailing slash",
    ),
    Rule("CG104", "bad-port", "error", "an origin with a port that is not 1-65535"),
    Rule("CG105", "empty-origin", "error", "an empty allow list or entry; corsgen fails closed"),
    Rule(
        "CG106",
        "public-suffix-wildcard",
        "error",
        "a wildcard directly over a public suffix (*.com, *.co.uk, *.github.io)",
    ),
    Rule(
        "CG107",
        "star-list-with-credentials",
        "error",
        '"*" in methods or headers with credentials, where browsers read it literally',
    ),
    Rule(
        "CG108", "regex-too-broad", "error", "allow_origin_regex accepts origins an attacker owns"
    ),
    Rule(
        "CG109",
        "regex-not-portable",
        "error",
        "allow_origin_regex uses syntax PCRE and RE2 differ on",
    ),
    Rule("CG110", "not-a-token", "error", "a method or header name that is not an RFC 9110 token"),
    Rule("CG111", "config-unsafe", "error", "a character that could break out of config syntax"),
    Rule("CG112", "expose-set-cookie", "error", "Set-Cookie in expose_headers; never readable"),
    Rule(
        "CG113",
        "forbidden-request-header",
        "error",
        "a forbidden request header in allow_headers; scripts cannot set it",
    ),
    Rule("CG114", "bad-preflight-status", "error", "preflight_status other than 204 or 200"),
    Rule("CG115", "negative-max-age", "error", "a negative max_age"),
    Rule(
        "CG116",
        "bad-name",
        "error",
        "a policy name that is not [a-z][a-z0-9_]*, or longer than 19 characters",
    ),
    Rule("CG117", "malformed-origin", "error", "an origin that is not scheme://host[:port]"),
    Rule("CG118", "bad-wildcard", "error", "a * that is not a whole leftmost label"),
    Rule("CG119", "star-mixed", "error", '"*" mixed with other origins or a regex'),
    Rule(
        "CG120",
        "over-limit",
        "error",
        "a value longer, larger or more numerous than the servers load (limits in README.md)",
    ),
    Rule(
        "CG121",
        "regex-backtracking",
        "error",
        "allow_origin_regex could backtrack exponentially (ReDoS) in PCRE",
    ),
    Rule(
        "CG122",
        "regex-engine",
        "error",
        "allow_origin_regex does not compile in RE2 or PCRE2 as the servers run them",
    ),
    Rule("CG201", "insecure-origin", "warning", "an http:// origin other than localhost"),
    Rule(
        "CG202",
        "max-age-over-cap",
        "warning",
        "max_age above 7200, Chromium's cap (Firefox caps at 86400)",
    ),
    Rule(
        "CG203",
        "duplicate-origin",
        "warning",
        "an origin listed twice, or already covered by a wildcard",
    ),
    Rule(
        "CG204",
        "lowercase-method",
        "warning",
        "a standard method in lowercase; browsers send it uppercase and compare exactly",
    ),
    Rule("CG302", "glob-matches-nothing", "error", "a manifest glob that matches no policy file"),
    Rule("CG303", "output-clash", "error", "two manifest entries that would write the same file"),
    Rule(
        "CG304",
        "path-outside-root",
        "error",
        "a manifest path or glob that leaves the manifest's directory (--allow-outside)",
    ),
    Rule("CG305", "bad-path", "error", "a manifest path or glob that is empty, absolute or unsafe"),
)
BY_ID = {rule.id: rule for rule in RULES}

Hit = tuple[str, str, str, str]  # rule id, key, message, fix
Check = Callable[[Policy, str], Iterator[Hit]]
CHECKS: list[Check] = []


def check(func: Check) -> Check:
    CHECKS.append(func)
    return func


def parsed_origins(policy: Policy) -> Iterator[tuple[int, Origin | OriginError]]:
    for index, text in enumerate(policy.allow_origins):
        if text == "*":
            continue
        try:
            yield index, parse_origin(text)
        except OriginError as exc:
            yield index, exc


def _too_many(key: str, values: list[str], most: int, fix: str) -> Iterator[Hit]:
    if len(values) > most:
        yield "CG120", key, f"{len(values):,} entries, more than the {most:,} corsgen accepts", fix


def _too_long(key: str, values: list[str], most: int, fix: str) -> Iterator[Hit]:
    """The first entry over the limit, with how many more are: not one line per entry."""
    over = [index for index, value in enumerate(values) if len(value) > most]
    if over:
        first = values[over[0]]
        more = f" (and {len(over) - 1:,} more)" if len(over) > 1 else ""
        length = f"{shorten(first)} is {len(first):,} characters"
        message = f"{length}, more than the {most:,} corsgen accepts{more}"
        yield "CG120", f"{key}[{over[0]}]", message, fix


@check
def _limits(policy: Policy, name: str) -> Iterator[Hit]:
    """Sizes every server loads (limits.py). Registered first: check_policy stops after it when it
    finds anything, since the other checks take time in proportion to the size."""
    wildcard = "cover them with a wildcard (https://*.example.com) or allow_origin_regex"
    yield from _too_many("allow_origins", policy.allow_origins, MAX_ORIGINS, wildcard)
    yield from _too_long("allow_origins", policy.allow_origins, MAX_ORIGIN_LENGTH, wildcard)
    lists = (
        ("allow_methods", policy.allow_methods),
        ("allow_headers", policy.allow_headers),
        ("expose_headers", policy.expose_headers),
    )
    for key, values in lists:
        yield from _too_many(key, values, MAX_LIST_ENTRIES, "list only the names clients use")
        yield from _too_long(key, values, MAX_TOKEN_LENGTH, "use a shorter name")
        joined = sum(map(len, values)) + 2 * max(len(values) - 1, 0)
        if joined > MAX_HEADER_VALUE:
            yield (
                "CG120",
                key,
                f"joined, the names make a {joined:,}-character header, more than the "
                f"{MAX_HEADER_VALUE:,} corsgen sends (browsers fail a response head past 256 KiB)",
                "list only the names clients use",
            )
    if policy.max_age is not None and policy.max_age > MAX_MAX_AGE:
        yield (
            "CG120",
            "max_age",
            f"{shorten(policy.max_age)} is more than {MAX_MAX_AGE:,} (2^31 - 1)",
            "use 7200 or less, Chromium's cap",
        )
    regex = policy.allow_origin_regex
    if regex is not None and len(regex) > MAX_REGEX_LENGTH:
        yield (
            "CG120",
            "allow_origin_regex",
            f"{len(regex):,} characters, more than the {MAX_REGEX_LENGTH:,} corsgen accepts",
            "list the origins, or cover them with wildcards (https://*.example.com)",
        )


@check
def _name(policy: Policy, name: str) -> Iterator[Hit]:
    key = "name" if policy.name is not None else ""
    fix = 'set name = "my_api"'
    if len(name) > MAX_NAME_LENGTH:
        yield (
            "CG116",
            key,
            f"policy name {shorten(name)} is {len(name):,} characters, more than the "
            f"{MAX_NAME_LENGTH} corsgen accepts",
            fix,
        )
    elif not NAME_PATTERN.fullmatch(name):
        yield "CG116", key, f"policy name {shorten(name)} is not [a-z][a-z0-9_]*", fix


@check
def _origins(policy: Policy, name: str) -> Iterator[Hit]:
    star = "*" in policy.allow_origins
    if not policy.allow_origins and policy.allow_origin_regex is None:
        yield "CG105", "allow_origins", "the list is empty", 'list origins, or "*" for any origin'
    if star and policy.allow_credentials:
        yield (
            "CG101",
            "allow_origins",
            '"*" with allow_credentials = true is rejected by browsers',
            "list the exact origins, or set allow_credentials = false",
        )
    if star and (len(policy.allow_origins) > 1 or policy.allow_origin_regex is not None):
        yield "CG119", "allow_origins", '"*" already allows every origin', 'keep "*" alone'
    seen: dict[Origin, int] = {}
    wildcards: dict[Origin, list[int]] = {}  # each `*.` entry to where it is listed
    parsed = list(parsed_origins(policy))
    for index, origin in parsed:
        key = f"allow_origins[{index}]"
        if isinstance(origin, OriginError):
            yield origin.rule, key, origin.message, origin.fix
            continue
        if origin.wildcard:
            wildcards.setdefault(origin, []).append(index)
            if is_public_suffix(origin.host):
                yield (
                    "CG106",
                    key,
                    f"{origin.host!r} is a public suffix: *.{origin.host} spans "
                    "sites owned by anyone",
                    "list your own domains, e.g. https://*.example.com",
                )
        if origin.scheme in ("http", "ws") and not is_local(origin):
            yield (
                "CG201",
                key,
                f"{str(origin)!r} is plain {origin.scheme}, readable and forgeable on the network",
                f"use {origin.scheme}s://",
            )
        if origin in seen:
            yield (
                "CG203",
                key,
                f"{str(origin)!r} repeats allow_origins[{seen[origin]}]",
                "remove it",
            )
        seen.setdefault(origin, index)
    # Each origin looks up its few parent domains, not every wildcard: 20,000 of each stay fast.
    for index, origin in parsed:
        if isinstance(origin, Origin) and not origin.wildcard:
            covering = (wildcards.get(wild, []) for wild in origin.covering_wildcards())
            for windex in sorted(w for found in covering for w in found):
                yield (
                    "CG203",
                    f"allow_origins[{index}]",
                    f"{str(origin)!r} is covered by allow_origins[{windex}]",
                    "remove it",
                )


@check
def _regex(policy: Policy, name: str) -> Iterator[Hit]:
    if policy.allow_origin_regex is None:
        return
    try:
        regex = parse_regex(policy.allow_origin_regex)
        check_regex(regex)
    except RegexError as exc:
        yield exc.rule, "allow_origin_regex", exc.message, exc.fix
        return
    # nginx gets each alternative in the canonical spelling (\w is [0-9A-Za-z_]) as one map key,
    # "~^(?:ALT)$" with its backslashes doubled: the length the source has says little.
    for alt in regex.alternatives:
        if len(alt) + alt.count("\\") + len("~^(?:)$") > NGINX_MAX_PARAMETER:
            yield (
                "CG120",
                "allow_origin_regex",
                f"the alternative {shorten(alt)}, written out for nginx, is longer than the "
                f"{NGINX_MAX_PARAMETER:,} bytes nginx reads in one parameter",
                "split it into shorter alternatives (a|b), or list the origins",
            )
            return


def _token_list(policy: Policy, field: str, values: list[str]) -> Iterator[Hit]:
    for index, value in enumerate(values):
        key = f"{field}[{index}]"
        if value == "*":
            if policy.allow_credentials:
                yield (
                    "CG107",
                    key,
                    '"*" with credentials is read literally, not as a wildcard',
                    "list the names",
                )
            continue
        if set(value) & CONFIG_HOSTILE_IN_TOKEN:
            yield "CG111", key, f"{value!r} contains $ or %", "use a plain name"
        elif not value or not set(value) <= TCHAR:
            yield (
                "CG110",
                key,
                f"{value!r} is not an RFC 9110 token",
                "use a plain name like X-Request-Id",
            )


@check
def _methods(policy: Policy, name: str) -> Iterator[Hit]:
    yield from _token_list(policy, "allow_methods", policy.allow_methods)
    for index, method in enumerate(policy.allow_methods):
        upper = method.upper()
        if upper in NORMALIZED_METHODS and method != upper:
            yield (
                "CG204",
                f"allow_methods[{index}]",
                f"browsers send {upper}, and {method!r} does not match it",
                f"write {upper!r}",
            )


@check
def _headers(policy: Policy, name: str) -> Iterator[Hit]:
    yield from _token_list(policy, "allow_headers", policy.allow_headers)
    yield from _token_list(policy, "expose_headers", policy.expose_headers)
    for index, header in enumerate(policy.allow_headers):
        low = header.lower()
        if low in FORBIDDEN_REQUEST_HEADERS or low.startswith(("proxy-", "sec-")):
            yield (
                "CG113",
                f"allow_headers[{index}]",
                f"{header!r} is a forbidden request header; browsers set it themselves",
                "remove it",
            )
    for index, header in enumerate(policy.expose_headers):
        if header.lower() in ("set-cookie", "set-cookie2"):
            yield (
                "CG112",
                f"expose_headers[{index}]",
                "browsers never expose Set-Cookie",
                "remove it",
            )


@check
def _numbers(policy: Policy, name: str) -> Iterator[Hit]:
    if policy.preflight_status not in (200, 204):
        yield (
            "CG114",
            "preflight_status",
            f"{shorten(policy.preflight_status)} is not 204 or 200",
            "use 204, or 200 for old clients",
        )
    if policy.max_age is not None and policy.max_age < 0:
        yield (
            "CG115",
            "max_age",
            f"{shorten(policy.max_age)} is negative",
            "use 0 or more, or leave it unset",
        )
    elif policy.max_age is not None and policy.max_age > CHROMIUM_MAX_AGE:
        yield (
            "CG202",
            "max_age",
            f"{policy.max_age} is above 7200; Chromium uses 7200, Firefox 86400",
            "use 7200 or less",
        )


def check_policy(policy: Policy, name: str, file: str) -> list[Finding]:
    """Every finding for one policy, errors first, each in file order."""
    findings = []
    for func in CHECKS:
        for rule_id, key, message, fix in func(policy, name):
            rule = BY_ID[rule_id]
            findings.append(Finding(rule.id, rule.slug, rule.severity, file, key, message, fix))
        if func is _limits and findings:
            break  # past a limit, the other checks could run for minutes: report the limit alone
    return sorted(findings, key=lambda f: f.severity != "error")
