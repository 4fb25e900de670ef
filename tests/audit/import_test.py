"""`corsgen import` on scripted models: the policy written states what the config grants, passes
`corsgen check`, promises the answers the config gives where they are safe, never widens, and
names what rendering it changes."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from corsgen.audit.granted import policy_name
from corsgen.cli import main
from corsgen.fetch import header_value
from corsgen.importing import (
    Policy,
    checked_plan,
    imported,
    left_out,
    where,
    write_policies,
)
from corsgen.probe import battery
from corsgen.promise import promised_answer
from corsgen.routing import Asked, OriginRegex, Place, Scope
from testing.fake_routes import FILE, LINES, Block, Cors, FakeConfig

GOOD = Cors(
    LINES,
    origins=("https://app.example.com", "https://admin.example.com"),
    credentials=True,
    methods=("GET", "PUT"),
    headers=("X-Token",),
    max_age=600,
)
ROOT = Block(1, "/")
LOOSE = OriginRegex(r"example\.com", Place(FILE, 4), "pcre", False)
PREFIX = OriginRegex(r"^https://app\.example\.com", Place(FILE, 4), "pcre", False)
# A list written as a regex, with plain http and no end anchor (as enable-cors.org's if).
NAMED = OriginRegex(r"^https?://app\.example\.com", Place(FILE, 4), "pcre", True)
# Two origins by one regex (SetEnvIf Origin's, a map's ~).
EITHER = OriginRegex(r"^https://(app|admin)\.example\.com$", Place(FILE, 4), "pcre", False)
# Two alternatives, one listed (its dots read as dots), one corsgen proves: each kept its way.
EITHER = OriginRegex(
    r"^https://(app|admin).example.com$|^http://localhost:[0-9]+$", Place(FILE, 4), "pcre", False
)
# The most common slip: a dot unescaped, no anchors (an HAProxy ACL or nginx map from a Q&A site).
DOTTED = OriginRegex(r"https://(www\.)?app\.example.com", Place(FILE, 4), "pcre", False)
CORS = ("access-control-allow-origin", "access-control-allow-credentials",
        "access-control-allow-methods", "access-control-allow-headers",
        "access-control-max-age")  # fmt: skip


def one(cors: Cors, tmp_path: Path) -> tuple[FakeConfig, Policy]:
    model = FakeConfig([ROOT, Block(3, "/api/v1/", cors=cors)])
    (policy,) = imported(model, tmp_path)
    return model, policy


def probes(policy: Policy) -> list[battery.Probe]:
    plan = checked_plan(policy.text, "api.toml")
    scanned = battery.scan("https://app.example.com", ["/api/v1/data"], ["/api/v1/x"]).probes
    return [*battery.conformance(plan, ["/api/v1/data"], ["/api/v1/x"]).probes, *scanned]


def cors(pairs: tuple[tuple[str, str], ...] | list[tuple[str, str]]) -> set[tuple[str, str]]:
    return {(n.lower(), v) for n, v in pairs if n.lower() in CORS}


def test_a_correct_config_round_trips(tmp_path: Path) -> None:
    model, policy = one(GOOD, tmp_path)
    assert policy.path == tmp_path / "api_api_v1.toml" and policy.dropped == []
    assert policy.changes == []
    plan = checked_plan(policy.text, "api.toml")
    # Every request the battery sends: the policy promises the CORS headers the config sends.
    for probe in probes(policy):
        asked = Asked("api.example.com", probe.method, probe.path, probe.headers)
        old = model.answer(asked).pairs()
        _, new = promised_answer(plan, probe.method, probe.headers)
        assert cors(new) == cors(old), probe


def test_each_key_names_the_line_it_came_from(tmp_path: Path) -> None:
    _, policy = one(GOOD, tmp_path)
    lines = policy.text.splitlines()
    for key, line in (("allow_origins", 5), ("allow_credentials", 6), ("max_age", 9)):
        at = next(i for i, text in enumerate(lines) if text.startswith(f"{key} = "))
        assert lines[at - 1] == f"# from {FILE}:{line}"
    assert lines[0].startswith(f"# Imported by `corsgen import` from location /api/v1/ at {FILE}:3")


def test_the_written_policy_passes_check(tmp_path: Path) -> None:
    _, policy = one(replace(GOOD, max_age=1_728_000), tmp_path)
    write_policies([policy], [])
    assert policy.path is not None and main(["check", str(policy.path)]) == 0


def test_private_network_is_imported_as_the_config_sends_it_and_check_warns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """What the config does today is imported, Allow-Private-Network too; the policy's check
    then says it is obsolete (CG207), as it says of any policy that keeps the key."""
    _, policy = one(replace(GOOD, private_network=True), tmp_path)
    assert "allow_private_network = true" in policy.text.splitlines()
    write_policies([policy], [])
    capsys.readouterr()
    assert policy.path is not None and main(["check", str(policy.path)]) == 0
    assert "warning CG207 private-network-retired" in capsys.readouterr().err


# (flaw, the grant, what the policy must say, the words of what it drops)
NARROWED = [
    (
        "reflects-with-credentials",
        replace(GOOD, origins=(), reflect=True),
        {"allow_origins": '["*"]', "allow_credentials": "false"},
        "allow_credentials: the config sends any Origin back with credentials",
    ),
    (
        "star-with-credentials",
        replace(GOOD, origins=(), star=True),
        {"allow_origins": '["*"]', "allow_credentials": "false"},
        "allow_credentials: the config sends * with credentials",
    ),
    (
        "unanchored-regex",
        replace(GOOD, origins=(), regex=PREFIX),
        {"allow_origin_regex": '"https://app\\\\.example\\\\.com"'},
        "is anchored at both ends",
    ),
    (
        "loose-regex",
        replace(GOOD, regex=LOOSE),
        {"allow_origins": '["https://app.example.com", "https://admin.example.com"]'},
        "is dropped: corsgen cannot prove",
    ),
    (
        "regex-naming-its-origins",
        replace(GOOD, origins=(), regex=NAMED),
        {"allow_origins": '["http://app.example.com", "https://app.example.com"]'},
        "is replaced by the origins it admits anchored at both ends, http://app.example.com, "
        "https://app.example.com: corsgen cannot prove",
    ),
    (
        "regex-with-a-dot-unescaped",
        replace(GOOD, origins=(), regex=DOTTED),
        {"allow_origins": '["https://app.example.com", "https://www.app.example.com"]'},
        "is replaced by the origins it admits with its unescaped dots read as dots and anchored "
        "at both ends, https://app.example.com, https://www.app.example.com: corsgen cannot prove",
    ),
    (
        "alternatives-one-by-one",
        replace(GOOD, origins=(), regex=EITHER),
        {"allow_origins": '["https://admin.example.com", "https://app.example.com"]',
         "allow_origin_regex": '"http://localhost:[0-9]+"'},
        "the origin regex ^https://(app|admin).example.com$ at site.conf:4 is replaced by the "
        "origins it admits with its unescaped dots read as dots",
    ),
    (
        "star-headers-with-credentials",
        replace(GOOD, headers=("*", "X-Token")),
        {"allow_headers": '["X-Token"]'},
        "allow_headers '*' is dropped (CG107",
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("grant", "keys", "dropped"), [n[1:] for n in NARROWED], ids=[n[0] for n in NARROWED]
)
def test_what_corsgen_refuses_is_dropped_and_said(
    grant: Cors, keys: dict[str, str], dropped: str, tmp_path: Path
) -> None:
    model, policy = one(grant, tmp_path)
    for key, value in keys.items():
        assert f"{key} = {value}" in policy.text.splitlines()
    assert any(dropped in d for d in policy.dropped), policy.dropped
    assert any(f"# Dropped: {d}" in policy.text for d in policy.dropped)
    checked_plan(policy.text, "api.toml")
    # Never wider: whoever reads with the policy's output reads today, with no more credentials.
    plan = checked_plan(policy.text, "api.toml")
    for probe in probes(policy):
        if probe.request is None or probe.method == "OPTIONS":
            continue
        old = model.answer(Asked("api.example.com", probe.method, probe.path, probe.headers))
        _, new = promised_answer(plan, probe.method, probe.headers)
        if header_value(new, "Access-Control-Allow-Origin") not in (None, "*"):
            assert header_value(old.pairs(), "Access-Control-Allow-Origin") is not None, probe
        if header_value(new, "Access-Control-Allow-Credentials"):
            assert header_value(old.pairs(), "Access-Control-Allow-Credentials"), probe


def test_nothing_is_imported_when_nothing_is_safe(tmp_path: Path) -> None:
    """And says what was dropped on the way, and why: the regex it could not prove."""
    _, policy = one(replace(GOOD, origins=(), regex=LOOSE), tmp_path)
    assert policy.path is None and "corsgen accepts none of the origins" in policy.dropped[0]
    assert policy.dropped[1].startswith(f"the origin regex {LOOSE.source} at {LOOSE.at} is dropped")


CHANGES = [
    ("no-always", replace(GOOD, always=False), "error answers that gain their CORS headers: "),
    ("no-vary", replace(GOOD, vary=False), "answers that gain Vary: Origin: "),
    ("reflects", replace(GOOD, origins=(), reflect=True, credentials=False),
     "answers that send * instead of the Origin back: "),
    ("loose-regex", replace(GOOD, regex=LOOSE),
     "origins that read today and will be refused: "),
    ("preflight-to-backend", replace(GOOD, preflight_status=None),
     "preflights answered by corsgen, not the backend: "),
]  # fmt: skip


@pytest.mark.parametrize(("grant", "change"), [c[1:] for c in CHANGES], ids=[c[0] for c in CHANGES])
def test_what_rendering_changes_is_listed(grant: Cors, change: str, tmp_path: Path) -> None:
    _, policy = one(grant, tmp_path)
    assert any(str(c).startswith(change) for c in policy.changes), policy.changes


@pytest.mark.parametrize(
    ("grant", "listed"),
    [
        (replace(GOOD, origins=(), reflect=True), True),
        (replace(GOOD, origins=(), star=True), False),
    ],
    ids=["reflects-with-credentials", "star-with-credentials"],
)
def test_losing_cookies_is_listed_only_where_they_are_read_today(
    grant: Cors, listed: bool, tmp_path: Path
) -> None:
    """Both become `*` without credentials; a browser reads `*` with Allow-Credentials without
    cookies only (h5bp's `Header set ... "*"` beside an application that allows credentials)."""
    _, policy = one(grant, tmp_path)
    lost = [c for c in policy.changes if str(c).startswith("origins that read with the user's")]
    assert bool(lost) == listed, policy.changes


@pytest.mark.parametrize(
    "grant",
    [
        replace(GOOD, cookieless=("https://admin.example.com",)),
        replace(GOOD, origins=(), regex=EITHER, cookieless=("https://admin.example.com",)),
    ],
    ids=["listed", "regex"],
)
def test_credentials_some_origins_read_without_are_dropped(grant: Cors, tmp_path: Path) -> None:
    """Allow-Credentials sent to some allowed origins only (a second map, SetEnvIf): one policy's
    credentials for all would let the others read with the user's cookies."""
    _, policy = one(grant, tmp_path)
    assert "allow_credentials = false" in policy.text, policy.text
    assert any("https://admin.example.com reads GET" in d for d in policy.dropped), policy.dropped
    lost = [c for c in policy.changes if str(c).startswith("origins that read with the user's")]
    assert lost and "https://app.example.com" in str(lost[0]), policy.changes


def test_preflights_that_met_auth_are_a_change(tmp_path: Path) -> None:
    model = FakeConfig([ROOT, Block(3, "/api/", cors=GOOD, auth=2, auth_first=True)])
    (policy,) = imported(model, tmp_path)
    assert any(
        str(c).startswith(f"preflights that stop meeting the authentication at {FILE}:2: ")
        for c in policy.changes
    ), policy.changes


def test_scopes_get_distinct_names_and_a_snippet_is_not_imported(tmp_path: Path) -> None:
    from testing.policies import plan_of

    snippet = plan_of('name = "api"\nallow_origins = ["https://app.example.com"]\n')
    model = FakeConfig(
        [
            ROOT,
            Block(3, "/api/v1/", cors=GOOD),
            Block(13, "/api/v1/", cors=GOOD, host="api.example.org"),
            Block(23, "/snippet/", snippet=snippet),
        ]
    )
    names = [p.path.name for p in imported(model, tmp_path) if p.path is not None]
    assert names == ["api_api_v1.toml", "api_api_v1_2.toml"]


def test_an_existing_file_is_never_overwritten(tmp_path: Path) -> None:
    _, policy = one(GOOD, tmp_path)
    assert policy.path is not None
    policy.path.write_text("mine\n")
    from corsgen.errors import CorsgenError

    with pytest.raises(CorsgenError, match=r"refusing to overwrite .*; nothing was written"):
        write_policies([policy], [])
    assert policy.path.read_text() == "mine\n"


def test_policies_are_written_under_the_out_dirs_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two imports into one directory take turns (as sync and render --out-dir): else both find
    no file, and the second's rename replaces the first's policy."""
    import fcntl
    import os

    from corsgen import writing

    _, policy = one(GOOD, tmp_path / "cors")
    write = writing.write_atomically

    def held(files: dict[Path, str]) -> None:
        fd = os.open(tmp_path, os.O_RDONLY)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(fd)
        write(files)

    monkeypatch.setattr(writing, "write_atomically", held)
    write_policies([policy], [])
    assert policy.path is not None and policy.path.exists()


def test_a_block_named_by_its_line_is_named_by_its_path(tmp_path: Path) -> None:
    """Envoy's routes have no names: "route at line 42 of virtual host api" is named by its path,
    not by a line number cut short."""
    from corsgen.targets import by_name

    config = Path(__file__).parent / "corpus" / "envoy" / "ext-authz-first.yaml"
    routes = by_name("envoy").routes([config]).routes
    assert routes is not None
    names = [p.path.name for p in imported(routes, tmp_path) if p.path is not None]
    assert names == ["localhost_public.toml", "localhost.toml"]


def test_where_the_target_falls_short_of_the_promise_is_said(tmp_path: Path) -> None:
    """The changes are what corsgen's output promises; on a server that cannot keep all of it
    (CG501), import says where, as `corsgen check` does."""
    model = FakeConfig([ROOT, Block(3, "/api/v1/", cors=GOOD)])
    (nginx,) = imported(model, tmp_path, "nginx")
    (traefik,) = imported(model, tmp_path, "traefik")
    assert nginx.shortfalls == []
    assert {f.rule_id for f in traefik.shortfalls} == {"CG501"}


def test_what_todays_preflight_answer_refuses_is_left_out(tmp_path: Path) -> None:
    """server-rewrite.conf answers every preflight at server level (`if ... return 204`) before
    location /api/ lists PUT: a PUT preflight fails today, so the policy grants GET only, and
    says which answer refused PUT."""
    from corsgen.targets import by_name

    config = Path(__file__).parent / "corpus" / "nginx" / "server-rewrite.conf"
    routes = by_name("nginx").routes([config]).routes
    assert routes is not None
    (policy,) = imported(routes, tmp_path, "nginx")
    assert 'allow_methods = ["GET"]' in policy.text.splitlines()
    said = "allow_methods PUT: the config answers its preflight (OPTIONS /api/ from "
    (dropped,) = [d for d in policy.dropped if d.startswith(said)]
    assert f"at {config}:18 with 204 and does not grant it" in dropped
    assert f"# Dropped: {dropped}" in policy.text


def test_a_scope_is_imported_only_where_its_block_answers_today(tmp_path: Path) -> None:
    """longer-rule-wins.yml: the admin router's longer rule takes /api/admin/ from the api router
    (the audit's paths for api name it, to show the takeover); the policy is served, and its
    changes found, only on the paths api answers."""
    from corsgen.targets import by_name

    config = Path(__file__).parent / "corpus" / "traefik" / "longer-rule-wins.yml"
    routes = by_name("traefik").routes([config]).routes
    assert routes is not None
    assert {s.title: s.paths for s in routes.scopes()}["router api"] == ("/api/", "/api/admin/")
    paths = {p.scope.title: p.scope.paths for p in imported(routes, tmp_path, "traefik")}
    assert paths == {"router api": ("/api/",), "router fallback": ("/",)}


@pytest.mark.parametrize(
    ("host", "title", "name"),
    [
        ("api.example.com", "location /v1/admin/", "api_v1_admin"),
        ("api.example.com", "<VirtualHost 127.0.0.1:8080>", "api"),
        ("", "<VirtualHost *:80>", "site"),
        ("api.localhost", "http://api.localhost:8080", "api"),
        ("api.example.com", "api.example.com", "api"),  # a Caddy site: was api_api_example_com
        ("", "frontend web", "site_web"),
        ("_", "server", "site_server"),
        ("9lives.example", "location /", "cors_9lives"),
        # The shared files' name, which no policy may take (CG116): was exit 3.
        ("corsgen.example.com", "http://corsgen.example.com:8080", "cors_corsgen"),
    ],
)
def test_a_policy_is_named_by_its_host_and_path_not_its_address(
    host: str, title: str, name: str
) -> None:
    assert policy_name(host, title) == name


@pytest.mark.parametrize(
    ("host", "named"),
    [("api.example.com", "(host api.example.com)"), ("", "(any host)")],
)
def test_a_scope_is_named_with_its_host_or_as_any_hosts(host: str, named: str) -> None:
    """A site that names no host (Caddy's `http://:8080`) answers any: said so, not `(host )`."""
    scope = Scope(Place("Caddyfile", 9), host, ("/",), "http://:8080")
    assert where(scope) == f"http://:8080 at Caddyfile:9 {named}"


def test_scopes_past_the_audits_bound_are_said_to_be_left_out() -> None:
    from corsgen.audit.engine import MAX_SCOPES

    blocks = [Block(line, f"/p{line}/", cors=GOOD) for line in range(1, MAX_SCOPES + 2)]
    assert left_out(FakeConfig(blocks[:MAX_SCOPES])) is None
    assert left_out(FakeConfig(blocks)) == (
        f"imported the first {MAX_SCOPES} of {MAX_SCOPES + 1} places that answer CORS by hand; "
        "the other 1 are not imported"
    )


# A deny-list: any Origin sent back but one the config refuses, by regex (nginx) or by an ACL
# (HAProxy). `*` would let the refused origin read.
DENY_LISTS = {
    "site.conf": """server {
    listen 127.0.0.1:8080;
    location /api/ {
        set $cors $http_origin;
        if ($http_origin ~* "evil\\.example\\.com$") {
            set $cors "";
        }
        add_header Access-Control-Allow-Origin $cors always;
        proxy_pass http://127.0.0.1:9000/;
    }
}
""",
    "haproxy.cfg": """defaults
    mode http
frontend web
    bind 127.0.0.1:8080
    acl blocked req.hdr(origin) -m str https://evil.example.com
    http-request set-var(txn.o) req.hdr(origin) if !blocked
    acl sent var(txn.o) -m found
    http-after-response set-header Access-Control-Allow-Origin %[var(txn.o)] if sent
    default_backend app
backend app
    server app 127.0.0.1:9000
""",
}  # fmt: skip
# Deny-lists that name no host whole (a piece, top-level domains, a host built from pieces): the
# origin built from the config's words that they refuse. `*` was imported for each.
_NGINX_DENY = """server {{
    listen 127.0.0.1:8080;
    location /api/ {{
        {built}set $cors $http_origin;
        if ($http_origin {test}) {{
            set $cors "";
        }}
        add_header Access-Control-Allow-Origin $cors always;
        proxy_pass http://127.0.0.1:9000/;
    }}
}}
"""
WORDED = {
    "a piece": ('~* "evil"', "", "https://evil.evil"),
    "top-level domains": ('~* "^https?://[^/]*\\.(ru|cn)$"', "", "https://ru.ru, https://cn.cn"),
    "built": (
        "= $bad",
        'set $bad "https://evil";\n        set $bad "${bad}.example.com";\n        ',
        "https://evil.example.com",
    ),
}


@pytest.mark.parametrize("case", WORDED)
def test_a_deny_list_naming_no_host_whole_is_not_imported(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The config refuses origins by a word of theirs: import asks origins built from its words,
    and writes nothing."""
    test, built, refused = WORDED[case]
    config = tmp_path / "site.conf"
    config.write_text(_NGINX_DENY.format(test=test, built=built))
    assert main(["import", str(config), "--out-dir", str(tmp_path / "cors")]) == 0
    assert not (tmp_path / "cors").exists()
    assert f"to every origin but those it refuses ({refused})" in capsys.readouterr().out


@pytest.mark.parametrize("name", DENY_LISTS)
def test_a_deny_list_is_not_imported_as_any_origin(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The config sends back every Origin but one it names: import writes nothing (corsgen has
    no list of origins to refuse) and says which origin `*` would have let read."""
    config = tmp_path / name
    config.write_text(DENY_LISTS[name])
    assert main(["import", str(config), "--out-dir", str(tmp_path / "cors")]) == 0
    assert not (tmp_path / "cors").exists()
    out = capsys.readouterr().out
    assert "nothing imported" in out
    assert "to every origin but those it refuses (https://evil.example.com" in out


def test_cors_under_a_condition_on_the_path_is_said_not_imported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """CORS sent under `if ($uri ~ ...)`: no origin is granted on the paths the model asks, and
    import says so, not that corsgen refuses the origins it grants."""
    config = tmp_path / "site.conf"
    config.write_text(
        "server {\n    listen 127.0.0.1:8080;\n    location /api/ {\n"
        '        if ($uri ~ "^/api/v1/") {\n'
        '            add_header Access-Control-Allow-Origin "https://app.example.com" always;\n'
        "        }\n        proxy_pass http://127.0.0.1:9000/;\n    }\n}\n"
    )
    assert main(["import", str(config), "--out-dir", str(tmp_path / "cors")]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert line.endswith("nothing imported: the model finds no origin it sends "
                         "Access-Control-Allow-Origin to here (a condition on something else than "
                         "the Origin): write the policy by hand")  # fmt: skip


# CORS answered on GET alone: `*` (a map of $request_method), credentials (`if` replaces the
# location's add_header lines). One policy answers POST alike: POST read, or read with cookies.
_BY_METHOD = """map $request_method $cors {{
    GET "{origin}";
    default "";
}}
server {{
    listen 127.0.0.1:8080;
    location /api/ {{
{lines}        proxy_pass http://127.0.0.1:9000/;
    }}
}}
"""
BY_METHOD = {
    "origin": (
        "*",
        "        add_header Access-Control-Allow-Origin $cors always;\n",
        "nothing imported",
    ),
    "credentials": (
        "",
        "        if ($request_method = GET) {\n"
        '            add_header Access-Control-Allow-Origin "https://app.example.com" always;\n'
        '            add_header Access-Control-Allow-Credentials "true" always;\n        }\n'
        '        add_header Access-Control-Allow-Origin "https://app.example.com" always;\n',
        "dropped: allow_credentials: https://app.example.com reads POST /api/ without the "
        "user's cookies today",
    ),
}


@pytest.mark.parametrize("case", BY_METHOD)
def test_cors_answered_on_get_alone_is_not_widened_to_post(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A config that answers CORS, or credentials, on GET alone: import writes no policy that
    lets POST be read (or read with cookies) where it is not today."""
    origin, lines, said = BY_METHOD[case]
    config = tmp_path / "site.conf"
    config.write_text(_BY_METHOD.format(origin=origin, lines=lines))
    assert main(["import", str(config), "--out-dir", str(tmp_path / "cors")]) == 0
    assert said in capsys.readouterr().out
    for written in (tmp_path / "cors").glob("*.toml"):
        assert "allow_credentials = false" in written.read_text()


def test_an_origin_an_haproxy_deny_list_refuses_is_not_imported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`if !blocked` on `-m beg https://evil.example.com`: the model reads the refused origin's
    ACL as a grant, and import wrote allow_origin_regex https://evil\\.example\\.com."""
    config = tmp_path / "haproxy.cfg"
    config.write_text(DENY_LISTS["haproxy.cfg"].replace("-m str", "-m beg"))
    assert main(["import", str(config), "--out-dir", str(tmp_path / "cors")]) == 0
    assert not (tmp_path / "cors").exists()
    assert "dropped: https://evil.example.com cannot read GET / today" in capsys.readouterr().out


def test_credentials_on_some_paths_alone_are_dropped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Allow-Credentials on /api/ but /api/public (a map of $uri): the paths the config names
    under the scope's are asked too, and credentials dropped; import wrote them for every path."""
    config = tmp_path / "site.conf"
    config.write_text(
        'map $uri $creds {\n    ~^/api/public "";\n    default "true";\n}\n'
        "server {\n    listen 127.0.0.1:8080;\n    location /api/ {\n"
        '        add_header Access-Control-Allow-Origin "https://app.example.com" always;\n'
        "        add_header Access-Control-Allow-Credentials $creds always;\n"
        "        proxy_pass http://127.0.0.1:9000/;\n    }\n}\n"
    )
    assert main(["import", str(config), "--out-dir", str(tmp_path / "cors")]) == 0
    assert "allow_credentials = false" in (tmp_path / "cors" / "site_api.toml").read_text()
    assert "reads GET /api/public without the user's cookies" in capsys.readouterr().out


def test_a_deny_list_on_post_alone_is_not_imported_as_any_origin(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """HAProxy sends every Origin back but https://evil.example.com's on POST (`if !blocked ||
    !post`): the named origins are asked on POST too; import wrote `*`, letting it read POST."""
    config = tmp_path / "haproxy.cfg"
    config.write_text(
        DENY_LISTS["haproxy.cfg"]
        .replace("    http-request", "    acl post method POST\n    http-request")
        .replace("if !blocked", "if !blocked || !post")
    )
    assert main(["import", str(config), "--out-dir", str(tmp_path / "cors")]) == 0
    assert not (tmp_path / "cors").exists()
    assert "to every origin but those it refuses (https://evil.example.com)" in (
        capsys.readouterr().out
    )
