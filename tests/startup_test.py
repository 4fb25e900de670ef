"""What a command imports: at a CLI's scale, start-up is most of the time a small render takes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from corsgen.targets import NAMES, TARGETS, module_of
from testing.paths import EXAMPLES

# Each costs tens of milliseconds to import, and none is needed to check a plain policy: pydantic
# only judges a malformed file, jinja2 only renders (templating.py), the rest only a regex, a
# wildcard or an IDN host.
HEAVY = ("pydantic", "jinja2", "interegular", "pcre2", "re2", "idna", "publicsuffixlist")
# Lighter, but a render pays for them in milliseconds it is measured in: crossplane only checks
# nginx's output, and the *_config modules only read a user's config (`corsgen audit`).
ONLY_WHEN_NEEDED = (
    "crossplane",
    *(f"corsgen.targets.{module_of(name)}_config" for name in NAMES),
)


def _imported(*argv: str, watched: tuple[str, ...] = HEAVY) -> set[str]:
    """Which of the watched modules `corsgen ARGV` imports, in a fresh interpreter."""
    code = (
        "import io, sys\n"
        "from contextlib import redirect_stderr, redirect_stdout\n"
        "from corsgen.cli import main\n"
        "with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):\n"
        f"    main({list(argv)!r})\n"
        f"print(' '.join(m for m in {watched!r} if m in sys.modules))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(run.stdout.split())


# A Kubernetes manifest (the targets whose config audit does not read) is checked on every render
# as its API server would (targets/kube_validate.py): the CRDs' patterns are RE2's, as Kubernetes
# matches them, and their CEL rules cel-python's (whose parser, lark, imports interegular).
CHECKED_AS_AN_API_SERVER = {"re2", "interegular"}


@pytest.mark.parametrize("target", NAMES)
def test_render_of_a_plain_policy_imports_only_jinja2_of_the_heavy_modules(target: str) -> None:
    imported = _imported("render", str(EXAMPLES / "spa-api.toml"), "--target", target)
    if not TARGETS[target].reads_configs:
        imported -= CHECKED_AS_AN_API_SERVER
    assert imported == {"jinja2"}


def test_check_of_a_plain_policy_imports_none_of_the_heavy_modules() -> None:
    assert _imported("check", str(EXAMPLES / "spa-api.toml")) == set()


def test_each_heavy_module_is_imported_when_the_policy_needs_it(tmp_path: Path) -> None:
    wildcard = tmp_path / "wild.toml"
    wildcard.write_text('allow_origins = ["https://*.example.com"]\n')
    assert _imported("check", str(wildcard)) == {"publicsuffixlist"}
    malformed = tmp_path / "bad.toml"
    malformed.write_text('allow_origins = ["https://a.example.com"]\nmax_age = "600"\n')
    assert _imported("check", str(malformed)) == {"pydantic"}
    idn = tmp_path / "idn.toml"
    idn.write_text('allow_origins = ["https://b\u00fccher.example"]\n')
    assert _imported("check", str(idn)) == {"idna"}
    assert _imported("check", str(EXAMPLES / "previews.toml")) >= {"interegular", "pcre2", "re2"}


@pytest.mark.parametrize("target", NAMES)
def test_render_imports_only_the_checks_its_target_needs(target: str) -> None:
    found = _imported(
        "render", str(EXAMPLES / "spa-api.toml"), "--target", target, watched=ONLY_WHEN_NEEDED
    )
    assert found == ({"crossplane"} if target == "nginx" else set())
