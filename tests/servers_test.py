"""The servers' own config tests on every example, both Caddy releases, and a 10,000-origin list."""

from __future__ import annotations

import pytest

from corsgen.errors import VerifyError
from corsgen.pipeline import load_and_plan
from corsgen.plan import build_plan
from corsgen.policy.loading import parse_policy
from corsgen.render import render
from corsgen.targets import NAMES as TARGETS
from corsgen.targets import by_name
from corsgen.verify import server_check
from tests.conformance.servers import HARNESS, config_test_binaries
from tests.conftest import EXAMPLES, need_binary

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
@pytest.mark.parametrize("name", [*TARGETS, "httpd", "caddyfile"])
def test_a_policy_named_after_a_server_is_not_overwritten_by_the_wrapper(
    target: str, binary: str | None, name: str
) -> None:
    need_binary(f"{target} ({binary})", binary)
    text = 'allow_origins = ["https://a.example.com"]\n'
    plan = build_plan(parse_policy(text, f"{name}.toml"), name, f"{name}.toml")
    result = server_check(render(plan, target), target, binary)
    assert result.ok, result.output


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


def test_every_target_has_a_harness() -> None:
    """A new target is served for real in the conformance tests: name its harness there."""
    assert set(HARNESS) == set(TARGETS)
