from __future__ import annotations

from dataclasses import replace
from hashlib import sha256
from pathlib import Path

import pcre2
import pytest

from corsgen.errors import CorsgenError
from corsgen.fetch import header_value
from corsgen.routing import Asked, Place, Scope
from corsgen.targets import apache
from testing.policies import plan_of


@pytest.mark.parametrize("length", [30, 300])
def test_regexes_hold_every_origin_once_under_the_line_limits(length: int) -> None:
    """Each origin in exactly one trie, each trie short enough for an .htaccess line and ap_expr,
    and each compiles in PCRE2 (whose 64 KiB limit a flat list of 1,041 30-character origins
    already exceeds)."""
    origins = [f"{'x'.ljust(length - 17, 's')}://h{i:05d}.example" for i in range(3_000)]
    regexes = apache.origin_regexes(plan_of(f"allow_origins = {origins!r}"))
    assert max(map(len, regexes)) <= apache.REGEX_CHARS
    compiled = [pcre2.compile(regex) for regex in regexes]
    for origin in origins[::7]:
        assert sum(bool(c.match(origin)) for c in compiled) == 1
    assert not any(c.match(origins[0] + "x") or c.match("h00000.example") for c in compiled)


def test_regexes_end_with_each_pattern() -> None:
    plan = plan_of('allow_origins = ["https://a.com", "https://*.b.com"]')
    assert apache.origin_regexes(plan) == (r"^(?:https://a\.com)$", *plan.anchored_patterns)


def test_any_origin_is_any_non_empty_origin() -> None:
    assert apache.origin_regexes(plan_of('allow_origins = ["*"]')) == ("^.+$",)


@pytest.mark.parametrize("value", ["50%", "a${HOME}", "a\\"])
def test_quoting_refuses_what_httpd_would_expand(value: str) -> None:
    with pytest.raises(CorsgenError, match="refusing to quote"):
        apache.quote(value)


def test_quoting_keeps_a_regex_as_it_is() -> None:
    assert apache.quote(r"^https://a\.com$") == r'"^https://a\.com$"'


def test_grants_keep_each_regex_under_ap_exprs_limit() -> None:
    """ap_expr refuses a regex over 8,191 characters; 2,000 unlike origins need several grants."""
    hosts = [sha256(str(i).encode()).hexdigest()[:40] for i in range(2_000)]
    origins = [f"https://{host}.example.com" for host in hosts]
    grants = apache.preflight_grants(apache.origin_regexes(plan_of(f"allow_origins = {origins!r}")))
    assert len(grants) > 1
    for grant in grants:
        regex = grant.rsplit(" =~ m", 1)[1]
        assert len(regex) - 2 <= apache.REGEX_CHARS


def test_a_grant_picks_a_delimiter_the_regex_does_not_hold() -> None:
    # The rules refuse # in a regex; the output must not rely on that.
    plan = replace(plan_of("allow_origins = []"), origin_patterns=("https://a#b",))
    assert apache.preflight_grants(apache.origin_regexes(plan))[0].endswith("m!^(?:https://a#b)$!")


APP = "https://app.example.com"
IN_PLACE = [  # (the scope's title, a path it answers, one it does not: None when site-wide)
    ("<VirtualHost 127.0.0.1:8080>", "/x", None),
    ("the main server", "/x", None),
    ("<Location /api/>", "/api/x", "/other"),
]


@pytest.mark.parametrize(("title", "inside", "outside"), IN_PLACE)
def test_in_place_serves_the_output_where_the_scope_was(
    title: str, inside: str, outside: str | None, tmp_path: Path
) -> None:
    """The model reads the site written: the output answers the scope's paths, on the scope's
    host and the port given, and no other path of the site."""
    scope = Scope(Place("httpd.conf", 3), "api.example.com", (inside,), title)
    plan = plan_of(f'allow_origins = ["{APP}"]')
    files = apache.TARGET.in_place(scope, plan, tmp_path, "127.0.0.1:9", 8443)
    assert files is not None
    routes = apache.TARGET.routes(files).routes
    assert routes is not None

    def origin(path: str) -> str | None:
        """The Access-Control-Allow-Origin the output sends (not the application's)."""
        asked = Asked("api.example.com", "GET", path, (("Origin", APP),), 8443)
        own = [(h.name, h.value) for h in routes.answer(asked).headers if h.at is not None]
        return header_value(own, "Access-Control-Allow-Origin")

    assert origin(inside) == APP
    if outside is not None:
        assert origin(outside) is None


@pytest.mark.parametrize(
    "title",
    [
        "<Directory /srv/www/api>",
        "<Files *>",
        "/srv/www/api/.htaccess",
        "<Location ~ ^/api/>",
        "<LocationMatch ^/api/>",
        '<Location "/a b/">',
        "<Location /a${X}/>",
    ],
)
def test_in_place_leaves_to_the_promise_what_it_cannot_write_back(
    title: str, tmp_path: Path
) -> None:
    scope = Scope(Place("httpd.conf", 3), "api.example.com", ("/api/",), title)
    plan = plan_of(f'allow_origins = ["{APP}"]')
    assert apache.TARGET.in_place(scope, plan, tmp_path, "127.0.0.1:9", 80) is None
    assert list(tmp_path.iterdir()) == []
