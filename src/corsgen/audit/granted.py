"""What a hand-written CORS configuration grants (routing.Granted), as corsgen's own terms: the
plan the audit holds the config's answers to, and the nearest safe policy `corsgen import` writes.

The plan states the grant as it is, flaws and all (a reflected Origin allows every origin, a loose
regex what it matches), so that probing the model against it finds where the config's answers
are inconsistent with its own grant (errors without headers, preflights that meet auth, no Vary).
The policy is what corsgen accepts of it: each value the rules refuse is dropped or narrowed, and
each drop is said in words. Nothing is ever widened.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from corsgen.audit.regexes import (
    admits,
    alternatives,
    literal_dots,
    proven,
    samples,
    stripped,
    whole_origin,
)
from corsgen.errors import Finding
from corsgen.limits import MAX_NAME_LENGTH, MAX_REGEX_LENGTH
from corsgen.origins import OriginError, parse_origin
from corsgen.plan import Plan, build_plan
from corsgen.policy.loading import NAME_PATTERN, SHARED, PlainPolicy
from corsgen.regex import RegexError, parse_regex
from corsgen.routing import Granted, OriginRegex, Place
from corsgen.rules.checks import check_policy

# How many times import drops a refused value and checks again: each pass drops at least one.
_PASSES = 64


def _policy(granted: Granted, **more: object) -> PlainPolicy:
    return PlainPolicy(
        allow_origins=["*"] if granted.any_origin else [],
        allow_methods=list(granted.methods),
        allow_headers=list(granted.headers),
        expose_headers=list(granted.expose),
        allow_credentials=granted.credentials,
        max_age=granted.max_age,
        preflight_status=granted.preflight_status or 204,
        allow_private_network=granted.private_network,
        **more,  # type: ignore[arg-type]
    )


def _portable(pattern: str) -> bool:
    """Whether the plan can hold the pattern: corsgen's portable subset, which its sampling
    (interegular) and Plan.allows (Python's re) read as the servers do, and no longer than a
    policy's may be (sampling it builds an automaton that grows with its length)."""
    if len(pattern) > MAX_REGEX_LENGTH:
        return False
    try:
        parse_regex(pattern)
    except RegexError:
        return False
    return True


def as_plan(granted: Granted, name: str) -> Plan:
    """The grant as a plan: what the config's own answers should agree with. A reflected Origin is
    a pattern that allows every origin (with Vary, as an echo needs); a regex outside corsgen's
    portable subset is left out (regexes.judge tries the hostile origins on it)."""
    plan = build_plan(_policy(granted), name, "config")
    patterns = [whole_origin(r, origins=True) for r in granted.regexes]
    if granted.reflects:  # any Origin; sampled as origins are spelled (no empty one to send back)
        patterns.append("https://.+")
    return replace(
        plan,
        exact_origins=tuple(granted.origins),
        origin_patterns=tuple(p for p in patterns if _portable(p)),
    )


def policy_name(host: str, title: str) -> str:
    """A policy name for a scope, [a-z][a-z0-9_]* of at most MAX_NAME_LENGTH characters: the
    host's first label and the block's path words (api.example.com, location /v1/admin/ ->
    api_v1_admin). An address or a site's URL in the title (<VirtualHost 127.0.0.1:8080>,
    http://api.example.com:8080, Caddy's `api.example.com` site) names nothing the host does
    not: it is left out."""
    label = host.split(".")[0] if host and host != "_" else "site"
    words = [w for w in title.split(" ", 1)[-1].split() if ":" not in w and w != host]
    path = re.sub(r"[^a-z0-9]+", "_", " ".join(words).lower())
    name = re.sub(r"_+", "_", f"{label.lower()}_{path}").strip("_")
    return valid_name(re.sub(r"[^a-z0-9_]", "", name))


def valid_name(name: str) -> str:
    """A name of a-z, 0-9 and _ made a policy name: `cors_` before one that starts with no letter
    or is SHARED (the shared files', CG116), cut to MAX_NAME_LENGTH."""
    if not name or not name[0].isalpha() or name == SHARED:
        name = "cors_" + name
    name = name[:MAX_NAME_LENGTH].rstrip("_")
    assert NAME_PATTERN.fullmatch(name), name
    return name


@dataclass
class Imported:
    """The nearest safe policy to a grant: its keys (as TOML writes them), where each came from,
    and what was dropped or narrowed on the way, in words."""

    name: str
    keys: dict[str, object]
    at: Mapping[str, Place]
    dropped: list[str] = field(default_factory=list)

    def policy(self) -> PlainPolicy:
        return PlainPolicy(**self.keys)  # type: ignore[arg-type]


MAX_ALTERNATIVES = 20  # top-level alternatives of a regex imported one by one, at most


def _alternatives(regex: OriginRegex, dropped: list[str]) -> tuple[list[str], list[str]]:
    """The regex as _regex imports it; where that leaves nothing, each of its top-level
    alternatives on its own (^https://(app|admin).example.com$|^http://localhost:[0-9]+$ keeps
    app and admin, though localhost's port cannot be listed): the patterns and origins kept."""
    said: list[str] = []
    pattern, listed = _regex(regex, said)
    source, fold = stripped(regex)
    parts = alternatives(source)
    if pattern is not None or listed or not 1 < len(parts) <= MAX_ALTERNATIVES:
        dropped += said
        return [pattern] if pattern is not None else [], listed
    patterns, origins = [], []
    for part in parts:
        pattern, listed = _regex(replace(regex, source=part, ignore_case=fold), dropped)
        patterns += [pattern] if pattern is not None else []
        origins += listed
    return patterns, origins


def _regex(regex: OriginRegex, dropped: list[str]) -> tuple[str | None, list[str]]:
    """The regex as allow_origin_regex: as the server runs it when corsgen proves that safe, else
    anchored at both ends when that is; else the few origins it admits anchored, as exact ones;
    else nothing. Each narrowing said."""
    for anchored in (False, True):
        pattern = whole_origin(regex, anchored=anchored)
        ran, found = proven(regex if not anchored else replace(regex, whole=True))
        if ran and found is None and samples(pattern):  # safe, and allows some origin
            pattern = parse_regex(pattern).body  # corsgen's own spelling
            if anchored and pattern != parse_regex(whole_origin(regex)).body:
                dropped.append(
                    f"the origin regex {regex.source} at {regex.at} is anchored at both ends: "
                    "the origins it matched only as part of a longer Origin are dropped"
                )
            return pattern, []
    why = "corsgen cannot prove that it admits only origins it names"
    listed, dots = _listed(regex)
    if listed:
        read = "with its unescaped dots read as dots and " * dots
        dropped.append(
            f"the origin regex {regex.source} at {regex.at} is replaced by the origins it admits "
            f"{read}anchored at both ends, {', '.join(listed)}: {why}"
        )
        return None, listed
    dropped.append(f"the origin regex {regex.source} at {regex.at} is dropped: {why}")
    return None, []


MAX_LISTED = 20  # origins a regex import cannot prove is replaced by, at most


def _listed(regex: OriginRegex) -> tuple[list[str], bool]:
    """The origins a regex admits when anchored at both ends, when they are few: a regex that
    names its hosts and schemes outright (^https?://(app|admin)\\.example\\.com) is a list.
    Else, when reading its unescaped dots as dots makes it one (https?://app.example.com, the
    most common slip), that list, of origins the server's regex admits today; and whether the
    dots were read so."""
    from corsgen.regex.language import spelled_out  # interegular: only for an unproven regex

    pattern = whole_origin(regex, anchored=True)
    for dots, candidate in ((False, pattern), (True, literal_dots(pattern))):
        if (dots and candidate == pattern) or not _portable(candidate):
            continue
        found = spelled_out(candidate, MAX_LISTED) or []
        listed = [s for s in found if _is_origin(s) and admits(regex, s)]
        if listed:
            return listed, dots
    return [], False


def _is_origin(text: str) -> bool:
    """Whether a browser can send this as an Origin: a string no browser sends admits no one."""
    try:
        parse_origin(text)
    except OriginError:
        return False
    return True


def nearest_safe(granted: Granted, name: str) -> Imported:
    """The policy corsgen accepts that grants the most of what the config grants, and no more."""
    dropped: list[str] = []
    keys: dict[str, object] = {"name": name}
    at = dict(granted.at)
    credentials = granted.credentials
    if granted.any_origin or granted.reflects:
        keys["allow_origins"] = ["*"]
        if credentials:
            credentials = False
            what = "sends any Origin back" if granted.reflects else "sends *"
            dropped.append(
                f"allow_credentials: the config {what} with credentials; corsgen allows any origin "
                "only without them (list the origins that need cookies to keep them)"
            )
    else:
        origins = list(granted.origins)
        kept = []
        for regex in granted.regexes:
            patterns, listed = _alternatives(regex, dropped)
            kept += [(regex, pattern) for pattern in patterns]
            origins += listed
            if listed:
                at.setdefault("allow_origins", regex.at)
        keys["allow_origins"] = list(dict.fromkeys(origins))
        if kept:
            keys["allow_origin_regex"] = "|".join(p for _, p in kept)
            at.setdefault("allow_origin_regex", kept[0][0].at)
    keys["allow_credentials"] = credentials
    keys["allow_methods"] = list(granted.methods)
    keys["allow_headers"] = list(granted.headers)
    keys["expose_headers"] = list(granted.expose)
    if granted.max_age is not None:
        keys["max_age"] = granted.max_age
    if granted.preflight_status in (200, 204):
        keys["preflight_status"] = granted.preflight_status
    if granted.private_network:
        keys["allow_private_network"] = True
    imported = Imported(name, keys, at, dropped)
    _drop_refused(imported)
    return imported


class NothingLeft(Exception):
    """Nothing of the grant is left that corsgen accepts: no origin, exact or by regex; `dropped`
    says, in words, what was dropped on the way (the regex corsgen cannot prove, and why)."""

    def __init__(self, dropped: list[str]) -> None:
        super().__init__(dropped)
        self.dropped = dropped


def _drop_refused(imported: Imported) -> None:
    """Drop each value corsgen's rules refuse (an entry of a list, else the key), until none is
    left: the policy `corsgen check` passes."""
    for _ in range(_PASSES):
        errors = [f for f in _findings(imported) if f.severity == "error"]
        if not errors:
            return
        if errors[0].rule_id == "CG105":  # the list is empty: nothing to narrow it to
            raise NothingLeft(imported.dropped)
        _drop(imported, errors[0])
    raise AssertionError(f"import could not make {imported.name} safe")


def _findings(imported: Imported) -> list[Finding]:
    return check_policy(imported.policy(), imported.name, f"{imported.name}.toml")


def _drop(imported: Imported, finding: Finding) -> None:
    keys = imported.keys
    key, _, index = finding.key.partition("[")
    why = f"{finding.rule_id} {finding.slug}: {finding.message}"
    values = keys.get(key)
    if index and isinstance(values, list):
        value = values.pop(int(index.rstrip("]")))
        imported.dropped.append(f"{key} {value!r} is dropped ({why})")
    elif key in ("allow_origins", "") and keys.get("allow_origin_regex") is not None:
        imported.dropped.append(f"allow_origin_regex is dropped ({why})")
        del keys["allow_origin_regex"]
    elif key == "allow_origins" and keys.get("allow_credentials"):
        keys["allow_credentials"] = False
        imported.dropped.append(f"allow_credentials is dropped ({why})")
    elif key in keys and key not in ("allow_origins", "name"):
        imported.dropped.append(f"{key} is dropped ({why})")
        del keys[key]
    else:
        raise AssertionError(f"import cannot drop what {finding} refuses")
