"""Apache httpd: SetEnvIf picks the Origin, mod_headers sends, mod_rewrite answers the preflight.

One file, NAME.conf, included inside <VirtualHost>. Checked by a small structural check of its own
directives and with `apache2 -t`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from corsgen.errors import VerifyError
from corsgen.plan import NOT_ONE_ORIGIN, Header, Plan, When
from corsgen.regex import anchor
from corsgen.targets.base import Part, Target, double_quoted
from corsgen.targets.lexer import split_lines

# Debian's PCRE2 (link size 2) refuses a compiled pattern over 64 KiB, about two bytes per literal
# character and three per alternative. `apache2 -t` on 2.4.71 loads one SetEnvIf of 108 origins of
# 300 characters (32,729 characters of regex) and refuses 109; of 30-character origins, 1,040 and
# 1,041. Exact origins are grouped into regexes of about half that, counted in escaped characters.
REGEX_CHARS = 16_000
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
# No policy name holds a "-": the wrapper never overwrites a policy's own file.
WRAPPER = "corsgen-wrapper.conf"

# directive: (fewest, most) arguments; the modules the README says the snippet needs.
DIRECTIVES: Mapping[str, tuple[int, int]] = {
    "SetEnvIf": (3, 99),
    "Header": (2, 5),
    "RewriteEngine": (1, 1),
    "RewriteCond": (2, 3),
    "RewriteRule": (2, 3),
    "ErrorDocument": (2, 2),
}
HEADER_ACTIONS = {"set", "unset", "merge", "append", "add", "edit", "setifempty", "echo", "note"}


def quote(value: str) -> str:
    # mod_headers reads % as a format character and httpd expands ${VAR} in every argument; the
    # rules refuse both, the guard keeps them out.
    return double_quoted(value, "Apache", hostile=("%", "${"))


def origin_regexes(plan: Plan) -> tuple[str, ...]:
    """The SetEnvIf regexes: exact origins in chunks PCRE2 compiles, then each pattern."""
    if plan.any_origin:
        return ("^.+$",)  # any Origin at all makes a preflight
    chunks: list[list[str]] = []
    size = REGEX_CHARS
    for escaped in map(re.escape, plan.exact_origins):
        if size + len(escaped) > REGEX_CHARS:
            chunks.append([])
            size = 0
        chunks[-1].append(escaped)
        size += len(escaped) + 1
    return tuple(map(anchor, chunks)) + plan.anchored_patterns


def _header_args(header: Header, env: str) -> str:
    """What follows `Header always` for one header."""
    origin = f"{env}_{CONDITION['allowed']}"
    if header.echo:
        return f'set {header.name} "%{{{origin}}}e" env={origin}'
    if header.when == "always":
        return f"set {header.name} {quote(header.value)}"
    return f"set {header.name} {quote(header.value)} env={env}_{CONDITION[header.when]}"


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
    regex_engine = "PCRE2"

    def quote(self, value: str) -> str:
        return quote(value)

    def context(self, plan: Plan) -> Mapping[str, object]:
        env = f"CORSGEN_{plan.name.upper()}"
        origin = f"{env}_{CONDITION['allowed']}"
        args = [_header_args(header, env) for header in plan.headers]
        return {
            "note": "Apache httpd: include inside <VirtualHost>; needs mod_headers, mod_setenvif "
            "and mod_rewrite.",
            "allow": [(quote(regex), f"{origin}=$0") for regex in origin_regexes(plan)],
            # SetEnvIf reads a missing Origin as "": the empty value, anchored, is one more refusal.
            "deny": [(quote(regex), f"!{origin}") for regex in ("^$", NOT_ONE_ORIGIN)],
            "owned_headers": plan.owned_headers,
            "header_args": [*args, "merge Vary Origin"] if plan.vary_origin else args,
            "origin": origin,
            "private_network": f"{env}_{CONDITION['private_network']}"
            if plan.private_network
            else None,
            "preflight": f"{env}_{CONDITION['preflight']}",
            "preflight_status": plan.preflight_status,
            # R=200 sends httpd's error text as the body; an empty expression sends an empty one.
            "empty_body": f"{env}_EMPTY_BODY" if plan.preflight_status == 200 else None,
        }

    def check_structure(self, files: Mapping[str, str]) -> None:
        for file, text in files.items():
            for line in split_lines(text, file):
                name, args = line.words[0], line.words[1:]
                if name.startswith("<"):
                    raise VerifyError(f"unexpected section {name}", file, line.number)
                if name not in DIRECTIVES:
                    raise VerifyError(f'unknown directive "{name}"', file, line.number)
                low, high = DIRECTIVES[name]
                if not low <= len(args) <= high:
                    raise VerifyError(f'wrong number of arguments for "{name}"', file, line.number)
                if name == "Header":
                    action = args[1] if args[0] in ("always", "onsuccess") else args[0]
                    if action not in HEADER_ACTIONS:
                        raise VerifyError(f'unknown Header action "{action}"', file, line.number)

    def config_test_command(self, binary: str, root: Path, files: Mapping[str, str]) -> list[str]:
        conf = root / WRAPPER
        conf.write_text(
            f"ServerRoot {root}\nServerName localhost\nPidFile {root}/httpd.pid\n"
            f"ErrorLog {root}/error.log\nListen 127.0.0.1:8080\n{module_lines()}"
            f"<VirtualHost 127.0.0.1:8080>\n    Include {root}/{next(iter(files))}\n"
            "</VirtualHost>\n"
        )
        return [binary, "-t", "-f", str(conf)]


TARGET = Apache()
