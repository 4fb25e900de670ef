"""`corsgen verify`: render each policy and run each server's own config test on it."""

from __future__ import annotations

from pathlib import Path

import click

from corsgen.cli.options import (
    POLICY,
    command,
    deprecated,
    load_plan,
    policies_refused,
    targets_option,
)
from corsgen.errors import CorsgenError, PolicyError, escape
from corsgen.targets import NAMES, expressible


@command()
@click.argument("policies", nargs=-1, type=POLICY)
@targets_option("Server(s) to verify for; default every one corsgen renders for.")
@click.option(
    "--config",
    "config",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    hidden=True,
    # Deprecated: a server's whole config is audited by `corsgen audit CONFIG --target T`.
    help="Deprecated spelling of `corsgen audit CONFIG --target T`.",
)
def verify(policies: tuple[Path, ...], targets: tuple[str, ...], config: Path | None) -> None:
    """Render and check output with the parsers and each server's own config test."""
    if not policies and config is None:
        raise click.UsageError(
            "give policy files (a server's whole config: corsgen audit CONFIG --target T)"
        )
    if config is not None:
        if len(targets) != 1:
            raise click.UsageError("--config reads one server's config: name it with one --target")
        from corsgen.cli.audit import audit_config

        deprecated("verify --config", "corsgen audit CONFIG --target T")
        audit_config(config, targets[0])
    if policies:
        _verify_policies(policies, targets)


def _verify_policies(policies: tuple[Path, ...], targets: tuple[str, ...]) -> None:
    from corsgen.verify import checked_render, server_check

    skipped: list[str] = []
    total = failed = 0
    for path in policies:
        # A target named is held to the policy (CG530 refuses it); of every target, those whose
        # format cannot express the policy are left out, and said so. A refused policy is said
        # and the next one checked, as check does: one refusal hid every later policy's result.
        try:
            plan = load_plan(path, strict=False, targets=targets or NAMES, refusing=bool(targets))
        except PolicyError as exc:
            click.echo(str(exc), err=True)
            failed += 1
            continue
        chosen = targets or expressible(plan, NAMES)
        for target in (t for t in NAMES if t not in chosen and not targets):
            left_out = "not rendered, its format cannot express this policy (CG530: corsgen "
            click.echo(escape(f"{path}: {target}: {left_out}check --target {target})"))
        for target in chosen:
            result = server_check(checked_render(plan, target), target)
            click.echo(escape(f"{path}: {result}"))
            if result.binary is None:
                skipped.append(target)
        total += len(chosen)
    problems = [policies_refused(failed, len(policies))] if failed else []
    # A CI step that skipped a server must not pass: the missing binary is the failure.
    if skipped:
        names = ", ".join(dict.fromkeys(skipped))
        problems.append(
            f"{len(skipped)} of {total} server check(s) skipped, no binary for {names}; "
            "install it or choose targets with --target"
        )
    if problems:
        raise CorsgenError("; ".join(problems))
