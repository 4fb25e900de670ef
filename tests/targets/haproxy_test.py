from __future__ import annotations

from pathlib import Path

import pcre2
import pytest

from corsgen.errors import CorsgenError, VerifyError
from corsgen.pipeline import load_and_plan
from corsgen.regex import OUTSIDE_AN_ORIGIN
from corsgen.render import render
from corsgen.targets import haproxy
from testing.paths import EXAMPLES
from testing.policies import plan_of

A = 'allow_origins = ["https://a.com"]\n'
LONG_EXPOSE = A + "expose_headers = [" + "".join(f'"X-{i:060}", ' for i in range(20)) + "]\n"


@pytest.mark.parametrize(
    ("value", "written"),
    [
        (r"^https://a\.com$", r'"^https://a\\.com\$"'),
        ("X-A'b", '"X-A\'b"'),
        ("a#b", '"a#b"'),
    ],
)
def test_quoting_escapes_what_haproxy_unescapes_or_expands(value: str, written: str) -> None:
    assert haproxy.quote(value) == written


def test_a_header_value_keeps_a_percent_from_log_format() -> None:
    assert haproxy.quote_format("X-50%") == '"X-50%%"'


@pytest.mark.parametrize("value", ['a"b', "a\nb", "é"])
def test_quoting_refuses_what_could_end_the_word(value: str) -> None:
    with pytest.raises(CorsgenError, match="refusing to quote"):
        haproxy.quote(value)


def _listed(origins: list[str]) -> list[list[str]]:
    text = next(iter(render(plan_of(f"allow_origins = {origins!r}"), "haproxy").values()))
    return [ln.split()[6:] for ln in text.splitlines() if "_listed req.fhdr(origin)" in ln]


def test_a_short_list_is_one_line_of_strings() -> None:
    origins = [f"https://t{i:05d}.example.com" for i in range(haproxy.VALUES_PER_ACL)]
    (line,) = _listed(origins)
    assert [w.strip('"') for w in line] == origins


def test_a_long_list_is_tries_that_pcre2_matches_exactly() -> None:
    origins = [f"https://t{i:05d}.example.com" for i in range(3_000)]
    lines = _listed(origins)
    assert all(len(line) == 1 and len(line[0]) <= haproxy.TRIE_CHARS + 100 for line in lines)
    regexes = [
        pcre2.compile(line[0].strip('"').replace("\\$", "$").replace("\\\\", "\\"))
        for line in lines
    ]
    assert all(any(r.match(o) for r in regexes) for o in origins)
    assert not any(r.match("https://t03000.example.com") for r in regexes)


def _decision(policy: str) -> str:
    text = next(iter(render(plan_of(policy), "haproxy").values()))
    return next(ln for ln in text.splitlines() if "_origin) req.fhdr(origin) if " in ln)


@pytest.mark.parametrize("policy", [A, 'allow_origins = ["https://a.com", "https://*.a.com"]'])
def test_every_origin_allowed_is_one_origin_first(policy: str) -> None:
    """-m str compares up to a NUL: "https://a.com" and a NUL is the listed "https://a.com"."""
    alternatives = _decision(policy).split(" if ", 1)[1].split(" || ")
    assert all("corsgen_api_one !corsgen_api_not_one " in alt for alt in alternatives)


@pytest.mark.parametrize(
    ("value", "one"),
    [
        ("https://a.com", True),
        ("https://a-b.example.com:8443", True),
        ("null", True),
        ("", False),
        ("https://evil.com,https://a.com", False),
        ("https://evil.com, https://a.com", False),
        ("https://evil.com\thttps://a.com", False),
        ("https://a.com\x00", False),
        ("https://evil.com\x01https://a.com", False),
        ("https://evil.com\x7fhttps://a.com", False),
        ("https://\xe9.com", False),
    ],
)
def test_not_one_matches_what_no_origin_holds(value: str, one: bool) -> None:
    not_one = pcre2.compile(("^$|" + OUTSIDE_AN_ORIGIN).encode())  # bytes, as HAProxy reads
    assert (not_one.search(value.encode("latin-1")) is None) is one


def _files(text: str) -> dict[str, str]:
    return {"api.cfg": text}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("defaults corsgen_api\n    bogus 1\n", "unknown keyword 'bogus'"),
        ("    mode http\n", "unknown keyword 'mode'"),
        ('defaults corsgen_api\n    acl a req.fhdr(origin) -m str -- "x\n', "unterminated"),
        ("defaults a\ndefaults b\n", "2 sections"),
        ("defaults a\n    acl " + "x " * 65 + "\n", "more than 64 words"),
    ],
)
def test_the_structural_check_refuses_what_haproxy_would(text: str, message: str) -> None:
    with pytest.raises(VerifyError, match=message):
        haproxy.TARGET.check_structure(_files(text))


def test_default_buffers_hold_the_examples() -> None:
    for path in sorted(EXAMPLES.glob("*.toml")):
        assert haproxy.buffers(load_and_plan(path)[0]).default, path


def test_a_long_list_warns_for_haproxy_alone(tmp_path: Path) -> None:
    path = tmp_path / "api.toml"
    path.write_text(LONG_EXPOSE)
    _, warnings = load_and_plan(path, ("haproxy",))
    assert [(w.rule_id, w.key, w.line) for w in warnings] == [("CG501", "expose_headers", 2)]
    assert "tune.maxrewrite 2048" in warnings[0].fix
    assert load_and_plan(path, ("nginx", "apache", "caddy"))[1] == []


def test_buffers_count_the_longest_origin_a_pattern_may_echo() -> None:
    need = haproxy.buffers(plan_of('allow_origins = ["https://*.a.com"]'))
    assert need.response > 300 and need.default
