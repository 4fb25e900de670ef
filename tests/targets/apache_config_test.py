"""`corsgen audit` on Apache configs written as Debian lays them out: apache2.conf, mods-enabled,
sites-enabled. Each config is also one `apache2 -t` accepts, so the findings are about real
configs; the conformance suite shows on the real server what each finding costs."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import hypothesis
import pytest
from hypothesis import given
from hypothesis import strategies as st

from corsgen import server_config
from corsgen.cli import audit as cli_audit
from corsgen.cli import main
from corsgen.errors import CorsgenError, Finding
from corsgen.pipeline import load_and_plan
from corsgen.render import render
from corsgen.routing import Asked
from corsgen.targets.apache import MODULES, TARGET, module_lines
from corsgen.verify import find_binary
from testing.binaries import need_binary
from testing.bounded import (
    FAN,
    GRAPH_BUDGET,
    assert_refused,
    bounded_or_refused,
    chain,
    count_reads,
    cpu_within,
    include_graphs,
    verify_bounded,
    within,
)
from testing.paths import EXAMPLES

AUTH = (
    "AuthType Basic\n        AuthName api\n        AuthUserFile {root}/htpasswd\n"
    "        Require valid-user"
)


def _tree(root: Path, site: str, modules: tuple[str, ...] = MODULES) -> Path:
    """An /etc/apache2 of our own: every snippet of the examples in cors/, `site` enabled."""
    for folder in ("mods-enabled", "sites-enabled", "cors", "www/api"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    for line in module_lines(
        (*modules, "auth_basic", "authn_core", "authn_file", "authz_user")
    ).splitlines():
        name = line.split()[1].removesuffix("_module")
        (root / "mods-enabled" / f"{name}.load").write_text(line)
    for example in ("spa-api", "tenants"):
        for name, text in render(load_and_plan(EXAMPLES / f"{example}.toml")[0], "apache").items():
            (root / "cors" / name).write_text(text)
    (root / "htpasswd").write_text("u:{SHA}x\n")
    (root / "sites-enabled" / "api.conf").write_text(
        site.format(root=root, auth=AUTH.format(root=root))
    )
    main_conf = root / "apache2.conf"
    main_conf.write_text(
        f"ServerRoot {root}\nServerName localhost\nPidFile {root}/httpd.pid\n"
        f"ErrorLog {root}/error.log\nListen 127.0.0.1:8080\n"
        "IncludeOptional mods-enabled/*.load\nIncludeOptional sites-enabled/*.conf\n"
    )
    return main_conf


def audit(conf: Path) -> list[Finding]:
    """What `corsgen audit` reads from the config's structure, beside the model's answers."""
    return TARGET.routes([conf]).findings


def _findings(conf: Path) -> list[tuple[str, str]]:
    return [(f.rule_id, f.message) for f in audit(conf)]


def _old(root: Path) -> None:
    """The spa_api snippet as corsgen wrote it before it answered preflights per directory."""
    path = root / "cors" / "spa_api.conf"
    path.write_text(path.read_text().split("\n# In <Directory>")[0] + "\n")


# Each snippet answers its preflights before authentication; /api/ is under both sections.
GOOD = """<VirtualHost 127.0.0.1:8080>
    DocumentRoot {root}/www
    <Location /api/>
        {auth}
        Include {root}/cors/spa_api.conf
    </Location>
    <Directory {root}/www/api>
        Options FollowSymLinks
        Include {root}/cors/tenants.conf
    </Directory>
</VirtualHost>
"""
OLD_IN_DIRECTORY = """<VirtualHost 127.0.0.1:8080>
    DocumentRoot {root}/www
    <Directory {root}/www/api>
        {auth}
        Include {root}/cors/spa_api.conf
    </Directory>
</VirtualHost>
"""
NO_SYMLINKS = """<VirtualHost 127.0.0.1:8080>
    DocumentRoot {root}/www
    <Directory {root}/www>
        Options -FollowSymLinks -Indexes
    </Directory>
    <Directory {root}/www/api>
        Include {root}/cors/spa_api.conf
    </Directory>
</VirtualHost>
"""
TWO_AT_THE_TOP = """<VirtualHost 127.0.0.1:8080>
    Include {root}/cors/spa_api.conf
    Include {root}/cors/tenants.conf
</VirtualHost>
"""
# Name-based virtual hosts: one address, a policy each. Their <VirtualHost> lines are the same
# text, and were once read as one host whose second policy answered nothing.
NAME_BASED = """<VirtualHost 127.0.0.1:8080>
    ServerName api.example
    Include {root}/cors/spa_api.conf
</VirtualHost>
<VirtualHost 127.0.0.1:8080>
    ServerName tenants.example
    Include {root}/cors/tenants.conf
</VirtualHost>
"""


POLICIES = (EXAMPLES / "spa-api.toml", EXAMPLES / "tenants.toml")


# Two policies that both answer a path, each held to its own lines: the one answers the other's
# origins there (CG422), placed at the block that let the other's answer through, the one that
# answered: both scopes' differences meet there, one finding.
def _merged(at: int) -> list[tuple[str, str, str]]:
    return [("CG422", f"sites-enabled/api.conf:{at}", "which spa_api does not mean")]


# (site, old snippet, modules, policies given, the findings as (rule id, where, words)). Each
# comes from the model's answers but CG407, which httpd's config test would give: a snippet in
# <Directory> rendered before corsgen answered preflights there meets authentication (CG416, at
# the Require line); Options without FollowSymLinks refuses the preflight with 403 (CG422, at
# the <Directory>); two policies at the top of a <VirtualHost>, or in a <Location> and a
# <Directory> that both hold /api/, both answer there, each its own origins and the other's
# too (checked on 2.4.71): found at the <VirtualHost>, or at the <Location>, merged last. The
# Private Network Access header tenants' snippet sends is corsgen's own, no finding.
AUDITS = {
    "location-and-directory": (GOOD, False, MODULES, (), _merged(3)),
    "location-and-directory-policies": (GOOD, False, MODULES, POLICIES, _merged(3)),
    "old-snippet-in-directory": (
        OLD_IN_DIRECTORY,
        True,
        MODULES,
        (),
        [("CG416", "sites-enabled/api.conf:7", "meets the authentication at")],
    ),
    "current-in-directory": (OLD_IN_DIRECTORY, False, MODULES, (), []),
    "no-symlinks": (
        NO_SYMLINKS,
        False,
        MODULES,
        (),
        [("CG422", "sites-enabled/api.conf:6", "preflight status 403")],
    ),
    "two": (TWO_AT_THE_TOP, False, MODULES, (), _merged(1)),
    "name-based": (NAME_BASED, False, MODULES, (), []),
    "name-based-policies": (NAME_BASED, False, MODULES, POLICIES, []),
    "mods": (
        GOOD,
        False,
        ("mpm_event", "authz_core", "headers"),
        (),
        [("CG407", "sites-enabled/api.conf:8", "mod_setenvif, mod_rewrite"), *_merged(3)],
    ),
}


def _audited(
    root: Path, conf: Path, policies: tuple[Path, ...], capsys: pytest.CaptureFixture[str]
) -> tuple[int, list[tuple[str, str, str]]]:
    """`corsgen audit` on the config: its exit code, and each finding as (rule id, file:line
    under root, message)."""
    given = [arg for policy in policies for arg in ("--policy", str(policy))]
    code = main(["audit", str(conf), "-t", "apache", "--format", "json", *given])
    found = json.loads(capsys.readouterr().out)["findings"]
    return code, [
        (f["rule"], f"{Path(f['file']).relative_to(root)}:{f['line']}", f["message"]) for f in found
    ]


@pytest.mark.parametrize(
    ("site", "old", "modules", "policies", "expected"), AUDITS.values(), ids=AUDITS
)
def test_audit(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    site: str,
    old: bool,
    modules: tuple[str, ...],
    policies: tuple[Path, ...],
    expected: list[tuple[str, str, str]],
) -> None:
    conf = _tree(tmp_path, site, modules)
    if old:
        _old(tmp_path)
    code, found = _audited(tmp_path, conf, policies, capsys)
    assert [f[:2] for f in found] == [e[:2] for e in expected], found
    for (_, _, message), (_, _, words) in zip(found, expected, strict=True):
        assert words in message
    assert code == (1 if expected else 0)
    if modules == MODULES:  # a config httpd itself accepts: the findings are about real configs
        binary = find_binary("apache")
        need_binary("apache", binary)
        test = subprocess.run([str(binary), "-t", "-f", str(conf)], capture_output=True, text=True)
        assert test.returncode == 0, test.stderr


def test_a_config_without_a_snippet_says_so(tmp_path: Path) -> None:
    """Said by the audit for every target (cli/audit.py), from the model's scopes."""
    conf = _tree(tmp_path, "<VirtualHost 127.0.0.1:8080>\n</VirtualHost>\n")
    assert [r.finding.rule_id for r in cli_audit.found([conf], TARGET, []).findings] == ["CG406"]


def test_a_preflight_meeting_auth_names_the_require(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    conf = _tree(tmp_path, OLD_IN_DIRECTORY)
    _old(tmp_path)
    assert main(["audit", str(conf), "-t", "apache"]) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path}/sites-enabled/api.conf:7: error CG416 preflight-reaches-auth:" in err


# The rule table's cases these configs reach (tests/rules/table_test.py reads this).
REACHES = {
    ("CG407", "missing"): (GOOD, False, ("mpm_event", "authz_core", "headers")),
}


def reach(rule: str, case: str) -> Callable[[Path], None]:
    """Run `corsgen audit` on the config that gives this finding."""
    site, old, modules = REACHES[rule, case]

    def run(tmp_path: Path) -> None:
        conf = _tree(tmp_path, site, modules)
        if old:
            _old(tmp_path)
        assert main(["audit", str(conf), "--target", "apache"]) == 1

    return run


@pytest.mark.parametrize(("rule", "case"), REACHES)
def test_each_rule_case_is_reached(
    rule: str, case: str, rules_used: set[tuple[str, str]], tmp_path: Path
) -> None:
    reach(rule, case)(tmp_path)
    assert (rule, case) in rules_used


@pytest.mark.parametrize("how", ["config", "include"])
def test_a_fifo_is_named_not_read(
    how: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A FIFO's refusal once named no file, and an Include of one said "no such file"."""
    conf = _tree(tmp_path, GOOD)
    fifo = tmp_path / "fifo.conf"
    os.mkfifo(fifo)
    conf.write_text(conf.read_text() + f"Include {fifo}\n")
    assert main(["audit", str(conf if how == "include" else fifo), "-t", "apache"]) == 1
    err = capsys.readouterr().err
    where = f", included at {conf}:8" if how == "include" else ""
    assert err.startswith(f"corsgen: cannot read {fifo}{where}: it is a FIFO, not a regular file")
    assert err.count("\n") == 1, err


def test_latin1_bytes_and_defined_paths_are_read(tmp_path: Path) -> None:
    """A Latin-1 comment once stopped the check; an Include through a Define gave a false CG401,
    and one through a variable set only where httpd starts (Debian's envvars) must give none."""
    conf = _tree(tmp_path, "<VirtualHost 127.0.0.1:8080>\n</VirtualHost>\n")
    (tmp_path / "site.conf").write_text(GOOD.format(root=tmp_path, auth=AUTH.format(root=tmp_path)))
    conf.write_bytes(
        conf.read_bytes()
        + b"# Gr\xfc\xdfe\n"
        + f"Define SITES {tmp_path}\nInclude ${{SITES}}/site.conf\n".encode()
        + b"Include ${CORSGEN_TEST_UNSET}/x.conf\n"
    )
    assert _findings(conf) == []


# --- bounds (limits.py, MAX_CONFIG_*): each file read once, Define, the walk and nesting bounded


def _with(conf: Path, text: str) -> Path:
    conf.write_text(conf.read_text() + text)
    return conf


def test_a_define_chain_is_refused_within_bounds(tmp_path: Path) -> None:
    """1.2 KB of Define lines, each doubling the one before, ended in a MemoryError traceback
    under a memory cap (2.1 GB at 30 lines); the values written are bounded at 16 MiB."""
    conf = _tree(tmp_path, GOOD)
    chain = "".join(f"Define V{i} ${{V{i - 1}}}${{V{i - 1}}}\n" for i in range(1, 41))
    result = verify_bounded(_with(conf, "Define V0 x\n" + chain), "apache")
    assert_refused(result, "more than 16 MiB of Define and environment values written into")
    assert "define values without repeating others (${V23} holds 8,388,608 bytes" in result.err
    assert result.seconds < 5 and result.mib < 100, result


def test_a_define_of_a_define_is_read(tmp_path: Path) -> None:
    conf = _tree(tmp_path, "<VirtualHost 127.0.0.1:8080>\n</VirtualHost>\n")
    (tmp_path / "site.conf").write_text(GOOD.format(root=tmp_path, auth=AUTH.format(root=tmp_path)))
    _with(conf, f"Define ROOT {tmp_path}\nDefine SITE ${{ROOT}}/site.conf\nInclude ${{SITE}}\n")
    assert _findings(conf) == []


def test_a_diamond_of_includes_is_refused_each_file_read_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """20 files, each including the next twice (httpd -t: 40 s and 8.6 GB): the model holds
    each copy, 2**20 of the last, and is refused once it has walked 250,000 lines, each file read
    from disk once."""
    conf = _tree(tmp_path, GOOD)
    leaf = "<Directory /srv/leaf>\n    Options -Indexes\n</Directory>\n"
    first = chain(tmp_path, 20, "Include {next}\nInclude {next}\n", leaf)
    _with(conf, f"Include {first}\n")
    reads = count_reads(monkeypatch)
    with (
        cpu_within(seconds=5),
        pytest.raises(CorsgenError, match="more than 250,000 lines with its includes written"),
    ):
        audit(conf)
    assert len(reads) > 20 and set(reads.values()) == {1}, reads


def test_includes_multiplied_by_variables_are_refused_within_bounds(tmp_path: Path) -> None:
    """A Define between the two includes makes each read of the next file differ: 2**20 reads,
    refused once 250,000 lines are read."""
    conf = _tree(tmp_path, GOOD)
    toggle = "Define T{level} a\nInclude {next}\nDefine T{level} b\nInclude {next}\n"
    first = chain(tmp_path, 20, toggle, "ServerAdmin a@b\n")
    _with(conf, f"Include {first}\n")
    result = verify_bounded(conf, "apache")
    assert_refused(result, "more than 250,000 lines with its includes written out")
    assert result.seconds < 5 and result.mib < 100, result


@pytest.mark.parametrize("levels", [128, 129])
def test_includes_nest_as_deep_as_httpd_reads(levels: int, tmp_path: Path) -> None:
    """httpd reads 128 levels of Include and refuses a 129th; corsgen once stopped at 16."""
    conf = _tree(tmp_path, GOOD)
    first = chain(tmp_path, levels, "Include {next}\n", "\n")  # the last `levels` deep
    _with(conf, f"Include {first}\n")
    binary = find_binary("apache")
    need_binary("apache", binary)
    test = subprocess.run([str(binary), "-t", "-f", str(conf)], capture_output=True, text=True)
    if levels == 128:
        assert test.returncode == 0 and _findings(conf) == [], test.stderr
    else:
        # "Exceeded maximum include depth of 128", cut from the message httpd prints (8 KiB)
        assert test.returncode == 1 and "Syntax error on line 1 of" in test.stderr
        with pytest.raises(CorsgenError, match="includes nested more than 128 deep"):
            audit(conf)


def test_an_include_loop_is_named(tmp_path: Path) -> None:
    """A file including itself (httpd: "There appears to be a recursion") was an error past 16
    levels; it is CG401's loop, at the include."""
    conf = _tree(tmp_path, GOOD)
    (tmp_path / "loop.conf").write_text(f"Include {tmp_path}/loop.conf\n")
    _with(conf, f"Include {tmp_path}/loop.conf\n")
    found = audit(conf)
    assert [(f.rule_id, f.file) for f in found] == [("CG401", f"{tmp_path}/loop.conf:1")], found
    assert "leads back to" in found[0].message


@pytest.mark.parametrize(("directive", "found"), [("Include", ["CG401"]), ("IncludeOptional", [])])
@pytest.mark.parametrize("pattern", ["nowhere/*.conf", "empty/*.conf"])
def test_an_include_wildcard_that_matches_nothing_fails_as_httpd_does(
    directive: str, found: list[str], pattern: str, tmp_path: Path
) -> None:
    """httpd refuses to start on `Include d/*.conf` matching nothing ("No matches for the
    wildcard", or a directory it cannot open); IncludeOptional skips it. The audit read on."""
    conf = _tree(tmp_path, GOOD)
    (tmp_path / "empty").mkdir()
    _with(conf, f"{directive} {tmp_path}/{pattern}\n")
    assert [f.rule_id for f in audit(conf)] == found


@GRAPH_BUDGET
@given(graph=include_graphs(), doubles=st.lists(st.integers(0, 3), max_size=24))
@hypothesis.example(graph=FAN, doubles=[1] * 24)
def test_any_include_graph_and_define_chain_is_read_within_bounds(
    graph: list[list[tuple[int, bool]]], doubles: list[int]
) -> None:
    """Random include graphs (in <Directory> sections when in a block), each file defining
    its own value from the one before (1 to 4 copies of it), with the bounds lowered to 2,000
    lines and 64 KiB of values: a result or a refusal, within the budget."""
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as mp:
        mp.setattr(server_config, "MAX_CONFIG_EXPANDED", 2_000)
        mp.setattr(server_config, "MAX_CONFIG_SUBSTITUTED", 64 * 1024)
        root = Path(tmp)
        last = f"${{V{len(doubles)}}}"
        defines = [f"Define V{i + 1} " + f"${{V{i}}}" * (n + 1) for i, n in enumerate(doubles)]
        for number, includes in enumerate(graph):
            lines = ["Define V0 x", *defines] if number == 0 else [f"Define F{number} {last}"]
            for target, in_block in includes:
                include = f"Include {root}/f{target}.conf"
                block = [f"<Directory /srv/{target}>", include, "</Directory>"]
                lines += block if in_block else [include]
            (root / f"f{number}.conf").write_text("\n".join(lines) + "\n")
        conf = _with(_tree(root, GOOD), f"Include {root}/f0.conf\n")
        with within(seconds=2, mib=16):
            found = bounded_or_refused(lambda: audit(conf))
        assert found is None or isinstance(found, list)


def test_each_policy_at_the_top_of_a_host_is_a_scope(tmp_path: Path) -> None:
    """Three snippets at the top of one host, two policies: each policy is a scope the audit
    holds to its own lines, the origins its regex spells out (they were once reported as
    answering nothing, which httpd 2.4.71 shows false: each answers its own origins on every
    path, CG422 says the other's too); the same policy again is no scope of its own."""
    third = "    Include {root}/cors/tenants.conf\n</VirtualHost>"
    conf = _tree(tmp_path, TWO_AT_THE_TOP.replace("</VirtualHost>", third))
    loaded = TARGET.routes([conf])
    assert loaded.routes is not None and loaded.findings == []
    scopes = loaded.routes.scopes()
    assert [(s.title, s.policy) for s in scopes] == [
        ("<VirtualHost 127.0.0.1:8080>", "spa_api"),
        ("<VirtualHost 127.0.0.1:8080>", "tenants"),
    ]
    assert all(s.granted is not None and s.granted.origins for s in scopes)


def test_thousands_of_hosts_are_read_in_linear_time(tmp_path: Path) -> None:
    """1,000 name-based hosts, each with a policy at its top and one in a <Directory>: a scope
    each. The structural reading once compared each snippet with every other (600 hosts took
    38 s); the model reads each host once, its scopes too."""
    host = (
        "<VirtualHost 127.0.0.1:8080>\n    ServerName s{n}.example\n"
        "    Include {root}/cors/spa_api.conf\n    <Directory {root}/www/s{n}>\n"
        "        Include {root}/cors/tenants.conf\n    </Directory>\n</VirtualHost>\n"
    )
    sites = "".join(host.replace("{n}", str(n)) for n in range(1_000))
    conf = _tree(tmp_path, sites)
    with within(seconds=4, mib=64):
        loaded = TARGET.routes([conf])
        assert loaded.routes is not None and loaded.findings == []
        scopes = loaded.routes.scopes()
    assert len(scopes) == 2_000


def test_a_file_of_more_lines_than_a_walk_reads_is_refused_while_lexed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each line lexed is walked at least once: past the walk's bound (lowered to 1,000 here)
    the lexer stops, 256 KiB at a time. 64 MiB of <VirtualHost> once took 24 s and 1.2 GB
    before it was refused; now 1 s and 180 MB."""
    monkeypatch.setattr(server_config, "MAX_CONFIG_EXPANDED", 1_000)
    conf = _tree(tmp_path, GOOD)
    host = "<VirtualHost *:80>\n    ServerName s{n}\n</VirtualHost>\n"
    (tmp_path / "hosts.conf").write_text("".join(host.format(n=n) for n in range(60_000)))
    _with(conf, f"Include {tmp_path}/hosts.conf\n")
    with within(seconds=1, mib=24), pytest.raises(CorsgenError, match="more than 1,000 lines,"):
        audit(conf)


@pytest.mark.parametrize("shape", ["one-line", "many-lines"])
def test_more_words_than_a_run_keeps_are_refused_as_they_are_read(
    shape: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ServerAlias of 3 million names (26 MB) took 300 MB; the words kept are bounded (here
    lowered to 1,000), a line longer than a run before it is split."""
    monkeypatch.setattr(server_config, "MAX_CONFIG_WORDS", 1_000)
    conf = _tree(tmp_path, GOOD)
    names = " ".join(f"h{n}" for n in range(200_000))
    lines = f"ServerAlias {names}\n" if shape == "one-line" else names.replace(" ", "\n")
    (tmp_path / "names.conf").write_text(lines)
    _with(conf, f"Include {tmp_path}/names.conf\n")
    with within(seconds=1, mib=16), pytest.raises(CorsgenError, match="more than 1,000 words"):
        audit(conf)


@pytest.mark.parametrize("quoted", [False, True])
def test_a_long_word_is_lexed_in_linear_time(
    quoted: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lexer grew a word with `+`, a copy per character: a 3 MB word took 76 s."""
    conf = _tree(tmp_path, GOOD)
    word = "a" * 3_000_000
    (tmp_path / "long.conf").write_text(f'ServerAdmin "{word}"\n' if quoted else f"X{word}\n")
    _with(conf, f"Include {tmp_path}/long.conf\n")
    # 3 s: the quoted word takes about 1 s with the routing model's reading, 8 s of CPU under
    # coverage's tracing (measured); the quadratic lexer took 76 s.
    with within(seconds=3, mib=64):
        assert _findings(conf) == []


@pytest.mark.parametrize("options", ["+FollowSymLinks", "+Indexes"])
def test_options_around_many_snippets_decide_by_path(options: str, tmp_path: Path) -> None:
    """2,000 Options lines and 2,000 snippets in one <Directory> (each snippet copied every
    Options line before it once: 20,000 of each took 3.17 GB). The model merges Options by path
    when a request comes: +Indexes lines decide nothing, so the -FollowSymLinks of the
    <Directory> above turns mod_rewrite off, and httpd refuses the preflight with 403."""
    include = f"    Options {options}\n    Include {tmp_path}/cors/spa_api.conf\n"
    site = (
        "<VirtualHost 127.0.0.1:8080>\n    DocumentRoot {root}/www\n"
        "    <Directory {root}/www>\n        Options -FollowSymLinks\n    </Directory>\n"
        "    <Directory {root}/www/api>\n" + include * 2_000 + "    </Directory>\n</VirtualHost>\n"
    )
    conf = _tree(tmp_path, site)
    preflight = (("Origin", "https://app.example.com"), ("Access-Control-Request-Method", "PUT"))
    with within(seconds=4, mib=64):
        loaded = TARGET.routes([conf])
        assert loaded.routes is not None and loaded.findings == []
        answered = loaded.routes.answer(Asked("localhost", "OPTIONS", "/api/x", preflight))
    assert answered.status == (204 if options == "+FollowSymLinks" else 403), answered.trail


def test_words_walked_again_after_each_define_are_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Define before each include of a file with one long line: each include reads the file
    again (80,000 of them and 20,000 words took 87 s). The words walked are bounded (lowered
    to 100,000 here), not only the lines."""
    monkeypatch.setattr(server_config, "MAX_CONFIG_WALKED_WORDS", 100_000)
    conf = _tree(tmp_path, GOOD)
    (tmp_path / "wide.conf").write_text("Header set X" + " a" * 2_000 + "\n")
    _with(conf, "".join(f"Define T {i}\nInclude {tmp_path}/wide.conf\n" for i in range(100)))
    with (
        within(seconds=1, mib=16),
        pytest.raises(CorsgenError, match="more than 100,000 words with its includes written"),
    ):
        audit(conf)


def test_includes_of_an_empty_file_count_and_keep_small_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """120 sections deep, pairs of a Define and an Include of an empty file: no line is walked,
    but each include kept a key of the 120 sections and their Options (120,000 pairs: a
    MemoryError). A key is now a few numbers, and each include counts as a line walked."""
    conf = _tree(tmp_path, GOOD)
    (tmp_path / "empty.conf").write_text("")
    deep = "".join(f"<Location /a{n}>\n" for n in range(120))
    pairs = "".join(f"Define T {i}\nInclude {tmp_path}/empty.conf\n" for i in range(20_000))
    _with(conf, deep + pairs + "</Location>\n" * 120)
    with within(seconds=3, mib=24):
        assert _findings(conf) == []
    monkeypatch.setattr(
        server_config, "MAX_CONFIG_EXPANDED", 50_000
    )  # 40,000 lines and 20,000 includes
    with pytest.raises(CorsgenError, match="more than 50,000 lines with its includes written"):
        audit(conf)


def test_include_globs_count_every_directory_entry_they_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`IncludeOptional /*/*/*/*/*/*/*/*/*/nomatch*.conf` read the whole filesystem (killed at
    90 s): only the names it matched were counted. Every entry a glob reads counts, for all the
    run's globs (server_config.ConfigBudget.glob, which the nginx and Caddy readers share); the
    bound is lowered to 2,000 here."""
    monkeypatch.setattr(server_config, "MAX_CONFIG_GLOB_ENTRIES", 2_000)
    conf = _tree(tmp_path, GOOD)
    for n in range(40):
        for m in range(40):
            (tmp_path / "wide" / f"d{n}" / f"e{m}").mkdir(parents=True)
    _with(conf, f"IncludeOptional {tmp_path}/wide/*/nomatch*.conf\n")
    assert _findings(conf) == []  # 1,640 entries read: wide/ and its 40 directories
    _with(conf, f"IncludeOptional {tmp_path}/wide/*/*/nomatch*.conf\n")
    with within(seconds=1, mib=8), pytest.raises(CorsgenError) as refused:
        audit(conf)
    message = str(refused.value)
    assert "globs that read more than 2,000 directory entries" in message, message
    assert "start each glob with the directory its files are in" in message


def test_the_same_policy_in_a_location_and_at_the_top_is_no_finding(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """spa_api in a <Location> and again at the top of its <VirtualHost> was reported as a
    second policy answering nothing; the same policy answers as it would, held to its policy."""
    site = (
        "<VirtualHost 127.0.0.1:8080>\n    <Location /api/>\n"
        "        Include {root}/cors/spa_api.conf\n    </Location>\n"
        "    Include {root}/cors/spa_api.conf\n</VirtualHost>\n"
    )
    conf = _tree(tmp_path, site)
    assert _audited(tmp_path, conf, POLICIES[:1], capsys) == (0, [])
