"""The one rule table: each rule's id, slug, severity, summary, and every message it can give.

Every finding is built here from a rule id and a case, so a slug, a severity or a fix is written
once. A case is a `(message, fix)` pair of str.format templates; the code that finds a problem
passes only the values (the origin, the count, the limit), never words. In a template `!v` quotes
a user's value shortened (errors.shorten), so a 10 MB string is quoted by its ends.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from corsgen.errors import Finding, Severity, shorten
from corsgen.fetch import BROWSERS, ENGINES, who

Texts = tuple[str, str]  # (message, fix), both str.format templates


@dataclass(frozen=True)
class Rule:
    """One rule: what `corsgen rules` and docs/rules.md list, and each case's texts.

    `lower` names the cases that find the same thing at a lower severity: a reflected Origin is
    an error with credentials, a warning without.
    """

    id: str
    slug: str
    severity: Severity
    summary: str
    cases: Mapping[str, Texts]
    lower: Mapping[str, Severity] = field(default_factory=dict)

    def texts(self, case: str, fields: Mapping[str, object]) -> Texts:
        """The case's message and fix with the fields filled in."""
        message, fix = self.cases[case]
        return _FORMAT.vformat(message, (), fields), _FORMAT.vformat(fix, (), fields)


class _Formatter(string.Formatter):
    """str.format, plus `!v`: a user's value as errors.shorten quotes it. `!r` of a value past
    _LONG characters is shortened too: a 60 MB glob is no clearer for being printed whole."""

    def convert_field(self, value: Any, conversion: str | None) -> Any:
        if conversion == "v" or (conversion == "r" and len(repr(value)) > _LONG):
            return shorten(value)
        return super().convert_field(value, conversion)


# Longer than any origin, name or path a finding quotes in full (MAX_ORIGIN_LENGTH is 300).
_LONG = 1_000


_FORMAT = _Formatter()

# Texts several cases share.
_WILDCARD_FIX = "cover them with a wildcard (https://*.example.com) or allow_origin_regex"
_NAMES_FIX = "list only the names clients use"
_PORTABLE_FIX = "use only literals, \\., [...] classes, (...) / (?:...) groups, | and ? * + {{n,m}}"
_UNAMBIGUOUS_FIX = (
    "make each repeated part unambiguous, e.g. ([a-z0-9-]+\\.)* instead of ([a-z.]+)+"
)
_OUTSIDE_FIX = "keep it inside the manifest's directory, or pass --allow-outside"
_NOT_PORTABLE = "{construct} at position {pos} of {regex!v} is not portable between PCRE and RE2"
_TOO_LONG = "{value!v} is {length:,} characters, more than the {most:,} corsgen accepts"
_TOO_LONG_MORE = _TOO_LONG + " (and {more:,} more)"
_TOO_MANY = "{count:,} entries, more than the {most:,} corsgen accepts"
# Audit texts several cases share (a case per server where the fix differs).
_TRUST_FIX = "allow only the origins you mean: list them, or match them with an anchored regex"
_ERROR_TEXT = "{request} gets a {status} without CORS headers: the page sees a CORS failure"
_TWICE_TEXT = "{request} gets {names} twice"
_UPSTREAM_TEXT = (
    "the backend's own {names} reach the browser on {request}: the backend, not this config, "
    "decides who reads the answer"
)

# What the engines do where they part from the Fetch standard, said from corsgen.fetch.ENGINES.
_STAR_COVERING = [e for e in BROWSERS if ENGINES[e].star_covers_authorization]
_STAR_SWITCHABLE = [e for e in _STAR_COVERING if ENGINES[e].strict_authorization]
_STAR_TODAY = f"in {who(_STAR_COVERING)} today, but not under {ENGINES['spec'].title}"
_STAR_SWITCH = f", and {who(_STAR_SWITCHABLE)} can be switched to it" * bool(_STAR_SWITCHABLE)
# Each engine's cap on Access-Control-Max-Age; every engine keeps a cached preflight for one
# top-level site at most (ENGINES' preflight_cache, measured in
# tests/browser/engine_partition_test.py), which the caps cannot lengthen.
_CAPS = ", ".join(f"{ENGINES[e].title} {ENGINES[e].max_age_cap:,} s" for e in BROWSERS)
_MAX_AGE = (
    f" (the caps: {_CAPS}); and every engine keeps a preflight for one top-level site, so a page "
    "embedded on many sites, or a third party's, is preflighted on each"
)
_CHROMIUM, _WEBKIT = ENGINES["chromium"].title, ENGINES["webkit"].title

RULES: tuple[Rule, ...] = (
    Rule(
        "CG000",
        "unreadable",
        "error",
        "the policy file cannot be read",
        {"cannot-read": ("cannot read the file: {reason}", "check the path")},
    ),
    Rule(
        "CG001",
        "toml-syntax",
        "error",
        "the file is not valid TOML",
        {
            "syntax": ("{detail}", "fix the TOML syntax"),
            "too-deep": ("arrays or inline tables nested too deeply to read", "nest less deeply"),
            "long-number": ("a number with more than {digits} digits", "use a smaller number"),
        },
    ),
    Rule(
        "CG002",
        "unknown-key",
        "error",
        "a key corsgen does not know (typo?)",
        {
            "close": ("unknown key", "did you mean {close!r}?"),
            "no-close": ("unknown key", "known keys: {known}"),
        },
    ),
    Rule(
        "CG003",
        "wrong-type",
        "error",
        "a value of the wrong type",
        {
            "mismatch": (
                "{detail}, got {value!v}",
                "see the keys in docs/policy.md (a policy) or docs/infra.md (corsgen.toml)",
            ),
            "and-more": ("and {more:,} more problems", "fix those first"),
        },
    ),
    Rule(
        "CG004",
        "missing-key",
        "error",
        "a required key is missing",
        {"missing": ("required key is missing", "add {name}")},
    ),
    Rule(
        "CG101",
        "wildcard-with-credentials",
        "error",
        '"*" origin together with allow_credentials; browsers reject it',
        {
            "credentials": (
                '"*" with allow_credentials = true is rejected by browsers',
                "list the exact origins, or set allow_credentials = false",
            ),
            "answered": (
                "{server} answers {request} with Access-Control-Allow-Origin: * and "
                "Access-Control-Allow-Credentials: true, which browsers refuse",
                "send * without credentials, or list the origins and send credentials to them",
            ),
        },
    ),
    Rule(
        "CG102",
        "opaque-origin",
        "error",
        "a null or file:// origin, shared by every sandbox",
        {
            "opaque": (
                "{origin!r} is an opaque origin that sandboxed frames, data: and file: pages all "
                "share",
                "serve the page from a real https:// origin and list that",
            )
        },
    ),
    Rule(
        "CG103",
        "origin-not-bare",
        "error",
        "an origin with a path, query, fragment, userinfo or trailing slash",
        {
            "userinfo": ("{origin!r} contains userinfo", "remove the user@ part"),
            "not-bare": ("{origin!r} has {part}; an origin never does", "write {bare!r}"),
        },
    ),
    Rule(
        "CG104",
        "bad-port",
        "error",
        "an origin with a port that is not 1-65535",
        {"port": ("{origin!r} has an invalid port {port!r}", "use a port from 1 to 65535")},
    ),
    Rule(
        "CG105",
        "empty-origin",
        "error",
        "an empty allow list or entry; corsgen fails closed",
        {
            "empty-list": ("the list is empty", 'list origins, or "*" for any origin'),
            "empty-entry": (
                "empty origin",
                "remove the entry; corsgen never treats it as allow-all",
            ),
            "empty-regex": ("empty regex", "remove allow_origin_regex or give a pattern"),
        },
    ),
    Rule(
        "CG106",
        "public-suffix-wildcard",
        "error",
        "a wildcard directly over a public suffix (*.com, *.co.uk, *.github.io)",
        {
            "public-suffix": (
                "{host!r} is a public suffix: *.{host} spans sites owned by anyone",
                "list your own domains, e.g. https://*.example.com",
            )
        },
    ),
    Rule(
        "CG107",
        "star-list-with-credentials",
        "error",
        '"*" in methods or headers with credentials, where browsers read it literally',
        {
            "star": (
                '"*" with credentials is read literally, not as a wildcard',
                "list the names",
            )
        },
    ),
    Rule(
        "CG108",
        "regex-too-broad",
        "error",
        "allow_origin_regex accepts origins an attacker owns",
        {
            "empty-string": (
                "{regex!v} matches the empty string, which is what a request without Origin "
                "looks like to a server that reads a missing header as empty",
                "make every alternative match a whole origin",
            ),
            "unnamed-origin": (
                "{regex!v} also matches {example!v}, an origin the regex does not name letter "
                "for letter",
                "spell out the scheme (https://) and your registrable domain, escape dots (\\.), "
                "and bound labels with [a-z0-9-]+",
            ),
        },
    ),
    Rule(
        "CG109",
        "regex-not-portable",
        "error",
        "allow_origin_regex uses syntax PCRE and RE2 differ on",
        {
            "construct": (_NOT_PORTABLE, _PORTABLE_FIX),
            "class-hyphen": (_NOT_PORTABLE, "write \\- for a literal hyphen"),
            "reversed-range": (_NOT_PORTABLE, "write it low-high"),
        },
    ),
    Rule(
        "CG110",
        "not-a-token",
        "error",
        "a method or header name that is not an RFC 9110 token",
        {"token": ("{name!r} is not an RFC 9110 token", "use a plain name like X-Request-Id")},
    ),
    Rule(
        "CG111",
        "config-unsafe",
        "error",
        "a character that could break out of config syntax",
        {
            "name": ("{name!r} contains $ or %", "use a plain name"),
            "origin": (
                "{origin!r} contains a character that is not allowed in an origin",
                "write scheme://host[:port] with no spaces, quotes or punctuation",
            ),
        },
    ),
    Rule(
        "CG112",
        "expose-set-cookie",
        "error",
        "Set-Cookie in expose_headers; never readable",
        {"set-cookie": ("browsers never expose Set-Cookie", "remove it")},
    ),
    Rule(
        "CG113",
        "forbidden-request-header",
        "error",
        "a forbidden request header in allow_headers; scripts cannot set it",
        {
            "forbidden": (
                "{name!r} is a forbidden request header; browsers set it themselves",
                "remove it",
            )
        },
    ),
    Rule(
        "CG114",
        "bad-preflight-status",
        "error",
        "preflight_status other than 204 or 200",
        {"status": ("{status!v} is not 204 or 200", "use 204, or 200 for old clients")},
    ),
    Rule(
        "CG115",
        "negative-max-age",
        "error",
        "a negative max_age",
        {"negative": ("{seconds!v} is negative", "use 0 or more, or leave it unset")},
    ),
    Rule(
        "CG116",
        "bad-name",
        "error",
        "a policy name that is not [a-z][a-z0-9_]*, or longer than 19 characters",
        {
            "too-long": (
                "policy name {name!v} is {length:,} characters, more than the {most} corsgen "
                "accepts",
                'set name = "my_api"',
            ),
            "pattern": ("policy name {name!v} is not [a-z][a-z0-9_]*", 'set name = "my_api"'),
            "reserved": (
                "policy name {name!v} is the name of the files corsgen's policies share",
                'set name = "my_api" (a file corsgen.toml is named corsgen unless it sets one)',
            ),
        },
    ),
    Rule(
        "CG117",
        "malformed-origin",
        "error",
        "an origin that is not scheme://host[:port]",
        {
            "shape": (
                "{origin!r} is not scheme://host[:port]",
                "write e.g. https://app.example.com",
            ),
            "host": ("{origin!r} has an invalid host", "use a valid host name"),
            "idna": ("{origin!r} has an invalid host ({error})", "use a valid host name"),
            "ipv4": (
                "{origin!r} ends in a number but is not an IPv4 address",
                "write the address as four numbers, e.g. 127.0.0.1, or use a host name",
            ),
            "ipv6": ("{origin!r} has an invalid IPv6 address", "write it as [::1]"),
        },
    ),
    Rule(
        "CG118",
        "bad-wildcard",
        "error",
        "a * that is not a whole leftmost label",
        {
            "partial-label": (
                "{origin!r} has a '*' that is not a whole leftmost label",
                "write https://*.example.com, or use allow_origin_regex",
            ),
            "ip-address": ("{origin!r} puts a wildcard on an IP address", "list each origin"),
        },
    ),
    Rule(
        "CG119",
        "star-mixed",
        "error",
        '"*" mixed with other origins or a regex',
        {"mixed": ('"*" already allows every origin', 'keep "*" alone')},
    ),
    Rule(
        "CG120",
        "over-limit",
        "error",
        "a value longer, larger or more numerous than the servers load (docs/limits.md)",
        {
            "too-many-origins": (_TOO_MANY, _WILDCARD_FIX),
            "origin-too-long": (_TOO_LONG, _WILDCARD_FIX),
            "origins-too-long": (_TOO_LONG_MORE, _WILDCARD_FIX),
            "too-many-names": (_TOO_MANY, _NAMES_FIX),
            "name-too-long": (_TOO_LONG, "use a shorter name"),
            "names-too-long": (_TOO_LONG_MORE, "use a shorter name"),
            "joined-too-long": (
                "joined, the names make a {length:,}-character header, more than the {most:,} "
                "corsgen sends (browsers fail a response head past 256 KiB)",
                _NAMES_FIX,
            ),
            "max-age": (
                "{seconds!v} is more than {most:,} (2^31 - 1)",
                "use 7200 or less, Chromium's cap",
            ),
            "regex-too-long": (
                "{length:,} characters, more than the {most:,} corsgen accepts",
                "list the origins, or cover them with wildcards (https://*.example.com)",
            ),
            # `pattern` comes quoted already (a target shortens what it wrote out).
            "regex-parameter": (
                "the pattern {pattern}, written out for {server}, is {size:,} bytes, more than the "
                "{most:,} {server} reads in one parameter",
                "split it into shorter alternatives (a|b), or list the origins",
            ),
            "regex-depth": (
                "groups nested deeper than {most} at position {pos} of {regex!v} is refused",
                "flatten the groups",
            ),
            "regex-states": (
                "{regex!v} needs more than {most:,} automaton states to check (many "
                "alternatives, long counted repeats, or a loop followed by many single characters)",
                "list the origins in allow_origins, or simplify the regex",
            ),
            "regex-domains": (
                "the regex names {domains:,} domains and {schemes:,} schemes, more than the "
                "{most_domains} and {most_schemes} corsgen proves in one regex",
                "list the origins in allow_origins, with wildcards (https://*.example.com)",
            ),
            "regex-proof": (
                "proving {regex!v} safe would build an automaton of more than {most:,} states",
                "list the origins in allow_origins (with wildcards), or split the regex into "
                "simpler ones",
            ),
            "file-values": (
                "the file holds about {count:,} values, more than the {most:,} corsgen reads",
                "a policy needs at most 100,000 origins and three short lists",
            ),
        },
    ),
    Rule(
        "CG121",
        "regex-backtracking",
        "error",
        "allow_origin_regex could backtrack exponentially (ReDoS) in PCRE",
        {
            "exponential": (
                "{regex!v} can backtrack exponentially (a repeat inside a repeat, or two "
                "alternatives of a repeat that match the same text)",
                _UNAMBIGUOUS_FIX,
            ),
            "polynomial": (
                "{regex!v} can backtrack in polynomial time (two repeats in a row can match the "
                "same text)",
                _UNAMBIGUOUS_FIX,
            ),
            "too-complex": (
                "{regex!v} is too complex to prove it cannot backtrack",
                "simplify the regex, or list the origins",
            ),
        },
    ),
    Rule(
        "CG122",
        "regex-engine",
        "error",
        "allow_origin_regex does not compile in RE2 or PCRE2 as the servers run them",
        {
            "engine": (
                "{engine} refuses {regex!v}: {error}",
                "simplify the regex, or list the origins",
            ),
            "repeat-count": (
                "a repeat count above {most} at position {pos} of {regex!v} is refused",
                "RE2 refuses it; use + or a count up to {most}",
            ),
            "nested-repeats": (
                "nested counted repeats in {regex!v} multiply to more than {most}",
                "RE2 refuses it; write the inner or outer repeat with + or *",
            ),
        },
    ),
    Rule(
        "CG201",
        "insecure-origin",
        "warning",
        "an http:// origin other than localhost",
        {
            "plain": (
                "{origin!r} is plain {scheme}, readable and forgeable on the network",
                "use {scheme}s://",
            )
        },
    ),
    Rule(
        "CG202",
        "max-age-over-cap",
        "warning",
        f"max_age above {_CHROMIUM}'s cap (a warning) or {_WEBKIT}'s (a note)",
        {
            "over-cap": (
                f"{{seconds}} is above {{cap}}, the longest {_CHROMIUM} keeps a preflight"
                + _MAX_AGE,
                "use {cap} or less",
            ),
            "over-webkit-cap": (
                f"{{seconds}} is above {{cap}}, the longest {_WEBKIT} (Safari) keeps a preflight"
                + _MAX_AGE,
                "nothing breaks; use {cap} or less for the same in every engine",
            ),
        },
        lower={"over-webkit-cap": "note"},
    ),
    Rule(
        "CG203",
        "duplicate-origin",
        "warning",
        "an origin listed twice, or already covered by a wildcard",
        {
            "repeated": ("{origin!r} repeats allow_origins[{first}]", "remove it"),
            "covered": ("{origin!r} is covered by allow_origins[{wildcard}]", "remove it"),
        },
    ),
    Rule(
        "CG204",
        "lowercase-method",
        "warning",
        "a standard method in lowercase; browsers send it uppercase and compare exactly",
        {
            "lowercase": (
                "browsers send {upper}, and {method!r} does not match it",
                "write {upper!r}",
            )
        },
    ),
    Rule(
        "CG205",
        "star-headers-authorization",
        "warning",
        'a "*" in allow_headers without Authorization listed: the engines and the standard differ',
        {
            "star": (
                '"*" lets an Authorization header through ' + _STAR_TODAY + _STAR_SWITCH,
                'list "Authorization" beside "*" if clients send it',
            )
        },
    ),
    Rule(
        "CG207",
        "private-network-retired",
        "warning",
        "allow_private_network answers Private Network Access, which no browser asks for any more",
        {
            "kept": (
                "no browser sends the Private Network Access preflight "
                "(Access-Control-Request-Private-Network) any more: Chrome 142 replaced it with "
                "Local Network Access (Firefox ESR 153 has it too), which asks the user (the "
                "local-network and "
                "loopback-network permissions) on top of ordinary CORS; the page says where it "
                'goes with fetch(url, {{targetAddressSpace: "local"}}) (or "loopback"), and an '
                "iframe needs the Permissions-Policy delegated (local-network-access in Chrome "
                "142, now local-network and loopback-network)",
                "remove allow_private_network; keep it only to answer old clients (Chrome before "
                "142) that still send Access-Control-Request-Private-Network",
            )
        },
    ),
    Rule(
        "CG302",
        "glob-matches-nothing",
        "error",
        "a manifest glob that matches no policy file",
        {
            "no-match": (
                "{pattern!r} matches no file",
                "check the path; it is relative to {root}",
            )
        },
    ),
    Rule(
        "CG303",
        "output-clash",
        "error",
        "two manifest entries that would write the same file",
        {
            "clash": (
                "{path} is written by {first} and by {second}",
                "give the policies different names or out_dir values (one policy: the same "
                "namespace and route)",
            )
        },
    ),
    Rule(
        "CG304",
        "path-outside-root",
        "error",
        "a manifest path or glob that leaves the manifest's directory (--allow-outside)",
        {
            "out-dir": (
                "{out_dir!r} leads to {path}, outside the manifest's directory {root}",
                _OUTSIDE_FIX,
            ),
            "dot-dot": (
                "{pattern!r} climbs out with .., outside the manifest's directory {root}",
                _OUTSIDE_FIX,
            ),
            "glob": (
                "{pattern!r} matches {path}, outside the manifest's directory {root}",
                _OUTSIDE_FIX,
            ),
        },
    ),
    Rule(
        "CG305",
        "bad-path",
        "error",
        "a manifest path or glob that is empty, absolute or unsafe",
        {
            "out-dir": (
                "{out_dir!r} {why}",
                "name a directory relative to the manifest, such as deploy/{{target}}",
            ),
            "glob": (
                "{pattern!r} {why}",
                "write a glob relative to the manifest, such as cors/*.toml",
            ),
            "glob-refused": (
                "{pattern!r}: {error}",
                "use * and ** only as in cors/*.toml or cors/**/*.toml",
            ),
            "glob-parts": (
                "{pattern!r} has {count:,} parts from its first wildcard on, more than the "
                "{most} corsgen matches",
                "match fewer directory levels, as in cors/**/*.toml",
            ),
            "glob-wide": (
                "{pattern!r}: the manifest's globs read more than {most:,} files and directories",
                "start the glob with the directory that holds the policies, as in cors/**/*.toml",
            ),
        },
    ),
    Rule(
        "CG306",
        "route-names-no-policy",
        "error",
        "a manifest routes key that names no policy of its output",
        {
            "no-policy": (
                "{policy!r} names no policy of this output ({known})",
                "key routes by the policy's name as corsgen spells it (spa_api, not spa-api)",
            )
        },
    ),
    Rule(
        "CG401",
        "config-unreadable",
        "error",
        "audit: the server config, or a file it includes, does not parse",
        {
            "parse": ("{error}", "fix the config until the {server} config test passes"),
            "loop": (
                "this include leads back to {file}, which is already being included: {server} "
                "would include it without end",
                "remove the include, or narrow its glob so that it leaves that file out",
            ),
        },
    ),
    Rule(
        "CG402",
        "cors-headers-dropped",
        "error",
        "audit: a block answers without the CORS headers sent above it (it sets its own "
        "headers, or a redirect or another match took the request there)",
        {
            "answer": (
                "{request} is answered here without the CORS headers {scope} sends ({trail})",
                "send the CORS headers in the block that answers, or keep the request in {scope}",
            ),
            "add-header-inherit": (
                "{request} is answered here without the CORS headers {scope} sends ({trail})",
                "{server} takes add_header from the location that answers, after every internal "
                "redirect, and only when it has none of its own: send the CORS headers here too",
            ),
        },
    ),
    Rule(
        "CG403",
        "server-headers-dropped",
        "error",
        "audit: the snippet's add_header drops the add_headers of the blocks above it",
        {
            "dropped": (
                "the snippet of {policy} drops the add_header lines above it ({count}, the first "
                "{header} at {at}): {server} inherits add_header only into blocks without one",
                "repeat those add_header lines beside the include",
            ),
        },
    ),
    Rule(
        "CG404",
        "preflight-not-answered",
        "error",
        "audit: a location where the snippet's preflight answer does not run",
        {
            "server-wide": (
                "{other}'s snippet in the server block, at {at}, answers every preflight of the "
                "server before a location is chosen, here too, instead of {policy}",
                "include each policy in its own location, none in the server block",
            ),
        },
    ),
    Rule(
        "CG405",
        "http-part-missing",
        "error",
        "audit: the snippet is included but not its part for the http block",
        {
            "missing": (
                "the snippet of {policy} is included here, but not {policy}.http.conf in the http "
                "block",
                "include {policy}.http.conf once inside the http block",
            ),
        },
    ),
    Rule(
        "CG406",
        "no-snippet",
        "error",
        "audit: nothing in the config answers CORS: no corsgen snippet, no CORS written by hand",
        {
            "none": (
                "no file this config includes carries a corsgen marker, and no block of it sends a "
                "CORS header",
                "include the snippet corsgen rendered, or pass the config that includes it",
            ),
        },
    ),
    Rule(
        "CG407",
        "module-missing",
        "error",
        "audit: the config loads no module the snippet needs",
        {
            "missing": (
                "the snippet needs {module}, and no LoadModule in this config loads it",
                "enable it (a2enmod headers setenvif rewrite), unless it is compiled in "
                "(apache2 -l lists those)",
            ),
        },
    ),
    Rule(
        "CG410",
        "reflects-any-origin",
        "error",
        "audit: any Origin is sent back in Access-Control-Allow-Origin, with no allowlist",
        {
            "credentials": (
                "{server} sends any Origin back ({origin} was) with Access-Control-Allow-"
                "Credentials: true: any site reads the answers with the user's cookies",
                _TRUST_FIX,
            ),
            "no-credentials": (
                "{server} sends any Origin back ({origin} was): any site reads the answers",
                _TRUST_FIX + ", or send * if the answers are public",
            ),
        },
        lower={"no-credentials": "warning"},
    ),
    Rule(
        "CG411",
        "origin-regex-admits-hostile",
        "error",
        "audit: an origin regex in the config admits origins an attacker owns",
        {
            "proof": ("an origin regex corsgen refuses in a policy: {why}", "{fix}"),
            "admits": (
                "the origin test {regex!v} admits {origin!v} ({kind})",
                "anchor it (^...$), escape each dot (\\.), spell out https://, and match "
                "labels with [a-z0-9-]+",
            ),
        },
    ),
    Rule(
        "CG412",
        "cors-missing-on-errors",
        "error",
        "audit: error answers lose the CORS headers, so pages see a CORS failure, not the error",
        {
            "answer": (_ERROR_TEXT, "send the CORS headers on every status"),
            "add-header-always": (
                _ERROR_TEXT,
                "add `always` to each add_header of a CORS header: without it {server} sends "
                "them only on 200, 201, 204, 206, 301, 302, 303, 304, 307 and 308",
            ),
            "header-always": (
                _ERROR_TEXT,
                "write `Header always set`: `Header set` leaves error answers out",
            ),
            "after-response": (
                _ERROR_TEXT,
                "set them with http-after-response, which runs on {server}'s own answers too, "
                "not http-response",
            ),
            "handle-errors": (
                _ERROR_TEXT,
                "set the CORS headers in handle_errors too: {server} answers an error with those "
                "routes, not the ones that set them",
            ),
        },
    ),
    Rule(
        "CG413",
        "vary-origin-missing",
        "warning",
        "audit: an answer that depends on Origin has no Vary: Origin",
        {
            "answer": (
                "{request} gets CORS headers that depend on Origin, and no Vary: Origin (Vary: "
                "{vary}): a cache may serve the answer to another origin",
                "add Vary: Origin to every answer whose CORS headers depend on Origin, "
                "refusals too",
            ),
        },
    ),
    Rule(
        "CG414",
        "duplicate-cors-header",
        "error",
        "audit: a CORS header sent twice, which browsers refuse",
        {
            "answer": (_TWICE_TEXT, "let one line send each CORS header"),
            "backend": (
                _TWICE_TEXT + ", the backend's copy and the config's",
                "remove the backend's copies where the config sends its own",
            ),
            "hide-header": (
                _TWICE_TEXT + ", the backend's copy and the config's",
                "proxy_hide_header (fastcgi_hide_header ...) each CORS header the config sends "
                "itself, and no proxy_pass_header for them",
            ),
            "header-unset": (
                _TWICE_TEXT + ", the backend's copy and the config's",
                "`Header unset` each CORS header the config sends with `Header always set`",
            ),
            "del-header": (
                _TWICE_TEXT + ", the backend's copy and the config's",
                "http-response del-header each CORS header before the config adds its own",
            ),
            "defer": (
                _TWICE_TEXT + ", the backend's copy and the config's",
                "defer the header directive (`defer` in its block), so that it replaces the "
                "backend's copies",
            ),
        },
    ),
    Rule(
        "CG415",
        "upstream-cors-passes",
        "error",
        "audit: the backend's own CORS headers reach the browser",
        {
            "answer": (_UPSTREAM_TEXT, "remove the backend's CORS headers here"),
            "hide-header": (
                _UPSTREAM_TEXT,
                "proxy_hide_header (fastcgi_hide_header ...) each CORS header here, and no "
                "proxy_pass_header for them",
            ),
            "header-unset": (_UPSTREAM_TEXT, "`Header unset` each CORS header here"),
            "del-header": (
                _UPSTREAM_TEXT,
                "http-after-response del-header each CORS header here",
            ),
            "header-delete": (
                _UPSTREAM_TEXT,
                "delete them with `header -Access-Control-Allow-Origin` (and the others) here",
            ),
        },
    ),
    Rule(
        "CG416",
        "preflight-reaches-auth",
        "error",
        "audit: a preflight meets authentication, which it never passes",
        {
            "answer": (
                "{request} meets the authentication at {auth} and gets {status}: browsers never "
                "send credentials on a preflight",
                "answer preflights before authentication",
            ),
        },
    ),
    Rule(
        "CG417",
        "preflight-reaches-backend",
        "warning",
        "audit: a preflight is passed to the backend, which answers it instead of the config",
        {
            "answer": (
                "{request} is passed to the backend, which answers it ({status}), not the config",
                "answer preflights in the config, before the backend",
            ),
        },
    ),
    Rule(
        "CG418",
        "refused-origin-gets-cors",
        "warning",
        "audit: an origin the config refuses still gets credentials or the preflight lists",
        {
            "answer": (
                "{origin}, which the config does not allow, gets {names}",
                "send the CORS headers only to allowed origins",
            ),
        },
    ),
    Rule(
        "CG419",
        "allow-headers-star-with-credentials",
        "error",
        "audit: Access-Control-Allow-Headers: * with credentials, where browsers read * literally",
        {
            "answer": (
                "{server} sends Access-Control-Allow-Headers: * with credentials: browsers read "
                "it as a header named *, so every preflight asking for a header fails",
                "list the header names",
            ),
        },
    ),
    Rule(
        "CG420",
        "private-network-obsolete",
        "warning",
        "audit: Private Network Access headers, which no browser asks for any more",
        {
            "answer": (
                "{server} sends Access-Control-Allow-Private-Network: Private Network Access was "
                "withdrawn; Chrome's Local Network Access asks the user instead",
                "remove the header",
            ),
        },
    ),
    Rule(
        "CG421",
        "hidden-header-leaks",
        "error",
        "audit: a header the config hides elsewhere reaches the browser here",
        {
            "answer": (
                "{header}, which the config hides from other answers, reaches the browser on "
                "{request}",
                "hide it here too",
            ),
            "hide-header-inherit": (
                "{header}, which the config hides from other answers, reaches the browser on "
                "{request}",
                "repeat the *_hide_header lines here: {server} inherits them only into a block "
                "that has none of its own",
            ),
        },
    ),
    Rule(
        "CG422",
        "policy-differs",
        "error",
        "audit: the config answers otherwise than the policy a place is held to (--policy, or "
        "what the lines of a snippet grant)",
        {
            "answer": (
                "{request}: {summary}, which {policy} does not mean",
                "serve the snippet corsgen renders from {policy} here, unchanged",
            ),
        },
    ),
    Rule(
        "CG501",
        "server-shortfall",
        "note",
        "the policy relies on something one target's server does not do, or not by default",
        {
            "buffers": (
                "with {server}'s default buffers an allowed origin may get a 500: the headers "
                "added are {response:,} bytes on a server's response and {preflight:,} on a "
                "preflight's answer, and {server} keeps {free:,} bytes free on the one "
                "(tune.maxrewrite) and {whole:,} for the whole of the other (tune.bufsize)",
                "put tune.maxrewrite {maxrewrite} and tune.bufsize {bufsize} in {server}'s global "
                "section, or shorten the lists",
            ),
            "preflight-200": (
                "{server} answers every preflight with 200, not {status}",
                "set preflight_status = 200, which browsers accept the same",
            ),
            "private-network": (
                "{server} cannot answer a private-network preflight: it has no way to send "
                "Access-Control-Allow-Private-Network, so an old client that still asks (Chrome "
                "before 142) refuses the request; no browser of today asks (CG207)",
                "remove allow_private_network, or serve this policy from another server",
            ),
            "no-star": (
                "{server} cannot send Access-Control-Allow-Origin: *: it echoes each Origin "
                "instead, and sends nothing to a request without Origin; "
                "browsers accept the echoed origin the same",
                "nothing in the policy changes this; accept it (a cache keeps one answer per "
                "Origin), or serve this policy from another server",
            ),
            "regex-size": (
                "{server} refuses an origin regex whose RE2 program is larger than {limit} unless "
                "its runtime allows more; the largest of this policy's patterns (its wildcards and "
                "allow_origin_regex) is {size}",
                "add re2.max_program_size.error_level: {size} to a static layer of {server}'s "
                "layered_runtime, or shorten the patterns",
            ),
            "star-headers": (
                "{server} answers a * in allow_headers with the headers the preflight asks for, "
                "Authorization too, which a * lets through " + _STAR_TODAY + ": on {server} it "
                "passes under the standard too",
                "list the headers instead of *, or serve this policy from another server",
            ),
            "refused-origin": (
                "{server} answers every preflight itself, a refused origin's too, without Vary: "
                "Origin, and sends {sent} whatever the Origin (the preflight's headers on every "
                "preflight); browsers still refuse the origins the policy does not allow: only "
                "those get Access-Control-Allow-Origin",
                "nothing in the policy changes this; accept it, or serve this policy from another "
                "server (docs/promises.md)",
            ),
            "preflight-ok": (
                "{server} answers an allowed preflight with 200 or 204, as each implementation "
                "chooses, not always {status}; browsers accept either",
                "nothing in the policy changes this; accept it",
            ),
            "no-vary": (
                "{server} does not promise Vary: Origin on the answers it computes from the "
                "Origin: a shared cache may serve one origin's answer to another",
                "add Vary: Origin with a response header filter of the route, or make the cache "
                "key hold the Origin",
            ),
            "backend-cors": (
                "{server} does not promise to remove the backend's own Access-Control-* headers: "
                "where the backend sends them too, browsers may get two values and refuse both, "
                "and a refused origin reads the answer when the backend sends *",
                "make the backend behind this route send no CORS headers itself",
            ),
            # What one implementation of a Kubernetes format is reported to do, by its tracker.
            "ignores-wildcards": (
                "{implementation} ignores wildcard origins (https://*.example.com) in the "
                "HTTPRoute CORS filter ({tracker}): pages at the origins they cover get no CORS "
                "headers",
                "list those origins exactly, or use that implementation's own route CORS "
                "settings, which match them by regex",
            ),
            "preflight-auth": (
                "{implementation} sends preflights on to the route's authentication ({tracker}): "
                "a preflight gets its 401 without CORS headers, and the browser refuses the "
                "request",
                "upgrade past the fix, or leave OPTIONS out of the route's authentication",
            ),
            "origin-twice": (
                "{implementation} sends Access-Control-Allow-Origin twice when the backend sends "
                "one too ({tracker}); browsers refuse two values",
                "make the backend behind this route send no CORS headers itself",
            ),
            "auth-first": (
                "{implementation} runs its authentication and authorization filters before CORS "
                "({tracker}): a preflight to a path an AuthorizationPolicy or "
                "RequestAuthentication covers gets 401 or 403 without CORS headers, and the "
                "browser refuses the request",
                "let OPTIONS through the AuthorizationPolicy (a rule with methods: [OPTIONS]), or "
                "keep authentication off the paths that answer CORS",
            ),
            "star-not-null": (
                '{implementation} writes allowOrigins ["*"] as a regex of scheme://host '
                "({tracker}): Origin: null (sandboxed frames, file: pages) gets no CORS headers",
                "accept it, or serve pages that need it from a real origin",
            ),
            "basic-auth": (
                "{implementation} does not answer CORS on a route with basic authentication "
                "({tracker})",
                "keep basic authentication off routes that answer CORS, or upgrade past the fix",
            ),
        },
    ),
    Rule(
        "CG530",
        "cannot-express",
        "error",
        "one output's format cannot say what the policy says; corsgen refuses it, never "
        "approximates",
        {
            "regex": (
                "{server} has no origin regex: {what!v} cannot be written",
                "list the origins, or cover them with wildcards (https://*.example.com), or "
                "choose another target",
            ),
            "too-many": (
                "{server} takes at most {most} entries in {what}; the policy has {count}",
                "shorten the list, or choose another target",
            ),
            "scheme": (
                "{server} matches only http and https origins, not {what!v}",
                "remove the origin for this target, or choose another target",
            ),
            "host": (
                "{server} cannot write the origin {what!v}: its host holds {why}",
                "remove the origin for this target, or choose another target",
            ),
            "long-origin": (
                "{server} takes an origin of at most {most} characters: {what!v} is {size}",
                "remove the origin for this target, or choose another target",
            ),
            "method": (
                "{server} takes only the methods {why}, not {what!v}",
                "list only those methods (in upper case), or choose another target",
            ),
            "star-beside": (
                "{server} takes * in {what} only alone",
                'write ["*"] alone, or list the values without *',
            ),
            "max-age": (
                "{server} takes a max_age of at least 1, not {what}",
                "set max_age = 1 or more, or choose another target",
            ),
            # `pattern` comes quoted already (shortened), as in CG120 regex-parameter.
            "regex-size": (
                "{server} takes a regex of at most {most:,} bytes: {pattern}, written out, is "
                "{size:,}",
                "split allow_origin_regex into shorter top-level alternatives (a|b), each written "
                "as a match of its own, or list the origins, or choose another target",
            ),
            "max-age-most": (
                "{server} takes a max_age of at most {most:,} seconds, not {what:,}",
                "set max_age = 7200 (Chromium's cap) or less, or choose another target",
            ),
            "empty": (
                "{server} needs at least one entry in {what}",
                "{why}",
            ),
            "private-network": (
                "{server} has no way to send Access-Control-Allow-Private-Network",
                "remove allow_private_network, or choose another target",
            ),
            "name": (
                "{server} names resources after the policy: {what!v} is not a Kubernetes name "
                "({why})",
                "name the policy with at most {most} lower-case letters, digits and _, starting "
                "and ending with a letter or digit",
            ),
        },
    ),
)
BY_ID = {rule.id: rule for rule in RULES}


def line_of(lines: Mapping[str, int], key: str) -> int | None:
    """The line of `key`, else of the nearest key around it (allow_origins[3]: allow_origins)."""
    while key:
        if key in lines:
            return lines[key]
        cut = key.rfind("[") if key.endswith("]") else key.rfind(".")
        key = key[: max(cut, 0)]
    return None


def finding(
    rule_id: str,
    case: str,
    *,
    file: str,
    key: str = "",
    lines: Mapping[str, int] | None = None,
    line: int | None = None,
    col: int | None = None,
    fields: Mapping[str, object] | None = None,
    **more: object,
) -> Finding:
    """The finding for one case of one rule, its texts filled in with `fields` and `more` (a
    mapping when the values come as one, from a RuleError or a check). Its line is `line`, else
    the line `lines` (tomlfile.key_lines) gives `key`."""
    rule = BY_ID[rule_id]
    message, fix = rule.texts(case, {**(fields or {}), **more})
    if line is None and lines is not None:
        line = line_of(lines, key)
    severity = rule.lower.get(case, rule.severity)
    return Finding(rule.id, rule.slug, severity, file, key, message, fix, line, col)


@dataclass(frozen=True)
class Violation:
    """One case of one rule, found: the rule id and the case (this table's), the policy key it is
    at, and the values its texts are filled in with. The checks, a target's limits and shortfalls,
    and a RuleError raised below the rules all carry one; the texts stay in the table."""

    rule: str
    case: str
    key: str = ""
    fields: Mapping[str, object] = field(default_factory=dict)

    def finding(self, file: str) -> Finding:
        """This violation as a finding against `file`."""
        return finding(self.rule, self.case, file=file, key=self.key, fields=self.fields)

    @property
    def texts(self) -> Texts:
        return BY_ID[self.rule].texts(self.case, self.fields)


def violation(rule: str, case: str, key: str = "", **fields: object) -> Violation:
    return Violation(rule, case, key, fields)


class RuleError(ValueError):
    """A value that breaks a rule, found below the rules (origins, regexes, globs): its violation,
    not yet at a key."""

    def __init__(self, rule: str, case: str, **fields: object) -> None:
        super().__init__(rule, case)
        self.violation = Violation(rule, case, "", fields)

    @property
    def message(self) -> str:
        return self.violation.texts[0]

    @property
    def fix(self) -> str:
        return self.violation.texts[1]

    def __str__(self) -> str:
        return self.message
