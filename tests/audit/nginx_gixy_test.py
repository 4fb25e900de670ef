"""gixy-ng on the nginx corpus: every finding of gixy-ng's about CORS is one of `corsgen audit`'s,
by the rule and at the place testing/auditors.py's RELATED names for its plugin; and the
committed comparison of the auditors (corpus/nginx/auditors.json, the README's table) is what
both report today."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from corsgen.routing import Place
from corsgen.targets.nginx_blocks import Conf, read
from testing.auditors import (
    BY_PLUGIN,
    GIXY,
    RESULTS,
    SEMGREP,
    AuditFinding,
    Compared,
    GixyFinding,
    as_json,
    compare,
    configs,
    kept,
    run_gixy,
)
from testing.binaries import need_binary

Run = tuple[Path, dict[str, Compared]]


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """Both auditors on the whole corpus, once (one gixy-ng run reads every config)."""
    need_binary("gixy-ng", GIXY.exists())
    root = tmp_path_factory.mktemp("corpus")
    return root, compare(root)


def _blocks(root: Path, name: str) -> list[Conf]:
    """Every server, location and if of the config, as the model reads them."""
    config, errors = read([root / name])
    assert config is not None, errors
    return [config.http, *(conf for server in config.servers for conf in server.conf.walk())]


def _at(place: Place, root: Path) -> tuple[str, int]:
    return Path(place.file).resolve().relative_to(root.resolve()).as_posix(), place.line


def _lines(conf: Conf, root: Path) -> set[tuple[str, int]]:
    """The block's own line and those of the directives written in it."""
    places = [conf.at, *(at for found in conf.own.values() for _, at in found)]
    return {_at(p, root) for p in [*places, *(step.at for step in conf.code)]}


def _places(found: GixyFinding, root: Path, name: str) -> set[tuple[str, int]]:
    """Where the audit must report the flaw gixy-ng found (RELATED's `where`)."""
    where = BY_PLUGIN[found.plugin].where
    gixy_at = (found.file, found.line)
    if where == "line":
        return {gixy_at}
    holders = [c for c in _blocks(root, name) if gixy_at in _lines(c, root)]
    if where == "block":
        return {at for conf in holders for at in _lines(conf, root)}
    assert where == "nested", where
    # gixy-ng names the parent's first add_header: the nested blocks with add_header lines of
    # their own are those that drop it.
    parents = [c for c in holders if gixy_at in {_at(p, root) for _, p in c.set_here("add_header")}]
    return {
        _at(nested.at, root)
        for parent in parents
        for nested in parent.walk()
        if nested is not parent and nested.set_here("add_header")
    }


def _reported(
    found: GixyFinding, audit: tuple[AuditFinding, ...], places: set[tuple[str, int]]
) -> bool:
    rules = BY_PLUGIN[found.plugin].rules
    return any(a.rule in rules and (a.file, a.line) in places for a in audit)


@pytest.mark.parametrize("name", configs())
def test_each_cors_finding_of_gixy_is_an_audit_finding(name: str, fresh: Run) -> None:
    root, compared = fresh
    found = compared[name]
    missed = []
    for gixy in (f for f in found.gixy if f.cors):
        places = _places(gixy, root, name)
        if not BY_PLUGIN[gixy.plugin].rules or not _reported(gixy, found.audit, places):
            missed.append(
                f"{gixy.file}:{gixy.line} {gixy.plugin} (audit looked at {sorted(places)})"
            )
    assert not missed, f"{name}: gixy-ng finds what the audit does not:\n" + "\n".join(missed)


def test_the_committed_comparison_is_a_fresh_run(fresh: Run) -> None:
    _, compared = fresh
    committed = json.loads(RESULTS.read_text())
    # Semgrep's matches are not run again (testing/auditors.py's SEMGREP): those of a config whose
    # text changed since are stale.
    today = json.loads(as_json(compared, kept(committed[SEMGREP])))
    stale = [
        n for n in sorted(today["configs"]) if committed["configs"].get(n) != today["configs"][n]
    ]
    stale += [key for key in today if key != "configs" and committed.get(key) != today[key]]
    stale += [n for n in committed["configs"] if n not in today["configs"]]
    assert not stale, f"stale in {RESULTS.name}: {stale}; rewrite it: python -m testing.auditors"


# One config with a finding of each plugin RELATED reads, about CORS or not: (line, plugin) ->
# whether it is about CORS.
_MIXED = """\
server {
    listen 127.0.0.1:8080;
    add_header Access-Control-Allow-Origin https://app.example.com;
    location / {
        if ($http_referer !~ "^https://example\\.com") {
            return 403;
        }
        if ($http_origin ~ "^https://([a-z]+)*\\.example\\.com$") {
            return 204;
        }
        if ($request_method = POST) {
            set $posted 1;
        }
        add_header Access-Control-Allow-Headers "Content-Type,
            Authorization";
        proxy_pass http://127.0.0.1:9;
    }
}
server {
    listen 127.0.0.1:8081;
    add_header X-Frame-Options DENY;
    location / {
        add_header Cache-Control no-store;
    }
}
"""
_MIXED_FOUND = {
    (3, "add_header_redefinition"): True,  # location / drops Access-Control-Allow-Origin
    (5, "origins"): False,  # a Referer regex
    (8, "regex_redos"): True,  # an Origin regex
    (12, "if_is_evil"): False,  # `set` in if
    (14, "add_header_multiline"): True,
    (21, "add_header_redefinition"): False,  # X-Frame-Options only
}


def test_which_findings_of_gixy_are_about_cors(tmp_path: Path) -> None:
    need_binary("gixy-ng", GIXY.exists())
    (tmp_path / "mixed.conf").write_text(_MIXED)
    found = run_gixy(tmp_path, ["mixed.conf"])["mixed.conf"]
    assert {(f.line, f.plugin): f.cors for f in found if f.plugin in BY_PLUGIN} == _MIXED_FOUND
