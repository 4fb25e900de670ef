"""The servers' own config tests on every example, both Caddy releases, a 10,000-origin list, and
(docs/limits.md, "Limits") a policy at every limit at once."""

from __future__ import annotations

import pytest

from corsgen.errors import VerifyError
from corsgen.limits import (
    MAX_MAX_AGE,
    MAX_NAME_LENGTH,
    MAX_ORIGIN_LENGTH,
    MAX_ORIGINS,
    MAX_REGEX_LENGTH,
)
from corsgen.pipeline import load_and_plan
from corsgen.plan import Plan, build_plan
from corsgen.policy.loading import parse_policy
from corsgen.policy.schema import Policy
from corsgen.render import render
from corsgen.rules.checks import check_policy
from corsgen.targets import NAMES as TARGETS
from corsgen.targets import by_name, module_of, serving_of
from corsgen.verify import server_check
from testing.binaries import need_binary
from testing.paths import EXAMPLES
from testing.policies import long_origin, longest_names, regex_of_length
from testing.servers import config_test_binaries

BINARIES = config_test_binaries()


@pytest.mark.parametrize(("target", "binary"), BINARIES)
@pytest.mark.parametrize("example", sorted(p.stem for p in EXAMPLES.glob("*.toml")))
def test_examples_pass_the_server_check(target: str, binary: str | None, example: str) -> None:
    need_binary(f"{target} ({binary})", binary)
    result = server_check(
        render(load_and_plan(EXAMPLES / f"{example}.toml")[0], target), target, binary
    )
    assert result.ok, result.output


@pytest.mark.parametrize(("target", "binary"), BINARIES)
def test_ten_thousand_origins_load(target: str, binary: str | None) -> None:
    need_binary(f"{target} ({binary})", binary)
    origins = ", ".join(f'"https://tenant-{i:05d}.customers.example.com"' for i in range(10_000))
    text = f'allow_origins = [{origins}, "https://*.app.example.com"]\n'
    plan = build_plan(parse_policy(text, "big.toml"), "big", "big.toml")
    assert server_check(render(plan, target), target, binary).ok


@pytest.mark.parametrize(("target", "binary"), BINARIES)
# A policy name holds no -: a target gateway-api names its policy gateway_api, as its module.
@pytest.mark.parametrize("name", [*map(module_of, TARGETS), "httpd", "caddyfile"])
def test_a_policy_named_after_a_server_is_not_overwritten_by_the_wrapper(
    target: str, binary: str | None, name: str
) -> None:
    need_binary(f"{target} ({binary})", binary)
    text = 'allow_origins = ["https://a.example.com"]\n'
    plan = build_plan(parse_policy(text, f"{name}.toml"), name, f"{name}.toml")
    result = server_check(render(plan, target), target, binary)
    assert result.ok, result.output


@pytest.fixture(scope="module")
def at_every_limit() -> Plan:
    policy = Policy.model_validate(
        {
            "name": "n" * MAX_NAME_LENGTH,
            "allow_origins": [long_origin(MAX_ORIGIN_LENGTH, i) for i in range(MAX_ORIGINS)],
            "allow_origin_regex": regex_of_length(MAX_REGEX_LENGTH),
            "allow_methods": longest_names("M"),
            "allow_headers": longest_names("X-Req"),
            "expose_headers": longest_names("X-Res"),
            "allow_credentials": True,
            "max_age": MAX_MAX_AGE,
            "allow_private_network": True,
        }
    )
    assert policy.name is not None
    assert not [
        f for f in check_policy(policy, policy.name, "limits.toml") if f.severity == "error"
    ]
    return build_plan(policy, policy.name, "limits.toml")


@pytest.mark.parametrize(("target", "binary"), BINARIES)
def test_every_limit_at_once_loads(target: str, binary: str | None, at_every_limit: Plan) -> None:
    # 100,000 origins of 300 characters: 30 MB of configuration, up to 15 s a server.
    need_binary(f"{target} ({binary})", binary)
    assert server_check(render(at_every_limit, target), target, binary).ok


# One build per target is enough to show the error reaches the user.
@pytest.mark.parametrize(("target", "binary"), list({p.values[0]: p for p in BINARIES}.values()))
def test_a_broken_file_is_reported(target: str, binary: str | None) -> None:
    need_binary(f"{target} ({binary})", binary)
    files = render(load_and_plan(EXAMPLES / "previews.toml")[0], target)
    name = next(n for n in files if "pr-" in files[n])
    files[name] = files[name].replace("pr-[0-9]", "pr-[0-9", 1)
    with pytest.raises(VerifyError, match="rejected the output"):
        server_check(files, target, binary)


def test_missing_binary_is_said_plainly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr("corsgen.verify.find_binary", lambda target: None)
    plan = load_and_plan(EXAMPLES / "spa-api.toml")[0]
    for target in TARGETS:
        result = server_check(render(plan, target), target)
        assert not result.ok
        wanted = " or ".join(by_name(target).binaries)
        assert str(result) == f"{target}: not checked, {wanted} not found on PATH"


def test_every_target_can_be_served() -> None:
    """A new target is served for real in the conformance tests, the browser tests and the
    benchmark: targets/NAME_serving.py says how."""
    for target in TARGETS:
        if by_name(target).served:  # a Kubernetes output is checked offline instead
            assert serving_of(target).kinds(), target
