"""Envoy Gateway: a whole SecurityPolicy (gateway.envoyproxy.io/v1alpha1) whose cors is the policy.

One file, NAME.securitypolicy.yaml: the SecurityPolicy corsgen-NAME, attached by targetRefs to the
HTTPRoute named NAME (the policy's name, _ as -), in the namespace kustomize or `kubectl -n`
gives. Envoy Gateway translates it to Envoy's own CORS filter, so that filter's shortfalls are
noted (CG501), as for the envoy target.

Its origins are exact or a `*.` wildcard, http or https, without regex; its methods and origins
need at least one entry each (MinItems=1). What it cannot say is refused here (CG530).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from urllib.parse import urlsplit

from corsgen.errors import VerifyError
from corsgen.plan import Plan
from corsgen.rules.table import Violation
from corsgen.targets import kubernetes
from corsgen.targets.base import Part

SCHEMES = ("http", "https")
KEYS = frozenset(
    {
        "apiVersion",
        "kind",
        "metadata",
        "name",
        "spec",
        "targetRefs",
        "group",
        "cors",
        "allowOrigins",
        "allowCredentials",
        "maxAge",
        *kubernetes.LISTS.values(),
    }
)


def origins(plan: Plan) -> list[str]:
    """Exact origins and `*.` wildcards as written, or *."""
    if plan.any_origin:
        return ["*"]
    return [*plan.exact_origins, *plan.wildcard_origins]


class EnvoyGateway(kubernetes.Kubernetes):
    name = "envoy-gateway"
    title = "Envoy Gateway"
    kind = "SecurityPolicy"
    parts = (Part("envoy-gateway/securitypolicy.yaml.j2", ".securitypolicy.yaml"),)
    keys = KEYS

    def quote(self, value: str) -> str:
        return kubernetes.quote(value, self.title)

    def context(self, plan: Plan) -> Mapping[str, object]:
        plan = self.expressed(plan)
        written = [self.quote(origin) for origin in origins(plan)]
        found = kubernetes.fields(plan, self.title, ("allowOrigins", written), kubernetes.seconds)
        policy = kubernetes.owned(plan)
        return {
            "note": f"Envoy Gateway: the SecurityPolicy {policy}, kubectl apply it (-n NAMESPACE).",
            "policy": self.quote(policy),
            "route": self.quote(kubernetes.name(plan)),
            "pad": "    ",
            "lists": [(key, items) for key, items in found.lists if items],
            "empty": [key for key, items in found.lists if not items],
            "comments": found.comments,
            "scalars": found.scalars,
        }

    def check_shape(self, file: str, document: object) -> None:
        if kubernetes.at(document, "kind") != self.kind:
            raise VerifyError("not a SecurityPolicy", file)
        if kubernetes.at(document, "spec", "targetRefs", 0, "kind") != "HTTPRoute":
            raise VerifyError("the policy does not target an HTTPRoute", file)
        lists = ("allowOrigins", *kubernetes.LISTS.values())
        kubernetes.cors_shape(kubernetes.at(document, "spec", "cors"), file, lists)

    def refusals(self, plan: Plan) -> Iterator[Violation]:
        server = {"server": self.title}
        names = [kubernetes.owned(plan), kubernetes.name(plan)]
        yield from kubernetes.name_refusals(plan, self.title, names)
        if plan.regex_patterns:
            fields = {**server, "what": "|".join(plan.regex_patterns)}
            yield Violation("CG530", "regex", "allow_origin_regex", fields)
        for origin in origins(plan):
            if origin != "*" and urlsplit(origin).scheme not in SCHEMES:
                yield Violation("CG530", "scheme", "allow_origins", {**server, "what": origin})
            elif urlsplit(origin).netloc.startswith("["):
                fields = {**server, "what": origin, "why": "an IPv6 address"}
                yield Violation("CG530", "host", "allow_origins", fields)
        if not kubernetes.values(plan, "methods"):
            # An empty list is no header: only the safelisted methods, which listing says too.
            fields = {**server, "what": "allow_methods", "why": _EMPTY_METHODS}
            yield Violation("CG530", "empty", "allow_methods", fields)
        yield from kubernetes.no_private_network(plan, self.title)

    def shortfalls(self, plan: Plan) -> Iterator[Violation]:
        yield from kubernetes.envoy_shortfalls(plan, self.title)


_EMPTY_METHODS = 'list allow_methods = ["GET", "HEAD", "POST"], which browsers allow anyway'

TARGET = EnvoyGateway()
