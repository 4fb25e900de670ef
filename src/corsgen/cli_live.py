"""The commands that ask about one live or modelled request rather than render: `explain`, and
`probe` (which, given --origin, explains one request against the live server)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from corsgen.cli_shared import POLICY, Command, load_plan
from corsgen.errors import CorsgenError, clip, escape
from corsgen.files import shown

if TYPE_CHECKING:
    from corsgen.explain import Trace
    from corsgen.fetch import Request
    from corsgen.plan import Plan
    from corsgen.probe.client import Site
    from corsgen.probe.run import Limits


def _origin(text: str) -> str:
    """The Origin a browser would send for a page at `text`; usage error if it sends none such."""
    from corsgen.origins import OriginError, parse_origin

    if text == "null":
        return text
    if text.startswith(("file:", "data:")):
        raise click.BadParameter(
            f"a {text.split(':')[0]}: page sends Origin null", param_hint="--origin"
        )
    try:
        return str(parse_origin(text))
    except OriginError as exc:
        # The reason whole, the origin clipped: it may be ten thousand characters long.
        reason = str(exc).replace(repr(text), repr(clip(text)))
        raise click.BadParameter(reason, param_hint="--origin") from None


def _valid(text: str, option: str, what: str) -> str:
    from corsgen.fetch import is_token

    if not is_token(text):
        raise click.BadParameter(f"{clip(text)!r} is not {what}: fetch() throws", param_hint=option)
    return text


def _author(headers: tuple[str, ...]) -> list[tuple[str, str]]:
    """--header NAME or 'NAME: value'; a bare Content-Type is JSON's, the usual reason to ask."""
    from corsgen.fetch import is_forbidden_request_header

    out = []
    for text in headers:
        name, colon, value = text.partition(":")
        name, value = _valid(name.strip(), "--header", "a header name"), value.strip(" \t")
        if is_forbidden_request_header(name):
            raise click.BadParameter(
                f"fetch() drops {name}: the browser sets it itself", param_hint="--header"
            )
        if any(c in "\r\n\0" or "\ud800" <= c <= "\udfff" for c in value):
            raise click.BadParameter(f"{clip(text)!r}: not a header value", param_hint="--header")
        if not colon:
            value = "application/json" if name.lower() == "content-type" else "1"
        out.append((name, value))
    return out


def _reads(reads: tuple[str, ...]) -> tuple[str, ...]:
    from corsgen.fetch import NEVER_EXPOSED

    for name in reads:
        if _valid(name, "--read", "a header name").lower() in NEVER_EXPOSED:
            raise click.BadParameter(f"a script can never read {name}", param_hint="--read")
    return reads


def _method(text: str) -> str:
    """The method as fetch() sends it; one it refuses is a usage error."""
    from corsgen.fetch import FORBIDDEN_METHODS, normalize_method

    if _valid(text, "--method", "a method").upper() in FORBIDDEN_METHODS:
        raise click.BadParameter(f"fetch() refuses {text}", param_hint="--method")
    return normalize_method(text)


def _request_options(command: Callable[..., None]) -> Callable[..., None]:
    """The options that describe one request a page makes (explain, and probe --origin)."""
    options = [
        click.option(
            "--read",
            "reads",
            multiple=True,
            metavar="NAME",
            callback=lambda _ctx, _param, value: _reads(value),
            help="A response header the script reads (repeatable).",
        ),
        click.option(
            "--credentials",
            is_flag=True,
            help="The page sends cookies (fetch credentials: 'include').",
        ),
        click.option(
            "--header",
            "headers",
            multiple=True,
            metavar="NAME[: VALUE]",
            help="A request header the script sets (repeatable); a bare Content-Type "
            "means application/json.",
        ),
        click.option(
            "--method",
            "-X",
            default="GET",
            show_default=True,
            help="The request's method, as the script writes it.",
        ),
    ]
    for option in options:
        command = option(command)
    return command


@click.command(cls=Command)
@click.argument("policy", type=POLICY)
@click.option("--origin", required=True, help="The page's origin, e.g. https://app.example.com.")
@_request_options
def explain(
    policy: Path,
    origin: str,
    method: str,
    headers: tuple[str, ...],
    credentials: bool,
    reads: tuple[str, ...],
) -> None:
    """Explain what a browser does with one request to a server carrying corsgen's output: the
    preflight, the answers, the verdict, and which policy key to change; exit 1 when blocked."""
    from corsgen.explain import offline_trace

    plan = load_plan(policy, strict=False)
    request, author = _page_request(origin, method, headers, credentials)
    result = offline_trace(plan, request, author, reads)
    if _show_trace(
        result,
        f"{shown(policy)}, as corsgen's output answers on a server that keeps every promise:",
    ):
        return
    click.echo(escape(f"blocked; to allow it, change {shown(policy)}:"))
    _show_fixes(result, plan)
    raise click.exceptions.Exit(1)


def _page_request(
    origin: str, method: str, headers: tuple[str, ...], credentials: bool
) -> tuple[Request, list[tuple[str, str]]]:
    from corsgen.fetch import Request, unsafe_names

    author = _author(headers)
    return Request(_origin(origin), _method(method), credentials, unsafe_names(author)), author


def _show_trace(result: Trace, heading: str) -> bool:
    """Print the trace under its heading, and "allowed" when it is; whether it is."""
    from corsgen.explain import lines

    click.echo(escape(heading))
    for line in lines(result):
        click.echo(escape(line))
    if result.allowed:
        click.echo("allowed")
    return result.allowed


def _show_fixes(result: Trace, plan: Plan) -> None:
    from corsgen.explain import fixes

    for fix in fixes(result, plan.any_origin):
        click.echo(escape(f"  {fix}"))


def escape_lines(text: str) -> str:
    """Each line escaped: a server's header values must not forge a line of the report. Split
    on newlines alone: splitlines() would also break at a header's \x85 and let it through."""
    return "".join(escape(line) + "\n" for line in text.removesuffix("\n").split("\n"))


def _explain_live(
    target: Site,
    path: str,
    plan: Plan | None,
    policy: Path | None,
    origin: str,
    method: str,
    headers: tuple[str, ...],
    credentials: bool,
    reads: tuple[str, ...],
    limits: Limits,
) -> None:
    """probe URL --origin: explain one request against the live server, and, with --policy,
    whether the server or the policy is what blocks it."""
    from corsgen.explain import offline_trace, trace
    from corsgen.probe.client import Client

    request, author = _page_request(origin, method, headers, credentials)
    with Client(target, limits.timeout, 1, limits.verify) as client:

        def send(m: str, h: list[tuple[str, str]]) -> tuple[int, list[tuple[str, str]]]:
            got = client.send(m, path, h)
            if got.error:
                raise CorsgenError(f"{m} {target.url(path)}: {got.error}")
            return got.status, got.headers

        result = trace(request, author, send, reads)
    if _show_trace(result, f"{target.url(path)} answers:"):
        return
    if plan is not None and policy is not None:
        offline = offline_trace(plan, request, author, reads)
        if offline.allowed:
            click.echo(
                escape(
                    f"blocked, though {shown(policy)} allows it: the server does not answer as "
                    f"corsgen's output would; probe it with --policy {shown(policy)}"
                )
            )
        else:
            click.echo(escape(f"blocked, and {shown(policy)} refuses it too; to allow it, change:"))
            _show_fixes(offline, plan)  # the policy's reasons, not the server's
    else:
        click.echo("blocked")
    raise click.exceptions.Exit(1)


def _paths(option: str, values: tuple[str, ...]) -> list[str]:
    for value in values:
        if any(c.isspace() or not c.isprintable() for c in value):
            raise click.BadParameter(
                f"{clip(value)!r}: percent-encode spaces and control characters", param_hint=option
            )
        if not value.startswith("/") or value.startswith("//"):
            raise click.BadParameter(
                f"{clip(value)!r}: give a path on the probed host, starting with one /",
                param_hint=option,
            )
    return list(values)


# How hard probe may press on a server: (option, type, default, help).
LIMITS = (
    ("--max-requests", click.IntRange(1, 100_000), 2000, "Refuse a battery larger than this."),
    ("--concurrency", click.IntRange(1, 32), 4, "Requests in flight at once."),
    ("--timeout", click.FloatRange(0.1, 300), 10.0, "Seconds each request may take, in all."),
)


def _limit_options(command: Callable[..., None]) -> Callable[..., None]:
    for name, kind, default, text in reversed(LIMITS):
        command = click.option(name, type=kind, default=default, show_default=True, help=text)(
            command
        )
    return command


@click.command(cls=Command)
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
    type=click.Choice(["text", "json", "junit"]),
    default="text",
    show_default=True,
)
@_limit_options
@click.option("--insecure", is_flag=True, help="Do not verify TLS certificates.")
@click.option("--dry-run", is_flag=True, help="Print the battery; send nothing.")
@click.option("--origin", help="Explain one request from this origin instead (see explain).")
@_request_options
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
    from corsgen.probe.client import site
    from corsgen.probe.report import RENDER
    from corsgen.probe.report import dry_run as show_battery
    from corsgen.probe.run import Limits, build, error_path, run

    target = site(url)
    plan = load_plan(policy, strict=False) if policy is not None else None
    chosen = _paths("--path", paths) or [target.path]
    errors = _paths("--error-path", error_paths) or [error_path(chosen[0])]
    limits = Limits(concurrency, timeout, not insecure)
    asked = method != "GET" or headers or credentials or reads
    if origin is None and asked:
        raise click.UsageError("-X, --header, --credentials and --read describe --origin's request")
    if origin is not None and (dry_run or output != "text" or len(chosen) > 1 or error_paths):
        raise click.UsageError(
            "--origin explains one request on one path, as text: drop --dry-run, --format, "
            "--error-path and all but one --path"
        )
    if origin is not None:
        _explain_live(
            target, chosen[0], plan, policy, origin, method, headers, credentials, reads, limits
        )
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
    result = run(target, plan, mode, built, limits)
    click.echo(escape_lines(RENDER[output](result)), nl=False)
    if result.findings or result.failed:
        raise click.exceptions.Exit(1)
