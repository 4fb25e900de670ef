"""verify --config on Caddyfiles written as users write them, on Caddy 2.6 and the newest; each
ordering finding is also served, to show the preflight really meets authentication."""

from __future__ import annotations

import http.client
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from corsgen.cli import main
from corsgen.pipeline import load_and_plan
from corsgen.render import render
from corsgen.targets import caddy_config
from tests.conformance.servers import DEBIAN_CADDY, Site, free_port, latest_caddy, running
from tests.conftest import EXAMPLES, need_binary

# bcrypt of "s3cret"; only its shape matters to `caddy adapt`, and the preflight carries no login.
HASH = "$2a$14$Zkx19XLiW6VYouLHR5NmfOFU0z2GTNmpkT/5qqR7hx4IjWJPDhjvG"
SITE = "http://127.0.0.1:{port} {{\n\timport {root}/spa_api.caddy\n{body}}}\n"
CASES = {
    # name: (site body, whether auth runs before the preflight answer: a finding on line 7)
    "site-basic-auth": ("\t{auth} {{\n\t\talice {hash}\n\t}}\n\treverse_proxy 127.0.0.1:9\n", True),
    "site-forward-auth": ("\tforward_auth 127.0.0.1:9 {{\n\t\turi /check\n\t}}\n", True),
    "auth-in-route": (
        "\troute /admin/* {{\n\t\t{auth} {{\n\t\t\talice {hash}\n\t\t}}\n"
        "\t\trespond 200\n\t}}\n\trespond 200\n",
        False,
    ),
    # handle blocks are one group, and the snippet's (a named matcher) sorts first: the preflight
    # is answered before the one for /admin/* is chosen.
    "auth-in-handle": (
        "\thandle /admin/* {{\n\t\t{auth} {{\n\t\t\talice {hash}\n\t\t}}\n"
        "\t\trespond 200\n\t}}\n\trespond 200\n",
        False,
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
        code = main(["verify", "--config", str(caddyfile), "--target", "caddy"])
    err = capsys.readouterr().err
    assert code == (1 if expected else 0), err
    if expected:
        assert f"{caddyfile}:7: error CG404 preflight-not-answered: " in err
    serve = [binary, "run", "--adapter", "caddyfile", "--config", str(caddyfile)]
    with running(lambda root, site: serve, Site((), {"caddy": port}, 0, 0)):
        status = _preflight(port, "/admin/x")
    assert (status == 204) != expected, status


def test_a_caddyfile_without_a_snippet_or_broken_says_so(tmp_path: Path) -> None:
    binary = latest_caddy()
    need_binary("caddy", binary)
    path = tmp_path / "Caddyfile"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PATH", str(Path(str(binary)).parent), prepend=":")
        path.write_text("http://127.0.0.1:9 {\n\trespond 200\n}\n")
        assert main(["verify", "--config", str(path), "--target", "caddy"]) == 1
        path.write_text("http://127.0.0.1:9 {\n\trespond 200\n")
        assert main(["verify", "--config", str(path), "--target", "caddy"]) == 1


def reach(rule: str, case: str) -> Callable[[Path], None]:
    """Run `corsgen verify --config` on a Caddyfile that gives this finding (rulebook_test)."""
    assert (rule, case) == ("CG404", "auth-sorted-first")

    def run(tmp_path: Path) -> None:
        binary = latest_caddy()
        need_binary("caddy", binary)
        caddyfile = _caddyfile(tmp_path, "site-basic-auth", "basic_auth")
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("PATH", str(Path(str(binary)).parent), prepend=":")
            assert main(["verify", "--config", str(caddyfile), "--target", "caddy"]) == 1

    return run


def _verify(caddyfile: Path) -> int:
    binary = latest_caddy()
    need_binary("caddy", binary)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PATH", str(Path(str(binary)).parent), prepend=":")
        return main(["verify", "--config", str(caddyfile), "--target", "caddy"])


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
    findings = [ln for ln in capsys.readouterr().err.splitlines() if " CG404 " in ln]
    assert len(findings) == 1 and findings[0].startswith(f"{caddyfile}:{at}: "), findings
    assert "basic_auth in site 127.0.0.1 on :10 runs before" in findings[0], findings


def test_auth_from_an_import_names_the_site_instead_of_a_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    caddyfile = _caddyfile(tmp_path, "auth-in-route", "basic_auth")
    auth = tmp_path / "auth.caddy"
    auth.write_text(CASES["site-basic-auth"][0].format(auth="basic_auth", hash=HASH))
    caddyfile.write_text(
        caddyfile.read_text().replace("\troute /admin/*", f"\timport {auth}\n\troute /admin/*")
    )
    assert _verify(caddyfile) == 1
    findings = [ln for ln in capsys.readouterr().err.splitlines() if " CG404 " in ln]
    assert len(findings) == 1 and findings[0].startswith(f"{caddyfile}: "), findings
    assert "basic_auth in site 127.0.0.1 on :9 runs before" in findings[0], findings


def test_a_fifo_is_refused_and_an_import_that_hangs_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert _verify(fifo) == 1
    assert capsys.readouterr().err == (
        f"corsgen: cannot read {fifo}: it is a FIFO, not a regular file; "
        "pass --config a regular file\n"
    )
    monkeypatch.setattr(caddy_config, "TIMEOUT", 1)
    caddyfile = tmp_path / "Caddyfile"
    caddyfile.write_text(f"http://127.0.0.1:9 {{\n\timport {fifo}\n}}\n")
    assert _verify(caddyfile) == 1
    err = capsys.readouterr().err
    assert (
        err.startswith(f"corsgen: could not adapt {caddyfile} in 1 s (")
        and "could not run" not in err
    )
    assert err.count("\n") == 1, err
