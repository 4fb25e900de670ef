"""TOML into a pydantic model, with every problem as a Finding that names file, line and key."""

from __future__ import annotations

import difflib
import json
import re
import sys
import tomllib
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from corsgen.errors import Finding, PolicyError, clip, shorten
from corsgen.fsio import NotAFile, decode, read_file
from corsgen.limits import MAX_FILE_VALUES, MAX_FINDINGS

M = TypeVar("M", bound=BaseModel)
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _key(part: str) -> str:
    """A key as TOML spells it, clipped: bare when it can be, else quoted, so "a.b" is plain."""
    return clip(part if _BARE_KEY.fullmatch(part) else json.dumps(part, ensure_ascii=False))


def key_path(loc: tuple[str | int, ...]) -> str:
    """pydantic's ('allow_origins', 2) as the user wrote it: allow_origins[2]."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{_key(part)}" if out else _key(part))
    return out


def error(rule: str, slug: str, file: str, key: str, msg: str, fix: str) -> Finding:
    return Finding(rule, slug, "error", file, key, msg, fix)


def _model_at(model: type[BaseModel], loc: tuple[str | int, ...]) -> type[BaseModel]:
    """The model whose keys are valid at `loc`, to suggest the closest one."""
    for part in loc:
        if isinstance(part, int) or part not in model.model_fields:
            continue
        annotation = model.model_fields[part].annotation
        for candidate in (annotation, *typing.get_args(annotation)):
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                model = candidate
    return model


def _findings(
    file: str, model: type[BaseModel], prefix: str, exc: ValidationError
) -> list[Finding]:
    out = []
    # One finding per problem, up to a screenful: a million wrong values are one mistake.
    for err in exc.errors()[:MAX_FINDINGS]:
        loc = tuple(err["loc"])
        key = prefix + key_path(loc)
        if err["type"] == "extra_forbidden":
            known = list(_model_at(model, loc[:-1]).model_fields)
            close = difflib.get_close_matches(str(loc[-1]), known, n=1)
            fix = f"did you mean {close[0]!r}?" if close else "known keys: " + ", ".join(known)
            out.append(error("CG002", "unknown-key", file, key, "unknown key", fix))
        elif err["type"] == "missing":
            out.append(
                error(
                    "CG004",
                    "missing-key",
                    file,
                    key,
                    "required key is missing",
                    f"add {key_path(loc[-1:])}",
                )
            )
        else:
            msg = f"{err['msg'].lower()}, got {shorten(err.get('input'))}"
            out.append(
                error("CG003", "wrong-type", file, key, msg, "see the reference in README.md")
            )
    if exc.error_count() > MAX_FINDINGS:
        more = exc.error_count() - MAX_FINDINGS
        out.append(
            error("CG003", "wrong-type", file, "", f"and {more:,} more problems", "fix those first")
        )
    return out


def _syntax(file: str, exc: tomllib.TOMLDecodeError) -> Finding:
    text = str(exc)
    where = re.search(r"\(at line (\d+), column (\d+)\)", text)
    line = int(where[1]) if where else getattr(exc, "lineno", None)
    col = int(where[2]) if where else getattr(exc, "colno", None)
    msg = re.sub(r"\s*\(at (line \d+, column \d+|end of document)\)", "", text)
    return Finding("CG001", "toml-syntax", "error", file, "", msg, "fix the TOML syntax", line, col)


def _unreadable_toml(file: str, msg: str, fix: str) -> PolicyError:
    return PolicyError([error("CG001", "toml-syntax", file, "", msg, fix)])


def parse_toml(text: str, file: str) -> dict[str, Any]:
    # Every value past the first in an array or table needs a comma, and every array or table a
    # bracket: counting them bounds what tomllib would build (a 60 MB file of [] is 20 million
    # lists and gigabytes) before it is built. A policy at every limit holds about 103,000.
    separators = text.count(",") + text.count("[") + text.count("{") + text.count("\n")
    if separators > MAX_FILE_VALUES:
        raise PolicyError(
            [
                error(
                    "CG120",
                    "over-limit",
                    file,
                    "",
                    f"the file holds about {separators:,} values, more than the "
                    f"{MAX_FILE_VALUES:,} corsgen reads",
                    "a policy needs at most 100,000 origins and three short lists",
                )
            ]
        )
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError([_syntax(file, exc)]) from None
    except RecursionError:  # tomllib recurses once per [ or { level
        raise _unreadable_toml(
            file, "arrays or inline tables nested too deeply to read", "nest less deeply"
        ) from None
    except ValueError:  # the only other one: int() refuses a number this long
        digits = sys.get_int_max_str_digits()
        raise _unreadable_toml(
            file, f"a number with more than {digits} digits", "use a smaller number"
        ) from None


def validate(data: Mapping[str, Any], file: str, model: type[M], prefix: str = "") -> M:
    """A model from parsed TOML, or PolicyError with one finding per problem."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise PolicyError(_findings(file, model, prefix, exc)) from None


def read_text(path: Path) -> str:
    try:
        # A regular file of sane size only: a FIFO or /dev/zero named as a policy must not hang.
        return decode(read_file(path, follow=True))
    except (OSError, UnicodeDecodeError, NotAFile) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise PolicyError(
            [
                error(
                    "CG000",
                    "unreadable",
                    str(path),
                    "",
                    f"cannot read the file: {reason}",
                    "check the path",
                )
            ]
        ) from None
