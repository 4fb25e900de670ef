"""A reverse proxy in front of one served policy that notes the method of every request it
passes on: how the browser tests count the preflights an engine sends, when the server answers
them itself and the upstream never sees one."""

from __future__ import annotations

import http.client
import threading
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from testing.servers import Endpoint

# Hop by hop (RFC 9110 §7.6.1), or rewritten here: the body is passed on whole, with its length.
_NOT_PASSED = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length", "host"})


class _Pass(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # as the upstream's: no 40 ms wait for the body's ACK

    def _pass(self) -> None:
        server = self.server
        assert isinstance(server, _Tally)
        server.methods.append(self.command)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        to = server.to
        conn = http.client.HTTPConnection("127.0.0.1", to.port, timeout=10)
        try:
            conn.putrequest(self.command, to.prefix + self.path, skip_accept_encoding=True)
            for name, value in self.headers.items():
                if name.lower() not in _NOT_PASSED:
                    conn.putheader(name, value)
            if body is not None:
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            response = conn.getresponse()
            content = response.read()
            self.send_response_only(response.status, response.reason)
            for name, value in response.getheaders():
                if name.lower() not in _NOT_PASSED:
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(content)
        finally:
            conn.close()

    do_GET = do_POST = do_PUT = do_DELETE = do_OPTIONS = do_HEAD = do_PATCH = _pass

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Tally(ThreadingHTTPServer):
    daemon_threads = True
    to: Endpoint
    methods: list[str]


class Tally:
    """The proxy on a free port of 127.0.0.1 until the block ends; `methods` lists what it
    passed on, in order. Its endpoint has no prefix: the proxy adds `to`'s."""

    def __init__(self, to: Endpoint) -> None:
        self._server = _Tally(("127.0.0.1", 0), _Pass)
        self._server.to, self._server.methods = to, []
        self.endpoint = Endpoint(self._server.server_address[1])
        # shutdown() waits for serve_forever's next poll: 0.5 s by default, for each of many.
        serve = partial(self._server.serve_forever, poll_interval=0.05)
        self._thread = threading.Thread(target=serve, daemon=True)

    @property
    def methods(self) -> list[str]:
        return self._server.methods

    def __enter__(self) -> Tally:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
