"""The rule table: every rule has cases, every case is reached by real input, and no slug, message
or fix is written anywhere else."""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from corsgen.cli import main
from corsgen.errors import PolicyError
from corsgen.limits import MAX_LIST_ENTRIES, MAX_ORIGIN_LENGTH, MAX_ORIGINS
from corsgen.pipeline import load_and_plan
from corsgen.policy.schema import Policy
from corsgen.regex import RegexError, check_regex, parse_regex
from corsgen.rules.checks import check_policy
from corsgen.rules.table import RULES, RuleError, finding, line_of
from corsgen.targets import NAMES
from corsgen.tomlfile import parse_toml, read_text
from testing.paths import ROOT
from testing.policies import long_origin

SRC = ROOT / "src" / "corsgen"


def _policy(text: str) -> Callable[[Path], None]:
    """Load, check and plan a policy text as `corsgen check --target ...` does for every target,
    each target's limits and shortfalls included."""

    def run(tmp_path: Path) -> None:
        path = tmp_path / "api.toml"
        path.write_text(text, encoding="utf-8")
        # One target at a time: what one output cannot express (CG530) refuses it for that
        # output alone, and the others still note their shortfalls.
        for target in NAMES:
            try:
                _, warnings = load_and_plan(path, (target,))
            except PolicyError as exc:
                assert all(str(f) for f in exc.findings)
                continue
            assert all(str(f) for f in warnings)

    return run


def _model(**fields: object) -> Callable[[Path], None]:
    """Check a policy built in Python: sizes a TOML text would take long to parse."""

    def run(tmp_path: Path) -> None:
        policy = Policy.model_validate({"allow_origins": ["https://a.com"], **fields})
        assert all(str(f) for f in check_policy(policy, "api", "api.toml"))

    return run


def _regex(source: str) -> Callable[[Path], None]:
    """Prove a regex of any length (a policy refuses one over 1,000 characters first)."""

    def run(tmp_path: Path) -> None:
        with pytest.raises(RegexError) as info:
            check_regex(parse_regex(source))
        assert info.value.message and info.value.fix

    return run


def _raises(call: Callable[[], object]) -> Callable[[Path], None]:
    def run(tmp_path: Path) -> None:
        with pytest.raises(PolicyError):
            call()

    return run


MANIFEST = '[[outputs]]\npolicies = ["{glob}"]\ntargets = ["nginx"]\nout_dir = "{out_dir}"\n'


def _manifest(
    glob: str = "cors/*.toml", out_dir: str = "deploy", extra: str = ""
) -> Callable[[Path], None]:
    """Sync a manifest in repo/ over cors/api.toml, other/api.toml and cors/linked.toml, a
    symlink out of repo/; `extra` is a second [[outputs]]."""

    def run(tmp_path: Path) -> None:
        repo = tmp_path / "repo"
        for policy in (
            repo / "cors" / "api.toml",
            repo / "other" / "api.toml",
            tmp_path / "x.toml",
        ):
            policy.parent.mkdir(parents=True, exist_ok=True)
            policy.write_text(A)
        (repo / "cors" / "linked.toml").symlink_to(tmp_path / "x.toml")
        path = repo / "corsgen.toml"
        path.write_text(MANIFEST.replace("{glob}", glob).replace("{out_dir}", out_dir) + extra)
        assert main(["sync", "--manifest", str(path)]) == 1

    return run


def _pair_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    # No regex short enough for a policy reaches 200,000 pairs before its automaton's state limit.
    monkeypatch.setattr("corsgen.regex.backtracking.MAX_PAIRS", 10)


A = 'allow_origins = ["https://a.com"]\n'
# Twenty long names: more than HAProxy's default buffers hold.
LONG_EXPOSE = A + "expose_headers = [" + "".join(f'"X-{i:060}", ' for i in range(20)) + "]\n"
SECOND = '\n[[outputs]]\npolicies = ["other/api.toml"]\ntargets = ["nginx"]\nout_dir = "deploy"\n'

# (rule, case, what reaches it): every case in the table, reached through the code users run.
REACHED: list[tuple[str, str, Callable[[Path], None]]] = [
    ("CG000", "cannot-read", _raises(lambda: read_text(Path("/nonexistent/api.toml")))),
    ("CG001", "syntax", _policy("allow_origins = [")),
    ("CG001", "too-deep", _policy("x = " + "[" * 1000 + "]" * 1000)),
    ("CG001", "long-number", _policy("max_age = " + "9" * 5001)),
    ("CG002", "close", _policy(A + "max_ages = 3")),
    ("CG002", "no-close", _policy(A + "zzz = 3")),
    ("CG003", "mismatch", _policy('allow_origins = "x"')),
    ("CG003", "and-more", _policy("allow_origins = [" + ", ".join(["1"] * 60) + "]")),
    ("CG004", "missing", _policy("max_age = 3")),
    ("CG101", "credentials", _policy('allow_origins = ["*"]\nallow_credentials = true')),
    ("CG102", "opaque", _policy('allow_origins = ["null"]')),
    ("CG103", "userinfo", _policy('allow_origins = ["https://u@a.com"]')),
    ("CG103", "not-bare", _policy('allow_origins = ["https://a.com/"]')),
    ("CG104", "port", _policy('allow_origins = ["https://a.com:0"]')),
    ("CG105", "empty-list", _policy("allow_origins = []")),
    ("CG105", "empty-entry", _policy('allow_origins = [""]')),
    ("CG105", "empty-regex", _policy("allow_origins = []\nallow_origin_regex = ''")),
    ("CG106", "public-suffix", _policy('allow_origins = ["https://*.co.uk"]')),
    ("CG107", "star", _policy(A + 'allow_headers = ["*"]\nallow_credentials = true')),
    ("CG108", "empty-string", _policy("allow_origins = []\nallow_origin_regex = '(https://a)?'")),
    ("CG108", "unnamed-origin", _policy("allow_origins = []\nallow_origin_regex = 'https://.*'")),
    ("CG109", "construct", _policy("allow_origins = []\nallow_origin_regex = '(?i)a'")),
    ("CG109", "class-hyphen", _policy("allow_origins = []\nallow_origin_regex = '[a-b-c]'")),
    ("CG109", "reversed-range", _policy("allow_origins = []\nallow_origin_regex = '[z-a]'")),
    ("CG110", "token", _policy(A + 'allow_methods = ["GE T"]')),
    ("CG111", "name", _policy(A + 'allow_headers = ["X-$h"]')),
    ("CG111", "origin", _policy('allow_origins = ["https://a.com;"]')),
    ("CG112", "set-cookie", _policy(A + 'expose_headers = ["Set-Cookie"]')),
    ("CG113", "forbidden", _policy(A + 'allow_headers = ["Cookie"]')),
    ("CG114", "status", _policy(A + "preflight_status = 302")),
    ("CG115", "negative", _policy(A + "max_age = -1")),
    ("CG116", "too-long", _policy(A + f'name = "{"a" * 20}"')),
    ("CG116", "pattern", _policy(A + 'name = "My-API"')),
    ("CG116", "reserved", _policy(A + 'name = "corsgen"')),
    ("CG117", "shape", _policy('allow_origins = ["a.com"]')),
    ("CG117", "host", _policy('allow_origins = ["https://a..com"]')),
    ("CG117", "idna", _policy('allow_origins = ["https://xn--a.com"]')),
    ("CG117", "ipv4", _policy('allow_origins = ["http://256.0.0.1"]')),
    ("CG117", "ipv6", _policy('allow_origins = ["https://[::g]"]')),
    ("CG118", "partial-label", _policy('allow_origins = ["https://a*.example.com"]')),
    ("CG118", "ip-address", _policy('allow_origins = ["https://*.0.0.1"]')),
    ("CG119", "mixed", _policy('allow_origins = ["*", "https://a.com"]')),
    (
        "CG120",
        "too-many-origins",
        _model(allow_origins=[f"https://t{i}.a.com" for i in range(MAX_ORIGINS + 1)]),
    ),
    ("CG120", "origin-too-long", _model(allow_origins=[long_origin(MAX_ORIGIN_LENGTH + 1)])),
    (
        "CG120",
        "origins-too-long",
        _model(allow_origins=[long_origin(MAX_ORIGIN_LENGTH + 1, i) for i in range(2)]),
    ),
    ("CG120", "too-many-names", _model(allow_headers=["X"] * (MAX_LIST_ENTRIES + 1))),
    ("CG120", "name-too-long", _model(allow_headers=["X" * 257])),
    ("CG120", "names-too-long", _model(allow_headers=["X" * 257] * 2)),
    ("CG120", "joined-too-long", _model(allow_headers=["X" * 250] * 70)),
    ("CG120", "max-age", _policy(A + f"max_age = {2**31}")),
    ("CG120", "regex-too-long", _model(allow_origins=[], allow_origin_regex="a" * 1001)),
    (
        "CG120",
        "regex-parameter",
        _policy(
            'allow_origins = []\nallow_origin_regex = "https://'
            + "\\\\w" * 345
            + '\\\\.example\\\\.com"'
        ),
    ),
    ("CG120", "regex-depth", _regex("(" * 300 + "a" + ")" * 300)),
    ("CG120", "regex-states", _regex("https://" + r"[a-z]{1000}\." * 2 + r"example\.com")),
    ("CG120", "regex-domains", _regex(r"https://([a-z0-9-]+\.)*(?:a|b|c|d|e|f|g|h){3}\.io")),
    ("CG120", "regex-proof", _regex(r"https://[a-z0-9-]{1,63}\.app\.s3\.amazonaws\.com")),
    ("CG120", "file-values", _raises(lambda: parse_toml("[]," * 130_000, "api.toml"))),
    ("CG121", "exponential", _regex(r"https://(a+)+\.x\.com")),
    ("CG121", "polynomial", _regex(r"https://[a-z]*[a-z]*\.x\.com")),
    ("CG121", "too-complex", _regex(r"https://([a-z0-9-]+\.)*example\.com")),
    ("CG122", "engine", _regex("https://" + r"[a-z]{1000}" * 1000)),
    ("CG122", "repeat-count", _regex(r"https://a{1001}\.com")),
    ("CG122", "nested-repeats", _regex(r"https://([a-z0-9-]{1,63}\.){1,20}")),
    ("CG201", "plain", _policy('allow_origins = ["http://a.com"]')),
    ("CG202", "over-cap", _policy(A + "max_age = 86400")),
    ("CG202", "over-webkit-cap", _policy(A + "max_age = 3600")),
    ("CG203", "repeated", _policy('allow_origins = ["https://a.com", "https://a.com:443"]')),
    ("CG203", "covered", _policy('allow_origins = ["https://*.a.com", "https://x.a.com"]')),
    ("CG204", "lowercase", _policy(A + 'allow_methods = ["put"]')),
    ("CG205", "star", _policy('allow_origins = ["*"]\nallow_headers = ["*"]')),
    ("CG207", "kept", _policy(A + "allow_private_network = true")),
    ("CG501", "buffers", _policy(LONG_EXPOSE)),
    ("CG501", "preflight-200", _policy(A)),
    ("CG501", "private-network", _policy(A + "allow_private_network = true")),
    ("CG501", "refused-origin", _policy(A)),
    ("CG501", "no-star", _policy('allow_origins = ["*"]')),
    ("CG501", "star-headers", _policy(A + 'allow_headers = ["*"]')),
    (
        "CG501",
        "regex-size",
        _policy(
            'allow_origins = []\nallow_origin_regex = "https://[a-z]{1,80}\\\\.example\\\\.com"'
        ),
    ),
    ("CG501", "preflight-ok", _policy(A)),
    ("CG501", "no-vary", _policy(A)),
    ("CG501", "backend-cors", _policy(A)),
    ("CG501", "ignores-wildcards", _policy('allow_origins = ["https://*.a.com"]')),
    ("CG501", "preflight-auth", _policy(A)),
    ("CG501", "auth-first", _policy(A)),
    ("CG501", "star-not-null", _policy('allow_origins = ["*"]')),
    ("CG501", "origin-twice", _policy(A)),
    ("CG501", "basic-auth", _policy(A)),
    ("CG530", "regex", _policy(A + "allow_origin_regex = 'https://pr-[0-9]+\\.example\\.com'")),
    ("CG530", "too-many", _policy(A + f"expose_headers = {[f'X-{i}' for i in range(65)]!r}")),
    ("CG530", "scheme", _policy('allow_origins = ["wss://a.com"]')),
    ("CG530", "host", _policy('allow_origins = ["https://a_b.example.com"]')),
    (
        "CG530",
        "long-origin",
        _policy('allow_origins = ["https://' + ".".join(["a" * 62] * 4) + '"]'),
    ),
    ("CG530", "method", _policy(A + 'allow_methods = ["PROPFIND"]')),
    ("CG530", "star-beside", _policy(A + 'allow_methods = ["*", "GET"]')),
    ("CG530", "max-age", _policy(A + "max_age = 0")),
    ("CG530", "max-age-most", _policy(A + "max_age = 360000000")),
    (
        "CG530",
        "regex-size",
        _policy(A + "allow_origin_regex = 'https://(" + "|".join(["[^x]"] * 140) + ")\\.a\\.com'"),
    ),
    ("CG530", "empty", _policy(A + "allow_methods = []")),
    ("CG530", "private-network", _policy(A + "allow_private_network = true")),
    ("CG530", "name", _policy(A + 'name = "api_"')),
    ("CG302", "no-match", _manifest(glob="cors/*.yaml")),
    ("CG303", "clash", _manifest(glob="cors/api.toml", extra=SECOND)),
    ("CG304", "out-dir", _manifest(out_dir="../elsewhere")),
    ("CG304", "dot-dot", _manifest(glob="../cors/*.toml")),
    ("CG304", "glob", _manifest(glob="cors/linked.toml")),
    ("CG305", "out-dir", _manifest(out_dir="")),
    ("CG305", "glob", _manifest(glob="/etc/*.toml")),
    ("CG305", "glob-refused", _manifest(glob="cors/a**.toml")),
    ("CG305", "glob-wide", _manifest(glob="**/*.toml")),
    ("CG305", "glob-parts", _manifest(glob="cors/" + "*/" * 16 + "*.toml")),
    # routes keyed by the Kubernetes spelling of a policy's name: it names no policy.
    (
        "CG306",
        "no-policy",
        _manifest(glob="cors/api.toml", out_dir='deploy"\nroutes = {"api-x" = "web"}\n#'),
    ),
]


@pytest.mark.parametrize(
    ("rule_id", "case", "run"), REACHED, ids=[f"{r}-{c}" for r, c, _ in REACHED]
)
def test_each_case_is_reached(
    rule_id: str,
    case: str,
    run: Callable[[Path], None],
    rules_used: set[tuple[str, str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if case == "too-complex":
        _pair_limit(monkeypatch)
    if case == "glob-wide":
        monkeypatch.setattr("corsgen.globbing.MAX_GLOB_ENTRIES", 3)
    if case == "regex-proof":
        # As tests/regex/cost_test.py reaches it.
        monkeypatch.setattr("corsgen.regex.automaton.MAX_CRAWLED", 50)
    run(tmp_path)
    assert (rule_id, case) in rules_used, sorted(rules_used)


TESTS = ROOT / "tests"


def reached_elsewhere() -> dict[tuple[str, str], str]:
    """The cases a test file reaches itself (`corsgen verify --config` on a server's config, in
    tests/targets/NAME_config_test.py): its module-level REACHES, a tuple or dict whose entries
    (keys) are (rule id, case) pairs, each run by a test of that file with the rules_used fixture.
    Read, not imported: no test module imports another."""
    found: dict[tuple[str, str], str] = {}
    for path in sorted(TESTS.rglob("*_test.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if not (isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None):
                continue
            names = node.targets if isinstance(node, ast.Assign) else [node.target]
            if not any(isinstance(name, ast.Name) and name.id == "REACHES" for name in names):
                continue
            value = node.value
            entries = value.keys if isinstance(value, ast.Dict) else getattr(value, "elts", [])
            for entry in entries:
                assert entry is not None, path
                rule, case = ast.literal_eval(entry)
                found[rule, case] = str(path.relative_to(ROOT))
    return found


def test_every_case_in_the_table_is_reached_above() -> None:
    """Each case is reached by a row of REACHED, or by the test file whose REACHES names it."""
    table = {(rule.id, case) for rule in RULES for case in rule.cases}
    elsewhere = reached_elsewhere()
    for path in set(elsewhere.values()):
        assert "rules_used" in (ROOT / path).read_text(encoding="utf-8"), path
    assert not {(r, c) for r, c, _ in REACHED} & set(elsewhere)
    assert table == {(r, c) for r, c, _ in REACHED} | set(elsewhere)


def test_every_rule_has_a_case_and_a_unique_id_and_slug() -> None:
    assert all(rule.cases for rule in RULES)
    assert len({r.id for r in RULES}) == len({r.slug for r in RULES}) == len(RULES)


def _literals(path: Path) -> Iterator[str]:
    """The string literals' words in a source file: every run of slug characters inside quotes."""
    for match in re.finditer(r"([\"'])([a-z0-9-]+)\1", path.read_text(encoding="utf-8")):
        yield match[2]


# probe's table of checks: an audit rule that finds what a probe check sees on a live server is
# named as that check is (reflects-any-origin, vary-origin-missing ...).
TABLES = ("rules/table.py", "probe/checks.py")


def test_no_slug_is_written_outside_the_table() -> None:
    slugs = {rule.slug for rule in RULES}
    found = {
        (str(path.relative_to(SRC)), word)
        for path in SRC.rglob("*.py")
        if path.relative_to(SRC).as_posix() not in TABLES
        for word in _literals(path)
        if word in slugs
    }
    assert found == set()


def test_no_finding_is_built_outside_the_table() -> None:
    """Finding(...) appears only in the rule table: a finding comes from a rule id and a case."""
    for path in SRC.rglob("*.py"):
        if path.relative_to(SRC).as_posix() not in ("rules/table.py", "errors.py"):
            assert "Finding(" not in path.read_text(encoding="utf-8"), path


def test_texts_are_one_line_and_every_refusal_says_what_to_change() -> None:
    for rule in RULES:
        for case, (message, fix) in rule.cases.items():
            assert "\n" not in message + fix, (rule.id, case)
            assert message and fix, (rule.id, case)


def test_a_finding_takes_its_line_from_its_key_or_the_key_around_it() -> None:
    lines = {"allow_origins": 2, "allow_origins[1]": 3, "outputs[0]": 5}
    for key, line in (("allow_origins[1]", 3), ("allow_origins[7]", 2), ("name", None)):
        found = finding("CG102", "opaque", file="a.toml", key=key, lines=lines, origin="null")
        assert found.line == line, key
    assert line_of(lines, "outputs[0].policies[2]") == 5
    assert line_of(lines, "max_age") is None
    assert line_of(lines, "") is None


def test_a_finding_reads_as_the_table_writes_it() -> None:
    found = finding(
        "CG203", "repeated", file="a.toml", key="allow_origins[1]", line=3, origin="x", first=0
    )
    assert str(found) == (
        "a.toml:3: allow_origins[1]: warning CG203 duplicate-origin: 'x' repeats "
        "allow_origins[0]; fix: remove it"
    )


def test_a_value_quoted_with_v_is_shortened() -> None:
    text = finding("CG114", "status", file="a.toml", status=10**100).message
    assert len(text) < 100 and text.endswith("is not 204 or 200")


def test_a_rule_error_carries_its_case_and_reads_from_the_table() -> None:
    error = RuleError("CG104", "port", origin="https://a.com:0", port="0")
    assert (error.violation.rule, error.violation.case, dict(error.violation.fields)) == (
        "CG104",
        "port",
        {"origin": "https://a.com:0", "port": "0"},
    )
    assert str(error) == error.message == "'https://a.com:0' has an invalid port '0'"
    assert error.fix == "use a port from 1 to 65535"
