"""The docs site builds, and every table it generates from the code is fresh.

The pages (README.md, docs/*.md) hold cog blocks that docs/gen.py fills from the code: the policy's
keys, the rules, the limits, the commands and the servers' notes. `cog --check` fails when one is
stale (rewrite them with `cog -r -I docs README.md docs/*.md docs/servers/*.md`), and
`mkdocs build --strict` fails on a broken link or anchor, or any other warning.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import corsgen
from testing.binaries import need_binary
from testing.paths import ROOT

DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(DOCS.glob("*.md")), *sorted(DOCS.glob("*/*.md"))]


def _run(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    """python -m MODULE ARGS from the repository, importing the corsgen these tests import."""
    need_binary(f"{module} (pip install -e '.[test]')", importlib.util.find_spec(module))
    source = str(Path(corsgen.__file__).resolve().parent.parent)
    path = os.pathsep.join(p for p in (source, os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "PYTHONPATH": path, "NO_MKDOCS_2_WARNING": "1"}
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )


def test_every_generated_table_is_fresh() -> None:
    done = _run("cogapp", "--check", "-I", str(DOCS), *(str(p) for p in PAGES))
    assert done.returncode == 0, done.stdout + done.stderr
    # Every page with a table from the code names gen.py; a page of none has no block to check.
    assert "[[[cog" in (DOCS / "rules.md").read_text(encoding="utf-8")


def test_the_site_builds_strictly() -> None:
    with tempfile.TemporaryDirectory(prefix="corsgen-site-") as site:
        done = _run("mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml"), "-d", site)
        assert done.returncode == 0, done.stdout + done.stderr
        assert (Path(site) / "servers" / "haproxy" / "index.html").is_file()


def test_every_page_is_in_the_nav() -> None:
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    for page in PAGES[1:]:
        assert page.relative_to(DOCS).as_posix() in nav, page


def test_the_traefik_middleware_is_named_as_the_docs_say() -> None:
    done = _run("corsgen", "render", "examples/spa-api.toml", "--target", "traefik")
    assert "\n    corsgen-spa_api:\n" in done.stdout
    for page in (ROOT / "README.md", DOCS / "servers" / "traefik.md"):
        assert "`corsgen-spa_api`" in page.read_text(encoding="utf-8")
