from __future__ import annotations

from pathlib import Path

import pytest

from corsgen.errors import VerifyError
from corsgen.targets import NAMES as TARGETS
from corsgen.verify import check_structure

GOLDENS = Path(__file__).parent / "goldens"


def _golden(example: str, target: str) -> dict[str, str]:
    folder = GOLDENS / example / target
    return {p.name: p.read_text() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("example", ["spa-api", "public-read", "previews", "tenants"])
@pytest.mark.parametrize("target", TARGETS)
def test_goldens_parse(example: str, target: str) -> None:
    golden = _golden(example, target)
    if "REFUSED" in golden:  # the target's format cannot express the example: nothing rendered
        assert set(golden) == {"REFUSED"} and " CG530 " in golden["REFUSED"]
        return
    check_structure(golden, target)


# (target, file, find, replace, message, line): one broken output per kind of mistake.
BROKEN = [
    (
        "nginx",
        "spa_api.conf",
        "proxy_hide_header Access-Control-Allow-Origin;",
        "proxy_hide_header a b;",
        'invalid number of arguments in "proxy_hide_header"',
        7,
    ),
    (
        "nginx",
        "spa_api.conf",
        "add_header Vary Origin always;",
        "map $a $b { }",
        '"map" directive is not allowed here',
        None,
    ),
    (
        "nginx",
        "spa_api.http.conf",
        "map $http_origin",
        "return 204;\nmap $http_origin",
        '"return" directive is not allowed here',
        6,
    ),
    (
        "nginx",
        "spa_api.conf",
        "    return 204;\n}",
        "    return 204;\n",
        "unexpected end of file",
        None,
    ),
    (
        "nginx",
        "spa_api.http.conf",
        'default "";',
        'default "' + "a" * 4_094 + '";',
        "a parameter of 4,094 bytes, more than the 4,093 nginx reads",
        None,
    ),
    (
        "nginx",
        "spa_api.http.conf",
        '"https://app.example.com" $http_origin;',
        '"' + "k" * 4_094 + '" "1";',
        "a parameter of 4,094 bytes, more than the 4,093 nginx reads",
        None,
    ),
    ("apache", "spa_api.conf", "RewriteEngine On", "RewriteEngin On", "unknown directive", None),
    (
        "apache",
        "spa_api.conf",
        "Header always merge Vary Origin",
        "Header always merg Vary Origin",
        'unknown Header action "merg"',
        None,
    ),
    (
        "apache",
        "spa_api.conf",
        "RewriteEngine On",
        'RewriteEngine "On',
        "unterminated quoted",
        None,
    ),
    ("apache", "spa_api.conf", "RewriteEngine On", "RewriteEngine On Off", "wrong number", None),
    ("apache", "spa_api.conf", "RewriteEngine On", "<Directory />", "unexpected section", None),
    (
        "caddy",
        "spa_api.caddy",
        "handle @corsgen_spa_api_preflight {",
        "{",
        "a { with nothing",
        None,
    ),
    ("caddy", "spa_api.caddy", "\trespond 204\n}", "\trespond 204\n", "unclosed {", None),
    (
        "caddy",
        "spa_api.caddy",
        "header +Vary Origin",
        "heder +Vary Origin",
        "unknown directive",
        None,
    ),
    ("caddy", "spa_api.caddy", "\tmethod OPTIONS", "\tmethods OPTIONS", "unknown matcher", None),
    ("caddy", "spa_api.caddy", "header +Vary Origin", "}", "unexpected }", None),
    ("caddy", "spa_api.caddy", "\tdefer\n", "\tdefer now later\n", "bad header field", None),
    (
        "caddy",
        "previews.caddy",  # a list with a pattern: the map holds it
        '\t"https://app.example.com" 1\n',
        '\t"https://app.example.com" 1 2\n',
        'a map entry is not "input output"',
        None,
    ),
]


@pytest.mark.parametrize(("target", "file", "find", "replace", "message", "line"), BROKEN)
def test_broken_output_is_caught(
    target: str, file: str, find: str, replace: str, message: str, line: int | None
) -> None:
    files = _golden(file.split(".")[0].replace("_", "-"), target)
    assert find in files[file]
    files[file] = files[file].replace(find, replace, 1)
    with pytest.raises(VerifyError) as info:
        check_structure(files, target)
    assert message in info.value.msg
    assert info.value.file == file
    assert f" in {file}:" in str(info.value)
    if line is not None:
        assert info.value.line == line
