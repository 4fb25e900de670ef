"""Writing a user's files: writes that happen completely or not at all, and a lock with a bounded
wait. `sync` and `render --out-dir` write through here alike.

A failure half-way must not leave half a deploy directory.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import BinaryIO

from corsgen.errors import CorsgenError, escape
from corsgen.files import kind, shown

LOCK_WAIT = 30.0  # seconds


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
    except KeyboardInterrupt:
        # Ctrl-C half-way: undone as a failure is, then the stop the user asked for (exit 130).
        tx.rollback()
        raise
    tx.finish()
