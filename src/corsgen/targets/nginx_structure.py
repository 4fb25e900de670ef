"""What `corsgen audit` reads from an nginx config's structure, beside the routing model's answers:
the findings no request to the model shows (nginx_routing.load returns them with the model).

The routing model answers requests; the audit judges its answers (CORS headers dropped below a
snippet, a preflight that meets auth or the handler in a nested location, a named location
answering without the snippet's headers). These are the rest, read from the same blocks
(nginx_blocks.Config), checked on nginx 1.22 (tests/conformance/nginx_contexts_test.py):

- CG403: the snippet's add_header lines drop those of the blocks above it (HSTS, CSP): nginx
  inherits add_header only into a block with none of its own. Those headers are the server's
  own, not CORS: no answer judged for CORS misses them.
- CG404 server-wide: a snippet in server {} answers every preflight of its policy's origins in
  the rewrite phase, before a location is chosen: a location's own snippet of another policy
  never answers them. The audit's requests for one scope ask with that scope's origins only.
- CG405: a snippet whose http part (its maps) http {} does not include: nginx refuses the config
  (unknown variables), while the model would read them as empty, a snippet that never answers.
  The audit stops there, as at a parse error: no answer of a server that does not start is
  judged.
- CG406: nothing in the config answers CORS, no snippet and no CORS written by hand.
"""

from __future__ import annotations

from collections.abc import Iterator

from corsgen.errors import Finding
from corsgen.routing import Place, Routes
from corsgen.rules.table import finding
from corsgen.targets.nginx_blocks import Conf, Config


def findings(config: Config, routes: Routes) -> list[Finding]:
    """Every structural finding of the config, by file and line."""
    blocks = [config.http, *(b for server in config.servers for b in server.conf.walk())]
    found: list[Finding] = []
    missing: set[str] = set()
    for conf in blocks:
        for policy, include in conf.policies:
            found += _dropped(conf, policy, include)
            found += _server_wide(conf, policy, include)
            if policy not in config.http_parts and policy not in missing:
                missing.add(policy)
                found.append(_finding("CG405", "missing", include, policy=policy))
    if not any(conf.policies for conf in blocks) and not routes.scopes():
        found.append(finding("CG406", "none", file=config.http.at.file, server="nginx"))
    return sorted(found, key=lambda f: (f.file, f.line or 0, f.rule_id))


def refused(found: list[Finding]) -> bool:
    """Whether nginx refuses to load the config these findings are of: a model of it would
    answer requests the server never gets."""
    return any(f.rule_id == "CG405" for f in found)


def _dropped(conf: Conf, policy: str, include: Place) -> Iterator[Finding]:
    """The add_header lines above the snippet that it drops (those it sends itself stay)."""
    above = conf.parent.nearest("add_header") if conf.parent is not None else None
    if above is None:
        return
    mine = {args[0].lower() for args, _ in conf.set_here("add_header") if args}
    lost = [(args[0], at) for args, at in above.set_here("add_header") if args]
    lost = [(name, at) for name, at in lost if name.lower() not in mine]
    if lost:
        name, at = lost[0]
        fields = {"policy": policy, "header": name, "at": str(at), "count": len(lost)}
        yield _finding("CG403", "dropped", include, **fields)


def _server_wide(conf: Conf, policy: str, include: Place) -> Iterator[Finding]:
    """A location's snippet under another policy's snippet in its server {}."""
    if conf.kind != "location":
        return
    server = conf.parent
    while server is not None and server.kind != "server":
        server = server.parent
    if server is None or not server.policies:
        return
    other, at = server.policies[0]
    if other != policy:
        yield _finding("CG404", "server-wide", include, policy=policy, other=other, at=str(at))


def _finding(rule: str, case: str, where: Place, **fields: object) -> Finding:
    return finding(
        rule, case, file=where.file, line=where.line, fields={"server": "nginx", **fields}
    )
