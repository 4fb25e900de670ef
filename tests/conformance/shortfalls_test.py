"""What a server does where it falls short of a policy, as it does today (README.md, "What each
server keeps"): each test pins the behaviour `corsgen check` warns about (CG205), so a release
that fixes it, or a default that changes, shows up here."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from corsgen.targets.haproxy import buffers
from corsgen.verify import find_binary
from tests.conformance.conformance_test import send
from tests.conformance.servers import Endpoint, free_port, process, unchecked_plan, write_snippets
from tests.conformance.upstream import Upstream
from tests.conftest import need_binary

pytestmark = pytest.mark.conformance

ORIGIN = "https://app.example.com"
HEADERS = [f"X-Request-{i:04d}" for i in range(1_200)]  # about 18 KiB joined


def test_haproxy_default_buffers_answer_500_to_a_preflight_they_cannot_hold(
    upstream: Upstream,
) -> None:
    binary = find_binary("haproxy")
    need_binary("haproxy", binary)
    listed = ", ".join(f'"{h}"' for h in HEADERS)
    plan = unchecked_plan("big", f'allow_origins = ["{ORIGIN}"]\nallow_headers = [{listed}]\n')
    assert not buffers(plan).default
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="corsgen-server-") as tmp:
        root = Path(tmp)
        write_snippets(root, (plan,), "haproxy")
        (root / "haproxy.cfg").write_text(
            "defaults\n    mode http\n    timeout connect 2s\n    timeout client 10s\n"
            f"    timeout server 10s\nfrontend f from corsgen_big\n    bind 127.0.0.1:{port}\n"
            f"    timeout client 10s\n    default_backend b\nbackend b\n"
            f"    server up 127.0.0.1:{upstream.port}\n"
        )
        command = [str(binary), "-db", "-f", str(root / "big.cfg"), "-f", str(root / "haproxy.cfg")]
        with process(command, root, (port,)):
            headers = {"Origin": ORIGIN, "Access-Control-Request-Method": "GET"}
            answer = send(Endpoint(port), "OPTIONS", "/ok", headers)
            assert answer.status == 500
            assert send(Endpoint(port), "GET", "/ok", {"Origin": ORIGIN}).status == 200
