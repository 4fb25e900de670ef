"""What probe sends: every exact origin (an even sample of a long list), samples of each wildcard
and regex, the scanners' hostile variants, each expected as the plan says."""

from __future__ import annotations

import pytest

from corsgen.pipeline import load_and_plan
from corsgen.plan import Plan
from corsgen.probe.battery import SAMPLED, conformance, scan
from corsgen.probe.checks import BY_ID
from corsgen.probe.hostile import variants
from testing.paths import EXAMPLES
from testing.servers import unchecked_plan


def _plan(stem: str) -> Plan:
    return load_and_plan(EXAMPLES / f"{stem}.toml")[0]


def _origins(plan: Plan, purpose: str) -> set[str]:
    battery = conformance(plan, ["/ok"], ["/missing"])
    return {p.request.origin for p in battery.probes if p.purpose == purpose and p.request}


def test_every_scanner_category_is_sent() -> None:
    found = {check for check, _ in variants("https://app.example.com")}
    assert found == {f"PR1{n:02d}" for n in range(1, 11)} | {""}
    assert all(check in BY_ID for check in found if check)


def test_no_downgrade_from_plain_http() -> None:
    assert "PR107" not in {check for check, _ in variants("http://localhost:5173")}


def test_variants_never_include_the_origin_itself() -> None:
    for origin in ("https://app.example.com", "http://127.0.0.1:8080", "http://[::1]:3000"):
        assert origin not in {value for _, value in variants(origin)}


@pytest.mark.parametrize("stem", ["spa-api", "previews", "tenants"])
def test_allowed_and_refused_are_the_plans(stem: str) -> None:
    plan = _plan(stem)
    allowed, refused = _origins(plan, "allowed"), _origins(plan, "refused")
    assert set(plan.exact_origins) <= allowed
    assert all(plan.allows(o) for o in allowed)
    assert refused and not any(plan.allows(o) for o in refused)


def test_wildcards_and_regexes_are_sampled() -> None:
    assert {"https://a.app.example.net", "https://b.app.example.net"} <= _origins(
        _plan("tenants"), "allowed"
    )
    assert "https://pr-0.preview.example.dev" in _origins(_plan("previews"), "allowed")


def test_each_pattern_gets_hostile_variants() -> None:
    refused = _origins(_plan("tenants"), "refused")
    assert "https://a.app.example.net.corsgen-evil.com" in refused
    assert "http://a.app.example.net" in refused


def test_a_long_list_is_sampled_evenly_and_says_so() -> None:
    origins = ", ".join(f'"https://t{i}.example.com"' for i in range(1000))
    plan = unchecked_plan("big", f"allow_origins = [{origins}]\n")
    battery = conformance(plan, ["/"], ["/x"])
    allowed = _origins(plan, "allowed")
    assert {"https://t0.example.com", "https://t999.example.com"} <= allowed
    assert len(allowed & set(plan.exact_origins)) == SAMPLED
    assert battery.notes == (f"{SAMPLED} of 1000 exact origins, evenly sampled",)


def test_any_origin_refuses_nothing() -> None:
    assert _origins(_plan("public-read"), "refused") == set()


@pytest.mark.parametrize(
    ("key", "values", "refused"),
    [
        ("allow_headers", '["X-Token"]', True),
        ("allow_headers", '["*"]', False),
        ("allow_methods", '["PUT"]', True),
        ("allow_methods", '["*"]', False),
    ],
)
def test_a_preflight_is_asked_as_refused_unless_any_is_allowed(
    key: str, values: str, refused: bool
) -> None:
    plan = unchecked_plan("h", f'allow_origins = ["https://a.example"]\n{key} = {values}\n')
    purpose = "refused-header" if key == "allow_headers" else "refused-method"
    purposes = {p.purpose for p in conformance(plan, ["/"], ["/x"]).probes}
    assert (purpose in purposes) == refused


def test_paths() -> None:
    battery = conformance(_plan("spa-api"), ["/a", "/b"], ["/e"])
    assert {p.path for p in battery.probes if p.purpose == "error"} == {"/e"}
    assert {p.path for p in battery.probes if p.purpose != "error"} == {"/a", "/b"}
    assert {p.path for p in scan("https://x.example", ["/a"], ["/e"]).probes} == {"/a", "/e"}


@pytest.mark.parametrize("stem", ["spa-api", "previews", "tenants", "public-read"])
def test_each_example_fits_the_default_limit_on_two_paths(stem: str) -> None:
    battery = conformance(_plan(stem), ["/a", "/b"], ["/e", "/f"])
    assert len(battery.probes) <= 1000  # half the default --max-requests


@pytest.mark.parametrize(
    ("lists", "refused"),
    [
        ('allow_methods = ["PUT"]', {"refused-method", "refused-header"}),
        ('allow_methods = ["*"]', {"refused-header"}),
        ('allow_methods = ["PUT"]\nallow_headers = ["*"]', {"refused-method"}),
        (
            'allow_methods = ["PUT"]\nallow_headers = ["*"]\nallow_credentials = true',
            {"refused-method", "refused-header"},
        ),
    ],
)
def test_a_star_list_refuses_nothing_without_credentials(lists: str, refused: set[str]) -> None:
    """Browsers read * in Allow-Methods or Allow-Headers as a wildcard only without credentials:
    no method or header is refused then, so none is asked for."""
    plan = unchecked_plan("star", f'allow_origins = ["https://app.example.com"]\n{lists}\n')
    purposes = {p.purpose for p in conformance(plan, ["/ok"], ["/missing"]).probes}
    assert purposes & {"refused-method", "refused-header"} == refused


@pytest.mark.parametrize(
    ("lists", "asked"),
    [
        ('allow_headers = ["*"]', True),
        ('allow_headers = ["X-Token"]', False),
        ('allow_headers = ["*"]\nallow_credentials = true', False),  # a literal * then
    ],
)
def test_a_star_in_allow_headers_is_asked_about_authorization(lists: str, asked: bool) -> None:
    """Where the engines and the standard part (judge.notes): the preflight for the policy's own
    list asks for a header named *, whose answer cannot tell a * from that list echoed (Envoy)."""
    plan = unchecked_plan("star", f'allow_origins = ["https://app.example.com"]\n{lists}\n')
    probes = conformance(plan, ["/ok"], ["/missing"]).probes
    authorization = [p.request for p in probes if p.purpose == "authorization" and p.request]
    assert [r.author_headers for r in authorization] == [("Authorization",)] * asked
