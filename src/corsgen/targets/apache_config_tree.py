"""A user's whole httpd config as a tree of sections, for the routing model (apache_routing.py).

Files are read by apache_config.Reader (the budget, Include and IncludeOptional globs relative to
ServerRoot, Define and ${VAR}); a corsgen snippet's lines are read too (the model runs them), and
the section it is included in remembers it (Snippet).
<IfModule>, <IfDefine> and the like stay in the tree, looked through by directives() and
sections(): <IfModule mod_x.c> holds (a config that is served loads what it names), <IfModule !x>
does not, <IfDefine X> holds when the config Defines X (no -D is known), <IfVersion> holds.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from corsgen.errors import CorsgenError, Finding
from corsgen.files import shown
from corsgen.marker import parse_marker
from corsgen.routing import Place
from corsgen.rules.table import finding
from corsgen.server_config import decode_config
from corsgen.targets.apache_config import SERVER, VARIABLE, Reader
from corsgen.targets.lexer import Line

CONDITIONS = frozenset(("ifmodule", "ifdefine", "ifversion", "ifdirective", "iffile"))


@dataclass(frozen=True)
class Directive:
    name: str  # lower case: httpd's directive names are
    args: tuple[str, ...]
    at: Place


@dataclass(frozen=True)
class Snippet:
    """A corsgen snippet included in a section: its policy, its file, and the Include line."""

    policy: str
    file: str
    include: Place


@dataclass
class Section:
    """<Kind args>...</Kind>: kind in lower case ("virtualhost", "location", "if", "limit"...);
    the top of the config is kind "" (the main server)."""

    kind: str
    args: tuple[str, ...]
    at: Place
    body: list[Directive | Section] = field(default_factory=list)
    snippets: list[Snippet] = field(default_factory=list)  # each included directly here
    holds: bool = True  # a condition (<IfModule !mod_x.c>) that does not: its body is not read
    # What the methods below found, kept: the model asks each request's sections for their
    # directives and inner sections many times, and a virtual host may hold thousands. Found on
    # first use, once the config is read whole (the reader only appends to bodies).
    _items: tuple[Directive | Section, ...] | None = field(
        default=None, init=False, repr=False, compare=False
    )
    _directives: tuple[Directive, ...] | None = field(
        default=None, init=False, repr=False, compare=False
    )
    _sections: dict[tuple[str, ...], tuple[Section, ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def items(self) -> tuple[Directive | Section, ...]:
        """The body, through the conditions that hold."""
        if self._items is None:
            self._items = tuple(self._through())
        return self._items

    def _through(self) -> Iterator[Directive | Section]:
        for item in self.body:
            if isinstance(item, Section) and item.kind in CONDITIONS:
                if item.holds:
                    yield from item.items()
            else:
                yield item

    def directives(self) -> tuple[Directive, ...]:
        if self._directives is None:
            self._directives = tuple(d for d in self.items() if isinstance(d, Directive))
        return self._directives

    def sections(self, *kinds: str) -> tuple[Section, ...]:
        """The sections inside, of these kinds (any kind when none is given)."""
        if kinds not in self._sections:
            self._sections[kinds] = tuple(
                s for s in self.items() if isinstance(s, Section) and (not kinds or s.kind in kinds)
            )
        return self._sections[kinds]


_KIND_TITLES = {"virtualhost": "VirtualHost", "locationmatch": "LocationMatch", "if": "If"}


def title(section: Section) -> str:
    """How httpd's users name a section: <Location /api/>."""
    if not section.kind:
        return "the main server"
    if section.kind == "htaccess":
        return section.at.file
    kind = _KIND_TITLES.get(section.kind, section.kind.title())
    words = " ".join(f'"{a}"' if " " in a or not a else a for a in section.args)
    return f"<{kind} {words}>" if words else f"<{kind}>"


@dataclass
class _Loader:
    reader: Reader
    # Each file lexed once, with the policy of its corsgen marker: a file included many times
    # (a diamond of includes) is read again from here, each time walked within the budget.
    files: dict[Path, tuple[list[Line], str | None]] = field(default_factory=dict)
    expanded: dict[tuple[str, Path, bool], list[Path]] = field(default_factory=dict)
    open_files: set[Path] = field(default_factory=set)  # those on the include path being read

    def load(self, path: Path) -> Section:
        top = Section("", (), Place(str(path), 1))
        self.open_files.add(path)
        self.read(path, [top], 0, None)
        return top

    def holds(self, kind: str, args: tuple[str, ...]) -> bool:
        """Whether a condition's body is read (every other section's is)."""
        if kind not in CONDITIONS or not args:
            return True
        negated, name = args[0].startswith("!"), args[0].lstrip("!")
        if kind == "ifmodule":
            return not negated
        if kind == "ifdefine":
            return (name in self.reader.defines) != negated
        return True

    def lexed(self, path: Path, at: str | None) -> tuple[list[Line], str | None]:
        if path not in self.files:
            try:
                text = decode_config(self.reader.budget.read(path, at))
            except OSError as exc:
                raise CorsgenError(f"cannot read {shown(path)}: {exc.strerror or exc}") from None
            mark = parse_marker(text) if at is not None else None  # the config itself is the user's
            self.files[path] = (self.reader.lex(text, path), None if mark is None else mark.policy)
        return self.files[path]

    def read(self, path: Path, stack: list[Section], depth: int, include: Place | None) -> None:
        reader = self.reader
        lines, policy = self.lexed(path, None if include is None else str(include))
        if policy is not None and include is not None:
            around = next(s for s in reversed(stack) if s.kind not in CONDITIONS)
            around.snippets.append(Snippet(policy, str(path), include))
        reader.budget.walk(len(lines), str(path), "lines")
        reader.budget.walk_words(sum(len(line.words) for line in lines), str(path))
        for line in lines:
            at = Place(str(path), line.number)
            words = line.words
            if any("${" in word for word in words):  # most lines name no variable
                words = tuple(reader.substitute(word, str(at)) for word in words)
            name = words[0].lower()
            if name.startswith("</"):
                if len(stack) > 1:
                    stack.pop()
                continue
            if name.startswith("<"):
                kind = name[1:].removesuffix(">")
                args = tuple(words[1:])
                if args:  # the lexer leaves the > on the last word: <If "expr">
                    args = (*args[:-1], args[-1].removesuffix(">"))
                    args = tuple(a for a in args if a)
                section = Section(kind, args, at, holds=self.holds(kind, args))
                stack[-1].body.append(section)
                stack.append(section)
                reader.budget.nest(len(stack), str(at), "sections")
                continue
            args = tuple(words[1:])
            if name == "serverroot" and args:
                reader.root = Path(args[0])
            elif name == "define" and args:
                reader.defines[args[0]] = args[1] if len(args) > 1 else ""
            if name in ("include", "includeoptional") and args:
                # A variable neither Define nor the environment sets is set where httpd starts
                # (Debian's envvars, -D): the include cannot be followed, and is no error.
                if VARIABLE.search(args[0]):
                    continue
                required = name == "include"
                key = (args[0], reader.root, required)
                if key not in self.expanded:  # globbed once: a missing file is one finding
                    self.expanded[key] = reader.expand(args[0], required, str(at))
                for included in self.expanded[key]:
                    # Each is a line walked, even of an empty file: 20,000 includes of one
                    # under 120 sections are no free walk.
                    reader.budget.walk(1, str(at), "lines")
                    if included in self.open_files:  # as `corsgen audit` reports it
                        fields = {"file": str(included), "server": SERVER}
                        reader.problems.append(
                            finding("CG401", "loop", file=str(at), fields=fields)
                        )
                        continue
                    reader.budget.nest(depth + 1, str(at), "includes")
                    self.open_files.add(included)
                    top = len(stack)
                    self.read(included, stack, depth + 1, at)
                    del stack[top:]  # a section a file leaves open closes with it
                    self.open_files.discard(included)
                continue
            stack[-1].body.append(Directive(name, args, at))


def load(path: Path) -> tuple[Section, Path, list[Finding]]:
    """The config at `path` and what it includes, as a tree; its ServerRoot; what the reading
    found (a missing Include: CG401)."""
    reader = Reader(path.parent)
    return _Loader(reader).load(path), reader.root, reader.problems


def is_kind(path: Path, kind: Callable[[int], bool]) -> bool:
    """Whether path is a file of this kind (stat.S_ISDIR, S_ISREG), following symlinks; False
    when it cannot be looked at (a name too long, a directory we may not enter): nothing there
    is read, where Path.is_dir raised the OSError."""
    try:
        return kind(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


def load_htaccess(path: Path) -> Section | None:
    """An .htaccess file as a section of its own ("htaccess", its directory), None when there is
    none: what httpd reads at each directory a request's file is below, where AllowOverride
    lets it."""
    if not is_kind(path, stat.S_ISREG):
        return None
    reader = Reader(path.parent)
    section = Section("htaccess", (str(path.parent),), Place(str(path), 1))
    _Loader(reader).read(path, [section], 1, Place(str(path), 1))  # it is its own include
    return section


IF_KINDS = ("if", "elseif", "else")


def flatten(section: Section) -> Iterator[Section]:
    yield section
    for inner in section.sections():
        yield from flatten(inner)


def nested(
    section: Section, around: tuple[Section, ...] = ()
) -> Iterator[tuple[Section, tuple[Section, ...]]]:
    """Each section inside, with those around it (outermost first)."""
    yield section, around
    for inner in section.sections():
        yield from nested(inner, (*around, section))


def ports(section: Section) -> set[int]:
    ports = set()
    for arg in section.args:
        port = arg.rpartition(":")[2]
        if port.isdigit():
            ports.add(int(port))
    return ports


def server_names(host: Section) -> list[str]:
    return [
        arg.lower()
        for d in host.directives()
        if d.name in ("servername", "serveralias")
        for arg in d.args
    ]
