from __future__ import annotations

from collections.abc import Iterator

import pytest

from corsgen.plan import Plan, build_plan, load_and_plan
from corsgen.policy import parse_policy
from tests.conformance.servers import Site, free_port, running, server_kinds
from tests.conformance.upstream import Upstream
from tests.conftest import EXAMPLES, need_binary

KINDS = server_kinds()


@pytest.fixture(scope="session")
def plans() -> dict[str, Plan]:
    return {p.stem: load_and_plan(p)[0] for p in sorted(EXAMPLES.glob("*.toml"))}


@pytest.fixture(scope="session")
def upstream() -> Iterator[Upstream]:
    with Upstream() as up:
        yield up


@pytest.fixture(scope="session", params=sorted(KINDS))
def server(
    request: pytest.FixtureRequest,
    plans: dict[str, Plan],
    upstream: Upstream,
) -> Iterator[tuple[str, dict[str, int]]]:
    """One running server of each kind, every example policy on a port of its own."""
    kind = request.param
    binary, configure = KINDS[kind]
    need_binary(kind, binary)
    ports = {p.name: free_port() for p in plans.values()}
    site = Site(tuple(plans.values()), ports, upstream.port, free_port())
    with running(configure, site):
        yield kind, {stem: ports[plan.name] for stem, plan in plans.items()}


BIG = 10_000


@pytest.fixture(scope="session", params=sorted(KINDS))
def big_server(request: pytest.FixtureRequest, upstream: Upstream) -> Iterator[tuple[str, int]]:
    """One running server of each kind with a single 10,000-origin policy."""
    kind = request.param
    binary, configure = KINDS[kind]
    need_binary(kind, binary)
    origins = ", ".join(f'"https://tenant-{i:05d}.customers.example.com"' for i in range(BIG))
    text = f'allow_origins = [{origins}, "https://*.app.example.com"]\nallow_credentials = true\n'
    plan = build_plan(parse_policy(text, "big.toml"), "big", "big.toml")
    port = free_port()
    with running(configure, Site((plan,), {"big": port}, upstream.port, free_port())):
        yield kind, port
