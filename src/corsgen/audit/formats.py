"""Findings written for people (text, the lines `check` prints), for scripts (JSON) and for CI
dashboards (SARIF 2.1.0, which GitHub code scanning shows inline): `corsgen audit` and
`corsgen check --format`.

Each finding carries the requests it shows on (audit's; none for a policy's finding). The text
lines end with their count and the first of them; JSON and SARIF list them (at most
reported.MAX_REQUESTS each).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import PurePath
from urllib.parse import quote

from corsgen import __version__
from corsgen.audit.reported import Affected, Reported
from corsgen.errors import Finding, escape
from corsgen.limits import MAX_FINDINGS
from corsgen.rules.table import BY_ID

FORMATS = ("text", "json", "sarif")
SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION = "https://pypi.org/project/corsgen/"


def reported(findings: Sequence[Finding]) -> list[Reported]:
    """A policy's findings, which show on no request."""
    return [Reported(f) for f in findings]


def _counted(found: Reported) -> str:
    if not found.count:
        return ""
    first = found.requests[0]
    many = "s" if found.count != 1 else ""
    return escape(f" ({found.count} request{many}, e.g. {first})")


def text(findings: Sequence[Reported], run: str | None = None) -> list[str]:
    """One line per finding, at most MAX_FINDINGS of each file (of them all, named `run`), then
    a line that counts the rest, as errors.report writes them."""
    counts: Counter[str] = Counter()
    lines = []
    for found in findings:
        where = run or found.finding.file
        counts[where] += 1
        if counts[where] <= MAX_FINDINGS:
            lines.append(str(found.finding) + _counted(found))
    for where, count in counts.items():
        if count > MAX_FINDINGS:
            more = count - MAX_FINDINGS
            lines.append(escape(f"{where}: and {more:,} more findings; fix those above first"))
    return lines


def _request(affected: Affected) -> dict[str, object]:
    return {"method": affected.method, "path": affected.path, "origin": affected.origin}


def _entry(found: Reported) -> dict[str, object]:
    f = found.finding
    return {
        "file": f.file,
        "line": f.line,
        "key": f.key,
        "rule": f.rule_id,
        "slug": f.slug,
        "severity": f.severity,
        "message": f.message,
        "fix": f.fix,
        "requests": [_request(r) for r in found.requests],
        "request_count": found.count,
    }


def as_json(findings: Sequence[Reported], notes: Sequence[str] = ()) -> str:
    return json.dumps({"findings": [_entry(f) for f in findings], "notes": list(notes)}, indent=2)


def _uri(file: str) -> str:
    """The file as a SARIF artifact URI: relative ones as they are (code scanning resolves them
    against the repository), absolute ones as file: URIs."""
    path = PurePath(file)
    if path.is_absolute():
        return "file://" + quote(path.as_posix())
    return quote(path.as_posix())


_LEVELS = {"error": "error", "warning": "warning", "note": "note"}


def _location(f: Finding) -> dict[str, object]:
    physical: dict[str, object] = {"artifactLocation": {"uri": _uri(f.file)}}
    if f.line is not None and f.line >= 1:
        region: dict[str, object] = {"startLine": f.line}
        if f.col is not None and f.col >= 1:
            region["startColumn"] = f.col
        physical["region"] = region
    return {"physicalLocation": physical}


def as_sarif(findings: Sequence[Reported], notes: Sequence[str] = ()) -> str:
    """One SARIF 2.1.0 log with one run: the rules found (each once, as the table states it) and
    a result per finding at its file and line."""
    ids = list(dict.fromkeys(f.finding.rule_id for f in findings))
    rules = [
        {
            "id": rule.id,
            "name": rule.slug,
            "shortDescription": {"text": rule.summary},
            "defaultConfiguration": {"level": _LEVELS[rule.severity]},
        }
        for rule in (BY_ID[i] for i in ids)
    ]
    results = []
    for found in findings:
        f = found.finding
        message = f"{f.slug}: {f.message}" + (f"; fix: {f.fix}" if f.fix else "")
        result: dict[str, object] = {
            "ruleId": f.rule_id,
            "ruleIndex": ids.index(f.rule_id),
            "level": _LEVELS[f.severity],
            "message": {"text": message},
            "locations": [_location(f)],
        }
        if found.requests:
            result["properties"] = {
                "requests": [_request(r) for r in found.requests],
                "requestCount": found.count,
            }
        results.append(result)
    run: dict[str, object] = {
        "tool": {
            "driver": {
                "name": "corsgen",
                "version": __version__,
                "informationUri": INFORMATION,
                "rules": rules,
            }
        },
        "results": results,
    }
    if notes:
        run["invocations"] = [
            {
                "executionSuccessful": True,
                "toolExecutionNotifications": [
                    {"level": "note", "message": {"text": n}} for n in notes
                ],
            }
        ]
    log = {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": [run]}
    return json.dumps(log, indent=2)


def write(kind: str, findings: Sequence[Reported], notes: Sequence[str] = ()) -> str:
    """The whole output in one of FORMATS but text (whose lines go to stderr one by one)."""
    return as_json(findings, notes) if kind == "json" else as_sarif(findings, notes)
