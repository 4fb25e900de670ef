"""Manifest globs (cors/*.toml, cors/**/*.toml), expanded in one bounded walk.

pathlib's glob walks a tree again below every directory each `**` matched, so its work grows
with the depth of the tree to the power of the `**`s: seven over a 26-level chain took 40 s.
Here a glob is read like a small automaton, one part per path segment: each directory of one
walk carries the set of parts it has matched so far, so no directory is read twice whatever the
glob, a directory no part can match is not entered, and the walk stops after MAX_GLOB_ENTRIES
entries. From its first wildcard on a glob has at most MAX_GLOB_PARTS parts, so no directory
carries more states than that. The parts mean what they mean to pathlib on Python 3.11: `*`, `?`
and `[...]` within one name (dot files too, matching case), `**` any number of directories, not
entering a symlink to a directory (a part that names one does), and a glob ending in `/` matches
directories only, so no policy.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from fnmatch import fnmatchcase
from pathlib import Path, PurePosixPath

from corsgen.limits import MAX_GLOB_ENTRIES, MAX_GLOB_PARTS
from corsgen.rules.table import RuleError

_MAGIC = frozenset("*?[")


class GlobRefused(RuleError):
    """A glob corsgen will not expand: a CG305 case and what its message says."""

    def __init__(self, case: str, **fields: object) -> None:
        super().__init__("CG305", case, **fields)


class Budget:
    """The entries the walks of one manifest may still read, all its globs together."""

    def __init__(self) -> None:
        self.left = MAX_GLOB_ENTRIES

    def spend(self, pattern: str) -> None:
        self.left -= 1
        if self.left < 0:
            raise GlobRefused("glob-wide", most=MAX_GLOB_ENTRIES)


def expand(root: Path, pattern: str, budget: Budget) -> list[Path]:
    """The files below `root` that the relative `pattern` matches, sorted; symlinks to files
    are listed as they are (the caller checks where they lead)."""
    parts = _parts(pattern)
    literal = 0
    while literal < len(parts) and not _MAGIC.intersection(parts[literal]):
        literal += 1
    base = root.joinpath(*parts[:literal])
    rest = parts[literal:]
    if len(rest) > MAX_GLOB_PARTS:
        raise GlobRefused("glob-parts", count=len(rest), most=MAX_GLOB_PARTS)
    if pattern.endswith("/"):
        return []
    if not rest:
        return [base] if base.is_file() else []
    found: list[Path] = []
    todo = [(base, _closure(rest, {0}))]
    while todo:
        directory, states = todo.pop()
        try:
            with os.scandir(directory) as entries:
                listed = list(entries)
        except OSError:  # unreadable, gone, or not a directory: pathlib skips it too
            continue
        for entry in listed:
            budget.spend(pattern)
            if entry.is_dir():
                ahead = _advance(rest, states, entry.name, entry.is_symlink())
                if ahead:
                    todo.append((Path(entry.path), ahead))
            elif _ends(rest, states, entry.name) and entry.is_file():
                found.append(Path(entry.path))
    return sorted(found)


def _parts(pattern: str) -> list[str]:
    """The pattern's parts, a run of `**` as one: `**/**` matches what `**` does."""
    parts: list[str] = []
    for part in PurePosixPath(pattern).parts:
        if "**" in part and part != "**":
            raise GlobRefused(
                "glob-refused", error="Invalid pattern: '**' can only be an entire path component"
            )
        if not (part == "**" and parts and parts[-1] == "**"):
            parts.append(part)
    return parts


def _closure(parts: list[str], states: Iterable[int]) -> frozenset[int]:
    """The states, and past each `**` they stand at: it may match no directory at all."""
    out = set(states)
    for index in list(out):
        if index < len(parts) and parts[index] == "**":
            out.add(index + 1)
    return frozenset(out)


def _advance(parts: list[str], states: frozenset[int], name: str, linked: bool) -> frozenset[int]:
    """The parts matched once a directory named `name` (a symlink to one, if `linked`) is
    entered; empty: none can match."""
    ahead = set()
    for index in states:
        if index >= len(parts) - 1:  # only the last part is left: it names a file
            continue
        if parts[index] == "**":
            if not linked:
                ahead.add(index)
        elif fnmatchcase(name, parts[index]):
            ahead.add(index + 1)
    return _closure(parts, ahead)


def _ends(parts: list[str], states: frozenset[int], name: str) -> bool:
    """Whether a file named `name` here is matched: the last part names it (never a `**`)."""
    last = len(parts) - 1
    return last in states and parts[last] != "**" and fnmatchcase(name, parts[last])
