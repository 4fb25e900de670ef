"""The hook in .pre-commit-hooks.yaml, run by the real pre-commit in a temporary infra repo."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from corsgen.cli import main
from testing.paths import ROOT

GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.invalid",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.invalid",
}


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One PRE_COMMIT_HOME for the module, so the hook's environment is built once."""
    return tmp_path_factory.mktemp("pre-commit-home")


@pytest.fixture
def infra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(tmp_path)
    subprocess.run(["git", "init", "-q"], check=True)
    assert main(["init"]) == 0
    assert main(["sync"]) == 0
    _git("add", "-A")
    _git("commit", "-qm", "cors policies and snippets")
    yield tmp_path


def _git(*args: str) -> None:
    subprocess.run(["git", *args], check=True, env={**os.environ, **GIT_ENV})


def hook(home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pre_commit",
            "try-repo",
            str(ROOT),
            "corsgen",
            "--all-files",
            "--verbose",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
        env={**os.environ, **GIT_ENV, "PRE_COMMIT_HOME": str(home)},
    )


def test_fresh_then_policy_change_then_hand_edit(infra: Path, home: Path) -> None:
    fresh = hook(home)
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr
    assert "Passed" in fresh.stdout

    policy = infra / "cors" / "api.toml"
    policy.write_text(
        policy.read_text().replace(
            '"https://admin.example.com",',
            '"https://admin.example.com",\n    "https://ops.example.com",',
        )
    )
    changed = hook(home)
    assert changed.returncode == 1 and "Failed" in changed.stdout
    assert "wrote deploy/nginx/api.http.conf (stale)" in changed.stdout
    assert "https://ops.example.com" in (infra / "deploy" / "nginx" / "api.http.conf").read_text()
    again = hook(home)
    assert again.returncode == 0, again.stdout
    _git("add", "-A")
    _git("commit", "-qm", "allow ops")

    snippet = infra / "deploy" / "caddy" / "api.caddy"
    snippet.write_text(snippet.read_text().replace("respond 204", "respond 200"))
    edited = hook(home)
    assert edited.returncode == 1 and "Failed" in edited.stdout
    assert "wrote deploy/caddy/api.caddy (hand-edited)" in edited.stdout
    assert "respond 204" in snippet.read_text()


def test_a_new_policy_fails_until_its_snippets_are_staged(infra: Path, home: Path) -> None:
    (infra / "cors" / "web.toml").write_text('allow_origins = ["https://www.example.com"]\n')
    result = hook(home)
    assert result.returncode == 1, result.stdout
    assert (infra / "deploy" / "nginx" / "web.conf").exists()
    assert hook(home).returncode == 0
