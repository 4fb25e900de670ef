"""The findings as text, JSON and SARIF 2.1.0, for `corsgen audit` and `corsgen check`.

No SARIF schema ships in a package installed here and nothing is downloaded while testing, so
SARIF is validated against the part of the 2.1.0 schema (sarif-schema-2.1.0.json, OASIS) that
code scanning reads, written out below, by a validator of the JSON Schema keywords it uses.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest

from corsgen.audit.answers import Context
from corsgen.audit.engine import audit
from corsgen.audit.formats import as_json, as_sarif, reported, text
from corsgen.audit.reported import Affected, Reported
from corsgen.errors import Finding
from corsgen.limits import MAX_FINDINGS
from corsgen.rules.table import finding
from testing.fake_routes import FILE, Block, Cors, FakeConfig

_MESSAGE = {"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}}
_REGION = {
    "type": "object",
    "properties": {
        "startLine": {"type": "integer", "minimum": 1},
        "startColumn": {"type": "integer", "minimum": 1},
    },
}
_LOCATION = {
    "type": "object",
    "properties": {
        "physicalLocation": {
            "type": "object",
            "properties": {
                "artifactLocation": {
                    "type": "object",
                    "properties": {"uri": {"type": "string", "format": "uri-reference"}},
                },
                "region": _REGION,
            },
        }
    },
}
_RULE = {
    "type": "object",
    "required": ["id"],
    "properties": {
        "id": {"type": "string"},
        "name": {"type": "string"},
        "shortDescription": _MESSAGE,
        "defaultConfiguration": {
            "type": "object",
            "properties": {"level": {"enum": ["none", "note", "warning", "error"]}},
        },
    },
}
_RESULT = {
    "type": "object",
    "required": ["message"],
    "properties": {
        "ruleId": {"type": "string"},
        "ruleIndex": {"type": "integer", "minimum": -1},
        "level": {"enum": ["none", "note", "warning", "error"]},
        "message": _MESSAGE,
        "locations": {"type": "array", "items": _LOCATION},
        "properties": {"type": "object"},
    },
}
SARIF_2_1_0 = {
    "type": "object",
    "required": ["version", "runs"],
    "properties": {
        "$schema": {"type": "string"},
        "version": {"enum": ["2.1.0"]},
        "runs": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["tool"],
                "properties": {
                    "tool": {
                        "type": "object",
                        "required": ["driver"],
                        "properties": {
                            "driver": {
                                "type": "object",
                                "required": ["name"],
                                "properties": {
                                    "name": {"type": "string"},
                                    "version": {"type": "string"},
                                    "informationUri": {"type": "string"},
                                    "rules": {"type": "array", "items": _RULE},
                                },
                            }
                        },
                    },
                    "results": {"type": "array", "items": _RESULT},
                    "invocations": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["executionSuccessful"],
                            "properties": {
                                "executionSuccessful": {"type": "boolean"},
                                "toolExecutionNotifications": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "required": ["message"],
                                        "properties": {"message": _MESSAGE},
                                    },
                                },
                            },
                        },
                    },
                },
            },
        },
    },
}
_TYPES: Mapping[str, type | tuple[type, ...]] = {
    "object": dict,
    "array": list,
    "string": str,
    "integer": int,
    "boolean": bool,
}


def validate(value: Any, schema: Mapping[str, Any], where: str = "$") -> list[str]:
    """Where value breaks the schema: type, required, properties, items, enum, minimum."""
    errors = []
    kind = schema.get("type")
    if kind is not None and (
        not isinstance(value, _TYPES[kind]) or (kind == "integer" and isinstance(value, bool))
    ):
        return [f"{where}: not {kind}"]
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{where}: {value!r} not in {schema['enum']}")
    if "minimum" in schema and value < schema["minimum"]:
        errors.append(f"{where}: {value} < {schema['minimum']}")
    for key in schema.get("required", ()):
        if key not in value:
            errors.append(f"{where}: no {key}")
    for key, sub in schema.get("properties", {}).items():
        if isinstance(value, dict) and key in value:
            errors += validate(value[key], sub, f"{where}.{key}")
    if "items" in schema:
        for index, item in enumerate(value):
            errors += validate(item, schema["items"], f"{where}[{index}]")
    return errors


def test_the_validator_refuses_what_the_schema_does() -> None:
    assert validate({"version": "2.1.0", "runs": []}, SARIF_2_1_0) == []
    assert validate({"version": "2.0.0", "runs": [{}]}, SARIF_2_1_0) == [
        "$.version: '2.0.0' not in ['2.1.0']",
        "$.runs[0]: no tool",
    ]


LINES = {"origin": 5, "credentials": 6, "methods": 7, "headers": 8, "max_age": 9, "vary": 10}
FLAWED = Cors(
    LINES,
    origins=("https://app.example.com",),
    credentials=True,
    methods=("GET", "PUT"),
    max_age=86_400,
    always=False,
)


def audited() -> list[Reported]:
    model = FakeConfig([Block(1, "/"), Block(3, "/api/", cors=FLAWED)])
    return audit(model, Context("nginx", {})).findings


def test_sarif_is_valid_2_1_0_with_each_finding_at_its_line() -> None:
    findings = audited()
    log = json.loads(as_sarif(findings, ["a note"]))
    assert validate(log, SARIF_2_1_0) == []
    (run,) = log["runs"]
    rules = run["tool"]["driver"]["rules"]
    results = run["results"]
    assert len(results) == len(findings) == 2
    for result, found in zip(results, findings, strict=True):
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"] == found.finding.rule_id
        assert result["level"] == found.finding.severity
        (location,) = result["locations"]
        assert location["physicalLocation"]["artifactLocation"]["uri"] == FILE
        assert location["physicalLocation"]["region"]["startLine"] == found.finding.line
        assert result["properties"]["requestCount"] == found.count
    assert run["invocations"][0]["toolExecutionNotifications"][0]["message"]["text"] == "a note"


@pytest.mark.parametrize(
    ("file", "uri"),
    [
        ("etc/nginx/site.conf", "etc/nginx/site.conf"),
        ("/etc/nginx/a b.conf", "file:///etc/nginx/a%20b.conf"),
        ("sites/#1.conf", "sites/%231.conf"),
    ],
)
def test_sarif_uris_are_uri_references(file: str, uri: str) -> None:
    found = finding("CG413", "answer", file=file, line=1, request="GET /", vary="absent")
    log = json.loads(as_sarif(reported([found])))
    location = log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == uri


def test_sarif_leaves_out_a_region_without_a_line() -> None:
    found = finding("CG406", "none", file="site.conf")
    log = json.loads(as_sarif(reported([found])))
    assert validate(log, SARIF_2_1_0) == []
    assert "region" not in log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]


def test_json_lists_every_field_and_the_requests() -> None:
    findings = audited()
    document = json.loads(as_json(findings, ["a note"]))
    assert document["notes"] == ["a note"]
    first = document["findings"][0]
    assert set(first) == {
        "file",
        "line",
        "key",
        "rule",
        "slug",
        "severity",
        "message",
        "fix",
        "requests",
        "request_count",
    }
    assert first["requests"][0] == {
        "method": "GET",
        "path": "/api/corsgen-probe-not-found",
        "origin": "https://app.example.com",
    }


def test_text_is_checks_line_with_a_count_of_the_requests() -> None:
    findings = audited()
    lines = text(findings)
    assert lines[0] == str(findings[0].finding) + (
        f" ({findings[0].count} request{'s' * (findings[0].count != 1)}, e.g. "
        f"{findings[0].requests[0]})"
    )
    assert lines[0].startswith(f"{FILE}:3: error CG412 cors-missing-on-errors: ")
    assert lines[1].startswith(f"{FILE}:9: warning CG202 max-age-over-cap: ")


def test_text_shows_a_screenful_and_counts_the_rest() -> None:
    one: Finding = finding("CG420", "answer", file="a.conf", line=1, server="nginx")
    many = [Reported(one, [Affected("GET", "/", "https://a.example")], 1)] * (MAX_FINDINGS + 3)
    lines = text(many, run="site.conf")
    assert len(lines) == MAX_FINDINGS + 1
    assert lines[-1] == "site.conf: and 3 more findings; fix those above first"
    assert lines[0].endswith(" (1 request, e.g. GET / from https://a.example)")
