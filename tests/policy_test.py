from __future__ import annotations

import tomllib
import typing
from dataclasses import MISSING, FrozenInstanceError, fields
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from corsgen.errors import PolicyError
from corsgen.policy.loading import PlainPolicy, parse_policy, plain_policy, policy_json, policy_name
from corsgen.policy.schema import Policy
from corsgen.tomlfile import key_lines, key_path, read_text
from testing.bounded import cpu_within


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
            "api.toml:2: allow_origin: error CG002 unknown-key: unknown key; "
            "fix: did you mean 'allow_origins'?",
        ),
        ('allow_origins = ["https://a.com"]\nmax_ages = 3\n', "did you mean 'max_age'?"),
        ("max_age = 3\n", "api.toml: allow_origins: error CG004 missing-key"),
        (
            'allow_origins = "https://a.com"\n',
            "api.toml:1: allow_origins: error CG003 wrong-type: input should be a valid list, "
            "got 'https://a.com'",
        ),
        ('allow_origins = ["https://a.com", 3]\n', "api.toml:1: allow_origins[1]: error CG003"),
        (
            'allow_origins = ["https://a.com"]\nallow_credentials = "yes"\n',
            "allow_credentials: error CG003 wrong-type: input should be a valid boolean",
        ),
        ('allow_origins = ["https://a.com"]\nmax_age = 1.5\n', "max_age: error CG003"),
        ('allow_origins = ["https://a.com"]\nmax_age = true\n', "max_age: error CG003"),
        ('allow_origins = ["https://a.com"]\n[extra]\nx = 1\n', "extra: error CG002"),
        ('allow_origins = ["https://a.com"]\n"a.b" = 1\n', 'api.toml:2: "a.b": error CG002'),
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
    with pytest.raises(FrozenInstanceError):
        policy.max_age = 3  # type: ignore[misc]
    with pytest.raises(ValueError, match="frozen"):
        Policy(allow_origins=["https://a.com"]).max_age = 3  # type: ignore[misc]


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


KEYS = '''# a policy
name = "api"   # trailing comment with "quotes" and [brackets]
allow_origins = [
  "https://a.example.com",  # one
  'https://b.example.com',

  """https://c.example.com""",
  \'\'\'https://d.example.com\'\'\',
]
"allow_methods" = ["GET", "POST\\"]",
  'PUT']
expose_headers = ["""a
b""", \'\'\'c
d\'\'\'\'\', "e"]
max_age = 1979-05-27 07:32:00Z
nested = [[1, 2], [
  3], {x = 1, "y.z" = [4,
  5]}]
dotted . key = true
[extra]
"k\\u0041" = 1
'''


def test_key_lines_follow_every_kind_of_string_comment_and_array() -> None:
    tomllib.loads(KEYS)  # the scanner is for text tomllib reads
    assert key_lines(KEYS) == {
        "name": 2,
        "allow_origins": 3,
        "allow_origins[0]": 4,
        "allow_origins[1]": 5,
        "allow_origins[2]": 7,
        "allow_origins[3]": 8,
        "allow_methods": 10,
        "allow_methods[0]": 10,
        "allow_methods[1]": 10,
        "allow_methods[2]": 11,
        "expose_headers": 12,
        "expose_headers[0]": 12,
        "expose_headers[1]": 13,
        "expose_headers[2]": 14,
        "max_age": 15,
        "nested": 16,
        "nested[0]": 16,
        "nested[0][0]": 16,
        "nested[0][1]": 16,
        "nested[1]": 16,
        "nested[1][0]": 17,
        "nested[2]": 17,
        "nested[2].x": 17,
        'nested[2]."y.z"': 17,
        'nested[2]."y.z"[0]': 17,
        'nested[2]."y.z"[1]': 18,
        "dotted.key": 19,
        "extra": 20,
        "extra.kA": 21,
    }


def test_key_lines_count_array_tables_as_findings_name_them() -> None:
    text = (
        "[tool.black]\nx = 1\n[tool.corsgen]\nstrict = true\n"
        '[[tool.corsgen.outputs]]\npolicies = ["a"]\n'
        '[[tool.corsgen.outputs]]\npolicies = [\n  "b",\n  "c",\n]\nout_dir = "d"\n'
    )
    lines = key_lines(text)
    assert lines["tool.corsgen"] == 3
    assert lines["tool.corsgen.strict"] == 4
    assert lines["tool.corsgen.outputs[0].policies[0]"] == 6
    assert lines["tool.corsgen.outputs[1]"] == 7
    assert lines["tool.corsgen.outputs[1].policies[1]"] == 10
    assert lines["tool.corsgen.outputs[1].out_dir"] == 12


# Past the 250,000 values parse_toml lets through: each takes a second or so, never minutes.
@pytest.mark.parametrize(
    "text",
    [
        'x = "' + "\\\\" * 500_000 + '"',  # a million backslashes
        'x = """' + '"a' * 500_000 + '"""',  # a lone quote every other character
        'x = "' + "a" * 1_000_000,  # a string that never ends
        "x = " + "[" * 500_000,  # arrays that never end
        "x = " + "[" * 300_000 + "]" * 300_000,
        "x = [" + "'a'," * 300_000 + "]",
        "a" + ".b" * 300_000 + " = 1",
        "a = 1\n" * 300_000,
        "[[t]]\n" * 300_000,
    ],
    ids=[
        "backslashes",
        "quotes",
        "unterminated",
        "unclosed",
        "deep",
        "many-entries",
        "dotted",
        "keys",
        "tables",
    ],
)
def test_key_lines_are_linear_on_hostile_text(text: str) -> None:
    with cpu_within(3):
        key_lines(text)


@given(st.text(alphabet="ab=[]{},.'\"\\#\n u", max_size=60))
def test_key_lines_never_fail_and_give_lines_in_the_text(text: str) -> None:
    assert all(1 <= line <= text.count("\n") + 1 for line in key_lines(text).values())


def test_validation_findings_carry_the_line_of_their_key() -> None:
    text = 'name = "api"\nallow_origins = [\n  "https://a.com",\n  3,\n]\nmax_age = "1"\n'
    with pytest.raises(PolicyError) as info:
        parse_policy(text, "api.toml")
    assert [(f.key, f.line) for f in info.value.findings] == [
        ("allow_origins[1]", 4),
        ("max_age", 6),
    ]
    assert str(info.value.findings[0]).startswith("api.toml:4: allow_origins[1]: error CG003")


def test_the_plain_reader_has_the_models_fields_types_and_defaults() -> None:
    types = typing.get_type_hints(PlainPolicy)
    assert [f.name for f in fields(PlainPolicy)] == list(Policy.model_fields)
    for f in fields(PlainPolicy):
        info = Policy.model_fields[f.name]
        assert types[f.name] == info.annotation, f.name
        if info.is_required():
            assert f.default is MISSING and f.default_factory is MISSING, f.name
        else:
            default = f.default if f.default_factory is MISSING else f.default_factory()
            assert default == info.default, f.name


# Whatever TOML can hold at a key: every type tomllib makes (it has no null).
_VALUES = st.recursive(
    st.one_of(
        st.text(max_size=8),
        st.integers(),
        st.booleans(),
        st.floats(allow_nan=False),
        st.datetimes(),
    ),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=6,
)
_OF_TYPE = {
    "str | None": st.text(max_size=8),
    "list[str]": st.lists(st.text(max_size=8), max_size=3),
    "bool": st.booleans(),
    "int": st.integers(),
    "int | None": st.integers(),
}
# Files of the right shape, some keys left out (allow_origins too), and the same with one key
# (known or not) given any value.
_SHAPED = st.fixed_dictionaries(
    {}, optional={f.name: _OF_TYPE[str(f.type)] for f in fields(PlainPolicy)}
)
_KEYS = st.sampled_from([*Policy.model_fields, "allow_origin", "extra"])
_ONE_OFF = st.builds(lambda data, key, value: {**data, key: value}, _SHAPED, _KEYS, _VALUES)


@given(_SHAPED | _ONE_OFF)
def test_the_plain_reader_takes_exactly_what_the_model_takes(data: dict[str, object]) -> None:
    """Reading a file without pydantic is only a shortcut: the same files, to the same values."""
    try:
        model = Policy.model_validate(data)
    except ValidationError:
        model = None
    plain = plain_policy(data)
    assert (plain is None) == (model is None)
    if plain is not None and model is not None:
        assert {f.name: getattr(plain, f.name) for f in fields(plain)} == model.model_dump()
        assert policy_json(plain) == model.model_dump_json(exclude={"name"})


def test_allow_private_network_is_deprecated_yet_still_read() -> None:
    # Still read (old clients may ask), and struck through in an editor that reads the schema;
    # the warning that says why is CG207 (tests/rules/).
    text = 'allow_origins = ["https://a.com"]\nallow_private_network = true'
    assert parse_policy(text, "api.toml").allow_private_network is True
    field = Policy.model_json_schema()["properties"]["allow_private_network"]
    assert field["deprecated"] is True
    assert field["description"].startswith("Deprecated (CG207)")
