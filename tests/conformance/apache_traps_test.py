"""Apache configs where the snippet's own rewrite rule does not run for a path it covers.

A nested section's RewriteEngine Off or rules of its own, a [P] rule before the include, an
.htaccess below with RewriteEngine On, the snippet at server level (a2enconf): mod_rewrite rules do
not reach there, but <If> sections do. The grant and the answer live in one <If>, so a preflight
let past authentication is always answered, never sent on unauthenticated. (Found by a red-team
session; each row reached the backend without credentials when the answer lived elsewhere.)
"""

from __future__ import annotations

from pathlib import Path

import pytest

from corsgen.fetch import header_value
from corsgen.pipeline import load_and_plan
from corsgen.render import render
from corsgen.targets import apache_serving
from corsgen.targets.serving import Site
from corsgen.verify import find_binary
from testing.binaries import need_binary
from testing.client import Answer, send
from testing.paths import EXAMPLES
from testing.processes import free_port
from testing.servers import Endpoint, Launch, running
from testing.upstream import Upstream

pytestmark = pytest.mark.conformance

AUTH = "AuthType Basic\n    AuthName x\n    AuthUserFile {root}/htpasswd\n    Require valid-user\n"
# name: (vhost body, server-level lines, files under root, the path to probe)
TRAPS = {
    "nested-location-rewrite-off": (
        "<Location /api/>\n    Include {root}/spa_api.conf\n</Location>\n"
        "<Location /api/admin/>\n    RewriteEngine Off\n    {auth}</Location>\n"
        "ProxyPass /api/ http://127.0.0.1:{up}/\n",
        "",
        {},
        "/api/admin/x",
    ),
    "nested-location-own-rules": (
        "<Location /api/>\n    Include {root}/spa_api.conf\n</Location>\n"
        "<Location /api/admin/>\n    RewriteEngine On\n    RewriteRule ^old$ new [R=301,L]\n"
        "    {auth}</Location>\nProxyPass /api/ http://127.0.0.1:{up}/\n",
        "",
        {},
        "/api/admin/x",
    ),
    "htaccess-below-rewrite-on": (
        "DocumentRoot {root}/www\n<Directory {root}/www>\n    AllowOverride All\n"
        '    SetHandler "proxy:http://127.0.0.1:{up}"\n    Include {root}/spa_api.conf\n'
        "    {auth}</Directory>\n",
        "",
        {"www/sub/.htaccess": "RewriteEngine On\n", "www/sub/x": "x\n"},
        "/sub/x",
    ),
    "proxy-rule-before-include": (
        "RewriteEngine On\nRewriteRule ^/api/(.*)$ http://127.0.0.1:{up}/$1 [P]\n"
        "Include {root}/spa_api.conf\n<Location /api/>\n    {auth}</Location>\n",
        "",
        {},
        "/api/x",
    ),
    "rewrite-off-after-include": (
        "Include {root}/spa_api.conf\nRewriteEngine Off\n<Location /api/>\n    {auth}</Location>\n"
        "ProxyPass /api/ http://127.0.0.1:{up}/\n",
        "",
        {},
        "/api/x",
    ),
    "server-level-include": (
        "<Location /api/>\n    {auth}</Location>\nProxyPass /api/ http://127.0.0.1:{up}/\n",
        "Include {root}/spa_api.conf\n",
        {},
        "/api/x",
    ),
}
ORIGIN = "https://app.example.com"


def _launch(binary: str, trap: str) -> Launch:
    """The trap's httpd.conf, written where `running` serves it, and the command to run it."""

    def configure(root: Path, site: Site) -> list[str]:
        body, top, files, _ = TRAPS[trap]
        fill = {"root": root, "up": site.upstream}
        for name, text in render(load_and_plan(EXAMPLES / "spa-api.toml")[0], "apache").items():
            (root / name).write_text(text)
        for name, text in files.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text(text)
        port = site.ports["trap"]
        return apache_serving.command(
            binary,
            root,
            f"{apache_serving.head(root, site)}{top.format(**fill)}"
            f"Listen 127.0.0.1:{port}\n<VirtualHost 127.0.0.1:{port}>\n"
            f"{body.format(auth=AUTH.format(**fill), **fill)}</VirtualHost>\n",
        )

    return configure


@pytest.mark.parametrize("trap", TRAPS)
def test_a_preflight_let_past_auth_is_always_answered(trap: str, upstream: Upstream) -> None:
    binary = find_binary("apache")
    need_binary("apache", binary)
    port = free_port()
    at, path = Endpoint(port), TRAPS[trap][3]
    with running(_launch(str(binary), trap), Site((), {"trap": port}, upstream.port, 0)):
        preflight = send(
            at, "OPTIONS", path, {"Origin": ORIGIN, "Access-Control-Request-Method": "PUT"}
        )
        refused = send(
            at,
            "OPTIONS",
            path,
            {"Origin": "https://evil.com", "Access-Control-Request-Method": "PUT"},
        )
        actual = send(at, "GET", path, {"Origin": ORIGIN})
    _assert_answered(preflight)
    for answer in (refused, actual):  # credentials missing: auth answers, the backend never does
        assert answer.status == 401 and not answer.from_upstream, answer


def _assert_answered(answer: Answer) -> None:
    assert answer.status == 204 and not answer.from_upstream, answer
    assert header_value(answer.headers, "Access-Control-Allow-Origin") == ORIGIN
    assert header_value(answer.headers, "Access-Control-Allow-Methods") is not None
