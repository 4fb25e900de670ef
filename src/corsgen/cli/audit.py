"""`corsgen audit`: read a server's whole config, with what it includes, into the target's routing
model, and report where it undoes a corsgen snippet and what is wrong with the CORS written by
hand (was `verify --config`).

The target is the one whose Target.claims recognises the files, unless --target names it. A
config whose model finds no place that answers CORS (no snippet, no CORS
written by hand) is CG406, whatever the target. Exit 0 when nothing above a warning is found, 1 on
any error, 2 on usage.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from corsgen.audit.formats import FORMATS, reported, text, write
from corsgen.cli.options import CONFIGS, INFERRED_TARGET, POLICY, command, load_plan
from corsgen.errors import CorsgenError, blocking, escape
from corsgen.files import shown

if TYPE_CHECKING:
    from corsgen.audit.answers import Context
    from corsgen.audit.reported import Audit, Reported
    from corsgen.plan import Plan
    from corsgen.targets.base import Target

FORMAT = click.option(
    "--format",
    "format_",
    type=click.Choice(FORMATS),
    default="text",
    show_default=True,
    help="text: one line per finding on stderr; json or sarif (2.1.0): one document on stdout.",
)


@command()
@CONFIGS
@INFERRED_TARGET
@click.option(
    "--policy",
    "-p",
    "policies",
    multiple=True,
    type=POLICY,
    help="Hold the config to this policy (repeatable): the snippets that name it, or, for one "
    "policy no snippet names, the CORS written by hand.",
)
@FORMAT
def audit(
    configs: tuple[Path, ...], target: str | None, policies: tuple[Path, ...], format_: str
) -> None:
    """Read a server's config and every file it includes, and report where it undoes a corsgen
    snippet and what is wrong with the CORS written by hand; exit 1 on any error finding."""
    run(configs, target or infer(configs), policies, format_)


def audit_config(config: Path, target: str) -> None:
    """`corsgen verify --config`'s old spelling."""
    run((config,), target, (), "text")


def infer(configs: Sequence[Path]) -> str:
    """The one target whose config the files are, else a usage error naming --target."""
    from corsgen.server_config import decode_config, read_config
    from corsgen.targets import TARGETS
    from corsgen.targets.base import MAX_SNIFF

    texts = [decode_config(read_config(path)[:MAX_SNIFF]) for path in configs]
    claimed = [name for name, t in TARGETS.items() if any(t.claims(text) for text in texts)]
    if len(claimed) == 1:
        return claimed[0]
    files = ", ".join(shown(p) for p in configs)
    why = f"it could be {' or '.join(claimed)}" if claimed else "no target recognises it"
    raise click.UsageError(
        f"cannot tell which server {files} is for ({why}); name it with --target"
    )


def _context(target: Target, plans: Sequence[Plan], named: set[str]) -> Context:
    from corsgen.audit.answers import Context

    unnamed = [p for p in plans if p.name not in named]
    if len(unnamed) > 1:
        names = ", ".join(p.name for p in unnamed)
        raise click.BadParameter(
            f"no snippet in the config names {names}: give at most one policy for the CORS "
            "written by hand",
            param_hint="--policy",
        )
    return Context(
        target.title,
        {p.name: p for p in plans},
        unnamed[0] if unnamed else None,
        fixes(target),
        lambda plan: frozenset(v.case for v in target.shortfalls(plan) if v.rule == "CG501"),
    )


def fixes(target: Target) -> dict[tuple[str, str], str]:
    """Target.fixes as Context takes them: (rule id, generic case) -> the server's case."""
    return {(rule, case): own for rule, case, own in target.fixes}


def found(configs: Sequence[Path], target: Target, plans: Sequence[Plan]) -> Audit:
    """Every finding: the target's own reading, then the model's answers."""
    from corsgen.audit.engine import audit
    from corsgen.audit.reported import Audit
    from corsgen.rules.table import finding

    loaded = target.routes(configs)
    if loaded.routes is None:
        return Audit(reported(loaded.findings))
    scopes = loaded.routes.scopes()
    named = {s.policy for s in scopes if s.policy is not None}
    result = audit(loaded.routes, _context(target, plans, named))
    own = list(loaded.findings)
    if not scopes:
        # Nothing answers CORS, no snippet and no header written by hand: no request the audit
        # sends can show it, and a config passed without the file that includes the snippet
        # would otherwise be `ok`. The same for every target, so said here, not by each.
        own.append(finding("CG406", "none", file=str(configs[0]), server=target.title))
    result.findings[:0] = reported(own)
    return result


def run(configs: Sequence[Path], target: str, policies: Sequence[Path], format_: str) -> None:
    from corsgen.targets import by_name

    plans = [load_plan(path, strict=False) for path in policies]
    result = found(configs, by_name(target), plans)
    findings: list[Reported] = result.findings
    what = shown(configs[0]) if len(configs) == 1 else f"{len(configs)} config files"
    if format_ == "text":
        for line in text(findings, run=what):
            click.echo(line, err=True)
        for note in result.notes:
            click.echo(escape(f"corsgen: {note}"), err=True)
    else:
        click.echo(write(format_, findings, result.notes))
    if blocking([f.finding for f in findings], strict=False):
        raise CorsgenError(f"{len(findings)} problem(s) in {what} and what it includes")
    if format_ == "text":
        warned = f" ({len(findings)} warning(s) above)" if findings else ""
        click.echo(f"{what}: ok{warned}")
