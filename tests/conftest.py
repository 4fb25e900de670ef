"""Fixtures for every test; what tests share beyond fixtures is in the testing package."""

from __future__ import annotations

import signal
from collections.abc import Iterator, Mapping

import pytest

from corsgen.rules.table import Rule
from testing.upstream import Upstream


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--regen-goldens",
        action="store_true",
        help="Rewrite tests/goldens from the current output (review the diff!).",
    )


@pytest.fixture
def rules_used(monkeypatch: pytest.MonkeyPatch) -> set[tuple[str, str]]:
    """Every (rule id, case) whose texts are written while the test runs: a test that reaches a
    case of the rule table asserts it here (see tests/rules/table_test.py)."""
    seen: set[tuple[str, str]] = set()
    texts = Rule.texts

    def spy(rule: Rule, case: str, fields: Mapping[str, object]) -> tuple[str, str]:
        seen.add((rule.id, case))
        return texts(rule, case, fields)

    monkeypatch.setattr(Rule, "texts", spy)
    return seen


@pytest.fixture(scope="session")
def upstream() -> Iterator[Upstream]:
    """The application behind every test server: one for the whole session."""
    with Upstream() as up:
        yield up


@pytest.fixture
def deadline() -> Iterator[None]:
    """Turn a hang (a FIFO read, an endless /dev/zero) into a failure instead of a stuck run."""

    def hung(signum: int, frame: object) -> None:
        raise TimeoutError("corsgen hung")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(20)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)
