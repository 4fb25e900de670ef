"""What import prints per Ingress of the corpus: corsgen's policy and its Gateway API filter never
let a page read more than ingress-nginx did; ingress2gateway's filter does exactly where it copies
text ingress-nginx did not mean (defaults with credentials, a | block or a tab read as a list, a
one-label wildcard read as any depth, `*` headers)."""

from __future__ import annotations

from pathlib import Path

import pytest

from corsgen.ingress.importing import Imported, imported
from corsgen.ingress.report import lines
from testing.ingress_nginx import corpus

IMPORTED = imported(corpus(), Path("cors"))
# The Ingresses ingress2gateway's filter widens, and the request that shows it first.
INGRESS2GATEWAY_WIDENS = {
    "api-defaults": "GET from https://evil.example with cookies",
    "open-underscore": "GET from https://app.example.com with cookies",
    "open-star-beside": "GET from https://evil.example with cookies",
    "open-block": "GET from https://app.example.com with cookies",
    "open-tab": "GET from https://app.example.com with cookies",
    "wild-label": "GET from https://x.y.example.com",
    "wild-port": "GET from https://x.y.example.com:8443",
    "headers-star": "GET from https://app.example.com with X-Custom",
}


@pytest.mark.parametrize("item", IMPORTED, ids=lambda i: i.ingress.name)
def test_only_ingress2gateway_widens(item: Imported) -> None:
    said = list(lines(item))
    widens = [line for line in said if line.startswith("WIDENS: ")]
    assert not [line for line in widens if "ingress2gateway" not in line]
    expected = INGRESS2GATEWAY_WIDENS.get(item.ingress.name)
    if expected is None:
        assert not widens
    else:
        assert len(widens) == 1 and f"({expected}" in widens[0]


def test_a_policy_corsgen_s_filter_cannot_state_is_refused_with_the_reason() -> None:
    said = {i.ingress.name: list(lines(i)) for i in IMPORTED}
    assert (
        "corsgen's Gateway API output refuses this policy: Gateway API has no origin regex"
        in "\n".join(said["wild-label"])
    )
    refused = "the API server refuses it: cors.allowOrigins: Invalid value: AllowOrigins cannot "
    assert refused + "contain '*' alongside other origins" in said["open-star-beside"]
