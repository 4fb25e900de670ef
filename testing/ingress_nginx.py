"""ingress-nginx's own CORS block (nginx.tmpl's "CORS" template, controller v1.13.9), written here
from its facts for the tests, on Debian's nginx with the headers-more module: each Ingress in a
location of its own, /iN/, proxying to the test upstream.

Not corsgen's output: what corsgen's model of the block (corsgen.ingress.block) and its import
are held to.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from corsgen.explain import Pairs, Send
from corsgen.ingress import report
from corsgen.ingress.block import cors_headers
from corsgen.ingress.compare import PATH
from corsgen.ingress.enforced import Enforced
from corsgen.ingress.manifests import Ingress, read
from corsgen.targets.nginx import main_config
from testing import upstream
from testing.binaries import need_binary
from testing.client import send
from testing.corpus import nginx_binary
from testing.processes import free_port, process
from testing.servers import Endpoint

HEADERS_MORE = "/usr/lib/nginx/modules/ngx_http_headers_more_filter_module.so"


def block(enforced: Enforced) -> str:
    """The block as the template writes it for this Ingress (nothing when CORS is off)."""
    if not enforced.enabled:
        return ""
    lines = []
    if enforced.any_origin:  # buildCorsOriginRegex
        lines += ["set $http_origin *;", "set $cors 'true';"]
    elif enforced.origins:
        lines.append(f"if ($http_origin ~* {enforced.origin_regex} ) {{ set $cors 'true'; }}")
    lines += ["if ($request_method = 'OPTIONS') {", "    set $cors ${cors}options;", "}"]
    # $http_origin stands where the template writes it; the model sends the Origin's value.
    sent = [
        (name, "$http_origin" if name == "Access-Control-Allow-Origin" else value)
        for name, value in cors_headers(enforced, "")
    ]
    headers = [f"    more_set_headers '{name}: {value}';" for name, value in sent]
    lines += ['if ($cors = "true") {', *headers, "}"]
    lines += ['if ($cors = "trueoptions") {', *headers]
    lines += ["    more_set_headers 'Content-Type: text/plain charset=UTF-8';"]
    lines += ["    more_set_headers 'Content-Length: 0';", "    return 204;", "}"]
    return "".join(f"            {line}\n" for line in lines)


@contextmanager
def serving(blocks: Sequence[Enforced], upstream: int) -> Iterator[list[Endpoint]]:
    """nginx serving each Ingress's block at /iN/ of one port, until the block ends."""
    import tempfile

    binary = nginx_binary()
    module = Path(HEADERS_MORE)
    need_binary(
        "nginx's headers-more module (libnginx-mod-http-headers-more-filter)", module.exists()
    )
    with tempfile.TemporaryDirectory(prefix="corsgen-ingress-") as tmp:
        root = Path(tmp)
        root.chmod(0o755)
        port = free_port()
        locations = "".join(
            f"        location /i{n}/ {{\n{block(e)}"
            f"            proxy_pass http://127.0.0.1:{upstream};\n        }}\n"
            for n, e in enumerate(blocks)
        )
        http = f"    server {{\n        listen 127.0.0.1:{port};\n{locations}    }}\n"
        conf = main_config(root, http, serve=True)
        conf.write_text(f"load_module {HEADERS_MORE};\n" + conf.read_text())
        with process([binary, "-p", str(root), "-c", str(conf)], root, [port]):
            yield [Endpoint(port, f"/i{n}") for n in range(len(blocks))]


CORPUS = Path(__file__).parent.parent / "tests" / "ingress" / "corpus"


def corpus() -> list[Ingress]:
    """Every Ingress of the corpus (tests/ingress/corpus/*.yaml), in file order."""
    return [i for path in sorted(CORPUS.glob("*.yaml")) for i in read(path)]


def origin_texts(ingress: Ingress) -> list[str]:
    """What the battery's origins are made from: the Ingress's cors-allow-origin text."""
    found = ingress.annotations.get("cors-allow-origin")
    return [found.value] if found is not None else []


def real(at: Endpoint) -> Send:
    """The served block as compare.Send: each request sent to it for real."""

    def ask(method: str, headers: Pairs) -> tuple[int, Pairs]:
        answer = send(at, method, PATH, headers)
        return answer.status, answer.headers

    return ask


def modelled(enforced: Enforced) -> Send:
    """corsgen's model of the block, the test upstream behind it."""
    return report.block(enforced, lambda method: upstream.answer(method, PATH))
