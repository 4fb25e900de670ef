"""Istio: a VirtualService's corsPolicy, as a kustomize patch of the user's VirtualService.

One file, NAME.virtualservice-patch.yaml, a JSON 6902 op that sets /spec/http/0/corsPolicy of the
VirtualService named NAME (the policy's name, _ as -). Its origins are StringMatches: an exact
origin is `exact`, and a wildcard or allow_origin_regex is `regex`, RE2, which Istio hands to
Envoy's safe_regex, a match of the whole Origin: the pattern is written anchored and narrowed as
for the envoy target (regex.one_origin: no comma, since Envoy joins two Origin headers with one).
So every policy corsgen accepts is expressible, except private-network access (CG530).

Istio enforces it with Envoy's own CORS filter: that filter's shortfalls are noted (CG501).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from corsgen.errors import VerifyError, shorten
from corsgen.plan import Plan
from corsgen.regex import one_origins
from corsgen.rules.table import Violation
from corsgen.targets import kubernetes
from corsgen.targets.base import Part

# Istio's own spelling of any origin (what it writes for the Gateway API's *).
ANY = ".*"
# The longest regex istiod's webhook takes in a StringMatch (validateCORSPolicy: len(regex) bytes).
MOST_REGEX = 1024
KEYS = kubernetes.FIELD_KEYS | kubernetes.OP_KEYS | {"exact", "regex"}


class Istio(kubernetes.Kubernetes):
    name = "istio"
    title = "Istio"
    kind = "VirtualService"
    parts = (Part("istio/virtualservice-patch.yaml.j2", ".virtualservice-patch.yaml"),)
    keys = KEYS

    pad = "    "

    def origins(self, plan: Plan) -> list[str]:
        """The allowOrigins items: `exact: "..."` and `regex: "..."`, quoted."""
        if plan.any_origin:
            return [f"regex: {self.quote(ANY)}"]
        exact = [f"exact: {self.quote(origin)}" for origin in plan.exact_origins]
        patterns = one_origins(plan.origin_patterns)
        return exact + [f"regex: {self.quote(pattern)}" for pattern in patterns]

    def max_age(self, seconds: int) -> str:
        return kubernetes.seconds(seconds)

    def names(self, plan: Plan) -> Mapping[str, object]:
        return kubernetes.patch_names(self, plan)

    def check_shape(self, file: str, document: object) -> None:
        path, what = "/spec/http/0/corsPolicy", "sets the corsPolicy of http route 0"
        cors = kubernetes.patch_value(document, file, path, what)
        kubernetes.cors_shape(cors, file)
        matches = kubernetes.at(cors, "allowOrigins")
        for match in matches if isinstance(matches, list) else []:
            if not isinstance(match, dict) or len(match) != 1 or set(match) - {"exact", "regex"}:
                raise VerifyError("an origin that is not one exact or regex match", file)

    def refusals(self, plan: Plan) -> Iterator[Violation]:
        yield from kubernetes.name_refusals(plan, self.title, [kubernetes.name(plan)])
        # istiod's validation of a corsPolicy (kube_schema.py, its webhook rules).
        yield from kubernetes.method_refusals(plan, self.title)
        yield from kubernetes.no_private_network(plan, self.title)
        # A pattern written out (anchored, narrowed) is longer than the policy's text.
        for pattern in one_origins(plan.regex_patterns):
            size = len(pattern.encode())
            if size > MOST_REGEX:
                fields = {
                    "server": self.title,
                    "pattern": shorten(pattern),
                    "size": size,
                    "most": MOST_REGEX,
                }
                yield Violation("CG530", "regex-size", "allow_origin_regex", fields)
                return

    def shortfalls(self, plan: Plan) -> Iterator[Violation]:
        yield from kubernetes.envoy_shortfalls(plan, self.title)
        yield from kubernetes.ISTIO_AUTH_FIRST.noted(plan)


TARGET = Istio()
