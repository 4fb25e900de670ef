"""Files in a user's tree, safely: bounded reads of regular files only, writes that happen
completely or not at all, and a lock with a bounded wait.

Whatever sits where corsgen expects a file (a FIFO, a device, a symlink to /dev/zero) must neither
hang it nor exhaust its memory, and a failure half-way must not leave half a deploy directory.
"""

from __future__ import annotations

import errno
import fcntl
import itertools
import os
import stat
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import BinaryIO

from corsgen.errors import CorsgenError, escape
from corsgen.limits import (
    MAX_CONFIG_BYTES,
    MAX_CONFIG_DEPTH,
    MAX_CONFIG_EXPANDED,
    MAX_CONFIG_FILES,
    MAX_CONFIG_GLOB_ENTRIES,
    MAX_CONFIG_SUBSTITUTED,
    MAX_CONFIG_WALKED_WORDS,
    MAX_CONFIG_WORDS,
)

# Far above any real policy or snippet (10,000 origins is a few hundred KiB), far below trouble.
MAX_BYTES = 64 * 1024 * 1024
LOCK_WAIT = 30.0  # seconds
_KINDS: tuple[tuple[Callable[[int], bool], str], ...] = (
    (stat.S_ISLNK, "a symlink"),
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a device"),
    (stat.S_ISBLK, "a device"),
    (stat.S_ISREG, "a regular file"),
)


class NotAFile(CorsgenError):
    """Where corsgen expects a regular file of sane size, there is something else."""


class TooLarge(NotAFile):
    """A regular file larger than MAX_BYTES: certainly not a policy or a snippet."""


def shown(path: Path) -> str:
    return escape(str(path))


def kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "an unknown kind of file")


def _require_regular(info: os.stat_result) -> None:
    if not stat.S_ISREG(info.st_mode):
        raise NotAFile(f"it is {kind(info.st_mode)}, not a regular file")


def read_file(path: Path, *, follow: bool = False) -> bytes:
    """The bytes of the regular file at path; OSError when absent or unreadable.

    Anything else raises NotAFile without blocking or reading: a device is never opened, a FIFO
    is opened non-blocking and never read, and a symlink is not followed unless `follow`.
    """
    _require_regular(os.stat(path) if follow else os.lstat(path))
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | (0 if follow else os.O_NOFOLLOW)
    with open(os.open(path, flags), "rb") as handle:
        info = os.fstat(handle.fileno())
        _require_regular(info)  # it may have been swapped since the stat
        # Its size and a byte, not MAX_BYTES at once: read(n) reserves n bytes, 64 MiB for every
        # small file against a memory cap. A file that grew since is read on, to the bound.
        data = handle.read(min(info.st_size, MAX_BYTES) + 1)
        if len(data) > info.st_size:
            data += handle.read(MAX_BYTES + 1 - len(data))
    if len(data) > MAX_BYTES:
        raise TooLarge(f"it is larger than {MAX_BYTES >> 20} MiB")
    return data


def read_config(path: Path, included_at: str | None = None) -> bytes:
    """The bytes of one file of a server config (`verify --config`), symlinks followed as the
    servers follow them; OSError when absent or unreadable.

    Anything but a regular file of sane size is refused by name, with the include that led to it:
    a parser or `caddy adapt` given a FIFO waits forever, and given /dev/zero reads forever.
    """
    try:
        return read_file(path, follow=True)
    except NotAFile as exc:
        where = f", included at {escape(included_at)}" if included_at else ""
        change = "include only regular files" if included_at else "pass --config a regular file"
        raise CorsgenError(f"cannot read {shown(path)}{where}: {exc}; {change}") from None


def decode(data: bytes, errors: str = "strict") -> str:
    """UTF-8 with every line ending read as \\n, as Path.read_text does."""
    return data.decode("utf-8", errors=errors).replace("\r\n", "\n").replace("\r", "\n")


def decode_config(data: bytes) -> str:
    """decode, keeping bytes that are not UTF-8 as the surrogates os.fsdecode makes of them: a
    server config may hold Latin-1 comments, and only its directive names and paths matter."""
    return decode(data, errors="surrogateescape")


def nearest_existing(path: Path) -> Path:
    """path, or the closest of its ancestors that exists."""
    return next(p for p in (path, *path.parents) if p.exists())


@contextmanager
def locked(path: Path, busy: str, *, shared: bool = False) -> Iterator[None]:
    """Hold flock on path (opened read-only: no lock file of our own in the user's tree).

    Waits at most LOCK_WAIT seconds for another holder, then raises CorsgenError(busy). Only a
    regular file or a directory is opened: opening a device or a FIFO can do something.
    """
    try:
        _lockable(os.stat(path), path)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise CorsgenError(f"cannot lock {shown(path)}: {exc.strerror or exc}") from None
    try:
        _lockable(os.fstat(fd), path)  # it may have been swapped since the stat
        _flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX, path, busy)
        yield
    finally:
        os.close(fd)


def _lockable(info: os.stat_result, path: Path) -> None:
    if not (stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)):
        raise CorsgenError(
            f"cannot lock {shown(path)}: it is {kind(info.st_mode)}, not a file or directory"
        )


def _flock(fd: int, operation: int, path: Path, busy: str) -> None:
    deadline = time.monotonic() + LOCK_WAIT
    while True:
        try:
            fcntl.flock(fd, operation | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise CorsgenError(busy) from None
            time.sleep(0.05)
        except OSError as exc:
            raise CorsgenError(f"cannot lock {shown(path)}: {exc.strerror or exc}") from None


def refuse(verb: str, path: Path, why: str) -> CorsgenError:
    """The one line for a write refused before anything was touched."""
    return CorsgenError(f"cannot {verb} {shown(path)}: {why}; nothing was written")


def _check_target(path: Path, verb: str) -> int | None:
    """The permission bits of the regular file at path, None when there is none yet.

    Refuses anything else there, symlinks included: corsgen writes regular files, never through a
    link to somewhere else. Also refuses a path whose nearest existing ancestor is no directory.
    """
    for parent in path.parents:
        try:
            info = os.stat(parent)
        except (FileNotFoundError, NotADirectoryError):
            continue  # made later, or the ancestor in the way is found further up
        except OSError as exc:
            raise refuse(verb, path, f"{shown(parent)}: {exc.strerror or exc}") from None
        if not stat.S_ISDIR(info.st_mode):
            raise refuse(verb, path, f"{shown(parent)} is {kind(info.st_mode)}, not a directory")
        break
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise refuse(verb, path, exc.strerror or str(exc)) from None
    if not stat.S_ISREG(info.st_mode):
        raise refuse(verb, path, f"it is {kind(info.st_mode)}, not a regular file")
    return stat.S_IMODE(info.st_mode)


def _create(name: Path, fill: Callable[[BinaryIO], object], mode: int | None) -> None:
    """A new file at name (never an existing one) filled by `fill`, or no file at all."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(name, flags, 0o666)
    try:
        with open(fd, "wb") as handle:
            fill(handle)
            if mode is not None:
                os.fchmod(handle.fileno(), mode)
    except BaseException:
        os.unlink(name)
        raise


def _copy(source: Path, name: Path) -> None:
    import shutil  # it imports bz2 and lzma, which only this copy would pay for

    with open(os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC), "rb") as src:
        mode = stat.S_IMODE(os.fstat(src.fileno()).st_mode)
        _create(name, partial(shutil.copyfileobj, src), mode)


class _Transaction:
    """Steps that can each be undone, and the hidden files they leave until the end."""

    def __init__(self) -> None:
        self.doing = ""
        self.made: list[Path] = []
        self.hidden: list[Path] = []
        self.undo: list[Callable[[], object]] = []

    def _hidden(self, path: Path, create: Callable[[Path], object]) -> Path:
        """A new hidden file beside path, made by `create` under a name nobody uses yet."""
        for _ in range(100):
            # secrets.token_hex(4), without importing secrets (hmac, base64) on every run.
            name = path.with_name(f".{path.name}.{os.urandom(4).hex()}.tmp")
            try:
                create(name)
            except FileExistsError:
                continue
            self.hidden.append(name)
            return name
        raise FileExistsError(errno.EEXIST, "no free temporary name", str(path.parent))

    def stage(self, path: Path, text: str, mode: int | None) -> Path:
        self.doing = f"write {shown(path)}"
        for parent in reversed(path.parents):
            if not parent.is_dir():
                os.mkdir(parent)
                self.made.append(parent)
        data = text.encode()
        return self._hidden(
            path, partial(_create, fill=lambda handle: handle.write(data), mode=mode)
        )

    def preserve(self, path: Path, verb: str) -> Path:
        """A hidden second name for the file at path, to bring it back by if a later step fails."""
        self.doing = f"{verb} {shown(path)}"
        try:
            return self._hidden(path, partial(os.link, path))
        except OSError:  # no hard links here (FAT, some network filesystems): copy instead
            return self._hidden(path, partial(_copy, path))

    def replace(self, staged: Path, path: Path, backup: Path | None) -> None:
        self.doing = f"write {shown(path)}"
        os.replace(staged, path)
        self.hidden.remove(staged)
        self.undo.append(partial(os.replace, backup, path) if backup else partial(os.unlink, path))

    def remove(self, path: Path, backup: Path) -> None:
        self.doing = f"remove {shown(path)}"
        os.unlink(path)
        self.undo.append(partial(os.replace, backup, path))

    def rollback(self) -> list[str]:
        """Undo every step, newest first; returns what could not be undone."""
        steps: list[Callable[[], object]] = [
            *reversed(self.undo),
            *(partial(_unlink_if_there, name) for name in self.hidden),
            *(partial(os.rmdir, directory) for directory in reversed(self.made)),
        ]
        failed = []
        for step in steps:
            try:
                step()
            except OSError as exc:
                failed.append(f"{escape(str(exc.filename))} ({exc.strerror or exc})")
        return failed

    def finish(self) -> None:
        """Remove the hidden second names; the new files are in place whatever happens here."""
        failed = []
        for name in self.hidden:
            try:
                _unlink_if_there(name)
            except OSError as exc:
                failed.append(f"{shown(name)} ({exc.strerror or exc})")
        if failed:
            raise CorsgenError(
                f"wrote every file, but cannot remove the temporary {', '.join(failed)}"
            )


def _unlink_if_there(path: Path) -> None:
    path.unlink(missing_ok=True)


def write_atomically(files: Mapping[Path, str], remove: Iterable[Path] = ()) -> None:
    """Write every file and remove every path, or change nothing at all.

    Everything that can be checked without touching the disk is checked first: each target is
    absent or a regular file, each parent a directory. Then each new text is staged in a hidden
    file beside its target, and each file about to be replaced or removed gets a hidden second
    name; that also proves every directory writable. Only then are the files renamed into place
    and the removed ones unlinked. A failure at any step undoes every step before it.
    """
    modes = {path: _check_target(path, "write") for path in sorted(files)}
    doomed = sorted(remove)
    for path in doomed:
        if _check_target(path, "remove") is None:
            raise refuse("remove", path, "it is gone")
    tx = _Transaction()
    try:
        staged = []
        for path, mode in modes.items():
            new = tx.stage(path, files[path], mode)
            staged.append((path, new, None if mode is None else tx.preserve(path, "write")))
        kept = [(path, tx.preserve(path, "remove")) for path in doomed]
        for path, new, backup in staged:
            tx.replace(new, path, backup)
        for path, backup in kept:
            tx.remove(path, backup)
    except OSError as exc:
        failed = tx.rollback()
        undone = f"could not undo: {', '.join(failed)}" if failed else "nothing was written"
        raise CorsgenError(f"cannot {tx.doing}: {exc.strerror or exc}; {undone}") from None
    tx.finish()


class ConfigBudget:
    """What one `verify --config` run may read of a user's server config: limits.py's MAX_CONFIG_*.

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
                "pass --config a copy that leaves out the largest (maps, geo lists), which set "
                "no CORS headers",
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


_FEWER_FILES = "pass --config a copy that includes fewer (the sites with a corsgen snippet)"


def _over(where: str, what: str, change: str) -> CorsgenError:
    return CorsgenError(
        f"{where}: the config holds {what}, the most verify --config reads; {change}"
    )
