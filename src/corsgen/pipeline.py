"""One policy file through the stages, in order: load, rules, plan, each target's own limits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from corsgen.errors import Finding, PolicyError, blocking
from corsgen.plan import Plan, build_plan
from corsgen.policy.loading import parse_policy, policy_name
from corsgen.rules.checks import check_policy
from corsgen.rules.table import line_of
from corsgen.targets import limit_findings, refusal_findings, shortfall_findings
from corsgen.tomlfile import key_lines, read_text


def _located(findings: list[Finding], text: str) -> list[Finding]:
    """The findings, each on the line of its key. The text is scanned only when there is
    something to report: a clean 100,000-origin policy does not pay for it."""
    if not findings:
        return findings
    lines = key_lines(text)
    return [replace(f, line=line_of(lines, f.key)) if f.line is None else f for f in findings]


def load_and_plan(
    path: Path, targets: Sequence[str] = (), refusing: bool = True
) -> tuple[Plan, list[Finding]]:
    """Load, check and plan one policy file; raise PolicyError on any error, among them what the
    formats of `targets` cannot express (unless not `refusing`: the caller leaves those targets
    out), and return warnings, among them where the servers of `targets` fall short of it."""
    text = read_text(path)
    policy = parse_policy(text, path.name)
    name = policy_name(policy, path)
    findings = check_policy(policy, name, path.name)
    if blocking(findings, strict=False):
        raise PolicyError(_located(findings, text))
    plan = build_plan(policy, name, path.name)
    # What one server cannot load refuses the policy for every target: a policy is meant to be
    # portable, and `corsgen check` runs before anyone picks a target.
    refused = limit_findings(plan, path.name)
    if refused:
        raise PolicyError(_located(refused + findings, text))
    # What one output cannot say refuses the policy for that output alone: only for the targets
    # chosen, since the others may express it.
    refused = refusal_findings(plan, path.name, targets) if refusing else []
    if refused:
        raise PolicyError(_located(refused + findings, text))
    return plan, _located(findings + shortfall_findings(plan, path.name, targets), text)
