"""Nothing a policy's file name or accepted values hold becomes a directive in the output."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, cast

import crossplane
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from corsgen.errors import CorsgenError
from corsgen.pipeline import load_and_plan
from corsgen.plan import build_plan
from corsgen.policy.loading import parse_policy
from corsgen.render import render
from corsgen.rules.checks import check_policy
from corsgen.targets import NAMES as TARGETS
from corsgen.targets import apache, caddy, expressible, nginx
from corsgen.targets.base import comment
from corsgen.targets.caddy_serving import DEBIAN_CADDY, latest_caddy
from corsgen.targets.lexer import split_lines
from corsgen.verify import check_structure, server_check
from testing.binaries import need_binary
from testing.servers import config_test_binaries

# What an attacker showed: each name, given to a policy file, once rendered its own directives.
REPRODUCERS = {
    "nginx": "api\nadd_header Access-Control-Allow-Origin $http_origin always;"
    "add_header Access-Control-Allow-Credentials true always;\n#.toml",
    "apache": 'api\nHeader always set Access-Control-Allow-Origin "expr=%{req:Origin}"\n'
    "Header always set Access-Control-Allow-Credentials true\n#.toml",
    "caddy": "api\nheader {\n\tAccess-Control-Allow-Origin {http.request.header.Origin}\n"
    "\tAccess-Control-Allow-Credentials true\n}\n#.toml",
}
POLICY = 'name = "api"\nallow_origins = ["https://app.example.com"]\n'
# Pieces that end a comment, continue a line, quote, or start a variable in some target.
FRAGMENTS = [
    "\n",
    "\r",
    "\r\n",
    "\u2028",
    "\u2029",
    "\u0085",
    "\x0b",
    "\x0c",
    "\t",
    " ",
    ";",
    "{",
    "}",
    '"',
    "'",
    "`",
    "$",
    "%",
    "\\",
    "#",
    "{$HOME}",
    "${HOME}",
    "%{req:Origin}",
    "{http.request.header.Origin}",
    "\x1b[31m",
    "\U0001f600",
    "api",
    *REPRODUCERS.values(),
]
NAMES = st.one_of(
    st.text(st.characters(exclude_characters="\x00"), max_size=40),
    st.lists(st.sampled_from(FRAGMENTS), max_size=8).map("".join),
).map(lambda stem: stem + ".toml")
# Accepted, yet odd: IDN, custom schemes, ports, IPv6, and every token character but $ and %.
ORIGINS = st.sampled_from(
    [
        "https://app.example.com",
        "https://*.example.com",
        "https://bücher.example",
        "capacitor://localhost",
        "http://localhost:3000",
        "https://x.example.com:8443",
        "http://[::1]:8080",
        "HTTPS://UPPER.EXAMPLE.ORG",
    ]
)
TOKENS = st.sampled_from(
    ["X-Request-Id", "X-A'b", "X-#", "X|Y", "X^`~", "!#&+.", "PATCH", "M-*", "Content-Type"]
)
REGEXES = st.sampled_from(
    [None, r"https://pr-[0-9]+\.preview\.example\.dev", r"https://(a|b)\.c\.com"]
)


@st.composite
def accepted_policies(draw: st.DrawFn) -> str:
    data: dict[str, object] = {"allow_origins": draw(st.lists(ORIGINS, min_size=1, max_size=4))}
    regex = draw(REGEXES)
    if regex is not None:
        data["allow_origin_regex"] = regex
    for key in ("allow_methods", "allow_headers", "expose_headers"):
        data[key] = draw(st.lists(TOKENS, max_size=3))
    data["allow_credentials"] = draw(st.booleans())
    data["max_age"] = draw(st.integers(0, 7200))
    data["allow_private_network"] = draw(st.booleans())
    return "\n".join(f"{k} = {json.dumps(v, ensure_ascii=False)}" for k, v in data.items())


def _nginx_tree(parsed: list[dict[str, Any]]) -> list[object]:
    return [(d["directive"], d["args"], _nginx_tree(d.get("block", []))) for d in parsed]


def _nginx_directives(files: Mapping[str, str]) -> dict[str, list[object]]:
    """Every file's directives as crossplane reads them, in the context nginx includes them in."""
    http_part = next(name for name in files if name.endswith(".http.conf"))
    location_part = next(name for name in files if name != http_part)
    with tempfile.TemporaryDirectory(prefix="corsgen-test-") as tmp:
        for name, text in files.items():
            Path(tmp, name).write_text(text, encoding="utf-8")
        Path(tmp, "nginx.conf").write_text(nginx.wrapper(http_part, location_part))
        payload = cast(dict[str, Any], crossplane.parse(str(Path(tmp, "nginx.conf"))))
    assert payload["status"] == "ok", payload["errors"]
    return {Path(c["file"]).name: _nginx_tree(c["parsed"]) for c in payload["config"]}


def directives(files: Mapping[str, str], target: str) -> Mapping[str, list[object]]:
    """Comments left out: what the server would act on."""
    if target == "nginx":
        return _nginx_directives(files)
    return {name: [line.words for line in split_lines(text, name)] for name, text in files.items()}


def _assert_comment_is_inert(files: Mapping[str, str]) -> None:
    """What the parsers above do not model: Caddy's {$VAR} substitution inside comments, and
    Apache's line continuation."""
    for text in files.values():
        first = text.partition("\n")[0]
        assert first.isascii() and first.isprintable(), first
        assert "{" not in first and "}" not in first and not first.endswith("\\")


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(NAMES, accepted_policies())
@example(REPRODUCERS["nginx"], POLICY)
@example(REPRODUCERS["apache"], POLICY)
@example(REPRODUCERS["caddy"], POLICY)
def test_a_hostile_file_name_adds_no_directive(hostile: str, policy_text: str) -> None:
    policy = parse_policy(policy_text, "api.toml")
    assume(not any(f.severity == "error" for f in check_policy(policy, "api", "api.toml")))
    for target in expressible(build_plan(policy, "api", "api.toml"), TARGETS):
        files = render(build_plan(policy, "api", hostile), target)
        check_structure(files, target)
        benign = render(build_plan(policy, "api", "api.toml"), target)
        assert directives(files, target) == directives(benign, target)
        _assert_comment_is_inert(files)


@pytest.mark.parametrize(("target", "binary"), config_test_binaries())
@pytest.mark.parametrize("hostile", REPRODUCERS.values(), ids=REPRODUCERS.keys())
def test_the_reproducers_pass_the_server_check_as_comments(
    target: str, binary: str | None, hostile: str, tmp_path: Path
) -> None:
    need_binary(f"{target} ({binary})", binary)
    for name in (hostile, "api.toml"):
        (tmp_path / name).write_text(POLICY)
    files = render(load_and_plan(tmp_path / hostile)[0], target)
    benign = render(load_and_plan(tmp_path / "api.toml")[0], target)
    assert directives(files, target) == directives(benign, target)
    assert server_check(files, target, binary).ok


@pytest.mark.parametrize("binary", [DEBIAN_CADDY, latest_caddy()], ids=["debian", "latest"])
@pytest.mark.parametrize(
    ("first_line", "injected"),
    [
        ("# from {$CORSGEN_INJECT}.toml", True),  # the control: Caddy substitutes in comments
        (None, False),  # what corsgen writes for a policy file named {$CORSGEN_INJECT}.toml
    ],
    ids=["control", "corsgen"],
)
def test_caddy_substitutes_no_variable_from_a_file_name(
    binary: str | None,
    first_line: str | None,
    injected: bool,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    need_binary(f"caddy ({binary})", binary and shutil.which(binary))
    plan = build_plan(parse_policy(POLICY, "api.toml"), "api", "{$CORSGEN_INJECT}.toml")
    text = render(plan, "caddy")["api.caddy"]
    if first_line is not None:
        text = first_line + "\n" + text
    (tmp_path / "api.caddy").write_text(text)
    caddyfile = tmp_path / "Caddyfile"
    caddyfile.write_text(f"http://127.0.0.1:0 {{\n\timport {tmp_path / 'api.caddy'}\n}}\n")
    monkeypatch.setenv("CORSGEN_INJECT", "\nheader X-Injected yes\n#")
    monkeypatch.setenv("HOME", str(tmp_path))
    proc = subprocess.run(
        [cast(str, binary), "adapt", "--adapter", "caddyfile", "--config", str(caddyfile)],
        capture_output=True,
        text=True,
        check=False,
        env=dict(os.environ),
    )
    assert proc.returncode == 0, proc.stderr
    assert ("X-Injected" in proc.stdout) is injected


@pytest.mark.parametrize(
    ("text", "written"),
    [
        ("api.toml", "api.toml"),
        ("My API v2 (old)_[1]~+=@,:/.toml", "My API v2 (old)_[1]~+=@,:/.toml"),
        ("a\nb", "a\\u000ab"),
        ("a\r\n", "a\\u000d\\u000a"),
        ("a\u2028b\u0085c", "a\\u2028b\\u0085c"),
        ("{$HOME}", "\\u007b\\u0024HOME\\u007d"),
        ("a\\", "a\\u005c"),
        ('#;%"', "\\u0023\\u003b\\u0025\\u0022"),
        ("bücher", "b\\u00fccher"),
        ("\U0001f600", "\\U0001f600"),
    ],
)
def test_comment_escapes_all_but_plain_ascii(text: str, written: str) -> None:
    assert comment(text) == written


@pytest.mark.parametrize(
    ("quote", "value"),
    [
        (apache.quote, "a\\"),
        (caddy.quote, "a\\"),
        (apache.quote, "a${HOME}"),
        (caddy.quote, "a{$HOME}"),
        (nginx.quote, "b\u00fccher"),
        (apache.quote, "a\u2028b"),
        (caddy.quote, "a\u0085b"),
    ],
)
def test_quoting_refuses_what_it_cannot_make_safe(quote: Callable[[str], str], value: str) -> None:
    with pytest.raises(CorsgenError, match="refusing to quote"):
        quote(value)


def test_nginx_quotes_a_trailing_backslash() -> None:
    assert nginx.quote("a\\") == '"a\\\\"'
