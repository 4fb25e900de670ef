"""nginx output through crossplane, each part included in the context nginx will read it in."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TypedDict, cast

import crossplane

from corsgen.errors import VerifyError


class _Error(TypedDict):
    file: str
    line: int | None
    error: str


class _Payload(TypedDict):
    status: str
    errors: list[_Error]


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
