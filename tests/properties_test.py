"""Open input: any policy either is refused with an error, or renders output that parses."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from corsgen.limits import MAX_ORIGIN_LENGTH, MAX_TOKEN_LENGTH
from corsgen.plan import ACAC, ACAO, build_plan
from corsgen.policy.loading import parse_policy
from corsgen.render import render
from corsgen.rules.checks import check_policy
from corsgen.targets import NAMES as TARGETS
from corsgen.verify import check_structure
from testing.policies import long_origin

ORIGINS = st.sampled_from(
    [
        "*",
        "https://app.example.com",
        "https://*.example.com",
        "http://localhost:3000",
        "capacitor://localhost",
        "https://bücher.example",
        "https://*.co.uk",
        "null",
        "https://a.com/",
        "https://x.example.com:8443",
        "https://a.com;",
        "",
        "HTTPS://APP.EXAMPLE.COM",
        long_origin(MAX_ORIGIN_LENGTH),
        long_origin(MAX_ORIGIN_LENGTH + 1),
    ]
)
TOKENS = st.sampled_from(
    [
        "GET",
        "PUT",
        "patch",
        "X-Request-Id",
        "*",
        "Cookie",
        "Set-Cookie",
        "X Y",
        "A$B",
        "Content-Type",
        "X" * MAX_TOKEN_LENGTH,
        "X" * (MAX_TOKEN_LENGTH + 1),
    ]
)
REGEXES = st.none() | st.sampled_from(
    [
        r"https://pr-[0-9]+\.preview\.example\.dev",
        r"https://.*",
        r"(?i)x",
        r"https://(a|b)\.c\.com",
    ]
)


@st.composite
def policies(draw: st.DrawFn) -> str:
    data: dict[str, object] = {"allow_origins": draw(st.lists(ORIGINS, max_size=4))}
    regex = draw(REGEXES)
    if regex is not None:
        data["allow_origin_regex"] = regex
    for key in ("allow_methods", "allow_headers", "expose_headers"):
        if draw(st.booleans()):
            data[key] = draw(st.lists(TOKENS, max_size=3))
    data["allow_credentials"] = draw(st.booleans())
    if draw(st.booleans()):
        data["max_age"] = draw(st.integers(-5, 100_000))
    data["preflight_status"] = draw(st.sampled_from([200, 204, 302]))
    data["allow_private_network"] = draw(st.booleans())
    # JSON strings, numbers, booleans and lists are valid TOML values.
    return "\n".join(f"{k} = {json.dumps(v, ensure_ascii=False)}" for k, v in data.items())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policies())
def test_refused_or_renders_and_parses(text: str) -> None:
    policy = parse_policy(text, "p.toml")
    findings = check_policy(policy, "p", "p.toml")
    if any(f.severity == "error" for f in findings):
        return
    plan = build_plan(policy, "p", "p.toml")
    headers = {h.name: h for h in plan.headers}
    assert not (headers[ACAO].value == "*" and ACAC in headers), "* with credentials got through"
    assert plan.any_origin or plan.exact_origins or plan.origin_patterns, "an empty allow list"
    for target in TARGETS:
        check_structure(render(plan, target), target)
