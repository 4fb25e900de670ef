"""Every flaw of flawed.py served for real: one process per server build, started when a test first
needs it and kept for the session, each flaw on a port of its own; the upstream behind them all."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from testing.flawed_servers import Servers
from testing.upstream import Upstream


@pytest.fixture(scope="session")
def servers(upstream: Upstream) -> Iterator[Servers]:
    with ExitStack() as stack:
        yield Servers(stack, upstream.port)
