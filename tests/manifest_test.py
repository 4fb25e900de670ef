from __future__ import annotations

import os
from pathlib import Path

import pytest

from corsgen.cli import main
from corsgen.errors import CorsgenError, PolicyError
from corsgen.manifest import find_manifest, load_manifest
from corsgen.targets import NAMES
from testing.snapshots import snapshot

POLICY = 'allow_origins = ["https://app.example.com"]\n'
MANIFEST = (
    '[[outputs]]\npolicies = ["cors/*.toml"]\ntargets = ["nginx"]\nout_dir = "deploy/{target}"\n'
)


def _repo(tmp_path: Path, manifest: str = MANIFEST, name: str = "corsgen.toml") -> Path:
    (tmp_path / "cors").mkdir(parents=True)
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
            "corsgen.toml:3: outputs[0].target: error CG002 unknown-key: unknown key; "
            "fix: did you mean 'targets'?",
        ),
        (
            MANIFEST.replace('"nginx"', '"iis"'),
            "corsgen.toml:3: outputs[0].targets[0]: error CG003 wrong-type: input should be "
            + ", ".join(map(repr, NAMES[:-1]))
            + f" or {NAMES[-1]!r}",
        ),
        (
            MANIFEST.replace('"cors/*.toml"', '"cors/*.yaml"'),
            "corsgen.toml:2: outputs[0].policies[0]: error CG302 glob-matches-nothing: "
            "'cors/*.yaml' matches no file",
        ),
        ("outputs = []\n", "corsgen.toml:1: outputs: error CG003"),
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
    with pytest.raises(PolicyError, match=r"pyproject.toml:4: tool.corsgen.outputs\[0\].outdir"):
        load_manifest(path)


def test_findings_name_the_line_of_their_entry(tmp_path: Path) -> None:
    second = (
        '\n[[outputs]]  # the partners\npolicies = [\n  "cors/api.toml",\n  "cors/none.toml",\n]\n'
        'targets = ["nginx"]\nout_dir = "deploy/partners"\n'
    )
    path = _repo(tmp_path, MANIFEST + second)
    with pytest.raises(PolicyError) as info:
        load_manifest(path).jobs()
    assert [str(f).split(": error")[0] for f in info.value.findings] == [
        "corsgen.toml:9: outputs[1].policies[1]"
    ]


def _sync(capsys: pytest.CaptureFixture[str], manifest: Path, *flags: str) -> tuple[int, str]:
    code = main(["sync", "--manifest", str(manifest), *flags])
    out, err = capsys.readouterr()
    assert out == "" or code == 0
    return code, err


BAD_GLOB = "error CG305 bad-path"
OUTSIDE = "error CG304 path-outside-root"
GLOB_FIX = "fix: write a glob relative to the manifest, such as cors/*.toml"
OUTSIDE_FIX = "fix: keep it inside the manifest's directory, or pass --allow-outside"


@pytest.mark.parametrize(
    ("glob", "finding"),
    [
        ("", f"{BAD_GLOB}: '' is empty; {GLOB_FIX}"),
        (".", f"{BAD_GLOB}: '.' names the manifest's own directory; {GLOB_FIX}"),
        ("./", f"{BAD_GLOB}: './' names the manifest's own directory; {GLOB_FIX}"),
        ("/abs/*.toml", f"{BAD_GLOB}: '/abs/*.toml' is absolute; {GLOB_FIX}"),
        ("cors/\\u0000*.toml", f"{BAD_GLOB}: 'cors/\\x00*.toml' contains a control character"),
        ("cors/\\n*.toml", f"{BAD_GLOB}: 'cors/\\n*.toml' contains a control character"),
        ("cors/a**.toml", f"{BAD_GLOB}: 'cors/a**.toml': Invalid pattern"),
        ("../x/*.toml", f"{OUTSIDE}: '../x/*.toml' climbs out with .., outside"),
        ("cors/../cors/*.toml", f"{OUTSIDE}: 'cors/../cors/*.toml' climbs out with .., outside"),
    ],
)
def test_unusable_globs_are_findings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], glob: str, finding: str
) -> None:
    path = _repo(tmp_path, MANIFEST.replace("cors/*.toml", glob))
    before = snapshot(tmp_path)
    code, err = _sync(capsys, path)
    assert code == 1 and len(err.splitlines()) == 1, err
    assert err.startswith(f"corsgen.toml:2: outputs[0].policies[0]: {finding}")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize(
    ("out_dir", "finding"),
    [
        ("", "'' is empty"),
        (".", "'.' names the manifest's own directory"),
        ("deploy/\\u0000", "'deploy/\\x00' contains a control character"),
        ("deploy/\\u001b[31m", "'deploy/\\x1b[31m' contains a control character"),
    ],
)
def test_unusable_out_dirs_are_findings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], out_dir: str, finding: str
) -> None:
    path = _repo(tmp_path, MANIFEST.replace("deploy/{target}", out_dir))
    code, err = _sync(capsys, path, "--allow-outside")
    assert code == 1
    assert err == (
        f"corsgen.toml:4: outputs[0].out_dir: {BAD_GLOB}: {finding}; fix: name a directory "
        "relative to the manifest, such as deploy/{target}\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cors", "corsgen.toml"]


def test_a_glob_outside_is_read_only_when_allowed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "partners.toml").write_text(POLICY)
    path = _repo(tmp_path / "repo", MANIFEST.replace("cors/*.toml", "../shared/*.toml"))
    assert _sync(capsys, path)[0] == 1
    assert _sync(capsys, path, "--allow-outside")[0] == 0
    assert (tmp_path / "repo" / "deploy" / "nginx" / "partners.conf").exists()


def test_a_policy_symlinked_to_outside_is_outside(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "elsewhere.toml").write_text(POLICY)
    path = _repo(tmp_path / "repo")
    (tmp_path / "repo" / "cors" / "evil.toml").symlink_to(tmp_path / "elsewhere.toml")
    code, err = _sync(capsys, path)
    assert code == 1
    assert err == (
        f"corsgen.toml:2: outputs[0].policies[0]: {OUTSIDE}: 'cors/*.toml' matches "
        f"{tmp_path / 'elsewhere.toml'}, outside the manifest's directory {tmp_path / 'repo'}; "
        f"{OUTSIDE_FIX}\n"
    )
    assert not (tmp_path / "repo" / "deploy").exists()


@pytest.mark.usefixtures("deadline")
def test_fifos_and_devices_are_never_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _repo(tmp_path)
    os.mkfifo(tmp_path / "cors" / "pipe.toml")
    assert _sync(capsys, path)[0] == 0, "a glob matches regular files only"
    assert not (tmp_path / "deploy" / "nginx" / "pipe.conf").exists()
    path.write_text(MANIFEST.replace("cors/*.toml", "cors/pipe.toml"))
    code, err = _sync(capsys, path)
    assert code == 1 and "'cors/pipe.toml' matches no file" in err
    code, err = _sync(capsys, tmp_path / "cors" / "pipe.toml")
    assert code == 1
    # As the manifest it is the lock, which opens a regular file or a directory only.
    assert err == (
        f"corsgen: cannot lock {tmp_path / 'cors' / 'pipe.toml'}: it is a FIFO, not a file or "
        "directory\n"
    )
    assert main(["check", str(tmp_path / "cors" / "pipe.toml")]) == 1
    (tmp_path / "zero.toml").symlink_to("/dev/zero")
    assert main(["check", str(tmp_path / "zero.toml")]) == 1
    assert "cannot read the file: it is a device, not a regular file" in capsys.readouterr().err


def test_pyproject_path_findings_are_prefixed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = MANIFEST.replace("[[outputs]]", "[[tool.corsgen.outputs]]").replace("deploy/", "../")
    path = _repo(tmp_path, text, "pyproject.toml")
    code, err = _sync(capsys, path)
    assert code == 1
    assert err.startswith("pyproject.toml:4: tool.corsgen.outputs[0].out_dir: error CG304")
