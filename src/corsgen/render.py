"""Plan to text: the target's templates, filled with the values its module computed."""

from __future__ import annotations

import jinja2

from corsgen.marker import PLACEHOLDER, stamp
from corsgen.plan import Plan
from corsgen.targets import get
from corsgen.targets.base import comment


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("corsgen", "templates"),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["comment"] = comment
    return env


_ENV = _environment()


def render(plan: Plan, target: str) -> dict[str, str]:
    """File name to text, for every file the target writes."""
    spec = get(target)
    context = spec.context(plan)
    out = {}
    for part in spec.parts:
        text = _ENV.get_template(part.template).render(
            plan=plan, body_sha256=PLACEHOLDER, **context
        )
        out[plan.name + part.suffix] = stamp(text)
    return out
