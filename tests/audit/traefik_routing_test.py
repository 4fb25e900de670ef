"""The Traefik model (targets/traefik_routing.py) against the real Traefik, config by config of the
corpus (tests/audit/corpus/traefik/: a file, or a directory the file provider reads as one).

Each config is served with its upstream URL (127.0.0.1:18080) turned into the test upstream's, on
an entry point `web`; the model reads the same static
file and follows its file provider. Every request of testing/model_diff.battery goes to both.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from corsgen.routing import Asked
from corsgen.targets import traefik_routing
from corsgen.targets.traefik import TARGET
from corsgen.targets.traefik_check import static
from testing.binaries import need_binary
from testing.model_diff import attributed, battery, differences, marked
from testing.processes import free_port, process
from testing.traefik_corpus import CONFIGS, copy, files, loaded
from testing.upstream import Upstream


@pytest.fixture
def served(
    request: pytest.FixtureRequest, upstream: Upstream, tmp_path: Path
) -> Iterator[tuple[traefik_routing.TraefikRoutes, int]]:
    binary = TARGET.find_binary()
    need_binary("traefik", binary)
    dynamic = tmp_path / "dynamic"
    dynamic.mkdir()
    copy(request.param, dynamic, upstream.port)
    web, api = free_port(), free_port()
    (tmp_path / "traefik.yml").write_text(static(dynamic, {"web": web}, api))
    routes, findings = traefik_routing.load([tmp_path / "traefik.yml"])
    assert routes is not None, findings
    assert routes.config.routers, "the model read no router"
    with process([str(binary), f"--configFile={tmp_path / 'traefik.yml'}"], tmp_path, [web, api]):
        loaded(api, len(routes.config.routers))
        yield routes, web


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
    routes, findings = traefik_routing.load(files(name))
    assert routes is not None, findings
    places = attributed(routes, _asked(routes, None))
    unnamed = {str(at): slugs for at, slugs in marked(files(name)).items() if at not in places}
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
    copy("public-star.yml", tmp_path, 8081)
    routes, findings = traefik_routing.load([tmp_path / "traefik.yml"])
    assert routes is not None, findings
    assert [router.name for router in routes.routers] == ["catalog"]
