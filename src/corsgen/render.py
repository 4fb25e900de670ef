"""Plan to text: one Jinja2 template per output file, a quoting filter per target."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import jinja2

from corsgen.errors import CorsgenError, shorten
from corsgen.marker import PLACEHOLDER, stamp
from corsgen.plan import NOT_ONE_ORIGIN, Plan

Target = Literal["nginx", "apache", "caddy"]
TARGETS: tuple[Target, ...] = ("nginx", "apache", "caddy")
# Every value corsgen quotes is printable ASCII (origins are punycode, names are tokens); one that
# is not, or holds a quote, is safe in none of the three quoting styles below.
_UNQUOTABLE = re.compile(r'[^\x20-\x7e]|"')
# What a comment may hold as it is. Anything else is written \uXXXX: no line break (\n, \r, U+2028,
# NEL) can end the comment, no trailing \ can continue an Apache line, and no { } can reach
# Caddy's {$VAR} substitution, which it does inside comments too.
_UNCOMMENTABLE = re.compile(r"[^A-Za-z0-9 ._,:/+=@()\[\]~-]")


def _refuse(value: str, target: str, why: str) -> CorsgenError:
    return CorsgenError(f"refusing to quote {shorten(value)} for {target}: it contains {why}")


def _guard(value: str, target: str) -> str:
    if _UNQUOTABLE.search(value):
        raise _refuse(value, target, "a quote, a control or a non-ASCII character")
    return value


def _no_trailing_backslash(value: str, target: str) -> str:
    # Apache and Caddy read \" as a quote inside the string: the closing one would not close it.
    if value.endswith("\\"):
        raise _refuse(value, target, "a trailing backslash")
    return value


def nginx_quote(value: str) -> str:
    # nginx unescapes \\ and \" inside quotes; doubling keeps regex escapes such as \. intact.
    return '"' + _guard(value, "nginx").replace("\\", "\\\\") + '"'


def apache_quote(value: str) -> str:
    # mod_headers reads % as a format character and httpd expands ${VAR} in every argument; the
    # rules refuse both, the guard keeps them out.
    for hostile in ("%", "${"):
        if hostile in value:
            raise _refuse(value, "Apache", hostile)
    return '"' + _no_trailing_backslash(_guard(value, "Apache"), "Apache") + '"'


def caddy_quote(value: str) -> str:
    # The Caddyfile lexer keeps backslashes that do not precede a quote. It expands {$VAR} before
    # it reads quotes, so an environment variable could hold a line break.
    if "{$" in value:
        raise _refuse(value, "Caddy", "{$")
    return '"' + _no_trailing_backslash(_guard(value, "Caddy"), "Caddy") + '"'


def comment(value: object) -> str:
    """Any text, made safe inside a # comment of every target; see _UNCOMMENTABLE."""
    return _UNCOMMENTABLE.sub(_code_point, str(value))


def _code_point(match: re.Match[str]) -> str:
    code = ord(match[0])
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


@dataclass(frozen=True)
class Part:
    """One output file: its template and the suffix after the policy name."""

    template: str
    suffix: str


@dataclass(frozen=True)
class TargetSpec:
    parts: tuple[Part, ...]
    extra: Mapping[str, object] = field(default_factory=dict)


# The name suffix of the nginx variable (and Caddy matcher) that holds each condition.
CONDITION = {
    "allowed": "allowed",
    "preflight": "preflight",
    "private_network": "private_network_ok",
}

SPECS: Mapping[Target, TargetSpec] = {
    "nginx": TargetSpec(
        (Part("nginx.http.conf.j2", ".http.conf"), Part("nginx.conf.j2", ".conf")),
        {
            "condition": CONDITION,
            "upstream_modules": ("proxy", "fastcgi", "uwsgi", "scgi", "grpc"),
        },
    ),
    "apache": TargetSpec(
        (Part("apache.conf.j2", ".conf"),),
        {
            "condition": {
                "allowed": "origin",
                "preflight": "preflight",
                "private_network": "private_network_ok",
            }
        },
    ),
    "caddy": TargetSpec((Part("caddy.caddy.j2", ".caddy"),)),
}


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("corsgen", "templates"),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters.update(
        nginx_quote=nginx_quote, apache_quote=apache_quote, caddy_quote=caddy_quote, comment=comment
    )
    return env


_ENV = _environment()


def render(plan: Plan, target: Target) -> dict[str, str]:
    """File name to text, for every file the target needs."""
    spec = SPECS[target]
    matcher = {"always": "", **{when: f"@{plan.var}_{s}" for when, s in CONDITION.items()}}
    out = {}
    for part in spec.parts:
        template = _ENV.get_template(part.template)
        text = template.render(
            plan=plan,
            matcher=matcher,
            body_sha256=PLACEHOLDER,
            not_one_origin=NOT_ONE_ORIGIN,
            **spec.extra,
        )
        out[plan.name + part.suffix] = stamp(text)
    return out
