"""Apache httpd: SetEnvIf picks the Origin, mod_headers sends, mod_rewrite answers the preflight.

One file, NAME.conf, included inside <VirtualHost>. Checked by a small structural check of its own
directives and with `apache2 -t`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from corsgen.errors import CorsgenError, VerifyError, shorten
from corsgen.plan import Header, Plan, When
from corsgen.regex import OUTSIDE_AN_ORIGIN
from corsgen.regex.trie import tries
from corsgen.routing import Scope
from corsgen.targets.base import WRAPPER, Loaded, Part, Target, double_quoted
from corsgen.targets.lexer import split_lines

# Debian's PCRE2 (link size 2) refuses a compiled pattern over 64 KiB, about two bytes per literal
# character and three per alternative. `apache2 -t` on 2.4.71 loads one SetEnvIf of 108 origins of
# 300 characters (32,729 characters of regex) and refuses 109; of 30-character origins, 1,040 and
# 1,041. Two shorter limits decide, though: httpd reads an .htaccess line of at most 8,191
# characters, and ap_expr's lexer refuses a regex over 8,191 ("Regexp too long"). Exact origins are
# grouped into regexes of at most 7,600 escaped characters, so each SetEnvIf line and each <If>
# line, which holds the rest of the expression too, fits. A pattern is shorter than nginx's
# 4,093-byte parameter, checked for every policy.
REGEX_CHARS = 7_600
# A header value longer than this is written as a set and merges (.htaccess lines, above).
VALUE_CHARS = 7_800
# The environment variable (CORSGEN_NAME_SUFFIX) that holds each condition a header is sent on.
CONDITION: Mapping[When, str] = {
    "allowed": "ORIGIN",
    "preflight": "PREFLIGHT",
    "private_network": "PRIVATE_NETWORK_OK",
}
MODULE_DIRS = (
    "/usr/lib/apache2/modules",
    "/usr/lib64/httpd/modules",
    "/usr/lib/httpd/modules",
    "/usr/local/apache2/modules",
)
# What the snippet needs, plus an MPM so httpd will start at all.
MODULES = ("mpm_event", "authz_core", "headers", "setenvif", "rewrite")
WRAPPER_FILE = WRAPPER + ".conf"
# What only an httpd config holds: its sections, and its directives as httpd's docs spell them
# (nginx's and Caddy's are lower case, HAProxy's have no <sections>).
_CLAIMS = re.compile(
    r"^[ \t]*(?:<(?:VirtualHost|Directory|DirectoryMatch|Location|LocationMatch|Files|FilesMatch"
    r"|IfModule|If)[ \t>]|(?:LoadModule|SetEnvIf|SetEnvIfNoCase|RewriteEngine|RewriteRule"
    r"|ProxyPass|DocumentRoot|AllowOverride|Header[ \t]+(?:always|onsuccess|set|unset|merge"
    r"|append|add))[ \t])",
    re.MULTILINE | re.IGNORECASE,
)
# What Target.in_place writes back as httpd reads it, unquoted: no blank, quote, > (the end of a
# section's tag), backslash (a line's continuation), # or ${ (httpd's variables); a host as
# ServerName takes it.
_BARE = re.compile(r"[^\s\"'<>\\#$\x00-\x1f\x7f]+")
_HOST = re.compile(r"[A-Za-z0-9.-]+")
# The scopes in_place writes the output back at the top of <VirtualHost> for, where corsgen's
# output is included: a virtual host, or the main server (whose lines reach every virtual host).
_SITE_WIDE = re.compile(r"<VirtualHost [^>]*>|the main server")

# directive: (fewest, most) arguments; the modules docs/servers/apache.md says the snippet needs.
DIRECTIVES: Mapping[str, tuple[int, int]] = {
    "SetEnvIf": (3, 99),
    "Header": (2, 5),
    "RewriteEngine": (1, 1),
    "RewriteCond": (2, 3),
    "RewriteRule": (2, 3),
    "ErrorDocument": (2, 2),
}
# Inside the one section written, <If "expr">: the grant for the preflight, and its answer.
SECTION_DIRECTIVES: Mapping[str, tuple[int, int]] = {
    "Require": (2, 2),
    "RewriteOptions": (1, 1),
    **{name: DIRECTIVES[name] for name in ("RewriteEngine", "RewriteCond", "RewriteRule")},
}
HEADER_ACTIONS = {"set", "unset", "merge", "append", "add", "edit", "setifempty", "echo", "note"}


def _section(name: str, args: tuple[str, ...], depth: int, file: str, number: int) -> int:
    """How many sections are open after this line: <If "expr"> opens one (nested once, the
    grants inside the preflight test), </If> closes one."""
    # The lexer reads <If "expr"> as "<If" and the expression with its closing > attached.
    if name == "<If" and len(args) == 1 and args[0].endswith(">") and depth < 2:
        return depth + 1
    if name == "</If>" and not args and depth:
        return depth - 1
    raise VerifyError(f"unexpected section {name}", file, number)


def quote(value: str) -> str:
    # mod_headers reads % as a format character and httpd expands ${VAR} in every argument; the
    # rules refuse both, the guard keeps them out.
    return double_quoted(value, "Apache", hostile=("%", "${"))


def quote_expression(expression: str) -> str:
    """An ap_expr between quotes: % is its own syntax there, ${VAR} still httpd's."""
    return double_quoted(expression, "Apache", hostile=("${",))


def origin_regexes(plan: Plan) -> tuple[str, ...]:
    """The regexes of the allowed origins: the exact ones as tries (see corsgen.regex.trie) of at
    most REGEX_CHARS, then each pattern. SetEnvIf and the <If> grants run the same ones."""
    if plan.any_origin:
        return ("^.+$",)  # any Origin at all makes a preflight
    exact = tries(sorted(plan.exact_origins), REGEX_CHARS) if plan.exact_origins else []
    return (*exact, *plan.anchored_patterns)


# The delimiters ap_expr takes in m<d>regex<d>; the first one the regex does not hold is used.
_REGEX_DELIMITERS = "#!|,;:_-"


def _matches(variable: str, regex: str) -> str:
    """`VARIABLE =~ m#REGEX#` in ap_expr, with a delimiter the regex does not hold."""
    delimiter = next((d for d in _REGEX_DELIMITERS if d not in regex), None)
    if delimiter is None:
        raise CorsgenError(f"no ap_expr regex delimiter is free in {shorten(regex)}")
    return f"{variable} =~ m{delimiter}{regex}{delimiter}"


# A preflight from some Origin; each <If> nested inside it names the allowed ones.
PREFLIGHT = (
    "%{REQUEST_METHOD} == 'OPTIONS' && -n %{HTTP:Access-Control-Request-Method}"
    f" && -n %{{HTTP:Origin}} && ! {_matches('%{HTTP:Origin}', OUTSIDE_AN_ORIGIN)}"
)


def preflight_grants(regexes: Sequence[str]) -> tuple[str, ...]:
    """One <If> expression per origin regex, nested in one <If PREFLIGHT>: any other request
    costs httpd that one test, however many regexes the list needs.

    In <Directory>, <Location>, <Files> and .htaccess, mod_rewrite runs in the fixup phase, after
    authentication, and SetEnvIf in the header parser, after <If> is evaluated: the expression reads
    the Origin itself, with the same refusals as the SetEnvIf lines (empty, or two joined).
    """
    return tuple(_matches("%{HTTP:Origin}", regex) for regex in regexes)


def _value_parts(value: str) -> list[str]:
    """A list's value cut at ", " into parts of at most VALUE_CHARS: the first is set, the others
    merged, which appends them with ", " again."""
    parts = [""]
    for name in value.split(", "):
        if parts[-1] and len(parts[-1]) + 2 + len(name) > VALUE_CHARS:
            parts.append("")
        parts[-1] = f"{parts[-1]}, {name}" if parts[-1] else name
    return parts


def _header_args(header: Header, env: str) -> list[str]:
    """What follows `Header always` for one header: one line, or more for a long list."""
    origin = f"{env}_{CONDITION['allowed']}"
    if header.echo:
        return [f'set {header.name} "%{{{origin}}}e" env={origin}']
    condition = "" if header.when == "always" else f" env={env}_{CONDITION[header.when]}"
    return [
        f"{'merge' if n else 'set'} {header.name} {quote(part)}{condition}"
        for n, part in enumerate(_value_parts(header.value))
    ]


def module_lines(modules: tuple[str, ...] = MODULES) -> str:
    """LoadModule lines for modules not compiled in, from the first module directory present."""
    directory = next((d for d in MODULE_DIRS if Path(d).is_dir()), MODULE_DIRS[0])
    return "".join(
        f"LoadModule {m}_module {directory}/mod_{m}.so\n"
        for m in modules
        if Path(directory, f"mod_{m}.so").exists()
    )


class Apache(Target):
    name = "apache"
    title = "Apache httpd"
    parts = (Part("apache/vhost.conf.j2", ".conf"),)
    binaries = ("apache2", "httpd")
    config_test = "apache2 -t"
    fixes = (
        ("CG412", "answer", "header-always"),
        ("CG414", "backend", "header-unset"),
        ("CG415", "answer", "header-unset"),
    )

    def quote(self, value: str) -> str:
        return quote(value)

    def context(self, plan: Plan) -> Mapping[str, object]:
        env = f"CORSGEN_{plan.name.upper()}"
        origin = f"{env}_{CONDITION['allowed']}"
        args = [line for header in plan.headers for line in _header_args(header, env)]
        regexes = origin_regexes(plan)
        return {
            "note": "Apache httpd: include inside <VirtualHost>; needs mod_headers, mod_setenvif "
            "and mod_rewrite.",
            "allow": [(quote(regex), f"{origin}=$0") for regex in regexes],
            # SetEnvIf reads a missing Origin as "": the empty value, anchored, is one more refusal.
            "deny": [(quote(regex), f"!{origin}") for regex in ("^$", OUTSIDE_AN_ORIGIN)],
            "owned_headers": plan.owned_headers,
            "header_args": [*args, "merge Vary Origin"] if plan.vary_origin else args,
            "origin": origin,
            "private_network": f"{env}_{CONDITION['private_network']}"
            if plan.private_network
            else None,
            "preflight": f"{env}_{CONDITION['preflight']}",
            "preflight_test": quote_expression(PREFLIGHT),
            "grants": [quote_expression(e) for e in preflight_grants(regexes)],
            "preflight_status": plan.preflight_status,
            # R=200 sends httpd's error text as the body; an empty expression sends an empty one.
            "empty_body": f"{env}_EMPTY_BODY" if plan.preflight_status == 200 else None,
        }

    def check_structure(self, files: Mapping[str, str]) -> None:
        for file, text in files.items():
            depth = 0  # the open <If> sections: the only sections written
            number = 0
            for line in split_lines(text, file):
                name, args, number = line.words[0], line.words[1:], line.number
                if name.startswith("<"):
                    depth = _section(name, args, depth, file, number)
                    continue
                allowed = SECTION_DIRECTIVES if depth else DIRECTIVES
                if name not in allowed:
                    raise VerifyError(f'unknown directive "{name}"', file, number)
                low, high = allowed[name]
                if not low <= len(args) <= high:
                    raise VerifyError(f'wrong number of arguments for "{name}"', file, number)
                if name == "Header":
                    action = args[1] if args[0] in ("always", "onsuccess") else args[0]
                    if action not in HEADER_ACTIONS:
                        raise VerifyError(f'unknown Header action "{action}"', file, number)
            if depth:
                raise VerifyError("unclosed <If>", file, number)

    def routes(self, configs: Sequence[Path]) -> Loaded:
        from corsgen.rules.table import finding  # only `corsgen audit` and `import` model
        from corsgen.targets import apache_routing

        try:
            routes, problems = apache_routing.load_routes(configs)
        except VerifyError as exc:
            file = str(configs[0])
            found = finding("CG401", "parse", file=file, error=str(exc), server=self.title)
            return Loaded(None, [found])
        return Loaded(routes, problems)

    def in_place(
        self, scope: Scope, plan: Plan, directory: Path, upstream: str, port: int
    ) -> list[Path] | None:
        """A <VirtualHost> of its own on `port`, named as the scope's site, that includes the
        output where the scope was: at its top for a virtual host (or the main server), inside
        the same <Location PATH> for a location; the application behind it by ProxyPass, the path
        as it is. What else the scope's site has (authentication, ErrorDocument, other sections)
        is not carried over. A <Directory>, <Files>, .htaccess or regex location, or a path or
        host httpd would not read back as the same bare word, is answered by the promise."""
        from corsgen.render import render_parts

        words = scope.title.removeprefix("<").removesuffix(">").split()
        site_wide = _SITE_WIDE.fullmatch(scope.title) is not None
        if not site_wide and not (
            len(words) == 2 and words[0] == "Location" and _BARE.fullmatch(words[1])
        ):
            return None
        for name, text in render_parts(plan, "apache").items():
            (directory / name).write_text(text)
        include = f'Include "{directory / plan.name}.conf"'
        block = (
            f"    {include}\n"
            if site_wide
            else f"    <Location {words[1]}>\n        {include}\n    </Location>\n"
        )
        # No name httpd reads back (a wildcard alias): the one virtual host on the port answers.
        named = f"    ServerName {scope.host}\n" if _HOST.fullmatch(scope.host) else ""
        site = directory / f"{plan.name}.site.conf"
        site.write_text(
            f"Listen 127.0.0.1:{port}\n<VirtualHost 127.0.0.1:{port}>\n{named}{block}"
            f"    ProxyPass / http://{upstream}/\n</VirtualHost>\n"
        )
        return [site]

    def claims(self, text: str) -> bool:
        return _CLAIMS.search(text) is not None

    def config_test_command(self, binary: str, root: Path, files: Mapping[str, str]) -> list[str]:
        conf = root / WRAPPER_FILE
        conf.write_text(
            head(root) + f"Listen 127.0.0.1:8080\n<VirtualHost 127.0.0.1:8080>\n"
            f"    Include {root}/{next(iter(files))}\n</VirtualHost>\n"
        )
        return [binary, "-t", "-f", str(conf)]


def head(root: Path, modules: tuple[str, ...] = MODULES) -> str:
    """The server-wide part of a wrapper httpd.conf whose files are in `root`, loading `modules`:
    the config test's, and the one the tests and the benchmark run (targets/apache_serving.py).
    As root, httpd serves as nobody."""
    user = "User nobody\nGroup nogroup\n" if os.geteuid() == 0 else ""
    return (
        f"ServerRoot {root}\nServerName localhost\nPidFile {root}/httpd.pid\n"
        f"ErrorLog {root}/error.log\nLogLevel warn\n{user}{module_lines(modules)}"
    )


TARGET = Apache()
