from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from corsgen.pipeline import load_and_plan
from corsgen.plan import Plan
from testing.intents import EMPTY_MATCHING, LOOSE, ONE_CHARACTER
from testing.paths import EXAMPLES
from testing.servers import Endpoint, server_kinds, serving, shared_kinds, unchecked_plan
from testing.upstream import Upstream

KINDS = sorted(server_kinds())
# Every example policy side by side in one server, each on its own paths.
SHARED_KINDS = shared_kinds()


@pytest.fixture(scope="session")
def plans() -> dict[str, Plan]:
    return {p.stem: load_and_plan(p)[0] for p in sorted(EXAMPLES.glob("*.toml"))}


@pytest.fixture(scope="session", params=KINDS + SHARED_KINDS)
def server(
    request: pytest.FixtureRequest,
    plans: dict[str, Plan],
    upstream: Upstream,
) -> Iterator[tuple[str, dict[str, Endpoint]]]:
    """One running server of each kind, every example policy on a port of its own."""
    with serving(request.param, tuple(plans.values()), upstream.port) as ports:
        yield request.param, {stem: ports[plan.name] for stem, plan in plans.items()}


BIG = 10_000


@pytest.fixture(scope="session", params=KINDS)
def big_server(
    request: pytest.FixtureRequest, upstream: Upstream
) -> Iterator[tuple[str, Endpoint]]:
    """One running server of each kind with a single 10,000-origin policy."""
    origins = ", ".join(f'"https://tenant-{i:05d}.customers.example.com"' for i in range(BIG))
    text = f'allow_origins = [{origins}, "https://*.app.example.com"]\nallow_credentials = true\n'
    with serving(request.param, (unchecked_plan("big", text),), upstream.port) as ports:
        yield request.param, ports["big"]


@pytest.fixture(scope="session", params=KINDS)
def empty_match_server(
    request: pytest.FixtureRequest, upstream: Upstream
) -> Iterator[tuple[str, Endpoint]]:
    """One running server of each kind whose patterns match the empty string or loosely."""
    plan = unchecked_plan("empty", "allow_origins = []\nallow_credentials = true\n")
    plan = replace(plan, origin_patterns=(EMPTY_MATCHING, LOOSE, ONE_CHARACTER))
    with serving(request.param, (plan,), upstream.port) as ports:
        yield request.param, ports["empty"]
