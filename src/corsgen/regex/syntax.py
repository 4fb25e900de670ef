"""The regex subset PCRE, RE2 and Python read the same way: a parser to a small tree, and back.

nginx and Apache use PCRE2, Caddy uses Go's RE2. Rather than hope a user's regex means the same in
each, corsgen accepts only literals, `\\.`-style escapes, `\\d`, `\\w`, classes, groups, `|` and
quantifiers, and refuses anything else with the construct named. The tree is then written back out
in one canonical spelling: what the servers run is exactly what corsgen analysed.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

from corsgen.rules.table import RuleError

# Stands for every character outside printable ASCII: the portable syntax can name none of them,
# so they all behave alike (only `.` and negated classes match them).
OTHER = "\x00"
PRINTABLE = frozenset(chr(c) for c in range(0x20, 0x7F))
ANY = PRINTABLE | {OTHER}
DIGITS = frozenset(string.digits)
WORD = frozenset(string.ascii_letters + string.digits + "_")
_LITERAL = frozenset(string.ascii_letters + string.digits + "_:/-")
_ESCAPES = frozenset(".-/:[]")
_CLASS_ESCAPES = {"d": DIGITS, "w": WORD}
# Deeper nesting costs PCRE (it refuses about 250) and our own recursion; no origin needs it.
MAX_DEPTH = 32
# RE2 refuses a counted repeat above 1000, nested ones included (their counts multiply).
RE2_MAX_REPEAT = 1000
# Characters a canonical class or literal must escape.
_SPECIAL = frozenset(".[]()|?*+{}^$\\-/")


class RegexError(RuleError):
    """A regex corsgen will not accept: the rule it breaks, the case and the regex's values."""


@dataclass(frozen=True)
class Chars:
    """One character position: the set it matches, and its canonical spelling."""

    chars: frozenset[str]
    text: str


@dataclass(frozen=True)
class Item:
    """A character or group, repeated low..high times (high None: unbounded)."""

    node: Chars | Group
    low: int = 1
    high: int | None = 1


Concatenation = tuple[Item, ...]


@dataclass(frozen=True)
class Group:
    alts: tuple[Concatenation, ...]


class _Parser:
    def __init__(self, text: str) -> None:
        self.text, self.pos, self.depth = text, 0, 0

    def refuse(self, rule: str, case: str, **fields: object) -> RegexError:
        """A refusal at the parser's position."""
        return RegexError(rule, case, pos=self.pos, regex=self.text, **fields)

    def fail(self, construct: str, case: str = "construct") -> RegexError:
        """The construct PCRE and RE2 read differently (or could), named."""
        return self.refuse("CG109", case, construct=construct)

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def take(self) -> str:
        char = self.peek()
        self.pos += 1
        return char

    def alternation(self) -> tuple[Concatenation, ...]:
        alts = [self.sequence()]
        while self.peek() == "|":
            self.take()
            alts.append(self.sequence())
        return tuple(alts)

    def sequence(self) -> Concatenation:
        items: list[Item] = []
        while self.peek() not in ("", "|", ")"):
            node = self.atom()
            low, high = self.quantifier()
            items.append(Item(node, low, high))
        return tuple(items)

    def atom(self) -> Chars | Group:
        char = self.take()
        if char == "(":
            return self.group()
        if char == "[":
            return self.char_class()
        if char == ".":
            return Chars(ANY, ".")
        if char == "\\":
            esc = self.take()
            if esc in _ESCAPES:
                return _literal(esc)
            if esc in _CLASS_ESCAPES:
                return _class(_CLASS_ESCAPES[esc])
            self.pos -= 2
            raise self.fail(f"the escape \\{esc}")
        if char in _LITERAL:
            return _literal(char)
        self.pos -= 1
        raise self.fail(f"the character {char!r}" if char else "the end")

    def group(self) -> Group:
        if self.peek() == "?":
            self.take()
            if self.take() != ":":
                self.pos -= 1
                raise self.fail("the group extension (?" + self.peek())
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.refuse("CG120", "regex-depth", most=MAX_DEPTH)
        node = Group(self.alternation())
        self.depth -= 1
        if self.take() != ")":
            raise self.fail("an unclosed group")
        return node

    def class_member(self) -> frozenset[str]:
        char = self.take()
        if char == "":
            raise self.fail("an unclosed [")
        if char == "\\":
            esc = self.take()
            if esc in _ESCAPES:
                return frozenset(esc)
            if esc in _CLASS_ESCAPES:
                return _CLASS_ESCAPES[esc]
            self.pos -= 2
            raise self.fail(f"the escape \\{esc} in a class")
        if char == "[":
            raise self.fail("a [ inside a class (POSIX classes differ)")
        if char == "-":
            self.pos -= 1
            raise self.fail(
                "a - that is not first, last or a range in a class", case="class-hyphen"
            )
        if char not in _LITERAL and char != ".":
            self.pos -= 1
            raise self.fail(f"{char!r} in a class")
        if self.peek() == "-" and self.text[self.pos + 1 : self.pos + 2] not in ("]", ""):
            self.take()
            end = self.take()
            return self.class_range(char, end)
        return frozenset(char)

    def class_range(self, start: str, end: str) -> frozenset[str]:
        for alphabet in (string.digits, string.ascii_lowercase, string.ascii_uppercase):
            if start in alphabet and end in alphabet:
                if alphabet.index(start) > alphabet.index(end):
                    raise self.fail(f"the reversed range {start}-{end}", case="reversed-range")
                return frozenset(alphabet[alphabet.index(start) : alphabet.index(end) + 1])
        raise self.fail(f"the range {start}-{end} (only 0-9, a-z, A-Z ranges are portable)")

    def char_class(self) -> Chars:
        negated = self.peek() == "^"
        if negated:
            self.take()
        members: set[str] = set()
        if self.peek() == "-":  # a leading - is a literal one
            members.add(self.take())
        while self.peek() != "]":
            if self.peek() == "-" and self.text[self.pos + 1 : self.pos + 2] == "]":
                members.add(self.take())
                continue
            members |= self.class_member()
        self.take()
        if not members:
            raise self.fail("an empty class")
        if negated:
            return Chars(ANY - members, "[^" + _class_body(frozenset(members)) + "]")
        return _class(frozenset(members))

    def quantifier(self) -> tuple[int, int | None]:
        char = self.peek()
        low: int
        high: int | None
        if char in ("?", "*", "+"):
            self.take()
            low, high = {"?": (0, 1), "*": (0, None), "+": (1, None)}[char]
        elif char == "{":
            low, high = self.counted()
        else:
            return 1, 1
        if self.peek() == "?":
            self.take()  # lazy: the same strings match, only the order of trying differs
        elif self.peek() in ("+", "*", "{", "?"):
            raise self.fail("a possessive or stacked quantifier")
        return low, high

    def counted(self) -> tuple[int, int | None]:
        self.take()
        digits = ""
        while self.peek().isdigit() or self.peek() == ",":
            digits += self.take()
        low_text, comma, high_text = digits.partition(",")
        well_formed = low_text.isdigit() and (not high_text or high_text.isdigit())
        if self.take() != "}" or not well_formed or len(digits) > 9:
            raise self.fail("a malformed {n,m} repeat")
        low = int(low_text)
        high = low if not comma else (int(high_text) if high_text else None)
        if high is not None and high < low:
            raise self.fail("a {n,m} repeat with m < n")
        if max(low, high or 0) > RE2_MAX_REPEAT:
            raise self.refuse("CG122", "repeat-count", most=RE2_MAX_REPEAT)
        return low, high


def _literal(char: str) -> Chars:
    return Chars(frozenset(char), "\\" + char if char in _SPECIAL - {"-", "/"} else char)


def _class(chars: frozenset[str]) -> Chars:
    if len(chars) == 1:
        return _literal(next(iter(chars)))
    return Chars(chars, "[" + _class_body(chars) + "]")


def _class_body(chars: frozenset[str]) -> str:
    """Ranges within 0-9, A-Z and a-z, then single characters, a hyphen last."""
    out = ""
    rest = set(chars)
    for alphabet in (string.digits, string.ascii_uppercase, string.ascii_lowercase):
        run: list[str] = []
        for char in alphabet + " ":
            if char in rest:
                run.append(char)
                continue
            if len(run) > 2:
                out += f"{run[0]}-{run[-1]}"
            else:
                out += "".join(run)
            rest -= set(run)
            run = []
    hyphen = "-" if "-" in rest else ""
    rest.discard("-")
    return out + "".join("\\" + c if c in _SPECIAL else c for c in sorted(rest)) + hyphen


def _quantifier_text(low: int, high: int | None) -> str:
    known = {(1, 1): "", (0, 1): "?", (0, None): "*", (1, None): "+"}
    if (low, high) in known:
        return known[(low, high)]
    if high == low:
        return f"{{{low}}}"
    return f"{{{low},}}" if high is None else f"{{{low},{high}}}"


def render_sequence(seq: Concatenation) -> str:
    out = ""
    for item in seq:
        node = item.node
        text = node.text if isinstance(node, Chars) else "(?:" + render_alts(node.alts) + ")"
        out += text + _quantifier_text(item.low, item.high)
    return out


def render_alts(alts: tuple[Concatenation, ...]) -> str:
    return "|".join(render_sequence(seq) for seq in alts)


# What no single origin holds: a comma or white space (two Origin headers a server joins, "a,b",
# always do), a quote, a character outside printable ASCII, or a * (which Envoy's cors filter
# tries every pattern against, and allows every origin when one matches it).
NOT_IN_AN_ORIGIN = frozenset({",", " ", '"', "*", OTHER})
_NOTHING = Chars(frozenset(), r"[^\x00-\x{10FFFF}]")  # RE2's empty class


def narrowed(alts: tuple[Concatenation, ...], without: frozenset[str]) -> tuple[Concatenation, ...]:
    """The same regex with no position matching a character of `without`: it matches what the
    original matches, less the strings holding one of them. Never wider."""

    def item(old: Item) -> Item:
        node = old.node
        if isinstance(node, Group):
            return Item(Group(narrowed(node.alts, without)), old.low, old.high)
        kept = node.chars - without
        new = node if kept == node.chars else (_class(kept) if kept else _NOTHING)
        return Item(new, old.low, old.high)

    return tuple(tuple(item(old) for old in seq) for seq in alts)


def parse_alternatives(body: str) -> tuple[Concatenation, ...]:
    """The top-level alternatives of a regex without its ^ and $; RegexError outside the subset."""
    parser = _Parser(body)
    alts = parser.alternation()
    if parser.pos != len(body):
        raise parser.fail("an unbalanced )")
    _check_nested_counts(alts, 1, body)
    return alts


def _check_nested_counts(alts: tuple[Concatenation, ...], product: int, body: str) -> None:
    """RE2 multiplies nested counted repeats and refuses a product above 1000."""
    for seq in alts:
        for item in seq:
            count = item.high if item.high is not None else item.low
            inner = product * max(count, 1) if (item.low, item.high) not in _PLAIN else product
            if inner > RE2_MAX_REPEAT:
                raise RegexError("CG122", "nested-repeats", regex=body, most=RE2_MAX_REPEAT)
            if isinstance(item.node, Group):
                _check_nested_counts(item.node.alts, inner, body)


_PLAIN = frozenset({(1, 1), (0, 1), (0, None), (1, None)})
