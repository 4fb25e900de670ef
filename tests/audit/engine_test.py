"""The audit engine on scripted models (testing/fake_routes.py): each flaw a config can have is
reported once, by its rule, at the line the model's attribution names, and a correct config,
hand-written or corsgen's own snippet, gives nothing."""

from __future__ import annotations

from dataclasses import replace

import pytest

from corsgen.audit.answers import Context
from corsgen.audit.engine import MAX_PROBES, MAX_SCOPES, MAX_SENT, PLACED_AT, audit, error_path
from corsgen.audit.reported import Audit
from corsgen.cli.audit import fixes
from corsgen.plan import Plan
from corsgen.routing import OriginRegex, Place, audit_backend
from corsgen.targets import NAMES, TARGETS
from testing.fake_routes import FILE, LINES, Block, Cors, FakeConfig
from testing.policies import plan_of

GOOD = Cors(
    LINES,
    origins=("https://app.example.com",),
    credentials=True,
    methods=("GET", "PUT"),
    headers=("X-Token",),
    max_age=600,
)
API = plan_of(
    'name = "api"\nallow_origins = ["https://app.example.com"]\n'
    'allow_methods = ["GET", "PUT"]\nallow_credentials = true\n'
)
ROOT = Block(1, "/")


def regex(source: str, flavor: str = "pcre", ignore_case: bool = False) -> OriginRegex:
    return OriginRegex(source, Place(FILE, 4), flavor, ignore_case)


def api(**changes: object) -> Block:
    """location /api/ at line 3, with GOOD's CORS changed as given."""
    return Block(3, "/api/", cors=replace(GOOD, **changes))  # type: ignore[arg-type]


Expected = set[tuple[str, int]]
# (name, blocks, expected (slug, line) findings); Context: nginx, no policy given.
CASES: list[tuple[str, list[Block], Expected]] = [
    ("correct", [ROOT, api()], set()),
    ("correct-regex", [ROOT, api(origins=(), regex=regex(r"^https://[a-z0-9-]+\.example\.com$"))],
     set()),
    ("correct-star", [ROOT, api(origins=(), star=True, credentials=False)], set()),
    ("no-always", [ROOT, api(always=False)], {("cors-missing-on-errors", 3)}),
    ("no-vary", [ROOT, api(vary=False)], {("vary-origin-missing", 3)}),
    ("max-age", [ROOT, api(max_age=1_728_000)], {("max-age-over-cap", 9)}),
    ("reflects", [ROOT, api(origins=(), reflect=True)], {("reflects-any-origin", 5)}),
    ("reflects-no-credentials", [ROOT, api(origins=(), reflect=True, credentials=False)],
     {("reflects-any-origin", 5)}),
    ("star-credentials", [ROOT, api(origins=(), star=True)], {("wildcard-with-credentials", 5)}),
    ("regex-unanchored", [ROOT, api(origins=(), regex=regex(r"example\.com"))],
     {("origin-regex-admits-hostile", 4)}),
    ("regex-http", [ROOT, api(origins=(), regex=regex(r"^https?://app\.example\.com$"))],
     {("origin-regex-admits-hostile", 4)}),
    ("regex-dot", [ROOT, api(origins=(), regex=regex("^https://app.example.com$", "re2", True))],
     {("origin-regex-admits-hostile", 4)}),
    ("auth-first", [ROOT, Block(3, "/api/", cors=GOOD, auth=2, auth_first=True)],
     {("preflight-reaches-auth", 2)}),
    ("preflight-to-backend", [ROOT, api(preflight_status=None)],
     {("preflight-reaches-backend", 3)}),
    ("upstream-passes", [ROOT, Block(3, "/api/", cors=GOOD, hides_cors=False)],
     {("duplicate-cors-header", 3), ("upstream-cors-passes", 3)}),
    ("twice", [ROOT, api(extra=(("Access-Control-Allow-Credentials", "true", 12),))],
     {("duplicate-cors-header", 12), ("refused-origin-gets-cors", 12)}),
    ("secret", [ROOT, Block(3, "/api/", cors=GOOD, hides_secret=False)],
     {("hidden-header-leaks", 3)}),
    ("private-network", [ROOT, api(private_network=True)], {("private-network-obsolete", 11)}),
    ("star-headers", [ROOT, api(headers=("*",))], {("allow-headers-star-with-credentials", 8)}),
    ("refused-gets-credentials", [ROOT, api(unconditional=True)],
     {("refused-origin-gets-cors", 6)}),
    ("snippet", [ROOT, Block(3, "/api/", snippet=API)], set()),
]  # fmt: skip


def run(blocks: list[Block], target: str = "nginx", **context: object) -> Audit:
    """Audit the blocks as `target`'s config (its fixes; none for a name no target has)."""
    plans: dict[str, Plan] = context.pop("plans", {})  # type: ignore[assignment]
    intent: Plan | None = context.pop("intent", None)  # type: ignore[assignment]
    own = fixes(TARGETS[target]) if target in TARGETS else {}
    return audit(FakeConfig(blocks), Context(target, plans, intent, own))


def found(result: Audit) -> Expected:
    return {(r.finding.slug, r.finding.line or 0) for r in result.findings}


@pytest.mark.parametrize(("blocks", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_flaw_is_found_at_its_line(blocks: list[Block], expected: Expected) -> None:
    result = run(blocks)
    assert found(result) == expected
    for reported in result.findings:
        assert reported.finding.file == FILE and reported.count >= 0


def test_a_reflected_origin_is_a_warning_without_credentials() -> None:
    severities = {
        creds: run([ROOT, api(origins=(), reflect=True, credentials=creds)]).findings[0]
        for creds in (True, False)
    }
    assert severities[True].finding.severity == "error"
    assert severities[False].finding.severity == "warning"


def test_a_finding_lists_the_requests_it_shows_on() -> None:
    (reported,) = run([ROOT, api(always=False)]).findings
    assert reported.count == len(reported.requests) >= 1
    assert all(r.path.endswith("corsgen-probe-not-found") for r in reported.requests)
    assert all(r.origin == "https://app.example.com" for r in reported.requests)


def test_an_answer_the_same_for_every_origin_needs_no_vary() -> None:
    """`*` is the answer whatever the Origin (the model answers another origin the same): held
    to a policy that varies, it differs from the policy, and no cache serves it to the wrong
    origin."""
    star = api(origins=(), star=True, credentials=False, vary=False)
    assert found(run([ROOT, star], intent=API)) == {("policy-differs", 3), ("policy-differs", 5)}


def test_a_snippet_is_held_to_its_policy_when_given() -> None:
    blocks = [ROOT, Block(3, "/api/", snippet=API)]
    assert found(run(blocks, plans={"api": API})) == set()
    result = run(blocks)
    assert result.findings == [] and result.notes == [
        f"{FILE}:3: the snippet of api is checked for what any origin can read; "
        "give --policy api.toml to hold it to its policy"
    ]


SNIPPET_CASES: list[tuple[str, list[Block], Expected]] = [
    ("errors-elsewhere", [ROOT, Block(3, "/api/", snippet=API, errors_to="/errors/"),
                          Block(20, "/errors/")], {("cors-headers-dropped", 20)}),
    ("auth-first", [ROOT, Block(3, "/api/", snippet=API, auth=4, auth_first=True)],
     {("preflight-reaches-auth", 4)}),
    ("auth-after", [ROOT, Block(3, "/api/", snippet=API, auth=4)], set()),
    ("front-controller", [ROOT, Block(3, "/api/", snippet=API, redirect_to="/index.php"),
                          Block(20, "/index.php", hides_cors=False)],
     {("cors-headers-dropped", 20), ("upstream-cors-passes", 20)}),
    ("upstream", [ROOT, Block(3, "/api/", snippet=API, hides_cors=False)],
     {("upstream-cors-passes", 3), ("duplicate-cors-header", 3)}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("blocks", "expected"), [c[1:] for c in SNIPPET_CASES], ids=[c[0] for c in SNIPPET_CASES]
)
def test_where_the_config_undoes_a_snippet(blocks: list[Block], expected: Expected) -> None:
    assert found(run(blocks, plans={"api": API})) == expected


ADMIN = plan_of('name = "admin"\nallow_origins = ["https://admin.example.com"]\n')


def test_a_section_that_merges_another_policy_is_held_to_its_own() -> None:
    # /api/admin/ answers with api's grant (two sections merged), its marker names admin.
    merged = Block(13, "/api/admin/", snippet=API, named="admin")
    blocks = [ROOT, Block(3, "/api/", snippet=API), merged]
    result = run(blocks, plans={"api": API, "admin": ADMIN})
    # https://app.example.com, which api allows and admin refuses, reads /api/admin/: at the
    # snippet line that sent its Allow-Origin.
    assert ("policy-differs", 14) in found(result)
    assert any(
        "https://app.example.com" in str(r.requests)
        for r in result.findings
        if r.finding.line == 14
    )


def test_a_snippet_is_held_to_what_its_lines_grant_without_its_policy() -> None:
    blocks = [
        ROOT,
        Block(3, "/api/", snippet=API, errors_to="/errors/", reads_snippet=True),
        Block(20, "/errors/"),
    ]
    result = run(blocks)
    assert found(result) == {("cors-headers-dropped", 20)} and result.notes == []


def test_hand_written_cors_is_held_to_the_one_policy_no_snippet_names() -> None:
    wider = api(origins=("https://app.example.com", "https://old.example.com"))
    result = run([ROOT, wider], intent=API)
    # Its preflight lists X-Token and Max-Age, which the policy does not (line 3, the block);
    # https://old.example.com reads, which the policy refuses (line 5, Allow-Origin's).
    assert found(result) == {("policy-differs", 3), ("policy-differs", 5)}
    assert all("api does not mean" in r.finding.message for r in result.findings)


# Each rule's case for a server whose fix differs, and the generic one for the others.
SERVER_CASES = {
    "cors-missing-on-errors": [ROOT, api(always=False)],
    "upstream-cors-passes": [ROOT, Block(3, "/api/", cors=GOOD, hides_cors=False)],
    "hidden-header-leaks": [ROOT, Block(3, "/api/", cors=GOOD, hides_secret=False)],
}


@pytest.mark.parametrize("target", NAMES)
@pytest.mark.parametrize("slug", SERVER_CASES)
def test_a_fix_names_the_servers_own_directive(target: str, slug: str) -> None:
    (own,) = [r.finding for r in run(SERVER_CASES[slug], target).findings if r.finding.slug == slug]
    (generic,) = [
        r.finding for r in run(SERVER_CASES[slug], "-").findings if r.finding.slug == slug
    ]
    cases = {(rule, case) for rule, case, _ in TARGETS[target].fixes}
    assert (own.fix != generic.fix) == ((own.rule_id, "answer") in cases)


@pytest.mark.parametrize(
    ("path", "error"),
    [
        ("/", "/corsgen-probe-not-found"),
        ("/api/ok?x=1", "/api/corsgen-probe-not-found"),
        ("/fonts/a.woff2", "/fonts/corsgen-probe-not-found.woff2"),
        ("/api/report.json", "/api/corsgen-probe-not-found.json"),
        ("/.env", "/corsgen-probe-not-found"),
    ],
)
def test_an_error_path_is_beside_the_path_with_its_extension(path: str, error: str) -> None:
    """So that a block chosen by the file's type (`*.woff2`, `location ~ \\.json$`) serves it
    too; the audit's backend answers it 404."""
    assert error_path(path) == error
    assert audit_backend("GET", error)[0] == 404


def test_a_model_is_probed_within_bounds() -> None:
    many = [ROOT, *(Block(10 + i, f"/api{i}/", cors=GOOD) for i in range(MAX_SCOPES + 5))]
    model = FakeConfig(many)
    result = audit(model, Context("nginx", {}))
    assert result.notes[0] == f"probed the first {MAX_SCOPES:,} of {MAX_SCOPES + 5:,} CORS scopes"
    assert len(model.asked) <= MAX_SENT + MAX_PROBES + MAX_SCOPES


def test_a_run_stops_probing_past_its_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("corsgen.audit.engine.MAX_SENT", 150)
    model = FakeConfig([ROOT, *(Block(10 + i, f"/api{i}/", cors=GOOD) for i in range(5))])
    result = audit(model, Context("nginx", {}))
    # The first scope's battery passes the bound: the four after it are not probed.
    assert result.notes == ["sent 150 requests; 4 scopes were not probed"]


def test_a_scope_is_sampled_evenly_past_its_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("corsgen.audit.engine.MAX_PROBES", 300)
    origins = tuple(f"https://a{i}.example.com" for i in range(60))
    model = FakeConfig([ROOT, api(origins=origins)])
    result = audit(model, Context("nginx", {}))
    (note,) = result.notes
    assert note.startswith(f"{FILE}:3: sent 300 of ") and note.endswith(" evenly sampled")
    # and the baseline, and the error path asked once (is it the scope's?)
    assert len(model.asked) == 300 + 1 + 1
    # The hostile origins at the end of the battery are among those sent.
    assert any("corsgen-evil" in str(a) for a in model.asked)


# The rule table's cases these tests reach (tests/rules/table_test.py reads this).
REACHES = (
    ("CG101", "answered"),
    ("CG402", "answer"),
    ("CG402", "add-header-inherit"),
    ("CG410", "credentials"),
    ("CG410", "no-credentials"),
    ("CG411", "proof"),
    ("CG411", "admits"),
    ("CG412", "answer"),
    ("CG412", "add-header-always"),
    ("CG412", "header-always"),
    ("CG412", "after-response"),
    ("CG412", "handle-errors"),
    ("CG413", "answer"),
    ("CG414", "answer"),
    ("CG414", "backend"),
    ("CG414", "hide-header"),
    ("CG414", "header-unset"),
    ("CG414", "del-header"),
    ("CG414", "defer"),
    ("CG415", "answer"),
    ("CG415", "hide-header"),
    ("CG415", "header-unset"),
    ("CG415", "del-header"),
    ("CG415", "header-delete"),
    ("CG416", "answer"),
    ("CG417", "answer"),
    ("CG418", "answer"),
    ("CG419", "answer"),
    ("CG420", "answer"),
    ("CG421", "answer"),
    ("CG421", "hide-header-inherit"),
    ("CG422", "answer"),
)


def _reaching(rule: str, case: str) -> tuple[list[Block], str, dict[str, object]]:
    """A config, target and context that reach one case."""
    owners = [
        name for name, t in TARGETS.items() if (rule, case) in {(r, c) for r, _, c in t.fixes}
    ]
    target = owners[0] if owners else "-"  # "-": no target, the generic cases
    slug_configs = {
        "CG101": [ROOT, api(origins=(), star=True)],
        "CG402": SNIPPET_CASES[0][1],
        "CG410": [ROOT, api(origins=(), reflect=True, credentials=case == "credentials")],
        "CG411": [ROOT, api(origins=(), regex=regex(
            r"^https?://app\.example\.com$" if case == "proof"
            else r"^https://[a-z]+\.example\.com(?<!evil\.example\.com)"))],
        "CG412": SERVER_CASES["cors-missing-on-errors"],
        "CG413": [ROOT, api(vary=False)],
        "CG414": [ROOT, Block(3, "/api/", cors=GOOD, hides_cors=False)] if case != "answer"
        else [ROOT, api(extra=(("Access-Control-Allow-Credentials", "true", 12),))],
        "CG415": SERVER_CASES["upstream-cors-passes"],
        "CG416": [ROOT, Block(3, "/api/", cors=GOOD, auth=2, auth_first=True)],
        "CG417": [ROOT, api(preflight_status=None)],
        "CG418": [ROOT, api(unconditional=True)],
        "CG419": [ROOT, api(headers=("*",))],
        "CG420": [ROOT, api(private_network=True)],
        "CG421": SERVER_CASES["hidden-header-leaks"],
        "CG422": [ROOT, api(origins=("https://old.example.com",))],
    }  # fmt: skip
    context: dict[str, object] = {"intent": API} if rule == "CG422" else {}
    if rule == "CG402":
        context = {"plans": {"api": API}}
    return slug_configs[rule], target, context


@pytest.mark.parametrize(("rule", "case"), REACHES)
def test_each_case_is_reached(rule: str, case: str, rules_used: set[tuple[str, str]]) -> None:
    blocks, target, context = _reaching(rule, case)
    run(blocks, target, **context)
    assert (rule, case) in rules_used, sorted(rules_used)


def test_every_rule_the_audit_gives_says_where_it_is_reported() -> None:
    assert {rule for rule, _ in REACHES} | {"CG202"} == set(PLACED_AT)
