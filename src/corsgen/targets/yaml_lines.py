"""The YAML corsgen writes (Traefik's and Envoy's output), and a line-by-line check that it is no
more than that: block mappings and lists, two spaces a level, double-quoted strings, true and
numbers. Written and checked here without a YAML library: the subset is small enough that a line
says everything about itself. The users' own files, which `corsgen audit` and `corsgen import`
read (a Traefik or Envoy config, Ingress manifests), are any YAML: read() and read_all() read them
with PyYAML, imported only then.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from corsgen.errors import CorsgenError, VerifyError
from corsgen.routing import Place
from corsgen.targets.base import guard, refuse

if TYPE_CHECKING:
    import yaml

# An empty list is written [] (the Kubernetes outputs write every list, empty ones too).
_SCALAR = r'(?:"(?:\\[\\"]|[^"\\])*"|true|false|\d+|\[\])'
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


# Reading: the user's whole Traefik dynamic configuration or Envoy bootstrap, which is any YAML,
# flow style, anchors and merge keys included. PyYAML's composer reads it; each value keeps the
# line of its key, where `corsgen audit` reports what the value does.


@dataclass(frozen=True, slots=True)
class Node:
    """A YAML value as read: a scalar's text, a sequence's items or a mapping's values by key,
    with the file and line (of its key, for a mapping's value) it stands on."""

    value: str | tuple[Node, ...] | Mapping[str, Node]
    file: str
    line: int
    # A scalar YAML reads as a bool, number or null (`true`, `600`, unquoted), not as a string:
    # what a Kubernetes string field refuses.
    typed: bool = False

    @property
    def at(self) -> Place:
        return Place(self.file, self.line)

    def get(self, key: str) -> Node | None:
        return self.value.get(key) if isinstance(self.value, Mapping) else None

    def keys(self) -> Mapping[str, Node]:
        """A mapping's values by key; nothing for any other value."""
        return self.value if isinstance(self.value, Mapping) else {}

    def items(self) -> tuple[Node, ...]:
        """A sequence's items; a scalar stands for a list of itself (YAML users write both)."""
        if isinstance(self.value, tuple):
            return self.value
        return (self,) if isinstance(self.value, str) and self.value else ()

    def text(self) -> str:
        return self.value if isinstance(self.value, str) else ""

    def texts(self) -> list[str]:
        return [item.text() for item in self.items()]

    def true(self) -> bool:
        return self.text().lower() == "true"


# What a missing key reads as: no text, no items, no keys.
NONE = Node({}, "", 0)


def read(text: str, file: str) -> Node:
    """The document in `text` as Nodes; CorsgenError, at the line, when it is not YAML."""
    import yaml  # only `corsgen audit` of a Traefik or Envoy config pays for loading it

    with _yaml_errors(file):
        root = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    return Node({}, file, 1) if root is None else _Converter(file).convert(root)


def read_all(text: str, file: str) -> Iterator[Node]:
    """Each document of a multi-document text (what `helm template` prints), read as it is
    reached; CorsgenError, at the line, when it is not YAML."""
    import yaml

    with _yaml_errors(file):
        for root in yaml.compose_all(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
            # A converter per document: anchors do not reach across documents, and the ids it
            # keys on are those of nodes alive while their document is.
            yield _Converter(file).convert(root)


@contextmanager
def _yaml_errors(file: str) -> Iterator[None]:
    import yaml

    try:
        yield
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise CorsgenError(f"{file}{line}: not YAML: {getattr(exc, 'problem', exc)}") from None


_STRING = "tag:yaml.org,2002:str"
_MERGE = "tag:yaml.org,2002:merge"


class _Converter:
    """PyYAML's nodes as Nodes. An alias is the anchored node itself: each is converted once, so
    aliases of aliases (a "billion laughs") cost what the text does, and one that refers to a
    node it is inside of (an anchor used within itself) reads as nothing, not as endless depth."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.done: dict[int, Node] = {}
        self.open: set[int] = set()

    def convert(self, node: yaml.Node) -> Node:
        import yaml

        if id(node) in self.done:
            return self.done[id(node)]
        if id(node) in self.open:
            return NONE
        self.open.add(id(node))
        line = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            out: dict[str, Node] = {}
            merged: dict[str, Node] = {}
            for key, value in node.value:
                name = str(key.value) if isinstance(key, yaml.ScalarNode) else ""
                if key.tag == _MERGE:  # merge keys (<<, unquoted): the mapping's own keys win
                    for part in value.value if isinstance(value, yaml.SequenceNode) else [value]:
                        merged = {**self.convert(part).keys(), **merged}
                    continue
                out[name] = replace(
                    self.convert(value), file=self.file, line=key.start_mark.line + 1
                )
            converted = Node({**merged, **out}, self.file, line)
        elif isinstance(node, yaml.SequenceNode):
            converted = Node(tuple(self.convert(item) for item in node.value), self.file, line)
        else:
            converted = Node(str(node.value), self.file, line, node.tag != _STRING)
        self.open.discard(id(node))
        self.done[id(node)] = converted
        return converted
