"""The nginx routing model (targets/nginx_routing.py) against the real nginx: every corpus config
served with testing/upstream.py behind it, the same requests sent to both, and the status, the
CORS headers, Vary's origin token and the secret header compared, one table per config."""

from __future__ import annotations

import base64
import http.client
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from corsgen.render import render_parts
from corsgen.routing import SECRET_HEADER, Answered, Asked
from corsgen.targets.nginx import main_config
from corsgen.targets.nginx_routing import NginxRoutes, load
from corsgen.verify import find_binary
from testing.binaries import need_binary
from testing.processes import free_port, process
from testing.servers import unchecked_plan
from testing.upstream import Upstream, answer

CORPUS = Path(__file__).with_name("corpus") / "nginx"
CONFIGS = sorted(p.name for p in CORPUS.glob("*.conf"))
ALLOWED, HOSTILE = "https://app.example.com", "https://evil.example"
LOOKALIKE = "https://app.example.com.evil.example"  # what an unanchored regex lets in
AUTHORIZED = ("Authorization", "Basic " + base64.b64encode(b"corsgen:s3cret").decode())
# Each path is asked by these: (name, method, headers).
PREFLIGHT = (
    ("Access-Control-Request-Method", "PUT"),
    ("Access-Control-Request-Headers", "content-type"),
)
ASKS: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...] = (
    ("GET", "GET", ()),
    ("GET allowed", "GET", (("Origin", ALLOWED),)),
    ("GET hostile", "GET", (("Origin", HOSTILE),)),
    ("GET lookalike", "GET", (("Origin", LOOKALIKE),)),
    ("GET authorized", "GET", (("Origin", ALLOWED), AUTHORIZED)),
    ("POST allowed", "POST", (("Origin", ALLOWED),)),
    ("preflight allowed", "OPTIONS", (("Origin", ALLOWED), *PREFLIGHT)),
    ("preflight hostile", "OPTIONS", (("Origin", HOSTILE), *PREFLIGHT)),
)

View = dict[str, str]


def _view(status: int, headers: list[tuple[str, str]]) -> View:
    """What is compared: the status, each CORS header's values, Vary's Origin, the secret."""
    out = {"status": str(status)}
    for name, value in headers:
        key = name.lower()
        if key.startswith("access-control-") or key == SECRET_HEADER.lower():
            out[key] = f"{out[key]} | {value}" if key in out else value
    varies = [t.strip().lower() for n, v in headers if n.lower() == "vary" for t in v.split(",")]
    out["vary origin"] = "yes" if "origin" in varies else "no"
    return out


def _directive(config: str, name: str, default: str) -> str:
    found = re.search(rf"^# {name}: (.*)$", config, re.MULTILINE)
    return found[1].strip() if found else default


@pytest.fixture(scope="module")
def nginx() -> str:
    binary = find_binary("nginx")
    need_binary("nginx", binary)
    assert binary is not None
    return binary


@pytest.fixture(scope="module")
def up() -> Iterator[Upstream]:
    with Upstream() as upstream:
        yield upstream


def test_the_corpus_holds_corsgens_output_as_it_renders_today() -> None:
    """The snippets the corpus includes are corsgen's current output, marker and all."""
    plan = unchecked_plan("spa_api", (Path("examples") / "spa-api.toml").read_text())
    for name, text in render_parts(plan, "nginx").items():
        committed = (CORPUS / "cors" / name).read_text()
        assert committed.split("\n", 2)[2] == text.split("\n", 2)[2], name


@pytest.mark.parametrize("name", CONFIGS)
def test_the_model_answers_as_nginx(name: str, nginx: str, up: Upstream, tmp_path: Path) -> None:
    root = tmp_path
    root.chmod(0o755)
    shutil.copytree(CORPUS, root, dirs_exist_ok=True)
    port = free_port()
    text = (CORPUS / name).read_text()
    served = text.replace("PORT", str(port)).replace("UPSTREAM", f"127.0.0.1:{up.port}")
    (root / name).write_text(served.replace("ROOT", str(root)))
    conf = main_config(root, f"    include {root / name};\n", serve=True)
    routes, errors = load([root / name], client="127.0.0.1")
    assert routes is not None, errors
    host = _directive(text, "host", "api.example.com")
    paths = _directive(text, "paths", "/").split()
    table = []
    with process([nginx, "-p", str(root), "-c", str(conf)], root, [port]):
        for path in paths:
            for label, method, headers in ASKS:
                real = _real(port, host, method, path, headers)
                model = _model(routes, Asked(host, method, path, headers, port))
                for key in sorted(set(real) | set(model)):
                    if real.get(key) != model.get(key):
                        table.append(
                            f"{label:18} {path:20} {key:34} "
                            f"model={model.get(key, '-')!s:30} nginx={real.get(key, '-')}"
                        )
    assert not table, f"{name}: the model differs from nginx:\n" + "\n".join(table)


def _real(
    port: int, host: str, method: str, path: str, headers: tuple[tuple[str, str], ...]
) -> View:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.putrequest(method, path, skip_host=True)
        conn.putheader("Host", host)
        for name, value in headers:
            conn.putheader(name, value)
        conn.endheaders()
        response = conn.getresponse()
        response.read()
        return _view(response.status, response.getheaders())
    finally:
        conn.close()


def _model(routes: NginxRoutes, asked: Asked) -> View:
    answered: Answered = routes.answer(asked, answer)
    return _view(answered.status, list(answered.pairs()))
