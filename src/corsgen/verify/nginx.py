"""nginx output through crossplane, each part included in the context nginx will read it in."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TypedDict, cast

import crossplane

from corsgen.errors import VerifyError
from corsgen.limits import NGINX_MAX_PARAMETER


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


def wrapper(http_part: str, location_part: str) -> str:
    """The smallest nginx.conf that reads each part where the README says to include it."""
    return (
        "events {}\nhttp {\n"
        f"    include {http_part};\n"
        "    server {\n        location / {\n"
        f"            include {location_part};\n"
        "        }\n    }\n}\n"
    )


def check(files: Mapping[str, str]) -> None:
    http_part = next(name for name in files if name.endswith(".http.conf"))
    location_part = next(name for name in files if name != http_part)
    with tempfile.TemporaryDirectory(prefix="corsgen-") as tmp:
        root = Path(tmp)
        for name, text in files.items():
            (root / name).write_text(text, encoding="utf-8")
        (root / "nginx.conf").write_text(wrapper(http_part, location_part), encoding="utf-8")
        payload = cast(
            _Payload,
            crossplane.parse(str(root / "nginx.conf"), check_ctx=True, check_args=True),
        )
    if payload["errors"]:
        first = payload["errors"][0]
        message = first["error"].split(" in " + tmp)[0]
        raise VerifyError(message, Path(first["file"]).name, first["line"])
    for config in payload["config"]:
        _check_lengths(config["parsed"], Path(config["file"]).name)


def _check_lengths(directives: list[_Directive], file: str) -> None:
    """nginx refuses a parameter longer than its read buffer, which crossplane does not know."""
    for directive in directives:
        # Inside a map block the key is what crossplane calls the directive: it counts too.
        for arg in [directive["directive"], *directive.get("args", [])]:
            # crossplane keeps the backslashes nginx_quote doubled: the length nginx reads.
            if len(arg.encode()) > NGINX_MAX_PARAMETER:
                raise VerifyError(
                    f"a parameter of {len(arg.encode()):,} bytes, more than the "
                    f"{NGINX_MAX_PARAMETER:,} nginx reads",
                    file,
                    directive.get("line"),
                )
        _check_lengths(directive.get("block", []), file)
