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
from collections.abc import Callable, Iterable
from functools import cache

import idna
import publicsuffixlist
from interegular import parse_pattern
from interegular.fsm import FSM, State, TransitionKey, anything_else

from corsgen.origins import ends_in_number, is_public_suffix, registrable_domain
from corsgen.regex.automaton import intersection, reversed_fsm
from corsgen.regex.syntax import Chars, Concatenation, RegexError

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


def words(alts: Iterable[Concatenation]) -> list[str]:
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


def _hosts_pattern(domains: frozenset[str]) -> list[str]:
    """Hosts under the domains, with one (label.)* for them all: one loop per domain made the
    automaton's construction grow with their product."""
    exact = sorted(d for d in domains if d == "localhost" or _IPV4.fullmatch(d))
    named = sorted(re.escape(d) for d in domains if d not in exact)
    under = [rf"(?:{_LABEL}\.)*(?:{'|'.join(named)})\.?"] if named else []
    return [*map(re.escape, exact), *under]


# A regex naming more than these is a list in disguise; the proof's automaton grows with them.
MAX_NAMED_DOMAINS = 32
MAX_NAMED_SCHEMES = 8


def _safe(schemes: frozenset[str], domains: frozenset[str]) -> str:
    """One factored pattern: (schemes)://(label.)*(domains), plus loopback for any scheme.

    One alternative per scheme and domain made interegular's work grow with their product.
    """
    hosts = _hosts_pattern(domains)
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


def _ends(back: FSM) -> set[State]:
    """Where the reversed automaton is once it has read an origin's optional :port and trailing
    dot of the host, backwards: next comes the host's last label."""
    after_digits: set[State] = set()
    digits = _any_digit(back, {back.initial})
    while digits - after_digits:  # an optional :port, read backwards: digits, then a colon
        after_digits |= digits
        digits = _any_digit(back, digits)
    ends = {back.initial} | _step(back, after_digits, ":")
    return ends | _step(back, ends, ".")


def _any_digit(fsm: FSM, states: set[State]) -> set[State]:
    return set().union(*(_step(fsm, states, digit) for digit in "0123456789"))


def _under(suffixes: tuple[str, ...]) -> str:
    alts = "|".join(rf"(?:{_LABEL}\.)+{re.escape(s)}\.?" for s in suffixes)
    return rf"[a-z][a-z0-9+.\-]*://(?:{alts}){_PORT}"


def _fsm(pattern: str) -> FSM:
    return parse_pattern(pattern).to_fsm()


def _outside_of(
    fsm: FSM, other: FSM | None, start: State | None = None, inside: bool = False
) -> str | None:
    """A shortest string `fsm` accepts from `start` (its initial state by default) and `other`
    does not (with `inside`, does too), preferring letters; None when there is none.

    Breadth-first over pairs of states: interegular's own difference is quadratic in states.
    """
    alphabets = (fsm.alphabet,) if other is None else (fsm.alphabet, other.alphabet)
    chars = sorted(
        {c for alphabet in alphabets for c in alphabet if c is not anything_else},
        key=lambda c: (not c.isalpha(), c),
    )
    chars += [next(c for c in map(chr, range(1, 0x110000)) if all(c not in a for a in alphabets))]
    # One character per class both automata treat alike: the first, so letters are still
    # preferred, and a search over 40 characters that fall into 10 classes does a quarter of
    # the work.
    steps: dict[tuple[TransitionKey, TransitionKey | None], str] = {}
    for char in chars:
        rival_symbol = None if other is None else other.alphabet[char]
        steps.setdefault((fsm.alphabet[char], rival_symbol), char)
    first: Pair = (
        fsm.initial if start is None else start,
        None if other is None else other.initial,
    )
    parents: dict[Pair, tuple[Pair, str] | None] = {first: None}
    queue = deque([first])
    while queue:
        pair = queue.popleft()
        state, rival = pair
        if state in fsm.finals and (other is not None and rival in other.finals) == inside:
            out = []
            while (step := parents[pair]) is not None:
                pair, char = step
                out.append(char)
            return "".join(reversed(out))
        row = fsm.map.get(state, {})
        rival_row = {} if other is None or rival is None else other.map.get(rival, {})
        for (symbol, rival_symbol), char in steps.items():
            ahead = row.get(symbol)
            behind = None if rival_symbol is None else rival_row.get(rival_symbol)
            if ahead is not None and (nxt := (ahead, behind)) not in parents:
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


def _follow(fsm: FSM, state: State | None, char: str) -> State | None:
    if state is None:
        return None
    return fsm.map.get(state, {}).get(fsm.alphabet[char])


# A state of the automaton searched, and of the one it must stay outside (None: rejected).
Pair = tuple[State, State | None]


def _safe_fsm(schemes: frozenset[str], domains: frozenset[str]) -> FSM | None:
    return _fsm(_safe(schemes, domains)) if schemes else None


def outside(regex: str, canonical: str, spelled: Iterable[str], probes: Iterable[str]) -> list[str]:
    """Origins a browser can send that the regex matches but nobody it names owns.

    `probes` are tried first so that the example shown is a recognisable trick; the automaton
    decides, and supplies a shortest example when no probe is one. `regex` is the user's
    spelling, for a refusal.
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
    reachable = intersection(matched, _origins(), regex)
    example = _outside_of(reachable, _safe_fsm(schemes, domains))
    bad = _pattern_outside(schemes, domains)
    if example is None:
        found = _below_bad(reachable, schemes, domains, regex)
        if found is None:
            return []
        bad, example = found
    shown = [p for p in dict.fromkeys(probes) if reachable.accepts(p) and bad(p)]
    return shown[:1] or [example]


def _pattern_outside(schemes: frozenset[str], domains: frozenset[str]) -> Callable[[str], bool]:
    """Whether an origin lies outside _safe(schemes, domains), by Python's re: for the probes,
    a few dozen short strings, where building the automaton would cost more than it saves."""
    safe = re.compile(_safe(schemes, domains)) if schemes else None
    return lambda origin: safe is None or safe.fullmatch(origin) is None


def _pattern_under(suffix: str, outside_inner: Callable[[str], bool]) -> Callable[[str], bool]:
    """Whether an origin lies under `suffix` and outside what the regex names there."""
    under = re.compile(_under((suffix,)))
    return lambda origin: under.fullmatch(origin) is not None and outside_inner(origin)


def _below_bad(
    reachable: FSM, schemes: frozenset[str], domains: frozenset[str], regex: str
) -> tuple[Callable[[str], bool], str] | None:
    """Origins under a public suffix below a named domain, unless the regex names them too:
    under s3.amazonaws.com every bucket is its own site. The first suffix that lets an attacker
    in is enough; the test for it, and an origin that passes it.

    Read backwards: once the reversed automaton has read a port, the suffix and the dot before
    it, what it still accepts is the rest of the origin, backwards (https://bucket). That must
    be a scheme and host the regex names under the suffix, which is a small automaton: no
    product of the whole regex with each of the ~300 suffixes below amazonaws.com is built.
    """
    suffixes = _below(domains)
    if not suffixes:
        return None
    back = reversed_fsm(reachable, regex)
    ends = _ends(back)
    for suffix in suffixes:
        # Every state of `reachable` is reached from its initial one, so any state reached
        # backwards leads to an origin the regex matches: no liveness test is needed.
        starts = _step(back, ends, suffix[::-1] + ".")
        if not starts:
            continue
        inner = frozenset(d for d in domains if d.endswith("." + suffix))
        named = _named_before(schemes, inner, suffix)
        for start in sorted(starts):
            head = _outside_of(back, named, start)
            if head is not None:
                example = _completed(reachable, f"{head[::-1]}.{suffix}")
                return _pattern_under(suffix, _pattern_outside(schemes, inner)), example
    return None


@cache
def _named_before(schemes: frozenset[str], inner: frozenset[str], suffix: str) -> FSM | None:
    """What may stand before `.suffix` in an origin the regex names, reversed: the labels of a
    named domain below the suffix, any subdomains, `://` and a secure scheme. None: nothing."""
    secure = sorted(re.escape(s[::-1]) for s in schemes if s not in _INSECURE)
    heads = sorted(re.escape(d[: -len(suffix) - 1][::-1]) for d in inner)
    if not secure or not heads:
        return None
    return _fsm(rf"(?:{'|'.join(heads)})(?:\.{_LABEL})*//:(?:{'|'.join(secure)})")


def _completed(reachable: FSM, head: str) -> str:
    """`head` with the shortest end (a trailing dot, a :port) that makes it an accepted origin."""
    state: State | None = reachable.initial
    for char in head:
        state = _follow(reachable, state, char)
    tail = None if state is None else _outside_of(reachable, _fsm(_TAIL), state, inside=True)
    return head if tail is None else head + tail


_TAIL = rf"\.?{_PORT}"


_LONGEST = 2048  # characters of a string spelled_out spells; past it, a list is not what it is


def spelled_out(pattern: str, most: int) -> list[str] | None:
    """Every string the pattern matches in full, when there are at most `most` and each character
    is a literal one (sorted); None when there are more, infinitely many, or a class stands for
    any character: a regex that names its origins outright, as a list."""
    fsm = _fsm(pattern)
    by_symbol: dict[TransitionKey, list[str]] = {}
    for char, symbol in fsm.alphabet.items():
        if char is anything_else:
            by_symbol.setdefault(symbol, []).append("")  # "" marks: any other character
        else:
            by_symbol.setdefault(symbol, []).append(char)
    # The states from which a final one is reachable: only those are walked.
    live = set(fsm.finals)
    while grown := {
        s for s, row in fsm.map.items() if s not in live and any(t in live for t in row.values())
    }:
        live |= grown
    found: list[str] = []

    def walk(state: State, prefix: str, path: frozenset[State]) -> bool:
        if len(prefix) > _LONGEST:
            return False
        if state in fsm.finals:
            found.append(prefix)
        if len(found) > most:
            return False
        for symbol, target in fsm.map.get(state, {}).items():
            if target not in live:
                continue
            if target in path or "" in by_symbol[symbol]:
                return False  # a loop (infinitely many), or any character
            for char in by_symbol[symbol]:
                if not walk(target, prefix + char, path | {target}):
                    return False
        return True

    if fsm.initial not in live:
        return []
    return sorted(found) if walk(fsm.initial, "", frozenset({fsm.initial})) else None
