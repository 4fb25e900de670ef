"""A test's table of verdicts, compared whole: one failure per server kind, policy and family of
requests, listing the cases that differ by name (the conformance and browser tests)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import pytest

from testing.client import Answer
from testing.servers import Endpoint

CORS = (
    "access-control-allow-origin",
    "access-control-allow-credentials",
    "access-control-expose-headers",
    "access-control-allow-methods",
    "access-control-allow-headers",
    "access-control-max-age",
    "access-control-allow-private-network",
)

# A verdict: each property a test asserts of one case's answer, by a name a person reads, and its
# value.
Verdict = dict[str, object]
SHOWN = 5  # cases listed by name for each way of differing; the rest are counted


@dataclass
class Verdicts:
    """One test's cases, each named by its request, with the verdict observed on the server and
    the verdict expected of it. `check` compares the two tables whole: one failure lists every
    case that differs, grouped by how it differs, each property as observed and as expected."""

    observed: dict[str, Mapping[str, object]] = field(default_factory=dict)
    expected: dict[str, Mapping[str, object]] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)

    def add(
        self,
        case: str,
        observed: Mapping[str, object],
        expected: Mapping[str, object],
        note: str = "",
    ) -> None:
        if case in self.observed:
            pytest.fail(f"two cases named {case}", pytrace=False)
        self.observed[case], self.expected[case] = observed, expected
        if note:
            self.notes[case] = note

    def check(self) -> None:
        assert self.expected, "no case was run"
        wrong = [case for case in self.expected if self.observed[case] != self.expected[case]]
        if not wrong:
            return
        groups: dict[tuple[str, ...], list[str]] = {}
        differing: dict[str, None] = {}  # the properties that differ anywhere, in order
        for case in wrong:
            got, want = self.observed[case], self.expected[case]
            names = [*want, *(name for name in got if name not in want)]
            names = [name for name in names if got.get(name, _ABSENT) != want.get(name, _ABSENT)]
            differing |= dict.fromkeys(names)
            diff = tuple(f"{n}: {_shown(got, n)}, expected {_shown(want, n)}" for n in names)
            groups.setdefault(diff, []).append(case)
        lines = [f"{len(wrong)} of {len(self.expected)} cases differ in {', '.join(differing)}"]
        for diff, cases in groups.items():
            lines += ["", *diff]
            for case in cases[:SHOWN]:
                note = self.notes.get(case)
                lines += [f"  in {case}", *([f"      {note}"] if note else [])]
            if len(cases) > SHOWN:
                lines.append(f"  and in {len(cases) - SHOWN} more cases")
        pytest.fail("\n".join(lines), pytrace=False)


_ABSENT = object()


def _shown(verdict: Mapping[str, object], name: str) -> str:
    value = verdict.get(name, _ABSENT)
    return "not checked" if value is _ABSENT else repr(value)


def cors_sent(answer: Answer) -> tuple[str, ...]:
    """The CORS headers an answer holds, by lower-case name, sorted."""
    return tuple(sorted({n.lower() for n, _ in answer.headers if n.lower() in CORS}))


def sent_twice(answer: Answer) -> tuple[str, ...]:
    """The CORS headers sent more than once: none may be."""
    return tuple(name for name in CORS if answer.count(name) > 1)


def answered_itself(answer: Answer, sent: Iterable[str]) -> tuple[Verdict, Verdict]:
    """A refused origin's preflight that the server answers itself, as it answers an allowed
    one but for Allow-Origin: 200, not passed on, with the CORS headers `sent` (observed and
    expected)."""
    observed: Verdict = {
        "status": answer.status,
        "from the upstream": answer.from_upstream,
        "CORS headers": cors_sent(answer),
    }
    return observed, {
        "status": 200,
        "from the upstream": False,
        "CORS headers": tuple(sorted(sent)),
    }


def answer_note(answer: Answer, why: str = "") -> str:
    """What a failing case's reader needs: the model's reason, and the answer's CORS headers."""
    shown = [
        f"{n}: {v}"
        for n, v in answer.headers
        if n.lower() in CORS or n.lower() in ("vary", "x-upstream")
    ]
    return "; ".join(filter(None, [why, f"answered {answer.status}", *shown]))


def case_name(
    method: str, path: str, headers: Mapping[str, str] | Sequence[tuple[str, str]]
) -> str:
    """A case's name: the request, each header value as Python writes it (a CR shows as \\r)."""
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    return " ".join([method, path, *(f"{name}: {value!r}" for name, value in pairs)])


def add_put_preflight(
    verdicts: Verdicts, kind: str, at: Endpoint, origin: str, allowed: bool, case: str = ""
) -> None:
    """A preflight for PUT from `origin` to /ok: answered for the origin when it is allowed, passed
    on to the upstream when it is not (unless `kind` falls short and answers it anyway)."""
    from corsgen.fetch import header_value
    from testing.client import send
    from testing.intents import falls_short, preflight_status

    headers = {"Origin": origin, "Access-Control-Request-Method": "PUT"}
    answer = send(at, "OPTIONS", "/ok", headers)
    acao = header_value(answer.headers, "Access-Control-Allow-Origin")
    observed: Verdict = {
        "Allow-Origin is the origin": acao == origin,
        "from the upstream": answer.from_upstream,
    }
    expected: Verdict = {
        "Allow-Origin is the origin": allowed,
        "from the upstream": not (allowed or falls_short(kind, "refused-origin")),
    }
    if allowed:
        observed["status"], expected["status"] = answer.status, preflight_status(kind, 204)
    case = case or case_name("OPTIONS", "/ok", headers)
    verdicts.add(case, observed, expected, answer_note(answer))
