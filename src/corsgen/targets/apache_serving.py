"""Apache httpd, started for real around corsgen's output: see targets/serving.py."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from corsgen.plan import Plan
from corsgen.targets import apache
from corsgen.targets.serving import (
    BENCH_PATH,
    Serving,
    Setup,
    Site,
    one_build,
    slash_version,
    write_snippets,
)

# What the tests' httpd.conf loads; the benchmark's leaves out the proxy and the auth.
MODULES = (
    "mpm_event",
    "authz_core",
    "headers",
    "setenvif",
    "rewrite",
    "proxy",
    "proxy_http",
    "auth_basic",
    "authn_core",
    "authn_file",
    "authz_user",
)
BENCH_MODULES = MODULES[:5]
_AUTH_LINES = (
    "AuthType Basic",
    "AuthName corsgen",
    "AuthUserFile {root}/htpasswd",
    "Require valid-user",
)
# Where the snippet is included. "" is <VirtualHost>; the others are per-directory, where
# mod_rewrite runs after authentication. Those serve files under DOCROOT, proxied to the upstream
# by SetHandler, as PHP-FPM sites are: <Directory> and .htaccess apply to files, not to ProxyPass.
CONTEXTS = ("", "location", "directory", "files", "htaccess")
DOCROOT = "docroot"
# One process of threads, as nginx has one worker: the server runs on one core either way.
_BENCH_MPM = (
    "StartServers 1\nServerLimit 1\nThreadLimit 64\nThreadsPerChild 64\nMaxRequestWorkers 64\n"
    "MinSpareThreads 1\nMaxSpareThreads 64\nKeepAlive On\nMaxKeepAliveRequests 0\n"
)


def head(root: Path, site: Site, modules: tuple[str, ...] = MODULES) -> str:
    """The server-wide part of the wrapper httpd.conf (the config test's, targets/apache.py),
    with the htpasswd the site's auth names."""
    (root / "htpasswd").write_text(site.sha_password() + "\n")
    return apache.head(root, modules)


def command(binary: str, root: Path, text: str) -> list[str]:
    """Write `text` as root/httpd.conf; the command that runs httpd on it in the foreground."""
    (root / "httpd.conf").write_text(text)
    return [binary, "-f", str(root / "httpd.conf"), "-DFOREGROUND"]


def _block(tag: str, lines: Sequence[str], indent: str = "    ") -> str:
    name = tag.split()[0]
    body = "".join(f"{indent}    {line}\n" for line in lines)
    return f"{indent}<{tag}>\n{body}{indent}</{name}>\n"


def _docroot(root: Path, plan: Plan, site: Site) -> Path:
    """Files for every path the tests ask for: per-directory sections apply to files only."""
    docroot = root / DOCROOT / plan.name
    for folder in ("", "auth", "dead"):
        (docroot / folder).mkdir(parents=True, exist_ok=True)
        for path in (*site.paths, "/x"):
            (docroot / folder / path.lstrip("/")).write_text("not served: proxied\n")
    return docroot


def _site(context: str, root: Path, plan: Plan, site: Site) -> str:
    include, at = f"Include {root}/{plan.name}.conf", site.prefix(plan)
    auth = [line.format(root=root) for line in _AUTH_LINES]
    if context in ("", "location"):
        return (
            (f"    {include}\n" if not context else _block(f"Location {at}/", [include]))
            + f"    ProxyPass {at}/dead/ http://127.0.0.1:{site.dead}/\n"
            f"    ProxyPass {at}/ http://127.0.0.1:{site.upstream}/\n"
            + _block(f"Location {at}/auth/", auth)
        )
    docroot = _docroot(root, plan, site)
    top = [f'SetHandler "proxy:http://127.0.0.1:{site.upstream}"']
    if context == "directory":
        top.append(include)
    if context == "files":
        top.append(f'<Files "*">\n        {include}\n    </Files>')
    if context == "htaccess":
        top.append("AllowOverride FileInfo AuthConfig")
        (docroot / ".htaccess").write_text((root / f"{plan.name}.conf").read_text())
        (docroot / "auth" / ".htaccess").write_text("\n".join(auth) + "\n")
    text = _block(f"Directory {docroot}", top)
    if context != "htaccess":
        text += _block(f"Directory {docroot}/auth", auth)
    dead = f'SetHandler "proxy:http://127.0.0.1:{site.dead}"'
    return text + _block(f"Directory {docroot}/dead", [dead])


def configure(context: str, binary: str, root: Path, site: Site) -> list[str]:
    write_snippets(root, site.plans, "apache")
    text = head(root, site)
    for port, plans in site.servers().items():
        sites = "".join(_site(context, root, plan, site) for plan in plans)
        if context not in ("", "location"):  # each plan's files are in DOCROOT/NAME: /NAME/...
            top = root / DOCROOT if site.shared else root / DOCROOT / plans[0].name
            sites = f"    DocumentRoot {top}\n" + sites
        text += f"Listen 127.0.0.1:{port}\n<VirtualHost 127.0.0.1:{port}>\n{sites}</VirtualHost>\n"
    return command(binary, root, text)


def bench(binary: str, root: Path, port: int, setup: Setup) -> list[str]:
    """A small static file, after the CORS configuration."""
    if setup.plan is not None:
        write_snippets(root, (setup.plan,), "apache")
        lines = f"Include {root}/{setup.plan.name}.conf\n"
    else:
        headers = (setup.headers or {}).items()
        # A proxied response's own headers are in the onsuccess table.
        lines = "".join(f"Header onsuccess unset {k}\n" for k in setup.replaced())
        lines += "".join(f'Header always set {k} "{v}"\n' for k, v in headers)
        lines += setup.snippet
    docroot = root / DOCROOT
    docroot.mkdir(exist_ok=True)
    (docroot / BENCH_PATH.lstrip("/")).write_text("ok\n")
    return command(
        binary,
        root,
        head(root, Site((), {}, 0, 0), BENCH_MODULES)
        + _BENCH_MPM
        + f"Listen 127.0.0.1:{port}\n<VirtualHost 127.0.0.1:{port}>\nDocumentRoot {docroot}\n"
        f"<Directory {docroot}>\nRequire all granted\n</Directory>\n{lines}</VirtualHost>\n",
    )


# <VirtualHost> holds one policy: every snippet in it would apply to every path.
SERVING = Serving(one_build("apache"), configure, bench, slash_version, CONTEXTS, CONTEXTS[1:])
