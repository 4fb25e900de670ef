"""The shape of a policy file, as a pydantic model: the JSON Schema (`corsgen schema`), and the
verdict and messages on any file that does not plainly have this shape (see policy/loading.py)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


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
    # Deprecated in the schema only (editors strike it through): pydantic's own deprecated=
    # would warn on every read of the field, and the plan reads it.
    allow_private_network: bool = Field(
        False,
        description="Deprecated (CG207): no browser sends the Private Network Access preflight "
        "any more; Chrome 142 and Firefox ESR 153 ask the user instead (Local Network Access). "
        "Kept only to answer old clients: Access-Control-Request-Private-Network: true "
        "preflights get "
        "Access-Control-Allow-Private-Network: true.",
        json_schema_extra={"deprecated": True},
    )
