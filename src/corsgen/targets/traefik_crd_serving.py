"""Traefik around the Middleware's spec.headers, as its CRD provider hands them on: each rendered
Middleware becomes a file provider's middleware (traefik_crd.file_provider), served as the
traefik target's (targets/traefik_serving.py)."""

from __future__ import annotations

from pathlib import Path

from corsgen.plan import Plan
from corsgen.targets.kubernetes import owned
from corsgen.targets.serving import Serving, one_build
from corsgen.targets.traefik_crd import file_provider
from corsgen.targets.traefik_serving import bench_with, configure_with, version


def crd_middleware(dynamic: Path, plan: Plan) -> str:
    from corsgen.render import render_parts

    for name, text in render_parts(plan, "traefik-crd").items():
        (dynamic / name).write_text(file_provider(text))
    return owned(plan)


SERVING = Serving(
    one_build("traefik-crd"), configure_with(crd_middleware), bench_with(crd_middleware), version
)
