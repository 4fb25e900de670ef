"""Reading a server's own config and what it includes (`corsgen audit`), within bounds: limits.py's
MAX_CONFIG_*, each refused in one line that names it and what to change.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from corsgen.errors import CorsgenError, escape
from corsgen.files import NotAFile, decode, read_file, shown
from corsgen.limits import (
    MAX_CONFIG_BYTES,
    MAX_CONFIG_DEPTH,
    MAX_CONFIG_EXPANDED,
    MAX_CONFIG_FILES,
    MAX_CONFIG_GLOB_ENTRIES,
    MAX_CONFIG_ROUTES,
    MAX_CONFIG_SUBSTITUTED,
    MAX_CONFIG_WALKED_WORDS,
    MAX_CONFIG_WORDS,
)


def read_config(path: Path, included_at: str | None = None) -> bytes:
    """The bytes of one file of a server config (`corsgen audit`), symlinks followed as the
    servers follow them; OSError when absent or unreadable.

    Anything but a regular file of sane size is refused by name, with the include that led to it:
    a parser or `caddy adapt` given a FIFO waits forever, and given /dev/zero reads forever.
    """
    try:
        return read_file(path, follow=True)
    except NotAFile as exc:
        where = f", included at {escape(included_at)}" if included_at else ""
        change = (
            "include only regular files" if included_at else "give `corsgen audit` a regular file"
        )
        raise CorsgenError(f"cannot read {shown(path)}{where}: {exc}; {change}") from None


def decode_config(data: bytes) -> str:
    """decode, keeping bytes that are not UTF-8 as the surrogates os.fsdecode makes of them: a
    server config may hold Latin-1 comments, and only its directive names and paths matter."""
    return decode(data, errors="surrogateescape")


class ConfigBudget:
    """What one `corsgen audit` run may read of a user's server config: limits.py's MAX_CONFIG_*.

    The readers read each file once, through `read`, and count what they walk with `walk` and
    `nest`. A bound passed is refused in one line that names it, its number and what to change.
    """

    def __init__(self) -> None:
        self.files = 0
        self.bytes = 0
        self.walked = 0
        self.parsed = 0
        self.words = 0
        self.spliced = 0
        self.substituted = 0
        self.walked_words = 0
        self.entries = 0  # directory entries the globs read

    def read(self, path: Path, included_at: str | None = None) -> bytes:
        """read_config, counted against the files and bytes of the run."""
        where = f"cannot read {shown(path)}" + (
            f", included at {escape(included_at)}" if included_at else ""
        )
        if self.files >= MAX_CONFIG_FILES:
            raise _over(where, f"more than {MAX_CONFIG_FILES:,} files", _FEWER_FILES)
        data = read_config(path, included_at)
        self.files += 1
        self.bytes += len(data)
        if self.bytes > MAX_CONFIG_BYTES:
            raise _over(
                where,
                f"more than {MAX_CONFIG_BYTES >> 20} MiB in all its files",
                "give `corsgen audit` a copy that leaves out the largest (maps, geo lists), "
                "which set no CORS headers",
            )
        return data

    def glob(self, pattern: str, at: str, *, hidden: bool = False) -> list[str]:
        """The names matching pattern, sorted, within the files a run may read; `hidden`: `*`
        matches a name starting with a dot too (Go's filepath.Glob). As glob.iglob matches, but
        each directory entry it reads is counted, for all the globs of the run together: nine
        `*` from / read the whole filesystem, however few names matched."""

        def read(directory: str, dironly: bool) -> list[str]:
            names = []
            try:
                with os.scandir(directory or os.curdir) as entries:
                    for entry in entries:
                        self.entries += 1
                        if self.entries > MAX_CONFIG_GLOB_ENTRIES:
                            raise _over(
                                f"cannot include {escape(pattern)} at {escape(at)}",
                                f"globs that read more than {MAX_CONFIG_GLOB_ENTRIES:,} "
                                "directory entries",
                                "start each glob with the directory its files are in, and "
                                "put no wildcard in a directory part",
                            )
                        try:
                            if not dironly or entry.is_dir():
                                names.append(entry.name)
                        except OSError:
                            pass
            except OSError:
                pass
            return names

        return self.listed(_iglob(pattern, hidden, False, read), pattern, at)

    def listed(self, names: Iterable[str], pattern: str, at: str) -> list[str]:
        """names (what pattern, included at `at`, matches), sorted; refused past the files a run
        may read, before a directory of millions is listed whole."""
        first = list(itertools.islice(names, MAX_CONFIG_FILES + 1))
        if len(first) > MAX_CONFIG_FILES:
            where = f"cannot include {escape(pattern)} at {escape(at)}"
            raise _over(where, f"more than {MAX_CONFIG_FILES:,} files", _FEWER_FILES)
        return sorted(first)

    def walk(self, count: int, at: str, unit: str) -> None:
        """Count `count` directives or lines read (`unit`), includes written out where they are."""
        self.walked += count
        if self.walked > MAX_CONFIG_EXPANDED:
            raise _over(
                f"cannot read {escape(at)}",
                f"more than {MAX_CONFIG_EXPANDED:,} {unit} with its includes written out",
                "include each file in fewer places (an include in a file that is itself "
                "included in many blocks multiplies)",
            )

    def walk_words(self, count: int, at: str) -> None:
        """Count `count` words read by a walk, includes written out where they are: a line of
        thousands of words, included again after each change of a Define, is read each time."""
        self.walked_words += count
        if self.walked_words > MAX_CONFIG_WALKED_WORDS:
            raise _over(
                f"cannot read {escape(at)}",
                f"more than {MAX_CONFIG_WALKED_WORDS:,} words with its includes written out",
                "include each file in fewer places (an include after each of many Defines "
                "reads the file again each time)",
            )

    def parse(self, count: int, file: str, unit: str) -> None:
        """Count `count` directives or lines parsed: each is walked at least once, so a config
        of more than a walk reads is refused before the rest of it is parsed."""
        self.parsed += count
        if self.parsed > MAX_CONFIG_EXPANDED:
            raise _over(
                f"cannot read {escape(file)}",
                f"more than {MAX_CONFIG_EXPANDED:,} {unit}",
                _FEWER_FILES,
            )

    def room(self) -> int:
        """The words a run may still keep: one directive or line of more is refused as it is
        read, before its words are all in memory."""
        return MAX_CONFIG_WORDS - self.words

    def keep(self, count: int, file: str) -> None:
        """Count `count` words (directive names and arguments) kept in memory."""
        self.words += count
        if self.words > MAX_CONFIG_WORDS:
            raise _over(
                f"cannot read {escape(file)}",
                f"more than {MAX_CONFIG_WORDS:,} words (directives and their arguments)",
                _FEWER_FILES,
            )

    def splice(self, size: int, at: str) -> None:
        """Count `size` bytes the server reads again where they are imported: Caddy splices
        each import in, so what it reads is the config with its imports written out."""
        self.spliced += size
        if self.spliced > MAX_CONFIG_BYTES:
            raise _over(
                f"cannot read {escape(at)}",
                f"more than {MAX_CONFIG_BYTES >> 20} MiB with its imports written out",
                "import large files and snippets in fewer places",
            )

    def substitute(self, size: int, at: str, name: str) -> None:
        """Count `size` bytes that variable `name` (Apache's ${NAME}) writes into a line."""
        self.substituted += size
        if self.substituted > MAX_CONFIG_SUBSTITUTED:
            raise _over(
                f"cannot read {escape(at)}",
                f"more than {MAX_CONFIG_SUBSTITUTED >> 20} MiB of Define and environment values "
                "written into its lines",
                f"define values without repeating others (${{{escape(name)}}} holds {size:,} "
                "bytes; a Define of ${A}${A} doubles A)",
            )

    def nest(self, depth: int, at: str, what: str) -> None:
        """Refuse `what` (includes, blocks) nested deeper than a run reads."""
        if depth > MAX_CONFIG_DEPTH:
            raise _over(
                f"cannot read {escape(at)}",
                f"{what} nested more than {MAX_CONFIG_DEPTH} deep",
                "nest them less (does an include lead back to a file that includes it?)",
            )


def check_routes(count: int, at: str, unit: str) -> None:
    """Refuse a config whose model chooses among more than MAX_CONFIG_ROUTES routes (`unit`:
    routers, sections...), before it is built."""
    if count > MAX_CONFIG_ROUTES:
        raise _over(
            f"cannot read {escape(at)}",
            f"more than {MAX_CONFIG_ROUTES:,} {unit}",
            "give `corsgen audit` a copy that keeps the sites and routes with CORS and those "
            "that take requests from them",
        )


def _iglob(
    pattern: str, hidden: bool, dironly: bool, read: Callable[[str, bool], list[str]]
) -> Iterator[str]:
    """glob.iglob's matches (not recursive), each directory listed through `read`."""
    import fnmatch
    import glob

    dirname, basename = os.path.split(pattern)
    if not glob.has_magic(pattern):
        if os.path.lexists(pattern) if basename else os.path.isdir(dirname):
            yield pattern
        return
    if dirname != pattern and glob.has_magic(dirname):
        dirs: Iterable[str] = _iglob(dirname, hidden, True, read)
    else:
        dirs = [dirname]
    for directory in dirs:
        if glob.has_magic(basename):
            names = read(directory, dironly)
            if not (hidden or basename.startswith(".")):
                names = [name for name in names if not name.startswith(".")]
            found = fnmatch.filter(names, basename)
        elif basename:
            found = [basename] if os.path.lexists(os.path.join(directory, basename)) else []
        else:
            found = [basename] if os.path.isdir(directory) else []
        for name in found:
            yield os.path.join(directory, name)


_FEWER_FILES = "give `corsgen audit` a copy that includes fewer (the sites with a corsgen snippet)"


def _over(where: str, what: str, change: str) -> CorsgenError:
    return CorsgenError(
        f"{where}: the config holds {what}, the most `corsgen audit` reads; {change}"
    )
