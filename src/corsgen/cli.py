"""A thin click layer: parse flags, call the core, print. Exit 0 ok, 1 refused, 2 usage."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from corsgen import __version__
from corsgen.errors import CorsgenError, Finding, PolicyError, escape
from corsgen.fsio import shown
from corsgen.targets import NAMES, TARGETS, titles

# Each command imports the rest of corsgen it needs when it runs: `corsgen render` of a small
# policy must not wait for pydantic (the manifest), the diffs of `sync` or the servers' checks.
if TYPE_CHECKING:
    from corsgen.explain import Trace
    from corsgen.fetch import Request
    from corsgen.plan import Plan
    from corsgen.probe.client import Site
    from corsgen.probe.run import Limits
    from corsgen.sync import Change

POLICY = click.Path(exists=True, dir_okay=False, path_type=Path)
TARGET = click.Choice(NAMES)
CONFIG_TESTS = ", ".join(target.config_test for target in TARGETS.values())


def _warn(findings: Sequence[Finding], strict: bool) -> None:
    if strict and findings:
        raise PolicyError(findings)
    for finding in findings:
        click.echo(str(finding), err=True)


def _plan(path: Path, strict: bool) -> Plan:
    from corsgen.pipeline import load_and_plan

    plan, warnings = load_and_plan(path)
    _warn(warnings, strict)
    return plan


def _rendered(plan: Plan, target: str) -> dict[str, str]:
    from corsgen.render import render
    from corsgen.verify import check_structure

    files = render(plan, target)
    check_structure(files, target)
    return files


class _Command(click.Command):
    """A command whose summary in `corsgen --help` is its whole first docstring paragraph."""

    def get_short_help_str(self, limit: int = 45) -> str:
        # click cuts the summary to fit one line ("exit 1 if any has an..."), dropping the very
        # words that say what the command does; the help formatter wraps it instead.
        if self.short_help:
            return self.short_help
        return " ".join((self.help or "").strip().split("\n\n")[0].split())


class _Group(click.Group):
    command_class = _Command


@click.group(
    cls=_Group,
    context_settings={"help_option_names": ["-h", "--help"]},
    help=f"Render typed CORS policies into {titles()} configuration.",
)
@click.version_option(__version__, prog_name="corsgen")
def cli() -> None:
    pass


@cli.command()
@click.argument("policies", nargs=-1, required=True, type=POLICY)
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
def check(policies: tuple[Path, ...], strict: bool) -> None:
    """Check policies for unsafe combinations; exit 1 if any has an error."""
    from corsgen.pipeline import load_and_plan

    failed = 0
    for path in policies:
        try:
            _, warnings = load_and_plan(path)
            _warn(warnings, strict)
        except PolicyError as exc:
            click.echo(str(exc), err=True)
            failed += 1
            continue
        noted = f" ({len(warnings)} warning{'s' * (len(warnings) != 1)} above)" if warnings else ""
        click.echo(escape(f"{path}: ok{noted}"))
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
    plan = _plan(policy, strict)
    files = _rendered(plan, target)
    if verify_server:
        from corsgen.verify import server_check

        result = server_check(files, target)
        click.echo(escape(str(result)), err=True)
        if result.binary is None:  # as with verify: a skipped server check is no pass
            raise CorsgenError(f"--verify: no binary for {target}; nothing was written")
    if out_dir is not None:
        from corsgen.fsio import locked, nearest_existing, write_atomically
        from corsgen.sync import foreign, refuse_foreign, refuse_shrinking

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
@click.option(
    "--target",
    "-t",
    "targets",
    type=TARGET,
    multiple=True,
    help="Server(s) to verify for; default every one corsgen renders for.",
)
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
    for found in findings:
        click.echo(str(found), err=True)
    if findings:
        raise CorsgenError(f"{len(findings)} problem(s) in {shown(config)} and what it includes")
    click.echo(f"{shown(config)}: ok")


def _verify_policies(policies: tuple[Path, ...], targets: tuple[str, ...]) -> None:
    from corsgen.verify import server_check

    skipped: list[str] = []
    for path in policies:
        plan = _plan(path, strict=False)
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
    from corsgen.fsio import locked
    from corsgen.manifest import find_manifest, load_manifest
    from corsgen.sync import apply, compare, desired_files

    path = manifest or find_manifest(Path.cwd())
    # The manifest itself is the lock: concurrent syncs of one tree take turns, and no lock file
    # of ours appears in the user's repository. --check only reads, so checks share it.
    with locked(path, f"another corsgen sync is running on {shown(path)}", shared=check):
        loaded = load_manifest(path)
        desired = desired_files(loaded, allow_outside)
        for finding in desired.warnings:
            click.echo(str(finding), err=True)
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
    from corsgen.policy_model import Policy
    from corsgen.starter import json_schema

    model = Manifest if kind == "manifest" else Policy
    click.echo(json_schema(model))


def _origin(text: str) -> str:
    """The Origin a browser would send for a page at `text`; usage error if it sends none such."""
    from corsgen.origins import OriginError, parse_origin

    if text == "null":
        return text
    try:
        return str(parse_origin(text))
    except OriginError as exc:
        raise click.BadParameter(str(exc), param_hint="--origin") from None


def _author(headers: tuple[str, ...]) -> list[tuple[str, str]]:
    """--header NAME or 'NAME: value'; a bare Content-Type is JSON's, the usual reason to ask."""
    out = []
    for text in headers:
        name, colon, value = text.partition(":")
        name, value = name.strip(), value.strip()
        if not name or any(c in name for c in " \t\r\n"):
            raise click.BadParameter(f"{text!r} is not NAME or NAME: value", param_hint="--header")
        if not colon:
            value = "application/json" if name.lower() == "content-type" else "1"
        out.append((name, value))
    return out


def _method(text: str) -> str:
    """The method as fetch() sends it; one it refuses is a usage error."""
    from corsgen.fetch import FORBIDDEN_METHODS, normalize_method

    if text.upper() in FORBIDDEN_METHODS:
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


@cli.command()
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
    from corsgen.explain import fixes, offline_trace

    plan = _plan(policy, strict=False)
    request, author = _page_request(origin, method, headers, credentials)
    result = offline_trace(plan, request, author, reads)
    click.echo(escape(f"{shown(policy)}, as corsgen's output answers on every server:"))
    _show_trace(result)
    if result.allowed:
        click.echo("allowed")
        return
    click.echo(escape(f"blocked; to allow it, change {shown(policy)}:"))
    for fix in fixes(result, plan.any_origin):
        click.echo(escape(f"  {fix}"))
    raise click.exceptions.Exit(1)


def _page_request(
    origin: str, method: str, headers: tuple[str, ...], credentials: bool
) -> tuple[Request, list[tuple[str, str]]]:
    from corsgen.fetch import Request, unsafe_names

    author = _author(headers)
    return Request(_origin(origin), _method(method), credentials, unsafe_names(author)), author


def _show_trace(result: Trace) -> None:
    from corsgen.explain import lines

    for line in lines(result):
        click.echo(escape(line))


def escape_lines(text: str) -> str:
    """Each line escaped: a server's header values must not forge a line of the report."""
    return "".join(escape(line) + "\n" for line in text.splitlines())


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
    from corsgen.explain import fixes, offline_trace, trace
    from corsgen.probe.client import Client

    request, author = _page_request(origin, method, headers, credentials)
    with Client(target, limits.timeout, 1, limits.verify) as client:

        def send(m: str, h: list[tuple[str, str]]) -> tuple[int, list[tuple[str, str]]]:
            got = client.send(m, path, h)
            if got.error:
                raise CorsgenError(f"{m} {target.url(path)}: {got.error}")
            return got.status, got.headers

        result = trace(request, author, send, reads)
    click.echo(escape(f"{target.url(path)} answers:"))
    _show_trace(result)
    if result.allowed:
        click.echo("allowed")
        return
    if plan is not None and policy is not None:
        if offline_trace(plan, request, author, reads).allowed:
            click.echo(
                escape(
                    f"blocked, though {shown(policy)} allows it: the server does not answer as "
                    f"corsgen's output would; probe it with --policy {shown(policy)}"
                )
            )
        else:
            click.echo(escape(f"blocked, and {shown(policy)} refuses it too; to allow it, change:"))
            for fix in fixes(result, plan.any_origin):
                click.echo(escape(f"  {fix}"))
    else:
        click.echo("blocked")
    raise click.exceptions.Exit(1)


def _paths(option: str, values: tuple[str, ...]) -> list[str]:
    for value in values:
        if any(c.isspace() or not c.isprintable() for c in value):
            raise click.BadParameter(f"{value!r}: percent-encode spaces", param_hint=option)
        if not value.startswith("/") or value.startswith("//"):
            raise click.BadParameter(
                f"{value!r}: give a path on the probed host, starting with one /", param_hint=option
            )
    return list(values)


@cli.command()
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
@click.option(
    "--max-requests",
    type=click.IntRange(1, 100_000),
    default=2000,
    show_default=True,
    help="Refuse to start a battery larger than this.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 32),
    default=4,
    show_default=True,
    help="Requests in flight at once.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(0.1, 300),
    default=10.0,
    show_default=True,
    help="Seconds to wait for each answer.",
)
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
    plan = _plan(policy, strict=False) if policy is not None else None
    chosen = _paths("--path", paths) or [target.path]
    errors = _paths("--error-path", error_paths) or [error_path(chosen[0])]
    limits = Limits(concurrency, timeout, not insecure)
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


@cli.command()
def init() -> None:
    """Write a commented starter policy (cors/api.toml) and manifest (corsgen.toml) here."""
    from corsgen.starter import write_starter

    for path in write_starter(Path.cwd()):
        click.echo(escape(f"wrote {path}"))


@cli.command()
def rules() -> None:
    """List every rule: id, severity, name and what it refuses."""
    from corsgen.rulebook import RULES

    for rule in RULES:
        click.echo(f"{rule.id}  {rule.severity:<7}  {rule.slug:<27}  {rule.summary}")


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
