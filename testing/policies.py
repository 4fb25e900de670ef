"""Policies and values at corsgen's limits, and a plan from TOML text: what several tests build."""

from __future__ import annotations

from corsgen.limits import MAX_HEADER_VALUE, MAX_LIST_ENTRIES, MAX_TOKEN_LENGTH
from corsgen.plan import Plan, build_plan
from corsgen.policy.loading import parse_policy


def plan_of(text: str) -> Plan:
    """The plan of a policy given as TOML text, named api."""
    return build_plan(parse_policy(text, "api.toml"), "api", "api.toml")


def long_origin(length: int, index: int = 0) -> str:
    """A valid origin `length` characters long: a long custom scheme and a host of 253, the most
    DNS allows, that differs by `index`."""
    host = ".".join(["a" * 63, "b" * 63, "c" * 63, f"{index:06d}".ljust(61, "d")])
    return f"{'x' * (length - len('://') - len(host) - len(':65535'))}://{host}:65535"


def regex_of_length(length: int) -> str:
    """An accepted regex `length` characters long, about half of them backslashes (the most a
    portable regex can have), which nginx doubles."""
    head, tail = "https://r", r"\.example\.com"
    dashes, odd = divmod(length - len(head + tail), 2)
    return head + r"\-" * dashes + "r" * odd + tail


def longest_names(prefix: str) -> list[str]:
    """As many distinct names as a list may hold, the first as long as corsgen accepts, the rest
    as long as the joined header allows."""
    rest = (MAX_HEADER_VALUE - MAX_TOKEN_LENGTH) // (MAX_LIST_ENTRIES - 1) - 2
    first = f"{prefix}-longest-".ljust(MAX_TOKEN_LENGTH, "x")
    return [first, *(f"{prefix}-{i:04d}-".ljust(rest, "x") for i in range(1, MAX_LIST_ENTRIES))]
