from __future__ import annotations

from dataclasses import replace

from corsgen.plan import ACAC, ACAM, ACAO, ACEH, build_plan
from corsgen.policy.loading import parse_policy


def _plan(text: str):  # type: ignore[no-untyped-def]
    return build_plan(parse_policy(text, "api.toml"), "api", "api.toml")


def test_dynamic_policy_sends_headers_only_to_allowed_origins() -> None:
    plan = _plan(
        'allow_origins = ["https://a.com", "https://*.b.com"]\nallow_credentials = true\n'
        'expose_headers = ["ETag", "etag"]\nallow_methods = ["GET", "PUT", "PUT"]'
    )
    assert plan.vary_origin and not plan.any_origin
    by_name = {h.name: h for h in plan.headers}
    assert by_name[ACAO].echo and by_name[ACAO].when == "allowed"
    assert by_name[ACAC].value == "true"
    assert by_name[ACEH].value == "ETag"
    assert by_name[ACAM].value == "GET, PUT" and by_name[ACAM].when == "preflight"
    assert plan.exact_origins == ("https://a.com",)
    assert plan.anchored_patterns == (r"^(?:https://(?:[a-z0-9_-]+\.)+b\.com)$",)


def test_static_policy_has_no_vary() -> None:
    plan = _plan('allow_origins = ["*"]')
    assert plan.any_origin and not plan.vary_origin
    assert next((h.name, h.value, h.when) for h in plan.headers) == (ACAO, "*", "always")


def test_empty_lists_send_no_header() -> None:
    plan = _plan('allow_origins = ["https://a.com"]\nallow_methods = []')
    assert [h.name for h in plan.headers] == [ACAO]


def test_a_pattern_listed_twice_is_anchored_once() -> None:
    plan = _plan('allow_origins = ["https://*.b.com"]')
    twice = replace(plan, origin_patterns=plan.origin_patterns * 2)
    assert twice.anchored_patterns == plan.anchored_patterns


def test_digest_tracks_meaning_not_formatting() -> None:
    one = _plan('allow_origins = ["https://a.com"]')
    assert one.digest == _plan('# a comment\nallow_origins = [ "https://a.com" ]\n').digest
    assert one.digest != _plan('allow_origins = ["https://b.com"]').digest
