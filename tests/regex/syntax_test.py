"""The portable subset: what parses, what is refused, and the canonical form."""

from __future__ import annotations

import re

import pcre2
import pytest
import re2
from hypothesis import given
from hypothesis import strategies as st

from corsgen.regex import RegexError, parse_regex
from testing.bounded import cpu_within


@pytest.mark.parametrize(
    ("source", "canonical"),
    [
        (
            r"https://pr-[0-9]{1,6}\.preview\.example\.dev",
            r"https://pr-[0-9]{1,6}\.preview\.example\.dev",
        ),
        (r"^https://pr-[0-9]+\.x\.dev$", r"https://pr-[0-9]+\.x\.dev"),
        (r"https://(app|admin)\.example\.com", r"https://(?:app|admin)\.example\.com"),
        (r"https://(?:a|b)\.c(:[0-9]{2,5})?", r"https://(?:a|b)\.c(?::[0-9]{2,5})?"),
        (r"https://[a-z0-9-]+\.x\.com", r"https://[0-9a-z-]+\.x\.com"),
        (r"https://[-a-z]+\.x\.com", r"https://[a-z-]+\.x\.com"),
        (r"https://\w+\.x\.com", r"https://[0-9A-Za-z_]+\.x\.com"),
        (r"https://\d{2}\.x\.com", r"https://[0-9]{2}\.x\.com"),
        (r"https://[^.]+\.x\.com", r"https://[^\.]+\.x\.com"),
        (r"https://[a]\.x\.com", r"https://a\.x\.com"),
        (r"https://a{2,}\.x\.com", r"https://a{2,}\.x\.com"),
        (r"https://a+?\.x\.com", r"https://a+\.x\.com"),
        (r"https://a\-b\.x\.com|https://c\.d", r"https://a-b\.x\.com|https://c\.d"),
    ],
)
def test_canonical_spelling(source: str, canonical: str) -> None:
    regex = parse_regex(source)
    assert regex.body == canonical
    assert parse_regex(canonical).body == canonical  # a fixed point


def test_top_level_alternatives_are_separate_patterns() -> None:
    regex = parse_regex(r"https://a\.x\.com|https://(b|c)\.x\.com|https://a\.x\.com")
    assert regex.alternatives == (r"https://a\.x\.com", r"https://(?:b|c)\.x\.com")


@pytest.mark.parametrize(
    ("source", "rule", "construct"),
    [
        (r"(?=x)https://a\.com", "CG109", "(?="),
        (r"(?!x)https://a\.com", "CG109", "(?!"),
        (r"(?<=x)a", "CG109", "(?<"),
        (r"(?i)https://a\.com", "CG109", "(?i"),
        (r"(?P<n>a)\.com", "CG109", "(?P"),
        (r"(a)\1", "CG109", r"\1"),
        (r"https://a\.com\b", "CG109", r"\b"),
        (r"https://\s+", "CG109", r"\s"),
        (r"https://\p{L}+", "CG109", r"\p"),
        (r"https://[[:alpha:]]+", "CG109", "[ inside a class"),
        (r"https://a++\.com", "CG109", "possessive"),
        (r"https://a**\.com", "CG109", "stacked"),
        (r"https://a{,3}\.com", "CG109", "{n,m}"),
        (r"https://a{3,1}\.com", "CG109", "m < n"),
        (r"https://a{x}\.com", "CG109", "{n,m}"),
        (r"https://a\.com$|x", "CG109", "'$'"),
        (r"https://(a\.com", "CG109", "unclosed group"),
        (r"https://a\.com)", "CG109", "unbalanced"),
        (r"https://[a-z\.com", "CG109", "unclosed ["),
        (r"https://[z-a]\.com", "CG109", "reversed range z-a"),
        (r"https://[a-Z]\.com", "CG109", "the range a-Z"),
        (r"https://[0-z]\.com", "CG109", "the range 0-z"),
        (r"https://[a-c-e]\.com", "CG109", "a - that is not first"),
        (r"https://[]\.com", "CG109", "an empty class"),
        ('https://a.com"; evil', "CG109", "'\"'"),
        (r"https://a.com {", "CG109", "' '"),
        ("https://a\n", "CG109", "'\\n'"),
        (r"https://a{1001}\.com", "CG122", "above 1000"),
        (r"([a-z0-9-]{1,63}\.){1,20}", "CG122", "multiply to more than 1000"),
        (r"(((a{999}){999}){999}){999}", "CG122", "multiply to more than 1000"),
        ("(" * 300 + "a" + ")" * 300, "CG120", "nested deeper than 32"),
        ("", "CG105", "empty"),
    ],
)
def test_refused(source: str, rule: str, construct: str) -> None:
    with cpu_within(0.5), pytest.raises(RegexError) as info:
        parse_regex(source)
    assert (info.value.violation.rule, construct in info.value.message) == (rule, True), (
        info.value.message
    )


_RE2 = re2.Options()
_RE2.log_errors = False


@given(st.text(alphabet="ab.\\[]()|?*+{},0-9:/^$-wd", max_size=24))
def test_parser_never_crashes_and_accepts_only_what_every_engine_reads(source: str) -> None:
    try:
        regex = parse_regex(source)
    except RegexError:
        return
    for compile_ in (re.compile, pcre2.compile, lambda p: re2.compile(p, options=_RE2)):
        compile_(regex.anchored)
    if regex.body:  # `|` is two empty alternatives: refused later, as matching the empty string
        assert parse_regex(regex.body).body == regex.body


_PIECES = st.sampled_from(
    [r"https://", r"[a-z0-9-]+", r"\.", "example", r"(www\.)?", r"[0-9]{1,3}", "-", r"\w", "."]
)


@given(st.lists(_PIECES, min_size=1, max_size=6), st.data())
def test_canonical_form_matches_the_same_strings(pieces: list[str], data: st.DataObject) -> None:
    """Python's re on the user's spelling and on ours agree (checked on strings from both)."""
    source = "".join(pieces)
    ours = re.compile(parse_regex(source).anchored)
    theirs = re.compile(f"^(?:{source})$")
    for pattern in (ours, theirs):
        text = data.draw(st.from_regex(pattern, fullmatch=True).filter(str.isascii))
        assert bool(ours.fullmatch(text)) == bool(theirs.fullmatch(text)), text
