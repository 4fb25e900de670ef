"""Sends requests to the one host a probe is aimed at, politely, through httpx.

Only the host given: paths are joined to its origin and redirects are never followed (a browser's
CORS check runs on each redirect answer too, so the 3xx itself is what gets judged). A bounded
number of requests, a few at a time, each with a timeout; TLS verified unless told otherwise.
"""

from __future__ import annotations

import ipaddress
import re
import ssl
import threading
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

from corsgen import __version__
from corsgen.errors import CorsgenError, clip

BODY_READ = 64 * 1024
USER_AGENT = f"corsgen-probe/{__version__} (a CORS check; https://pypi.org/project/corsgen/)"


# The deadline of the request this thread is sending: httpx's timeouts bound each read, so a
# server trickling a byte a second could hold one request for hours without it.
_current = threading.local()


def _bounded(timeout: float | None) -> float | None:
    deadline: float | None = getattr(_current, "deadline", None)
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise httpcore.ReadTimeout("the request took longer than --timeout in all")
    return left if timeout is None else min(timeout, left)


class _Stream(httpcore.NetworkStream):
    """A connection whose every read and write ends by the current request's deadline."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self.inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self.inner.read(max_bytes, _bounded(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.inner.write(buffer, _bounded(timeout))

    def close(self) -> None:
        self.inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        return _Stream(self.inner.start_tls(ssl_context, server_hostname, _bounded(timeout)))

    def get_extra_info(self, info: str) -> Any:
        return self.inner.get_extra_info(info)


class _Backend(httpcore.NetworkBackend):
    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self.inner = inner

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        stream = self.inner.connect_tcp(
            host, port, _bounded(timeout), local_address, socket_options
        )
        return _Stream(stream)

    def sleep(self, seconds: float) -> None:
        self.inner.sleep(seconds)


def _transport(verify: bool, concurrency: int) -> httpx.HTTPTransport:
    transport = httpx.HTTPTransport(
        verify=verify,
        limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
    )
    # httpx takes no network backend of its own; its pool does (httpcore's public interface).
    # tests/probe/client_test.py's slow-server test fails if a new httpx moves this.
    pool = transport._pool
    pool._network_backend = _Backend(pool._network_backend)
    return transport


@dataclass(frozen=True)
class Answer:
    status: int
    headers: list[tuple[str, str]]
    error: str = ""  # why no answer came; status is 0 then


@dataclass(frozen=True)
class Site:
    """The host probed: its origin, and the path the URL named."""

    origin: str
    path: str

    def url(self, path: str) -> str:
        return self.origin + path


# A DNS name (httpx writes an IDN in punycode), an IPv4 address, or an IPv6 one (ipaddress
# checks it).
_HOST = re.compile(r"[\w.~-]+|[0-9A-Fa-f:.]+")


def site(url: str) -> Site:
    """The origin and path of a probe's URL; a URL with no http(s) host is refused."""
    try:
        parts = urlsplit(url)
        hostname = parts.hostname
    except ValueError as exc:  # an IPv6 host with no closing bracket
        raise CorsgenError(f"{clip(url)!r}: {exc}") from None
    if parts.scheme not in ("http", "https") or not hostname:
        raise CorsgenError(f"{clip(url)!r} is not an http:// or https:// URL with a host")
    if not _HOST.fullmatch(hostname):
        raise CorsgenError(f"{clip(url)!r}: {clip(hostname)!r} is not a host name or address")
    if parts.username or parts.password:
        raise CorsgenError(f"{clip(url)!r} holds credentials; give the URL without them")
    try:
        port = parts.port
        if ":" in hostname:
            ipaddress.IPv6Address(hostname)
    except ValueError as exc:
        raise CorsgenError(f"{clip(url)!r}: {exc}") from None
    host = hostname if ":" not in hostname else f"[{hostname}]"
    default = {"http": 80, "https": 443}[parts.scheme]
    origin = f"{parts.scheme}://{host}" + ("" if port in (None, default) else f":{port}")
    path = parts.path or "/"
    return Site(origin, path + (f"?{parts.query}" if parts.query else ""))


def _why(exc: httpx.HTTPError) -> str:
    """One line for a failed request: the kind of failure and httpx's own words."""
    kinds: dict[type[httpx.HTTPError], str] = {
        httpx.ConnectTimeout: "connection timed out",
        httpx.ReadTimeout: "no answer in time",
        httpx.ConnectError: "cannot connect",
        httpx.RemoteProtocolError: "the server broke the HTTP protocol",
        httpx.ReadError: "the connection failed while reading",
        httpx.WriteError: "the connection failed while sending",
    }
    kind = kinds.get(type(exc), type(exc).__name__)
    detail = clip(" ".join(str(exc).split()))
    return f"{kind}: {detail}" if detail else kind


class Client:
    """One httpx client for the whole probe: connections are reused, a few at a time."""

    def __init__(self, target: Site, timeout: float, concurrency: int, verify: bool) -> None:
        self.site = target
        self.concurrency = concurrency
        self.timeout = timeout
        self.http = httpx.Client(
            timeout=timeout,
            follow_redirects=False,
            headers={"User-Agent": USER_AGENT},
            transport=_transport(verify, concurrency),
            trust_env=False,  # no proxy from the environment: only the host given is spoken to
            # No cookie kept: each request is exactly the one the battery describes, never one
            # carrying a cookie an earlier answer set (a session would change the answers, and
            # a cookie httpx cannot encode would fail every request after it).
            cookies=CookieJar(DefaultCookiePolicy(allowed_domains=[])),
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()

    def send(self, method: str, path: str, headers: Sequence[tuple[str, str]]) -> Answer:
        _current.deadline = time.monotonic() + self.timeout
        try:
            with self.http.stream(method, self.site.url(path), headers=list(headers)) as response:
                # Only the head is judged. A small body is read so the connection can be reused;
                # past BODY_READ the connection is dropped instead of downloading a large file.
                read = 0
                for chunk in response.iter_raw():
                    read += len(chunk)
                    if read > BODY_READ:
                        break
        except httpx.HTTPError as exc:
            return Answer(0, [], _why(exc))
        except (httpx.InvalidURL, ValueError) as exc:  # a header value h11 will not send
            return Answer(0, [], clip(f"not sent: {exc}"))
        finally:
            _current.deadline = None
        # The raw lines, in the server's spelling and order, repeats kept: the judge counts them.
        raw = response.headers.raw
        return Answer(
            response.status_code, [(n.decode("latin-1"), v.decode("latin-1")) for n, v in raw]
        )

    def send_all(
        self, requests: Sequence[tuple[str, str, Sequence[tuple[str, str]]]]
    ) -> list[Answer]:
        """Every request, at most `concurrency` at once, the answers in the requests' order."""
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            return list(pool.map(lambda r: self.send(*r), requests))
