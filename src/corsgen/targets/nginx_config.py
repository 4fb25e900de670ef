"""`corsgen verify --config`: where a whole nginx config undoes the snippets it includes.

crossplane reads the config and every file it includes; a file whose line 2 is corsgen's marker is
a corsgen part, and the blocks around each include are what nginx inherits. Checked on nginx 1.22
(tests/conformance/nginx_contexts_test.py serves each case):

- add_header and *_hide_header are inherited only by a block with none of its own: an add_header
  in a block below the snippet drops every CORS header, and the snippet drops the add_headers of
  the blocks above it (HSTS, CSP).
- The preflight is `if (...) { return 204; }`. `return` runs in the rewrite phase, before the
  access phase where auth_basic and auth_request run, so auth in the same location or above never
  sees a preflight. In server {} it runs before any location is chosen, for every location of
  the server. Rewrite directives are not inherited, though: a location nested in the snippet's
  location sends the preflight on to its auth and its handler.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict, cast

import crossplane

from corsgen.errors import Finding
from corsgen.fsio import read_config
from corsgen.marker import parse
from corsgen.rulebook import finding

# Blocks that hold their own add_header, *_hide_header and auth settings.
_SCOPES = ("http", "server", "location", "if", "limit_except")
_HIDES = tuple(f"{m}_hide_header" for m in ("proxy", "fastcgi", "uwsgi", "scgi", "grpc"))
_AUTH = ("auth_basic", "auth_request")
# Directives whose last argument may be a named location the request is redirected to.
_HANDOFFS = ("try_files", "error_page")


class _Directive(TypedDict, total=False):
    directive: str
    line: int
    args: list[str]
    block: list[_Directive]
    includes: list[int]


class _File(TypedDict):
    file: str
    parsed: list[_Directive]


class _Error(TypedDict):
    file: str
    line: int | None
    error: str


class _Payload(TypedDict):
    errors: list[_Error]
    config: list[_File]


@dataclass(frozen=True)
class Place:
    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass
class Block:
    """One http, server, location, if or limit_except block, with what it sets itself."""

    kind: str
    at: Place
    parent: Block | None
    name: str = ""  # a named location's @name
    headers: list[tuple[str, Place]] = field(default_factory=list)  # the user's add_header
    hides: list[Place] = field(default_factory=list)  # the user's *_hide_header
    snippets: list[tuple[str, Place]] = field(default_factory=list)  # policy, its include
    auth: dict[str, tuple[bool, Place]] = field(default_factory=dict)  # directive: (on, where)
    children: list[Block] = field(default_factory=list)
    # try_files and error_page handing the request to a named location: (directive, @name, where)
    handoffs: list[tuple[str, str, Place]] = field(default_factory=list)

    def walk(self) -> Iterator[Block]:
        yield self
        for child in self.children:
            yield from child.walk()

    def above(self) -> Iterator[Block]:
        block = self.parent
        while block is not None:
            yield block
            block = block.parent

    def headers_from(self) -> Block | None:
        """The block whose add_headers apply here: this one, or the nearest above with any."""
        return next((b for b in (self, *self.above()) if b.headers or b.snippets), None)

    def hides_from(self) -> Block | None:
        return next((b for b in (self, *self.above()) if b.hides or b.snippets), None)

    def auth_here(self) -> tuple[str, Place] | None:
        """The auth directive that applies to this block, if any is on."""
        for name in _AUTH:
            setting = next((b.auth[name] for b in (self, *self.above()) if name in b.auth), None)
            if setting is not None and setting[0]:
                return name, setting[1]
        return None


@dataclass
class _Reader:
    payload: _Payload
    http_parts: set[str] = field(default_factory=set)  # policies whose .http.conf is in http {}
    # The files on the include path being read: one met again includes itself without end.
    path: list[str] = field(default_factory=list)
    loops: list[Finding] = field(default_factory=list)

    def read(self, directives: list[_Directive], file: str, block: Block) -> None:
        for d in directives:
            name, args, place = d["directive"], d.get("args", []), Place(file, d.get("line", 0))
            if name == "include":
                for index in d.get("includes", []):
                    included = self.payload["config"][index]
                    if included["file"] in self.path:
                        self.loops.append(_finding("CG401", "loop", place, file=included["file"]))
                    else:
                        self.path.append(included["file"])
                        self.include(included, place, block)
                        self.path.pop()
            elif name in _SCOPES and "block" in d:
                named = name == "location" and bool(args) and args[0].startswith("@")
                child = Block(name, place, block, args[0] if named else "")
                block.children.append(child)
                self.read(d["block"], file, child)
            elif name == "add_header" and args:
                block.headers.append((args[0], place))
            elif name in _HIDES:
                block.hides.append(place)
            elif name in _AUTH and args:
                block.auth[name] = (args[0] != "off", place)
            elif name in _HANDOFFS and args and args[-1].startswith("@"):
                block.handoffs.append((name, args[-1], place))

    def include(self, included: _File, place: Place, block: Block) -> None:
        policy = _policy(included["file"])
        names = {d["directive"] for d in included["parsed"]}
        if policy is None:
            self.read(included["parsed"], included["file"], block)
        elif "map" in names:  # the http part, however the user renamed the file
            if block.kind == "http":
                self.http_parts.add(policy)
        elif "add_header" in names:  # the snippet; the map hash sizes are neither
            block.snippets.append((policy, place))


def _policy(file: str) -> str | None:
    """The policy a corsgen part was rendered from (its marker), or None for any other file."""
    try:
        with open(file, encoding="utf-8", errors="replace") as handle:
            head = handle.readline() + handle.readline()
    except OSError:
        return None
    mark = parse(head + "\n")
    return None if mark is None else mark.policy


def _findings(root: Block, http_parts: set[str]) -> Iterator[Finding]:
    missing: set[str] = set()
    for block in root.walk():
        parent = block.parent
        above = parent.headers_from() if parent else None
        if block.headers and not block.snippets and above is not None and above.snippets:
            policy, include = above.snippets[0]
            name, at = block.headers[0]
            yield _finding("CG402", "add-header", at, policy=policy, include=include, header=name)
        hides = parent.hides_from() if parent else None
        if block.hides and not block.snippets and hides is not None and hides.snippets:
            policy, include = hides.snippets[0]
            yield _finding("CG402", "hide-header", block.hides[0], policy=policy, include=include)
        for policy, include in block.snippets:
            if above is not None and above.headers:
                mine = {n.lower() for n, _ in block.headers}
                lost = [(n, at) for n, at in above.headers if n.lower() not in mine]
                if lost:
                    yield _finding(
                        "CG403",
                        "dropped",
                        include,
                        policy=policy,
                        header=lost[0][0],
                        at=lost[0][1],
                        count=len(lost),
                    )
            if policy not in http_parts and policy not in missing:
                missing.add(policy)
                yield _finding("CG405", "missing", include, policy=policy)
        yield from _preflights(block)
        yield from _handoffs(block)


def _handoffs(block: Block) -> Iterator[Finding]:
    """A named location that answers for a snippet's location without the snippet's headers.

    An internal redirect to @name is served with the add_header lines of @name and the blocks
    above it, not those of the location that redirected: the CORS headers are lost there.
    """
    source = block.headers_from()
    server = next((b for b in (block, *block.above()) if b.kind == "server"), None)
    if source is None or not source.snippets or server is None:
        return
    policy, include = source.snippets[0]
    for directive, target, at in block.handoffs:
        named = next((b for b in server.walk() if b.name == target), None)
        answers = named.headers_from() if named is not None else None
        if named is not None and (answers is None or not answers.snippets):
            yield _finding(
                "CG402",
                "named-location",
                at,
                policy=policy,
                include=include,
                directive=directive,
                target=target,
            )


def _preflights(block: Block) -> Iterator[Finding]:
    """A location the preflight of an enclosing snippet does not reach, or reaches wrongly."""
    if block.kind != "location":
        return
    server = next((b for b in block.above() if b.kind == "server"), None)
    at_server = server.snippets[0] if server is not None and server.snippets else None
    if at_server is not None:
        for policy, include in block.snippets:
            if policy != at_server[0]:
                yield _finding(
                    "CG404",
                    "server-wide",
                    include,
                    policy=policy,
                    other=at_server[0],
                    at=at_server[1],
                )
        return
    if block.snippets:
        return
    outer = next((b for b in block.above() if b.kind == "location" and b.snippets), None)
    if outer is None:
        return
    policy, include = outer.snippets[0]
    auth = block.auth_here()
    if auth is not None:
        yield _finding(
            "CG404",
            "nested-auth",
            block.at,
            policy=policy,
            include=include,
            auth=auth[0],
            at=auth[1],
        )
    else:
        yield _finding("CG404", "nested", block.at, policy=policy, include=include)


def _finding(rule: str, case: str, where: Place, **fields: object) -> Finding:
    return finding(
        rule, case, file=where.file, line=where.line, fields={"server": "nginx", **fields}
    )


def _includes(directives: list[_Directive]) -> Iterator[tuple[str, int]]:
    """The pattern and line of every include, in blocks too."""
    for d in directives:
        if d["directive"] == "include" and d.get("args"):
            yield d["args"][0], d.get("line", 0)
        yield from _includes(d.get("block", []))


def _check_files(path: Path) -> None:
    """Refuse a file of the include graph that is not a regular file of sane size, before
    crossplane opens it: it would block on a FIFO and read /dev/zero forever.

    The includes are resolved as crossplane resolves them (relative to the config's directory,
    globs sorted); a file that cannot be opened is left to crossplane, which reports it as nginx
    would. Each file is read once (the set), so a loop ends here; the reader reports it.
    """
    root = os.path.dirname(str(path))
    queue: list[tuple[str, str | None]] = [(str(path), None)]
    seen = {str(path)}
    for file, at in queue:  # grows while it is read: breadth first, as crossplane reads
        try:
            data = read_config(Path(file), at)
        except OSError:
            continue
        if b"include" not in data:  # most files, and the big ones (maps): no second lexing
            continue
        single = cast(
            _Payload,
            crossplane.parse(file, single=True, catch_errors=True, check_ctx=False),
        )
        for pattern, line in _includes(single["config"][0]["parsed"]):
            full = os.path.join(root, pattern)  # an absolute pattern stays as it is
            names = sorted(glob.glob(full)) if glob.has_magic(full) else [full]
            for name in names:
                if name not in seen:
                    seen.add(name)
                    queue.append((name, f"{file}:{line}"))


def audit(path: Path) -> list[Finding]:
    """Every place in the config at `path`, includes followed, where a snippet is undone."""
    _check_files(path)
    payload = cast(
        _Payload,
        crossplane.parse(str(path), catch_errors=True, check_ctx=True, check_args=True),
    )
    if payload["errors"]:
        return [
            finding(
                "CG401",
                "parse",
                file=e["file"],
                line=e["line"],
                error=e["error"],
                server="nginx",
            )
            for e in payload["errors"]
        ]
    reader = _Reader(payload, path=[payload["config"][0]["file"]])
    root = Block("main", Place(str(path), 1), None)
    reader.read(payload["config"][0]["parsed"], payload["config"][0]["file"], root)
    if reader.loops:
        return reader.loops
    if not any(block.snippets for block in root.walk()):
        return [finding("CG406", "none", file=str(path), server="nginx")]
    return sorted(
        _findings(root, reader.http_parts), key=lambda f: (f.file, f.line or 0, f.rule_id)
    )
