"""A server or tool the test needs: skipped on a developer's machine, a failure under CI=true."""

from __future__ import annotations

import os

import pytest


def need_binary(what: str, found: object) -> None:
    """Skip when a server is missing on a developer's machine; fail under CI=true."""
    if found:
        return
    message = f"{what} is not installed"
    if os.environ.get("CI") == "true":
        pytest.fail(message + " (CI=true: conformance tests must run, not skip)")
    pytest.skip(message)
