"""HAProxy, started for real around corsgen's output: see targets/serving.py."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from corsgen.targets.haproxy import Frontend, buffers, wrapper
from corsgen.targets.serving import Serving, Setup, Site, one_build, version_output, write_snippets


def version(binary: str) -> str:
    out = version_output(binary, "-v")
    return out.split()[2] if len(out.split()) > 2 else out.strip()


def loading(binary: str, files: Sequence[Path]) -> list[str]:
    """The command that runs HAProxy on these files (-f, in this order) in the foreground."""
    return [binary, "-db", *(arg for path in files for arg in ("-f", str(path)))]


def command(binary: str, root: Path, text: str) -> list[str]:
    """Write `text` as root/haproxy.cfg, loaded after every other .cfg in `root` (corsgen's
    sections); the command that runs HAProxy on them in the foreground."""
    (root / "haproxy.cfg").write_text(text)
    snippets = [path for path in sorted(root.glob("*.cfg")) if path.name != "haproxy.cfg"]
    return loading(binary, [*snippets, root / "haproxy.cfg"])


def configure(context: str, binary: str, root: Path, site: Site) -> list[str]:
    """A frontend `from` each policy's section ("") or, "backend", backends that are, which a
    frontend picks by path: several policies on one port."""
    write_snippets(root, site.plans, "haproxy")
    # The buffers the policies need, as corsgen check's CG501 says to set them.
    need = [buffers(plan) for plan in site.plans]
    frontends = [
        Frontend(port, tuple((f"corsgen_{plan.name}", site.prefix(plan)) for plan in plans))
        for port, plans in site.servers().items()
    ]
    text = wrapper(
        frontends,
        backends=context == "backend",
        upstream=site.upstream,
        dead=site.dead,
        user=site.user,
        password=site.password,
        bufsize=max(n.bufsize for n in need),
        maxrewrite=max(n.maxrewrite for n in need),
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
SERVING = Serving(one_build("haproxy"), configure, bench, version, ("", "backend"), ("backend",))
