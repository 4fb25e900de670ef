"""`corsgen render`: one policy for one server, printed or written to a directory."""

from __future__ import annotations

from pathlib import Path

import click

from corsgen.cli.options import POLICY, TARGET, attached, command, kubernetes_name, load_plan
from corsgen.errors import CorsgenError, escape
from corsgen.files import shown
from corsgen.targets import TARGETS

CONFIG_TESTS = ", ".join(dict.fromkeys(target.config_test for target in TARGETS.values()))


@command("render")
@click.argument("policy", type=POLICY)
@click.option("--target", "-t", type=TARGET, required=True, help="Server to render for.")
@click.option(
    "--out-dir",
    "-o",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write the files here instead of printing them.",
)
@click.option(
    "--namespace",
    callback=kubernetes_name,
    help="Kubernetes outputs: the namespace a whole resource is written in (default: none, "
    "as kustomize's namespace or kubectl -n gives it).",
)
@click.option(
    "--route",
    callback=kubernetes_name,
    help="Kubernetes outputs: the HTTPRoute or VirtualService the output is for (default: the "
    "policy's name with _ as -).",
)
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
@click.option("--force", is_flag=True, help="Overwrite files corsgen did not generate.")
@click.option(
    "--verify",
    "verify_server",
    is_flag=True,
    help=f"Also run the server's own config test ({CONFIG_TESTS}).",
)
def render(
    policy: Path,
    target: str,
    out_dir: Path | None,
    namespace: str | None,
    route: str | None,
    strict: bool,
    force: bool,
    verify_server: bool,
) -> None:
    """Render one policy for one server."""
    from corsgen.verify import checked_render

    plan = attached(load_plan(policy, strict, (target,)), target, namespace, route)
    files = checked_render(plan, target)
    if verify_server:
        from corsgen.verify import server_check

        result = server_check(files, target)
        click.echo(escape(str(result)), err=True)
        if result.binary is None:  # as with verify: a skipped server check is no pass
            raise CorsgenError(f"--verify: no binary for {target}; nothing was written")
    if out_dir is not None:
        from corsgen.sync import one_policy, write_generated

        # Through sync's transaction: two writers into one directory take turns, and a shared
        # file that also serves other policies there is not resized for this one alone.
        desired = one_policy(out_dir, files)
        write_generated(desired, force, alone=(plan.name, target))
        for path in desired.files:
            click.echo(shown(path))
        return
    for index, (name, text) in enumerate(files.items()):
        if len(files) > 1:
            click.echo(("\n" if index else "") + f"# ===== {name} =====")
        click.echo(text, nl=False)
