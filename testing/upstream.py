"""The application behind the servers: statuses, and CORS headers of its own on some paths."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from corsgen.routing import SECRET_HEADER, Backend

STATUS = {
    "/ok": 200,
    "/created": 201,
    "/missing": 404,
    "/error": 500,
    "/own-cors": 200,
    "/own-cors-error": 500,
}
# What a careless application sends; the snippet must own CORS and drop every one of these.
OWN_CORS = (
    ("Access-Control-Allow-Origin", "*"),
    ("Access-Control-Allow-Credentials", "true"),
    ("Access-Control-Allow-Methods", "PURGE"),
    ("Access-Control-Allow-Headers", "X-Upstream-Only"),
    ("Access-Control-Expose-Headers", "X-Upstream-Only"),
    ("Access-Control-Max-Age", "99"),
    ("Access-Control-Allow-Private-Network", "true"),
)


# The last segment of the paths the upstream answers with a secret a config must hide: the leak
# of routing.SECRET_HEADER shows on them.
SECRET = "/secret"
SECRET_VALUE = "s3cr3t-db-password"


def answer(method: str, path: str) -> tuple[int, tuple[tuple[str, str], ...]]:
    """What the upstream answers a request, without its body's Content-Length: the routing models'
    backend (routing.Backend) in the tests that hold them to their real servers."""
    path = path.split("?")[0]
    # By the last segment: Apache's SetHandler proxy: forwards the file's path
    # (.../docroot/api/auth/ok), and a shared server the policy's prefix.
    last = "/" + path.rsplit("/", 1)[-1]
    headers = [
        ("X-Upstream", "1"),
        ("Vary", "Accept-Encoding"),
        ("X-Total-Count", "42"),
        ("ETag", '"v1"'),
    ]
    if path.startswith("/own-cors"):
        headers += OWN_CORS
    if path.endswith("/two-vary"):  # a second Vary line, as an application may send
        headers.append(("Vary", "Cookie"))
    if last == SECRET:
        headers.append((SECRET_HEADER, SECRET_VALUE))
    headers.append(("Content-Type", "text/plain"))
    return STATUS.get(last, 200), tuple(headers)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle on, the body waits for the ACK of the
    # headers, about 40 ms a request over Apache's and Caddy's kept-alive connections.
    disable_nagle_algorithm = True

    def _answer(self) -> None:
        server = self.server
        assert isinstance(server, _Server)
        status, headers = server.backend(self.command, self.path)
        body = f"upstream {self.command} {self.path.split('?')[0]}\n".encode()
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_OPTIONS = do_HEAD = do_PATCH = _answer

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # the default 5 drops connections nginx opens at once (1 s each)
    backend: Backend  # what it answers each request (Upstream sets it)

    def handle_error(self, request: object, client_address: object) -> None:
        # HAProxy resets the idle connections it keeps to a server when it stops: not an error.
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionResetError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


class Upstream:
    """The upstream on a free port, answering as `backend` (by default this module's answer)."""

    def __init__(self, backend: Backend = answer) -> None:
        self.server = _Server(("127.0.0.1", 0), _Handler)
        self.server.backend = backend
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Upstream:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
