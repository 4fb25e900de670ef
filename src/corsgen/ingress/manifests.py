"""Ingress manifests as `helm template` or kustomize print them: multi-document YAML, of which only
networking.k8s.io/v1 Ingresses are read (other kinds are skipped), each annotation with its line.

The YAML is read as `corsgen audit` reads a Traefik or Envoy config (yaml_lines.read_all: an
alias costs nothing, merge keys are applied as kubectl applies them), within
MAX_INGRESS_DOCUMENTS documents (a List's items counted one each) of a file of at most
files.MAX_BYTES.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from corsgen.errors import CorsgenError
from corsgen.files import decode, read_file, shown
from corsgen.limits import MAX_INGRESS_DOCUMENTS
from corsgen.routing import Place
from corsgen.targets.yaml_lines import NONE, Node, read_all

PREFIX = "nginx.ingress.kubernetes.io/"
API_VERSION = "networking.k8s.io/v1"


@dataclass(frozen=True)
class Annotation:
    value: str
    at: Place
    # Written as YAML's bool, number or null (`true`, `600` unquoted): annotations are strings, so
    # the API server refuses the whole Ingress (kubectl: cannot unmarshal bool into a string).
    unquoted: bool = False


@dataclass(frozen=True)
class Ingress:
    """One Ingress: its name, where it starts, its rules' hosts and paths, and its ingress-nginx
    annotations by name without the prefix (enable-cors, cors-allow-origin, ...)."""

    name: str
    namespace: str
    at: Place  # its metadata.name line
    hosts: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()
    annotations: Mapping[str, Annotation] = field(default_factory=dict)

    @property
    def title(self) -> str:
        return f"Ingress {self.namespace}/{self.name}" if self.namespace else f"Ingress {self.name}"


def _path(node: Node, *keys: str) -> Node:
    """The node at `keys` below `node`; NONE (no text, no items) where there is none."""
    for key in keys:
        node = node.get(key) or NONE
    return node


def _resources(document: Node) -> tuple[Node, ...]:
    """The resources a document holds: itself, or the items of a List (what `kubectl get -o yaml`
    prints for more than one object)."""
    if _path(document, "kind").text() == "List":
        return _sequence(_path(document, "items"))
    return (document,)


def _ingress(document: Node) -> Ingress | None:
    if _path(document, "kind").text() != "Ingress":
        return None
    version = _path(document, "apiVersion").text()
    if version != API_VERSION:
        # Not skipped in silence: the Ingress may hold the CORS the user is moving off.
        raise CorsgenError(
            f"{document.file}:{document.line}: an Ingress of apiVersion {version}: Kubernetes "
            f"1.22 removed it and ingress-nginx 1.x reads {API_VERSION} only; convert it "
            "(kubectl convert) first"
        )
    metadata = document.get("metadata") or NONE
    annotations = {
        key.removeprefix(PREFIX): Annotation(value.value, value.at, value.typed)
        for key, value in _path(metadata, "annotations").keys().items()
        if key.startswith(PREFIX) and isinstance(value.value, str)
    }
    hosts, paths = [], []
    for rule in _sequence(_path(document, "spec", "rules")):
        hosts.append(_path(rule, "host").text())
        paths += [
            _path(path, "path").text() or "/" for path in _sequence(_path(rule, "http", "paths"))
        ]
    name = metadata.get("name")
    return Ingress(
        _path(metadata, "name").text(),
        _path(metadata, "namespace").text(),
        name.at if name is not None else document.at,
        tuple(dict.fromkeys(hosts)),
        tuple(dict.fromkeys(paths)),
        annotations,
    )


def _sequence(node: Node) -> tuple[Node, ...]:
    """A sequence's items; nothing for any other value (a scalar is no list of rules here)."""
    return node.value if isinstance(node.value, tuple) else ()


_NOT_UTF8 = re.compile("[\ud800-\udfff]")


def read_text(text: str, file: str) -> list[Ingress]:
    """The Ingresses of a multi-document YAML text; CorsgenError, at the line, when it is not
    YAML or holds more than MAX_INGRESS_DOCUMENTS documents."""
    # A byte that is not UTF-8 (kept as a surrogate by the config reader): YAML and the API server
    # read UTF-8 only.
    if (bad := _NOT_UTF8.search(text)) is not None:
        at = text.count("\n", 0, bad.start()) + 1
        raise CorsgenError(f"{file}:{at}: not UTF-8; Kubernetes manifests are UTF-8")
    out = []
    number = 0
    for document in read_all(text, file):
        for resource in _resources(document):
            number += 1
            if number > MAX_INGRESS_DOCUMENTS:
                raise CorsgenError(
                    f"{file}: more than {MAX_INGRESS_DOCUMENTS:,} YAML documents (a List's "
                    "items count one each); split the manifests into several files"
                )
            found = _ingress(resource)
            if found is not None:
                out.append(found)
    return out


def read(path: Path) -> list[Ingress]:
    """The Ingresses of a manifest file (at most files.MAX_BYTES)."""
    return read_text(decode(read_file(path)), shown(path))


def holds_ingress(text: str) -> bool:
    """Whether a file's text looks like Kubernetes manifests with an Ingress: what `corsgen import`
    reads with this package rather than as a server's config."""
    # At the start of a line, or indented as a List's item (kubectl get -o yaml), or JSON's
    # `"kind": "Ingress",` (kubectl get -o json).
    kind = r"^[ \t]*(?:-[ \t]+)?([\"']?)kind\1:[ \t]*([\"']?)Ingress\2[ \t]*,?[ \t]*(?:#.*)?$"
    return re.search(kind, text, re.MULTILINE) is not None
