"""The policy file: loading that reports file, line and key, into the fields the rules read.

Its shape is the pydantic model `Policy` (policy/schema.py): the JSON Schema, and the verdict and
messages on a malformed file. Importing pydantic takes longer than rendering a small policy does,
so a file that plainly has the model's shape (known keys, each value of exactly its field's type)
is read into a PlainPolicy without it; anything else goes to the model.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from corsgen.tomlfile import parse_toml, validate

if TYPE_CHECKING:
    from corsgen.policy.schema import Policy

NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]*")
# The name of the files the policies of one directory share (nginx's corsgen-map-hash.conf,
# Envoy's corsgen-filters.yaml), and the policy their markers name: no policy may take it, or its
# files would pass for the shared ones (CG116 reserved).
SHARED = "corsgen"


@dataclass(frozen=True, kw_only=True)
class PlainPolicy:
    """A Policy read without pydantic: its fields, in its order, with its defaults (a test holds
    the two to each other)."""

    name: str | None = None
    allow_origins: list[str]
    allow_origin_regex: str | None = None
    allow_methods: list[str] = field(default_factory=lambda: ["GET", "HEAD", "POST"])
    allow_headers: list[str] = field(default_factory=list)
    expose_headers: list[str] = field(default_factory=list)
    allow_credentials: bool = False
    max_age: int | None = None
    preflight_status: int = 204
    allow_private_network: bool = False


# What the rules and the plan read: either one has every field.
AnyPolicy: TypeAlias = "Policy | PlainPolicy"


def _is_str_list(value: object) -> bool:
    return type(value) is list and all(type(item) is str for item in value)


# Each annotation PlainPolicy uses, as the strict model reads it: exactly this type, never a bool
# for an int. TOML has no null, so an optional field is either absent or of its type.
_EXACT: Mapping[str, Callable[[object], bool]] = {
    "str | None": lambda value: type(value) is str,
    "list[str]": _is_str_list,
    "bool": lambda value: type(value) is bool,
    "int": lambda value: type(value) is int,
    "int | None": lambda value: type(value) is int,
}
_TYPES = {f.name: _EXACT[str(f.type)] for f in fields(PlainPolicy)}


def plain_policy(data: Mapping[str, Any]) -> PlainPolicy | None:
    """The policy when the model would take it as it is, without pydantic; None otherwise."""
    if "allow_origins" not in data or not data.keys() <= _TYPES.keys():
        return None
    if not all(_TYPES[key](value) for key, value in data.items()):
        return None
    return PlainPolicy(**data)


def parse_policy(text: str, file: str) -> AnyPolicy:
    """TOML text to a policy, or PolicyError naming the file, line and key."""
    data = parse_toml(text, file)
    plain = plain_policy(data)
    if plain is not None:
        return plain
    from corsgen.policy.schema import Policy

    return validate(data, file, Policy, text=text)


def policy_json(policy: AnyPolicy) -> str:
    """Every field but the name, as the model's model_dump_json writes them: what the plan's digest
    hashes, so it stays the same whichever way the file was read."""
    values = {f.name: getattr(policy, f.name) for f in fields(PlainPolicy) if f.name != "name"}
    return json.dumps(values, ensure_ascii=False, separators=(",", ":"))


def policy_name(policy: AnyPolicy, path: Path) -> str:
    """The explicit name, else the file stem with - and . as _ (spa-api.toml -> spa_api)."""
    if policy.name is not None:
        return policy.name
    return re.sub(r"[-.]", "_", path.stem.lower())
