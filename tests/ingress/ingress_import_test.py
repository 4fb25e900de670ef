"""The policy `corsgen import` writes for each Ingress of the corpus, rendered by the nginx target
and served on the real nginx, lets a page read never more than ingress-nginx's own block on the
real nginx (testing/ingress_nginx.py), with or without credentials; and where it lets it read
less is exactly where the models say (the block's model and the policy's promise)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from corsgen.explain import Send
from corsgen.ingress.compare import PATH, battery, versus
from corsgen.ingress.importing import Imported, imported
from corsgen.ingress.report import promised
from corsgen.plan import Plan
from testing import upstream
from testing.ingress_nginx import corpus, modelled, origin_texts, real, serving
from testing.servers import Endpoint
from testing.servers import serving as serving_policies
from testing.upstream import Upstream

pytestmark = pytest.mark.conformance

IMPORTED = imported(corpus(), Path("cors"))
WRITTEN = [i for i in IMPORTED if i.plan is not None]


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[dict[str, Endpoint], dict[str, Endpoint]]]:
    """The blocks and the imported policies (corsgen's nginx output), each on the real nginx."""
    plans = tuple(i.plan for i in WRITTEN if i.plan is not None)
    with (
        Upstream() as up,
        serving([i.enforced for i in WRITTEN], up.port) as blocks,
        # Every policy in one server, each in its location /NAME/: one port, so no two of
        # thirty free ports picked one after another can collide.
        serving_policies("nginx+shared", plans, up.port) as policies,
    ):
        named = {i.ingress.name: at for i, at in zip(WRITTEN, blocks, strict=True)}
        yield named, {i.ingress.name: policies[i.plan.name] for i in WRITTEN if i.plan}


def _promised(plan: Plan) -> Send:
    """corsgen's promise for the plan, the test upstream behind it, as the block's model has."""
    return promised(plan, lambda method: upstream.answer(method, PATH))


@pytest.mark.parametrize("found", WRITTEN, ids=lambda i: i.ingress.name)
def test_the_policy_reads_never_more_than_ingress_nginx(
    found: Imported, served: tuple[dict[str, Endpoint], dict[str, Endpoint]]
) -> None:
    blocks, policies = served
    assert found.plan is not None
    requests = battery(origin_texts(found.ingress))
    got = versus(requests, real(blocks[found.ingress.name]), real(policies[found.ingress.name]))
    assert got.wider == ()
    said = versus(requests, modelled(found.enforced), _promised(found.plan))
    assert said.wider == ()
    assert got.narrower == said.narrower


def test_every_corpus_ingress_without_a_policy_sends_no_cors() -> None:
    """The Ingresses import writes nothing for: ingress-nginx sends them no CORS header."""
    skipped = [i for i in IMPORTED if i.plan is None]
    assert {i.ingress.name for i in skipped} == {"closed-twostars", "closed-spaces", "enable-yes"}
    assert all(not i.enforced.enabled or not i.enforced.origins for i in skipped)
