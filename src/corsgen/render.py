"""Plan to text: one Jinja2 template per output file, a quoting filter per target."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import jinja2

from corsgen.errors import CorsgenError
from corsgen.marker import PLACEHOLDER, stamp
from corsgen.plan import Plan

Target = Literal["nginx", "apache", "caddy"]
TARGETS: tuple[Target, ...] = ("nginx", "apache", "caddy")
# A value that needs none of these is safe inside any of the three quoting styles below.
_UNQUOTABLE = re.compile(r"[\x00-\x1f\x7f\"]")


def _guard(value: str) -> str:
    if _UNQUOTABLE.search(value):
        raise CorsgenError(f"refusing to quote {value!r}: it contains a quote or control character")
    return value


def nginx_quote(value: str) -> str:
    # nginx unescapes \\ and \" inside quotes; doubling keeps regex escapes such as \. intact.
    return '"' + _guard(value).replace("\\", "\\\\") + '"'


def apache_quote(value: str) -> str:
    # mod_headers reads % as a format character; the rules refuse it, the guard keeps it out.
    if "%" in value:
        raise CorsgenError(f"refusing to quote {value!r} for Apache: it contains %")
    return '"' + _guard(value) + '"'


def caddy_quote(value: str) -> str:
    # The Caddyfile lexer keeps backslashes that do not precede a quote.
    return '"' + _guard(value) + '"'


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
    env.filters.update(nginx_quote=nginx_quote, apache_quote=apache_quote, caddy_quote=caddy_quote)
    return env


_ENV = _environment()


def render(plan: Plan, target: Target) -> dict[str, str]:
    """File name to text, for every file the target needs."""
    spec = SPECS[target]
    matcher = {"always": "", **{when: f"@{plan.var}_{s}" for when, s in CONDITION.items()}}
    out = {}
    for part in spec.parts:
        template = _ENV.get_template(part.template)
        text = template.render(plan=plan, matcher=matcher, body_sha256=PLACEHOLDER, **spec.extra)
        out[plan.name + part.suffix] = stamp(text)
    return out
