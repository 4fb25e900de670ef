"""A list of literal strings as one regex that a backtracking engine matches in few steps.

PCRE tries the alternatives of `a|b|c` one by one, from the start of each: an allowed origin late
in a flat list of thousands costs thousands of failed comparisons. Factored as a trie, every group
splits on its next character, so a match or a refusal takes about one comparison per character
per branch: `https://(?:a(?:dmin|pp)|docs)\\.example\\.com`. Common suffixes are factored too, so
`.example.com` is written once. The syntax is the subset PCRE and RE2 read alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from re import escape as _escape

from corsgen.regex import anchor

# PCRE refuses parentheses nested deeper than 250; origins that are each other's prefixes
# (a, aa, aaa...) would nest one group per character. Past this depth a group lists its strings.
MAX_DEPTH = 32


def _common_prefix(strings: Sequence[str]) -> str:
    """The longest prefix of them all: that of the smallest and the largest (a group's strings
    need not come sorted: taking a common suffix away can reorder them)."""
    first, last = min(strings), max(strings)
    n = 0
    while n < min(len(first), len(last)) and first[n] == last[n]:
        n += 1
    return first[:n]


def _group(strings: Sequence[str], depth: int = 0) -> str:
    """A regex for exactly these distinct strings, unanchored, without a top-level `|`."""
    if len(strings) == 1:
        return _escape(strings[0])
    if depth >= MAX_DEPTH:
        return "(?:" + "|".join(map(_escape, strings)) + ")"
    prefix = _common_prefix(strings)
    rest = [s[len(prefix) :] for s in strings]
    # The common suffix of what the prefix leaves (so the two never overlap).
    suffix = _common_prefix([s[::-1] for s in rest])[::-1]
    if suffix:
        rest = [s[: len(s) - len(suffix)] for s in rest]
    optional = "" in rest
    by_first: dict[str, list[str]] = {}
    for s in rest:
        if s:
            by_first.setdefault(s[0], []).append(s)
    # Branches of one character each are a class: [0-9] is one step where 0|1|...|9 is ten.
    chars = [g[0] for g in by_first.values() if len(g) == 1 and len(g[0]) == 1]
    branches = [_group(g, depth + 1) for g in by_first.values() if g[0] not in chars]
    if chars:
        escaped = "".join(map(_escape, chars))
        branches.insert(0, escaped if len(chars) == 1 else f"[{escaped}]")
    if len(branches) == 1 and not optional:
        middle = branches[0]  # already a single term: no group needed
    elif len(branches) == 1 and chars:
        middle = branches[0] + "?"  # one optional character or class: an atom, no group needed
    else:
        middle = "(?:" + "|".join(branches) + ")" + ("?" if optional else "")
    return _escape(prefix) + middle + _escape(suffix)


def trie(strings: Sequence[str]) -> str:
    """One unanchored regex matching exactly these strings (at least one)."""
    return _group(sorted(set(strings)))


def tries(strings: Sequence[str], most: int) -> list[str]:
    """The sorted strings as anchored tries of at most `most` characters each, halved until each
    part fits: for a server that limits a regex's length."""
    regex = anchor([trie(strings)])
    if len(regex) <= most or len(strings) == 1:
        return [regex]
    half = len(strings) // 2
    return tries(strings[:half], most) + tries(strings[half:], most)
