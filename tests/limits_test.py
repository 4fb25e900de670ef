"""What docs/limits.md, "Limits", says: a policy at every limit at once loads in every server."""

from __future__ import annotations

import pytest

from corsgen.limits import (
    MAX_HEADER_VALUE,
    MAX_LIST_ENTRIES,
    MAX_MAX_AGE,
    MAX_NAME_LENGTH,
    MAX_ORIGIN_LENGTH,
    MAX_ORIGINS,
    MAX_REGEX_LENGTH,
    MAX_TOKEN_LENGTH,
)
from corsgen.plan import Plan, build_plan
from corsgen.policy.schema import Policy
from corsgen.render import render
from corsgen.rules.checks import check_policy
from corsgen.verify import server_check
from tests.conformance.servers import config_test_binaries
from tests.conftest import need_binary
from tests.rules_test import long_origin, regex_of_length


def longest_names(prefix: str) -> list[str]:
    """As many distinct names as a list may hold, the first as long as corsgen accepts, the rest
    as long as the joined header allows."""
    rest = (MAX_HEADER_VALUE - MAX_TOKEN_LENGTH) // (MAX_LIST_ENTRIES - 1) - 2
    first = f"{prefix}-longest-".ljust(MAX_TOKEN_LENGTH, "x")
    return [first, *(f"{prefix}-{i:04d}-".ljust(rest, "x") for i in range(1, MAX_LIST_ENTRIES))]


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


@pytest.mark.parametrize(("target", "binary"), config_test_binaries())
def test_every_limit_at_once_loads(target: str, binary: str | None, at_every_limit: Plan) -> None:
    # 100,000 origins of 300 characters: 30 MB of configuration, up to 15 s a server.
    need_binary(f"{target} ({binary})", binary)
    assert server_check(render(at_every_limit, target), target, binary).ok
