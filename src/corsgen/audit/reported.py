"""What the audit reports: a finding, and the requests it shows on."""

from __future__ import annotations

from dataclasses import dataclass, field

from corsgen.errors import Finding

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
