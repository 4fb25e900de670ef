"""Every target's server, started for real on 127.0.0.1 around plans: each build (both Caddys)
and each context users include the snippet in is a kind of its own, each policy on a free port.

What each server's config holds is its target's (corsgen.targets.NAME_serving); this module only
names the kinds, picks ports and runs them.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from corsgen.plan import Plan, build_plan
from corsgen.policy.loading import parse_policy
from corsgen.targets import NAMES, by_name, module_of, serving_of
from corsgen.targets.serving import Serving, Site
from corsgen.targets.serving import write_snippets as write_snippets
from testing.binaries import need_binary
from testing.processes import answers, free_port, process
from testing.upstream import STATUS

_SITE = Site((), {}, 0, 0)
USER, PASSWORD = _SITE.user, _SITE.password
SHARED = "+shared"  # a kind's suffix: every plan in one server, each under /NAME/
# The directory and site to the command that runs the server, for one build and context.
Launch = Callable[[Path, Site], list[str]]


@dataclass(frozen=True)
class Endpoint:
    """Where one policy is served: a port, and the path prefix of its locations."""

    port: int
    prefix: str = ""


def site(plans: tuple[Plan, ...], ports: dict[str, int], upstream: int, **more: Any) -> Site:
    """A Site for the test upstream: a dead port beside it, the paths the tests ask for."""
    return Site(plans, ports, upstream, more.pop("dead", free_port()), paths=tuple(STATUS), **more)


def unchecked_plan(name: str, text: str) -> Plan:
    """A plan built without the rules: the output must hold up even for what they would refuse."""
    return build_plan(parse_policy(text, f"{name}.toml"), name, f"{name}.toml")


def servings() -> dict[str, Serving]:
    """Each registered target's way to be served, for those that have one: a target without
    targets/NAME_serving.py fails tests/servers_test.py::test_every_target_can_be_served, not the
    collection of every test that serves."""
    found = {}
    for target in NAMES:
        if not by_name(target).served:  # no server runs its output here (Target.served)
            continue
        try:
            found[target] = serving_of(target)
        except ModuleNotFoundError as missing:
            if missing.name != f"corsgen.targets.{module_of(target)}_serving":
                raise
    return found


def config_test_binaries() -> list[Any]:
    """pytest params (target, binary) for each server build's config test."""
    return [
        pytest.param(target, binary, id=kind)
        for target, serving in servings().items()
        for kind, binary in serving.kinds().items()
    ]


def server_kinds() -> dict[str, tuple[str | None, Launch]]:
    """Kind name to (binary, config writer); the binary is None when not installed."""
    kinds: dict[str, tuple[str | None, Launch]] = {}
    for serving in servings().values():
        for kind, binary in serving.kinds().items():
            for context in serving.contexts:
                name = f"{kind}-{context}" if context else kind
                kinds[name] = (binary, partial(serving.configure, context, str(binary)))
    return kinds


def shared_kinds() -> list[str]:
    """The kinds that also serve every plan in one server, each under /NAME/ (see serving)."""
    return [
        (f"{kind}-{context}" if context else kind) + SHARED
        for serving in servings().values()
        for kind in serving.kinds()
        for context in serving.shared
    ]


@contextmanager
def running(configure: Launch, site: Site) -> Iterator[Path]:
    """Run a server until the block ends; its files live in a directory workers can read."""
    with tempfile.TemporaryDirectory(prefix="corsgen-server-") as tmp:
        root = Path(tmp)
        root.chmod(0o755)
        with process(configure(root, site), root, site.ports.values()):
            yield root


@contextmanager
def serving(kind: str, plans: tuple[Plan, ...], upstream: int) -> Iterator[dict[str, Endpoint]]:
    """Every plan in one running server of `kind`, on a free port of its own (or, for a shared
    kind, all on one); name to endpoint."""
    shared = kind.endswith(SHARED)
    binary, configure = server_kinds()[kind.removesuffix(SHARED)]
    need_binary(kind, binary)
    one = free_port()
    ports = {plan.name: one if shared else free_port() for plan in plans}
    served = site(plans, ports, upstream, shared=shared)
    with running(configure, served):
        endpoints = {plan.name: Endpoint(ports[plan.name], served.prefix(plan)) for plan in plans}
        for endpoint in endpoints.values():
            _routed(endpoint)
        yield endpoints


def _routed(at: Endpoint) -> None:
    """Wait until the server passes a request on to the upstream."""
    answers(at.port, at.prefix + "/ok", lambda r: r.getheader("X-Upstream") == "1")
