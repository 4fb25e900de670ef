"""`corsgen audit` on Caddyfiles written as users write them, on Caddy 2.6 and the newest; each
ordering finding is also served, to show the preflight really meets authentication. And reading
a Caddyfile within bounds (caddy_config.py): its imports, what `caddy adapt` writes."""

from __future__ import annotations

import http.client
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import example, given

from corsgen import server_config
from corsgen.cli import main
from corsgen.errors import CorsgenError
from corsgen.pipeline import load_and_plan
from corsgen.render import render
from corsgen.server_config import ConfigBudget
from corsgen.targets import caddy_config
from corsgen.targets.caddy_serving import DEBIAN_CADDY, latest_caddy
from corsgen.targets.serving import Site
from testing.binaries import need_binary
from testing.bounded import (
    FAN,
    GRAPH_BUDGET,
    assert_refused,
    bounded_or_refused,
    chain,
    include_graphs,
    verify_bounded,
    within,
)
from testing.paths import EXAMPLES
from testing.processes import free_port
from testing.servers import running

# bcrypt of "s3cret"; only its shape matters to `caddy adapt`, and the preflight carries no login.
HASH = "$2a$14$Zkx19XLiW6VYouLHR5NmfOFU0z2GTNmpkT/5qqR7hx4IjWJPDhjvG"
SITE = "http://127.0.0.1:{port} {{\n\timport {root}/spa_api.caddy\n{body}}}\n"
# The finding on line 7 when auth runs before the preflight answer, in the model's answer to the
# preflight (CG416): basic_auth's own 401, and forward_auth's when the audit asks the model again
# with an auth service that refuses the preflight, which carries no credentials.
REACHES_AUTH = "CG416 preflight-reaches-auth"
CASES = {
    # name: (site body, the finding on line 7, if any)
    "site-basic-auth": (
        "\t{auth} {{\n\t\talice {hash}\n\t}}\n\treverse_proxy 127.0.0.1:9\n",
        REACHES_AUTH,
    ),
    "site-forward-auth": ("\tforward_auth 127.0.0.1:9 {{\n\t\turi /check\n\t}}\n", REACHES_AUTH),
    "auth-in-route": (
        "\troute /admin/* {{\n\t\t{auth} {{\n\t\t\talice {hash}\n\t\t}}\n"
        "\t\trespond 200\n\t}}\n\trespond 200\n",
        None,
    ),
    # handle blocks are one group, and the snippet's (a named matcher) sorts first: the preflight
    # is answered before the one for /admin/* is chosen.
    "auth-in-handle": (
        "\thandle /admin/* {{\n\t\t{auth} {{\n\t\t\talice {hash}\n\t\t}}\n"
        "\t\trespond 200\n\t}}\n\trespond 200\n",
        None,
    ),
}
BUILDS = [
    pytest.param(DEBIAN_CADDY if Path(DEBIAN_CADDY).exists() else None, "basicauth", id="2.6"),
    pytest.param(latest_caddy(), "basic_auth", id="latest"),
]


def _caddyfile(tmp_path: Path, case: str, auth: str, port: int = 9) -> Path:
    plan = load_and_plan(EXAMPLES / "spa-api.toml")[0]
    for name, text in render(plan, "caddy").items():
        (tmp_path / name).write_text(text)
    body = CASES[case][0].format(auth=auth, hash=HASH)
    path = tmp_path / "Caddyfile"
    path.write_text(
        "{\n\tadmin off\n\tauto_https off\n}\n" + SITE.format(port=port, root=tmp_path, body=body)
    )
    return path


def _preflight(port: int, path: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request(
        "OPTIONS",
        path,
        headers={"Origin": "https://app.example.com", "Access-Control-Request-Method": "PUT"},
    )
    return conn.getresponse().status


@pytest.mark.parametrize(("binary", "auth"), BUILDS)
@pytest.mark.parametrize("case", CASES)
def test_auth_before_the_preflight_is_found_and_real(
    binary: str | None, auth: str, case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    need_binary("caddy", binary)
    assert binary is not None
    port = free_port()
    caddyfile = _caddyfile(tmp_path, case, auth, port)
    expected = CASES[case][1]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PATH", str(Path(binary).parent), prepend=":")
        code = main(["audit", str(caddyfile), "--target", "caddy"])
    err = capsys.readouterr().err
    assert code == (1 if expected else 0), err
    if expected:
        assert f"{caddyfile}:7: error {expected}: " in err
    serve = [binary, "run", "--adapter", "caddyfile", "--config", str(caddyfile)]
    with running(lambda root, site: serve, Site((), {"caddy": port}, 0, 0)):
        status = _preflight(port, "/admin/x")
    assert (status == 204) != bool(expected), status


def test_a_caddyfile_without_a_snippet_or_broken_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    binary = latest_caddy()
    need_binary("caddy", binary)
    path = tmp_path / "Caddyfile"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PATH", str(Path(str(binary)).parent), prepend=":")
        path.write_text("http://127.0.0.1:9 {\n\trespond 200\n}\n")
        assert main(["audit", str(path), "--target", "caddy"]) == 1
        assert f"{path}: error CG406 no-snippet: " in capsys.readouterr().err
        path.write_text("http://127.0.0.1:9 {\n\trespond 200\n")
        assert main(["audit", str(path), "--target", "caddy"]) == 1
        assert f"{path}: error CG401 config-unreadable: " in capsys.readouterr().err


def _verify(caddyfile: Path) -> int:
    binary = latest_caddy()
    need_binary("caddy", binary)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PATH", str(Path(str(binary)).parent), prepend=":")
        return main(["audit", str(caddyfile), "--target", "caddy"])


def test_the_line_is_the_auth_of_the_site_the_finding_is_about(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The first site's auth sits inside a route, where it is right; the second site's at its
    top, where it is not. The finding once pointed at the first auth in the file."""
    caddyfile = _caddyfile(tmp_path, "auth-in-route", "basic_auth")
    text = caddyfile.read_text()
    body = CASES["site-basic-auth"][0].format(auth="basic_auth", hash=HASH)
    caddyfile.write_text(text + SITE.format(port=10, root=tmp_path, body=body))
    at = len(text.splitlines()) + 3
    assert _verify(caddyfile) == 1
    findings = [ln for ln in capsys.readouterr().err.splitlines() if " CG416 " in ln]
    assert len(findings) == 1 and findings[0].startswith(f"{caddyfile}:{at}: "), findings
    assert f"meets the authentication at {caddyfile}:{at} and gets 401" in findings[0], findings


def test_auth_from_an_import_is_found_at_its_line_in_the_imported_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """basic_auth imported at the top of the site: the finding names its line in the imported
    file (it named the Caddyfile alone, and the site, when the line was searched in the text)."""
    caddyfile = _caddyfile(tmp_path, "auth-in-route", "basic_auth")
    auth = tmp_path / "auth.caddy"
    auth.write_text(CASES["site-basic-auth"][0].format(auth="basic_auth", hash=HASH))
    caddyfile.write_text(
        caddyfile.read_text().replace("\troute /admin/*", f"\timport {auth}\n\troute /admin/*")
    )
    assert _verify(caddyfile) == 1
    findings = [ln for ln in capsys.readouterr().err.splitlines() if " CG416 " in ln]
    assert len(findings) == 1 and findings[0].startswith(f"{auth}:1: "), findings


def test_a_fifo_is_refused_and_an_import_that_hangs_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A FIFO, as the Caddyfile or imported (directly or through a snippet's argument), is
    refused by name; one imported where corsgen does not look makes caddy adapt wait, and the
    timeout names the Caddyfile."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert _verify(fifo) == 1
    assert capsys.readouterr().err == (
        f"corsgen: cannot read {fifo}: it is a FIFO, not a regular file; "
        "give `corsgen audit` a regular file\n"
    )
    caddyfile = tmp_path / "Caddyfile"
    for site, line in (
        (f"http://127.0.0.1:9 {{\n\timport {fifo}\n}}\n", 2),
        ("(imp) {\n\timport {args[0]}\n}\nhttp://127.0.0.1:9 {\n\timport imp fifo\n}\n", 2),
    ):
        caddyfile.write_text(site)
        assert _verify(caddyfile) == 1
        assert capsys.readouterr().err == (
            f"corsgen: cannot read {fifo}, included at {caddyfile}:{line}: it is a FIFO, not a "
            "regular file; include only regular files\n"
        )
    monkeypatch.setattr(caddy_config, "TIMEOUT", 1)
    monkeypatch.setattr(caddy_config, "_read_imports", lambda *_: None)
    caddyfile.write_text(f"http://127.0.0.1:9 {{\n\timport {fifo}\n}}\n")
    assert _verify(caddyfile) == 1
    err = capsys.readouterr().err
    assert (
        err.startswith(f"corsgen: could not adapt {caddyfile} in 1 s (")
        and "could not run" not in err
    )
    assert err.count("\n") == 1, err


# --- bounds (limits.py, MAX_CONFIG_*): imports read as Caddy reads them, bounded like the
# Caddyfile, and what caddy adapt writes


def _imports(tmp_path: Path, sizes: dict[str, int]) -> Path:
    """A Caddyfile importing each file named in sizes, made that large (sparse)."""
    for name, size in sizes.items():
        with (tmp_path / name).open("wb") as handle:
            handle.truncate(size)
    imports = "".join(f"\timport {name}\n" for name in sizes)
    caddyfile = tmp_path / "Caddyfile"
    caddyfile.write_text(f"http://127.0.0.1:9 {{\n{imports}\trespond 200\n}}\n")
    return caddyfile


def _caddy_dir() -> str:
    binary = latest_caddy()
    need_binary("caddy", binary)
    return str(Path(str(binary)).parent)


@pytest.mark.parametrize(
    ("sizes", "words"),
    [
        (
            {"big.caddy": 150 << 20},
            "big.caddy, included at {at}:2: it is larger than 64 MiB",
        ),
        (
            {"a.caddy": 30 << 20, "b.caddy": 30 << 20, "c.caddy": 30 << 20},
            "c.caddy, included at {at}:4: the config holds more than 64 MiB in all its files",
        ),
    ],
    ids=["one", "together"],
)
def test_imports_are_bounded_like_the_caddyfile(
    sizes: dict[str, int], words: str, tmp_path: Path
) -> None:
    """A 150 MB import once cost corsgen 472 MB and caddy 2.5 GB (its JSON read whole); each
    import is now read as the Caddyfile is, before caddy runs, and all of them together too."""
    caddyfile = _imports(tmp_path, sizes)
    result = verify_bounded(caddyfile, "caddy", path=_caddy_dir())
    assert_refused(result, words.format(at=caddyfile))
    assert result.seconds < 5 and result.mib < 160, result


def test_imports_that_multiply_are_refused_before_caddy_runs(tmp_path: Path) -> None:
    """20 files, each importing the next twice: caddy adapt splices in 2**20 copies (more than
    2 minutes and 1.3 GB before it was stopped). Counted as Caddy reads them, they are refused
    in a second."""
    first = chain(tmp_path, 20, "import {next}\n" * 2, "header X-Leaf 1\n", ".caddy")
    caddyfile = tmp_path / "Caddyfile"
    caddyfile.write_text(f"http://127.0.0.1:9 {{\n\timport {first}\n\trespond 200\n}}\n")
    result = verify_bounded(caddyfile, "caddy", path=_caddy_dir(), mib=None)
    assert_refused(result, "more than 250,000 lines with its includes written out")
    assert result.seconds < 5 and result.mib < 100, result


def test_a_snippet_imported_everywhere_is_bounded_written_out(tmp_path: Path) -> None:
    """A 1 MiB snippet in 80 sites: each import within bounds, 80 MiB as Caddy reads them."""
    (tmp_path / "pad.caddy").write_text('header X-Pad "' + "a" * (1 << 20) + '"\n')
    sites = "".join(f"http://127.0.0.1:{9000 + n} {{\n\timport pad.caddy\n}}\n" for n in range(80))
    caddyfile = tmp_path / "Caddyfile"
    caddyfile.write_text(sites)
    result = verify_bounded(caddyfile, "caddy", path=_caddy_dir(), mib=None)
    assert_refused(result, "more than 64 MiB with its imports written out")
    assert result.seconds < 5 and result.mib < 100, result


def test_what_caddy_adapt_writes_is_bounded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A header of 1.5 MiB, with the bound of what is read back lowered to 1 MiB: caddy's output
    stops on disk (RLIMIT_FSIZE), and the refusal names the bound."""
    monkeypatch.setattr(caddy_config, "MAX_ADAPTED_BYTES", 1 << 20)
    caddyfile = tmp_path / "Caddyfile"
    caddyfile.write_text('http://127.0.0.1:9 {\n\theader X-Pad "' + "a" * (3 << 19) + '"\n}\n')
    assert _verify(caddyfile) == 1
    err = capsys.readouterr().err
    assert err.startswith("corsgen: cannot read what ") and err.count("\n") == 1, err
    assert f"adapt makes of {caddyfile}: more than 1 MiB of JSON, the most `corsgen audit`" in err


def _routes(depth: int, inner: str) -> str:
    return "route {\n" * depth + inner + "}\n" * depth


@pytest.mark.parametrize("how", ["in-the-caddyfile", "through-an-import"])
def test_blocks_nested_past_the_bound_are_refused(how: str, tmp_path: Path) -> None:
    """300 nested routes ended in Python's RecursionError (a traceback) reading Caddy's JSON;
    blocks are counted through imports too (70 and 70), before caddy runs."""
    caddyfile = tmp_path / "Caddyfile"
    if how == "in-the-caddyfile":
        caddyfile.write_text("http://127.0.0.1:9 {\n" + _routes(300, "respond 200\n") + "}\n")
    else:
        (tmp_path / "inner.caddy").write_text(_routes(70, "respond 200\n"))
        caddyfile.write_text("http://127.0.0.1:9 {\n" + _routes(70, "import inner.caddy\n") + "}\n")
    result = verify_bounded(caddyfile, "caddy", path=_caddy_dir())
    assert_refused(result, "blocks nested more than 128 deep")
    assert result.seconds < 5, result


def test_routes_nested_by_an_import_corsgen_missed_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(caddy_config, "_read_imports", lambda *_: None)
    caddyfile = tmp_path / "Caddyfile"
    caddyfile.write_text("http://127.0.0.1:9 {\n" + _routes(300, "respond 200\n") + "}\n")
    assert _verify(caddyfile) == 1
    err = capsys.readouterr().err
    assert ": its routes nest deeper than `corsgen audit` reads (128 blocks)" in err, err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_imports_are_found_as_caddy_finds_them(tmp_path: Path) -> None:
    """Relative to the importing file, globs with hidden files, {$ENV}, snippets with their
    arguments, nested; a diamond read once per file."""
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.caddy").write_text("import b.caddy\n")  # sub/b.caddy
    (tmp_path / "sub" / "b.caddy").write_text("header X-B 1\n")
    (tmp_path / "g").mkdir()
    (tmp_path / "g" / ".hidden.caddy").write_text("header X-H 1\n")
    (tmp_path / "arg.caddy").write_text("header X-Arg 1\n")
    text = (
        "(snip) {\n\timport {args[0]}\n}\n"
        "http://127.0.0.1:9 {\n"
        "\timport sub/a.caddy\n"
        "\timport sub/a.caddy\n"
        "\timport g/*\n"
        "\timport {$CORSGEN_TEST_DIR}/arg.caddy\n"
        "\timport snip arg.caddy\n"
        "\trespond 200 # import nothing.caddy\n"
        "}\n"
    )
    budget = ConfigBudget()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CORSGEN_TEST_DIR", str(tmp_path))
        reads: list[Path] = []
        read = budget.read

        def counted(path: Path, included_at: str | None = None) -> bytes:
            reads.append(path)
            return read(path, included_at)

        mp.setattr(budget, "read", counted)
        caddy_config._read_imports(tmp_path / "Caddyfile", text, budget)
    names = sorted(str(path.relative_to(tmp_path)) for path in reads)
    assert names == ["arg.caddy", "g/.hidden.caddy", "sub/a.caddy", "sub/b.caddy"], names


@GRAPH_BUDGET
@given(graph=include_graphs())
@example(graph=FAN)
def test_any_import_graph_is_read_within_bounds(graph: list[list[tuple[int, bool]]]) -> None:
    """Random import graphs (through a snippet when in a block), with the bound of lines lowered
    to 300: read, or refused, within the budget; caddy does not run."""
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as mp:
        mp.setattr(server_config, "MAX_CONFIG_EXPANDED", 300)
        root = Path(tmp)
        for number, imports in enumerate(graph):
            lines = [f"header X-File-{number} 1"]
            for index, (target, in_snippet) in enumerate(imports):
                if in_snippet:
                    name = f"s{number}_{index}"
                    lines = [f"({name}) {{", f"\timport f{target}.caddy", "}", *lines]
                    lines.append(f"import {name}")
                else:
                    lines.append(f"import f{target}.caddy")
            (root / f"f{number}.caddy").write_text("\n".join(lines) + "\n")
        text = "http://127.0.0.1:9 {\n\timport f0.caddy\n}\n"
        with within(seconds=2, mib=16):
            found = bounded_or_refused(
                lambda: caddy_config._read_imports(root / "Caddyfile", text, ConfigBudget())
            )
        assert found is None


def test_an_import_of_more_words_than_a_run_keeps_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(server_config, "MAX_CONFIG_WORDS", 1_000)
    text = "import snip " + " ".join(f"a{n}" for n in range(5_000)) + "\n"
    with within(seconds=1, mib=8), pytest.raises(CorsgenError, match="Caddyfile:1: the config"):
        caddy_config._read_imports(Path("/nonexistent/Caddyfile"), text, ConfigBudget())


def test_arguments_passed_from_snippet_to_snippet_are_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """40 snippets, each passing its arguments twice to the next: 2**40 words (a MemoryError
    at 768 MiB). The words written in are counted as they are (the bound lowered here)."""
    monkeypatch.setattr(server_config, "MAX_CONFIG_WORDS", 10_000)
    snippets = "".join(
        f"(s{n}) {{\n\timport s{n + 1} {{args[:]}} {{args[:]}}\n}}\n" for n in range(40)
    )
    text = snippets + "(s40) {\n\trespond 200\n}\n:8080 {\n\timport s0 a b\n}\n"
    with within(seconds=1, mib=16), pytest.raises(CorsgenError, match="more than 10,000 words"):
        caddy_config._read_imports(Path("/nonexistent/Caddyfile"), text, ConfigBudget())


def test_environment_values_are_bounded_before_they_are_written_in(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """20,000 `respond {$X}` with X of 100 KB were 2 GB of text before a byte was counted (a
    MemoryError); the bytes written are counted with Apache's ${NAME} (lowered to 1 MiB)."""
    monkeypatch.setattr(caddy_config, "MAX_CONFIG_SUBSTITUTED", 1 << 20)
    monkeypatch.setenv("CORSGEN_TEST_X", "a" * 100_000)
    text = ":8080 {\n" + "\trespond {$CORSGEN_TEST_X}\n" * 20_000 + "}\n"
    with within(seconds=1, mib=16), pytest.raises(CorsgenError, match="1 MiB of environment"):
        caddy_config._read_imports(Path("/nonexistent/Caddyfile"), text, ConfigBudget())


def test_an_import_glob_is_bounded_by_the_directories_it_lists(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`import /*/*/*/*/*/*/*/*/*/nomatch*` walked the whole filesystem to match nothing."""
    monkeypatch.setattr(server_config, "MAX_CONFIG_GLOB_ENTRIES", 1_000)
    text = ":8080 {\n\timport /*/*/*/*/*/*/*/*/*/nomatch*\n}\n"
    with within(seconds=1, mib=16), pytest.raises(CorsgenError, match="1,000 directory entries"):
        caddy_config._read_imports(Path("/nonexistent/Caddyfile"), text, ConfigBudget())
