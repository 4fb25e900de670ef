"""The Kubernetes targets' config test, which no server gives here: corsgen's offline check.

`python -m corsgen.targets.kube_check TARGET DIR FILE...` reads each FILE in DIR, parses it back
and checks its shape (Target.check_structure), and exits 1 with the first problem, 0 when every
file passes. It runs as a process of its own, as a server's config test does, so `corsgen verify`
and `render --verify` report it the same way.

The field rules an API server holds the resource to (patterns, item limits, enums, the CRD's CEL
rules) are kube_validate.py's; its check joins this one here when it is merged.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from corsgen.errors import CorsgenError


def main(argv: Sequence[str]) -> int:
    from corsgen.targets import by_name

    target, root, *names = argv
    files = {name: (Path(root) / name).read_text(encoding="utf-8") for name in names}
    try:
        by_name(target).check_structure(files)
    except CorsgenError as exc:
        print(f"{target}: {exc}", file=sys.stderr)
        return 1
    print(f"{target}: {len(files)} file(s) checked offline", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
