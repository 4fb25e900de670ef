from __future__ import annotations

import pytest

from corsgen.targets import nginx
from tests.targets.conftest import plan_of


def test_large_lists_size_the_map_hash() -> None:
    origins = ", ".join(f'"https://t{i}.example.com"' for i in range(1000))
    context = nginx.TARGET.context(plan_of(f"allow_origins = [{origins}]"))
    found = context["hash"]
    assert isinstance(found, nginx.Hash) and found.max_size >= 1000
    assert nginx.TARGET.context(plan_of('allow_origins = ["https://a.com"]'))["hash"] is None


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
def test_long_values_are_sent_in_parts(text: str, key: str, parts: tuple[str, ...] | None) -> None:
    """A short constant goes in add_header, anything else in maps, cut to stay quotable."""
    header = next(h for h in plan_of(text).headers if h.key == key)
    found = nginx.value_parts(header)
    if parts is not None:
        assert tuple(suffix for suffix, _ in found) == parts
        return
    assert [suffix for suffix, _ in found] == [f"{key}_{n}" for n in range(1, len(found) + 1)]
    assert "".join(piece for _, piece in found) == ", ".join(NAMES)
    assert max(len(piece) for _, piece in found) <= nginx.MAX_PARAMETER - 800


def test_quoting_doubles_backslashes() -> None:
    assert nginx.quote(r"^https://a\.com$") == r'"^https://a\\.com$"'
    assert nginx.quote("a\\") == '"a\\\\"'  # doubled, so it cannot escape the closing quote


def test_a_regex_too_long_for_one_parameter_is_a_limit() -> None:
    # \w is written out as [0-9A-Za-z_]: 450 of them are short in the policy, long in nginx.
    plan = plan_of('allow_origins = []\nallow_origin_regex = "https://' + "\\\\w" * 450 + '"')
    limits = list(nginx.TARGET.limits(plan))
    assert [(limit.rule, limit.key) for limit in limits] == [("CG120", "allow_origin_regex")]
    assert not list(nginx.TARGET.limits(plan_of('allow_origins = ["https://a.com"]')))
