"""CG121: regexes PCRE could backtrack on for long are refused; the usual shapes are not."""

from __future__ import annotations

import time

import pcre2
import pytest

from corsgen.regex import RegexError
from corsgen.regex.backtracking import MAX_STATES, check_backtracking, check_size
from corsgen.regex.syntax import parse_alternatives
from testing.bounded import cpu_within

EXPONENTIAL = [
    r"https://(a+)+\.x\.com",
    r"https://(a*)*\.x\.com",
    r"https://(a|a)*\.x\.com",
    r"https://(a|ab|b)*\.x\.com",
    r"https://([a-z]{1,2}){36}\.example\.com",
    r"https://([a-z]+)*\.x\.com",
    r"https://(([a-z0-9-]+)\.?)+example\.com",
]
POLYNOMIAL = [
    r"https://.*.*\.example\.com",
    r"https://[a-z]+[0-9]*[a-z]+\.example\.com",
    r"https://[a-z]*[a-z]*\.x\.com",
]
LINEAR = [
    r"https://pr-[0-9]+\.preview\.example\.dev",
    r"https://pr-[0-9]{1,6}\.preview\.example\.dev",
    r"https://([a-z0-9-]+\.)*example\.com(:[0-9]+)?",
    r"https://([a-z0-9-]+\.)+example\.com",
    r"https://(www\.)?([a-z0-9-]+\.)*example\.com",
    r"https://(app|admin|api)\.example\.com",
    r"https://.*\.example\.com",
    r"https://[^.]+\.example\.com",
    r"https://[a-z0-9-]+(\.[a-z0-9-]+)*\.example\.com",
    r"https://(x?|y?)z\.example\.com",
    r"http://localhost:[0-9]+",
]


@pytest.mark.parametrize("source", EXPONENTIAL)
def test_exponential_refused(source: str) -> None:
    with pytest.raises(RegexError, match="exponentially") as info:
        check_backtracking(parse_alternatives(source), source)
    assert info.value.violation.rule == "CG121"


@pytest.mark.parametrize("source", POLYNOMIAL)
def test_polynomial_refused(source: str) -> None:
    with pytest.raises(RegexError, match="polynomial"):
        check_backtracking(parse_alternatives(source), source)


@pytest.mark.parametrize("source", LINEAR)
def test_accepted_and_fast_in_pcre(source: str) -> None:
    check_backtracking(parse_alternatives(source), source)
    # The worst an Origin header can be on nginx and Apache: about 8 KB of near-misses.
    pattern = pcre2.compile(f"^(?:{source})$")
    for hostile in ("https://" + "a" * 8000 + "!", "https://" + "a." * 4000 + "!"):
        with cpu_within(0.05):
            assert pattern.match(hostile) is None, hostile[:20]


def test_the_exponential_ones_really_are_slow_in_pcre() -> None:
    """The analysis is not crying wolf: the refused shape doubles PCRE's time per character."""
    pattern = pcre2.compile(r"^(?:https://(a|a)*\.x\.com)$", jit=False)

    def seconds(n: int) -> float:
        started = time.perf_counter()
        pattern.match("https://" + "a" * n + "!.x.com")  # the required literal is there
        return time.perf_counter() - started

    assert seconds(18) > 4 * seconds(14)  # about 16 times, each character doubling it


def test_large_but_unambiguous_is_quick() -> None:
    source = "https://" + r"[a-z0-9-]+\." * 215 + r"example\.com"
    with cpu_within(2):
        check_backtracking(parse_alternatives(source), source)


@pytest.mark.parametrize(
    "source",
    [
        r"https://[a-z]*a" + "[a-z]" * 12 + r"\.example\.com",  # doubles with each [a-z]
        "https://" + r"[a-z]{1000}\." * 2 + r"example\.com",
        "https://" + r"[a-z]{1000}\." * 200,
        "|".join(rf"https://t{i}\.example\.com" for i in range(300)),
    ],
)
def test_too_many_states_to_prove_is_refused_at_once(source: str) -> None:
    # About 0.3 s here; the bound leaves room for a slower machine.
    with (
        cpu_within(2),
        pytest.raises(RegexError, match=f"more than {MAX_STATES:,} automaton states") as info,
    ):
        check_size(parse_alternatives(source), source)
    assert info.value.violation.rule == "CG120"


@pytest.mark.parametrize(
    "source",
    [
        r"https://[a-z]*a" + "[a-z]" * 8 + r"\.example\.com",
        "https://" + r"[a-z]{1000}\.example\.com",
        "|".join(rf"https://t{i}\.example\.com" for i in range(60)),
        r"https://([a-z0-9-]{1,63}\.){1,3}example\.com",
    ],
)
def test_within_the_state_budget(source: str) -> None:
    check_size(parse_alternatives(source), source)
