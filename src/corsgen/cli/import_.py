"""`corsgen import`: each hand-written CORS configuration of a server's config, as a policy."""

from __future__ import annotations

from pathlib import Path

import click

from corsgen.cli.audit import infer
from corsgen.cli.options import CONFIGS, INFERRED_TARGET, command
from corsgen.errors import blocking, escape
from corsgen.files import shown


@command("import")
@CONFIGS
@INFERRED_TARGET
@click.option(
    "--out-dir",
    "-o",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("cors"),
    show_default=True,
    help="Where to write the policies; an existing file is never overwritten.",
)
def import_(configs: tuple[Path, ...], target: str | None, out_dir: Path) -> None:
    """Write a policy for each place a server's config answers CORS by hand, stating what it
    grants today, and print what rendering each would change; the config is never written.
    Given Kubernetes manifests with Ingresses, a policy for each Ingress that enables
    ingress-nginx's CORS: what ingress-nginx enforces, and how its Gateway API translations
    answer."""
    from corsgen.importing import imported, left_out, where, write_policies
    from corsgen.targets import by_name

    texts = _ingress_texts(configs)
    if texts is not None:
        if target is not None:
            raise click.UsageError("--target does not apply to Ingress manifests")
        _ingresses(texts, configs, out_dir)
        return
    name = target or infer(configs)
    loaded = by_name(name).routes(configs)
    # A config the server would not load (CG401: an Include of nothing) grants nothing today.
    if loaded.routes is None or blocking(loaded.findings, strict=False):
        from corsgen.errors import PolicyError

        raise PolicyError(loaded.findings)
    policies = imported(loaded.routes, out_dir, name, configs)
    write_policies(policies, configs)
    for policy in policies:
        if policy.path is None:  # why, then what was dropped on the way
            reason, *dropped = policy.dropped
            click.echo(escape(f"{where(policy.scope)}: nothing imported: {reason}"))
            _dropped(dropped)
            continue
        click.echo(escape(f"{shown(policy.path)}: {where(policy.scope)}"))
        _dropped(policy.dropped)
        for change in policy.changes:
            click.echo(escape(f"  rendering it changes {change}"))
        if not policy.changes:
            click.echo("  rendering it changes nothing: the config answers as the policy promises")
        for note in policy.shortfalls:  # what the server does instead of the promise's answers
            click.echo(f"  {note}")
    if not policies:
        click.echo(escape(f"{shown(configs[0])}: no CORS written by hand to import"))
    left = left_out(loaded.routes)
    if left is not None:
        click.echo(escape(f"corsgen: {left}"), err=True)  # as the audit says what it left out


def _dropped(dropped: list[str]) -> None:
    for line in dropped:
        click.echo(escape(f"  dropped: {line}"))


def _ingress_texts(configs: tuple[Path, ...]) -> dict[Path, str] | None:
    """Each file's text when every one holds Ingress manifests, None when none does; a usage
    error for a mix."""
    from corsgen.ingress.manifests import holds_ingress
    from corsgen.server_config import decode_config, read_config

    texts = {path: decode_config(read_config(path)) for path in configs}
    holding = [path for path, text in texts.items() if holds_ingress(text)]
    if not holding:
        return None
    if len(holding) < len(texts):
        others = ", ".join(shown(p) for p in texts if p not in holding)
        raise click.UsageError(f"{others} holds no Ingress: import Ingress manifests on their own")
    return texts


def _ingresses(texts: dict[Path, str], configs: tuple[Path, ...], out_dir: Path) -> None:
    from corsgen.audit.engine import MAX_SCOPES
    from corsgen.importing import where, write_policies
    from corsgen.ingress.importing import enabling, imported
    from corsgen.ingress.manifests import read_text
    from corsgen.ingress.report import lines

    found = [i for path, text in texts.items() for i in read_text(text, shown(path))]
    done = imported(found, out_dir)
    write_policies([item.policy for item in done], configs)
    for item in done:
        policy = item.policy
        if policy.path is None:
            click.echo(escape(f"{where(policy.scope)}: nothing imported: {policy.dropped[0]}"))
        else:
            click.echo(escape(f"{shown(policy.path)}: {where(policy.scope)}"))
        for line in lines(item):
            click.echo(escape(f"  {line}"))
    if not done:
        click.echo(escape(f"{shown(configs[0])}: no Ingress enables ingress-nginx's CORS"))
    count = len(enabling(found))
    if count > MAX_SCOPES:  # as the server-config import says what it left out
        click.echo(
            f"corsgen: imported the first {MAX_SCOPES:,} of {count:,} Ingresses with CORS; "
            f"the other {count - MAX_SCOPES:,} are not imported",
            err=True,
        )
