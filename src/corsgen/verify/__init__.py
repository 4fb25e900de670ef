"""Read every output back in before it is written: structure first, then the real servers."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from corsgen.render import Target
from corsgen.verify import apache, caddy, nginx

PARSERS: Mapping[Target, Callable[[Mapping[str, str]], None]] = {
    "nginx": nginx.check,
    "apache": apache.check,
    "caddy": caddy.check,
}


def check_structure(files: Mapping[str, str], target: Target) -> None:
    """Raise VerifyError, `msg in file:line`, if the rendered files do not parse."""
    PARSERS[target](files)
