"""The YAML corsgen writes (Traefik's and Envoy's output), and a line-by-line check that it is no
more than that: block mappings and lists, two spaces a level, double-quoted strings, true and
numbers. Written and checked here without a YAML library: none is a dependency, and the subset is
small enough that a line says everything about itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from corsgen.errors import VerifyError
from corsgen.targets.base import guard, refuse

_SCALAR = r'(?:"(?:\\[\\"]|[^"\\])*"|true|false|\d+)'
# A key (Envoy's "@type" must be quoted: @ starts nothing in YAML), or a list item's dash, or both.
_LINE = re.compile(
    r"^(?P<indent> *)(?P<dash>- )?"
    rf'(?:(?P<key>"@type"|[A-Za-z][\w.-]*):(?: (?P<value>{_SCALAR}))?|(?P<item>{_SCALAR}))$'
)
INDENT = 2
# Whether a key may stand at an indentation (in spaces).
Known = Callable[[str, int], bool]


def quote(value: str, target: str, hostile: tuple[str, ...] = ()) -> str:
    """value as a double-quoted scalar: only \\ and " are special there, and guard() refuses the
    quote. `hostile` is text the server would act on before it reads the YAML."""
    for text in hostile:
        if text in value:
            raise refuse(value, target, text)
    return '"' + guard(value, target).replace("\\", "\\\\") + '"'


def check(files: Mapping[str, str], known: Known, hostile: Mapping[str, str] | None = None) -> None:
    """Raise VerifyError, `msg in file:line`, at the first line outside the subset, indented
    deeper than the block it is in, with a key `known` refuses, or holding a `hostile` text (the
    message says what the server would do with it)."""
    for file, text in files.items():
        depth = 0  # the deepest indentation the next line may have
        for number, line in enumerate(text.splitlines(), start=1):
            for marker, why in (hostile or {}).items():  # comments included
                if marker in line:
                    raise VerifyError(why, file, number)
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            match = _LINE.match(line)
            if match is None:
                raise VerifyError(f"not a line of this YAML: {line.strip()[:40]}", file, number)
            indent = len(match["indent"])
            if indent % INDENT or indent > depth:
                raise VerifyError("indented deeper than the block it is in", file, number)
            column = indent + (INDENT if match["dash"] else 0)  # where the key stands
            key = match["key"]
            if key is not None and not known(key, column):
                raise VerifyError(f"unknown key '{key}' here", file, number)
            opens = key is not None and match["value"] is None
            depth = column + INDENT if opens else column
