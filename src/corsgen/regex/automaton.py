"""Product and reversal of interegular's automata, each new state found in a dict.

interegular's own crawl finds each state it reaches again with `list.index`, so its cost grows
with the square of the states: on a 451-character regex (one API Gateway app in 31 AWS regions)
that was most of the proof's 12 seconds. Its intersection also keeps the states where one side
has already failed, which the proof never needs. Every automaton built here is capped at
MAX_CRAWLED states, so no regex the other bounds let through can make the proof run away.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TypeVar

from interegular.fsm import FSM, Alphabet, State, TransitionKey

from corsgen.regex.syntax import RegexError

# The proof's automata for the worst regexes of ordinary shape the rules accept (1,200 states, 32
# named domains; tests/regex/cost_test.py) stay under 1,200 states. A regex small forwards can be
# exponential backwards ([ab]{16}a[ab]* below a public suffix: 65,536 states, 5 s): the cap
# refuses it within half a second.
MAX_CRAWLED = 10_000

Node = TypeVar("Node", bound=Hashable)


def _crawl(
    alphabet: Alphabet,
    initial: Node,
    final: Callable[[Node], bool],
    follow: Callable[[Node, TransitionKey], Node | None],
    regex: str,
) -> FSM:
    """The automaton whose states are the nodes reachable from `initial` by `follow`."""
    nodes = [initial]
    index = {initial: 0}
    finals: set[int] = set()
    table: dict[int, dict[TransitionKey, int]] = {}
    symbols = list(alphabet.by_transition)
    for number, node in enumerate(nodes):  # nodes grows as the loop runs: a breadth-first crawl
        if final(node):
            finals.add(number)
        row = table[number] = {}
        for symbol in symbols:
            ahead = follow(node, symbol)
            if ahead is None:
                continue
            found = index.get(ahead)
            if found is None:
                if len(nodes) >= MAX_CRAWLED:
                    raise RegexError("CG120", "regex-proof", regex=regex, most=MAX_CRAWLED)
                found = index[ahead] = len(nodes)
                nodes.append(ahead)
            row[symbol] = found
    return FSM(
        alphabet=alphabet,
        states=range(len(nodes)),
        initial=0,
        finals=finals,
        map=table,
        __no_validation__=True,
    )


def intersection(a: FSM, b: FSM, regex: str) -> FSM:
    """The strings both accept; only pairs of states in which both are still alive."""
    alphabet, (to_a, to_b) = Alphabet.union(a.alphabet, b.alphabet)

    def follow(pair: tuple[State, State], symbol: TransitionKey) -> tuple[State, State] | None:
        left = a.map.get(pair[0], {}).get(to_a[symbol])
        right = b.map.get(pair[1], {}).get(to_b[symbol])
        return None if left is None or right is None else (left, right)

    def final(pair: tuple[State, State]) -> bool:
        return pair[0] in a.finals and pair[1] in b.finals

    return _crawl(alphabet, (a.initial, b.initial), final, follow, regex)


def reversed_fsm(fsm: FSM, regex: str) -> FSM:
    """The reversed strings, deterministic: each state is the set of `fsm`'s states from which
    what was read so far, reversed, leads to a final state."""
    # Each symbol's transitions turned round: ahead state -> the states that lead to it.
    before: dict[TransitionKey, dict[State, list[State]]] = {}
    for state, row in fsm.map.items():
        for symbol, ahead in row.items():
            before.setdefault(symbol, {}).setdefault(ahead, []).append(state)

    def follow(states: frozenset[State], symbol: TransitionKey) -> frozenset[State] | None:
        into = before.get(symbol, {})
        found = frozenset(s for ahead in states if ahead in into for s in into[ahead])
        return found or None

    def final(states: frozenset[State]) -> bool:
        return fsm.initial in states

    return _crawl(fsm.alphabet, frozenset(fsm.finals), final, follow, regex)
