"""A config's origin regex as its server runs it (searched unless anchored, matched whole in
Envoy, in any case under ~* or (?i)), held to corsgen's own CG108 proof and CG121 check."""

from __future__ import annotations

import pytest

from corsgen.audit.regexes import admits, alternatives, judge, literal_dots, samples, whole_origin
from corsgen.routing import OriginRegex, Place

AT = Place("site.conf", 4)


def regex(
    source: str, flavor: str = "pcre", ignore_case: bool = False, whole: bool = False
) -> OriginRegex:
    return OriginRegex(source, AT, flavor, ignore_case, whole)


@pytest.mark.parametrize(
    ("origin_regex", "pattern"),
    [
        (regex(r"^https://a\.example\.com$"), r"https://a\.example\.com"),
        (regex(r"a\.example\.com"), r".*a\.example\.com.*"),
        (regex(r"^https://a\.example\.com"), r"https://a\.example\.com.*"),
        (regex(r"^https://a\.com$|^https://b\.com$"), r"https://a\.com|https://b\.com"),
        (regex(r"https://a\.com|b\.com$"), r".*https://a\.com.*|.*b\.com"),
        (regex(r"https://a\.com", "re2", whole=True), r"https://a\.com"),
        (regex(r"(?i)^https://A\.Example\.com$", "re2"), r"https://a\.example\.com"),
        (regex(r"^https://A\.com\D$", ignore_case=True), r"https://a\.com\D"),
        # Doubled anchors anchor once (a $ left in was exit 3 in the samplers).
        (regex(r"^^https://a\.com$$"), r"https://a\.com"),
        (regex(r"^https://a\.com\$"), r"https://a\.com\$.*"),
    ],
)
def test_the_regex_as_a_whole_origin_pattern(origin_regex: OriginRegex, pattern: str) -> None:
    assert whole_origin(origin_regex) == pattern


# (regex, its case of CG411 or None, a word its message holds)
VERDICTS = [
    (regex(r"^https://(www\.)?example\.com$"), None, ""),
    (regex(r"^https://[a-z0-9-]+\.example\.com$"), None, ""),
    (regex(r"https://[a-z0-9-]+\.example\.com", "re2", whole=True), None, ""),
    (regex(r"example\.com"), "proof", "does not name"),
    (regex(r"^https?://app\.example\.com$"), "proof", "http://app.example.com"),
    (regex(r"^https://app.example.com$", ignore_case=True), "proof", "does not name"),
    (regex(r"^https://([a-z]+)+\.example\.com$"), "proof", "backtrack exponentially"),
    # RE2 does not backtrack: the same regex is judged by what it admits alone.
    (regex(r"^https://([a-z]+)+\.example\.com$", "re2"), None, ""),
    # Outside the portable subset: the scanners' variants decide.
    (regex(r"^https://[a-z]+\.example\.com(?<!evil\.example\.com)"), "admits", "prefix"),
    (regex(r"^https://app\.example\.com(?=$)"), None, ""),
]


@pytest.mark.parametrize(("origin_regex", "case", "word"), VERDICTS)
def test_a_regex_is_judged_as_corsgen_judges_its_own(
    origin_regex: OriginRegex, case: str | None, word: str
) -> None:
    verdict = judge(origin_regex, ["https://app.example.com"])
    assert (verdict.case if verdict else None) == case
    if verdict is not None:
        assert verdict.fields["regex"] == origin_regex.source
        shown = " ".join(str(v) for v in verdict.fields.values())
        assert word in shown


def test_the_server_matches_as_it_does() -> None:
    assert admits(regex(r"example\.com"), "https://example.com.evil.com")
    assert not admits(regex(r"example\.com", "re2", whole=True), "https://example.com.evil.com")
    assert admits(regex(r"^https://APP", ignore_case=True), "https://app.example.com")
    assert not admits(regex(r"^https://APP"), "https://app.example.com")
    assert not admits(regex(r"(unclosed"), "https://app.example.com")


def test_samples_are_origins_of_portable_patterns_only() -> None:
    assert samples(r"https://(a|b)\.example\.com") == [
        "https://a.example.com",
        "https://b.example.com",
    ]
    assert samples(r"example\.com") == []  # no origin: no scheme
    assert samples(r"https://a(?=b)") == []


@pytest.mark.parametrize(
    ("source", "dotted"),
    [
        (r"https://app.example.com", r"https://app\.example\.com"),
        (r"https://app\.example.com", r"https://app\.example\.com"),  # an escaped dot stays one
        (r"[.a-z]+.com", r"[.a-z]+\.com"),  # a dot in a class is a dot already
        (r"[].]x.y", r"[].]x\.y"),  # a ] right after [ is in the class
        (r"a\\.b", r"a\\\.b"),  # an escaped backslash, then a dot
    ],
)
def test_unescaped_dots_are_read_as_dots(source: str, dotted: str) -> None:
    assert literal_dots(source) == dotted


@pytest.mark.parametrize(
    ("source", "parts"),
    [
        (r"^a(b|c)$|[|]x|\|y|z", [r"^a(b|c)$", r"[|]x", r"\|y", "z"]),
        (r"[]|]|b", [r"[]|]", "b"]),  # a ] right after [ is in the class, with the |
        (r"a\\|b", [r"a\\", "b"]),  # an escaped backslash, then a real |
    ],
)
def test_top_level_alternatives_split_outside_groups_classes_and_escapes(
    source: str, parts: list[str]
) -> None:
    assert alternatives(source) == parts
