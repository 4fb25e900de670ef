"""The templates, rendered by jinja2 itself from the package's own files.

Templates only loop and interpolate (CONTRIBUTING.md); every decision is made in Python before.
An earlier corsgen compiled them to Python and kept the code in the user's cache directory to save
jinja2's import (about 20 ms of a render); code read back from a directory other users could
write was code corsgen ran without writing it, so the templates are now jinja2's alone. Nothing
is cached on disk: jinja2 compiles the few templates a render needs in a few milliseconds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import jinja2

Filter = Callable[..., object]


class Templates:
    """corsgen's templates, package data under corsgen/templates/, rendered with these filters."""

    def __init__(self, filters: Mapping[str, Filter]) -> None:
        self.filters = filters
        self._jinja: jinja2.Environment | None = None

    def render(self, name: str, context: Mapping[str, object]) -> str:
        return self.environment().get_template(name).render(context)

    def environment(self) -> jinja2.Environment:
        """jinja2, set up as corsgen always renders: strict about undefined names, no escaping
        (the targets quote every value for their own syntax), blocks on lines of their own."""
        if self._jinja is None:
            import jinja2  # imported here: `check` renders nothing

            self._jinja = jinja2.Environment(
                # As package data (importlib.resources), wherever and however corsgen is installed.
                loader=jinja2.PackageLoader("corsgen", "templates"),
                undefined=jinja2.StrictUndefined,
                trim_blocks=True,
                lstrip_blocks=True,
                keep_trailing_newline=True,
                autoescape=False,
            )
            self._jinja.filters.update(self.filters)
        return self._jinja
