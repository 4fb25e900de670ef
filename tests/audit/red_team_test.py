"""The red team's findings on `corsgen audit` and `corsgen import`: each a config an adversary or a
new user writes, that once cost minutes or a traceback, held to its bound here."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from corsgen.cli import main
from testing.bounded import Bounded, run_capped


def _audit(config: Path) -> Bounded:
    """`corsgen audit` as a user runs it, in a fresh interpreter under the memory cap."""
    return run_capped("audit", str(config), "--target", "nginx", cwd=config.parent, seconds=120)


def _server(body: str) -> str:
    return f"server {{\n listen 80;\n{body}}}\n"


def test_a_huge_origin_regex_in_a_config_is_audited_in_seconds(tmp_path: Path) -> None:
    """A 30,000-name alternation (a generated allowlist) was sampled and proven at its full length:
    minutes in interegular and the backtracking check. Longer than a policy's regex may be, the
    scanners' variants judge it."""
    names = "|".join(f"s{i}\\.example\\.com" for i in range(30_000))
    config = tmp_path / "site.conf"
    config.write_text(
        _server(
            " location / {\n"
            f'  if ($http_origin ~* "^https://({names})$") {{\n'
            "   add_header Access-Control-Allow-Origin $http_origin always;\n"
            "   add_header Vary Origin always;\n  }\n }\n"
        )
    )
    result = _audit(config)
    assert result.code == 0 and result.seconds < 20, result


def test_twenty_thousand_locations_are_audited_in_seconds(tmp_path: Path) -> None:
    """Every request scanned every location of its level, and every scope's paths every regex
    location of its server: 20,000 locations took over a minute; nginx looks them up in a tree."""
    locations = "".join(
        f' location /p{i}/ {{ add_header Access-Control-Allow-Origin "https://a{i}.example.com"'
        " always; add_header Vary Origin always; }\n"
        for i in range(20_000)
    )
    config = tmp_path / "site.conf"
    config.write_text(_server(locations + " location ~ \\.json$ { expires 1h; }\n"))
    result = _audit(config)
    # The regex location takes /p0/x.json from /p0/'s CORS: a finding, found in seconds.
    assert result.code == 1 and "CG402" in result.err and result.seconds < 30, result


CORS = (
    " location /api/ {\n"
    "  add_header Access-Control-Allow-Origin https://app.example.com always;\n"
    "  add_header Vary Origin always;\n }\n"
)


@pytest.mark.parametrize(
    "server_name",
    [
        "",  # none: the commonest hand-written site
        " server_name ~^(?<sub>.+)\\.example\\.com$;\n",  # a regex name: no host to write
        ' server_name "a\\"b;c.example.com";\n',  # a quote and a ; nginx reads inside quotes
    ],
)
def test_import_of_a_server_without_a_plain_name_writes_its_policy(
    tmp_path: Path, server_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The policy's output was served as `server_name {host};`: with no name, `server_name ;`,
    which nginx refuses, and import died with an internal error (exit 3)."""
    config = tmp_path / "site.conf"
    config.write_text(_server(server_name + CORS))
    out = tmp_path / "cors"
    assert main(["import", str(config), "--target", "nginx", "--out-dir", str(out)]) == 0
    assert [p.name for p in out.iterdir()] != [], capsys.readouterr()


def test_a_newline_in_a_quoted_location_stays_inside_the_policy_comment(tmp_path: Path) -> None:
    """The policy's header comment names the location: a newline nginx reads inside quotes ended
    the comment, and the rest became a key the config never granted (max_age = 86400)."""
    config = tmp_path / "site.conf"
    location = ' location "/a\nmax_age = 86400\n#" {\n' + CORS.split("{\n", 1)[1]
    config.write_text(_server(location))
    out = tmp_path / "cors"
    assert main(["import", str(config), "--target", "nginx", "--out-dir", str(out)]) == 0
    (written,) = out.iterdir()
    assert "max_age" not in tomllib.loads(written.read_text()), written.read_text()


@pytest.mark.parametrize("max_age", ["9" * 5000, "²"], ids=["5000-digits", "superscript-two"])
def test_a_max_age_int_refuses_is_no_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], max_age: str
) -> None:
    """int() refuses 4,300 digits and more, and "²" (which str.isdigit takes): both crashed."""
    config = tmp_path / "site.conf"
    config.write_text(
        _server(
            " location / {\n"
            "  add_header Access-Control-Allow-Origin https://app.example.com always;\n"
            f"  add_header Access-Control-Max-Age {max_age} always;\n }}\n"
        )
    )
    code = main(["audit", str(config), "--target", "nginx"])
    err = capsys.readouterr().err
    assert code in (0, 1) and "internal error" not in err
    assert ("CG202" in err) is (max_age != "²")
