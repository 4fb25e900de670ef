from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import re2

from corsgen.errors import CorsgenError, VerifyError
from corsgen.pipeline import load_and_plan
from corsgen.render import render
from corsgen.targets import traefik, traefik_check
from corsgen.verify import find_binary, server_check
from testing.binaries import need_binary
from testing.policies import plan_of

A = 'allow_origins = ["https://a.com"]\n'


@pytest.mark.parametrize(
    ("value", "written"),
    [
        (r"^https://a\.com$", r'"^https://a\\.com$"'),
        ("X-A'b", '"X-A\'b"'),
        ("a#b: c", '"a#b: c"'),
    ],
)
def test_quoting_escapes_what_yaml_unescapes(value: str, written: str) -> None:
    assert traefik.quote(value) == written


@pytest.mark.parametrize("value", ['a"b', "a\nb", "é", "a{{b", "a}}b"])
def test_quoting_refuses_a_quote_or_what_go_templates_would_run(value: str) -> None:
    with pytest.raises(CorsgenError, match="refusing to quote"):
        traefik.quote(value)


def _regexes(policy: str) -> list[str]:
    text = next(iter(render(plan_of(policy), "traefik").values()))
    lines = text.split("accessControlAllowOriginListRegex:\n", 1)[1].splitlines()
    items = itertools.takewhile(lambda line: line.startswith("          - "), lines)
    return [item.strip()[3:-1].replace("\\\\", "\\") for item in items]


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("https://x.a.com", True),
        ("https://x.a.com.evil.com", False),  # Traefik's MatchString finds a match anywhere
        ("evilhttps://x.a.com", False),
        ("http://https://x.a.com", False),
        ("https://a.com", False),
    ],
)
def test_patterns_are_anchored_for_gos_unanchored_match(origin: str, allowed: bool) -> None:
    (pattern,) = _regexes('allow_origins = ["https://*.a.com"]')
    assert pattern.startswith("^") and pattern.endswith("$")
    assert (re2.search(pattern, origin) is not None) is allowed


LOOSE = 'allow_origins = []\nallow_origin_regex = "https://.+\\\\.a\\\\.com"\n'
# Matches "" too: the rules refuse it, the output must not rely on that.
EMPTY = 'allow_origins = []\nallow_origin_regex = "(?:https://x\\\\.a\\\\.com)?"\n'


@pytest.mark.parametrize(
    ("policy", "origin", "allowed"),
    [
        (LOOSE, "https://x.a.com", True),
        # The middleware tests the Origin against these lists alone: no pattern may match what
        # holds two origins, or none.
        (LOOSE, "https://evil.com,https://x.a.com", False),
        (LOOSE, "https://evil.com https://x.a.com", False),
        (LOOSE, "https://evil.com\thttps://x.a.com", False),
        (LOOSE, "https://evil.com\x01https://x.a.com", False),
        (EMPTY, "https://x.a.com", True),
        (EMPTY, "", False),
    ],
)
def test_patterns_match_one_origin_only(policy: str, origin: str, allowed: bool) -> None:
    (pattern,) = _regexes(policy)
    assert (re2.search(pattern, origin) is not None) is allowed


def _files(text: str) -> dict[str, str]:
    return {"api.yml": text}


GOOD = "http:\n  middlewares:\n    corsgen-api:\n      headers:\n        addVaryHeader: true\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (GOOD.replace("addVaryHeader", "addVaryHeadr"), "unknown key 'addVaryHeadr'"),
        (GOOD.replace("corsgen-api", "api"), "unknown key 'api'"),
        (GOOD.replace("      headers", "        headers"), "indented deeper"),
        (GOOD + '        accessControlAllowOriginList:\n          - "a\n', "not a line"),
        (GOOD + '        accessControlAllowOriginList:\n          - "a"b"\n', "not a line"),
        (GOOD + "# {{ env }}\n", "Go template"),
        (GOOD + "        addVaryHeader: yes\n", "not a line"),
    ],
)
def test_the_structural_check_refuses_what_traefik_would(text: str, message: str) -> None:
    traefik.TARGET.check_structure(_files(GOOD))
    with pytest.raises(VerifyError, match=message):
        traefik.TARGET.check_structure(_files(text))


# (policy, the CG501 cases it gets for Traefik): what it relies on the middleware cannot do.
SHORTFALLS = [
    (A, {"preflight-200", "refused-origin"}),
    (A + "preflight_status = 200\n", {"refused-origin"}),
    (
        A + "preflight_status = 200\nallow_private_network = true\n",
        {"refused-origin", "private-network"},
    ),
    ('allow_origins = ["*"]\npreflight_status = 200\n', set()),
    ('allow_origins = ["*"]\n', {"preflight-200"}),
]


@pytest.mark.parametrize(("policy", "cases"), SHORTFALLS)
def test_shortfalls(policy: str, cases: set[str]) -> None:
    assert {limit.case for limit in traefik.TARGET.shortfalls(plan_of(policy))} == cases


def test_the_refused_origin_warning_names_what_is_sent_all_the_same(tmp_path: Path) -> None:
    path = tmp_path / "api.toml"
    path.write_text(A + "allow_credentials = true\npreflight_status = 200\n")
    _, warnings = load_and_plan(path, ("traefik",))
    (warning,) = warnings
    assert "sends Access-Control-Allow-Credentials, Access-Control-Allow-Methods" in str(warning)
    assert load_and_plan(path, ("nginx",))[1] == []


def test_the_config_test_reports_a_regex_go_refuses() -> None:
    binary = find_binary("traefik")
    need_binary("traefik", binary)
    text = next(iter(render(plan_of('allow_origins = ["https://*.a.com"]'), "traefik").values()))
    assert server_check(_files(text), "traefik").ok
    broken = text.replace('"^(?:', '"^(?:(', 1)
    with pytest.raises(VerifyError, match="missing closing"):
        server_check(_files(broken), "traefik")


def test_the_config_test_reports_a_field_traefik_does_not_know() -> None:
    binary = find_binary("traefik")
    need_binary("traefik", binary)
    text = next(iter(render(plan_of(A), "traefik").values()))
    with pytest.raises(VerifyError, match="field not found, node: addVaryHeadr"):
        server_check(_files(text.replace("addVaryHeader", "addVaryHeadr")), "traefik")


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ((), ""),
        (('"^(?:', '"^(?:('), "missing closing"),
        (("addVaryHeader", "addVaryHeadr"), "field not found, node: addVaryHeadr"),
    ],
)
def test_the_config_test_is_traefik_check_run_on_the_rendered_file(
    change: tuple[str, ...], said: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The command config_test_command writes, run in this process: traefik_check starts
    Traefik on the file and its wrapper's routers, and says what kept one from loading."""
    binary = find_binary("traefik")
    need_binary("traefik", binary)
    assert binary is not None
    text = next(iter(render(plan_of('allow_origins = ["https://*.a.com"]'), "traefik").values()))
    if change:
        text = text.replace(change[0], change[1], 1)
    (tmp_path / "api.yml").write_text(text)
    argv = traefik.TARGET.config_test_command(binary, tmp_path, _files(text))
    assert argv[1:3] == ["-m", "corsgen.targets.traefik_check"]
    code = traefik_check.main(argv[3:])
    printed = capsys.readouterr().out
    assert code == (1 if said else 0) and said in printed
