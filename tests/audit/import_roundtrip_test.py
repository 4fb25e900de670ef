"""import -> render -> serve -> probe, on the real nginx, Traefik, Envoy and Apache httpd: each
hand-written corpus config imported, each policy rendered and served where the config answered
CORS (Target.in_place: the very files import reads with the model to find its changes), and
probed.

- The new output grants exactly what the imported policy says: probe's conformance battery for
  the policy finds nothing on it.
- Import's list of changes is what a probe observes: the same requests sent to the old config and
  to the new output, on the real server, differ in exactly the kinds (and on exactly the
  requests) import names.
- Import never widens: no origin reads with the new output what it cannot read today.

The old config and the outputs are served by the real server (_nginx, _traefik, _envoy, _apache),
the audit's careless application behind them (routing.audit_backend: its own CORS headers on
every answer, import's changes are found with it). What the old config sends of its own is
observed by asking it again with the application's CORS headers turned off; that a request
reached the application, by the header it adds.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from corsgen.cli import main
from corsgen.fetch import cors_failure, preflight_failure
from corsgen.importing import (
    Change,
    Policy,
    Seen,
    changes,
    checked_plan,
    imported,
    probes,
    write_policies,
)
from corsgen.origins import OriginError, parse_origin
from corsgen.plan import Plan
from corsgen.probe import battery, run
from corsgen.probe.battery import Probe
from corsgen.probe.client import Answer, Client, Site
from corsgen.probe.judge import AUTH_STATUSES, Fault
from corsgen.routing import CARELESS_CORS, Routes, Scope, audit_backend
from corsgen.targets import by_name, envoy_routing, traefik_routing
from corsgen.targets.apache import TARGET as APACHE
from corsgen.targets.caddy import TARGET as CADDY
from corsgen.targets.caddy import caddyfile
from corsgen.targets.envoy import TARGET as ENVOY
from corsgen.targets.envoy_serving import command as envoy_command
from corsgen.targets.haproxy import TARGET as HAPROXY
from corsgen.targets.haproxy_serving import loading
from corsgen.targets.nginx import TARGET as NGINX
from corsgen.targets.nginx import main_config
from corsgen.targets.traefik import TARGET as TRAEFIK
from corsgen.targets.traefik_check import static
from testing import corpus
from testing.binaries import need_binary
from testing.processes import free_port, process
from testing.upstream import Upstream

MARK = ("X-Upstream", "1")  # what the application adds: the request reached it
LIMITS = run.Limits(concurrency=4, timeout=10, verify=False)


class Careless:
    """routing.audit_backend, with its own CORS headers on or off, and MARK on every answer."""

    def __init__(self) -> None:
        self.cors = True

    def __call__(self, method: str, path: str) -> tuple[int, tuple[tuple[str, str], ...]]:
        status, headers = audit_backend(method, path)
        if not self.cors:
            headers = tuple(h for h in headers if not _cors(h[0]))
        return status, (*headers, MARK)


def _cors(name: str) -> bool:
    return name.lower().startswith("access-control-")


def _hand_written(target: str, files: list[Path]) -> bool:
    routes = by_name(target).routes(files).routes
    assert routes is not None, files
    return any(s.granted is not None and s.policy is None for s in routes.scopes())


# Each corpus's configs as the model reads them, files and all.
CORPORA = {
    "nginx": {name: [corpus.CORPUS / "nginx" / name] for name in corpus.configs("nginx")},
    "traefik": {name: corpus.traefik_files(name) for name in corpus.configs("traefik")},
    "envoy": {name: [corpus.CORPUS / "envoy" / name] for name in corpus.configs("envoy")},
    "apache": {name: [corpus.CORPUS / "apache" / name] for name in corpus.configs("apache")},
    "haproxy": {
        name: corpus.haproxy_files(corpus.CORPUS / "haproxy" / name)
        for name in corpus.configs("haproxy")
    },
    "caddy": {name: [corpus.CORPUS / "caddy" / name] for name in corpus.configs("caddy")},
}
IMPORTED = [
    (target, name)
    for target, configs in CORPORA.items()
    for name, files in configs.items()
    if _hand_written(target, files)
]


@pytest.fixture(scope="module")
def careless() -> Careless:
    return Careless()


@pytest.fixture(scope="module")
def up(careless: Careless) -> Iterator[Upstream]:
    with Upstream(careless) as upstream:
        yield upstream


@dataclass(frozen=True)
class Imported:
    """One corpus config imported and served, before and after."""

    policies: list[Policy]
    plans: list[Plan]
    target: str
    old: list[int]  # the port the old config answers each policy's scope on
    new: list[int]  # ... and each policy's output, where its scope was (Target.in_place)


def _imports(routes: Routes | None, target: str, into: Path, config: Path) -> list[Policy]:
    """What import writes into `into`, each policy through `corsgen check`."""
    assert routes is not None
    policies = [p for p in imported(routes, into, target) if p.path is not None]
    into.mkdir()
    write_policies(policies, [config])
    for policy in policies:
        assert policy.path is not None
        assert main(["check", str(policy.path)]) == 0, policy.text
    return policies


def _plans(policies: Sequence[Policy]) -> list[Plan]:
    return [checked_plan(p.text, p.path.name) for p in policies if p.path is not None]


@contextmanager
def _nginx(name: str, root: Path, up: Upstream) -> Iterator[Imported]:
    """The old config and each output (on a port of its own) served by one nginx."""
    binary = corpus.nginx_binary()
    old = free_port()
    config, routes = corpus.nginx_loaded(root, name, old, up.port)
    policies = _imports(routes, "nginx", root / "imported", config)
    plans = _plans(policies)
    new = [free_port() for _ in policies]
    http = f"    include {config};\n"
    for policy, plan, port in zip(policies, plans, new, strict=True):
        directory = root / "imported" / plan.name
        directory.mkdir()
        files = NGINX.in_place(policy.scope, plan, directory, f"127.0.0.1:{up.port}", port)
        assert files is not None, policy.scope.title
        http += "".join(f"    include {file};\n" for file in files)
    conf = main_config(root, http, serve=True)
    with process([binary, "-p", str(root), "-c", str(conf)], root, [old, *new]):
        yield Imported(policies, plans, "nginx", [old] * len(policies), new)


@contextmanager
def _traefik(name: str, root: Path, up: Upstream) -> Iterator[Imported]:
    """The old config served by one Traefik, every output by another (one router each)."""
    binary = TRAEFIK.find_binary()
    need_binary("traefik", binary)
    assert binary is not None
    ports = {side: (free_port(), free_port()) for side in ("old", "new")}  # web, api
    for side, (web, api) in ports.items():
        (root / side / "dynamic").mkdir(parents=True)
        (root / side / "traefik.yml").write_text(static(root / side / "dynamic", {"web": web}, api))
    corpus.traefik_copy(name, root / "old" / "dynamic", up.port)
    routes, findings = traefik_routing.load([root / "old" / "traefik.yml"])
    assert routes is not None, findings
    policies = _imports(routes, "traefik", root / "imported", root / "old" / "traefik.yml")
    plans = _plans(policies)
    web = ports["new"][0]
    for policy, plan in zip(policies, plans, strict=True):
        upstream = f"127.0.0.1:{up.port}"
        files = TRAEFIK.in_place(policy.scope, plan, root / "new" / "dynamic", upstream, web)
        assert files is not None, policy.scope.title
    with ExitStack() as stack:
        for side, count in (("old", len(routes.config.routers)), ("new", len(policies))):
            command = [str(binary), f"--configFile={root / side / 'traefik.yml'}"]
            stack.enter_context(process(command, root / side, ports[side]))
            corpus.traefik_loaded(ports[side][1], count)
        old = [ports["old"][0]] * len(policies)
        yield Imported(policies, plans, "traefik", old, [web] * len(policies))


@contextmanager
def _envoy(name: str, root: Path, up: Upstream) -> Iterator[Imported]:
    """The old bootstrap served by one Envoy, each output by an Envoy of its own (one listener)."""
    binary = ENVOY.find_binary()
    need_binary("envoy", binary)
    assert binary is not None
    text, listening = corpus.envoy_filled(name, up.port)
    (root / "old").mkdir()
    serving = envoy_command(str(binary), root / "old", text)
    routes, findings = envoy_routing.load([root / "old" / "envoy.yaml"])
    assert routes is not None, findings
    policies = _imports(routes, "envoy", root / "imported", root / "old" / "envoy.yaml")
    plans = _plans(policies)
    new = [free_port() for _ in policies]
    with ExitStack() as stack:
        stack.enter_context(process(serving, root / "old", listening))
        for plan, policy, port in zip(plans, policies, new, strict=True):
            directory = root / "new" / plan.name
            directory.mkdir(parents=True)
            files = ENVOY.in_place(policy.scope, plan, directory, f"127.0.0.1:{up.port}", port)
            assert files is not None, policy.scope.title
            command = envoy_command(str(binary), directory, files[0].read_text())
            stack.enter_context(process(command, directory, [port]))
        # Each scope on the listener the model says it is on (Scope.port).
        old = [p.scope.port if p.scope.port in listening else listening[0] for p in policies]
        yield Imported(policies, plans, "envoy", old, new)


@contextmanager
def _apache(name: str, root: Path, up: Upstream) -> Iterator[Imported]:
    """The old config and each output (a virtual host on a port of its own) served by one httpd,
    from a copy of the corpus its children can read."""
    old = free_port()
    text = corpus.apache_filled((corpus.CORPUS / "apache" / name).read_text(), old, up.port)
    with corpus.apache_home() as home:
        config = corpus.apache_copied(home, text)
        routes = APACHE.routes([config]).routes
        policies = _imports(routes, "apache", root / "imported", config)
        plans = _plans(policies)
        new = [free_port() for _ in policies]
        sites = []
        for policy, plan, port in zip(policies, plans, new, strict=True):
            directory = home / "imported" / plan.name
            directory.mkdir(parents=True)
            files = APACHE.in_place(policy.scope, plan, directory, f"127.0.0.1:{up.port}", port)
            assert files is not None, policy.scope.title
            sites += files
        with corpus.apache_running(home, [config, *sites], [old, *new]):
            yield Imported(policies, plans, "apache", [old] * len(policies), new)


@contextmanager
def _haproxy(name: str, root: Path, up: Upstream) -> Iterator[Imported]:
    """The old config served by one HAProxy, each output by an HAProxy of its own (corsgen's
    section and the frontend in front of it)."""
    binary = HAPROXY.find_binary()
    need_binary("haproxy", binary)
    assert binary is not None
    files = CORPORA["haproxy"][name]
    (root / "old").mkdir()
    with ExitStack() as stack:
        old = stack.enter_context(corpus.haproxy_served(files, root / "old", up.port))
        policies = _imports(old.routes, "haproxy", root / "imported", files[-1])
        plans = _plans(policies)
        new = [free_port() for _ in policies]
        for plan, policy, port in zip(plans, policies, new, strict=True):
            directory = root / "new" / plan.name
            directory.mkdir(parents=True)
            written = HAPROXY.in_place(policy.scope, plan, directory, f"127.0.0.1:{up.port}", port)
            assert written is not None, policy.scope.title
            stack.enter_context(process(loading(binary, written), directory, [port]))
        yield Imported(policies, plans, "haproxy", [old.ports[0]] * len(policies), new)


@contextmanager
def _caddy(name: str, root: Path, up: Upstream) -> Iterator[Imported]:
    """The old Caddyfile served by one Caddy, every output (a site each, on a port of its own)
    by another, which imports them all."""
    for side in ("old", "new"):
        (root / side).mkdir()
    with corpus.caddy(name, root / "old", up.port) as served:
        config = corpus.CORPUS / "caddy" / name
        policies = _imports(served.routes, "caddy", root / "imported", config)
        plans = _plans(policies)
        new = [free_port() for _ in policies]
        sites = ""
        for policy, plan, port in zip(policies, plans, new, strict=True):
            directory = root / "new" / plan.name
            directory.mkdir()
            files = CADDY.in_place(policy.scope, plan, directory, f"127.0.0.1:{up.port}", port)
            assert files is not None, policy.scope.title
            sites += f"import {files[0]}\n"
        conf = caddyfile(root / "new", sites)
        with corpus.caddy_running(corpus.caddy_binary(), conf, root / "new", new):
            old = [served.ports[0]] * len(policies)
            yield Imported(policies, plans, "caddy", old, new)


SERVED = {
    "nginx": _nginx,
    "traefik": _traefik,
    "envoy": _envoy,
    "apache": _apache,
    "haproxy": _haproxy,
    "caddy": _caddy,
}


@pytest.fixture(scope="module", params=IMPORTED, ids=["-".join(p) for p in IMPORTED])
def served(
    request: pytest.FixtureRequest, up: Upstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Imported]:
    """The corpus config imported, then it and the rendered policies served."""
    target, name = request.param
    root = tmp_path_factory.mktemp(f"{target}-{name}".replace(".", "-"))
    with SERVED[target](name, root, up) as imported_:
        yield imported_


def _at(scope: Scope, probe: Probe) -> Probe:
    """The probe as the scope's site is asked for: by its Host (a site of no host is any
    host's: 127.0.0.1, as a server refuses an empty Host), on 127.0.0.1."""
    return replace(probe, headers=(("Host", scope.host or "127.0.0.1"), *probe.headers))


def _send(port: int, sent: Sequence[Probe]) -> list[Answer]:
    with Client(Site(f"http://127.0.0.1:{port}", "/"), LIMITS.timeout, 4, False) as client:
        answers = client.send_all([(p.method, p.path, p.headers) for p in sent])
    assert not [a.error for a in answers if a.error]
    return answers


_CARELESS = {(name.lower(), value) for name, value in CARELESS_CORS}  # Envoy sends names lowercase


def _observed(careless: Answer, clean: Answer) -> Seen:
    """The old config's answer as import's changes compare it, from what the real server sent with
    the application's CORS headers on (what the browser gets) and off: a header of the
    application's is one of its pairs the answer has more of with them on (a config may add its
    own only where the application sent none: Envoy's ADD_IF_ABSENT)."""

    def backends(answer: Answer) -> Counter[tuple[str, str]]:
        return Counter(p for n, v in answer.headers if (p := (n.lower(), v)) in _CARELESS)

    theirs = backends(careless) - backends(clean)
    own, left = [], theirs.copy()
    for name, value in careless.headers:
        if left[(name.lower(), value)] > 0:
            left[(name.lower(), value)] -= 1
        else:
            own.append((name, value))
    return Seen(
        careless.status,
        tuple(careless.headers),
        tuple(own),
        tuple(name for name, _ in theirs.elements()),
        backend=(MARK[0].lower(), MARK[1]) in {(n.lower(), v) for n, v in careless.headers},
        auth="auth" if careless.status in AUTH_STATUSES else "",
    )


def _kinds(found: Sequence[Change]) -> dict[str, tuple[str, ...]]:
    """Each kind with its requests; where the model names the line (the auth) the server cannot."""
    return {c.kind: c.requests for c in found}


def test_the_corpora_have_hand_written_configs_to_round_trip() -> None:
    """The list is not empty by mistake: the configs known to import are in it."""
    known = {("nginx", "enable-cors.conf"), ("nginx", "reflect-credentials.conf")}
    known |= {("traefik", "exact-list.yml"), ("haproxy", "correct-allowlist.cfg")}
    known |= {("caddy", "blocks.Caddyfile"), ("caddy", "any-host.Caddyfile")}
    known |= {("caddy", "multi-site.Caddyfile"), ("apache", "h5bp.conf")}
    assert known <= set(IMPORTED)


# What probe finds on an output where its server cannot keep corsgen's promise: the CG501 cases
# import prints under the policy (testing/intents.py, FALLS_SHORT), as (check, method).
FALLS_SHORT = {
    # The headers middleware answers every preflight itself, with 200, a refused origin's too,
    # with the lists and without Vary; it sends Allow-Credentials and Expose-Headers to anyone.
    "traefik": {("PR005", "OPTIONS"), ("PR007", "OPTIONS"), ("PR007", "GET"), ("PR009", "OPTIONS")},
    # The CORS filter answers every preflight with 200.
    "envoy": {("PR005", "OPTIONS")},
}


def _short(target: str, fault: Fault, plan: Plan) -> bool:
    """Whether the finding is one the target's CG501 note says (a PR005 only for the status)."""
    if (fault.check.id, fault.probe.method) not in FALLS_SHORT.get(target, set()):
        return False
    return fault.check.id != "PR005" or fault.summary.endswith(
        f"'s preflight: status 200, not {plan.preflight_status}"
    )


def test_the_output_grants_what_the_policy_says(served: Imported) -> None:
    """probe, in conformance mode with the imported policy, finds nothing on the new output but
    where the server falls short of the promise, and there import said so."""
    for policy, plan, port in zip(served.policies, served.plans, served.new, strict=True):
        paths = list(policy.scope.paths[:3])
        # probe's error paths that the scope answers (not /health's /corsgen-probe-not-found).
        errors = [e for e in map(run.error_path, paths) if any(e.startswith(p) for p in paths)]
        built = battery.conformance(plan, paths, errors)
        built = replace(built, probes=tuple(_at(policy.scope, p) for p in built.probes))
        site = Site(f"http://127.0.0.1:{port}", "/")
        result = run.run(site, plan, "conformance", built, LIMITS)
        assert not result.failed
        short = [f for f in result.findings if _short(served.target, f, plan)]
        assert not short or policy.shortfalls, "import did not say the server falls short"
        found = [
            f"{f.check.id} {f.probe.method} {f.probe.path}: {f.summary}"
            for f in result.findings
            if f not in short
        ]
        assert not found, f"{policy.scope.title}:\n" + "\n".join(found)


@dataclass(frozen=True)
class Exchanged:
    """The battery import finds a policy's changes with, as the real servers answer it."""

    policy: Policy
    sent: list[Probe]
    old: list[Answer]  # the old config, the application's CORS headers on
    own: list[Answer]  # ... and off: what the config sends of its own
    new: list[Answer]  # the output, where the scope was


@pytest.fixture(scope="module")
def exchanged(served: Imported, careless: Careless) -> list[Exchanged]:
    out = []
    for policy, plan, before, port in zip(
        served.policies, served.plans, served.old, served.new, strict=True
    ):
        sent = probes(policy.scope, plan)
        asked = [_at(policy.scope, p) for p in sent]
        old = _send(before, asked)
        careless.cors = False
        try:
            own = _send(before, asked)
        finally:
            careless.cors = True
        out.append(Exchanged(policy, sent, old, own, _send(port, asked)))
    return out


def test_imports_changes_are_what_probe_observes(exchanged: list[Exchanged]) -> None:
    """The battery import finds its changes with, sent to the old config and to the new output:
    the differences, kind by kind and request by request, are import's."""
    for one in exchanged:
        was = [_observed(c, o) for c, o in zip(one.old, one.own, strict=True)]
        now = [Seen(a.status, tuple(a.headers), tuple(a.headers)) for a in one.new]
        observed = changes(one.sent, was, now)
        assert _kinds(observed) == _kinds(one.policy.changes), one.policy.scope.title


def _reads(probe: Probe, headers: Sequence[tuple[str, str]], status: int, cookies: bool) -> bool:
    """Whether the page reads the answer (or its preflight passes), with cookies or without."""
    if probe.request is None:
        return False
    request = replace(probe.request, credentials=cookies)
    if probe.method == "OPTIONS":
        return preflight_failure(request, headers, status) is None
    return cors_failure(request, headers) is None


def _sent_by_browsers(origin: str) -> bool:
    """Whether a browser sends this Origin: an origin serialised as browsers do (in lower case,
    no default port), or null. The scanners' "https://a.example,.evil.com" is no page's: HAProxy's
    req.hdr(origin) reads its last value (".evil.com"), and sends that back where * will do."""
    try:
        return origin == "null" or str(parse_origin(origin)) == origin
    except OriginError:
        return False


def test_import_never_widens(exchanged: list[Exchanged]) -> None:
    """Whoever reads an answer the application gave (not an error, no redirect) from the new
    output reads it today from the config's own headers, with cookies only where they do today:
    a page, whose Origin a browser sends (_sent_by_browsers)."""
    for one in exchanged:
        wider = [
            f"{p.method} {p.path} from {p.request.origin if p.request else '-'}"
            + " with cookies" * cookies
            for p, was, now in zip(one.sent, one.own, one.new, strict=True)
            if was.status < 300  # the application's own answer, not an error or a redirect
            if p.request is None or _sent_by_browsers(p.request.origin)
            for cookies in (False, True)
            if _reads(p, now.headers, now.status, cookies)
            and not _reads(p, was.headers, was.status, cookies)
        ]
        assert not wider, f"{one.policy.scope.title}: wider than today:\n" + "\n".join(wider)


def test_a_reflected_origin_with_credentials_imports_without_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """reflect-credentials.conf sends any Origin back with credentials: import writes any origin
    without credentials, and says it dropped them, in the file and on the terminal."""
    config = corpus.CORPUS / "nginx" / "reflect-credentials.conf"
    assert main(["import", str(config), "--out-dir", str(tmp_path)]) == 0
    text = (tmp_path / "api_api.toml").read_text()
    for line in ('allow_origins = ["*"]', "allow_credentials = false"):
        assert line in text.splitlines()
    said = "allow_credentials: the config sends any Origin back with credentials"
    assert f"# Dropped: {said}" in text
    out = capsys.readouterr().out
    assert f"  dropped: {said}" in out
    # What it prints is the list imported() returns (which the round trip holds to the servers).
    routes = NGINX.routes([config]).routes
    assert routes is not None
    (policy,) = imported(routes, tmp_path / "again", "nginx")
    said_changes = "  rendering it changes "
    printed = [x.removeprefix(said_changes) for x in out.splitlines() if x.startswith(said_changes)]
    assert printed == [str(c) for c in policy.changes]
    assert any(
        c.kind.startswith("origins that read with the user's cookies") for c in policy.changes
    )


def test_a_regex_corsgen_cannot_prove_imports_nothing_and_says_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """regex-reflect.Caddyfile sends back any Origin its unanchored regex matches: import writes
    nothing, and says which regex it dropped and why."""
    config = corpus.CORPUS / "caddy" / "regex-reflect.Caddyfile"
    assert main(["import", str(config), "--out-dir", str(tmp_path / "cors")]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"http://127.0.0.1:8080 at {config}:8 (host 127.0.0.1): nothing imported: corsgen "
        "accepts none of the origins or regexes it grants",
        f"  dropped: the origin regex https://.*example.com at {config}:10 is dropped: corsgen "
        "cannot prove that it admits only origins it names",
    ]
