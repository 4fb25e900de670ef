"""`corsgen schema`: the JSON Schema of a policy file, or of the manifest, for editors."""

from __future__ import annotations

import click

from corsgen.cli.options import command, deprecated


@command()
@click.argument("kind", type=click.Choice(["policy", "manifest"]), required=False)
@click.option(
    "--manifest",
    "manifest_flag",
    is_flag=True,
    hidden=True,
    # Deprecated: everywhere else --manifest takes a file (sync --manifest FILE).
    help="Deprecated spelling of `corsgen schema manifest`.",
)
def schema(kind: str | None, manifest_flag: bool) -> None:
    """Print the JSON Schema of a policy file (or of the manifest), for editors."""
    if manifest_flag:
        if kind == "policy":
            raise click.UsageError("--manifest and policy ask for two different schemas")
        deprecated("schema --manifest", "corsgen schema manifest")
        kind = "manifest"
    from corsgen.manifest import Manifest
    from corsgen.policy.schema import Policy
    from corsgen.starter import json_schema

    model = Manifest if kind == "manifest" else Policy
    click.echo(json_schema(model))
