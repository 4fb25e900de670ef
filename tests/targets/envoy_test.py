from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import re2

from corsgen.cli import main
from corsgen.errors import CorsgenError, VerifyError
from corsgen.render import render
from corsgen.targets import envoy
from corsgen.verify import find_binary, server_check
from testing.binaries import need_binary
from testing.policies import plan_of

A = 'allow_origins = ["https://a.com"]\n'
LOOSE = 'allow_origins = []\nallow_origin_regex = "https://.+\\\\.a\\\\.com"\n'


@pytest.mark.parametrize(
    ("value", "written"),
    [(r"^https://a\.com$", r'"^https://a\\.com$"'), ("a#b: c", '"a#b: c"')],
)
def test_quoting_escapes_what_yaml_unescapes(value: str, written: str) -> None:
    assert envoy.quote(value) == written


@pytest.mark.parametrize("value", ['a"b', "a\nb", "é"])
def test_quoting_refuses_what_could_end_the_string(value: str) -> None:
    with pytest.raises(CorsgenError, match="refusing to quote"):
        envoy.quote(value)


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("https://x.a.com", True),
        ("https://x.y.a.com", True),
        # Envoy joins two Origin headers with a comma: no pattern may match across one.
        ("https://evil.com,https://x.a.com", False),
        ("https://evil.com, https://x.a.com", False),
        ("https://x.a.com.evil.com", False),
        ('https://"x.a.com', False),
    ],
)
def test_patterns_are_anchored_and_match_one_origin_only(origin: str, allowed: bool) -> None:
    (pattern,) = envoy.patterns(plan_of(LOOSE))
    assert (re2.search(pattern, origin) is not None) is allowed


@pytest.mark.parametrize("regex", [".", "[^a]", "..?", "\\\\w*|."])
def test_no_pattern_matches_the_star_envoy_tries_every_pattern_on(regex: str) -> None:
    """Envoy allows every origin when a pattern matches "*" (cors_filter.cc: match("*"))."""
    policy = f'allow_origins = []\nallow_origin_regex = "https://app\\\\.a\\\\.com|{regex}"\n'
    for pattern in envoy.patterns(plan_of(policy)):
        assert re2.search(pattern, "*") is None, pattern


def _files(text: str) -> dict[str, str]:
    return {"api.yaml": text}


GOOD = 'typed_per_filter_config:\n  envoy.filters.http.cors:\n    "@type": "x"\n'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (GOOD + "    allow_origin: true\n", "unknown key 'allow_origin'"),
        (GOOD + "      max_age: 5\n", "indented deeper"),
        (GOOD + "    max_age: 5s\n", "not a line"),
        (GOOD + "response_headers_to_remove:\n  - vary\n", "not a line"),
    ],
)
def test_the_structural_check_refuses_what_envoy_would(text: str, message: str) -> None:
    envoy.TARGET.check_structure(_files(GOOD))
    with pytest.raises(VerifyError, match=message):
        envoy.TARGET.check_structure(_files(text))


# (policy, the CG501 cases it gets for Envoy).
SHORTFALLS = [
    (A, {"preflight-200"}),
    (A + "preflight_status = 200\n", set()),
    (A + "preflight_status = 200\nallow_private_network = true\n", set()),
    ('allow_origins = ["*"]\npreflight_status = 200\n', {"no-star"}),
    (A + 'preflight_status = 200\nallow_headers = ["*"]\n', {"star-headers"}),
    (
        'allow_origins = []\nallow_origin_regex = "https://[a-z]{1,80}\\\\.a\\\\.com"\n'
        "preflight_status = 200\n",
        {"regex-size"},
    ),
]


@pytest.mark.parametrize(("policy", "cases"), SHORTFALLS)
def test_shortfalls(policy: str, cases: set[str]) -> None:
    assert {limit.case for limit in envoy.TARGET.shortfalls(plan_of(policy))} == cases


def test_the_regex_size_note_gives_the_runtime_value_envoy_needs() -> None:
    plan = plan_of('allow_origins = []\nallow_origin_regex = "https://[a-z]{1,80}\\\\.a\\\\.com"\n')
    (limit,) = [s for s in envoy.TARGET.shortfalls(plan) if s.case == "regex-size"]
    assert limit.fields["size"] == envoy.program_size(plan) > envoy.MAX_PROGRAM_SIZE


def test_the_filters_are_the_same_for_every_policy() -> None:
    name = "corsgen" + envoy.FILTERS.suffix
    one = render(plan_of(A), "envoy")[name]
    other = render(plan_of('allow_origins = ["*"]\nallow_credentials = false\n'), "envoy")[name]
    body = [line for line in one.splitlines() if not line.startswith("#")]
    assert body == [line for line in other.splitlines() if not line.startswith("#")]


def test_a_route_policy_sets_every_flag_a_virtual_host_would_otherwise_give() -> None:
    text = render(plan_of(A), "envoy")["api.yaml"]
    for line in ("allow_credentials: false", "allow_private_network_access: false"):
        assert f"    {line}\n" in text
    assert "    forward_not_matching_preflights: true\n" in text


def test_a_second_policy_renders_into_the_same_directory(tmp_path: Path) -> None:
    """The filters file is the same for every policy: nothing to size, unlike nginx's."""
    for name in ("one", "two"):
        (tmp_path / f"{name}.toml").write_text(A)
        args = [
            "render",
            str(tmp_path / f"{name}.toml"),
            "-t",
            "envoy",
            "-o",
            str(tmp_path / "out"),
        ]
        assert main(args) == 0
    assert {p.name for p in (tmp_path / "out").iterdir()} == {
        "one.yaml",
        "two.yaml",
        "corsgen" + envoy.FILTERS.suffix,
    }


def test_error_lines_drop_envoys_log_prefix() -> None:
    output = (
        "[2026-11-22 21:08:03.870][26541][critical][main] [source/server/config_validation/"
        "server.cc:76] error initializing configuration 'x.yaml': missing ): ^(?:(a$\n"
    )
    assert envoy.TARGET.error_lines(output) == [
        "error initializing configuration 'x.yaml': missing ): ^(?:(a$"
    ]


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        (lambda t: t.replace('"^(?:', '"^(?:(', 1), "missing \\)"),
        (lambda t: t.replace("allow_methods", "allow_method"), "allow_method"),
    ],
)
def test_the_config_test_reports_what_envoy_refuses(
    broken: Callable[[str], str], message: str
) -> None:
    binary = find_binary("envoy")
    need_binary("envoy", binary)
    files = render(plan_of('allow_origins = ["https://*.a.com"]'), "envoy")
    assert server_check(files, "envoy").ok
    with pytest.raises(VerifyError, match=message):
        server_check({**files, "api.yaml": broken(files["api.yaml"])}, "envoy")
