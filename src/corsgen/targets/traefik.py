"""Traefik 3: a dynamic-configuration file for the file provider, one `headers` middleware.

One file, NAME.yml, defines the middleware `corsgen-NAME`; a router carries the policy with
`middlewares: [corsgen-NAME@file, ...]`, first in the list, so the preflight is answered before any
basicAuth after it and every answer, auth's 401 and Traefik's own 502 included, gets the headers.

Where the middleware is right it is used as it is: an exact list compared case-sensitively, the
first Origin header only, the preflight answered without reaching the upstream. Where it is not,
corsgen works around it: Traefik matches accessControlAllowOriginListRegex unanchored, so every
pattern is written anchored, and narrowed to match no empty Origin, comma or space
(regex.one_origin); the upstream's own CORS headers are deleted by customResponseHeaders,
which runs before the CORS options inside one middleware. What the middleware cannot do at all
(a preflight status other than 200, no CORS header to a refused origin, Vary on its own preflight
answer, private-network access) is in `shortfalls`: CG501 warnings.

Traefik has no offline config test: the check starts it on throwaway loopback ports with the file
provider and the routers the tests serve each middleware with (routers()), and asks its API
whether each loaded (traefik_check.py).
"""

from __future__ import annotations

import json
import re
import secrets
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from corsgen.plan import Plan
from corsgen.regex import one_origins
from corsgen.routing import Scope
from corsgen.rules.table import Violation
from corsgen.targets import yaml_lines
from corsgen.targets.base import WRAPPER, Loaded, Part, Target, preflight_always_200

# The file provider runs every file through Go's text/template before it reads the YAML: {{ in a
# value, or in a comment, would be executed.
_TEMPLATE = dict.fromkeys(("{{", "}}"), "a Go template marker Traefik would run")
# The headers middleware's CORS options: any one set, and it answers preflights
# (HasCorsHeadersDefined); corsgen writes them, and the audit reads them in a user's middleware.
CORS_OPTIONS = frozenset(
    {
        "accessControlAllowOriginList",
        "accessControlAllowOriginListRegex",
        "accessControlAllowCredentials",
        "accessControlAllowMethods",
        "accessControlAllowHeaders",
        "accessControlExposeHeaders",
        "accessControlMaxAge",
        "addVaryHeader",
    }
)
# Every key the file may hold: the sections and the headers middleware's options corsgen writes,
# and the owned headers customResponseHeaders deletes. A corsgen-NAME key is the middleware.
KEYS = frozenset({"http", "middlewares", "headers", "customResponseHeaders"}) | CORS_OPTIONS
# The middleware's option for each list header of the plan (Header.role), sent as a YAML list.
LISTS = {
    "methods": "accessControlAllowMethods",
    "headers": "accessControlAllowHeaders",
    "expose": "accessControlExposeHeaders",
}


def quote(value: str) -> str:
    return yaml_lines.quote(value, "Traefik", tuple(_TEMPLATE))


def middleware(plan: Plan) -> str:
    return f"corsgen-{plan.name}"


def headers(plan: Plan) -> Mapping[str, object]:
    """The headers middleware's options, quoted, as templates/traefik/_headers.j2 writes them:
    the file provider's middleware and the Kubernetes Middleware's spec.headers (traefik_crd.py)
    are the same Go struct, so both are written from this."""
    lists, scalars = _options(plan)
    # Deleted before the CORS options are applied: the upstream's copies never pass.
    return {"lists": lists, "scalars": scalars, "deleted": plan.owned_headers}


def _options(plan: Plan) -> tuple[list[tuple[str, list[str]]], list[tuple[str, str]]]:
    """The headers middleware's list options and scalar options, quoted."""
    origins = ["*"] if plan.any_origin else list(plan.exact_origins)
    lists = [("accessControlAllowOriginList", origins)]
    # Traefik matches these with Go's MatchString, which finds a match anywhere: anchored here.
    # The middleware tests the Origin against nothing else, an empty one included: narrowed too,
    # so that no pattern matches it empty or holding a comma or space (two origins).
    lists.append(("accessControlAllowOriginListRegex", one_origins(plan.origin_patterns)))
    scalars: list[tuple[str, str]] = []
    for header in plan.headers:
        if header.role in LISTS:
            lists.append((LISTS[header.role], header.value.split(", ")))
        elif header.role == "credentials":
            scalars.append(("accessControlAllowCredentials", "true"))
        elif header.role == "max_age":
            scalars.append(("accessControlMaxAge", header.value))
    if plan.vary_origin:  # a static * is the same for everyone: no Vary
        scalars.append(("addVaryHeader", "true"))
    quoted = [(key, [quote(v) for v in values]) for key, values in lists if values]
    return quoted, scalars


def _known(key: str, column: int) -> bool:
    # The middleware's name sits at column 4, the headers customResponseHeaders deletes at 10.
    if column == 4:
        return key.startswith("corsgen-")
    return key in KEYS or (column == 10 and key.startswith("Access-Control-"))


class Traefik(Target):
    name = "traefik"
    title = "Traefik"
    parts = (Part("traefik/middleware.yml.j2", ".yml"),)
    binaries = ("traefik",)
    config_test = "a start of traefik with the file provider"

    def quote(self, value: str) -> str:
        return quote(value)

    def context(self, plan: Plan) -> Mapping[str, object]:
        name = middleware(plan)
        return {
            "note": f"Traefik: attach {name}@file to a router, first in its middlewares.",
            "middleware": name,
            **headers(plan),
        }

    def check_structure(self, files: Mapping[str, str]) -> None:
        yaml_lines.check(files, _known, _TEMPLATE)

    def routes(self, configs: Sequence[Path]) -> Loaded:
        from corsgen.targets import traefik_routing  # only `corsgen audit` and `import` read

        return Loaded(*traefik_routing.load(configs))

    def in_place(
        self, scope: Scope, plan: Plan, directory: Path, upstream: str, port: int
    ) -> list[Path] | None:
        """The middleware first on a router of the scope's host and paths (a router of its own:
        a middleware of the scope's router it leaves out, basicAuth, errors, is not carried over),
        in the file provider's directory, on any entrypoint."""
        from corsgen.render import render_parts

        files = [directory / name for name in render_parts(plan, "traefik")]
        for file, text in zip(files, render_parts(plan, "traefik").values(), strict=True):
            file.write_text(text)
        paths = " || ".join(f"PathPrefix(`{p}`)" for p in scope.paths) or "PathPrefix(`/`)"
        name = f"{middleware(plan)}-in-place"
        router = directory / f"{plan.name}.router.yml"
        router.write_text(
            f"http:\n  routers:\n    {name}:\n"
            f"      rule: {json.dumps(f'Host(`{scope.host}`) && ({paths})')}\n"
            f"      middlewares: [{middleware(plan)}]\n      service: {name}\n"
            f"  services:\n    {name}:\n      loadBalancer:\n        servers:\n"
            f"          - url: {json.dumps(f'http://{upstream}')}\n"
        )
        return [*files, router]

    def claims(self, text: str) -> bool:
        from corsgen.targets import traefik_routing

        return traefik_routing.claims(text)

    def shortfalls(self, plan: Plan) -> Iterator[Violation]:
        server = {"server": self.title}
        yield from preflight_always_200(plan, self.title)
        if plan.private_network:
            yield Violation("CG501", "private-network", "allow_private_network", server)
        if not plan.any_origin:
            # The middleware sends these whatever the Origin: credentials and expose on every
            # answer, the preflight's on every preflight, which it answers for refused origins too.
            sent = [h.name for h in plan.headers if not h.echo and h.when != "private_network"]
            fields = {**server, "sent": ", ".join(sent) or "nothing else"}
            yield Violation("CG501", "refused-origin", "allow_origins", fields)

    def config_test_command(self, binary: str, root: Path, files: Mapping[str, str]) -> list[str]:
        # Routers for each middleware, as the tests serve it (routers()): Traefik builds a
        # middleware, and finds its regexes wrong, only when a router uses it. A name no other
        # Traefik has: the API asked is this one's, not one that took its port.
        names = [
            found
            for text in files.values()
            for found in re.findall(r"^ {4}(corsgen-[\w-]+):$", text, re.MULTILINE)
        ]
        nonce = secrets.token_hex(4)
        groups = [
            Routers(f"{WRAPPER}-{nonce}-{n}", name, "", "web") for n, name in enumerate(names)
        ]
        (root / (WRAPPER + ".yml")).write_text(routers(groups))
        names = [name for group in groups for name in group.names()]
        return [sys.executable, "-m", "corsgen.targets.traefik_check", binary, str(root), *names]


# Each path a policy's routers answer on, the service it goes to and whether basicAuth follows.
PATHS = (("/", "up", False), ("/dead/", "dead", False), ("/auth/", "up", True))
# A user of basicAuth, htpasswd's {SHA} line: corsgen, password "corsgen".
PLACEHOLDER_USER = "corsgen:{SHA}znyZPpGLEY+6d+/dDf/+u1jbpzc="


@dataclass(frozen=True)
class Routers:
    """The routers of one middleware: on `entrypoint`, under `prefix`, named from `name`."""

    name: str
    middleware: str
    prefix: str
    entrypoint: str

    def names(self) -> list[str]:
        return [self.name + path.replace("/", "_") for path, _, _ in PATHS]


def routers(
    groups: Sequence[Routers], upstream: int = 9, dead: int = 9, users: str = PLACEHOLDER_USER
) -> str:
    """The wrapper's dynamic configuration, beside corsgen's files: the config test's (placeholder
    upstreams; traefik_check.py waits for each router) and the one the tests serve
    (targets/traefik_serving.py). Each middleware is first on its routers: / goes to `upstream`,
    /dead/ to `dead` and /auth/ asks for `users` (htpasswd's {SHA} lines) first."""
    auth, up, down = (f"{WRAPPER}-{name}" for name in ("auth", "up", "dead"))
    text = "http:\n  middlewares:\n"
    text += f"    {auth}:\n      basicAuth:\n        users: [{json.dumps(users)}]\n"
    text += "  services:\n"
    for name, port in ((up, upstream), (down, dead)):
        text += f"    {name}:\n      loadBalancer:\n        servers:\n"
        text += f"          - url: http://127.0.0.1:{port}\n"
    text += "  routers:\n"
    for group in groups:
        for router, (path, service, asks) in zip(group.names(), PATHS, strict=True):
            extra = f", {auth}" if asks else ""
            text += (
                f"    {router}:\n      rule: PathPrefix(`{group.prefix}{path}`)\n"
                f"      entryPoints: [{group.entrypoint}]\n"
                f"      middlewares: [{group.middleware}@file{extra}]\n"
                f"      service: {up if service == 'up' else down}\n"
            )
    return text


TARGET = Traefik()
