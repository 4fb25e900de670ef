"""The HAProxy routing model held to the real haproxy, config by config of the corpus.

Each config of tests/audit/corpus/haproxy/ (a file, or a directory whose haproxy.cfg is loaded
after its other files, as targets/haproxy_serving.py loads corsgen's) is served by haproxy on a
free port, "${PORT}", in front of testing/upstream.py, "${UPSTREAM}"; every request of the set
goes to both, and what a browser or the audit sees of each answer (status, CORS headers, Vary's
origin token, routing.SECRET_HEADER) must be the same. A difference fails as one table per config.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from corsgen.probe.battery import scan
from corsgen.routing import SECRET_HEADER, Asked, Granted, Place, Routes, Scope
from corsgen.targets.haproxy import TARGET
from corsgen.targets.haproxy_routing import load
from corsgen.targets.haproxy_serving import loading
from testing.binaries import need_binary
from testing.client import send
from testing.corpus import Served, haproxy_files, haproxy_served
from testing.paths import ROOT
from testing.policies import plan_of
from testing.processes import free_port, process
from testing.servers import Endpoint
from testing.upstream import OWN_CORS, Upstream, answer

CORPUS = Path(__file__).parent / "corpus" / "haproxy"
CASES = sorted(p.name for p in CORPUS.iterdir())
ALLOWED, REFUSED = "https://app.example.com", "https://other.example.org"
HOSTILE = "https://app.example.com.evil.com"
API = "api.example.com"  # the Host of a site that config routes by Host
PREFLIGHT = (("Access-Control-Request-Method", "PUT"), ("Access-Control-Request-Headers", "x-a"))
# (what it stands for, method, headers): each sent to every path.
REQUESTS: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...] = (
    ("allowed", "GET", (("Origin", ALLOWED),)),
    ("refused", "GET", (("Origin", REFUSED),)),
    ("hostile", "GET", (("Origin", HOSTILE),)),
    ("no Origin", "GET", ()),
    ("two origins in one", "GET", (("Origin", f"{REFUSED}, {ALLOWED}"),)),
    ("preflight", "OPTIONS", (("Origin", ALLOWED), *PREFLIGHT)),
    ("hostile preflight", "OPTIONS", (("Origin", HOSTILE), *PREFLIGHT)),
    ("long host", "GET", (("Origin", f"https://{'a' * 40}.corsgen-evil.com"),)),
    ("allowed, API host", "GET", (("Host", API), ("Origin", ALLOWED))),
    ("hostile, API host", "GET", (("Host", API), ("Origin", "https://evilexample.com"))),
    ("preflight, API host", "OPTIONS", (("Host", API), ("Origin", ALLOWED), *PREFLIGHT)),
)
# The upstream's statuses, its own CORS headers and its secret, and the paths the corpus gives a
# meaning: auth, a backend with no server, a deny, a redirect, a prefix the config strips, one let
# through.
PATHS = (
    *("/ok", "/error", "/own-cors", "/admin/ok", "/api/ok", "/api/admin/ok", "/nowhere/ok"),
    *("/blocked/ok", "/api/blocked/ok", "/old/ok", "/api/own-cors", "/public/admin/ok"),
    *("/secret", "/api/secret"),  # the upstream's routing.SECRET_HEADER
)
CORS = [name for name, _ in OWN_CORS]
SHOWN = [*CORS, SECRET_HEADER]
# Configs that pin one piece of HAProxy's semantics each, beyond what the corpus shows, after HEAD.
HEAD = """
defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s
backend app
    server app "127.0.0.1:${UPSTREAM}"
frontend web
    bind "127.0.0.1:${PORT}"
    default_backend app
"""
SEMANTICS = {
    # A response rule's ACL on the request (req.hdr, path) never matches: haproxy -c only warns.
    "phase-blind ACLs": """
    acl has_origin req.hdr(origin) -m found
    http-response set-header Access-Control-Allow-Origin * if { req.hdr(origin) -m found }
    http-response set-header Access-Control-Allow-Methods GET if !has_origin
    http-after-response set-header Access-Control-Max-Age 5 unless { path_beg /ok }
""",
    # Several lines of one ACL are alternatives; -i; the keyword forms of the match methods.
    "match methods": """
    acl ok hdr_beg(origin) -i HTTPS://APP.
    acl ok hdr_reg(origin) ^https://[a-z]+\\.example\\.org$
    acl many req.hdr_cnt(origin) gt 0
    acl short req.hdr(origin) -m len le 24
    acl sub hdr_sub(origin) evil
    http-request set-var(txn.o) req.hdr(origin),lower if ok many
    acl o var(txn.o) -m found
    http-after-response set-header Access-Control-Allow-Origin %[var(txn.o)] if o
    http-after-response set-header Access-Control-Allow-Credentials true if short !sub
    http-after-response set-header Access-Control-Expose-Headers %[res.hdr(etag)] if { status 200 }
""",
    # Request header edits are seen by the rules below them; allow ends only its section's rules.
    "edits and allow": """
    http-request del-header origin if { path_beg /admin/ }
    http-request set-header Origin https://set.example if { path_beg /api/ }
    http-request set-var(txn.o) req.hdr(origin)
    http-request allow if { path_beg /api/admin/ }
    http-request deny deny_status 429 if { path_beg /api/ }
    http-response deny if { status 500 }
    http-after-response set-header Access-Control-Allow-Origin %[var(txn.o)]
""",
    # Redirects (http-request's and the redirect line), a response rule's return, unset-var,
    # set-status and allow in http-after-response.
    "redirects and returns": """
    http-request set-var(txn.o) req.hdr(origin)
    http-request unset-var(txn.o) if { path_beg /api/ }
    http-request redirect scheme https code 301 if { path_beg /old/ }
    http-request redirect location /new/%[var(txn.o)] if { path_beg /nowhere/ }
    redirect prefix /v2 code 307 if { path_beg /blocked/ }
    http-response return status 502 hdr Access-Control-Allow-Origin "*" if { status 500 }
    http-response set-header Access-Control-Expose-Headers ETag
    http-after-response set-status 299 if { status 404 }
    http-after-response allow if { status 301 }
    acl o var(txn.o) -m len gt 0
    http-after-response set-header Access-Control-Allow-Origin %[var(txn.o)] if o
""",
    # A regex that backtracks without end on a long host: PCRE2's match limit fails the match.
    "backtracking regex": """
    acl ok req.hdr(origin) -m reg ^(https?://)?([a-z0-9]+\\.?)+example\\.com$
    http-request set-var(txn.o) req.hdr(origin) if ok
    http-after-response set-header Access-Control-Allow-Origin %[var(txn.o)]
""",
    # Error pages of the config's own: http-error (its values read as the error happens) and
    # errorloc, for the deny of a frontend and the 503 of a backend with no server.
    "http-error and errorloc": """
    http-error status 503 hdr Access-Control-Allow-Origin "%[var(txn.o)]" content-type t string {}
    http-error status 403 hdr Access-Control-Allow-Origin "%[req.hdr(origin)]"
    errorloc 429 /slow-down
    http-request set-var(txn.o) req.hdr(origin)
    http-request deny if { path_beg /blocked/ }
    http-request deny deny_status 429 if { path_beg /api/blocked/ }
    use_backend nowhere if { path_beg /nowhere/ }
backend nowhere
    http-error status 503 hdr Access-Control-Max-Age 7
""",
    # HAProxy's own pages: monitor-uri before every rule (the whole URI), the statistics after
    # the http-request rules (a prefix), before the backend switch, behind its own auth.
    "monitor and stats": """
    monitor-uri /ok
    stats uri /admin/
    stats auth admin:s3cret
    stats realm Stats
    http-request deny deny_status 429 if { path /ok } || { path_beg /public/ }
    http-after-response set-header Access-Control-Allow-Origin %[var(txn.o)]
    http-request set-var(txn.o) req.hdr(origin)
""",
}
_EXPECT = re.compile(r"^\s*# expect-next: (.+)$")


def files(case: str, root: Path) -> list[Path]:
    """The files of a case in haproxy's -f order; a semantics case written in `root`."""
    if case in SEMANTICS:
        (root / "semantics").mkdir(exist_ok=True)
        (root / "semantics" / "haproxy.cfg").write_text(HEAD + SEMANTICS[case])
        return [root / "semantics" / "haproxy.cfg"]
    return haproxy_files(CORPUS / case)


def seen(status: int, headers: Sequence[tuple[str, str]]) -> tuple[str, ...]:
    """An answer as the table shows it: status, each CORS header's values, Vary's origin tokens."""
    cells = [str(status)]
    for name in SHOWN:
        values = [v for n, v in headers if n.lower() == name.lower()]
        cells.append(" + ".join(repr(v) for v in values) if values else "-")
    vary = [t.strip().lower() for n, v in headers if n.lower() == "vary" for t in v.split(",")]
    cells.append(str(vary.count("origin")))
    return tuple(cells)


@pytest.fixture
def served(
    upstream: Upstream, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[str, Served]]:
    """haproxy on a case's files on a free port, and the model of the same files."""
    case: str = request.param
    with haproxy_served(files(case, tmp_path), tmp_path, upstream.port) as served:
        yield case, served


# A request: what it stands for, method, path, headers.
Request = tuple[str, str, str, tuple[tuple[str, str], ...]]
# The request set on every path, and the scanners' hostile origins (probe's scan battery, as the
# audit sends it) on a path the upstream answers and one it fails.
SET: list[Request] = [(w, m, p, h) for p in PATHS for w, m, h in REQUESTS]
SCAN: list[Request] = [
    (probe.note or probe.purpose, probe.method, probe.path, probe.headers)
    for probe in scan(ALLOWED, ("/ok",), ("/error",)).probes
]


@pytest.mark.parametrize("served", [*CASES, *SEMANTICS], indirect=True)
def test_model_answers_as_haproxy(served: tuple[str, Served]) -> None:
    case, server = served
    _same(case, server.routes, server.ports[0])


def _same(case: str, routes: Routes, port: int) -> None:
    """Every request of the set and the scan, to haproxy on `port` and to the model: one table
    of what differs."""
    differ = []
    for what, method, path, headers in [*SET, *SCAN]:
        real = send(Endpoint(port), method, path, headers)
        asked = Asked(f"127.0.0.1:{port}", method, path, headers, port)
        predicted = routes.answer(asked, answer)
        mine, theirs = seen(predicted.status, predicted.pairs()), seen(real.status, real.headers)
        if mine != theirs:
            origin = dict(headers).get("Origin", "no Origin")
            differ.append((f"{method} {path} ({what}, {origin})", mine, theirs))
    columns = ["status", *SHOWN, "Vary: Origin"]
    table = [f"{case}: the model differs from haproxy"]
    for request, mine, theirs in differ:
        table.append(f"  {request}")
        for column, m, t in zip(columns, mine, theirs, strict=True):
            if m != t:
                table.append(f"    {column}: model {m}, haproxy {t}")
    assert not differ, "\n".join(table)


# The scopes import writes a policy back to (HAProxy.in_place), each kind of context it writes:
# the frontend `from` corsgen's section, or a backend that is, chosen on a host and paths.
IN_PLACE = [
    Scope(Place("haproxy.cfg", 1), "", ("/",), "frontend web"),
    Scope(Place("haproxy.cfg", 1), "", ("/",), "listen api"),
    Scope(Place("haproxy.cfg", 1), "", ("/api/", "/admin/"), "frontend web"),
    Scope(Place("haproxy.cfg", 1), API, ("/api/",), "backend api"),
]


@pytest.mark.parametrize("scope", IN_PLACE, ids=lambda s: f"{s.title} {s.host} {s.paths}")
def test_in_place_answers_as_the_model_says(
    scope: Scope, upstream: Upstream, tmp_path: Path
) -> None:
    """What import reads with the model to find its changes, served by haproxy: the same answers,
    on the scope's host and paths and beside them."""
    port = free_port()
    plan = plan_of(
        'allow_origins = ["https://app.example.com"]\nallow_credentials = true\n'
        'allow_methods = ["GET", "PUT"]\nallow_headers = ["X-A"]\n'
    )
    written = TARGET.in_place(scope, plan, tmp_path, f"127.0.0.1:{upstream.port}", port)
    assert written is not None
    binary = TARGET.find_binary()
    need_binary("haproxy", binary)
    assert binary is not None
    model = load(written)
    with process(loading(binary, written), tmp_path, [port]):
        _same(f"{scope.title} on {scope.host or 'any host'} {scope.paths}", model, port)
    # The policy where the scope was, and only there: on its host and under its paths.
    origin = (("Origin", ALLOWED),)
    for host, path in [(h, p) for h in ("elsewhere.example", API) for p in ("/api/ok", "/ok")]:
        answered = model.answer(Asked(host, "GET", path, origin, port), answer)
        ours = host == (scope.host or host) and path.startswith(scope.paths)
        assert (("Access-Control-Allow-Origin", ALLOWED) in answered.pairs()) == ours, (host, path)


@pytest.mark.parametrize("case", CASES)
def test_every_planted_flaw_is_a_line_the_model_names(case: str, tmp_path: Path) -> None:
    """Each `# expect-next` marks a line the model attributes an answer to (a header it sent,
    the answer it made, the auth it ran) or an origin regex it imports: where the audit will
    report it."""
    paths = files(case, tmp_path)
    model = load(paths, {"PORT": "1", "UPSTREAM": "9"})
    named: set[Place] = set()
    for path in PATHS:
        for _, method, headers in REQUESTS:
            answered = model.answer(Asked("127.0.0.1", method, path, headers, 1), answer)
            named |= {sent.at for sent in answered.headers if sent.at is not None}
            named |= {answered.by} | ({answered.auth} if answered.auth else set())
    for scope in model.scopes():
        named |= {regex.at for regex in scope.granted.regexes} if scope.granted else set()
    planted = []
    for file in paths:
        lines = file.read_text().splitlines()
        for number, line in enumerate(lines, start=1):
            if _EXPECT.match(line):
                planted.append(Place(str(file), number + 1))
    unnamed = [str(place) for place in planted if place not in named]
    assert not unnamed, f"planted flaws at lines the model attributes nothing to: {unnamed}"


@pytest.mark.parametrize("case", [c for c in CASES if c.startswith("corsgen-")])
def test_corsgen_output_in_the_corpus_is_current(case: str) -> None:
    golden = ROOT / "tests" / "goldens" / "spa-api" / "haproxy" / "spa_api.cfg"
    assert (CORPUS / case / "spa_api.cfg").read_text() == golden.read_text(), (
        f"copy {golden} to {CORPUS / case} (the goldens were regenerated)"
    )


def test_haproxy_claims_its_configs_and_no_other_servers() -> None:
    goldens = ROOT / "tests" / "goldens" / "spa-api"
    for path in [*CORPUS.rglob("*.cfg"), goldens / "haproxy" / "spa_api.cfg"]:
        assert TARGET.claims(path.read_text()), path
        assert TARGET.claims(path.read_text().replace("\n", "\r\n")), path
    others = [p for p in goldens.rglob("*") if p.is_file() and p.parent.name != "haproxy"]
    assert others
    for path in others:
        assert not TARGET.claims(path.read_text()), path


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("    http-request lua.cors GET,PUT app.example.com *", "http-request lua.cors"),
        ("    http-request return status 204 if preflight", "no such ACL: 'preflight'"),
        ("    http-request set-header X %[src]", "the fetch src is not modeled"),
        ("    http-response set-header X %[req.hdr(origin)]", "req.hdr cannot be fetched"),
        ("    http-request deny deny_status 418", "no error answer for 418"),
        ("    use_backend %[req.hdr(host),lower]", "a backend named by a sample"),
        ("    rspadd Access-Control-Allow-Origin:\\ *", "rspadd was removed in HAProxy 2.1"),
        ("    http-request set-var(txn.o) req.hdr(origin),map(none.map)", "cannot read none.map"),
    ],
)
def test_what_the_model_cannot_follow_is_cg401_at_its_line(
    line: str, why: str, tmp_path: Path
) -> None:
    config = tmp_path / "haproxy.cfg"
    config.write_text(HEAD + line + "\n")
    loaded = TARGET.routes([config])
    assert loaded.routes is None
    (found,) = loaded.findings
    assert (found.rule_id, found.line) == ("CG401", HEAD.count("\n") + 1)
    assert why in found.message


def test_routes_reads_corsgen_output_and_the_config_that_takes_it() -> None:
    loaded = TARGET.routes(files("corsgen-frontend", CORPUS))
    assert loaded.routes is not None and not loaded.findings
    (scope,) = loaded.routes.scopes()
    assert (scope.title, scope.policy) == ("frontend web", "spa_api")
    # Without --policy the scope is held to what the snippet's own lines grant, at their lines.
    snippet = str(CORPUS / "corsgen-frontend" / "spa_api.cfg")
    assert scope.granted is not None
    assert scope.granted.origins == (ALLOWED, "https://admin.example.com")
    assert (scope.granted.credentials, scope.granted.regexes) == (True, ())
    assert {at.file for at in scope.granted.at.values()} == {snippet}


# What scopes() reads each hand-written config to grant: (case, title, host, what it grants).
GRANTS = [
    (
        "correct-allowlist.cfg",
        "frontend web",
        "",
        Granted(
            origins=(ALLOWED, "https://admin.example.com"),
            credentials=True,
            methods=("GET", "POST", "PUT", "DELETE"),
            headers=("Content-Type", "Authorization"),
            max_age=600,
            preflight_status=204,
        ),
    ),
    ("reflect-origin.cfg", "frontend web", "", Granted(reflects=True, credentials=True)),
    (
        "wildcard-credentials.cfg",
        "frontend web",
        "",
        Granted(any_origin=True, credentials=True, headers=("*",), max_age=1728000),
    ),
    ("vhosts.cfg", "backend api", API, Granted(methods=("GET", "POST", "PUT"))),
]
# One origin sent whatever the Origin: only it reads (imported nothing once, "none of the origins").
STATIC = """defaults
    mode http
frontend web
    bind 127.0.0.1:8080
    http-request return status 200
    http-after-response set-header Access-Control-Allow-Origin https://app.example.com
    http-after-response set-header Access-Control-Allow-Credentials true
"""


def test_a_static_origin_is_granted(tmp_path: Path) -> None:
    config = tmp_path / "haproxy.cfg"
    config.write_text(STATIC)
    (scope,) = load([config], {}).scopes()
    assert scope.granted is not None
    assert (scope.granted.origins, scope.granted.credentials) == ((ALLOWED,), True)


@pytest.mark.parametrize(("case", "title", "host", "granted"), GRANTS)
def test_scopes_grant_what_the_model_answers(
    case: str, title: str, host: str, granted: Granted, tmp_path: Path
) -> None:
    model = load(files(case, tmp_path), {"PORT": "1"})
    (scope,) = [s for s in model.scopes() if s.title == title]
    assert (scope.host, scope.policy) == (host, None)
    assert scope.granted is not None
    keys: tuple[str, ...] = ("origins", "any_origin", "reflects", "credentials", "headers")
    keys += ("max_age",)
    keys += ("preflight_status",) if granted.preflight_status else ()
    for key in keys:
        assert getattr(scope.granted, key) == getattr(granted, key), key
    if granted.methods:
        assert scope.granted.methods == granted.methods


def test_scopes_name_the_line_of_each_key() -> None:
    model = load([CORPUS / "correct-allowlist.cfg"], {})
    (scope,) = model.scopes()
    assert scope.granted is not None
    lines = {key: place.line for key, place in scope.granted.at.items()}
    assert lines == {
        "allow_origins": 28,
        "allow_credentials": 29,
        "allow_methods": 30,
        "allow_headers": 31,
        "max_age": 32,
        "preflight_status": 17,
    }


def test_an_origin_test_is_imported_as_the_regex_it_is() -> None:
    model = load([CORPUS / "suffix-match.cfg"], {})
    (scope,) = model.scopes()
    assert scope.granted is not None
    (regex,) = scope.granted.regexes
    assert (regex.source, regex.at.line, regex.ignore_case) == ("example\\.com$", 13, True)


def test_a_backend_reached_twice_alike_is_one_scope(tmp_path: Path) -> None:
    """use_backend on a Host regex (read as any host) and default_backend: the same paths of
    any host, one scope (import wrote site_api.toml and site_api_2.toml for it)."""
    config = tmp_path / "haproxy.cfg"
    config.write_text(
        "defaults\n    mode http\nfrontend web\n    bind 127.0.0.1:8080\n"
        "    acl api hdr(host) -m reg ^api[0-9]+\\.example\\.com$\n"
        "    use_backend api if api\n    default_backend api\nbackend api\n"
        "    http-after-response set-header Access-Control-Allow-Origin *\n"
        "    server s 127.0.0.1:9000\n"
    )
    assert [s.title for s in load([config], {}).scopes()] == ["backend api"]
