"""A static finding is a difference `probe` sees, and a `probe` finding on a corpus config is a
static finding: for every corpus config of every target, served on
the real server with testing/upstream.py behind it, the audit (with that upstream as the model's
backend) and `probe` (in-process, probe/run.py) send each scope the same requests, and probe's
judge must find the same checks (PR0xx, PR1xx) in the real server's answers as in the model's,
scope by scope; and every check it finds must be reported by the audit on an answer that fails it
(UNREPORTED says which are not yet, and why).

The requests are the audit's own (Audit.probed): conformance mode with the plan the scope is held
to, scan mode from the origins it trusts, each with the scope's Host. A config with corsgen
snippets is audited twice: each snippet held to its policy (examples/NAME.toml, as given with
--policy: its scope probed as `corsgen probe --policy` probes it), and without --policy (held to
what the model reads its lines to grant, else scanned); hand-written CORS is held to its grant.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import replace
from pathlib import Path

import pytest

from corsgen.audit.answers import Context
from corsgen.audit.engine import audit
from corsgen.audit.reported import Probed
from corsgen.cli.audit import fixes
from corsgen.plan import Plan
from corsgen.probe.battery import Battery
from corsgen.probe.client import Site
from corsgen.probe.judge import Fault
from corsgen.probe.run import Limits, run
from corsgen.routing import Routes
from corsgen.targets import by_name
from testing import corpus
from testing.servers import unchecked_plan
from testing.upstream import Upstream, answer

Serve = Callable[[str, Path, int], AbstractContextManager[corpus.Served]]
SERVE: dict[str, Serve] = {
    "nginx": corpus.nginx,
    "apache": corpus.apache,
    "traefik": corpus.traefik,
    "envoy": corpus.envoy,
    "haproxy": corpus.haproxy,
    "caddy": corpus.caddy,
}
CASES = [(target, name) for target in SERVE for name in corpus.configs(target)]
LIMITS = Limits(concurrency=4, timeout=10, verify=False)
EXAMPLES = Path(__file__).parents[2] / "examples"
# The checks probe fails on a corpus config that no finding of the audit reports on any answer
# that fails them, and why: (target, config) -> {check: why}.
UNREPORTED: dict[tuple[str, str], dict[str, str]] = {
    ("nginx", "correct-handwritten.conf"): {
        "PR006": "map matches strings in any case: HTTPS://APP.EXAMPLE.COM reads, an origin no "
        "browser sends (browsers serialise origins in lower case, so the audit leaves it out)",
    },
    ("haproxy", "origin-map"): {
        "PR006": "the map is read after `lower`: HTTPS://APP.EXAMPLE.COM reads, an origin no "
        "browser sends (the audit holds a hand-written scope to its grant, not probe's variants)",
    },
    ("haproxy", "preflight-forwarded.cfg"): {
        "PR006": "the ACL matches after `lower`: HTTPS://APP.EXAMPLE.COM reads, an origin no "
        "browser sends (the audit holds a hand-written scope to its grant, not probe's variants)",
    },
    ("haproxy", "unanchored-regex.cfg"): {
        "PR006": "the -i regex admits HTTP://APP.EXAMPLEACOM: CG411 reports the regex at its "
        "line, from the config, not on the answer",
        "PR007": "the unanchored regex admits http://app.exampleacom,.corsgen-evil.com, which "
        "gets the lists: CG411 reports the regex at its line, not on the answer",
    },
}


def _policies(routes: Routes) -> dict[str, Plan]:
    """The policy of each snippet the config includes, by the name its marker gives."""
    named = {s.policy for s in routes.scopes() if s.policy is not None}
    files = {name: EXAMPLES / (name.replace("_", "-") + ".toml") for name in named}
    return {name: unchecked_plan(name, f.read_text()) for name, f in files.items() if f.exists()}


def _probe(probed: Probed, port: int) -> list[Fault]:
    """What `probe` finds on the real server, sent the audit's requests for the scope."""
    scope = probed.scope
    site = Site(f"http://127.0.0.1:{scope.port or port}", "/")
    host = (("Host", scope.host),) if scope.host else ()
    found: list[Fault] = []
    for plan, probes in ((probed.plan, probed.checked), (None, probed.scanned)):
        if not probes:
            continue
        built = Battery(tuple(replace(p, headers=(*host, *p.headers)) for p in probes), ())
        result = run(site, plan, "agreement", built, LIMITS)
        assert not result.failed, result.failed[:3]
        found += result.findings
    return found


def _shown(fault: Fault) -> str:
    probe = fault.probe
    origin = probe.request.origin if probe.request else "no Origin"
    return f"{probe.method} {probe.path} from {origin}: {fault.summary}"


def _title(probed: Probed) -> str:
    at = probed.scope.at
    return f"{probed.scope.title} ({Path(at.file).name}:{at.line})"


def _rows(probed: Probed, real: list[Fault]) -> Iterator[str]:
    """One line per check only one side finds, with the first request that shows it."""
    model = {f.check.id: f for f, _ in reversed(probed.faults)}
    seen = {f.check.id: f for f in reversed(real)}
    scope = _title(probed)
    for check in sorted(model.keys() - seen.keys()):
        yield f"{scope}: only the model shows {check}: {_shown(model[check])}"
    for check in sorted(seen.keys() - model.keys()):
        yield f"{scope}: only the server shows {check}: {_shown(seen[check])}"


def _unreported(probed: Probed) -> dict[str, str]:
    """Each check the model's answers fail with no finding of the audit on any of its answers,
    and the first such answer."""
    reported = {f.check.id for f, rules in probed.faults if rules}
    out: dict[str, str] = {}
    for fault, _ in probed.faults:
        if fault.check.id not in reported:
            out.setdefault(fault.check.id, f"{_title(probed)}: {_shown(fault)}")
    return out


def _gaps(probed: list[Probed], known: dict[str, str]) -> list[str]:
    """The checks unreported that UNREPORTED does not name, and those it names now reported."""
    unreported = {check: row for p in probed for check, row in _unreported(p).items()}
    rows = [f"{row} (not in UNREPORTED)" for c, row in unreported.items() if c not in known]
    return rows + [
        f"{c} is reported now: take it out of UNREPORTED" for c in known.keys() - unreported.keys()
    ]


@pytest.mark.parametrize(("target", "name"), CASES)
def test_probe_finds_what_the_audit_finds(
    target: str, name: str, upstream: Upstream, tmp_path: Path
) -> None:
    server = by_name(target)
    rows: list[str] = []
    probed: list[Probed] = []
    with SERVE[target](name, tmp_path, upstream.port) as served:
        given = _policies(served.routes)
        # With each snippet's policy, and as `corsgen audit` reads the config without one.
        for mode, plans in {"--policy": given, "no --policy": {}}.items():
            if mode != "--policy" and not given:
                continue  # the same requests again
            context = Context(server.title, plans, None, fixes(server))
            found = audit(served.routes, context, answer)
            assert found.probed, f"{name}: the audit probed no scope"
            for p in found.probed:
                rows += [f"{mode}: {row}" for row in _rows(p, _probe(p, served.ports[0]))]
            probed += found.probed
    assert not rows, f"{target} {name}: probe and the audit differ:\n" + "\n".join(rows)
    # Every check probe fails is reported by the audit on some answer that fails it, but those
    # UNREPORTED says why not.
    gaps = _gaps(probed, UNREPORTED.get((target, name), {}))
    assert not gaps, f"{target} {name}: probe finds what the audit does not:\n" + "\n".join(gaps)
