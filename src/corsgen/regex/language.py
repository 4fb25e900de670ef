"""CG108 as a proof: every origin the regex matches belongs to someone the regex names literally.

The regex is turned into a finite automaton (interegular), intersected with the language of origins
a browser can send, and compared with the language of "safe" origins: a scheme the regex spells out
(plain http and ws only for loopback hosts), then any subdomain of a registrable domain (Public
Suffix List) the regex spells out, then any port. If one origin lies outside, it is shown.
"""

from __future__ import annotations

import itertools
import re
from collections import deque
from collections.abc import Iterable
from functools import cache
from typing import cast

import idna
import publicsuffixlist
from interegular import parse_pattern
from interegular.fsm import FSM, State, anything_else

from corsgen.origins import ends_in_number, is_public_suffix, registrable_domain
from corsgen.regex.syntax import Chars, RegexError, Sequence

# What a browser may put in a host label: WHATWG's allowed domain code points, lowercased.
_LABEL = r"""[a-z0-9_\-!"$&'()*+,;=`{}~]+"""
_PORT = r"(?::[0-9]+)?"
_ORIGIN = rf"null|[a-z][a-z0-9+.\-]*://(?:{_LABEL}(?:\.{_LABEL})*\.?|\[[0-9a-f:.]+\]){_PORT}"
_LOCAL_HOSTS = (rf"(?:{_LABEL}\.)*localhost", r"127\.0\.0\.1", r"\[::1\]")
_INSECURE = frozenset({"http", "ws"})
# Literal words are expanded from the regex's alternatives up to this many per sequence.
_MAX_WORDS = 512
BREAK = "\x00"
_HOSTISH = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*")
_SCHEME = re.compile(r"([a-z][a-z0-9+.-]*)://")
_IPV4 = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")


@cache
def _origins() -> FSM:
    return parse_pattern(_ORIGIN).to_fsm()


@cache
def _psl_rules() -> tuple[str, ...]:
    """Every public-suffix rule, without its `*.` or `!`, as browsers send hosts: in punycode.

    The list writes some rules in Unicode (våler.hedmark.no); an Origin carries xn--vler-qoa.
    """
    with open(publicsuffixlist.PSLFILE, encoding="utf-8") as handle:
        lines = (line.split()[0].lower() for line in handle if line.strip())
        rules = {rule.lstrip("!").removeprefix("*.") for rule in lines if "//" not in rule}
    return tuple(sorted(rules | {_punycode(rule) for rule in rules if not rule.isascii()}))


def _punycode(host: str) -> str:
    try:
        return idna.encode(host, uts46=True, transitional=False).decode("ascii")
    except idna.IDNAError:
        return host


def words(alts: Iterable[Sequence]) -> list[str]:
    """The literal strings the regex spells out, with BREAK where it does not (a class, a loop)."""
    out: list[str] = []
    for seq in alts:
        spelled = [""]
        for item in seq:
            node = item.node
            inner = (
                [next(iter(node.chars)) if len(node.chars) == 1 else BREAK]
                if isinstance(node, Chars)
                else words(node.alts)
            )
            options: list[str]
            if item.high == item.low and (len(inner) == 1 or item.low <= 9):
                if len(inner) ** item.low > _MAX_WORDS:
                    inner = [BREAK]
                options = ["".join(p) for p in itertools.product(inner, repeat=item.low)]
            elif (item.low, item.high) == (0, 1):
                options = [*inner, ""]
            else:
                options = [BREAK + w + BREAK for w in inner]
            if len(spelled) * len(options) > _MAX_WORDS:
                options = [BREAK]
            spelled = [w + o for w in spelled for o in options]
        out += spelled
    return out


def literal_names(spelled: Iterable[str]) -> tuple[frozenset[str], frozenset[str]]:
    """(schemes, registrable domains or IPs) that the regex spells out letter for letter, from
    its words()."""
    schemes: set[str] = set()
    domains: set[str] = set()
    for word in spelled:
        for segment in word.split(BREAK):
            schemes.update(_SCHEME.findall(segment))
            for host in _HOSTISH.findall(_SCHEME.sub(" ", segment)):
                if _IPV4.fullmatch(host) or host == "localhost":
                    domains.add(host)
                if ends_in_number(host):
                    continue  # browsers read such a host as IPv4 (0x7f.1 too): no suffixes
                labels = host.split(".")
                for i in range(len(labels) - 1):
                    suffix = ".".join(labels[i:])
                    if registrable_domain(suffix) == suffix and not is_public_suffix(suffix):
                        domains.add(suffix)
    return frozenset(schemes), frozenset(domains)


def _host_pattern(domain: str) -> str:
    if domain == "localhost" or _IPV4.fullmatch(domain):
        return re.escape(domain)
    return rf"(?:{_LABEL}\.)*{re.escape(domain)}\.?"


# A regex naming more than these is a list in disguise; the proof's automaton grows with them.
MAX_NAMED_DOMAINS = 32
MAX_NAMED_SCHEMES = 8


def _safe(schemes: frozenset[str], domains: frozenset[str]) -> str:
    """One factored pattern: (schemes)://(label.)*(domains), plus loopback for any scheme.

    One alternative per scheme and domain made interegular's work grow with their product.
    """
    hosts = [_host_pattern(d) for d in sorted(domains)]
    local = f"(?:{'|'.join(_LOCAL_HOSTS)})"
    secure = sorted(re.escape(s) for s in schemes if s not in _INSECURE)
    named = rf"(?:{'|'.join(secure)})://(?:{'|'.join([*hosts, local])})" if secure and hosts else ""
    anyone = rf"(?:{'|'.join(sorted(re.escape(s) for s in schemes))})://{local}"
    return rf"(?:{'|'.join(p for p in (named, anyone) if p)}){_PORT}"


def _below(domains: frozenset[str]) -> tuple[str, ...]:
    """Public suffixes that lie below one of the domains: s3.amazonaws.com below amazonaws.com."""
    return tuple(sorted({r for r in _psl_rules() for d in domains if r.endswith("." + d)}))


def _step(fsm: FSM, states: set[State], text: str) -> set[State]:
    for char in text:
        symbol = fsm.alphabet[char]
        states = {fsm.map[s][symbol] for s in states if symbol in fsm.map.get(s, {})}
    return states


def _reached(fsm: FSM, suffixes: tuple[str, ...]) -> tuple[str, ...]:
    """The suffixes some accepted origin's host ends with, read backwards on the reversed automaton.

    Building one automaton for all ~300 rules below amazonaws.com takes minutes; this takes
    milliseconds and leaves the few that matter.
    """
    if not suffixes:
        return ()
    back = _reversed(fsm)
    after_digits: set[State] = set()
    digits = _any_digit(back, {back.initial})
    while digits - after_digits:  # an optional :port, read backwards: digits, then a colon
        after_digits |= digits
        digits = _any_digit(back, digits)
    ends = {back.initial} | _step(back, after_digits, ":")
    ends |= _step(back, ends, ".")  # an optional trailing dot of the host
    return tuple(
        s for s in suffixes if any(_live(back, e) for e in _step(back, ends, s[::-1] + "."))
    )


def _any_digit(fsm: FSM, states: set[State]) -> set[State]:
    return set().union(*(_step(fsm, states, digit) for digit in "0123456789"))


def _under(suffixes: tuple[str, ...]) -> str:
    alts = "|".join(rf"(?:{_LABEL}\.)+{re.escape(s)}\.?" for s in suffixes)
    return rf"[a-z][a-z0-9+.\-]*://(?:{alts}){_PORT}"


def _fsm(pattern: str) -> FSM:
    return parse_pattern(pattern).to_fsm()


def _outside_of(fsm: FSM, other: FSM | None) -> str | None:
    """A shortest string `fsm` accepts and `other` does not (None: nothing), preferring letters.

    Breadth-first over pairs of states: interegular's own difference is quadratic in states.
    """
    alphabets = (fsm.alphabet,) if other is None else (fsm.alphabet, other.alphabet)
    chars = sorted(
        {c for alphabet in alphabets for c in alphabet if c is not anything_else},
        key=lambda c: (not c.isalpha(), c),
    )
    chars += [next(c for c in map(chr, range(1, 0x110000)) if all(c not in a for a in alphabets))]
    start: Pair = (fsm.initial, None if other is None else other.initial)
    parents: dict[Pair, tuple[Pair, str] | None] = {start: None}
    queue = deque([start])
    while queue:
        pair = queue.popleft()
        state, rival = pair
        if state in fsm.finals and (other is None or rival not in other.finals):
            out = []
            while (step := parents[pair]) is not None:
                pair, char = step
                out.append(char)
            return "".join(reversed(out))
        for char in chars:
            ahead = _follow(fsm, state, char)
            if ahead is not None and (nxt := (ahead, _follow(other, rival, char))) not in parents:
                parents[nxt] = (pair, char)
                queue.append(nxt)
    return None


def samples(pattern: str) -> list[str]:
    """Two strings an unanchored pattern matches in full, the shortest first, preferring letters:
    origins `probe` can send that a wildcard or regex allows."""
    fsm = _fsm(pattern)
    first = _outside_of(fsm, None)
    if first is None:
        return []
    second = _outside_of(fsm, _fsm(re.escape(first)))
    return [first] if second is None else [first, second]


def _follow(fsm: FSM | None, state: State | None, char: str) -> State | None:
    if fsm is None or state is None:
        return None
    return fsm.map.get(state, {}).get(fsm.alphabet[char])


# A state of the automaton searched, and of the one it must stay outside (None: rejected).
Pair = tuple[State, State | None]


# interegular leaves these three unannotated.
def _intersect(a: FSM, b: FSM) -> FSM:
    return cast(FSM, a.intersection(b))  # type: ignore[no-untyped-call]


def _reversed(fsm: FSM) -> FSM:
    return cast(FSM, fsm.reversed())  # type: ignore[no-untyped-call]


def _live(fsm: FSM, state: State) -> bool:
    return bool(fsm.islive(state))  # type: ignore[no-untyped-call]


def _safe_fsm(schemes: frozenset[str], domains: frozenset[str]) -> FSM | None:
    return _fsm(_safe(schemes, domains)) if schemes else None


def _accepts(fsm: FSM | None, text: str) -> bool:
    return fsm is not None and bool(fsm.accepts(text))


def outside(canonical: str, spelled: Iterable[str], probes: Iterable[str]) -> list[str]:
    """Origins a browser can send that the regex matches but nobody it names owns.

    `probes` are tried first so that the example shown is a recognisable trick; the automaton
    decides, and supplies a shortest example when no probe is one.
    """
    matched = _fsm(canonical)
    if matched.accepts(""):
        return [""]
    schemes, domains = literal_names(spelled)
    if len(domains) > MAX_NAMED_DOMAINS or len(schemes) > MAX_NAMED_SCHEMES:
        raise RegexError(
            "CG120",
            "regex-domains",
            domains=len(domains),
            schemes=len(schemes),
            most_domains=MAX_NAMED_DOMAINS,
            most_schemes=MAX_NAMED_SCHEMES,
        )
    reachable = _intersect(matched, _origins())
    safe = _safe_fsm(schemes, domains)
    example = _outside_of(reachable, safe)
    if example is None:
        found = _below_bad(reachable, schemes, domains)
        if found is None:
            return []
        reachable, safe, example = found
    shown = [p for p in dict.fromkeys(probes) if reachable.accepts(p) and not _accepts(safe, p)]
    return shown[:1] or [example]


def _below_bad(
    reachable: FSM, schemes: frozenset[str], domains: frozenset[str]
) -> tuple[FSM, FSM | None, str] | None:
    """Origins under a public suffix below a named domain, unless the regex names them too.

    Under s3.amazonaws.com every bucket is its own site. One suffix at a time: the first that
    lets an attacker in is enough, and one automaton for all ~300 would take minutes.
    """
    for suffix in _reached(reachable, _below(domains)):
        inner = frozenset(d for d in domains if d.endswith("." + suffix))
        under = _intersect(reachable, _fsm(_under((suffix,))))
        safe = _safe_fsm(schemes, inner)
        example = _outside_of(under, safe)
        if example is not None:
            return under, safe, example
    return None
