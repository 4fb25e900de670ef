"""Every check `corsgen probe` runs: id, slug, severity, what it means and what to do, here alone.

PR0xx hold a live server to a policy (conformance mode); PR1xx are what any origin can read
(scan mode), the questions the CORS scanners ask, and PR0xx's Vary, duplicate and error checks
there too. A finding names its check; its severity may be raised (see `Check.severity_with`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["low", "medium", "high", "critical"]
SEVERITIES: tuple[Severity, ...] = ("low", "medium", "high", "critical")


@dataclass(frozen=True)
class Check:
    id: str
    slug: str
    severity: Severity
    summary: str  # what went wrong, for the report's heading
    fix: str
    # The severity when the answer also lets credentials through (a hostile origin reading a
    # logged-in user's data); None when credentials change nothing.
    with_credentials: Severity | None = None

    def severity_with(self, credentials: bool) -> Severity:
        return self.with_credentials if credentials and self.with_credentials else self.severity


_HOSTILE = "an origin no one should trust reads the answer"
_TRUST_LESS = "allow only the origins you mean: exact origins, or anchored patterns"

CHECKS = (
    Check(
        "PR001",
        "allowed-origin-blocked",
        "high",
        "an origin the policy allows cannot read the answer",
        "include the snippet where this path is served; let nothing after it drop its headers",
    ),
    Check(
        "PR002",
        "error-without-cors",
        "high",
        "an error has no usable CORS headers: the page sees a CORS failure, not the error",
        "send the CORS headers on every status, the server's own errors and auth's 401 too, as "
        "corsgen's output does",
    ),
    Check(
        "PR003",
        "preflight-blocked",
        "high",
        "a preflight the policy allows fails in the browser",
        "answer OPTIONS with Origin and Access-Control-Request-Method before auth, redirects "
        "and the application, with the policy's methods and headers",
    ),
    Check(
        "PR004",
        "preflight-behind-auth",
        "high",
        "a preflight the policy allows is turned away by authentication",
        "answer preflights before auth: browsers never send credentials on a preflight",
    ),
    Check(
        "PR005",
        "preflight-differs",
        "medium",
        "the preflight answer's status or lists are not the policy's",
        "serve the snippet corsgen renders from this policy, unchanged",
    ),
    Check(
        "PR006",
        "refused-origin-reads",
        "high",
        "an origin the policy refuses can read the answer",
        _TRUST_LESS,
        with_credentials="critical",
    ),
    Check(
        "PR007",
        "refused-origin-gets-cors",
        "low",
        "an origin the policy refuses gets CORS headers (it cannot read the answer)",
        "send CORS headers only to allowed origins",
    ),
    Check(
        "PR008",
        "refused-preflight-passes",
        "high",
        "a method or header the policy does not allow passes the preflight",
        "list only the policy's methods and headers in the preflight answer",
    ),
    Check(
        "PR009",
        "vary-origin-missing",
        "medium",
        "an answer that depends on Origin has no Vary: Origin, so a cache can serve it to another "
        "origin",
        "add Vary: Origin to every answer whose CORS headers depend on Origin, refusals too",
    ),
    Check(
        "PR010",
        "duplicate-cors-header",
        "high",
        "a CORS header appears more than once (browsers read two as one invalid value)",
        "let one layer own CORS: drop the application's copies where the server adds its own, "
        "as corsgen's output does",
    ),
    Check(
        "PR011",
        "credentials-not-in-policy",
        "critical",
        "a page can read the answer with the user's cookies, which the policy does not allow",
        "send Access-Control-Allow-Credentials only when the policy allows credentials",
    ),
    Check(
        "PR013",
        "cookie-not-sent-cross-site",
        "medium",
        "a cookie set in a credentialed cross-site answer never comes back: no browser sends it "
        "on the page's next request, so credentials carry nothing",
        "set it with SameSite=None; Secure, over https (and Partitioned for an embedded use), or "
        "serve the API on the page's site (a subdomain), where SameSite does not stop it",
    ),
    Check(
        "PR014",
        "third-party-cookie-blocked",
        "low",
        "a cookie set in a credentialed cross-site answer comes back in some browsers only: "
        "Safari blocks third-party cookies by default, Firefox keeps them per top-level site",
        "serve the API on the page's site (a subdomain makes the request same-site), or ask the "
        "user with the Storage Access API (Storage Access headers: Chrome 133, Firefox 147)",
    ),
    Check(
        "PR101",
        "reflects-any-origin",
        "high",
        "any origin is reflected in Access-Control-Allow-Origin",
        _TRUST_LESS,
        with_credentials="critical",
    ),
    Check(
        "PR102",
        "null-origin",
        "high",
        "Origin: null (sandboxed frames, file: pages) reads the answer",
        "never allow null",
        with_credentials="critical",
    ),
    Check(
        "PR103",
        "prefix-match",
        "high",
        f"{_HOSTILE}: a trusted name used as a prefix (trusted.example.com.evil.com)",
        "anchor the pattern at the end",
        with_credentials="critical",
    ),
    Check(
        "PR104",
        "suffix-match",
        "high",
        f"{_HOSTILE}: a trusted name used as a suffix (eviltrusted.example.com)",
        "anchor the pattern at the start and match whole labels",
        with_credentials="critical",
    ),
    Check(
        "PR105",
        "substring-match",
        "high",
        f"{_HOSTILE}: a part of a trusted name (example.co)",
        "compare whole origins, not substrings",
        with_credentials="critical",
    ),
    Check(
        "PR106",
        "unescaped-dot",
        "high",
        f"{_HOSTILE}: a dot in a pattern matches any character (appxexample.com)",
        r"escape every dot in the pattern (\.)",
        with_credentials="critical",
    ),
    Check(
        "PR107",
        "http-downgrade",
        "medium",
        "a plain http:// origin reads an https site's "
        "answer; anyone on the network can be that origin",
        "allow only https:// origins",
        with_credentials="high",
    ),
    Check(
        "PR108",
        "special-characters",
        "high",
        f"{_HOSTILE}: a trusted name followed by a "
        "character a parser may stop at (trusted.example.com`.evil.com)",
        "match hosts with [a-z0-9.-] only, anchored",
        with_credentials="critical",
    ),
    Check(
        "PR109",
        "third-party-origin",
        "high",
        f"{_HOSTILE}: a host anyone can publish on (github.io, codepen.io, jsfiddle.net, S3)",
        "trust only origins you control",
        with_credentials="critical",
    ),
    Check(
        "PR110",
        "localhost-origin",
        "low",
        "a localhost origin reads the answer; any local program or page can be it",
        "allow localhost in development configurations only",
        with_credentials="medium",
    ),
    Check(
        "PR111",
        "star-with-credentials",
        "medium",
        "Access-Control-Allow-Origin * comes "
        "with Access-Control-Allow-Credentials: true, which browsers refuse",
        "send * without credentials, or list origins and send credentials",
    ),
)
BY_ID = {check.id: check for check in CHECKS}

# A note, not a check: an answer that carries the header fails nothing (an old client may still
# ask for it, and a policy may keep allow_private_network for those), it only does nothing.
PRIVATE_NETWORK_OBSOLETE = (
    "Access-Control-Allow-Private-Network is obsolete: no browser sends the Private Network "
    "Access preflight since Chrome 142 (October 2025); Chrome and Firefox ask the user instead "
    "(Local Network Access: the local-network and loopback-network permissions, fetch's "
    "targetAddressSpace), on top of ordinary CORS"
)
