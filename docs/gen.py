"""The tables the docs generate from the code, so that they cannot drift from it.

The pages (docs/*.md, README.md) call these from cog blocks:

    <!-- [[[cog import gen; cog.out(gen.rules()) ]]] -->
    ... what the function returns, written by cog ...
    <!-- [[[end]]] -->

`cog -r -I docs README.md docs/*.md docs/servers/*.md` rewrites every block, and
`cog --check -I docs ...` fails when one is stale (tests/docs_test.py runs it). Each function
returns Markdown; none reads anything but corsgen itself, except auditors(), which reads the
comparison of the auditors committed beside the nginx corpus (tests/audit/corpus/nginx/).
"""

from __future__ import annotations

import collections
import functools
import tempfile
import types
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import click

# Where each thing lives in corsgen. When a module moves or is renamed, change its line here and
# nothing else (the policy model may become corsgen.policy.schema, the rule table corsgen.rules).
from corsgen import limits as policy_limits
from corsgen.cli import cli
from corsgen.files import MAX_BYTES
from corsgen.pipeline import load_and_plan
from corsgen.policy.schema import Policy
from corsgen.regex.automaton import MAX_CRAWLED
from corsgen.regex.backtracking import MAX_STATES
from corsgen.regex.language import MAX_NAMED_DOMAINS, MAX_NAMED_SCHEMES
from corsgen.rules.table import RULES
from corsgen.targets import TARGETS, readers

# The rule whose cases are the servers' shortfalls, and its severity.
SHORTFALL_RULE = "CG501"


def _cell(text: str) -> str:
    """Text safe in one cell of a Markdown table."""
    return " ".join(text.split()).replace("|", "\\|")


def _escaped(text: str) -> str:
    """Plain text (a description, a message) with its Markdown characters escaped."""
    for char in "\\`*_[]<>":
        text = text.replace(char, "\\" + char)
    return text


def _text(text: str) -> str:
    """Plain text in a table cell."""
    return _cell(_escaped(text))


def _table(head: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _number(value: int) -> str:
    return f"{value:,}"


def _bytes(value: int) -> str:
    mib = 1024 * 1024
    if value % mib == 0:
        return f"{value // mib} MiB"
    if value % 1024 == 0:
        return f"{value // 1024} KiB"
    return f"{value:,} bytes"


# --- the policy's keys ---------------------------------------------------------------------------


def _type(annotation: Any) -> str:
    text = str(annotation).replace("typing.", "")
    names = {
        "str": "string",
        "bool": "bool",
        "int": "integer",
        "list[str]": "list of strings",
        "str | None": "string",
        "int | None": "integer",
    }
    if isinstance(annotation, type):
        text = annotation.__name__
    return names.get(text, text)


def _default(field: Any) -> str:
    if field.is_required():
        return "**required**"
    if field.default is None:
        return "unset"
    value = field.default
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, list):
        return "`[" + ", ".join(f'"{v}"' for v in value) + "]`"
    return f"`{value}`"


def policy_keys() -> str:
    """Every key of a policy file: its type, default and the model's own description (which the
    JSON Schema of `corsgen schema` carries too)."""
    rows = [
        (f"`{name}`", _type(field.annotation), _default(field), _text(field.description or ""))
        for name, field in Policy.model_fields.items()
    ]
    return _table(("key", "type", "default", "meaning"), rows)


# --- the rules -----------------------------------------------------------------------------------


def rules() -> str:
    """The rule table, as `corsgen rules` lists it."""
    rows = [(r.id, r.severity, f"`{r.slug}`", r.summary) for r in RULES]
    return _table(("id", "severity", "name", "refuses or warns about"), rows)


def audit_checks() -> str:
    """What `corsgen audit` finds in a config's answers, and the line it reports each at."""
    from corsgen.audit.engine import PLACED_AT

    rows = [
        (r.id, r.severity, f"`{r.slug}`", r.summary.removeprefix("audit: "), PLACED_AT[r.id])
        for r in RULES
        if r.id in PLACED_AT
    ]
    return _table(("id", "severity", "name", "finds", "reported at"), rows)


# --- the auditors on the nginx corpus ------------------------------------------------------------

# What gixy-ng and `corsgen audit` report on each config of the nginx corpus, committed by
# `python -m testing.auditors` (tests/audit/nginx_gixy_test.py holds it to a fresh run).
AUDITORS = Path(__file__).resolve().parent.parent / "tests/audit/corpus/nginx/auditors.json"


def _found(entries: Iterable[str]) -> str:
    return _cell("; ".join(entries)) or "nothing"


def _where(config: str, entry: Mapping[str, Any]) -> str:
    """A finding's line, and its file when it is another than the config (an included one)."""
    return f"{entry['line']}" if entry["file"] == config else f"{entry['file']}:{entry['line']}"


def auditors() -> str:
    """Each auditor on the nginx corpus, a row each (the README's table)."""
    return _auditors(by_config=False)


def auditors_by_config() -> str:
    """What each auditor reports on every config of the nginx corpus (the flaws a config plants,
    gixy-ng's findings about CORS and its others, corsgen audit's; an audit finding in bold is a
    planted flaw, at its line)."""
    return _auditors(by_config=True)


def _auditors(by_config: bool) -> str:
    import json

    results = json.loads(AUDITORS.read_text(encoding="utf-8"))
    configs: dict[str, Any] = results["configs"]
    planted = {(n, line, slug) for n, c in configs.items() for line, slug in c["planted"]}
    cors = [(n, g) for n, c in configs.items() for g in c["gixy"] if g["cors"]]
    by_plugin = collections.Counter(g["plugin"] for _, g in cors)
    plugins = ", ".join(f"`{p}` {count}" for p, count in sorted(by_plugin.items()))
    others = sum(not g["cors"] for c in configs.values() for g in c["gixy"])
    audit = [(n, a) for n, c in configs.items() for a in c["audit"]]
    hit = {(n, a["line"], a["slug"]) for n, a in audit if a["file"] == n} & planted
    clean = [n for n, c in configs.items() if not c["planted"]]
    extra = sum(1 for n, _ in audit if n in clean)
    summary = [
        (
            f"gixy-ng {results['gixy-ng']}",
            "yes: each config in an nginx.conf of its own, default options, `--format json`",
            f"{len(cors)} findings about CORS ({plugins}) on {len({n for n, _ in cors})} configs, "
            f"each also a corsgen audit finding (tests/audit/nginx_gixy_test.py); "
            f"{others} findings about other things",
        ),
        (
            "corsgen audit",
            "yes: `corsgen audit CONFIG --format json`, no `--policy`",
            f"{len(hit)} of the {len(planted)} planted flaws at their line, {len(audit)} "
            f"findings in all; {extra} on the {len(clean)} configs with no planted flaw",
        ),
        *_semgrep_summary(results["semgrep"], clean),
        *((o["auditor"], o["run here"], o["found"]) for o in results["others"]),
    ]
    if by_config:
        rows = []
        for name, found in configs.items():
            flaws = (f"{line} `{slug}`" for line, slug in found["planted"])
            about = (f"{_where(name, g)} `{g['plugin']}`" for g in found["gixy"] if g["cors"])
            other = dict.fromkeys(f"`{g['plugin']}`" for g in found["gixy"] if not g["cors"])
            audited = (_audited(name, a, planted) for a in found["audit"])
            matched = _semgrep_cell(results["semgrep"], name)
            rows.append(
                (f"`{name}`", _found(flaws), _found(about), _found(other), _found(audited), matched)
            )
        head = (
            "config",
            "planted flaws",
            "gixy-ng: about CORS",
            "gixy-ng: other",
            "corsgen audit",
            "Semgrep",
        )
        return _table(head, rows)
    summarised = [tuple(map(_cell, row)) for row in summary]
    return _table(("auditor", "run here", "on the nginx corpus"), summarised)


# How the test reads each `where` of testing/auditors.py's RELATED.
_WHERE = {
    "line": "at the line gixy-ng names",
    "nested": "at a block nested in the one whose `add_header` gixy-ng names, with `add_header` "
    "lines of its own",
    "block": "at the block that holds the line gixy-ng names, or at one of its lines",
}


def gixy_rules() -> str:
    """Which gixy-ng findings are about CORS, and the corsgen audit finding each must also be
    (tests/audit/nginx_gixy_test.py holds the corpus to it)."""
    import json

    from corsgen.audit.engine import PLACED_AT

    related = json.loads(AUDITORS.read_text(encoding="utf-8"))["related"]
    slugs = {r.id: r.slug for r in RULES}
    rows = []
    for r in related:
        rules = ", ".join(f"{i} `{slugs[i]}`" for i in r["rules"]) or "none yet"
        if set(r["rules"]) == set(PLACED_AT):
            rules = "any: what that block's answers get wrong"
        rows.append(
            (f"`{r['plugin']}`", _cell(r["flaw"]), _cell(r["when"]), rules, _WHERE[r["where"]])
        )
    head = ("gixy-ng plugin", "flaw", "about CORS when", "corsgen audit rule", "where")
    return _table(head, rows)


def _semgrep_summary(semgrep: Any, clean: Sequence[str]) -> list[tuple[str, str, str]]:
    """Semgrep's row: run by hand, its matches kept for the configs they were found in."""
    if not semgrep:
        return []
    configs = semgrep["configs"]
    found = [(n, line, rule, cors) for n, c in configs.items() for line, rule, cors in c["found"]]
    rules = ", ".join(f"`{r}`" for r in sorted({r for _, _, r, _ in found})) or "none"
    return [
        (
            f"Semgrep {semgrep['version']}",
            f"by hand, not by the tests, on {len(configs)} configs; {semgrep['rules']}",
            f"{len(found)} matches ({rules}) on {len({n for n, *_ in found})} configs, "
            f"{sum(f[3] for f in found)} of them at a line that sets an Access-Control-* header; "
            f"{sum(1 for n, *_ in found if n in clean)} on the configs with no planted flaw",
        )
    ]


def _semgrep_cell(semgrep: Any, config: str) -> str:
    if not semgrep or config not in semgrep["configs"]:
        return "not run"
    by_rule: dict[str, list[str]] = {}
    for line, rule, _ in semgrep["configs"][config]["found"]:
        by_rule.setdefault(rule, []).append(str(line))
    return _found(f"`{rule}` at {', '.join(lines)}" for rule, lines in by_rule.items())


def _audited(config: str, entry: Mapping[str, Any], planted: set[tuple[str, int, str]]) -> str:
    """An audit finding, in bold when it is a flaw the config plants there."""
    text = f"{_where(config, entry)} `{entry['slug']}`"
    ours = entry["file"] == config and (config, entry["line"], entry["slug"]) in planted
    return f"**{text}**" if ours else text


# --- the limits ----------------------------------------------------------------------------------

# What each limit of limits.py bounds, in the words of a policy's author: (what, unit, because).
# The value is read from limits.py; a limit not named here or in BOUNDS fails the build.
LIMITS: Mapping[str, tuple[str, Callable[[int], str], str]] = {
    "MAX_NAME_LENGTH": (
        "`name`",
        lambda n: f"{n} characters",
        "nginx's default `variables_hash_bucket_size` (64) holds variable names of up to 46 "
        "characters, and the longest is `corsgen_NAME_private_network_ok`",
    ),
    "MAX_ORIGINS": ("`allow_origins`", lambda n: f"{n:,} entries", ""),
    "MAX_ORIGIN_LENGTH": (
        "an origin",
        lambda n: f"{n} characters",
        "`https://`, a 253-character host and a port make 267",
    ),
    "MAX_LIST_ENTRIES": (
        "`allow_methods`, `allow_headers`, `expose_headers`",
        lambda n: f"{n:,} entries each",
        "",
    ),
    "MAX_TOKEN_LENGTH": ("a method or header name", lambda n: f"{n} characters", ""),
    "MAX_HEADER_VALUE": (
        "each list, joined into its header (`a, b, c`)",
        lambda n: f"{n:,} characters",
        "a preflight carries two lists: the response head stays far under Chromium's 256 KiB, "
        "past which it fails the request",
    ),
    "MAX_MAX_AGE": ("`max_age`", _number, "the largest signed 32-bit integer"),
    "MAX_FILE_VALUES": (
        "a policy or manifest file",
        lambda n: (
            f"{n:,} values (commas, brackets, braces, lines and backslashes, counted "
            "before it is parsed)"
        ),
        "a 3 MB file of `[]` would otherwise cost gigabytes; a policy at every limit holds "
        "about 103,000",
    ),
    "MAX_REGEX_LENGTH": (
        "`allow_origin_regex`",
        lambda n: (
            f"{n:,} characters, {MAX_STATES:,} states of its automaton, "
            f"{MAX_NAMED_DOMAINS} named registrable domains and {MAX_NAMED_SCHEMES} schemes; no "
            f"automaton of the proof past {MAX_CRAWLED:,} states (CG120 `regex-proof`)"
        ),
        "the proof (CG108) works on the automaton; each alternative, written out for nginx, must "
        "also fit the 4,093 bytes nginx reads in one map key",
    ),
    "MAX_FINDINGS": (
        "findings shown",
        lambda n: f"{n} of a file (of a `corsgen audit` run), then how many more",
        "one screenful: 100,000 flagged origins print 52 lines",
    ),
}

# What each bound of `corsgen audit` and of the manifest's globs covers: (what, unit).
BOUNDS: Mapping[str, tuple[str, Callable[[int], str]]] = {
    "MAX_CONFIG_BYTES": (
        "bytes read in one run, all files together (for Caddy, with its imports written out "
        "where Caddy splices them in)",
        _bytes,
    ),
    "MAX_CONFIG_FILES": ("files read in one run, each once", _number),
    "MAX_CONFIG_DEPTH": (
        "levels of includes (as httpd), and of blocks (nginx) or sections (Apache)",
        _number,
    ),
    "MAX_CONFIG_EXPANDED": (
        "directives (nginx) or lines (Apache, Caddy) with every include written out; a file "
        "included again into the same nginx block, or with the same Apache sections and "
        "variables, is not read again, while each Caddy import counts each time; each Apache "
        "`Include` counts as a line walked, even of an empty file",
        _number,
    ),
    "MAX_CONFIG_WORDS": ("words (directive names and arguments) kept in memory", _number),
    "MAX_CONFIG_WALKED_WORDS": (
        "words read with the includes written out (an Apache include after each of many "
        "`Define`s reads its file again)",
        _number,
    ),
    "MAX_CONFIG_SUBSTITUTED": (
        "bytes written into the lines by Apache's `Define` and environment values and Caddy's "
        "`{$ENV}` values; Caddy's `{args}` count as words and bytes as they are written in",
        _bytes,
    ),
    "MAX_ADAPTED_BYTES": ("JSON read from `caddy adapt`", _bytes),
    "MAX_CONFIG_ROUTES": (
        "routes one model matches a request against one by one (`corsgen audit`, `corsgen "
        "import`): those it cannot look up by host or path prefix (a regex, a header or method "
        "alone, a negation, a wildcard host name): Traefik routers, Apache `<LocationMatch>`, "
        "regex and wildcard sections, Caddy routes with such matchers (nested ones too), HAProxy "
        "rule lines and `use_backend` lines that test no path prefix first, Envoy routes of no "
        "prefix or path. Routes looked up by host or prefix (a mass host's `<VirtualHost>`s, "
        "thousands of `PathPrefix` routers) are not counted; the sizes above bound them. nginx "
        "looks its locations up in a tree, as nginx does, and has no such count",
        _number,
    ),
    "MAX_CONFIG_GLOB_ENTRIES": (
        "directory entries read by the include globs of one run (nginx, Apache, Caddy)",
        _number,
    ),
    "MAX_INGRESS_DOCUMENTS": (
        "YAML documents read from one file of Ingress manifests (`corsgen import`)",
        _number,
    ),
    "MAX_GLOB_ENTRIES": (
        "files and directories read by all of a manifest's globs (CG305 `glob-wide`)",
        _number,
    ),
    "MAX_GLOB_PARTS": (
        "parts of a manifest glob from its first wildcard on (CG305 `glob-parts`)",
        _number,
    ),
}


def _constants(module: types.ModuleType) -> dict[str, int]:
    return {
        name: value
        for name, value in vars(module).items()
        if name.startswith("MAX_") and isinstance(value, int)
    }


def _unnamed() -> set[str]:
    return set(_constants(policy_limits)) - set(LIMITS) - set(BOUNDS)


def limits() -> str:
    """The sizes of a policy corsgen accepts, from limits.py."""
    values = _constants(policy_limits)
    if unnamed := _unnamed():
        raise SystemExit(f"docs/gen.py: say what {', '.join(sorted(unnamed))} bounds in LIMITS")
    rows = [(what, unit(values[name]), because) for name, (what, unit, because) in LIMITS.items()]
    return _table(("what", "at most", "because"), rows)


def bounds() -> str:
    """The bounds of one run of `corsgen audit` and of a manifest's globs."""
    values = _constants(policy_limits)
    if unnamed := _unnamed():
        raise SystemExit(f"docs/gen.py: say what {', '.join(sorted(unnamed))} bounds in BOUNDS")
    rows = [("a file corsgen reads (policy, manifest, server config)", _bytes(MAX_BYTES))]
    rows += [(what, unit(values[name])) for name, (what, unit) in BOUNDS.items()]
    return _table(("what", "at most"), rows)


# --- the servers' shortfalls ---------------------------------------------------------------------

# For each CG501 case, what a policy that leads a server to it holds, and such a policy. A case of
# the rule without one here fails the build, and so does a policy that no server notes for its case.
_ORIGIN = 'allow_origins = ["https://app.example.com"]\n'
_EXPOSED = ", ".join(f'"X-Response-{i:03d}"' for i in range(100))
_REGEX = r"https://pr-[0-9]{1,40}\.preview\.example\.dev"
SHORTFALL_POLICIES: Mapping[str, tuple[str, str]] = {
    "buffers": (
        "lists whose headers outgrow HAProxy's default buffers (here 100 `expose_headers`)",
        f"{_ORIGIN}expose_headers = [{_EXPOSED}]\npreflight_status = 200\n",
    ),
    "preflight-200": ("`preflight_status = 204` (the default)", _ORIGIN),
    "private-network": (
        "`allow_private_network = true`",
        _ORIGIN + "allow_private_network = true\npreflight_status = 200\n",
    ),
    "no-star": ('`allow_origins = ["*"]`', 'allow_origins = ["*"]\npreflight_status = 200\n'),
    "regex-size": (
        f"an origin pattern whose RE2 program is large (here `{_REGEX}`)",
        f"{_ORIGIN}allow_origin_regex = '{_REGEX}'\npreflight_status = 200\n",  # a literal string
    ),
    "star-headers": (
        '`"*"` in `allow_headers`',
        'allow_origins = ["*"]\nallow_headers = ["*"]\npreflight_status = 200\n',
    ),
    "refused-origin": ('exact origins (not `"*"`)', _ORIGIN + "preflight_status = 200\n"),
    "preflight-ok": ("any `preflight_status`", _ORIGIN),
    "no-vary": ("exact origins or wildcards", _ORIGIN),
    "backend-cors": ("any allow list", _ORIGIN),
    "ignores-wildcards": (
        "a wildcard (`https://*.example.com`)",
        'allow_origins = ["https://*.example.com"]\n',
    ),
    "preflight-auth": ("any allow list", _ORIGIN),
    "auth-first": ("any allow list", _ORIGIN),
    "star-not-null": ('`"*"`', 'allow_origins = ["*"]\n'),
    "origin-twice": ("any allow list", _ORIGIN),
    "basic-auth": ("any allow list", _ORIGIN),
}


@functools.cache
def _noting(case: str, policy: str) -> set[str]:
    """The targets that note this CG501 case for this policy text."""
    with tempfile.TemporaryDirectory(prefix="corsgen-docs-") as tmp:
        path = Path(tmp) / "api.toml"
        path.write_text(policy, encoding="utf-8")
        plan, _ = load_and_plan(path)
    return {
        name
        for name, target in TARGETS.items()
        if any(s.rule == SHORTFALL_RULE and s.case == case for s in target.shortfalls(plan))
        and not any(target.refusals(plan))  # a policy refused for the output gets no note
    }


def _fields(server: str) -> dict[str, object]:
    """Values for a CG501 case's texts, the numbers a policy decides left as N."""
    fields: dict[str, object] = {"server": server, "status": 204, "limit": "N", "size": "N"}
    fields |= {"implementation": "the implementation", "tracker": "its tracker"}
    return fields | {"sent": "…", "maxrewrite": "N", "bufsize": "N"}


def server_notes(target: str) -> str:
    """The CG501 notes `corsgen check --target TARGET` can give, each with the policy it is for."""
    rule = next(r for r in RULES if r.id == SHORTFALL_RULE)
    title = TARGETS[target].title
    lines = []
    for case in rule.cases:
        holds, policy = SHORTFALL_POLICIES[case]
        if target in _noting(case, policy):
            fix = rule.cases[case][1].format(**_fields(title))
            lines.append(f"- `{case}`, for a policy with {holds}; fix: {_escaped(fix)}\n")
    if not lines:
        return f"`corsgen check --target {target}` gives none of the CG501 notes.\n"
    return "".join(lines)


def shortfalls() -> str:
    """Which CG501 case each target's server notes (`corsgen check --target T`), for a policy that
    holds what the row says, and the note's fix."""
    rule = next(r for r in RULES if r.id == SHORTFALL_RULE)
    if missing := set(rule.cases) - set(SHORTFALL_POLICIES):
        raise SystemExit(f"docs/gen.py: add a policy to SHORTFALL_POLICIES for {missing}")
    fields = _fields("the server")
    rows = []
    for case in rule.cases:
        holds, policy = SHORTFALL_POLICIES[case]
        noting = _noting(case, policy)
        if not noting:
            raise SystemExit(f"docs/gen.py: no target notes {case} for its policy")
        marks = ["note" if name in noting else "" for name in TARGETS]
        fix = rule.cases[case][1].format(**fields)
        rows.append((f"`{case}`", holds, *marks, _text(fix)))
    head = ("case", "when the policy has", *(t.title for t in TARGETS.values()), "fix")
    return _table(head, rows)


# What each CG530 case needs in a policy (the policy a target's format cannot say), for the
# table of what each output refuses.
REFUSAL_POLICIES: dict[str, tuple[str, str]] = {
    "regex": (
        "an `allow_origin_regex`",
        _ORIGIN + "allow_origin_regex = 'https://pr-[0-9]+\\.example\\.com'\n",
    ),
    "too-many": (
        "more than 64 origins, allowed or exposed headers",
        _ORIGIN + "expose_headers = [" + ", ".join(f'"X-{i}"' for i in range(65)) + "]\n",
    ),
    "scheme": (
        "an origin that is not http or https",
        'allow_origins = ["capacitor://localhost"]\n',
    ),
    "host": (
        "an IPv6 host (`http://[::1]:8080`), or a host with `_`",
        'allow_origins = ["http://[::1]:8080"]\n',
    ),
    "long-origin": (
        "an origin longer than 253 characters (a long host with its scheme)",
        'allow_origins = ["https://' + ".".join(["a" * 62] * 4) + '"]\n',
    ),
    "method": (
        "a method outside GET, HEAD, POST, PUT, DELETE, CONNECT, OPTIONS, TRACE, PATCH",
        _ORIGIN + 'allow_methods = ["PROPFIND"]\n',
    ),
    "star-beside": (
        '`"*"` beside other methods or request headers',
        _ORIGIN + 'allow_methods = ["*", "GET"]\n',
    ),
    "max-age": ("`max_age = 0`", _ORIGIN + "max_age = 0\n"),
    "max-age-most": (
        "`max_age` above 359,999,999 (99999h59m59s)",
        _ORIGIN + "max_age = 360000000\n",
    ),
    "regex-size": (
        "an `allow_origin_regex` alternative past 1,024 bytes as written out (anchored, narrowed)",
        _ORIGIN + "allow_origin_regex = 'https://(" + "|".join(["[^x]"] * 140) + ")\\.a\\.com'\n",
    ),
    "empty": ("`allow_methods = []`", _ORIGIN + "allow_methods = []\n"),
    "private-network": (
        "`allow_private_network = true`",
        _ORIGIN + "allow_private_network = true\n",
    ),
    "name": (
        "a name that is no Kubernetes name (`api_`: it ends in `-`)",
        _ORIGIN + 'name = "api_"\n',
    ),
}


def _refusing(case: str, policy: str) -> set[str]:
    """The targets that refuse this policy text with this CG530 case."""
    with tempfile.TemporaryDirectory(prefix="corsgen-docs-") as tmp:
        path = Path(tmp) / "api.toml"
        path.write_text(policy, encoding="utf-8")
        plan, _ = load_and_plan(path)
    return {n for n, t in TARGETS.items() if any(r.case == case for r in t.refusals(plan))}


def refusals() -> str:
    """Which output refuses which policy (CG530), one column per target that refuses any."""
    rule = next(r for r in RULES if r.id == "CG530")
    if missing := set(rule.cases) - set(REFUSAL_POLICIES):
        raise SystemExit(f"docs/gen.py: add a policy to REFUSAL_POLICIES for {missing}")
    refusing = {case: _refusing(case, REFUSAL_POLICIES[case][1]) for case in rule.cases}
    columns = [n for n in TARGETS if any(n in names for names in refusing.values())]
    rows = []
    for case, names in refusing.items():
        if not names:
            raise SystemExit(f"docs/gen.py: no target refuses {case} for its policy")
        marks = ["refused" if n in names else "" for n in columns]
        rows.append((f"`{case}`", REFUSAL_POLICIES[case][0], *marks))
    return _table(("case", "when the policy has", *(TARGETS[n].title for n in columns)), rows)


# --- the commands --------------------------------------------------------------------------------


def _commands() -> list[tuple[str, click.Command, click.Context]]:
    root = click.Context(cli, info_name="corsgen")
    found = []
    for name, command in getattr(cli, "commands", {}).items():
        if not command.hidden:
            found.append((name, command, click.Context(command, info_name=name, parent=root)))
    return found


def _usage(name: str, command: click.Command, ctx: click.Context) -> str:
    return " ".join(["corsgen", name, *command.collect_usage_pieces(ctx)])


def _usage_cell(name: str, command: click.Command, ctx: click.Context) -> str:
    """The usage in a table cell: the command as code, its arguments as text (a | of a choice
    cannot be escaped inside code the same way on GitHub and in MkDocs)."""
    pieces = " ".join(command.collect_usage_pieces(ctx))
    return f"`corsgen {name}` {_cell(pieces)}"


def _config_readers(command: str) -> str:
    """The targets whose whole config `corsgen audit` and `corsgen import` read, each by its
    routing model (not the Kubernetes outputs); "" for a command that reads no config."""
    if command not in ("audit", "import"):
        return ""
    return ", ".join(f"`{n}`" for n in readers())


def commands() -> str:
    """Every command of `corsgen --help`: its usage and its summary."""
    rows = []
    for name, command, ctx in _commands():
        summary = command.get_short_help_str()
        if readers := _config_readers(name):
            summary += f" Reads the config of {readers}."
        rows.append((_usage_cell(name, command, ctx), _cell(summary)))
    return _table(("command", "what it does"), rows)


def command_reference() -> str:
    """Each command's whole help: usage, description, and every option."""
    out = []
    for name, command, ctx in _commands():
        out.append(f"### `corsgen {name}`\n\n```text\n{_usage(name, command, ctx)}\n```\n\n")
        out.append(" ".join((command.help or "").split()) + "\n\n")
        if readers := _config_readers(name):
            out.append(f"It reads the config of {readers}.\n\n")
        for param in command.get_params(ctx):
            record = param.get_help_record(ctx)
            if not isinstance(param, click.Option) or record is None or "--help" in param.opts:
                continue
            opts, text = record
            out.append(f"- `{opts}`: {' '.join(text.split())}\n")
        out.append("\n")
    return "".join(out).rstrip("\n") + "\n"
