"""A routing model (corsgen.routing.Routes) whose behaviour a test scripts as data: the audit engine
and `corsgen import` are tested against it before, and apart from, the servers' own models.

A FakeConfig is a list of blocks, each serving the paths under its prefix (the longest prefix
wins, as a location or a route would). A block's CORS is either hand-written (Cors: what it
sends, each header from its own line, with the usual flaws as switches) or a corsgen snippet (a
plan: the block answers as promised_answer says). A block may hand its errors to another block
(error_page), require authentication before or after the preflight answer, pass the backend's
CORS headers or the secret through, and send a Vary of its own.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from corsgen.fetch import header_value
from corsgen.plan import Plan
from corsgen.probe.battery import credentials, listed
from corsgen.promise import is_preflight, promised_answer
from corsgen.routing import (
    SECRET_HEADER,
    Answered,
    Asked,
    Backend,
    Granted,
    OriginRegex,
    Place,
    Scope,
    Sent,
    audit_backend,
)

FILE = "site.conf"
# The line of each hand-written header of a block, as the tests lay a block's Cors out.
LINES = {
    "origin": 5,
    "credentials": 6,
    "methods": 7,
    "headers": 8,
    "max_age": 9,
    "vary": 10,
    "private_network": 11,
}
OK_STATUSES = frozenset({200, 201, 204, 206, 301, 302, 303, 304, 307, 308})


def at(line: int) -> Place:
    return Place(FILE, line)


@dataclass(frozen=True)
class Cors:
    """Hand-written CORS: what it allows, and the line of each header it sends (key -> line)."""

    lines: Mapping[str, int]  # "origin", "credentials", "methods", "headers", "max_age", ...
    origins: tuple[str, ...] = ()
    regex: OriginRegex | None = None
    star: bool = False
    reflect: bool = False
    credentials: bool = False
    methods: tuple[str, ...] = ()
    headers: tuple[str, ...] = ()
    max_age: int | None = None
    private_network: bool = False
    preflight_status: int | None = 204  # None: preflights go on to the backend
    vary: bool = True
    always: bool = True  # also on error statuses (nginx's `always`)
    # Credentials and lists sent whatever the Origin (only ACAO is conditional)
    unconditional: bool = False
    # Allowed origins sent no Allow-Credentials (a second map or SetEnvIf for the cookie ones)
    cookieless: tuple[str, ...] = ()
    extra: tuple[tuple[str, str, int], ...] = ()  # headers sent on every answer: name, value, line

    def allows(self, origin: str) -> bool:
        if self.star or self.reflect or origin in self.origins:
            return True
        if self.regex is None:
            return False
        flags = re.IGNORECASE if self.regex.ignore_case else 0
        match = re.fullmatch if self.regex.whole else re.search
        return match(self.regex.source, origin, flags) is not None

    def place(self, key: str) -> Place:
        return at(self.lines[key])

    def granted(self) -> Granted:
        keys = {
            "allow_origins": "origin",
            "allow_credentials": "credentials",
            "allow_methods": "methods",
            "allow_headers": "headers",
            "max_age": "max_age",
            "allow_private_network": "private_network",
        }
        return Granted(
            origins=self.origins,
            regexes=(self.regex,) if self.regex else (),
            any_origin=self.star,
            reflects=self.reflect,
            credentials=self.credentials,
            methods=self.methods,
            headers=self.headers,
            max_age=self.max_age,
            private_network=self.private_network,
            preflight_status=self.preflight_status,
            at={key: self.place(line) for key, line in keys.items() if line in self.lines},
        )

    def sent(self, origin: str | None, preflight: bool) -> list[Sent]:
        allowed = self.star or (origin is not None and self.allows(origin))
        out: list[Sent] = []
        if allowed:
            value = "*" if self.star else str(origin)
            out.append(Sent("Access-Control-Allow-Origin", value, self.place("origin")))
        cookies = origin not in self.cookieless
        if self.credentials and cookies and (allowed or self.unconditional):
            out.append(Sent("Access-Control-Allow-Credentials", "true", self.place("credentials")))
        lists = (
            ("methods", "Access-Control-Allow-Methods", self.methods),
            ("headers", "Access-Control-Allow-Headers", self.headers),
        )
        for key, name, values in lists:
            if preflight and values and (allowed or self.unconditional):
                out.append(Sent(name, ", ".join(values), self.place(key)))
        if preflight and self.max_age is not None and allowed:
            out.append(Sent("Access-Control-Max-Age", str(self.max_age), self.place("max_age")))
        if preflight and self.private_network and allowed:
            out.append(
                Sent("Access-Control-Allow-Private-Network", "true", self.place("private_network"))
            )
        if self.vary and not self.star:
            out.append(Sent("Vary", "Origin", self.place("vary")))
        return out + [Sent(name, value, at(line)) for name, value, line in self.extra]


@dataclass(frozen=True)
class Block:
    """One location: the paths under `prefix`, at `line`."""

    line: int
    prefix: str
    cors: Cors | None = None
    snippet: Plan | None = None  # a corsgen snippet included here, at `line` + 1
    auth: int | None = None  # the line of an auth the request meets
    auth_first: bool = False  # auth runs before the preflight answer
    errors_to: str | None = None  # error answers are made by the block serving this path
    # every request but the preflight it answers goes on to the block serving this path (try_files)
    redirect_to: str | None = None
    named: str | None = None  # the policy the snippet's marker names, when not its plan's
    reads_snippet: bool = False  # the model reads the snippet's lines into a Granted too
    hides_cors: bool = True  # the backend's Access-Control-* headers are hidden
    hides_secret: bool = True
    host: str = "api.example.com"

    @property
    def at(self) -> Place:
        return at(self.line)


@dataclass
class FakeConfig:
    """The model: blocks, matched by the longest prefix."""

    blocks: Sequence[Block]
    asked: list[Asked] = field(default_factory=list)  # every request the model answered

    def block(self, path: str, host: str) -> Block:
        """The longest prefix, of the asked site's blocks first."""
        found = [b for b in self.blocks if path.startswith(b.prefix)]
        if not found:
            raise AssertionError(f"no block serves {path}")
        return max(found, key=lambda b: (b.host == host, len(b.prefix)))

    def scopes(self) -> Sequence[Scope]:
        return [
            Scope(
                at=b.at,
                host=b.host,
                paths=(b.prefix + "data",),
                title=f"location {b.prefix}",
                policy=(b.named or b.snippet.name) if b.snippet else None,
                granted=b.cors.granted() if b.cors else _read(b),
            )
            for b in self.blocks
            if b.cors or b.snippet
        ]

    def answer(self, asked: Asked, backend: Backend = audit_backend) -> Answered:
        self.asked.append(asked)
        block = self.block(asked.path, asked.host)
        trail = [f"location {block.prefix} at {block.at}"]
        origin = header_value(asked.headers, "Origin")
        preflight = is_preflight(asked.method, asked.headers)
        auth = at(block.auth) if block.auth is not None else None
        if auth is not None and (block.auth_first or not preflight):
            trail.append(f"auth at {auth}")
            return self._cors(block, asked, 401, [], trail, auth=auth, backend=False)
        if preflight and self._answers_preflight(block, origin):
            return self._cors(block, asked, self._preflight_status(block), [], trail, auth=auth)
        if block.redirect_to is not None:
            trail.append(f"try_files -> {block.redirect_to}")
            block = self.block(block.redirect_to, asked.host)
        status, pairs = backend(asked.method, asked.path)
        if status >= 400 and block.errors_to is not None:
            handler = self.block(block.errors_to, asked.host)
            trail.append(f"error_page -> {block.errors_to}")
            block = handler
        app = [
            Sent(name, value, None)
            for name, value in pairs
            if not (block.hides_cors and name.lower().startswith("access-control-"))
            and not (block.hides_secret and name == SECRET_HEADER)
        ]
        return self._cors(block, asked, status, app, trail, auth=auth, backend=True)

    def _answers_preflight(self, block: Block, origin: str | None) -> bool:
        if block.snippet is not None:
            return origin is not None and block.snippet.allows(origin)
        return block.cors is not None and block.cors.preflight_status is not None

    def _preflight_status(self, block: Block) -> int:
        if block.snippet is not None:
            return block.snippet.preflight_status
        assert block.cors is not None and block.cors.preflight_status is not None
        return block.cors.preflight_status

    def _cors(
        self,
        block: Block,
        asked: Asked,
        status: int,
        app: list[Sent],
        trail: list[str],
        auth: Place | None,
        backend: bool = False,
    ) -> Answered:
        headers = list(app)
        preflight = is_preflight(asked.method, asked.headers) and not backend
        if block.snippet is not None:
            snippet = Place(FILE, block.line + 1)
            _, promised = promised_answer(block.snippet, asked.method, asked.headers)
            headers += [Sent(name, value, snippet) for name, value in promised]
        elif block.cors is not None and (block.cors.always or status in OK_STATUSES):
            headers += block.cors.sent(header_value(asked.headers, "Origin"), preflight)
        return Answered(status, tuple(headers), block.at, tuple(trail), backend, auth)


def _read(block: Block) -> Granted | None:
    """What a snippet's lines grant, as a model that reads them gives it."""
    plan = block.snippet
    if plan is None or not block.reads_snippet:
        return None
    max_age = plan.value("max_age")
    return Granted(
        origins=plan.exact_origins,
        any_origin=plan.any_origin,
        credentials=credentials(plan),
        methods=listed(plan, "methods"),
        headers=listed(plan, "headers"),
        expose=listed(plan, "expose"),
        max_age=int(max_age) if max_age is not None else None,
        preflight_status=plan.preflight_status,
        at={"allow_origins": Place(FILE, block.line + 1)},
    )
