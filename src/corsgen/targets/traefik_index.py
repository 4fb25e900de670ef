"""Which of Traefik's routers a request may reach, found without matching every rule.

Each rule says what every request it matches has (Keys): a host, a path prefix, or one of a few
such pairs. The routers are filed under those, so a request is matched against the rules filed
under its own host and the prefixes of its path only (and those that say nothing), still in
priority order. A key is only a necessary condition, the rule is still matched: no answer changes,
and 2,000 routers cost a request what a few do (prefix_index.py).
"""

from __future__ import annotations

from collections.abc import Sequence

from corsgen.targets.prefix_index import Index, Key, T

# A Key here: (the host as host_key writes it, a path prefix).
Keys = tuple[Key, ...]  # every request the rule matches has one of these
ANY: Keys = ((None, None),)
# Alternatives a rule keeps: (A || B) && (C || D) multiplies; past this it keeps fewer, or ANY.
MAX_KEYS = 64


def host_key(host: str) -> str:
    """Host(`example.com.`) matches example.com and example.com. alike, in any case."""
    return host.lower().rstrip(".")


def matcher_keys(name: str, args: Sequence[str]) -> Keys:
    """What a request one of the rule's functions matches has (traefik_routing._matcher)."""
    if name == "Host" and not args[0].startswith("*"):
        return ((host_key(args[0]), None),)
    if name in ("Path", "PathPrefix"):
        return ((None, args[0]),)
    return ANY


def both_keys(parts: Sequence[Keys]) -> Keys:
    """A && B: each alternative of A with each of B, the host of either, the longer prefix (a path
    that starts with both starts with the longer); past MAX_KEYS, the smaller side alone, which
    every request the && matches still has."""
    out = ANY
    for keys in parts:
        merged = tuple(
            dict.fromkeys(
                (
                    a[0] if a[0] is not None else b[0],
                    max((p for p in (a[1], b[1]) if p is not None), key=len, default=None),
                )
                for a in out
                for b in keys
            )
        )
        out = merged if len(merged) <= MAX_KEYS else min(out, keys, key=len)
    return out


def either_keys(parts: Sequence[Keys]) -> Keys:
    """A || B: the alternatives of both; any when one of them says nothing."""
    joined = tuple(dict.fromkeys(key for keys in parts for key in keys))
    return ANY if (None, None) in joined or len(joined) > MAX_KEYS else joined


def candidates(index: Index[T], host: str, path: str) -> list[T]:
    """The routers a request for host and (routed) path may match, in their order."""
    return index.at(index.positions(host_key(host), path) | index.positions(None, path))
