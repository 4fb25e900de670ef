from __future__ import annotations

import re
from dataclasses import replace

import pytest

from corsgen.limits import NGINX_MAX_PARAMETER
from corsgen.plan import (
    ACAC,
    ACAM,
    ACAO,
    ACEH,
    APACHE_REGEX_CHARS,
    build_plan,
)
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
    assert plan.anchored_patterns == (r"^(?:https://(?:[a-z0-9_-]+\.)+b\.com)$",)


def test_static_policy_has_no_vary() -> None:
    plan = _plan('allow_origins = ["*"]')
    assert plan.any_origin and not plan.vary_origin
    assert next((h.name, h.value, h.when) for h in plan.headers) == (ACAO, "*", "always")
    assert plan.apache_regexes == ("^.+$",)


def test_empty_lists_send_no_header() -> None:
    plan = _plan('allow_origins = ["https://a.com"]\nallow_methods = []')
    assert [h.name for h in plan.headers] == [ACAO]


def test_large_lists_size_the_nginx_hash() -> None:
    origins = ", ".join(f'"https://t{i}.example.com"' for i in range(1000))
    plan = _plan(f"allow_origins = [{origins}]")
    assert plan.nginx_hash is not None
    assert plan.nginx_hash.max_size >= 1000
    assert _plan('allow_origins = ["https://a.com"]').nginx_hash is None


@pytest.mark.parametrize(("length", "most"), [(30, 1_040), (300, 108)])
def test_apache_regexes_hold_every_origin_under_pcre2s_limit(length: int, most: int) -> None:
    """`most` origins of `length` characters load in one SetEnvIf, one more does not (plan.py)."""
    origins = [f"{'x'.ljust(length - 17, 's')}://h{i:05d}.example" for i in range(3_000)]
    plan = _plan(f"allow_origins = {origins!r}")
    bodies = [regex.removeprefix("^(?:").removesuffix(")$") for regex in plan.apache_regexes]
    assert "|".join(bodies) == "|".join(re.escape(o) for o in origins)
    assert max(map(len, bodies)) <= APACHE_REGEX_CHARS
    assert max(body.count("|") + 1 for body in bodies) <= most // 2


def test_apache_regexes_end_with_each_pattern() -> None:
    plan = _plan('allow_origins = ["https://a.com", "https://*.b.com"]')
    assert plan.apache_regexes == (r"^(?:https://a\.com)$", *plan.anchored_patterns)


def test_a_pattern_listed_twice_is_anchored_once() -> None:
    plan = _plan('allow_origins = ["https://*.b.com"]')
    twice = replace(plan, origin_patterns=plan.origin_patterns * 2)
    assert twice.anchored_patterns == plan.anchored_patterns


NAMES = [f"X-Name-{i:04d}".ljust(256, "x") for i in range(1000)]


@pytest.mark.parametrize(
    ("text", "key", "parts"),
    [
        ('allow_origins = ["*"]\nexpose_headers = ["ETag"]', "expose", ()),
        ('allow_origins = ["https://a.com"]\nexpose_headers = ["ETag"]', "expose", ("expose",)),
        (f'allow_origins = ["*"]\nexpose_headers = {NAMES!r}', "expose", None),
        (f'allow_origins = ["https://a.com"]\nallow_headers = {NAMES!r}', "headers", None),
    ],
)
def test_nginx_sends_long_values_in_parts(
    text: str, key: str, parts: tuple[str, ...] | None
) -> None:
    """A short constant goes in add_header, anything else in maps, cut to stay quotable."""
    found = _plan(text).nginx_parts[key]
    if parts is not None:
        assert tuple(p.suffix for p in found) == parts
        return
    assert [p.suffix for p in found] == [f"{key}_{n}" for n in range(1, len(found) + 1)]
    assert "".join(p.value for p in found) == ", ".join(NAMES)
    assert max(len(p.value) for p in found) <= NGINX_MAX_PARAMETER - 800


def test_digest_tracks_meaning_not_formatting() -> None:
    one = _plan('allow_origins = ["https://a.com"]')
    assert one.digest == _plan('# a comment\nallow_origins = [ "https://a.com" ]\n').digest
    assert one.digest != _plan('allow_origins = ["https://b.com"]').digest
