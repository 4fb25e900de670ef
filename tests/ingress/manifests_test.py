"""Reading Ingress manifests (corsgen.ingress.manifests): multi-document YAML as helm template and
kustomize print it, Ingresses only, each annotation at its line, within bounds."""

from __future__ import annotations

import pytest

from corsgen.errors import CorsgenError
from corsgen.ingress.enforced import enforced
from corsgen.ingress.manifests import holds_ingress, read_text
from corsgen.limits import MAX_INGRESS_DOCUMENTS

HELM = """\
---
# Source: api/templates/service.yaml
apiVersion: v1
kind: Service
metadata:
  name: api
---
# Source: api/templates/ingress.yaml
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: api
  namespace: shop
  annotations:
    nginx.ingress.kubernetes.io/enable-cors: "true"
    nginx.ingress.kubernetes.io/cors-max-age: 600
    other.example.com/thing: "x"
spec:
  rules:
    - host: api.example.com
      http:
        paths:
          - path: /v1
            pathType: Prefix
"""


def test_it_reads_the_ingresses_of_helm_s_output() -> None:
    (ingress,) = read_text(HELM, "out.yaml")
    assert (ingress.name, ingress.namespace, ingress.at.line) == ("api", "shop", 12)
    assert (ingress.hosts, ingress.paths) == (("api.example.com",), ("/v1",))
    assert sorted(ingress.annotations) == ["cors-max-age", "enable-cors"]
    assert ingress.annotations["cors-max-age"].at.line == 16


def test_an_unquoted_annotation_is_said_to_be_refused() -> None:
    (ingress,) = read_text(HELM, "out.yaml")
    assert ingress.annotations["cors-max-age"].unquoted
    assert not ingress.annotations["enable-cors"].unquoted
    said = [str(d) for d in enforced(ingress).differences]
    assert any("out.yaml:16: cors-max-age" in d and "refuses the whole Ingress" in d for d in said)


# What `kubectl get ingress -A -o yaml` prints: a List of the Ingresses.
LIST = """\
apiVersion: v1
kind: List
items:
- apiVersion: networking.k8s.io/v1
  kind: Ingress
  metadata:
    name: api
    namespace: shop
    annotations:
      nginx.ingress.kubernetes.io/enable-cors: "true"
"""
# Annotations merged in (`<<`, which kubectl applies): the mapping's own keys win, then the merged
# mappings in order; one merged into itself is read once.
MERGED = """\
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: api
  annotations: &own
    <<:
      - *own
      - {nginx.ingress.kubernetes.io/cors-max-age: "1"}
      - nginx.ingress.kubernetes.io/enable-cors: "true"
        nginx.ingress.kubernetes.io/cors-max-age: "2"
    nginx.ingress.kubernetes.io/cors-allow-credentials: "false"
"""


def test_it_reads_the_ingresses_of_a_list() -> None:
    (ingress,) = read_text(LIST, "out.yaml")
    assert (ingress.name, ingress.namespace, ingress.at.line) == ("api", "shop", 7)
    assert ingress.annotations["enable-cors"].value == "true"


def test_it_applies_merge_keys_as_kubectl_does() -> None:
    (ingress,) = read_text(MERGED, "out.yaml")
    values = {name: a.value for name, a in ingress.annotations.items()}
    assert values == {
        "enable-cors": "true",
        "cors-max-age": "1",
        "cors-allow-credentials": "false",
    }


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("kind: Ingress\nmetadata: [\n", "out.yaml:3: not YAML"),
        # A byte that is not UTF-8, as the config reader keeps it (surrogateescape).
        (
            b"kind: Ingress\nmetadata:\n  name: caf\xe9\n".decode(errors="surrogateescape"),
            "out.yaml:3: not UTF-8",
        ),
        ("---\n{}\n" * (MAX_INGRESS_DOCUMENTS + 1), f"more than {MAX_INGRESS_DOCUMENTS:,} YAML"),
        (
            "kind: List\nitems:\n" + "- {}\n" * (MAX_INGRESS_DOCUMENTS + 1),
            f"more than {MAX_INGRESS_DOCUMENTS:,} YAML",
        ),
        # Removed in Kubernetes 1.22: said, not skipped, since it may hold the CORS being moved.
        (
            "---\napiVersion: extensions/v1beta1\nkind: Ingress\nmetadata:\n  name: old\n",
            "out.yaml:2: an Ingress of apiVersion extensions/v1beta1: .* convert it",
        ),
    ],
    ids=["not-yaml", "not-utf-8", "too-many-documents", "too-many-items", "v1beta1"],
)
def test_refusals(text: str, error: str) -> None:
    with pytest.raises(CorsgenError, match=error):
        read_text(text, "out.yaml")


@pytest.mark.parametrize(
    ("text", "holds"),
    [
        (HELM, True),
        ("kind: 'Ingress'\n", True),
        (LIST, True),
        ('{"items": [{\n    "kind": "Ingress",\n}]}', True),  # kubectl get -o json
        ("kind: IngressClass\n", False),
        ("  kind: Ingresses\n", False),
        ("", False),
    ],
)
def test_what_import_reads_as_manifests(text: str, holds: bool) -> None:
    assert holds_ingress(text) is holds
