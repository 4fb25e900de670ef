from __future__ import annotations

import re

import pcre2
import re2
from hypothesis import given
from hypothesis import strategies as st

from corsgen.regex import anchor
from corsgen.regex.trie import MAX_DEPTH, trie

# Origins' characters, with the ones a regex must escape.
TEXT = st.text(alphabet="ab-.:/[]0", min_size=0, max_size=8)


@given(st.sets(TEXT, min_size=1, max_size=12), st.lists(TEXT, max_size=12))
def test_matches_exactly_the_strings_in_every_engine(words: set[str], others: list[str]) -> None:
    regex = anchor([trie(sorted(words))])
    compiled = (re.compile(regex), pcre2.compile(regex), re2.compile(regex))
    for text in [*words, *others]:
        expected = text in words
        assert bool(compiled[0].fullmatch(text)) == expected, (regex, text)
        assert bool(compiled[1].match(text)) == expected, (regex, text)
        assert bool(compiled[2].fullmatch(text)) == expected, (regex, text)


def test_factors_prefixes_suffixes_and_single_characters() -> None:
    origins = [f"https://{h}.example.com" for h in ("app", "admin", "docs", "status")]
    assert trie(origins) == r"https://(?:a(?:dmin|pp)|docs|status)\.example\.com"
    assert trie(["x1", "x2", "x"]) == "x[12]?"
    assert trie(["a"]) == "a"


def test_prefix_chains_stop_nesting_where_pcre_would_refuse() -> None:
    words = ["a" * n for n in range(1, 120)]
    regex = anchor([trie(words)])
    assert regex.count("(") <= MAX_DEPTH + 2  # the anchor's group and the flat list's
    compiled = pcre2.compile(regex)
    assert compiled.match("a" * 100) and not compiled.match("a" * 120)


def test_ten_thousand_origins_fit_in_a_fraction_of_the_list() -> None:
    origins = [f"https://tenant-{i}.example.com" for i in range(10_000)]
    regex = trie(origins)
    assert len(regex) < sum(map(len, origins)) / 15
    assert re.fullmatch(regex, origins[-1]) and not re.fullmatch(
        regex, "https://tenant-10000.example.com"
    )
