"""A small structural check of Apache httpd output: known directives, argument counts, quoting."""

from __future__ import annotations

from collections.abc import Mapping

from corsgen.errors import VerifyError
from corsgen.verify.tokens import split_lines

# directive: (fewest, most) arguments; the modules the README says the snippet needs.
DIRECTIVES: Mapping[str, tuple[int, int]] = {
    "SetEnvIf": (3, 99),
    "Header": (2, 5),
    "RewriteEngine": (1, 1),
    "RewriteCond": (2, 3),
    "RewriteRule": (2, 3),
    "ErrorDocument": (2, 2),
}
HEADER_ACTIONS = {"set", "unset", "merge", "append", "add", "edit", "setifempty", "echo", "note"}


def check(files: Mapping[str, str]) -> None:
    for file, text in files.items():
        for line in split_lines(text, file):
            name, args = line.words[0], line.words[1:]
            if name.startswith("<"):
                raise VerifyError(f"unexpected section {name}", file, line.number)
            if name not in DIRECTIVES:
                raise VerifyError(f'unknown directive "{name}"', file, line.number)
            low, high = DIRECTIVES[name]
            if not low <= len(args) <= high:
                raise VerifyError(f'wrong number of arguments for "{name}"', file, line.number)
            if name == "Header":
                action = args[1] if args[0] in ("always", "onsuccess") else args[0]
                if action not in HEADER_ACTIONS:
                    raise VerifyError(f'unknown Header action "{action}"', file, line.number)
