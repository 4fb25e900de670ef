"""The Traefik model (targets/traefik_routing.py) against the real Traefik, config by config of the
corpus (tests/audit/corpus/traefik/: a file, or a directory the file provider reads as one).

Each config is served by testing/corpus.py (its upstream URL turned into the test upstream's, on
an entry point `web`); the model reads the same static file and follows its file provider. Every
request of testing/model_diff.battery goes to both.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from corsgen.routing import Asked
from corsgen.targets import traefik_routing
from corsgen.targets.traefik import TARGET
from corsgen.targets.traefik_check import static
from testing import corpus
from testing.model_diff import attributed, battery, differences, marked
from testing.upstream import Upstream

CONFIGS = corpus.configs("traefik")


@pytest.fixture
def served(
    request: pytest.FixtureRequest, upstream: Upstream, tmp_path: Path
) -> Iterator[tuple[traefik_routing.TraefikRoutes, int]]:
    with corpus.traefik(request.param, tmp_path, upstream.port) as served:
        assert isinstance(served.routes, traefik_routing.TraefikRoutes)
        yield served.routes, served.ports[0]


def _asked(routes: traefik_routing.TraefikRoutes, port: int | None) -> list[Asked]:
    hosts = [h for r in routes.routers for h in r.rule.hosts] + ["localhost"]
    prefixes = [p for r in routes.routers for p in r.rule.paths] + ["/nowhere/"]
    return battery(hosts, prefixes, port)


@pytest.mark.parametrize("served", CONFIGS, indirect=True)
def test_the_model_answers_as_traefik(
    served: tuple[traefik_routing.TraefikRoutes, int],
) -> None:
    routes, port = served
    table = differences(routes, port, _asked(routes, port))
    assert not table, "the model (left) and Traefik (right) differ:\n" + table


@pytest.mark.parametrize("name", CONFIGS)
def test_each_planted_flaw_is_on_a_line_the_model_names(name: str) -> None:
    """The corpus's expect-next lines are lines the model attributes an answer or a grant to,
    where the audit can report them."""
    files = corpus.traefik_files(name)
    routes, findings = traefik_routing.load(files)
    assert routes is not None, findings
    places = attributed(routes, _asked(routes, None))
    unnamed = {str(at): slugs for at, slugs in marked(files).items() if at not in places}
    assert not unnamed


CLAIMED = {
    "dynamic YAML": ("http:\n  routers:\n    api:\n      rule: PathPrefix(`/`)\n", True),
    "dynamic TOML": ("[http.middlewares.cors.headers]\n  addVaryHeader = true\n", True),
    "static YAML": ("entryPoints:\n  web:\n    address: ':80'\nproviders:\n  file: {}\n", True),
    "static TOML": ('[entryPoints.web]\n  address = ":80"\n[providers.file]\n', True),
    "Envoy": ("static_resources:\n  listeners: []\n", False),
    "nginx": ("http {\n  server { listen 80; }\n}\n", False),
    "a policy": ('allow_origins = ["https://app.example.com"]\n', False),
}


@pytest.mark.parametrize(("text", "claimed"), CLAIMED.values(), ids=CLAIMED)
def test_traefik_claims_its_files_only(text: str, claimed: bool) -> None:
    assert TARGET.claims(text) is claimed


def test_a_static_file_in_its_own_providers_directory_is_read_once(tmp_path: Path) -> None:
    (tmp_path / "traefik.yml").write_text(static(tmp_path, {"web": 8080}))
    text = corpus.traefik_files("public-star.yml")[0].read_text()
    (tmp_path / "public-star.yml").write_text(text)
    routes, findings = traefik_routing.load([tmp_path / "traefik.yml"])
    assert routes is not None, findings
    assert [router.name for router in routes.routers] == ["catalog"]


@pytest.mark.parametrize(
    "provided", ["filename: /nonexistent/dynamic.yml", f"directory: /srv/{'a' * 300}"]
)
def test_a_provider_file_that_cannot_be_read_is_cg401(provided: str, tmp_path: Path) -> None:
    """A static config copied without its dynamic file (or a name too long): exit 3 once."""
    static_text = 'entryPoints:\n  web:\n    address: ":8080"\nproviders:\n  file:\n'
    (tmp_path / "traefik.yml").write_text(f"{static_text}    {provided}\n")
    routes, findings = traefik_routing.load([tmp_path / "traefik.yml"])
    assert routes is None and [f.rule_id for f in findings] == ["CG401"], findings
