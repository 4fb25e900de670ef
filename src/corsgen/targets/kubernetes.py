"""What the Kubernetes targets share: names, the CORS filter's fields, the offline check.

The Gateway API's HTTPRoute CORS filter (gateway_api.py), Envoy Gateway's SecurityPolicy cors
(envoy_gateway.py) and Istio's VirtualService corsPolicy (istio.py) are one idea in three
spellings: a list of origins, credentials as a bool, the lists of methods and headers, and a
Max-Age. The plan's values are mapped to those fields here once; each target says how its format
writes an origin and a Max-Age, and what it cannot express (Target.refusals: CG530, never an
approximation).

No server runs these files here: the config test is corsgen's offline check of what the API
server would hold them to (kube_validate.py: the CRDs' field rules and CEL rules), run in a
process of its own as a server's config test is, so `corsgen verify` reports it the same.
"""

from __future__ import annotations

import re
import sys
from abc import abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from corsgen.errors import VerifyError
from corsgen.plan import Plan
from corsgen.rules.table import Violation
from corsgen.targets import yaml_lines
from corsgen.targets.base import Target, preflight_always_200

# A DNS-1123 label, what Kubernetes takes as a resource's name here: lower-case letters, digits
# and -, starting and ending with a letter or digit, at most 63 characters.
LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
MAX_LABEL = 63
# A DNS-1123 subdomain, what an HTTPRoute's or a VirtualService's name may be: labels and dots.
SUBDOMAIN = rf"{LABEL}(\.{LABEL})*"
MAX_SUBDOMAIN = 253
# The prefix of the resources corsgen writes whole (a SecurityPolicy, a Middleware).
OWNED = "corsgen-"
# The browser's own Access-Control-Max-Age when none is sent (Fetch: "5 seconds"); the Gateway
# API filter sends 5 itself when maxAge is unset.
BROWSER_MAX_AGE = 5
# The header lists of the plan (Header.role) and the field each is written to.
LISTS = {"methods": "allowMethods", "headers": "allowHeaders", "expose": "exposeHeaders"}
# The keys of the CORS fields, and of a JSON 6902 op, as the structural check knows them.
FIELD_KEYS = frozenset({"allowOrigins", "allowCredentials", "maxAge", *LISTS.values()})
OP_KEYS = frozenset({"op", "path", "value"})
# The policy's key of each header list a format limits in length (methods: by an enum).
_POLICY_KEYS = {"headers": "allow_headers", "expose": "expose_headers"}


def name(plan: Plan) -> str:
    """The policy's name as Kubernetes spells a name: _ becomes -."""
    return plan.name.replace("_", "-")


def route(plan: Plan) -> str:
    """The HTTPRoute or VirtualService the output is for: the one given (Attachment), or the one
    named after the policy."""
    return plan.attachment.route or name(plan)


def patched(plan: Plan) -> str:
    """What a patch's kustomize note names as its target: the route, and the namespace if given."""
    given = plan.attachment.namespace
    return route(plan) + (f", namespace {given}" if given else "")


def patch_names(target: Kubernetes, plan: Plan) -> Mapping[str, object]:
    """A patch's names: the header's note, its file, and the target its kustomize note names."""
    return {
        "note": f"{target.title}: a kustomize patch of the {target.kind} {route(plan)}.",
        "file": plan.name + target.parts[0].suffix,
        "target": patched(plan),
    }


def namespace(plan: Plan, server: str) -> str | None:
    """metadata.namespace of a whole resource, quoted; None writes none."""
    given = plan.attachment.namespace
    return quote(given, server) if given else None


def owned(plan: Plan) -> str:
    """The name of a resource corsgen writes whole for this policy."""
    return OWNED + name(plan)


def label_problem(text: str, dots: bool = False) -> str | None:
    """Why `text` is no DNS-1123 label (a namespace, and the names corsgen derives), or with
    `dots` no DNS-1123 subdomain (a route's name); None if it is."""
    most = MAX_SUBDOMAIN if dots else MAX_LABEL
    if len(text) > most:
        return f"{len(text)} characters, more than {most}"
    if not re.fullmatch(SUBDOMAIN if dots else LABEL, text):
        dot = ", in labels between dots" if dots else ""
        return f"only a-z, 0-9 and - between a letter or digit at each end{dot}"
    return None


def name_refusals(plan: Plan, server: str, names: Sequence[str]) -> Iterator[Violation]:
    """CG530 for a name, among `names` (the plan's, as resources are named after it), that is not
    a DNS-1123 label."""
    for found in names:
        if (why := label_problem(found)) is None:
            continue
        most = MAX_LABEL - (len(found) - len(plan.name))
        fields = {"server": server, "what": found, "why": why, "most": most}
        yield Violation("CG530", "name", "name", fields)
        return


def quote(value: str, server: str) -> str:
    """A YAML double-quoted scalar (kubectl and kustomize read it as the same string)."""
    return yaml_lines.quote(value, server)


def values(plan: Plan, role: str) -> list[str]:
    """The values of one list header of the plan, unquoted; [] when it sends none."""
    value = plan.value(role)
    return value.split(", ") if value else []


def fields(
    plan: Plan, server: str, origins: list[str], max_age: Callable[[int], str]
) -> Mapping[str, object]:
    """The filter's fields for the plan, as _cors.j2 writes them: allowOrigins (`origins`, quoted
    as the format writes them), every list written even when empty (an unset list would take the
    format's default), maxAge always (the policy's, or the browser's own default written out,
    which is what a browser does without the header), and allowCredentials always."""
    lists = [("allowOrigins", origins)]
    lists += [(key, [quote(v, server) for v in values(plan, role)]) for role, key in LISTS.items()]
    age = plan.value("max_age")
    comments = []
    if age is None:
        comments.append(
            f"max_age is unset: {BROWSER_MAX_AGE} seconds, as long as a browser caches a "
            "preflight answered without Access-Control-Max-Age"
        )
    return {
        "lists": [(key, items) for key, items in lists if items],
        "empty": [key for key, items in lists if not items],
        "comments": comments,
        "scalars": [
            ("maxAge", max_age(int(age) if age is not None else BROWSER_MAX_AGE)),
            ("allowCredentials", "true" if plan.value("credentials") else "false"),
        ],
    }


def too_many(plan: Plan, server: str, most: int, origins: int) -> Iterator[Violation]:
    """CG530 for a list longer than the format's limit: the origins (`origins` entries), and
    each header list."""
    counts = [("allow_origins", origins)]
    counts += [(key, len(values(plan, role))) for role, key in _POLICY_KEYS.items()]
    for key, count in counts:
        if count > most:
            found = {"server": server, "what": key, "most": most, "count": count}
            yield Violation("CG530", "too-many", key, found)


def origin_refusals(
    plan: Plan, server: str, hosts: Sequence[str], web_only: bool = True
) -> Iterator[Violation]:
    """CG530 for a format whose origins are exact or a `*.` wildcard, without regex, of http or
    https only when `web_only`, and whose host may not hold what `hosts` names (`_`, `[` of an
    IPv6 address), and each origin at most MAX_ORIGIN characters (both CRDs' maxLength)."""
    if plan.regex_patterns:
        fields = {"server": server, "what": "|".join(plan.regex_patterns)}
        yield Violation("CG530", "regex", "allow_origin_regex", fields)
    for origin in plan.exact_origins + plan.wildcard_origins:
        scheme, _, host = origin.partition("://")
        if web_only and scheme not in ("http", "https"):
            yield Violation("CG530", "scheme", "allow_origins", {"server": server, "what": origin})
        elif held := [_HOSTS[text] for text in hosts if text in host]:
            fields = {"server": server, "what": origin, "why": held[0]}
            yield Violation("CG530", "host", "allow_origins", fields)
        elif len(origin) > MAX_ORIGIN:  # a host may be 253 long; with its scheme it is longer
            long: dict[str, object] = {"server": server, "what": origin}
            long |= {"size": len(origin), "most": MAX_ORIGIN}
            yield Violation("CG530", "long-origin", "allow_origins", long)


# The maxLength of an origin in the Gateway API's and Envoy Gateway's CRDs (kube_schema.py).
MAX_ORIGIN = 253
# What a host may hold that a format's origin pattern refuses, and how the refusal says it.
_HOSTS = {"[": "an IPv6 address", "_": "an _"}


# The methods the Gateway API filter's enum (HTTPMethodWithWildcard, apis/v1/httproute_types.go)
# and istiod's validation of a corsPolicy take: these nine, upper case, or *.
METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH")


def method_refusals(plan: Plan, server: str) -> Iterator[Violation]:
    """CG530 for a method outside METHODS, and for a max_age of 0: both formats take a Max-Age
    of at least one second (the filter's minimum 1, Istio's duration of at least 1ms)."""
    for method in values(plan, "methods"):
        if method != "*" and method not in METHODS:
            fields = {"server": server, "what": method, "why": ", ".join(METHODS)}
            yield Violation("CG530", "method", "allow_methods", fields)
    if plan.value("max_age") == "0":
        yield Violation("CG530", "max-age", "max_age", {"server": server, "what": 0})


def wildcarded(plan: Plan) -> list[str]:
    """The origins as a format with `*.` wildcards and no regex takes them (the Gateway API
    filter, Envoy Gateway): exact ones and wildcards as written, or * alone."""
    if plan.any_origin:
        return ["*"]
    return [*plan.exact_origins, *plan.wildcard_origins]


def no_private_network(plan: Plan, server: str) -> Iterator[Violation]:
    if plan.private_network:
        yield Violation("CG530", "private-network", "allow_private_network", {"server": server})


@dataclass(frozen=True)
class Issue:
    """One implementation's documented shortfall, as data: the CG501 case (rules/table.py holds
    its texts), the implementation and the version it concerns, the tracker, the policy key it
    is about, and when a policy meets it."""

    case: str
    implementation: str
    tracker: str
    key: str
    when: Callable[[Plan], bool]

    def noted(self, plan: Plan) -> Iterator[Violation]:
        if self.when(plan):
            fields = {"implementation": self.implementation, "tracker": self.tracker}
            yield Violation("CG501", self.case, self.key, fields)


class Kubernetes(Target):
    """A target whose output is a Kubernetes manifest: no server binary and no config corsgen
    reads back (audit and import read server configs)."""

    reads_configs = False
    served = False
    attaches = frozenset({"namespace", "route"})
    # The offline check runs in this Python: it is always there.
    binaries = (sys.executable,)
    config_test = "corsgen's offline check of the manifest"
    # The resource's kind, for the offline check and the docs.
    kind: ClassVar[str]
    # The indentation of the CORS fields in the template (templates/_cors.j2).
    pad: ClassVar[str]

    def quote(self, value: str) -> str:
        return quote(value, self.title)

    @abstractmethod
    def origins(self, plan: Plan) -> list[str]:
        """The allowOrigins items as the format writes them, quoted."""

    def max_age(self, seconds: int) -> str:
        """maxAge as the format writes it: a number of seconds."""
        return str(seconds)

    @abstractmethod
    def names(self, plan: Plan) -> Mapping[str, object]:
        """The template's names of the resource (its note among them)."""

    def context(self, plan: Plan) -> Mapping[str, object]:
        cors = fields(plan, self.title, self.origins(plan), self.max_age)
        return {**self.names(plan), "pad": self.pad, **cors}

    def checked_by(self, binary: str) -> str:
        return "the CRD's field and CEL rules, offline"

    def config_test_command(self, binary: str, root: Path, files: Mapping[str, str]) -> list[str]:
        return [binary, "-m", "corsgen.targets.kube_validate", *(str(root / f) for f in files)]

    def check_structure(self, files: Mapping[str, str]) -> None:
        """The YAML subset line by line, the document read back as the API server reads it and
        held to the form the target writes, then to the CRD's field and CEL rules."""
        from corsgen.targets import kube_validate  # cel-python: only what checks a file pays

        yaml_lines.check(files, self.known)
        for file, text in files.items():
            self.check_shape(file, parsed(text, file))
        kube_validate.check_files(files)

    def known(self, key: str, column: int) -> bool:
        """Whether a key may stand at this column of the output."""
        return key in self.keys

    keys: ClassVar[frozenset[str]]

    def check_shape(self, file: str, document: object) -> None:
        """Raise VerifyError when the parsed document is not the form this target writes."""


def parsed(text: str, file: str) -> object:
    """The YAML document, as the API server would read it (PyYAML's safe loader)."""
    import yaml  # only verify and the structural check pay for it

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise VerifyError(f"not YAML: {exc}", file) from None


def at(document: object, *path: str | int) -> object:
    """The value at `path` (keys and indexes), or None."""
    for step in path:
        if isinstance(step, int) and isinstance(document, list) and step < len(document):
            document = document[step]
        elif isinstance(step, str) and isinstance(document, dict):
            document = document.get(step)
        else:
            return None
    return document


def patch_value(document: object, file: str, path: str, what: str) -> object:
    """The value of the one JSON 6902 op a patch holds, which adds at `path` (`what` says it)."""
    op = at(document, 0)
    if not isinstance(document, list) or len(document) != 1 or not isinstance(op, dict):
        raise VerifyError("not one JSON 6902 op", file)
    if op.get("op") != "add" or op.get("path") != path:
        raise VerifyError(f"not the op that {what}", file)
    return op.get("value")


def cors_shape(cors: object, file: str) -> None:
    """The filter's fields as written: each list a list (origins may be mappings),
    allowCredentials a bool, maxAge there."""
    if not isinstance(cors, dict):
        raise VerifyError("no CORS fields where the format expects them", file)
    for key in ("allowOrigins", *LISTS.values()):
        if not isinstance(cors.get(key), list):
            raise VerifyError(f"{key} is not a list", file)
    if not isinstance(cors.get("allowCredentials"), bool):
        raise VerifyError("allowCredentials is not true or false", file)
    if cors.get("maxAge") is None:
        raise VerifyError("maxAge is not written", file)


def envoy_shortfalls(plan: Plan, server: str) -> Iterator[Violation]:
    """What a gateway falls short of that enforces the policy with Envoy's own CORS filter, as
    Envoy Gateway and Istio do (envoy.py measures that filter on the real Envoy): it answers
    preflights with 200, echoes the Origin for *, answers * in allow_headers with the request's
    own list, and sends no Vary."""
    fields = {"server": server}
    yield from preflight_always_200(plan, server)
    if plan.any_origin:
        yield Violation("CG501", "no-star", "allow_origins", fields)
    if "*" in values(plan, "headers"):
        yield Violation("CG501", "star-headers", "allow_headers", fields)
    # Envoy's filter echoes the Origin for * too: no answer it computes carries Vary.
    yield Violation("CG501", "no-vary", "allow_origins", fields)
    # Nothing in the translation removes the backend's own CORS headers, on any answer
    # (tests/conformance/gateway_translations_test.py, upstream-cors-kept).
    yield Violation("CG501", "backend-cors", "allow_origins", fields)


# Istio's HTTP filter chain puts its authentication and authorization filters (jwt_authn, RBAC,
# ext_authz) before cors, as read in istio/istio 1.30.3 and measured with its translation on the
# real Envoy (tests/conformance/gateway_translations_test.py, auth-before-cors).
ISTIO_AUTH_FIRST = Issue(
    "auth-first",
    "Istio (1.30)",
    "its HTTP filter order",
    "allow_origins",
    lambda plan: True,
)


def seconds(count: int) -> str:
    """A Kubernetes Duration (Go's time.ParseDuration), quoted: "600s"."""
    return f'"{count}s"'
