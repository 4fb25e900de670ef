"""The Envoy corpus (tests/audit/corpus/envoy/) served as Envoy serves it: its listeners' ports
(10000, 10001, ...) made free ones, its cluster's (18080) the test upstream's and a dead one's
(18081, an authorization service nothing answers for) a free port.

The routing model's test and the import round trip both serve it; no test imports another.
"""

from __future__ import annotations

import re

from corsgen.targets.serving import free_port
from testing.paths import ROOT

CORPUS = ROOT / "tests" / "audit" / "corpus" / "envoy"
CONFIGS = sorted(p.name for p in CORPUS.iterdir())
LISTENER, UPSTREAM = re.compile(r"port_value: (1000\d)\b"), "port_value: 18080"
DEAD = "port_value: 18081"


def filled(name: str, upstream: int) -> tuple[str, list[int]]:
    """The bootstrap with its ports filled, and the ports it listens on."""
    text = (CORPUS / name).read_text()
    ports = {placeholder: free_port() for placeholder in LISTENER.findall(text)}
    text = LISTENER.sub(lambda m: f"port_value: {ports[m[1]]}", text)
    text = text.replace(UPSTREAM, f"port_value: {upstream}")
    return text.replace(DEAD, f"port_value: {free_port()}"), list(ports.values())
