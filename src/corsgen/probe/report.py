"""A probe's findings for people (grouped by check), for scripts (JSON) and for CI (JUnit XML)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from corsgen.probe.checks import BY_ID, SEVERITIES

if TYPE_CHECKING:  # the CLI reads FORMATS for probe's --format, without the client (httpx)
    from corsgen.probe.battery import Probe
    from corsgen.probe.client import Answer
    from corsgen.probe.judge import Fault

SHOWN = 5  # failures shown per check in the text report; JSON and JUnit carry every one
FORMATS = ("text", "json", "junit")  # probe --format


@dataclass(frozen=True)
class Result:
    url: str
    mode: str  # "policy FILE" or "scan"
    findings: list[Fault]
    checks_run: list[str]
    requests: int
    failed: list[tuple[Probe, Answer]]  # requests that got no answer
    notes: tuple[str, ...]


def _request(finding: Fault, url: str) -> dict[str, object]:
    probe = finding.probe
    return {"method": probe.method, "url": url + probe.path, "headers": dict(probe.headers)}


# The Set-Cookie attributes a report shows whole (RFC 6265bis, and Chrome's Priority).
_ATTRIBUTES = frozenset(
    {"domain", "expires", "httponly", "max-age", "partitioned", "path", "priority", "samesite",
     "secure"}
)  # fmt: skip


def _unsecret(name: str, value: str) -> list[str]:
    """A header as the report shows it: a Set-Cookie with its value taken out (a session id is
    a secret the report may be shared with); the name and the known attributes stay. Any other
    "attribute" is taken out too: a quoted value holding a `;` (`sid="a;b"`) runs on past it."""
    if name.lower() != "set-cookie":
        return [name, value]
    pair, *attributes = value.split(";")
    cookie, equals, _ = pair.partition("=")  # without "=", the whole pair is the value
    shown = [f"{cookie}=…" if equals else "…"]
    for attribute in attributes:
        known = attribute.partition("=")[0].strip(" \t").lower() in _ATTRIBUTES
        shown.append(attribute if known else " …")
    return [name, ";".join(shown)]


def _response(finding: Fault) -> dict[str, object]:
    headers = [_unsecret(name, value) for name, value in finding.answer.headers]
    return {"status": finding.answer.status, "headers": headers}


def as_json(result: Result) -> str:
    findings = [
        {
            "id": f.check.id,
            "check": f.check.slug,
            "severity": f.severity,
            "summary": f.summary,
            "request": _request(f, result.url),
            "response": _response(f),
            "browser": f.browser,
            "fix": f.check.fix,
        }
        for f in result.findings
    ]
    failed = [{"method": p.method, "path": p.path, "error": a.error} for p, a in result.failed]
    return json.dumps(
        {
            "url": result.url,
            "mode": result.mode,
            "findings": findings,
            "checks_run": result.checks_run,
            "requests": result.requests,
            "failed_requests": failed,
            "notes": list(result.notes),
        },
        indent=2,
    )


def _sent(probe: Probe) -> str:
    return "; ".join(f"{n}: {v}" for n, v in probe.headers) or "no Origin"


def _lines(finding: Fault) -> list[str]:
    probe, answer = finding.probe, finding.answer
    cors = [(n, v) for n, v in answer.headers if n.lower().startswith("access-control-")]
    cors += [(n, v) for n, v in answer.headers if n.lower() == "vary"]
    got = "; ".join(f"{n}: {v}" for n, v in cors) or "no CORS header, no Vary"
    return [
        f"    {finding.summary}",
        f"      sent: {probe.method} {probe.path}  {_sent(probe)}",
        f"      got:  {answer.status}  {got}",
        f"      browser: {finding.browser}",
    ]


def as_text(result: Result) -> str:
    by_check: dict[str, list[Fault]] = {}
    for finding in result.findings:
        by_check.setdefault(finding.check.id, []).append(finding)
    out = [f"corsgen probe {result.url} ({result.mode}): {result.requests} requests"]
    out += [f"  note: {note}" for note in result.notes]
    rank = {severity: i for i, severity in enumerate(SEVERITIES)}
    order = sorted(by_check, key=lambda c: (-max(rank[f.severity] for f in by_check[c]), c))
    for check_id in order:
        found, check = by_check[check_id], BY_ID[check_id]
        worst = max((f.severity for f in found), key=rank.__getitem__)
        out.append(f"FAIL {check.id} {check.slug} ({worst}): {check.summary}; {len(found)}x")
        for finding in found[:SHOWN]:
            out += _lines(finding)
        if len(found) > SHOWN:
            out.append(f"    ... and {len(found) - SHOWN} more (--format json lists every one)")
        out.append(f"    fix: {check.fix}")
    out += [f"ok   {c} {BY_ID[c].slug}" for c in result.checks_run if c not in by_check]
    out += [f"ERROR {p.method} {p.path}: {a.error}" for p, a in result.failed]
    counts = {s: sum(f.severity == s for f in result.findings) for s in reversed(SEVERITIES)}
    tally = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    summary = f"{len(result.findings)} finding(s): {tally}" if result.findings else "no finding"
    out.append(summary + (f"; {len(result.failed)} request(s) failed" if result.failed else ""))
    return "\n".join(out) + "\n"


def as_junit(result: Result) -> str:
    """One test case per check run; each finding a <failure> in its check's case."""
    from xml.etree import ElementTree  # imported here: the CLI reads FORMATS on every run

    suite = ElementTree.Element(
        "testsuite",
        name=f"corsgen probe {result.url}",
        tests=str(len(result.checks_run) + bool(result.failed)),
        failures=str(len({f.check.id for f in result.findings})),
        errors=str(int(bool(result.failed))),
    )
    for check_id in result.checks_run:
        check = BY_ID[check_id]
        case = ElementTree.SubElement(
            suite, "testcase", classname="corsgen.probe", name=f"{check.id} {check.slug}"
        )
        for finding in (f for f in result.findings if f.check.id == check_id):
            failure = ElementTree.SubElement(
                case, "failure", message=finding.summary, type=finding.severity
            )
            failure.text = "\n".join(line.strip() for line in _lines(finding))
    if result.failed:
        case = ElementTree.SubElement(suite, "testcase", classname="corsgen.probe", name="requests")
        error = ElementTree.SubElement(case, "error", message=f"{len(result.failed)} failed")
        error.text = "\n".join(f"{p.method} {p.path}: {a.error}" for p, a in result.failed)
    root = ElementTree.Element("testsuites")
    root.append(suite)
    ElementTree.indent(root)
    return ElementTree.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def dry_run(url: str, probes: Sequence[Probe]) -> str:
    lines = [f"{len(probes)} requests to {url} (--dry-run: none sent)"]
    for probe in probes:
        lines.append(f"{probe.method} {probe.path}  {_sent(probe)}  [{probe.purpose}]")
    return "\n".join(lines) + "\n"


RENDER = {"text": as_text, "json": as_json, "junit": as_junit}
