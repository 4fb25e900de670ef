"""The traefik-crd target: a whole Middleware whose spec.headers is the traefik target's headers.

What it answers is proven on the real Traefik by the conformance suite (the kind traefik-crd:
each Middleware's spec.headers served as a file provider's middleware, traefik_crd_serving.py),
judged by corsgen.fetch against testing/intents.py; here, what is particular to the manifest.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from corsgen.errors import CorsgenError, VerifyError
from corsgen.pipeline import load_and_plan
from corsgen.plan import build_plan
from corsgen.policy.loading import parse_policy
from corsgen.render import render
from corsgen.targets import kubernetes, traefik, traefik_crd
from corsgen.verify import check_structure, find_binary, server_check
from testing.binaries import need_binary
from testing.paths import EXAMPLES

EXAMPLE_PATHS = sorted(EXAMPLES.glob("*.toml"))
A = 'allow_origins = ["https://a.example.com"]\n'


def _manifest(example: Path) -> str:
    (text,) = render(load_and_plan(example)[0], "traefik-crd").values()
    return text


@pytest.mark.parametrize("example", EXAMPLE_PATHS, ids=lambda p: p.stem)
def test_spec_headers_are_the_file_providers_headers(example: Path) -> None:
    plan = load_and_plan(example)[0]
    (file,) = render(plan, "traefik").values()
    written = yaml.safe_load(file)["http"]["middlewares"][traefik.middleware(plan)]["headers"]
    resource = yaml.safe_load(_manifest(example))
    assert resource["spec"] == {"headers": written}
    # The upstream's own CORS headers are deleted (customResponseHeaders: "" deletes).
    assert set(written["customResponseHeaders"]) == set(plan.owned_headers)
    assert set(written["customResponseHeaders"].values()) == {""}


@pytest.mark.parametrize("example", EXAMPLE_PATHS, ids=lambda p: p.stem)
def test_a_whole_middleware_without_a_namespace(example: Path) -> None:
    resource = yaml.safe_load(_manifest(example))
    assert resource["apiVersion"] == "traefik.io/v1alpha1" and resource["kind"] == "Middleware"
    # The namespace is kustomize's or kubectl -n's to set.
    assert resource["metadata"] == {"name": "corsgen-" + example.stem}


@pytest.mark.parametrize("example", EXAMPLE_PATHS, ids=lambda p: p.stem)
def test_the_copy_the_crd_provider_makes_is_the_file_providers_middleware(example: Path) -> None:
    """What the config test and the conformance suite serve: spec.headers, as it is."""
    text = _manifest(example)
    name = yaml.safe_load(text)["metadata"]["name"]
    copied = yaml.safe_load(traefik_crd.file_provider(text))
    assert copied == {
        "http": {"middlewares": {name: {"headers": yaml.safe_load(text)["spec"]["headers"]}}}
    }


@pytest.mark.parametrize("example", EXAMPLE_PATHS, ids=lambda p: p.stem)
def test_shortfalls_are_the_file_providers(example: Path) -> None:
    plan = load_and_plan(example)[0]
    assert list(traefik_crd.TARGET.shortfalls(plan)) == list(traefik.TARGET.shortfalls(plan))


@pytest.mark.parametrize(
    ("name", "resource"),
    [("api", "corsgen-api"), ("spa_api", "corsgen-spa-api"), ("a__b9", "corsgen-a--b9")],
)
def test_the_policy_name_with_dashes(name: str, resource: str) -> None:
    plan = build_plan(parse_policy(A, f"{name}.toml"), name, f"{name}.toml")
    assert kubernetes.owned(plan) == resource


@pytest.mark.parametrize("name", ["api_", "API", "a.b_", "x" * 56])
def test_a_name_the_api_server_would_refuse_is_refused(name: str) -> None:
    plan = build_plan(parse_policy(A, "api.toml"), name, "api.toml")
    with pytest.raises(CorsgenError, match=r"refusing to render .* for traefik-crd: "):
        render(plan, "traefik-crd")


@pytest.mark.parametrize(
    ("old", "new", "error"),
    [
        ('"traefik.io/v1alpha1"', '"traefik.containo.us/v1alpha1"', "apiVersion is not"),
        ('"Middleware"', '"IngressRoute"', "kind is not Middleware"),
        ('"corsgen-spa-api"', '"spa-api"', "metadata.name is not corsgen-NAME"),
        ('"corsgen-spa-api"', '"corsgen-spa_api"', "a lowercase RFC 1123 subdomain"),
        ("accessControlMaxAge: 600", 'accessControlMaxAge: "600"', "MaxAge is not a int"),
        ("accessControlAllowCredentials: true", "accessControlAllowCredentials: 1", "not a bool"),
        ('Max-Age: ""', "Max-Age: 1", "customResponseHeaders is not a dict"),
        ("    addVaryHeader:", "    stsSeconds: 1\n    addVaryHeader:", "unknown key 'stsSeconds'"),
        ("  headers:\n", "  plugin:\n", "unknown key 'plugin'"),
    ],
)
def test_check_structure_refuses_what_is_not_this_middleware(
    old: str, new: str, error: str
) -> None:
    text = _manifest(EXAMPLES / "spa-api.toml")
    assert old in text
    with pytest.raises(VerifyError, match=error):
        check_structure({"spa_api.middleware.yaml": text.replace(old, new, 1)}, "traefik-crd")


def test_the_config_test_is_traefik_on_the_copied_middleware() -> None:
    """`corsgen verify` starts Traefik on what the CRD provider would hand on: a regex Go
    refuses keeps the router from loading."""
    binary = find_binary("traefik-crd")
    need_binary("traefik", binary)
    files = render(load_and_plan(EXAMPLES / "previews.toml")[0], "traefik-crd")
    assert server_check(files, "traefik-crd", binary).ok
    (name,) = files
    broken = files[name].replace('      - "^(?:', '      - "(^(?:', 1)
    assert broken != files[name]
    with pytest.raises(VerifyError, match=r"rejected the output: .*missing closing \)"):
        server_check({name: broken}, "traefik-crd", binary)
