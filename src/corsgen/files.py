"""Reading a user's files safely: regular files only, of sane size, never blocking.

Whatever sits where corsgen expects a file (a FIFO, a device, a symlink to /dev/zero) must neither
hang it nor exhaust its memory.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable
from pathlib import Path

from corsgen.errors import CorsgenError, escape

# Far above any real policy or snippet (10,000 origins is a few hundred KiB), far below trouble.
MAX_BYTES = 64 * 1024 * 1024
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
    if "\0" in str(path):  # os.stat raises ValueError: as absent, since no name holds one
        raise FileNotFoundError(errno.ENOENT, "a file's name cannot hold a NUL byte", str(path))
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


def decode(data: bytes, errors: str = "strict") -> str:
    """UTF-8 with every line ending read as \\n, as Path.read_text does."""
    return data.decode("utf-8", errors=errors).replace("\r\n", "\n").replace("\r", "\n")
