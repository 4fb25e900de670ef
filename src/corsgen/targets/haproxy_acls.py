"""HAProxy's ACLs and the conditions of its rules, as HAProxy 2.6 reads and evaluates them.

An ACL is a sample (targets/haproxy_samples.py), a match method (str, beg, end, sub, reg, dom,
dir, len, found, bool, int), flags (-i, -m, --) and patterns; several lines of one name are
alternatives. A condition is `if` or `unless`, alternatives joined by `||` (or `or`) of terms
that must all hold, each an ACL name or an anonymous `{ ... }` ACL, maybe negated with `!`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from corsgen.routing import Place
from corsgen.targets.haproxy_lines import Unmodeled
from corsgen.targets.haproxy_patterns import checked, matches, pattern_file
from corsgen.targets.haproxy_samples import (
    BOOLEAN,
    CALL,
    FETCHES,
    INTEGER,
    Call,
    Expr,
    Txn,
    Value,
    fetch_all,
    fits,
    parse_expr,
)

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
        return any(matches(self.method, text, p, self.ignore_case) for p in self.patterns)


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


def parse_acl(
    words: Sequence[str], at: Place, read: Callable[[str, Place], str] | None = None
) -> Acl:
    """An ACL from its criterion on: `hdr(origin) -i -m reg -f FILE -- PATTERN...`; `read`
    gives a pattern file's text (an anonymous ACL has none: Unmodeled)."""
    if not words:
        raise Unmodeled("an ACL without a criterion", at)
    criterion, method = words[0], ""
    name = CALL.match(criterion)
    keyword = name[1].lower() if name else criterion
    if keyword not in FETCHES and "_" in keyword:
        base, suffix = keyword.rsplit("_", 1)
        if suffix in _SUFFIXES and base in FETCHES and suffix != "cnt":
            criterion, method = base + criterion[len(keyword) :], suffix
    expr = parse_expr(criterion, at, read)
    ignore_case, listed, i = False, [], 1
    while i < len(words) and words[i].startswith("-") and not _is_number(words[i]):
        flag = words[i]
        if flag == "--":
            i += 1
            break
        if flag == "-i":
            ignore_case = True
        elif flag == "-m" and i + 1 < len(words):
            method = words[i + 1]
        elif flag == "-f" and i + 1 < len(words) and read is not None:
            listed += pattern_file(read(words[i + 1], at))
        elif flag in ("-n", "-u") or flag in _FLAGS_WITH_VALUE:
            raise Unmodeled(f"the ACL flag {flag} is not modeled", at)
        else:
            raise Unmodeled(f"unknown ACL flag {flag}", at)
        i += 2 if flag in _FLAGS_WITH_VALUE else 1
    patterns = [*listed, *words[i:]]
    if not method:
        kind = expr.fetch.name
        method = "int" if kind in INTEGER else "bool" if kind in BOOLEAN else "str"
    if method not in _METHODS:
        raise Unmodeled(f"the match method {method} is not modeled", at)
    if method in ("int", "len"):
        patterns = _int_patterns(patterns, at)
    if method == "reg":
        for pattern in patterns:
            checked(pattern, ignore_case, at)
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


def _in_phase(acl: Acl, response: bool) -> Acl:
    """An ACL as a rule's phase runs it: one whose fetch the phase has not never matches
    (haproxy -c only warns, "acl will never match"), and `!` makes it always true."""
    if fits(acl.expr, response):
        return acl
    return Acl(Expr(Call("always_false", ()), (), "always_false"), "bool", (), False, acl.at)


def parse_predefined(name: str, at: Place) -> tuple[Acl, ...]:
    """A predefined ACL (doc section 7.4), as the ACL line it stands for."""
    return (parse_acl(PREDEFINED[name].split(), at),) if name in PREDEFINED else ()


# The ACLs whose first term tests the path alone, by prefix or whole: filed by it (prefix_index),
# a switch whose every alternative starts with one is tried only by a request on such a path.
_PATH_METHODS = frozenset({"beg", "str"})


def path_keys(condition: Condition | None) -> list[tuple[str | None, str | None]]:
    """What the path of every request the condition holds for starts with: ("", prefix), or
    ("i", prefix) in lower case for -i; [(None, None)] when it cannot say. Only an alternative
    whose first term is such a test says: one that fails there fails before any other fetch, so
    a switch skipped for it is one that would have failed with nothing else done."""
    if condition is None or condition.unless:
        return [(None, None)]
    keys: list[tuple[str | None, str | None]] = []
    for terms in condition.alternatives:
        first = terms[0] if terms else None
        if first is None or first.negated or not first.acls:
            return [(None, None)]
        for acl in first.acls:
            plain = acl.expr.fetch.name == "path" and not acl.expr.converters
            if not plain or acl.method not in _PATH_METHODS:
                return [(None, None)]
            case = "i" if acl.ignore_case else ""
            keys += [(case, p.lower() if acl.ignore_case else p) for p in acl.patterns]
    return keys or [(None, None)]
