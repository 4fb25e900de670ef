"""Requests to a served policy, as a browser would send them and as none would."""

from __future__ import annotations

import base64
import http.client
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from corsgen.fetch import header_value
from testing.servers import PASSWORD, USER, Endpoint

# Where the page that calls fetch() comes from: an origin the policy lists, and one it does not.
Page = Literal["allowed", "refused"]
AUTH = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()


@dataclass(frozen=True)
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def count(self, name: str) -> int:
        return sum(1 for n, _ in self.headers if n.lower() == name)

    @property
    def from_upstream(self) -> bool:
        return header_value(self.headers, "X-Upstream") == "1"


def send(
    at: Endpoint, method: str, path: str, headers: Mapping[str, str] | Sequence[tuple[str, str]]
) -> Answer:
    """One request to a policy's endpoint; a sequence of pairs may repeat a header name, as no
    browser would. A Host among them is the request's only one (a site of several on the port)."""
    pairs = list(headers.items() if isinstance(headers, Mapping) else headers)
    named = any(name.lower() == "host" for name, _ in pairs)
    conn = http.client.HTTPConnection("127.0.0.1", at.port, timeout=10)
    try:
        conn.putrequest(method, at.prefix + path, skip_host=named)
        for name, value in pairs:
            conn.putheader(name, value)
        conn.endheaders()
        response = conn.getresponse()
        return Answer(response.status, response.getheaders(), response.read())
    finally:
        conn.close()


def send_raw(at: Endpoint, method: str, path: str, headers: Sequence[tuple[str, str]]) -> Answer:
    """As send, the same bytes, but each header value written as it is: http.client refuses a
    bare CR, which no browser sends either."""
    lines = [f"{method} {at.prefix}{path} HTTP/1.1", f"Host: 127.0.0.1:{at.port}"]
    lines += ["Accept-Encoding: identity", *(f"{name}: {value}" for name, value in headers)]
    with socket.create_connection(("127.0.0.1", at.port), timeout=10) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        response = http.client.HTTPResponse(sock, method=method)
        try:
            response.begin()
            return Answer(response.status, response.getheaders(), response.read())
        finally:
            response.close()
