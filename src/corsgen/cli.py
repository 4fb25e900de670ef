"""A thin click layer: parse flags, call the core, print. Exit 0 ok, 1 refused, 2 usage."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import click

from corsgen import __version__
from corsgen.errors import CorsgenError, Finding, PolicyError
from corsgen.plan import Plan, load_and_plan
from corsgen.render import TARGETS, Target, render
from corsgen.rules import RULES
from corsgen.verify import check_structure
from corsgen.verify.servers import server_check

POLICY = click.Path(exists=True, dir_okay=False, path_type=Path)
TARGET = click.Choice(TARGETS)


def _warn(findings: Sequence[Finding], strict: bool) -> None:
    if strict and findings:
        raise PolicyError(findings)
    for finding in findings:
        click.echo(str(finding), err=True)


def _plan(path: Path, strict: bool) -> Plan:
    plan, warnings = load_and_plan(path)
    _warn(warnings, strict)
    return plan


def _rendered(plan: Plan, target: Target) -> dict[str, str]:
    files = render(plan, target)
    check_structure(files, target)
    return files


def _write(out_dir: Path, files: dict[str, str]) -> None:
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            # A temporary file and a rename: a reader never sees half a snippet.
            fd, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=out_dir)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            os.replace(tmp, out_dir / name)
    except OSError as exc:
        raise CorsgenError(f"cannot write to {out_dir}: {exc.strerror or exc}") from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="corsgen")
def cli() -> None:
    """Render typed CORS policies into nginx, Apache httpd and Caddy configuration."""


@cli.command()
@click.argument("policies", nargs=-1, required=True, type=POLICY)
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
def check(policies: tuple[Path, ...], strict: bool) -> None:
    """Check policies for unsafe combinations; exit 1 if any has an error."""
    failed = 0
    for path in policies:
        try:
            _plan(path, strict)
        except PolicyError as exc:
            click.echo(str(exc), err=True)
            failed += 1
            continue
        click.echo(f"{path}: ok")
    if failed:
        raise CorsgenError(
            f"{failed} of {len(policies)} polic{'y' if len(policies) == 1 else 'ies'} refused"
        )


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
@click.option(
    "--verify",
    "verify_server",
    is_flag=True,
    help="Also run the server's own config test (nginx -t, apache2 -t, caddy validate).",
)
def render_command(
    policy: Path, target: Target, out_dir: Path | None, strict: bool, verify_server: bool
) -> None:
    """Render one policy for one server."""
    files = _rendered(_plan(policy, strict), target)
    if verify_server:
        click.echo(str(server_check(files, target)), err=True)
    if out_dir is not None:
        _write(out_dir, files)
        for name in files:
            click.echo(str(out_dir / name))
        return
    for index, (name, text) in enumerate(files.items()):
        if len(files) > 1:
            click.echo(("\n" if index else "") + f"# ===== {name} =====")
        click.echo(text, nl=False)


@cli.command()
@click.argument("policies", nargs=-1, required=True, type=POLICY)
@click.option(
    "--target",
    "-t",
    "targets",
    type=TARGET,
    multiple=True,
    help="Server(s) to verify for; default all three.",
)
def verify(policies: tuple[Path, ...], targets: tuple[Target, ...]) -> None:
    """Render and check output with the parsers and with every server binary found."""
    for path in policies:
        plan = _plan(path, strict=False)
        for target in targets or TARGETS:
            result = server_check(_rendered(plan, target), target)
            click.echo(f"{path}: {result}")


@cli.command()
def rules() -> None:
    """List every rule: id, severity, name and what it refuses."""
    for rule in RULES:
        click.echo(f"{rule.id}  {rule.severity:<7}  {rule.slug:<27}  {rule.summary}")


def main(argv: Sequence[str] | None = None) -> int:
    try:
        cli.main(
            args=list(argv) if argv is not None else None,
            prog_name="corsgen",
            standalone_mode=False,
        )
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return 1
    except CorsgenError as exc:
        click.echo(f"corsgen: {exc}" if not isinstance(exc, PolicyError) else str(exc), err=True)
        return 1
    return 0
