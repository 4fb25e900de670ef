"""The Gateway API's HTTPRoute CORS filter (GEP-1767, Standard channel since v1.5.0): a patch.

One file, NAME.httproute-patch.yaml, a JSON 6902 patch that kustomize applies to the user's
HTTPRoute named NAME (the policy's name, _ as -): its op puts `{type: CORS, cors: {...}}` first in
the filters of the route's rule 0. The filter is the route's, so every implementation that claims
HTTPRouteCORS enforces it; where one is reported to fall short, a CG501 note names it.

The filter's format is narrower than a policy: no origin regex, http and https only, a host of
letters, digits and -, at most 64 origins and headers, the nine methods of an enum, a maxAge of at
least 1. What it cannot say is refused for this output (CG530). Its `*.` wildcard matches any
number of labels, as corsgen's does, so wildcards are written as they are.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from corsgen.errors import VerifyError
from corsgen.plan import Plan
from corsgen.rules.table import Violation
from corsgen.targets import kubernetes
from corsgen.targets.base import Part
from corsgen.targets.kubernetes import Issue

SERVER = "the Gateway API CORS filter"
# MaxItems of allowOrigins, allowHeaders and exposeHeaders.
MOST = 64
# What implementations are reported to do with the filter, by their trackers.
ISSUES = (
    Issue(
        "ignores-wildcards",
        "Istio (releases without istio/istio#59018)",
        "istio/istio#58729",
        "allow_origins",
        lambda plan: bool(plan.wildcard_origins),
    ),
    kubernetes.ISTIO_AUTH_FIRST,
    Issue(
        "star-not-null",
        "Istio (1.30)",
        "its translation of the filter, measured on the real Envoy",
        "allow_origins",
        lambda plan: plan.any_origin,
    ),
    Issue(
        "preflight-auth",
        "Cilium (the Gateway API controller as reported in 2026-04)",
        "cilium/cilium#45272",
        "allow_origins",
        lambda plan: True,
    ),
    Issue(
        "origin-twice",
        "NGINX Gateway Fabric (2.x)",
        "nginx/nginx-gateway-fabric#5315",
        "allow_origins",
        lambda plan: True,
    ),
    Issue(
        "basic-auth",
        "NGINX Gateway Fabric 2.5.1",
        "nginx/nginx-gateway-fabric#5119",
        "allow_origins",
        lambda plan: True,
    ),
)
KEYS = kubernetes.FIELD_KEYS | kubernetes.OP_KEYS | {"type", "cors"}


class GatewayApi(kubernetes.Kubernetes):
    name = "gateway-api"
    title = "Gateway API"
    kind = "HTTPRoute"
    parts = (Part("gateway-api/httproute-patch.yaml.j2", ".httproute-patch.yaml"),)
    keys = KEYS

    pad = "      "

    def origins(self, plan: Plan) -> list[str]:
        return [self.quote(origin) for origin in kubernetes.wildcarded(plan)]

    def names(self, plan: Plan) -> Mapping[str, object]:
        return kubernetes.patch_names(self, plan)

    def check_shape(self, file: str, document: object) -> None:
        path, what = "/spec/rules/0/filters/0", "puts the filter first in rule 0"
        value = kubernetes.patch_value(document, file, path, what)
        if kubernetes.at(value, "type") != "CORS":
            raise VerifyError("the filter's type is not CORS", file)
        kubernetes.cors_shape(kubernetes.at(value, "cors"), file)

    def refusals(self, plan: Plan) -> Iterator[Violation]:
        yield from kubernetes.name_refusals(plan, self.title, [kubernetes.name(plan)])
        yield from kubernetes.origin_refusals(plan, self.title, ["[", "_"])
        yield from kubernetes.too_many(plan, self.title, MOST, len(kubernetes.wildcarded(plan)))
        yield from kubernetes.method_refusals(plan, self.title)
        yield from _stars(plan, self.title)
        yield from kubernetes.no_private_network(plan, self.title)

    def shortfalls(self, plan: Plan) -> Iterator[Violation]:
        # GEP-1767 leaves these answers to each implementation.
        server = {"server": self.title}
        fields = {**server, "status": plan.preflight_status}
        yield Violation("CG501", "preflight-ok", "preflight_status", fields)
        if plan.vary_origin:
            yield Violation("CG501", "no-vary", "allow_origins", server)
        yield Violation("CG501", "backend-cors", "allow_origins", server)
        for issue in ISSUES:
            yield from issue.noted(plan)


def _stars(plan: Plan, server: str) -> Iterator[Violation]:
    """A * beside other methods or request headers, which the filter's CEL rules refuse (a * beside
    other origins corsgen refuses for every target; ["*", "Authorization"] means something, since
    * does not cover Authorization). A * with credentials, which the filter would answer by
    echoing the request's, corsgen refuses for every target too: CG107."""
    for role, key in (("methods", "allow_methods"), ("headers", "allow_headers")):
        listed = kubernetes.values(plan, role)
        if "*" in listed and len(listed) > 1:
            yield Violation("CG530", "star-beside", key, {"server": server, "what": key})


TARGET = GatewayApi()
