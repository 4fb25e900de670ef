"""`corsgen sync`: render everything the manifest names, writing only what changed."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from corsgen.cli.options import command
from corsgen.errors import CorsgenError, report
from corsgen.files import shown

if TYPE_CHECKING:
    from corsgen.sync import Change


@command()
@click.option("--check", is_flag=True, help="Write nothing; exit 1 and show diffs if out of date.")
@click.option("--prune", is_flag=True, help="Remove generated files no policy produces any more.")
@click.option("--force", is_flag=True, help="Overwrite files corsgen did not generate.")
@click.option(
    "--manifest",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="corsgen.toml or pyproject.toml; default: the one in the current directory.",
)
@click.option(
    "--exit-non-zero-on-change",
    is_flag=True,
    help="Exit 1 when files were written or orphans remain (for pre-commit).",
)
@click.option(
    "--allow-outside",
    is_flag=True,
    help="Allow out_dir and policy globs that lead outside the manifest's directory.",
)
def sync(
    check: bool,
    prune: bool,
    force: bool,
    manifest: Path | None,
    exit_non_zero_on_change: bool,
    allow_outside: bool,
) -> None:
    """Render everything the manifest names, writing only what changed."""
    from corsgen.manifest import find_manifest, load_manifest
    from corsgen.sync import desired_files, out_of_date, write_generated
    from corsgen.writing import locked

    path = manifest or find_manifest(Path.cwd())
    # The manifest itself is the lock: concurrent syncs of one tree take turns, and no lock file
    # of ours appears in the user's repository. --check only reads, so checks share it.
    with locked(path, f"another corsgen sync is running on {shown(path)}", shared=check):
        loaded = load_manifest(path)
        desired = desired_files(loaded, allow_outside)
        for line in report(desired.warnings):
            click.echo(line, err=True)
        if check:
            _report_check(out_of_date(desired), loaded.root, len(desired.files))
            return
        # It locks each output directory too, as `render --out-dir` does: a render into one of
        # them waits for the sync, whose shared files would not be sized for its policy.
        changes = write_generated(desired, force, prune)
    _report_sync(changes, loaded.root, prune, len(desired.files))
    if exit_non_zero_on_change and changes:
        raise CorsgenError(f"{len(changes)} file(s) changed or orphaned; review and stage them")


def _report_check(changes: Sequence[Change], root: Path, total: int) -> None:
    from corsgen.sync import relative

    for change in changes:
        click.echo(change.diff(root), nl=False)
    for change in changes:
        click.echo(f"{relative(change.path, root)}: {change.describe()}", err=True)
    if changes:
        raise CorsgenError(f"{len(changes)} file(s) out of date; run `corsgen sync`")
    click.echo(f"corsgen: {total} file(s) up to date", err=True)


def _report_sync(changes: Sequence[Change], root: Path, prune: bool, total: int) -> None:
    from corsgen.sync import DESCRIBE, relative

    if not changes:
        click.echo(f"corsgen: {total} file(s) up to date", err=True)
    for change in changes:
        if change.state != "orphan":
            click.echo(f"wrote {relative(change.path, root)} ({change.state})")
        elif prune:
            click.echo(f"removed {relative(change.path, root)} (orphan)")
        else:
            click.echo(f"{relative(change.path, root)}: {DESCRIBE['orphan']}", err=True)
