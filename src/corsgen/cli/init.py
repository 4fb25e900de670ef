"""`corsgen init`: a commented starter policy and manifest."""

from __future__ import annotations

from pathlib import Path

import click

from corsgen.cli.options import command
from corsgen.errors import escape


@command()
def init() -> None:
    """Write a commented starter policy (cors/api.toml) and manifest (corsgen.toml) here."""
    from corsgen.starter import write_starter

    for path in write_starter(Path.cwd()):
        click.echo(escape(f"wrote {path}"))
