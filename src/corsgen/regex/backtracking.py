"""Can a backtracking engine (PCRE in nginx and Apache) take super-linear time on this regex?

A backtracking matcher explores the paths of the regex's position (Glushkov) automaton. Its time
blows up exactly when that automaton is ambiguous in a loop (Weber and Seidl; Weideman et al.):
- exponential (EDA): two different paths from a state back to itself on the same word, i.e. a
  strongly connected component of the pair automaton holding both a pair (p, p) and a pair (p, q);
- polynomial (IDA): states p != q on cycles, with p ->v p, p ->v q and q ->v q; we check the
  weaker (so stricter) condition that (p, p) reaches (p, q) and (p, q) reaches (q, q).

Counted repeats of more than one are analysed as loops (`{1,2}` as `+`): an over-approximation,
so a regex that passes is safe however large its counts, and `([a-z]{1,2}){36}` is caught.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator

from corsgen.regex.syntax import ANY, Chars, Concatenation, Item, RegexError

# Pairs of positions explored at most; an origin regex has a few dozen.
MAX_PAIRS = 200_000
# States of the regex's deterministic automaton at most. The language proof (interegular) takes
# time quadratic in them (1,000 states: about 1 s); `[a-z]*a[a-z]{n}` doubles them with each n,
# `[a-z]{1000}` has a thousand. The usual shapes need tens; 80 literal alternatives about 1,000.
MAX_STATES = 1_200
# Positions of the expanded automaton at most: only to bound building it; the states decide.
MAX_POSITIONS = 20_000

Position = int
START: Position = 0


class _Automaton:
    """Positions numbered from 1, what each matches, and in how many ways each may follow another.

    Counting ways (capped at 2) keeps what a plain position automaton forgets: in `(a+)+` the edge
    from `a` to itself exists once for the inner loop and once for the outer one, and a backtracking
    matcher tries both.
    """

    def __init__(self, expand: bool = False) -> None:
        self.chars: dict[Position, frozenset[str]] = {}
        self.follow: defaultdict[Position, Counter[Position]] = defaultdict(Counter)
        # Counted repeats as the copies interegular makes of them, instead of as loops.
        self.expand = expand

    def add(self, chars: frozenset[str]) -> Position:
        position = len(self.chars) + 1
        if self.expand and position > MAX_POSITIONS:
            raise _TooLarge
        self.chars[position] = chars
        return position

    def link(self, last: Ways, first: Ways) -> None:
        for p, m in last.items():
            for q, n in first.items():
                self.follow[p][q] = min(2, self.follow[p][q] + m * n)


# Ways to reach each position first or leave from it last, counted up to 2 like the edges.
Ways = Counter[Position]
# (ways to match the empty string, first positions, last positions) of a subexpression.
Shape = tuple[int, Ways, Ways]


def _add(a: Ways, b: Ways, times: int = 1) -> Ways:
    out = Counter(a)
    for key, n in b.items():
        out[key] = min(2, out[key] + n * times)
    return +out


def _alts(auto: _Automaton, alts: tuple[Concatenation, ...]) -> Shape:
    empty, first, last = 0, Counter[Position](), Counter[Position]()
    for seq in alts:
        e, f, lst = _sequence(auto, seq)
        empty, first, last = min(2, empty + e), _add(first, f), _add(last, lst)
    return empty, first, last


def _sequence(auto: _Automaton, seq: Concatenation) -> Shape:
    empty, first, last = 1, Counter[Position](), Counter[Position]()
    for item in seq:
        e, f, lst = _item(auto, item)
        auto.link(last, f)
        first = _add(first, f, empty)
        last = _add(lst, last, e)
        empty = min(2, empty * e)
    return empty, first, last


class _TooLarge(Exception):
    """More positions than MAX_POSITIONS: far more states than MAX_STATES, whatever they share."""


def _item(auto: _Automaton, item: Item) -> Shape:
    if item.high == 0:
        return 1, Counter(), Counter()
    if auto.expand and (item.low > 1 or (item.high or 0) > 1):
        return _copies(auto, item)
    node = item.node
    if isinstance(node, Chars):
        position = auto.add(node.chars)
        empty, first, last = 0, Counter({position: 1}), Counter({position: 1})
    else:
        empty, first, last = _alts(auto, node.alts)
    if item.high is None or item.high > 1:
        auto.link(last, first)
        # A repeat whose body can match nothing can loop on nothing in several ways.
        empty = min(2, empty * 2) if empty else 0
    return (min(2, empty + 1) if item.low == 0 else empty), first, last


def _copies(auto: _Automaton, item: Item) -> Shape:
    """X{2,4} as X X X? X?, and X{2,} as X X X*: a fresh copy of X for each."""
    once = Item(item.node)
    optional = Item(item.node, 0, 1)
    extra = [Item(item.node, 0, None)] if item.high is None else [optional] * (item.high - item.low)
    return _sequence(auto, (*[once] * item.low, *extra))


def build(alts: tuple[Concatenation, ...], expand: bool = False) -> _Automaton:
    auto = _Automaton(expand)
    _, first, _ = _alts(auto, alts)
    auto.follow[START] = first
    return auto


def check_size(alts: tuple[Concatenation, ...], text: str) -> None:
    """Raise CG120 when determinising the regex would pass MAX_STATES (subset construction).

    Characters that every position treats alike are one class, so each step is a few classes.
    """
    try:
        auto = build(alts, expand=True)
    except _TooLarge:
        raise _too_large(text) from None
    classes: defaultdict[frozenset[Position], str] = defaultdict(str)
    for char in ANY:
        classes[frozenset(p for p, chars in auto.chars.items() if char in chars)] += char
    start = frozenset({START})
    seen = {start}
    todo = [start]
    while todo:
        subset = todo.pop()
        follow = {q for p in subset for q in auto.follow[p]}
        for members in classes:
            nxt = frozenset(follow & members)
            if nxt and nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
        if len(seen) > MAX_STATES:
            raise _too_large(text)


def _too_large(text: str) -> RegexError:
    return RegexError("CG120", "regex-states", regex=text, most=MAX_STATES)


def _successors(auto: _Automaton, p: Position, q: Position) -> Iterator[Step]:
    """Pairs one step on, and whether the two runs part there (p == q taking two ways to a)."""
    for a, ways in auto.follow[p].items():
        for b in auto.follow[q]:
            if auto.chars[a] & auto.chars[b]:
                yield (a, b), False
                if p == q and a == b and ways > 1:
                    yield (a, b), True


Step = tuple[tuple[Position, Position], bool]
# Two runs on one word: where each is, and whether they have ever taken different ways.
Node = tuple[Position, Position, bool]


def _pair_graph(auto: _Automaton, starts: list[Node], text: str) -> dict[Node, list[Node]]:
    """Every state two runs on one word can reach from `starts`, with its successors."""
    graph: dict[Node, list[Node]] = {}
    todo = list(starts)
    while todo:
        node = todo.pop()
        if node in graph:
            continue
        p, q, parted = node
        steps = _successors(auto, p, q)
        graph[node] = [(a, b, parted or a != b or split) for (a, b), split in steps]
        todo += graph[node]
        if len(graph) > MAX_PAIRS:
            raise RegexError("CG121", "too-complex", regex=text)
    return graph


def _cyclic(auto: _Automaton) -> set[Position]:
    """Positions on a loop of the automaton: only there can backtracking grow with the input."""
    out = set()
    for p in auto.chars:
        seen, todo = set(), list(auto.follow[p])
        while todo:
            q = todo.pop()
            if q == p:
                out.add(p)
                break
            if q not in seen:
                seen.add(q)
                todo += auto.follow[q]
    return out


def _reach(graph: dict[Node, list[Node]], start: Node) -> set[Node]:
    seen = {start}
    todo = [start]
    while todo:
        for nxt in graph.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def check_backtracking(alts: tuple[Concatenation, ...], text: str) -> None:
    """Raise CG121 when PCRE could take exponential or polynomial time on some Origin.

    Two runs that are together at a position on a loop are where it starts: every reachable
    position has such a pair (one run, twice), so the search starts there, not at the beginning.
    """
    auto = build(alts)
    cyclic = _cyclic(auto)
    graph = _pair_graph(auto, [(p, p, False) for p in cyclic], text)
    reached = {p: _reach(graph, (p, p, False)) for p in cyclic}
    for p in cyclic:
        if (p, p, True) in reached[p]:
            raise RegexError("CG121", "exponential", regex=text)
    for p in cyclic:
        for a, b, parted in reached[p]:
            if a == p and b != p and b in cyclic and (b, b, True) in _reach(graph, (a, b, parted)):
                raise RegexError("CG121", "polynomial", regex=text)
