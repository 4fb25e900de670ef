"""What `corsgen import` prints for each Ingress: what ingress-nginx enforces, where the text and
its effect differ, the policy written, and, asked with the same battery and judged by
corsgen.fetch (compare.py), where corsgen's policy, corsgen's Gateway API output and
ingress2gateway's filter let a page read more (a widening) or less than ingress-nginx does.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence

from corsgen.explain import Pairs, Send
from corsgen.fetch import Headers
from corsgen.ingress.block import merged, reply
from corsgen.ingress.compare import BACKEND, Versus, battery, versus
from corsgen.ingress.enforced import Enforced
from corsgen.ingress.importing import Imported
from corsgen.ingress.translation import translated
from corsgen.plan import Plan
from corsgen.promise import APPLICATION_STATUS, promised_answer
from corsgen.targets import gateway_api_model as gateway

_SHOWN = 3  # requests named per line; the rest are counted


# The application behind a server the comparisons ask: its status and headers for a method.
Backend = Callable[[str], tuple[int, Headers]]


def _static(method: str) -> tuple[int, Headers]:
    return BACKEND


def block(enforced: Enforced, backend: Backend = _static) -> Send:
    """ingress-nginx's block (block.py) in front of the backend (the comparisons' own, or the
    tests' upstream)."""

    def ask(method: str, headers: Pairs) -> tuple[int, Pairs]:
        return merged(reply(enforced, method, headers), *backend(method))

    return ask


def promised(plan: Plan, backend: Backend = _static) -> Send:
    """corsgen's output for the policy (promise.py) in front of the same backend."""

    def ask(method: str, headers: Pairs) -> tuple[int, Pairs]:
        status, app = backend(method)
        answered, sent = promised_answer(plan, method, headers, app)
        return (status if answered == APPLICATION_STATUS else answered), sent

    return ask


def gateway_server(cors: gateway.Cors) -> Send:
    """A GEP-1767 gateway with this filter in front of the same backend."""

    def ask(method: str, headers: Headers) -> tuple[int, Pairs]:
        status, sent = gateway.answer(cors, method, headers)
        return (status, sent) if status is not None else (BACKEND[0], [*BACKEND[1], *sent])

    return ask


def _some(requests: Sequence[str]) -> str:
    rest = f" and {len(requests) - _SHOWN} more" if len(requests) > _SHOWN else ""
    return f"{len(requests)} ({'; '.join(requests[:_SHOWN])}{rest})"


def _versus(what: str, found: Versus, flag: str) -> Iterator[str]:
    if found.wider:
        yield f"{flag}{what} lets a page read more than ingress-nginx: {_some(found.wider)}"
    if found.narrower:
        yield f"{what} lets a page read less than ingress-nginx: {_some(found.narrower)}"
    if not found.wider and not found.narrower:
        yield f"{what} lets a page read what ingress-nginx does"


def enforced_line(found: Enforced) -> str:
    if not found.enabled:
        return "ingress-nginx enforces: no CORS (enable-cors is not true)"
    if not found.origins:
        return "ingress-nginx enforces: no CORS header (every origin item is skipped)"
    credentials = "with" if found.credentials else "without"
    expose = f", exposes {found.expose!r}" if found.expose else ""
    return (
        f"ingress-nginx enforces: origins {', '.join(found.origins)} {credentials} credentials, "
        f"methods {found.methods!r}, headers {found.headers!r}{expose}, max-age {found.max_age}"
    )


def lines(item: Imported) -> Iterator[str]:
    """What import says about one Ingress, line by line (indented under its header)."""
    found = item.enforced
    yield enforced_line(found)
    yield from (f"differs: {d}" for d in found.differences)
    yield from (f"dropped: {d}" for d in item.policy.dropped if item.plan is not None)
    texts = [a.value for n, a in item.ingress.annotations.items() if n == "cors-allow-origin"]
    # The report counts what pages can ask: a browser serializes an Origin's scheme and host in
    # lower case, so the upper-case spellings the proof sends the real block are left out here.
    requests = [r for r in battery(texts) if r.origin == r.origin.lower()]
    today = block(found)
    if item.plan is not None:
        yield from _versus("corsgen's policy", versus(requests, today, promised(item.plan)), "")
        cors = gateway.corsgen_filter(item.plan)
        output = f"corsgen's {gateway.TITLE} output"
        if isinstance(cors, str):
            yield f"{output} refuses this policy: {cors}"
        else:
            yield from _versus(output, versus(requests, today, gateway_server(cors)), "WIDENS: ")
    written = translated(item.ingress)
    if written is None:
        yield "ingress2gateway writes no CORS filter"
        return
    yield f"ingress2gateway writes: cors: {json.dumps(written, separators=(', ', ': '))}"
    yield from (f"the API server refuses it: {p}" for p in gateway.problems(written))
    answers = versus(requests, today, gateway_server(written))
    yield from _versus("ingress2gateway's filter", answers, "WIDENS: ")
