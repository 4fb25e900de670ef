"""Reading an HAProxy config as HAProxy 2.6 reads it: its sections (defaults, frontend, backend,
listen, userlist), what each proxy takes from its defaults section, its ACLs, rules, backend
switches, servers, binds and errorfiles. targets/haproxy_routing.py runs what this reads.

Besides what it cannot model (Unmodeled, with the line), it refuses what `haproxy -c` refuses and
the model would otherwise answer for: an ACL used above its line, rules in an anonymous defaults
section, a defaults section with rules taken by frontends and backends both.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from corsgen.marker import parse_marker
from corsgen.routing import Place
from corsgen.server_config import ConfigBudget, decode_config
from corsgen.targets.haproxy_acls import (
    Acl,
    Condition,
    parse_acl,
    parse_condition,
    parse_predefined,
)
from corsgen.targets.haproxy_lines import (
    Line,
    Unmodeled,
    split_line,
)
from corsgen.targets.haproxy_pages import (
    ERROR_STATUSES,
    ERRORLOC,
    ErrorFile,
    Parse,
    http_error,
    parse_errorfile,
    payload,
)
from corsgen.targets.haproxy_patterns import (
    checked,
)
from corsgen.targets.haproxy_samples import (
    Expr,
    Format,
    number,
    parse_expr,
    parse_format,
    usable,
    variable,
)

PROXIES = ("frontend", "backend", "listen")
SECTIONS = frozenset(
    {*PROXIES, "defaults", "global", "userlist", "peers", "resolvers", "mailers", "program"}
    | {"http-errors", "ring", "cache", "fcgi-app"}
)
# tcp-request lines that let every HTTP request through.
_TCP_INERT = (("inspect-delay",), ("content", "accept"))


def _tcp_inert(args: Sequence[str]) -> bool:
    return any(tuple(args[: len(inert)]) == inert for inert in _TCP_INERT)


MAX_PORTS = 1_000  # of one bind's range: the model needs the ports it is asked on, not all
PHASES = ("http-request", "http-response", "http-after-response")
# Rules that change nothing a CORS answer shows (logging, QoS, counters): read past, conditions
# and all.
INERT = frozenset(
    {
        "capture",
        "set-log-level",
        "set-nice",
        "set-tos",
        "set-mark",
        "set-priority-class",
        "set-priority-offset",
        "set-timeout",
        "track-sc0",
        "track-sc1",
        "track-sc2",
        "sc-inc-gpc0",
        "sc-inc-gpc1",
        "sc-set-gpt0",
        "set-bandwidth-limit",
        "wait-for-body",
    }
)
# The actions each phase runs, beside the inert ones.
ACTIONS: Mapping[str, frozenset[str]] = {
    "http-request": frozenset(
        {"set-var", "set-var-fmt", "unset-var", "set-header", "add-header", "del-header"}
        | {"return", "deny", "auth", "redirect", "allow", "set-path", "replace-path"}
    ),
    "http-response": frozenset(
        {"set-var", "set-var-fmt", "unset-var", "set-header", "add-header", "del-header"}
        | {"set-status", "allow", "deny", "return"}
    ),
    "http-after-response": frozenset(
        {"set-var", "set-var-fmt", "unset-var", "set-header", "add-header", "del-header"}
        | {"set-status", "allow"}
    ),
}
# The header rewriting of HAProxy 1.x, still in copied CORS recipes (`rspadd
# Access-Control-Allow-Origin:\ *`): HAProxy 2.1 and later refuse to start with them.
REMOVED = frozenset(
    f"{side}{verb}"
    for side in ("req", "rsp")
    for verb in ("add", "del", "idel", "rep", "irep", "allow", "iallow", "deny", "ideny")
) | {"reqpass", "reqipass", "reqtarpit", "reqitarpit", "reqsetbe", "reqisetbe", "block"}
FINAL = frozenset({"return", "deny", "auth", "redirect"})
DENIED = {"http-request": 403, "http-response": 502}
_NAMED_ACTION = re.compile(r"([a-z-]+)\((.+)\)$")


@dataclass(frozen=True)
class Rule:
    """One http-request, http-response, http-after-response or redirect line."""

    at: Place
    phase: str
    action: str
    name: str = ""  # the header or the variable
    value: Format = ()  # the header's value, set-var-fmt's, the redirect's target, set-path's
    expr: Expr | None = None  # set-var's sample
    status: int = 0
    headers: tuple[tuple[str, Format], ...] = ()  # return's and deny's `hdr`
    regex: str = ""  # replace-path's
    realm: str = ""
    # return's and deny's head: "errorfile" (the proxy's errorfile for the status, as a bare deny
    # or `default-errorfiles`), "file" (return's own `errorfile FILE`: in `page`), "" (its own).
    head: str = ""
    page: ErrorFile | None = None
    condition: Condition | None = None


@dataclass
class Stats:
    """The statistics page a proxy serves (`stats enable`, `stats uri`) after its http-request
    rules, before its redirects and backend switches; behind `stats auth` when it has one."""

    uri: str
    at: Place
    users: dict[str, str | None] = field(default_factory=dict)
    realm: str = ""

    def serves(self, method: str, uri: str) -> bool:
        """The page answers GET, HEAD and POST under its URI; other methods go on to the
        backend (checked: OPTIONS /stats reaches the server)."""
        return method in ("GET", "HEAD", "POST") and uri.startswith(self.uri)


@dataclass(eq=False)  # one section is one proxy: compared, and hashed, by identity
class Section:
    kind: str
    name: str
    at: Place
    parent: str | None  # `from NAME`
    defaults: Section | None = None
    mode: str = ""
    acls: dict[str, tuple[Acl, ...]] = field(default_factory=dict)
    rules: dict[str, list[Rule]] = field(default_factory=dict)  # phase (or "redirect") -> rules
    switches: list[tuple[str, Condition | None, Place]] = field(default_factory=list)
    default_backend: tuple[str, Place] | None = None
    servers: list[Place] = field(default_factory=list)
    ports: list[int] = field(default_factory=list)
    ssl: bool = False
    users: dict[str, str | None] = field(default_factory=dict)
    errorfiles: dict[int, ErrorFile] = field(default_factory=dict)
    monitor: tuple[str, Place] | None = None  # monitor-uri: HAProxy's own 200, before any rule
    stats: Stats | None = None

    def errorfile(self, status: int) -> ErrorFile | None:
        """This proxy's errorfile for a status: its own, else its defaults section's."""
        own = self.errorfiles.get(status)
        return own or (self.defaults.errorfile(status) if self.defaults else None)

    @property
    def title(self) -> str:
        return f"{self.kind} {self.name}".rstrip()

    def effective_mode(self) -> str:
        return self.mode or (self.defaults.effective_mode() if self.defaults else "tcp")

    def chain(self, phase: str) -> list[Rule]:
        """The rules this proxy runs in a phase: its defaults section's, then its own."""
        inherited = self.defaults.rules.get(phase, []) if self.defaults else []
        return [*inherited, *self.rules.get(phase, [])]


def read_lines(text: str, file: str, environ: Mapping[str, str]) -> list[Line]:
    lines = []
    for count, raw in enumerate(text.splitlines(), start=1):
        at = Place(file, count)
        words = split_line(raw, at, environ)
        if words:
            lines.append(Line(at, words))
    return lines


class Reader:
    """The sections of the files, read one after the other, as HAProxy reads them."""

    def __init__(self, read: Callable[[str, Place], str]) -> None:
        self.read_file = read  # an errorfile's text
        self.sections: list[Section] = []
        self.defaults: dict[str, Section] = {}
        self.last_defaults: Section | None = None
        self.userlists: dict[str, dict[str, str | None]] = {}

    def read(self, lines: Sequence[Line]) -> None:
        current: Section | None = None
        for line in lines:
            keyword = line.words[0]
            if keyword in SECTIONS:
                current = self._open(line)
            elif current is not None:
                self._line(current, line)

    def _open(self, line: Line) -> Section | None:
        kind, rest = line.words[0], list(line.words[1:])
        parent = None
        if len(rest) >= 2 and rest[-2] == "from":
            parent, rest = rest[-1], rest[:-2]
        name = rest[0] if rest else ""
        if kind == "userlist":
            self.userlists[name] = {}
            return Section(kind, name, line.at, None, users=self.userlists[name])
        if kind == "global":
            return Section(kind, name, line.at, None)
        if kind not in (*PROXIES, "defaults"):
            return None  # the others route nothing
        section = Section(kind, name, line.at, parent)
        if parent is not None:
            if parent not in self.defaults:
                raise Unmodeled(f"no defaults section {parent!r} above this line", line.at)
            section.defaults = self.defaults[parent]
        elif kind != "defaults":
            section.defaults = self.last_defaults
        if kind == "defaults":
            if parent is not None:
                raise Unmodeled("a defaults section `from` another is not modeled", line.at)
            self.last_defaults = section
            if name:
                self.defaults[name] = section
        else:
            self.sections.append(section)
        return section

    def _line(self, section: Section, line: Line) -> None:
        keyword, args, at = line.words[0], line.words[1:], line.at
        if section.kind == "global":
            if keyword == "default-path":  # where relative errorfiles are read from
                raise Unmodeled("default-path is not modeled", at)
        elif section.kind == "userlist":
            if keyword == "user" and args:
                options = dict(zip(args[1::2], args[2::2], strict=False))
                section.users[args[0]] = options.get("insecure-password")
        elif keyword == "mode" and args:
            section.mode = args[0]
        elif keyword == "acl" and args:
            acl = parse_acl(args[1:], at, self.read_file)
            section.acls[args[0]] = (*section.acls.get(args[0], ()), acl)
        elif keyword in PHASES:
            self._rule(section, keyword, args, at)
        elif keyword == "redirect":
            self._rule(section, keyword, ("redirect", *args), at)
        elif keyword == "use_backend" and args:
            condition = self._condition(section, args[1:], at, response=False)
            section.switches.append((args[0], condition, at))
        elif keyword == "default_backend" and args:
            section.default_backend = (args[0], at)
        elif keyword in ("server", "server-template"):
            if "disabled" not in args:
                section.servers.append(at)
        elif keyword == "monitor-uri" and args:
            section.monitor = (args[0], at)
        elif keyword == "stats":
            _stats(section, args, at)
        elif keyword == "bind":
            _bind(section, args)
        elif keyword == "errorfile" and len(args) == 2:
            page = self.page(args[1], at)
            section.errorfiles[number(args[0], at)] = page
        elif keyword == "http-error":
            page = http_error(args, at, self.page)
            section.errorfiles[page.status] = page
        elif keyword in ERRORLOC and len(args) == 2:
            location = (("Location", (args[1],)),)
            section.errorfiles[number(args[0], at)] = ErrorFile(ERRORLOC[keyword], location, at)
        elif keyword in ("errorfile", "errorfiles", *ERRORLOC):
            raise Unmodeled(f"{keyword} is not modeled here", at)
        elif keyword in REMOVED:
            raise Unmodeled(f"{keyword} was removed in HAProxy 2.1 (haproxy -c refuses it)", at)
        elif keyword.startswith("lua") or (keyword.startswith("tcp-") and not _tcp_inert(args)):
            raise Unmodeled(f"{' '.join(line.words[:2])} is not modeled", at)

    def page(self, path: str, at: Place) -> ErrorFile:
        return parse_errorfile(self.read_file(path, at), path, at)

    def _condition(
        self, section: Section, words: Sequence[str], at: Place, response: bool
    ) -> Condition | None:
        if not words:
            return None
        if words[0] not in ("if", "unless"):
            raise Unmodeled(f"expected if or unless, not {words[0]!r}", at)

        def named(name: str) -> tuple[Acl, ...]:
            found = section.acls.get(name) or parse_predefined(name, at)
            if not found:
                raise Unmodeled(f"no such ACL: {name!r} (haproxy -c refuses it)", at)
            return found

        return parse_condition(words, at, named, response)

    def _rule(self, section: Section, phase: str, args: Sequence[str], at: Place) -> None:
        if not args:
            raise Unmodeled(f"{phase} without an action", at)
        if section.kind == "defaults" and not section.name:
            raise Unmodeled(f"{phase} in an anonymous defaults section (haproxy -c refuses)", at)
        named = _NAMED_ACTION.match(args[0])
        action, name = (named[1], named[2]) if named else (args[0], "")
        if "," in name:  # set-var(txn.x,ifnotexists): conditions on the variable
            raise Unmodeled(f"{action} with conditions on the variable is not modeled", at)
        if action in ("set-var", "set-var-fmt", "unset-var"):
            variable(name, at)
        cut = next((i for i, w in enumerate(args) if w in ("if", "unless")), len(args))
        words, response = args[1:cut], phase != "http-request" and phase != "redirect"
        condition = self._condition(section, args[cut:], at, response)
        if action in INERT:
            return
        if phase != "redirect" and action not in ACTIONS[phase]:
            raise Unmodeled(f"{phase} {action} is not modeled", at)
        rule = Rule(at, phase, action, name, condition=condition)
        rule = _parse_rule(rule, words, response, self)
        section.rules.setdefault(phase, []).append(rule)


def _bind(section: Section, args: Sequence[str]) -> None:
    """The ports of a bind line's addresses (`:80`, `127.0.0.1:8080`, `[::]:8000-8010`)."""
    for address in args[0].split(",") if args else ():
        low, _, high = address.rsplit(":", 1)[-1].partition("-")
        if low.isdigit() and (high or low).isdigit():
            section.ports.extend(range(int(low), int(high or low) + 1)[:MAX_PORTS])
    section.ssl = section.ssl or "ssl" in args[1:]


# What `stats` lines change nothing of what a request is answered (display, refresh, admin).
_STATS_INERT = frozenset({"hide-version", "refresh", "show-legends", "show-node", "show-desc"})
_STATS_INERT |= {"show-modules", "admin", "scope", "bind-process", "http-request", "socket"}
_STATS_INERT |= {"timeout", "maxconn"}


def _stats(section: Section, args: Sequence[str], at: Place) -> None:
    stats = section.stats or Stats("/haproxy?stats", at)
    option = args[0] if args else ""
    if option == "uri" and len(args) > 1:
        stats.uri, stats.at = args[1], at
    elif option == "auth" and len(args) > 1:
        user, _, password = args[1].partition(":")
        stats.users[user] = password
    elif option == "realm" and len(args) > 1:
        stats.realm = " ".join(args[1:])
    elif option == "enable":
        stats.at = at
    elif option not in _STATS_INERT:
        raise Unmodeled(f"stats {option} is not modeled", at)
    section.stats = stats


def _parse_rule(rule: Rule, words: Sequence[str], response: bool, reader: Reader) -> Rule:
    """A rule's arguments, read for its action; `reader` reads the files they name."""
    at, action, page = rule.at, rule.action, reader.page

    def value(text: str) -> Format:
        parsed = parse_format(text, at, reader.read_file)
        for part in parsed:
            if isinstance(part, Expr):
                usable(part, at, response)
        return parsed

    def need(count: int) -> None:
        if len(words) < count:
            raise Unmodeled(f"{rule.phase} {action} needs {count} arguments here", at)

    if action == "set-var":
        need(1)
        expr = parse_expr(words[0], at, reader.read_file)
        usable(expr, at, response)
        return replace(rule, expr=expr)
    if action == "set-var-fmt":
        need(1)
        return replace(rule, value=value(words[0]))
    if action in ("set-header", "add-header"):
        need(2)
        return replace(rule, name=words[0], value=value(words[1]))
    if action == "del-header":
        need(1)
        if len(words) > 1:
            raise Unmodeled("del-header with a match method is not modeled", at)
        return replace(rule, name=words[0])
    if action == "set-status":
        need(1)
        return replace(rule, status=number(words[0], at))
    if action in ("return", "deny"):
        return _answer_options(rule, words, value, page)
    if action == "auth":
        options = dict(zip(words[::2], words[1::2], strict=False))
        return replace(rule, realm=options.get("realm", ""))
    if action == "redirect":
        return _redirect(rule, words, value)
    if action == "set-path":
        need(1)
        return replace(rule, value=value(words[0]))
    if action == "replace-path":
        need(2)
        checked(words[0], False, at)
        return replace(rule, regex=words[0], value=value(words[1]))
    return rule  # allow, unset-var


def _answer_options(
    rule: Rule, words: Sequence[str], value: Parse, page: Callable[[str, Place], ErrorFile]
) -> Rule:
    """return's and deny's answer. A deny that says nothing of it answers with the proxy's
    errorfile for its status, as `default-errorfiles` does; checked on haproxy 2.6."""
    said = payload(words, rule.at, value, page)
    status = said.status or (200 if rule.action == "return" else DENIED[rule.phase])
    head = said.head or ("errorfile" if rule.action == "deny" else "own")
    if head == "errorfile" and status not in ERROR_STATUSES:
        why = f"HAProxy has no error answer for {status} (haproxy -c refuses it)"
        raise Unmodeled(why, rule.at)
    head = "" if head == "own" else head
    headers = tuple(said.headers)
    return replace(rule, status=status, headers=headers, head=head, page=said.page)


def _redirect(rule: Rule, words: Sequence[str], value: Parse) -> Rule:
    if len(words) < 2 or words[0] not in ("location", "prefix", "scheme"):
        raise Unmodeled("a redirect without location, prefix or scheme", rule.at)
    # Options are single words (drop-query, append-slash) but for code and the cookie ones.
    codes = [words[i + 1] for i in range(2, len(words) - 1) if words[i] == "code"]
    status = number(codes[0] if codes else "302", rule.at)
    return replace(rule, name=words[0], value=value(words[1]), status=status)


def read_configs(
    configs: Sequence[Path], environ: Mapping[str, str]
) -> tuple[Reader, dict[str, str]]:
    """The files HAProxy is started with (-f, in order), read within the audit's bounds; and the
    policy of each that is corsgen's output. Unmodeled when HAProxy would refuse them or the
    model cannot follow them, CorsgenError when one cannot be read."""
    budget = ConfigBudget()

    def read(path: str, at: Place) -> str:
        # HAProxy 2.6 reads a relative path from the directory it starts in; the model, which
        # cannot know it, from the directory of the file that names it.
        try:
            return decode_config(budget.read(Path(at.file).parent / path, included_at=str(at)))
        except OSError as exc:
            raise Unmodeled(f"cannot read {path}: {exc.strerror}", at) from None

    reader = Reader(read)
    policies: dict[str, str] = {}
    for path in configs:
        text = decode_config(budget.read(path))
        file = str(path)
        marker = parse_marker(text)
        if marker:
            policies[file] = marker.policy
        lines = read_lines(text, file, environ)
        budget.parse(len(lines), file, "lines")
        budget.keep(sum(len(line.words) for line in lines), file)
        reader.read(lines)
    if not reader.sections:
        raise Unmodeled("no frontend, backend or listen section", Place(str(configs[0]), 1))
    _refused_inheritance(reader.sections)
    _userlists_named(reader)
    if not any(
        p.kind in ("frontend", "listen") and p.effective_mode() == "http" for p in reader.sections
    ):
        raise Unmodeled("no HTTP frontend or listen section", reader.sections[0].at)
    return reader, policies


def _userlists_named(reader: Reader) -> None:
    """Every http_auth(NAME) names a userlist (haproxy -c refuses one that does not)."""
    for section in reader.sections:
        conditions = [rule.condition for rules in section.rules.values() for rule in rules]
        conditions += [condition for _, condition, _ in section.switches]
        acls = [acl for lines in section.acls.values() for acl in lines]
        acls += [
            acl
            for condition in conditions
            if condition
            for terms in condition.alternatives
            for term in terms
            for acl in term.acls
        ]
        for acl in acls:
            name = next(iter(acl.expr.fetch.args), "")
            if acl.expr.fetch.name == "http_auth" and name not in reader.userlists:
                raise Unmodeled(f"no userlist {name!r} (haproxy -c refuses it)", acl.at)


def _refused_inheritance(proxies: Sequence[Section]) -> None:
    """What haproxy -c refuses of how proxies take their defaults: a named section taken both
    with `from` and as the last one above, and one with rules taken by frontends and backends."""
    users: dict[Section, list[Section]] = {}
    for proxy in proxies:
        if proxy.defaults is not None:
            users.setdefault(proxy.defaults, []).append(proxy)
    for defaults, taking in users.items():
        implicit = [p for p in taking if p.parent is None]
        if defaults.name and implicit and len(implicit) < len(taking):
            why = f"takes defaults {defaults.name} as the last one above, which others name"
            raise Unmodeled(f"{implicit[0].title} {why} (haproxy -c refuses it)", implicit[0].at)
        if any(defaults.rules.values()):
            fronts = [p for p in taking if p.kind in ("frontend", "listen")]
            backs = [p for p in taking if p.kind in ("backend", "listen")]
            if fronts and backs:
                why = f"frontends and backends take defaults {defaults.name}, which has rules"
                last = max(fronts[-1], backs[-1], key=lambda p: proxies.index(p))
                raise Unmodeled(f"{why} (haproxy -c refuses it)", last.at)
