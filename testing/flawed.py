"""Hand-written CORS configs for intended.toml, the way people write them: for each server a
correct baseline, and variants that each plant one flaw copied widely from answers, gists and
blog posts; with the exact findings `corsgen probe` must report on each, with and without the
policy.

Configs are data: each server has one template whose `[[slot]]`s the baseline fills (BASELINE)
and a flaw overrides (Flaw.slots), so a flaw's diff against the correct config is what you read.
The harness (conftest.py) serves every flaw of a server in one process, each on its own port.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from testing.servers import USER

INTENDED = Path(__file__).with_name("intended.toml")
# Every baseline is probed on an authenticated path too: its preflight is answered before auth.
BASELINE_PATHS = ("/ok", "/auth/ok")

Server = Literal["nginx", "apache", "caddy"]

# What the upstream may send of its own (testing/upstream.py's /own-cors), and each
# baseline removes: the server alone answers CORS.
CORS_HEADERS = tuple(
    f"Access-Control-{name}"
    for name in (
        "Allow-Origin",
        "Allow-Credentials",
        "Expose-Headers",
        "Allow-Methods",
        "Allow-Headers",
        "Max-Age",
        "Allow-Private-Network",
    )
)

# ---------------------------------------------------------------------------------------------
# nginx: the decisions are maps in http {} (add_header takes no condition), the headers are one
# file included in each location that serves the API.

NGINX_HTTP = r"""
# [[flaw]]: the allowed Origin, or empty: add_header sends no header with an empty value.
map $http_origin $cors_[[var]]_origin {
    [[origins]]
}
# A preflight: OPTIONS asking for a method, from an allowed origin.
map "$request_method:$http_access_control_request_method:$cors_[[var]]_origin"
    $cors_[[var]]_preflight {
    default "";
    "~^OPTIONS:[^:]+:." 1;
}
map $cors_[[var]]_origin $cors_[[var]]_credentials { "" ""; default "true"; }
map $cors_[[var]]_origin $cors_[[var]]_expose { "" ""; default "ETag"; }
map $cors_[[var]]_preflight $cors_[[var]]_methods { "" ""; default "GET, HEAD, POST, PUT"; }
map $cors_[[var]]_preflight $cors_[[var]]_headers { "" ""; default "[[allow_headers]]"; }
map $cors_[[var]]_preflight $cors_[[var]]_max_age { "" ""; default "[[max_age]]"; }

server {
    listen 127.0.0.1:[[port]];
    location / {
        include [[root]]/cors-[[flaw]].conf;
        proxy_pass http://127.0.0.1:[[upstream]];
    }
    # Nothing listens there: nginx answers 502 itself.
    location /dead/ {
        include [[root]]/cors-[[flaw]].conf;
        proxy_pass http://127.0.0.1:[[dead]];
    }
    # The preflight's return runs in the rewrite phase, before auth_basic.
    location /auth/ {
        include [[root]]/cors-[[flaw]].conf;
        auth_basic corsgen;
        auth_basic_user_file [[root]]/htpasswd;
        proxy_pass http://127.0.0.1:[[upstream]];
    }
}
"""

# The file each location includes.
NGINX_CORS = r"""
# [[flaw]]: CORS for each location that serves the API.
[[hide]]
add_header Access-Control-Allow-Origin [[acao]][[always]];
add_header Access-Control-Allow-Credentials [[acac]][[always]];
add_header Access-Control-Expose-Headers $cors_[[var]]_expose[[always]];
[[preflight]]
[[vary]]
"""

NGINX_HIDE = "\n".join(f"proxy_hide_header {name};" for name in CORS_HEADERS)

NGINX_PREFLIGHT = r"""
add_header Access-Control-Allow-Methods $cors_[[var]]_methods[[always]];
add_header Access-Control-Allow-Headers $cors_[[var]]_headers[[always]];
add_header Access-Control-Max-Age $cors_[[var]]_max_age[[always]];
# return runs in the rewrite phase: before any auth, and nothing reaches the upstream.
if ($cors_[[var]]_preflight) {
    return 204;
}
"""

# ---------------------------------------------------------------------------------------------
# Apache httpd: one <VirtualHost> per flaw. SetEnvIf decides, Header acts on its variable.

APACHE_VHOST = r"""
Listen 127.0.0.1:[[port]]
<VirtualHost 127.0.0.1:[[port]]>
    # [[flaw]]: CORS_ORIGIN is the allowed Origin; unset for any other.
    [[origins]]
    # The application's own CORS headers go; they are in the onsuccess table.
    [[hide]]
    Header [[always]]set Access-Control-Allow-Origin "%{CORS_ORIGIN}e" env=CORS_ORIGIN
    Header [[always]]set Access-Control-Allow-Credentials "true" env=CORS_ORIGIN
    Header [[always]]set Access-Control-Expose-Headers "ETag" env=CORS_ORIGIN
    Header [[always]]set Access-Control-Allow-Methods "GET, HEAD, POST, PUT" env=PREFLIGHT
    Header [[always]]set Access-Control-Allow-Headers "Content-Type, X-Request-Id" env=PREFLIGHT
    Header [[always]]set Access-Control-Max-Age "600" env=PREFLIGHT
    [[vary]]
    [[preflight]]
    ProxyPass /dead/ http://127.0.0.1:[[dead]]/
    ProxyPass / http://127.0.0.1:[[upstream]]/
    <Location /auth/>
        AuthType Basic
        AuthName corsgen
        AuthUserFile [[root]]/htpasswd
        Require valid-user
    </Location>
</VirtualHost>
"""

APACHE_HIDE = "\n".join(f"Header unset {name}" for name in CORS_HEADERS)

# In <VirtualHost> mod_rewrite runs while the URL is translated: before auth, never proxied.
APACHE_REWRITE = r"""
RewriteEngine On
RewriteCond %{REQUEST_METHOD} =OPTIONS
RewriteCond %{ENV:CORS_ORIGIN} !=""
RewriteCond %{HTTP:Access-Control-Request-Method} !=""
RewriteRule ^ - [E=PREFLIGHT:1,R=204,L]
"""

# ---------------------------------------------------------------------------------------------
# Caddy: one site per flaw. `header` sets now; `header { defer }` as the answer is written.

CADDY_SITE = r"""
http://127.0.0.1:[[port]] {
    # [[flaw]]: who may read. The header matcher compares whole values, case and all.
    @cors_allowed header Origin [[allowed]]
    @cors_preflight {
        method OPTIONS
        header Origin [[allowed]]
        header Access-Control-Request-Method *
    }
    # Now, so that Caddy's own errors (a 502 from a dead upstream) carry them too...
    header @cors_allowed {
        Access-Control-Allow-Origin {http.request.header.Origin}
        Access-Control-Allow-Credentials true
        Access-Control-Expose-Headers ETag
    }
    header @cors_preflight {
        [[defer]]
        Access-Control-Allow-Methods "GET, HEAD, POST, PUT"
        Access-Control-Allow-Headers "Content-Type, X-Request-Id"
        Access-Control-Max-Age 600
    }
    [[replace]]
    [[vary]]
    handle @cors_preflight {
        respond 204
    }
    [[auth]]
    reverse_proxy /dead/* 127.0.0.1:[[dead]]
    reverse_proxy 127.0.0.1:[[upstream]]
}
"""

# Caddy runs basicauth before handle, and route after it: inside route, the password comes after
# the preflight's answer.
CADDY_AUTH = r"""
route /auth/* {
    basicauth {
        [[user]] [[hash]]
    }
    reverse_proxy 127.0.0.1:[[upstream]]
}
"""
# `caddy hash-password --plaintext` of testing.servers.PASSWORD; bcrypt, any Caddy 2.
CADDY_HASH = "$2a$14$C7LtjbUH4bYKSGouS7B5lOxySs2COIz8FQVVAxivIJ59n5F.Idhie"

# Caddy sorts `header` blocks with a matcher before those without, and runs the deferred ones
# innermost first: the unmatched delete runs before the deferred sets above it.
CADDY_REPLACE = r"""
# ...and the allowed origin's again as the answer is written, over what the upstream sent.
header @cors_allowed {
    defer
    Access-Control-Allow-Origin {http.request.header.Origin}
    Access-Control-Allow-Credentials true
    Access-Control-Expose-Headers ETag
}
# The application's own CORS headers go, before the deferred sets above.
header {
    defer
    [[delete]]
}
"""
CADDY_DELETE = "\n".join(f"-{name}" for name in CORS_HEADERS)

TEMPLATES: Mapping[Server, Mapping[str, str]] = {
    # file name to template: nginx.conf's http {} takes "http"; each flaw has its cors-FLAW.conf
    "nginx": {"http": NGINX_HTTP, "cors": NGINX_CORS},
    "apache": {"vhost": APACHE_VHOST},
    "caddy": {"site": CADDY_SITE},
}

# The correct config: every promise of intended.toml kept.
BASELINE: Mapping[Server, Mapping[str, str]] = {
    "nginx": {
        "origins": 'default "";\n'
        "# Anchored and case-sensitive (~, not ~*): the one origin, as browsers spell it.\n"
        '"~^https://app\\.example\\.com$" $http_origin;',
        "acao": "$cors_[[var]]_origin",
        "acac": "$cors_[[var]]_credentials",
        "allow_headers": "Content-Type, X-Request-Id",
        "max_age": "600",
        "always": " always",
        "hide": NGINX_HIDE,
        "preflight": NGINX_PREFLIGHT,
        "vary": "add_header Vary Origin[[always]];",
    },
    "apache": {
        "origins": "# Anchored: $0, what matched, is the whole Origin.\n"
        r'SetEnvIf Origin "^https://app\.example\.com$" CORS_ORIGIN=$0',
        "always": "always ",
        "hide": APACHE_HIDE,
        "vary": "Header [[always]]merge Vary Origin",
        "preflight": APACHE_REWRITE,
    },
    "caddy": {
        "allowed": "https://app.example.com",
        "replace": CADDY_REPLACE,
        "delete": CADDY_DELETE,
        "defer": "defer",
        "vary": "header +Vary Origin",
        "auth": CADDY_AUTH,
        "user": USER,
        "hash": CADDY_HASH,
    },
}

# What every hostile origin of scan mode proves when any origin is reflected; PR107 (http://
# downgrade) is asked of https:// sites only, and every site here is http://127.0.0.1.
REFLECTED = frozenset(
    {"PR101", "PR102", "PR103", "PR104", "PR105", "PR106", "PR108", "PR109", "PR110"}
)
NOTHING: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Flaw:
    server: Server
    name: str
    why: str  # what is planted, and why exactly these findings
    policy: frozenset[str]  # ids found with --policy intended.toml
    scan: frozenset[str]  # ids found without a policy
    slots: Mapping[str, str] = field(default_factory=dict)  # what differs from BASELINE
    paths: tuple[str, ...] = ("/ok",)
    # The upstream's own 404, and the server's own 502 (httpd's 503) for an upstream that is down:
    # the server must answer CORS on both.
    error_paths: tuple[str, ...] = ("/missing", "/dead/x")

    def arguments(self) -> list[str]:
        """`corsgen probe` arguments for this flaw's paths."""
        out = []
        for path in self.paths:
            out += ["--path", path]
        for path in self.error_paths:
            out += ["--error-path", path]
        return out

    def files(self, port: int, root: Path, upstream: int, dead: int) -> dict[str, str]:
        """Each template of the server, filled for this flaw."""
        values = {
            **BASELINE[self.server],
            **self.slots,
            "flaw": self.name,
            "var": self.name.replace("-", "_"),
            "port": str(port),
            "root": str(root),
            "upstream": str(upstream),
            "dead": str(dead),
        }
        return {name: fill(text, values) for name, text in TEMPLATES[self.server].items()}


_MARKER = re.compile(r"\[\[(\w+)\]\]")
_ALONE = re.compile(r"^([ \t]*)\[\[(\w+)\]\]\n", re.MULTILINE)


def _indented(value: str, indent: str) -> str:
    return "".join(f"{indent}{line}\n" if line else "\n" for line in value.strip("\n").split("\n"))


def fill(template: str, values: Mapping[str, str]) -> str:
    """Every [[slot]] replaced, again while values hold slots. A slot alone on its line takes the
    value's lines at its indentation, or goes, line and all, when the value is empty; those go
    first, so that a slot they bring is indented with them."""
    text = template
    for _ in range(8):
        if not _MARKER.search(text):
            return text.lstrip("\n")
        alone = _ALONE.sub(lambda m: _indented(values[m[2]], m[1]) if values[m[2]] else "", text)
        text = alone if alone != text else _MARKER.sub(lambda m: values[m[1]], text)
    raise ValueError(f"slots still unfilled after 8 rounds: {_MARKER.findall(text)}")


# Behind every *-duplicates flaw: the upstream sends its own CORS headers on these paths
# (Access-Control-Allow-Origin: *, Allow-Credentials: true, Allow-Methods: PURGE, ...).
OWN_CORS, OWN_CORS_ERROR = ("/own-cors",), ("/own-cors-error",)
DUPLICATES_POLICY = frozenset({"PR001", "PR002", "PR006", "PR007", "PR010"})
DUPLICATES_WHY = (
    "the upstream's CORS headers pass through beside the server's: the allowed origin gets two "
    "Access-Control-Allow-Origin (PR010), which browsers read as one invalid value, on the path "
    "(PR001) and its error (PR002); refused origins get the upstream's lone * and read without "
    "credentials (PR006), and the upstream answers their preflight with its own CORS headers, "
    "which fail (PR007: PUT is not its PURGE). Scan mode: no hostile origin sees a duplicate "
    "(the server adds nothing for them), but * comes with credentials (PR111); * is readable on "
    "the error path too, so no PR002."
)


def _baseline(server: Server) -> Flaw:
    return Flaw(server, "baseline", "every promise kept: nothing to find", NOTHING, NOTHING,
                paths=BASELINE_PATHS)  # fmt: skip


FLAWS: tuple[Flaw, ...] = (
    # ------------------------------------------------------------------------------- nginx
    _baseline("nginx"),
    Flaw(
        "nginx",
        "reflect-any",
        "add_header Access-Control-Allow-Origin $http_origin always, with credentials true and "
        "the preflight answered for every origin: every refused origin reads, with credentials, "
        "and passes its preflight (PR006 only: Vary, errors and lists stay right). Scan mode: "
        "every hostile origin is reflected",
        frozenset({"PR006"}),
        REFLECTED,
        {"origins": "default $http_origin;", "acao": "$http_origin", "acac": "true"},
    ),
    Flaw(
        "nginx",
        "unanchored",
        r"map regex ~app\.example\.com: the prefix, special-character and :8443 variants and "
        "http://app.example.com contain it and read (PR006). Scan mode asks about 127.0.0.1's "
        "variants only, which it does not match",
        frozenset({"PR006"}),
        NOTHING,
        {"origins": 'default "";\n"~app\\.example\\.com" $http_origin;'},
    ),
    Flaw(
        "nginx",
        "http-or-https",
        r"~^https?://app\.example\.com$: http://app.example.com, which anyone on the network can "
        "be, reads (PR006). Scan mode: the site is http://, so no downgrade is asked",
        frozenset({"PR006"}),
        NOTHING,
        {"origins": 'default "";\n"~^https?://app\\.example\\.com$" $http_origin;'},
    ),
    Flaw(
        "nginx",
        "add-header-in-if",
        "the classic OPTIONS `if` with its own add_header and return 204: add_header in the if "
        "replaces every one of the location's, so the preflight has lists and Vary but no "
        "Access-Control-Allow-Origin (PR003, status 204); nothing else changes",
        frozenset({"PR003"}),
        NOTHING,
        {
            "preflight": "if ($cors_[[var]]_preflight) {\n"
            "    add_header Access-Control-Allow-Methods $cors_[[var]]_methods always;\n"
            "    add_header Access-Control-Allow-Headers $cors_[[var]]_headers always;\n"
            "    add_header Access-Control-Max-Age $cors_[[var]]_max_age always;\n"
            "    add_header Vary Origin always;\n"
            "    return 204;\n"
            "}"
        },
    ),
    Flaw(
        "nginx",
        "no-always",
        "add_header without always, Vary's too: the upstream's 404 and nginx's own 502 carry no "
        "CORS header (PR002), for every origin alike, so they need no Vary: Origin; 200 and 204 "
        "keep theirs",
        frozenset({"PR002"}),
        NOTHING,
        {"always": ""},
    ),
    Flaw(
        "nginx",
        "no-always-on-cors",
        "add_header without always on the CORS headers, Vary Origin still always: the 404 and "
        "the 502 lose the CORS headers (PR002) and keep Vary",
        frozenset({"PR002"}),
        NOTHING,
        {"always": "", "vary": "add_header Vary Origin always;"},
    ),
    Flaw(
        "nginx",
        "no-vary",
        "no Vary: Origin: every answer but the upstream's Accept-Encoding lacks it (PR009). Scan "
        "mode checks Vary only when some answer depends on Origin, and none does there",
        frozenset({"PR009"}),
        NOTHING,
        {"vary": ""},
    ),
    Flaw(
        "nginx",
        "duplicates",
        f"no proxy_hide_header: {DUPLICATES_WHY}",
        DUPLICATES_POLICY,
        frozenset({"PR111"}),
        {"hide": ""},
        paths=OWN_CORS,
        error_paths=OWN_CORS_ERROR,
    ),
    Flaw(
        "nginx",
        "gist-max-age",
        "Access-Control-Max-Age 1728000, the number every copy of the enable-cors gist carries: "
        "the preflight passes but is not the policy's (PR005)",
        frozenset({"PR005"}),
        NOTHING,
        {"max_age": "1728000"},
    ),
    Flaw(
        "nginx",
        "echo-request-headers",
        "Access-Control-Allow-Headers $http_access_control_request_headers: the allowed "
        "preflight gets its own two headers back (no PR005), and a preflight for X-Corsgen-Probe "
        "passes too (PR008)",
        frozenset({"PR008"}),
        NOTHING,
        {"allow_headers": "$http_access_control_request_headers"},
    ),
    Flaw(
        "nginx",
        "credentials-for-all",
        "Access-Control-Allow-Credentials true sent to every origin, only the origin decided: "
        "refused origins cannot read, but get a CORS header, on the GET and on the preflight the "
        "upstream answers (PR007)",
        frozenset({"PR007"}),
        NOTHING,
        {"acac": "true"},
    ),
    # ------------------------------------------------------------------------------ Apache
    _baseline("apache"),
    Flaw(
        "apache",
        "onsuccess",
        "Header set (the onsuccess table) instead of Header always set: answers httpd makes "
        "itself drop it, the proxy's 503 (PR002) and the preflight's R=204 (PR003), for every "
        "origin alike, so they need no Vary: Origin; the upstream's proxied 404 keeps its headers",
        frozenset({"PR002", "PR003"}),
        NOTHING,
        {"always": ""},
    ),
    Flaw(
        "apache",
        "reflect-any",
        'SetEnvIf Origin ".+" CORS_ORIGIN=$0: every origin reads with credentials and passes '
        "the preflight (PR006). Scan mode: every hostile origin is reflected",
        frozenset({"PR006"}),
        REFLECTED,
        {"origins": 'SetEnvIf Origin ".+" CORS_ORIGIN=$0'},
    ),
    Flaw(
        "apache",
        "no-dollar",
        r'SetEnvIf Origin "^https://app\.example\.com" CORS_ORIGIN=$0, no $: it matches the '
        "prefix, special-character and :8443 variants, but $0 is only the part matched, so they "
        "get Access-Control-Allow-Origin: https://app.example.com, which is not theirs: they "
        "cannot read, yet get CORS headers (PR007, not PR006)",
        frozenset({"PR007"}),
        NOTHING,
        {"origins": r'SetEnvIf Origin "^https://app\.example\.com" CORS_ORIGIN=$0'},
    ),
    Flaw(
        "apache",
        "unanchored",
        r'SetEnvIf Origin "https://app\.example\.com" CORS_ORIGIN=$0, neither ^ nor $: with no '
        "regex operator left, mod_setenvif takes the pattern for a plain substring search, which "
        "fills in no $0: every origin containing it, the allowed one too, gets the literal "
        "Access-Control-Allow-Origin: $0. The allowed origin cannot read the path (PR001), its "
        "errors (PR002) or pass its preflight (PR003); the prefix, special-character and :8443 "
        "variants get CORS headers they cannot use (PR007)",
        frozenset({"PR001", "PR002", "PR003", "PR007"}),
        NOTHING,
        {"origins": r'SetEnvIf Origin "https://app\.example\.com" CORS_ORIGIN=$0'},
    ),
    Flaw(
        "apache",
        "copied-regex",
        r'the much-copied SetEnvIf Origin "http(s)?://(www\.)?(app.example.com)$": no ^ (harmless '
        "with $0), but http:// and unescaped dots: http://app.example.com, "
        "https://appxexample.com and https://app.examplexcom read (PR006)",
        frozenset({"PR006"}),
        NOTHING,
        {"origins": r'SetEnvIf Origin "http(s)?://(www\.)?(app.example.com)$" CORS_ORIGIN=$0'},
    ),
    Flaw(
        "apache",
        "no-vary",
        "no Vary: Origin on any answer (PR009)",
        frozenset({"PR009"}),
        NOTHING,
        {"vary": ""},
    ),
    Flaw(
        "apache",
        "preflight-after-auth",
        "the preflight rule in <Location />, where mod_rewrite runs in the fixups, after "
        "authentication: the preflight to /auth/ok is answered 401 (PR004). The GET's 401 "
        "carries the CORS headers, so the page reads the 401: no PR001",
        frozenset({"PR004"}),
        NOTHING,
        {"preflight": f"<Location />\n{_indented(APACHE_REWRITE, '    ')}</Location>"},
        paths=("/auth/ok",),
    ),
    # ------------------------------------------------------------------------------- Caddy
    _baseline("caddy"),
    Flaw(
        "caddy",
        "reflect-any",
        "header Origin * as the matcher, {http.request.header.Origin} as the value: every "
        "origin reads with credentials and passes the preflight (PR006). Scan mode: every "
        "hostile origin is reflected",
        frozenset({"PR006"}),
        REFLECTED,
        {"allowed": "*"},
    ),
    Flaw(
        "caddy",
        "no-defer",
        f"header without defer, nothing removing the upstream's copies: {DUPLICATES_WHY}",
        DUPLICATES_POLICY,
        frozenset({"PR111"}),
        {"replace": "", "defer": ""},
        paths=OWN_CORS,
        error_paths=OWN_CORS_ERROR,
    ),
    Flaw(
        "caddy",
        "no-vary",
        "no Vary: Origin: every answer but the upstream's Accept-Encoding lacks it (PR009)",
        frozenset({"PR009"}),
        NOTHING,
        {"vary": ""},
    ),
    Flaw(
        "caddy",
        "auth-first",
        "basicauth /auth/* in the site block, not in a route: Caddy orders basicauth before "
        "handle, so the preflight to /auth/ok is answered 401 (PR004). The headers set before "
        "it stay on the 401, so the GET's 401 is readable: no PR001",
        frozenset({"PR004"}),
        NOTHING,
        {"auth": "basicauth /auth/* {\n    [[user]] [[hash]]\n}"},
        paths=("/auth/ok",),
    ),
)
