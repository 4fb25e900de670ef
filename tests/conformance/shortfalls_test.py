"""What a server does where it falls short of a policy, as it does today (docs/promises.md,
"What each server keeps"): each test pins the behaviour `corsgen check` warns about (CG501), so
a release that fixes it, or a default that changes, shows up here."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import pytest

from corsgen.fetch import header_value
from corsgen.plan import Plan
from corsgen.render import render
from corsgen.targets.envoy import FILTERS, MAX_PROGRAM_SIZE, Listener, bootstrap
from corsgen.targets.envoy import program_size as envoy_program_size
from corsgen.targets.haproxy import buffers
from corsgen.verify import find_binary
from testing.binaries import need_binary
from testing.client import send
from testing.processes import free_port, process
from testing.servers import Endpoint, serving, unchecked_plan, write_snippets
from testing.upstream import Upstream

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


LONG_REGEX = 'allow_origins = []\nallow_origin_regex = "https://[a-z]{1,80}\\\\.example\\\\.com"\n'


def _envoy_fragments(plan: Plan) -> tuple[str, str]:
    """The shared filters and the policy's keys, as corsgen writes them for Envoy."""
    files = render(plan, "envoy")
    filters = next(name for name in files if name.endswith(FILTERS.suffix))
    (fragment,) = (text for name, text in files.items() if name != filters)
    return files[filters], fragment


def test_envoy_refuses_a_large_regex_without_the_runtime_line_cg205_gives(tmp_path: Path) -> None:
    binary = find_binary("envoy")
    need_binary("envoy", binary)
    plan = unchecked_plan("big", LONG_REGEX)
    size = envoy_program_size(plan)
    assert size > MAX_PROGRAM_SIZE
    wrapper = tmp_path / "bootstrap.yaml"
    command = [str(binary), "--mode", "validate", "-c", str(wrapper), "-l", "warning"]
    filters, fragment = _envoy_fragments(plan)
    listeners = [Listener(1, ((fragment, ""),))]
    # The config test's own bootstrap, its runtime at Envoy's default.
    wrapper.write_text(bootstrap(filters, listeners, program_size=MAX_PROGRAM_SIZE))
    refused = subprocess.run(command, capture_output=True, text=True, check=False)
    assert refused.returncode == 1
    assert f"RE2 program size of {size} > max program size of {MAX_PROGRAM_SIZE}" in refused.stderr
    wrapper.write_text(bootstrap(filters, listeners))
    assert subprocess.run(command, capture_output=True, check=False).returncode == 0


def test_envoy_sends_no_cors_header_on_a_direct_response(upstream: Upstream) -> None:
    """The cors filter reads its policy from a route to a cluster; a direct_response has none."""
    binary = find_binary("envoy")
    need_binary("envoy", binary)
    plan = unchecked_plan("direct", f'allow_origins = ["{ORIGIN}"]\n')
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="corsgen-server-") as tmp:
        root = Path(tmp)
        filters, fragment = _envoy_fragments(plan)
        text = bootstrap(filters, [Listener(port, ((fragment, ""),))], upstream=upstream.port)
        # The routes to the upstream answer directly instead.
        text = text.replace("route: {cluster: up}", "direct_response: {status: 200}")
        (root / "envoy.yaml").write_text(text)
        command = [str(binary), "-c", str(root / "envoy.yaml"), "--disable-hot-restart"]
        with process([*command, "-l", "warning", "--concurrency", "1"], root, (port,)):
            answer = send(Endpoint(port), "GET", "/ok", {"Origin": ORIGIN})
            assert answer.status == 200
            assert header_value(answer.headers, "Vary") == "Origin"  # the header_mutation filter's
            assert header_value(answer.headers, "Access-Control-Allow-Origin") is None


def test_envoy_answers_a_star_in_allow_headers_with_the_headers_asked_for(
    upstream: Upstream,
) -> None:
    plan = unchecked_plan("star", f'allow_origins = ["{ORIGIN}"]\nallow_headers = ["*"]\n')
    with serving("envoy", (plan,), upstream.port) as ports:
        headers = {
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization,x-any",
        }
        answer = send(ports["star"], "OPTIONS", "/ok", headers)
        assert header_value(answer.headers, "Access-Control-Allow-Origin") == ORIGIN
        assert header_value(answer.headers, "Access-Control-Allow-Headers") == "authorization,x-any"
