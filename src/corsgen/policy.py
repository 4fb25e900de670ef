"""The policy file: a pydantic model for its shape, and loading that reports file, line and key."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from corsgen.tomlfile import parse_toml, validate

NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]*")


class Policy(BaseModel):
    """One CORS policy. Types only: what is unsafe is decided by the rules, with ids and fixes."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    name: str | None = Field(
        None,
        description="Policy name, [a-z][a-z0-9_]*; names the output files and the variables, "
        "environment variables and matchers they define. Defaults to the file stem with - and . "
        "turned into _.",
    )
    allow_origins: list[str] = Field(
        description='Exact origins scheme://host[:port]; "https://*.example.com" for any subdomain '
        '(never the apex); "*" alone for any origin.',
    )
    allow_origin_regex: str | None = Field(
        None,
        description="A regex matched against the whole Origin (corsgen anchors it); must mean the "
        "same in PCRE and RE2.",
    )
    allow_methods: list[str] = Field(
        ["GET", "HEAD", "POST"], description="Methods a preflight allows."
    )
    allow_headers: list[str] = Field(
        [], description="Request headers allowed beyond the CORS-safelisted ones."
    )
    expose_headers: list[str] = Field(
        [], description="Response headers scripts may read beyond the safelisted ones."
    )
    allow_credentials: bool = Field(
        False, description="Send Access-Control-Allow-Credentials: true (cookies, HTTP auth)."
    )
    max_age: int | None = Field(
        None, description="Seconds a browser may cache the preflight; unset sends no header."
    )
    preflight_status: int = Field(204, description="Status of the preflight answer: 204 or 200.")
    allow_private_network: bool = Field(
        False,
        description="Answer Access-Control-Request-Private-Network: true preflights with "
        "Access-Control-Allow-Private-Network: true.",
    )


def parse_policy(text: str, file: str) -> Policy:
    """TOML text to a Policy, or PolicyError naming the file, line and key."""
    return validate(parse_toml(text, file), file, Policy, text=text)


def policy_name(policy: Policy, path: Path) -> str:
    """The explicit name, else the file stem with - and . as _ (spa-api.toml -> spa_api)."""
    if policy.name is not None:
        return policy.name
    return re.sub(r"[-.]", "_", path.stem.lower())
