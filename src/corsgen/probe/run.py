"""One probe from start to end: the battery, the requests, the judge, the result."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from corsgen.errors import CorsgenError
from corsgen.plan import Plan
from corsgen.probe import battery, judge
from corsgen.probe.client import Client, Site
from corsgen.probe.report import Result


@dataclass(frozen=True)
class Limits:
    concurrency: int
    timeout: float
    verify: bool  # TLS certificates


def error_path(path: str) -> str:
    """The default error path: beside the probed path, so the same location serves it."""
    return path.split("?")[0].rsplit("/", 1)[0] + "/corsgen-probe-not-found"


def build(
    site: Site, plan: Plan | None, paths: Sequence[str], errors: Sequence[str]
) -> battery.Battery:
    if plan is None:
        return battery.scan(site.origin, paths, errors)
    return battery.conformance(plan, paths, errors)


def run(
    site: Site,
    plan: Plan | None,
    mode: str,
    built: battery.Battery,
    limits: Limits,
) -> Result:
    probes = built.probes
    with Client(site, limits.timeout, limits.concurrency, limits.verify) as client:
        # One request first: an unreachable host is one line, not hundreds.
        first = client.send(probes[0].method, probes[0].path, probes[0].headers)
        if first.error:
            raise CorsgenError(f"{site.url(probes[0].path)}: {first.error}")
        rest = client.send_all([(p.method, p.path, p.headers) for p in probes[1:]])
    answers = [first, *rest]
    failed = [(p, a) for p, a in zip(probes, answers, strict=True) if a.error]
    ok = [(p, a) for p, a in zip(probes, answers, strict=True) if not a.error]
    judged, got = [p for p, _ in ok], [a for _, a in ok]
    if plan is None:
        findings = judge.scan(judged, got)
    else:
        findings = judge.conformance(plan, judged, got)
        if battery.credentials(plan):  # else no page sends cookies, nor gets one back
            findings += judge.cookies(site.url, judged, got)
    return Result(
        site.origin,
        mode,
        findings,
        judge.checks_run(probes, plan),
        len(probes),
        failed,
        (*built.notes, *judge.notes(judged, got)),
    )
