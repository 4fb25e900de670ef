"""The registry of targets: one module per server under targets/, named here once.

Adding a target is a module with one Target subclass named TARGET, its templates under
templates/NAME/, its tests, and its module name in MODULES (see CONTRIBUTING.md).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from corsgen.errors import CorsgenError, Finding
from corsgen.plan import Plan
from corsgen.targets.base import Target

if TYPE_CHECKING:
    from corsgen.targets.serving import Serving

# The order users see in --help, `corsgen verify` and the docs. A module's name is its target's
# with - as _ (gateway_api is `gateway-api`).
MODULES = (
    "nginx",
    "apache",
    "caddy",
    "haproxy",
    "traefik",
    "envoy",
    "gateway_api",
    "envoy_gateway",
    "istio",
    "traefik_crd",
)


def module_of(name: str) -> str:
    """The module of a target's name: targets/MODULE.py, and MODULE_serving.py beside it."""
    return name.replace("-", "_")


def _load() -> dict[str, Target]:
    targets = {}
    for module in MODULES:
        target = importlib.import_module(f"corsgen.targets.{module}").TARGET
        assert isinstance(target, Target) and module_of(target.name) == module, module
        targets[target.name] = target
    return targets


TARGETS: Mapping[str, Target] = _load()
NAMES: tuple[str, ...] = tuple(TARGETS)


def by_name(name: str) -> Target:
    try:
        return TARGETS[name]
    except KeyError:
        raise CorsgenError(f"unknown target {name!r}; choose one of {', '.join(NAMES)}") from None


def serving_of(name: str) -> Serving:
    """How to start the target's server for real (tests and benchmark): targets/NAME_serving.py,
    imported only when asked."""
    from corsgen.targets.serving import Serving

    module = module_of(by_name(name).name)
    serving = importlib.import_module(f"corsgen.targets.{module}_serving").SERVING
    assert isinstance(serving, Serving), name
    return serving


def titles() -> str:
    """The servers by their own names, for help text: "nginx, Apache httpd and Caddy"."""
    names = [t.title for t in TARGETS.values()]
    return ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0]


def limit_findings(plan: Plan, file: str) -> list[Finding]:
    """What any target cannot load of this plan, as findings against the policy file."""
    return [limit.finding(file) for target in TARGETS.values() for limit in target.limits(plan)]


def refusal_findings(plan: Plan, file: str, targets: Sequence[str]) -> list[Finding]:
    """What these targets' formats cannot express of this plan (CG530), as errors: the policy is
    refused for them alone."""
    return [no.finding(file) for name in targets for no in by_name(name).refusals(plan)]


def expressible(plan: Plan, targets: Sequence[str]) -> tuple[str, ...]:
    """The targets among these whose format can express the plan."""
    return tuple(name for name in targets if not any(by_name(name).refusals(plan)))


def readers() -> tuple[str, ...]:
    """The targets whose configs `corsgen audit` and `corsgen import` read."""
    return tuple(name for name, target in TARGETS.items() if target.reads_configs)


def shortfall_findings(plan: Plan, file: str, targets: Sequence[str]) -> list[Finding]:
    """Where these targets' servers fall short of this plan, as warnings against the policy."""
    return [short.finding(file) for name in targets for short in by_name(name).shortfalls(plan)]
