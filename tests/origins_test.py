from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corsgen.origins import (
    Origin,
    OriginError,
    is_public_suffix,
    parse_any_origin,
    parse_origin,
    plain_origin,
    registrable_domain,
)
from corsgen.policy.loading import parse_policy
from corsgen.rules.checks import check_policy
from testing.bounded import cpu_within


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
        ("http://*.localhost:3000", "http://*.localhost:3000"),
        ("https://x_y.app.example.net", "https://x_y.app.example.net"),
    ],
)
def test_normalises(text: str, normalised: str) -> None:
    assert str(parse_origin(text)) == normalised


@pytest.mark.parametrize(
    ("host", "serialised"),
    [
        # The URL Standard's host parsing examples (url.spec.whatwg.org, "Host parsing").
        ("EXAMPLE.COM", "example.com"),
        ("faß.example", "xn--fa-hia.example"),
        ("0", "0.0.0.0"),
        ("0x", "0.0.0.0"),
        ("0xffffffff", "255.255.255.255"),
        ("[0:0::1]", "[::1]"),
        # IPv4: a host that ends in a number is an address, in decimal, hex or octal parts.
        ("127.1", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("0X7F.0.0.1", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("127.0.0.1.", "127.0.0.1"),
        ("1.256", "1.0.1.0"),
        ("\uff11\uff12\uff17.0.0.1", "127.0.0.1"),  # fullwidth digits map to ASCII first
        # IPv6: lowercase, the first longest run of two or more zero pieces as ::, no dotted tail.
        ("[2001:DB8::1]", "[2001:db8::1]"),
        ("[1:0::]", "[1::]"),
        ("[0:0:1:0:0:1:0:0]", "[::1:0:0:1:0:0]"),
        ("[1:0:0:2:0:0:0:3]", "[1:0:0:2::3]"),
        ("[1:0:2:0:3:0:4:0]", "[1:0:2:0:3:0:4:0]"),
        ("[::ffff:192.168.0.1]", "[::ffff:c0a8:1]"),
        ("[::127.0.0.1]", "[::7f00:1]"),
    ],
)
def test_hosts_serialise_as_browsers_do(host: str, serialised: str) -> None:
    assert str(parse_origin(f"http://{host}:8080")) == f"http://{serialised}:8080"


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
        ("https://*.0.0.1", "CG118", "IP"),
        ("http://09", "CG117", "not an IPv4"),
        ("http://example.255", "CG117", "not an IPv4"),
        ("http://a.0x1", "CG117", "not an IPv4"),
        ("http://1.2.3.4.5", "CG117", "not an IPv4"),
        ("http://256.0.0.1", "CG117", "not an IPv4"),
        ("http://1.2.3.256", "CG117", "not an IPv4"),
        ("http://4294967296", "CG117", "not an IPv4"),
        ("http://0xffffffff1", "CG117", "not an IPv4"),
        ("http://1..2", "CG117", "not an IPv4"),
    ],
)
def test_refuses(text: str, rule: str, fragment: str) -> None:
    with pytest.raises(OriginError) as info:
        parse_origin(text)
    assert info.value.violation.rule == rule
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
        ("https://*.app.example.net", "https://x_y.app.example.net", True),
        ("https://*.app.example.net", "https://_.a_b.app.example.net", True),
    ],
)
def test_matches_and_regex_agree(pattern: str, origin: str, matches: bool) -> None:
    entry = parse_origin(pattern)
    assert entry.matches(parse_origin(origin)) is matches
    assert bool(re.fullmatch(entry.regex(), origin)) is matches


LABELS = st.from_regex(r"[a-z0-9_](?:[a-z0-9_-]{0,10}[a-z0-9_])?", fullmatch=True)


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


# Origin-shaped text near the edges of the shortcut: case, IDN and punycode, numbers and IPv4
# forms, ports (zero, default, too large), wildcards, file:, and what must be refused.
_VALID_LABEL = st.from_regex(r"[a-z0-9_]([a-z0-9_-]{0,4}[a-z0-9_])?", fullmatch=True)
_LABELS = st.one_of(
    _VALID_LABEL,
    _VALID_LABEL,
    st.text(alphabet="abz09_-XéA*", max_size=6),
    st.sampled_from(["xn--bcher-kva", "0x7f", "017", "255", "localhost", "a" * 63, "a" * 64]),
)
_ORIGINS = st.builds(
    "{}://{}{}{}".format,
    st.sampled_from(["https", "http", "wss", "file", "HTTPS", "a.b-c+d", "capacitor", "1x", ""]),
    st.sampled_from(["", "*.", "*"]),
    st.lists(_LABELS, min_size=1, max_size=5).map(".".join),
    st.sampled_from(["", ":443", ":80", ":0", ":08", ":8443", ":65535", ":65536", ":99999", ":"]),
)


@settings(max_examples=1000)  # about one in 25 takes the shortcut
@given(_ORIGINS | st.text(alphabet="htps:/.*abcé0-9_[]@?#xn", max_size=30))
def test_the_plain_shortcut_agrees_with_the_parser(text: str) -> None:
    plain = plain_origin(text)
    if plain is not None:
        assert parse_any_origin(text) == plain


@pytest.mark.parametrize(
    "text",
    [
        "https://app.example.com",
        "http://localhost:3000",
        "https://*.example.com:443",
        "tauri://a_b",
    ],
)
def test_the_plain_shortcut_takes_the_usual_origins(text: str) -> None:
    assert plain_origin(text) == parse_any_origin(text)


@pytest.mark.parametrize(
    ("host", "public"),
    [
        ("com", True),
        ("co.uk", True),
        ("github.io", True),
        ("example.com", False),
        ("app.example.co.uk", False),
        ("localhost", False),
    ],
)
def test_public_suffix(host: str, public: bool) -> None:
    assert is_public_suffix(host) is public


def test_registrable_domain() -> None:
    assert registrable_domain("a.b.example.co.uk") == "example.co.uk"
    assert registrable_domain("127.0.0.1") == "127.0.0.1"
    assert registrable_domain("[::1]") == "[::1]"


def test_a_localhost_wildcard_is_allowed() -> None:
    """*.localhost is loopback in browsers (RFC 6761): no public-suffix error, no http warning."""
    policy = parse_policy('allow_origins = ["http://*.localhost:3000"]', "dev.toml")
    assert check_policy(policy, "dev", "dev.toml") == []


def test_covered_origins_are_found_without_comparing_every_pair() -> None:
    """20,000 exact origins and 20,000 wildcards: each origin looks up its parent domains."""
    exact = [f"https://t{i}.c{i % 7}.example.com" for i in range(20_000)]
    wild = [f"https://*.c{i}.example.com" for i in range(20_000)]
    policy = parse_policy(f"allow_origins = {[*exact, *wild, wild[3]]!r}", "big.toml")
    with cpu_within(5):
        findings = [(f.key, f.message) for f in check_policy(policy, "big", "big.toml")]
    assert ("allow_origins[40000]", "'https://*.c3.example.com' repeats allow_origins[20003]") in (
        findings
    )
    covered = [finding for finding in findings if "covered" in finding[1]]
    assert len(covered) == 20_000 + len(range(3, 20_000, 7))  # origins under c3 twice
    assert covered[:5] == [
        ("allow_origins[0]", "'https://t0.c0.example.com' is covered by allow_origins[20000]"),
        ("allow_origins[1]", "'https://t1.c1.example.com' is covered by allow_origins[20001]"),
        ("allow_origins[2]", "'https://t2.c2.example.com' is covered by allow_origins[20002]"),
        ("allow_origins[3]", "'https://t3.c3.example.com' is covered by allow_origins[20003]"),
        ("allow_origins[3]", "'https://t3.c3.example.com' is covered by allow_origins[40000]"),
    ]
