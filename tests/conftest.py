from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conformance.upstream import Upstream

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--regen-goldens",
        action="store_true",
        help="Rewrite tests/goldens from the current output (review the diff!).",
    )


def need_binary(what: str, found: object) -> None:
    """Skip when a server is missing on a developer's machine; fail under CI=true."""
    if found:
        return
    message = f"{what} is not installed"
    if os.environ.get("CI") == "true":
        pytest.fail(message + " (CI=true: conformance tests must run, not skip)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def upstream() -> Iterator[Upstream]:
    """The application behind every test server: one for the whole session."""
    with Upstream() as up:
        yield up
