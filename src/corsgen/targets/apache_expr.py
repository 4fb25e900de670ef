"""httpd's ap_expr (<If>, Header expr=) and the %{VAR} of mod_rewrite and mod_headers, for the
routing model (targets/apache_routing.py): what a request's variables make of them.

Only what CORS configs write is read: comparisons, regex matches, -n/-z, !, && and ||, the
request's method, URI, host, its headers (%{HTTP:Name}, req(), http()) and its environment
(reqenv(), %{ENV:X}). Anything else is Unsupported: the model says so instead of guessing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass


class Unsupported(ValueError):
    """An expression the model does not evaluate."""


@dataclass(frozen=True)
class Vars:
    """What an expression may read of a request."""

    method: str
    uri: str  # the path, without the query
    query: str
    host: str
    headers: Mapping[str, str]  # lower-case name -> value (repeats joined by ", ")
    env: Mapping[str, str]

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")

    def variable(self, name: str) -> str:
        """%{NAME} as ap_expr and mod_rewrite read it: "" when unset."""
        kind, _, rest = name.partition(":")
        if rest and kind.upper() == "HTTP":
            return self.header(rest)
        if rest and kind.upper() == "ENV":
            return self.env.get(rest, "")
        fixed = {
            "REQUEST_METHOD": self.method,
            "REQUEST_URI": self.uri,
            "QUERY_STRING": self.query,
            "HTTP_HOST": self.header("Host") or self.host,
            "THE_REQUEST": f"{self.method} {self.uri} HTTP/1.1",
        }
        if name.upper() in fixed:
            return fixed[name.upper()]
        if name.upper().startswith("HTTP_"):  # %{HTTP_ORIGIN}: the header, dashes as _
            return self.header(name[5:].replace("_", "-"))
        raise Unsupported(f"%{{{name}}}")


_VARIABLE = re.compile(r"%\{([^}]*)\}")


def expand(text: str, read: Callable[[str], str]) -> str:
    """%{NAME} in text replaced by read(NAME)."""
    return _VARIABLE.sub(lambda m: read(m[1]), text)


# Tokens: strings, %{VAR}, regexes m#..# or /../, function calls, operators, words.
_TOKEN = re.compile(
    r"""\s*(?:
      (?P<string>'[^']*'|"[^"]*")
    | (?P<var>%\{[^}]*\})
    | (?P<regex>m(?P<d>[^\w\s])(?P<body1>.*?)(?P=d)(?P<flags1>i?)
        |/(?P<body2>(?:\\.|[^/])*)/(?P<flags2>i?))
    | (?P<op>==|!=|=~|!~|&&|\|\||<=|>=|[!(),<>{}]|-[a-zA-Z]+\b)
    | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
    )""",
    re.VERBOSE | re.DOTALL,
)
_FUNCTIONS: Mapping[str, Callable[[Vars, str], str]] = {
    "req": lambda v, a: v.header(a),
    "http": lambda v, a: v.header(a),
    "reqenv": lambda v, a: v.env.get(a, ""),
    "env": lambda v, a: v.env.get(a, ""),
    "tolower": lambda v, a: a.lower(),
    "toupper": lambda v, a: a.upper(),
}


def _tokens(text: str) -> list[tuple[str, str, str]]:
    """(kind, text, flags) for each token."""
    out, at = [], 0
    text = text.rstrip()
    while at < len(text):
        match = _TOKEN.match(text, at)
        if match is None or match.end() == at:
            raise Unsupported(f"expression {text!r} at {at}")
        at = match.end()
        kind = match.lastgroup
        if match["string"] is not None:
            out.append(("string", match["string"][1:-1], ""))
        elif match["var"] is not None:
            out.append(("var", match["var"][2:-1], ""))
        elif match["regex"] is not None:
            body = match["body1"] if match["body1"] is not None else match["body2"]
            flags = match["flags1"] or match["flags2"] or ""
            out.append(("regex", body, flags))
        elif kind is not None:
            out.append((kind, match[kind], ""))
    return out


class _Parser:
    """Recursive descent over the tokens, evaluating as it goes (ap_expr has no side effects,
    so both sides of && and || are read, as the grammar needs)."""

    def __init__(self, text: str, request: Vars) -> None:
        self.tokens = _tokens(text)
        self.at = 0
        self.request = request
        self.read: set[str] = set()  # the request headers read: httpd adds them to Vary

    def peek(self) -> tuple[str, str, str]:
        return self.tokens[self.at] if self.at < len(self.tokens) else ("end", "", "")

    def take(self) -> tuple[str, str, str]:
        token = self.peek()
        self.at += 1
        return token

    def expect(self, text: str) -> None:
        if self.take()[1] != text:
            raise Unsupported(f"expected {text}")

    def boolean(self) -> bool:
        value = self.conjunction()
        while self.peek()[1] == "||":
            self.take()
            value = self.conjunction() or value
        return value

    def conjunction(self) -> bool:
        value = self.unary()
        while self.peek()[1] == "&&":
            self.take()
            value = self.unary() and value
        return value

    def unary(self) -> bool:
        kind, text, _ = self.peek()
        if text == "!":
            self.take()
            return not self.unary()
        if text == "(":
            self.take()
            value = self.boolean()
            self.expect(")")
            return value
        if kind == "word" and text in ("true", "false"):
            self.take()
            return text == "true"
        if text in ("-n", "-z"):
            self.take()
            word = self.word()
            return bool(word) == (text == "-n")
        left = self.word()
        op = self.take()[1]
        if op in ("=~", "!~"):
            kind, body, flags = self.take()
            if kind != "regex":
                raise Unsupported("a regex after =~")
            found = re.search(body, left, re.IGNORECASE if "i" in flags else 0) is not None
            return found == (op == "=~")
        right = self.word()
        compare: Mapping[str, Callable[[str, str], bool]] = {
            "==": lambda a, b: a == b,
            "!=": lambda a, b: a != b,
            "<": lambda a, b: a < b,
            ">": lambda a, b: a > b,
            "<=": lambda a, b: a <= b,
            ">=": lambda a, b: a >= b,
        }
        if op not in compare:
            raise Unsupported(f"operator {op}")
        return compare[op](left, right)

    def word(self) -> str:
        kind, text, _ = self.take()
        if kind == "string":
            return expand(text, self.variable)
        if kind == "var":
            return self.variable(text)
        if kind == "word" and text in _FUNCTIONS and self.peek()[1] == "(":
            self.take()
            argument = self.word()
            self.expect(")")
            if text in ("req", "http"):
                self.read.add(argument.lower())
            return _FUNCTIONS[text](self.request, argument)
        raise Unsupported(f"word {text!r}")

    def variable(self, name: str) -> str:
        kind, _, rest = name.partition(":")
        if rest and kind.upper() == "HTTP":
            self.read.add(rest.lower())
        return self.request.variable(name)


def evaluate(text: str, request: Vars) -> tuple[bool, frozenset[str]]:
    """Whether the expression holds, and the request headers it read (lower case)."""
    parser = _Parser(text, request)
    value = parser.boolean()
    if parser.peek()[0] != "end":
        raise Unsupported(f"trailing {parser.peek()[1]!r} in {text!r}")
    return value, frozenset(parser.read)
