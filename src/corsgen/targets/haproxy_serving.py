"""HAProxy, started for real around corsgen's output: see targets/serving.py."""

from __future__ import annotations

from pathlib import Path

from corsgen.targets.haproxy import buffers
from corsgen.targets.serving import Serving, Setup, Site, version_output, write_snippets

_TIMEOUTS = "    timeout connect 2s\n    timeout client 10s\n    timeout server 10s\n"
# No retry: HAProxy waits up to a second before each, and /dead/ refuses every connection.
_RETRIES = "    retries 0\n"
_AUTH = "http-request auth realm corsgen if {{ path_beg {at}/auth/ }} !{{ http_auth(users) }}"


def kinds() -> dict[str, str | None]:
    from corsgen.targets import by_name

    return {"haproxy": by_name("haproxy").find_binary()}


def version(binary: str) -> str:
    out = version_output(binary, "-v")
    return out.split()[2] if len(out.split()) > 2 else out.strip()


def command(binary: str, root: Path, text: str) -> list[str]:
    """Write `text` as root/haproxy.cfg, loaded after every other .cfg in `root` (corsgen's
    sections); the command that runs HAProxy on them in the foreground."""
    (root / "haproxy.cfg").write_text(text)
    snippets = [
        arg
        for path in sorted(root.glob("*.cfg"))
        if path.name != "haproxy.cfg"
        for arg in ("-f", str(path))
    ]
    return [binary, "-db", *snippets, "-f", str(root / "haproxy.cfg")]


def configure(context: str, binary: str, root: Path, site: Site) -> list[str]:
    """A frontend `from` each policy's section ("") or, "backend", backends that are, which a
    frontend picks by path: several policies on one port."""
    write_snippets(root, site.plans, "haproxy")
    # The anonymous defaults come after the snippets' named ones: the sections without `from`.
    # The buffers the policies need, as corsgen check's CG501 says to set them.
    need = [buffers(plan) for plan in site.plans]
    bufsize, maxrewrite = max(n.bufsize for n in need), max(n.maxrewrite for n in need)
    text = f"global\n    tune.bufsize {bufsize}\n    tune.maxrewrite {maxrewrite}\n"
    text += f"defaults\n    mode http\n{_TIMEOUTS}{_RETRIES}"
    text += f"userlist users\n    user {site.user} insecure-password {site.password}\n"
    text += f"backend up\n    server up 127.0.0.1:{site.upstream}\n"
    text += f"backend dead\n    server dead 127.0.0.1:{site.dead}\n"
    for port, plans in site.servers().items():
        if not context:
            (plan,) = plans
            text += (
                f"frontend front_{port} from corsgen_{plan.name}\n    bind 127.0.0.1:{port}\n"
                f"{_TIMEOUTS}    {_AUTH.format(at='')}\n"
                "    use_backend dead if { path_beg /dead/ }\n    default_backend up\n"
            )
            continue
        text += f"frontend front_{port}\n    bind 127.0.0.1:{port}\n"
        for plan in plans:
            at = site.prefix(plan)
            text += f"    use_backend {plan.name}_dead if {{ path_beg {at}/dead/ }}\n"
            text += f"    use_backend {plan.name} if {{ path_beg {at}/ }}\n"
        for plan in plans:
            for name, upstream in ((plan.name, site.upstream), (f"{plan.name}_dead", site.dead)):
                text += (
                    f"backend {name} from corsgen_{plan.name}\n{_TIMEOUTS}{_RETRIES}"
                    f"    {_AUTH.format(at=site.prefix(plan))}\n"
                    f"    server up 127.0.0.1:{upstream}\n"
                )
    return command(binary, root, text)


def bench(binary: str, root: Path, port: int, setup: Setup) -> list[str]:
    """One thread, as nginx has one worker; HAProxy answers itself (`return`), as nginx does."""
    section, lines = "", ""
    if setup.plan is not None:
        write_snippets(root, (setup.plan,), "haproxy")
        section = f"from corsgen_{setup.plan.name}"
    else:
        lines = "".join(f"    http-after-response del-header {k}\n" for k in setup.replaced())
        lines += "".join(
            f'    http-after-response set-header {k} "{v}"\n'
            for k, v in (setup.headers or {}).items()
        )
        lines += setup.snippet
    return command(
        binary,
        root,
        "global\n    nbthread 1\n    maxconn 4096\ndefaults\n    mode http\n"
        "    timeout connect 5s\n    timeout client 30s\n    timeout server 30s\n"
        f"frontend bench {section}\n    bind 127.0.0.1:{port}\n    timeout client 30s\n{lines}"
        '    http-request return status 200 content-type text/plain string "ok"\n',
    )


# A frontend, or backends a frontend picks by path, several policies side by side.
SERVING = Serving(kinds, configure, bench, version, ("", "backend"), ("backend",))
