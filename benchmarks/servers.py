"""Each target's benchmark server: a fixed 200 on 127.0.0.1, with one CORS configuration.

A configuration is corsgen's output, the floor (the same server setting the same headers
statically), no CORS at all, or a hand-written snippet. The response is the cheapest each server
has (nginx `return`, Caddy `respond`, a small static file for Apache httpd), so what differs
between two servers is the CORS configuration alone. The config each server runs with is its
target's (corsgen.targets.NAME_serving, `bench`).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from tempfile import TemporaryDirectory

from corsgen.targets import by_name
from corsgen.targets.serving import BENCH_PATH, Serving
from corsgen.targets.serving import Setup as Setup
from testing.processes import answers, free_port, process
from testing.servers import servings

PATH = BENCH_PATH  # every server answers it with "ok"
HANDWRITTEN = Path(__file__).parent / "handwritten"


@dataclass(frozen=True)
class Bench:
    """How to benchmark one target: its builds, by the names the tables give them, and how to
    serve a Setup with it."""

    target: str
    serving: Serving

    def kinds(self) -> dict[str, str | None]:
        title = by_name(self.target).title
        builds = self.serving.kinds()
        labels = self.serving.labels or {kind: title for kind in builds}
        return {labels[kind]: builds[kind] for kind in labels}

    def version(self, binary: str) -> str:
        return self.serving.version(binary)

    def handwritten(self, alternation: str) -> str:
        text = (HANDWRITTEN / f"{self.target}.conf").read_text()
        return text.replace("@ALTERNATION@", alternation)


BENCH: Sequence[Bench] = tuple(Bench(name, serving) for name, serving in servings().items())


def pin(core: int) -> list[str]:
    """taskset to one core, when there are two to share between server and load."""
    return (
        ["taskset", "-c", str(core)]
        if (os.cpu_count() or 1) > 1 and shutil.which("taskset")
        else []
    )


@contextmanager
def serve(bench: Bench, binary: str, setup: Setup) -> Iterator[int]:
    """Run the server with `setup` on a free port, pinned to the second core; yields the port."""
    with TemporaryDirectory(prefix="corsgen-bench-") as tmp:
        root = Path(tmp)
        root.chmod(0o755)
        port = free_port()
        command = bench.serving.bench(binary, root, port, setup)
        with process(command, root, (port,), prefix=pin(1)):
            answers(port, PATH, lambda response: response.status == 200)
            yield port
