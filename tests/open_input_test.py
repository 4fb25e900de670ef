"""Open input, generated (hypothesis) with a bounded budget so it runs in CI.

For any policy text, file name and regex it asserts what the docs promise: through the real
CLI, exit 0, 1 or 2 only, no traceback, one printable line per message, bounded time; any policy
either is refused with an error or plans without * with credentials or an empty allow list, and
renders output that parses; accepted output loads in the real servers; and every accepted regex
refuses what an attacker could register, judged by an oracle that does not use corsgen's proof
(Python's re, PCRE2 and the Public Suffix List directly).
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import tempfile
import time
from pathlib import Path

import pcre2
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from publicsuffixlist import PublicSuffixList

from corsgen.cli import main
from corsgen.limits import MAX_ORIGIN_LENGTH, MAX_TOKEN_LENGTH
from corsgen.plan import ACAC, ACAO, build_plan
from corsgen.policy.loading import parse_policy
from corsgen.regex import RegexError, check_regex, parse_regex
from corsgen.render import render
from corsgen.rules.checks import check_policy
from corsgen.targets import NAMES as TARGETS
from corsgen.targets import expressible
from corsgen.verify import check_structure, find_binary, server_check
from testing.binaries import need_binary
from testing.bounded import cpu_seconds
from testing.policies import long_origin

BUDGET = settings(
    max_examples=60, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
)
SECONDS = 10  # per CLI call; a regex proof takes well under one

# Values that have broken parsers, quoting and terminals before.
HOSTILE = [
    "\n",
    "\r",
    "\u2028",
    "\u0085",
    "\x1b[31m",
    "\u202e",
    '"',
    "'",
    "\\",
    "$",
    "{$HOME}",
    "%{req:Origin}",
    ";",
    "#",
    "{",
    "}",
    " ",
    "bücher",
    "*",
    "..",
]
# Origins the rules accept, each an odd corner of what may pass.
GOOD_ORIGINS = [
    "https://app.example.com",
    "https://*.example.com",
    "http://*.localhost:3000",
    "http://127.1:3000",
    "https://[::1]:8443",
    "https://bücher.example",
    "capacitor://localhost",
    "https://x_y.example.net",
    "HTTPS://APP.EXAMPLE.COM:443",
]
ORIGINS = st.sampled_from(
    [*GOOD_ORIGINS, "*", "https://*.co.uk", "null", "https://a.com/"]
) | st.builds("".join, st.lists(st.sampled_from(["https://", "app", ".", *HOSTILE]), max_size=5))
VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**30), 10**30)
    | st.lists(st.sampled_from([*HOSTILE, "a", "GET", "X-Id"]), max_size=6).map("".join),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(HOSTILE), inner),
    max_leaves=8,
)
KEYS = [
    "name",
    "allow_origins",
    "allow_origin_regex",
    "allow_methods",
    "allow_headers",
    "expose_headers",
    "allow_credentials",
    "max_age",
    "preflight_status",
    "allow_private_network",
    "alow_origins",
    "x\ny",
]


def _toml_value(value: object) -> str:
    if value is None:
        return '""'
    if isinstance(value, dict):
        return (
            "{" + ", ".join(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"
        )
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return (
        json.dumps(value, ensure_ascii=False) if not isinstance(value, bool) else str(value).lower()
    )


@st.composite
def policy_texts(draw: st.DrawFn) -> str:
    """Mostly well-formed TOML with hostile values, sometimes plain garbage."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.text(max_size=80))
    lines = [f"allow_origins = {_toml_value(draw(st.lists(ORIGINS, max_size=4)))}"]
    for key in draw(st.lists(st.sampled_from(KEYS), max_size=4, unique=True)):
        lines.append(f"{json.dumps(key)} = {_toml_value(draw(VALUES))}")
    return "\n".join(lines)


FILE_NAMES = st.lists(st.sampled_from([*HOSTILE, "api", "-", "_", "x" * 120]), max_size=4).map(
    lambda parts: ("".join(parts).replace("/", "") or "p")[:200] + ".toml"
)


def _run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    started = time.process_time()  # CPU, not wall time: the suite shares two cores with servers
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))  # anything but a CorsgenError escapes and fails the test
    assert time.process_time() - started < cpu_seconds(SECONDS), argv
    return code, out.getvalue(), err.getvalue()


def _assert_clean(code: int, err: str) -> None:
    assert code in (0, 1, 2)
    assert "Traceback" not in err
    for line in err.splitlines():
        assert line.isprintable(), repr(line)


@BUDGET
@given(policy_texts(), FILE_NAMES)
def test_any_policy_and_file_name_through_the_cli(text: str, file_name: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "cors").mkdir()
        policy = root / "cors" / file_name
        policy.write_text(text, encoding="utf-8")
        code, _, err = _run("check", str(policy))
        _assert_clean(code, err)
        for target in TARGETS:
            rendered, _, err = _run("render", str(policy), "--target", target)
            _assert_clean(rendered, err)
            refused = "refusing" in err or " CG530 " in err  # a value, or what the format lacks
            assert rendered == code or (code == 0 and rendered == 1 and refused)
        manifest = (
            '[[outputs]]\npolicies = ["cors/*.toml"]\ntargets = ["nginx", "apache", "caddy"]\n'
        )
        (root / "corsgen.toml").write_text(manifest + 'out_dir = "deploy/{target}"\n')
        code, _, err = _run("sync", "--manifest", str(root / "corsgen.toml"))
        _assert_clean(code, err)
        if code != 0:
            assert not (root / "deploy").exists(), "a failed sync wrote something"


# Values at and past the rules' edges: the limits, a public suffix, a path, an empty origin.
EDGE_ORIGINS = st.sampled_from(
    [
        "*",
        "https://app.example.com",
        "https://*.example.com",
        "http://localhost:3000",
        "capacitor://localhost",
        "https://bücher.example",
        "https://*.co.uk",
        "null",
        "https://a.com/",
        "https://x.example.com:8443",
        "https://a.com;",
        "",
        "HTTPS://APP.EXAMPLE.COM",
        long_origin(MAX_ORIGIN_LENGTH),
        long_origin(MAX_ORIGIN_LENGTH + 1),
    ]
)
EDGE_TOKENS = st.sampled_from(
    [
        "GET",
        "PUT",
        "patch",
        "X-Request-Id",
        "*",
        "Cookie",
        "Set-Cookie",
        "X Y",
        "A$B",
        "Content-Type",
        "X" * MAX_TOKEN_LENGTH,
        "X" * (MAX_TOKEN_LENGTH + 1),
    ]
)
SIMPLE_REGEXES = st.none() | st.sampled_from(
    [
        r"https://pr-[0-9]+\.preview\.example\.dev",
        r"https://.*",
        r"(?i)x",
        r"https://(a|b)\.c\.com",
    ]
)


@st.composite
def edge_policies(draw: st.DrawFn) -> str:
    """Policies of every key, each value from the edges of what the rules accept."""
    data: dict[str, object] = {"allow_origins": draw(st.lists(EDGE_ORIGINS, max_size=4))}
    regex = draw(SIMPLE_REGEXES)
    if regex is not None:
        data["allow_origin_regex"] = regex
    for key in ("allow_methods", "allow_headers", "expose_headers"):
        if draw(st.booleans()):
            data[key] = draw(st.lists(EDGE_TOKENS, max_size=3))
    data["allow_credentials"] = draw(st.booleans())
    if draw(st.booleans()):
        data["max_age"] = draw(st.integers(-5, 100_000))
    data["preflight_status"] = draw(st.sampled_from([200, 204, 302]))
    data["allow_private_network"] = draw(st.booleans())
    # JSON strings, numbers, booleans and lists are valid TOML values.
    return "\n".join(f"{k} = {json.dumps(v, ensure_ascii=False)}" for k, v in data.items())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edge_policies())
def test_any_policy_is_refused_or_renders_output_that_parses(text: str) -> None:
    policy = parse_policy(text, "p.toml")
    findings = check_policy(policy, "p", "p.toml")
    if any(f.severity == "error" for f in findings):
        return
    plan = build_plan(policy, "p", "p.toml")
    headers = {h.name: h for h in plan.headers}
    assert not (headers[ACAO].value == "*" and ACAC in headers), "* with credentials got through"
    assert plan.any_origin or plan.exact_origins or plan.origin_patterns, "an empty allow list"
    for target in expressible(plan, TARGETS):  # the others refuse it (CG530)
        check_structure(render(plan, target), target)


# Regexes shaped like the ones people write, hostile pieces included; domains always stay
# contiguous literals, so the oracle below can read them off the source.
_SCHEMES = ["https://", "https?://", "wss://", "(https|wss)://", "http://", "[a-z]+://", ".*"]
_HOSTS = [
    r"([a-z0-9-]+\.)*",
    r"(www\.)?",
    r"(app|admin)\.",
    r"[a-z0-9-]+\.",
    r"pr-[0-9]{1,6}\.",
    ".*",
    r"[^.]+\.",
    r"\w+\.",
    "[a-z0-9.-]+",
    "[a-z]+.",
]
_DOMAINS = [
    r"example\.com",
    r"example\.co\.uk",
    r"github\.io",
    r"s3\.amazonaws\.com",
    "localhost",
    r"example\.[a-z]+",
    r"example\.com[a-z]*",
    r"example\.com(\.[a-z]{2})?",
    r"127\.0\.0\.1",
]
_PORTS = ["", "(:[0-9]+)?", ":[0-9]{2,5}", ":8443", "(:.*)?"]
REGEXES = st.lists(
    st.tuples(
        st.sampled_from(_SCHEMES),
        st.lists(st.sampled_from(_HOSTS), max_size=2).map("".join),
        st.sampled_from(_DOMAINS),
        st.sampled_from(_PORTS),
    ).map("".join),
    min_size=1,
    max_size=3,
).map("|".join)
PSL = PublicSuffixList()
# A serialised origin as a browser sends it: DNS labels, an optional trailing dot and port.
_ORIGIN = re.compile(r"([a-z][a-z0-9+.-]*)://([a-z0-9_-]+(?:\.[a-z0-9_-]+)*\.?)(?::[0-9]+)?")


def _named_domains(source: str) -> set[str]:
    text = source.replace("\\.", ".")
    names: set[str] = set()
    for host in re.findall(r"[a-z0-9-]+(?:\.[a-z0-9-]+)+", text):
        labels = host.split(".")
        names |= {".".join(labels[i:]) for i in range(len(labels) - 1)}
    return {n for n in names if PSL.privatesuffix(n) == n}


def _attacks(origin: str) -> list[str]:
    """What the scanners send, built from one origin the regex accepts."""
    scheme, _, rest = origin.partition("://")
    host, _, port = rest.partition(":")
    port = f":{port}" if port else ""
    out = [f"{scheme}://{h}{port}" for h in (f"{host}.evil.com", f"evil{host}", f"{host}evil.com")]
    out += [f"{scheme}://{host.replace('.', c, 1)}{port}" for c in "x-_"]
    out += [f"http://{host}{port}", f"{scheme}://evil.{host}{port}", "null", "https://evil.com"]
    return out


@settings(BUDGET, max_examples=300)
@given(REGEXES, st.data())
def test_every_accepted_regex_refuses_what_an_attacker_could_register(
    source: str, data: st.DataObject
) -> None:
    try:
        regex = parse_regex(source)
        check_regex(regex)
    except RegexError:
        event("refused")
        return
    event("accepted")
    engine = pcre2.compile(regex.anchored)  # as nginx and Apache run it
    samples = [data.draw(st.from_regex(regex.anchored, fullmatch=True)) for _ in range(5)]
    named = _named_domains(source)
    for origin in [o for s in samples for o in (s, *_attacks(s))]:
        found = _ORIGIN.fullmatch(origin)
        if found is None or engine.match(origin) is None:
            continue  # not an origin a browser sends, or not accepted
        scheme, host = found[1], found[2].rstrip(".")
        loopback = host == "localhost" or host.endswith(".localhost") or host == "127.0.0.1"
        assert f"{scheme}://" in source.replace("\\", "") or scheme in source, origin
        assert loopback or scheme not in ("http", "ws"), origin
        # A bare public suffix (s3.amazonaws.com) has no registrant: its operator serves it.
        owner = PSL.privatesuffix(host) or host
        spelled = owner in named or owner in source.replace("\\.", ".")
        assert loopback or spelled, (origin, named)


TOKENS = ["GET", "PUT", "PATCH", "X-Request-Id", "Content-Type", "X-" + "a" * 200, "*"]


@st.composite
def accepted_policies(draw: st.DrawFn) -> str:
    """Policies meant to pass the rules, with the odd corners of what may pass."""
    pool = st.sampled_from(GOOD_ORIGINS)
    origins = ["*"] if draw(st.integers(0, 4)) == 0 else draw(st.lists(pool, unique=True))
    lines = [f"allow_origins = {_toml_value(origins)}"]
    if origins != ["*"] and (not origins or draw(st.booleans())):
        lines.append(f"allow_origin_regex = {json.dumps(draw(REGEXES))}")
    for key in ("allow_methods", "allow_headers", "expose_headers"):
        lines.append(f"{key} = {_toml_value(draw(st.lists(st.sampled_from(TOKENS), max_size=4)))}")
    lines.append(f"allow_credentials = {str(origins != ['*'] and draw(st.booleans())).lower()}")
    lines.append(f"max_age = {draw(st.integers(0, 7200))}")
    lines.append(f"preflight_status = {draw(st.sampled_from([200, 204]))}")
    lines.append(f"allow_private_network = {str(draw(st.booleans())).lower()}")
    return "\n".join(lines)


@settings(max_examples=15, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(accepted_policies())
def test_accepted_output_loads_in_the_real_servers(text: str) -> None:
    policy = parse_policy(text, "fuzz.toml")
    if any(f.severity == "error" for f in check_policy(policy, "fuzz", "fuzz.toml")):
        event("refused")
        return
    event("accepted")
    plan = build_plan(policy, "fuzz", "fuzz.toml")
    for target in expressible(plan, TARGETS):  # the others refuse it (CG530)
        binary = find_binary(target)
        need_binary(target, binary)
        assert server_check(render(plan, target), target).ok


@pytest.mark.parametrize(
    "source",
    [
        r"https://([a-z]{1,2}){36}\.example\.com",
        "(" * 400 + "a" + ")" * 400,
        r"(((a{999}){999}){999}){999}",
        "https://" + r"[a-z0-9-]+\." * 215 + r"example\.com",
        "|".join(rf"https://t{i}\.example\.com" for i in range(150)),
        r"https://([a-z0-9-]+\.)*(?:a|b|c|d|e|f|g|h){3}" + "x" * 40 + r"\.io",
    ],
)
def test_check_is_bounded_on_the_known_slow_regexes(tmp_path: Path, source: str) -> None:
    policy = tmp_path / "api.toml"
    policy.write_text(f"allow_origins = []\nallow_origin_regex = {json.dumps(source)}\n")
    code, _, err = _run("check", str(policy))
    _assert_clean(code, err)
