"""One policy file through the stages, in order: load, rules, plan, each target's own limits."""

from __future__ import annotations

from pathlib import Path

from corsgen.errors import Finding, PolicyError
from corsgen.plan import Plan, build_plan
from corsgen.policy import parse_policy, policy_name
from corsgen.rules import check_policy
from corsgen.targets import limit_findings
from corsgen.tomlfile import key_lines, read_text


def load_and_plan(path: Path) -> tuple[Plan, list[Finding]]:
    """Load, check and plan one policy file; raise PolicyError on any error, return warnings."""
    text = read_text(path)
    policy = parse_policy(text, path.name)
    name = policy_name(policy, path)
    lines = key_lines(text)
    findings = check_policy(policy, name, path.name, lines)
    if any(f.severity == "error" for f in findings):
        raise PolicyError(findings)
    plan = build_plan(policy, name, path.name)
    # What one server cannot load refuses the policy for every target: a policy is meant to be
    # portable, and `corsgen check` runs before anyone picks a target.
    refused = limit_findings(plan, path.name, lines)
    if refused:
        raise PolicyError(refused + findings)
    return plan, findings
