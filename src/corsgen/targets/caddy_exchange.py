"""One request through Caddy's routes, and the answer being built, as the routing model keeps
them: the request (its path after rewrites, its variables, a regex's captures), the response's
header map with the line that sent each header, the deferred header blocks waiting for the
status, and what the request met on the way.

Caddy's placeholders are read here ({http.request.header.Origin}, {http.vars.X}, a map's
destination, evaluated when read as map does), and its header operations applied
(HeaderOps.ApplyTo): immediate ones on the response now, deferred ones when the status is
written, the innermost block first (headers.go's responseWriterWrapper).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from corsgen.routing import Asked, Backend, Place, Sent
from corsgen.targets.caddy_compiled import Handler, Json

PLACEHOLDER = re.compile(r"\{([^{}\s]+)\}")


def json_text(value: object) -> str:
    """A JSON value as Caddy's ToString writes it: true, not True."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def canonical(name: str) -> str:
    """Go's http.CanonicalHeaderKey: how Caddy names every header it sends."""
    if not re.fullmatch(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+", name):
        return name
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


class MatcherError(Exception):
    """A matcher that ends the request with an error (try_files' =404)."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


@dataclass(frozen=True)
class HandlerError:
    """A handler's error (caddyhttp.HandlerError): the status, and the directive that raised it."""

    status: int
    at: Place


# What a handler does with the request besides an error: passes it on, or ends the chain.
CONTINUE = "continue"
DONE = "done"
Outcome = str | HandlerError


@dataclass
class Deferred:
    """A deferred header block waiting for the status (`defer`, `>`, a delete, `require`)."""

    ops: Json
    by: Handler
    require: Json | None


@dataclass
class Exchange:
    """One request on its way through the routes, and the answer being built."""

    asked: Asked
    backend: Backend
    version: tuple[int, int]  # Caddy's
    path: str  # as rewritten so far
    query: str
    method: str
    headers: list[tuple[str, str]]  # the request's, as request_header left them
    response: dict[str, list[Sent]] = field(default_factory=dict)  # by canonical name
    wrappers: list[Deferred] = field(default_factory=list)  # outermost first
    variables: dict[str, str] = field(default_factory=dict)  # the vars handler's
    maps: dict[str, Json] = field(default_factory=dict)  # map handlers, by destination
    captures: dict[str, str] = field(default_factory=dict)  # {http.regexp.NAME.N}
    found: dict[str, str] = field(default_factory=dict)  # {http.matchers.file.relative}, ...
    groups: set[str] = field(default_factory=set)  # the route groups that already ran
    trail: list[str] = field(default_factory=list)
    status: int | None = None  # once written
    by: Place | None = None  # the block that wrote it
    reached: bool = False  # the backend answered
    auth: Place | None = None
    error: int | None = None  # the status of the error being handled (handle_errors)

    # placeholders

    def get(self, key: str) -> str | None:
        """A placeholder's value; None for one Caddy does not know (left as it is written)."""
        if key in self.maps:
            return self.mapped(key, self.maps[key])
        header = key.removeprefix("http.request.header.")
        if header != key:
            values = [v for n, v in self.headers if n.lower() == header.lower()]
            return ",".join(values)
        fixed = {
            "http.request.method": self.method,
            "http.request.uri.path": self.path,
            "http.request.uri.query": self.query,
            "http.request.uri": self.path + ("?" + self.query if self.query else ""),
            "http.request.host": self.asked.host.rsplit(":", 1)[0].lower(),
            "http.request.hostport": self.asked.host,
            "http.request.scheme": "http",
            "http.error.status_code": str(self.error) if self.error is not None else None,
        }
        if key in fixed:
            return fixed[key]
        if key.startswith("http.vars."):
            return self.variables.get(key.removeprefix("http.vars."), "")
        if key.startswith("http.regexp."):
            return self.captures.get(key.removeprefix("http.regexp."), "")
        return self.found.get(key)

    def replace(self, text: str, *, known: bool = True) -> str:
        """Caddy's ReplaceKnown (known=True: unknown placeholders stay) or ReplaceAll."""

        def one(match: re.Match[str]) -> str:
            value = self.get(match[1])
            if value is None:
                return match[0] if known else ""
            return value

        return PLACEHOLDER.sub(one, text)

    def mapped(self, key: str, handler: Json) -> str:
        index = [str(d).strip("{}") for d in handler.get("destinations", [])].index(key)
        source = self.replace(str(handler.get("source", "")), known=False)
        for mapping in handler.get("mappings", []):
            outputs = mapping.get("outputs", [])
            output = outputs[index] if index < len(outputs) else None
            if output is None:
                continue
            if "input_regexp" in mapping:
                found = re.search(python_regex(mapping["input_regexp"]), source)
                if found:
                    return expanded(found, json_text(output))
            elif source == mapping.get("input", ""):  # "" is left out of the JSON
                return self.replace(json_text(output), known=False)
        defaults = handler.get("defaults", [])
        return (
            self.replace(json_text(defaults[index]), known=False) if index < len(defaults) else ""
        )

    # the response's headers

    def apply(self, ops: Json, headers: dict[str, list[Sent]], by: Handler | None) -> None:
        """HeaderOps.ApplyTo: delete *, add, set, delete, replace; each header sent by the line
        of `by` that names it."""
        deleted = [self.replace(str(n)) for n in ops.get("delete", [])]
        if "*" in deleted:
            headers.clear()
        for name, values in ops.get("add", {}).items():
            key = canonical(self.replace(name))
            at = by.sender(key) if by else None
            for value in values:
                headers.setdefault(key, []).append(Sent(key, self.replace(value), at))
        for name, values in ops.get("set", {}).items():
            key = canonical(self.replace(name))
            joined = ",".join(self.replace(v) for v in values)
            headers[key] = [Sent(key, joined, by.sender(key) if by else None)]
        for name in deleted:
            _delete(headers, name.lower())
        for name, replacements in ops.get("replace", {}).items():
            for key in [k for k in headers if name == "*" or k == canonical(name)]:
                at = by.sender(key) if by else None
                headers[key] = [_replaced(s, replacements, self, at) for s in headers[key]]

    def write(self, status: int, by: Place) -> None:
        """WriteHeader through the deferred wrappers, the innermost first."""
        for wrapper in reversed(self.wrappers):
            if wrapper.require is None or response_matches(wrapper.require, status, self):
                self.apply(wrapper.ops, self.response, wrapper.by)
                self.trail.append(f"deferred header at {wrapper.by.at}")
        self.status, self.by = status, by


def _delete(headers: dict[str, list[Sent]], name: str) -> None:
    for key in list(headers):
        low = key.lower()
        if name.startswith("*") and name.endswith("*") and len(name) > 1:
            gone = name[1:-1] in low
        elif name.startswith("*"):
            gone = low.endswith(name[1:])
        elif name.endswith("*"):
            gone = low.startswith(name[:-1])
        else:
            gone = low == name
        if gone:
            del headers[key]


def _replaced(sent: Sent, replacements: Sequence[Json], run: Exchange, at: Place | None) -> Sent:
    value = sent.value
    for r in replacements:
        if r.get("search_regexp"):
            pattern = python_regex(run.replace(str(r["search_regexp"])))
            replace = run.replace(str(r.get("replace", "")))
            value = re.sub(pattern, functools.partial(expanded, template=replace), value)
        else:
            search = run.replace(str(r.get("search", "")))
            value = value.replace(search, run.replace(str(r.get("replace", ""))))
    return sent if value == sent.value else Sent(sent.name, value, at)


def response_matches(require: Json, status: int, run: Exchange) -> bool:
    codes = require.get("status_code")
    if codes and not any(status == c or (c < 100 and status // 100 == c) for c in codes):
        return False
    for name, values in (require.get("headers") or {}).items():
        have = [s.value for s in run.response.get(canonical(name), [])]
        if (values is None and have) or (values is not None and not have):
            return False
        if values and not any(header_value_matches(v, h) for v in values for h in have):
            return False
    return True


def python_regex(pattern: str) -> str:
    """RE2 as Python reads it: named groups (?P<n>) read the same; \\z is Python's \\Z. A
    pattern Python cannot read ([[:alpha:]], \\pL) is one that matches nothing: the trail of
    the matcher that uses it says so."""
    try:
        re.compile(pattern.replace(r"\z", r"\Z"))
    except re.error:
        return r"(?!)"
    return pattern.replace(r"\z", r"\Z")


def expanded(found: re.Match[str], template: str) -> str:
    """Go's Regexp.Expand: $1, ${1}, $name, ${name} replaced by the group, "" when there is no
    such group; $$ is a $."""

    def group(match: re.Match[str]) -> str:
        if match[0] == "$$":
            return "$"
        key = match[1] or match[2]
        try:
            return found.group(int(key) if key.isdigit() else key) or ""
        except IndexError:  # no such group
            return ""

    return re.sub(r"\$\$|\$\{(\w+)\}|\$(\w+)", group, template)


def header_value_matches(allowed: str, actual: str) -> bool:
    if allowed == "*":
        return True
    if allowed.startswith("*") and allowed.endswith("*"):
        return allowed[1:-1] in actual
    if allowed.startswith("*"):
        return actual.endswith(allowed[1:])
    if allowed.endswith("*"):
        return actual.startswith(allowed[:-1])
    return actual == allowed
