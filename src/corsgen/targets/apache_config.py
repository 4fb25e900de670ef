"""How `corsgen audit` and `corsgen import` read the files of a user's httpd config: each file
within the bounds (server_config.ConfigBudget, limits.py's MAX_CONFIG_*), lexed with the structural
check's lexer 256 KiB at a time; Include and IncludeOptional globbed relative to ServerRoot (a
directory: every file below it); ${NAME} from Define, then the environment. apache_config_tree.py
reads the files into the tree of sections the routing model runs requests through.
"""

from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from corsgen.errors import Finding, VerifyError
from corsgen.rules.table import finding
from corsgen.server_config import ConfigBudget
from corsgen.targets.lexer import Line, split_lines

SERVER = "Apache httpd"
VARIABLE = re.compile(r"\$\{([^}]*)\}")  # ${NAME}, which httpd replaces in every argument
_RUN = 1 << 18  # characters lexed at a time


@dataclass
class Reader:
    """What reading a config's files shares: its budget, ServerRoot and Define values so far,
    and what the reading found (an Include that names no file: CG401)."""

    root: Path
    problems: list[Finding] = field(default_factory=list)
    defines: dict[str, str] = field(default_factory=dict)  # Define NAME VALUE, read so far
    budget: ConfigBudget = field(default_factory=ConfigBudget)

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

        return VARIABLE.sub(value, word)

    def expand(self, pattern: str, required: bool, at: str) -> list[Path]:
        full = pattern if Path(pattern).is_absolute() else str(self.root / pattern)
        # httpd reads every file below a directory it is told to include; a glob's directories
        # it skips. Anything else that exists is read, and refused by name if it is no file.
        # A required Include whose wildcard matches nothing fails httpd's start ("No matches for
        # the wildcard"), as a missing file does; IncludeOptional skips both.
        if glob.has_magic(full):
            found = [Path(p) for p in self.budget.glob(full, at) if not os.path.isdir(p)]
            if not found:
                self._missing(required, f"Include {pattern}: no file matches", at)
            return found
        if os.path.isdir(full):
            below = self.budget.listed((str(p) for p in Path(full).rglob("*")), full, at)
            return [Path(p) for p in below if not os.path.isdir(p)]
        if os.path.lexists(full):
            return [Path(full)]
        self._missing(required, f"Include {pattern}: no such file", at)
        return []

    def _missing(self, required: bool, error: str, at: str) -> None:
        if required:
            self.problems.append(finding("CG401", "parse", file=at, error=error, server=SERVER))
