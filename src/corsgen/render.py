"""Plan to text: the target's templates, filled with the values its module computed."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from corsgen.errors import CorsgenError
from corsgen.marker import PLACEHOLDER, stamp
from corsgen.plan import Plan
from corsgen.targets import by_name
from corsgen.targets.base import SHARED, comment
from corsgen.templating import Templates

_TEMPLATES = Templates(filters={"comment": comment})


@dataclass(frozen=True)
class _Origin:
    """What _header.j2 writes about a shared file: every policy it was computed from."""

    name: str
    source: str
    digest: str
    version: str


def _fill(template: str, plan: Plan | _Origin, context: Mapping[str, object]) -> str:
    """One template filled in, its marker line stamped with the hash of the text."""
    text = _TEMPLATES.render(template, {"plan": plan, "body_sha256": PLACEHOLDER, **context})
    return stamp(text)


def render_parts(plan: Plan, target: str) -> dict[str, str]:
    """File name to text, for the files of this one policy; refused when the target's format
    cannot express it (render, check and sync report every CG530 finding before this; this keeps
    any other caller from an approximation)."""
    spec = by_name(target)
    for refusal in spec.refusals(plan):
        message, fix = refusal.texts
        raise CorsgenError(f"refusing to render {plan.name} for {target}: {message}; {fix}")
    context = spec.context(plan)
    return {plan.name + part.suffix: _fill(part.template, plan, context) for part in spec.parts}


def render_shared(plans: Sequence[Plan], target: str) -> dict[str, str]:
    """The files the policies written to one directory share (none when they need none)."""
    spec = by_name(target)
    context = spec.shared_context(plans)
    if context is None or not plans:
        return {}
    ordered = sorted(plans, key=lambda p: p.name)
    if spec.shared_sized:
        # Stale as soon as any of the policies changes, as a policy's own file is.
        digest = hashlib.sha256("".join(f"{p.name}\n{p.digest}\n" for p in ordered).encode())
        source = "the policies " + " ".join(p.source for p in ordered)
    else:
        # The same file for any policies (Envoy's two filters): it names none of them, so that
        # `render --out-dir` of one policy beside others writes it unchanged.
        digest = hashlib.sha256(f"{target}\n".encode())
        source = f"every corsgen policy for {spec.title} in this directory"
    origin = _Origin(
        name=SHARED, source=source, digest=digest.hexdigest(), version=ordered[0].version
    )
    parts = spec.shared_parts
    return {SHARED + part.suffix: _fill(part.template, origin, context) for part in parts}


def render(plan: Plan, target: str) -> dict[str, str]:
    """File name to text, for every file the target writes for this policy rendered alone."""
    return {**render_parts(plan, target), **render_shared((plan,), target)}
