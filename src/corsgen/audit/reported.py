"""What the audit reports: a finding and the requests it shows on, gathered once per rule and
line."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from corsgen.errors import Finding
from corsgen.routing import Place, Scope
from corsgen.rules.table import finding

if TYPE_CHECKING:  # `corsgen audit --help` imports this module; httpx only when probing
    from corsgen.plan import Plan
    from corsgen.probe.battery import Probe
    from corsgen.probe.judge import Fault

MAX_REQUESTS = 100  # requests a finding lists (JSON, SARIF); the text output counts them


@dataclass(frozen=True)
class Affected:
    """One request a finding shows on."""

    method: str
    path: str
    origin: str | None

    def __str__(self) -> str:
        return f"{self.method} {self.path} " + (
            f"from {self.origin}" if self.origin is not None else "without Origin"
        )


@dataclass
class Reported:
    """A finding and the requests it shows on (none for a finding read from the config)."""

    finding: Finding
    requests: list[Affected] = field(default_factory=list)
    count: int = 0  # every request it shows on; `requests` keeps the first MAX_REQUESTS


@dataclass(frozen=True)
class Probed:
    """What one scope was sent and what probe's judge found in the model's answers, before each
    fault is placed: `probe` sending the same requests to the real server must find the same."""

    scope: Scope
    plan: Plan | None  # the plan `checked` is judged by (probe's conformance mode)
    checked: tuple[Probe, ...]
    scanned: tuple[Probe, ...]  # judged as probe's scan mode judges them
    # Each fault, and the rules the audit found on its answer (none: no flaw of the config's own)
    faults: tuple[tuple[Fault, tuple[str, ...]], ...]


@dataclass
class Audit:
    findings: list[Reported] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what was sampled, or not held to a policy
    probed: list[Probed] = field(default_factory=list)  # each scope's requests and faults
    _at: dict[tuple[str, str, int], Reported] = field(default_factory=dict)
    _seen: dict[tuple[str, str, int], set[Affected]] = field(default_factory=dict)
    # (rule, scope) of each finding, so a grant's static check defers to what its answers showed
    _scoped: set[tuple[str, Place]] = field(default_factory=set)
    scope: Place | None = None  # the scope being probed

    def add(
        self,
        rule: str,
        case: str,
        place: Place,
        fields: Mapping[str, object],
        shown: Affected | None,
    ) -> None:
        key = (rule, place.file, place.line)
        if key not in self._at:
            made = finding(rule, case, file=place.file, line=place.line, fields=fields)
            self._at[key] = Reported(made)
            self.findings.append(self._at[key])
        if self.scope is not None:
            self._scoped.add((rule, self.scope))
        reported, seen = self._at[key], self._seen.setdefault(key, set())
        if shown is not None and shown not in seen:
            seen.add(shown)
            reported.count += 1
            if len(reported.requests) < MAX_REQUESTS:
                reported.requests.append(shown)

    def has(self, rule: str, scope: Place) -> bool:
        """Whether the rule was found while this scope was probed."""
        return (rule, scope) in self._scoped
