"""The Kubernetes outputs (gateway-api, envoy-gateway, istio): each refusal and each shortfall per
target, what they render, and the names they give resources."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from corsgen.cli import main
from corsgen.errors import CorsgenError, VerifyError
from corsgen.plan import Plan, build_plan
from corsgen.policy.loading import parse_policy
from corsgen.render import render
from corsgen.targets import by_name, expressible
from corsgen.verify import check_structure, server_check


def plan_of(text: str) -> Plan:
    """The plan of a policy text, named by its `name` key, else api."""
    policy = parse_policy(text, "api.toml")
    return build_plan(policy, policy.name or "api", "api.toml")


K8S = ("gateway-api", "envoy-gateway", "istio")
A = 'allow_origins = ["https://a.example.com"]\n'
SIXTY_FIVE = [f"X-H{i}" for i in range(65)]

# (policy text, {target: the CG530 cases it refuses the policy with}); a target left out
# expresses the policy.
REFUSALS = [
    (
        A + "allow_origin_regex = 'https://pr-[0-9]+\\.example\\.com'",
        {"gateway-api": {"regex"}, "envoy-gateway": {"regex"}},
    ),
    (
        # Envoy Gateway's origin pattern takes any scheme since v1.9.0.
        'allow_origins = ["wss://a.example.com"]',
        {"gateway-api": {"scheme"}},
    ),
    ('allow_origins = ["https://a_b.example.com"]', {"gateway-api": {"host"}}),
    # A 251-character host, which corsgen takes: with https:// past the CRDs' 253.
    (
        'allow_origins = ["https://' + ".".join(["a" * 62] * 4) + '"]',
        {"gateway-api": {"long-origin"}, "envoy-gateway": {"long-origin"}},
    ),
    ('allow_origins = ["http://[::1]:8080"]', {"gateway-api": {"host"}, "envoy-gateway": {"host"}}),
    (A + 'allow_methods = ["PROPFIND"]', {"gateway-api": {"method"}, "istio": {"method"}}),
    (A + 'allow_methods = ["*", "GET"]', {"gateway-api": {"star-beside"}}),
    (A + 'allow_headers = ["*", "Authorization"]', {"gateway-api": {"star-beside"}}),
    (A + "max_age = 0", {"gateway-api": {"max-age"}, "istio": {"max-age"}}),
    # 140 [^x], each written out as a class of the characters an origin holds: past istiod's
    # 1,024 bytes, though the policy's text is not.
    (
        A + "allow_origin_regex = 'https://(" + "|".join(["[^x]"] * 140) + ")\\.example\\.com'",
        {"gateway-api": {"regex"}, "envoy-gateway": {"regex"}, "istio": {"regex-size"}},
    ),
    (A + "allow_methods = []", {"envoy-gateway": {"empty"}}),
    # Envoy Gateway's Duration pattern: five digits a unit, so hours past 99999s, then no more.
    (A + "max_age = 359999999", {}),
    (A + "max_age = 360000000", {"envoy-gateway": {"max-age-most"}}),
    (A + f"allow_headers = {SIXTY_FIVE!r}", {"gateway-api": {"too-many"}}),
    (A + f"expose_headers = {SIXTY_FIVE!r}", {"gateway-api": {"too-many"}}),
    (
        f"allow_origins = {[f'https://o{i}.example.com' for i in range(65)]!r}",
        {"gateway-api": {"too-many"}},
    ),
    (A + "allow_private_network = true", {t: {"private-network"} for t in K8S}),
    (A + 'name = "api_"', {t: {"name"} for t in K8S}),
    (A + f'name = "{"a" * 56}"', {"envoy-gateway": {"name"}}),
    (A + f'name = "{"a" * 64}"', {t: {"name"} for t in K8S}),
    (A + 'allow_methods = ["GET", "PATCH"]\nallow_headers = ["X-A"]\nmax_age = 1', {}),
    ('allow_origins = ["https://*.example.com"]', {}),
    ('allow_origins = ["*"]', {}),
]


@pytest.mark.parametrize(("text", "refused"), REFUSALS)
@pytest.mark.parametrize("target", K8S)
def test_each_format_refuses_what_it_cannot_say(
    target: str, text: str, refused: dict[str, set[str]]
) -> None:
    plan = plan_of(text)
    found = list(by_name(target).refusals(plan))
    assert {v.case for v in found} == refused.get(target, set())
    assert all(v.rule == "CG530" and v.texts[0] and v.texts[1] for v in found)
    if found:
        with pytest.raises(CorsgenError, match=f"refusing to render {plan.name} for {target}"):
            render(plan, target)
    else:
        check_structure(render(plan, target), target)


# (policy text, target, the CG501 cases it notes)
GATEWAY = {
    "preflight-ok",
    "backend-cors",
    "auth-first",
    "preflight-auth",
    "origin-twice",
    "basic-auth",
}
ENVOY = {"preflight-200", "no-vary", "backend-cors"}
SHORTFALLS = [
    (A, "gateway-api", GATEWAY | {"no-vary"}),
    (
        'allow_origins = ["https://*.example.com"]',
        "gateway-api",
        GATEWAY | {"no-vary", "ignores-wildcards"},
    ),
    ('allow_origins = ["*"]', "gateway-api", GATEWAY | {"star-not-null"}),
    (A, "envoy-gateway", ENVOY),
    (A + "preflight_status = 200", "envoy-gateway", {"no-vary", "backend-cors"}),
    ('allow_origins = ["*"]', "envoy-gateway", ENVOY | {"no-star"}),
    (A + 'allow_headers = ["*"]', "istio", ENVOY | {"star-headers", "auth-first"}),
    (A, "istio", ENVOY | {"auth-first"}),
]


@pytest.mark.parametrize(("text", "target", "cases"), SHORTFALLS)
def test_each_shortfall_is_noted(text: str, target: str, cases: set[str]) -> None:
    noted = list(by_name(target).shortfalls(plan_of(text)))
    assert {v.case for v in noted} == cases and {v.rule for v in noted} == {"CG501"}
    for violation in noted:
        message, _ = violation.texts
        if "tracker" in violation.fields:  # an implementation's issue names it and its tracker
            assert str(violation.fields["tracker"]) in message


POLICY = (
    'allow_origins = ["https://a.example.com", "https://*.b.example.com"]\n'
    'allow_methods = ["GET", "PUT"]\nallow_headers = ["X-A"]\nallow_credentials = true\n'
)


def _document(target: str, text: str = POLICY) -> Any:
    (rendered,) = render(plan_of(text), target).values()
    return yaml.safe_load(rendered)


def test_the_gateway_api_patch_puts_the_whole_policy_first_in_rule_0() -> None:
    (op,) = _document("gateway-api")
    assert op["op"] == "add" and op["path"] == "/spec/rules/0/filters/0"
    assert op["value"] == {
        "type": "CORS",
        "cors": {
            "allowOrigins": ["https://a.example.com", "https://*.b.example.com"],
            "allowMethods": ["GET", "PUT"],
            "allowHeaders": ["X-A"],
            "exposeHeaders": [],
            # Unset max_age: the browser's own 5, written out (the filter's default too).
            "maxAge": 5,
            "allowCredentials": True,
        },
    }


def test_envoy_gateway_writes_a_whole_security_policy_for_the_route() -> None:
    document = _document("envoy-gateway", POLICY + "max_age = 600")
    assert isinstance(document, dict)
    assert document["apiVersion"] == "gateway.envoyproxy.io/v1alpha1"
    assert document["metadata"] == {"name": "corsgen-api"}  # no namespace: kustomize or -n
    assert document["spec"]["targetRefs"] == [
        {"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": "api"}
    ]
    assert document["spec"]["cors"]["maxAge"] == "600s"
    assert document["spec"]["cors"]["allowCredentials"] is True


def test_istio_matches_wildcards_and_regexes_as_anchored_re2() -> None:
    text = POLICY + "allow_origin_regex = 'https://pr-[0-9]+\\.example\\.com'"
    (op,) = _document("istio", text)
    assert op["path"] == "/spec/http/0/corsPolicy"
    origins = op["value"]["allowOrigins"]
    assert origins[0] == {"exact": "https://a.example.com"}
    assert [set(o) for o in origins[1:]] == [{"regex"}, {"regex"}]
    assert all(o["regex"].startswith("^") and o["regex"].endswith("$") for o in origins[1:])
    assert _document("istio", 'allow_origins = ["*"]')[0]["value"]["allowOrigins"] == [
        {"regex": ".*"}
    ]


@pytest.mark.parametrize(
    ("name", "resource"),
    [("api", "api"), ("spa_api", "spa-api"), ("v2_public_api", "v2-public-api")],
)
def test_resources_are_named_after_the_policy_with_dashes(name: str, resource: str) -> None:
    text = f'name = "{name}"\n' + A
    (rendered,) = render(plan_of(text), "gateway-api").values()
    assert f"name {resource}." in rendered
    document = _document("envoy-gateway", text)
    assert document["metadata"]["name"] == f"corsgen-{resource}"
    assert document["spec"]["targetRefs"][0]["name"] == resource


@pytest.mark.parametrize("target", K8S)
def test_the_offline_check_is_the_config_test_and_needs_no_server(target: str) -> None:
    result = server_check(render(plan_of(POLICY), target), target)
    assert result.ok and result.binary is not None


@pytest.mark.parametrize("target", K8S)
def test_a_wrong_shape_is_a_verify_error(target: str) -> None:
    files = render(plan_of(POLICY), target)
    broken = {
        name: text.replace("allowCredentials: true", 'allowCredentials: "yes"')
        for name, text in files.items()
    }
    with pytest.raises(VerifyError, match="allowCredentials"):
        check_structure(broken, target)


def test_check_and_render_refuse_for_the_chosen_target_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = tmp_path / "api.toml"
    policy.write_text(A + "allow_origin_regex = 'https://pr-[0-9]+\\.example\\.com'")
    assert main(["check", str(policy)]) == 0
    assert main(["check", str(policy), "--target", "istio"]) == 0
    assert main(["check", str(policy), "--target", "gateway-api"]) == 1
    assert main(["render", str(policy), "--target", "gateway-api"]) == 1
    assert "CG530 cannot-express: Gateway API has no origin regex" in capsys.readouterr().err
    assert "gateway-api" not in expressible(plan_of(policy.read_text()), K8S)


@pytest.mark.parametrize("target", K8S)
def test_audit_refuses_a_target_it_does_not_read(
    target: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "route.yaml"
    config.write_text("kind: HTTPRoute\n")
    assert main(["audit", str(config), "--target", target]) == 2
    assert "a manifest corsgen writes, not a config it reads" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("origins", "code", "written"),
    [('["https://a.example.com"]', 0, True), ('["wss://a.example.com"]', 1, False)],
)
def test_sync_writes_the_outputs_or_refuses_the_policy_for_them(
    tmp_path: Path, origins: str, code: int, written: bool
) -> None:
    (tmp_path / "cors").mkdir()
    (tmp_path / "cors" / "api.toml").write_text(f"allow_origins = {origins}\n")
    (tmp_path / "corsgen.toml").write_text(
        '[[outputs]]\npolicies = ["cors/*.toml"]\ntargets = ["gateway-api", "istio"]\n'
        'out_dir = "deploy/{target}"\n'
    )
    assert main(["sync", "--manifest", str(tmp_path / "corsgen.toml")]) == code
    patch = tmp_path / "deploy" / "gateway-api" / "api.httproute-patch.yaml"
    assert patch.is_file() == written
    assert (tmp_path / "deploy" / "istio").is_dir() == written  # all or nothing


@pytest.mark.parametrize(
    ("text", "code", "said"),
    [
        ('allow_origins = ["https://*.example.com"]', 0, " CG501 "),  # Istio's wildcard issue
        ('allow_origins = ["wss://a.example.com"]', 1, " CG530 "),  # refused, nothing explained
    ],
)
def test_explain_with_a_target_says_its_notes_and_refusals(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, code: int, said: str
) -> None:
    policy = tmp_path / "api.toml"
    policy.write_text(text + "\n")
    origin = "https://a.example.com" if code else "https://x.example.com"
    assert main(["explain", str(policy), "--origin", origin, "-t", "gateway-api"]) == code
    assert said in capsys.readouterr().err


# (target, options, where each given name lands in the parsed file: (path, value)); a patch names
# its route and namespace only in its kustomize note, since kustomization.yaml selects its target.
ATTACHED = [
    (
        "envoy-gateway",
        ["--namespace", "shop", "--route", "storefront"],
        [
            (("metadata", "namespace"), "shop"),
            (("spec", "targetRefs", 0, "name"), "storefront"),
            # One policy attached to two routes is two SecurityPolicies, not one overwritten.
            (("metadata", "name"), "corsgen-api.storefront"),
        ],
    ),
    (
        "envoy-gateway",
        [],
        [(("metadata", "namespace"), None), (("spec", "targetRefs", 0, "name"), "api")],
    ),
    ("traefik-crd", ["--namespace", "shop"], [(("metadata", "namespace"), "shop")]),
    ("gateway-api", ["--namespace", "shop", "--route", "storefront"], []),
    ("istio", ["--route", "storefront"], []),
    # A route's name is a DNS-1123 subdomain: dots too.
    ("envoy-gateway", ["--route", "api.v1"], [(("spec", "targetRefs", 0, "name"), "api.v1")]),
]


@pytest.mark.parametrize(("target", "options", "landed"), ATTACHED)
def test_render_writes_the_namespace_and_route_given(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    target: str,
    options: list[str],
    landed: list[tuple[tuple[str | int, ...], str | None]],
) -> None:
    policy = tmp_path / "api.toml"
    policy.write_text('allow_origins = ["https://a.example.com"]\n')
    assert main(["render", str(policy), "--target", target, *options]) == 0
    text = capsys.readouterr().out
    document = yaml.safe_load(text)
    for path, value in landed:
        found: Any = document
        for step in path:
            found = found.get(step) if isinstance(found, dict) else found[step]
        assert found == value
    if "--route" in options and target in ("gateway-api", "istio"):
        note = "name storefront" + (", namespace shop" if "--namespace" in options else "")
        assert note in text
    check_structure({"api.yaml": text}, target)


@pytest.mark.parametrize(
    ("target", "options", "said"),
    [
        ("nginx", ["--namespace", "shop"], "--namespace is for gateway-api, envoy-gateway, istio"),
        (
            "traefik-crd",
            ["--route", "web"],
            "--route is for gateway-api, envoy-gateway, istio, not",
        ),
        ("istio", ["--route", "Web"], "'Web' is not a Kubernetes name: only a-z, 0-9 and -"),
        ("istio", ["--namespace", "a" * 64], "64 characters, more than 63"),
        ("istio", ["--namespace", "a.b"], "'a.b' is not a Kubernetes name"),
        ("istio", ["--route", "a..b"], "in labels between dots"),
    ],
)
def test_render_refuses_a_name_kubernetes_would_not_take_or_a_target_that_has_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], target: str, options: list[str], said: str
) -> None:
    policy = tmp_path / "api.toml"
    policy.write_text('allow_origins = ["https://a.example.com"]\n')
    assert main(["render", str(policy), "--target", target, *options]) == 2
    assert said in capsys.readouterr().err


def test_sync_takes_the_namespace_and_each_policys_route_from_the_manifest(tmp_path: Path) -> None:
    (tmp_path / "cors").mkdir()
    for name in ("api", "web"):
        (tmp_path / "cors" / f"{name}.toml").write_text(
            'allow_origins = ["https://a.example.com"]\n'
        )
    (tmp_path / "corsgen.toml").write_text(
        '[[outputs]]\npolicies = ["cors/*.toml"]\ntargets = ["envoy-gateway", "nginx"]\n'
        'out_dir = "deploy/{target}"\nnamespace = "shop"\nroutes = {api = "storefront"}\n'
    )
    assert main(["sync", "--manifest", str(tmp_path / "corsgen.toml")]) == 0
    deploy = tmp_path / "deploy" / "envoy-gateway"
    for name, route in (("api", "storefront"), ("web", "web")):
        document = yaml.safe_load((deploy / f"{name}.securitypolicy.yaml").read_text())
        assert document["metadata"]["namespace"] == "shop"
        assert document["spec"]["targetRefs"][0]["name"] == route
    assert (tmp_path / "deploy" / "nginx" / "api.conf").is_file()  # nginx ignores both


def test_the_manifest_refuses_a_namespace_kubernetes_would_not_take(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "corsgen.toml").write_text(
        '[[outputs]]\npolicies = ["*.toml"]\ntargets = ["istio"]\nout_dir = "d"\n'
        'namespace = "Shop"\n'
    )
    assert main(["sync", "--manifest", str(tmp_path / "corsgen.toml")]) == 1
    assert "namespace" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("seconds", "written"),
    [(600, "600s"), (99999, "99999s"), (100000, "27h46m40s"), (108000, "30h"), (7260 * 60, "121h")],
)
def test_envoy_gateways_max_age_is_a_duration_its_pattern_takes(seconds: int, written: str) -> None:
    document = _document("envoy-gateway", A + f"max_age = {seconds}")
    assert document["spec"]["cors"]["maxAge"] == written


def test_a_namespace_changed_in_the_manifest_re_renders_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "cors").mkdir()
    (tmp_path / "cors" / "api.toml").write_text('allow_origins = ["https://a.example.com"]\n')
    manifest = tmp_path / "corsgen.toml"
    output = '[[outputs]]\npolicies = ["cors/*.toml"]\ntargets = ["traefik-crd"]\nout_dir = "d"\n'
    manifest.write_text(output + 'namespace = "shop"\n')
    assert main(["sync", "--manifest", str(manifest)]) == 0
    manifest.write_text(output + 'namespace = "prod"\n')
    capsys.readouterr()
    assert main(["sync", "--manifest", str(manifest), "--check"]) == 1
    assert main(["sync", "--manifest", str(manifest)]) == 0
    assert "wrote d/api.middleware.yaml (re-render)" in capsys.readouterr().out
    written = yaml.safe_load((tmp_path / "d" / "api.middleware.yaml").read_text())
    assert written["metadata"]["namespace"] == "prod"
