"""Ingress manifests as `helm template` or kustomize print them: multi-document YAML, of which only
networking.k8s.io/v1 Ingresses are read (other kinds are skipped), each annotation with its line.

The YAML is read with PyYAML's composer (aliases are the anchored node itself, so an alias costs
nothing; merge keys are applied as kubectl applies them, each mapping read once), within
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

PREFIX = "nginx.ingress.kubernetes.io/"
API_VERSION = "networking.k8s.io/v1"


@dataclass(frozen=True)
class Annotation:
    value: str
    at: Place
    # Written as YAML's bool, number or null (`true`, `600` unquoted): annotations are strings, so
    # the API server refuses the whole Ingress (kubectl: cannot unmarshal bool into a string).
    unquoted: bool = False


_STRING = "tag:yaml.org,2002:str"


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


def _scalar(node: object) -> str | None:
    import yaml

    return str(node.value) if isinstance(node, yaml.ScalarNode) else None


# YAML's merge key (`<<: *defaults`), which kubectl's and helm's YAML readers apply: an Ingress's
# annotations may come from an anchored mapping merged in.
_MERGE = "tag:yaml.org,2002:merge"


def _mapping(node: object, seen: set[int] | None = None) -> dict[str, tuple[object, int]]:
    """A mapping node's values by key, each with its key's line, merge keys applied (its own keys
    first, then the merged mappings in order); {} for any other node. `seen` holds the mappings
    already read, so a mapping merged into itself or merged many times is read once."""
    import yaml

    seen = set() if seen is None else seen
    if not isinstance(node, yaml.MappingNode) or id(node) in seen:
        return {}
    seen.add(id(node))
    own: dict[str, tuple[object, int]] = {}
    merged: dict[str, tuple[object, int]] = {}
    for key, value in node.value:
        if getattr(key, "tag", "") == _MERGE:
            sources = value.value if isinstance(value, yaml.SequenceNode) else [value]
            for source in sources:
                merged = {**_mapping(source, seen), **merged}
            continue
        name = _scalar(key)
        if name is not None:
            own[name] = (value, key.start_mark.line + 1)
    return {**merged, **own}


def _items(node: object) -> list[object]:
    import yaml

    return list(node.value) if isinstance(node, yaml.SequenceNode) else []


def _resources(document: object) -> list[object]:
    """The resources a document holds: itself, or the items of a List (what `kubectl get -o yaml`
    prints for more than one object)."""
    top = _mapping(document)
    if _scalar(top.get("kind", (None, 0))[0]) == "List":
        return _items(top.get("items", (None, 0))[0])
    return [document]


def _ingress(document: object, file: str) -> Ingress | None:
    top = _mapping(document)
    kind = _scalar(top.get("kind", (None, 0))[0])
    version = _scalar(top.get("apiVersion", (None, 0))[0])
    if kind != "Ingress":
        return None
    if version != API_VERSION:
        # Not skipped in silence: the Ingress may hold the CORS the user is moving off.
        start = getattr(document, "start_mark", None)
        at = f":{start.line + 1}" if start is not None else ""
        raise CorsgenError(
            f"{file}{at}: an Ingress of apiVersion {version}: Kubernetes 1.22 removed it and "
            f"ingress-nginx 1.x reads {API_VERSION} only; convert it (kubectl convert) first"
        )
    metadata = _mapping(top.get("metadata", (None, 0))[0])
    name_node, name_line = metadata.get("name", (None, 0))
    name = _scalar(name_node) or ""
    namespace = _scalar(metadata.get("namespace", (None, 0))[0]) or ""
    annotations = {}
    for key, (value, line) in _mapping(metadata.get("annotations", (None, 0))[0]).items():
        text = _scalar(value)
        if key.startswith(PREFIX) and text is not None:
            unquoted = getattr(value, "tag", _STRING) != _STRING
            annotations[key.removeprefix(PREFIX)] = Annotation(text, Place(file, line), unquoted)
    hosts, paths = [], []
    spec = _mapping(top.get("spec", (None, 0))[0])
    for rule in _items(spec.get("rules", (None, 0))[0]):
        fields = _mapping(rule)
        hosts.append(_scalar(fields.get("host", (None, 0))[0]) or "")
        http = _mapping(fields.get("http", (None, 0))[0])
        for path in _items(http.get("paths", (None, 0))[0]):
            paths.append(_scalar(_mapping(path).get("path", (None, 0))[0]) or "/")
    start = getattr(document, "start_mark", None)
    line = name_line or (start.line + 1 if start is not None else 1)
    return Ingress(
        name,
        namespace,
        Place(file, int(line)),
        tuple(dict.fromkeys(hosts)),
        tuple(dict.fromkeys(paths)),
        annotations,
    )


_NOT_UTF8 = re.compile("[\ud800-\udfff]")


def read_text(text: str, file: str) -> list[Ingress]:
    """The Ingresses of a multi-document YAML text; CorsgenError, at the line, when it is not
    YAML or holds more than MAX_INGRESS_DOCUMENTS documents."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    # A byte that is not UTF-8 (kept as a surrogate by the config reader): YAML and the API server
    # read UTF-8 only.
    if (bad := _NOT_UTF8.search(text)) is not None:
        at = text.count("\n", 0, bad.start()) + 1
        raise CorsgenError(f"{file}:{at}: not UTF-8; Kubernetes manifests are UTF-8")
    out = []
    number = 0
    try:
        for document in yaml.compose_all(text, Loader=loader):
            for resource in _resources(document):
                number += 1
                if number > MAX_INGRESS_DOCUMENTS:
                    raise CorsgenError(
                        f"{file}: more than {MAX_INGRESS_DOCUMENTS:,} YAML documents (a List's "
                        "items count one each); split the manifests into several files"
                    )
                found = _ingress(resource, file)
                if found is not None:
                    out.append(found)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise CorsgenError(f"{file}{line}: not YAML: {getattr(exc, 'problem', exc)}") from None
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
