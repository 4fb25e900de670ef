"""mod_headers in the Apache routing model: its two tables, and what each Header line does.

`Header always` edits err_headers_out, `Header [onsuccess]` headers_out, in merge order. An answer
httpd makes itself (an error, a RewriteRule [R=204]) keeps err_headers_out alone; a proxied answer
or a file, of any status, has both: err_headers_out first, then headers_out with the backend's
headers, which `Header always unset` never reaches.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from corsgen.routing import Place, Sent
from corsgen.targets.apache_config_tree import Section
from corsgen.targets.apache_expr import expand
from corsgen.targets.apache_request import Run

_HEADER_ACTIONS = ("set", "append", "add", "merge", "unset", "setifempty", "edit", "edit*", "echo")


@dataclass
class Table:
    """One of mod_headers' tables (headers_out, err_headers_out): (name, value, at) in order."""

    rows: list[Sent] = field(default_factory=list)

    def get(self, name: str) -> Sent | None:
        return next((r for r in self.rows if r.name.lower() == name.lower()), None)

    def unset(self, name: str) -> None:
        self.rows = [r for r in self.rows if r.name.lower() != name.lower()]

    def set(self, name: str, value: str, at: Place | None) -> None:
        first = self.get(name)
        if first is None:
            self.rows.append(Sent(name, value, at))
            return
        index = self.rows.index(first)
        self.unset(name)
        self.rows.insert(index, Sent(name, value, at))

    def merge(self, name: str, value: str, at: Place | None, once: bool) -> None:
        """append (once=False) or merge (once=True): into the first line, with ", "."""
        first = self.get(name)
        if first is None:
            self.rows.append(Sent(name, value, at))
        elif not once or value not in [t.strip() for t in first.value.split(",")]:
            self.rows[self.rows.index(first)] = Sent(name, f"{first.value}, {value}", at)


def apply_headers(
    layers: Sequence[Section],
    run: Run,
    always: Table,
    onsuccess: Table,
    local: bool,
    vary: Table,
) -> None:
    """Each Header line of the merged config on its table; `local`: httpd made the answer, and
    headers_out (onsuccess) is not sent. What an expr= reads goes to Vary in `vary` as it is
    read: headers_out, or on httpd's own answer the table its error page sends beside the
    `always` one (a later `Header always set Vary` does not reach it; checked on 2.4.71)."""
    lines = [d for layer in layers for d in layer.directives() if d.name == "header" and d.args]
    # mod_headers' output filter: every `always` line on err_headers_out, then every other line
    # on headers_out (do_headers_fixup twice), each in merge order.
    for pass_always in (True, False):
        for d in lines:
            first = d.args[0].lower()
            table_name = first if first in ("always", "onsuccess") else ""
            if (table_name == "always") != pass_always or (local and not pass_always):
                continue  # headers_out is not sent on an answer httpd makes itself
            args = d.args[1:] if table_name else d.args
            _header(always if pass_always else onsuccess, args, d.at, run, vary)


_FORMAT = re.compile(r"%(?:\{([^}]*)\}([es])|(%))")


def _value(text: str, run: Run) -> str:
    """A Header value: %{VAR}e is the environment ("(null)" unset), expr= an ap_expr string."""
    if text.startswith("expr="):
        return expand(text[5:], run.vars().variable)

    def one(match: re.Match[str]) -> str:
        if match[3]:
            return "%"
        return run.env.get(match[1], "(null)") if match[2] == "e" else "(null)"

    return _FORMAT.sub(one, text)


def _header(table: Table, args: Sequence[str], at: Place, run: Run, vary: Table) -> None:
    """One Header directive's action on its table; `vary` takes what its expr= reads."""
    if not args or args[0].lower() not in _HEADER_ACTIONS:
        return
    action = args[0].lower()
    takes_value = action in ("set", "append", "add", "merge", "setifempty")
    count = {"unset": 2, "echo": 2, "edit": 4, "edit*": 4}.get(action, 3)
    rest = args[count:]
    if len(args) < count:
        return
    if rest and not _condition(rest[0], run, at, vary):
        return
    name = args[1]
    if action == "unset":
        table.unset(name)
    elif action == "echo":
        for key, value in run.request.asked.headers:
            if run.search(name, key, at, re.IGNORECASE):
                table.rows.append(Sent(key, value, at))
    elif action in ("edit", "edit*"):
        for row in [r for r in table.rows if r.name.lower() == name.lower()]:
            if run.search(args[2], row.value, at) is None:  # a regex it runs, bounded
                continue
            replacement = args[3].replace("$", "\\")
            try:
                edited = re.sub(args[2], replacement, row.value, count=0 if "*" in action else 1)
            except (re.error, IndexError):  # a $N the regex has no group for
                run.trail.append(f"not modelled at {at}: the replacement {args[3]!r}")
                continue
            table.rows[table.rows.index(row)] = Sent(row.name, edited, at)
    elif takes_value:
        value = _value(args[2], run)
        if action == "set":
            table.set(name, value, at)
        elif action == "setifempty":
            if table.get(name) is None:
                table.set(name, value, at)
        elif action == "add":
            table.rows.append(Sent(name, value, at))
        else:
            table.merge(name, value, at, once=action == "merge")


def _condition(text: str, run: Run, at: Place, vary: Table) -> bool:
    if text.startswith("env="):
        name = text[4:]
        return (name[1:] not in run.env) if name.startswith("!") else name in run.env
    if text.startswith("expr="):
        read: set[str] = set()
        held = run.test(text[5:], at, read)
        for token in sorted(read):
            vary.merge("Vary", token, at, once=True)
        return held
    return True  # early: not modelled; the header is taken as sent
