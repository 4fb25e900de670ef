"""What is measured: three policies, and the origins a request carries."""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import Enum

from corsgen.plan import Plan, build_plan
from corsgen.policy.loading import parse_policy

FOUR = (
    "https://app.example.com",
    "https://admin.example.com",
    "https://docs.example.com",
    "https://status.example.com",
)
TENANTS = tuple(f"https://tenant-{i}.example.com" for i in range(10_000))
# What the rest of a policy says: the headers of the README's example, with credentials.
_REST = """\
allow_methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
allow_headers = ["Content-Type", "Authorization", "X-Request-Id"]
expose_headers = ["ETag", "Link", "X-Request-Id"]
allow_credentials = true
max_age = 600
"""


class Baseline(Enum):
    """What corsgen's output is compared with."""

    FLOOR = "the floor"  # the same CORS headers, set statically
    NONE = "no CORS"  # a refused origin gets no CORS header: the server without any


@dataclass(frozen=True)
class Case:
    title: str
    policy: str  # the key into policies()
    origin: str
    baseline: Baseline

    @property
    def allowed(self) -> bool:
        return self.baseline is Baseline.FLOOR


def _policy(name: str, origins: tuple[str, ...], regex: str | None = None) -> Plan:
    text = f"name = {json.dumps(name)}\nallow_origins = {json.dumps(list(origins))}\n" + _REST
    if regex is not None:
        text += f"allow_origin_regex = {json.dumps(regex)}\n"
    return build_plan(parse_policy(text, f"{name}.toml"), name, f"{name}.toml")


def policies() -> dict[str, Plan]:
    return {
        "four": _policy("four", FOUR),
        "tenants": _policy("tenants", TENANTS),
        "patterns": _policy(
            "patterns",
            ("https://app.example.com", "https://*.preview.example.com"),
            r"https://pr-[0-9]+\.review\.example\.com",
        ),
    }


CASES = (
    Case("4 origins, allowed first", "four", FOUR[0], Baseline.FLOOR),
    Case("4 origins, allowed last", "four", FOUR[-1], Baseline.FLOOR),
    Case("4 origins, refused", "four", "https://evil.example.net", Baseline.NONE),
    Case("10,000 origins, allowed first", "tenants", TENANTS[0], Baseline.FLOOR),
    Case("10,000 origins, allowed last", "tenants", TENANTS[-1], Baseline.FLOOR),
    Case("10,000 origins, refused", "tenants", "https://tenant-10000.example.com", Baseline.NONE),
    Case(
        "wildcard origin (`*.preview`)", "patterns", "https://x.preview.example.com", Baseline.FLOOR
    ),
    Case(
        "regex origin (`pr-[0-9]+`)", "patterns", "https://pr-42.review.example.com", Baseline.FLOOR
    ),
)
# The hand-written snippets hold the four origins in one regex alternation.
HANDWRITTEN = Case(
    "hand-written snippet, 4 origins, allowed first", "four", FOUR[0], Baseline.FLOOR
)
# No logic, static headers that also replace an upstream's copies: the floor plus the one promise
# that has a price per request on some servers (Caddy's deferred header block).
REPLACING = Case(
    "static headers that replace an upstream's, 4 origins, allowed first",
    "four",
    FOUR[0],
    Baseline.FLOOR,
)
ALTERNATION = "|".join(o.removeprefix("https://").replace(".", r"\.") for o in FOUR)
