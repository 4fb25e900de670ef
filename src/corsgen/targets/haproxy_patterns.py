"""How HAProxy 2.6 matches a string against a pattern: its match methods (str, beg, end, sub,
reg, dom, dir), regexes in PCRE2, and the pattern and map files ACLs (`-f`) and the map
converters read. targets/haproxy_acls.py and targets/haproxy_samples.py use them.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import pcre2

from corsgen.routing import Place
from corsgen.targets.haproxy_lines import Unmodeled

# A regex runs in PCRE2, HAProxy's engine, without Unicode properties (\d, \w are ASCII). A
# match that passes PCRE2's match limit (a pattern that backtracks without end on a hostile
# Origin) fails, as it fails in HAProxy: the model's time stays bounded where Python's re would
# run for ever.
_REGEX_CACHE = 4_096


@functools.lru_cache(maxsize=_REGEX_CACHE)
def _compiled(pattern: str, ignore_case: bool) -> Any:
    return pcre2.compile(pattern, flags=pcre2.A | (pcre2.I if ignore_case else 0))


def checked(pattern: str, ignore_case: bool, at: Place) -> None:
    """Unmodeled, as haproxy -c refuses it, when the regex does not compile."""
    try:
        _compiled(pattern, ignore_case)
    except pcre2.PatternError as exc:
        raise Unmodeled(f"the regex {pattern!r} does not compile: {exc}", at) from None


def search(pattern: str, value: str, ignore_case: bool = False) -> Any:
    """The first match of a regex in value, as HAProxy's PCRE2 finds it; None without one."""
    try:
        return _compiled(pattern, ignore_case).search(value)
    except pcre2.LibraryError:  # the match limit
        return None


def pattern_file(text: str) -> list[str]:
    """The patterns of an `-f` file as HAProxy reads them (pat_ref_read_from_file): a line that
    starts with # is left out, then its leading blanks; an empty one too; trailing blanks stay."""
    patterns = []
    for raw in text.split("\n"):
        line = raw.split("\r", 1)[0]
        if not line.startswith("#") and (pattern := line.lstrip(" \t")):
            patterns.append(pattern)
    return patterns


def map_file(text: str) -> list[tuple[str, str]]:
    """The entries of a map file, as pattern_file reads its lines: the key up to the first blank,
    the value after the blanks that follow it."""
    entries = []
    for line in pattern_file(text):
        key, _, value = line.replace("\t", " ").partition(" ")
        entries.append((key, value.lstrip(" ")))
    return entries


def matches(method: str, value: str, pattern: str, ignore_case: bool = False) -> bool:
    """Whether value matches pattern by a match method (str, beg, end, sub, reg, dom, dir)."""
    if method == "reg":
        return search(pattern, value, ignore_case) is not None
    if ignore_case:
        value, pattern = value.lower(), pattern.lower()
    if method == "str":
        return value == pattern
    if method == "beg":
        return value.startswith(pattern)
    if method == "end":
        return value.endswith(pattern)
    if method == "sub":
        return pattern in value
    # dom and dir: the pattern as whole words between delimiters (dir: / ?, dom: / ? . :), its
    # own delimiters at either end left out (HAProxy's match_word).
    delimiters = "/?" if method == "dir" else "/?.:"
    words = re.escape(pattern.strip(delimiters))
    around = "[" + re.escape(delimiters) + "]"
    return re.search(f"(?:^|{around}){words}(?:$|{around})", value) is not None
