"""`python -m benchmarks`: corsgen's output against the floor on every real server; BENCHMARKS.md.

Each server runs pinned to the second core, wrk to the first; corsgen's server and the floor's
alternate A B A B, and the median of the pairs' ratios is reported. `--smoke` runs every case
once, briefly, to prove the benchmark still works; its numbers mean nothing.
"""

from __future__ import annotations

import argparse
import http.client
import os
import platform
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack
from datetime import date
from pathlib import Path

from benchmarks import cli
from benchmarks.cases import ALTERNATION, CASES, HANDWRITTEN, REPLACING, Baseline, Case, policies
from benchmarks.load import Ratio, compare
from benchmarks.servers import BENCH, PATH, Bench, Setup, serve
from corsgen.plan import Plan

ROOT = Path(__file__).resolve().parent.parent
CORS_HEADERS = ("access-control-", "vary")


def cors_headers(port: int, origin: str) -> dict[str, str]:
    """The CORS headers (and Vary) a server answers a GET from `origin` with."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", PATH, headers={"Origin": origin})
        response = conn.getresponse()
        response.read()
    finally:
        conn.close()
    return {k: v for k, v in response.getheaders() if k.lower().startswith(CORS_HEADERS)}


def _expect(case: Case, headers: Mapping[str, str], label: str) -> None:
    """The benchmark measures correct output only: an allowed origin is echoed, a refused not."""
    echoed = {k.lower(): v for k, v in headers.items()}.get("access-control-allow-origin")
    if echoed != (case.origin if case.allowed else None):
        raise SystemExit(f"{label} answers {case.origin} with {headers}: not the policy's answer")


def _measure(
    bench: Bench, binary: str, plans: Mapping[str, Plan], pairs: int, seconds: int
) -> Iterator[tuple[Case, Ratio]]:
    """Each case, and the hand-written snippet, as corsgen's (or its) ratio to the baseline."""
    with ExitStack() as stack:
        ports = {
            name: stack.enter_context(serve(bench, binary, Setup(plan=plan)))
            for name, plan in plans.items()
        }
        none = stack.enter_context(serve(bench, binary, Setup()))
        for case in (*CASES, HANDWRITTEN, REPLACING):
            headers = cors_headers(ports[case.policy], case.origin)
            _expect(case, headers, f"corsgen on {bench.target}")
            with ExitStack() as inner:
                if case is HANDWRITTEN:
                    snippet = bench.handwritten(ALTERNATION)
                    a = inner.enter_context(serve(bench, binary, Setup(snippet=snippet)))
                    _expect(case, cors_headers(a, case.origin), f"the {bench.target} snippet")
                elif case is REPLACING:
                    setup = Setup(headers=headers, replace_upstream=True)
                    a = inner.enter_context(serve(bench, binary, setup))
                else:
                    a = ports[case.policy]
                b = none
                if case.baseline is Baseline.FLOOR:
                    b = inner.enter_context(serve(bench, binary, Setup(headers=headers)))
                yield case, compare(a, b, case.origin, pairs, seconds)


def _cell(ratio: Ratio) -> str:
    low, high = ratio.spread
    return f"**{ratio.ratio:.2f}** ({low:.2f} to {high:.2f})"


def _machine() -> str:
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [
            ln.split(":", 1)[1].strip()
            for ln in cpuinfo.read_text().splitlines()
            if ln.startswith("model name")
        ]
        model = names[0] if names else ""
    system = f"{platform.system()} {platform.release()}"
    return f"{model or platform.processor()}, {os.cpu_count()} cores, {system}"


def report(
    results: Mapping[str, Sequence[tuple[Case, Ratio]]],
    versions: Mapping[str, str],
    pairs: int,
    seconds: int,
) -> str:
    kinds = list(results)
    head = "| case | baseline | " + " | ".join(f"{k} {versions[k]}" for k in kinds) + " |\n"
    head += "|---|---|" + "---|" * len(kinds) + "\n"
    rows, rates, references = "", "", head
    for i, case in enumerate((*CASES, HANDWRITTEN, REPLACING)):
        cells = [results[k][i][1] for k in kinds]
        row = f"| {case.title} | {case.baseline.value} | " + " | ".join(map(_cell, cells)) + " |\n"
        rate = f"| {case.title} | " + " | ".join(f"{c.a:,.0f} / {c.b:,.0f}" for c in cells) + " |\n"
        if case in (HANDWRITTEN, REPLACING):
            references += row
        else:
            rows += row
            rates += rate
    rate_head = "| case | " + " | ".join(kinds) + " |\n|---|" + "---|" * len(kinds) + "\n"
    return (
        "## Servers: corsgen's output as a ratio to the floor\n\n"
        f"Measured on {_machine()}, {date.today().isoformat()}: each server pinned to one core and "
        f"wrk (one thread, 16 connections) to the other; corsgen's server and the baseline's "
        f"alternate, {pairs} pairs of {seconds} s; each cell is the median of the pairs' ratios "
        "(the lowest and highest pair in brackets). The floor is the same server setting the same "
        "CORS headers statically, with no logic at all; a refused origin is compared with the "
        "server without CORS. Each server answers GET /ok.txt with a fixed body (nginx `return`, "
        "Caddy `respond`, a static file for Apache httpd, HAProxy `http-request return`, Traefik "
        "`ping@internal`; Envoy's cors filter skips a `direct_response`, so its route goes to a "
        "second listener of the same Envoy that answers directly), so the CORS configuration is "
        "all that differs.\n\n"
        + head
        + rows
        + "\nFor reference, measured the same way: the widely copied hand-written snippets "
        "(`benchmarks/handwritten/`; at 10,000 origins they do not load at all), and static "
        "headers that also replace an upstream's copies, as corsgen's output does: no origin "
        "check, so the ratio is what that promise alone costs each server (nginx "
        "`proxy_hide_header`, Apache `Header onsuccess unset`, Caddy a deferred `header` "
        "block, HAProxy `del-header`; Traefik's `customResponseHeaders` and Envoy's "
        "`response_headers_to_add` set over the upstream's copy at no extra cost).\n\n"
        + references
        + "\nRequests per second, corsgen / baseline (medians):\n\n"
        + rate_head
        + rates
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="every case once, 1 s: proves it runs")
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=3)
    parser.add_argument("--only", action="append", default=[], help="a server kind, e.g. nginx")
    parser.add_argument("--output", type=Path, help="where to write (default: BENCHMARKS.md)")
    args = parser.parse_args(argv)
    pairs, seconds = (1, 1) if args.smoke else (args.pairs, args.seconds)
    output = args.output or (None if args.smoke else ROOT / "BENCHMARKS.md")
    plans = policies()
    results: dict[str, list[tuple[Case, Ratio]]] = {}
    versions: dict[str, str] = {}
    for bench in BENCH:
        for kind, binary in bench.kinds().items():
            if args.only and kind not in args.only:
                continue
            if binary is None:
                raise SystemExit(f"{kind} is not installed")
            versions[kind] = bench.version(binary)
            results[kind] = []
            for case, ratio in _measure(bench, binary, plans, pairs, seconds):
                print(
                    f"{kind}: {case.title}: {ratio.ratio:.3f} ({ratio.a:,.0f} / {ratio.b:,.0f})",
                    file=sys.stderr,
                    flush=True,
                )
                results[kind].append((case, ratio))
    text = report(results, versions, pairs, seconds)
    if not args.only:  # the CLI's figures belong to the whole run, not to one server's
        text += "\n" + cli.markdown(cli.measure(smoke=args.smoke))
    if output is None:
        print(text)
    else:
        output.write_text("# Benchmarks\n\nRegenerated by `python -m benchmarks`.\n\n" + text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
