"""`corsgen check`: refuse unsafe policies, one line per finding."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import click

from corsgen.audit.formats import reported, write
from corsgen.cli.audit import FORMAT
from corsgen.cli.options import POLICY, command, policies_refused, targets_option, warn
from corsgen.errors import CorsgenError, Finding, PolicyError, blocking, escape


@command()
@click.argument("policies", nargs=-1, required=True, type=POLICY)
@targets_option("Also note where this server falls short of the policy (CG501); repeatable.")
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
@FORMAT
def check(policies: tuple[Path, ...], targets: tuple[str, ...], strict: bool, format_: str) -> None:
    """Check policies for unsafe combinations; exit 1 if any has an error."""
    from corsgen.pipeline import load_and_plan

    if format_ != "text":
        _documented(policies, targets, strict, format_)
        return
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
        raise CorsgenError(policies_refused(failed, len(policies)))


def _documented(
    policies: tuple[Path, ...], targets: tuple[str, ...], strict: bool, format_: str
) -> None:
    """Every policy's findings in one JSON or SARIF document on stdout."""
    from corsgen.pipeline import load_and_plan

    found: list[Finding] = []
    failed = 0
    for path in policies:
        try:
            _, warnings = load_and_plan(path, targets)
        except PolicyError as exc:
            warnings, refused = list(exc.findings), True
        else:
            refused = blocking(warnings, strict)
        # At the path as given, which a CI dashboard resolves; the text lines name the file.
        found += [replace(f, file=str(path)) for f in warnings]
        failed += refused
    click.echo(write(format_, reported(found)))
    if failed:
        raise CorsgenError(policies_refused(failed, len(policies)))


def _counted(findings: Sequence[Finding]) -> str:
    """ "2 warnings", "1 warning, 1 note": the findings shown, by severity."""
    kinds = Counter(f.severity for f in findings)
    return ", ".join(f"{n} {kind}{'s' * (n != 1)}" for kind, n in kinds.items())
