"""`corsgen audit` on nginx configs as users write them (the real nginx serving these
traps is tests/conformance/nginx_contexts_test.py); one config per finding the audit can give."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import example, given

from corsgen import server_config
from corsgen.cli import main
from corsgen.errors import CorsgenError, Finding
from corsgen.plan import build_plan
from corsgen.policy.loading import parse_policy
from corsgen.render import render
from corsgen.targets import by_name
from testing.bounded import (
    FAN,
    GRAPH_BUDGET,
    assert_refused,
    bounded_or_refused,
    chain,
    count_reads,
    frozen_heap,
    include_graphs,
    verify_bounded,
    within,
)

HTTP = "    include cors/api.http.conf;\n"
ORIGIN = 'allow_origins = ["https://a.com"]\nallow_methods = ["GET", "PUT"]'
# Each server {} body, and the finding it must give as (line, rule id, words of its message).
CONFIGS: dict[str, tuple[str, str, list[tuple[int, str, str]]]] = {
    "ok-server": (HTTP, "include cors/api.conf;\nlocation / { location /a/ { } }", []),
    "ok-location": (
        HTTP,
        "add_header X-Frame-Options DENY;\n"
        "location / { include cors/api.conf; add_header X-Frame-Options DENY; auth_basic x; }",
        [],
    ),
    "add-header": (
        HTTP,
        'include cors/api.conf;\nlocation /static/ {\n    add_header Cache-Control "no-store";\n}',
        [(8, "CG402", "GET /static/ from https://a.com is answered here without the CORS")],
    ),
    "hide-header": (
        HTTP,
        "include cors/api.conf;\n"
        "location / { proxy_hide_header X-Powered-By; proxy_pass http://127.0.0.1:9; }",
        [
            (8, "CG414", "gets Access-Control-Allow-Origin twice, the backend's copy and"),
            (8, "CG415", "the backend's own Access-Control-Allow-Origin, Access-Control-Allow"),
        ],
    ),
    "dropped": (
        HTTP,
        "add_header Content-Security-Policy \"default-src 'self'\";\nadd_header X-A b;\n"
        "location / { include cors/api.conf; add_header X-A b; }",
        [(9, "CG403", "(1, the first Content-Security-Policy at")],
    ),
    "nested": (
        HTTP,
        "location / {\n    include cors/api.conf;\n    location /a/ { }\n}",
        [(9, "CG422", "OPTIONS /a/ from https://a.com: https://a.com's preflight for PUT fai")],
    ),
    "nested-auth": (
        HTTP,
        "auth_request /auth;\nlocation = /auth { return 401; }\nlocation / {\n"
        "    include cors/api.conf;\n    location /a/ { auth_basic off; }\n}",
        [(7, "CG416", "OPTIONS /a/ from https://a.com meets the authentication at")],
    ),
    "server-wide": (
        HTTP + "    include cors/web.http.conf;\n",
        "include cors/web.conf;\nlocation / { include cors/api.conf; }",
        [(9, "CG404", "web's snippet in the server block, at")],
    ),
    "missing": (
        "",
        "location / { include cors/api.conf; }",
        [(6, "CG405", "but not api.http.conf")],
    ),
    "none": (HTTP, "location / { }", [(0, "CG406", "no file this config includes carries")]),
    "parse": (HTTP, "location / { include cors/api.conf; map $a $b { } }", [(7, "CG401", "map")]),
    "named-location": (
        HTTP,
        "location /files/ {\n    include cors/api.conf;\n    try_files $uri @backend;\n}\n"
        "location @backend { return 200; }",
        [(11, "CG402", "is answered here without the CORS headers location /files/ sends")],
    ),
    "ok-named-location": (
        HTTP,
        "location /files/ { include cors/api.conf; error_page 404 @backend; }\n"
        "location @backend { include cors/api.conf; return 200; }",
        [],
    ),
    # A glob that matches the file it is in: crossplane reads each file once, the reader must too.
    "loop": (HTTP, "include nginx*.conf;", [(7, "CG401", "leads back to")]),
}


def audit(conf: Path) -> list[Finding]:
    """What `corsgen audit` reads from the config's structure, beside the model's answers."""
    return by_name("nginx").routes([conf]).findings


def write_config(root: Path, name: str) -> Path:
    """The user's nginx.conf for CONFIGS[name], with corsgen's files in root/cors/."""
    http, server, _ = CONFIGS[name]
    (root / "cors").mkdir(exist_ok=True)
    for policy in ("api", "web"):
        plan = build_plan(parse_policy(ORIGIN, f"{policy}.toml"), policy, f"{policy}.toml")
        files = render(plan, "nginx")
        for file, text in files.items():
            (root / "cors" / file).write_text(text)
    body = "".join(f"        {line}\n" for line in server.splitlines())
    conf = root / "nginx.conf"
    conf.write_text(
        "events {}\n\nhttp {\n"  # lines 1-3
        + http  # line 4, and 5 when there are two
        + "    server {\n        listen 8080;\n"
        + body
        + "    }\n}\n"
    )
    return conf


def verify_config(name: str) -> Callable[[Path], None]:
    """Run `corsgen audit` on CONFIGS[name], expecting exit 1 when it finds anything."""

    def run(tmp_path: Path) -> None:
        conf = write_config(tmp_path, name)
        code = main(["audit", str(conf), "--target", "nginx"])
        assert code == (1 if CONFIGS[name][2] else 0)

    return run


# The rule table's cases these configs reach (tests/rules/table_test.py reads this): what the
# config's structure shows (nginx_structure.py). The other configs give the findings of the model's
# answers (CG402 answer, CG414, CG415, CG416, CG422), whose cases tests/audit/ reaches.
REACHES = (
    ("CG401", "parse"),
    ("CG401", "loop"),
    ("CG403", "dropped"),
    ("CG404", "server-wide"),
    ("CG405", "missing"),
    ("CG406", "none"),
)


@pytest.mark.parametrize(("rule", "case"), REACHES)
def test_each_rule_case_is_reached(
    rule: str, case: str, rules_used: set[tuple[str, str]], tmp_path: Path
) -> None:
    verify_config(case)(tmp_path)
    assert (rule, case) in rules_used


@pytest.mark.parametrize("name", CONFIGS)
def test_each_config_gives_its_findings(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    verify_config(name)(tmp_path)
    out = capsys.readouterr()
    lines = [line for line in out.err.splitlines() if " error CG" in line]
    expected = CONFIGS[name][2]
    assert len(lines) == len(expected), out.err
    for line, (number, rule, words) in zip(lines, expected, strict=True):
        where = f"{tmp_path}/nginx.conf:{number}:" if number else f"{tmp_path}/nginx.conf:"
        assert line.startswith(where) and f" error {rule} " in line and words in line, line
        assert "; fix: " in line
    if not expected:
        assert out.out.strip().endswith("nginx.conf: ok")


@pytest.mark.parametrize("kind", ["fifo", "device", "huge"])
@pytest.mark.parametrize("how", ["config", "include"])
def test_a_file_that_is_no_config_is_named_not_read(
    kind: str, how: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A FIFO hung crossplane, /dev/zero and a 100 MB file kept it reading: each is refused by
    name before crossplane opens anything."""
    odd = tmp_path / "odd.conf"
    if kind == "fifo":
        os.mkfifo(odd)
    elif kind == "device":
        odd = Path("/dev/zero")
    else:
        with odd.open("wb") as handle:
            handle.truncate(100 * 1024 * 1024)
    conf = write_config(tmp_path, "ok-server")
    if how == "include":
        conf.write_text(conf.read_text().replace("listen 8080;", f"listen 8080; include {odd};"))
    assert main(["audit", str(conf if how == "include" else odd), "-t", "nginx"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"corsgen: cannot read {odd}"), err
    assert ("included at " in err) == (how == "include"), err


# --- bounds (limits.py, MAX_CONFIG_*): each file read once, the walk and the nesting bounded


def _including(root: Path, conf: Path, where: str, file: Path) -> Path:
    """The config with `include file;` added to the http (or server) block."""
    line = {"http": HTTP, "server": "        listen 8080;\n"}[where]
    conf.write_text(conf.read_text().replace(line, line + f"    include {file};\n", 1))
    return conf


def test_a_diamond_of_includes_reads_each_file_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """20 files, each including the next twice: nginx reads 2**20 includes (nginx -t: 4 s); a
    reader once took 12.6 s, reading each file again wherever it was included. Each file is read
    and parsed once; the model writes the includes out as nginx does (a file included twice adds
    its add_header lines twice), so the walk's bound refuses it, by name, in about a second."""
    conf = write_config(tmp_path, "ok-server")
    two = "include {next};\ninclude {next};\n"
    _including(tmp_path, conf, "http", chain(tmp_path, 20, two, "proxy_set_header X-Leaf 1;\n"))
    reads = count_reads(monkeypatch)
    with within(seconds=2, mib=8), pytest.raises(CorsgenError, match="more than 250,000 direc"):
        audit(conf)
    assert len(reads) == 20 + 3 and set(reads.values()) == {1}, reads


def test_includes_multiplying_blocks_are_refused_within_bounds(tmp_path: Path) -> None:
    """Each file including the next in two locations: 2**20 blocks to walk, refused once the walk
    passes 250,000 directives, in a second or two and about 150 MB."""
    conf = write_config(tmp_path, "ok-server")
    two = "location /a { include {next}; }\nlocation /b { include {next}; }\n"
    _including(tmp_path, conf, "server", chain(tmp_path, 20, two, "return 204;\n"))
    result = verify_bounded(conf, "nginx", mib=384)
    assert_refused(result, "more than 250,000 directives with its includes written out")
    assert result.seconds < 8 and result.mib < 300, result


@pytest.mark.parametrize("how", ["includes", "blocks"])
def test_nesting_past_the_bound_is_refused(how: str, tmp_path: Path) -> None:
    """A chain of 200 includes, or one file of 2,000 nested blocks, once ended in Python's
    RecursionError (a traceback) or a crossplane message about Python's stack."""
    conf = write_config(tmp_path, "ok-server")
    if how == "includes":
        _including(tmp_path, conf, "http", chain(tmp_path, 200, "include {next};\n", "\n"))
    else:
        deep = tmp_path / "deep.conf"
        deep.write_text("location / {\n" * 2_000 + "}\n" * 2_000)
        _including(tmp_path, conf, "server", deep)
    result = verify_bounded(conf, "nginx")
    assert_refused(result, f"{how if how == 'blocks' else 'includes and blocks'} nested more")
    assert "128 deep" in result.err and result.seconds < 5, result


def test_the_files_together_are_bounded_like_one(tmp_path: Path) -> None:
    """Three includes of 30 MiB each: each within the 64 MiB of one file, together refused, by
    name, before any is parsed."""
    conf = write_config(tmp_path, "ok-server")
    for name in ("c", "b", "a"):  # each goes first: a, b, c
        with (tmp_path / f"{name}.conf").open("wb") as handle:
            handle.truncate(30 << 20)
        _including(tmp_path, conf, "http", tmp_path / f"{name}.conf")
    result = verify_bounded(conf, "nginx")
    assert_refused(result, f"cannot read {tmp_path}/c.conf, included at ", "64 MiB in all")
    assert result.seconds < 5 and result.mib < 160, result


def test_a_glob_of_more_files_than_a_run_reads_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server_config, "MAX_CONFIG_FILES", 5)
    conf = write_config(tmp_path, "ok-server")
    (tmp_path / "sites").mkdir()
    for number in range(6):
        (tmp_path / "sites" / f"{number}.conf").write_text("\n")
    _including(tmp_path, conf, "http", tmp_path / "sites" / "*.conf")
    with pytest.raises(CorsgenError, match=r"holds more than 5 files, the most `corsgen audit`"):
        audit(conf)


@GRAPH_BUDGET
@given(graph=include_graphs())
@example(graph=FAN)
@example(graph=[[(1, False)], [(0, True)]])
def test_any_include_graph_is_read_within_bounds(graph: list[list[tuple[int, bool]]]) -> None:
    """Random include graphs (loops, fans, includes in blocks) with the walk's bound lowered to
    150 directives: a result or a refusal, never more time, memory or stack than that."""
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as mp:
        mp.setattr(server_config, "MAX_CONFIG_EXPANDED", 150)
        root = Path(tmp)
        for number, includes in enumerate(graph):
            lines = [f"add_header X-File-{number} 1;"]
            for target, in_block in includes:
                include = f"include {root}/f{target}.conf;"
                lines.append(f"location /{target} {{ {include} }}" if in_block else include)
            (root / f"f{number}.conf").write_text("\n".join(lines) + "\n")
        conf = _including(root, write_config(root, "ok-server"), "server", root / "f0.conf")
        with within(seconds=2, mib=16):
            found = bounded_or_refused(lambda: audit(conf))
        assert found is None or isinstance(found, list)


def test_named_locations_are_found_once_per_server(tmp_path: Path) -> None:
    """5,000 locations handing requests to @php under a server-wide snippet: each handoff once
    searched the whole server again (20,000 took 86 s)."""
    conf = write_config(tmp_path, "ok-server")
    handoffs = "".join(f"location /l{n} {{ try_files $uri @php; }}\n" for n in range(5_000))
    named = "location @php { include cors/api.conf; return 200; }\n"
    (tmp_path / "locations.conf").write_text(handoffs + named)
    _including(tmp_path, conf, "server", tmp_path / "locations.conf")
    with within(seconds=2, mib=64):
        assert audit(conf) == []


def test_a_file_of_more_directives_than_a_walk_reads_is_refused_while_parsed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each directive kept is walked at least once: past the walk's bound (lowered to 1,000
    here) the parse stops. 64 MiB of add_header once took 32 s and 1.45 GB; now 2.6 s and
    275 MB at 250,000."""
    monkeypatch.setattr(server_config, "MAX_CONFIG_EXPANDED", 1_000)
    headers = tmp_path / "headers.conf"
    headers.write_text("".join(f"add_header X-H{n} v;\n" for n in range(100_000)))
    conf = _including(tmp_path, write_config(tmp_path, "ok-server"), "http", headers)
    with within(seconds=1, mib=16), pytest.raises(CorsgenError, match="more than 1,000 directiv"):
        audit(conf)


def test_a_directive_of_more_words_than_a_run_keeps_is_refused_as_it_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server_name of 3 million names (26 MB) took 300 MB; the words kept are bounded (here
    lowered to 1,000), and one directive is refused before all its words are read."""
    monkeypatch.setattr(server_config, "MAX_CONFIG_WORDS", 1_000)
    names = tmp_path / "names.conf"
    names.write_text("server_name " + " ".join(f"h{n}" for n in range(100_000)) + ";\n")
    conf = _including(tmp_path, write_config(tmp_path, "ok-server"), "server", names)
    with within(seconds=1, mib=16), pytest.raises(CorsgenError, match=r"names.conf:1: the co"):
        audit(conf)


def _deep(root: Path, depth: int, locations: int) -> Path:
    """A server whose location holds the snippet, `depth` locations nested in it, and in the
    deepest `locations` more."""
    conf = write_config(root, "missing")  # corsgen's files
    (root / "deep.conf").write_text(
        "location / {\ninclude cors/api.conf;\n"
        + "location /a {\n" * depth
        + "location /b {}\n" * locations
        + "}\n" * (depth + 1)
    )
    conf.write_text(
        "events {}\nhttp {\ninclude cors/api.http.conf;\n"
        "server {\nlisten 8080;\ninclude deep.conf;\n}\n}\n"
    )
    return conf


def test_blocks_nested_deep_are_read_in_linear_time(tmp_path: Path) -> None:
    """Each block once walked up to 128 parents for its headers, hides, auth and server, in a
    recursive generator per level: 230,000 locations under 120 levels took 9.5 to 15 s and 392
    MB. The blocks are read once, each into its parent, and what the structure shows is found
    from each snippet's block up (30,000 here)."""
    took = {}
    for depth in (1, 120):
        conf = _deep(tmp_path, depth, 30_000)
        took[depth] = min(_timed(conf, frames) for frames in (0, 7))
    assert took[120] < 1.5 * took[1], took


def _timed(conf: Path, frames: int) -> float:
    """The CPU time of reading the config, `frames` calls deeper. CPython 3.11 gives its frames
    out in chunks, and a call that crosses a chunk's end allocates one every time: the reader's
    30,000 calls at the one depth of the caller's stack where they cross it took 0.75 s, 0.3 s
    one frame higher. The least of two depths measures the reader."""
    if frames:
        return _timed(conf, frames - 1)
    with frozen_heap():
        start = time.process_time()
        found = audit(conf)
        took = time.process_time() - start
    assert found == []
    return took


def test_findings_of_a_run_are_shown_at_most_fifty(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """230,000 nested locations once printed 230,123 lines (61 MB): one mistake. Here a file
    includes itself 200 times."""
    conf = write_config(tmp_path, "ok-server")
    (tmp_path / "loop.conf").write_text("include loop.conf;\n" * 200)
    _including(tmp_path, conf, "server", tmp_path / "loop.conf")
    assert main(["audit", str(conf), "--target", "nginx"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 52 and sum(" CG401 " in line for line in err) == 50, err[-3:]
    assert err[-2] == f"{conf}: and 150 more findings; fix those above first"
    assert err[-1] == f"corsgen: 200 problem(s) in {conf} and what it includes"


def test_an_include_glob_is_bounded_by_the_directories_it_lists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`include /*/*/*/*/*/*/*/*/*/nomatch*;` walked the whole filesystem to match nothing."""
    monkeypatch.setattr(server_config, "MAX_CONFIG_GLOB_ENTRIES", 1_000)
    glob = tmp_path / "glob.conf"
    glob.write_text("include /*/*/*/*/*/*/*/*/*/nomatch*;\n")
    conf = _including(tmp_path, write_config(tmp_path, "ok-server"), "http", glob)
    with within(seconds=1, mib=16), pytest.raises(CorsgenError, match="1,000 directory entries"):
        audit(conf)
