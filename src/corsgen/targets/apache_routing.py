"""Apache httpd 2.4's request routing, as a model `corsgen audit` and `corsgen import` run.

What httpd does with a request, phase by phase (request.c, ap_process_request_internal):
1. The virtual host: those on the port, the first whose ServerName or ServerAlias is the Host,
   else the first of them; the main server when none listens there.
2. post_read_request: SetEnvIf and SetEnvIfNoCase of the server and the virtual host.
3. The per-directory config, merged in httpd's order (docs: sections.html#merging): the server's
   own lines; for a file (not proxied by ProxyPass, which skips map_to_storage), <Directory> by
   path, fewest components first, each level's .htaccess after it, then <DirectoryMatch> (on the
   whole file path), then <Files>/<FilesMatch>; then <Location>/<LocationMatch> that match the
   URI, in config order (the main server's before the virtual host's); then the <If> sections of
   all of them, in that order, nested ones and <ElseIf>/<Else> chains after their section. It is
   walked before translate and again after (ap_process_request_internal does both).
4. translate: the virtual host's mod_rewrite (before ProxyPass: RewriteRule wins), then ProxyPass.
5. header_parser: per-directory SetEnvIf. Then auth: AuthType and the Require lines of the last
   section that has any (AuthMerging Off), <Limit>/<LimitExcept> by method.
6. fixups: per-directory mod_rewrite (apache_rewrite.py): the rules of the last section that
   writes any; 403 for every request when FollowSymLinks is off there.
7. The handler: the backend (ProxyPass, ProxyPassMatch, SetHandler "proxy:"), else httpd's own
   for the file (OPTIONS 200, GET the file or 404, other methods 405).
8. mod_headers (apache_headers.py) on the answer; an error httpd makes itself goes first to its
   ErrorDocument, an internal redirect through all of the above again.
Each was checked on httpd 2.4.71 (tests/audit/apache_routing_test.py).
"""

from __future__ import annotations

import fnmatch
import re
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath

from corsgen.errors import Finding
from corsgen.routing import Answered, Asked, Backend, Place, Scope, Sent, audit_backend
from corsgen.server_config import check_routes
from corsgen.targets.apache_config_tree import (
    IF_KINDS,
    Directive,
    Section,
    flatten,
    is_kind,
    load,
    load_htaccess,
    title,
)
from corsgen.targets.apache_headers import Table, apply_headers
from corsgen.targets.apache_hosts import Hosts
from corsgen.targets.apache_request import SETENVIF, Request, Run, groups, request_of
from corsgen.targets.apache_rewrite import (
    Made,
    engine_on,
    follows_symlinks,
    rewrite,
    rewrite_config,
)
from corsgen.targets.apache_scopes import scopes

_AUTH_KINDS = ("limit", "limitexcept")
# The sections a request may be matched against one by one, as MAX_CONFIG_ROUTES counts them
# (a <Location> of a prefix, which _Locations looks up, is not; nor a <VirtualHost> without a
# wildcard name, which Hosts looks up, nor a <Directory> of a path, matched by string: a shared
# host has one per site).
_ROUTED = frozenset({"location", "locationmatch", "directorymatch", "filesmatch"})
APACHE_UNIT = (
    "sections matched one by one (regex and wildcard sections, hosts with a wildcard name)"
)


class _RecursiveError(Exception):
    """An ErrorDocument's redirect that httpd answers with an error of its own."""


@dataclass(frozen=True)
class _Redirect:
    """What an ErrorDocument's internal redirect starts from."""

    status: int  # the error's, which the answer keeps unless the backend answers
    env: dict[str, str]
    carried: tuple[Sent, ...]  # err_headers_out so far: WWW-Authenticate
    trail: list[str]
    layers: tuple[Section, ...]  # the first request's per-directory config


class ApacheRoutes:
    """The model of one whole httpd config (routing.Routes)."""

    def __init__(self, top: Section, root: Path) -> None:
        self.top = top
        self.root = root  # ServerRoot: where a relative DocumentRoot is
        self.hosts = [s for s in flatten(top) if s.kind == "virtualhost"]
        self.by_name = Hosts(self.hosts)  # looked up by port and name
        self.htaccess: dict[Path, Section | None] = {}  # read once per directory
        self._scopes: list[Scope] | None = None
        self._locations: dict[int, _Locations] = {}  # by id() of the server's section

    # ------------------------------------------------------------------ choosing the host
    def host(self, asked: Asked) -> Section | None:
        name = asked.host.lower().rsplit(":", 1)[0] if ":" in asked.host else asked.host.lower()
        return self.by_name.host(name, asked.port)

    def layers(self, host: Section | None, run: Run, file: str | None = None) -> list[Section]:
        """The per-directory config for the request: the sections merged, in httpd's order;
        `file` is the file the URI maps to (None: proxied, no directory walk)."""
        tops = [self.top] if host is None else [self.top, host]
        merged = list(tops)
        if file is not None:
            merged += self._directories(tops, file, run)
            merged += self._files(merged, file, run)
        for top in tops:
            if id(top) not in self._locations:
                self._locations[id(top)] = _Locations(top.sections("location", "locationmatch"))
            merged += self._locations[id(top)].matching(run.request.uri, run)
        return merged + list(self._ifs(merged, run))

    def _directories(self, tops: Sequence[Section], file: str, run: Run) -> list[Section]:
        """<Directory> by path (fewest components first, then config order) with each level's
        .htaccess after it where AllowOverride lets it, then <DirectoryMatch> in config order.
        The file is taken as existing: the model does not look at the disk but for .htaccess. A
        path that ends in / names the directory itself, whose own <Directory> applies (/api/ and
        <Directory .../api>, checked on 2.4.71)."""
        folder = file.rstrip("/") if file.endswith("/") else str(PurePosixPath(file).parent)
        plain, regex = [], []
        for top in tops:
            for section in top.sections("directory", "directorymatch"):
                if not section.args:
                    continue  # httpd refuses the config; the model reads the rest
                if section.kind == "directorymatch" or section.args[:1] == ("~",):
                    # Matched against the whole file path (r->filename), checked on 2.4.71:
                    # "/api$" misses /srv/www/api/ok, "ok$" finds it.
                    if run.search(section.args[-1], file, section.at):
                        regex.append(section)
                elif _directory_matches(section.args[0], folder):
                    plain.append(section)
        plain.sort(key=lambda s: _components(s.args[0]))
        out: list[Section] = []
        levels = [str(p) for p in reversed(PurePosixPath(folder).parents)] + [folder]
        for level in levels:
            out += [s for s in plain if _components(s.args[0]) == _components(level)]
            if _allow_override([*tops, *out]):
                found = self.htaccess_file(Path(level) / ".htaccess")
                if found is not None:
                    out.append(found)
        return out + regex

    def htaccess_file(self, path: Path) -> Section | None:
        if path not in self.htaccess:
            self.htaccess[path] = load_htaccess(path)
        return self.htaccess[path]

    def _files(self, merged: Sequence[Section], file: str, run: Run) -> list[Section]:
        """<Files> and <FilesMatch> of the server and of the directories merged, in that order."""
        name = PurePosixPath(file).name
        out = []
        for section in merged:
            for inner in section.sections("files", "filesmatch"):
                if not inner.args:
                    continue
                if inner.kind == "filesmatch" or inner.args[:1] == ("~",):
                    if run.search(inner.args[-1], name, inner.at):
                        out.append(inner)
                elif fnmatch.fnmatchcase(name, inner.args[0]):
                    out.append(inner)
        return out

    def _ifs(self, sections: Sequence[Section], run: Run) -> Iterator[Section]:
        for section in sections:
            chained = False  # an earlier branch of this <If>/<ElseIf> chain held
            for inner in section.sections(*IF_KINDS):  # the others neither hold nor break one
                if inner.kind == "if":
                    chained = False
                if chained:
                    continue
                held = inner.kind == "else" or run.test(" ".join(inner.args), inner.at)
                if held:
                    chained = True
                    run.trail.append(f"{title(inner)} at {inner.at}")
                    yield inner
                    yield from self._ifs([inner], run)

    # ------------------------------------------------------------------ the phases
    def answer(self, asked: Asked, backend: Backend = audit_backend) -> Answered:
        return self._answer(request_of(asked), backend, None)

    def _answer(self, request: Request, backend: Backend, after: _Redirect | None) -> Answered:
        """The request's phases; `after` when it is an ErrorDocument's internal redirect."""
        run = Run(request, dict(after.env) if after else {}, list(after.trail) if after else [])
        host = self.host(request.asked)
        by = self.top.at if host is None else host.at
        run.trail.append(f"{'the main server' if host is None else title(host)} at {by}")
        server = [self.top] if host is None else [self.top, host]
        for section in server:
            self._setenvif(section.directives(), run)
        # The per-directory config as translate sees it (an answer made there keeps it),
        # then walked again with what translate set (ap_process_request_internal does both).
        layers = self.layers(host, Run(run.request, run.env, [], run.vary))
        made = rewrite(server[-1].directives(), run, run.request.uri)
        proxy = None if made else self._proxy(layers, server, run)
        file = None if made or proxy else self._file(server, run)
        auth = None
        if made is None:
            layers = self.layers(host, run, file)
            for layer in layers[len(server) :]:
                self._setenvif(layer.directives(), run)
            # httpd skips auth on a redirect whose config merges to the first request's (the
            # same sections): an ErrorDocument under the 401's own <Location /> is served.
            if after is None or tuple(layers) != after.layers:
                made, auth = self._auth(layers, run)
        by = _innermost(layers, by)
        if made is None:
            rules, home = rewrite_config(layers[len(server) :])
            path = run.request.uri.lstrip("/")
            if home is not None and file is not None:  # <Directory>, .htaccess
                path = file.removeprefix(home.args[-1].rstrip("/")).lstrip("/")
            if engine_on(rules) and not follows_symlinks(layers):
                # mod_rewrite refuses to run per directory without FollowSymLinks: 403 for
                # every request there, before any rule (checked on 2.4.71).
                made = Made(403, rules[0].at)
                run.trail.append(f"RewriteEngine at {rules[0].at} without FollowSymLinks: 403")
            else:
                made = rewrite(rules, run, path)
        if made is None and proxy is None and file is not None:
            proxy = self._handler(layers, file, run)
        # What answers: httpd itself (an error page: err_headers_out only), the backend, or
        # the file (both tables, as for the backend).
        backend_headers: tuple[tuple[str, str], ...] = ()
        reached = made is None and proxy is not None
        if made is not None:  # the rule or Require that made it is in the trail
            status, error = made.status, True
        elif proxy is not None:
            status, backend_headers = backend(request.asked.method, proxy)
            error = False
            run.trail.append(f"proxied to the backend as {proxy}")
        else:
            status = _static(request.asked.method, file)
            error = status >= 400
            run.trail.append(f"the file {file}: {status}")
        carried = list(after.carried) if after else []
        if auth is not None and made is not None and made.status == 401:
            names = [
                d.args[0] for s in layers for d in s.directives() if d.name == "authname" and d.args
            ]
            realm = f'Basic realm="{names[-1]}"' if names else "Basic"
            carried.append(Sent("WWW-Authenticate", realm, auth))
        if error and status >= 400 and after is not None:
            raise _RecursiveError  # the first request's error is sent, as if no ErrorDocument
        if error and status >= 400:
            document = _error_document(layers, status)
            if document is not None and document.args[1].startswith("/"):
                error_page = _Redirect(status, {}, tuple(carried), [], tuple(layers))
                try:
                    redirected = self._redirect(request, backend, run, error_page, document)
                    return replace(redirected, auth=auth)
                except _RecursiveError:
                    run.trail.append(f"ErrorDocument at {document.at} fails too: not used")
        always, onsuccess, vary = Table(list(carried)), Table(), Table()
        if made is not None and made.location is not None:
            always.rows.append(Sent("Location", made.location, made.by))
        onsuccess.rows += [Sent(n, v, None) for n, v in backend_headers]
        # What <If> and RewriteCond read is in headers_out before mod_headers runs: the
        # backend's headers replace it, an error page drops it; httpd's own 2xx keeps it.
        kept = not reached and status < 400 and run.vary
        if kept and not error:
            onsuccess.rows.insert(0, Sent("Vary", ",".join(sorted(run.vary)), None))
        apply_headers(layers, run, always, onsuccess, error, vary if error else onsuccess)
        rows = always.rows + (vary.rows if error else onsuccess.rows)
        if kept and error:  # a RewriteRule's [R=204]: checked on 2.4.71
            rows.append(Sent("Vary", ",".join(sorted(run.vary)), None))
        if after is not None and made is None and not reached:
            status = after.status  # the file is sent with the first error's status
        return Answered(status, tuple(rows), by, tuple(run.trail), reached, auth)

    def _redirect(
        self, request: Request, backend: Backend, run: Run, error: _Redirect, document: Directive
    ) -> Answered:
        """ErrorDocument STATUS /path: httpd serves /path as a GET (HEAD stays HEAD) with the
        same request headers; the environment gets REDIRECT_ before each name and the server's
        SetEnvIf runs again; what modules set for the error (WWW-Authenticate) is kept."""
        url, status = document.args[1], error.status
        method = "HEAD" if request.asked.method == "HEAD" else "GET"
        asked = replace(request.asked, method=method, path=url)
        env = {f"REDIRECT_{k}": v for k, v in run.env.items()} | {"REDIRECT_STATUS": str(status)}
        trail = [*run.trail, f"ErrorDocument {status} at {document.at} -> {url}"]
        return self._answer(request_of(asked), backend, replace(error, env=env, trail=trail))

    def _setenvif(self, directives: Sequence[Directive], run: Run) -> None:
        for d in directives:
            if d.name not in SETENVIF or len(d.args) < 2:
                continue
            attribute, pattern = d.args[0], d.args[1]
            subject = _attribute(attribute, run.request)
            literal = _literal(pattern)
            nocase = d.name == "setenvifnocase"
            if literal is not None:  # mod_setenvif's shortcut: a string, and no $0 .. $9
                if (literal.lower() if nocase else literal) not in (
                    subject.lower() if nocase else subject
                ):
                    continue
                match = None
            else:
                match = run.search(pattern, subject, d.at, re.IGNORECASE if nocase else 0)
                if match is None:
                    continue
            for assignment in d.args[2:]:
                if assignment.startswith("!"):
                    run.env.pop(assignment[1:], None)
                    continue
                name, _, value = assignment.partition("=")
                value = value if "=" in assignment else "1"
                run.env[name] = value if match is None else groups(value, match)

    def _proxy(self, layers: Sequence[Section], server: Sequence[Section], run: Run) -> str | None:
        """The path the backend is asked for, when ProxyPass takes the request."""
        uri, query = run.request.uri, run.request.query
        for layer in reversed(layers):
            if layer.kind not in ("location", "locationmatch"):
                continue
            for d in layer.directives():
                if d.name == "proxypass" and len(d.args) == 1:
                    prefix = layer.args[0] if layer.kind == "location" else uri
                    return _mapped(d.args[0], uri[len(prefix) :], query, run, d.at)
        for top in server:  # ProxyPass and ProxyPassMatch: the first that takes the URI
            for d in top.directives():
                if d.name == "proxypass" and len(d.args) >= 2 and uri.startswith(d.args[0]):
                    if d.args[1] == "!":
                        return None
                    return _mapped(d.args[1], uri[len(d.args[0]) :], query, run, d.at)
                if d.name == "proxypassmatch" and len(d.args) >= 2:
                    match = run.search(d.args[0], uri, d.at)
                    if match is None:
                        continue
                    if d.args[1] == "!":
                        return None
                    return _mapped(groups(d.args[1], match), "", query, run, d.at)
        return None

    def document_root(self, server: Sequence[Section]) -> str | None:
        """The DocumentRoot of the virtual host, else the main server's, without its last /."""
        roots = [d for top in server for d in top.directives() if d.name == "documentroot"]
        if not roots or not roots[-1].args:
            return None
        root = roots[-1].args[0]
        return (root if root.startswith("/") else str(self.root / root)).rstrip("/")

    def _file(self, server: Sequence[Section], run: Run) -> str | None:
        """The file the URI maps to under DocumentRoot."""
        root = self.document_root(server)
        return None if root is None else root + run.request.uri

    def _handler(self, layers: Sequence[Section], file: str, run: Run) -> str | None:
        """SetHandler "proxy:URL" (PHP-FPM style): the backend is asked for the file's path."""
        handlers = [
            d for layer in layers for d in layer.directives() if d.name == "sethandler" and d.args
        ]
        if not handlers or not handlers[-1].args[0].startswith("proxy:"):
            return None
        url = handlers[-1].args[0][len("proxy:") :]
        path = url.split("://", 1)[-1].partition("/")[2]
        run.trail.append(f"SetHandler at {handlers[-1].at}")
        return (f"/{path}" if path else "") + file

    def _auth(self, layers: Sequence[Section], run: Run) -> tuple[Made | None, Place | None]:
        """Whether auth answers (401, 403), and the Require line that ran: one that refused,
        or one that let the request through on its credentials (not `Require all granted`:
        no authentication runs for it)."""
        requires: list[tuple[Directive, Section | None]] = []
        for layer in layers:
            own: list[tuple[Directive, Section | None]] = [
                (d, None) for d in layer.directives() if d.name == "require"
            ]
            for limit in layer.sections(*_AUTH_KINDS):
                own += [(d, limit) for d in limit.directives() if d.name == "require"]
            if own:
                requires = own  # AuthMerging Off: a section's own Require lines replace
        method = run.request.asked.method.upper()
        applied = [d for d, limit in requires if limit is None or _limits(limit, method)]
        if not applied:
            return None, None
        credentials = "authorization" in run.request.headers
        for d in applied:
            words = [a.lower() for a in d.args]
            negated = words[:1] == ["not"]
            words = words[1:] if negated else words
            granted = {
                "all": words[1:] == ["granted"],
                "valid-user": credentials,
                "user": credentials,
                "group": credentials,
                "local": True,
                "ip": True,
                "env": any(w in run.env for w in d.args[1:]),
            }.get(words[0] if words else "", False)
            if granted != negated:
                run.trail.append(f"Require {' '.join(d.args)} at {d.at}: granted")
                return None, d.at if words[:1] in (["valid-user"], ["user"], ["group"]) else None
        user = any(a.lower() in ("valid-user", "user", "group") for d in applied for a in d.args)
        status = 401 if user else 403
        run.trail.append(f"Require at {applied[-1].at}: {status}")
        return Made(status, applied[-1].at), applied[-1].at

    def scopes(self) -> list[Scope]:
        """Found once: the audit's structural reading and its probing both ask."""
        if self._scopes is None:
            self._scopes = scopes(self)
        return self._scopes


class _Locations:
    """A server's <Location> and <LocationMatch> sections, the plain prefixes (most of them)
    looked up by the URI's own prefixes: thousands of sections cost a request what a few do. The
    others are matched one by one, in config order, as before."""

    def __init__(self, sections: Sequence[Section]) -> None:
        self.sections = sections
        self.prefixes: dict[str, list[int]] = {}
        self.others: list[int] = []
        for position, section in enumerate(sections):
            if _plain(section):
                self.prefixes.setdefault(section.args[0], []).append(position)
            else:
                self.others.append(position)

    def matching(self, uri: str, run: Run) -> list[Section]:
        """The sections that match uri, in config order (_location_matches of each)."""
        found = [
            at
            for end in range(1, len(uri) + 1)
            for at in self.prefixes.get(uri[:end], ())
            if _location_matches(self.sections[at], uri, run)
        ]
        found += [at for at in self.others if _location_matches(self.sections[at], uri, run)]
        return [self.sections[at] for at in sorted(found)]


def _plain(section: Section) -> bool:
    """A <Location> of a path prefix: no regex, no wildcard (and not empty: "" is every URI's
    prefix, one no lookup of the URI's prefixes finds)."""
    return (
        section.kind == "location"
        and bool(section.args and section.args[0])
        and not (section.args[0] == "~" and len(section.args) > 1)
        and not any(c in section.args[0] for c in "*?[")
    )


def _location_matches(section: Section, uri: str, run: Run) -> bool:
    if not section.args:
        return False
    if section.kind == "locationmatch" or (section.args[0] == "~" and len(section.args) > 1):
        return run.search(section.args[-1], uri, section.at) is not None
    path = section.args[0]
    if any(c in path for c in "*?["):
        return fnmatch.fnmatchcase(uri, path) or fnmatch.fnmatchcase(uri, path + "/*")
    # A prefix, whole segments only: <Location /api> is /api, /api/ and /api/x, not /apix.
    return uri == path or (
        uri.startswith(path) and (path.endswith("/") or uri[len(path) : len(path) + 1] == "/")
    )


def _innermost(layers: Sequence[Section], default: Place) -> Place:
    found = [s for s in layers if s.kind and s.kind not in IF_KINDS]
    return found[-1].at if found else default


def _attribute(attribute: str, request: Request) -> str:
    """What SetEnvIf compares: a request header ("" when missing) or one of its own names."""
    special = {
        "request_method": request.asked.method,
        "request_uri": request.uri,
        "remote_addr": "127.0.0.1",
        "server_addr": "127.0.0.1",
        "request_protocol": "HTTP/1.1",
    }
    return special.get(attribute.lower(), request.headers.get(attribute.lower(), ""))


_REGEX_SPECIAL = frozenset("^.$|()[]*+?{}")


def _literal(pattern: str) -> str | None:
    """The string a SetEnvIf pattern is when it has no regex syntax (escaped characters allowed,
    as in `example\\.com`): httpd then looks for the string and substitutes no $0 .. $9, so
    `ORIGIN=$0` sets "$0" (mod_setenvif's non_regex_pattern; checked on 2.4.71). None: a regex."""
    out, escaped = [], False
    for char in pattern:
        if escaped:
            if char not in _REGEX_SPECIAL and char != "\\":
                return None  # \d and the like: a regex
            out.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char in _REGEX_SPECIAL:
            return None
        else:
            out.append(char)
    return None if escaped else "".join(out)


def _components(path: str) -> int:
    return len([p for p in path.strip('"').split("/") if p])


def _directory_matches(pattern: str, folder: str) -> bool:
    """<Directory PATH>: the folder is PATH or below it; wildcards match within a component."""
    parts = [p for p in pattern.strip('"').split("/") if p]
    have = [p for p in folder.split("/") if p]
    return len(have) >= len(parts) and all(
        fnmatch.fnmatchcase(h, p) for h, p in zip(have, parts, strict=False)
    )


def _allow_override(sections: Sequence[Section]) -> bool:
    """Whether .htaccess is read here: unless the last AllowOverride is None. Unset, httpd 2.4.71
    reads it too, and refuses each directive in it (500: "not allowed here"); the model reads
    every directive an .htaccess has as allowed."""
    found = [d for s in sections for d in s.directives() if d.name == "allowoverride"]
    return not found or [a.lower() for a in found[-1].args] != ["none"]


def _static(method: str, file: str | None) -> int:
    """What httpd's own handler answers for a file: OPTIONS 200 (the core's), GET, HEAD and POST
    the file or 404, any other method 405 (all checked on 2.4.71)."""
    if method.upper() == "OPTIONS":
        return 200
    if method.upper() not in ("GET", "HEAD", "POST"):
        return 405
    return 200 if file is not None and is_kind(Path(file), stat.S_ISREG) else 404


def _error_document(layers: Sequence[Section], status: int) -> Directive | None:
    """The last ErrorDocument for the status in the merged config."""
    found = [
        d
        for layer in layers
        for d in layer.directives()
        if d.name == "errordocument" and len(d.args) >= 2 and d.args[0] == str(status)
    ]
    return found[-1] if found else None


def _limits(limit: Section, method: str) -> bool:
    methods = {a.upper() for a in limit.args}
    return (method in methods) == (limit.kind == "limit")


def _mapped(url: str, rest: str, query: str, run: Run, at: Place) -> str:
    path = "/" + url.split("://", 1)[-1].partition("/")[2]
    run.trail.append(f"ProxyPass at {at}")
    joined = path + rest if path.endswith("/") or not rest else f"{path}/{rest.lstrip('/')}"
    return f"{joined}?{query}" if query else joined


def load_routes(configs: Sequence[Path]) -> tuple[ApacheRoutes, list[Finding]]:
    """The model of the config (the first file, then the others as if included at its end),
    and what reading it found (a missing Include: CG401), with what its structure shows that no
    answer does (apache_structure.py)."""
    from corsgen.targets import apache_structure  # only the audit asks

    top, root, problems = load(configs[0])
    for more in configs[1:]:
        extra, _, found = load(more)
        top.body += extra.body
        problems += found
    routes = ApacheRoutes(top, root)
    routed = routes.by_name.wildcards() + sum(
        1 for s in flatten(top) if (s.kind in _ROUTED or s.args[:1] == ("~",)) and not _plain(s)
    )
    check_routes(routed, str(configs[0]), APACHE_UNIT)
    return routes, problems + apache_structure.findings(top)
