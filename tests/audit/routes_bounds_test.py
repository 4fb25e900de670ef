"""`corsgen audit` and `corsgen import` in bounded time on configs of many routes (issue 23, the red
team's: 2,000 Traefik routers and 3,000 Apache <Location>s took over a minute). Each model looks a
request's route up by host and path prefix; a route matched by a regex no index finds, and
limits.MAX_CONFIG_ROUTES counts those: each target is run here at the limit of routes of regexes,
its worst, and refused one route past it, while three times as many routes filed by host or
prefix (Apache: as many <VirtualHost>s of a mass host too) are read in seconds. nginx has no such
count (its locations are looked up in a tree): it is run with thousands of locations nested in
one, whose scope paths were built sibling by sibling."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from corsgen.limits import MAX_CONFIG_ROUTES
from corsgen.targets.apache_routing import APACHE_UNIT
from corsgen.targets.caddy_routing import CADDY_UNIT
from corsgen.targets.envoy_routing import ENVOY_UNIT
from corsgen.targets.haproxy_routing import HAPROXY_UNIT
from corsgen.targets.traefik_routing import TRAEFIK_UNIT
from testing.binaries import need_binary
from testing.bounded import Bounded, assert_refused, run_capped
from testing.hostile import HOSTILE

# Measured at the limit on the 2-core machine with other sessions on it: at most 10 s for the
# audit (Traefik's and Envoy's regex routes) and 9 s for the import; four times that for a loaded
# CI machine. Before the models filed their routes, 1,000 took minutes.
SECONDS = 40


# What each target's refusal names. The generators' routes (testing/hostile.py) are matched one
# by one with `regex`, all of them counted; without it, each is filed and none is.
UNIT: dict[str, str] = {
    "traefik": TRAEFIK_UNIT,
    "apache": APACHE_UNIT,
    "apache-hosts": APACHE_UNIT,
    "caddy": CADDY_UNIT,
    "haproxy": HAPROXY_UNIT,
    "envoy": ENVOY_UNIT,
}
# Routes filed by host or path prefix (Apache: <Location>s of a prefix, or a mass host's
# <VirtualHost>s): not counted, and each costs a request next to nothing.
FILED = 3 * MAX_CONFIG_ROUTES


def _config(tmp_path: Path, config: str, count: int, regex: bool) -> Path:
    generate, name = HOSTILE[config]
    path = tmp_path / name
    path.write_text(generate(count, regex))
    if config == "caddy":
        need_binary("caddy", shutil.which("caddy"))
    return path


def _run(command: str, config: Path, generated: str) -> Bounded:
    target = generated.split("-")[0]  # apache-hosts: apache's
    extra = ("--out-dir", str(config.parent / "fresh")) if command == "import" else ()
    argv = (command, str(config), "--target", target, *extra)
    # Go reserves far more address space than it uses: `caddy adapt` runs uncapped.
    memory = {"memory": 0} if target == "caddy" else {}
    return run_capped(*argv, cwd=config.parent, seconds=SECONDS * 3, **memory)


def _finished(result: Bounded) -> None:
    """Answered, in time: findings or none, not a refusal, a config the model could not read
    (CG401) or an internal error."""
    assert result.code in (0, 1) and "the most `corsgen audit` reads" not in result.err, result
    assert "CG401" not in result.err, result
    assert result.seconds < SECONDS, result


@pytest.mark.parametrize("command", ["audit", "import"])
@pytest.mark.parametrize("target", sorted(UNIT))
def test_a_config_at_the_route_limit_is_read_in_seconds(
    tmp_path: Path, target: str, command: str
) -> None:
    config = _config(tmp_path, target, MAX_CONFIG_ROUTES, regex=True)
    _finished(_run(command, config, target))


@pytest.mark.parametrize("target", sorted(UNIT))
def test_one_route_past_the_limit_is_refused_in_one_line(tmp_path: Path, target: str) -> None:
    config = _config(tmp_path, target, MAX_CONFIG_ROUTES + 1, regex=True)
    result = _run("audit", config, target)
    assert_refused(result, f"more than {MAX_CONFIG_ROUTES:,} {UNIT[target]}", str(config))


@pytest.mark.parametrize("command", ["audit", "import"])
@pytest.mark.parametrize("target", sorted(UNIT))
def test_thousands_of_routes_filed_by_host_or_prefix_are_read_in_seconds(
    tmp_path: Path, target: str, command: str
) -> None:
    config = _config(tmp_path, target, FILED, regex=False)
    _finished(_run(command, config, target))


@pytest.mark.parametrize("command", ["audit", "import"])
def test_thousands_of_nested_nginx_locations_are_read_in_seconds(
    tmp_path: Path, command: str
) -> None:
    _finished(_run(command, _config(tmp_path, "nginx", 5_000, regex=False), "nginx"))
