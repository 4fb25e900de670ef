"""corsgen's model of ingress-nginx's CORS block (corsgen.ingress.block) answers as the block itself
on the real nginx with the headers-more module (testing/ingress_nginx.py), for every Ingress of the
corpus: the same status and CORS headers to each request of the battery, and so the same verdict
of corsgen.fetch on what the page may read."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from corsgen.explain import Pairs, Trace
from corsgen.fetch import Request
from corsgen.ingress.compare import battery, exchange, readable
from corsgen.ingress.enforced import enforced
from corsgen.ingress.manifests import Ingress
from testing.ingress_nginx import corpus, modelled, origin_texts, real, serving
from testing.servers import Endpoint
from testing.upstream import Upstream

pytestmark = pytest.mark.conformance

INGRESSES = corpus()
NGINX_OWN = frozenset({"content-length", "server", "date", "connection"})


@pytest.fixture(scope="module")
def served() -> Iterator[dict[str, Endpoint]]:
    with Upstream() as up, serving([enforced(i) for i in INGRESSES], up.port) as endpoints:
        yield {i.name: at for i, at in zip(INGRESSES, endpoints, strict=True)}


def _cors(headers: Pairs) -> list[tuple[str, str]]:
    return sorted((n.lower(), v) for n, v in headers if n.lower().startswith("access-control-"))


def _seen(done: Trace) -> tuple[object, ...]:
    return tuple((e.method, e.status, _cors(e.received)) for e in done.exchanges)


@pytest.mark.parametrize("ingress", INGRESSES, ids=lambda i: i.name)
def test_the_model_answers_as_the_block(ingress: Ingress, served: dict[str, Endpoint]) -> None:
    model, server = modelled(enforced(ingress)), real(served[ingress.name])
    for request in battery(origin_texts(ingress)):
        expected, got = exchange(request, model), exchange(request, server)
        assert _seen(got) == _seen(expected), request
        assert _read(request, got) == _read(request, expected), request


def _read(request: Request, done: Trace) -> frozenset[str] | None:
    """What the page reads, but the headers nginx adds itself (the model answers without them)."""
    names = readable(request, done)
    return None if names is None else names - NGINX_OWN
