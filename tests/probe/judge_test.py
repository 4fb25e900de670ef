"""probe's judge on answers written here: Vary: Origin only where the answer depends on Origin,
and never on a preflight's; a refused origin given an Allow-Origin that names another is refused."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from corsgen.fetch import Request
from corsgen.probe.battery import Probe, conformance
from corsgen.probe.client import Answer
from corsgen.probe.judge import conformance as judged
from corsgen.probe.judge import engine_notes
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


_PUT = Request("https://a.example", "PUT", False, ("X-A",))
_PREFLIGHT = Probe("preflight", "OPTIONS", "/", (), _PUT)
_STAR = [
    ("Access-Control-Allow-Origin", "*"),
    ("Access-Control-Allow-Methods", "PUT"),
    ("Access-Control-Allow-Headers", "*"),
]


@pytest.mark.parametrize(
    ("probe", "status", "headers", "notes"),
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
        # A refused preflight is kept by no engine and lets nothing through: nothing to note.
        (_PREFLIGHT, 204, [*_STAR[1:], ("Access-Control-Max-Age", "86400")], []),
        (_PREFLIGHT, 500, [*_STAR, ("Access-Control-Max-Age", "86400")], []),
        (replace(_PREFLIGHT, method="GET"), 200, [*_STAR, ("Access-Control-Max-Age", "9000")], []),
    ],
)
def test_engine_notes(
    probe: Probe, status: int, headers: list[tuple[str, str]], notes: list[str]
) -> None:
    """Written by hand from the engines' measured behaviour (WebKit caps Max-Age at 600 s,
    Chromium at 7200 s, Firefox at 86400 s; * lets Authorization through in all three)."""
    assert engine_notes([probe], [Answer(status, headers)]) == notes
