from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from corsgen.cli import main
from corsgen.errors import PolicyError
from corsgen.limits import (
    MAX_FINDINGS,
    MAX_HEADER_VALUE,
    MAX_LIST_ENTRIES,
    MAX_MAX_AGE,
    MAX_NAME_LENGTH,
    MAX_ORIGIN_LENGTH,
    MAX_ORIGINS,
    MAX_REGEX_LENGTH,
    MAX_TOKEN_LENGTH,
)
from corsgen.pipeline import load_and_plan
from corsgen.policy.loading import parse_policy, policy_name
from corsgen.policy.schema import Policy
from corsgen.rules.checks import check_policy
from corsgen.rules.table import RULES
from testing.bounded import cpu_within
from testing.policies import long_origin, regex_of_length

GOOD = 'allow_origins = ["https://app.example.com"]\n'


# One bad policy per rule: (rule id, key, policy text). Every rule in the table appears here.
CASES = [
    ("CG101", "allow_origins", 'allow_origins = ["*"]\nallow_credentials = true'),
    ("CG102", "allow_origins[1]", 'allow_origins = ["https://a.com", "null"]'),
    ("CG102", "allow_origins[0]", 'allow_origins = ["file://"]'),
    ("CG103", "allow_origins[0]", 'allow_origins = ["https://a.com/"]'),
    ("CG104", "allow_origins[0]", 'allow_origins = ["https://a.com:99999"]'),
    ("CG105", "allow_origins", "allow_origins = []"),
    ("CG105", "allow_origins[1]", 'allow_origins = ["https://a.com", ""]'),
    ("CG106", "allow_origins[0]", 'allow_origins = ["https://*.com"]'),
    ("CG106", "allow_origins[0]", 'allow_origins = ["https://*.co.uk"]'),
    ("CG106", "allow_origins[0]", 'allow_origins = ["https://*.github.io"]'),
    (
        "CG107",
        "allow_headers[0]",
        'allow_origins = ["https://a.com"]\nallow_headers = ["*"]\nallow_credentials = true',
    ),
    (
        "CG107",
        "allow_methods[0]",
        'allow_origins = ["https://a.com"]\nallow_methods = ["*"]\nallow_credentials = true',
    ),
    (
        "CG107",
        "expose_headers[0]",
        'allow_origins = ["https://a.com"]\nexpose_headers = ["*"]\nallow_credentials = true',
    ),
    ("CG108", "allow_origin_regex", "allow_origins = []\nallow_origin_regex = 'https://.*'"),
    ("CG109", "allow_origin_regex", "allow_origins = []\nallow_origin_regex = '(?i)a'"),
    ("CG110", "allow_methods[0]", 'allow_origins = ["https://a.com"]\nallow_methods = ["GE T"]'),
    ("CG110", "allow_headers[0]", 'allow_origins = ["https://a.com"]\nallow_headers = ["X:Y"]'),
    ("CG110", "expose_headers[0]", 'allow_origins = ["https://a.com"]\nexpose_headers = [""]'),
    ("CG111", "allow_origins[0]", 'allow_origins = ["https://a.com;"]'),
    ("CG111", "allow_headers[0]", 'allow_origins = ["https://a.com"]\nallow_headers = ["X-$h"]'),
    ("CG111", "allow_methods[0]", 'allow_origins = ["https://a.com"]\nallow_methods = ["G%T"]'),
    (
        "CG112",
        "expose_headers[0]",
        'allow_origins = ["https://a.com"]\nexpose_headers = ["Set-Cookie"]',
    ),
    ("CG113", "allow_headers[0]", 'allow_origins = ["https://a.com"]\nallow_headers = ["Cookie"]'),
    ("CG113", "allow_headers[0]", 'allow_origins = ["https://a.com"]\nallow_headers = ["Sec-X"]'),
    ("CG114", "preflight_status", 'allow_origins = ["https://a.com"]\npreflight_status = 302'),
    ("CG115", "max_age", 'allow_origins = ["https://a.com"]\nmax_age = -1'),
    ("CG116", "name", 'name = "My-API"\nallow_origins = ["https://a.com"]'),
    ("CG117", "allow_origins[0]", 'allow_origins = ["a.com"]'),
    ("CG118", "allow_origins[0]", 'allow_origins = ["https://a*.example.com"]'),
    ("CG119", "allow_origins", 'allow_origins = ["*", "https://a.com"]'),
    ("CG120", "allow_origins[0]", f'allow_origins = ["{long_origin(MAX_ORIGIN_LENGTH + 1)}"]'),
    (
        "CG121",
        "allow_origin_regex",
        "allow_origins = []\nallow_origin_regex = 'https://(a+)+x\\.com'",
    ),
    (
        "CG122",
        "allow_origin_regex",
        "allow_origins = []\nallow_origin_regex = 'https://a{1001}\\.com'",
    ),
    ("CG201", "allow_origins[0]", 'allow_origins = ["http://app.example.com"]'),
    ("CG202", "max_age", 'allow_origins = ["https://a.com"]\nmax_age = 86400'),
    ("CG203", "allow_origins[1]", 'allow_origins = ["https://a.com", "https://A.com:443"]'),
    ("CG203", "allow_origins[1]", 'allow_origins = ["https://*.a.com", "https://x.a.com"]'),
    ("CG204", "allow_methods[0]", 'allow_origins = ["https://a.com"]\nallow_methods = ["put"]'),
    ("CG205", "allow_headers[1]", 'allow_origins = ["*"]\nallow_headers = ["X-A", "*"]'),
    (
        "CG207",
        "allow_private_network",
        'allow_origins = ["https://a.com"]\nallow_private_network = true',
    ),
]
LOAD_RULES = {"CG000", "CG001", "CG002", "CG003", "CG004"}  # covered in policy_test.py
MANIFEST_RULES = {
    "CG302",
    "CG303",
    "CG304",
    "CG305",
    "CG306",
}  # covered in manifest_test.py and sync_test.py
# A target's, from load_and_plan: covered in tests/targets/ (CG530: what one output's format
# cannot express, an error for that output alone).
SHORTFALL_RULES = {"CG501", "CG530"}


def _findings(text: str) -> list[tuple[str, str, str]]:
    policy = parse_policy(text, "api.toml")
    name = policy_name(policy, Path("api.toml"))
    return [(f.rule_id, f.key, f.severity) for f in check_policy(policy, name, "api.toml")]


@pytest.mark.parametrize(("rule_id", "key", "text"), CASES)
def test_rule_fires_with_key(rule_id: str, key: str, text: str) -> None:
    assert rule_id in {r for r, k, _ in _findings(text) if k == key}


def test_every_rule_has_a_case() -> None:
    config = {r.id for r in RULES if r.id.startswith("CG4")}  # tests/targets/nginx_config_test.py
    assert {r.id for r in RULES} == {
        c[0] for c in CASES
    } | LOAD_RULES | MANIFEST_RULES | SHORTFALL_RULES | config


def test_ids_are_unique_and_severity_matches_numbering() -> None:
    ids = [r.id for r in RULES]
    assert len(ids) == len(set(ids))
    for rule in RULES:
        # A policy's warnings are CG2xx; the audit's (CG4xx) are numbered by what they find.
        if not rule.id.startswith("CG4"):
            assert (rule.severity == "warning") == rule.id.startswith("CG2"), rule.id
        # CG5xx are about one target's output: notes where its server falls short, and from
        # CG530 errors where its format cannot express the policy.
        refusal = rule.id.startswith("CG5") and rule.id >= "CG530"
        assert (rule.severity == "note") == (rule.id.startswith("CG5") and not refusal), rule.id


@pytest.mark.parametrize(
    "text",
    [
        GOOD,
        'allow_origins = ["*"]',
        'allow_origins = ["*"]\nallow_headers = ["*", "authorization"]\nallow_methods = ["*"]',
        'allow_origins = ["http://localhost:3000", "http://127.0.0.1:8080", "http://[::1]"]',
        'allow_origins = ["capacitor://localhost", "https://*.example.com"]',
        'allow_origins = ["https://a.com"]\nmax_age = 600\nallow_credentials = true',
        'allow_origins = ["https://a.com"]\nallow_methods = ["PATCH", "patch"]',
        "allow_origins = []\nallow_origin_regex = 'https://pr-[0-9]+\\.example\\.dev'",
        # Written out false it says what the default says, what a policy should: no CG207.
        'allow_origins = ["https://a.com"]\nallow_private_network = false',
    ],
)
def test_clean_policies(text: str) -> None:
    assert _findings(text) == []


@pytest.mark.parametrize(
    ("max_age", "found"),
    [(600, []), (601, ["note"]), (7200, ["note"]), (7201, ["warning"]), (86400, ["warning"])],
)
def test_max_age_above_webkits_cap_is_a_note_above_chromiums_a_warning(
    max_age: int, found: list[str]
) -> None:
    """The caps written by hand: WebKit 600 s, Chromium 7200 s (corsgen.fetch.ENGINES)."""
    text = f'allow_origins = ["https://a.com"]\nmax_age = {max_age}'
    assert [s for r, _, s in _findings(text) if r == "CG202"] == found


def test_every_engine_keeps_a_preflight_for_one_top_level_site() -> None:
    """What CG202's texts say of every engine, held to corsgen.fetch.ENGINES."""
    from corsgen.fetch import BROWSERS, ENGINES

    assert all("top-level site" in ENGINES[e].preflight_cache for e in BROWSERS)


@pytest.mark.parametrize(
    ("text", "fires"),
    [
        ('allow_origins = ["*"]\nallow_headers = ["*"]', True),
        ('allow_origins = ["*"]\nallow_headers = ["*", "AUTHORIZATION"]', False),
        ('allow_origins = ["*"]\nallow_headers = ["X-A"]', False),
        # With credentials a * is literal (CG107), in every engine: nothing they differ on.
        (
            'allow_origins = ["https://a.com"]\nallow_headers = ["*"]\nallow_credentials = true',
            False,
        ),
    ],
)
def test_star_headers_without_authorization(text: str, fires: bool) -> None:
    assert ("CG205" in {r for r, _, _ in _findings(text)}) is fires


@pytest.mark.parametrize(
    ("text", "said"),
    [
        # CG202 gives every engine's cap, and what one preflight per top-level site means.
        (
            'allow_origins = ["https://a.com"]\nmax_age = 3600',
            "api.toml: max_age: note CG202 max-age-over-cap: 3600 is above 600, the longest "
            "WebKit (Safari) keeps a preflight (the caps: Chromium 7,200 s, Firefox 86,400 s, "
            "WebKit 600 s); and every engine keeps a preflight for one top-level site, so a page "
            "embedded on many sites, or a third party's, is preflighted on each; fix: nothing "
            "breaks; use 600 or less for the same in every engine",
        ),
        # CG205 says who lets Authorization through, and who can be switched.
        (
            'allow_origins = ["*"]\nallow_headers = ["*"]',
            'api.toml: allow_headers[0]: warning CG205 star-headers-authorization: "*" lets an '
            "Authorization header through in all three engines today, but not under the Fetch "
            'standard, and Chromium and Firefox can be switched to it; fix: list "Authorization" '
            'beside "*" if clients send it',
        ),
    ],
)
def test_engine_texts(text: str, said: str) -> None:
    (found,) = check_policy(parse_policy(text, "api.toml"), "api", "api.toml")
    assert str(found) == said


def test_findings_read_as_one_line_each() -> None:
    policy = parse_policy('allow_origins = ["https://a.com/", "null"]', "api.toml")
    lines = [str(f) for f in check_policy(policy, "api", "api.toml")]
    assert lines == [
        "api.toml: allow_origins[0]: error CG103 origin-not-bare: 'https://a.com/' has a trailing "
        "slash; an origin never does; fix: write 'https://a.com'",
        "api.toml: allow_origins[1]: error CG102 opaque-origin: 'null' is an opaque origin that "
        "sandboxed frames, data: and file: pages all share; fix: serve the page from a real "
        "https:// origin and list that",
    ]


def test_findings_carry_the_line_of_their_key(tmp_path: Path) -> None:
    path = tmp_path / "api.toml"
    path.write_text(
        'name = "api"\nallow_origins = [\n  "https://a.com",\n  "null",  # sandbox\n'
        '  "http://b.com",\n]\nmax_age = 86400\n'
    )
    with pytest.raises(PolicyError) as info:
        load_and_plan(path)
    found = info.value.findings
    assert [(f.rule_id, f.key, f.line) for f in found] == [
        ("CG102", "allow_origins[1]", 4),
        ("CG201", "allow_origins[2]", 5),
        ("CG202", "max_age", 7),
    ]
    assert str(found[0]).startswith("api.toml:4: allow_origins[1]: error CG102 opaque-origin: ")


def test_errors_come_before_warnings() -> None:
    found = _findings('allow_origins = ["http://a.com", "https://b.com/"]')
    assert [s for _, _, s in found] == ["error", "warning"]


def _errors(policy: Policy) -> list[tuple[str, str]]:
    name = policy_name(policy, Path("api.toml"))
    found = check_policy(policy, name, "api.toml")
    return [(f.rule_id, f.key) for f in found if f.severity == "error"]


def _with(**fields: object) -> Policy:
    return Policy.model_validate({"allow_origins": ["https://app.example.com"], **fields})


def _entries(key: str) -> Callable[[int], Policy]:
    return lambda n: _with(**{key: [f"X-{i}" for i in range(n)]})


def _entry_of_length(key: str) -> Callable[[int], Policy]:
    return lambda n: _with(**{key: ["X" * n]})


def _joined_of_length(key: str) -> Callable[[int], Policy]:
    """Names whose ", "-joined header is exactly n characters: 250-character ones, then the rest."""

    def build(n: int) -> Policy:
        full = (n - 1) // 252
        names = [f"X-{i:04d}-".ljust(250, "x") for i in range(full)]
        return _with(**{key: [*names, "L" * (n - full * 252)]})

    return build


def _regex_of_length(length: int) -> Policy:
    return Policy(allow_origins=[], allow_origin_regex=regex_of_length(length))


_LISTS = ("allow_methods", "allow_headers", "expose_headers")
# (a policy of a given size, the largest size accepted, what one more gives)
LIMITS = [
    pytest.param(
        lambda n: Policy(allow_origins=[f"https://t{i}.example.com" for i in range(n)]),
        MAX_ORIGINS,
        ("CG120", "allow_origins"),
        id="origins",
    ),
    pytest.param(
        lambda n: Policy(allow_origins=[long_origin(n)]),
        MAX_ORIGIN_LENGTH,
        ("CG120", "allow_origins[0]"),
        id="origin-length",
    ),
    *[pytest.param(_entries(k), MAX_LIST_ENTRIES, ("CG120", k), id=k) for k in _LISTS],
    *[
        pytest.param(_entry_of_length(k), MAX_TOKEN_LENGTH, ("CG120", f"{k}[0]"), id=f"{k}[0]")
        for k in _LISTS
    ],
    *[
        pytest.param(_joined_of_length(k), MAX_HEADER_VALUE, ("CG120", k), id=f"{k}-joined")
        for k in _LISTS
    ],
    pytest.param(lambda n: _with(max_age=n), MAX_MAX_AGE, ("CG120", "max_age"), id="max_age"),
    pytest.param(_regex_of_length, MAX_REGEX_LENGTH, ("CG120", "allow_origin_regex"), id="regex"),
    pytest.param(lambda n: _with(name="a" * n), MAX_NAME_LENGTH, ("CG116", "name"), id="name"),
]


@pytest.mark.parametrize(("build", "limit", "past"), LIMITS)
def test_accepted_at_the_limit_refused_past_it(
    build: Callable[[int], Policy], limit: int, past: tuple[str, str]
) -> None:
    assert _errors(build(limit)) == []
    assert past in _errors(build(limit + 1))


def test_past_a_limit_nothing_else_is_checked() -> None:
    # A million bad origins: the other checks would take long and print a million lines.
    policy = Policy(allow_origins=["null", "https://a.com/"] * 500_000)
    assert _errors(policy) == [("CG120", "allow_origins")]


def test_a_million_wrong_values_are_one_screen(tmp_path: Path) -> None:
    path = tmp_path / "big.toml"
    path.write_text("allow_origins = [" + ",".join(["[]"] * 1_000_000) + "]\n")
    with cpu_within(5):
        assert main(["check", str(path)]) == 1
    path.write_text("allow_origins = [" + ",".join(["1"] * 100_000) + "]\n")
    with pytest.raises(PolicyError) as info:
        load_and_plan(path)
    assert len(info.value.findings) == MAX_FINDINGS
    assert info.value.findings[-1].message == f"and {100_000 - MAX_FINDINGS + 1:,} more problems"


def test_star_headers_shortfall_says_what_engines_do() -> None:
    """CG501 star-headers: the engines let Authorization through a * today, the standard not."""
    (rule,) = [r for r in RULES if r.id == "CG501"]
    message, _ = rule.texts("star-headers", {"server": "Envoy"})
    assert message == (
        "Envoy answers a * in allow_headers with the headers the preflight asks for, "
        "Authorization too, which a * lets through in all three engines today, but not under the "
        "Fetch standard: on Envoy it passes under the standard too"
    )
