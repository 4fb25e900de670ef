"""A routing model (corsgen.routing) held to its real server: the same requests to both, and one
table of every difference in what a browser or the audit reads from the answer.

What is compared: the status, each Access-Control-* header (every copy, in order), whether Vary
names Origin, and routing.SECRET_HEADER. The model answers with `backend`, the pure function of
what testing/upstream.py answers; the real server proxies to that upstream.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from corsgen.routing import SECRET_HEADER, Asked, Place, Routes
from testing import client
from testing.servers import Endpoint
from testing.upstream import OWN_CORS, STATUS

# A page at each kind of origin: listed in most corpus configs, the hostile variants the scanners
# try, and one nobody lists.
ORIGINS = (
    "https://app.example.com",
    "https://admin.example.com",
    "https://app.example.com.evil.example",
    "https://evilexample.com",
    "https://x.preview.example.com",
    "https://evil.example",
)
# Origins no browser sends but an attacker may: two Origin headers (a listed one first), an empty
# one, the opaque "null", and a control character (the audit's sample of a reflected Origin's .*,
# which Go and Envoy refuse with 400).
ODD = (
    (("Origin", ORIGINS[0]), ("Origin", ORIGINS[-1])),
    (("Origin", ORIGINS[-1]), ("Origin", ORIGINS[0])),
    (("Origin", ""),),
    (("Origin", "null"),),
    (("Origin", "\x01"),),
)
# What each origin asks: a GET, and a preflight for a PUT with two headers.
PREFLIGHT = (
    ("Access-Control-Request-Method", "PUT"),
    ("Access-Control-Request-Headers", "content-type,x-request-id"),
)
# The paths asked under each prefix a config routes: the upstream's 200, 404, 500, two Vary
# headers, and its own CORS headers (which it sends on paths starting /own-cors: after a strip).
LEAVES = ("ok", "missing", "error", "two-vary", "own-cors")
# The user of the corpus's basic auth (targets' PLACEHOLDER_USER): corsgen, password "corsgen".
LOGIN = ("Authorization", "Basic " + base64.b64encode(b"corsgen:corsgen").decode())


def backend(method: str, path: str) -> tuple[int, tuple[tuple[str, str], ...]]:
    """What testing/upstream.py answers, as a pure function (routing.Backend)."""
    path = path.split("?")[0]
    status = STATUS.get("/" + path.rsplit("/", 1)[-1], 200)
    headers = [("X-Upstream", "1"), ("Vary", "Accept-Encoding"), ("X-Total-Count", "42")]
    headers += [("ETag", '"v1"')]
    if path.startswith("/own-cors"):
        headers += OWN_CORS
    if path.endswith("/two-vary"):
        headers.append(("Vary", "Cookie"))
    return status, tuple(headers)


def battery(hosts: Iterable[str], prefixes: Iterable[str], port: int | None) -> list[Asked]:
    """Every origin's GET and preflight, a GET without Origin and a bare OPTIONS, on each prefix
    and the paths below it (and the upstream's own-CORS path at the root), for each host."""
    paths = [*prefixes]
    paths += [f"{p.rstrip('/')}/{leaf}" for p in dict.fromkeys(prefixes) for leaf in LEAVES]
    paths += ["/own-cors", "/own-cors-error"]
    asked = []
    for host in dict.fromkeys(hosts):
        for path in dict.fromkeys(paths):
            asked.append(Asked(host, "GET", path, (), port))
            asked.append(Asked(host, "OPTIONS", path, (("Origin", ORIGINS[0]),), port))
            asked.append(Asked(host, "GET", path, (("Origin", ORIGINS[0]), LOGIN), port))
            for odd in ODD:
                asked.append(Asked(host, "GET", path, odd, port))
                asked.append(Asked(host, "OPTIONS", path, (*odd, *PREFLIGHT), port))
            for origin in ORIGINS:
                asked.append(Asked(host, "GET", path, (("Origin", origin),), port))
                asked.append(Asked(host, "OPTIONS", path, (("Origin", origin), *PREFLIGHT), port))
    return asked


def send(port: int, asked: Asked) -> tuple[int, list[tuple[str, str]]]:
    headers = [("Host", asked.host), *asked.headers]
    answer = client.send(Endpoint(port), asked.method, asked.path, headers)
    return answer.status, answer.headers


def essentials(status: int, headers: Sequence[tuple[str, str]]) -> dict[str, str]:
    """What is compared, field by field: status, each CORS header's copies, Vary's Origin."""
    out = {"status": str(status)}
    for name, value in headers:
        key = name.lower()
        if key.startswith("access-control-") or key == SECRET_HEADER.lower():
            out[key] = f"{out[key]} | {value}" if key in out else value
    varies = [t.strip().lower() for n, v in headers if n.lower() == "vary" for t in v.split(",")]
    out["vary: origin"] = "yes" if "origin" in varies else "no"
    return out


def differences(routes: Routes, port: int, asked: Sequence[Asked]) -> str:
    """One row per field where the model and the real server differ; empty when none does."""
    rows = []
    answers = [routes.answer(one, backend) for one in asked]
    assert any(a.backend for a in answers), "the model sends no request to the upstream"
    for one, predicted in zip(asked, answers, strict=True):
        model = essentials(predicted.status, predicted.pairs())
        real = essentials(*send(port, one))
        origin = " + ".join(v or "''" for n, v in one.headers if n == "Origin") or "-"
        kind = "preflight" if PREFLIGHT[0] in one.headers else one.method
        kind += " (logged in)" if LOGIN in one.headers else ""
        for key in sorted(model.keys() | real.keys()):
            if model.get(key) != real.get(key):
                request = f"{kind} {one.host}{one.path} {origin}"
                rows.append((request, key, model.get(key, "-"), real.get(key, "-")))
    if not rows:
        return ""
    lines = [("request", "field", "model", "real"), *rows]
    widths = [max(len(line[i]) for line in lines) for i in range(3)]
    return "\n".join(
        "  ".join(cell.ljust(widths[i]) if i < 3 else cell for i, cell in enumerate(line))
        for line in lines
    )


def marked(files: Iterable[Path]) -> dict[Place, str]:
    """Each line a corpus file's `# expect-next: SLUG[, SLUG]` comment marks (the next line that
    is not a comment), and its slugs."""
    out = {}
    for file in files:
        lines = file.read_text().splitlines()
        for number, line in enumerate(lines, start=1):
            if found := re.match(r"\s*# expect-next: (.+)", line):
                target = next(
                    n
                    for n in range(number + 1, len(lines) + 1)
                    if not lines[n - 1].strip().startswith("#")
                )
                out[Place(str(file), target)] = found[1]
    return out


def attributed(routes: Routes, asked: Iterable[Asked]) -> set[Place]:
    """Every place the model says made an answer or a grant: each header's line, each answering
    block, each auth, and each scope's regexes and granted keys."""
    places: set[Place] = set()
    for one in asked:
        answer = routes.answer(one, backend)
        places |= {h.at for h in answer.headers if h.at is not None} | {answer.by}
        places |= {answer.auth} if answer.auth is not None else set()
    for scope in routes.scopes():
        places.add(scope.at)
        if scope.granted is not None:
            places |= {r.at for r in scope.granted.regexes} | set(scope.granted.at.values())
    return places
