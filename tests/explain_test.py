"""`corsgen explain`: the common "why is this blocked" cases, each with the policy key to change.

The expected lines are written by hand from what a browser does; the verdicts come from
corsgen.fetch over what corsgen's output answers (corsgen.promise, which the conformance suite
holds to the real servers' answers). Local Network Access, which only `explain --url` can see (a
policy has no address), is said for a request to an address more private than the page's."""

from __future__ import annotations

import io
import json
import re
import tempfile
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from corsgen.cli import main
from corsgen.explain import local_network_lines

POLICY = """\
allow_origins = ["https://app.example.com", "https://*.example.org"]
allow_methods = ["GET", "POST", "PUT", "PATCH"]
allow_headers = ["X-Request-Id"]
expose_headers = ["ETag"]
allow_credentials = true
"""
ANY = 'allow_origins = ["*"]\n'
ADD_ORIGIN = '  allow_origins: add "{}", or a wildcard or allow_origin_regex matching it'
OPAQUE = (
    "  allow_origins: cannot allow null: every sandboxed frame, data: and file: page sends it "
    "(CG102); serve the page from a real https:// origin and add that"
)


def _explain(tmp_path: Path, text: str, *args: str) -> tuple[int, str, str]:
    path = tmp_path / "api.toml"
    path.write_text(text)
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(["explain", str(path), *args])
    return code, out.getvalue(), err.getvalue()


CASES = [
    # (what is asked, policy, arguments, exit code, lines the output must hold)
    ("allowed", POLICY, ["--origin", "https://app.example.com"], 0, ["allowed"]),
    (
        "credentialed PUT with a listed header",
        POLICY,
        [
            "--origin",
            "https://a.example.org",
            "-X",
            "PUT",
            "--header",
            "X-Request-Id",
            "--credentials",
            "--read",
            "ETag",
        ],
        0,
        [
            "  1. preflight (PUT is not GET, HEAD or POST; X-Request-Id not safelisted): OPTIONS",
            "     every engine and the Fetch standard: passes",
            "  and these headers of it: etag",
            "allowed",
        ],
    ),
    (
        "origin not listed",
        POLICY,
        ["--origin", "https://evil.com"],
        1,
        [
            "     every engine and the Fetch standard: blocks it: no Access-Control-Allow-Origin",
            ADD_ORIGIN.format("https://evil.com"),
        ],
    ),
    (
        "the bare domain of a wildcard",
        POLICY,
        ["--origin", "https://example.org"],
        1,
        [ADD_ORIGIN.format("https://example.org")],
    ),
    (
        "http instead of https",
        POLICY,
        ["--origin", "http://app.example.com"],
        1,
        [ADD_ORIGIN.format("http://app.example.com")],
    ),
    (
        "a port the list does not name",
        POLICY,
        ["--origin", "https://app.example.com:8443"],
        1,
        ["     every engine and the Fetch standard: blocks it: no Access-Control-Allow-Origin"],
    ),
    (
        "a sandboxed or file: page sends null, which no policy may list (CG102)",
        POLICY,
        ["--origin", "null"],
        1,
        [OPAQUE],
    ),
    ("null, with credentials, to *", ANY, ["--origin", "null", "--credentials"], 1, [OPAQUE]),
    (
        "method not allowed",
        POLICY,
        ["--origin", "https://app.example.com", "-X", "DELETE"],
        1,
        [
            "     every engine and the Fetch standard: blocks it: method DELETE not allowed",
            '  allow_methods: add "DELETE"',
        ],
    ),
    (
        "methods are case-sensitive: patch is not PATCH",
        POLICY,
        ["--origin", "https://app.example.com", "-X", "patch"],
        1,
        [
            "  1. preflight (patch is not GET, HEAD or POST): OPTIONS",
            '  allow_methods: add "patch"',
        ],
    ),
    (
        "put is normalised to PUT, as fetch() does",
        POLICY,
        ["--origin", "https://app.example.com", "-X", "put"],
        0,
        ["      Access-Control-Request-Method: PUT", "allowed"],
    ),
    (
        "a custom header",
        POLICY,
        ["--origin", "https://app.example.com", "--header", "X-Tenant: 7"],
        1,
        [
            "     every engine and the Fetch standard: blocks it: header X-Tenant not allowed",
            '  allow_headers: add "X-Tenant"',
        ],
    ),
    (
        "Content-Type: application/json needs a preflight",
        POLICY,
        ["--origin", "https://app.example.com", "-X", "POST", "--header", "Content-Type"],
        1,
        [
            "  1. preflight (Content-Type not safelisted): OPTIONS",
            '  allow_headers: add "Content-Type"',
        ],
    ),
    (
        "a form's Content-Type needs none",
        POLICY,
        [
            "--origin",
            "https://app.example.com",
            "-X",
            "POST",
            "--header",
            "Content-Type: application/x-www-form-urlencoded",
        ],
        0,
        ["  no preflight: a GET, HEAD or POST with safelisted headers only", "allowed"],
    ),
    (
        "Authorization is never covered by a wildcard and must be listed",
        POLICY,
        ["--origin", "https://app.example.com", "--header", "Authorization: Bearer x"],
        1,
        ['  allow_headers: add "Authorization"'],
    ),
    (
        "a header the script reads but may not",
        POLICY,
        ["--origin", "https://app.example.com", "--read", "X-Total-Count"],
        1,
        [
            "  the script cannot read X-Total-Count: it is not in Access-Control-Expose-Headers",
            '  expose_headers: add "X-Total-Count"',
        ],
    ),
    (
        "credentials to a policy without them",
        ANY.replace('["*"]', '["https://app.example.com"]'),
        ["--origin", "https://app.example.com", "--credentials"],
        1,
        [
            "     every engine and the Fetch standard: blocks it: "
            "Access-Control-Allow-Credentials is not exactly true",
            "  allow_credentials: set it to true, or have the page send no credentials",
        ],
    ),
    (
        "credentials to *",
        ANY,
        ["--origin", "https://app.example.com", "--credentials"],
        1,
        [
            '  allow_origins: list "https://app.example.com" instead of "*" and set '
            "allow_credentials = true: a browser never lets a page read a credentialed answer to *"
        ],
    ),
    ("* without credentials", ANY, ["--origin", "https://anyone.example"], 0, ["allowed"]),
    (
        "every blocker at once: the origin, then what the request meets once it is allowed",
        POLICY,
        [
            "--origin",
            "https://evil.com",
            "-X",
            "DELETE",
            "--header",
            "X-Trace",
            "--read",
            "X-Total",
        ],
        1,
        [
            "     every engine and the Fetch standard: blocks it: preflight: no "
            "Access-Control-Allow-Origin",
            "with https://evil.com allowed, corsgen's output answers:",
            "     every engine and the Fetch standard: blocks it: method DELETE not allowed; "
            "header X-Trace not allowed",
            ADD_ORIGIN.format("https://evil.com"),
            '  allow_methods: add "DELETE"',
            '  allow_headers: add "X-Trace"',
            '  expose_headers: add "X-Total"',
        ],
    ),
    (
        "every refused header on one line",
        POLICY,
        ["--origin", "https://app.example.com", "--header", "X-A", "--header", "x-b"],
        1,
        ['  allow_headers: add "X-A", "x-b"'],
    ),
    (
        "credentials refused, and the method too",
        POLICY.replace("allow_credentials = true", "allow_credentials = false"),
        ["--origin", "https://app.example.com", "-X", "DELETE", "--credentials"],
        1,
        [
            "     every engine and the Fetch standard: blocks it: preflight: "
            "Access-Control-Allow-Credentials is not exactly true; method DELETE not allowed",
            "  allow_credentials: set it to true, or have the page send no credentials",
            '  allow_methods: add "DELETE"',
        ],
    ),
    (
        "Authorization under *: the engines let it through, the standard does not",
        ANY + 'allow_headers = ["*"]\n',
        ["--origin", "https://app.example.com", "--header", "Authorization: Bearer x"],
        1,
        [
            "     the Fetch standard: blocks it: Authorization must be listed",
            "     all three engines: passes",
            "  2. request, once the preflight passes: GET",
            "all three engines allow this today; the Fetch standard does not, and Chromium and "
            "Firefox can be switched to it",
            "  Chromium: --enable-features=CorsNonWildcardRequestHeadersSupport",
            "  Firefox: network.cors_preflight.authorization_covered_by_wildcard = false",
            '  allow_headers: add "Authorization"',
        ],
    ),
    (
        "a Max-Age each engine caps its own way",
        POLICY + "max_age = 9000\n",
        ["--origin", "https://app.example.com", "-X", "PUT"],
        0,
        [
            "     cached: Max-Age 9000 is capped: the preflight is kept 600 s in WebKit, "
            "7,200 s in Chromium, 9,000 s in Firefox",
            "allowed",
        ],
    ),
    (
        "Authorization listed beside *: every engine and the standard",
        ANY + 'allow_headers = ["*", "Authorization"]\n',
        ["--origin", "https://app.example.com", "--header", "Authorization: Bearer x"],
        0,
        ["     every engine and the Fetch standard: passes", "allowed"],
    ),
]


@pytest.mark.parametrize(
    ("policy", "args", "code", "expected"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_explain(
    tmp_path: Path, policy: str, args: list[str], code: int, expected: list[str]
) -> None:
    got, out, err = _explain(tmp_path, policy, *args)
    lines = out.splitlines()
    for line in expected:
        assert line in lines, f"{line!r} not in:\n{out}{err}"
    assert got == code, out + err
    assert ("allowed" in lines) is (code == 0)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--origin", "https://app.example.com/"], "has a trailing slash"),
        (["--origin", "app.example.com"], "--origin"),
        (["--origin", "https://app.example.com", "-X", "TRACE"], "fetch() refuses TRACE"),
        (["--origin", "https://app.example.com", "--header", "X Y: 1"], "is not a header name"),
        ([], "Missing option '--origin'"),
    ],
)
def test_usage_errors_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    code, _, err = _explain(tmp_path, POLICY, *args)
    assert code == 2
    assert message in err
    assert "Traceback" not in err


def test_the_origin_is_written_as_a_browser_sends_it(tmp_path: Path) -> None:
    code, out, _ = _explain(tmp_path, POLICY, "--origin", "HTTPS://App.Example.COM:443")
    assert code == 0
    assert "      Origin: https://app.example.com" in out.splitlines()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--header", "Cookie: a=b"], "fetch() drops Cookie: the browser sets it itself"),
        (["--header", "Sec-Fetch-Mode: cors"], "fetch() drops Sec-Fetch-Mode"),
        (["--header", "X(A): 1"], "is not a header name: fetch() throws"),
        (["--header", "X-A: \udc85b"], "not a header value"),
        (["--read", "Set-Cookie"], "a script can never read Set-Cookie"),
        (["--read", "X Y"], "is not a header name"),
        (["-X", "GE T"], "is not a method: fetch() throws"),
        (["-X", ""], "is not a method"),
        (["--origin", "file:///x"], "page sends Origin null"),
    ],
)
def test_what_fetch_refuses_is_a_usage_error(tmp_path: Path, args: list[str], message: str) -> None:
    origin = [] if "--origin" in args else ["--origin", "https://app.example.com"]
    code, _, err = _explain(tmp_path, POLICY, *origin, *args)
    assert code == 2
    assert message in err
    assert "Traceback" not in err


def test_a_long_origin_is_clipped(tmp_path: Path) -> None:
    code, _, err = _explain(tmp_path, POLICY, "--origin", "https://" + "a" * 10_000 + "/")
    assert code == 2
    assert len(err) < 1000


def test_a_scripts_own_options_request_is_not_labelled_a_preflight(tmp_path: Path) -> None:
    policy = 'allow_origins = ["https://app.example.com"]\nallow_methods = ["GET", "OPTIONS"]\n'
    code, out, _ = _explain(
        tmp_path, policy, "--origin", "https://app.example.com", "-X", "OPTIONS"
    )
    assert code == 0
    lines = out.splitlines()
    assert "  1. preflight (OPTIONS is not GET, HEAD or POST): OPTIONS" in lines
    assert "  2. request: OPTIONS" in lines


LOOPBACK_LINES = [
    "Local Network Access: http://127.0.0.1:8080 is a loopback address, more private than the "
    "page's, so Chromium and Firefox ask the user first (Chrome 142 and later, Firefox ESR 153):",
    "  the page needs the user's loopback-network permission (a prompt); refused or dismissed, "
    "the request fails before CORS is asked, whatever the server answers",
    '  fetch(url, {targetAddressSpace: "loopback"}) says so in advance',
    '  from a cross-origin iframe, only when the embedding page delegates it: allow="loopback-'
    'network" (the Permissions-Policy loopback-network; Chrome 142 named it local-network-access)',
    "  no Local Network Access in WebKit yet: CORS alone decides there; "
    "Access-Control-Allow-Private-Network plays no part in any of them",
]


@pytest.mark.parametrize("origin", ["https://app.example.com", "null"])
def test_local_network_access_in_full(origin: str) -> None:
    assert local_network_lines("http://127.0.0.1:8080", origin) == LOOPBACK_LINES


@pytest.mark.parametrize(
    ("url", "origin", "said"),
    [
        ("http://localhost:8080", "https://app.example.com", ["loopback-network"]),
        ("http://[::1]:8080", "https://app.example.com", ["loopback-network"]),
        # A private address: the permission is local-network, and an https:// page needs
        # targetAddressSpace to reach plain http:// there at all.
        ("http://192.168.1.20", "https://app.example.com", ["local-network", "mixed content"]),
        ("https://10.0.0.7", "https://app.example.com", ["local-network"]),
        # From a plain http:// page on a public name, Chrome refuses without asking (Firefox asks).
        ("http://10.0.0.7", "http://app.example.com", ["local-network", "secure contexts only"]),
        # Not more private than the page, or a name: nothing to say.
        ("http://127.0.0.1:8080", "http://localhost:3000", []),
        ("http://10.0.0.7", "http://192.168.1.5", []),
        ("https://api.example.com", "https://app.example.com", []),
    ],
)
def test_local_network_access_is_said_for_a_more_private_address(
    url: str, origin: str, said: list[str]
) -> None:
    told = "\n".join(local_network_lines(url, origin))
    assert [word for word in said if word in told] == said, told
    assert bool(told) is bool(said)
    assert ("secure contexts" in told) is ("secure contexts only" in said)


def test_the_issues_example_says_every_change_in_one_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 25: explain said add PATCH and stopped; once PATCH was added, X-Trace blocked it."""
    monkeypatch.chdir(tmp_path)
    assert main(["init"]) == 0
    args = ["--origin", "https://app.example.com", "-X", "PATCH", "--header", "X-Trace"]
    code, out, _ = _explain(
        tmp_path, (tmp_path / "cors/api.toml").read_text(), *args, "--credentials"
    )
    assert code == 1
    assert out.splitlines()[-3:] == [
        f"blocked; to allow it, change {tmp_path / 'api.toml'}:",
        '  allow_methods: add "PATCH"',
        '  allow_headers: add "X-Trace"',
    ]


def test_the_engines_are_named_from_corsgen_fetch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sentence is made from ENGINES: were WebKit switchable, it would say so."""
    from dataclasses import replace

    from corsgen.fetch import ENGINES

    monkeypatch.setitem(ENGINES, "webkit", replace(ENGINES["webkit"], strict_authorization="a"))
    policy = ANY + 'allow_headers = ["*"]\n'
    _, out, _ = _explain(
        tmp_path, policy, "--origin", "https://a.example", "--header", "Authorization"
    )
    assert (
        "all three engines allow this today; the Fetch standard does not, and all three engines "
        "can be switched to it"
    ) in out.splitlines()
    assert "  WebKit: a" in out.splitlines()


# The fix lines as a user applies them, read by hand: the key, and the values it names.
_QUOTED = re.compile(r'"([^"]*)"')


def _apply(policy: dict[str, object], fix: str) -> None:
    key, _, said = fix.strip().partition(": ")
    for how in said.split("; "):
        named = _QUOTED.findall(how)
        if key == "allow_credentials":
            policy[key] = True
        elif how.startswith("list "):  # credentials to *: the page's origin instead of *
            policy["allow_origins"] = [named[0] if o == "*" else o for o in _list(policy, key)]
            policy["allow_credentials"] = True
        elif how.startswith('remove "*"'):
            policy[key] = [v for v in _list(policy, key) if v != "*"]
        else:
            assert how.startswith("add "), fix
            policy[key] = [*_list(policy, key), *(named[:1] if key == "allow_origins" else named)]


def _list(policy: dict[str, object], key: str) -> list[str]:
    value = policy.get(key, [])
    assert isinstance(value, list)
    return value


def _toml(policy: dict[str, object]) -> str:
    return "".join(f"{key} = {json.dumps(value)}\n" for key, value in policy.items())


def _subset(*values: str) -> st.SearchStrategy[list[str]]:
    return st.lists(st.sampled_from(values), unique=True)


POLICIES = st.fixed_dictionaries(
    {
        "allow_origins": st.lists(
            st.sampled_from(["https://app.example.com", "https://*.example.org", "*"]),
            min_size=1,
            unique=True,
        ),
        "allow_methods": _subset("GET", "POST", "PUT", "PATCH", "*"),
        "allow_headers": _subset("Content-Type", "X-A", "Authorization", "*"),
        "expose_headers": _subset("ETag", "X-B"),
        "allow_credentials": st.booleans(),
    }
)
REQUESTS = st.tuples(
    st.sampled_from(["https://app.example.com", "https://b.example.org", "https://evil.com"]),
    st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "patch"]),
    _subset("X-A", "X-C", "Authorization", "Content-Type"),
    st.booleans(),
    _subset("ETag", "X-B", "X-C"),
)


@settings(max_examples=300, deadline=None)
@given(POLICIES, REQUESTS)
def test_after_every_fix_explain_says_allowed(
    policy: dict[str, object], request: tuple[str, str, list[str], bool, list[str]]
) -> None:
    """The proof that explain names every key to change: apply them all, and it is allowed."""
    origin, method, headers, credentials, reads = request
    args = ["--origin", origin, "-X", method, *(f"--header={h}" for h in headers)]
    args += ["--credentials"] * credentials + [f"--read={name}" for name in reads]
    with tempfile.TemporaryDirectory() as where:
        code, out, err = _explain(Path(where), _toml(policy), *args)
        assume(code != 2 and "error" not in err)  # a policy check refuses: not a request's case
        if code == 1:
            fixes = out.split(":\n")[-1].splitlines()
            assert fixes, out
            for fix in fixes:
                _apply(policy, fix)
            code, again, err = _explain(Path(where), _toml(policy), *args)
            assert code == 0, f"{out}\n{_toml(policy)}\n{again}{err}"
