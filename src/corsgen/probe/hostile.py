"""The Origin values CORS scanners send to catch a server that trusts too much, built from one
trusted origin: what Corsy, CORScanner, ZAP rule 40040 and nuclei's cors-misconfig try, each under
the scan-mode check it proves (probe/checks.py)."""

from __future__ import annotations

from corsgen.origins import registrable_domain

EVIL = "corsgen-evil.com"  # never contacted: it only appears in an Origin header
# CORScanner's characters a sloppy parser may stop a host at; %60 and %0b sent as written.
SPECIAL = ("_", "-", '"', "{", "}", "+", "^", "%60", "!", "~", "`", ";", "|", "&", "'", "(", ")",
           "*", ",", "$", "=", "%0b")  # fmt: skip
THIRD_PARTY = (
    "https://corsgen-evil.github.io",
    "https://codepen.io",
    "https://s.codepen.io",
    "https://jsfiddle.net",
    "https://fiddle.jshell.net",
    "https://jsbin.com",
    "https://pastebin.com",
    "https://corsgen-evil.s3.amazonaws.com",
)
LOCALHOST = ("http://localhost", "http://127.0.0.1", "http://localhost:3000")


def _split(origin: str) -> tuple[str, str, str]:
    """scheme, host, ":port" (or "")."""
    scheme, _, rest = origin.partition("://")
    if rest.startswith("["):  # an IPv6 host holds colons of its own
        host, _, port = rest.partition("]")
        return scheme, host + "]", port
    host, colon, port = rest.partition(":")
    return scheme, host, colon + port


def variants(origin: str) -> list[tuple[str, str]]:
    """(scan-mode check id, Origin) for each hostile value built from a trusted `origin`."""
    if "://" not in origin:
        return []
    scheme, host, port = _split(origin)
    domain = registrable_domain(host)
    out = [("PR101", f"https://{EVIL}"), ("PR102", "null")]
    out += [("PR103", f"{scheme}://{name}.{EVIL}{port}") for name in dict.fromkeys((host, domain))]
    out.append(("PR104", f"{scheme}://corsgen-evil{domain}{port}"))
    out += [("PR105", f"{scheme}://{part}{port}") for part in (domain[:-1], domain[1:]) if part]
    dots = [i for i, char in enumerate(host) if char == "."]
    out += [("PR106", f"{scheme}://{host[:i]}x{host[i + 1 :]}{port}") for i in dots]
    if scheme == "https":
        out.append(("PR107", f"http://{host}{port}"))
    out += [("PR108", f"{scheme}://{host}{char}.{EVIL}{port}") for char in SPECIAL]
    out += [("PR109", third) for third in THIRD_PARTY]
    out += [("PR110", local) for local in LOCALHOST]
    # Not a scanner's question, but a policy's: the same host on another port, and upper case.
    out.append(("", f"{scheme}://{host}:{8443 if port != ':8443' else 8444}"))
    out.append(("", origin.upper()))
    return [(check, value) for check, value in dict.fromkeys(out) if value != origin]
