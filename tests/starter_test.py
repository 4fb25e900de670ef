from __future__ import annotations

import json
from pathlib import Path

import pytest

from corsgen.cli import main
from corsgen.manifest import Manifest
from corsgen.policy.schema import Policy
from corsgen.starter import json_schema
from testing.paths import ROOT


def test_init_then_sync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["init"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines() == [
        f"wrote {tmp_path / 'corsgen.toml'}",
        f"wrote {tmp_path / 'cors' / 'api.toml'}",
    ]
    assert main(["check", "--strict", "cors/api.toml"]) == 0
    assert main(["sync"]) == 0
    assert (tmp_path / "deploy" / "nginx" / "api.http.conf").exists()
    assert (tmp_path / "cors" / "api.toml").read_text().count("\n#") >= 5, "it is commented"


def test_init_refuses_to_overwrite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cors").mkdir()
    (tmp_path / "cors" / "api.toml").write_text("# mine\n")
    assert main(["init"]) == 1
    err = capsys.readouterr().err
    assert "refusing to overwrite" in err and "nothing was written" in err
    assert not (tmp_path / "corsgen.toml").exists()
    assert (tmp_path / "cors" / "api.toml").read_text() == "# mine\n"


@pytest.mark.parametrize(
    ("model", "flag", "committed"),
    [(Policy, [], "policy"), (Policy, ["policy"], "policy"), (Manifest, ["manifest"], "manifest")],
)
def test_schema(
    model: type, flag: list[str], committed: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["schema", *flag]) == 0
    printed = capsys.readouterr().out
    schema = json.loads(printed)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["additionalProperties"] is False
    assert all(p.get("description") for p in schema["properties"].values())
    assert printed == json_schema(model) + "\n"
    path = ROOT / "schema" / f"{committed}.schema.json"
    assert path.read_text() == printed, f"regenerate: corsgen schema {' '.join(flag)} > {path}"


def test_schema_manifest_flag_still_works_and_says_it_is_deprecated(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["schema", "--manifest"]) == 0
    out, err = capsys.readouterr()
    assert out == json_schema(Manifest) + "\n"
    assert err == "corsgen: `schema --manifest` is deprecated; use `corsgen schema manifest`\n"


@pytest.mark.parametrize(
    "argv", [["--manifest", "corsgen.toml"], ["corsgen.toml"], ["policy", "--manifest"]]
)
def test_schema_takes_a_kind_not_a_file(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["schema", *argv]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "Traceback" not in err
    assert err.splitlines()[0] == "Usage: corsgen schema [OPTIONS] [policy|manifest]"
