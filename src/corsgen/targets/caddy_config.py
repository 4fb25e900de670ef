"""Reading a Caddyfile as Caddy reads it, for `corsgen audit` and `corsgen import`: its tokens,
{$NAME} substituted, the files and snippets it imports, and the JSON `caddy adapt` makes of it,
which the routing model runs (caddy_routing.py).

Caddy reads what the Caddyfile imports itself, whole, a FIFO too: corsgen reads the imports first,
as Caddy finds them, each within the bounds of server_config.ConfigBudget, and reads at most
MAX_ADAPTED_BYTES of what `caddy adapt` writes.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from corsgen.errors import CorsgenError, escape
from corsgen.files import shown
from corsgen.limits import MAX_ADAPTED_BYTES, MAX_CONFIG_SUBSTITUTED
from corsgen.server_config import ConfigBudget, decode_config

SERVER = "Caddy"
TIMEOUT = 60
# The Caddyfile's tokens as its lexer splits them: quoted, backquoted, comments, the rest.
_HEREDOC = re.compile(r"<<([A-Za-z0-9_-]+)")
_TOKEN = re.compile(r'"[^"\\]*+(?:\\.[^"\\]*+)*+"?|`[^`]*+`?|#[^\n]*+|\S++')
# {$NAME} and {$NAME:default}, which Caddy replaces in every file before it reads a token.
_ENV = re.compile(r"\{\$([^{}:\s]+)(?::([^{}]*))?\}")
_SNIPPET = re.compile(r"&?\((.+)\)")
_ARG = re.compile(r"\{args(?:\[(\d+)\]|\.(\d+))\}")
_ARGS = re.compile(r"\{args\[(\d*):(\d*)\]\}")


def error_lines(output: str) -> list[str]:
    """The lines of Caddy's output worth showing: it logs JSON lines at info level before an
    error, and they only bury it."""
    return [ln for ln in output.splitlines() if ln.strip() and '"level":"info"' not in ln]


@dataclass(frozen=True)
class _Import:
    file: Path  # where it is written: a relative pattern is read from that file's directory
    line: int
    pattern: str
    args: tuple[str, ...]
    depth: int  # the blocks it is in


@dataclass
class _Body:
    """A file's or a snippet's: its imports, and the lines and bytes (of its tokens) Caddy
    splices in where it is imported, and how deep its blocks nest."""

    imports: list[_Import] = field(default_factory=list)
    lines: int = 0
    size: int = 0
    depth: int = 0


@dataclass
class _Scan:
    """What Caddy's parser imports from one file: its body, and each snippet it defines, by name."""

    body: _Body = field(default_factory=_Body)
    snippets: dict[str, _Body] = field(default_factory=dict)


def tokens(text: str) -> Iterator[tuple[str, int, bool]]:
    """The Caddyfile's tokens as written (quotes kept), comments left out, with their line and
    whether each starts a statement: first on its line, or right after a `{`. A heredoc
    (`<<END`, 2.7's) is one token, braces and all, to its END line; one left open ends the
    tokens (Caddy refuses the file), so each byte is read once."""
    line, position, last, last_line = 1, 0, "", 0
    at = 0
    while match := _TOKEN.search(text, at):
        line += text.count("\n", position, match.start())
        position, token, at = match.start(), match[0], match.end()
        if (opened := _HEREDOC.fullmatch(token)) and text.startswith("\n", at):
            end = re.compile(rf"^[ \t]*{re.escape(opened[1])}(?![\w-])", re.MULTILINE)
            closed = end.search(text, at + 1)
            if closed is None:
                return
            token, at = text[position : closed.end()], closed.end()
        if not token.startswith("#"):
            yield token, line, line != last_line or last == "{"
            last, last_line = token, line + token.count("\n")  # a heredoc ends lines later


def _scan(text: str, file: Path, budget: ConfigBudget) -> _Scan:
    """Each import: `import` starting a statement, its pattern and arguments on the same line,
    up to a brace. Caddy replaces {$NAME} in every file before it reads a token."""
    scan = _Scan()
    body = scan.body  # the file's, or the snippet's being read
    words: list[str] | None = None  # an import's, so far
    at, depth, in_snippet, last_line = 0, 0, False, 0
    for token, line, first in tokens(environ(text, file, budget)):
        if words is not None and (line != at or token in ("{", "}")):
            if words:  # `import` alone is Caddy's error to report
                body.imports.append(_Import(file, at, words[0], tuple(words[1:]), depth))
            words = None
        if words is not None:
            words.append(unquoted(token))
            budget.keep(1, f"{file}:{at}")
        elif first and token == "import":
            words, at = [], line
        elif first and depth == 0 and (snippet := _SNIPPET.fullmatch(token)):
            body, in_snippet = scan.snippets.setdefault(snippet[1], _Body()), True
        body.lines += line != last_line
        body.size += len(token) + 1
        depth += {"{": 1, "}": -1}.get(token, 0)
        body.depth = max(body.depth, depth)
        if in_snippet and depth == 0 and token == "}":
            body, in_snippet = scan.body, False
        last_line = line
    if words:
        body.imports.append(_Import(file, at, words[0], tuple(words[1:]), depth))
    return scan


def environ(text: str, file: Path, budget: ConfigBudget) -> str:
    """text with {$NAME} replaced as Caddy replaces it, the bytes written counted against the
    run's MAX_CONFIG_SUBSTITUTED (with Apache's ${NAME}) before the text is built: 20,000
    {$X} of 100 KB each would be 2 GB."""

    def value(match: re.Match[str]) -> str:
        written = os.environ.get(match[1], match[2] or "")
        budget.substituted += len(written)
        if budget.substituted > MAX_CONFIG_SUBSTITUTED:
            raise CorsgenError(
                f"cannot read {shown(file)}: the config holds more than "
                f"{MAX_CONFIG_SUBSTITUTED >> 20} MiB of environment values written into it, the "
                f"most `corsgen audit` reads; write {{${escape(match[1])}}} in fewer places or "
                f"make it shorter (it holds {len(written):,} bytes)"
            )
        return written

    return _ENV.sub(value, text)


def unquoted(token: str) -> str:
    if token[:1] == '"':
        return token[1:].removesuffix('"').replace('\\"', '"')
    return token[1:].removesuffix("`") if token[:1] == "`" else token


def with_args(word: str, args: tuple[str, ...], budget: ConfigBudget, at: str) -> list[str]:
    """word with the import's arguments in place of {args[N]} (and the older {args.N}); a word
    that is only {args[M:N]} is those arguments, each a word. The words and bytes written are
    counted (words kept, bytes spliced) before they are: a snippet passing {args[:]} twice to
    the next doubles them at each level."""
    if variadic := _ARGS.fullmatch(word):
        start, end = (int(n) if n else None for n in variadic.groups())
        chosen = range(len(args))[start:end]
        budget.keep(len(chosen), at)
        budget.splice(sum(len(args[i]) + 1 for i in chosen), at)
        return [args[i] for i in chosen]
    if "{args" not in word:
        return [word]

    def arg(match: re.Match[str]) -> str:
        index = int(match[1] or match[2])
        return args[index] if index < len(args) else match[0]

    matches = list(_ARG.finditer(word))
    budget.splice(sum(len(arg(m)) for m in matches), at)
    return [_ARG.sub(arg, word)]


@dataclass
class _Imports:
    """Every file a Caddyfile imports, and those they import, read as Caddy finds them: relative
    to the importing file, globs matching hidden files too, a snippet's imports with the
    arguments it was imported with. Each file is read once, within the run's bounds; the lines
    are counted each time Caddy splices them in, since it does (a diamond of imports doubles them
    at each level)."""

    budget: ConfigBudget
    scans: dict[str, _Scan] = field(default_factory=dict)
    snippets: dict[str, _Body] = field(default_factory=dict)
    path: list[str] = field(default_factory=list)  # the files and (snippets) being imported

    def read(self, file: Path, text: str) -> _Scan:
        scan = self.scans[os.path.abspath(file)] = _scan(text, file, self.budget)
        for name, body in scan.snippets.items():
            self.snippets.setdefault(name, body)
        return scan

    def follow(self, key: str, body: _Body, args: tuple[str, ...], at: str, depth: int = 0) -> None:
        """Read what body imports, written out where it is imported `depth` blocks deep."""
        if key in self.path:  # a cycle, which Caddy refuses itself
            return
        self.budget.walk(max(1, body.lines), at, "lines")
        self.budget.splice(body.size, at)
        self.budget.nest(len(self.path), at, "imports")
        # Caddy's JSON nests a few levels for each block, and corsgen reads it recursively.
        self.budget.nest(depth + body.depth, at, "blocks")
        self.path.append(key)
        for imp in body.imports:
            at = f"{imp.file}:{imp.line}"
            words = [
                w
                for word in (imp.pattern, *imp.args)
                for w in with_args(word, args, self.budget, at)
            ]
            if not words:
                continue
            pattern, passed = words[0], tuple(words[1:])
            inner = depth + imp.depth
            if pattern in self.snippets:
                self.follow(f"({pattern})", self.snippets[pattern], passed, at, inner)
                continue
            full = os.path.join(os.path.dirname(os.path.abspath(imp.file)), pattern)
            magic = any(c in full for c in "*?[")
            for name in self.budget.glob(full, at, hidden=True) if magic else [full]:
                key = os.path.abspath(name)
                if key not in self.scans:
                    if os.path.isdir(name):
                        continue  # Caddy says so itself
                    try:
                        data = self.budget.read(Path(name), at)
                    except OSError:  # absent or unreadable: Caddy says so too
                        continue
                    self.read(Path(name), decode_config(data))
                self.follow(key, self.scans[key].body, passed, at, inner)
        self.path.pop()


def _read_imports(path: Path, text: str, budget: ConfigBudget) -> None:
    imports = _Imports(budget)
    imports.follow(os.path.abspath(path), imports.read(path, text).body, (), str(path))


def adapt(path: Path, binary: str) -> Mapping[str, Any] | str:
    """The JSON config, or the adapter's error."""
    import resource  # imported here: only `corsgen audit` runs Caddy (CLI start-up time)
    import subprocess
    import tempfile

    def bounded() -> None:  # caddy's own output, on disk, stops past what is read of it
        resource.setrlimit(resource.RLIMIT_FSIZE, (MAX_ADAPTED_BYTES + 1, MAX_ADAPTED_BYTES + 1))

    try:
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            proc = subprocess.run(
                [binary, "adapt", "--config", str(path), "--adapter", "caddyfile"],
                stdout=out,
                stderr=err,
                timeout=TIMEOUT,
                check=False,
                preexec_fn=bounded,
            )
            if os.fstat(out.fileno()).st_size > MAX_ADAPTED_BYTES:
                raise CorsgenError(
                    f"cannot read what {binary} adapt makes of {shown(path)}: more than "
                    f"{MAX_ADAPTED_BYTES >> 20} MiB of JSON, the most `corsgen audit` reads; "
                    "give `corsgen audit` a Caddyfile that imports less (a snippet imported in "
                    "every site is written out in each)"
                )
            out.seek(0)
            stdout = out.read()
            err.seek(max(0, os.fstat(err.fileno()).st_size - 65_536))  # the last lines say it
            stderr = err.read().decode(errors="replace")
    except subprocess.TimeoutExpired:
        # The Caddyfile was read (a regular file); what it imports may be a FIFO or a device.
        raise CorsgenError(
            f"could not adapt {shown(path)} in {TIMEOUT} s ({binary} adapt did not finish); "
            "make sure every file it imports is a regular file"
        ) from None
    except OSError as exc:
        raise CorsgenError(f"{binary} could not run: {exc}") from None
    if proc.returncode != 0:
        lines = error_lines(stderr)
        return " | ".join(lines[-2:]) or f"caddy adapt exited {proc.returncode}"
    config: Mapping[str, Any] = json.loads(stdout)
    return config
