from __future__ import annotations

from pathlib import Path

import pytest

from corsgen.errors import CorsgenError, PolicyError
from corsgen.manifest import find_manifest, load_manifest

POLICY = 'allow_origins = ["https://app.example.com"]\n'
MANIFEST = (
    '[[outputs]]\npolicies = ["cors/*.toml"]\ntargets = ["nginx"]\nout_dir = "deploy/{target}"\n'
)


def _repo(tmp_path: Path, manifest: str = MANIFEST, name: str = "corsgen.toml") -> Path:
    (tmp_path / "cors").mkdir()
    (tmp_path / "cors" / "api.toml").write_text(POLICY)
    (tmp_path / "cors" / "web.toml").write_text(POLICY)
    (tmp_path / name).write_text(manifest)
    return tmp_path / name


def test_jobs_expand_globs_relative_to_the_manifest(tmp_path: Path) -> None:
    loaded = load_manifest(_repo(tmp_path))
    jobs = loaded.jobs()
    assert [(j.policy.name, j.target, j.out_dir) for j in jobs] == [
        ("api.toml", "nginx", tmp_path / "deploy" / "nginx"),
        ("web.toml", "nginx", tmp_path / "deploy" / "nginx"),
    ]
    assert loaded.out_dirs() == [tmp_path / "deploy" / "nginx"]


def test_pyproject_table(tmp_path: Path) -> None:
    text = "[project]\nname = 'infra'\n\n" + MANIFEST.replace(
        "[[outputs]]", "[[tool.corsgen.outputs]]"
    )
    path = _repo(tmp_path, text, "pyproject.toml")
    assert find_manifest(tmp_path) == path
    assert len(load_manifest(path).jobs()) == 2


def test_corsgen_toml_wins_over_pyproject(tmp_path: Path) -> None:
    _repo(tmp_path)
    (tmp_path / "pyproject.toml").write_text("[tool.corsgen]\n")
    assert find_manifest(tmp_path).name == "corsgen.toml"


def test_missing_manifest(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    with pytest.raises(CorsgenError, match=r"no corsgen.toml, and no \[tool.corsgen\]"):
        find_manifest(tmp_path)


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        (
            MANIFEST.replace("targets", "target"),
            "corsgen.toml: outputs[0].target: error CG002 unknown-key: unknown key; "
            "fix: did you mean 'targets'?",
        ),
        (
            MANIFEST.replace('"nginx"', '"iis"'),
            "corsgen.toml: outputs[0].targets[0]: error CG003 wrong-type: input should be 'nginx', "
            "'apache' or 'caddy'",
        ),
        (
            MANIFEST.replace('"cors/*.toml"', '"cors/*.yaml"'),
            "corsgen.toml: outputs[0].policies[0]: error CG302 glob-matches-nothing: "
            "'cors/*.yaml' matches no file",
        ),
        ("outputs = []\n", "corsgen.toml: outputs: error CG003"),
        ("", "corsgen.toml: outputs: error CG004 missing-key"),
        ("stict = true\n" + MANIFEST, "did you mean 'strict'?"),
        ("[[outputs]\n", "corsgen.toml:1:10: error CG001 toml-syntax"),
    ],
)
def test_manifest_errors_name_file_and_key(tmp_path: Path, manifest: str, message: str) -> None:
    path = _repo(tmp_path, manifest)
    with pytest.raises(PolicyError) as info:
        load_manifest(path).jobs()
    assert message in str(info.value)


def test_pyproject_keys_are_prefixed(tmp_path: Path) -> None:
    text = MANIFEST.replace("[[outputs]]", "[[tool.corsgen.outputs]]").replace("out_dir", "outdir")
    path = _repo(tmp_path, text, "pyproject.toml")
    with pytest.raises(PolicyError, match=r"pyproject.toml: tool.corsgen.outputs\[0\].outdir"):
        load_manifest(path)
