"""The Traefik corpus (tests/audit/corpus/traefik/: a file, or a directory the file provider
reads as one) served as Traefik serves it: its upstream's URL (127.0.0.1:18080) made the test
upstream's, in a file provider's directory, and Traefik waited for until it has loaded each router.

The routing model's test and the import round trip both serve it; no test imports another.
"""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

from testing.paths import ROOT

CORPUS = ROOT / "tests" / "audit" / "corpus" / "traefik"
CONFIGS = sorted(p.name for p in CORPUS.iterdir())
UPSTREAM = "127.0.0.1:18080"


def files(name: str) -> list[Path]:
    """The corpus config's files: itself, or the files of its directory."""
    source = CORPUS / name
    return sorted(source.iterdir()) if source.is_dir() else [source]


def copy(name: str, into: Path, upstream: int) -> None:
    """The config's files into the file provider's directory, the upstream the test's."""
    for file in files(name):
        (into / file.name).write_text(file.read_text().replace(UPSTREAM, f"127.0.0.1:{upstream}"))


def loaded(api: int, routers: int) -> None:
    """Wait until Traefik's API lists every router the files define."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{api}/api/http/routers") as answer:
                listed = [r for r in json.load(answer) if r["name"].endswith("@file")]
                if len(listed) == routers:
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError("Traefik did not load the routers")
