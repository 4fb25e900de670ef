"""The Apache routing model (targets/apache_routing.py) against httpd itself.

Every config of the corpus (tests/audit/corpus/apache/) and each merge-order case below is served
by the real apache2 on a free loopback port, with testing/upstream.py behind it, and sent the same
requests as the model: allowed, refused and hostile origins, preflights, no Origin, the
upstream's errors and its own CORS headers, a path behind auth. What a browser acts on (status,
each Access-Control-* line, Vary's origin token, routing.SECRET_HEADER) must be the same; a
difference is shown as one table per config.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

import pytest

from corsgen.cli import audit as cli_audit
from corsgen.cli import main
from corsgen.errors import CorsgenError
from corsgen.routing import SECRET_HEADER, Answered, Asked, Routes
from corsgen.targets.apache import TARGET
from testing import corpus
from testing.bounded import chain, cpu_within
from testing.client import send
from testing.servers import Endpoint
from testing.upstream import Upstream, answer

CORPUS = Path(__file__).parent / "corpus" / "apache"
MISSING = "/nothing-here"  # the one path no file is written for
ALLOWED = ("https://app.example.com", "https://admin.example.com", "https://example.com")
HOSTILE = (
    "https://evil.example",
    "https://example.com.evil.example",
    "https://stagingxexample.com",
)
Request = tuple[str, str, tuple[tuple[str, str], ...]]


def _preflight(origin: str, method: str) -> tuple[tuple[str, str], ...]:
    return (("Origin", origin), ("Access-Control-Request-Method", method))


REQUESTS: tuple[Request, ...] = (
    *(("GET", path, (("Origin", o),)) for o in ALLOWED + HOSTILE for path in ("/api/ok",)),
    *(("OPTIONS", "/api/ok", _preflight(o, "DELETE")) for o in ALLOWED + HOSTILE[:1]),
    ("GET", "/api/ok", ()),
    ("GET", "/api/", (("Origin", ALLOWED[0]),)),  # a directory: its <Directory> applies
    ("OPTIONS", "/api/ok", ()),
    ("GET", "/api/admin/ok", (("Origin", ALLOWED[0]),)),
    ("GET", "/api/admin/ok", (("Origin", ALLOWED[1]),)),
    ("OPTIONS", "/api/admin/ok", _preflight(ALLOWED[0], "DELETE")),
    ("OPTIONS", "/api/admin/ok", _preflight(ALLOWED[1], "DELETE")),
    ("OPTIONS", "/api/admin/ok", _preflight(ALLOWED[1], "POST")),
    ("GET", "/api/error", (("Origin", ALLOWED[0]),)),
    ("GET", "/api/missing", (("Origin", ALLOWED[0]),)),
    ("GET", "/own-cors", (("Origin", ALLOWED[0]),)),
    ("GET", "/own-cors", (("Origin", HOSTILE[0]),)),
    ("GET", MISSING, (("Origin", ALLOWED[0]),)),
    ("OPTIONS", MISSING, _preflight(ALLOWED[0], "GET")),
    ("DELETE", "/own-cors", (("Origin", ALLOWED[0]),)),
    ("GET", "/api/private/ok", (("Origin", ALLOWED[0]),)),
    ("OPTIONS", "/api/private/ok", _preflight(ALLOWED[0], "GET")),
)


Seen = tuple[int, tuple[tuple[str, str], ...], bool]


def seen(status: int, headers: tuple[tuple[str, str], ...] | list[tuple[str, str]]) -> Seen:
    """What a browser acts on: the status, each CORS line and the secret, Vary's Origin."""
    kept = sorted(
        (n.lower(), v)
        for n, v in headers
        if n.lower().startswith("access-control-") or n.lower() == SECRET_HEADER.lower()
    )
    vary = [t.strip().lower() for n, v in headers if n.lower() == "vary" for t in v.split(",")]
    return status, tuple(kept), "origin" in vary


def copied(tmp: Path, text: str) -> Path:
    """The corpus copied into tmp/corpus with `text` as served.conf, as served: the config."""
    paths = [path for _, path, _ in REQUESTS if path != MISSING]
    return corpus.apache_copied(tmp / "corpus", text, (*paths, *corpus.APACHE_PATHS))


@contextmanager
def served(text: str, upstream: Upstream) -> Iterator[tuple[Routes, int]]:
    """The config (a corpus file's text) served by apache2 beside a copy of the corpus, and the
    model of the same file: (model, port)."""
    paths = [path for _, path, _ in REQUESTS if path != MISSING]
    with corpus.apache_text(text, upstream.port, (*paths, *corpus.APACHE_PATHS)) as done:
        yield done.routes, done.ports[0]


def _row(request: Request) -> str:
    method, path, headers = request
    asked = " ".join(f"{n}: {v}" for n, v in headers)
    return f"{method} {path} {asked}".strip()


def _shown(value: Seen) -> str:
    status, cors, vary = value
    lines = "; ".join(f"{n}={v}" for n, v in cors)
    return f"{status} [{lines}]{' vary:origin' if vary else ''}"


def fetched(port: int, request: Request) -> tuple[int, list[tuple[str, str]]]:
    """httpd's answer; a Host among the request's headers is its only one."""
    method, path, headers = request
    answer = send(Endpoint(port), method, path, list(headers))
    return answer.status, answer.headers


def asked(port: int, request: Request) -> Asked:
    """The request as the model takes it: its Host header, else the address it was sent to."""
    method, path, headers = request
    host = next((value for name, value in headers if name.lower() == "host"), "127.0.0.1")
    return Asked(host, method, path, tuple(h for h in headers if h[0].lower() != "host"), port)


def differences(routes: Routes, port: int, requests: tuple[Request, ...]) -> list[str]:
    """One line per request where the model and httpd differ: what each sent."""
    out = []
    for request in requests:
        status, sent = fetched(port, request)
        answered = routes.answer(asked(port, request), answer)
        model, truth = seen(answered.status, answered.pairs()), seen(status, sent)
        if model != truth:
            trail = " > ".join(answered.trail)
            out.append(f"{_row(request)}\n  model: {_shown(model)}\n  httpd: {_shown(truth)}")
            out.append(f"  trail: {trail}")
    return out


CONFIGS = sorted(p.name for p in CORPUS.glob("*.conf"))


@pytest.mark.parametrize("name", CONFIGS)
def test_the_model_answers_as_httpd(name: str, upstream: Upstream) -> None:
    with served((CORPUS / name).read_text(), upstream) as (routes, port):
        found = differences(routes, port, REQUESTS)
    assert not found, f"{name}: the model differs from httpd\n" + "\n".join(found)


# ---------------------------------------------------------------------------------------------
# httpd's merge order, one fact each: what the model answers, and that httpd answers the same.

VHOST = """Listen 127.0.0.1:8080
<VirtualHost 127.0.0.1:8080>
{body}
    ProxyPass / http://127.0.0.1:9000/
</VirtualHost>
"""
# Files handed to the application by SetHandler: <Directory> and <Files> apply.
FILES = """Listen 127.0.0.1:8080
<VirtualHost 127.0.0.1:8080>
    DocumentRoot /srv/corsgen/docroot
    <Directory /srv/corsgen/docroot>
        SetHandler "proxy:http://127.0.0.1:9000"
        AllowOverride None
    </Directory>
{body}
</VirtualHost>
"""
ORIGIN = (("Origin", ALLOWED[0]),)


def _acao(answered: Answered) -> list[str]:
    return [h.value for h in answered.headers if h.name.lower() == "access-control-allow-origin"]


class Fact(NamedTuple):
    """One fact of httpd's merge order or phases: a config, a request, and what it answers."""

    template: str  # VHOST or FILES, with {body}
    body: str
    request: Request
    acao: list[str]  # the Access-Control-Allow-Origin lines
    status: int = 200
    vary: bool = False  # Vary names Origin


def _sets(section: str, origin: str) -> str:
    """A section that sets Access-Control-Allow-Origin to `origin`."""
    name = section.split()[0]
    set_line = f'Header always set Access-Control-Allow-Origin "{origin}"'
    return f"    <{section}>\n        {set_line}\n    </{name}>"


DOCROOT = "/srv/corsgen/docroot"
FACTS: dict[str, Fact] = {
    # Overlapping <Location> sections both apply, in config order: the later one's set wins,
    # the earlier one's other lines stay.
    "locations-merge-in-config-order": Fact(
        VHOST,
        """    <Location /api/>
        Header always set Access-Control-Allow-Origin "https://outer.example"
        Header always set Access-Control-Allow-Credentials "true"
    </Location>
    <Location /api/admin/>
        Header always set Access-Control-Allow-Origin "https://inner.example"
    </Location>""",
        ("GET", "/api/admin/ok", ORIGIN),
        ["https://inner.example"],
    ),
    # Config order, not the longer path: the shorter <Location> written last wins.
    "not-the-longest-location": Fact(
        VHOST,
        """    <Location /api/admin/>
        Header always set Access-Control-Allow-Origin "https://inner.example"
    </Location>
    <Location /api/>
        Header always set Access-Control-Allow-Origin "https://outer.example"
    </Location>""",
        ("GET", "/api/admin/ok", ORIGIN),
        ["https://outer.example"],
    ),
    # <If> is merged after every <Location>, wherever it is written.
    "if-after-locations": Fact(
        VHOST,
        """    <If "%{HTTP:Origin} == 'https://app.example.com'">
        Header always set Access-Control-Allow-Origin "https://if.example"
    </If>
    <Location /api/>
        Header always set Access-Control-Allow-Origin "https://location.example"
    </Location>""",
        ("GET", "/api/ok", ORIGIN),
        ["https://if.example"],
    ),
    # The backend's header is in headers_out: `Header always` sets a second line beside it...
    "always-doubles-the-backends": Fact(
        VHOST,
        """    Header always set Access-Control-Allow-Origin "https://app.example.com" """,
        ("GET", "/own-cors", ORIGIN),
        ["https://app.example.com", "*"],
    ),
    # ... and `Header always unset` does not reach it; `Header unset` (onsuccess) does.
    "always-unset-misses-the-backends": Fact(
        VHOST,
        """    Header always unset Access-Control-Allow-Origin""",
        ("GET", "/own-cors", ORIGIN),
        ["*"],
    ),
    "onsuccess-unset-drops-the-backends": Fact(
        VHOST,
        """    Header unset Access-Control-Allow-Origin""",
        ("GET", "/own-cors", ORIGIN),
        [],
    ),
    # An answer httpd makes itself (401) has err_headers_out only: `Header set` is gone.
    "onsuccess-gone-on-httpds-own-errors": Fact(
        VHOST,
        """    Header set Access-Control-Allow-Origin "*"
    <Location /api/>
        AuthType Basic
        AuthName API
        AuthUserFile htpasswd
        Require valid-user
    </Location>""",
        ("GET", "/api/ok", ORIGIN),
        [],
        status=401,
    ),
    # ... while a proxied error (the backend's 500) keeps it.
    "onsuccess-kept-on-the-backends-errors": Fact(
        VHOST,
        """    Header set Access-Control-Allow-Origin "*" """,
        ("GET", "/api/error", ORIGIN),
        ["*"],
        status=500,
    ),
    # A SetEnvIf of the virtual host runs before translate: a RewriteRule [E=] there, and the
    # <If> that reads it, see it; SetEnvIfNoCase matches in any case.
    "setenvifnocase": Fact(
        VHOST,
        """    SetEnvIfNoCase Origin "^https://APP\\.example\\.com$" OK=$0
    Header always set Access-Control-Allow-Origin "%{OK}e" env=OK""",
        ("GET", "/api/ok", ORIGIN),
        ["https://app.example.com"],
    ),
    # The preflight answered in server context (translate): before the <Location>'s auth.
    "server-rewrite-before-auth": Fact(
        VHOST,
        """    SetEnvIf Origin "^https://app\\.example\\.com$" OK=$0
    Header always set Access-Control-Allow-Origin "%{OK}e" env=OK
    RewriteEngine On
    RewriteCond %{REQUEST_METHOD} =OPTIONS
    RewriteRule ^/api/ - [R=204,L]
    <Location /api/>
        AuthType Basic
        AuthName API
        AuthUserFile htpasswd
        Require valid-user
    </Location>""",
        ("OPTIONS", "/api/ok", _preflight(ALLOWED[0], "GET")),
        ["https://app.example.com"],
        status=204,
    ),
    # <Directory> by path, fewest components first, whatever the config's order.
    "directories-shortest-first": Fact(
        FILES,
        _sets(f"Directory {DOCROOT}/api", "https://inner.example")
        + "\n"
        + _sets(f"Directory {DOCROOT}", "https://outer.example"),
        ("GET", "/api/ok", ORIGIN),
        ["https://inner.example"],
    ),
    # A path that ends in / is its directory's own request: that <Directory> applies.
    "directory-of-its-own-path": Fact(
        FILES,
        _sets(f"Directory {DOCROOT}/api", "https://inner.example"),
        ("GET", "/api/", ORIGIN),
        ["https://inner.example"],
    ),
    # <DirectoryMatch> after every <Directory> (its regex sees the whole file path, not only
    # the directory's); <Files> after both; <Location> after <Files>.
    "directorymatch-after-directory": Fact(
        FILES,
        _sets('DirectoryMatch "/api/"', "https://match.example")
        + "\n"
        + _sets(f"Directory {DOCROOT}/api", "https://directory.example"),
        ("GET", "/api/ok", ORIGIN),
        ["https://match.example"],
    ),
    "directorymatch-sees-the-file-path": Fact(
        FILES,
        _sets('DirectoryMatch "/api$"', "https://match.example"),
        ("GET", "/api/ok", ORIGIN),
        [],
    ),
    "files-after-directories": Fact(
        FILES,
        _sets("Files ok", "https://files.example")
        + "\n"
        + _sets('DirectoryMatch "/api/"', "https://match.example"),
        ("GET", "/api/ok", ORIGIN),
        ["https://files.example"],
    ),
    "location-after-files": Fact(
        FILES,
        _sets("Location /api/", "https://location.example")
        + "\n"
        + _sets('FilesMatch "^ok$"', "https://files.example"),
        ("GET", "/api/ok", ORIGIN),
        ["https://location.example"],
    ),
    # SetEnvIf reads a missing header as "": "^.*$" holds for a request without Origin.
    "setenvif-reads-a-missing-header-as-empty": Fact(
        VHOST,
        """    SetEnvIf Origin "^.*$" SEEN
    Header always set Access-Control-Allow-Origin "seen" env=SEEN""",
        ("GET", "/api/ok", ()),
        ["seen"],
    ),
    # Header edit rewrites the backend's own line (headers_out).
    "header-edit-rewrites-the-backends": Fact(
        VHOST,
        '    Header edit Access-Control-Allow-Origin "^\\*$" "https://edited.example"',
        ("GET", "/own-cors", ORIGIN),
        ["https://edited.example"],
    ),
    # A SetEnvIf pattern without regex syntax is looked for as a string, and its $0 is not
    # substituted: `example\.com` sets the variable to "$0" (mod_setenvif's shortcut).
    "setenvif-string-pattern-keeps-dollar-zero": Fact(
        VHOST,
        """    SetEnvIf Origin "example\\.com" ORIGIN_OK=$0
    Header always set Access-Control-Allow-Origin "%{ORIGIN_OK}e" env=ORIGIN_OK""",
        ("GET", "/api/ok", ORIGIN),
        ["$0"],
    ),
    # An ErrorDocument whose config merges to the 401's own (the same sections) is served
    # without auth, as a file: both tables, with the 401 status.
    "errordocument-under-its-own-auth": Fact(
        VHOST,
        f"""    DocumentRoot {DOCROOT}
    ErrorDocument 401 /errors/401.json
    Header onsuccess set Access-Control-Allow-Origin "https://app.example.com"
    <Location />
        AuthType Basic
        AuthName API
        AuthUserFile htpasswd
        Require valid-user
    </Location>
    ProxyPass /errors/ !""",
        ("GET", "/api/ok", ORIGIN),
        ["https://app.example.com"],
        status=401,
    ),
    # <IfModule !x> is not read where x is loaded; <IfDefine X> is, where the config Defines X.
    "conditions": Fact(
        VHOST,
        """    Define CORS_ON
    <IfModule !mod_headers.c>
        Header always set Access-Control-Allow-Origin "https://never.example"
    </IfModule>
    <IfModule mod_headers.c>
        <IfDefine CORS_ON>
            Header always set Access-Control-Allow-Origin "https://defined.example"
        </IfDefine>
        <IfDefine !CORS_ON>
            Header always set Access-Control-Allow-Origin "https://undefined.example"
        </IfDefine>
    </IfModule>""",
        ("GET", "/api/ok", ORIGIN),
        ["https://defined.example"],
    ),
    # Without FollowSymLinks, per-directory mod_rewrite answers 403 to every request, before
    # any of its rules: in <Directory> and in <Location> alike.
    "rewrite-needs-followsymlinks": Fact(
        FILES,
        f"""    <Directory {DOCROOT}/api>
        Options None
        Header always set Access-Control-Allow-Origin "https://app.example.com"
        RewriteEngine On
        RewriteCond %{{REQUEST_METHOD}} =OPTIONS
        RewriteRule ^ - [R=204,L]
    </Directory>""",
        ("GET", "/api/ok", ORIGIN),
        ["https://app.example.com"],
        status=403,
    ),
    "rewrite-needs-followsymlinks-in-location": Fact(
        VHOST,
        """    <Location /api/>
        Options -FollowSymLinks
        RewriteEngine On
        RewriteCond %{REQUEST_METHOD} =OPTIONS
        RewriteRule ^ - [R=204,L]
    </Location>""",
        ("OPTIONS", "/api/ok", _preflight(ALLOWED[0], "PUT")),
        [],
        status=403,
    ),
    # A section with rules of its own replaces the rules above it (no RewriteOptions Inherit):
    # /api/admin/ loses /api/'s preflight answer; one without rules keeps it.
    "own-rewrite-rules-replace": Fact(
        VHOST,
        """    <Location /api/>
        RewriteEngine On
        RewriteCond %{REQUEST_METHOD} =OPTIONS
        RewriteRule ^ - [R=204,L]
    </Location>
    <Location /api/admin/>
        RewriteEngine On
        RewriteRule ^nothing$ - [F]
    </Location>""",
        ("OPTIONS", "/api/admin/ok", _preflight(ALLOWED[0], "PUT")),
        [],
    ),
    # <Limit GET POST>: Require applies to those methods only; the preflight passes untested.
    "limit-by-method": Fact(
        VHOST,
        """    <Location /api/>
        AuthType Basic
        AuthName API
        AuthUserFile htpasswd
        <Limit GET POST>
            Require valid-user
        </Limit>
        Header always set Access-Control-Allow-Origin "https://app.example.com"
    </Location>""",
        ("OPTIONS", "/api/ok", _preflight(ALLOWED[0], "PUT")),
        ["https://app.example.com"],
    ),
    # <If>/<ElseIf>/<Else>: the first branch that holds.
    "elseif-chain": Fact(
        VHOST,
        """    <If "%{HTTP:Origin} == 'https://a.example'">
        Header always set Access-Control-Allow-Origin "https://a.example"
    </If>
    <ElseIf "%{HTTP:Origin} =~ /app/">
        Header always set Access-Control-Allow-Origin "https://elseif.example"
    </ElseIf>
    <Else>
        Header always set Access-Control-Allow-Origin "https://else.example"
    </Else>""",
        ("GET", "/api/ok", ORIGIN),
        ["https://elseif.example"],
    ),
    # What an <If> reads of the request goes to Vary on httpd's own 2xx answers only (here the
    # 204), not on the backend's; what Header expr= reads, on every answer.
    "if-varies-httpds-own-answers": Fact(
        VHOST,
        """    <If "%{HTTP:Origin} == 'https://nothing.example'">
        Header always set X-Never 1
    </If>
    RewriteEngine On
    RewriteCond %{REQUEST_METHOD} =OPTIONS
    RewriteRule ^ - [R=204,L]""",
        ("OPTIONS", "/api/ok", _preflight(ALLOWED[0], "PUT")),
        [],
        status=204,
        vary=True,
    ),
    "header-expr-varies-every-answer": Fact(
        VHOST,
        '    Header always set Access-Control-Allow-Origin "*"'
        ' "expr=%{HTTP:Origin} =~ m#^https://app\\.#"',
        ("GET", "/api/ok", ORIGIN),
        ["*"],
        vary=True,
    ),
    # <LocationMatch> regexes are case-sensitive unless (?i).
    "locationmatch-case": Fact(
        VHOST,
        """    <LocationMatch "^/API/">
        Header always set Access-Control-Allow-Origin "https://upper.example"
    </LocationMatch>
    <LocationMatch "(?i)^/API/">
        Header always set Access-Control-Allow-Origin "https://any-case.example"
    </LocationMatch>""",
        ("GET", "/api/ok", ORIGIN),
        ["https://any-case.example"],
    ),
    # Name-based virtual hosts: the Host's name (any case, without its port) against each
    # ServerName and ServerAlias (wildcards), else the first on the address.
    **{
        f"virtual-host-{host}": Fact(
            "{body}",
            "".join(
                f"""<VirtualHost 127.0.0.1:8080>
    ServerName {name}.example
    ServerAlias *.{name}.example
    Header always set Access-Control-Allow-Origin "https://{name}.example"
    ProxyPass / http://127.0.0.1:9000/
</VirtualHost>
"""
                for name in ("first", "second")
            ).replace("<VirtualHost", "Listen 127.0.0.1:8080\n<VirtualHost", 1),
            ("GET", "/api/ok", (("Host", host), *ORIGIN)),
            [f"https://{answer}.example"],
        )
        for host, answer in (
            ("second.example", "second"),
            ("API.Second.example:8080", "second"),
            ("unknown.example", "first"),
        )
    },
    # ProxyPassMatch: the URL from the regex's groups.
    "proxypassmatch": Fact(
        VHOST.replace("    ProxyPass / http://127.0.0.1:9000/\n", ""),
        '    ProxyPassMatch "^/api/(.*)$" "http://127.0.0.1:9000/v1/$1"\n'
        '    Header set Access-Control-Allow-Origin "*"',
        ("GET", "/api/error", ORIGIN),
        ["*"],
        status=500,
    ),
}


@pytest.mark.parametrize("name", sorted(FACTS))
def test_merge_order_and_phases(name: str, upstream: Upstream) -> None:
    fact = FACTS[name]
    with served(fact.template.format(body=fact.body), upstream) as (routes, port):
        answered = routes.answer(asked(port, fact.request), answer)
        status, _, vary = seen(answered.status, answered.pairs())
        assert (status, sorted(_acao(answered)), vary) == (
            fact.status,
            sorted(fact.acao),
            fact.vary,
        ), answered.trail
        assert not differences(routes, port, (fact.request,))


# ---------------------------------------------------------------------------------------------
# Generated configs: the directives above, combined at random (fixed seeds) in the sections
# users write them in; the model must answer every request as httpd does. Grown from a
# differential fuzz that found SetEnvIf's string shortcut and mod_headers' two passes.

GENERATED = 12  # configs, half proxied by ProxyPass, half files handed over by SetHandler
_PATTERNS = (
    "^https://app\\.example\\.com$",
    "example\\.com",
    "^(.+)$",
    "^https://(app|admin)\\.",
    "app",
)
_VALUES = ('"*"', '"%{V1}e"', '"true"', '"Origin"', '"GET, POST"')
_CONDITIONS = ("", " env=V1", " env=!V2", ' "expr=%{HTTP:Origin} =~ m#app#"', " env=REDIRECT_V1")
_HEADERS = ("Access-Control-Allow-Origin", "Access-Control-Allow-Credentials", "Vary")
_PROXIED = ("Location /api/", "Location /api/admin/", "Location /", 'LocationMatch "^/api/.*ok$"')
_FILES = (f"Directory {DOCROOT}/api", f"Directory {DOCROOT}", 'DirectoryMatch "/api/"', "Files ok")
_IFS = ("If \"%{REQUEST_METHOD} == 'OPTIONS'\"", "If \"-n reqenv('V1')\"")


def _lines(r: random.Random, section: bool) -> list[str]:
    """What a section (or the virtual host) holds: SetEnvIf, Header, mod_rewrite, auth."""
    out = [
        f'{r.choice(("SetEnvIf", "SetEnvIfNoCase"))} Origin "{r.choice(_PATTERNS)}" '
        f"{r.choice(('V1', 'V2'))}{r.choice(('=$0', '', '=yes'))}"
        for _ in range(r.randint(0, 2))
    ]
    for _ in range(r.randint(0, 3)):
        table = r.choice(("always ", "onsuccess ", ""))
        action = r.choice(("set", "set", "append", "add", "merge", "unset", "setifempty"))
        value = "" if action == "unset" else " " + r.choice(_VALUES)
        out.append(f"Header {table}{action} {r.choice(_HEADERS)}{value}{r.choice(_CONDITIONS)}")
    if r.random() < 0.3:
        out += ["RewriteEngine On", "RewriteCond %{REQUEST_METHOD} =OPTIONS"]
        out.append(f"RewriteRule ^ - {r.choice(('[R=204,L]', '[E=V2:1,R=204,L]', '[F]'))}")
    if section and r.random() < 0.3:
        out += ["AuthType Basic", "AuthName API", "AuthUserFile htpasswd"]
        out.append(r.choice(("Require valid-user", "Require all granted", "Require all denied")))
    return out


def generated(seed: int) -> str:
    r = random.Random(seed)
    files = seed % 2 == 1
    body = ["ServerName api.example.com", f"DocumentRoot {DOCROOT}", *_lines(r, False)]
    if files:
        body += [
            f"<Directory {DOCROOT}>",
            '    SetHandler "proxy:http://127.0.0.1:9000"',
            "</Directory>",
        ]
    if r.random() < 0.3:
        body += ["ErrorDocument 401 /errors/401.json", 'ErrorDocument 403 "no"']
    for _ in range(r.randint(1, 3)):
        tag = r.choice((_FILES if files else _PROXIED) + _IFS)
        lines = _lines(r, not tag.startswith("If"))  # no auth inside <If>
        body += [f"<{tag}>", *(f"    {line}" for line in lines), f"</{tag.split()[0]}>"]
    if not files:
        body += ["ProxyPass /errors/ !", "ProxyPass / http://127.0.0.1:9000/"]
    text = "".join(f"    {line}\n" for line in body)
    return f"Listen 127.0.0.1:8080\n<VirtualHost 127.0.0.1:8080>\n{text}</VirtualHost>\n"


@pytest.mark.parametrize("seed", range(GENERATED))
def test_the_model_answers_as_httpd_on_generated_configs(seed: int, upstream: Upstream) -> None:
    text = generated(seed)
    with served(text, upstream) as (routes, port):
        found = differences(routes, port, REQUESTS)
    assert not found, f"the model differs from httpd on\n{text}\n" + "\n".join(found)


def test_the_overlap_of_issue_23() -> None:
    """/api/admin/ answers the app's origin (the outer policy's) with credentials, and passes
    the DELETE preflight the admin policy does not allow: the sent lines are spa_api's."""
    loaded = TARGET.routes([CORPUS / "overlap.conf"])
    assert loaded.routes is not None
    get = loaded.routes.answer(Asked("api.example.com", "GET", "/api/admin/ok", ORIGIN))
    by = {h.name: h for h in get.headers}
    assert by["Access-Control-Allow-Origin"].value == ALLOWED[0]
    assert by["Access-Control-Allow-Credentials"].at is not None
    assert by["Access-Control-Allow-Origin"].at.file.endswith("spa_api.conf")  # type: ignore[union-attr]
    delete = loaded.routes.answer(
        Asked("api.example.com", "OPTIONS", "/api/admin/ok", _preflight(ALLOWED[0], "DELETE"))
    )
    methods = [h.value for h in delete.headers if h.name == "Access-Control-Allow-Methods"]
    assert delete.status == 204 and "DELETE" in methods[0] and not delete.backend
    assert delete.auth is None  # the snippet's `Require all granted`: no authentication ran


def test_scopes_name_the_snippets_and_the_hand_written() -> None:
    overlap = TARGET.routes([CORPUS / "overlap.conf"]).routes
    assert overlap is not None
    assert [(s.title, s.policy) for s in overlap.scopes()] == [
        ("<Location /api/>", "spa_api"),
        ("<Location /api/admin/>", "admin"),
    ]
    hand = TARGET.routes([CORPUS / "reflect-credentials.conf"]).routes
    assert hand is not None
    (scope,) = hand.scopes()
    assert scope.granted is not None and scope.granted.reflects and scope.granted.credentials
    everything = TARGET.routes([CORPUS / "allow-everything.conf"]).routes
    assert everything is not None
    (scope,) = everything.scopes()
    granted = scope.granted
    assert granted is not None and not granted.reflects and granted.private_network
    assert (granted.headers, granted.methods) == (("*",), ("GET", "POST", "PUT", "DELETE"))
    assert granted.at["allow_headers"].line == 14


@pytest.mark.parametrize(
    "condition", ["", " env=CORS", " \"expr=%{HTTP:Origin} == 'https://app.example.com'\""]
)
def test_an_origin_written_out_is_granted(condition: str, tmp_path: Path) -> None:
    """`Header set Access-Control-Allow-Origin https://app.example.com`: only that origin reads,
    whatever the condition (import imported nothing: "none of the origins it grants")."""
    text = (
        "<VirtualHost *:8080>\n    ServerName api.example.com\n"
        f'    Header always set Access-Control-Allow-Origin "https://app.example.com"{condition}\n'
        "    Header always set Access-Control-Allow-Credentials true\n</VirtualHost>\n"
    )
    routes = TARGET.routes([copied(tmp_path, text)]).routes
    assert routes is not None
    (scope,) = routes.scopes()
    assert scope.granted is not None and scope.granted.origins == ("https://app.example.com",)


def test_a_document_root_that_cannot_be_looked_at_serves_nothing(tmp_path: Path) -> None:
    """A name too long for the filesystem: Path.is_dir and is_file raised (exit 3 on audit and
    import); httpd serves nothing from it, and no .htaccess is read."""
    text = (
        f"<VirtualHost *:8080>\n    DocumentRoot /srv/{'a' * 300}\n"
        '    Header always set Access-Control-Allow-Origin "*"\n</VirtualHost>\n'
    )
    routes = TARGET.routes([copied(tmp_path, text)]).routes
    assert routes is not None
    (scope,) = routes.scopes()
    assert routes.answer(Asked(scope.host, "GET", "/index.html", (), 8080)).status == 404


def test_an_htaccess_snippet_is_a_scope(tmp_path: Path) -> None:
    config = copied(tmp_path, (CORPUS / "snippet-htaccess.conf").read_text())
    routes = TARGET.routes([config]).routes
    assert routes is not None
    (scope,) = routes.scopes()
    assert (scope.title, scope.paths, scope.policy) == (scope.at.file, ("/api/",), "spa_api")
    assert scope.at.file.endswith("htaccess/api/.htaccess")


def test_a_regex_python_does_not_read_is_said_not_guessed(tmp_path: Path) -> None:
    r"""PCRE's \K is no Python regex: the model takes the SetEnvIf as not matching and says so in
    the trail, instead of failing on the whole config."""
    config = tmp_path / "pcre.conf"
    config.write_text(
        VHOST.format(
            body='    SetEnvIf Origin "^https://\\Kapp" OK\n    Header always set X-Ok 1 env=OK'
        )
    )
    routes = TARGET.routes([config]).routes
    assert routes is not None
    answered = routes.answer(Asked("localhost", "GET", "/", ORIGIN))
    assert "X-Ok" not in dict(answered.pairs())
    assert any("not modelled" in step and "\\K" in step for step in answered.trail)


def test_a_regex_that_may_backtrack_without_end_is_not_run(tmp_path: Path) -> None:
    """The model answers in bounded time on any Origin: a regex CG121 refuses is not run."""
    config = tmp_path / "backtrack.conf"
    config.write_text(
        VHOST.format(
            body='    SetEnvIf Origin "^(https?://.*)*$" OK\n    Header always set X-Ok 1 env=OK'
        )
    )
    routes = TARGET.routes([config]).routes
    assert routes is not None
    hostile = (("Origin", "https://" + "a" * 60 + "\x00"),)
    answered = routes.answer(Asked("localhost", "GET", "/", hostile))
    assert any("may backtrack without end" in step for step in answered.trail)


@pytest.mark.parametrize(
    ("policy", "copies"),
    [
        ("spa-api", ("corsgen/spa_api.conf", "htaccess/api/.htaccess")),
        ("admin", ("corsgen/admin.conf",)),
    ],
)
def test_the_corpus_snippets_are_corsgens_output(
    policy: str, copies: tuple[str, ...], tmp_path: Path
) -> None:
    """The snippets the corpus includes are what `corsgen render` writes today."""
    toml = CORPUS / "corsgen" / f"{policy}.toml"
    assert main(["render", str(toml), "--target", "apache", "--out-dir", str(tmp_path)]) == 0
    (rendered,) = tmp_path.glob("*.conf")
    for copy in copies:
        assert (CORPUS / copy).read_text() == rendered.read_text(), copy


def test_auth_names_the_require_that_asks_for_credentials() -> None:
    """Answered.auth: the Require line a preflight without credentials meets (401)."""
    routes = TARGET.routes([CORPUS / "preflight-auth.conf"]).routes
    assert routes is not None
    preflight = routes.answer(
        Asked("api.example.com", "OPTIONS", "/api/ok", _preflight(ALLOWED[0], "GET"))
    )
    assert preflight.status == 401 and preflight.auth is not None
    assert preflight.auth.line == 13  # Require valid-user
    assert ("WWW-Authenticate", 'Basic realm="API"') in preflight.pairs()


def test_an_include_loop_is_a_finding(tmp_path: Path) -> None:
    (tmp_path / "a.conf").write_text(f"Include {tmp_path}/b.conf\n")
    (tmp_path / "b.conf").write_text(f"Header set X-B 1\nInclude {tmp_path}/a.conf\n")
    loaded = TARGET.routes([tmp_path / "a.conf"])
    assert loaded.routes is not None
    assert [f.rule_id for f in loaded.findings] == ["CG401"]
    # and nothing in it answers CORS (CG406, which the audit says for every target)
    audited = cli_audit.found([tmp_path / "a.conf"], TARGET, []).findings
    assert [r.finding.rule_id for r in audited] == ["CG401", "CG406"]


# Lines httpd refuses or that no Python regex reads: the model still answers (found by feeding
# it thousands of malformed configs).
MALFORMED = (
    "<Directory>\n</Directory>",
    "<DirectoryMatch>\n</DirectoryMatch>",
    "<FilesMatch>\n</FilesMatch>",
    "<If>\n</If>",
    "AuthName\nAuthType Basic\nRequire valid-user",
    "RewriteEngine On\nRewriteCond\nRewriteRule ^ - [R=204]",
    "SetHandler",
    "Header always echo [",
    'Header set X-A "a"\nHeader edit X-A ( b',
    'Header set X-A "a"\nHeader edit X-A a $9',
    "RewriteEngine On\nRewriteRule [ - [F]",
)


@pytest.mark.parametrize("lines", MALFORMED)
def test_the_model_answers_any_config(lines: str, tmp_path: Path) -> None:
    config = tmp_path / "malformed.conf"
    body = f"    DocumentRoot {tmp_path}\n" + "".join(f"    {line}\n" for line in lines.split("\n"))
    config.write_text(VHOST.format(body=body))
    routes = TARGET.routes([config]).routes
    assert routes is not None
    for method, path in (("GET", "/api/ok"), ("OPTIONS", "/x"), ("DELETE", "/")):
        routes.answer(Asked("localhost", method, path, ORIGIN))
    routes.scopes()


def test_an_include_bomb_is_refused_within_bounds(tmp_path: Path) -> None:
    """20 files, each including the next twice: 2**20 copies of the last, refused once the
    model has walked the audit's 250,000 lines, in bounded time (about 1.2 s, 34 MiB)."""
    leaf = "<Directory /srv/leaf>\n    Options -Indexes\n</Directory>\n"
    first = chain(tmp_path, 20, "Include {next}\nInclude {next}\n", leaf)
    config = tmp_path / "httpd.conf"
    config.write_text(f"Listen 80\n<VirtualHost *:80>\nInclude {first}\n</VirtualHost>\n")
    with cpu_within(seconds=5), pytest.raises(CorsgenError, match="250,000 lines"):
        TARGET.routes([config])


def test_claims() -> None:
    assert all(TARGET.claims((CORPUS / name).read_text()) for name in CONFIGS)
    assert not TARGET.claims("server {\n    location /api/ {\n        proxy_pass http://a;\n")
    assert not TARGET.claims("example.com {\n\theader Access-Control-Allow-Origin *\n}\n")
