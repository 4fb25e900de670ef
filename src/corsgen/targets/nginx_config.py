"""A user's whole nginx config read as nginx reads it, for `corsgen audit` and `corsgen import`:
every file read once (server_config.ConfigBudget, within limits.py's MAX_CONFIG_*) and parsed once
with crossplane's lexer and analyzer, includes followed; a file whose line 2 is corsgen's marker is
a corsgen part. nginx_blocks.py reads the parsed files into the blocks the routing model
(nginx_routing.py) runs requests through; nginx_structure.py reads what no request shows.
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
from corsgen.routing import Place
from corsgen.rules.table import finding
from corsgen.server_config import ConfigBudget

# The contexts whose directives are kept: the blocks with settings of their own, and the maps the
# routing model evaluates.
_KEPT = ("http", "server", "location", "if", "limit_except", "map")
# What only nginx.conf holds at its top: a file without it is one http {} includes (a site's).
_MAIN_FILE = re.compile(rb"^[ \t]*(?:http|events)\s*\{", re.MULTILINE)


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
