"""The nginx routing model (targets/nginx_routing.py) against the real nginx: every corpus config
served with testing/upstream.py behind it, the same requests sent to both, and the status, the
CORS headers, Vary's origin token and the secret header compared, one table per config."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest

from corsgen.errors import CorsgenError
from corsgen.render import render_parts
from corsgen.routing import Answered, Asked, Place
from corsgen.targets import nginx_serving
from corsgen.targets.nginx import main_config
from corsgen.targets.nginx_routing import load
from corsgen.targets.serving import DEAD
from testing import corpus
from testing.corpus import nginx_version
from testing.flawed import FLAWS
from testing.model_diff import essentials, send
from testing.processes import free_port, process
from testing.servers import site, unchecked_plan
from testing.upstream import Upstream, answer

CORPUS = corpus.CORPUS / "nginx"
CONFIGS = corpus.configs("nginx")
ALLOWED, HOSTILE = "https://app.example.com", "https://evil.example"
LOOKALIKE = "https://app.example.com.evil.example"  # what an unanchored regex lets in
AUTHORIZED = ("Authorization", "Basic " + base64.b64encode(b"corsgen:s3cret").decode())
# Each path is asked by these: (name, method, headers).
PREFLIGHT = (
    ("Access-Control-Request-Method", "PUT"),
    ("Access-Control-Request-Headers", "content-type"),
)
ASKS: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...] = (
    ("GET", "GET", ()),
    ("GET allowed", "GET", (("Origin", ALLOWED),)),
    ("GET hostile", "GET", (("Origin", HOSTILE),)),
    ("GET lookalike", "GET", (("Origin", LOOKALIKE),)),
    ("GET authorized", "GET", (("Origin", ALLOWED), AUTHORIZED)),
    ("GET two origins", "GET", (("Origin", HOSTILE), ("Origin", ALLOWED))),
    ("HEAD allowed", "HEAD", (("Origin", ALLOWED),)),
    ("OPTIONS plain", "OPTIONS", (("Origin", ALLOWED),)),
    ("POST allowed", "POST", (("Origin", ALLOWED),)),
    ("preflight allowed", "OPTIONS", (("Origin", ALLOWED), *PREFLIGHT)),
    ("preflight hostile", "OPTIONS", (("Origin", HOSTILE), *PREFLIGHT)),
)

View = dict[str, str]


def _directive(config: str, name: str, default: str) -> str:
    found = re.search(rf"^# {name}: (.*)$", config, re.MULTILINE)
    return found[1].strip() if found else default


@pytest.fixture(scope="module")
def nginx() -> str:
    return corpus.nginx_binary()


@pytest.fixture(scope="module")
def up() -> Iterator[Upstream]:
    with Upstream() as upstream:
        yield upstream


@pytest.mark.parametrize("policy", ["spa-api", "public-read"])
def test_the_corpus_holds_corsgens_output_as_it_renders_today(policy: str) -> None:
    """The snippets the corpus includes are corsgen's current output, marker and all (the first
    two lines, which name corsgen's version, aside)."""
    name = policy.replace("-", "_")
    plan = unchecked_plan(name, (Path("examples") / f"{policy}.toml").read_text())
    for file, text in render_parts(plan, "nginx").items():
        committed = (CORPUS / "cors" / file).read_text()
        assert committed.split("\n", 2)[2] == text.split("\n", 2)[2], file


@pytest.mark.parametrize("name", CONFIGS)
def test_the_model_answers_as_nginx(name: str, up: Upstream, tmp_path: Path) -> None:
    table = []
    with corpus.nginx(name, tmp_path, up.port) as served:
        host = _directive(served.text, "host", "api.example.com")
        paths = _directive(served.text, "paths", "/").split()
        port = served.ports[0]
        for path in paths:
            for label, method, headers in ASKS:
                real = _real(port, host, method, path, headers)
                asked = Asked(host, method, path, headers, port)
                model = _view_of(served.routes.answer(asked, answer))
                table += _differences(label, path, model, real)
    assert not table, f"{name}: the model differs from nginx:\n" + "\n".join(table)


NGINX_FLAWS = [f for f in FLAWS if f.server == "nginx"]


def _dead_or_up(method: str, path: str) -> tuple[int, tuple[tuple[str, str], ...]]:
    """The flawed configs' backends: the upstream, and /dead/, where nothing listens (nginx's own
    502 there, with no headers from any backend)."""
    return (502, ()) if path.startswith(DEAD) else answer(method, path)


def test_the_model_answers_as_nginx_on_every_flawed_config(
    nginx: str, up: Upstream, tmp_path: Path
) -> None:
    """testing/flawed.py's nginx configs, all in one nginx, each on its port: the model agrees."""
    root = tmp_path
    root.chmod(0o755)
    ports = {flaw.name: free_port() for flaw in NGINX_FLAWS}
    dead = free_port()
    http = ""
    for flaw in NGINX_FLAWS:
        files = flaw.files(ports[flaw.name], root, up.port, dead)
        (root / f"cors-{flaw.name}.conf").write_text(files["cors"])
        http += files["http"]
    (root / "htpasswd").write_text("corsgen:{PLAIN}s3cret\n")
    (root / "flawed.conf").write_text(http)
    conf = main_config(root, f"    include {root / 'flawed.conf'};\n", serve=True)
    routes, errors = load([root / "flawed.conf"], client="127.0.0.1", version=nginx_version(nginx))
    assert routes is not None, errors
    table = []
    with process([nginx, "-p", str(root), "-c", str(conf)], root, ports.values()):
        for flaw in NGINX_FLAWS:
            port = ports[flaw.name]
            for path in (*flaw.paths, *flaw.error_paths, "/own-cors", "/auth/ok"):
                for label, method, headers in ASKS:
                    real = _real(port, "localhost", method, path, headers)
                    asked = Asked("localhost", method, path, headers, port)
                    model = _view_of(routes.answer(asked, _dead_or_up))
                    table += _differences(f"{flaw.name} {label}", path, model, real)
    assert not table, "the model differs from nginx:\n" + "\n".join(table)


def _differences(label: str, path: str, model: View, real: View) -> list[str]:
    return [
        f"{label:30} {path:20} {key:34} model={model.get(key, '-')!s:30} nginx={real.get(key, '-')}"
        for key in sorted(set(real) | set(model))
        if real.get(key) != model.get(key)
    ]


def _real(
    port: int, host: str, method: str, path: str, headers: tuple[tuple[str, str], ...]
) -> View:
    return essentials(*_send(port, host, method, path, headers))


def _send(
    port: int, host: str, method: str, path: str, headers: tuple[tuple[str, str], ...]
) -> tuple[int, list[tuple[str, str]]]:
    return send(port, Asked(host, method, path, headers))


def _view_of(answered: Answered) -> View:
    return essentials(answered.status, answered.pairs())


# ---------------------------------------------------------------------------------------------
# The model's pieces, on configs written here (no server): each row is nginx's documented rule.

MATCHING = """
server {
    listen 80;
    location / { return 200; }
    location /api/ {
        return 201;
        location /api/inner/ { return 202; }
        location ~ \\.txt$ { return 203; }
    }
    location = /api/exact { return 204; }
    location ^~ /static/ { return 205; }
    location ~ \\.json$ { return 206; }
    location ~* \\.(json|xml)$ { return 207; }
    location ~ ^/api/ { return 208; }
    location /files/long/ { return 209; }
    location /files/ { return 210; }
    location /up/ { proxy_pass http://127.0.0.1:9/; }
}
"""


@pytest.mark.parametrize(
    ("path", "status", "why"),
    [
        ("/api/exact", 204, "= wins before any search"),
        ("/api/exact/x", 208, "= is exact only: the prefix, then the first regex"),
        ("/static/a.json", 205, "^~ keeps the regexes out"),
        ("/other/a.json", 206, "regexes in the order written: the first that matches"),
        ("/other/a.JSON", 207, "~* ignores case, ~ does not"),
        ("/api/inner/x", 208, "a nested prefix gives way to the regexes of the level above"),
        ("/api/inner/a.txt", 203, "a nested regex wins over the outer ones"),
        ("/api/x", 208, "a prefix match gives way to a regex at its level"),
        ("/files/long/x", 209, "the longest prefix, whatever the order"),
        ("/files/x", 210, "the longest prefix"),
        ("/nothing", 200, "/ takes what nothing else does"),
        ("/up", 301, "a *_pass prefix ending in / answers its name without the slash"),
        ("/a/../api/exact", 204, "dot segments resolved before the search"),
        ("//api//exact", 204, "slashes merged"),
        ("/api%2Fexact", 204, "percent-decoded before the search"),
    ],
)
def test_locations_are_searched_as_nginx_searches(
    path: str, status: int, why: str, tmp_path: Path, served: Served
) -> None:
    assert _answer(tmp_path, MATCHING, "GET", path).status == status, why
    assert served(MATCHING, "GET", path).status == status, f"nginx itself: {why}"


SERVERS = """
server { listen 80; server_name first.example; return 201; }
server { listen 80 default_server; server_name default.example; return 202; }
server { listen 80; server_name *.wild.example; return 203; }
server { listen 80; server_name www.*; return 204; }
server { listen 80; server_name ~^(?<sub>[a-z]+)\\.re\\.example$; return 205; }
server { listen 81; server_name first.example; return 206; }
"""


@pytest.mark.parametrize(
    ("host", "port", "status"),
    [
        ("first.example", 80, 201),
        ("FIRST.example:80", 80, 201),
        ("unknown.example", 80, 202),
        ("a.wild.example", 80, 203),
        ("www.anything.example", 80, 204),
        ("abc.re.example", 80, 205),
        ("first.example", 81, 206),
        ("unknown.example", 81, 206),
    ],
)
def test_servers_are_chosen_by_port_then_name(
    host: str, port: int, status: int, tmp_path: Path, served: Served
) -> None:
    assert _answer(tmp_path, SERVERS, "GET", "/", host=host, port=port).status == status
    assert served(SERVERS, "GET", "/", host=host, port=port).status == status


PHASES = """
map $http_origin $listed {
    default "";
    "https://app.example.com" $http_origin;
    "~^https://(?<name>[a-z]+)\\.example\\.org$" "$name";
}
server {
    listen 80;
    add_header X-Server yes;
    location /break/ {
        rewrite ^/break/(.*)$ /$1 break;
        if ($request_method = OPTIONS) { return 204; }
        return 200;
    }
    location /last/ { rewrite ^/last/(.*)$ /break/$1 last; }
    location /map/ { add_header X-Listed $listed always; return 200; }
    location /if/ {
        add_header X-Location yes;
        if ($http_x_test) { add_header X-If yes; }
        return 200;
    }
    location /inherit/ { if ($http_x_test) { return 200; } return 404; }
    location /errors/ {
        error_page 404 /landing/x;
        error_page 405 = @named;
        return 404;
    }
    location /landing/ { add_header X-Method $request_method always; return 200; }
    location @named { return 418; }
}
"""


@pytest.mark.parametrize(
    ("method", "path", "headers", "status", "sent"),
    [
        # rewrite ... break ends every rewrite directive: the if and the return too; the static
        # handler answers OPTIONS with 405 (add_header without always: not on a 405).
        ("OPTIONS", "/break/x", (), 405, ""),
        ("GET", "/last/x", (), 404, ""),
        (
            "GET",
            "/map/",
            (("Origin", "https://APP.example.com"),),
            200,
            "X-Listed=https://APP.example.com",
        ),
        ("GET", "/map/", (("Origin", "https://shop.example.org"),), 200, "X-Listed=shop"),
        ("GET", "/map/", (("Origin", "https://evil.example"),), 200, ""),
        ("GET", "/if/", (), 200, "X-Location=yes"),
        ("GET", "/if/", (("X-Test", "1"),), 200, "X-If=yes"),
        ("GET", "/if/", (("X-Test", "0"),), 200, "X-Location=yes"),
        ("GET", "/inherit/", (("X-Test", "1"),), 200, "X-Server=yes"),
        ("GET", "/inherit/", (), 404, ""),
        ("POST", "/errors/", (), 404, "X-Method=GET"),
    ],
)
def test_rewrite_phase_maps_and_header_inheritance(
    method: str,
    path: str,
    headers: tuple[tuple[str, str], ...],
    status: int,
    sent: str,
    tmp_path: Path,
    served: Served,
) -> None:
    _held(served, tmp_path, PHASES, (method, path, headers), status, sent)


def _held(
    served: Served,
    tmp_path: Path,
    config: str,
    request: tuple[str, str, tuple[tuple[str, str], ...]],
    status: int,
    sent: str,
) -> None:
    """The model answers `status` with the headers `sent` (name=value;...), and so does nginx
    with the X- headers it sends."""
    answered = _answer(tmp_path, config, *request)
    assert (answered.status, ";".join(f"{n}={v}" for n, v in answered.pairs())) == (status, sent)
    real = served(config, *request)
    mine = [f"{n}={v}" for n, v in real.headers if n.lower().startswith("x-")]
    assert (real.status, ";".join(mine)) == (status, sent)


VARIABLES = """
server {
    listen 80;
    location /set/ { set $v "from-set"; add_header X-V $v always; return 200; }
    location /arg/ {
        add_header X-Arg $arg_v always;
        add_header X-Cookie $cookie_c always;
        return 200;
    }
    location /moved/ { rewrite ^/moved/(.*)$ /new/$1 permanent; }
    location /away/ { rewrite ^ https://example.com/ redirect; }
    location /args/ { rewrite ^/args/(.*)$ /echo/?x=1 last; }
    location /plain/ { rewrite ^/plain/(.*)$ /echo/?x=1? last; }
    location /echo/ { add_header X-Args $args always; return 200; }
    location /ext/ { error_page 404 https://example.com/missing; return 404; }
}
"""


@pytest.mark.parametrize(
    ("method", "path", "headers", "status", "sent"),
    [
        ("GET", "/set/", (), 200, "X-V=from-set"),
        ("GET", "/arg/?V=1&w=2", (("Cookie", "c=2; d=3"),), 200, "X-Arg=1;X-Cookie=2"),
        ("GET", "/arg/", (("Cookie", "C=2"),), 200, "X-Cookie=2"),
        ("GET", "/moved/x", (), 301, ""),
        ("GET", "/away/", (), 302, ""),
        # rewrite appends the request's arguments to its own, unless it ends in ?.
        ("GET", "/args/a?y=2", (), 200, "X-Args=x=1&y=2"),
        ("GET", "/plain/a?y=2", (), 200, "X-Args=x=1"),
        ("GET", "/ext/", (), 302, ""),
    ],
)  # fmt: skip
def test_variables_rewrites_and_error_pages_elsewhere(
    method: str,
    path: str,
    headers: tuple[tuple[str, str], ...],
    status: int,
    sent: str,
    tmp_path: Path,
    served: Served,
) -> None:
    """set, $arg_ and $cookie_ (names in any case, both), rewrite's redirects and arguments,
    and error_page to another site: a 302."""
    _held(served, tmp_path, VARIABLES, (method, path, headers), status, sent)


HIDES = """
server {
    listen 80;
    proxy_hide_header X-Internal-Token;
    proxy_hide_header Access-Control-Allow-Origin;
    location / { proxy_pass http://UPSTREAM/; }
    location /passes/ {
        proxy_pass_header Access-Control-Allow-Origin;
        proxy_pass http://UPSTREAM/;
    }
    location /hides/ { proxy_hide_header X-Total-Count; proxy_pass http://UPSTREAM/; }
    location /other-module/ { fastcgi_hide_header X-Total-Count; proxy_pass http://UPSTREAM/; }
    location /if/ {
        proxy_hide_header ETag;
        if ($http_x_test) { add_header X-If yes; }
        proxy_pass http://UPSTREAM/;
    }
}
"""


@pytest.mark.parametrize(
    ("path", "passed", "why"),
    [
        ("/own-cors/secret", "etag x-total-count", "the server's list"),
        ("/passes/own-cors/secret", "access-control-allow-origin etag x-total-count", "the "
         "server's list, less the header passed: each list is inherited on its own"),
        ("/hides/own-cors/secret", "access-control-allow-origin etag x-internal-token", "a "
         "block's own hide list replaces the server's whole"),
        ("/other-module/own-cors/secret", "etag x-total-count", "fastcgi's list is not proxy's"),
        ("/if/own-cors/secret", "access-control-allow-origin x-internal-token x-total-count",
         "an if inherits its location's hide list"),
    ],
)  # fmt: skip
def test_hide_and_pass_lists_are_inherited_as_nginx_merges_them(
    path: str, passed: str, why: str, tmp_path: Path, served: Served
) -> None:
    watched = {"access-control-allow-origin", "etag", "x-internal-token", "x-total-count"}
    test = (("X-Test", "1"),)  # /if/'s if is true
    model = _answer(tmp_path, HIDES.replace("UPSTREAM", "127.0.0.1:9"), "GET", path, test)
    assert " ".join(sorted({n.lower() for n, _ in model.pairs()} & watched)) == passed, why
    real = served(HIDES, "GET", path, test)
    assert " ".join(sorted({n.lower() for n, _ in real.headers} & watched)) == passed, why


def test_add_header_inherit_is_modelled_for_the_versions_that_have_it(tmp_path: Path) -> None:
    config = """
server {
    listen 80;
    add_header X-Server yes always;
    location / { add_header_inherit merge; add_header X-Here yes always; return 200; }
}
"""
    old = _answer(tmp_path, config, "GET", "/")
    assert old.pairs() == (("X-Here", "yes"),)
    new = _answer(tmp_path, config, "GET", "/", version=(1, 29, 3))
    assert new.pairs() == (("X-Here", "yes"), ("X-Server", "yes"))


def test_headers_more_sets_on_every_status_and_replaces(tmp_path: Path) -> None:
    config = """
server {
    listen 80;
    location / {
        more_set_headers "Access-Control-Allow-Origin: https://app.example.com";
        more_clear_headers X-Upstream;
        proxy_pass http://127.0.0.1:9;
    }
}
"""
    answered = _answer(tmp_path, config, "GET", "/error")
    assert answered.status == 500
    cors = [(h.name, h.value, h.at is not None) for h in answered.headers if h.name != "ETag"]
    assert ("Access-Control-Allow-Origin", "https://app.example.com", True) in cors
    assert all(name not in ("X-Upstream", "Access-Control-Allow-Credentials") for name, *_ in cors)


@pytest.mark.parametrize(
    ("text", "claimed"),
    [
        ("server {\n    listen 80;\n}\n", True),
        ("location /api/ {\n    add_header X y;\n}\n", True),
        ("proxy_hide_header Access-Control-Allow-Origin;\n", True),
        ("<VirtualHost *:80>\n    Header set X y\n</VirtualHost>\n", False),
        ("example.com {\n    reverse_proxy localhost:8080\n}\n", False),
        ("frontend web\n    bind :80\n    default_backend app\n", False),
        ("http:\n  routers:\n    api: {}\n", False),
    ],
)
def test_claims_nginx_configs_only(text: str, claimed: bool) -> None:
    from corsgen.targets.nginx import TARGET

    assert TARGET.claims(text) is claimed


@pytest.mark.parametrize(
    ("name", "title", "policy", "paths"),
    [
        ("front-controller.conf", "location /api/", "spa_api", ("/api/",)),
        (
            "regex-location.conf",
            "location /api/",
            "spa_api",
            ("/api/", "/api/corsgen-probe.json", "/api/corsgen-probe.csv"),
        ),
        ("server-context.conf", "location /admin/", None, ("/admin/",)),
        ("server-context.conf", "location /auth/", "spa_api", ("/auth/",)),
        ("enable-cors.conf", "location /api/", None, ("/api/",)),
    ],
)
def test_scopes_name_each_place_that_answers_cors(
    name: str, title: str, policy: str | None, paths: tuple[str, ...]
) -> None:
    routes, errors = load([CORPUS / name])
    assert routes is not None, errors
    found = {s.title: s for s in routes.scopes()}
    assert found[title].policy == policy
    assert found[title].paths == paths


@pytest.mark.parametrize("name", ["front-controller.conf", "server-context.conf"])
def test_a_snippets_grant_is_read_from_its_own_lines(name: str) -> None:
    """A snippet scope grants what the snippet's lines answer alone (spa-api.toml), each key at
    its line in the snippet, even where the context sends requests elsewhere (try_files)."""
    routes, errors = load([CORPUS / name])
    assert routes is not None, errors
    granted = next(s.granted for s in routes.scopes() if s.policy == "spa_api")
    assert granted is not None
    assert granted.origins == ("https://app.example.com", "https://admin.example.com")
    assert (granted.credentials, granted.max_age, granted.preflight_status) == (True, 600, 204)
    assert granted.methods == ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
    assert all(place.file.endswith("cors/spa_api.conf") for place in granted.at.values())


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("enable-cors.conf", {"any_origin": True, "max_age": 1728000, "credentials": False}),
        ("reflect-credentials.conf", {"reflects": True, "credentials": True}),
        ("star-credentials.conf", {"any_origin": True, "credentials": True, "headers": ("*",)}),
        (
            "correct-handwritten.conf",
            {"origins": ("https://app.example.com",), "methods": ("GET", "POST", "PUT")},
        ),
    ],
)
def test_what_hand_written_cors_grants_is_read_from_the_model(
    name: str, expected: dict[str, object]
) -> None:
    routes, errors = load([CORPUS / name])
    assert routes is not None, errors
    granted = next(s.granted for s in routes.scopes() if s.granted is not None)
    assert {key: getattr(granted, key) for key in expected} == expected
    assert all(place.file.endswith(name) for place in granted.at.values())


@dataclass(frozen=True)
class _Real:
    status: int
    headers: list[tuple[str, str]]


Served = Callable[..., _Real]


@pytest.fixture(scope="module")
def served(nginx: str, up: Upstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The unit tests' configs on the real nginx, each started once (its listen 80 and 81 on free
    ports): what a row says must hold there too."""
    with ExitStack() as stack:
        started: dict[str, dict[int, int]] = {}

        def ask(
            config: str,
            method: str,
            path: str,
            headers: tuple[tuple[str, str], ...] = (),
            *,
            host: str = "localhost",
            port: int = 80,
        ) -> _Real:
            if config not in started:
                root = tmp_path_factory.mktemp("unit")
                root.chmod(0o755)
                ports = {80: free_port(), 81: free_port()}
                text = config.replace("UPSTREAM", f"127.0.0.1:{up.port}")
                for written, real in ports.items():
                    text = text.replace(f"listen {written}", f"listen 127.0.0.1:{real}")
                conf = main_config(root, text, serve=True)
                used = [p for w, p in ports.items() if f"listen {w}" in config]
                stack.enter_context(process([nginx, "-p", str(root), "-c", str(conf)], root, used))
                started[config] = ports
            status, pairs = _send(started[config][port], host, method, path, headers)
            return _Real(status, pairs)

        yield ask


def _answer(
    tmp_path: Path,
    config: str,
    method: str,
    path: str,
    headers: tuple[tuple[str, str], ...] = (),
    *,
    host: str = "localhost",
    port: int = 80,
    version: tuple[int, int, int] = (1, 22, 1),
) -> Answered:
    site = tmp_path / "site.conf"
    site.write_text(config)
    routes, errors = load([site], version=version, files=lambda path: None)
    assert routes is not None, errors
    return routes.answer(Asked(host, method, path, headers, port), answer)


@pytest.mark.parametrize("name", CONFIGS)
def test_each_planted_flaw_is_on_a_line_the_model_attributes(name: str) -> None:
    """Each `# expect-next:` marks a line the model names for some answer: a header's line, the
    block that answered, the auth that ran, or an origin regex (routing.py's rule): where the
    audit reports what it judges from the model."""
    text = (CORPUS / name).read_text()
    lines = text.splitlines()
    marked = {n + 2 for n, line in enumerate(lines) if line.strip().startswith("# expect-next:")}
    routes, errors = load([CORPUS / name], client="127.0.0.1")
    assert routes is not None, errors
    named: set[Place] = set()
    for path in _directive(text, "paths", "/").split():
        for _, method, headers in ASKS:
            asked = Asked(_directive(text, "host", "api.example.com"), method, path, headers, None)
            answered = routes.answer(asked, answer)
            named |= {answered.by, *(h.at for h in answered.headers if h.at is not None)}
            named |= {answered.auth} if answered.auth is not None else set()
    for scope in routes.scopes():
        named |= {r.at for r in scope.granted.regexes} if scope.granted else set()
    attributed = {p.line for p in named if p.file == str(CORPUS / name)}
    assert marked <= attributed, f"{name}: lines marked but never attributed: {marked - attributed}"


LOOPS = """
server {
    listen 80;
    location /loop/ { try_files $uri /loop/again; }
    location /auth/ { auth_request /auth/check; proxy_pass http://127.0.0.1:9; }
    location /missing/ { try_files $uri =404; }
}
"""


@pytest.mark.parametrize(
    ("path", "status"), [("/loop/x", 500), ("/auth/x", 500), ("/missing/x", 404)]
)
def test_subrequests_and_redirects_end(
    path: str, status: int, tmp_path: Path, served: Served
) -> None:
    """An auth_request that asks itself, try_files that sends a request to itself: nginx stops
    them (500), and the model does too, in bounded time."""
    assert _answer(tmp_path, LOOPS, "GET", path).status == status
    assert served(LOOPS, "GET", path).status == status


def test_the_target_loads_its_model_and_claims_its_corpus(tmp_path: Path) -> None:
    from corsgen.targets import by_name

    nginx = by_name("nginx")
    for name in CONFIGS:
        assert nginx.claims((CORPUS / name).read_text()), name
        assert nginx.routes([CORPUS / name]).routes is not None, name
    broken = tmp_path / "broken.conf"
    broken.write_text("server {\n    listen 80;\n    location / {\n")
    loaded = nginx.routes([broken])
    assert loaded.routes is None
    assert [f.rule_id for f in loaded.findings] == ["CG401"]


@pytest.mark.parametrize(("context", "shared"), [("", False), ("server", False), ("", True)])
def test_the_model_answers_as_nginx_where_the_conformance_tests_include_corsgen(
    context: str, shared: bool, nginx: str, up: Upstream, tmp_path: Path
) -> None:
    """The conformance matrix's nginx config (targets/nginx_serving.py) for two example policies:
    in a location or in server {}, each on its port or side by side under /NAME/."""
    plans = tuple(
        unchecked_plan(name.replace("-", "_"), (Path("examples") / f"{name}.toml").read_text())
        for name in ("spa-api", "public-read")
    )
    one = free_port()
    ports = {plan.name: one if shared else free_port() for plan in plans}
    served = site(plans, ports, up.port, shared=shared)
    root = tmp_path
    root.chmod(0o755)
    command = nginx_serving.configure(context, nginx, root, served)
    routes, errors = load([root / "nginx.conf"], client="127.0.0.1", version=nginx_version(nginx))
    assert routes is not None, errors
    table = []
    with process(command, root, set(ports.values())):
        for plan in plans:
            port, prefix = ports[plan.name], served.prefix(plan)
            for path in ("/ok", "/missing", "/error", "/own-cors", "/own-cors-error", "/auth/ok"):
                for label, method, headers in ASKS:
                    real = _real(port, "localhost", method, prefix + path, headers)
                    asked = Asked("localhost", method, prefix + path, headers, port)
                    model = _view_of(routes.answer(asked, answer))
                    table += _differences(f"{plan.name} {label}", prefix + path, model, real)
    assert not table, "the model differs from nginx:\n" + "\n".join(table)


def test_a_config_that_includes_without_end_is_refused_in_bounded_time(tmp_path: Path) -> None:
    """Each file includes the next twice: written out, 2**40 directives; the run's bounds
    (limits.py's MAX_CONFIG_*) refuse it before the model is built."""
    for n in range(40):
        (tmp_path / f"f{n}.conf").write_text(f"include f{n + 1}.conf;\ninclude f{n + 1}.conf;\n")
    (tmp_path / "f40.conf").write_text("add_header X-Deep yes;\n")
    (tmp_path / "site.conf").write_text("server {\n    listen 80;\n    include f0.conf;\n}\n")
    with pytest.raises(CorsgenError, match="more than"):
        load([tmp_path / "site.conf"])


def test_http_without_a_server_is_served_as_one(tmp_path: Path) -> None:
    answered = _answer(tmp_path, "add_header X-Http yes always;\n", "GET", "/x")
    assert (answered.status, answered.pairs()) == (404, (("X-Http", "yes"),))
