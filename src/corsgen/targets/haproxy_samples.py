"""HAProxy 2.6's samples: fetches and converters (`req.hdr(origin),lower`) and log-format values
(`%[var(txn.origin)]`), each evaluated against a transaction (Txn) as HAProxy evaluates it.
targets/haproxy_acls.py tests samples, targets/haproxy_routing.py runs the rules that use both.

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
from corsgen.targets.haproxy_lines import Unmodeled
from corsgen.targets.haproxy_patterns import checked, map_file, matches

Value = str | int  # a sample: a string, or an integer (booleans are 0 and 1)


# ---------------------------------------------------------------------------------------------
# Samples: a fetch and its converters, as `req.hdr(origin),lower`.

CALL = re.compile(r"([A-Za-z0-9_.-]+)(?:\((.*)\))?$", re.S)


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple[str, ...]
    table: tuple[tuple[str, str], ...] = ()  # a map converter's file, read


# A file's text, by its name as a line writes it (relative names: see haproxy_config.read_configs).
Read = Callable[[str, Place], str]
# map, map_str, map_beg, ... (a string out; map_*_int and the others are not modeled).
MAP_METHODS = ("str", "beg", "sub", "dir", "dom", "end", "reg")
MAP = re.compile(rf"map(?:_({'|'.join(MAP_METHODS)}))?(?:_str)?$")


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
    found = CALL.match(text.strip())
    if not found:
        raise Unmodeled(f"cannot read the sample {text!r}", at)
    args = tuple(a.strip() for a in _top_level(found[2], ",")) if found[2] else ()
    return Call(found[1].lower(), args)


def number(word: str, at: Place) -> int:
    """An integer argument; Unmodeled (as haproxy -c refuses it) when it is not one."""
    if not re.fullmatch(r"-?\d{1,18}", word):
        raise Unmodeled(f"{word!r} is not an integer", at)
    return int(word)


def parse_expr(text: str, at: Place, read: Read | None = None) -> Expr:
    """A sample; `read` gives a map converter's file (where none is given: Unmodeled)."""
    fetch, *calls = (_call(part, at) for part in _top_level(text, ","))
    converters = [_map(call, at, read) if MAP.match(call.name) else call for call in calls]
    # What a fetch's arguments must be, read now rather than per request: a header's name and
    # occurrence, int()'s integer.
    if ("hdr" in fetch.name and not fetch.args) or (fetch.name == "int" and len(fetch.args) != 1):
        raise Unmodeled(f"{fetch.name} needs an argument here", at)
    for arg in fetch.args[1:2] if fetch.name.endswith("hdr") else ():
        number(arg, at)
    if fetch.name == "int":
        number(fetch.args[0], at)
    if fetch.name == "var":
        variable(fetch.args[0] if fetch.args else "", at)
    for conv in converters:
        if conv.name not in CONVERTERS:
            raise Unmodeled(f"the converter {conv.name} is not modeled", at)
    if fetch.name not in FETCHES:
        raise Unmodeled(f"the fetch {fetch.name} is not modeled", at)
    return Expr(fetch, tuple(converters), text)


# A log-format string: literal text and samples, `%[...]` (a missing sample writes nothing).
Format = tuple[str | Expr, ...]


def _map(call: Call, at: Place, read: Read | None) -> Call:
    if read is None or not call.args:
        raise Unmodeled(f"{call.name} is not modeled here", at)
    table = tuple(map_file(read(call.args[0], at)))
    if (MAP.match(call.name) or [""])[1] == "reg":
        for key, _ in table:
            checked(key, False, at)
    return Call(call.name, call.args, table)


def parse_format(text: str, at: Place, read: Read | None = None) -> Format:
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
            parts += ["".join(literal), parse_expr(text[i + 2 : end], at, read)]
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
    headers: list[tuple[str, str]]  # the request's, as http-request rules leave them
    ssl: bool
    users: Mapping[str, Mapping[str, str | None]]  # userlist -> user -> password (None: hashed)
    at: Place  # the rule being evaluated
    vars: dict[str, Value] = field(default_factory=dict)
    response: list[Sent] | None = None  # None while the request is read
    status: int = 0
    auth: Place | None = None

    def host(self) -> str:
        return next(iter(self.values("host", False)[-1:]), "")

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


_SCOPES = ("txn", "sess", "proc", "req", "res")


def variable(name: str, at: Place) -> str:
    """A variable's name, refused (as haproxy -c refuses it) without a scope HAProxy knows."""
    if name.split(".", 1)[0] not in _SCOPES or "." not in name:
        raise Unmodeled(f"the variable {name!r} has no scope HAProxy knows", at)
    return name


def _var(txn: Txn, args: Sequence[str]) -> list[Value]:
    name = args[0]
    scope = name.split(".", 1)[0]
    if (scope == "req" and txn.response is not None) or (scope == "res" and txn.response is None):
        return []
    return [txn.vars[name]] if name in txn.vars else []


def _http_auth(txn: Txn, args: Sequence[str]) -> list[Value]:
    users = txn.users.get(args[0] if args else "")
    if users is None:
        raise Unmodeled(f"no userlist {args[0] if args else ''!r}", txn.at)
    txn.auth = txn.at
    return [int(authorized(txn, users))]


def authorized(txn: Txn, users: Mapping[str, str | None]) -> bool:
    """Whether the request's basic credentials are one of `users`' (None: a hashed password,
    never matched: the model's requests carry no real credentials)."""
    for value in txn.values("authorization", False)[-1:]:
        scheme, _, token = value.partition(" ")
        if scheme.lower() != "basic":
            continue
        try:
            user, _, password = base64.b64decode(token.strip()).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            continue
        if users.get(user) is not None and users[user] == password:
            return True
    return False


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
    "base": lambda txn, _: [txn.host() + _path(txn)],
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
INTEGER = frozenset(name for name in FETCHES if name.endswith("_cnt")) | {
    "status",
    "int",
}
BOOLEAN = frozenset({"bool", "always_true", "always_false", "http_auth", "ssl_fc"})
BOOLEAN |= {"req.proto_http"}


# A converter: the value out, or None when the sample fails (set-var then sets nothing).
Converter = Callable[[Value, Call], Value | None]


def _case(convert: Callable[[str], str]) -> Converter:
    return lambda value, _: convert(value) if isinstance(value, str) else value


def _mapped(value: Value, call: Call) -> Value | None:
    """The value of the first entry whose key the sample matches (checked on haproxy 2.6), else
    the default the converter names, else none."""
    found = MAP.match(call.name)
    method = (found[1] if found else None) or "str"
    for key, mapped in call.table:
        if matches(method, str(value), key):
            return mapped
    return call.args[1] if len(call.args) > 1 else None


CONVERTERS: Mapping[str, Converter] = {
    "lower": _case(str.lower),
    "upper": _case(str.upper),
    **{name: _mapped for name in ("map", *(f"map_{m}" for m in MAP_METHODS))},
}


def fetch_all(expr: Expr, txn: Txn) -> list[Value]:
    """Every value of a sample, each through the converters: what an ACL tests, in turn."""
    values = (_converted(expr, value) for value in FETCHES[expr.fetch.name](txn, expr.fetch.args))
    return [value for value in values if value is not None]


def fetch(expr: Expr, txn: Txn) -> Value | None:
    """A sample as set-var and %[...] take it: the last value (HAProxy's default occurrence),
    then the converters (checked: of `a, b` only `b` is looked up in a map)."""
    values = FETCHES[expr.fetch.name](txn, expr.fetch.args)
    return _converted(expr, values[-1]) if values else None


def _converted(expr: Expr, value: Value | None) -> Value | None:
    for conv in expr.converters:
        if value is None:
            break
        value = CONVERTERS[conv.name](value, conv)
    return value


def render(value: Format, txn: Txn) -> str:
    out = []
    for part in value:
        if isinstance(part, str):
            out.append(part)
        elif (sample := fetch(part, txn)) is not None:
            out.append(str(sample))
    return "".join(out)


# What a response rule may not fetch (haproxy -c: "needs 'HTTP request headers' which is not
# available here"), and what only a response has; checked on haproxy 2.6 (`method` is kept).
_REQUEST_ONLY = frozenset({"path", "url", "query", "base", "http_auth"})
_RESPONSE_ONLY = frozenset({"status"})


def fits(expr: Expr, response: bool) -> bool:
    name = expr.fetch.name
    if response:
        return not (name.startswith("req.") or name in _REQUEST_ONLY)
    return not (name.startswith("res.") or name in _RESPONSE_ONLY)


def usable(expr: Expr, at: Place, response: bool) -> None:
    """A sample a rule writes (set-var, %[...]): haproxy -c refuses one the phase has not."""
    if not fits(expr, response):
        phase = "a response" if response else "a request"
        raise Unmodeled(f"{expr.fetch.name} cannot be fetched in {phase} rule", at)
