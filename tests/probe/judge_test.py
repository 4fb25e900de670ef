"""probe's judge on answers written here: Vary: Origin only where the answer depends on Origin,
and never on a preflight's; a refused origin given an Allow-Origin that names another is refused;
Access-Control-Allow-Private-Network a note, held only to a policy that keeps it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from corsgen.fetch import Request
from corsgen.plan import ACAPN, Plan
from corsgen.probe.battery import Probe, conformance
from corsgen.probe.checks import PRIVATE_NETWORK_OBSOLETE
from corsgen.probe.client import Answer
from corsgen.probe.judge import conformance as judged
from corsgen.probe.judge import notes
from testing.servers import unchecked_plan

ALLOWED = "https://app.example.com"
PLAN = unchecked_plan("one", f'allow_origins = ["{ALLOWED}"]\nallow_methods = ["PUT"]\n')
ACAO = "Access-Control-Allow-Origin"
# The plan's own preflight lists, as corsgen's output sends them.
LISTS = [
    (name, value)
    for name, key in (
        ("Access-Control-Allow-Methods", "methods"),
        ("Access-Control-Max-Age", "max_age"),
    )
    if (value := PLAN.value(key)) is not None
]


def _failed(answer: Callable[[Probe], Answer]) -> set[tuple[str, str]]:
    """Each check failed, with the method of the request that fails it."""
    probes = conformance(PLAN, ["/ok"], ["/missing"]).probes
    faults = judged(PLAN, probes, [answer(p) for p in probes])
    return {(f.check.id, f.probe.method) for f in faults}


def _origin(probe: Probe) -> str | None:
    return dict(probe.headers).get("Origin")


def _preflight(probe: Probe) -> bool:
    return probe.method == "OPTIONS"


def _varying(probe: Probe) -> Answer:
    """corsgen's answer: the headers for the allowed origin only, Vary on all but preflights."""
    cors = [(ACAO, ALLOWED), *LISTS] if _origin(probe) == ALLOWED else []
    vary = [] if _preflight(probe) else [("Vary", "Origin")]
    return Answer(PLAN.preflight_status if _preflight(probe) else 200, [*cors, *vary])


def test_a_static_origin_on_every_answer_needs_no_vary() -> None:
    """Fetch: one static origin goes on every answer, CORS or not, without Vary; to any other
    origin it is a refusal, not CORS headers it was given."""

    def static(probe: Probe) -> Answer:
        lists = LISTS if _origin(probe) == ALLOWED and _preflight(probe) else []
        return Answer(
            PLAN.preflight_status if _preflight(probe) else 200, [(ACAO, ALLOWED), *lists]
        )

    failed = _failed(static)
    assert not {check for check, _ in failed} & {"PR007", "PR009"}, failed


def test_an_answer_that_depends_on_origin_needs_vary_but_a_preflight_does_not() -> None:
    assert _failed(_varying) == set()

    def no_vary(probe: Probe) -> Answer:
        got = _varying(probe)
        return Answer(got.status, [h for h in got.headers if h[0] != "Vary"])

    assert _failed(no_vary) == {("PR009", "GET")}


KEPT = unchecked_plan(
    "kept",
    f'allow_origins = ["{ALLOWED}"]\nallow_methods = ["PUT"]\nallow_private_network = true\n',
)


def _private_network(plan: Plan, answers: bool) -> tuple[set[tuple[str, str]], list[str]]:
    """The faults and notes of corsgen's answers, with Allow-Private-Network on each preflight
    that asks for it, or on none."""

    def answer(probe: Probe) -> Answer:
        asks = dict(probe.headers).get("Access-Control-Request-Private-Network") == "true"
        got = _varying(probe)
        return Answer(got.status, [*got.headers, *[(ACAPN, "true")] * (asks and answers)])

    probes = conformance(plan, ["/ok"], ["/missing"]).probes
    answered = [answer(p) for p in probes]
    faults = judged(plan, probes, answered)
    return {(f.check.id, f.probe.method) for f in faults}, notes(probes, answered)


@pytest.mark.parametrize(
    ("plan", "answers", "failed", "noted"),
    [
        # A policy without the key: no probe asks, no answer sends it, nothing to say.
        (PLAN, True, set(), []),
        # A policy that keeps the key for old clients promises them the header: still held to
        # it (PR005), and told it is obsolete whenever it is sent.
        (KEPT, True, set(), [PRIVATE_NETWORK_OBSOLETE]),
        (KEPT, False, {("PR005", "OPTIONS")}, []),
    ],
)
def test_private_network_is_a_note_unless_the_policy_keeps_it(
    plan: Plan, answers: bool, failed: set[tuple[str, str]], noted: list[str]
) -> None:
    assert _private_network(plan, answers) == (failed, noted)


def test_private_network_in_any_answer_is_noted_not_failed() -> None:
    """A server that sends the header unasked (a scan, a config of its own): a note, no fault."""
    answers = [Answer(200, [(ACAPN, "true")]), Answer(200, [])]
    probes = [Probe("allowed", "GET", "/", ())] * 2
    assert notes(probes, answers) == [PRIVATE_NETWORK_OBSOLETE]
    assert "no browser sends the Private Network Access preflight" in PRIVATE_NETWORK_OBSOLETE


_PUT = Request("https://a.example", "PUT", False, ("X-A",))
_PREFLIGHT = Probe("preflight", "OPTIONS", "/", (), _PUT)
_STAR = [
    ("Access-Control-Allow-Origin", "*"),
    ("Access-Control-Allow-Methods", "PUT"),
    ("Access-Control-Allow-Headers", "*"),
]


@pytest.mark.parametrize(
    ("probe", "status", "headers", "noted"),
    [
        (_PREFLIGHT, 204, [("Access-Control-Allow-Headers", "X-A")], []),
        (
            _PREFLIGHT,
            204,
            _STAR,
            [
                "Access-Control-Allow-Headers: * lets Authorization through in all three engines "
                "today, not under the Fetch standard: list Authorization if clients send it"
            ],
        ),
        (_PREFLIGHT, 204, [*_STAR[:2], ("Access-Control-Allow-Headers", "*, Authorization")], []),
        # Asked for a header named *, a * in the answer may be the list asked, echoed (Envoy):
        # it tells nothing of Authorization (the battery asks for it by name).
        (replace(_PREFLIGHT, request=replace(_PUT, author_headers=("*",))), 204, _STAR, []),
        (
            _PREFLIGHT,
            204,
            [
                *_STAR[:2],
                ("Access-Control-Allow-Headers", "X-A"),
                ("Access-Control-Max-Age", "601"),
            ],
            [
                "Access-Control-Max-Age: 601 is capped: the preflight is kept 600 s in WebKit, "
                "601 s in Chromium and Firefox"
            ],
        ),
        (
            _PREFLIGHT,
            204,
            [
                *_STAR[:2],
                ("Access-Control-Allow-Headers", "X-A"),
                ("Access-Control-Max-Age", "600"),
            ],
            [],
        ),
        # Not digits only: Fetch takes it as no Max-Age, 5 s, whatever the server meant.
        *(
            (
                _PREFLIGHT,
                204,
                [
                    *_STAR[:2],
                    ("Access-Control-Max-Age", junk),
                    ("Access-Control-Allow-Headers", "X-A"),
                ],
                [
                    f"Access-Control-Max-Age: {junk!r} is not a number of seconds, so it counts "
                    "as none: the preflight is kept 5 s; send digits only"
                ],
            )
            for junk in ("1e3", "-0", "+600", "600, 7200", "")
        ),
        # A refused preflight is kept by no engine and lets nothing through: nothing to note.
        (_PREFLIGHT, 204, [*_STAR[1:], ("Access-Control-Max-Age", "86400")], []),
        (_PREFLIGHT, 500, [*_STAR, ("Access-Control-Max-Age", "86400")], []),
        (replace(_PREFLIGHT, method="GET"), 200, [*_STAR, ("Access-Control-Max-Age", "9000")], []),
    ],
)
def test_engine_notes(
    probe: Probe, status: int, headers: list[tuple[str, str]], noted: list[str]
) -> None:
    """Written by hand from the engines' measured behaviour (WebKit caps Max-Age at 600 s,
    Chromium at 7200 s, Firefox at 86400 s; * lets Authorization through in all three)."""
    assert notes([probe], [Answer(status, headers)]) == noted
