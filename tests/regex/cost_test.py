"""The proof's cost on the worst regexes the other limits accept: about a second each
(docs/policy.md).

Each shape is one the hardening review found slow, or the largest of its kind under MAX_STATES
and MAX_NAMED_DOMAINS. CPU time, not wall time: the suite shares two cores with test servers.
"""

from __future__ import annotations

import re
import time

import pytest
from interegular.fsm import FSM

from corsgen.regex import RegexError, automaton, check_regex, parse_regex
from testing.bounded import cpu_seconds, frozen_heap

REGIONS = (  # noqa: SIM905 (31 names read better as one text)
    "af-south-1 ap-east-1 ap-northeast-1 ap-northeast-2 ap-northeast-3 ap-south-1 ap-south-2 "
    "ap-southeast-1 ap-southeast-2 ap-southeast-3 ap-southeast-4 ca-central-1 ca-west-1 "
    "eu-central-1 eu-central-2 eu-north-1 eu-south-1 eu-south-2 eu-west-1 eu-west-2 eu-west-3 "
    "il-central-1 me-central-1 me-south-1 sa-east-1 us-east-1 us-east-2 us-west-1 us-west-2 "
    "us-gov-east-1 us-gov-west-1"
).split()
ANY_REGION = "(?:" + "|".join(REGIONS) + ")"
# One API Gateway app in 31 regions, up to five labels deep: 451 characters, 12.5 s before.
API_GATEWAY = (
    rf"https://(?:[a-z0-9-]{{1,63}}\.){{0,5}}app\.execute-api\.{ANY_REGION}\.amazonaws\.com"
)
SECONDS = 2.0  # about a second each, measured; twice that for a slower machine

# Small forwards, 2^n states backwards (the red team): the proof reads public suffixes on the
# reversed automaton, and the position n letters after the start is what it must remember there.
BACKWARDS = (
    "(?:https|QWERTYUIOPASDFGHJKLZXCVBNM)://{ab}a[ab]*"
    r"\.qwertyuiopasdfghjklzxcvbnm0123456789-_\.s3\.amazonaws\.com(?::[0-9]{{1,5}})?"
)
ACCEPTED = {
    "api-gateway": API_GATEWAY,
    "api-gateway-any-depth": API_GATEWAY.replace("{1,63}", "+").replace("{0,5}", "*"),
    "api-gateway-eight-schemes": "(?:https|wss|a|b|c|d|e|f)"
    + API_GATEWAY.removeprefix("https")
    + "(?::[0-9]{1,5})?",
    "wide-classes-counted": r"https://" + r"[a-z0-9-]{1,63}\." * 4 + r"example\.com",
    "most-named-domains": r"https://(?:[a-z0-9-]{1,63}\.){0,3}(?:"
    + "|".join(f"app{i:02d}" for i in range(31))  # and amazonaws.com: 32
    + r")\.s3\.amazonaws\.com",
    "backwards-12": BACKWARDS.format(ab="[ab]" * 12),
}
REFUSED = {
    # Any app under execute-api.REGION.amazonaws.com, each its own site: CG108 with an example.
    "api-gateway-any-app": (
        rf"https://(?:[a-z0-9-]{{1,63}}\.){{1,5}}execute-api\.{ANY_REGION}\.amazonaws\.com",
        "CG108",
    ),
    "deeper": (API_GATEWAY.replace("{0,5}", "{0,15}"), "CG120"),
    "backwards-16": (BACKWARDS.format(ab="[ab]" * 16), "CG120"),
    "more-named-domains": (
        r"https://(?:[a-z0-9-]{1,63}\.){0,5}(?:a|b)\.execute-api\."
        + ANY_REGION
        + r"\.amazonaws\.com",
        "CG120",
    ),
}


@pytest.fixture
def largest(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The most states any automaton the proof builds has, as the test runs."""
    most = [0]
    crawl = automaton._crawl

    def counted(*args: object) -> FSM:
        fsm = crawl(*args)  # type: ignore[arg-type]
        most[0] = max(most[0], len(fsm.states))
        return fsm

    monkeypatch.setattr(automaton, "_crawl", counted)
    return most


@pytest.mark.parametrize("source", ACCEPTED.values(), ids=ACCEPTED)
def test_the_worst_accepted_shapes_are_proven_in_about_a_second(
    source: str, largest: list[int]
) -> None:
    with frozen_heap():
        started = time.process_time()
        check_regex(parse_regex(source))
        assert time.process_time() - started < cpu_seconds(SECONDS)
    assert largest[0] < automaton.MAX_CRAWLED


@pytest.mark.parametrize(("source", "rule"), REFUSED.values(), ids=REFUSED)
def test_the_worst_refused_shapes_are_refused_in_about_a_second(source: str, rule: str) -> None:
    with frozen_heap(), pytest.raises(RegexError) as info:
        started = time.process_time()
        try:
            check_regex(parse_regex(source))
        finally:
            assert time.process_time() - started < cpu_seconds(SECONDS)
    assert info.value.violation.rule == rule, info.value.message
    example = re.search(r"also matches '([^']*)'", info.value.message)
    if rule == "CG108":
        assert example is not None and re.fullmatch(source, example[1]), info.value.message
        assert ".execute-api." in example[1]


def test_an_automaton_past_the_cap_is_refused_not_built(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(automaton, "MAX_CRAWLED", 50)
    with pytest.raises(RegexError) as info:
        check_regex(parse_regex(API_GATEWAY))
    assert (info.value.violation.rule, info.value.violation.case) == ("CG120", "regex-proof")
    assert "list the origins" in info.value.fix
