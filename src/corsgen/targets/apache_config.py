"""`corsgen audit` for Apache httpd: where a whole config undoes the snippets it includes.

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
from corsgen.files import shown
from corsgen.marker import parse_marker
from corsgen.rules.table import finding
from corsgen.server_config import ConfigBudget, decode_config
from corsgen.targets.lexer import Line, split_lines

SERVER = "Apache httpd"
NEEDED = ("headers", "setenvif", "rewrite", "authz_core")
_PER_DIRECTORY = ("Directory", "DirectoryMatch", "Location", "LocationMatch", "Files", "FilesMatch")
_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_RUN = 1 << 18  # characters lexed at a time


@dataclass(eq=False)
class _Section:
    """One opening of a section (<VirtualHost>, <Directory>, ...), linked to the one around it:
    a snippet keeps the innermost, so thousands of snippets share what is above them instead of
    each copying it (20,000 Options lines around 20,000 snippets took 3.17 GB)."""

    name: str  # "<Directory /srv/www>" as "Directory /srv/www": the kind and what it names
    above: _Section | None
    number: int  # which opening: name-based virtual hosts share the text of <VirtualHost *:443>
    key: int  # what this section and those above hold so far, as a number (see _Reader.key)
    host: int  # the number of the outermost section's opening
    per_directory: str | None  # the innermost <Directory>, <Location> or <Files> around it
    directory: str | None  # the path of the innermost <Directory PATH> around it
    # The latest Options line here, or above before this section opened, that says whether
    # FollowSymLinks is on: (value, file:line, whether it leaves mod_rewrite off).
    decided: tuple[str, str, bool] | None
    options: int = 0  # the Options lines of this section so far
    level: int = 1  # how deep it is: 1 outermost

    def names(self) -> tuple[str, ...]:
        """The sections around, outermost first."""
        out = []
        section: _Section | None = self
        while section is not None:
            out.append(section.name)
            section = section.above
        return tuple(reversed(out))


@dataclass(frozen=True)
class Snippet:
    policy: str
    at: str  # file:line of the Include
    section: _Section | None  # the innermost section around it
    # The Options line of those sections before the include that decides whether mod_rewrite
    # runs here (value, file:line, whether it leaves it off), None when none does.
    decided: tuple[str, str, bool] | None
    grants: bool  # renders the <If> grant for per-directory contexts

    @property
    def host(self) -> int:
        """Which opening of its outermost section it is in (-1: none)."""
        return -1 if self.section is None else self.section.host

    @property
    def per_directory(self) -> str | None:
        return None if self.section is None else self.section.per_directory


@dataclass(frozen=True)
class _Source:
    """One file, read and lexed once: the user's lines, or what a corsgen snippet is."""

    lines: list[Line]
    words: int = 0  # in all its lines
    policy: str | None = None  # a corsgen snippet's
    apache: bool = False  # the snippet is Apache's (not another target's)
    grants: bool = False  # it renders the <If> grant for per-directory contexts


# The directives whose arguments matter here, the only ones with ${NAME} written out.
_READ = frozenset(("define", "serverroot", "loadmodule", "options", "include", "includeoptional"))


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
    # (the key of the section above, a section's opening, its Options lines so far) as one
    # number: the sections and Options around an include in a key of constant size.
    keys: dict[tuple[int, int, int], int] = field(default_factory=dict)

    def key(self, above: _Section | None, number: int, options: int) -> int:
        return self.keys.setdefault(
            (-1 if above is None else above.key, number, options), len(self.keys)
        )

    def read(self, path: Path, section: _Section | None, depth: int = 0) -> None:
        source = self.source(path)
        self.budget.walk(len(source.lines), str(path), "lines")
        self.budget.walk_words(source.words, str(path))
        for line in source.lines:
            name, at = line.words[0], f"{path}:{line.number}"
            lower = name.lower()
            if lower.startswith("</"):
                if section is not None:
                    section = section.above
                continue
            if lower.startswith("<"):
                section = self.open(" ".join(line.words)[1:].removesuffix(">").strip(), section, at)
                continue
            if lower not in _READ:
                continue
            args = [self.substitute(word, at) for word in line.words[1:]]
            if lower == "define" and args:
                value = args[1] if len(args) > 1 else ""
                if self.defines.get(args[0]) != value:
                    self.defines[args[0]] = value
                    self.state += 1
            elif lower == "serverroot" and args:
                self.root = Path(args[0])
                self.state += 1
            elif lower == "loadmodule" and args:
                self.modules.add(args[0].removesuffix("_module"))
            elif lower == "options" and section is not None:
                value = " ".join(args)
                section.options += 1
                section.key = self.key(section.above, section.number, section.options)
                forbids = _forbids(value)
                if forbids is not None:
                    section.decided = (value, at, forbids)
                kind = section.name.split(maxsplit=1)
                if kind[0] == "Directory" and len(kind) == 2:
                    path_key = kind[1].strip('"').rstrip("/")
                    self.directories.setdefault(path_key, []).append((value, at))
            # A variable neither Define nor the environment sets here is set where httpd starts
            # (Debian's envvars, -D): the include cannot be followed, and is no error of the config.
            elif lower in ("include", "includeoptional") and args and not _VARIABLE.search(args[0]):
                for included in self.expand(args[0], lower == "include", at):
                    self.include(included, at, section, depth + 1)

    def open(self, name: str, above: _Section | None, at: str) -> _Section:
        """A section opened inside `above`."""
        level = 1 if above is None else above.level + 1
        self.budget.nest(level, at, "sections")
        number = next(self.levels)
        kind = name.split(maxsplit=1) or [""]
        own = kind[1].strip('"').rstrip("/") if kind[0] == "Directory" and len(kind) == 2 else None
        if above is None:
            return _Section(
                name,
                None,
                number,
                self.key(None, number, 0),
                number,
                name if kind[0] in _PER_DIRECTORY else None,
                own,
                None,
            )
        return _Section(
            name,
            above,
            number,
            self.key(above, number, 0),
            above.host,
            name if kind[0] in _PER_DIRECTORY else above.per_directory,
            own if own is not None else above.directory,
            above.decided,
            level=level,
        )

    def source(self, path: Path, at: str | None = None) -> _Source:
        """The file at path, read and lexed the first time it is met."""
        if path not in self.sources:
            try:
                text = decode_config(self.budget.read(path, at))
            except OSError as exc:
                raise CorsgenError(f"cannot read {shown(path)}: {exc.strerror or exc}") from None
            mark = parse_marker(text) if at is not None else None  # the config itself is the user's
            if mark is None:
                lines = self.lex(text, path)
                self.sources[path] = _Source(lines, sum(len(line.words) for line in lines))
            else:
                apache = "SetEnvIf Origin" in text
                self.sources[path] = _Source([], 0, mark.policy, apache, "<If " in text)
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

    def include(self, path: Path, at: str, section: _Section | None, depth: int) -> None:
        # Each include is a line of the walk, even of a file read already or an empty one: each
        # may hold the state of the walk (a Define before it) that a key is kept for.
        self.budget.walk(1, at, "lines")
        if path in self.path:
            self.problems.append(
                finding("CG401", "loop", file=at, fields={"file": str(path), "server": SERVER})
            )
            return
        self.budget.nest(depth, at, "includes")
        source = self.source(path, at)
        if source.policy is None:
            state = (path, self.root, self.state, -1 if section is None else section.key)
            if state in self.read_in:
                return
            self.read_in.add(state)
            self.path.append(path)
            self.read(path, section, depth)
            self.path.pop()
        elif source.apache:  # another target's snippet is not for this server
            decided = None if section is None else section.decided
            self.snippets.append(Snippet(source.policy, at, section, decided, source.grants))


def _forbids(value: str) -> bool | None:
    """Whether an Options line leaves mod_rewrite off (FollowSymLinks off), or None when it
    says nothing of it (+Indexes: what is above holds)."""
    words = value.split()
    on = {w.lstrip("+") for w in words if not w.startswith("-")}
    if {"FollowSymLinks", "SymLinksIfOwnerMatch", "All"} & on:
        return False
    if "None" in words or "-FollowSymLinks" in words or not any(w[0] in "+-" for w in words):
        return True
    return None


def _rewrite_forbidden(
    snippet: Snippet,
    directories: dict[str, list[tuple[str, str]]],
    above: dict[str, tuple[str, str, bool] | None],
) -> tuple[str, str] | None:
    """The Options line, if any, that leaves mod_rewrite off where the snippet is: the last that
    decides of the sections around it, else of every <Directory> above its own by path (looked
    up once per path, in `above`)."""
    decided = snippet.decided
    own = None if snippet.section is None else snippet.section.directory
    if decided is None and own is not None:
        if own not in above:
            parts = own.split("/")
            paths = ["/".join(parts[:n]) for n in range(1, len(parts))]  # "", "/srv", "/srv/www"
            above[own] = next(
                (
                    (value, at, forbids)
                    for path in reversed(paths)
                    for value, at in reversed(directories.get(path, []))
                    if (forbids := _forbids(value)) is not None
                ),
                None,
            )
        decided = above[own]
    if decided is None or not decided[2]:
        return None
    return decided[0], decided[1]


def audit(path: Path) -> list[Finding]:
    reader = _Reader(path.parent, path=[path])
    try:
        reader.read(path, None)
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
        if snippet.per_directory is None:
            first.setdefault(snippet.host, snippet)
    above: dict[str, tuple[str, str, bool] | None] = {}
    for snippet in reader.snippets:
        answered = hosts[snippet.host] if first.get(snippet.host) is snippet else []
        out += _check(snippet, answered, _rewrite_forbidden(snippet, reader.directories, above))
    return out


def _check(
    snippet: Snippet, answered: list[Snippet], forbidden: tuple[str, str] | None
) -> list[Finding]:
    out = []
    where = snippet.per_directory
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
    if where is not None and forbidden is not None:
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
    # At the top of a virtual host, the first snippet answers for every path of it: another
    # policy's snippet there answers nothing (the same policy's answers as it would).
    for other in (o for o in answered if o.policy != snippet.policy):
        out.append(
            finding(
                "CG404",
                "virtualhost-wide",
                file=other.at,
                policy=other.policy,
                other=snippet.policy,
                at=snippet.at,
            )
        )
    return out
