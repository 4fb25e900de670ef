"""An origin regex as a server runs it, held to corsgen's own proof.

A config's regex is searched for in the Origin unless ^ and $ anchor it (PCRE in nginx, Apache and
HAProxy; Go's MatchString in Traefik), or matched whole (Envoy's safe_regex), in any case when the
config says so. `whole_origin` writes it as a pattern matched against the whole Origin, in
corsgen's portable syntax: each unanchored end becomes `.*`, and a case-insensitive regex is
lowercased (browsers send scheme and host in lower case). Then the CG121 backtracking check
(PCRE only: RE2 does not backtrack) and the CG108 proof decide, as they do for a policy's
allow_origin_regex. A regex outside the portable subset is judged by the scanners' hostile
variants of the origins it allows, run in Python's re as the server would.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

from corsgen.limits import MAX_REGEX_LENGTH
from corsgen.probe.checks import BY_ID
from corsgen.probe.hostile import variants
from corsgen.regex import RegexError, parse_regex, prove
from corsgen.regex.backtracking import check_backtracking
from corsgen.routing import OriginRegex
from corsgen.rules.table import Violation

# Go writes a case-insensitive regex with a leading (?i); the others say so outside the regex.
_GO_IGNORE_CASE = "(?i)"


@dataclass(frozen=True)
class Verdict:
    """Why a regex admits hostile origins: a rule case of CG411 and its fields."""

    case: str
    fields: dict[str, object]


def _tokens(source: str) -> Iterator[tuple[int, str, bool]]:
    """Each escape, class bracket and character of a regex, with its index, and whether it
    stands for itself outside a class and an escape (a `|`, `(` or `.` that means something)."""
    index, in_class = 0, False
    while index < len(source):
        char = source[index]
        step = 2 if char == "\\" or (char == "[" and source[index + 1 : index + 2] == "]") else 1
        free = not in_class and char not in "\\["
        if char != "\\":  # a ] right after [ is a literal, within the class it opens
            in_class = char == "[" if not in_class else char != "]"
        yield index, source[index : index + step], free
        index += step


def alternatives(source: str) -> list[str]:
    """The top-level alternatives of a regex: `|` outside groups, classes and escapes."""
    out, depth, start = [], 0, 0
    for index, token, free in _tokens(source):
        if not free:
            continue
        if token == "(":
            depth += 1
        elif token == ")":
            depth -= 1
        elif token == "|" and depth == 0:
            out.append(source[start:index])
            start = index + 1
    out.append(source[start:])
    return out


def literal_dots(source: str) -> str:
    """The regex with each `.` outside a class and an escape read as a dot (`\\.`): what an
    author who wrote app.example.com meant, and a subset of what the regex admits."""
    return "".join("\\." if free and token == "." else token for _, token, free in _tokens(source))


def _lowered(source: str) -> str:
    """The regex with its letters lowercased, escapes (\\D, \\W ...) kept as they are."""
    return re.sub(r"\\.|[A-Z]", lambda m: m[0] if m[0].startswith("\\") else m[0].lower(), source)


def stripped(regex: OriginRegex) -> tuple[str, bool]:
    """The source without Go's (?i), and whether the regex ignores case."""
    source = regex.source
    if source.startswith(_GO_IGNORE_CASE):
        return source[len(_GO_IGNORE_CASE) :], True
    return source, regex.ignore_case


def whole_origin(regex: OriginRegex, anchored: bool = False, origins: bool = False) -> str:
    """A pattern matched against the whole Origin that admits what the server admits; `anchored`:
    as if both ends of each alternative were anchored (what `corsgen import` narrows to);
    `origins`: of what it admits, what can be an Origin (an unanchored start before what cannot
    begin one follows a scheme: the audit's samples of //app.example.com$ are origins, not
    //app.example.com itself)."""
    source, fold = stripped(regex)
    if fold:
        source = _lowered(source)
    parts = []
    for alt in alternatives(source):
        # ^^ and $$ anchor as ^ and $ do: left in the body, a $ is one the samplers cannot read.
        head = body = alt.lstrip("^")
        while body.endswith("$") and not body.endswith("\\$"):
            body = body[:-1]
        start = head != alt or regex.whole or anchored
        end = body != head or regex.whole or anchored
        # An Origin begins with its scheme's letters: a body that cannot follows one.
        after = origins and not body[:1].isalpha()
        parts.append(("" if start else _UNANCHORED[after]) + body + ("" if end else ".*"))
    return "|".join(parts)  # no alternative holds a | of its own outside a group


# What an unanchored start admits before the regex: anything, or an Origin's scheme and more.
_UNANCHORED = {False: ".*", True: "[a-z]+:.*"}


def admits(regex: OriginRegex, origin: str) -> bool:
    """Whether the server's test lets this Origin through, in Python's re; False when Python
    cannot compile the regex."""
    source, fold = stripped(regex)
    try:
        pattern = re.compile(source, re.IGNORECASE if fold else 0)
    except re.error:
        return False
    found = pattern.fullmatch(origin) if regex.whole else pattern.search(origin)
    return found is not None


def proven(regex: OriginRegex) -> tuple[bool, Violation | None]:
    """corsgen's own verdict: CG121 on the regex as written (PCRE only; an unanchored end is a
    search, not a loop), then CG108 on what it admits of a whole Origin, quoting the regex as the
    config writes it: (True, the violation or None). (False, None) when the regex is outside the
    portable subset or the proof's bounds: then the variants decide."""
    pattern = whole_origin(regex)
    if len(pattern) > MAX_REGEX_LENGTH:  # before either check: both grow faster than its length
        return False, None
    try:
        if regex.flavor == "pcre":
            check_backtracking(parse_regex(whole_origin(regex, anchored=True)).tree, regex.source)
        prove(parse_regex(pattern))
    except RegexError as exc:
        found = exc.violation
        if found.rule not in ("CG108", "CG121"):
            return False, None
        return True, replace(found, fields={**found.fields, "regex": regex.source})
    return True, None


def trusted(regex: OriginRegex) -> list[str]:
    """Origins the regex means to allow: samples of its anchored form."""
    return samples(whole_origin(regex, anchored=True))


def samples(pattern: str) -> list[str]:
    """Origins a whole-origin pattern matches (language.samples), none outside the portable
    subset: what the scanners' variants are built from, and what shows a regex allows any. A
    pattern longer than a policy's may be is not sampled: its automaton grows with its length
    (a config's 30,000-name alternation took minutes)."""
    if len(pattern) > MAX_REGEX_LENGTH:
        return []
    try:
        parse_regex(pattern)
    except RegexError:
        return []
    from corsgen.regex import language  # interegular: only for a config with a regex

    try:
        return [s for s in language.samples(pattern) if "://" in s]
    except Exception:  # interegular refuses some constructs the parser lets through
        return []


# A host name as a regex spells it, its dots escaped or not.
_HOST = re.compile(r"[a-z0-9-]+(?:\\?\.[a-z0-9-]+)+", re.IGNORECASE)


def spelled(regex: OriginRegex) -> list[str]:
    """Origins of the host names a regex spells letter for letter: what it means to allow when
    the proof cannot sample it (HAProxy's -m dom written as a regex)."""
    return [f"https://{host.replace(chr(92), '')}" for host in _HOST.findall(regex.source)]


# The trusted origins whose hostile variants judge a regex the proof cannot: each costs a search of
# the whole regex per variant, and a generated allowlist spells 30,000 names.
TRIED = 20


def judge(regex: OriginRegex, hints: Sequence[str] = ()) -> Verdict | None:
    """Why this regex admits hostile origins, None when it does not (as far as corsgen sees);
    `hints` are origins the config trusts besides, whose variants are tried too."""
    ran, found = proven(regex)
    if ran:
        if found is None:
            return None
        why, fix = found.texts
        return Verdict("proof", {"regex": regex.source, "why": why, "fix": fix})
    tried = list(dict.fromkeys([*trusted(regex), *hints, *spelled(regex)]))[:TRIED]
    for origin in tried:
        for check, hostile in variants(origin):
            if check and admits(regex, hostile):
                kind = BY_ID[check].summary.split(": ")[-1]
                return Verdict("admits", {"regex": regex.source, "origin": hostile, "kind": kind})
    return None
