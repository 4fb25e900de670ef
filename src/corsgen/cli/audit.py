"""`corsgen audit`: read a server's whole config, with what it includes, for where it undoes a
corsgen snippet (was `verify --config`)."""

from __future__ import annotations

from pathlib import Path

import click

from corsgen.cli.options import TARGET, command
from corsgen.errors import CorsgenError, report
from corsgen.files import shown


@command()
@click.argument("config", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--target", "-t", type=TARGET, required=True, help="The server the config is for.")
def audit(config: Path, target: str) -> None:
    """Read a server's config and every file it includes, and report each place where it undoes a
    corsgen snippet; exit 1 on any finding."""
    audit_config(config, target)


def audit_config(config: Path, target: str) -> None:
    from corsgen.targets import by_name

    findings = by_name(target).audit_config(config)
    # A screenful of the run, then how many more: 230,000 nested locations printed 60 MB.
    for line in report(findings, run=shown(config)):
        click.echo(line, err=True)
    if findings:
        raise CorsgenError(f"{len(findings)} problem(s) in {shown(config)} and what it includes")
    click.echo(f"{shown(config)}: ok")
