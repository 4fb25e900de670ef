"""Caddy: named matchers (and, for long lists or patterns, a map) decide, header blocks send,
handle answers the preflight.

One file, NAME.caddy, imported inside the site block. Checked by a small structural check of the
Caddyfile it writes and with `caddy validate`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from corsgen.errors import CorsgenError, VerifyError
from corsgen.plan import Header, Plan, When
from corsgen.regex import OUTSIDE_AN_ORIGIN, anchor
from corsgen.regex.trie import trie
from corsgen.routing import Scope
from corsgen.targets.base import Loaded, Part, Target, double_quoted
from corsgen.targets.lexer import Line, split_lines

ORIGIN = "{http.request.header.Origin}"
# The matcher (@corsgen_NAME_SUFFIX) for each condition a header can be sent on.
CONDITION: Mapping[When, str] = {
    "allowed": "allowed",
    "preflight": "preflight",
    "private_network": "private_network_ok",
}
# Headers sent on a preflight answer only: `handle` writes that response, so setting them when
# the response is written is enough.
PREFLIGHT_ONLY: frozenset[When] = frozenset({"preflight", "private_network"})

DIRECTIVES = {"header", "handle", "respond", "map", "vars"}
# A Caddyfile: a directive only Caddy has, first on its line; and no line nginx, Apache or a
# YAML/TOML file would write.
_CLAIMS = re.compile(
    r"^\s*(?:reverse_proxy|file_server|respond|handle(?:_path|_errors)?|header_(?:up|down)"
    r"|basic_?auth|php_fastcgi|encode|import|@\w+\s)\b|^\s*\(\w[\w-]*\)\s*\{",
    re.MULTILINE,
)
_NOT_CADDY = re.compile(r";\s*$|^\s*</?[A-Za-z]|^\s*[\w.-]+:\s|^\s*\[", re.MULTILINE)
# The blocks corsgen's output is documented inside (besides the site block): Target.in_place writes
# a scope of one of these back as it is, with its path; Caddy's other blocks it cannot.
BLOCKS = ("handle", "route", "handle_path")
# What in_place writes back as Caddy reads a bare word: a site's host (a name, an IPv4 address,
# a * label), a block's path matcher; anything else (a named matcher, a quote, a brace, a
# placeholder, an IPv6 address) it cannot say faithfully.
_HTTPS_PORT = 443
_BARE_HOST = re.compile(r"[A-Za-z0-9*][A-Za-z0-9.*-]*")
_BARE_PATH = re.compile(r"\*|/[A-Za-z0-9._~*/%+,;=:@!$&'()-]*")
MATCHERS: Mapping[str, tuple[int, int]] = {
    "method": (1, 9),
    "header": (1, 99),
    "vars": (2, 99),
    "not": (0, 99),
}


def quote(value: str) -> str:
    # The Caddyfile lexer keeps backslashes that do not precede a quote. It expands {$VAR} before
    # it reads quotes, so an environment variable could hold a line break.
    return double_quoted(value, "Caddy", hostile=("{$",))


# Caddy's map compares its entries one by one, input against each: fine for a few origins, tens
# of microseconds for an origin late in 10,000. Past this many, the origins are one regex, a trie
# (corsgen.regex.trie) that RE2 matches in one pass of the Origin.
LISTED_MAX = 64
# The map and the vars handler that keeps its answer cost about 8 µs a request on Caddy 2.11 (server
# CPU per request under wrk, 4 origins, against one header block with an inline matcher, which
# measured within 2 µs of the floor). But each matcher that names the list compares again, entry
# by entry, so the list goes inline only while it is short: up to this many exact origins, and no
# pattern.
INLINE_MAX = 16


@dataclass(frozen=True)
class Listed:
    """The map from Origin to 1 for an allowed one, and the variable it is stored in."""

    placeholder: str
    variable: str
    entries: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Block:
    """`OPENING {` with one line per field, then `}`."""

    opening: str
    lines: tuple[str, ...]


def _exact(origins: tuple[str, ...]) -> tuple[str, ...]:
    """Map inputs for the exact origins: each one, or past LISTED_MAX one regex trie."""
    if len(origins) <= LISTED_MAX:
        return tuple(map(quote, origins))
    return (quote("~" + anchor([trie(origins)])),)


def _small(plan: Plan) -> bool:
    """A short list of exact origins: the matchers compare the Origin with each themselves."""
    return not plan.anchored_patterns and len(plan.exact_origins) <= INLINE_MAX


def _listed(plan: Plan, prefix: str) -> Listed | None:
    if plan.any_origin or _small(plan):
        return None
    entries = (
        ('""', '""'),
        (quote("~" + OUTSIDE_AN_ORIGIN), '""'),
        *((key, "1") for key in _exact(plan.exact_origins)),
        *((quote("~" + regex), "1") for regex in plan.anchored_patterns),
    )
    return Listed(f"{{{prefix}listed}}", f"{prefix}allowed", entries)


def _field(header: Header) -> str:
    return f"{header.name} {ORIGIN if header.echo else quote(header.value)}"


def _header_blocks(plan: Plan, matcher: Mapping[When, str], defer: bool) -> list[Block]:
    out = []
    for when, headers in plan.groups:
        if defer or when not in PREFLIGHT_ONLY:
            opening = f"header {matcher[when]}" if when in matcher else "header"
            fields = tuple(map(_field, headers))
            out.append(Block(opening, ("defer", *fields) if defer else fields))
    return out


def _check_matcher(words: tuple[str, ...], file: str, number: int) -> None:
    if words[0] not in MATCHERS:
        raise VerifyError(f'unknown matcher "{words[0]}"', file, number)
    low, high = MATCHERS[words[0]]
    if not low <= len(words) - 1 <= high:
        raise VerifyError(f'wrong number of arguments for matcher "{words[0]}"', file, number)


def _check_line(stack: list[str], line: Line, file: str) -> None:
    words = list(line.words)
    opens = words[-1] == "{"
    if opens:
        words.pop()
    if words == ["}"]:
        if not stack:
            raise VerifyError("unexpected }", file, line.number)
        stack.pop()
        return
    if not words:
        raise VerifyError("a { with nothing before it", file, line.number)
    context = stack[-1] if stack else "top"
    head = words[0]
    if context == "top":
        if head.startswith("@"):
            if len(words) > 1:
                _check_matcher(tuple(words[1:]), file, line.number)
            kind = "matcher"
        elif head in DIRECTIVES:
            kind = head
        else:
            raise VerifyError(f'unknown directive "{head}"', file, line.number)
    elif context in ("matcher", "not"):
        _check_matcher(tuple(words), file, line.number)
        kind = head
    elif context == "header":
        bad_field = len(words) > 2 or head.lstrip("+-?>") == ""
        if (head == "defer" and len(words) > 1) or (head != "defer" and bad_field):
            raise VerifyError(f'bad header field line "{" ".join(words)}"', file, line.number)
        kind = "field"
    elif context == "map":
        if len(words) != 2 or opens:
            raise VerifyError(
                f'a map entry is not "input output": "{" ".join(words)}"', file, line.number
            )
        kind = "entry"
    elif context == "handle":
        if head not in DIRECTIVES:
            raise VerifyError(f'unknown directive "{head}"', file, line.number)
        kind = head
    else:
        raise VerifyError(f'nothing is allowed inside "{context}"', file, line.number)
    if opens:
        stack.append(kind)


class Caddy(Target):
    name = "caddy"
    title = "Caddy"
    parts = (Part("caddy/site.caddy.j2", ".caddy"),)
    binaries = ("caddy",)
    config_test = "caddy validate"
    fixes = (
        ("CG412", "answer", "handle-errors"),
        ("CG414", "backend", "defer"),
        ("CG415", "answer", "header-delete"),
    )

    def quote(self, value: str) -> str:
        return quote(value)

    def context(self, plan: Plan) -> Mapping[str, object]:
        prefix = f"corsgen_{plan.name}_"
        matcher = {when: f"@{prefix}{suffix}" for when, suffix in CONDITION.items()}
        listed = _listed(plan, prefix)
        if plan.any_origin:
            allowed = "header Origin *"
        elif listed is None:
            # The whole header, joined: two Origin headers ("a,b") equal no listed origin.
            allowed = f"vars {ORIGIN} " + " ".join(map(quote, plan.exact_origins))
        else:
            allowed = f"vars {listed.variable} 1"
        preflight = ("method OPTIONS", "header Access-Control-Request-Method *")
        matchers = [Block(matcher["preflight"], (*preflight, allowed))]
        if plan.private_network:
            private = "header Access-Control-Request-Private-Network true"
            matchers.append(Block(matcher["private_network"], (*preflight, private, allowed)))
        return {
            "note": "Caddy: import inside the site block, before reverse_proxy / file_server.",
            "listed": listed,
            "allowed": f"{matcher['allowed']} {allowed}",
            "matchers": matchers,
            "now": _header_blocks(plan, matcher, defer=False),
            "deferred": _header_blocks(plan, matcher, defer=True),
            "owned_headers": plan.owned_headers,
            "vary": plan.vary_origin,
            "preflight": matcher["preflight"],
            "preflight_status": plan.preflight_status,
        }

    def check_structure(self, files: Mapping[str, str]) -> None:
        for file, text in files.items():
            stack: list[str] = []
            lines = split_lines(text, file)
            for line in lines:
                _check_line(stack, line, file)
            if stack:
                raise VerifyError("unclosed {", file, lines[-1].number if lines else None)

    def error_lines(self, output: str) -> list[str]:
        from corsgen.targets import caddy_config

        return caddy_config.error_lines(output)

    def routes(self, configs: Sequence[Path]) -> Loaded:
        # only `corsgen audit` and `corsgen import` read a user's config
        from corsgen.rules.table import finding
        from corsgen.targets import caddy_config, caddy_routing

        binary = self.find_binary()
        if binary is None:
            raise CorsgenError("corsgen needs caddy on PATH to read a Caddyfile (caddy adapt)")
        if len(configs) != 1:
            raise CorsgenError("Caddy runs one Caddyfile (it imports the rest): give one")
        model = caddy_routing.read(configs[0], binary)
        if isinstance(model, str):
            error = finding(
                "CG401", "parse", file=str(configs[0]), error=model, server=caddy_config.SERVER
            )
            return Loaded(None, [error])
        # The audit finds every finding in the model's answers, and says when nothing answers
        # CORS (CG406).
        return Loaded(model, [])

    def in_place(
        self, scope: Scope, plan: Plan, directory: Path, upstream: str, port: int
    ) -> list[Path] | None:
        """A Caddyfile of one site, `http://HOST:PORT` (any host for a scope with none), the
        snippet imported at its top as the docs say, or inside the scope's handle, route or
        handle_path with its path, then reverse_proxy to `upstream` (the scope's other
        directives, basic_auth, error, file_server, handle_errors, are not carried over)."""
        from corsgen.targets.caddy_compiled import KINDS
        from corsgen.targets.caddy_matchers import path_matches
        from corsgen.targets.serving import indent, write_snippets

        words = scope.title.split() or [""]
        block = words[0] in BLOCKS
        if not block and (words[0] in KINDS["subroute"] or not words[0]):  # forward_auth's
            return None
        if block and not all(_BARE_PATH.fullmatch(w) for w in words[1:]):
            return None
        if block and not all(path_matches(" ".join(words[1:]) or "*", p) for p in scope.paths):
            return None  # a block in another (a handle_path's, which strips): not the site's
        if scope.host and not _BARE_HOST.fullmatch(scope.host):
            return None
        gated = not block and "/" not in scope.paths  # `header @public` sends it on some paths
        if gated and not all(_BARE_PATH.fullmatch(p) for p in scope.paths):
            return None
        write_snippets(directory, (plan,), "caddy")
        body = f"import {plan.name}.caddy\nreverse_proxy {upstream}\n"
        if block:
            body = f"{' '.join(words)} {{\n{indent(body)}}}\n"
        elif gated:  # the output on those paths only (below a prefix), the rest as it is
            paths = " ".join(p + "*" * p.endswith("/") for p in scope.paths)
            route = f"route @in_place {{\n{indent(body)}}}\n"
            body = f"@in_place path {paths}\n{route}reverse_proxy {upstream}\n"
        site = directory / f"{plan.name}.Caddyfile"  # imports the snippet beside it
        # Caddy refuses http:// on 443 (`example.com`, an HTTPS site, is on 443): https:// there.
        scheme = "https" if port == _HTTPS_PORT else "http"
        site.write_text(f"{scheme}://{scope.host}:{port} {{\n{indent(body)}}}\n")
        return [site]

    def claims(self, text: str) -> bool:
        return _CLAIMS.search(text) is not None and _NOT_CADDY.search(text) is None

    def config_test_command(self, binary: str, root: Path, files: Mapping[str, str]) -> list[str]:
        site = f"http://127.0.0.1:0 {{\n\timport {root / next(iter(files))}\n\trespond 200\n}}\n"
        conf = caddyfile(root, site)
        return [binary, "validate", "--adapter", "caddyfile", "--config", str(conf)]


def caddyfile(root: Path, sites: str) -> Path:
    """The wrapper Caddyfile in `root`: no admin API, no automatic HTTPS, then `sites`. The
    config test validates it; the tests and the benchmark run it (targets/caddy_serving.py)."""
    conf = root / "Caddyfile"
    conf.write_text("{\n\tadmin off\n\tauto_https off\n}\n" + sites)
    return conf


TARGET = Caddy()
