"""Traefik, started for real around corsgen's output: see targets/serving.py."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from corsgen.plan import Plan
from corsgen.targets.base import WRAPPER
from corsgen.targets.serving import (
    Bench,
    Configure,
    Serving,
    Setup,
    Site,
    one_build,
    version_output,
    write_snippets,
)
from corsgen.targets.traefik import Routers, middleware, routers
from corsgen.targets.traefik_check import static

# Traefik's file provider reads a directory and all below it: the static file stays out of it.
DYNAMIC = "dynamic"
# Write a plan's middleware into the file provider's directory; its name there.
Write = Callable[[Path, Plan], str]


def version(binary: str) -> str:
    out = version_output(binary, "version")
    return out.split()[1] if len(out.split()) > 1 else out.strip()


def command(binary: str, root: Path, entrypoints: dict[str, int], ping: bool = False) -> list[str]:
    """Write root/traefik.yml, its file provider on root/DYNAMIC; the command that runs it."""
    (root / "traefik.yml").write_text(static(root / DYNAMIC, entrypoints, ping=ping))
    return [binary, f"--configFile={root / 'traefik.yml'}"]


def file_middleware(dynamic: Path, plan: Plan) -> str:
    """The traefik target's own file."""
    write_snippets(dynamic, (plan,), "traefik")
    return middleware(plan)


def configure_with(write: Write) -> Configure:
    """The config test's routers (traefik.routers) for each policy's middleware, as `write`
    writes it, on an entrypoint per port."""

    def configure(context: str, binary: str, root: Path, site: Site) -> list[str]:
        dynamic = root / DYNAMIC
        dynamic.mkdir()
        groups = [
            Routers(
                plan.name, write(dynamic, plan), site.prefix(plan), f"port{site.ports[plan.name]}"
            )
            for plan in site.plans
        ]
        text = routers(groups, site.upstream, site.dead, site.sha_password())
        (dynamic / (WRAPPER + ".yml")).write_text(text)
        return command(binary, root, {f"port{port}": port for port in site.servers()})

    return configure


def bench_with(write: Write) -> Bench:
    """Traefik answers itself (the ping handler's 200 "OK", on the same entrypoint), as nginx
    does, after the middleware, as `write` writes corsgen's."""

    def bench(binary: str, root: Path, port: int, setup: Setup) -> list[str]:
        dynamic = root / DYNAMIC
        dynamic.mkdir()
        name = ""
        if setup.plan is not None:
            name = write(dynamic, setup.plan) + "@file"
        elif setup.snippet:
            (dynamic / "handwritten.yml").write_text(setup.snippet)
            name = "handwritten@file"
        elif setup.headers:
            # customResponseHeaders sets each over the upstream's copy: replacing costs nothing.
            lines = "".join(f'          {k}: "{v}"\n' for k, v in setup.headers.items())
            head = "http:\n  middlewares:\n    floor:\n      headers:\n"
            (dynamic / "floor.yml").write_text(head + "        customResponseHeaders:\n" + lines)
            name = "floor@file"
        middlewares = f"      middlewares: [{name}]\n" if name else ""
        (dynamic / "bench-router.yml").write_text(
            f"http:\n  routers:\n    bench:\n      rule: PathPrefix(`/`)\n{middlewares}"
            "      service: ping@internal\n"
        )
        return command(binary, root, {"web": port}, ping=True)

    return bench


# The middleware first on a router; several policies each on routers of their own paths.
SERVING = Serving(
    one_build("traefik"), configure_with(file_middleware), bench_with(file_middleware), version
)
