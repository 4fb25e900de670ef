"""nginx: map blocks in http {} decide, add_header ... always in the location sends.

Two files: NAME.http.conf (the maps, once per http {}) and NAME.conf (inside the location or
server), and corsgen-map-hash.conf when a list outgrows nginx's default map hash. Checked with
crossplane, each part included where docs/servers/nginx.md says, and with `nginx -t`.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict, cast

from corsgen.errors import VerifyError, shorten
from corsgen.plan import Header, Plan, When
from corsgen.regex import OUTSIDE_AN_ORIGIN
from corsgen.routing import Scope
from corsgen.rules.table import Violation
from corsgen.targets.base import SHARED, WRAPPER, Loaded, Part, Target, comment, guard

# nginx reads at most 4,093 bytes between a parameter's quotes: `nginx -t` on 1.22.1 refuses 4,094
# ("too long parameter"), as map values, map keys and add_header values alike, wherever the
# parameter starts in the file (the whole token must fit the 4,096-byte read buffer).
MAX_PARAMETER = 4_093
# nginx builds exact map keys into a hash; past these sizes the defaults fail to load.
#
# map_hash_bucket_size and map_hash_max_size are http-level and nginx accepts each once, before the
# first map ("is duplicate" otherwise), so two large policies cannot each set them. They live in
# one file per output directory, corsgen-map-hash.conf, sized for the largest need of the policies
# written there: `corsgen sync` knows them all, `corsgen render` the one it renders. One fixed,
# generous pair would do without that file, but nginx picks the fewest buckets that hold every key
# within the bucket size: a larger bucket means longer chains for every map in http {}, the user's
# own included, so each directory gets what its lists need and no more. The user includes the file
# first; one who already sets the pair drops the include and keeps values at least as large.
DEFAULT_BUCKET = 64
DEFAULT_KEYS = 64
ENTRIES_PER_BUCKET = 8
# A header value longer than this is sent in several map variables that add_header joins, and that
# join is one parameter too. Values are tokens, which quote() leaves as they are, so each part is
# about 900 bytes under nginx's 4,093. A list's header is at most 16 KiB (limits.py), so at most 6
# parts, and add_header joins at most 6 variables of 39 bytes.
VALUE_PART = 3_200
WRAPPER_FILE = WRAPPER + ".conf"
# The upstream modules whose copies of the CORS headers the snippet hides.
UPSTREAM_MODULES = ("proxy", "fastcgi", "uwsgi", "scgi", "grpc")
# The variable (corsgen_NAME_SUFFIX) that holds each condition a header can be sent on.
CONDITION: Mapping[When, str] = {
    "allowed": "allowed",
    "preflight": "preflight",
    "private_network": "private_network_ok",
}


_BARE = re.compile(r"[^\s\"'{};#\x00-\x1f\x7f]+")


def quote(value: str) -> str:
    # nginx unescapes \\ and \" inside quotes; doubling keeps regex escapes such as \. intact.
    return '"' + guard(value, "nginx").replace("\\", "\\\\") + '"'


@dataclass(frozen=True)
class Entry:
    key: str
    value: str
    comment: tuple[str, ...] = ()


@dataclass(frozen=True)
class Map:
    """map SOURCE VARIABLE { KEY VALUE; ... }, with the comment lines above it."""

    comment: tuple[str, ...]
    source: str
    variable: str
    entries: tuple[Entry, ...]


@dataclass(frozen=True)
class Hash:
    bucket_size: int
    max_size: int


class _Names:
    """The variables of one policy: $corsgen_NAME_SUFFIX, unique per policy."""

    def __init__(self, plan: Plan) -> None:
        self.prefix = f"$corsgen_{plan.name}_"

    def __call__(self, suffix: str) -> str:
        return self.prefix + suffix


def _hash(exact: tuple[str, ...]) -> Hash | None:
    if not exact:
        return None
    # ngx_hash_init: an element is a pointer plus the key and 2 bytes, aligned to a pointer.
    elt = max(8 + (len(o) + 2 + 7) // 8 * 8 for o in exact)
    if len(exact) <= DEFAULT_KEYS and elt + 8 <= DEFAULT_BUCKET:
        return None
    bucket = 1 << (ENTRIES_PER_BUCKET * elt + 8 - 1).bit_length()
    return Hash(bucket, max(2048, 1 << (len(exact) - 1).bit_length()))


def value_parts(header: Header) -> tuple[tuple[str, str], ...]:
    """(variable suffix, piece) of the map variables nginx sends a value in; none for a constant
    add_header can write itself."""
    value = header.value
    if header.echo or (header.when == "always" and len(value) <= VALUE_PART):
        return ()
    # Cut wherever the count falls: add_header joins the variables back byte for byte.
    pieces = [value[i : i + VALUE_PART] for i in range(0, len(value), VALUE_PART)]
    if len(pieces) == 1:
        return ((header.role, value),)
    return tuple((f"{header.role}_{n}", piece) for n, piece in enumerate(pieces, 1))


def _origin_maps(plan: Plan, var: _Names) -> list[Map]:
    """$..._allowed: the allowed Origin itself (any origin: "1"), empty for any other.

    For a listed origin: a hash lookup, then a lookup of the result and a short regex for its
    case."""
    if plan.any_origin:
        why = ("Any origin: the preflight needs only an Origin to be present.",)
        allowed = (Entry('""', '""'), Entry("default", '"1"'))
        return [Map(why, "$http_origin", var("allowed"), allowed)]
    # Exact keys are hashed, and looked up whatever their case. corsgen lists origins as browsers
    # serialise them, in lower case, so the second map turns away any other spelling: browsers
    # compare ACAO with their origin byte for byte, and never send an upper-case letter in one.
    assert all(o == o.lower() for o in plan.exact_origins), "origins are listed in lower case"
    listed = (
        Entry("default", '""'),
        Entry(
            quote("~" + OUTSIDE_AN_ORIGIN),
            '""',
            (
                "Regexes are tried in order, after the exact keys: two Origin headers, joined "
                '("a, b") since nginx 1.23, and control bytes never match a pattern.',
            ),
        ),
        *(Entry(quote(origin), "$http_origin") for origin in plan.exact_origins),
        *(Entry(quote("~" + regex), "$http_origin") for regex in plan.anchored_patterns),
    )
    return [
        Map(
            ("A listed Origin, in any case; empty for any other.",),
            "$http_origin",
            var("listed"),
            listed,
        ),
        # What add_header reads is not itself a map of $http_origin: gixy takes such a map's
        # regexes for the whole check and, misreading nginx's escapes, flags the refusal above.
        Map(
            ("The allowed Origin, byte for byte; empty for any other: no CORS header is sent.",),
            var("listed"),
            var("allowed"),
            (Entry('""', '""'), Entry('"~[A-Z]"', '""'), Entry("default", var("listed"))),
        ),
    ]


def _condition_maps(plan: Plan, var: _Names) -> list[Map]:
    # Exact keys ignore case, and a preflight is OPTIONS exactly: a regex, which the common
    # methods, exact keys, never reach. The value is the allowed Origin, never "" or "0" (false).
    maps = [
        Map(
            ("A preflight: OPTIONS with Access-Control-Request-Method, from an allowed Origin.",),
            "$request_method",
            var("preflight"),
            (
                Entry("default", '""'),
                *(Entry(method, '""') for method in ("GET", "HEAD", "POST")),
                Entry('"~^OPTIONS$"', var("asks")),
            ),
        ),
        Map(
            (),
            "$http_access_control_request_method",
            var("asks"),
            (Entry('""', '""'), Entry("default", var("allowed"))),
        ),
    ]
    if plan.private_network:
        maps.append(
            Map(
                (),
                "$http_access_control_request_private_network",
                var(CONDITION["private_network"]),
                (Entry("default", '""'), Entry('"true"', var("preflight"))),
            )
        )
    return maps


def _value_maps(plan: Plan, var: _Names) -> list[Map]:
    maps = []
    for header in plan.headers:
        for suffix, piece in value_parts(header):
            if header.when == "always":
                why = (
                    f"A constant longer than nginx quotes in one parameter ({MAX_PARAMETER:,} "
                    "bytes): the location joins the parts.",
                )
                maps.append(Map(why, '""', var(suffix), (Entry("default", quote(piece)),)))
            else:
                entries = (Entry('""', '""'), Entry("default", quote(piece)))
                maps.append(Map((), var(CONDITION[header.when]), var(suffix), entries))
    return maps


def _add_headers(plan: Plan, var: _Names) -> list[tuple[str, str]]:
    out = []
    for header in plan.headers:
        if header.echo:
            value = var("allowed")
        elif parts := value_parts(header):
            value = "".join(var(suffix) for suffix, _ in parts)
        else:
            value = quote(header.value)
        out.append((header.name, value))
    if plan.vary_origin:
        out.append(("Vary", "Origin"))
    return out


class _Error(TypedDict):
    file: str
    line: int | None
    error: str


class _Directive(TypedDict, total=False):
    directive: str
    line: int
    args: list[str]
    block: list[_Directive]


class _Config(TypedDict):
    file: str
    parsed: list[_Directive]


class _Payload(TypedDict):
    status: str
    errors: list[_Error]
    config: list[_Config]


def _http_lines(http_part: str, location_part: str, shared: Sequence[str] = ()) -> str:
    """What http {} holds to read each part where docs/servers/nginx.md says to put it."""
    return (
        "".join(f"    include {name};\n" for name in shared) + f"    include {http_part};\n"
        "    server {\n        location / {\n"
        f"            include {location_part};\n"
        "        }\n    }\n"
    )


def wrapper(http_part: str, location_part: str, shared: Sequence[str] = ()) -> str:
    """The smallest nginx.conf that reads each part where the README says to include it."""
    return "events {}\nhttp {\n" + _http_lines(http_part, location_part, shared) + "}\n"


# The temporary directories nginx wants, each put in the server's own directory.
TEMP_PATHS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")


def main_config(root: Path, http: str, *, serve: bool = False, connections: int = 256) -> Path:
    """The wrapper nginx.conf whose files are in `root`, around the lines of its http {}: the
    config test's, and, `serve`, the one the tests and the benchmark run in the foreground with
    one worker (targets/nginx_serving.py); as root it serves as root, from a private directory."""
    run = ""
    if serve:
        run = ("user root;\n" if os.geteuid() == 0 else "") + "daemon off;\nworker_processes 1;\n"
    temps = "".join(f"    {t}_temp_path {root}/{t};\n" for t in TEMP_PATHS)
    conf = root / (WRAPPER_FILE if not serve else "nginx.conf")
    conf.write_text(
        f"{run}pid {root}/nginx.pid;\nerror_log {root}/error.log warn;\n"
        f"events {{ worker_connections {connections}; }}\n"
        f"http {{\n    access_log off;\n{temps}{http}}}\n"
    )
    return conf


# What marks a file as nginx's (`corsgen audit` infers --target): a directive of its own ended by
# a semicolon, or one of its blocks; Apache, Caddy and HAProxy end no line with one, YAML neither.
_CLAIMED = re.compile(
    r"^[ \t]*(?:(?:listen|server_name|add_header|proxy_pass|fastcgi_pass|proxy_hide_header|"
    r"try_files|root|error_page|worker_processes)[ \t][^;{}\n]*;"
    r"|(?:http|server|events|location[ \t][^{\n]*)[ \t]*\{)",
    re.MULTILINE,
)

# One map entry as corsgen writes it: a quoted key, then a quoted value or a variable. (The
# quoted part is written unrolled, [^"\\]*(?:\\.[^"\\]*)*, which re reads far faster.)
_QUOTED = r'"([^"\\\n]*(?:\\.[^"\\\n]*)*)"'
_ENTRY = re.compile(rf"[ \t]*{_QUOTED}[ \t]+(?:{_QUOTED}|(\$[A-Za-z0-9_]+));[ \t]*")
# A run of two or more: the first entry, then the rest, each a whole line.
_RUN = re.compile(rf"^{_ENTRY.pattern}\n(?P<rest>(?:{_ENTRY.pattern}\n)+)", re.MULTILINE)


def _thin(text: str, file: str) -> str:
    """`text` with each run of map entries after its first blanked, those checked here instead.

    crossplane's lexer reads a character at a time: three tenths of a second for a 10,000-origin
    list. Entries in a run share one block (no brace between them) and one shape, so crossplane
    judges the run by its first; the length limit, all it would add for the rest, is checked
    here. Blank lines keep every line number what nginx and crossplane report. (A quoted string
    spanning lines could hold entry-shaped lines; corsgen never writes one: guard() refuses
    line breaks in every value.)
    """

    def blank(run: re.Match[str]) -> str:
        rest = run["rest"].split("\n")
        for offset, line in enumerate(rest):
            if len(line.encode()) <= MAX_PARAMETER:  # no token is longer than its line
                continue
            entry = _ENTRY.fullmatch(line)
            assert entry is not None, line  # _RUN matched it
            for token in filter(None, entry.groups()):
                if len(token.encode()) > MAX_PARAMETER:
                    raise VerifyError(
                        f"a parameter of {len(token.encode()):,} bytes, more than the "
                        f"{MAX_PARAMETER:,} nginx reads",
                        file,
                        text.count("\n", 0, run.start("rest")) + 1 + offset,
                    )
        return text[run.start() : run.start("rest")] + "\n" * (len(rest) - 1)

    return _RUN.sub(blank, text)


def _check_lengths(directives: list[_Directive], file: str) -> None:
    """nginx refuses a parameter longer than its read buffer, which crossplane does not know."""
    for directive in directives:
        # Inside a map block the key is what crossplane calls the directive: it counts too.
        for arg in [directive["directive"], *directive.get("args", [])]:
            # crossplane keeps the backslashes quote() doubled: the length nginx reads.
            if len(arg.encode()) > MAX_PARAMETER:
                raise VerifyError(
                    f"a parameter of {len(arg.encode()):,} bytes, more than the "
                    f"{MAX_PARAMETER:,} nginx reads",
                    file,
                    directive.get("line"),
                )
        _check_lengths(directive.get("block", []), file)


@dataclass(frozen=True)
class _Need:
    name: str
    hash: Hash


def _roles(files: Mapping[str, str]) -> tuple[list[str], str, str]:
    """(shared files, the http part, the location part) of one policy's rendered files."""
    shared = [name for name in files if name.startswith(SHARED + "-")]
    http_part = next(n for n in files if n.endswith(Nginx.parts[0].suffix) and n not in shared)
    location_part = next(n for n in files if n not in shared and n != http_part)
    return shared, http_part, location_part


class Nginx(Target):
    name = "nginx"
    title = "nginx"
    parts = (Part("nginx/http.conf.j2", ".http.conf"), Part("nginx/location.conf.j2", ".conf"))
    shared_parts = (Part("nginx/map-hash.conf.j2", "-map-hash.conf"),)
    binaries = ("nginx",)
    config_test = "nginx -t"
    fixes = (
        ("CG402", "answer", "add-header-inherit"),
        ("CG412", "answer", "add-header-always"),
        ("CG414", "backend", "hide-header"),
        ("CG415", "answer", "hide-header"),
        ("CG421", "answer", "hide-header-inherit"),
    )

    def quote(self, value: str) -> str:
        return quote(value)

    def context(self, plan: Plan) -> Mapping[str, object]:
        var = _Names(plan)
        name = comment(plan.name)
        return {
            "http_note": f"nginx: include inside http {{}}, once, together with {name}.conf in the "
            "location.",
            "location_note": "nginx: include inside the location (or server) that serves the "
            f"resource; needs {name}.http.conf in http {{}}.",
            "hash": _hash(plan.exact_origins),
            "shared": SHARED + self.shared_parts[0].suffix,
            "maps": [
                *_origin_maps(plan, var),
                *_condition_maps(plan, var),
                *_value_maps(plan, var),
            ],
            "hide": [(f"{m}_hide_header", h) for m in UPSTREAM_MODULES for h in plan.owned_headers],
            "add_headers": _add_headers(plan, var),
            "preflight": var("preflight"),
            "preflight_status": plan.preflight_status,
        }

    def shared_context(self, plans: Sequence[Plan]) -> Mapping[str, object] | None:
        needs = [
            _Need(comment(p.name), found)
            for p in sorted(plans, key=lambda p: p.name)
            if (found := _hash(p.exact_origins))
        ]
        if not needs:
            return None
        largest = Hash(max(n.hash.bucket_size for n in needs), max(n.hash.max_size for n in needs))
        return {
            "note": "nginx: include inside http {}, once, before any map.",
            "needs": needs,
            "hash": largest,
        }

    def routes(self, configs: Sequence[Path]) -> Loaded:
        from corsgen.targets import nginx_routing  # only audit and import read a user's config

        routes, errors = nginx_routing.load(configs)
        return Loaded(routes, errors)

    def in_place(
        self, scope: Scope, plan: Plan, directory: Path, upstream: str, port: int
    ) -> list[Path] | None:
        from corsgen.render import render_parts

        words = scope.title.split(maxsplit=1)
        if words[0] not in ("location", "server"):
            return None
        # Written back as nginx reads a bare word: a host or path with a quote, brace, `;`, `#`
        # or a control character in it (quoted in the user's config) is answered by the promise.
        if not all(_BARE.fullmatch(w) for w in scope.title.split()[1:]):
            return None
        if scope.host and not _BARE.fullmatch(scope.host):
            return None
        for name, text in render_parts(plan, "nginx").items():
            (directory / name).write_text(text)
        include = f"include {directory / plan.name}.conf;"
        # A prefix location strips its prefix (`proxy_pass http://app/;`, as most configs pass on);
        # a regex or exact one cannot, and passes the path as it is.
        strip = "/" if words[-1].startswith("/") else ""
        block = f"    {include}\n    location / {{\n        proxy_pass http://{upstream};\n    }}\n"
        if words[0] == "location":
            proxy = f"proxy_pass http://{upstream}{strip};"
            block = f"    {scope.title} {{\n        {include}\n        {proxy}\n    }}\n"
        # No name (a server with none, or only a regex or wildcard one): the default server.
        named = f"    server_name {scope.host};\n" if scope.host else ""
        site = directory / f"{plan.name}.site.conf"
        site.write_text(
            f"include {directory / plan.name}.http.conf;\n"
            f"server {{\n    listen 127.0.0.1:{port};\n{named}{block}}}\n"
        )
        return [site]

    def claims(self, text: str) -> bool:
        return _CLAIMED.search(text) is not None

    def limits(self, plan: Plan) -> Iterator[Violation]:
        # Each pattern is one map key, written out in the canonical spelling (\w is
        # [0-9A-Za-z_]) with its backslashes doubled: the length the user's source has says little.
        for regex in plan.anchored_patterns:
            size = len(quote("~" + regex)) - 2
            if size > MAX_PARAMETER:
                fields = {
                    "pattern": shorten(regex),
                    "size": size,
                    "most": MAX_PARAMETER,
                    "server": self.title,
                }
                yield Violation("CG120", "regex-parameter", "allow_origin_regex", fields)
                return

    def check_structure(self, files: Mapping[str, str]) -> None:
        import crossplane  # here: a render for another target need not pay its import (3 ms)

        shared, http_part, location_part = _roles(files)
        with tempfile.TemporaryDirectory(prefix="corsgen-") as tmp:
            root = Path(tmp)
            for name, text in files.items():
                (root / name).write_text(_thin(text, name), encoding="utf-8")
            (root / WRAPPER_FILE).write_text(
                wrapper(http_part, location_part, shared), encoding="utf-8"
            )
            payload = cast(
                _Payload,
                crossplane.parse(str(root / WRAPPER_FILE), check_ctx=True, check_args=True),
            )
        if payload["errors"]:
            first = payload["errors"][0]
            message = first["error"].split(" in " + tmp)[0]
            raise VerifyError(message, Path(first["file"]).name, first["line"])
        for config in payload["config"]:
            _check_lengths(config["parsed"], Path(config["file"]).name)

    def config_test_command(self, binary: str, root: Path, files: Mapping[str, str]) -> list[str]:
        shared, http_part, location = _roles(files)
        lines = _http_lines(
            str(root / http_part), str(root / location), [str(root / n) for n in shared]
        )
        return [binary, "-t", "-q", "-p", str(root), "-c", str(main_config(root, lines))]


TARGET = Nginx()
