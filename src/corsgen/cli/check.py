"""`corsgen check`: refuse unsafe policies, one line per finding."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import click

from corsgen.cli.options import POLICY, command, targets_option, warn
from corsgen.errors import CorsgenError, Finding, PolicyError, escape


@command()
@click.argument("policies", nargs=-1, required=True, type=POLICY)
@targets_option("Also note where this server falls short of the policy (CG501); repeatable.")
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
def check(policies: tuple[Path, ...], targets: tuple[str, ...], strict: bool) -> None:
    """Check policies for unsafe combinations; exit 1 if any has an error."""
    from corsgen.pipeline import load_and_plan

    failed = 0
    for path in policies:
        try:
            _, warnings = load_and_plan(path, targets)
            warn(warnings, strict)
        except PolicyError as exc:
            click.echo(str(exc), err=True)
            failed += 1
            continue
        noted = f" ({_counted(warnings)} above)" if warnings else ""
        click.echo(escape(f"{path}: ok{noted}"))
    if failed:
        raise CorsgenError(
            f"{failed} of {len(policies)} polic{'y' if len(policies) == 1 else 'ies'} refused"
        )


def _counted(findings: Sequence[Finding]) -> str:
    """ "2 warnings", "1 warning, 1 note": the findings shown, by severity."""
    kinds = Counter(f.severity for f in findings)
    return ", ".join(f"{n} {kind}{'s' * (n != 1)}" for kind, n in kinds.items())
