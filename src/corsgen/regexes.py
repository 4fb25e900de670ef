"""allow_origin_regex: a parser for the syntax PCRE and RE2 agree on, and a hostile-match probe.

nginx and Apache use PCRE, Caddy uses Go's RE2. Rather than hope a user's regex means the same in
both, corsgen accepts only a subset whose meaning is identical in both (and in Python's `re`, which
it uses to probe). Anything else is refused with the construct named.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field

from corsgen.origins import OriginError, parse_origin, registrable_domain

_LITERAL = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_:/-")
_ESCAPES = {".": ".", "-": "-", "/": "/", ":": ":", "[": "[", "]": "]"}
_CLASSES = {"d": "1", "w": "a"}
_MAX_SAMPLES = 24


class RegexError(ValueError):
    """A regex outside the portable subset; `rule` is the rule it breaks."""

    def __init__(self, rule: str, message: str, fix: str) -> None:
        super().__init__(message)
        self.rule, self.message, self.fix = rule, message, fix


@dataclass
class _Node:
    """A sequence of (alternatives | single char choice) items with repeat bounds."""

    kind: str  # "lit", "class", "any", "group"
    options: tuple[str, ...] = ()
    alts: list[list[tuple[_Node, tuple[int, ...]]]] = field(default_factory=list)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text, self.pos = text, 0

    def fail(self, what: str) -> RegexError:
        return RegexError(
            "CG109",
            f"{what} at position {self.pos} of {self.text!r} is not portable between PCRE and RE2",
            "use only literals, \\., [...] classes, (...) / (?:...) groups, | and ? * + {n,m}",
        )

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def take(self) -> str:
        char = self.peek()
        self.pos += 1
        return char

    def alternation(self) -> list[list[tuple[_Node, tuple[int, ...]]]]:
        alts = [self.sequence()]
        while self.peek() == "|":
            self.take()
            alts.append(self.sequence())
        return alts

    def sequence(self) -> list[tuple[_Node, tuple[int, ...]]]:
        items: list[tuple[_Node, tuple[int, ...]]] = []
        while self.peek() not in ("", "|", ")"):
            atom = self.atom()
            items.append((atom, self.quantifier()))
        return items

    def atom(self) -> _Node:
        char = self.take()
        if char == "(":
            if self.peek() == "?":
                self.take()
                if self.take() != ":":
                    self.pos -= 1
                    raise self.fail("the group extension (?" + self.peek())
            node = _Node("group", alts=self.alternation())
            if self.take() != ")":
                raise self.fail("an unclosed group")
            return node
        if char == "[":
            return self.char_class()
        if char == ".":
            # An unescaped dot is usually meant as a literal one: sample that, and a letter.
            return _Node("any", options=(".", "a"))
        if char == "\\":
            esc = self.take()
            if esc in _ESCAPES:
                return _Node("lit", options=(_ESCAPES[esc],))
            if esc in _CLASSES:
                return _Node("class", options=(_CLASSES[esc],))
            self.pos -= 2
            raise self.fail(f"the escape \\{esc}")
        if char in _LITERAL:
            return _Node("lit", options=(char,))
        self.pos -= 1
        raise self.fail(f"the character {char!r}" if char else "the end")

    def char_class(self) -> _Node:
        negated = self.peek() == "^"
        if negated:
            self.take()
        members: list[str] = []
        while self.peek() != "]":
            char = self.take()
            if char == "":
                raise self.fail("an unclosed [")
            if char == "\\":
                esc = self.take()
                if esc not in _ESCAPES and esc not in _CLASSES:
                    self.pos -= 2
                    raise self.fail(f"the escape \\{esc} in a class")
                members.append(_ESCAPES.get(esc) or _CLASSES[esc])
            elif char == "[":
                raise self.fail("a [ inside a class (POSIX classes differ)")
            elif char in _LITERAL or char == ".":
                members.append(char)
            else:
                self.pos -= 1
                raise self.fail(f"the character {char!r} in a class")
        self.take()
        if not members:
            raise self.fail("an empty class")
        if negated:
            return _Node("class", options=("a" if "a" not in members else "0",))
        preferred = [m for m in members if m.isalpha()] or [m for m in members if m in "123456789"]
        return _Node("class", options=((preferred or members)[0],))

    def quantifier(self) -> tuple[int, ...]:
        """Repeat counts to sample: an optional part both left out and present once."""
        char = self.peek()
        counts: tuple[int, ...]
        if char in ("?", "*"):
            self.take()
            counts = (0, 1)
        elif char == "+":
            self.take()
            counts = (1,)
        elif char == "{":
            self.take()
            digits = ""
            while self.peek().isdigit() or self.peek() == ",":
                digits += self.take()
            if self.take() != "}" or not re.fullmatch(r"\d{1,3}(,\d{0,3})?", digits):
                raise self.fail("a malformed {n,m} repeat")
            low, _, high = digits.partition(",")
            if high and int(high) < int(low):
                raise self.fail("a {n,m} repeat with m < n")
            counts = (max(int(low), 1),)
        else:
            return (1,)
        if self.peek() == "?":
            self.take()
        elif self.peek() in ("+", "*", "{"):
            raise self.fail("a possessive or stacked quantifier")
        return counts


def _samples(alts: list[list[tuple[_Node, tuple[int, ...]]]]) -> list[str]:
    out: list[str] = []
    for seq in alts:
        parts: list[list[str]] = []
        for node, counts in seq:
            options = _samples(node.alts) if node.kind == "group" else list(node.options)
            parts.append([opt * count for count in counts for opt in options])
        for combo in itertools.islice(itertools.product(*parts), _MAX_SAMPLES):
            out.append("".join(combo))
    return out[:_MAX_SAMPLES]


@dataclass(frozen=True)
class OriginRegex:
    """A user's regex, validated, with the anchored pattern every target uses."""

    source: str
    body: str
    samples: tuple[str, ...]

    @property
    def anchored(self) -> str:
        return f"^(?:{self.body})$"


def parse_regex(source: str) -> OriginRegex:
    """Validate portability; strip the user's own ^ and $ since corsgen anchors both ends itself."""
    if not source:
        raise RegexError("CG105", "empty regex", "remove allow_origin_regex or give a pattern")
    body = source[1:] if source.startswith("^") else source
    body = body[:-1] if body.endswith("$") and not body.endswith("\\$") else body
    parser = _Parser(body)
    alts = parser.alternation()
    if parser.pos != len(body):
        raise parser.fail("an unbalanced )")
    return OriginRegex(source, body, tuple(dict.fromkeys(_samples(alts))))


_FIXED_PROBES = ("null", "https://evil.com", "http://evil.com", "https://evil.com:8443")
_DOWNGRADE = {"https": "http", "wss": "ws"}


def _variants(origin_text: str) -> list[str]:
    """Suffix, prefix, look-alike and scheme-downgrade twists on one origin the regex accepts."""
    origin = parse_origin(origin_text)
    scheme, host = origin.scheme, origin.host
    port = "" if origin.port is None else f":{origin.port}"
    reg = registrable_domain(host)
    head = host[: len(host) - len(reg)]
    hosts = [
        f"{host}.evil.com",
        f"{host}-evil.com",
        f"{head}evil{reg}",
        f"{head}evil-{reg}",
        f"{head}{reg.replace('.', 'x', 1)}",
        f"{head[:-1]}x{reg}" if head else "",
    ]
    out = [f"{scheme}://{h}{port}" for h in hosts if h]
    if scheme in _DOWNGRADE:
        out.append(f"{_DOWNGRADE[scheme]}://{host}{port}")
    return out


def _hostile(sample: str, variant: str) -> bool:
    if variant.startswith(("http://", "ws://")) and not sample.startswith(("http://", "ws://")):
        return True
    try:
        a, b = parse_origin(sample), parse_origin(variant)
    except OriginError:
        return True
    return registrable_domain(a.host) != registrable_domain(b.host)


def hostile_matches(regex: OriginRegex) -> list[str]:
    """Origins an attacker could own that the regex still accepts; empty when it looks tight."""
    compiled = re.compile(regex.anchored)
    found = [p for p in _FIXED_PROBES if compiled.fullmatch(p)]
    for sample in regex.samples:
        if not compiled.fullmatch(sample):
            continue
        try:
            variants = _variants(sample)
        except OriginError:
            continue  # not an origin a browser sends, so nothing an attacker can use
        found += [v for v in variants if compiled.fullmatch(v) and _hostile(sample, v)]
    return list(dict.fromkeys(found))
