"""`corsgen explain`: one request a page makes, against a policy, a live server, or both."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from corsgen.cli.options import (
    INSECURE,
    POLICY,
    TIMEOUT,
    bad_parameter,
    command,
    live_site,
    load_plan,
    request_options,
    targets_option,
)
from corsgen.errors import escape

if TYPE_CHECKING:
    from corsgen.cookies import Cookie
    from corsgen.explain import Explanation, Pairs
    from corsgen.fetch import Request
    from corsgen.plan import Plan
    from corsgen.probe.client import Site


# A --cookie that starts with one of these is attributes without the cookie: the first pair is
# the cookie's name and value, so 'SameSite=None; Secure' is a cookie named SameSite, and
# 'Secure; SameSite=None' a nameless one.
_ATTRIBUTES = frozenset({"samesite", "secure", "partitioned", "httponly"})


def _cookies(
    _ctx: click.Context, _param: click.Parameter, value: tuple[str, ...]
) -> tuple[Cookie, ...]:
    from corsgen.cookies import CookieError, parse

    for text in value:
        first = text.split(";")[0].partition("=")[0].strip(" \t")
        if first.lower() in _ATTRIBUTES:
            raise click.BadParameter(
                f"{first} is an attribute: give the cookie's name and value first, "
                "e.g. 'sid=…; SameSite=None; Secure'",
                param_hint="--cookie",
            )
    try:
        return tuple(parse(text) for text in value)
    except CookieError as exc:
        raise click.BadParameter(str(exc), param_hint="--cookie") from None


@command()
@click.argument("policy", type=POLICY, required=False)
@click.option("--origin", required=True, help="The page's origin, e.g. https://app.example.com.")
@click.option(
    "--url",
    help="Ask the live server at this URL instead; with POLICY too, say whether the server or "
    "the policy blocks the request.",
)
@request_options()
@targets_option(
    "Also say where this output falls short of the policy (CG501) or cannot express it (CG530); "
    "repeatable."
)
@click.option(
    "--cookie",
    "cookies",
    multiple=True,
    metavar="'NAME=…; ATTRIBUTES'",
    callback=_cookies,
    help="A cookie as the API sets it, e.g. 'session=…; SameSite=None; Secure': with "
    "--credentials, say per browser whether it is sent (repeatable).",
)
@TIMEOUT
@INSECURE
def explain(
    policy: Path | None,
    origin: str,
    url: str | None,
    targets: tuple[str, ...],
    method: str,
    headers: tuple[str, ...],
    credentials: bool,
    reads: tuple[str, ...],
    cookies: tuple[Cookie, ...],
    timeout: float,
    insecure: bool,
) -> None:
    """Explain what each browser engine and the Fetch standard do with one request to a server
    carrying corsgen's output (or to the live server at --url): the preflight, the answers, each
    verdict, and every policy key to change; exit 1 when blocked in any engine or by the
    standard."""
    if url is not None:
        target = live_site(url, "--url")
        held = (load_plan(policy, False, targets), policy) if policy is not None else None
        asked = (origin, method, headers, credentials, reads)
        explain_live(
            target, target.path, held, *asked, timeout=timeout, insecure=insecure, cookies=cookies
        )
        return
    if policy is None:
        raise click.UsageError("give a POLICY file, or --url URL to ask a live server")
    ctx = click.get_current_context()
    given = [f"--{name}" for name in ("timeout", "insecure") if not _default(ctx, name)]
    if given:
        verb = "describes" if len(given) == 1 else "describe"
        raise click.UsageError(f"{' and '.join(given)} {verb} the request to --url; give --url URL")
    from corsgen.explain import explain_offline

    plan = load_plan(policy, strict=False, targets=targets)
    request, author = page_request(origin, method, headers, credentials)
    _show(explain_offline(plan, policy, request, author, reads), request, None, cookies)


def _default(ctx: click.Context, name: str) -> bool:
    return ctx.get_parameter_source(name) in (None, click.core.ParameterSource.DEFAULT)


def page_request(
    origin: str, method: str, headers: tuple[str, ...], credentials: bool
) -> tuple[Request, Pairs]:
    from corsgen.explain import RequestRefused
    from corsgen.explain import page_request as request

    try:
        return request(origin, method, headers, credentials)
    except RequestRefused as exc:
        raise bad_parameter(exc) from None


def explain_live(
    target: Site,
    path: str,
    held: tuple[Plan, Path] | None,
    origin: str,
    method: str,
    headers: tuple[str, ...],
    credentials: bool,
    reads: tuple[str, ...],
    *,
    timeout: float,
    insecure: bool,
    cookies: tuple[Cookie, ...] = (),
) -> None:
    """The request against the live server, and with a policy, which of the two blocks it."""
    from corsgen.explain import explain_live as explained

    request, author = page_request(origin, method, headers, credentials)
    explanation = explained(target, path, request, author, reads, timeout, not insecure, held)
    _show(explanation, request, target.url(path), cookies)


def _show(
    explanation: Explanation, request: Request, url: str | None, cookies: tuple[Cookie, ...]
) -> None:
    """The explanation, then what becomes of the cookies: when the request passes, or a --cookie
    was asked about (a blocked request has a CORS fix to make first). A cookie not sent leaves
    the exit status alone: it is no CORS failure."""
    from corsgen.explain import cookie_lines

    told = cookie_lines(request, url, cookies) if explanation.allowed or cookies else []
    for line in (*explanation.lines, *told):
        click.echo(escape(line))
    if not explanation.allowed:
        raise click.exceptions.Exit(1)
