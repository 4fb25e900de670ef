"""`corsgen verify --config` for Caddy: where a site's handler order sends preflights into auth.

`caddy adapt` turns the Caddyfile into the JSON Caddy runs, with every directive already sorted:
the routes are read in that order. A corsgen snippet's preflight answer is the route matching
OPTIONS with Access-Control-Request-Method that responds statically. Caddy sorts `basic_auth`
(`basicauth` before 2.8) and `forward_auth` before `handle`, so at site level they run before
that answer, and a browser's preflight, which never carries credentials, gets 401.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from corsgen.errors import CorsgenError, Finding
from corsgen.fsio import decode_config, read_config, shown
from corsgen.rulebook import finding

SERVER = "Caddy"
TIMEOUT = 60
_AUTH_DIRECTIVE = re.compile(r"^\s*(basic_?auth|forward_auth)\b")
_VAR = re.compile(r"corsgen_([a-z][a-z0-9_]*)_allowed")

Route = Mapping[str, Any]


@dataclass(frozen=True)
class Auth:
    """An authentication handler met before a preflight answer."""

    kind: str  # "basic_auth" or "forward_auth"


def _auth(handler: Mapping[str, Any]) -> Auth | None:
    if handler.get("handler") == "authentication":
        return Auth("basic_auth")
    # forward_auth is reverse_proxy asking first, and copying headers from the answer.
    if handler.get("handler") == "reverse_proxy" and "handle_response" in handler:
        return Auth("forward_auth")
    return None


def _may_match_a_preflight(route: Route) -> bool:
    """False for a route whose matcher keeps OPTIONS requests out."""
    matchers = route.get("match") or [{}]
    return any("OPTIONS" in m.get("method", ["OPTIONS"]) for m in matchers)


def _preflight_policy(route: Route) -> str | None:
    """The policy whose preflight answer this route is, or None."""
    for matcher in route.get("match") or []:
        headers = matcher.get("header") or {}
        if matcher.get("method") != ["OPTIONS"] or "Access-Control-Request-Method" not in headers:
            continue
        handlers = [h for r in _subroutes(route) for h in r.get("handle", [])]
        if any(h.get("handler") == "static_response" for h in handlers):
            names = [m[1] for key in matcher.get("vars") or {} if (m := _VAR.fullmatch(key))]
            return names[0] if names else "the corsgen snippet (any origin)"
    return None


def _subroutes(route: Route) -> Iterator[Route]:
    for handler in route.get("handle", []):
        if handler.get("handler") == "subroute":
            yield from handler.get("routes", [])


@dataclass(frozen=True)
class Site:
    """Where a route is: the hosts its site matches, else the addresses its server listens on."""

    hosts: tuple[str, ...]
    listen: tuple[str, ...]

    def __str__(self) -> str:
        listen = ", ".join(self.listen)
        return f"{', '.join(self.hosts)} on {listen}" if self.hosts else listen

    def is_at(self, addresses: list[str]) -> bool:
        """Whether a Caddyfile site block with these addresses is this site."""
        ports = {address.rpartition(":")[2] for address in self.listen}
        for address in addresses:
            host, _, port = address.split("://")[-1].split("/")[0].partition(":")
            if (host in self.hosts or not (host or self.hosts)) and (not port or port in ports):
                return True
        return False


def _walk(
    routes: Sequence[Route], auth: Auth | None, site: Site
) -> Iterator[tuple[str, Auth | None, Site]]:
    """Each preflight answer's policy, with the auth that runs before it, if any, and its site."""
    for route in routes:
        policy = _preflight_policy(route)
        if policy is not None:
            yield policy, auth, site
            continue
        hosts = tuple(h for m in route.get("match") or [] for h in m.get("host", []))
        for handler in route.get("handle", []):
            if handler.get("handler") == "subroute":
                # Auth inside a handle, route or handle_path stays there: the snippet's handle
                # (a named matcher) sorts before handle /path/*, and route and handle_path after.
                inner = Site(hosts, site.listen) if hosts and not site.hosts else site
                yield from _walk(handler.get("routes", []), auth, inner)
            elif auth is None and _may_match_a_preflight(route):
                auth = _auth(handler)


def error_lines(output: str) -> list[str]:
    """The lines of Caddy's output worth showing: it logs JSON lines at info level before an
    error, and they only bury it."""
    return [ln for ln in output.splitlines() if ln.strip() and '"level":"info"' not in ln]


def _adapt(path: Path, binary: str) -> Mapping[str, Any] | str:
    """The JSON config, or the adapter's error."""
    import subprocess  # imported here: only verify --config runs Caddy (CLI start-up time)

    try:
        proc = subprocess.run(
            [binary, "adapt", "--config", str(path), "--adapter", "caddyfile"],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        # The Caddyfile was read (a regular file); what it imports may be a FIFO or a device.
        raise CorsgenError(
            f"could not adapt {shown(path)} in {TIMEOUT} s ({binary} adapt did not finish); "
            "make sure every file it imports is a regular file"
        ) from None
    except OSError as exc:
        raise CorsgenError(f"{binary} could not run: {exc}") from None
    if proc.returncode != 0:
        lines = error_lines(proc.stderr)
        return " | ".join(lines[-2:]) or f"caddy adapt exited {proc.returncode}"
    config: Mapping[str, Any] = json.loads(proc.stdout)
    return config


_SiteBlock = tuple[list[str], list[tuple[int, str]]]  # a site block's addresses and lines


def _site_lines(text: str) -> Iterator[_SiteBlock]:
    """Each site block of a Caddyfile: its addresses, and its own lines (number, text), those in
    a nested block (route, handle, a directive's options) left out.

    Braces are counted per line, as the Caddyfile writes blocks; a snippet `(name) { }` and the
    global options `{ }` are no site. A Caddyfile of one site may have no braces at all.
    """
    depth, braceless = 0, False
    site: _SiteBlock | None = None
    sites: list[_SiteBlock] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if depth == 0 and not braceless:
            label = line.removesuffix("{").strip()
            if line.endswith("{") or not sites:
                site = None
                if label and not label.startswith("("):
                    site = ([a for a in re.split(r"[,\s]+", label) if a], [])
                    sites.append(site)
                braceless = not line.endswith("{")
                depth += line.count("{") - line.count("}")
                continue
        if site is not None and depth == (0 if braceless else 1):
            site[1].append((number, line))
        depth += line.count("{") - line.count("}")
    yield from sites


def _line_of(path: Path, text: str, kind: str, site: Site) -> str:
    """file:line of the first auth directive of this kind at the top of this site's block in the
    Caddyfile itself; else the file alone (the auth comes from an import, or the site is not
    found): the finding names the site."""
    for addresses, lines in _site_lines(text):
        if not site.is_at(addresses):
            continue
        for number, line in lines:
            found = _AUTH_DIRECTIVE.match(line)
            if found and (found[1] == "forward_auth") == (kind == "forward_auth"):
                return f"{path}:{number}"
    return str(path)


def audit(path: Path, binary: str | None) -> list[Finding]:
    if binary is None:
        raise CorsgenError("verify --config needs caddy on PATH to read a Caddyfile (caddy adapt)")
    # caddy adapt given a FIFO waits until the timeout, given /dev/zero reads it: refuse first.
    text = decode_config(read_config(path))
    config = _adapt(path, binary)
    if isinstance(config, str):
        return [finding("CG401", "parse", file=str(path), error=config, server=SERVER)]
    servers = config.get("apps", {}).get("http", {}).get("servers", {})
    answers = [
        found
        for server in servers.values()
        for found in _walk(
            server.get("routes", []), None, Site((), tuple(server.get("listen", [])))
        )
    ]
    if not answers:
        return [finding("CG406", "none", file=str(path))]
    return [
        finding(
            "CG404",
            "auth-sorted-first",
            file=_line_of(path, text, auth.kind, site),
            policy=policy,
            auth=auth.kind,
            site=site,
            server=SERVER,
        )
        for policy, auth, site in answers
        if auth is not None
    ]
