"""One error root: everything a user can cause is a CorsgenError and becomes one line on stderr."""

from __future__ import annotations

import reprlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from corsgen.limits import MAX_FINDINGS

# An error refuses the policy; a warning is shown, and refuses it under --strict; a note is only
# shown: what a server does with the policy, which no change to the policy can mend.
Severity = Literal["error", "warning", "note"]


def blocking(findings: Sequence[Finding], strict: bool) -> bool:
    """Whether these findings refuse the policy: any error, or under strict any warning."""
    refused = ("error", "warning") if strict else ("error",)
    return any(f.severity in refused for f in findings)


# How much of a user's value a message quotes back: enough to find it, never a flood.
SHOWN = 60


class _Short(reprlib.Repr):
    def repr_int(self, x: int, level: int) -> str:
        try:
            return super().repr_int(x, level)
        except ValueError:  # more decimal digits than str() makes (TOML reads 0xfff... fine)
            return hex(x)


_SHORT = _Short()
_SHORT.maxstring = _SHORT.maxother = _SHORT.maxlong = SHOWN
_SHORT.maxlist = _SHORT.maxtuple = _SHORT.maxdict = _SHORT.maxset = 4
_SHORT.maxlevel = 3


def escape(text: str) -> str:
    """One printable line: a policy must not forge an extra "error" or "ok" line, or colour one.

    Newlines, ANSI escapes, bidi controls and line separators become \\n, \\x1b, \\u202e ...;
    printable non-ASCII (bücher.example) stays as it is.
    """
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def clip(text: str) -> str:
    """At most SHOWN characters: a longer text keeps its two ends, with ... between them."""
    if len(text) <= SHOWN:
        return text
    half = (SHOWN - 3) // 2
    return text[:half] + "..." + text[-half:]


def shorten(value: object) -> str:
    """repr() of a user's value, clipped: a 10 MB string, a 4,000-digit number or a list nested
    300 deep is quoted by its ends."""
    return clip(_SHORT.repr(value))


@dataclass(frozen=True)
class Finding:
    """One problem in one place of a policy file."""

    rule_id: str
    slug: str
    severity: Severity
    file: str
    key: str
    message: str
    fix: str
    line: int | None = None
    col: int | None = None

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}:{self.col}" if self.col is not None else f":{self.line}"
        if self.key:
            where += f": {self.key}"
        text = f"{where}: {self.severity} {self.rule_id} {self.slug}: {self.message}"
        return escape(f"{text}; fix: {self.fix}" if self.fix else text)


class CorsgenError(Exception):
    """Root of every error a user can cause; the CLI prints it and exits 1."""


class PolicyError(CorsgenError):
    """A policy failed its checks; carries every finding, errors and warnings alike."""

    def __init__(self, findings: Sequence[Finding]) -> None:
        self.findings = tuple(findings)
        super().__init__("\n".join(report(self.findings)))


def report(findings: Sequence[Finding], run: str | None = None) -> list[str]:
    """The findings as lines, at most MAX_FINDINGS of each file (of them all, named `run`, for a
    server config and what it includes), then a line that counts the rest: 100,000 wrong origins
    are one mistake, and 40 MB of stderr would hide it. (tomlfile.py stops one short of
    MAX_FINDINGS itself and adds its own such line, which counts what pydantic found.)"""
    counts: Counter[str] = Counter()
    lines = []
    for finding in findings:
        where = run or finding.file
        counts[where] += 1
        if counts[where] <= MAX_FINDINGS:
            lines.append(str(finding))
    for where, count in counts.items():
        if count > MAX_FINDINGS:
            more = count - MAX_FINDINGS
            lines.append(escape(f"{where}: and {more:,} more findings; fix those above first"))
    return lines


class VerifyError(CorsgenError):
    """Rendered output failed a structural or server check: `msg in file:line`."""

    def __init__(self, msg: str, file: str, line: int | None = None) -> None:
        self.msg, self.file, self.line = msg, file, line
        where = f"{file}:{line}" if line is not None else file
        super().__init__(f"{msg} in {where}")
