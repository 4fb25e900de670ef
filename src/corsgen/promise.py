"""What a server carrying corsgen's output promises to answer, from the plan alone.

The conformance suite holds every target to this behaviour on the real servers
(docs/promises.md, "What the output does on the server"), so `explain` can answer offline
without naming a target.
"""

from __future__ import annotations

from corsgen.fetch import Headers, header_value
from corsgen.plan import Plan

# What stands for the application's own answer to a request the snippet passes on.
APPLICATION_STATUS = 200


def is_preflight(method: str, headers: Headers) -> bool:
    """A CORS preflight, as every target tells one: OPTIONS with Origin and a requested method."""
    return (
        method == "OPTIONS"
        and header_value(headers, "Origin") is not None
        and header_value(headers, "Access-Control-Request-Method") is not None
    )


def promised_answer(
    plan: Plan, method: str, headers: Headers, app: Headers = ()
) -> tuple[int, list[tuple[str, str]]]:
    """The status and headers the server sends; `app` are the application's own, on a request
    the snippet passes on to it."""
    origin = header_value(headers, "Origin")
    allowed = origin is not None and plan.allows(origin)
    preflight = allowed and is_preflight(method, headers)
    asks_network = header_value(headers, "Access-Control-Request-Private-Network") == "true"
    sent = {
        "always": True,
        "allowed": allowed,
        "preflight": preflight,
        "private_network": preflight and asks_network,
    }
    out: list[tuple[str, str]] = [
        (header.name, origin if header.echo and origin else header.value)
        for when, group in plan.groups
        if sent[when]
        for header in group
    ]
    if plan.vary_origin:
        out.append(("Vary", "Origin"))
    # Only an allowed preflight is answered by the snippet; any other request goes on to the app.
    if preflight:
        return plan.preflight_status, out
    return APPLICATION_STATUS, [*app, *out]
