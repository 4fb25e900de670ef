"""`corsgen rules`: every rule a check can report."""

from __future__ import annotations

import click

from corsgen.cli.options import command


@command()
def rules() -> None:
    """List every rule: id, severity, name and what it refuses."""
    from corsgen.rules.table import RULES

    for rule in RULES:
        click.echo(f"{rule.id}  {rule.severity:<7}  {rule.slug:<27}  {rule.summary}")
