"""One request on its way through the Apache routing model (apache_routing.py): what it asks,
and what the phases set on the way (the environment, the trail, the headers read for Vary)."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

from corsgen.regex import parse_regex
from corsgen.regex.backtracking import check_backtracking
from corsgen.regex.syntax import RegexError
from corsgen.routing import Asked, Place
from corsgen.targets.apache_expr import Unsupported, Vars, evaluate

SETENVIF = ("setenvif", "setenvifnocase")


@dataclass(frozen=True)
class Request:
    asked: Asked
    uri: str
    query: str
    headers: dict[str, str]

    def vars(self, env: dict[str, str]) -> Vars:
        return Vars(self.asked.method, self.uri, self.query, self.asked.host, self.headers, env)


def request_of(asked: Asked) -> Request:
    uri, _, query = asked.path.partition("?")
    headers: dict[str, str] = {}
    for name, value in asked.headers:
        key = name.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return Request(asked, uri, query, headers)


@dataclass
class Run:
    """One request's way through the model: what it sets and what it passed."""

    request: Request
    env: dict[str, str] = field(default_factory=dict)
    trail: list[str] = field(default_factory=list)
    vary: set[str] = field(default_factory=set)  # request headers <If> and RewriteCond read

    def vars(self) -> Vars:
        return self.request.vars(self.env)

    def test(self, expression: str, at: Place, read: set[str] | None = None) -> bool:
        """An ap_expr; the request headers it reads go to `read`, else to self.vary."""
        try:
            holds, names = evaluate(expression, self.vars())
        except (Unsupported, re.error) as exc:
            self.trail.append(f"not modelled at {at}: {exc}; taken as false")
            return False
        (self.vary if read is None else read).update(names)
        return holds

    def search(self, pattern: str, text: str, at: Place, flags: int = 0) -> re.Match[str] | None:
        """A regex of the config on the request. One Python's re does not read (PCRE only:
        \\K, verbs) is taken as not matching, and so is one that may backtrack without end
        (CG121: the model runs in bounded time on any Origin); the trail says so."""
        if not _bounded(pattern):
            self.trail.append(f"not modelled at {at}: {pattern!r} may backtrack without end")
            return None
        compiled = _compiled(pattern, flags)
        if isinstance(compiled, str):
            self.trail.append(f"not modelled at {at}: {pattern!r}: {compiled}")
            return None
        return compiled.search(text)


# A config's regexes, each compiled and checked once: as many as the config may hold sections
# (limits.MAX_CONFIG_ROUTES), so that every request tries each without compiling it again (re's
# own cache holds 512: past it, each request compiled them all).
@functools.lru_cache(maxsize=16_384)
def _compiled(pattern: str, flags: int) -> re.Pattern[str] | str:
    """The regex, or why Python's re does not read it."""
    try:
        return re.compile(pattern, flags)
    except re.error as exc:
        return str(exc)


@functools.lru_cache(maxsize=16_384)
def _bounded(pattern: str) -> bool:
    """Whether a backtracking engine runs the regex in linear time (corsgen's CG121 check); a
    regex outside the subset it reads is run as it is."""
    try:
        check_backtracking(parse_regex(pattern).tree, pattern)
    except RegexError as error:
        return error.violation.rule != "CG121"
    return True


def groups(value: str, match: re.Match[str]) -> str:
    """$0 .. $9 in a SetEnvIf value or a ProxyPassMatch URL."""
    return re.sub(r"\$(\d)", lambda m: match.group(int(m[1])) or "", value)
