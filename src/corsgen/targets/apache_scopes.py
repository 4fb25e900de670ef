"""Where an httpd config answers CORS (routing.Scope): each section, and each .htaccess below a
DocumentRoot, that includes a corsgen snippet or writes Header lines for Access-Control-*, with
the paths that reach it and, for hand-written ones, what they grant today (routing.Granted)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from corsgen.routing import Granted, OriginRegex, Place, Scope
from corsgen.targets.apache_config_tree import (
    IF_KINDS,
    Directive,
    Section,
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
        every = [_path_of([*around, section], root) for section, around in walked]
        for section, around in walked:
            # The section's own path, then those of the sections inside it, and of the others
            # below its path, which merge with it: its lines reach them too (an auth <Location>
            # answers with the virtual host's headers, or with those of <Location /api/>).
            own = _path_of([*around, section], root)
            paths = [own] + [
                _path_of([*around, section, *more, inner], root)
                for inner, more in nested(section)
                if inner is not section and inner.kind not in IF_KINDS
            ]
            paths += [p for p in every if p.startswith(own)]
            scope = _scope(routes, host, section, tuple(dict.fromkeys(paths))[:PATHS])
            if scope is not None:
                out.append(scope)
        for htaccess in _htaccess_files(routes, root):
            folder = htaccess.args[0].removeprefix(root or "")
            scope = _scope(routes, host, htaccess, (folder.rstrip("/") + "/",))
            if scope is not None:
                out.append(scope)
    return sorted(out, key=lambda s: s.at)


def _htaccess_files(routes: ApacheRoutes, root: str | None) -> list[Section]:
    """The .htaccess files below a DocumentRoot, at most HTACCESS_DIRECTORIES looked at."""
    if root is None or not Path(root).is_dir():
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


def _scope(
    routes: ApacheRoutes, host: Section, section: Section, paths: tuple[str, ...]
) -> Scope | None:
    policy = section.policies[0][0] if section.policies else None
    own = list(_own(section))
    headers = [d for d in own if d.name == "header" and _cors_header(d)]
    if policy is None and not headers:
        return None
    around = list(dict.fromkeys([*routes.top.directives(), *host.directives(), *own]))
    names = server_names(host) if host is not routes.top else []
    listens = ports(host)
    return Scope(
        section.at,
        names[0] if names else "localhost",
        paths,
        title(section),
        policy=policy,
        granted=_granted(around, headers) if headers and policy is None else None,
        port=min(listens) if listens else None,
    )


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
    return Granted(
        regexes=tuple(regexes),
        any_origin=any_origin,
        reflects=reflects,
        credentials="allow_credentials" in at,
        methods=words("access-control-allow-methods"),
        headers=words("access-control-allow-headers"),
        expose=words("access-control-expose-headers"),
        max_age=int(max_age[0]) if max_age and max_age[0].isdigit() else None,
        private_network="allow_private_network" in at,
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
