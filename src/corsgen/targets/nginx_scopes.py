"""Where an nginx config answers CORS its own way (routing.Scope), for `corsgen audit` to probe and
`corsgen import` to read; what hand-written CORS grants there is read from the model's answers.

A scope is a location (or server) that includes a corsgen snippet, that sends Access-Control-*
headers of its own (in itself or an `if` in it), or that is below a snippet: with add_header lines
of its own (they drop the snippet's), or without (held to the snippet, whose headers it inherits
and whose preflight answer it may not). A snippet's scope grants what the snippet's lines answer
alone (its policy, for the audit without --policy). Its paths are requests whose location search
starts there: the block's own pattern, and, for a prefix, names under it that the regex locations
beside it take (/api/x.json, which `location ~* \\.json$` answers instead).

What a hand-written scope grants is what the model answers, never what its lines seem to mean:
an origin nobody lists tells `*` from a reflected Origin; each origin the config spells (map
keys, `if ($http_origin = ...)`, literal values) is granted when its answer sends it back; each
origin regex (a map's on $http_origin, an if's on it) when an origin it matches is granted; the
preflight's answer gives the methods, headers, Max-Age and status, the answer to a request gives
credentials and the exposed headers; each key's Place is the line of the header that said it.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

from corsgen.fetch import delta_seconds
from corsgen.routing import (
    Answered,
    Asked,
    Granted,
    OriginRegex,
    Place,
    Scope,
    quiet_backend,
)
from corsgen.targets.nginx_blocks import Conf, Server, Step, find_location, longest_prefix
from corsgen.targets.nginx_routing import NginxRoutes, normalise
from corsgen.targets.nginx_variables import compile_pcre

NOBODY = "https://corsgen-import.invalid"  # an origin no config lists
_PROBE = "corsgen-probe"
_ORIGIN_LIKE = re.compile(r"^(?:https?://[^\s/]+|null)$", re.IGNORECASE)


def _cors(conf: Conf) -> bool:
    """Whether the block, or an if in it, sends an Access-Control-* header of its own."""
    blocks = [conf, *(s.block for s in conf.code if s.block is not None)]
    return any(
        args[0].lower().startswith("access-control-")
        for block in blocks
        for args, _ in block.set_here("add_header")
        if args
    )


def _snippet_above(conf: Conf) -> Conf | None:
    """The nearest block above `conf` that includes a corsgen snippet."""
    parent = conf.parent
    while parent is not None and not parent.policies:
        parent = parent.parent
    return parent


def scopes(routes: NginxRoutes) -> list[Scope]:
    found: list[Scope] = []
    for server in routes.servers:
        named = (n for n in server.names if n and not n.startswith(("~", "*", ".")))
        host = next((n for n in named if "*" not in n), "")
        port = server.ports[0] if server.ports else None
        grants: dict[int, Granted] = {}  # each snippet block's, read once
        for conf in _blocks(server.conf):
            mine = _cors(conf) and not conf.policies
            # A block below a snippet's answers requests the snippet is for. With add_header
            # lines of its own it drops the snippet's (a scope of no CORS, whose answers show
            # it); else it inherits them, and not the preflight `if` (a location's): it is held
            # to the snippet.
            above = None if conf.policies or mine else _snippet_above(conf)
            dropping = above is not None and bool(conf.set_here("add_header"))
            snippet = conf if conf.policies else None if dropping else above
            if not (snippet or mine or dropping):
                continue
            paths = _paths(server, conf)
            if conf.policies and conf.kind == "location":
                # The locations nested in a snippet's are asked for it too, as a server's are:
                # one with add_header of its own answers them without the snippet's headers.
                nested = [p for n in conf.locations for p in _paths(server, n)[:1]]
                paths = tuple(dict.fromkeys([*paths, *nested]))
            policy = snippet.policies[0][0] if snippet else None
            granted = None
            if mine and paths:
                granted = _Reading(routes, host, port, paths[0]).granted(conf)
            elif snippet is not None:
                if id(snippet) not in grants:
                    grants[id(snippet)] = _snippet_grant(routes, snippet, host, port)
                granted = grants[id(snippet)]
            title = conf.title().rsplit(" at ", 1)[0]
            found.append(Scope(conf.at, host, paths, title, policy, granted, port))
    return found


def _snippet_grant(routes: NginxRoutes, conf: Conf, host: str, port: int | None) -> Granted:
    """What the corsgen snippets included in `conf` grant when they answer: read from a model of
    their own lines alone, in a location that proxies every request (the http part's maps
    kept), so that the audit holds the scope to its snippet and finds where the context undoes
    it (a redirect away, a regex location, auth, a hide list)."""
    http = Conf("http", conf.at, None)
    server = Conf("server", conf.at, http)
    alone = Conf("location", conf.at, server, pattern="/")
    for name, entries in conf.own.items():
        if mine := [(args, at) for args, at in entries if at.file in conf.snippets]:
            alone.own[name] = mine
    alone.own["proxy_pass"] = [(("http://corsgen-snippet",), conf.at)]
    alone.code = [
        replace(s, block=replace(s.block, parent=alone)) if s.block is not None else s
        for s in conf.code
        if s.at.file in conf.snippets
    ]
    http.locations, server.locations = [], [alone]
    ports = (port,) if port is not None else ()
    model = NginxRoutes(
        http, [Server(server, ports, ports, (host,))], routes.maps, version=routes.version
    )
    return _Reading(model, host, port, "/").granted(alone)


def _blocks(server: Conf) -> Iterator[Conf]:
    """The server and its locations, nested ones too, in the order written."""
    stack = [server]
    while stack:
        conf = stack.pop()
        yield conf
        stack.extend(reversed(conf.locations))


def _paths(server: Server, conf: Conf) -> tuple[str, ...]:
    if conf.kind == "server":
        paths = ["/"]
        for location in conf.locations:
            paths += _paths(server, location)[:1]
        return tuple(dict.fromkeys(paths))
    if conf.modifier == "@":
        return ()
    regex = conf.modifier in ("~", "~*")
    candidates = list(_samples(conf.pattern)) if regex else [conf.pattern]
    if conf.modifier in ("", "^~") and conf.pattern.endswith("/"):
        candidates += [f"{conf.pattern}{_PROBE}{ext}" for ext in _regex_exts(server.conf)]
    reached = []
    for path in candidates:
        if not path.startswith("/"):
            continue
        answered, _ = find_location(server.conf, normalise(path), None)
        if _starts_at(path, answered, conf):
            reached.append(path)
    return tuple(dict.fromkeys(reached))


def _starts_at(path: str, answered: Conf, conf: Conf) -> bool:
    """Whether a request the search gave to `answered` was one for `conf`: the block itself, one
    nested in it, or a regex location that took it from conf, its longest prefix."""
    if answered is conf or _inside(answered, conf):
        return True
    if answered.modifier not in ("~", "~*") or conf.modifier not in ("", "^~"):
        return False
    longest = longest_prefix(conf.parent, path) if conf.parent is not None else None
    return longest is None or len(longest.pattern) <= len(conf.pattern)


def _inside(inner: Conf, outer: Conf) -> bool:
    parent = inner.parent
    while parent is not None and parent is not outer:
        parent = parent.parent
    return parent is outer


def _regex_locations(conf: Conf) -> Iterator[Conf]:
    for location in conf.locations:
        if location.modifier in ("~", "~*"):
            yield location
        yield from _regex_locations(location)


# Each server's: read once, not once per location (20,000 locations took minutes).
_EXTS: weakref.WeakKeyDictionary[Conf, tuple[str, ...]] = weakref.WeakKeyDictionary()


def _regex_exts(server: Conf) -> tuple[str, ...]:
    """The file extensions the server's regex locations end with, each once."""
    if server not in _EXTS:
        found = (e for r in _regex_locations(server) for e in _exts(r.pattern))
        _EXTS[server] = tuple(dict.fromkeys(found))
    return _EXTS[server]


_EXTENSION = re.compile(r"\\\.\(\??:?([A-Za-z0-9|]+)\)\$?$|\\\.([A-Za-z0-9]+)\$?$")


def _exts(regex: str) -> list[str]:
    """The file extensions a regex location ends with (\\.(json|csv)$, \\.php$)."""
    found = _EXTENSION.search(regex)
    if not found:
        return []
    return ["." + ext for ext in (found[1] or found[2]).split("|")]


def _samples(regex: str) -> Iterator[str]:
    for ext in _exts(regex):
        yield f"/{_PROBE}{ext}"


@dataclass
class _Reading:
    """The model asked, on one path of a hand-written scope, what it grants."""

    routes: NginxRoutes
    host: str
    port: int | None
    path: str
    at: dict[str, Place] = field(default_factory=dict)

    def ask(self, method: str, origin: str, *more: tuple[str, str]) -> Answered:
        headers = (("Origin", origin), *more)
        asked = Asked(self.host, method, self.path, headers, self.port)
        return self.routes.answer(asked, quiet_backend)

    def header(self, answered: Answered, name: str, key: str) -> str | None:
        """The header's value, its line noted as the key's; None when it is not sent."""
        for sent in answered.headers:
            if sent.name.lower() == name.lower():
                if sent.at is not None:
                    self.at.setdefault(key, sent.at)
                return sent.value
        return None

    def granted(self, conf: Conf) -> Granted:
        anyone = self.header(
            self.ask("GET", NOBODY), "Access-Control-Allow-Origin", "allow_origins"
        )
        origins = tuple(o for o in _spelled(self.routes, conf) if self.allows(o))
        regexes = tuple(r for r in _origin_regexes(self.routes, conf) if self.allows_regex(r))
        sample = next(iter(origins), None) or next(
            (s for r in regexes if (s := _sample(r.source)) is not None), NOBODY
        )
        if anyone is None and sample == NOBODY and not origins:
            self.at.pop("allow_origins", None)
        request = self.ask("GET", sample)
        preflight = self.ask(
            "OPTIONS",
            sample,
            ("Access-Control-Request-Method", "PUT"),
            ("Access-Control-Request-Headers", "content-type"),
        )
        if regexes:
            self.at.setdefault("allow_origin_regex", regexes[0].at)
        if not preflight.backend:
            self.at.setdefault("preflight_status", preflight.by)
        # The lists a preflight's answer sends; when another block answers it with no CORS at
        # all (a server-wide `return`), those the scope sends on its own answers: what it grants
        # there, which that block drops.
        cors = any(h.name.lower() == "access-control-allow-origin" for h in preflight.headers)
        lists = preflight if cors else request
        methods = self.header(lists, "Access-Control-Allow-Methods", "allow_methods")
        allowed = self.header(lists, "Access-Control-Allow-Headers", "allow_headers")
        expose = self.header(request, "Access-Control-Expose-Headers", "expose_headers")
        credentials = self.header(request, "Access-Control-Allow-Credentials", "allow_credentials")
        max_age = self.header(preflight, "Access-Control-Max-Age", "max_age")
        network = self.header(
            preflight, "Access-Control-Allow-Private-Network", "allow_private_network"
        )
        return Granted(
            origins=origins,
            regexes=regexes,
            any_origin=anyone == "*",
            reflects=anyone == NOBODY,
            credentials=credentials == "true",
            methods=_list(methods),
            headers=_list(allowed),
            expose=_list(expose),
            max_age=delta_seconds(max_age),
            private_network=network == "true",
            preflight_status=None if preflight.backend else preflight.status,
            at=self.at,
        )

    def allows(self, origin: str) -> bool:
        answered = self.ask("GET", origin)
        return self.header(answered, "Access-Control-Allow-Origin", "allow_origins") == origin

    def allows_regex(self, regex: OriginRegex) -> bool:
        sample = _sample(regex.source)
        return sample is None or self.allows(sample)


def _list(value: str | None) -> tuple[str, ...]:
    return tuple(p.strip() for p in (value or "").split(",") if p.strip())


def _spelled(routes: NginxRoutes, conf: Conf) -> list[str]:
    """The origins the config spells: map keys, if comparisons, literal header values."""
    found: list[str] = []
    for table in routes.maps.values():
        found += [key for key in table.exact if _ORIGIN_LIKE.match(key)]
    for block in [conf, *(s.block for s in conf.code if s.block is not None)]:
        for args, _ in block.set_here("add_header"):
            found += [a for a in args[1:2] if _ORIGIN_LIKE.match(a)]
    for step in _ifs(conf):
        if step.args[:1] == ("$http_origin",) and len(step.args) == 3 and step.args[1] == "=":
            found.append(step.args[2])
    return list(dict.fromkeys(found))


def _ifs(conf: Conf) -> Iterator[Step]:
    yield from (s for s in conf.code if s.name == "if")
    if conf.parent is not None and conf.kind == "location":
        yield from (s for s in conf.parent.code if s.name == "if")


def _origin_regexes(routes: NginxRoutes, conf: Conf) -> list[OriginRegex]:
    """The regexes tested against $http_origin: map keys (a map of $http_origin) and ifs."""
    found: list[OriginRegex] = []
    for step in _ifs(conf):
        args = step.args
        if args[:1] == ("$http_origin",) and len(args) == 3 and args[1] in ("~", "~*"):
            found.append(OriginRegex(args[2], step.at, "pcre", args[1] == "~*"))
    for table in routes.maps.values():
        if table.source == "$http_origin":
            found += [
                OriginRegex(regex, at, "pcre", ignore_case)
                for regex, ignore_case, value, at in table.regexes
                if value
            ]
    return found


# What a regex's common pieces match, for _sample: an origin it may admit.
_PIECES = (
    (r"\\.", "."),
    (r"https?", "https"),
    (r"[a-z0-9-]+", "x"),
    (r"[a-z0-9]+", "x"),
    (r"[^.]+", "x"),
    (r".+", "x"),
    (r".*", ""),
    (r"\w+", "x"),
)


def _sample(regex: str) -> str | None:
    """An origin the regex matches, when its common pieces spell one; None when not found."""
    text = regex.removeprefix("^").removesuffix("$")
    for piece, plain in _PIECES:
        text = text.replace(piece, plain)
    text = re.sub(r"\((?:\?:)?([^()|]*)(?:\|[^()]*)?\)\??", r"\1", text)
    text = text.replace("\\", "")
    if not text.startswith("http"):
        text = "https://" + text.lstrip("/:")
    pattern = compile_pcre(regex, True)
    if pattern is not None and pattern.search(text) and _ORIGIN_LIKE.match(text):
        return text
    return None
