"""What a server does with one request, as every target's routing model answers it.

Each target that `corsgen audit` and `corsgen import` read has one module, targets/NAME_routing.py,
that loads the user's whole config (with its includes) into a model of the server's request
routing: which site and block answer a request, the internal redirects on the way, the phases that
run (auth, the backend), and each header of the answer with the line of config that sent it. The
model is a server that runs in Python: the audit sends it probe's battery and judges its answers
with corsgen.fetch, the way `probe` judges a live server's; tests send the same requests to the
real server and hold the model to what it answers.

This module holds the types the models and the audit share; it names no server.

Where the audit reports what it finds, from the model's attribution alone:
- a header an answer has that it should not, or with a wrong value (a hostile origin reflected,
  `*` with credentials, Max-Age over the caps, the backend's own CORS headers doubled or passed):
  the line that sent it (Sent.at; the backend's header: Answered.by, the block that let it through);
- an origin test that admits hostile origins: the regex's line (OriginRegex.at);
- CORS headers an answer lacks (on errors, after a redirect, in a block that drops them): the
  block that answered (Answered.by), its trail saying how the request got there;
- a preflight that reaches auth or the backend: Answered.auth, else Answered.by.
Corpus configs (tests/audit/corpus/) mark each planted flaw with a comment on the line before it,
`# expect-next: SLUG[, SLUG]`, in these slugs: reflects-any-origin, origin-regex-admits-hostile,
wildcard-with-credentials, cors-missing-on-errors, cors-headers-dropped, vary-origin-missing,
duplicate-cors-header, upstream-cors-passes, preflight-reaches-auth, preflight-reaches-backend,
refused-origin-gets-cors, max-age-over-cap, allow-headers-star-with-credentials,
private-network-obsolete, hidden-header-leaks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

REDIRECT = " -> "  # in an Answered.trail step: the request went on to the URI after it


@dataclass(frozen=True, slots=True, order=True)
class Place:
    """A line of the user's config: where a finding is reported, and where a header came from."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


# What the backend answers a request, (method, path) -> (status, headers): it decides what leaks
# through a config. The audit's is a careless application (AUDIT_BACKEND); the tests that hold a
# model to its real server pass the one that server proxies to (testing/upstream.py).
Backend = Callable[[str, str], tuple[int, tuple[tuple[str, str], ...]]]

# A header a config may hide from the browser (*_hide_header, Header unset), which the audit's
# backend sends so that a config which stops hiding it shows.
SECRET_HEADER = "X-Internal-Token"
# The CORS headers a careless application sends of its own, for any origin.
CARELESS_CORS: tuple[tuple[str, str], ...] = (
    ("Access-Control-Allow-Origin", "https://corsgen-upstream.example"),
    ("Access-Control-Allow-Credentials", "true"),
)
# The last segment of probe's error paths (probe/run.py); the audit's keep the path's extension.
NOT_FOUND = "corsgen-probe-not-found"


def audit_backend(method: str, path: str) -> tuple[int, tuple[tuple[str, str], ...]]:
    """The backend the audit puts behind every config: its own CORS headers and a secret on every
    answer, 404 on probe's error paths."""
    status = 404 if NOT_FOUND in path.split("?")[0].rsplit("/", 1)[-1] else 200
    return status, (*CARELESS_CORS, (SECRET_HEADER, "corsgen-secret"))


def quiet_backend(method: str, path: str) -> tuple[int, tuple[tuple[str, str], ...]]:
    """A backend that sends no headers of its own: what a config answers with it is the config's
    own (what its hand-written CORS grants, read by the models and by import)."""
    return 200, ()


@dataclass(frozen=True, slots=True)
class Asked:
    """One request: the site it is for (Host), the method, the path with its query, the headers."""

    host: str
    method: str
    path: str
    headers: tuple[tuple[str, str], ...] = ()
    port: int | None = None  # the port it arrives on, when the config listens on several


@dataclass(frozen=True, slots=True)
class Sent:
    """One header of an answer, and what sent it: a line of config, or the backend (None)."""

    name: str
    value: str
    at: Place | None


@dataclass(frozen=True)
class Answered:
    """The model's answer to one request: status, headers, and how it got there."""

    status: int
    headers: tuple[Sent, ...]
    by: Place  # the block (location, section, route) whose settings made the answer
    # Each step on the way, in words, for a finding's "affected requests": "location /api/ at
    # site.conf:12", "try_files at site.conf:14 -> /index.php", "auth_basic at site.conf:3".
    # A step that sends the request on to another URI (an internal redirect) says where after
    # REDIRECT, and no other step has it: the audit tells a header lost for being an error from
    # one lost for where the request went by it (CG412, CG402).
    trail: tuple[str, ...] = ()
    backend: bool = False  # the request reached the backend (a preflight should not)
    auth: Place | None = None  # the authentication that answered or let it through

    def pairs(self) -> tuple[tuple[str, str], ...]:
        """The headers as probe's Answer and corsgen.fetch take them."""
        return tuple((h.name, h.value) for h in self.headers)

    def own(self) -> list[tuple[str, str]]:
        """The headers the config sent itself (a line of it), not the backend's, as pairs."""
        return [(h.name, h.value) for h in self.headers if h.at is not None]


@dataclass(frozen=True, slots=True)
class OriginRegex:
    """An origin regex as the config writes it: judged by the same CG108 proof and CG121 check as
    a policy's allow_origin_regex, and imported as one."""

    source: str
    at: Place
    flavor: str  # "pcre" (nginx, Apache, HAProxy), "re2" (Envoy, Traefik via Go's regexp)
    ignore_case: bool  # nginx's ~*, Apache's [NC], Go's (?i): origins match in any case
    # The server matches the whole Origin (Envoy's safe_regex); else it searches the Origin for
    # a match (PCRE in nginx, Apache, HAProxy; Go's MatchString in Traefik) unless ^ and $ anchor.
    whole: bool = False


@dataclass(frozen=True)
class Granted:
    """What one hand-written CORS configuration grants today, in a policy's keys, read from the
    model (not from what its author meant): what `corsgen import` writes, key by key, each with
    the line it came from in `at`."""

    origins: tuple[str, ...] = ()  # exact origins it allows
    regexes: tuple[OriginRegex, ...] = ()
    any_origin: bool = False  # Access-Control-Allow-Origin: *
    reflects: bool = False  # any Origin is sent back (no allowlist at all)
    credentials: bool = False
    methods: tuple[str, ...] = ()
    headers: tuple[str, ...] = ()  # may hold "*"
    expose: tuple[str, ...] = ()
    max_age: int | None = None
    private_network: bool = False
    preflight_status: int | None = None
    at: Mapping[str, Place] = field(default_factory=dict)  # policy key -> where it came from


@dataclass(frozen=True)
class Scope:
    """One place the config answers CORS its own way: a location, a section, a site, a route.

    `paths` are requests that reach it (the model found them from the block's own match), each
    probed; `policy` names the corsgen policy whose snippet is included here, `granted` is what
    hand-written CORS config here grants; a scope may have both, or neither (a block that drops
    CORS headers a snippet above it sends).
    """

    at: Place
    host: str
    paths: tuple[str, ...]
    title: str  # how the server's users name it: "location /api/", "<Location /api/>"
    policy: str | None = None
    granted: Granted | None = None
    port: int | None = None


class Routes(Protocol):
    """A target's loaded model of one config."""

    def answer(self, asked: Asked, backend: Backend = audit_backend) -> Answered:
        """What the server sends for this request, with `backend` behind it."""
        ...

    def scopes(self) -> Sequence[Scope]:
        """Every place the config answers CORS, in the order of the config."""
        ...
