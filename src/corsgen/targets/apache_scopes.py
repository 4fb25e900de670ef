"""Where an httpd config answers CORS (routing.Scope): each section, and each .htaccess below a
DocumentRoot, that includes a corsgen snippet or writes Header lines for Access-Control-*, with
the paths that reach it and what its lines grant today (routing.Granted): the hand-written ones',
and each snippet's own (its SetEnvIf, Header and RewriteRule lines), which the audit holds it to
when its policy is not given. A section with two snippets is a scope of each."""

from __future__ import annotations

import functools
import os
import re
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from corsgen.fetch import delta_seconds
from corsgen.regex import RegexError, parse_regex
from corsgen.regex.language import BREAK, words
from corsgen.routing import Granted, OriginRegex, Place, Scope
from corsgen.targets.apache_config_tree import (
    IF_KINDS,
    Directive,
    Section,
    is_kind,
    nested,
    ports,
    server_names,
    title,
)
from corsgen.targets.apache_request import SETENVIF

if TYPE_CHECKING:
    from corsgen.targets.apache_routing import ApacheRoutes

CORS = "access-control-"
PATHS = 20  # paths a scope names for the audit to probe, at most
HTACCESS_DIRECTORIES = 10_000  # directories below a DocumentRoot searched for .htaccess


def scopes(routes: ApacheRoutes) -> list[Scope]:
    """Each section, and each .htaccess below a DocumentRoot, that holds a corsgen snippet
    or hand-written Header lines for Access-Control-*; its path is one its match admits."""
    out = []
    for host in [routes.top, *routes.hosts]:
        root = routes.document_root([host])
        walked = [
            (section, around)
            for section, around in nested(host)
            if section.kind not in IF_KINDS  # its lines are its section's
            # the virtual hosts are walked on their own
            and not (
                host is routes.top and any(s.kind == "virtualhost" for s in (*around, section))
            )
        ]
        # The paths of the sections that answer CORS no way of their own.
        plain = [
            _path_of([*around, section], root)
            for section, around in walked
            if not section.snippets
            and not any(d.name == "header" and _cors_header(d) for d in _own(section))
        ]
        for section, around in walked:
            # The section's own path, then those of the sections inside it, and of the others
            # below its path that answer CORS no way of their own, which merge with it: its lines
            # reach them too (an auth <Location> answers with the virtual host's headers, or with
            # those of <Location /api/>). One with its own is its own scope.
            own = _path_of([*around, section], root)
            paths = [own] + [
                _path_of([*around, section, *more, inner], root)
                for inner, more in nested(section)
                if inner is not section and inner.kind not in IF_KINDS
            ]
            paths += [p for p in plain if p.startswith(own)]
            out += _scopes(routes, host, section, tuple(dict.fromkeys(paths))[:PATHS])
        for htaccess in _htaccess_files(routes, root):
            folder = htaccess.args[0].removeprefix(root or "")
            out += _scopes(routes, host, htaccess, (folder.rstrip("/") + "/",))
    return sorted(out, key=lambda s: s.at)


def _htaccess_files(routes: ApacheRoutes, root: str | None) -> list[Section]:
    """The .htaccess files below a DocumentRoot, at most HTACCESS_DIRECTORIES looked at."""
    if root is None or not is_kind(Path(root), stat.S_ISDIR):
        return []
    found = []
    for count, (folder, _, names) in enumerate(os.walk(root)):
        if count >= HTACCESS_DIRECTORIES:
            break
        if ".htaccess" in names:
            section = routes.htaccess_file(Path(folder) / ".htaccess")
            if section is not None:
                found.append(section)
    return found


def _scopes(
    routes: ApacheRoutes, host: Section, section: Section, paths: tuple[str, ...]
) -> list[Scope]:
    """The section's scopes: one for each policy whose snippet it includes, else one for its
    hand-written Header lines for Access-Control-*, if it has any."""
    own = list(_own(section))
    hand_written = any(d.name == "header" and _cors_header(d) for d in own)
    if not (section.snippets or hand_written):
        return []
    around = list(dict.fromkeys([*routes.top.directives(), *host.directives(), *own]))
    names = server_names(host) if host is not routes.top else []
    listens = ports(host)

    def scope(policy: str | None, lines: Sequence[Directive]) -> Scope:
        headers = [d for d in lines if d.name == "header" and _cors_header(d)]
        return Scope(
            section.at,
            names[0] if names else "localhost",
            paths,
            title(section),
            policy=policy,
            granted=_granted(around, headers, lines, spelled=policy is not None),
            port=min(listens) if listens else None,
        )

    if section.snippets:
        files: dict[str, str] = {}  # each policy's first snippet here
        for snippet in section.snippets:
            files.setdefault(snippet.policy, snippet.file)
        return [
            scope(policy, [d for d in own if d.at.file == file]) for policy, file in files.items()
        ]
    return [scope(None, own)]


def _own(section: Section) -> Iterator[Directive]:
    """The section's lines and those of the <If> sections in it: a scope's own lines."""
    yield from section.directives()
    for inner in section.sections(*IF_KINDS):
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


def _cors_header(d: Directive) -> bool:
    return any(a.lower().startswith(CORS) for a in d.args[:3])


def _granted(
    around: Sequence[Directive],
    headers: Sequence[Directive],
    lines: Sequence[Directive],
    spelled: bool = False,
) -> Granted:
    """What the Header lines of a section (or of a snippet in it) grant, key by key, with their
    lines; the preflight's status is that of the RewriteRule among `lines` that answers with
    a 2xx ([R=204]). `spelled`: a regex that spells out a list of origins (a corsgen snippet's
    exact origins, as one anchored trie) grants those origins."""
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
                d.name in SETENVIF
                and variable
                and any(a.partition("=")[0] == variable[1] for a in d.args[2:])
            ):
                ignore = d.name == "setenvifnocase"
                if _admits_any(d.args[1], ignore):  # no allowlist: any Origin is sent back
                    reflects = True
                    continue
                regexes.append(OriginRegex(d.args[1], d.at, "pcre", ignore))
                at.setdefault("allow_origin_regex", d.at)
    elif origin is not None:
        at["allow_origins"] = origin[1]
    # One origin written out, whatever the Origin (or an env= or expr= condition): it alone reads.
    origins = [origin[0]] if origin is not None and not any_origin and "%" not in origin[0] else []
    for regex in list(regexes) if spelled else []:
        listed = _listed(regex)
        if listed is not None:
            origins += listed
            regexes.remove(regex)

    def words(key: str) -> tuple[str, ...]:
        if key not in found:
            return ()
        at[_KEYS[key]] = found[key][1]
        return tuple(w.strip() for w in found[key][0].split(",") if w.strip())

    credentials = found.get("access-control-allow-credentials")
    if credentials is not None and credentials[0] == "true":
        at["allow_credentials"] = credentials[1]
    private_network = found.get("access-control-allow-private-network")
    if private_network is not None and private_network[0] == "true":
        at["allow_private_network"] = private_network[1]
    max_age = found.get("access-control-max-age")
    if max_age is not None:
        at["max_age"] = max_age[1]
    answers = [
        (int(code[1]), d.at)
        for d in lines
        if d.name == "rewriterule" and len(d.args) > 2
        if (code := _ANSWER.search(d.args[2])) is not None and code[1].startswith("2")
    ]
    if answers:
        at["preflight_status"] = answers[-1][1]
    return Granted(
        origins=tuple(dict.fromkeys(origins)),
        regexes=tuple(regexes),
        any_origin=any_origin,
        reflects=reflects,
        credentials="allow_credentials" in at,
        methods=words("access-control-allow-methods"),
        headers=words("access-control-allow-headers"),
        expose=words("access-control-expose-headers"),
        max_age=delta_seconds(max_age[0] if max_age else None),
        private_network="allow_private_network" in at,
        preflight_status=answers[-1][0] if answers else None,
        at=at,
    )


# A RewriteRule's [R=NNN] flag: the status it answers with.
_ANSWER = re.compile(r"(?:^|[\[,])\s*R(?:edirect)?=(\d{3})\b", re.IGNORECASE)


def _listed(regex: OriginRegex) -> list[str] | None:
    """The origins an anchored regex spells out letter for letter, None when it matches others
    too (a class, a repeat) or corsgen does not read it."""
    if not (regex.source.startswith("^") and regex.source.endswith("$")) or regex.ignore_case:
        return None
    spelled = _spelled(regex.source)
    return None if spelled is None else list(spelled)


@functools.lru_cache(maxsize=1024)  # the same snippet's regex in each host that includes it
def _spelled(source: str) -> tuple[str, ...] | None:
    try:
        spelled = words(parse_regex(source).tree)
    except RegexError:
        return None
    return None if any(BREAK in word for word in spelled) else tuple(spelled)


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
