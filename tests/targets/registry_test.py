"""What every registered target must do; a new target is held to all of it by being registered."""

from __future__ import annotations

from importlib.resources import files

import pytest

from corsgen.errors import CorsgenError
from corsgen.render import render
from corsgen.targets import MODULES, NAMES, TARGETS, by_name, expressible, module_of, titles
from corsgen.targets.base import SHARED
from corsgen.verify import check_structure
from testing.policies import plan_of

POLICY = (
    'allow_origins = ["https://a.example.com", "https://*.b.example.com"]\n'
    'allow_origin_regex = "https://c[0-9]+\\\\.example\\\\.com"\n'
    'allow_methods = ["GET", "PUT"]\nallow_headers = ["X-A"]\nexpose_headers = ["ETag"]\n'
    "allow_credentials = true\nmax_age = 600\npreflight_status = 200\n"
    "allow_private_network = true\n"
)


# What every target's format can say: POLICY less its regex and private-network access.
PORTABLE = (
    'allow_origins = ["https://a.example.com", "https://*.b.example.com"]\n'
    'allow_methods = ["GET", "PUT"]\nallow_headers = ["X-A"]\nexpose_headers = ["ETag"]\n'
    "allow_credentials = true\nmax_age = 600\npreflight_status = 200\n"
)


def test_the_registry_names_each_module_once() -> None:
    assert tuple(map(module_of, NAMES)) == MODULES and len(set(NAMES)) == len(NAMES)
    assert all(TARGETS[name].name == name for name in NAMES)
    assert titles().count(" and ") == (len(NAMES) > 1)


def test_an_unknown_target_is_refused_by_name() -> None:
    with pytest.raises(CorsgenError, match="unknown target 'lighttpd'; choose one of"):
        by_name("lighttpd")


@pytest.mark.parametrize("name", NAMES)
def test_every_part_has_its_template_and_a_unique_suffix(name: str) -> None:
    target = by_name(name)
    assert target.parts and target.binaries and target.config_test and target.title
    assert len({part.suffix for part in target.parts}) == len(target.parts)
    for part in target.parts:
        assert files("corsgen").joinpath("templates", part.template).is_file(), part.template


@pytest.mark.parametrize("name", NAMES)
def test_every_branch_renders_and_parses(name: str) -> None:
    texts = (POLICY, PORTABLE, 'allow_origins = ["*"]\nexpose_headers = ["ETag"]')
    for text in texts:
        if name not in expressible(plan_of(text), [name]):
            # Refused for this output (CG530), never approximated: render itself refuses too.
            assert {v.rule for v in by_name(name).refusals(plan_of(text))} == {"CG530"}
            with pytest.raises(CorsgenError, match="refusing to render"):
                render(plan_of(text), name)
            continue
        rendered = render(plan_of(text), name)
        own = [f"api{part.suffix}" for part in by_name(name).parts]
        shared = {SHARED + part.suffix for part in by_name(name).shared_parts}
        assert list(rendered)[: len(own)] == own and set(rendered) - set(own) <= shared
        check_structure(rendered, name)
    assert name in expressible(plan_of(PORTABLE), [name])


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("value", ['a"b', "a\nb", "a\x00b", "b\u00fccher", "a\u2028b"])
def test_quoting_refuses_what_could_break_out(name: str, value: str) -> None:
    with pytest.raises(CorsgenError, match="refusing to quote"):
        by_name(name).quote(value)
