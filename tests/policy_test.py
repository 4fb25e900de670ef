from __future__ import annotations

from pathlib import Path

import pytest

from corsgen.errors import PolicyError
from corsgen.policy import Policy, parse_policy, policy_name
from corsgen.tomlfile import key_path, read_text


def _error(text: str) -> str:
    with pytest.raises(PolicyError) as info:
        parse_policy(text, "api.toml")
    return str(info.value)


def test_defaults() -> None:
    policy = parse_policy('allow_origins = ["https://a.com"]', "api.toml")
    assert policy.allow_methods == ["GET", "HEAD", "POST"]
    assert policy.allow_headers == [] and policy.expose_headers == []
    assert policy.allow_credentials is False and policy.allow_private_network is False
    assert policy.max_age is None and policy.preflight_status == 204


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            'allow_origins = ["https://a.com"\nmax_age = 3\n',
            "api.toml:2:1: error CG001 toml-syntax: Unclosed array",
        ),
        (
            'allow_origins = ["https://a.com"]\nallow_origin = "x"\n',
            "api.toml: allow_origin: error CG002 unknown-key: unknown key; "
            "fix: did you mean 'allow_origins'?",
        ),
        ('allow_origins = ["https://a.com"]\nmax_ages = 3\n', "did you mean 'max_age'?"),
        ("max_age = 3\n", "api.toml: allow_origins: error CG004 missing-key"),
        (
            'allow_origins = "https://a.com"\n',
            "api.toml: allow_origins: error CG003 wrong-type: input should be a valid list, "
            "got 'https://a.com'",
        ),
        ('allow_origins = ["https://a.com", 3]\n', "api.toml: allow_origins[1]: error CG003"),
        (
            'allow_origins = ["https://a.com"]\nallow_credentials = "yes"\n',
            "allow_credentials: error CG003 wrong-type: input should be a valid boolean",
        ),
        ('allow_origins = ["https://a.com"]\nmax_age = 1.5\n', "max_age: error CG003"),
        ('allow_origins = ["https://a.com"]\nmax_age = true\n', "max_age: error CG003"),
        ('allow_origins = ["https://a.com"]\n[extra]\nx = 1\n', "extra: error CG002"),
        ('allow_origins = ["https://a.com"]\n"a.b" = 1\n', 'api.toml: "a.b": error CG002'),
        (
            "x = " + "[" * 1000 + "]" * 1000,
            "api.toml: error CG001 toml-syntax: arrays or inline tables nested too deeply to read; "
            "fix: nest less deeply",
        ),
        (
            "max_age = " + "9" * 5001,
            "api.toml: error CG001 toml-syntax: a number with more than 4300 digits; "
            "fix: use a smaller number",
        ),
        (
            'allow_origins = ["https://a.com"]\nmax_age = "' + "9" * 1000 + '"',
            f"max_age: error CG003 wrong-type: input should be a valid integer, got '{'9' * 27}...",
        ),
    ],
)
def test_load_errors_name_file_and_key(text: str, message: str) -> None:
    assert message in _error(text)


def test_unreadable(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="CG000 unreadable: cannot read the file"):
        read_text(tmp_path / "missing.toml")
    (tmp_path / "bin.toml").write_bytes(b"\xff\xfe")
    with pytest.raises(PolicyError, match="CG000"):
        read_text(tmp_path / "bin.toml")


def test_model_is_frozen() -> None:
    policy = parse_policy('allow_origins = ["https://a.com"]', "api.toml")
    with pytest.raises(ValueError, match="frozen"):
        policy.max_age = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    ("stem", "explicit", "name"),
    [("spa-api", None, "spa_api"), ("My.Policy", None, "my_policy"), ("x", "given", "given")],
)
def test_policy_name(stem: str, explicit: str | None, name: str) -> None:
    policy = Policy(allow_origins=["https://a.com"], name=explicit)
    assert policy_name(policy, Path(f"{stem}.toml")) == name


def test_key_path() -> None:
    assert key_path(("allow_origins", 2)) == "allow_origins[2]"
    assert key_path(("a", "b", 0, "c")) == "a.b[0].c"
    # Keys TOML must quote are quoted, so a dot or line break in one cannot pass for structure.
    assert key_path(("a.b", 0, "c d", "\n")) == '"a.b"[0]."c d"."\\n"'
    assert key_path(("k" * 100,)) == "k" * 28 + "..." + "k" * 28


def test_every_field_is_described() -> None:
    schema = Policy.model_json_schema()
    assert all(field.get("description") for field in schema["properties"].values())
