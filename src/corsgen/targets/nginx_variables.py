"""nginx's variables for the routing model (nginx_routing.py): the request's own ($http_*,
$request_method, $uri, $args...), `set` ones, `map` results, regex captures, and the tests of
`if`, as nginx 1.22 computes them (checked against it by tests/audit/nginx_routing_test.py).

What nginx does that the model keeps:
- a map's exact keys are looked up in lower case (nginx lowercases key and value), its regexes
  are tried in the order written after them, the default last, "" without one; a map result is
  computed once per request and kept, across internal redirects too (nginx clears no variable on
  one): a preflight's map read before an error_page turned the method into GET stays a preflight;
- $request_method, $uri and $args are read afresh every time;
- the last regex that matched (a location's, a rewrite's, an if's, a map's) gives $1..$9;
- PCRE is read by Python's re with ASCII classes, `(?<name>` spelled `(?P<name>`; a regex re
  cannot read matches nothing (`nginx -t` refuses what PCRE cannot read).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache

from corsgen.routing import Place

# $name, ${name}, $1: what nginx expands in a value that holds variables.
_VARIABLE = re.compile(r"\$(?:\{([A-Za-z0-9_]+)\}|([A-Za-z_][A-Za-z0-9_]*|[0-9]))")
_FALSE = ("", "0")  # `if ($var)` is false for these


@lru_cache(maxsize=512)
def compile_pcre(source: str, ignore_case: bool) -> re.Pattern[str] | None:
    """The regex nginx compiles from `source`, as Python's re reads it; None if it cannot."""
    flags = re.ASCII | (re.IGNORECASE if ignore_case else 0)
    try:
        return re.compile(
            source.replace("(?<", "(?P<").replace("(?P<=", "(?<=").replace("(?P<!", "(?<!"), flags
        )
    except re.error:
        return None


@dataclass(frozen=True)
class Map:
    """One `map SOURCE $result { ... }` block."""

    source: str
    exact: Mapping[str, str]  # lower-cased key -> value
    # (regex, ignore case, value, its line), in order
    regexes: tuple[tuple[str, bool, str, Place], ...]
    default: str = ""


@dataclass
class Variables:
    """The variables of one request, as the rewrite and header modules read them."""

    maps: Mapping[str, Map]
    builtin: Callable[[str], str | None]  # the request's own variables, read afresh
    headers: Mapping[str, str]  # request headers, by lower-cased name
    kept: dict[str, str] = field(default_factory=dict)  # `set` values and map results
    captures: tuple[str, ...] = ()  # $0, $1, ...
    depth: int = 0  # maps that read maps: nginx refuses a cycle at runtime, the model too

    def get(self, name: str) -> str:
        if name.isdigit():
            n = int(name)
            return self.captures[n] if n < len(self.captures) else ""
        if name in self.kept:
            return self.kept[name]
        if name in self.maps:
            return self._map(name)
        if name.startswith("http_"):
            return self.headers.get(name[5:].replace("_", "-"), "")
        value = self.builtin(name)
        return "" if value is None else value

    def expand(self, template: str) -> str:
        """A directive's value with each variable in it replaced."""
        if "$" not in template:
            return template
        return _VARIABLE.sub(lambda m: self.get(m[1] or m[2]), template)

    def set(self, name: str, value: str) -> None:
        self.kept[name] = value

    def search(self, source: str, ignore_case: bool, subject: str) -> bool:
        """Whether the regex finds a match in `subject`; its captures become $1.. when it does."""
        pattern = compile_pcre(source, ignore_case)
        found = pattern.search(subject) if pattern is not None else None
        if found is None:
            return False
        self.captures = (found[0], *(g or "" for g in found.groups()))
        # A named capture is a variable of its own from then on, as in nginx.
        self.kept.update((name, value or "") for name, value in found.groupdict().items())
        return True

    def _map(self, name: str) -> str:
        if self.depth > 50:
            return ""
        self.depth += 1
        try:
            table = self.maps[name]
            key = self.expand(table.source)
            value = table.exact.get(key.lower())
            if value is None:
                value = table.default
                for regex, ignore_case, result, _ in table.regexes:
                    if self.search(regex, ignore_case, key):
                        value = result
                        break
            self.kept[name] = self.expand(value)
            return self.kept[name]
        finally:
            self.depth -= 1

    def condition(self, args: list[str], exists: Callable[[str, str], bool]) -> bool:
        """`if (ARGS)`: a variable's truth, a comparison, a regex, or a file test
        (exists(kind, path), kind "-f", "-d", "-e" or "-x")."""
        if not args:
            return False
        if args[0] in ("-f", "!-f", "-d", "!-d", "-e", "!-e", "-x", "!-x") and len(args) > 1:
            found = exists(args[0].lstrip("!"), self.expand(args[1]))
            return found != args[0].startswith("!")
        subject = self.expand(args[0])
        if len(args) == 1:
            return subject not in _FALSE
        op, operand = args[1], args[2] if len(args) > 2 else ""
        if op in ("=", "!="):
            return (subject == self.expand(operand)) == (op == "=")
        if op in ("~", "~*", "!~", "!~*"):
            found = self.search(operand, op.endswith("*"), subject)
            return found != op.startswith("!")
        return False
