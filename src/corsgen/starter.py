"""`corsgen init` and `corsgen schema`: a commented starting point and editor support."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from corsgen.errors import CorsgenError
from corsgen.writing import write_atomically

if TYPE_CHECKING:
    from pydantic import BaseModel

# Where init puts each starter file, relative to the directory it runs in.
STARTERS = {"corsgen.toml": "corsgen.toml", "policy.toml": "cors/api.toml"}


def json_schema(model: type[BaseModel]) -> str:
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **model.model_json_schema(),
    }
    return json.dumps(schema, indent=2, sort_keys=True)


def write_starter(directory: Path) -> list[Path]:
    """Write every starter file, or none when any of them exists already."""
    targets = {directory / dest: name for name, dest in STARTERS.items()}
    existing = [str(p) for p in targets if p.exists()]
    if existing:
        raise CorsgenError(f"refusing to overwrite {', '.join(existing)}; nothing was written")
    starter = resources.files("corsgen") / "templates" / "starter"
    write_atomically(
        {p: (starter / name).read_text(encoding="utf-8") for p, name in targets.items()}
    )
    return list(targets)
