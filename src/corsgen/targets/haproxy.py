"""HAProxy: a named defaults section whose rules decide, answer the preflight and set the headers.

HAProxy has no include. One file, NAME.cfg, holds `defaults corsgen_NAME`; a frontend (or the
backends) that should carry the policy names it with `from corsgen_NAME`, and HAProxy is started
with the file before the one that names it (`-f NAME.cfg -f haproxy.cfg`). Rules of a defaults
section run before the section's own, so the preflight is answered before any `http-request auth`
the frontend has. `http-after-response` runs on every answer, HAProxy's own 401, 503 and 504 and
the preflight's `return` included, where `http-response` sees only the server's. Checked by a
structural check of the lines it writes and with `haproxy -c`.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from corsgen.errors import CorsgenError, VerifyError
from corsgen.limits import MAX_ORIGIN_LENGTH
from corsgen.plan import Header, Plan, When
from corsgen.regex import OUTSIDE_AN_ORIGIN
from corsgen.regex.trie import tries
from corsgen.routing import Scope
from corsgen.rules.table import Violation, finding
from corsgen.targets.base import WRAPPER, Loaded, Part, Target, guard

# HAProxy 2.6 reads at most 64 words on a line ("too many words, truncating after word 64"): an
# acl line spends 6 on its name, fetch and flags, so each carries up to this many values.
MAX_WORDS = 64
VALUES_PER_ACL = 50
# Each acl line is a test of its own, run one after the other: 200 lines of 50 origins made HAProxy
# 5 times slower for the last of 10,000. Past one line, the origins are tries (corsgen.regex.trie),
# which PCRE2 matches in one pass; HAProxy's PCRE2 refused a 58,000-character flat alternation
# ("regular expression is too large") and compiled 18,000-character tries.
TRIE_CHARS = 16_000
SECTIONS = ("defaults",)
# HAProxy's default buffers (2.6): a response head must fit in BUFSIZE, and a server's is read
# only while MAXREWRITE bytes stay free, so that much is all the headers added to it may take:
# past it HAProxy answers 500 instead. The preflight's own answer is a short head of its own.
BUFSIZE, MAXREWRITE = 16_384, 1_024
PREFLIGHT_HEAD = 1_024  # the status line, Content-Length and the room HAProxy keeps spare
KEYWORDS = frozenset({"mode", "acl", "http-request", "http-after-response"})
# The variable (txn.corsgen_NAME_SUFFIX) that is set when a header is sent; "allowed" holds the
# Origin itself, the others are booleans. HAProxy's own answers and every server's pass
# http-after-response: not a word of the request can reach them but through these variables,
# set while the request is read.
CONDITION: Mapping[When, str] = {
    "allowed": "origin",
    "preflight": "preflight",
    "private_network": "private_network",
}
_PREFIX = re.compile(r"^\[\w+\]\s+\(\d+\) : (?:config : )?")
# What tells an HAProxy config from the other servers': a section line with no brace (nginx and
# Caddy open blocks with one, Apache's sections are <tags>) and a line of a proxy's keywords.
_SECTION_LINE = re.compile(
    r"^(?:frontend|backend|listen|defaults)(?:[ \t]+[^\s{}<>]+)*[ \t\r]*$", re.M
)
_PROXY_LINE = re.compile(
    r"^[ \t]+(?:bind|server|use_backend|default_backend|http-request|http-response|"
    r"http-after-response|mode[ \t]+http)[ \t]",
    re.M,
)
_SHOWN = ("[ALERT]", "[WARNING]")
_WORD = re.compile(r'"(?:\\.|[^"\\])*"|[^\s"]+')


def quote(value: str) -> str:
    """value as one word. Inside double quotes HAProxy unescapes \\ and expands $VAR; a quote,
    which guard() refuses, is the only character that could end the word."""
    escaped = guard(value, "HAProxy").replace("\\", "\\\\").replace("$", "\\$")
    return f'"{escaped}"'


def quote_format(value: str) -> str:
    """A header value: set-header reads a log-format string, where % starts a sample."""
    return quote(value.replace("%", "%%"))


@dataclass(frozen=True)
class Rules:
    """A commented group of lines of the defaults section."""

    why: tuple[str, ...]  # the comment's lines
    lines: tuple[str, ...]


def _rules(why: str, lines: Sequence[str]) -> Rules:
    return Rules(tuple(textwrap.wrap(why, 92, break_on_hyphens=False)), tuple(lines))


def _chunks(values: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


class _Names:
    def __init__(self, plan: Plan) -> None:
        self.prefix = f"corsgen_{plan.name}_"

    def var(self, suffix: str) -> str:
        return f"txn.{self.prefix}{suffix}"

    def acl(self, suffix: str) -> str:
        return f"{self.prefix}{suffix}"

    def found(self, when: When) -> str:
        """The condition a header sent `when` is sent on."""
        test = "found" if when == "allowed" else "bool"
        return f"{{ var({self.var(CONDITION[when])}) -m {test} }}"


def _decide(plan: Plan, names: _Names) -> Rules:
    origin = names.var("origin")
    if plan.any_origin:
        found = "{ req.fhdr(origin) -m found }"
        lines = [f"http-request set-var({origin}) req.fhdr(origin) if {found}"]
        return _rules("Any Origin is allowed: remembered for the preflight.", lines)
    one, not_one = names.acl("one"), names.acl("not_one")
    listed, matched = names.acl("listed"), names.acl("matched")
    # One Origin header, neither empty nor holding what no origin holds (a comma, white space, a
    # control byte), whatever a loose pattern says; -m str compares only up to a NUL, so without
    # this test "https://a.com" and a NUL would be the listed "https://a.com".
    lines = [
        f"acl {one} req.fhdr_cnt(origin) eq 1",
        f"acl {not_one} req.fhdr(origin) -m reg -- {quote('^$|' + OUTSIDE_AN_ORIGIN)}",
    ]
    if len(plan.exact_origins) <= VALUES_PER_ACL:
        exact = [" ".join(map(quote, plan.exact_origins))] if plan.exact_origins else []
        lines += [f"acl {listed} req.fhdr(origin) -m str -- {values}" for values in exact]
    else:
        exact = [quote(regex) for regex in tries(sorted(plan.exact_origins), TRIE_CHARS)]
        lines += [f"acl {listed} req.fhdr(origin) -m reg -- {regex}" for regex in exact]
    for chunk in _chunks(plan.anchored_patterns, VALUES_PER_ACL):
        lines.append(f"acl {matched} req.fhdr(origin) -m reg -- " + " ".join(map(quote, chunk)))
    tests = ([listed] if exact else []) + ([matched] if plan.anchored_patterns else [])
    conditions = " || ".join(f"{one} !{not_one} {acl}" for acl in tests)
    lines.append(f"http-request set-var({origin}) req.fhdr(origin) if {conditions}")
    return _rules(
        "The Origin, when it is one header holding one listed origin (compared case-sensitively, "
        "patterns anchored), kept for http-after-response.",
        lines,
    )


def _preflight(plan: Plan, names: _Names) -> Rules:
    preflight, answered = names.var("preflight"), names.found("preflight")
    asks = "METH_OPTIONS { req.fhdr(access-control-request-method) -m found }"
    lines = [f"http-request set-var({preflight}) bool(true) if {asks} {names.found('allowed')}"]
    if plan.private_network:
        private = names.var("private_network")
        wants = "{ req.fhdr(access-control-request-private-network) -m str true }"
        lines.append(f"http-request set-var({private}) bool(true) if {answered} {wants}")
    lines.append(f"http-request return status {plan.preflight_status} if {answered}")
    return _rules(
        "A preflight from an allowed origin is answered here, before the section's own rules "
        "(http-request auth): a browser never sends credentials with it.",
        lines,
    )


def _value(header: Header, names: _Names) -> str:
    return f"%[var({names.var('origin')})]" if header.echo else quote_format(header.value)


def _respond(plan: Plan, names: _Names) -> Rules:
    lines = [f"http-after-response del-header {name}" for name in plan.owned_headers]
    for when, headers in plan.groups:
        condition = "" if when == "always" else f" if {names.found(when)}"
        for header in headers:
            value = _value(header, names)
            lines.append(f"http-after-response set-header {header.name} {value}{condition}")
    if plan.vary_origin:
        lines.append("http-after-response add-header Vary Origin")
    return _rules(
        "On every answer, the server's, HAProxy's own errors and the preflight's: the upstream's "
        "CORS headers out, the policy's in.",
        lines,
    )


@dataclass(frozen=True)
class Buffers:
    """What HAProxy's global tune.bufsize and tune.maxrewrite must be for a plan's headers."""

    response: int  # bytes of headers added to a server's response, at most
    preflight: int  # bytes of headers on the preflight's answer, at most
    maxrewrite: int
    bufsize: int

    @property
    def default(self) -> bool:
        return self.maxrewrite <= MAXREWRITE and self.bufsize <= BUFSIZE


def _bytes(headers: Sequence[Header], origin: int) -> int:
    """The size of these header lines, an echoed Origin at its longest."""
    return sum(len(h.name) + 4 + (origin if h.echo else len(h.value)) for h in headers)


def _round_up(size: int, step: int) -> int:
    return -(-size // step) * step


def buffers(plan: Plan) -> Buffers:
    origin = max((len(o) for o in plan.exact_origins), default=0)
    origin = max(origin, MAX_ORIGIN_LENGTH) if plan.anchored_patterns else origin
    vary = len("Vary: Origin\r\n") if plan.vary_origin else 0
    grouped = dict(plan.groups)
    response = vary + sum(_bytes(grouped.get(w, ()), origin) for w in ("always", "allowed"))
    preflight = vary + sum(_bytes(headers, origin) for _, headers in plan.groups)
    maxrewrite = max(MAXREWRITE, _round_up(response, 1_024))
    # HAProxy keeps maxrewrite at most half the buffer.
    bufsize = max(BUFSIZE, 2 * maxrewrite, _round_up(preflight + PREFLIGHT_HEAD, 4_096))
    return Buffers(response, preflight, maxrewrite, bufsize)


class HAProxy(Target):
    name = "haproxy"
    title = "HAProxy"
    parts = (Part("haproxy/defaults.cfg.j2", ".cfg"),)
    binaries = ("haproxy",)
    config_test = "haproxy -c"
    fixes = (
        ("CG412", "answer", "after-response"),
        ("CG414", "backend", "del-header"),
        ("CG415", "answer", "del-header"),
    )

    def quote(self, value: str) -> str:
        return quote(value)

    def context(self, plan: Plan) -> Mapping[str, object]:
        names = _Names(plan)
        section = f"corsgen_{plan.name}"
        return {
            "note": f"HAProxy: load this file before the one whose frontend says from {section}.",
            "section": section,
            "rules": [_decide(plan, names), _preflight(plan, names), _respond(plan, names)],
        }

    def check_structure(self, files: Mapping[str, str]) -> None:
        for file, text in files.items():
            sections = 0
            for number, raw in enumerate(text.splitlines(), start=1):
                line = raw.strip()
                if not line or line.startswith("#"):
                    continue
                words = _WORD.findall(line)
                if _WORD.sub("", line).strip():  # a quote left that no word took
                    raise VerifyError("unterminated quoted string", file, number)
                if len(words) > MAX_WORDS:
                    raise VerifyError(f"more than {MAX_WORDS} words on a line", file, number)
                if words[0] in SECTIONS:
                    sections += 1
                elif words[0] not in KEYWORDS or not sections:
                    raise VerifyError(f"unknown keyword '{words[0]}' here", file, number)
            if sections != 1:
                raise VerifyError(f"{sections} sections, not one defaults", file, None)

    def shortfalls(self, plan: Plan) -> Iterator[Violation]:
        need = buffers(plan)
        if not need.default:
            fields = {"server": self.title, "free": MAXREWRITE, "whole": BUFSIZE, **asdict(need)}
            key = "expose_headers" if need.response > MAXREWRITE else "allow_headers"
            yield Violation("CG501", "buffers", key, fields)

    def config_test_command(self, binary: str, root: Path, files: Mapping[str, str]) -> list[str]:
        # A frontend `from` each section the files name, as the tests serve one (wrapper()), on
        # placeholder ports: `haproxy -c` binds nothing.
        sections = [
            words[1]
            for text in files.values()
            for line in text.splitlines()
            if len(words := line.split()) == 2 and words[0] in SECTIONS
        ]
        config = root / (WRAPPER + ".cfg")
        config.write_text(wrapper([Frontend(1, ((section, ""),)) for section in sections]))
        loads = [arg for name in files for arg in ("-f", str(root / name))]
        # -dW: a warning fails the test too; HAProxy loads a config it warns about.
        return [binary, "-c", "-dW", *loads, "-f", str(config)]

    def routes(self, configs: Sequence[Path]) -> Loaded:
        # Imported here: rendering, which imports every target, needs none of the model.
        from corsgen.targets.haproxy_lines import Unmodeled
        from corsgen.targets.haproxy_routing import load

        try:
            # The environment HAProxy expands "${VAR}" from is the server's, not this one's:
            # every variable reads as unset (empty), as HAProxy reads one.
            return Loaded(load(configs), [])
        except Unmodeled as exc:
            at = exc.at
            error = exc.message
            return Loaded(
                None,
                [
                    finding(
                        "CG401", "parse", file=at.file, line=at.line, error=error, server="HAProxy"
                    )
                ],
            )

    def in_place(
        self, scope: Scope, plan: Plan, directory: Path, upstream: str, port: int
    ) -> list[Path] | None:
        """corsgen's section and, loaded after it, a config of one frontend on `port` with the
        application at `upstream` behind it, in the context corsgen documents for the scope's
        kind: a frontend or listen section that answers all its paths on any host is `from` the
        policy's section; a backend, or a frontend of a host or of some paths only, is a backend
        `from` it, which the frontend chooses on the scope's host and paths. The scope's own
        rules (its auth, its errorfiles) are not carried over."""
        from corsgen.render import render_parts

        kind = scope.title.split(maxsplit=1)[0]
        if kind not in ("frontend", "listen", "backend"):
            return None
        try:
            tests = _chosen(scope)
        except CorsgenError:  # a host or path no word of HAProxy's holds as it is
            return None
        files = []
        for name, part in render_parts(plan, "haproxy").items():
            files.append(directory / name)
            files[-1].write_text(part)
        need = buffers(plan)
        section = f"corsgen_{plan.name}"
        text = (
            f"global\n    tune.bufsize {need.bufsize}\n    tune.maxrewrite {need.maxrewrite}\n"
            f"defaults\n    mode http\n{_SERVER}{_CLIENT}"
            f"backend application\n    server application {upstream}\n"
        )
        if kind != "backend" and tests is None:
            text += f"frontend in_place from {section}\n"
            text += f"    bind 127.0.0.1:{port}\n{_CLIENT}    default_backend application\n"
        else:
            chosen = f"    use_backend in_place if {tests}\n" if tests else ""
            text += f"frontend in_place\n    bind 127.0.0.1:{port}\n{chosen}"
            text += "    default_backend " + ("application\n" if tests else "in_place\n")
            text += f"backend in_place from {section}\n{_SERVER}    server application {upstream}\n"
        config = directory / f"{plan.name}-in-place.cfg"  # no policy name holds a "-"
        config.write_text(text)
        return [*files, config]

    def claims(self, text: str) -> bool:
        return bool(_SECTION_LINE.search(text) and _PROXY_LINE.search(text))

    def error_lines(self, output: str) -> list[str]:
        # "[ALERT]    (123) : config : parsing [x.cfg:4] : ...": the message without its prefix.
        return [_PREFIX.sub("", ln) for ln in output.splitlines() if ln.startswith(_SHOWN)]


# A frontend's timeout, and a backend's: one of either kind in a section is a warning.
_CLIENT = "    timeout client 10s\n"
_SERVER = "    timeout connect 2s\n    timeout server 10s\n"
# No retry: HAProxy waits up to a second before each, and /dead/ refuses every connection.
_RETRIES = "    retries 0\n"
_AUTH = "http-request auth realm corsgen if {{ path_beg {at}/auth/ }} !{{ http_auth(users) }}"


def _chosen(scope: Scope) -> str | None:
    """The condition a request is the scope's on, None for every request: its host, and the
    paths it answers beginning with any of its paths (the model found each as a prefix)."""
    paths = () if not scope.paths or "/" in scope.paths else scope.paths
    tests = [f"{{ hdr(host) -i {quote(scope.host)} }}"] if scope.host else []
    if paths:
        tests.append("{ path_beg " + " ".join(map(quote, paths)) + " }")
    return " ".join(tests) or None


@dataclass(frozen=True)
class Frontend:
    """A frontend on a loopback port and the sections it serves, each under its path prefix."""

    port: int
    sections: tuple[tuple[str, str], ...]  # (section, prefix)


def wrapper(
    frontends: Sequence[Frontend],
    *,
    backends: bool = False,
    upstream: int = 9,
    dead: int = 9,
    user: str = "corsgen",
    password: str = "corsgen",
    bufsize: int = BUFSIZE,
    maxrewrite: int = MAXREWRITE,
) -> str:
    """The wrapper config, loaded after corsgen's files: the config test's (on placeholder ports
    and upstreams) and the one the tests serve (targets/haproxy_serving.py). Each frontend is
    `from` its one section or, `backends`, picks by path backends that are: several sections on
    one port. Everything goes to `upstream`, /dead/ to `dead`, and /auth/ asks for `user`'s
    `password`. The anonymous defaults come after the files' named ones: they keep the sections
    without `from` (HAProxy refuses a defaults section with rules used by both kinds)."""
    text = f"global\n    tune.bufsize {bufsize}\n    tune.maxrewrite {maxrewrite}\n"
    text += f"defaults\n    mode http\n{_SERVER}{_CLIENT}{_RETRIES}"
    text += f"userlist users\n    user {user} insecure-password {password}\n"
    text += f"backend up\n    server up 127.0.0.1:{upstream}\n"
    text += f"backend dead\n    server dead 127.0.0.1:{dead}\n"
    count = 0
    for n, front in enumerate(frontends):
        if not backends:
            ((section, at),) = front.sections
            text += (
                f"frontend front_{n} from {section}\n    bind 127.0.0.1:{front.port}\n"
                f"{_CLIENT}    {_AUTH.format(at=at)}\n"
                f"    use_backend dead if {{ path_beg {at}/dead/ }}\n    default_backend up\n"
            )
            continue
        text += f"frontend front_{n}\n    bind 127.0.0.1:{front.port}\n{_CLIENT}"
        named = [(count + i, section, at) for i, (section, at) in enumerate(front.sections)]
        count += len(named)
        for i, _, at in named:
            text += f"    use_backend back_{i}_dead if {{ path_beg {at}/dead/ }}\n"
            text += f"    use_backend back_{i} if {{ path_beg {at}/ }}\n"
        for i, section, at in named:
            for name, port in ((f"back_{i}", upstream), (f"back_{i}_dead", dead)):
                text += (
                    f"backend {name} from {section}\n{_SERVER}{_RETRIES}"
                    f"    {_AUTH.format(at=at)}\n    server up 127.0.0.1:{port}\n"
                )
    return text


TARGET = HAProxy()
