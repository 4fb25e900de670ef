"""A directory's whole state, to compare before and after a command that must change nothing."""

from __future__ import annotations

import os
import stat
from pathlib import Path


def snapshot(root: Path) -> dict[str, object]:
    """Every entry under root, links not followed: file mode and bytes, link targets, kinds."""
    entries: dict[str, object] = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder, name)
            info = path.lstat()
            if stat.S_ISREG(info.st_mode):
                entries[str(path.relative_to(root))] = (info.st_mode, path.read_bytes())
            elif stat.S_ISLNK(info.st_mode):
                entries[str(path.relative_to(root))] = ("link", os.readlink(path))
            else:
                entries[str(path.relative_to(root))] = info.st_mode
    return entries
