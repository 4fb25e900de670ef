"""What ingress-nginx (v1.13.9) enforces from each annotation, case by case, as read from its
parser, validators and template (corsgen.ingress.enforced)."""

from __future__ import annotations

import itertools
import re

import pytest

from corsgen.ingress.enforced import (
    DEFAULT_HEADERS,
    DEFAULT_MAX_AGE,
    DEFAULT_METHODS,
    EXPOSE_VALID,
    METHODS_VALID,
    ORIGINS_VALID,
    Enforced,
    enforced,
    go_bool,
    go_int,
)
from corsgen.ingress.manifests import Annotation, Ingress
from corsgen.routing import Place

AT = Place("ingress.yaml", 5)


def _ingress(enable: str | None = "true", **annotations: str) -> Ingress:
    notes = {
        k.replace("_", "-"): Annotation(v, Place("ingress.yaml", 9)) for k, v in annotations.items()
    }
    if enable is not None:
        notes["enable-cors"] = Annotation(enable, Place("ingress.yaml", 8))
    return Ingress("api", "shop", AT, ("api.example.com",), ("/",), notes)


def _found(**annotations: str) -> Enforced:
    return enforced(_ingress(**annotations))


# (annotation cors-allow-origin, what ingress-nginx allows)
ORIGINS = [
    (None, ("*",)),
    ("", ("*",)),
    (" ", ("*",)),
    ("*", ("*",)),
    ("https://a.example.com", ("https://a.example.com",)),
    (
        "https://a.example.com, http://b.example.com:8080",
        ("https://a.example.com", "http://b.example.com:8080"),
    ),
    ("HTTPS://a.example.com", ("*",)),  # upper-case scheme: the whole value fails
    ("https://a.example.com/", ("*",)),  # a path
    ("https://my_app.example.com", ("*",)),  # _
    ("https://a.example.com:*", ("*",)),
    ("http://[::1]:8080", ("*",)),
    ("https://a.example.com, *", ("*",)),
    ("https://a.example.com,\nhttps://b.example.com\n", ("*",)),  # a YAML | block
    ("https://a.example.com\n", ("*",)),  # | with one origin: still a newline
    ("https://a.example.com,\thttps://b.example.com", ("*",)),
    ("a.example.com, https://b.example.com", ("https://b.example.com",)),  # skipped item
    ("https://*.*.example.com", ()),  # every item skipped: no CORS at all
    ("https://a.example.com https://b.example.com", ()),
    ("https://*.example.com", ("https://*.example.com",)),
    ("null, https://a.example.com", ("null", "https://a.example.com")),
    ("myapp://a.example.com", ("myapp://a.example.com",)),
]


@pytest.mark.parametrize(("text", "origins"), ORIGINS)
def test_origins(text: str | None, origins: tuple[str, ...]) -> None:
    found = _found(**({"cors_allow_origin": text} if text is not None else {}))
    assert found.origins == origins


# (origin annotation, Origin sent, whether the block allows it)
MATCHES = [
    ("https://*.example.com", "https://x.example.com", True),
    ("https://*.example.com", "https://x.y.example.com", False),  # one label
    ("https://*.example.com", "https://example.com", False),
    ("https://a.example.com", "HTTPS://A.EXAMPLE.COM", True),  # ~*
    ("https://a.example.com", "xhttps://a.example.com", True),  # anchored at the end only
    ("https://a.example.com", "https://a.example.com.evil.example", False),
    ("https://a.example.com", "https://aXexample.com", False),  # the dot is quoted
    ("null", "null", True),
    ("null", "https://null", True),
    ("*", "https://anything.example", True),
]


@pytest.mark.parametrize(("text", "origin", "allowed"), MATCHES)
def test_matching(text: str, origin: str, allowed: bool) -> None:
    assert _found(cors_allow_origin=text).allows(origin) is allowed


@pytest.mark.parametrize(
    ("annotations", "field", "value"),
    [
        ({}, "credentials", True),
        ({"cors_allow_credentials": "false"}, "credentials", False),
        ({"cors_allow_credentials": "False"}, "credentials", False),
        ({"cors_allow_credentials": "0"}, "credentials", False),
        ({"cors_allow_credentials": "no"}, "credentials", True),  # not a Go bool: the default
        ({}, "max_age", DEFAULT_MAX_AGE),
        ({"cors_max_age": "600"}, "max_age", 600),
        ({"cors_max_age": "600s"}, "max_age", DEFAULT_MAX_AGE),
        ({"cors_max_age": " 600"}, "max_age", DEFAULT_MAX_AGE),
        ({"cors_max_age": "-1"}, "max_age", -1),
        ({}, "methods", DEFAULT_METHODS),
        ({"cors_allow_methods": "GET, PUT"}, "methods", "GET, PUT"),
        ({"cors_allow_methods": "GET , PUT"}, "methods", DEFAULT_METHODS),  # checked twice
        ({"cors_allow_methods": "GET,  PUT"}, "methods", DEFAULT_METHODS),
        ({"cors_allow_methods": "GET PUT"}, "methods", "GET PUT"),
        ({"cors_allow_methods": "get, put"}, "methods", "get, put"),
        ({"cors_allow_methods": "GET,\nPUT"}, "methods", DEFAULT_METHODS),
        ({}, "headers", DEFAULT_HEADERS),
        ({"cors_allow_headers": "*"}, "headers", DEFAULT_HEADERS),
        ({"cors_allow_headers": "X-A, X-B"}, "headers", "X-A, X-B"),
        ({"cors_allow_headers": "X-A.B"}, "headers", DEFAULT_HEADERS),
        ({}, "expose", ""),
        ({"cors_expose_headers": "X-A, X-B"}, "expose", "X-A, X-B"),
        ({"cors_expose_headers": "*"}, "expose", "*"),
        ({"cors_expose_headers": "X-A.B"}, "expose", ""),  # invalid: none
        ({"cors_expose_headers": "X-A , X-B"}, "expose", ""),
        ({"enable": "yes"}, "enabled", False),  # not a Go bool: CORS off
        ({"enable": "on"}, "enabled", False),
        ({"enable": "1"}, "enabled", True),
        ({"enable": "TRUE"}, "enabled", True),
        ({"enable": None}, "enabled", False),
    ],
)
def test_values(annotations: dict[str, str], field: str, value: object) -> None:
    assert getattr(enforced(_ingress(**annotations)), field) == value


@pytest.mark.parametrize(
    ("annotations", "says"),
    [
        ({}, "every origin is allowed: ingress-nginx's default is *"),
        ({"cors_allow_origin": "https://a.example.com/"}, "fails ingress-nginx's check"),
        ({"cors_allow_origin": "a.example.com, https://b.example.com"}, "is skipped"),
        ({"cors_allow_origin": "https://*.example.com"}, "exactly one DNS label"),
        ({"cors_allow_origin": "https://a.example.com"}, "anchored at the end only"),
        ({"cors_allow_methods": "GET , PUT"}, "second check"),
        ({"cors_allow_headers": "X-A X-B"}, "every preflight fails"),
        ({"cors_allow_credentials": "yes"}, "not a Go bool"),
        ({"enable": "yes"}, "CORS is off"),
        ({}, "browsers refuse for a credentialed read"),
    ],
)
def test_each_difference_is_said_at_its_line(annotations: dict[str, str], says: str) -> None:
    found = enforced(_ingress(**annotations))
    said = [d for d in found.differences if says in d.does]
    assert said, [str(d) for d in found.differences]
    assert all(d.at.file == "ingress.yaml" and d.at.line in (8, 9) for d in said)


# Go's regexes, as written, and the linear rewrites that stand for them: the same verdict on
# every string of up to six characters of each alphabet.
GO = [
    (
        r"^((((([a-z]+://)?(\*\.)?[A-Za-z0-9\-.]*(:[0-9]+)?,?)|null)+)|\*)?\Z",
        ORIGINS_VALID,
        "aZ1.-:/*,",
    ),
    (r"^([A-Za-z]+,?[\t\n\f\r ]?)+\Z", METHODS_VALID, "aZ, \t;"),
    (r"^(([A-Za-z0-9\-\_]+|\*),?[\t\n\f\r ]?)+\Z", EXPOSE_VALID, "a_*, \t."),
]


@pytest.mark.parametrize(("go", "ours", "alphabet"), GO)
def test_the_rewritten_regexes_read_as_go_s(go: str, ours: re.Pattern[str], alphabet: str) -> None:
    original = re.compile(go)
    for size in range(7):
        for letters in itertools.product(alphabet, repeat=size):
            text = "".join(letters)
            assert bool(original.match(text)) == bool(ours.fullmatch(text)), text


def test_go_parsing() -> None:
    assert [go_bool(t) for t in ("t", "T", "1", "f", "0", "yes", "", " true")] == [
        True, True, True, False, False, None, None, None
    ]  # fmt: skip
    assert [go_int(t) for t in ("+5", "-1", "600s", "", "1_000", str(2**63))] == [
        5, -1, None, None, None, None
    ]  # fmt: skip
