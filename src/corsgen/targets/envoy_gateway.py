"""Envoy Gateway: a whole SecurityPolicy (gateway.envoyproxy.io/v1alpha1) whose cors is the policy.

One file, NAME.securitypolicy.yaml: the SecurityPolicy corsgen-NAME, attached by targetRefs to the
HTTPRoute named NAME (the policy's name, _ as -), in the namespace kustomize or `kubectl -n`
gives. Envoy Gateway translates it to Envoy's own CORS filter, so that filter's shortfalls are
noted (CG501), as for the envoy target.

Its origins are exact or a `*.` wildcard, of any scheme since v1.9.0, without regex; its methods
and origins need at least one entry each (MinItems=1). What it cannot say is refused here (CG530).
Its translator turns a wildcard into the regex `.*` for `*` (wildcard2regex): any number of
labels, as corsgen's wildcard means, for every Origin a browser sends.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from corsgen.errors import VerifyError
from corsgen.plan import Plan
from corsgen.rules.table import Violation
from corsgen.targets import kubernetes
from corsgen.targets.base import Part

KEYS = kubernetes.FIELD_KEYS | {
    "apiVersion",
    "kind",
    "metadata",
    "name",
    "namespace",
    "spec",
    "targetRefs",
    "group",
    "cors",
}


def resource(plan: Plan) -> str:
    """The SecurityPolicy's name: corsgen-NAME, then `.ROUTE` when a route is given (a name may
    hold dots), so that one policy attached to two routes in one namespace is two
    SecurityPolicies, not one that the second `kubectl apply` overwrites."""
    given = plan.attachment.route
    return kubernetes.owned(plan) + (f".{given}" if given else "")


class EnvoyGateway(kubernetes.Kubernetes):
    name = "envoy-gateway"
    title = "Envoy Gateway"
    kind = "SecurityPolicy"
    parts = (Part("envoy-gateway/securitypolicy.yaml.j2", ".securitypolicy.yaml"),)
    keys = KEYS

    pad = "    "

    def origins(self, plan: Plan) -> list[str]:
        return [self.quote(origin) for origin in kubernetes.wildcarded(plan)]

    def max_age(self, seconds: int) -> str:
        return duration(seconds)

    def names(self, plan: Plan) -> Mapping[str, object]:
        policy = resource(plan)
        return {
            "note": f"Envoy Gateway: the SecurityPolicy {policy}, kubectl apply it.",
            "policy": self.quote(policy),
            "route": self.quote(kubernetes.route(plan)),
            "namespace": kubernetes.namespace(plan, self.title),
        }

    def check_shape(self, file: str, document: object) -> None:
        if kubernetes.at(document, "kind") != self.kind:
            raise VerifyError("not a SecurityPolicy", file)
        if kubernetes.at(document, "spec", "targetRefs", 0, "kind") != "HTTPRoute":
            raise VerifyError("the policy does not target an HTTPRoute", file)
        kubernetes.cors_shape(kubernetes.at(document, "spec", "cors"), file)

    def refusals(self, plan: Plan) -> Iterator[Violation]:
        server = {"server": self.title}
        names = [kubernetes.owned(plan), kubernetes.name(plan)]
        yield from kubernetes.name_refusals(plan, self.title, names)
        if len(resource(plan)) > kubernetes.MAX_SUBDOMAIN:
            why = f"with the route, more than {kubernetes.MAX_SUBDOMAIN} characters"
            shortest = kubernetes.MAX_SUBDOMAIN - len(resource(plan)) + len(plan.name)
            named = {**server, "what": resource(plan), "why": why, "most": shortest}
            yield Violation("CG530", "name", "name", named)
        # Its origin pattern (api/v1alpha1/cors_types.go, v1.9.0) takes any scheme, and \w, so
        # _ too, in a host; v1.8 took http and https only, which its API server says.
        yield from kubernetes.origin_refusals(plan, self.title, ["["], web_only=False)
        if not kubernetes.values(plan, "methods"):
            # An empty list is no header: only the safelisted methods, which listing says too.
            fields = {**server, "what": "allow_methods", "why": _EMPTY_METHODS}
            yield Violation("CG530", "empty", "allow_methods", fields)
        yield from kubernetes.no_private_network(plan, self.title)
        age = plan.value("max_age")
        if age is not None and int(age) > MOST_MAX_AGE:
            most = {"server": self.title, "what": int(age), "most": MOST_MAX_AGE}
            yield Violation("CG530", "max-age-most", "max_age", most)

    def shortfalls(self, plan: Plan) -> Iterator[Violation]:
        yield from kubernetes.envoy_shortfalls(plan, self.title)


# maxAge is a Gateway API Duration, whose pattern ^([0-9]{1,5}(h|m|s|ms)){1,4}$ takes at most
# five digits before a unit: 99999s is the most in seconds, a longer one is written in hours,
# minutes and seconds (Go's time.ParseDuration reads "27h46m40s" as 100000s), up to 99999h59m59s.
_DIGITS = 99999
MOST_MAX_AGE = _DIGITS * 3600 + 59 * 60 + 59


def duration(seconds: int) -> str:
    """maxAge as the Duration pattern takes it, quoted: "600s", or "27h46m40s" past 99999s."""
    if seconds <= _DIGITS:
        return kubernetes.seconds(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, rest = divmod(rest, 60)
    units = ((hours, "h"), (minutes, "m"), (rest, "s"))
    return '"' + "".join(f"{count}{unit}" for count, unit in units if count) + '"'


_EMPTY_METHODS = 'list allow_methods = ["GET", "HEAD", "POST"], which browsers allow anyway'

TARGET = EnvoyGateway()
