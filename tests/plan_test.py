from __future__ import annotations

from corsgen.plan import ACAC, ACAM, ACAO, ACEH, build_plan
from corsgen.policy import parse_policy


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
    assert plan.origin_regex == r"^(?:https://a\.com|https://(?:[a-z0-9-]+\.)+b\.com)$"


def test_static_policy_has_no_vary() -> None:
    plan = _plan('allow_origins = ["*"]')
    assert plan.any_origin and not plan.vary_origin
    assert next((h.name, h.value, h.when) for h in plan.headers) == (ACAO, "*", "always")
    assert plan.apache_regexes == ("^.+$",)


def test_empty_lists_send_no_header() -> None:
    plan = _plan('allow_origins = ["https://a.com"]\nallow_methods = []')
    assert [h.name for h in plan.headers] == [ACAO]


def test_large_lists_size_the_nginx_hash_and_split_apache_regexes() -> None:
    origins = ", ".join(f'"https://t{i}.example.com"' for i in range(1000))
    plan = _plan(f"allow_origins = [{origins}]")
    assert plan.nginx_hash is not None
    assert plan.nginx_hash.max_size >= 1000
    assert len(plan.apache_regexes) == 5
    assert _plan('allow_origins = ["https://a.com"]').nginx_hash is None


def test_digest_tracks_meaning_not_formatting() -> None:
    one = _plan('allow_origins = ["https://a.com"]')
    assert one.digest == _plan('# a comment\nallow_origins = [ "https://a.com" ]\n').digest
    assert one.digest != _plan('allow_origins = ["https://b.com"]').digest
