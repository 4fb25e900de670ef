"""What HAProxy 2.6 reads in a line, a sample and an ACL: the words of a config line, fetches and
converters (`req.hdr(origin),lower`), log-format values (`%[var(txn.origin)]`), ACLs and
`if`/`unless` conditions, each evaluated against a transaction (Txn) as HAProxy evaluates it.
targets/haproxy_routing.py runs the rules that use them.

Only what CORS configs use is modeled: anything else (a fetch, converter, flag or log-format
variable not listed here) is refused with its line (Unmodeled), so the model never guesses.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from corsgen.routing import Place, Sent

Value = str | int  # a sample: a string, or an integer (booleans are 0 and 1)


class Unmodeled(Exception):
    """A line the model cannot answer for (or that HAProxy would refuse)."""

    def __init__(self, message: str, at: Place) -> None:
        super().__init__(f"{at}: {message}")
        self.message, self.at = message, at


# ---------------------------------------------------------------------------------------------
# Lines, as HAProxy 2.6's parser splits them (checked: a # starts a comment anywhere outside
# quotes; "..." unescapes \" \\ \$ and expands ${VAR}; '...' is literal; an unquoted backslash
# escapes a blank, #, a quote or itself and is kept before anything else, so `\.` stays `\.`).


@dataclass(frozen=True, slots=True)
class Line:
    at: Place
    words: tuple[str, ...]


_UNQUOTED_ESCAPES = frozenset(" \t#\\'\"")
_QUOTED_ESCAPES = frozenset('"\\$#')
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def split_line(raw: str, at: Place, environ: Mapping[str, str]) -> tuple[str, ...]:
    words: list[str] = []
    word: list[str] = []
    started, i, n = False, 0, len(raw)
    while i < n:
        char = raw[i]
        if char in " \t\r":
            if started:
                words.append("".join(word))
            word, started = [], False
        elif char == "#":
            break
        elif char == "\\" and i + 1 < n and raw[i + 1] in _UNQUOTED_ESCAPES:
            word.append(raw[i + 1])
            started, i = True, i + 1
        elif char == "'":
            end = raw.find("'", i + 1)
            if end < 0:
                raise Unmodeled("unmatched quote", at)
            word.append(raw[i + 1 : end])
            started, i = True, end
        elif char == '"':
            i = _double_quoted(raw, i + 1, word, at, environ)
            started = True
        else:
            word.append(char)
            started = True
        i += 1
    if started:
        words.append("".join(word))
    return tuple(words)


def _double_quoted(raw: str, i: int, word: list[str], at: Place, env: Mapping[str, str]) -> int:
    """Read "..." from after its quote into word; the index of the closing quote."""
    while i < len(raw):
        char = raw[i]
        if char == '"':
            return i
        if char == "\\" and i + 1 < len(raw) and raw[i + 1] in _QUOTED_ESCAPES:
            word.append(raw[i + 1])
            i += 2
            continue
        if char == "$" and (found := _ENV.match(raw, i)):
            # An environment variable HAProxy would expand; one not set is empty.
            word.append(env.get(found[1] or found[2], ""))
            i = found.end()
            continue
        word.append(char)
        i += 1
    raise Unmodeled("unmatched quote", at)


# ---------------------------------------------------------------------------------------------
# Samples: a fetch and its converters, as `req.hdr(origin),lower`.

_CALL = re.compile(r"([A-Za-z0-9_.-]+)(?:\((.*)\))?$", re.S)


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple[str, ...]


@dataclass(frozen=True)
class Expr:
    fetch: Call
    converters: tuple[Call, ...]
    text: str


def _top_level(text: str, sep: str) -> list[str]:
    """text split on `sep` outside parentheses."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(text):
        depth += (char == "(") - (char == ")")
        if char == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    return [*parts, text[start:]]


def _call(text: str, at: Place) -> Call:
    found = _CALL.match(text.strip())
    if not found:
        raise Unmodeled(f"cannot read the sample {text!r}", at)
    args = tuple(a.strip() for a in _top_level(found[2], ",")) if found[2] else ()
    return Call(found[1].lower(), args)


def number(word: str, at: Place) -> int:
    """An integer argument; Unmodeled (as haproxy -c refuses it) when it is not one."""
    if not re.fullmatch(r"-?\d{1,18}", word):
        raise Unmodeled(f"{word!r} is not an integer", at)
    return int(word)


def parse_expr(text: str, at: Place) -> Expr:
    fetch, *converters = (_call(part, at) for part in _top_level(text, ","))
    # What a fetch's arguments must be, read now rather than per request: a header's name and
    # occurrence, int()'s integer.
    if ("hdr" in fetch.name and not fetch.args) or (fetch.name == "int" and len(fetch.args) != 1):
        raise Unmodeled(f"{fetch.name} needs an argument here", at)
    for arg in fetch.args[1:2] if fetch.name.endswith("hdr") else ():
        number(arg, at)
    if fetch.name == "int":
        number(fetch.args[0], at)
    for conv in converters:
        if conv.name not in CONVERTERS:
            raise Unmodeled(f"the converter {conv.name} is not modeled", at)
    if fetch.name not in FETCHES:
        raise Unmodeled(f"the fetch {fetch.name} is not modeled", at)
    return Expr(fetch, tuple(converters), text)


# A log-format string: literal text and samples, `%[...]` (a missing sample writes nothing).
Format = tuple[str | Expr, ...]


def parse_format(text: str, at: Place) -> Format:
    parts: list[str | Expr] = []
    literal: list[str] = []
    i = 0
    while i < len(text):
        if text[i] != "%":
            literal.append(text[i])
            i += 1
        elif text.startswith("%%", i):
            literal.append("%")
            i += 2
        elif text.startswith("%[", i):
            end = _closing(text, i + 1)
            if end < 0:
                raise Unmodeled(f"an unclosed %[ in {text!r}", at)
            parts += ["".join(literal), parse_expr(text[i + 2 : end], at)]
            literal, i = [], end + 1
        else:
            raise Unmodeled(f"the log-format variable in {text!r} is not modeled", at)
    return (*parts, "".join(literal))


def _closing(text: str, start: int) -> int:
    depth = 0
    for i in range(start, len(text)):
        depth += (text[i] == "[") - (text[i] == "]")
        if depth == 0:
            return i
    return -1


# ---------------------------------------------------------------------------------------------
# What a rule sees of the transaction.


@dataclass
class Txn:
    method: str
    path: str  # with the query
    host: str
    headers: list[tuple[str, str]]  # the request's, as http-request rules leave them
    ssl: bool
    users: Mapping[str, Mapping[str, str | None]]  # userlist -> user -> password (None: hashed)
    at: Place  # the rule being evaluated
    vars: dict[str, Value] = field(default_factory=dict)
    response: list[Sent] | None = None  # None while the request is read
    status: int = 0
    auth: Place | None = None

    def values(self, name: str, response: bool) -> list[str]:
        """Each full line of header `name`, of the response or the request."""
        lines = [(s.name, s.value) for s in self.response or ()] if response else self.headers
        return [v for n, v in lines if n.lower() == name.lower()]


def _headers(txn: Txn, args: Sequence[str], response: bool, full: bool) -> list[Value]:
    if not args:
        raise Unmodeled("a header fetch without a name is not modeled", txn.at)
    lines = txn.values(args[0], response)
    values = lines if full else [v.strip() for line in lines for v in line.split(",")]
    if len(args) > 1:  # an occurrence: 1 is the first, -1 the last
        index = int(args[1])
        index = index - 1 if index > 0 else len(values) + index
        return [values[index]] if 0 <= index < len(values) else []
    return list(values)


def _phase_headers(full: bool) -> Callable[[Txn, Sequence[str]], list[Value]]:
    """hdr(): the request's while it is read, the response's in http-response rules."""
    return lambda txn, args: _headers(txn, args, txn.response is not None, full)


def _side_headers(response: bool, full: bool) -> Callable[[Txn, Sequence[str]], list[Value]]:
    return lambda txn, args: _headers(txn, args, response, full)


def _count(fetch: Callable[[Txn, Sequence[str]], list[Value]]) -> Fetch:
    return lambda txn, args: [len(fetch(txn, args))]


def _var(txn: Txn, args: Sequence[str]) -> list[Value]:
    name = args[0] if args else ""
    scope = name.split(".", 1)[0]
    if scope not in ("txn", "sess", "proc", "req", "res"):
        raise Unmodeled(f"the variable {name!r} has no scope HAProxy knows", txn.at)
    if (scope == "req" and txn.response is not None) or (scope == "res" and txn.response is None):
        return []
    return [txn.vars[name]] if name in txn.vars else []


def _http_auth(txn: Txn, args: Sequence[str]) -> list[Value]:
    users = txn.users.get(args[0] if args else "")
    if users is None:
        raise Unmodeled(f"no userlist {args[0] if args else ''!r}", txn.at)
    txn.auth = txn.at
    for value in txn.values("authorization", False)[-1:]:
        scheme, _, token = value.partition(" ")
        if scheme.lower() != "basic":
            continue
        try:
            user, _, password = base64.b64decode(token.strip()).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            continue
        # A hashed password is never matched: the model's requests carry no real credentials.
        if user in users and users[user] is not None and users[user] == password:
            return [1]
    return [0]


def _path(txn: Txn) -> str:
    return txn.path.split("?", 1)[0]


Fetch = Callable[[Txn, Sequence[str]], list[Value]]
FETCHES: Mapping[str, Fetch] = {
    "hdr": _phase_headers(False),
    "fhdr": _phase_headers(True),
    "req.hdr": _side_headers(False, False),
    "req.fhdr": _side_headers(False, True),
    "res.hdr": _side_headers(True, False),
    "res.fhdr": _side_headers(True, True),
    "hdr_cnt": _count(_phase_headers(False)),
    "req.hdr_cnt": _count(_side_headers(False, False)),
    "req.fhdr_cnt": _count(_side_headers(False, True)),
    "res.hdr_cnt": _count(_side_headers(True, False)),
    "res.fhdr_cnt": _count(_side_headers(True, True)),
    "method": lambda txn, _: [txn.method],
    "path": lambda txn, _: [_path(txn)],
    "url": lambda txn, _: [txn.path],
    "query": lambda txn, _: [txn.path.split("?", 1)[1]] if "?" in txn.path else [],
    "base": lambda txn, _: [txn.host + _path(txn)],
    "status": lambda txn, _: [txn.status] if txn.response is not None else [],
    "var": _var,
    "str": lambda _, args: [",".join(args)],
    "int": lambda _, args: [int(args[0])],
    "bool": lambda _, args: [1 if args and args[0] not in ("0", "false") else 0],
    "always_true": lambda _, __: [1],
    "always_false": lambda _, __: [0],
    "http_auth": _http_auth,
    "ssl_fc": lambda txn, _: [int(txn.ssl)],
    "req.ver": lambda _, __: ["1.1"],
    "req.proto_http": lambda _, __: [1],
}
_INTEGER = frozenset(name for name in FETCHES if name.endswith("_cnt")) | {
    "status",
    "int",
}
_BOOLEAN = frozenset({"bool", "always_true", "always_false", "http_auth", "ssl_fc"})
_BOOLEAN |= {"req.proto_http"}


def _case(convert: Callable[[str], str]) -> Callable[[Value, Sequence[str]], Value]:
    return lambda value, _: convert(value) if isinstance(value, str) else value


CONVERTERS: Mapping[str, Callable[[Value, Sequence[str]], Value]] = {
    "lower": _case(str.lower),
    "upper": _case(str.upper),
}


def fetch_all(expr: Expr, txn: Txn) -> list[Value]:
    """Every value of a sample: what an ACL tests, each in turn."""
    values = FETCHES[expr.fetch.name](txn, expr.fetch.args)
    for conv in expr.converters:
        values = [CONVERTERS[conv.name](value, conv.args) for value in values]
    return values


def fetch(expr: Expr, txn: Txn) -> Value | None:
    """A sample as set-var and %[...] take it: the last value (HAProxy's default occurrence)."""
    values = fetch_all(expr, txn)
    return values[-1] if values else None


def render(value: Format, txn: Txn) -> str:
    out = []
    for part in value:
        if isinstance(part, str):
            out.append(part)
        elif (sample := fetch(part, txn)) is not None:
            out.append(str(sample))
    return "".join(out)


# ---------------------------------------------------------------------------------------------
# ACLs: a sample, a match method and patterns; several lines of one name are alternatives.

_SUFFIXES = ("beg", "end", "sub", "reg", "dom", "dir", "len", "cnt")
_METHODS = frozenset({"str", "beg", "end", "sub", "reg", "dom", "dir", "len", "found", "bool"})
_METHODS |= {"int"}
_FLAGS_WITH_VALUE = frozenset({"-m", "-f", "-M"})
_INT_OPERATORS = {
    "eq": int.__eq__,
    "ge": int.__ge__,
    "gt": int.__gt__,
    "le": int.__le__,
    "lt": int.__lt__,
}
# HAProxy's predefined ACLs, as the ACL lines they stand for (doc section 7.4).
PREDEFINED: Mapping[str, str] = {
    "TRUE": "always_true",
    "FALSE": "always_false",
    "HTTP": "req.proto_http",
    "HTTP_1.0": "req.ver 1.0",
    "HTTP_1.1": "req.ver 1.1",
    "HTTP_URL_ABS": "url_reg ^[^/:]*://",
    "HTTP_URL_SLASH": "url_beg /",
    "HTTP_URL_STAR": "url *",
    **{f"METH_{m}": f"method {m}" for m in ("CONNECT", "DELETE", "OPTIONS", "POST", "PUT")},
    **{f"METH_{m}": f"method {m}" for m in ("TRACE", "HEAD")},
    "METH_GET": "method GET HEAD",
}


@dataclass(frozen=True)
class Acl:
    expr: Expr
    method: str
    patterns: tuple[str, ...]
    ignore_case: bool
    at: Place

    def matches(self, txn: Txn) -> bool:
        values = fetch_all(self.expr, txn)
        if self.method == "found":
            return bool(values)
        return any(self._one(value) for value in values)

    def _one(self, value: Value) -> bool:
        if self.method == "bool":
            return bool(_integer(value))  # a string is a boolean only as a number
        if self.method in ("int", "len"):
            number = len(str(value)) if self.method == "len" else _integer(value)
            return number is not None and any(_compare(number, p) for p in self.patterns)
        text = str(value)
        return any(_match(self.method, text, p, self.ignore_case) for p in self.patterns)


def _integer(value: Value) -> int | None:
    if isinstance(value, int):
        return value
    try:
        return int(value)
    except ValueError:
        return None


def _compare(number: int, pattern: str) -> bool:
    operator, _, operand = pattern.partition(" ")
    if operator in _INT_OPERATORS:
        return bool(_INT_OPERATORS[operator](number, int(operand)))
    low, colon, high = pattern.partition(":")
    if colon:
        return (not low or int(low) <= number) and (not high or number <= int(high))
    return number == int(pattern)


def _match(method: str, value: str, pattern: str, ignore_case: bool) -> bool:
    if method == "reg":
        return re.search(pattern, value, re.I if ignore_case else 0) is not None
    if ignore_case:
        value, pattern = value.lower(), pattern.lower()
    if method == "str":
        return value == pattern
    if method == "beg":
        return value.startswith(pattern)
    if method == "end":
        return value.endswith(pattern)
    if method == "sub":
        return pattern in value
    # dom and dir: the pattern as whole words between delimiters (dir: /, dom: / ? . :).
    delimiters = "/?" if method == "dir" else "/?.:"
    words = re.escape(pattern)
    around = "[" + re.escape(delimiters) + "]"
    return re.search(f"(?:^|{around}){words}(?:$|{around})", value) is not None


def parse_acl(words: Sequence[str], at: Place) -> Acl:
    """An ACL from its criterion on: `hdr(origin) -i -m reg -- PATTERN...`."""
    if not words:
        raise Unmodeled("an ACL without a criterion", at)
    criterion, method = words[0], ""
    name = _CALL.match(criterion)
    keyword = name[1].lower() if name else criterion
    if keyword not in FETCHES and "_" in keyword:
        base, suffix = keyword.rsplit("_", 1)
        if suffix in _SUFFIXES and base in FETCHES and suffix != "cnt":
            criterion, method = base + criterion[len(keyword) :], suffix
    expr = parse_expr(criterion, at)
    ignore_case, i = False, 1
    while i < len(words) and words[i].startswith("-") and not _is_number(words[i]):
        flag = words[i]
        if flag == "--":
            i += 1
            break
        if flag == "-i":
            ignore_case = True
        elif flag == "-m" and i + 1 < len(words):
            method = words[i + 1]
        elif flag in ("-n", "-u") or flag in _FLAGS_WITH_VALUE:
            raise Unmodeled(f"the ACL flag {flag} is not modeled", at)
        else:
            raise Unmodeled(f"unknown ACL flag {flag}", at)
        i += 2 if flag in _FLAGS_WITH_VALUE else 1
    patterns = list(words[i:])
    if not method:
        kind = expr.fetch.name
        method = "int" if kind in _INTEGER else "bool" if kind in _BOOLEAN else "str"
    if method not in _METHODS:
        raise Unmodeled(f"the match method {method} is not modeled", at)
    if method in ("int", "len"):
        patterns = _int_patterns(patterns, at)
    if method == "reg":
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise Unmodeled(f"the regex {pattern!r} does not compile here: {exc}", at) from None
    return Acl(expr, method, tuple(patterns), ignore_case, at)


def _is_number(word: str) -> bool:
    return word.lstrip("-").isdigit()


def _int_patterns(words: Sequence[str], at: Place) -> list[str]:
    """`eq 1` is one pattern of two words."""
    out, i = [], 0
    while i < len(words):
        if words[i] in _INT_OPERATORS and i + 1 < len(words):
            out.append(f"{words[i]} {words[i + 1]}")
            i += 2
        else:
            out.append(words[i])
            i += 1
    for pattern in out:
        if not re.fullmatch(r"(?:(?:eq|ge|gt|le|lt) )?-?\d+|-?\d*:-?\d*", pattern):
            raise Unmodeled(f"the integer pattern {pattern!r} is not modeled", at)
    return out


# A condition: alternatives (||) of terms that must all hold, each an ACL name (every line of that
# name, any of which may match) or an anonymous ACL, maybe negated. HAProxy resolves a name when
# it reads the condition: an ACL declared below it is an error.
@dataclass(frozen=True)
class Term:
    negated: bool
    acls: tuple[Acl, ...]

    def holds(self, txn: Txn) -> bool:
        return any(acl.matches(txn) for acl in self.acls) != self.negated


@dataclass(frozen=True)
class Condition:
    unless: bool
    alternatives: tuple[tuple[Term, ...], ...]

    def holds(self, txn: Txn) -> bool:
        found = any(all(term.holds(txn) for term in terms) for terms in self.alternatives)
        return found != self.unless


def parse_condition(
    words: Sequence[str], at: Place, named: Callable[[str], tuple[Acl, ...]], response: bool
) -> Condition:
    """`if`/`unless` and what follows; `named` gives the ACL lines of a name, `response`: the
    condition is a response rule's, where HAProxy refuses fetches of the request."""
    unless = words[0] == "unless"
    alternatives: list[tuple[Term, ...]] = []
    terms: list[Term] = []
    i = 1
    while i < len(words):
        word = words[i]
        if word in ("||", "or"):
            alternatives.append(tuple(terms))
            terms, i = [], i + 1
            continue
        negated = word.startswith("!")
        word = word[1:] if negated else word
        if not word:  # `! acl`
            i += 1
            word = words[i] if i < len(words) else ""
        if word == "{":
            end = _brace_end(words, i, at)
            acls: tuple[Acl, ...] = (parse_acl(words[i + 1 : end], at),)
            i = end + 1
        else:
            acls = named(word)
            i += 1
        terms.append(Term(negated, tuple(_in_phase(acl, response) for acl in acls)))
    alternatives.append(tuple(terms))
    if any(not alt for alt in alternatives):
        raise Unmodeled("an empty condition", at)
    return Condition(unless, tuple(alternatives))


def _brace_end(words: Sequence[str], start: int, at: Place) -> int:
    for i in range(start + 1, len(words)):
        if words[i] == "}":
            return i
    raise Unmodeled("an anonymous ACL without its closing }", at)


# What a response rule may not fetch (haproxy -c: "needs 'HTTP request headers' which is not
# available here"), and what only a response has; checked on haproxy 2.6 (`method` is kept).
_REQUEST_ONLY = frozenset({"path", "url", "query", "base", "http_auth"})
_RESPONSE_ONLY = frozenset({"status"})


def _fits(expr: Expr, response: bool) -> bool:
    name = expr.fetch.name
    if response:
        return not (name.startswith("req.") or name in _REQUEST_ONLY)
    return not (name.startswith("res.") or name in _RESPONSE_ONLY)


def usable(expr: Expr, at: Place, response: bool) -> None:
    """A sample a rule writes (set-var, %[...]): haproxy -c refuses one the phase has not."""
    if not _fits(expr, response):
        phase = "a response" if response else "a request"
        raise Unmodeled(f"{expr.fetch.name} cannot be fetched in {phase} rule", at)


def _in_phase(acl: Acl, response: bool) -> Acl:
    """An ACL as a rule's phase runs it: one whose fetch the phase has not never matches
    (haproxy -c only warns, "acl will never match"), and `!` makes it always true."""
    if _fits(acl.expr, response):
        return acl
    return Acl(Expr(Call("always_false", ()), (), "always_false"), "bool", (), False, acl.at)


def parse_predefined(name: str, at: Place) -> tuple[Acl, ...]:
    """A predefined ACL (doc section 7.4), as the ACL line it stands for."""
    return (parse_acl(PREDEFINED[name].split(), at),) if name in PREDEFINED else ()
