"""allow_origin_regex: parse the portable subset once, then prove it safe before it is rendered.

`parse_regex` is cheap and is all the plan needs; `check_regex` is the rules' proof: the servers'
own engines compile it (CG122), PCRE cannot backtrack super-linearly on it (CG121), and every origin
it matches belongs to a domain it spells out (CG108).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from corsgen.origins import OriginError, parse_origin, registrable_domain
from corsgen.regex.backtracking import check_backtracking, check_size
from corsgen.regex.syntax import (
    NOT_IN_AN_ORIGIN,
    Concatenation,
    Group,
    Item,
    RegexError,
    narrowed,
    parse_alternatives,
    render_alts,
    render_sequence,
)

__all__ = [
    "ENGINES",
    "OUTSIDE_AN_ORIGIN",
    "OriginRegex",
    "RegexError",
    "anchor",
    "check_regex",
    "one_origin",
    "one_origins",
    "parse_regex",
    "prove",
]


def anchor(alternatives: Iterable[str]) -> str:
    """One regex matching a whole value that is any of the alternatives: the one place corsgen
    anchors, for the proof and for every target."""
    return "^(?:" + "|".join(alternatives) + ")$"


# One byte no origin a browser sends holds: anything but printable ASCII, the space and the comma.
# Two Origin headers a server joins ("a,b" in Caddy, "a, b" in Apache and nginx 1.23+) hold one,
# and so do the control bytes (NUL included) some servers pass on. A value holding one is never
# allowed, whatever a loose pattern such as https://.+\.example\.com would say of it: the servers
# that test the Origin apart from its patterns test it against this (PCRE, RE2, Python's re).
OUTSIDE_AN_ORIGIN = "[^!-+.-~-]"  # no backslash: gixy misreads the ones nginx unescapes
# A regex that matches nothing: what is left of one that matched the empty string alone.
_NOTHING = narrowed(parse_alternatives("a"), frozenset("a"))


def _nullable(seq: Concatenation) -> bool:
    return all(item.low == 0 or _nullable_item(item) for item in seq)


def _nullable_item(item: Item) -> bool:
    return isinstance(item.node, Group) and any(_nullable(s) for s in item.node.alts)


def _nonempty(alts: tuple[Concatenation, ...]) -> tuple[Concatenation, ...]:
    """The same regex less the empty string: a nullable sequence becomes one alternative for
    each item that can begin a non-empty match, the items before it matching nothing."""
    out: list[Concatenation] = []
    for seq in alts:
        if not _nullable(seq):
            out.append(seq)
            continue
        for at, item in enumerate(seq):
            first = _nonempty_item(item)
            if first is not None:
                out.append((*first, *seq[at + 1 :]))
    return tuple(out)


def _nonempty_item(item: Item) -> Concatenation | None:
    """The item's non-empty matches, None when it has none."""
    if item.high == 0:
        return None
    if not _nullable_item(item):  # one repeat or more is never empty
        return (Item(item.node, max(item.low, 1), item.high),)
    assert isinstance(item.node, Group)
    inner = _nonempty(item.node.alts)
    if not inner:
        return None
    # The first non-empty repeat, then any number of the rest, empty ones included.
    rest = None if item.high is None else item.high - 1
    tail = (Item(item.node, 0, rest),) if rest != 0 else ()
    return (Item(Group(inner)), *tail)


def one_origin(pattern: str) -> str:
    """A plan's pattern anchored, matching no value that holds what no single origin holds, nor
    the empty string: for a server that joins two Origin headers ("a,b") or reads an empty one,
    and cannot test for them apart from the pattern, as the others do with OUTSIDE_AN_ORIGIN."""
    alts = _nonempty(narrowed(parse_alternatives(pattern), NOT_IN_AN_ORIGIN)) or _NOTHING
    return anchor([render_alts(alts)])


def one_origins(patterns: Iterable[str]) -> list[str]:
    """Each pattern once, as one_origin writes it."""
    return list(dict.fromkeys(one_origin(p) for p in patterns))


@dataclass(frozen=True)
class OriginRegex:
    """A user's regex, parsed, in corsgen's canonical spelling: what the servers will run."""

    source: str
    tree: tuple[Concatenation, ...]

    @property
    def alternatives(self) -> tuple[str, ...]:
        """The top-level alternatives, each a pattern of its own (servers' limits are per line)."""
        return tuple(dict.fromkeys(render_sequence(seq) for seq in self.tree))

    @property
    def body(self) -> str:
        return "|".join(self.alternatives)

    @property
    def anchored(self) -> str:
        return anchor(self.alternatives)


def parse_regex(source: str) -> OriginRegex:
    """Validate the syntax; corsgen anchors both ends itself, so a user's own ^ and $ go."""
    if not source:
        raise RegexError("CG105", "empty-regex")
    body = source[1:] if source.startswith("^") else source
    body = body[:-1] if body.endswith("$") and not body.endswith("\\$") else body
    return OriginRegex(source, parse_alternatives(body))


# The engines, and the proof's automata (interegular, in language.py), are imported by the
# functions that use them: a policy without a regex, the common case, never pays for loading them.


def _re2(pattern: str) -> object:
    import re2

    options = re2.Options()
    options.log_errors = False  # the error comes back as an exception; do not also print it
    return re2.compile(pattern, options=options)


def _pcre2(pattern: str) -> object:
    import pcre2

    return pcre2.compile(pattern)


# Every regex engine a target's server runs origin patterns in: nginx, Apache httpd and HAProxy
# use PCRE2; Caddy, Traefik (Go's regexp) and Envoy use RE2. A regex must compile, and mean the
# same, in each of them; a target whose server uses another engine adds it here (CONTRIBUTING.md).
ENGINES: Mapping[str, Callable[[str], object]] = {"RE2": _re2, "PCRE2": _pcre2}


def _compile_in_engines(regex: OriginRegex) -> None:
    for engine, compile_ in ENGINES.items():
        try:
            compile_(regex.anchored)
        except Exception as exc:  # each binding raises its own error types
            raise RegexError(
                "CG122", "engine", engine=engine, regex=regex.source, error=exc
            ) from None


_FIXED_PROBES = ("null", "https://evil.com", "http://evil.com", "https://evil.com:8443")
_DOWNGRADE = {"https": "http", "wss": "ws"}


def _variants(sample: str) -> list[str]:
    """Suffix, prefix, look-alike and scheme-downgrade twists, as the scanners send them."""
    try:
        origin = parse_origin(sample)
    except OriginError:
        return []
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
        f"{head}{reg.replace('.', '-', 1)}",
        f"{head[:-1]}x{reg}" if head else "",
    ]
    out = [f"{scheme}://{h}{port}" for h in hosts if h]
    if scheme in _DOWNGRADE:
        out.append(f"{_DOWNGRADE[scheme]}://{host}{port}")
    return out


def _probes(spelled: list[str], gap: str) -> list[str]:
    samples = [w.replace(gap, "a") for w in spelled]
    return [*_FIXED_PROBES, *(v for s in samples[:64] for v in _variants(s))]


def check_regex(regex: OriginRegex) -> None:
    """Raise the first RegexError: engines, then backtracking, then the language proof."""
    _compile_in_engines(regex)
    check_backtracking(regex.tree, regex.source)
    prove(regex)


def prove(regex: OriginRegex) -> None:
    """The CG108 proof alone (CG120 when its automaton would be too large): what `corsgen audit`
    holds a config's regex to, whose backtracking it checks on the regex as the server runs it."""
    from corsgen.regex import language

    check_size(regex.tree, regex.source)
    spelled = language.words(regex.tree)  # literal words: the probes and the named domains
    found = language.outside(regex.source, regex.body, spelled, _probes(spelled, language.BREAK))
    if found == [""]:
        raise RegexError("CG108", "empty-string", regex=regex.source)
    if found:
        raise RegexError("CG108", "unnamed-origin", regex=regex.source, example=found[0])
