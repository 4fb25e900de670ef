"""The Gateway API CORS filter ingress2gateway writes for an Ingress's ingress-nginx annotations
(kubernetes-sigs/ingress2gateway v1.1.0, pkg/i2gw/providers/ingressnginx/cors.go, emitted as the
rule's `{type: CORS, cors: ...}` by the common emitter): it copies the annotations' text, not
what ingress-nginx did with it.

- enable-cors must be a Go bool and true, as in ingress-nginx;
- each list is split on commas and each item trimmed (Go's TrimSpace, newlines too), empty items
  dropped, nothing checked: a YAML | block is two origins, a blank origin an empty list,
  `GET , POST` two methods, `*` in allow-headers `*`, an invalid expose list copied;
- a missing (or empty) annotation gets ingress-nginx's default: origins `*`, its methods and
  headers; allowCredentials true unless the annotation parses as false; maxAge 1728000 unless the
  annotation parses as a 32-bit integer (ParseInt(s, 10, 32)).
"""

from __future__ import annotations

import re

from corsgen.ingress.enforced import DEFAULT_HEADERS, DEFAULT_MAX_AGE, go_bool, go_trim
from corsgen.ingress.manifests import Ingress

_DEFAULT_METHODS = ["GET", "PUT", "POST", "DELETE", "PATCH", "OPTIONS"]
_INT32 = re.compile(r"[+-]?[0-9]+")


def _split(text: str) -> list[str]:
    return [item for item in (go_trim(i) for i in text.split(",")) if item]


def translated(ingress: Ingress) -> dict[str, object] | None:
    """The filter's `cors` mapping, or None when ingress2gateway writes none."""
    notes = ingress.annotations
    enable = notes.get("enable-cors")
    if enable is None or not go_bool(enable.value):
        return None

    def listed(name: str, default: list[str] | None) -> list[str] | None:
        found = notes.get(name)
        return _split(found.value) if found is not None and found.value else default

    credentials = notes.get("cors-allow-credentials")
    max_age = notes.get("cors-max-age")
    age = DEFAULT_MAX_AGE
    if max_age is not None and _INT32.fullmatch(max_age.value):
        value = int(max_age.value)
        age = value if -(2**31) <= value < 2**31 else age
    cors: dict[str, object] = {
        "allowOrigins": listed("cors-allow-origin", ["*"]),
        "allowMethods": listed("cors-allow-methods", _DEFAULT_METHODS),
        "allowHeaders": listed("cors-allow-headers", DEFAULT_HEADERS.split(",")),
        "allowCredentials": not (credentials is not None and go_bool(credentials.value) is False),
        "maxAge": age,
    }
    expose = listed("cors-expose-headers", None)
    if expose is not None:
        cors["exposeHeaders"] = expose
    return cors
