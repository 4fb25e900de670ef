"""ingress2gateway's CORS filter for the annotations (corsgen.ingress.translation), and what the
GEP-1767 model answers with it (corsgen.targets.gateway_api_model)."""

from __future__ import annotations

import pytest

from corsgen.ingress.manifests import Annotation, Ingress
from corsgen.ingress.translation import translated
from corsgen.routing import Place
from corsgen.targets import gateway_api_model as gateway


def _ingress(**annotations: str) -> Ingress:
    notes = {k.replace("_", "-"): Annotation(v, Place("i.yaml", 9)) for k, v in annotations.items()}
    return Ingress("api", "", Place("i.yaml", 4), (), (), notes)


@pytest.mark.parametrize(
    ("annotations", "key", "value"),
    [
        ({"enable_cors": "true"}, "allowOrigins", ["*"]),
        ({"enable_cors": "true"}, "allowCredentials", True),
        ({"enable_cors": "true"}, "maxAge", 1728000),
        ({"enable_cors": "true", "cors_allow_origin": " "}, "allowOrigins", []),
        (
            {"enable_cors": "true", "cors_allow_origin": "https://a.com,\nhttps://b.com\n"},
            "allowOrigins",
            ["https://a.com", "https://b.com"],
        ),
        (
            {"enable_cors": "true", "cors_allow_origin": "https://*.a.com"},
            "allowOrigins",
            ["https://*.a.com"],
        ),
        (
            {"enable_cors": "true", "cors_allow_methods": "GET , POST"},
            "allowMethods",
            ["GET", "POST"],
        ),
        ({"enable_cors": "true", "cors_allow_headers": "*"}, "allowHeaders", ["*"]),
        ({"enable_cors": "true", "cors_expose_headers": "X-A.B"}, "exposeHeaders", ["X-A.B"]),
        ({"enable_cors": "true", "cors_allow_credentials": "yes"}, "allowCredentials", True),
        ({"enable_cors": "true", "cors_allow_credentials": "0"}, "allowCredentials", False),
        ({"enable_cors": "true", "cors_max_age": "600s"}, "maxAge", 1728000),
        ({"enable_cors": "true", "cors_max_age": "3000000000"}, "maxAge", 1728000),
    ],
)
def test_ingress2gateway_copies_the_text(
    annotations: dict[str, str], key: str, value: object
) -> None:
    cors = translated(_ingress(**annotations))
    assert cors is not None and cors.get(key) == value


def test_ingress2gateway_writes_nothing_when_cors_is_off() -> None:
    assert translated(_ingress(enable_cors="yes")) is None
    assert translated(_ingress()) is None


STAR_CREDENTIALS = {"allowOrigins": ["*"], "allowCredentials": True, "allowMethods": ["*"]}
ACAO, ACAC = "Access-Control-Allow-Origin", "Access-Control-Allow-Credentials"
ACAM, ACMA = "Access-Control-Allow-Methods", "Access-Control-Max-Age"
ACRM = "Access-Control-Request-Method"
EVIL, A = "https://evil.example", "https://a.com"


@pytest.mark.parametrize(
    ("cors", "method", "headers", "status", "sent"),
    [
        # * with credentials: any Origin sent back, with credentials
        (STAR_CREDENTIALS, "GET", {"Origin": EVIL, "Cookie": "a=1"}, None,
         {ACAO: EVIL, ACAC: "true"}),
        # `*` methods with credentials: the asked method sent back; maxAge 5 by default
        (STAR_CREDENTIALS, "OPTIONS", {"Origin": EVIL, ACRM: "PURGE"}, 200,
         {ACAO: EVIL, ACAC: "true", ACAM: "PURGE", ACMA: "5"}),
        # any depth
        ({"allowOrigins": ["https://*.a.com"]}, "GET", {"Origin": "https://x.y.a.com"}, None,
         {ACAO: "https://x.y.a.com"}),
        ({"allowOrigins": ["https://*.a.com"]}, "GET", {"Origin": A}, None, {}),
        # credentials asked, not allowed: no CORS header
        ({"allowOrigins": [A]}, "GET", {"Origin": A, "Cookie": "a=1"}, None, {}),
        ({"allowOrigins": ["*"]}, "GET", {"Origin": A}, None, {ACAO: "*"}),
        ({"allowOrigins": [A]}, "OPTIONS", {"Origin": "https://b.com", ACRM: "PUT"}, 204, {}),
    ],
)  # fmt: skip
def test_gep_1767_answers(
    cors: gateway.Cors,
    method: str,
    headers: dict[str, str],
    status: int | None,
    sent: dict[str, str],
) -> None:
    assert gateway.answer(cors, method, list(headers.items())) == (status, list(sent.items()))


@pytest.mark.parametrize(
    ("cors", "problem"),
    [
        ({"allowOrigins": ["https://a.com/"]}, 'allowOrigins[0]: Invalid value: "https://a.com/"'),
        ({"allowOrigins": ["myapp://a"]}, 'allowOrigins[0]: Invalid value: "myapp://a"'),
        ({"allowOrigins": ["https://a.com", "*"]}, "cannot contain '*' alongside other origins"),
        ({"allowMethods": ["get"]}, 'allowMethods[0]: Unsupported value: "get"'),
        ({"allowHeaders": ["X A"]}, 'allowHeaders[0]: Invalid value: "X A"'),
        ({"maxAge": -1}, "maxAge in body should be greater than or equal to 1"),
    ],
)
def test_what_the_api_server_refuses(cors: gateway.Cors, problem: str) -> None:
    assert any(problem in p for p in gateway.problems(cors))
