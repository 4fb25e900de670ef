"""The nginx corpus (tests/audit/corpus/nginx/) served as nginx serves it: the files copied to a
server's directory, the placeholders filled (README.md there), and the version the model follows.

The routing model's test and the import round trip both serve it; no test imports another.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from corsgen.targets.serving import slash_version
from testing.paths import ROOT

CORPUS = ROOT / "tests" / "audit" / "corpus" / "nginx"
CONFIGS = sorted(p.name for p in CORPUS.glob("*.conf"))


def fill(root: Path, name: str, port: int, upstream: int) -> Path:
    """The corpus copied into `root` (once: www/, htpasswd and cors/ beside each config), and
    the config `name` written there with PORT, UPSTREAM and ROOT filled: the file nginx includes
    in http {}, and the model loads."""
    if not (root / "htpasswd").exists():
        root.chmod(0o755)
        shutil.copytree(CORPUS, root, dirs_exist_ok=True)
    text = (CORPUS / name).read_text()
    filled = text.replace("PORT", str(port)).replace("UPSTREAM", f"127.0.0.1:{upstream}")
    (root / name).write_text(filled.replace("ROOT", str(root)))
    return root / name


def directive(config: str, name: str, default: str) -> str:
    """A corpus file's `# NAME: value` header line (paths, host), or `default`."""
    found = re.search(rf"^# {name}: (.*)$", config, re.MULTILINE)
    return found[1].strip() if found else default


def version(binary: str) -> tuple[int, int, int]:
    """The version `nginx -v` names: the model follows it (add_header_inherit from 1.29.3)."""
    major, minor, patch = (int(n) for n in slash_version(binary).split(".")[:3])
    return major, minor, patch
