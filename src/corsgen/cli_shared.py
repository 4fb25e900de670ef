"""What the click commands share: the policy argument, loading one policy, its warnings, and
the command class whose summary is its whole first paragraph."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from corsgen.errors import Finding, PolicyError, blocking, report

if TYPE_CHECKING:
    from corsgen.plan import Plan

POLICY = click.Path(exists=True, dir_okay=False, path_type=Path)


def warn(findings: Sequence[Finding], strict: bool) -> None:
    if blocking(findings, strict):
        raise PolicyError(findings)
    for line in report(findings):
        click.echo(line, err=True)


def load_plan(path: Path, strict: bool, targets: Sequence[str] = ()) -> Plan:
    """The policy's plan, its warnings shown, those of the servers of `targets` among them."""
    from corsgen.pipeline import load_and_plan

    plan, warnings = load_and_plan(path, targets)
    warn(warnings, strict)
    return plan


class Command(click.Command):
    """A command whose summary in `corsgen --help` is its whole first docstring paragraph."""

    def get_short_help_str(self, limit: int = 45) -> str:
        # click cuts the summary to fit one line ("exit 1 if any has an..."), dropping the very
        # words that say what the command does; the help formatter wraps it instead.
        if self.short_help:
            return self.short_help
        return " ".join((self.help or "").strip().split("\n\n")[0].split())
