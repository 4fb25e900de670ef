"""The templates as Python: the same text jinja2 renders, and a cache that is never wrong."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from corsgen import templating, translate
from corsgen.pipeline import load_and_plan
from corsgen.plan import Plan
from corsgen.targets import NAMES, get
from corsgen.targets.base import comment
from corsgen.templating import TEMPLATES, Templates, template_names
from tests.conftest import EXAMPLES
from tests.targets.conftest import plan_of
from tests.targets.registry_test import POLICY

FILTERS = {"comment": comment}


def _functions(templates: Templates) -> Mapping[str, Any]:
    """The templates that translate, each to its function."""
    names = template_names(templates.directory)
    namespace: dict[str, Any] = {}
    exec(translate.translate(templates.environment(), templates.filters, names), namespace)
    functions: Mapping[str, Any] = namespace["FUNCTIONS"]
    return functions


def test_every_template_of_corsgen_translates(tmp_path: Path) -> None:
    """A template that does more than loop and interpolate would make jinja2 load on every run."""
    templates = Templates(FILTERS, cache=tmp_path)
    assert sorted(_functions(templates)) == template_names(TEMPLATES)


def _plans() -> list[Plan]:
    examples = [load_and_plan(path)[0] for path in sorted(EXAMPLES.glob("*.toml"))]
    many = "\n".join(f'"https://t{i}.example.com",' for i in range(600))
    return [*examples, plan_of(POLICY), plan_of(f"allow_origins = [{many}]")]


@pytest.mark.parametrize("target", NAMES)
def test_the_translation_renders_what_jinja2_renders(target: str, tmp_path: Path) -> None:
    templates = Templates(FILTERS, cache=tmp_path)
    jinja = templates.environment()
    spec = get(target)
    for plan in _plans():
        cases = [(part.template, spec.context(plan)) for part in spec.parts]
        shared = spec.shared_context([plan])
        cases += [(part.template, shared) for part in spec.shared_parts if shared is not None]
        for name, values in cases:
            context = {"plan": plan, "body_sha256": "BODY", **values}
            assert templates.render(name, context) == jinja.get_template(name).render(context)


CONSTRUCTS = {
    "_part.j2": "[{{ note }}|{{ item }}]\n",
    "all.j2": """{# a comment #}
{% macro pair(a, b) %}
<{{ a }}={{ b | tag('x', n) }}>
{% endmacro %}
{% for key, value in pairs %}
{{ pair(key, value) }}
{% if value > 1 and not flag %}big{% elif value == 1 %}one{% else %}small{% endif %}
{% for letter in key %}{{ letter }}{% endfor %}
{% endfor %}
{% with note = obj.name %}
{% for item in items %}{% include "_part.j2" %}{% endfor %}
{% endwith %}
  {%- if flag or 3 in [1, 2] %} yes {% endif -%}
{{ obj.key }} {{ mapping.items2 }} {{ mapping["k"] }} {{ obj["name"] }} {{ items[1] }}
{{ "a" ~ 1 ~ obj.name }} {{ "t" if flag else "f" }} {{ 1 < n <= 3 }} {{ ("x", n) }}
{{ n != 2 and "n" not in key_list }} {{ none }} {{ true }} {{ 1.5 }}
""",
}


class _Obj:
    name = "obj-name"

    def __getitem__(self, key: str) -> str:
        return f"item-{key}"


CONTEXT = {
    "pairs": [("ab", 1), ("cd", 2), ("ef", 0)],
    "flag": False,
    "obj": _Obj(),
    "items": ["i0", "i1"],
    "mapping": {"items2": "m-items2", "k": "m-k"},
    "n": 2,
    "key_list": ["m"],
}


def _tag(value: object, prefix: str, count: int) -> str:
    return f"{prefix}{value}{count}"


def _templates(tmp_path: Path, sources: Mapping[str, str]) -> Templates:
    directory = tmp_path / "templates"
    for name, text in sources.items():
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        (directory / name).write_text(text)
    return Templates({"tag": _tag}, directory=directory, cache=tmp_path / "cache")


def test_each_construct_renders_as_in_jinja2(tmp_path: Path) -> None:
    templates = _templates(tmp_path, CONSTRUCTS)
    assert set(_functions(templates)) == set(CONSTRUCTS)
    expected = templates.environment().get_template("all.j2").render(CONTEXT)
    assert "<ab=x12>" in expected and "[obj-name|i1]" in expected  # the test tests something
    assert templates.render("all.j2", CONTEXT) == expected


@pytest.mark.parametrize(
    "source",
    [
        "{% for x in items %}{{ loop.index }}{% endfor %}",
        "{% for i in range(3) %}{{ i }}{% endfor %}",
        "{{ items | join(', ') }}",
        "{% set x = 1 %}{{ x }}",
        "{{ n + 1 }}",
        "{{ caller_of() }}",
        "{% include '_part.j2' %}",  # what it includes does not translate
    ],
)
def test_anything_else_is_rendered_by_jinja2(source: str, tmp_path: Path) -> None:
    sources = {"t.j2": source, "_part.j2": "{{ items | first }}", "plain.j2": "{{ n }}"}
    context = {**CONTEXT, "caller_of": lambda: "called"}
    templates = _templates(tmp_path, sources)
    assert set(_functions(templates)) == {"plain.j2"}
    expected = templates.environment().get_template("t.j2").render(context)
    assert templates.render("t.j2", context) == expected
    assert templates.render("plain.j2", context) == "2"


def _cached(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in (tmp_path / "cache").iterdir())


def test_a_second_run_reads_the_cache_and_translates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = _templates(tmp_path, CONSTRUCTS).render("all.j2", CONTEXT)
    assert len(_cached(tmp_path)) == 1

    def refuse(*args: object) -> str:
        raise AssertionError("translated again")

    monkeypatch.setattr(translate, "translate", refuse)
    assert _templates(tmp_path, CONSTRUCTS).render("all.j2", CONTEXT) == expected


def test_a_template_changed_since_is_translated_again(tmp_path: Path) -> None:
    assert _templates(tmp_path, {"t.j2": "one {{ n }}"}).render("t.j2", CONTEXT) == "one 2"
    assert _templates(tmp_path, {"t.j2": "two {{ n }}"}).render("t.j2", CONTEXT) == "two 2"
    assert len(_cached(tmp_path)) == 2


def test_another_corsgen_version_does_not_read_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _templates(tmp_path, CONSTRUCTS).render("all.j2", CONTEXT)
    monkeypatch.setattr(templating, "__version__", "99.0")
    _templates(tmp_path, CONSTRUCTS).render("all.j2", CONTEXT)
    assert len(_cached(tmp_path)) == 2


@pytest.mark.parametrize("content", [b"", b"garbage", b"\xe9\x00", b"\xa9\x02\x00\x00\x00N"])
def test_a_damaged_cache_file_is_ignored_and_replaced(content: bytes, tmp_path: Path) -> None:
    expected = _templates(tmp_path, CONSTRUCTS).render("all.j2", CONTEXT)
    (cached,) = (tmp_path / "cache").iterdir()
    cached.write_bytes(content)
    assert _templates(tmp_path, CONSTRUCTS).render("all.j2", CONTEXT) == expected
    assert cached.read_bytes() != content


def test_without_a_writable_cache_it_renders_all_the_same(tmp_path: Path) -> None:
    expected = _templates(tmp_path, CONSTRUCTS).render("all.j2", CONTEXT)
    blocked = tmp_path / "file"
    blocked.write_text("a file where the cache directory would go")
    for cache in (blocked / "cache", blocked):
        templates = Templates({"tag": _tag}, directory=tmp_path / "templates", cache=cache)
        assert templates.render("all.j2", CONTEXT) == expected
    assert blocked.read_text().startswith("a file")


def test_the_cache_is_the_users(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert Templates(FILTERS).cache == tmp_path / "corsgen"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/path")  # ignored, as the XDG spec says
    assert Templates(FILTERS).cache == Path.home() / ".cache" / "corsgen"


def test_concurrent_first_runs_each_render_right_and_leave_one_file(tmp_path: Path) -> None:
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    policy = str(EXAMPLES / "spa-api.toml")
    argv = [sys.executable, "-m", "corsgen", "render", policy, "--target", NAMES[0]]
    runs = [subprocess.Popen(argv, env=env, stdout=subprocess.PIPE) for _ in range(6)]
    outputs = {run.communicate()[0] for run in runs}
    assert all(run.returncode == 0 for run in runs) and len(outputs) == 1
    assert len(list((tmp_path / "corsgen").iterdir())) == 1  # and no temporary file left
