"""`corsgen probe` against corsgen's own output on every server and in every inclusion context:
no finding, in either mode. And corsgen.promise, the model `explain` answers from, against the
same servers' answers."""

from __future__ import annotations

import json
from typing import Any

import pytest

from corsgen.cli import main
from corsgen.fetch import Headers, header_value, vary_tokens
from corsgen.plan import ACAO, Plan
from corsgen.promise import is_preflight, promised_answer
from testing.client import send
from testing.intents import INTENTS, falls_short, relied_on
from testing.paths import EXAMPLES
from testing.servers import Endpoint
from testing.verdicts import Verdict, Verdicts, answer_note, case_name

pytestmark = pytest.mark.conformance

# Conformance mode runs every check its battery can: the public policy refuses no origin and,
# being a static *, needs no Vary.
EVERY_CHECK = {f"PR0{n:02d}" for n in range(1, 11)}
REFUSING = {"PR006", "PR007", "PR009"}
# Without credentials in the policy, the answers must not let cookies through either (PR011);
# with them, the cookies the answers set must come back (PR013, PR014).
CHECKS = {
    name: EVERY_CHECK - (REFUSING if i.any_origin else set())
    | ({"PR013", "PR014"} if i.credentials else {"PR011"})
    for name, i in INTENTS.items()
}

# The probe checks each CG501 shortfall shows up as, on a server that has it, with the policy
# and (SCAN_) without it. Scan mode cannot tell an echoed origin from a reflected one. A refused
# origin's preflight answered without Vary is no PR009: no HTTP cache stores an OPTIONS answer.
SHORTFALL_CHECKS: dict[str, set[str]] = {
    "preflight-200": {"PR005"},
    "private-network": {"PR005"},
    "refused-origin": {"PR007"},
    "no-star": set(),
}
SCAN_SHORTFALL_CHECKS: dict[str, set[str]] = {
    "no-star": {f"PR1{n:02d}" for n in (1, 2, 3, 4, 5, 6, 8, 9, 10)},
}


def _expected(kind: str, policy: str, checks: dict[str, set[str]]) -> set[str]:
    short = {c for c in relied_on(INTENTS[policy]) if falls_short(kind, c)}
    return {check for case in short for check in checks.get(case, set())}


def _probe(capsys: pytest.CaptureFixture[str], at: Endpoint, *args: str) -> dict[str, Any]:
    base = f"http://127.0.0.1:{at.port}"
    paths = ["--path", f"{at.prefix}/ok", "--path", f"{at.prefix}/auth/ok"]
    # The upstream's 404 and the server's own 502/503 (nothing listens behind /dead/).
    errors = ["--error-path", f"{at.prefix}/missing", "--error-path", f"{at.prefix}/dead/x"]
    capsys.readouterr()
    code = main(["probe", base, *paths, *errors, "--format", "json", *args])
    out = capsys.readouterr().out
    result: dict[str, Any] = json.loads(out)
    assert code == (1 if result["findings"] or result["failed_requests"] else 0)
    return result


@pytest.mark.parametrize("policy", INTENTS)
def test_no_finding_against_its_policy(
    server: tuple[str, dict[str, Endpoint]], policy: str, capsys: pytest.CaptureFixture[str]
) -> None:
    result = _probe(capsys, server[1][policy], "--policy", str(EXAMPLES / f"{policy}.toml"))
    found = {finding["id"] for finding in result["findings"]}
    expected = _expected(server[0], policy, SHORTFALL_CHECKS)
    assert found == expected, json.dumps(result["findings"][:3], indent=1)
    assert result["failed_requests"] == []
    assert set(result["checks_run"]) == CHECKS[policy]


@pytest.mark.parametrize("policy", INTENTS)
def test_no_finding_in_scan_mode(
    server: tuple[str, dict[str, Endpoint]], policy: str, capsys: pytest.CaptureFixture[str]
) -> None:
    result = _probe(capsys, server[1][policy])
    found = {finding["id"] for finding in result["findings"]}
    expected = _expected(server[0], policy, SCAN_SHORTFALL_CHECKS)
    assert found == expected, json.dumps(result["findings"][:3], indent=1)


def _cors(headers: Headers) -> tuple[str, ...]:
    """Every access-control-* header line, sorted: a repeated one shows twice."""
    return tuple(
        sorted(f"{n.lower()}: {v}" for n, v in headers if n.lower().startswith("access-control-"))
    )


def _requests(policy: str) -> list[tuple[str, list[tuple[str, str]]]]:
    """Each kind of request a server tells apart: allowed or refused, preflight or not."""
    intent = INTENTS[policy]
    out: list[tuple[str, list[tuple[str, str]]]] = [("GET", [])]
    for origin in (*intent.allowed[:2], *intent.refused[:4]):
        ask = [("Origin", origin), ("Access-Control-Request-Method", "PUT")]
        out += [
            ("GET", [("Origin", origin)]),
            ("OPTIONS", [("Origin", origin)]),  # no requested method: not a preflight
            ("OPTIONS", ask),
            ("OPTIONS", [*ask, ("Access-Control-Request-Private-Network", "true")]),
        ]
    return out


@pytest.mark.parametrize("policy", INTENTS)
def test_the_served_model_answers_as_the_servers_do(
    server: tuple[str, dict[str, Endpoint]], plans: dict[str, Plan], policy: str
) -> None:
    """`explain` answers from corsgen.promise without a server: hold it to every real one."""
    kind, ports = server
    # Where the server falls short, only the verdict's header is the model's (an echoed Origin
    # for a *): the rest is pinned by conformance_test.py.
    short = falls_short(kind, "refused-origin") or falls_short(kind, "no-star")
    verdicts = Verdicts()
    for method, headers in _requests(policy):
        real = send(ports[policy], method, "/ok", headers)
        status, model = promised_answer(plans[policy], method, headers)
        case = case_name(method, "/ok", headers)
        if short:
            echo = header_value(model, ACAO) == "*" and falls_short(kind, "no-star")
            echoed = header_value(headers, "Origin") if echo else header_value(model, ACAO)
            seen = header_value(real.headers, ACAO)
            verdicts.add(case, {ACAO: seen}, {ACAO: echoed}, answer_note(real))
            continue
        varies = "origin" in vary_tokens(real.headers)
        modelled = "origin" in vary_tokens(model)
        observed: Verdict = {"CORS headers": _cors(real.headers)}
        expected: Verdict = {"CORS headers": _cors(model)}
        if not is_preflight(method, headers):
            observed["Vary: Origin"], expected["Vary: Origin"] = varies, modelled
        elif modelled:
            # Apache's mod_rewrite adds the headers its conditions read to Vary, Origin too,
            # even for a static *: harmless, and not the model's to predict.
            observed["Vary: Origin"], expected["Vary: Origin"] = varies, True
        if is_preflight(method, headers) and status != 200:
            observed["status"], expected["status"] = real.status, status
        verdicts.add(case, observed, expected, answer_note(real))
    verdicts.check()


# (origin taken from the intent: its first allowed or refused one, method, extra arguments)
ASKED = [
    ("allowed", "GET", []),
    ("allowed", "PUT", ["--header", "X-Request-Id"]),
    ("allowed", "PURGE", []),
    ("allowed", "GET", ["--header", "X-Evil: 1"]),
    ("allowed", "GET", ["--read", "ETag", "--read", "X-Total-Count"]),
    ("refused", "GET", []),
    ("refused", "DELETE", []),
]


@pytest.mark.parametrize("policy", INTENTS)
def test_explain_url_agrees_with_explain(
    server: tuple[str, dict[str, Endpoint]], policy: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The live trace on corsgen's output and explain's offline one reach the same verdict and
    the same fix, credentials as the policy has them, for each question ASKED of the policy."""
    intent = INTENTS[policy]
    at = server[1][policy]
    path = str(EXAMPLES / f"{policy}.toml")
    verdicts = Verdicts()
    for which, method, extra in ASKED:
        origins = getattr(intent, which)
        if not origins:  # the public policy refuses no origin
            continue
        asked = ["--origin", origins[0], "-X", method, *extra]
        asked += ["--credentials"] * intent.credentials
        capsys.readouterr()
        offline = main(["explain", path, *asked])
        fixes = [line for line in capsys.readouterr().out.splitlines() if line.startswith("  ")]
        url = f"http://127.0.0.1:{at.port}{at.prefix}/ok"
        live = main(["explain", path, "--url", url, *asked])
        out = capsys.readouterr().out
        observed: Verdict = {"exit code": live}
        expected: Verdict = {"exit code": offline}
        if live or offline:
            observed["says it refuses it too"] = "refuses it too" in out
            expected["says it refuses it too"] = True
            observed["fixes"] = [
                line for line in out.splitlines() if line.startswith("  ") and ": add" in line
            ]
            expected["fixes"] = [line for line in fixes if ": add" in line]
        verdicts.add(" ".join(asked), observed, expected, out.strip().replace("\n", " | "))
    verdicts.check()
