"""Traefik's Kubernetes CRD: one whole Middleware (traefik.io/v1alpha1), NAME.middleware.yaml.

`kubectl apply -f` applies it, or kustomize's `resources:` lists it; no namespace is written
(kustomize's `namespace:` or `kubectl -n` sets it). Its name is corsgen-NAME, the policy's _ as -
(a Kubernetes name is a DNS-1123 subdomain). A router carries it first in its middlewares, as the
file provider's: an IngressRoute's `middlewares: [{name: corsgen-NAME}]`, or an Ingress's
annotation `traefik.ingress.kubernetes.io/router.middlewares: NAMESPACE-corsgen-NAME@kubernetescrd`.

Traefik's CRD provider hands spec.headers on as it is (pkg/provider/kubernetes/crd/kubernetes.go,
`Headers: middleware.Spec.Headers`, the *dynamic.Headers the file provider decodes too), so
spec.headers is the traefik target's options (traefik.headers), with its workarounds and its
shortfalls. The config test is that same copy: each Middleware's spec.headers becomes a file
provider's middleware (file_provider()) and Traefik is started on it as the traefik target's
check starts it. What only a cluster shows (the CRD installed, the namespace, the router's
reference) is for `kubectl apply --dry-run=server` and `corsgen probe`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path

from corsgen.errors import VerifyError
from corsgen.plan import Plan
from corsgen.rules.table import Violation
from corsgen.targets import kubernetes, traefik, yaml_lines
from corsgen.targets.base import WRAPPER, Part, Target

API_VERSION = "traefik.io/v1alpha1"
KIND = "Middleware"
# The type of each spec.headers field corsgen writes, as the CRD's schema declares it
# (traefik.io_middlewares.yaml): string lists, booleans, an int64, and a map of strings.
FIELDS: Mapping[str, type] = {
    "accessControlAllowOriginList": list,
    "accessControlAllowOriginListRegex": list,
    "accessControlAllowMethods": list,
    "accessControlAllowHeaders": list,
    "accessControlExposeHeaders": list,
    "accessControlAllowCredentials": bool,
    "addVaryHeader": bool,
    "accessControlMaxAge": int,
    "customResponseHeaders": dict,
}
assert set(FIELDS) == traefik.CORS_OPTIONS | {"customResponseHeaders"}
# The keys each column of the file may hold (the deleted headers, at 6, are Access-Control-*).
_COLUMNS: Mapping[int, frozenset[str]] = {
    0: frozenset({"apiVersion", "kind", "metadata", "spec"}),
    2: frozenset({"name", "namespace", "headers"}),
    4: frozenset(FIELDS),
}
# Where the config test puts the file provider's copies: Traefik's file provider reads every
# YAML file below its directory, and a Middleware manifest is not dynamic configuration.
PROVIDER = WRAPPER + "-file-provider"


def file_provider(text: str) -> str:
    """A rendered Middleware as Traefik's CRD provider hands it on: its spec.headers as the
    file provider's headers middleware of the same name."""
    import yaml  # only the config test and the tests serve it

    resource = yaml.safe_load(text)
    name, headers = resource["metadata"]["name"], resource["spec"]["headers"]
    config = {"http": {"middlewares": {name: {"headers": headers}}}}
    return yaml.safe_dump(config, sort_keys=False, width=1 << 20)


def _known(key: str, column: int) -> bool:
    if column == 6:
        return key.startswith("Access-Control-")
    return key in _COLUMNS.get(column, frozenset())


def _line(text: str, key: str) -> int:
    """The line of the first `key:` in text, for a message about its value."""
    match = re.search(rf"^ *{re.escape(key)}:", text, re.MULTILINE)
    return text.count("\n", 0, match.start()) + 1 if match else 1


def _shape(file: str, text: str) -> None:
    """The parsed resource is a Middleware of this name and spec.headers of FIELDS' types."""
    resource = kubernetes.parsed(text, file)
    for key, value in {"apiVersion": API_VERSION, "kind": KIND}.items():
        if kubernetes.at(resource, key) != value:
            raise VerifyError(f"{key} is not {value}", file, _line(text, key))
    name = kubernetes.at(resource, "metadata", "name")
    if not isinstance(name, str) or not name.startswith(kubernetes.OWNED):
        raise VerifyError("metadata.name is not corsgen-NAME (DNS-1123)", file, _line(text, "name"))
    headers = kubernetes.at(resource, "spec", "headers")
    if not isinstance(headers, dict):
        raise VerifyError("spec.headers is not a mapping", file, _line(text, "spec"))
    for key, value in headers.items():
        kind = FIELDS[key]
        # bool is an int in Python; the CRD's int64 is not a boolean.
        wrong = not isinstance(value, kind) or (kind is int and isinstance(value, bool))
        items = value.values() if isinstance(value, dict) else value if kind is list else ()
        if wrong or not all(isinstance(item, str) for item in items):
            raise VerifyError(
                f"spec.headers.{key} is not a {kind.__name__}", file, _line(text, key)
            )


class TraefikCrd(Target):
    name = "traefik-crd"
    title = "Traefik (Kubernetes Middleware)"
    parts = (Part("traefik-crd/middleware.yaml.j2", ".middleware.yaml"),)
    binaries = traefik.TARGET.binaries
    config_test = "a start of traefik with the file provider on the Middleware's spec.headers"
    reads_configs = False
    # A router names the Middleware: it attaches to no route itself.
    attaches = frozenset({"namespace"})

    def quote(self, value: str) -> str:
        return traefik.quote(value)

    def context(self, plan: Plan) -> Mapping[str, object]:
        name = kubernetes.owned(plan)
        space = plan.attachment.namespace or "NAMESPACE"
        return {
            "note": (
                f"Traefik CRD: {name} first in a router's middlewares (an IngressRoute's, or an "
                f"Ingress's router.middlewares annotation: {space}-{name}@kubernetescrd)."
            ),
            "api_version": self.quote(API_VERSION),
            "kind": self.quote(KIND),
            "name": self.quote(name),
            "namespace": kubernetes.namespace(plan, self.title),
            **traefik.headers(plan),
        }

    def check_structure(self, files: Mapping[str, str]) -> None:
        from corsgen.targets import kube_validate  # cel-python: only what checks a file pays

        yaml_lines.check(files, _known)
        for file, text in files.items():
            _shape(file, text)
        kube_validate.check_files(files)

    def config_test_command(self, binary: str, root: Path, files: Mapping[str, str]) -> list[str]:
        provider = root / PROVIDER
        provider.mkdir()
        copies = {name: file_provider(text) for name, text in files.items()}
        for name, text in copies.items():
            (provider / name).write_text(text)
        return traefik.TARGET.config_test_command(binary, provider, copies)

    def refusals(self, plan: Plan) -> Iterator[Violation]:
        return kubernetes.name_refusals(plan, self.title, [kubernetes.owned(plan)])

    def shortfalls(self, plan: Plan) -> Iterator[Violation]:
        # The same middleware, the same Traefik: the file provider's shortfalls.
        return traefik.TARGET.shortfalls(plan)


TARGET = TraefikCrd()
