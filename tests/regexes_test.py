from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from corsgen.regexes import RegexError, hostile_matches, parse_regex


@pytest.mark.parametrize(
    "source",
    [
        r"https://pr-[0-9]+\.preview\.example\.dev",
        r"^https://pr-[0-9]{1,6}\.preview\.example\.dev$",
        r"https://(app|admin)\.example\.com",
        r"https://(?:app|admin)\.example\.com(:[0-9]{2,5})?",
        r"https://[a-z0-9-]+\.example\.com",
        r"https://\w+\.example\.com",
        r"https://[^.]+\.example\.com",
        r"https://(www\.)?example\.com",
        r"http://localhost:\d+",
        # Sloppy but not exploitable: every origin these accept is under example.com.
        r"https://.*\.example\.com",
        r"https://[a-z.]+\.example\.com",
    ],
)
def test_portable_and_tight(source: str) -> None:
    assert hostile_matches(parse_regex(source)) == []


@pytest.mark.parametrize(
    ("source", "construct"),
    [
        (r"(?=x)https://a\.com", "(?="),
        (r"(?!x)https://a\.com", "(?!"),
        (r"(?<=x)a", "(?<"),
        (r"(?i)https://a\.com", "(?i"),
        (r"(?P<n>a)\.com", "(?P"),
        (r"(a)\1", r"\1"),
        (r"https://a\.com\b", r"\b"),
        (r"https://\s+", r"\s"),
        (r"https://\p{L}+", r"\p"),
        (r"https://[[:alpha:]]+", "[ inside a class"),
        (r"https://a++\.com", "possessive"),
        (r"https://a{,3}\.com", "{n,m}"),
        (r"https://a{3,1}\.com", "m < n"),
        (r"https://a\.com$|x", "'$'"),
        (r"https://(a\.com", "unclosed group"),
        (r"https://a\.com)", "unbalanced"),
        (r"https://[a-z\.com", "unclosed ["),
        ('https://a.com"; evil', "'\"'"),
        (r"https://a.com {", "' '"),
        ("", "empty"),
    ],
)
def test_not_portable(source: str, construct: str) -> None:
    with pytest.raises(RegexError) as info:
        parse_regex(source)
    assert construct in info.value.message


@pytest.mark.parametrize(
    ("source", "hostile"),
    [
        (r"https://app\.example\.com.*", "https://app.example.com.evil.com"),
        (r"https://[a-z]+.example\.com", "https://axexample.com"),
        (r"https?://app\.example\.com", "http://app.example.com"),
        (r".*", "https://evil.com"),
        (r"https://.+example\.com", "https://app.evilexample.com"),
        (r"https://app\.example\.com(\..*)?", "https://app.example.com.evil.com"),
        (r"https://app.example.com", "https://appxexample.com"),
        (r"(https|http)://app\.example\.com", "http://app.example.com"),
        (r"wss?://socket\.example\.com", "ws://socket.example.com"),
    ],
)
def test_hostile(source: str, hostile: str) -> None:
    found = hostile_matches(parse_regex(source))
    assert found, source
    assert re.fullmatch(parse_regex(source).anchored, hostile)


@given(st.from_regex(r"https://[a-z]{1,8}(-[a-z0-9]{1,4})?\.example\.com", fullmatch=True))
def test_samples_match_their_regex(origin: str) -> None:
    regex = parse_regex(r"https://[a-z]{1,8}(-[a-z0-9]{1,4})?\.example\.com")
    assert re.fullmatch(regex.anchored, origin)
    assert all(re.fullmatch(regex.anchored, s) for s in regex.samples)


@given(st.text(alphabet="ab.\\[]()|?*+{},0-9:/^$-", max_size=20))
def test_parser_never_crashes(source: str) -> None:
    try:
        regex = parse_regex(source)
    except RegexError:
        return
    re.compile(regex.anchored)  # anything accepted must compile in Python's re as well
