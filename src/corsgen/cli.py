"""A thin click layer: parse flags, call the core, print. Exit 0 ok, 1 refused, 2 usage."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from corsgen import __version__
from corsgen.cli_live import explain, probe
from corsgen.cli_shared import POLICY, Command, load_plan, warn
from corsgen.errors import CorsgenError, Finding, PolicyError, escape, report
from corsgen.files import shown
from corsgen.targets import NAMES, TARGETS, titles

# Each command imports the rest of corsgen it needs when it runs: `corsgen render` of a small
# policy must not wait for pydantic (the manifest), the diffs of `sync` or the servers' checks.
if TYPE_CHECKING:
    from corsgen.plan import Plan
    from corsgen.sync import Change

TARGET = click.Choice(NAMES)
CONFIG_TESTS = ", ".join(target.config_test for target in TARGETS.values())


def _rendered(plan: Plan, target: str) -> dict[str, str]:
    from corsgen.render import render
    from corsgen.verify import check_structure

    files = render(plan, target)
    check_structure(files, target)
    return files


class _Group(click.Group):
    command_class = Command


@click.group(
    cls=_Group,
    context_settings={"help_option_names": ["-h", "--help"]},
    help=f"Render typed CORS policies into {titles()} configuration.",
)
@click.version_option(__version__, prog_name="corsgen", message="%(prog)s %(version)s")
def cli() -> None:
    pass


F = TypeVar("F", bound=Callable[..., Any])


def _targets(help: str) -> Callable[[F], F]:
    """A repeatable --target/-t option, into `targets`."""
    return click.option("--target", "-t", "targets", type=TARGET, multiple=True, help=help)


@cli.command()
@click.argument("policies", nargs=-1, required=True, type=POLICY)
@_targets("Also note where this server falls short of the policy (CG501); repeatable.")
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


@cli.command(name="render")
@click.argument("policy", type=POLICY)
@click.option("--target", "-t", type=TARGET, required=True, help="Server to render for.")
@click.option(
    "--out-dir",
    "-o",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write the files here instead of printing them.",
)
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
@click.option("--force", is_flag=True, help="Overwrite files corsgen did not generate.")
@click.option(
    "--verify",
    "verify_server",
    is_flag=True,
    help=f"Also run the server's own config test ({CONFIG_TESTS}).",
)
def render_command(
    policy: Path,
    target: str,
    out_dir: Path | None,
    strict: bool,
    force: bool,
    verify_server: bool,
) -> None:
    """Render one policy for one server."""
    plan = load_plan(policy, strict, (target,))
    files = _rendered(plan, target)
    if verify_server:
        from corsgen.verify import server_check

        result = server_check(files, target)
        click.echo(escape(str(result)), err=True)
        if result.binary is None:  # as with verify: a skipped server check is no pass
            raise CorsgenError(f"--verify: no binary for {target}; nothing was written")
    if out_dir is not None:
        from corsgen.sync import foreign, refuse_foreign, refuse_shrinking
        from corsgen.writing import locked, nearest_existing, write_atomically

        paths = {out_dir / name: text for name, text in files.items()}
        # Two renders into one directory wait for each other, like two syncs of one manifest.
        with locked(nearest_existing(out_dir), f"another corsgen is writing to {shown(out_dir)}"):
            refuse_foreign(foreign(paths), force)
            refuse_shrinking(out_dir, plan.name, target, files)
            write_atomically(paths)
        for path in paths:
            click.echo(shown(path))
        return
    for index, (name, text) in enumerate(files.items()):
        if len(files) > 1:
            click.echo(("\n" if index else "") + f"# ===== {name} =====")
        click.echo(text, nl=False)


@cli.command()
@click.argument("policies", nargs=-1, type=POLICY)
@_targets("Server(s) to verify for; default every one corsgen renders for.")
@click.option(
    "--config",
    "config",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Also read this server config, with what it includes, and report every place where it "
    "undoes a corsgen snippet (needs one --target).",
)
def verify(policies: tuple[Path, ...], targets: tuple[str, ...], config: Path | None) -> None:
    """Render and check output with the parsers and each server's own config test."""
    if not policies and config is None:
        raise click.UsageError("give policy files, --config FILE, or both")
    if config is not None:
        if len(targets) != 1:
            raise click.UsageError("--config reads one server's config: name it with one --target")
        _verify_config(config, targets[0])
    if policies:
        _verify_policies(policies, targets)


def _verify_config(config: Path, target: str) -> None:
    findings = TARGETS[target].audit_config(config)
    # A screenful of the run, then how many more: 230,000 nested locations printed 60 MB.
    for line in report(findings, run=shown(config)):
        click.echo(line, err=True)
    if findings:
        raise CorsgenError(f"{len(findings)} problem(s) in {shown(config)} and what it includes")
    click.echo(f"{shown(config)}: ok")


def _verify_policies(policies: tuple[Path, ...], targets: tuple[str, ...]) -> None:
    from corsgen.verify import server_check

    skipped: list[str] = []
    for path in policies:
        plan = load_plan(path, strict=False, targets=targets or NAMES)
        for target in targets or NAMES:
            result = server_check(_rendered(plan, target), target)
            click.echo(escape(f"{path}: {result}"))
            if result.binary is None:
                skipped.append(target)
    # A CI step that skipped a server must not pass: the missing binary is the failure.
    if skipped:
        total = len(policies) * len(targets or NAMES)
        names = ", ".join(dict.fromkeys(skipped))
        raise CorsgenError(
            f"{len(skipped)} of {total} server check(s) skipped, no binary for {names}; "
            "install it or choose targets with --target"
        )


@cli.command()
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
    from corsgen.sync import apply, compare, desired_files
    from corsgen.writing import locked, nearest_existing

    path = manifest or find_manifest(Path.cwd())
    # The manifest itself is the lock: concurrent syncs of one tree take turns, and no lock file
    # of ours appears in the user's repository. --check only reads, so checks share it.
    with locked(path, f"another corsgen sync is running on {shown(path)}", shared=check):
        loaded = load_manifest(path)
        desired = desired_files(loaded, allow_outside)
        for line in report(desired.warnings):
            click.echo(line, err=True)
        with ExitStack() as held:
            # And each output directory, as `render --out-dir` locks it: a render into one of
            # them waits for the sync, whose shared files would not be sized for its policy.
            dirs = {nearest_existing(d).resolve(): d for d in sorted(desired.suffixes)}
            for lock in sorted(dirs):  # in one order, so two syncs never wait for each other
                busy = f"another corsgen is writing to {shown(dirs[lock])}"
                held.enter_context(locked(lock, busy, shared=check))
            changes = compare(desired)
            if check:
                _report_check(changes, loaded.root, len(desired.files))
                return
            apply(changes, force, prune)
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


@cli.command()
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
        click.echo(
            "corsgen: `schema --manifest` is deprecated; use `corsgen schema manifest`", err=True
        )
        kind = "manifest"
    from corsgen.manifest import Manifest
    from corsgen.policy.schema import Policy
    from corsgen.starter import json_schema

    model = Manifest if kind == "manifest" else Policy
    click.echo(json_schema(model))


@cli.command()
def init() -> None:
    """Write a commented starter policy (cors/api.toml) and manifest (corsgen.toml) here."""
    from corsgen.starter import write_starter

    for path in write_starter(Path.cwd()):
        click.echo(escape(f"wrote {path}"))


@cli.command()
def rules() -> None:
    """List every rule: id, severity, name and what it refuses."""
    from corsgen.rules.table import RULES

    for rule in RULES:
        click.echo(f"{rule.id}  {rule.severity:<7}  {rule.slug:<27}  {rule.summary}")


cli.add_command(explain)
cli.add_command(probe)


def _show(exc: click.ClickException) -> None:
    """click's own show(), with the message one escaped line: click quotes some arguments verbatim.

    click's one layout of its own, a list of choices on lines of their own, is folded first.
    """
    ctx = exc.ctx if isinstance(exc, click.UsageError) else None
    if (
        ctx is not None and type(exc).__name__ == "NoArgsIsHelpError"
    ):  # click >= 8.2: bare `corsgen`
        click.echo(ctx.get_help(), err=True)
        return
    if ctx is not None:
        click.echo(f"{ctx.get_usage()}\nTry '{ctx.command_path} --help' for help.\n", err=True)
    message = exc.format_message().replace(":\n\t", ": ").replace(",\n\t", ", ")
    click.echo(escape(f"Error: {message}"), err=True)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        # Not standalone, click returns a command's Exit code (explain's 1 for "blocked").
        code = cli.main(
            args=list(argv) if argv is not None else None,
            prog_name="corsgen",
            standalone_mode=False,
        )
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        _show(exc)
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return 1
    except CorsgenError as exc:
        # A PolicyError is one escaped line per finding already; anything else becomes one line.
        text = str(exc) if isinstance(exc, PolicyError) else escape(f"corsgen: {exc}")
        click.echo(text, err=True)
        return 1
    return code if isinstance(code, int) else 0
