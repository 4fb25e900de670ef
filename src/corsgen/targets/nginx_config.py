"""`corsgen audit`: where a whole nginx config undoes the snippets it includes.

Every file of the config is read once (server_config.ConfigBudget, within limits.py's
MAX_CONFIG_*) and parsed once with crossplane's lexer and analyzer; a file whose line 2 is
corsgen's marker is a corsgen part, and the blocks around each include are what nginx
inherits. Checked on nginx 1.22 (tests/conformance/nginx_contexts_test.py serves each case):

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
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict

from crossplane.analyzer import analyze, enter_block_ctx
from crossplane.errors import NgxParserDirectiveError, NgxParserSyntaxError

# crossplane.parse opens every file itself (a FIFO too) and reads it whole, once per parse: these
# let corsgen lex and shape the bytes it read once, within its bounds. crossplane is pinned.
from crossplane.lexer import _balance_braces, _lex_file_object
from crossplane.parser import _prepare_if_args

from corsgen.errors import Finding
from corsgen.files import decode
from corsgen.marker import parse_marker
from corsgen.rules.table import finding
from corsgen.server_config import ConfigBudget

# Blocks that hold their own add_header, *_hide_header and auth settings.
_SCOPES = ("http", "server", "location", "if", "limit_except")
# The contexts whose directives are kept: the scopes, and the maps the routing model evaluates.
_KEPT = (*_SCOPES, "map")
# What only nginx.conf holds at its top: a file without it is one http {} includes (a site's).
_MAIN_FILE = re.compile(rb"^[ \t]*(?:http|events)\s*\{", re.MULTILINE)
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


@dataclass(frozen=True)
class _File:
    name: str
    parsed: list[_Directive]
    policy: str | None  # the policy of a corsgen part (its marker), None for the user's files
    names: frozenset[str]  # the directives at its top


@dataclass(frozen=True, slots=True)
class Place:
    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(slots=True)  # up to MAX_CONFIG_EXPANDED of them
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

    # What the block inherits, set once for every block by _inherit, top down: the block whose
    # add_headers and *_hide_headers apply here (this one, or the nearest above with any), the
    # auth settings that apply (each directive's nearest), the server it is in (itself too), and
    # the nearest location above it with a snippet.
    headers_src: Block | None = None
    hides_src: Block | None = None
    auth_in: dict[str, tuple[bool, Place]] = field(default_factory=dict)
    server: Block | None = None
    outer: Block | None = None

    def walk(self) -> Iterator[Block]:
        """This block and every block in it, in the order they are written (no recursion: blocks
        nest up to MAX_CONFIG_DEPTH, and a generator per level costs each block that much)."""
        stack = [self]
        while stack:
            block = stack.pop()
            yield block
            stack.extend(reversed(block.children))

    def headers_from(self) -> Block | None:
        """The block whose add_headers apply here: this one, or the nearest above with any."""
        return self.headers_src

    def hides_from(self) -> Block | None:
        return self.hides_src

    def auth_here(self) -> tuple[str, Place] | None:
        """The auth directive that applies to this block, if any is on."""
        for name in _AUTH:
            setting = self.auth_in.get(name)
            if setting is not None and setting[0]:
                return name, setting[1]
        return None


def _inherit(root: Block) -> None:
    """Set what each block inherits from those above it, once, each from its parent's: linear
    in the blocks however deep they nest."""
    for block in root.walk():
        up = block.parent
        mine = bool(block.headers or block.snippets)
        block.headers_src = block if mine else up.headers_src if up else None
        mine = bool(block.hides or block.snippets)
        block.hides_src = block if mine else up.hides_src if up else None
        inherited = up.auth_in if up else {}
        block.auth_in = {**inherited, **block.auth} if block.auth else inherited
        block.server = block if block.kind == "server" else up.server if up else None
        if up is not None:
            snippet_here = up.kind == "location" and bool(up.snippets)
            block.outer = up if snippet_here else up.outer


@dataclass
class _Loader:
    """The config and every file it includes, each read once (server_config, within the run's
    bounds) and parsed once, as crossplane.parse reads them: includes relative to the config's
    directory, globs sorted, each file in the context of its first include."""

    root: str  # the config's directory
    budget: ConfigBudget
    files: list[_File] = field(default_factory=list)
    errors: list[Finding] = field(default_factory=list)
    # Each file met, by name: its index in files, and what to parse it from until it is parsed:
    # its context and bytes, or why it could not be read.
    index: dict[str, int] = field(default_factory=dict)
    queue: list[tuple[str, tuple[str, ...], bytes | str]] = field(default_factory=list)

    def load(self, path: str, ctx: tuple[str, ...] | None = ()) -> None:
        """Read the config at `path` as nginx reads its main file (ctx ()), as a file included in
        http {} (ctx ("http",): a site's file, server {} at its top), or, None, as its top level
        says: a main file has http {} or events {}."""
        self.add(path, (), None, required=False)
        if ctx is None:
            name, _, data = self.queue[0]
            main = isinstance(data, str) or _MAIN_FILE.search(data) is not None
            self.queue[0] = (name, () if main else ("http",), data)
        else:
            self.queue[0] = (self.queue[0][0], ctx, self.queue[0][2])
        while len(self.files) < len(self.queue):  # breadth first, as crossplane reads
            self.parse(*self.queue[len(self.files)])

    def add(self, name: str, ctx: tuple[str, ...], at: Place | None, required: bool) -> int | None:
        """The index of file `name`, read now if it is new; None for a required include that
        cannot be read (nginx refuses it where it is included)."""
        if name in self.index:
            return self.index[name]
        try:
            data: bytes | str = self.budget.read(Path(name), None if at is None else str(at))
        except OSError as exc:
            if required and at is not None:
                self.errors.append(_parse_error(at.file, at.line, str(exc)))
                return None
            data = str(exc)
        self.index[name] = len(self.queue)
        self.queue.append((name, ctx, data))
        return self.index[name]

    def parse(self, name: str, ctx: tuple[str, ...], data: bytes | str) -> None:
        self.queue[len(self.files)] = (name, ctx, b"")  # read once: its bytes may go now
        parsed: list[_Directive] = []
        text = ""
        if isinstance(data, str):
            self.errors.append(_parse_error(name, None, data))
        else:
            text = decode(data, errors="replace")
            del data  # the text alone, while it is parsed
            try:
                parsed = self.block(_tokens(text, name), name, ctx, 0, _kept(ctx))
            except NgxParserSyntaxError as exc:
                self.errors.append(_parse_error(name, exc.lineno, str(exc)))
            except StopIteration:  # the file ends inside a directive
                error = f'unexpected end of file, expecting ";" or "}}" in {name}'
                self.errors.append(_parse_error(name, None, error))
        mark = parse_marker("\n".join(text.split("\n", 2)[:2]) + "\n")
        names = frozenset(d["directive"] for d in parsed)
        self.files.append(_File(name, parsed, None if mark is None else mark.policy, names))

    def block(
        self, tokens: _Tokens, name: str, ctx: tuple[str, ...], depth: int, keep: bool
    ) -> list[_Directive]:
        """The directives up to the end of this block, as crossplane's parser shapes them; all of
        them checked and their includes followed, but only those a reader walks kept (the blocks
        of the scopes and maps: the entries of geo, types or split_clients would cost memory for
        nothing)."""
        parsed: list[_Directive] = []
        for token, line, quoted in tokens:
            if token == "}" and not quoted:
                break
            if token.startswith("#") and not quoted:
                continue
            stmt: _Directive = {"directive": _unescaped(token), "line": line, "args": []}
            args, room = stmt["args"], self.budget.room()
            token, _, quoted = next(tokens)
            while token not in ("{", ";", "}") or quoted:
                if quoted or not token.startswith("#"):
                    args.append(_unescaped(token))
                    if len(args) >= room:
                        self.budget.keep(len(args) + 1, f"{name}:{line}")
                token, _, quoted = next(tokens)
            if stmt["directive"] == "if":
                _prepare_if_args(stmt)
            try:
                analyze(fname=name, stmt=stmt, term=token, ctx=ctx, check_ctx=True, check_args=True)
            except NgxParserDirectiveError as exc:
                self.errors.append(_parse_error(name, exc.lineno, str(exc)))
                if exc.strerror.endswith(' is not terminated by ";"'):
                    if token == "}" or quoted:
                        break
                    _skip_block(tokens)
                continue
            if stmt["directive"] == "include":
                stmt["includes"] = self.include(args[0], Place(name, line), ctx)
            if token == "{" and not quoted:
                self.budget.nest(depth + 1, f"{name}:{line}", "blocks")
                inner = enter_block_ctx(stmt, ctx)
                stmt["block"] = self.block(tokens, name, inner, depth + 1, keep and _kept(inner))
            if keep:
                parsed.append(stmt)
                self.budget.parse(1, name, "directives")
                self.budget.keep(len(args) + 1, name)
        return parsed

    def include(self, pattern: str, at: Place, ctx: tuple[str, ...]) -> list[int]:
        full = os.path.join(self.root, pattern)  # an absolute pattern stays as it is
        if not glob.has_magic(full):
            return [i for i in [self.add(full, ctx, at, required=True)] if i is not None]
        found = (self.add(n, ctx, at, required=False) for n in self.budget.glob(full, str(at)))
        return [i for i in found if i is not None]


_Tokens = Iterator[tuple[str, int, bool]]  # crossplane's: text, line, whether it was quoted
# The escapes nginx reads in every word, quoted or not (ngx_conf_read_token): \\ \" \' are the
# character, \t \r \n the control ones; any other backslash stays (a regex's \. is \.).
# crossplane leaves them as written: corsgen's "~^https://app\\.example\\.com$" is \. to nginx.
_ESCAPE = re.compile(r"\\([\\\"'trn])")
_ESCAPED = {"t": "\t", "r": "\r", "n": "\n"}


def _unescaped(token: str) -> str:
    if "\\" not in token:
        return token
    return _ESCAPE.sub(lambda m: _ESCAPED.get(m[1], m[1]), token)


def _tokens(text: str, file: str) -> _Tokens:
    tokens: _Tokens = _balance_braces(_lex_file_object([text]), file)
    return tokens


def _kept(ctx: tuple[str, ...]) -> bool:
    """Whether the reader walks the directives of this context (the main one, or a scope's)."""
    return not ctx or ctx[-1] in _KEPT


def _skip_block(tokens: _Tokens) -> None:
    """Pass the rest of a block that is not read (after an error), nested blocks too."""
    depth = 1
    for token, _, quoted in tokens:
        if not quoted and token in "{}":
            depth += 1 if token == "{" else -1
            if depth == 0:
                return


def _parse_error(file: str, line: int | None, error: str) -> Finding:
    return finding("CG401", "parse", file=file, line=line, error=error, server="nginx")


@dataclass
class _Reader:
    files: list[_File]
    budget: ConfigBudget
    http_parts: set[str] = field(default_factory=set)  # policies whose .http.conf is in http {}
    # The files on the include path being read: one met again includes itself without end.
    path: list[int] = field(default_factory=lambda: [0])
    loops: list[Finding] = field(default_factory=list)
    # (block, file) for each file read into a block: one included there again would only repeat
    # what it added (a diamond of includes), and is read once per block.
    read_into: set[tuple[int, int]] = field(default_factory=set)

    def read(self, directives: list[_Directive], file: str, block: Block, depth: int) -> None:
        self.budget.walk(len(directives), file, "directives")
        self.budget.nest(depth, file, "includes and blocks")
        for d in directives:
            name, args, place = d["directive"], d.get("args", []), Place(file, d.get("line", 0))
            if name == "include":
                for index in d.get("includes", []):
                    included = self.files[index]
                    if index in self.path:
                        self.loops.append(_finding("CG401", "loop", place, file=included.name))
                    elif included.policy is not None:
                        self.part(included.policy, included.names, place, block)
                    elif (id(block), index) not in self.read_into:
                        self.read_into.add((id(block), index))
                        self.path.append(index)
                        self.read(included.parsed, included.name, block, depth + 1)
                        self.path.pop()
            elif name in _SCOPES and "block" in d:
                named = name == "location" and bool(args) and args[0].startswith("@")
                child = Block(name, place, block, args[0] if named else "")
                block.children.append(child)
                self.read(d["block"], file, child, depth + 1)
            elif name == "add_header" and args:
                block.headers.append((args[0], place))
            elif name in _HIDES:
                block.hides.append(place)
            elif name in _AUTH and args:
                block.auth[name] = (args[0] != "off", place)
            elif name in _HANDOFFS and args and args[-1].startswith("@"):
                block.handoffs.append((name, args[-1], place))

    def part(self, policy: str, names: frozenset[str], place: Place, block: Block) -> None:
        """A corsgen part included here: its http part (maps) or its snippet."""
        if "map" in names:  # the http part, however the user renamed the file
            if block.kind == "http":
                self.http_parts.add(policy)
        elif "add_header" in names:  # the snippet; the map hash sizes are neither
            block.snippets.append((policy, place))


def _findings(root: Block, http_parts: set[str]) -> Iterator[Finding]:
    missing: set[str] = set()
    named: dict[int, dict[str, Block]] = {}  # each server's named locations, found once
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
        lost: list[tuple[str, Place]] = []  # the headers above the snippets here
        if block.snippets and above is not None and above.headers:
            mine = {n.lower() for n, _ in block.headers}
            lost = [(n, at) for n, at in above.headers if n.lower() not in mine]
        for policy, include in block.snippets:
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
        yield from _handoffs(block, named)


def _handoffs(block: Block, named: dict[int, dict[str, Block]]) -> Iterator[Finding]:
    """A named location that answers for a snippet's location without the snippet's headers.

    An internal redirect to @name is served with the add_header lines of @name and the blocks
    above it, not those of the location that redirected: the CORS headers are lost there.
    """
    source = block.headers_from()
    server = block.server
    if source is None or not source.snippets or server is None:
        return
    policy, include = source.snippets[0]
    if block.handoffs and id(server) not in named:
        named[id(server)] = {}
        for b in server.walk():
            named[id(server)].setdefault(b.name, b)
    for directive, target, at in block.handoffs:
        location = named[id(server)].get(target)
        answers = location.headers_from() if location is not None else None
        if location is not None and (answers is None or not answers.snippets):
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
    server = block.parent.server if block.parent else None
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
    outer = block.outer
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


def audit(path: Path) -> list[Finding]:
    """Every place in the config at `path`, includes followed, where a snippet is undone."""
    budget = ConfigBudget()
    config = _Loader(os.path.dirname(str(path)), budget)
    config.load(str(path))
    if config.errors:
        return config.errors
    reader = _Reader(config.files, budget)
    root = Block("main", Place(str(path), 1), None)
    reader.read(config.files[0].parsed, config.files[0].name, root, 0)
    del config
    reader.files = []  # the parsed directives, now in the blocks, go before the findings
    if reader.loops:
        return reader.loops
    _inherit(root)
    if not any(block.snippets for block in root.walk()):
        return [finding("CG406", "none", file=str(path), server="nginx")]
    return sorted(
        _findings(root, reader.http_parts), key=lambda f: (f.file, f.line or 0, f.rule_id)
    )
