"""A thin click layer, one module per command: parse flags, call the core, print.

Exit 0 ok, 1 refused or findings, 2 usage, 3 an unexpected error (its traceback in a file),
130 interrupted. Each command imports the rest of corsgen it needs when it runs: `corsgen render`
of a small policy must not wait for pydantic (the manifest), the diffs of `sync` or the servers'
checks.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

try:  # the tenth of a second a Ctrl-C can land in before main() runs, importing click and ours
    import click

    from corsgen import __version__
    from corsgen.cli import (
        audit,
        check,
        explain,
        import_,
        init,
        probe,
        render,
        rules,
        schema,
        sync,
        verify,
    )
    from corsgen.cli.options import Command
    from corsgen.errors import CorsgenError, PolicyError, clip, escape
    from corsgen.targets import titles
except KeyboardInterrupt:  # as main() answers one: no traceback
    print("Aborted.", file=sys.stderr)
    raise SystemExit(130) from None

INTERNAL_ERROR = 3
INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a program Ctrl-C stopped


class _Group(click.Group):
    command_class = Command

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:  # click's own handling would print a blank line first
            raise click.Abort from None


@click.group(
    cls=_Group,
    context_settings={"help_option_names": ["-h", "--help"]},
    help=f"Render typed CORS policies into {titles()} configuration.",
)
@click.version_option(__version__, prog_name="corsgen", message="%(prog)s %(version)s")
def cli() -> None:
    pass


for _command in (
    check.check,
    render.render,
    verify.verify,
    audit.audit,
    import_.import_,
    sync.sync,
    schema.schema,
    init.init,
    rules.rules,
    explain.explain,
    probe.probe,
):
    cli.add_command(_command)


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


def _crashed(exc: Exception, argv: Sequence[str]) -> int:
    """One line for an error corsgen did not expect; its traceback goes to a file of its own."""
    import os
    import tempfile
    import traceback

    what = escape(clip(f"{type(exc).__name__}: {exc}"))
    try:
        # mkstemp: a new file, mode 0600, under a name nobody else chose.
        fd, name = tempfile.mkstemp(prefix="corsgen-crash-", suffix=".txt")
        with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace") as handle:
            handle.write(f"corsgen {__version__}, Python {sys.version.split()[0]}\n")
            handle.write(f"arguments: {list(argv)!r}\n\n")
            handle.write("".join(traceback.format_exception(exc)))
    except OSError as error:
        where = f"the traceback could not be written ({escape(str(error))})"
    else:
        where = f"the traceback is in {escape(name)}"
    click.echo(f"corsgen: internal error ({what}); {where}; please report it", err=True)
    return INTERNAL_ERROR


def main(argv: Sequence[str] | None = None) -> int:
    import warnings

    # Python's re warns of a config's [[ or -- in a class (PCRE reads them otherwise): a line of
    # our source on the user's screen, about a regex each target already judges on its own.
    warnings.filterwarnings("ignore", r"Possible (nested set|set \w)", FutureWarning)
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
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("Aborted.", err=True)
        return INTERRUPTED
    except CorsgenError as exc:
        # A PolicyError is one escaped line per finding already; anything else becomes one line.
        text = str(exc) if isinstance(exc, PolicyError) else escape(f"corsgen: {exc}")
        click.echo(text, err=True)
        return 1
    except Exception as exc:
        return _crashed(exc, sys.argv[1:] if argv is None else argv)
    return code if isinstance(code, int) else 0
