"""Sends requests to the one host a probe is aimed at, politely, through httpx.

Only the host given: paths are joined to its origin and redirects are never followed (a browser's
CORS check runs on each redirect answer too, so the 3xx itself is what gets judged). A bounded
number of requests, a few at a time, each with a timeout; TLS verified unless told otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from corsgen import __version__
from corsgen.errors import CorsgenError

BODY_READ = 64 * 1024
USER_AGENT = f"corsgen-probe/{__version__} (a CORS check; https://pypi.org/project/corsgen/)"


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


def site(url: str) -> Site:
    """The origin and path of a probe's URL; a URL with no http(s) host is refused."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CorsgenError(f"{url!r} is not an http:// or https:// URL with a host")
    if parts.username or parts.password:
        raise CorsgenError(f"{url!r} holds credentials; give the URL without them")
    try:
        port = parts.port
    except ValueError as exc:
        raise CorsgenError(f"{url!r}: {exc}") from None
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
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
    }
    kind = kinds.get(type(exc), type(exc).__name__)
    detail = " ".join(str(exc).split())
    return f"{kind}: {detail}" if detail else kind


class Client:
    """One httpx client for the whole probe: connections are reused, a few at a time."""

    def __init__(self, target: Site, timeout: float, concurrency: int, verify: bool) -> None:
        self.site = target
        self.concurrency = concurrency
        self.http = httpx.Client(
            timeout=timeout,
            verify=verify,
            follow_redirects=False,
            headers={"User-Agent": USER_AGENT},
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
            trust_env=False,  # no proxy from the environment: only the host given is spoken to
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()

    def send(self, method: str, path: str, headers: Sequence[tuple[str, str]]) -> Answer:
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
            return Answer(0, [], f"not sent: {exc}")
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
