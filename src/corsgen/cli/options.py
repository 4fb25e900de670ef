"""What the commands share: the policy and target options, the request a page makes (explain's
options), loading one policy with its warnings shown, and the command class whose summary is its
whole first paragraph."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from corsgen.errors import Finding, PolicyError, blocking, clip, report
from corsgen.targets import NAMES, TARGETS

if TYPE_CHECKING:
    from corsgen.explain import RequestRefused
    from corsgen.plan import Plan
    from corsgen.probe.client import Site

POLICY = click.Path(exists=True, dir_okay=False, path_type=Path)
TARGET = click.Choice(NAMES)


def kubernetes_name(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """An option's namespace or route name, as Kubernetes takes one: a DNS-1123 label, or for a
    route a DNS-1123 subdomain."""
    from corsgen.targets.kubernetes import label_problem

    dots = param.name == "route"
    if value is not None and (why := label_problem(value, dots)) is not None:
        raise click.BadParameter(f"{value!r} is not a Kubernetes name: {why}", ctx, param)
    return value


# A server config, and the server it is for when the file alone does not say (audit, import).
CONFIG = click.Path(exists=True, dir_okay=False, path_type=Path)


def _distinct(ctx: click.Context, param: click.Parameter, value: tuple[Path, ...]) -> Any:
    """Each config once, though named twice (a.cfg ./a.cfg): a server reads a file once, and
    import wrote each of its policies twice (site_web, site_web_2)."""
    seen: dict[object, Path] = {}
    for path in value:
        try:
            key: object = path.resolve()
        except (OSError, RuntimeError):  # a loop of links: the name itself
            key = path
        seen.setdefault(key, path)
    return tuple(seen.values())


CONFIGS = click.argument("configs", nargs=-1, required=True, type=CONFIG, callback=_distinct)


def _reader(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A target whose configs audit and import read; a usage error for one they do not."""
    from corsgen.targets import by_name, readers

    if value is not None and not by_name(value).reads_configs:
        raise click.BadParameter(
            f"{value} is a manifest corsgen writes, not a config it reads; choose one of "
            + ", ".join(readers()),
            param_hint="--target",
        )
    return value


INFERRED_TARGET = click.option(
    "--target",
    "-t",
    type=TARGET,
    callback=_reader,
    help="The server the config is for (default: inferred).",
)

F = TypeVar("F", bound=Callable[..., Any])


class Command(click.Command):
    """A command whose summary in `corsgen --help` is its whole first docstring paragraph."""

    def get_short_help_str(self, limit: int = 45) -> str:
        # click cuts the summary to fit one line ("exit 1 if any has an..."), dropping the very
        # words that say what the command does; the help formatter wraps it instead.
        if self.short_help:
            return self.short_help
        return " ".join((self.help or "").strip().split("\n\n")[0].split())


def command(name: str | None = None) -> Callable[[Callable[..., Any]], Command]:
    """@click.command with the Command class."""
    return click.command(name, cls=Command)


def targets_option(help: str) -> Callable[[F], F]:
    """A repeatable --target/-t option, into `targets`."""
    return click.option("--target", "-t", "targets", type=TARGET, multiple=True, help=help)


def warn(findings: Sequence[Finding], strict: bool) -> None:
    if blocking(findings, strict):
        raise PolicyError(findings)
    for line in report(findings):
        click.echo(line, err=True)


def policies_refused(failed: int, total: int) -> str:
    """The last line of a command that went on past refused policies (check, verify)."""
    return f"{failed} of {total} polic{'y' if total == 1 else 'ies'} refused"


def load_plan(path: Path, strict: bool, targets: Sequence[str] = (), refusing: bool = True) -> Plan:
    """The policy's plan, its warnings shown, those of the servers of `targets` among them; a
    target's format that cannot express it refuses it (CG530), unless not `refusing`."""
    from corsgen.pipeline import load_and_plan

    plan, warnings = load_and_plan(path, targets, refusing)
    warn(warnings, strict)
    return plan


def attached(plan: Plan, target: str, namespace: str | None, route: str | None) -> Plan:
    """The plan with where a Kubernetes output attaches; a usage error for an option the target
    does not write."""
    from dataclasses import replace

    from corsgen.plan import Attachment

    given = {"namespace": namespace, "route": route}
    for option, value in given.items():
        if value is not None and option not in TARGETS[target].attaches:
            writers = [n for n, t in TARGETS.items() if option in t.attaches]
            raise click.UsageError(f"--{option} is for {', '.join(writers)}, not {target}")
    return replace(plan, attachment=Attachment(namespace, route))


def deprecated(old: str, new: str) -> None:
    """The one line an old spelling prints, for one minor release, before it runs as the new."""
    click.echo(f"corsgen: `{old}` is deprecated; use `{new}`", err=True)


def bad_parameter(exc: RequestRefused) -> click.BadParameter:
    """A request the core refuses, as the usage error of the option that described it."""
    return click.BadParameter(str(exc), param_hint=f"--{exc.part}")


def _reads(_ctx: click.Context, _param: click.Parameter, value: tuple[str, ...]) -> tuple[str, ...]:
    from corsgen.explain import RequestRefused, readable

    try:
        return readable(value)
    except RequestRefused as exc:
        raise bad_parameter(exc) from None


def request_options(hidden: bool = False) -> Callable[[F], F]:
    """The options that describe one request a page makes (explain; probe's old --origin)."""
    options = [
        click.option(
            "--read",
            "reads",
            multiple=True,
            metavar="NAME",
            callback=_reads,
            hidden=hidden,
            help="A response header the script reads (repeatable).",
        ),
        click.option(
            "--credentials",
            is_flag=True,
            hidden=hidden,
            help="The page sends cookies (fetch credentials: 'include').",
        ),
        click.option(
            "--header",
            "headers",
            multiple=True,
            metavar="NAME[: VALUE]",
            hidden=hidden,
            help="A request header the script sets (repeatable); a bare Content-Type "
            "means application/json.",
        ),
        click.option(
            "--method",
            "-X",
            default="GET",
            show_default=True,
            hidden=hidden,
            help="The request's method, as the script writes it.",
        ),
    ]

    def decorate(function: F) -> F:
        for option in options:
            function = option(function)
        return function

    return decorate


class _Seconds(click.FloatRange):
    """click's FloatRange lets nan through (no comparison with it is true); httpx then refused it
    at the first request, an exit 1 instead of a usage error."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        seconds = super().convert(value, param, ctx)
        if seconds != seconds:  # nan
            self.fail(f"{value!r} is not a number of seconds", param, ctx)
        return seconds


def live_site(url: str, hint: str) -> Site:
    """The probed URL's origin and path; a URL that cannot be one is a usage error, as a bad
    --origin is (it was exit 1, as if the server had failed)."""
    from corsgen.errors import CorsgenError
    from corsgen.probe.client import site

    try:
        found = site(url)
    except CorsgenError as exc:
        raise click.BadParameter(str(exc), param_hint=hint) from None
    encoded(url, hint)  # in its path: as probe's --path
    return found


def encoded(value: str, hint: str) -> str:
    """A URL or path as a browser sends it, its spaces and control characters percent-encoded;
    a usage error otherwise."""
    if any(c.isspace() or not c.isprintable() for c in value):
        raise click.BadParameter(
            f"{clip(value)!r}: percent-encode spaces and control characters", param_hint=hint
        )
    return value


# How long a live request may take, and whether its TLS certificate is checked: probe, explain.
TIMEOUT = click.option(
    "--timeout",
    type=_Seconds(0.1, 300),
    default=10.0,
    show_default=True,
    help="Seconds each request may take, in all.",
)
INSECURE = click.option("--insecure", is_flag=True, help="Do not verify TLS certificates.")
