"""The policy file: a pydantic model for its shape, and loading that reports file, line and key."""

from __future__ import annotations

import difflib
import re
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from corsgen.errors import Finding, PolicyError

NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]*")


class Policy(BaseModel):
    """One CORS policy. Types only: what is unsafe is decided by the rules, with ids and fixes."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    name: str | None = Field(
        None,
        description="Policy name, [a-z][a-z0-9_]*; names the nginx variables, Apache env vars and "
        "Caddy matchers. Defaults to the file stem with - and . turned into _.",
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


def key_path(loc: tuple[str | int, ...]) -> str:
    """pydantic's ('allow_origins', 2) as the user wrote it: allow_origins[2]."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _finding(rule: str, slug: str, file: str, key: str, msg: str, fix: str) -> Finding:
    return Finding(rule, slug, "error", file, key, msg, fix)


def _from_validation(file: str, data: dict[str, Any], exc: ValidationError) -> list[Finding]:
    known = list(Policy.model_fields)
    out = []
    for err in exc.errors():
        key = key_path(err["loc"])
        if err["type"] == "extra_forbidden":
            close = difflib.get_close_matches(str(err["loc"][0]), known, n=1)
            fix = f"did you mean {close[0]!r}?" if close else "known keys: " + ", ".join(known)
            out.append(_finding("CG002", "unknown-key", file, key, "unknown key", fix))
        elif err["type"] == "missing":
            out.append(
                _finding(
                    "CG004",
                    "missing-key",
                    file,
                    key,
                    "required key is missing",
                    f"add {key} = [...]",
                )
            )
        else:
            value = err.get("input")
            out.append(
                _finding(
                    "CG003",
                    "wrong-type",
                    file,
                    key,
                    f"{err['msg'].lower()}, got {value!r}",
                    "see the policy reference",
                )
            )
    return out


def _toml_error(file: str, exc: tomllib.TOMLDecodeError) -> Finding:
    text = str(exc)
    where = re.search(r"\(at line (\d+), column (\d+)\)", text)
    line = int(where[1]) if where else getattr(exc, "lineno", None)
    col = int(where[2]) if where else getattr(exc, "colno", None)
    msg = re.sub(r"\s*\(at (line \d+, column \d+|end of document)\)", "", text)
    return Finding("CG001", "toml-syntax", "error", file, "", msg, "fix the TOML syntax", line, col)


def parse_policy(text: str, file: str) -> Policy:
    """TOML text to a Policy, or PolicyError naming the file, line and key."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError([_toml_error(file, exc)]) from None
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        raise PolicyError(_from_validation(file, data, exc)) from None


def read_policy_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise PolicyError(
            [
                _finding(
                    "CG000",
                    "unreadable",
                    str(path),
                    "",
                    f"cannot read the file: {reason}",
                    "check the path",
                )
            ]
        ) from None


def policy_name(policy: Policy, path: Path) -> str:
    """The explicit name, else the file stem with - and . as _ (spa-api.toml -> spa_api)."""
    if policy.name is not None:
        return policy.name
    return re.sub(r"[-.]", "_", path.stem.lower())
