"""The Envoy model (targets/envoy_routing.py) against the real Envoy, bootstrap by bootstrap of the
corpus (tests/audit/corpus/envoy/).

Each bootstrap is served by testing/corpus.py (its listeners' ports 10000, 10001, ... turned into
free ones, its cluster's 18080 into the test upstream's and a dead one's 18081 into a free port);
the model reads the same file. Every request of testing/model_diff.battery goes to both, on each
listener.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from corsgen.routing import Asked
from corsgen.targets import envoy_routing, yaml_lines
from corsgen.targets.envoy import TARGET
from testing import corpus
from testing.model_diff import attributed, battery, differences, marked
from testing.upstream import Upstream

CORPUS = corpus.CORPUS / "envoy"
CONFIGS = corpus.configs("envoy")


@pytest.fixture
def served(
    request: pytest.FixtureRequest, upstream: Upstream, tmp_path: Path
) -> Iterator[tuple[envoy_routing.EnvoyRoutes, list[int]]]:
    with corpus.envoy(request.param, tmp_path, upstream.port) as served:
        assert isinstance(served.routes, envoy_routing.EnvoyRoutes)
        yield served.routes, list(served.ports)


def _asked(routes: envoy_routing.EnvoyRoutes, port: int | None) -> list[Asked]:
    """The battery on each virtual host's domains and each route's prefix or path."""
    hosts, prefixes = ["localhost"], ["/nowhere/"]
    for listener in routes.listeners:
        for vhost in (listener.table.get("virtual_hosts") or yaml_lines.NONE).items():
            domains = (vhost.get("domains") or yaml_lines.NONE).texts()
            hosts += [d for d in domains if "*" not in d]
            for route in (vhost.get("routes") or yaml_lines.NONE).items():
                match = route.get("match") or yaml_lines.NONE
                prefixes += [(match.get("prefix") or match.get("path") or match).text() or "/"]
    return battery(hosts, prefixes, port)


@pytest.mark.parametrize("served", CONFIGS, indirect=True)
def test_the_model_answers_as_envoy(served: tuple[envoy_routing.EnvoyRoutes, list[int]]) -> None:
    routes, ports = served
    for port in ports:
        table = differences(routes, port, _asked(routes, port))
        assert not table, f"the model (left) and Envoy (right) differ on {port}:\n" + table


@pytest.mark.parametrize("name", CONFIGS)
def test_each_planted_flaw_is_on_a_line_the_model_names(name: str) -> None:
    """The corpus's expect-next lines are lines the model attributes an answer or a grant to,
    where the audit can report them."""
    routes, findings = envoy_routing.load([CORPUS / name])
    assert routes is not None, findings
    places = attributed(routes, _asked(routes, None))
    unnamed = {str(at): slugs for at, slugs in marked([CORPUS / name]).items() if at not in places}
    assert not unnamed


CLAIMED = {
    "YAML bootstrap": ("static_resources:\n  listeners: []\n", True),
    "JSON bootstrap": ('{"static_resources": {"listeners": []}}', True),
    "Traefik": ("http:\n  routers:\n    api:\n      rule: PathPrefix(`/`)\n", False),
    "Caddy": (":80 {\n  respond 200\n}\n", False),
}


@pytest.mark.parametrize(("text", "claimed"), CLAIMED.values(), ids=CLAIMED)
def test_envoy_claims_its_files_only(text: str, claimed: bool) -> None:
    assert TARGET.claims(text) is claimed


def test_the_yaml_reader_keeps_each_keys_line_through_anchors_and_merges() -> None:
    text = (
        "base: &cors\n"
        "  allow_methods: GET\n"
        "  max_age: '600'\n"
        "route:\n"
        "  <<: *cors\n"
        "  max_age: '60'\n"
        "  flow: {prefix: /api/, list: [a, b]}\n"
    )
    root = yaml_lines.read(text, "f.yaml")
    route = root.get("route") or yaml_lines.Node({}, "", 0)
    assert [(k, n.text(), n.line) for k, n in route.keys().items() if k != "flow"] == [
        ("allow_methods", "GET", 2),
        ("max_age", "60", 6),
    ]
    flow = route.get("flow") or yaml_lines.Node({}, "", 0)
    assert (flow.line, (flow.get("list") or flow).texts()) == (7, ["a", "b"])


def test_the_yaml_reader_reads_each_alias_once() -> None:
    """Aliases of aliases, nine deep, would be 10**9 nodes written out: read in no time."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 10)}]" for n in range(1, 10)]
    root = yaml_lines.read("\n".join(lines) + "\n", "bomb.yaml")
    assert len((root.get("a9") or yaml_lines.Node((), "", 0)).items()) == 10


def test_the_yaml_reader_reads_an_anchor_used_within_itself_as_nothing() -> None:
    """PyYAML composes `&x {r: *x}` as a node inside itself: read once, not to endless depth."""
    root = yaml_lines.read("routers: &x\n  r: *x\n  s: 1\n", "rec.yml")
    routers = root.get("routers")
    assert routers is not None and routers.get("s") is not None
    inner = routers.get("r")
    assert inner is not None and inner.keys() == {}


def test_a_file_that_is_not_yaml_is_cg401(tmp_path: Path) -> None:
    (tmp_path / "envoy.yaml").write_text("static_resources:\n  listeners: [\n")
    loaded = TARGET.routes([tmp_path / "envoy.yaml"])
    assert loaded.routes is None
    assert [f.rule_id for f in loaded.findings] == ["CG401"]
    assert "envoy.yaml:3" in loaded.findings[0].message
