"""`corsgen verify --config` for Apache httpd: where a whole config undoes the snippets it includes.

The config is read with the structural check's lexer, following Include and IncludeOptional
(globs, relative to ServerRoot). A file whose line 2 is corsgen's marker is a snippet. What is
checked, each proven on httpd 2.4 by the conformance suite:

- The snippet needs mod_headers, mod_setenvif, mod_rewrite and mod_authz_core.
- Inside <Directory>, <Location> or <Files> mod_rewrite runs after authentication: a snippet
  without the <If> grant (rendered before corsgen answered preflights there) sends them into auth.
- mod_rewrite refuses to run where Options turns FollowSymLinks off: the preflight gets 403.
- A snippet at the top of a <VirtualHost> applies to every path of it: a second policy in the
  same virtual host answers nothing.
"""

from __future__ import annotations

import glob
import itertools
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from corsgen.errors import CorsgenError, Finding, VerifyError
from corsgen.fsio import ConfigBudget, decode_config, shown
from corsgen.marker import parse
from corsgen.rulebook import finding
from corsgen.targets.lexer import Line, split_lines

SERVER = "Apache httpd"
NEEDED = ("headers", "setenvif", "rewrite", "authz_core")
_PER_DIRECTORY = ("Directory", "DirectoryMatch", "Location", "LocationMatch", "Files", "FilesMatch")
_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_RUN = 1 << 18  # characters lexed at a time


@dataclass(frozen=True)
class Snippet:
    policy: str
    at: str  # file:line of the Include
    sections: tuple[str, ...]  # the sections around it, outermost first: "VirtualHost", ...
    options: tuple[tuple[str, str], ...]  # the Options lines of those sections: (value, file:line)
    grants: bool  # renders the <If> grant for per-directory contexts
    # Which opening of its outermost section it is in (-1: none): name-based virtual hosts share
    # the text of <VirtualHost *:443>.
    host: int = -1


@dataclass(frozen=True)
class _Source:
    """One file, read and lexed once: the user's lines, or what a corsgen snippet is."""

    lines: list[Line]
    policy: str | None = None  # a corsgen snippet's
    apache: bool = False  # the snippet is Apache's (not another target's)
    grants: bool = False  # it renders the <If> grant for per-directory contexts


# A section's Options lines, numbered: the number and how many lines say what it holds.
_Level = tuple[int, list[tuple[str, str]]]


@dataclass
class _Reader:
    root: Path
    snippets: list[Snippet] = field(default_factory=list)
    modules: set[str] = field(default_factory=set)
    # Each <Directory PATH> section's Options lines: httpd merges them by path, not by nesting.
    directories: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    problems: list[Finding] = field(default_factory=list)
    defines: dict[str, str] = field(default_factory=dict)  # Define NAME VALUE, read so far
    budget: ConfigBudget = field(default_factory=ConfigBudget)
    sources: dict[Path, _Source] = field(default_factory=dict)
    # The files on the include path being read: one met again includes itself without end.
    path: list[Path] = field(default_factory=list)
    # What a file's reading depends on besides its sections and Options: changed when a Define
    # gives a name a new value or ServerRoot moves. A file already read in the same state would
    # only add what it added then (a diamond of includes): it is read once per state.
    state: int = 0
    read_in: set[tuple[object, ...]] = field(default_factory=set)
    levels: itertools.count[int] = field(default_factory=itertools.count)

    def read(self, path: Path, sections: list[str], options: list[_Level], depth: int = 0) -> None:
        lines = self.source(path).lines
        self.budget.walk(len(lines), str(path), "lines")
        for line in lines:
            name, at = line.words[0], f"{path}:{line.number}"
            args = [self.substitute(word, at) for word in line.words[1:]]
            lower = name.lower()
            if lower.startswith("</"):
                if sections:
                    sections.pop()
                    options.pop()
            elif lower.startswith("<"):
                # "<Directory /srv/www>" as "Directory /srv/www": the kind and what it names.
                self.budget.nest(len(sections) + 1, at, "sections")
                sections.append(" ".join(line.words)[1:].removesuffix(">").strip())
                options.append((next(self.levels), []))
            elif lower == "define" and args:
                value = args[1] if len(args) > 1 else ""
                if self.defines.get(args[0]) != value:
                    self.defines[args[0]] = value
                    self.state += 1
            elif lower == "serverroot" and args:
                self.root = Path(args[0])
                self.state += 1
            elif lower == "loadmodule" and args:
                self.modules.add(args[0].removesuffix("_module"))
            elif lower == "options" and options:
                options[-1][1].append((" ".join(args), at))
                section = sections[-1].split(maxsplit=1)
                if section[0] == "Directory" and len(section) == 2:
                    path_key = section[1].strip('"').rstrip("/")
                    self.directories.setdefault(path_key, []).append((" ".join(args), at))
            # A variable neither Define nor the environment sets here is set where httpd starts
            # (Debian's envvars, -D): the include cannot be followed, and is no error of the config.
            elif lower in ("include", "includeoptional") and args and not _VARIABLE.search(args[0]):
                for included in self.expand(args[0], lower == "include", at):
                    self.include(included, at, sections, options, depth + 1)

    def source(self, path: Path, at: str | None = None) -> _Source:
        """The file at path, read and lexed the first time it is met."""
        if path not in self.sources:
            try:
                text = decode_config(self.budget.read(path, at))
            except OSError as exc:
                raise CorsgenError(f"cannot read {shown(path)}: {exc.strerror or exc}") from None
            mark = parse(text) if at is not None else None  # the config itself is the user's
            if mark is None:
                self.sources[path] = _Source(self.lex(text, path))
            else:
                apache = "SetEnvIf Origin" in text
                self.sources[path] = _Source([], mark.policy, apache, "<If " in text)
        return self.sources[path]

    def lex(self, text: str, path: Path) -> list[Line]:
        """split_lines, 256 KiB at a time, each run counted: a file of more lines than a run
        reads is refused before the rest of it is lexed (1.2 GB of lines for 64 MiB)."""
        lines: list[Line] = []
        start, before = 0, 0  # where the next run starts, and the lines before it
        while start < len(text):
            end = text.find("\n", start + _RUN) + 1 or len(text)
            run = text[start:end]
            # A line of more than a run (no config has one) is refused before it is split if
            # it may hold more words than a run keeps: at most one word a blank or tab.
            words = run.count(" ") + run.count("\t") + 1 if len(run) > 2 * _RUN else 0
            if words > self.budget.room():
                self.budget.keep(words, str(path))
            try:
                found = split_lines(run, path.name)
            except VerifyError as exc:
                number = None if exc.line is None else exc.line + before
                raise VerifyError(exc.msg, exc.file, number) from None
            lines += [Line(line.number + before, line.words) for line in found] if before else found
            self.budget.parse(len(found), str(path), "lines")
            self.budget.keep(sum(len(line.words) for line in found), str(path))
            before += len(run.splitlines())
            start = end
        return lines

    def substitute(self, word: str, at: str) -> str:
        """word with each ${NAME} httpd would replace replaced: Define first, then environment."""
        if "${" not in word:
            return word

        def value(match: re.Match[str]) -> str:
            found = self.defines.get(match[1], os.environ.get(match[1]))
            if found is None:
                return match[0]
            self.budget.substitute(len(found), at, match[1])
            return found

        return _VARIABLE.sub(value, word)

    def expand(self, pattern: str, required: bool, at: str) -> list[Path]:
        full = pattern if Path(pattern).is_absolute() else str(self.root / pattern)
        # httpd reads every file below a directory it is told to include; a glob's directories
        # it skips. Anything else that exists is read, and refused by name if it is no file.
        if glob.has_magic(full):
            return [Path(p) for p in self.budget.glob(full, at) if not os.path.isdir(p)]
        if os.path.isdir(full):
            below = self.budget.listed((str(p) for p in Path(full).rglob("*")), full, at)
            return [Path(p) for p in below if not os.path.isdir(p)]
        if os.path.lexists(full):
            return [Path(full)]
        if required:
            self.problems.append(
                finding(
                    "CG401",
                    "parse",
                    file=at,
                    error=f"Include {pattern}: no such file",
                    server=SERVER,
                )
            )
        return []

    def include(
        self,
        path: Path,
        at: str,
        sections: list[str],
        options: list[_Level],
        depth: int,
    ) -> None:
        if path in self.path:
            self.problems.append(
                finding("CG401", "loop", file=at, fields={"file": str(path), "server": SERVER})
            )
            return
        self.budget.nest(depth, at, "includes")
        source = self.source(path, at)
        if source.policy is None:
            state = (path, self.root, self.state, tuple(sections), _options_key(options))
            if state in self.read_in:
                return
            self.read_in.add(state)
            self.path.append(path)
            self.read(path, sections, options, depth)
            self.path.pop()
        elif source.apache:  # another target's snippet is not for this server
            flat = tuple(o for _, level in options for o in level)
            host = options[0][0] if options else -1
            snippet = Snippet(source.policy, at, tuple(sections), flat, source.grants, host)
            self.snippets.append(snippet)


def _options_key(options: list[_Level]) -> tuple[tuple[int, int], ...]:
    """What the Options stack holds: each level only grows, so its number and length say it."""
    return tuple((number, len(level)) for number, level in options)


def _per_directory(snippet: Snippet) -> str | None:
    return next((s for s in reversed(snippet.sections) if s.split()[0] in _PER_DIRECTORY), None)


def _options(
    snippet: Snippet, directories: dict[str, list[tuple[str, str]]]
) -> list[tuple[str, str]]:
    """The Options lines that apply where the snippet is, outermost first: those of every
    <Directory> above its own by path, then those of the sections around it."""
    where = next((s for s in reversed(snippet.sections) if s.startswith("Directory ")), None)
    own = where.split(maxsplit=1)[1].strip('"').rstrip("/") if where else None
    parts = own.split("/") if own is not None else []
    above = ["/".join(parts[:n]) for n in range(1, len(parts))]  # "", "/srv", "/srv/www"
    return [o for path in above for o in directories.get(path, [])] + list(snippet.options)


def _rewrite_forbidden(options: list[tuple[str, str]]) -> tuple[str, str] | None:
    """The Options line, if any, that leaves mod_rewrite off where the snippet is."""
    for value, at in reversed(options):
        words = value.split()
        on = {w.lstrip("+") for w in words if not w.startswith("-")}
        if {"FollowSymLinks", "SymLinksIfOwnerMatch", "All"} & on:
            return None
        if "None" in words or "-FollowSymLinks" in words or not any(w[0] in "+-" for w in words):
            return value, at
    return None


def audit(path: Path) -> list[Finding]:
    reader = _Reader(path.parent, path=[path])
    try:
        reader.read(path, [], [])
    except VerifyError as exc:
        return [finding("CG401", "parse", file=str(path), error=str(exc), server=SERVER)]
    out = list(reader.problems)
    if not reader.snippets:
        return [*out, finding("CG406", "none", file=str(path))]
    missing = [m for m in NEEDED if m not in reader.modules]
    if reader.modules and missing:
        module = ", ".join(f"mod_{m}" for m in missing)
        out.append(finding("CG407", "missing", file=reader.snippets[0].at, module=module))
    # Each virtual host's snippets, and the first at its top, which answers every preflight
    # there: each other snippet of the host is reported once, against it.
    hosts: dict[int, list[Snippet]] = {}
    first: dict[int, Snippet] = {}
    for snippet in reader.snippets:
        hosts.setdefault(snippet.host, []).append(snippet)
        if _per_directory(snippet) is None:
            first.setdefault(snippet.host, snippet)
    for snippet in reader.snippets:
        answered = hosts[snippet.host] if first.get(snippet.host) is snippet else []
        out += _check(snippet, answered, _options(snippet, reader.directories))
    return out


def _check(
    snippet: Snippet, answered: list[Snippet], options: list[tuple[str, str]]
) -> list[Finding]:
    out = []
    where = _per_directory(snippet)
    if where is not None and not snippet.grants:
        out.append(
            finding(
                "CG404",
                "rewrite-after-auth",
                file=snippet.at,
                policy=snippet.policy,
                section=f"<{where}>",
                server=SERVER,
            )
        )
    forbidden = _rewrite_forbidden(options) if where is not None else None
    if forbidden is not None:
        value, at = forbidden
        out.append(
            finding(
                "CG404",
                "rewrite-forbidden",
                file=snippet.at,
                policy=snippet.policy,
                options=value,
                at=at,
            )
        )
    # At the top of a virtual host, the first snippet answers for every path of it.
    for other in (o for o in answered if o is not snippet):
        out.append(
            finding(
                "CG404",
                "server-wide",
                file=other.at,
                policy=other.policy,
                other=snippet.policy,
                at=snippet.at,
                server=SERVER,
            )
        )
    return out
