from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from corsgen.origins import Origin, OriginError, is_public_suffix, parse_origin, registrable_domain


@pytest.mark.parametrize(
    ("text", "normalised"),
    [
        ("https://app.example.com", "https://app.example.com"),
        ("HTTPS://App.Example.COM", "https://app.example.com"),
        ("https://app.example.com:443", "https://app.example.com"),
        ("http://app.example.com:80", "http://app.example.com"),
        ("https://app.example.com:8443", "https://app.example.com:8443"),
        ("http://localhost:3000", "http://localhost:3000"),
        ("https://élève.example", "https://xn--lve-6lad.example"),
        ("https://BÜCHER.example", "https://xn--bcher-kva.example"),
        ("https://straße.example", "https://xn--strae-oqa.example"),
        ("capacitor://localhost", "capacitor://localhost"),
        ("tauri://localhost", "tauri://localhost"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://[::1]:8080", "http://[::1]:8080"),
        ("http://[0:0::1]", "http://[::1]"),
        ("wss://socket.example.com:443", "wss://socket.example.com"),
        ("https://*.example.com", "https://*.example.com"),
        ("https://*.Example.com:443", "https://*.example.com"),
    ],
)
def test_normalises(text: str, normalised: str) -> None:
    assert str(parse_origin(text)) == normalised


@pytest.mark.parametrize(
    ("text", "rule", "fragment"),
    [
        ("", "CG105", "empty"),
        ("   ", "CG105", "empty"),
        ("null", "CG102", "opaque"),
        ("file://", "CG102", "opaque"),
        ("file:///home/me/index.html", "CG102", "opaque"),
        ("https://a.com/", "CG103", "trailing slash"),
        ("https://a.com/path", "CG103", "a path"),
        ("https://a.com?x=1", "CG103", "a query"),
        ("https://a.com#top", "CG103", "a fragment"),
        ("https://user@a.com", "CG103", "userinfo"),
        ("https://a.com:0", "CG104", "port"),
        ("https://a.com:65536", "CG104", "port"),
        ("https://a.com:", "CG104", "port"),
        ("https://a.com:80a", "CG104", "port"),
        ("https://a.com:0443", "CG104", "port"),
        ('https://a.com"; add_header X y', "CG111", "character"),
        ("https://a.com;", "CG111", "character"),
        ("https://$host", "CG111", "character"),
        ("https://a.com\n", "CG111", "character"),
        ("https://{a}.com", "CG111", "character"),
        ("a.com", "CG117", "scheme://"),
        ("//a.com", "CG117", "scheme://"),
        ("1http://a.com", "CG117", "scheme://"),
        ("https://", "CG117", "invalid host"),
        ("https://a..com", "CG117", "invalid host"),
        ("https://-a.com", "CG117", "invalid host"),
        ("https://[::g]", "CG117", "IPv6"),
        ("https://a*.example.com", "CG118", "leftmost"),
        ("https://*example.com", "CG118", "leftmost"),
        ("https://app.*.example.com", "CG118", "leftmost"),
        ("https://*.[::1]", "CG118", "IP"),
    ],
)
def test_refuses(text: str, rule: str, fragment: str) -> None:
    with pytest.raises(OriginError) as info:
        parse_origin(text)
    assert info.value.rule == rule
    assert fragment in info.value.message


@pytest.mark.parametrize(
    ("pattern", "origin", "matches"),
    [
        ("https://*.example.com", "https://a.example.com", True),
        ("https://*.example.com", "https://a.b.example.com", True),
        ("https://*.example.com", "https://example.com", False),
        ("https://*.example.com", "https://evil-example.com", False),
        ("https://*.example.com", "https://a.example.com.evil.com", False),
        ("https://*.example.com", "http://a.example.com", False),
        ("https://*.example.com", "https://a.example.com:8443", False),
        ("https://*.example.com:8443", "https://a.example.com:8443", True),
        ("https://app.example.com", "https://app.example.com", True),
    ],
)
def test_matches_and_regex_agree(pattern: str, origin: str, matches: bool) -> None:
    entry = parse_origin(pattern)
    assert entry.matches(parse_origin(origin)) is matches
    assert bool(re.fullmatch(entry.regex(), origin)) is matches


LABELS = st.from_regex(r"[a-z0-9](?:[a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)


@given(
    st.lists(LABELS, min_size=1, max_size=4),
    st.lists(LABELS, min_size=1, max_size=3),
    st.sampled_from(["http", "https", "wss"]),
    st.none() | st.integers(1, 65535),
)
def test_wildcard_regex_is_label_bounded(
    sub: list[str], base: list[str], scheme: str, port: int | None
) -> None:
    base_host = ".".join(base) + ".test"
    suffix = f":{port}" if port else ""
    entry = parse_origin(f"{scheme}://*.{base_host}{suffix}")
    candidate = parse_origin(f"{scheme}://{'.'.join(sub)}.{base_host}{suffix}")
    text = str(candidate)
    assert entry.matches(candidate)
    assert re.fullmatch(entry.regex(), text)
    # Gluing a label onto the base without a dot must never match.
    glued = f"{candidate.scheme}://{sub[-1]}{base_host}{suffix}"
    assert not re.fullmatch(entry.regex(), str(parse_origin(glued)))
    assert not re.fullmatch(entry.regex(), f"{text}.evil.test")


@given(st.text(max_size=40))
def test_parse_never_crashes(text: str) -> None:
    try:
        origin = parse_origin(text)
    except OriginError:
        return
    assert isinstance(origin, Origin)
    assert parse_origin(str(origin)) == origin


@pytest.mark.parametrize(
    ("host", "public"),
    [
        ("com", True),
        ("co.uk", True),
        ("github.io", True),
        ("example.com", False),
        ("app.example.co.uk", False),
    ],
)
def test_public_suffix(host: str, public: bool) -> None:
    assert is_public_suffix(host) is public


def test_registrable_domain() -> None:
    assert registrable_domain("a.b.example.co.uk") == "example.co.uk"
    assert registrable_domain("127.0.0.1") == "127.0.0.1"
    assert registrable_domain("[::1]") == "[::1]"
