"""nginx, started for real around corsgen's output: see targets/serving.py."""

from __future__ import annotations

from pathlib import Path

from corsgen.targets.nginx import main_config
from corsgen.targets.serving import Serving, Setup, Site, one_build, slash_version, write_snippets


def command(binary: str, root: Path, http: str, connections: int = 256) -> list[str]:
    """The wrapper nginx.conf (targets/nginx.py) around the http {} lines, in the foreground
    with one worker; the command that runs it."""
    conf = main_config(root, http, serve=True, connections=connections)
    return [binary, "-p", str(root), "-c", str(conf)]


def configure(context: str, binary: str, root: Path, site: Site) -> list[str]:
    """Each plan in a location ("") or, "server", in server {}: once for the server, its
    locations inherit it."""
    shared = write_snippets(root, site.plans, "nginx")
    (root / "htpasswd").write_text(f"{site.user}:{{PLAIN}}{site.password}\n")
    # corsgen-map-hash.conf first: nginx takes the map hash sizes only before the first map.
    http = "".join(f"    include {root}/{name};\n" for name in shared)
    http += "".join(f"    include {root}/{p.name}.http.conf;\n" for p in site.plans)
    for port, plans in site.servers().items():
        http += f"    server {{\n        listen 127.0.0.1:{port};\n"
        for plan in plans:
            inc, at = f"include {root}/{plan.name}.conf;", site.prefix(plan)
            if context == "server":
                http += f"        {inc}\n"
                inc = ""
            up = f"proxy_pass http://127.0.0.1:{site.upstream}/;"
            dead = f"proxy_pass http://127.0.0.1:{site.dead}/;"
            http += (
                f"        location {at}/ {{ {inc} {up} }}\n"
                f"        location {at}/dead/ {{ {inc} {dead} }}\n"
                f"        location {at}/auth/ {{ {inc} auth_basic corsgen; "
                f"auth_basic_user_file {root}/htpasswd; "
                f"proxy_pass http://127.0.0.1:{site.upstream}/auth/; }}\n"
            )
        http += "    }\n"
    return command(binary, root, http)


def bench(binary: str, root: Path, port: int, setup: Setup) -> list[str]:
    """`return 200` in the one location, after the CORS configuration."""
    http = site = ""
    if setup.plan is not None:
        shared = write_snippets(root, (setup.plan,), "nginx")
        http = "".join(f"include {root}/{name};\n" for name in shared)
        http += f"include {root}/{setup.plan.name}.http.conf;\n"
        site = f"include {root}/{setup.plan.name}.conf;\n"
    else:
        site = "".join(f'add_header {k} "{v}" always;\n' for k, v in (setup.headers or {}).items())
        # proxy_hide_header is decided when nginx reads its config: nothing per request.
        site += "".join(f"proxy_hide_header {k};\n" for k in setup.replaced())
        site += setup.snippet
    http = (
        f"keepalive_requests 1000000;\n{http}server {{\nlisten 127.0.0.1:{port};\nlocation / {{\n"
        f'{site}default_type text/plain;\nreturn 200 "ok\\n";\n}}\n}}\n'
    )
    return command(binary, root, http, connections=1024)


# A location, and server {} (one policy: it answers every location's preflights).
SERVING = Serving(one_build("nginx"), configure, bench, slash_version, contexts=("", "server"))
