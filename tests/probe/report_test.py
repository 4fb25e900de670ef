"""The three outputs of one probe: text grouped by check, JSON, JUnit XML."""

from __future__ import annotations

import json
from xml.etree import ElementTree

import click

from corsgen.fetch import Request
from corsgen.probe.battery import Probe
from corsgen.probe.checks import BY_ID
from corsgen.probe.client import Answer
from corsgen.probe.judge import Fault
from corsgen.probe.report import FORMATS, RENDER, SHOWN, Result, as_json, as_junit, as_text


def _result(count: int) -> Result:
    findings = []
    for i in range(count):
        origin = f"https://evil{i}.example"
        probe = Probe("refused", "GET", "/ok", (("Origin", origin),), Request(origin))
        answer = Answer(200, [("Access-Control-Allow-Origin", origin), ("Vary", "Origin")])
        findings.append(
            Fault(BY_ID["PR006"], "critical", f"{origin} can read a 200", probe, answer, "reads")
        )
    probe = Probe("no-origin", "GET", "/ok", ())
    failed = [(probe, Answer(0, [], "no answer in time"))]
    return Result("https://api.example", "scan", findings, ["PR006", "PR009"], 9, failed, ())


def test_json() -> None:
    data = json.loads(as_json(_result(2)))
    assert set(data) >= {"url", "mode", "findings", "checks_run", "requests"}
    finding = data["findings"][0]
    assert set(finding) >= {"id", "severity", "summary", "request", "response"}
    assert finding["request"] == {
        "method": "GET",
        "url": "https://api.example/ok",
        "headers": {"Origin": "https://evil0.example"},
    }
    assert finding["response"]["status"] == 200
    assert data["checks_run"] == ["PR006", "PR009"]


def test_junit_one_case_per_check() -> None:
    root = ElementTree.fromstring(as_junit(_result(3)))
    suite = root.find("testsuite")
    assert suite is not None
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert set(cases) == {"PR006 refused-origin-reads", "PR009 vary-origin-missing", "requests"}
    assert len(cases["PR006 refused-origin-reads"].findall("failure")) == 3
    assert not cases["PR009 vary-origin-missing"].findall("failure")
    assert suite.get("failures") == "1" and suite.get("errors") == "1"


def test_text_groups_and_truncates() -> None:
    text = as_text(_result(SHOWN + 2))
    assert "FAIL PR006 refused-origin-reads (critical)" in text
    assert text.count("      browser: reads") == SHOWN
    assert "... and 2 more (--format json lists every one)" in text
    assert "ok   PR009 vary-origin-missing" in text
    assert "ERROR GET /ok: no answer in time" in text
    assert (
        text.splitlines()[-1]
        == f"{SHOWN + 2} finding(s): {SHOWN + 2} critical; 1 request(s) failed"
    )


def test_every_format_renders_and_probe_offers_each() -> None:
    from corsgen.cli.probe import probe

    assert tuple(RENDER) == FORMATS
    [option] = [p for p in probe.params if p.name == "output"]
    assert isinstance(option.type, click.Choice) and tuple(option.type.choices) == FORMATS
