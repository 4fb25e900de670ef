"""The templates as plain Python functions: jinja2 parses each one, and its tree becomes Python.

Importing jinja2 and compiling the templates took about a third of `corsgen render` on a small
policy. Templates only loop and interpolate (CONTRIBUTING.md), and that part of jinja reads as
Python directly: text, `{{ value }}`, filters, `for`, `if`, `with`, `include` and macros become one
function per template. The functions are compiled once and cached in the user's cache directory,
keyed on everything they depend on (corsgen, Python and jinja2 versions, this module, the filters'
names, every template's text), so jinja2 is imported only when one of those changed, or when no
cache can be written. jinja2 still parses every template, so whitespace control and syntax mean
what they always meant; a template that uses anything else is rendered by jinja2 itself.
"""

from __future__ import annotations

import contextlib
import hashlib
import marshal
import os
import sys
from collections.abc import Callable, Mapping
from importlib.machinery import PathFinder
from pathlib import Path
from types import CodeType
from typing import TYPE_CHECKING, Any

from corsgen import __version__

if TYPE_CHECKING:
    import jinja2

TEMPLATES = Path(__file__).with_name("templates")
Filter = Callable[..., object]
# A translated template: it appends its text for a context to the list.
Function = Callable[[Mapping[str, object], list[str]], None]


def _attr(obj: Any, name: str) -> Any:
    """`obj.name` as jinja2 reads it: the attribute, else the item."""
    try:
        return getattr(obj, name)
    except AttributeError:
        return obj[name]


def _item(obj: Any, key: Any) -> Any:
    """`obj[key]` as jinja2 reads it: the item, else (for a string key) the attribute."""
    try:
        return obj[key]
    except (AttributeError, TypeError, LookupError):
        if isinstance(key, str):
            return getattr(obj, key)
        raise


class Templates:
    """Every template in a directory (corsgen's own by default), rendered with these filters.
    `cache` is the directory for the compiled functions; by default the user's cache directory."""

    def __init__(
        self, filters: Mapping[str, Filter], directory: Path = TEMPLATES, cache: Path | None = None
    ) -> None:
        self.filters = filters
        self.directory = directory
        self.cache = cache if cache is not None else _cache_dir()
        self._functions: Mapping[str, Function] | None = None
        self._jinja: jinja2.Environment | None = None

    def render(self, name: str, context: Mapping[str, object]) -> str:
        if self._functions is None:
            self._functions = self._load()
        function = self._functions.get(name)
        if function is None:  # outside what translates: jinja2 renders it
            return self.environment().get_template(name).render(context)
        out: list[str] = []
        function(context, out)
        return "".join(out)

    def environment(self) -> jinja2.Environment:
        """jinja2, set up as corsgen always renders: what the translation reproduces."""
        if self._jinja is None:
            import jinja2

            self._jinja = jinja2.Environment(
                loader=jinja2.FileSystemLoader(self.directory),
                undefined=jinja2.StrictUndefined,
                trim_blocks=True,
                lstrip_blocks=True,
                keep_trailing_newline=True,
                autoescape=False,
            )
            self._jinja.filters.update(self.filters)
        return self._jinja

    def _load(self) -> Mapping[str, Function]:
        names = template_names(self.directory)
        key = self._key(names)
        path = None if self.cache is None else self.cache / f"templates-{key[:32]}.bin"
        code = _read(path, key) if path is not None else None
        if code is None:
            from corsgen.translate import translate

            source = translate(self.environment(), self.filters, names)
            code = compile(source, "<corsgen templates>", "exec")
            if path is not None:
                _write(path, marshal.dumps((key, code)))
        namespace: dict[str, Any] = {"_attr": _attr, "_item": _item, "_filters": self.filters}
        exec(code, namespace)
        functions: Mapping[str, Function] = namespace["FUNCTIONS"]
        return functions

    def _key(self, names: list[str]) -> str:
        """Everything the cached code depends on: a change to any of it is a new cache file."""
        digest = hashlib.sha256(f"{__version__}\n{sys.version}\n".encode())
        digest.update(Path(__file__).read_bytes())
        # jinja2's own version, which parses the templates, without importing it.
        spec = PathFinder.find_spec("jinja2")
        if spec is not None and spec.origin is not None:
            digest.update(Path(spec.origin).read_bytes())
        digest.update(repr(sorted(self.filters)).encode())
        for name in names:
            digest.update(f"\n{name}\n".encode())
            digest.update((self.directory / name).read_bytes())
        return digest.hexdigest()


def template_names(directory: Path) -> list[str]:
    """Every template, by the name jinja2 loads it with (nginx/http.conf.j2)."""
    found = []
    for parent, _, files in os.walk(directory):
        relative = os.path.relpath(parent, directory)
        found += [os.path.normpath(os.path.join(relative, f)) for f in files if f.endswith(".j2")]
    return sorted(found)


def _cache_dir() -> Path | None:
    """$XDG_CACHE_HOME/corsgen, else ~/.cache/corsgen; None without a home directory."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):  # the XDG spec says to ignore a relative path
        home = os.path.expanduser("~")
        if home == "~":
            return None
        base = os.path.join(home, ".cache")
    return Path(base) / "corsgen"


def _read(path: Path, key: str) -> CodeType | None:
    """The cached code for `key`; None when missing, unreadable, or not what we wrote."""
    try:
        stored, code = marshal.loads(path.read_bytes())
    except (OSError, EOFError, ValueError, TypeError):
        return None
    return code if stored == key and isinstance(code, CodeType) else None


def _write(path: Path, data: bytes) -> None:
    """Write the cache file whole or not at all. Runs at once each write a file of their own and
    rename it into place; a read-only or missing directory just leaves the cache cold."""
    temp = path.with_name(f"{path.name}.{os.getpid()}-{os.urandom(4).hex()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temp.write_bytes(data)
        os.replace(temp, path)
    except OSError:
        with contextlib.suppress(OSError):
            temp.unlink(missing_ok=True)
