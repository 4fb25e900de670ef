"""verify --config on Apache configs written as Debian lays them out: apache2.conf, mods-enabled,
sites-enabled. Each config is also one `apache2 -t` accepts, so the findings are about real
configs; the conformance suite shows on the real server what each finding costs."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from corsgen.cli import main
from corsgen.pipeline import load_and_plan
from corsgen.render import render
from corsgen.targets.apache import MODULES, module_lines
from corsgen.targets.apache_config import audit
from corsgen.verify import find_binary
from tests.conftest import EXAMPLES, need_binary

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


def _findings(conf: Path) -> list[tuple[str, str]]:
    return [(f.rule_id, f.message) for f in audit(conf)]


def _old(root: Path) -> None:
    """The spa_api snippet as corsgen wrote it before it answered preflights per directory."""
    path = root / "cors" / "spa_api.conf"
    path.write_text(path.read_text().split("\n# In <Directory>")[0] + "\n")


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


@pytest.mark.parametrize(
    ("site", "old", "modules", "expected"),
    [
        (GOOD, False, MODULES, []),
        (OLD_IN_DIRECTORY, True, MODULES, [("CG404", "mod_rewrite runs after authentication")]),
        (OLD_IN_DIRECTORY, False, MODULES, []),
        (NO_SYMLINKS, False, MODULES, [("CG404", "Options -FollowSymLinks -Indexes at ")]),
        (TWO_AT_THE_TOP, False, MODULES, [("CG404", "answers every preflight")]),
        (GOOD, False, ("mpm_event", "authz_core", "headers"), [("CG407", "mod_setenvif")]),
    ],
    ids=["good", "old-snippet-in-directory", "current-in-directory", "no-symlinks", "two", "mods"],
)
def test_audit(
    tmp_path: Path, site: str, old: bool, modules: tuple[str, ...], expected: list[tuple[str, str]]
) -> None:
    conf = _tree(tmp_path, site, modules)
    if old:
        _old(tmp_path)
    found = _findings(conf)
    assert [rule for rule, _ in found] == [rule for rule, _ in expected], found
    for (_, message), (_, words) in zip(found, expected, strict=True):
        assert words in message
    assert main(["verify", "--config", str(conf), "-t", "apache"]) == (1 if expected else 0)
    if modules == MODULES:  # a config httpd itself accepts: the findings are about real configs
        binary = find_binary("apache")
        need_binary("apache", binary)
        test = subprocess.run([str(binary), "-t", "-f", str(conf)], capture_output=True, text=True)
        assert test.returncode == 0, test.stderr


def test_a_config_without_a_snippet_says_so(tmp_path: Path) -> None:
    conf = _tree(tmp_path, "<VirtualHost 127.0.0.1:8080>\n</VirtualHost>\n")
    assert [rule for rule, _ in _findings(conf)] == ["CG406"]


def test_findings_name_the_include(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = _tree(tmp_path, OLD_IN_DIRECTORY)
    _old(tmp_path)
    assert main(["verify", "--config", str(conf), "-t", "apache"]) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path}/sites-enabled/api.conf:8: error CG404 preflight-not-answered:" in err


# The config that gives each Apache finding, for tests/rulebook_test.py.
REACHES = {
    ("CG404", "rewrite-after-auth"): (OLD_IN_DIRECTORY, True, MODULES),
    ("CG404", "rewrite-forbidden"): (NO_SYMLINKS, False, MODULES),
    ("CG407", "missing"): (GOOD, False, ("mpm_event", "authz_core", "headers")),
}


def reach(rule: str, case: str) -> Callable[[Path], None]:
    """Run `corsgen verify --config` on the config that gives this finding."""
    site, old, modules = REACHES[rule, case]

    def run(tmp_path: Path) -> None:
        conf = _tree(tmp_path, site, modules)
        if old:
            _old(tmp_path)
        assert main(["verify", "--config", str(conf), "--target", "apache"]) == 1

    return run


@pytest.mark.parametrize("how", ["config", "include"])
def test_a_fifo_is_named_not_read(
    how: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A FIFO's refusal once named no file, and an Include of one said "no such file"."""
    conf = _tree(tmp_path, GOOD)
    fifo = tmp_path / "fifo.conf"
    os.mkfifo(fifo)
    conf.write_text(conf.read_text() + f"Include {fifo}\n")
    assert (
        main(["verify", "--config", str(conf if how == "include" else fifo), "-t", "apache"]) == 1
    )
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
