"""Apache httpd 2.4's request routing, as a model `corsgen audit` and `corsgen import` run.

What httpd does with a request, phase by phase (request.c, ap_process_request_internal):
1. The virtual host: those on the port, the first whose ServerName or ServerAlias is the Host,
   else the first of them; the main server when none listens there.
2. post_read_request: SetEnvIf and SetEnvIfNoCase of the server and the virtual host.
3. The per-directory config, merged in httpd's order (docs: sections.html#merging): the server's
   own lines, then <Location> and <LocationMatch> that match the URI in config order (the main
   server's before the virtual host's), then the <If> sections of all of them, in that order,
   nested ones and <ElseIf>/<Else> chains after the section that holds them. Requests proxied by
   ProxyPass skip <Directory> and <Files> (mod_proxy's map_to_storage): the model reads them for
   no request yet.
4. translate: the virtual host's mod_rewrite (before ProxyPass: RewriteRule wins), then ProxyPass.
5. header_parser: per-directory SetEnvIf. Then auth: AuthType and the Require lines of the last
   section that has any (AuthMerging Off), <Limit>/<LimitExcept> by method.
6. fixups: per-directory mod_rewrite: the rules of the last section that writes any.
7. The handler: the backend (ProxyPass), else the file, which the model does not read (404).
8. mod_headers: `Header always` edits err_headers_out, `Header [onsuccess]` edits headers_out,
   each in merge order. An answer httpd makes itself (an error, a RewriteRule [R=204]) keeps only
   err_headers_out; a proxied answer, of any status, has both: err_headers_out first, then
   headers_out with the backend's headers, which `Header always unset` never reaches.
Each was checked on httpd 2.4.71 (tests/audit/apache_routing_test.py).
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath

from corsgen.errors import Finding
from corsgen.routing import (
    Answered,
    Asked,
    Backend,
    Granted,
    OriginRegex,
    Place,
    Scope,
    Sent,
    audit_backend,
)
from corsgen.targets.apache_config_tree import Directive, Section, load, load_htaccess, title
from corsgen.targets.apache_expr import Unsupported, Vars, evaluate, expand

CORS = "access-control-"
PATHS = 20  # paths a scope names for the audit to probe, at most
HTACCESS_DIRECTORIES = 10_000  # directories below a DocumentRoot searched for .htaccess
_SETENVIF = ("setenvif", "setenvifnocase")
_REWRITE_RULES = ("rewritecond", "rewriterule")
_AUTH_KINDS = ("limit", "limitexcept")
_IF_KINDS = ("if", "elseif", "else")
_HEADER_ACTIONS = ("set", "append", "add", "merge", "unset", "setifempty", "edit", "edit*", "echo")


@dataclass
class _Table:
    """One of mod_headers' tables (headers_out, err_headers_out): (name, value, at) in order."""

    rows: list[Sent] = field(default_factory=list)

    def get(self, name: str) -> Sent | None:
        return next((r for r in self.rows if r.name.lower() == name.lower()), None)

    def unset(self, name: str) -> None:
        self.rows = [r for r in self.rows if r.name.lower() != name.lower()]

    def set(self, name: str, value: str, at: Place | None) -> None:
        first = self.get(name)
        if first is None:
            self.rows.append(Sent(name, value, at))
            return
        index = self.rows.index(first)
        self.unset(name)
        self.rows.insert(index, Sent(name, value, at))

    def merge(self, name: str, value: str, at: Place | None, once: bool) -> None:
        """append (once=False) or merge (once=True): into the first line, with ", "."""
        first = self.get(name)
        if first is None:
            self.rows.append(Sent(name, value, at))
        elif not once or value not in [t.strip() for t in first.value.split(",")]:
            self.rows[self.rows.index(first)] = Sent(name, f"{first.value}, {value}", at)


@dataclass(frozen=True)
class _Request:
    asked: Asked
    uri: str
    query: str
    headers: dict[str, str]

    def vars(self, env: dict[str, str]) -> Vars:
        return Vars(self.asked.method, self.uri, self.query, self.asked.host, self.headers, env)


def _request(asked: Asked) -> _Request:
    uri, _, query = asked.path.partition("?")
    headers: dict[str, str] = {}
    for name, value in asked.headers:
        key = name.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return _Request(asked, uri, query, headers)


def _location_matches(section: Section, uri: str) -> bool:
    if not section.args:
        return False
    if section.kind == "locationmatch" or (section.args[0] == "~" and len(section.args) > 1):
        return re.search(section.args[-1], uri) is not None
    path = section.args[0]
    if any(c in path for c in "*?["):
        return fnmatch.fnmatchcase(uri, path) or fnmatch.fnmatchcase(uri, path + "/*")
    # A prefix, whole segments only: <Location /api> is /api, /api/ and /api/x, not /apix.
    return uri == path or (
        uri.startswith(path) and (path.endswith("/") or uri[len(path) : len(path) + 1] == "/")
    )


def _ports(section: Section) -> set[int]:
    ports = set()
    for arg in section.args:
        port = arg.rpartition(":")[2]
        if port.isdigit():
            ports.add(int(port))
    return ports


def _names(host: Section) -> list[str]:
    return [
        arg.lower()
        for d in host.directives()
        if d.name in ("servername", "serveralias")
        for arg in d.args
    ]


@dataclass
class _Run:
    """One request's way through the model: what it sets and what it passed."""

    request: _Request
    env: dict[str, str] = field(default_factory=dict)
    trail: list[str] = field(default_factory=list)
    vary: set[str] = field(default_factory=set)  # request headers <If> and RewriteCond read
    vary_late: set[str] = field(default_factory=set)  # ... and Header expr= (kept on any answer)

    def vars(self) -> Vars:
        return self.request.vars(self.env)

    def test(self, expression: str, at: Place, late: bool = False) -> bool:
        """An ap_expr; what it reads of the request goes to Vary (`late`: as the answer is
        written, by mod_headers, where the backend's headers do not replace it)."""
        try:
            holds, read = evaluate(expression, self.vars())
        except (Unsupported, re.error) as exc:
            self.trail.append(f"not modelled at {at}: {exc}; taken as false")
            return False
        (self.vary_late if late else self.vary).update(read)
        return holds


@dataclass(frozen=True)
class _Redirect:
    """What an ErrorDocument's internal redirect starts from."""

    status: int  # the error's, which the answer keeps unless the backend answers
    env: dict[str, str]
    carried: tuple[Sent, ...]  # err_headers_out so far: WWW-Authenticate
    trail: list[str]


@dataclass(frozen=True)
class _Answer:
    """An answer made on the way: a status httpd sends itself, or one it redirects with."""

    status: int
    by: Place
    location: str | None = None


class ApacheRoutes:
    """The model of one whole httpd config (routing.Routes)."""

    def __init__(self, top: Section, root: Path) -> None:
        self.top = top
        self.root = root  # ServerRoot: where a relative DocumentRoot is
        self.hosts = [s for s in _flatten(top) if s.kind == "virtualhost"]
        self.htaccess: dict[Path, Section | None] = {}  # read once per directory

    # ------------------------------------------------------------------ choosing the host
    def host(self, asked: Asked) -> Section | None:
        port = asked.port
        candidates = [h for h in self.hosts if port is None or port in _ports(h) or not _ports(h)]
        name = asked.host.lower().rsplit(":", 1)[0] if ":" in asked.host else asked.host.lower()
        for host in candidates:
            for pattern in _names(host):
                if fnmatch.fnmatchcase(name, pattern.rsplit(":", 1)[0]):
                    return host
        return candidates[0] if candidates else None

    def layers(self, host: Section | None, run: _Run, file: str | None = None) -> list[Section]:
        """The per-directory config for the request: the sections merged, in httpd's order;
        `file` is the file the URI maps to (None: proxied, no directory walk)."""
        tops = [self.top] if host is None else [self.top, host]
        merged = list(tops)
        if file is not None:
            merged += self._directories(tops, file)
            merged += self._files(merged, file)
        for top in tops:
            merged += [
                s
                for s in _visible(top, ("location", "locationmatch"))
                if _location_matches(s, run.request.uri)
            ]
        return merged + list(self._ifs(merged, run))

    def _directories(self, tops: Sequence[Section], file: str) -> list[Section]:
        """<Directory> by path (fewest components first, then config order) with each level's
        .htaccess after it where AllowOverride lets it, then <DirectoryMatch> in config order.
        The file is taken as existing: the model does not look at the disk but for .htaccess."""
        folder = str(PurePosixPath(file).parent)
        plain, regex = [], []
        for top in tops:
            for section in _visible(top, ("directory", "directorymatch")):
                if section.kind == "directorymatch" or section.args[:1] == ("~",):
                    # Matched against the whole file path (r->filename), checked on 2.4.71:
                    # "/api$" misses /srv/www/api/ok, "ok$" finds it.
                    if re.search(section.args[-1], file):
                        regex.append(section)
                elif _directory_matches(section.args[0], folder):
                    plain.append(section)
        plain.sort(key=lambda s: _components(s.args[0]))
        out: list[Section] = []
        levels = [str(p) for p in reversed(PurePosixPath(folder).parents)] + [folder]
        for level in levels:
            out += [s for s in plain if _components(s.args[0]) == _components(level)]
            if _allow_override([*tops, *out]):
                found = self._htaccess(Path(level) / ".htaccess")
                if found is not None:
                    out.append(found)
        return out + regex

    def _htaccess(self, path: Path) -> Section | None:
        if path not in self.htaccess:
            self.htaccess[path] = load_htaccess(path)
        return self.htaccess[path]

    def _files(self, merged: Sequence[Section], file: str) -> list[Section]:
        """<Files> and <FilesMatch> of the server and of the directories merged, in that order."""
        name = PurePosixPath(file).name
        out = []
        for section in merged:
            for inner in _visible(section, ("files", "filesmatch")):
                if inner.kind == "filesmatch" or inner.args[:1] == ("~",):
                    if re.search(inner.args[-1], name):
                        out.append(inner)
                elif inner.args and fnmatch.fnmatchcase(name, inner.args[0]):
                    out.append(inner)
        return out

    def _ifs(self, sections: Sequence[Section], run: _Run) -> Iterator[Section]:
        for section in sections:
            chained = False  # an earlier branch of this <If>/<ElseIf> chain held
            for inner in _visible(section):
                if inner.kind not in _IF_KINDS:
                    continue
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
        return self._answer(_request(asked), backend, None)

    def _answer(self, request: _Request, backend: Backend, after: _Redirect | None) -> Answered:
        """The request's phases; `after` when it is an ErrorDocument's internal redirect."""
        run = _Run(request, dict(after.env) if after else {}, list(after.trail) if after else [])
        host = self.host(request.asked)
        by = self.top.at if host is None else host.at
        run.trail.append(f"{'the main server' if host is None else title(host)} at {by}")
        server = [self.top] if host is None else [self.top, host]
        for section in server:
            self._setenvif(section.directives(), run)
        # The per-directory config as translate sees it (an answer made there keeps it),
        # then walked again with what translate set (ap_process_request_internal does both).
        layers = self.layers(host, _Run(run.request, run.env, [], run.vary))
        made = self._rewrite(server[-1].directives(), run, run.request.uri)
        proxy = None if made else self._proxy(layers, server, run)
        file = None if made or proxy else self._file(server, run)
        auth = None
        if made is None:
            layers = self.layers(host, run, file)
            for layer in layers[len(server) :]:
                self._setenvif(layer.directives(), run)
            made, auth = self._auth(layers, run)
        by = _innermost(layers, by)
        if made is None:
            rewrite, home = _rewrite_config(layers[len(server) :])
            path = run.request.uri.lstrip("/")
            if home is not None and file is not None:  # <Directory>, .htaccess
                path = file.removeprefix(home.args[-1].rstrip("/")).lstrip("/")
            if _engine_on(rewrite) and not _follows_symlinks(layers):
                # mod_rewrite refuses to run per directory without FollowSymLinks: 403 for
                # every request there, before any rule (checked on 2.4.71).
                made = _Answer(403, rewrite[0].at)
                run.trail.append(f"RewriteEngine at {rewrite[0].at} without FollowSymLinks: 403")
            else:
                made = self._rewrite(rewrite, run, path)
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
            carried.append(Sent("WWW-Authenticate", "Basic", auth))
        if error and status >= 400 and after is None:
            document = _error_document(layers, status)
            if document is not None and document.args[1].startswith("/"):
                redirected = self._redirect(request, backend, run, status, carried, document)
                return replace(redirected, auth=auth)
        always, onsuccess = _Table(list(carried)), _Table()
        if made is not None and made.location is not None:
            always.rows.append(Sent("Location", made.location, made.by))
        onsuccess.rows += [Sent(n, v, None) for n, v in backend_headers]
        self._headers(layers, run, always, onsuccess, error)
        rows = always.rows + ([] if error else onsuccess.rows)
        if not reached and status < 400 and run.vary:  # what <If> and RewriteCond read
            rows.append(Sent("Vary", ",".join(sorted(run.vary)), None))
        if run.vary_late:
            rows.append(Sent("Vary", ",".join(sorted(run.vary_late)), None))
        if after is not None and not reached:
            status = after.status  # the file (or a second error) is sent with the first status
        return Answered(status, tuple(rows), by, tuple(run.trail), reached, auth)

    def _redirect(
        self,
        request: _Request,
        backend: Backend,
        run: _Run,
        status: int,
        carried: list[Sent],
        document: Directive,
    ) -> Answered:
        """ErrorDocument STATUS /path: httpd serves /path as a GET (HEAD stays HEAD) with the
        same request headers; the environment gets REDIRECT_ before each name and the server's
        SetEnvIf runs again; what modules set for the error (WWW-Authenticate) is kept."""
        url = document.args[1]
        method = "HEAD" if request.asked.method == "HEAD" else "GET"
        asked = replace(request.asked, method=method, path=url)
        env = {f"REDIRECT_{k}": v for k, v in run.env.items()} | {"REDIRECT_STATUS": str(status)}
        trail = [*run.trail, f"ErrorDocument {status} at {document.at} -> {url}"]
        return self._answer(_request(asked), backend, _Redirect(status, env, tuple(carried), trail))

    def _setenvif(self, directives: Sequence[Directive], run: _Run) -> None:
        for d in directives:
            if d.name not in _SETENVIF or len(d.args) < 2:
                continue
            attribute, pattern = d.args[0], d.args[1]
            subject = _attribute(attribute, run.request)
            flags = re.IGNORECASE if d.name == "setenvifnocase" else 0
            try:
                match = re.search(pattern, subject, flags)
            except re.error as exc:
                run.trail.append(f"not modelled at {d.at}: {exc}")
                continue
            if match is None:
                continue
            for assignment in d.args[2:]:
                if assignment.startswith("!"):
                    run.env.pop(assignment[1:], None)
                    continue
                name, _, value = assignment.partition("=")
                run.env[name] = _groups(value if "=" in assignment else "1", match)

    def _rewrite(self, directives: Sequence[Directive], run: _Run, path: str) -> _Answer | None:
        """mod_rewrite's rules on `path`: the URI in server context (translate phase); per
        directory (fixups), what is below the rules' directory, or the URI without its /."""
        if not _engine_on(directives):
            return None
        conds: list[Directive] = []
        for d in directives:
            if d.name == "rewritecond":
                conds.append(d)
                continue
            if d.name != "rewriterule" or len(d.args) < 2:
                continue
            pending, conds = conds, []
            flags = _flags(d.args[2] if len(d.args) > 2 else "")
            pattern = d.args[0]
            negate = pattern.startswith("!")
            regex = re.compile(pattern[1:] if negate else pattern, re.I if "nc" in flags else 0)
            if (regex.search(path) is None) != negate or not self._conds(pending, run):
                continue
            for name_value in flags.get("e", "").split("\n"):
                if name_value:
                    name, _, value = name_value.partition(":")
                    run.env[name] = value
            run.trail.append(f"RewriteRule at {d.at}")
            target = d.args[1]
            if "f" in flags:
                return _Answer(403, d.at)
            if "g" in flags:
                return _Answer(410, d.at)
            if "r" in flags:
                code = int(flags["r"]) if flags["r"].isdigit() else 302
                if 300 <= code < 400 and target != "-":
                    return _Answer(code, d.at, expand(target, run.vars().variable))
                return _Answer(code, d.at)
            if target != "-":
                run.trail.append(f"not modelled at {d.at}: a rewrite to {target}")
            if "l" in flags or "end" in flags:
                return None
        return None

    def _conds(self, conds: Sequence[Directive], run: _Run) -> bool:
        """All hold, a run of [OR]-joined ones holding when any of them does."""
        groups: list[list[bool]] = [[]]
        for d in conds:
            flags = _flags(d.args[2] if len(d.args) > 2 else "")
            try:
                value = expand(d.args[0], run.vars().variable)
            except Unsupported as exc:
                run.trail.append(f"not modelled at {d.at}: {exc}")
                return False
            groups[-1].append(_cond_matches(d.args[1], value, "nc" in flags))
            if "or" not in flags:
                groups.append([])
        if not all(any(group) for group in groups if group):
            return False
        for d in conds:  # mod_rewrite adds the request headers its conditions read to Vary
            run.vary |= {v.partition(":")[2].lower() for v in _HTTP_VARS.findall(d.args[0])}
        return True

    def _proxy(self, layers: Sequence[Section], server: Sequence[Section], run: _Run) -> str | None:
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
                    match = re.search(d.args[0], uri)
                    if match is None:
                        continue
                    if d.args[1] == "!":
                        return None
                    return _mapped(_groups(d.args[1], match), "", query, run, d.at)
        return None

    def _file(self, server: Sequence[Section], run: _Run) -> str | None:
        """The file the URI maps to under DocumentRoot (the virtual host's, else the server's)."""
        roots = [d for top in server for d in top.directives() if d.name == "documentroot"]
        if not roots or not roots[-1].args:
            return None
        root = roots[-1].args[0]
        root = root if root.startswith("/") else str(self.root / root)
        return root.rstrip("/") + run.request.uri

    def _handler(self, layers: Sequence[Section], file: str, run: _Run) -> str | None:
        """SetHandler "proxy:URL" (PHP-FPM style): the backend is asked for the file's path."""
        handlers = [d for layer in layers for d in layer.directives() if d.name == "sethandler"]
        if not handlers or not handlers[-1].args[0].startswith("proxy:"):
            return None
        url = handlers[-1].args[0][len("proxy:") :]
        path = url.split("://", 1)[-1].partition("/")[2]
        run.trail.append(f"SetHandler at {handlers[-1].at}")
        return (f"/{path}" if path else "") + file

    def _auth(self, layers: Sequence[Section], run: _Run) -> tuple[_Answer | None, Place | None]:
        """Whether auth answers (401, 403), and the Require line that ran."""
        requires: list[tuple[Directive, Section | None]] = []
        for layer in layers:
            own: list[tuple[Directive, Section | None]] = [
                (d, None) for d in layer.directives() if d.name == "require"
            ]
            for limit in _visible(layer, _AUTH_KINDS):
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
                return None, d.at
        user = any(a.lower() in ("valid-user", "user", "group") for d in applied for a in d.args)
        status = 401 if user else 403
        run.trail.append(f"Require at {applied[-1].at}: {status}")
        return _Answer(status, applied[-1].at), applied[-1].at

    def _headers(
        self,
        layers: Sequence[Section],
        run: _Run,
        always: _Table,
        onsuccess: _Table,
        local: bool,
    ) -> None:
        for layer in layers:
            for d in layer.directives():
                if d.name != "header" or not d.args:
                    continue
                first = d.args[0].lower()
                table_name = first if first in ("always", "onsuccess") else ""
                args = d.args[1:] if table_name else d.args
                if table_name != "always" and local:
                    continue  # headers_out: dropped from an answer httpd makes itself
                _header(always if table_name == "always" else onsuccess, args, d.at, run)

    # ------------------------------------------------------------------ where CORS is answered
    def scopes(self) -> list[Scope]:
        """Each section, and each .htaccess below a DocumentRoot, that holds a corsgen snippet
        or hand-written Header lines for Access-Control-*; its path is one its match admits."""
        out = []
        for host in [self.top, *self.hosts]:
            root = self._document_root(host)
            for section, around in _nested(host):
                if host is self.top and any(s.kind == "virtualhost" for s in (*around, section)):
                    continue  # the virtual hosts are walked on their own
                if section.kind in _IF_KINDS:
                    continue  # its lines are its section's, for the requests it holds for
                # The section's own path, then those of the sections inside it, which its
                # lines reach too (an auth <Location> answers with the virtual host's headers).
                paths = [_path_of([*around, section], root)] + [
                    _path_of([*around, section, *more, inner], root)
                    for inner, more in _nested(section)
                    if inner is not section and inner.kind not in _IF_KINDS
                ]
                scope = self._scope(host, section, tuple(dict.fromkeys(paths))[:PATHS])
                if scope is not None:
                    out.append(scope)
            for htaccess in self._htaccess_files(root):
                folder = htaccess.args[0].removeprefix(root or "")
                scope = self._scope(host, htaccess, (folder.rstrip("/") + "/",))
                if scope is not None:
                    out.append(scope)
        return sorted(out, key=lambda s: s.at)

    def _document_root(self, host: Section) -> str | None:
        roots = [d for d in host.directives() if d.name == "documentroot" and d.args]
        if not roots:
            return None
        root = roots[-1].args[0]
        return (root if root.startswith("/") else str(self.root / root)).rstrip("/")

    def _htaccess_files(self, root: str | None) -> list[Section]:
        """The .htaccess files below a DocumentRoot, at most HTACCESS_DIRECTORIES looked at."""
        if root is None or not Path(root).is_dir():
            return []
        found = []
        for count, (folder, _, names) in enumerate(os.walk(root)):
            if count >= HTACCESS_DIRECTORIES:
                break
            if ".htaccess" in names:
                section = self._htaccess(Path(folder) / ".htaccess")
                if section is not None:
                    found.append(section)
        return found

    def _scope(self, host: Section, section: Section, paths: tuple[str, ...]) -> Scope | None:
        policy = section.policies[0][0] if section.policies else None
        own = list(_own(section))
        headers = [d for d in own if d.name == "header" and _cors_header(d)]
        if policy is None and not headers:
            return None
        around = list(dict.fromkeys([*self.top.directives(), *host.directives(), *own]))
        names = _names(host) if host is not self.top else []
        ports = _ports(host)
        return Scope(
            section.at,
            names[0] if names else "localhost",
            paths,
            title(section),
            policy=policy,
            granted=_granted(around, headers) if headers and policy is None else None,
            port=min(ports) if ports else None,
        )


def _nested(
    section: Section, around: tuple[Section, ...] = ()
) -> Iterator[tuple[Section, tuple[Section, ...]]]:
    """Each section inside, with those around it (outermost first)."""
    yield section, around
    for inner in section.sections():
        yield from _nested(inner, (*around, section))


def _own(section: Section) -> Iterator[Directive]:
    """The section's lines and those of the <If> sections in it: a scope's own lines."""
    yield from section.directives()
    for inner in section.sections(*_IF_KINDS):
        yield from _own(inner)


def _path_of(sections: Sequence[Section], root: str | None) -> str:
    """A request path the innermost <Location> or <Directory> of `sections` admits ("/" when
    none does, or it is a regex)."""
    for section in reversed(sections):
        if (
            section.kind == "location"
            and section.args
            and not any(c in section.args[0] for c in "*?[~")
        ):
            return section.args[0].rstrip("/") + "/"
        if section.kind == "directory" and section.args and root is not None:
            folder = section.args[0].strip('"').rstrip("/")
            if folder.startswith(root):
                return folder.removeprefix(root) + "/"
    return "/"


def _flatten(section: Section) -> Iterator[Section]:
    yield section
    for inner in section.sections():
        yield from _flatten(inner)


def _visible(section: Section, kinds: Sequence[str] = ()) -> list[Section]:
    """The sections directly inside, <IfModule> and the like already flattened by the loader."""
    return section.sections(*kinds)


def _innermost(layers: Sequence[Section], default: Place) -> Place:
    found = [s for s in layers if s.kind and s.kind not in _IF_KINDS]
    return found[-1].at if found else default


def _attribute(attribute: str, request: _Request) -> str:
    """What SetEnvIf compares: a request header ("" when missing) or one of its own names."""
    special = {
        "request_method": request.asked.method,
        "request_uri": request.uri,
        "remote_addr": "127.0.0.1",
        "server_addr": "127.0.0.1",
        "request_protocol": "HTTP/1.1",
    }
    return special.get(attribute.lower(), request.headers.get(attribute.lower(), ""))


def _groups(value: str, match: re.Match[str]) -> str:
    """$0 .. $9 in a SetEnvIf value or a ProxyPassMatch URL."""
    return re.sub(r"\$(\d)", lambda m: match.group(int(m[1])) or "", value)


_FLAG_NAMES = {"redirect": "r", "env": "e", "last": "l", "forbidden": "f", "gone": "g"}


def _flags(text: str) -> dict[str, str]:
    """[R=204,L,E=A:1] as {"r": "204", "l": "", "e": "A:1"} (E= may repeat: lines)."""
    out: dict[str, str] = {}
    for flag in text.strip("[]").split(","):
        name, _, value = flag.partition("=")
        key = name.strip().lower()
        key = _FLAG_NAMES.get(key, key)
        out[key] = f"{out[key]}\n{value}" if key == "e" and key in out else value
    return out


_HTTP_VARS = re.compile(r"%\{(HTTP:[^}]*)\}", re.IGNORECASE)


def _cond_matches(pattern: str, value: str, nocase: bool) -> bool:
    negate = pattern.startswith("!")
    pattern = pattern[1:] if negate else pattern
    if pattern.startswith("="):
        held = (value.lower() == pattern[1:].lower()) if nocase else value == pattern[1:].strip('"')
        if pattern[1:] == '""':
            held = value == ""
    elif pattern in ("-n",):
        held = value != ""
    elif pattern in ("-z",):
        held = value == ""
    else:
        held = re.search(pattern, value, re.IGNORECASE if nocase else 0) is not None
    return held != negate


def _rewrite_config(layers: Sequence[Section]) -> tuple[list[Directive], Section | None]:
    """The per-directory rewrite config: RewriteEngine of the last that sets it, the rules of
    the last section that writes any (one without rules inherits them, checked), and that
    section when it is a directory's."""
    engine: list[Directive] = []
    rules: list[Directive] = []
    home = None
    for layer in layers:
        own = layer.directives()
        engine += [d for d in own if d.name == "rewriteengine"]
        if any(d.name in _REWRITE_RULES for d in own):
            options = " ".join(a for d in own if d.name == "rewriteoptions" for a in d.args)
            mine = [d for d in own if d.name in _REWRITE_RULES]
            rules = [*rules, *mine] if "Inherit" in options.split() else mine
            if layer.kind in ("directory", "htaccess"):
                home = layer
            elif layer.kind not in _IF_KINDS:
                home = None
    return [*engine[-1:], *rules], home


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


def _engine_on(directives: Sequence[Directive]) -> bool:
    engine = [d for d in directives if d.name == "rewriteengine"]
    return bool(engine) and [a.lower() for a in engine[-1].args] == ["on"]


_ALL_OPTIONS = {"execcgi", "followsymlinks", "includes", "indexes", "multiviews"}


def _follows_symlinks(layers: Sequence[Section]) -> bool:
    """Whether Options, merged as httpd merges them (a line without +/- replaces, +X and -X
    edit; the default is FollowSymLinks), lets symlinks be followed."""
    options = {"followsymlinks"}
    for d in (d for layer in layers for d in layer.directives() if d.name == "options"):
        words = [w.lower() for w in d.args]
        if any(w[:1] not in "+-" for w in words):
            options = set()
        for word in words:
            name = word.lstrip("+-")
            named = _ALL_OPTIONS - {"multiviews"} if name == "all" else {name} - {"none"}
            options = options - named if word.startswith("-") else options | named
    return bool(options & {"followsymlinks", "symlinksifownermatch"})


def _static(method: str, file: str | None) -> int:
    """What httpd's own handler answers for a file: OPTIONS 200 (the core's), GET, HEAD and POST
    the file or 404, any other method 405 (all checked on 2.4.71)."""
    if method.upper() == "OPTIONS":
        return 200
    if method.upper() not in ("GET", "HEAD", "POST"):
        return 405
    return 200 if file is not None and Path(file).is_file() else 404


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


def _mapped(url: str, rest: str, query: str, run: _Run, at: Place) -> str:
    path = "/" + url.split("://", 1)[-1].partition("/")[2]
    run.trail.append(f"ProxyPass at {at}")
    joined = path + rest if path.endswith("/") or not rest else f"{path}/{rest.lstrip('/')}"
    return f"{joined}?{query}" if query else joined


_FORMAT = re.compile(r"%(?:\{([^}]*)\}([es])|(%))")


def _value(text: str, run: _Run) -> str:
    """A Header value: %{VAR}e is the environment ("(null)" unset), expr= an ap_expr string."""
    if text.startswith("expr="):
        return expand(text[5:], run.vars().variable)

    def one(match: re.Match[str]) -> str:
        if match[3]:
            return "%"
        return run.env.get(match[1], "(null)") if match[2] == "e" else "(null)"

    return _FORMAT.sub(one, text)


def _header(table: _Table, args: Sequence[str], at: Place, run: _Run) -> None:
    """One Header directive's action on its table."""
    if not args or args[0].lower() not in _HEADER_ACTIONS:
        return
    action = args[0].lower()
    takes_value = action in ("set", "append", "add", "merge", "setifempty")
    count = {"unset": 2, "echo": 2, "edit": 4, "edit*": 4}.get(action, 3)
    rest = args[count:]
    if len(args) < count:
        return
    if rest and not _condition(rest[0], run, at):
        return
    name = args[1]
    if action == "unset":
        table.unset(name)
    elif action == "echo":
        pattern = re.compile(name, re.IGNORECASE)
        for key, value in run.request.asked.headers:
            if pattern.search(key):
                table.rows.append(Sent(key, value, at))
    elif action in ("edit", "edit*"):
        for row in [r for r in table.rows if r.name.lower() == name.lower()]:
            replacement = args[3].replace("$", "\\")
            edited = re.sub(args[2], replacement, row.value, count=0 if "*" in action else 1)
            table.rows[table.rows.index(row)] = Sent(row.name, edited, at)
    elif takes_value:
        value = _value(args[2], run)
        if action == "set":
            table.set(name, value, at)
        elif action == "setifempty":
            if table.get(name) is None:
                table.set(name, value, at)
        elif action == "add":
            table.rows.append(Sent(name, value, at))
        else:
            table.merge(name, value, at, once=action == "merge")


def _condition(text: str, run: _Run, at: Place) -> bool:
    if text.startswith("env="):
        name = text[4:]
        return (name[1:] not in run.env) if name.startswith("!") else name in run.env
    if text.startswith("expr="):
        return run.test(text[5:], at, late=True)
    return True  # early: not modelled; the header is taken as sent


def _cors_header(d: Directive) -> bool:
    return any(a.lower().startswith(CORS) for a in d.args[:3])


def _granted(around: Sequence[Directive], headers: Sequence[Directive]) -> Granted:
    """What the hand-written Header lines of a section grant, key by key, with their lines."""
    at: dict[str, Place] = {}
    found: dict[str, tuple[str, Place]] = {}
    for d in headers:
        args = d.args[1:] if d.args[0].lower() in ("always", "onsuccess") else d.args
        if len(args) >= 3 and args[0].lower() in ("set", "add", "append", "merge"):
            found[args[1].lower()] = (args[2], d.at)
    origin = found.get("access-control-allow-origin")
    any_origin = origin is not None and origin[0] == "*"
    reflects, regexes = False, []
    if origin is not None and not any_origin:
        at["allow_origins"] = origin[1]
        variable = re.search(r"%\{([^}]*)\}e", origin[0])
        for d in around:
            if (
                d.name in _SETENVIF
                and variable
                and any(a.partition("=")[0] == variable[1] for a in d.args[2:])
            ):
                ignore = d.name == "setenvifnocase"
                regexes.append(OriginRegex(d.args[1], d.at, "pcre", ignore))
                at.setdefault("allow_origin_regex", d.at)
                reflects = reflects or _admits_any(d.args[1], ignore)
    elif origin is not None:
        at["allow_origins"] = origin[1]

    def words(key: str) -> tuple[str, ...]:
        if key not in found:
            return ()
        at[_KEYS[key]] = found[key][1]
        return tuple(w.strip() for w in found[key][0].split(",") if w.strip())

    credentials = found.get("access-control-allow-credentials", ("", at))[0] == "true"
    if credentials:
        at["allow_credentials"] = found["access-control-allow-credentials"][1]
    max_age = found.get("access-control-max-age")
    if max_age is not None:
        at["max_age"] = max_age[1]
    return Granted(
        regexes=tuple(regexes),
        any_origin=any_origin,
        reflects=reflects,
        credentials=credentials,
        methods=words("access-control-allow-methods"),
        headers=words("access-control-allow-headers"),
        expose=words("access-control-expose-headers"),
        max_age=int(max_age[0]) if max_age and max_age[0].isdigit() else None,
        at=at,
    )


# Origins no allowlist names: a regex that admits both admits any origin (it reflects).
_UNRELATED = ("https://corsgen-unrelated.example", "http://192.0.2.1:9")


def _admits_any(regex: str, ignore_case: bool) -> bool:
    try:
        return all(
            re.search(regex, origin, re.IGNORECASE if ignore_case else 0) for origin in _UNRELATED
        )
    except re.error:
        return False


_KEYS = {
    "access-control-allow-methods": "allow_methods",
    "access-control-allow-headers": "allow_headers",
    "access-control-expose-headers": "expose_headers",
}


def load_routes(configs: Sequence[Path]) -> tuple[ApacheRoutes, list[Finding]]:
    """The model of the config (the first file, then the others as if included at its end),
    and what reading it found (a missing Include: CG401)."""
    top, root, problems = load(configs[0])
    for more in configs[1:]:
        extra, _, found = load(more)
        top.body += extra.body
        problems += found
    return ApacheRoutes(top, root), problems
