from __future__ import annotations

from corsgen.plan import Plan, build_plan
from corsgen.policy.loading import parse_policy


def plan_of(text: str) -> Plan:
    """The plan of a policy given as TOML text, named api."""
    return build_plan(parse_policy(text, "api.toml"), "api", "api.toml")
