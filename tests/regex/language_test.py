"""CG108 as a proof: the issue's walk-arounds are refused, the shapes people need are not.

Every example origin corsgen shows is checked here without corsgen: Python's re must match it, and
the Public Suffix List must put it outside the domains the regex names.
"""

from __future__ import annotations

import re
import time

import pytest
from publicsuffixlist import PublicSuffixList

from corsgen.regex import RegexError, check_regex, parse_regex
from testing.bounded import cpu_seconds

PSL = PublicSuffixList()

MUST_PASS = [
    r"https://([a-z0-9-]+\.)*example\.com",  # subdomains at any depth
    r"https://([a-z0-9-]+\.)+example\.com",
    r"https://(www\.)?example\.com",  # an optional www.
    r"https://app\.example\.com(:[0-9]+)?",  # any port on your host
    r"https://app\.example\.com:[0-9]{2,5}",
    r"https://pr-[0-9]+\.preview\.example\.dev",  # previews
    r"https://pr-[0-9]{1,6}\.preview\.example\.dev",
    r"https://(www\.)?(example\.com|example\.org)",  # two domains named literally
    r"https://([a-z0-9-]+\.)*example\.com|https://([a-z0-9-]+\.)*example\.net",
    r"https://app\.(example|sample)\.com",
    r"https://(app|admin)\.example\.com",
    r"https://.*\.example\.com",  # sloppy, but all under example.com
    r"https://[^.]+\.example\.com",
    r"https://\w+\.example\.com",
    r"(https|wss)://app\.example\.com",
    r"http://localhost:[0-9]+",  # plain http for loopback only
    r"http://([a-z0-9-]+\.)*localhost(:[0-9]+)?",
    r"http://127\.0\.0\.1:[0-9]+",
    r"https://mybucket\.s3\.amazonaws\.com",  # a named bucket under a public suffix
    r"https://app\.example\.co\.uk",
    r"capacitor://localhost",
    r"https://10\.0\.0\.5(:[0-9]+)?",
]

MUST_REFUSE = [
    # A scheme written as a class or a dot-star.
    (r"[a-z]+://app\.example\.com", "://app.example.com"),
    (r".*://app\.example\.com", "://app.example.com"),
    (r"\w+://app\.example\.com", "://app.example.com"),
    # A hostile alternative after two dozen harmless ones.
    (
        "|".join(
            [rf"https://t{i}\.example\.com" for i in range(24)] + [r"https://app\.example\.com.*"]
        ),
        "app.example.com",
    ),
    # A class that reaches another registrable domain.
    (r"https://app[.-]example\.com", "app-example.com"),
    (r"https://[a-z0-9-]+\.example\.[a-z]+", ".example."),
    (r"https://app\.example\.com[a-z]*", "app.example.com"),
    (r"https://app\.example\.com(\.[a-z]{2})?", "app.example.com."),
    # Downgrades and look-alikes.
    (r"https?://app\.example\.com", "http://app.example.com"),
    (r"wss?://socket\.example\.com", "ws://socket.example.com"),
    (r"(https|http)://app\.example\.com", "http://app.example.com"),
    (r"https://app.example.com", "https://app"),
    (r"https://.+example\.com", "example.com"),
    (r"https://app\.example\.com(\..*)?", "app.example.com."),
    (r".*", ""),
    # Public suffixes, above and below the named domain.
    (r"https://[a-z]+\.github\.io", ".github.io"),
    (r"https://[a-z0-9.-]+\.amazonaws\.com", ".amazonaws.com"),
    (r"https://[a-z0-9-]+\.s3\.amazonaws\.com", ".s3.amazonaws.com"),
    (r"https://[a-z]+\.com", ".com"),
    (r"http://[a-z]+\.example\.com", "http://"),
    # Hosts ending in a number are IPv4 addresses: only the ones written out count.
    (r"https://[0-9]+\.[0-9]+\.3\.4", "https://"),
    (r"https://127\.0\.0\.1|https://[a-z]+\.0\.1", ".0.1"),
    # Public suffixes the list writes in Unicode (våler.hedmark.no), reached in punycode.
    (r"https://([a-z0-9-]+\.)+xn--vler-qoa\.hedmark\.no", ".xn--vler-qoa.hedmark.no"),
    ("null|https://app\\.example\\.com", "null"),
]


@pytest.mark.parametrize("source", MUST_PASS)
def test_needed_shapes_pass(source: str) -> None:
    started = time.process_time()
    check_regex(parse_regex(source))
    assert time.process_time() - started < cpu_seconds(2)


def _named(source: str) -> set[str]:
    """Registrable domains spelled out in the source, found without corsgen."""
    text = source.replace("\\.", ".")
    names = set()
    for host in re.findall(r"[a-z0-9-]+(?:\.[a-z0-9-]+)+", text):
        labels = host.split(".")
        names |= {".".join(labels[i:]) for i in range(len(labels) - 1)}
    return {n for n in names if PSL.privatesuffix(n) == n}


@pytest.mark.parametrize(("source", "shown"), MUST_REFUSE)
def test_walk_arounds_refused_with_an_attacker_origin(source: str, shown: str) -> None:
    with pytest.raises(RegexError) as info:
        check_regex(parse_regex(source))
    assert info.value.violation.rule == "CG108", info.value.message
    example = re.search(r"also matches '([^']*)'", info.value.message)
    if example is None:
        assert "matches the empty string" in info.value.message
        return
    origin = example[1]
    assert shown in origin
    assert re.fullmatch(f"(?:{source})", origin), "the example must really match"
    scheme, _, host = origin.partition("://")
    insecure = scheme in ("http", "ws") and not host.split(":")[0].endswith("localhost")
    bare = host.split(":")[0]
    if bare.rsplit(".", 1)[-1].isdigit():  # an IPv4 address: named only if written out whole
        outside = bare not in source.replace("\\.", ".")
    else:
        outside = (PSL.privatesuffix(bare) or bare) not in _named(source)
    unnamed_scheme = f"{scheme}://" not in source.replace("\\", "")
    assert origin == "null" or insecure or outside or unnamed_scheme


def test_a_refusal_tells_what_to_change() -> None:
    with pytest.raises(RegexError) as info:
        check_regex(parse_regex(r"https://app[.-]example\.com"))
    assert "'https://app-example.com'" in info.value.message
    assert "escape dots" in info.value.fix


def test_many_alternatives_and_public_suffix_rules_stay_quick() -> None:
    started = time.process_time()
    check_regex(parse_regex("|".join(rf"https://t{i}\.example\.com" for i in range(60))))
    with pytest.raises(RegexError):
        check_regex(parse_regex(r"https://([a-z0-9-]+\.)*amazonaws\.com"))
    assert time.process_time() - started < cpu_seconds(5)


@pytest.mark.parametrize(
    "source",
    [
        # 49 characters naming 512 domains: the proof took 25 s before names were counted.
        r"https://([a-z0-9-]+\.)*(?:a|b|c|d|e|f|g|h){3}\.io",
        r"https://([a-z0-9-]+\.)*(?:" + "|".join(f"d{i}" for i in range(33)) + r")\.com",
    ],
)
def test_a_list_in_disguise_is_refused_at_once(source: str) -> None:
    started = time.process_time()
    with pytest.raises(RegexError, match="domains") as info:
        check_regex(parse_regex(source))
    assert info.value.violation.rule == "CG120"
    assert time.process_time() - started < cpu_seconds(1)


def test_the_most_named_domains_still_prove_quickly() -> None:
    names = "|".join(f"d{i:03d}" + "q" * 22 for i in range(32))
    started = time.process_time()
    check_regex(parse_regex(rf"(?:https|wss)://([a-z0-9-]+\.)*(?:{names})\.io(:[0-9]+)?"))
    assert time.process_time() - started < cpu_seconds(3)


def test_a_host_ending_in_a_hex_number_is_an_address_not_a_domain() -> None:
    """Browsers read 3.0x4 as IPv4 (URL Standard): it names no domain to stay under."""
    with pytest.raises(RegexError) as info:
        check_regex(parse_regex(r"https://[a-z]+\.3\.0x4"))
    assert info.value.violation.rule == "CG108"


SPELLED = [
    (r"https?://(app|admin)\.example\.com", ["http://admin.example.com", "http://app.example.com",
                                             "https://admin.example.com", "https://app.example.com"]),
    (r"https://[a-c]\.example\.com", ["https://a.example.com", "https://b.example.com",
                                      "https://c.example.com"]),
    (r"https://x\.com(:8080)?", ["https://x.com", "https://x.com:8080"]),
    (r"https://.*\.example\.com", None),  # any character
    (r"https://(a|b)+\.x\.com", None),  # infinitely many
    (r"https://[a-z]\.x\.com", None),  # 26: more than asked for
]  # fmt: skip


@pytest.mark.parametrize(("pattern", "spelled"), SPELLED)
def test_a_regex_that_names_its_origins_is_spelled_out(
    pattern: str, spelled: list[str] | None
) -> None:
    from corsgen.regex.language import spelled_out

    assert spelled_out(pattern, 20) == spelled
