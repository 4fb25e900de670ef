"""`corsgen probe`: a battery of requests against a live server, judged against a policy or for
what any origin can read. `probe URL --origin` is the old spelling of `explain --url URL`."""

from __future__ import annotations

from pathlib import Path

import click

from corsgen.cli.options import (
    INSECURE,
    POLICY,
    TIMEOUT,
    command,
    deprecated,
    encoded,
    live_site,
    load_plan,
    request_options,
)
from corsgen.errors import clip, escape
from corsgen.files import shown
from corsgen.probe.report import FORMATS


def escape_lines(text: str) -> str:
    """Each line escaped: a server's header values must not forge a line of the report. Split
    on newlines alone: splitlines() would also break at a header's \x85 and let it through."""
    return "".join(escape(line) + "\n" for line in text.removesuffix("\n").split("\n"))


def _paths(option: str, values: tuple[str, ...]) -> list[str]:
    for value in values:
        if not encoded(value, option).startswith("/") or value.startswith("//"):
            raise click.BadParameter(
                f"{clip(value)!r}: give a path on the probed host, starting with one /",
                param_hint=option,
            )
    return list(values)


@command()
@click.argument("url")
@click.option("--policy", type=POLICY, help="Hold the server to this policy (conformance mode).")
@click.option(
    "--path",
    "paths",
    multiple=True,
    metavar="PATH",
    help="A path to probe (repeatable); default the URL's.",
)
@click.option(
    "--error-path",
    "error_paths",
    multiple=True,
    metavar="PATH",
    help="A path that answers an error (repeatable); default a missing file beside the "
    "first --path.",
)
@click.option(
    "--format",
    "output",
    type=click.Choice(FORMATS),
    default="text",
    show_default=True,
    help="How to print the report: text, or json or junit (XML) for CI.",
)
@click.option(
    "--max-requests",
    type=click.IntRange(1, 100_000),
    default=2000,
    show_default=True,
    help="Refuse a battery larger than this.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 32),
    default=4,
    show_default=True,
    help="Requests in flight at once.",
)
@TIMEOUT
@INSECURE
@click.option("--dry-run", is_flag=True, help="Print the battery; send nothing.")
# Deprecated: `corsgen explain --url URL` asks about one request.
@click.option("--origin", hidden=True, help="Explain one request from this origin instead.")
@request_options(hidden=True)
def probe(
    url: str,
    policy: Path | None,
    paths: tuple[str, ...],
    error_paths: tuple[str, ...],
    output: str,
    max_requests: int,
    concurrency: int,
    timeout: float,
    insecure: bool,
    dry_run: bool,
    origin: str | None,
    method: str,
    headers: tuple[str, ...],
    credentials: bool,
    reads: tuple[str, ...],
) -> None:
    """Probe a live server's CORS answers: against a policy with --policy, else for what any origin
    can read; exit 1 on any finding."""
    from corsgen.probe.report import RENDER
    from corsgen.probe.report import dry_run as show_battery
    from corsgen.probe.run import Limits, build, error_path, run

    target = live_site(url, "URL")
    plan = load_plan(policy, strict=False) if policy is not None else None
    chosen = _paths("--path", paths) or [target.path]
    errors = _paths("--error-path", error_paths) or [error_path(chosen[0])]
    asked = method != "GET" or headers or credentials or reads
    if origin is None and asked:
        raise click.UsageError("-X, --header, --credentials and --read describe --origin's request")
    if origin is not None and (dry_run or output != "text" or len(chosen) > 1 or error_paths):
        raise click.UsageError(
            "--origin explains one request on one path, as text: drop --dry-run, --format, "
            "--error-path and all but one --path"
        )
    if origin is not None:
        from corsgen.cli.explain import explain_live

        deprecated("probe URL --origin", "corsgen explain --url URL --origin ...")
        held = (plan, policy) if plan is not None and policy is not None else None
        described = (origin, method, headers, credentials, reads)
        explain_live(target, chosen[0], held, *described, timeout=timeout, insecure=insecure)
        return
    built = build(target, plan, chosen, errors)
    if dry_run:
        click.echo(escape_lines(show_battery(target.origin, built.probes)), nl=False)
        return
    if len(built.probes) > max_requests:
        raise click.UsageError(
            f"the battery needs {len(built.probes)} requests, more than --max-requests "
            f"{max_requests}: raise it, or probe fewer paths"
        )
    mode = f"policy {shown(policy)}" if policy is not None else "scan"
    result = run(target, plan, mode, built, Limits(concurrency, timeout, not insecure))
    click.echo(escape_lines(RENDER[output](result)), nl=False)
    if result.findings or result.failed:
        raise click.exceptions.Exit(1)
