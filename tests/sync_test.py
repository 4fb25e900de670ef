"""corsgen sync end to end, in temporary infra repositories."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from corsgen import __version__, marker, sync, writing
from corsgen.cli import main
from tests.conftest import EXAMPLES

POLICY = 'allow_origins = ["https://app.example.com"]\nallow_credentials = true\n'
MANIFEST = (
    '[[outputs]]\npolicies = ["cors/*.toml"]\ntargets = ["nginx", "caddy"]\n'
    'out_dir = "deploy/{target}"\n'
)


def make_repo(root: Path) -> Path:
    (root / "cors").mkdir(parents=True)
    (root / "cors" / "api.toml").write_text(POLICY)
    (root / "cors" / "web.toml").write_text(POLICY.replace("app.", "www."))
    (root / "corsgen.toml").write_text(MANIFEST)
    return root


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An infra repo in tmp_path/repo, so that tmp_path/outside is outside it."""
    root = make_repo(tmp_path / "repo")
    monkeypatch.chdir(root)
    return root


@pytest.fixture
def deadline() -> Iterator[None]:
    """Turn a hang (a FIFO read, an endless /dev/zero) into a failure instead of a stuck run."""

    def hung(signum: int, frame: object) -> None:
        raise TimeoutError("corsgen hung")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(20)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["sync", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def snapshot(root: Path) -> dict[str, object]:
    """Every entry under root, links not followed: file mode and bytes, link targets, kinds."""
    entries: dict[str, object] = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder, name)
            info = path.lstat()
            if stat.S_ISREG(info.st_mode):
                entries[str(path.relative_to(root))] = (info.st_mode, path.read_bytes())
            elif stat.S_ISLNK(info.st_mode):
                entries[str(path.relative_to(root))] = ("link", os.readlink(path))
            else:
                entries[str(path.relative_to(root))] = info.st_mode
    return entries


def leftovers(root: Path) -> list[str]:
    """corsgen's hidden temporary files: none may survive a run, whatever happened."""
    return [p for p in snapshot(root) if Path(p).name.startswith(".") and p.endswith(".tmp")]


GENERATED = [
    "deploy/caddy/api.caddy",
    "deploy/caddy/web.caddy",
    "deploy/nginx/api.conf",
    "deploy/nginx/api.http.conf",
    "deploy/nginx/web.conf",
    "deploy/nginx/web.http.conf",
]


def test_sync_then_check_is_clean_and_stable(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys)
    assert code == 0
    assert out.splitlines() == [f"wrote {p} (missing)" for p in GENERATED]
    before = snapshot(repo)
    assert run(capsys, "--check") == (0, "", "corsgen: 6 file(s) up to date\n")
    assert run(capsys, "--exit-non-zero-on-change")[0] == 0
    assert snapshot(repo) == before
    mode = (repo / GENERATED[0]).stat().st_mode & 0o777
    assert mode == 0o666 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_check_shows_a_diff_for_a_changed_policy(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys)
    (repo / "cors" / "api.toml").write_text(POLICY + "max_age = 300\n")
    code, out, err = run(capsys, "--check")
    assert code == 1
    assert "--- a/deploy/nginx/api.http.conf\n+++ b/deploy/nginx/api.http.conf\n" in out
    assert '+    default "300";' in out
    assert "deploy/nginx/api.conf: stale (the policy changed since it was rendered)" in err
    assert err.endswith("corsgen: 3 file(s) out of date; run `corsgen sync`\n")
    code, _, _ = run(capsys, "--exit-non-zero-on-change")
    assert code == 1
    assert run(capsys, "--check")[0] == 0


def test_a_comment_in_the_policy_changes_nothing(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys)
    (repo / "cors" / "api.toml").write_text("# reviewed by infra\n" + POLICY)
    assert run(capsys, "--check")[0] == 0


def test_hand_edit_and_missing_file(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys)
    edited = repo / "deploy" / "caddy" / "api.caddy"
    edited.write_text(edited.read_text().replace("respond 204", "respond 200"))
    (repo / "deploy" / "nginx" / "web.conf").unlink()
    code, out, err = run(capsys, "--check")
    assert code == 1
    assert "-\trespond 200\n+\trespond 204\n" in out
    assert "--- /dev/null\n+++ b/deploy/nginx/web.conf" in out
    assert (
        "deploy/caddy/api.caddy: hand-edited (the file was changed by hand since corsgen wrote it)"
    ) in err
    assert "deploy/nginx/web.conf: missing" in err
    code, out, _ = run(capsys)
    assert code == 0 and "wrote deploy/caddy/api.caddy (hand-edited)" in out
    assert "respond 204" in edited.read_text()


def test_renaming_a_named_policy_file_is_a_re_render(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "cors" / "api.toml").write_text('name = "api"\n' + POLICY)
    run(capsys)
    (repo / "cors" / "api.toml").rename(repo / "cors" / "api-v2.toml")
    code, out, err = run(capsys, "--check")
    assert code == 1
    assert f"-# Generated by corsgen {__version__} from api.toml;" in out
    assert f"+# Generated by corsgen {__version__} from api-v2.toml;" in out
    described = [line.split(": ", 1)[1] for line in err.splitlines()[:-1]]
    assert described == ["re-render (same policy, rendered from another policy file name)"] * 3
    code, out, _ = run(capsys)
    assert code == 0 and "wrote deploy/nginx/api.conf (re-render)" in out
    assert run(capsys, "--check")[0] == 0


def test_a_sync_with_nothing_to_do_says_so(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys)
    assert run(capsys) == (0, "", "corsgen: 6 file(s) up to date\n")


def test_naming_a_policy_what_its_file_already_calls_it_changes_nothing(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys)
    (repo / "cors" / "api.toml").write_text('name = "api"\n' + POLICY)
    assert run(capsys, "--check") == (0, "", "corsgen: 6 file(s) up to date\n")


@pytest.mark.parametrize("manifest", ["/dev/null", "/dev/zero"])
def test_a_device_as_manifest_is_never_opened(
    repo: Path, capsys: pytest.CaptureFixture[str], manifest: str
) -> None:
    code, out, err = run(capsys, "--manifest", manifest)
    assert (code, out) == (1, "")
    assert err == f"corsgen: cannot lock {manifest}: it is a device, not a file or directory\n"


def test_a_marker_field_from_a_later_version_is_still_ours(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys)
    path = repo / "deploy" / "caddy" / "api.caddy"
    first, marker, rest = path.read_text().split("\n", 2)
    path.write_text(f"{first}\n{marker} future=9.9.9\n{rest}")
    code, _, err = run(capsys, "--check")
    assert code == 1 and "deploy/caddy/api.caddy: re-render (same policy" in err


def _as_if_written_by(path: Path, version: str) -> None:
    """Rewrite a generated file as another corsgen version would have, its body hash re-stamped."""
    first, mark, rest = path.read_text().split("\n", 2)
    first = first.replace(f"corsgen {__version__} ", f"corsgen {version} ")
    mark = re.sub(r"version=\S+", f"version={version}", mark)
    mark = re.sub(r"body=\S+", f"body={marker.PLACEHOLDER}", mark)
    path.write_text(marker.stamp(f"{first}\n{mark}\n{rest}"))


def test_files_from_another_corsgen_version_are_re_rendered_not_hand_edited(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys)
    path = repo / "deploy" / "nginx" / "api.conf"
    _as_if_written_by(path, "0.0.9")
    code, out, err = run(capsys, "--check")
    assert code == 1 and "-# Generated by corsgen 0.0.9 from api.toml;" in out
    assert "deploy/nginx/api.conf: generated by corsgen 0.0.9; re-render\n" in err
    code, out, _ = run(capsys)
    assert code == 0 and "wrote deploy/nginx/api.conf (upgrade)" in out
    assert f"version={__version__} " in path.read_text()
    assert run(capsys, "--check")[0] == 0


def test_a_hand_edit_in_an_older_versions_file_is_still_a_hand_edit(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys)
    path = repo / "deploy" / "nginx" / "api.conf"
    _as_if_written_by(path, "0.0.9")
    path.write_text(path.read_text() + "# mine\n")
    _, _, err = run(capsys, "--check")
    assert "deploy/nginx/api.conf: hand-edited" in err


def test_foreign_file_needs_force(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mine = repo / "deploy" / "nginx" / "api.conf"
    mine.parent.mkdir(parents=True)
    mine.write_text("# my own nginx config\n")
    code, _, err = run(capsys, "--check")
    assert code == 1 and "deploy/nginx/api.conf: not generated by corsgen (--force" in err
    before = snapshot(repo)
    code, out, err = run(capsys)
    assert code == 1 and out == ""
    assert err.startswith("corsgen: refusing to overwrite ") and "not generated by corsgen" in err
    assert snapshot(repo) == before, "a refused sync writes nothing at all"
    assert run(capsys, "--force")[0] == 0
    assert mine.read_text().startswith("# Generated by corsgen")


def test_orphans_are_listed_and_pruned_only_on_request(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys)
    (repo / "cors" / "web.toml").unlink()
    code, _, err = run(capsys, "--check")
    assert code == 1
    assert (
        "deploy/nginx/web.conf: orphan (no policy produces it any more; --prune removes it)" in err
    )
    code, _, err = run(capsys)
    assert code == 0 and (repo / "deploy" / "nginx" / "web.conf").exists()
    assert "deploy/caddy/web.caddy: orphan" in err
    assert run(capsys, "--exit-non-zero-on-change")[0] == 1
    code, out, _ = run(capsys, "--prune")
    assert code == 0 and "removed deploy/caddy/web.caddy (orphan)" in out
    assert not (repo / "deploy" / "nginx" / "web.conf").exists()
    assert run(capsys, "--check")[0] == 0


def test_unrelated_files_are_never_orphans(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys)
    (repo / "deploy" / "nginx" / "README").write_text("hand-written notes\n")
    assert run(capsys, "--check")[0] == 0
    run(capsys, "--prune")
    assert (repo / "deploy" / "nginx" / "README").exists()


def test_prune_removes_only_names_corsgen_writes(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys)
    nginx, caddy = repo / "deploy" / "nginx", repo / "deploy" / "caddy"
    web = (nginx / "web.conf").read_text()
    kept = {
        # Copies a user made: they carry the marker, but corsgen never writes these names.
        nginx / "web.conf.orig": web,
        nginx / "web.conf.bak": web,
        nginx / "web.conf~": web,
        nginx / "WEB.conf": web,
        # A name corsgen writes, but only in the Caddy directory.
        nginx / "web.caddy": (caddy / "web.caddy").read_text(),
        # A name corsgen writes here, but the marker names another policy.
        nginx / "old.conf": web,
    }
    for path, text in kept.items():
        path.write_text(text)
    (repo / "cors" / "web.toml").unlink()
    code, out, _ = run(capsys, "--prune")
    assert code == 0
    assert sorted(line for line in out.splitlines() if line.startswith("removed")) == [
        "removed deploy/caddy/web.caddy (orphan)",
        "removed deploy/nginx/web.conf (orphan)",
        "removed deploy/nginx/web.http.conf (orphan)",
    ]
    assert {path: path.read_text() for path in kept} == kept


def test_a_failing_policy_writes_nothing(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / "cors" / "web.toml").write_text('allow_origins = ["*"]\nallow_credentials = true\n')
    code, out, err = run(capsys)
    assert code == 1 and out == ""
    assert "web.toml:1: allow_origins: error CG101 wildcard-with-credentials" in err
    assert not (repo / "deploy").exists()


def test_strict_manifest_refuses_warnings(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / "corsgen.toml").write_text("strict = true\n" + MANIFEST)
    (repo / "cors" / "web.toml").write_text('allow_origins = ["http://www.example.com"]\n')
    code, _, err = run(capsys)
    assert code == 1 and "warning CG201 insecure-origin" in err
    assert not (repo / "deploy").exists()


def test_two_entries_writing_one_file(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / "other").mkdir()
    (repo / "other" / "api.toml").write_text(POLICY)
    (repo / "corsgen.toml").write_text(
        MANIFEST + '\n[[outputs]]\npolicies = ["other/api.toml"]\ntargets = ["nginx"]\n'
        'out_dir = "deploy/nginx"\n'
    )
    code, _, err = run(capsys)
    assert code == 1
    assert (
        "corsgen.toml:6: outputs[1]: error CG303 output-clash: deploy/nginx/api.conf is written "
        "by outputs[0] (cors/api.toml, nginx) and by outputs[1] (other/api.toml, nginx)"
    ) in err
    assert not (repo / "deploy").exists()


def test_two_spellings_of_one_directory_clash(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "deploy" / "nginx").mkdir(parents=True)
    (repo / "alias").symlink_to("deploy/nginx")
    (repo / "corsgen.toml").write_text(
        MANIFEST + '\n[[outputs]]\npolicies = ["cors/web.toml"]\ntargets = ["nginx"]\n'
        'out_dir = "alias"\n'
    )
    code, _, err = run(capsys)
    assert code == 1 and "error CG303 output-clash: alias/web.conf is written by" in err


def test_the_same_file_from_two_globs_is_fine(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "corsgen.toml").write_text(
        MANIFEST.replace('["cors/*.toml"]', '["cors/*.toml", "cors/api.toml"]')
    )
    assert run(capsys)[0] == 0


@pytest.mark.parametrize(
    ("out_dir", "flags"),
    [
        ("blocker/deploy", []),
        ("/proc/self/corsgen", ["--allow-outside"]),
        ("/proc/self", ["--allow-outside"]),
    ],
)
def test_unwritable_out_dir_writes_nothing(
    repo: Path, capsys: pytest.CaptureFixture[str], out_dir: str, flags: list[str]
) -> None:
    (repo / "blocker").write_text("a file where a directory should be\n")
    (repo / "corsgen.toml").write_text(
        MANIFEST + f'\n[[outputs]]\npolicies = ["cors/api.toml"]\ntargets = ["apache"]\n'
        f'out_dir = "{out_dir}"\n'
    )
    before = snapshot(repo)
    code, out, err = run(capsys, *flags)
    assert code == 1 and out == ""
    assert err.startswith("corsgen: cannot write ") and err.endswith("; nothing was written\n")
    assert len(err.splitlines()) == 1
    assert snapshot(repo) == before
    assert not (repo / "deploy").exists(), "directories made for the failed sync are removed"


# --- Something other than a regular file where corsgen writes one ---------------------------


def _directory(path: Path) -> str:
    path.mkdir()
    (path / "inside").write_text("kept\n")
    return "it is a directory, not a regular file"


def _fifo(path: Path) -> str:
    os.mkfifo(path)
    return "it is a FIFO, not a regular file"


def _socket(path: Path) -> str:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(os.path.relpath(path))  # relative: AF_UNIX paths are short
    return "it is a socket, not a regular file"


def _dev_zero(path: Path) -> str:
    path.symlink_to("/dev/zero")
    return "it is a symlink, not a regular file"


def _link_to_a_file(path: Path) -> str:
    # Even to a file corsgen generated: it writes regular files, never through a link.
    real = path.with_name("real.conf")
    real.write_text(path.with_name("api.conf").read_text())
    path.symlink_to(real.name)
    return "it is a symlink, not a regular file"


def _parent_is_a_file(path: Path) -> str:
    shutil.rmtree(path.parent)
    path.parent.write_text("a file where a directory should be\n")
    return f"{path.parent} is a regular file, not a directory"


OBSTACLES: dict[str, Callable[[Path], str]] = {
    "directory": _directory,
    "fifo": _fifo,
    "socket": _socket,
    "symlink-to-dev-zero": _dev_zero,
    "symlink-to-a-file": _link_to_a_file,
    "parent-is-a-file": _parent_is_a_file,
}


@pytest.mark.usefixtures("deadline")
@pytest.mark.parametrize("flags", [[], ["--force", "--prune"]], ids=["plain", "force-prune"])
@pytest.mark.parametrize("obstacle", OBSTACLES, ids=list(OBSTACLES))
def test_only_regular_files_are_read_or_replaced(
    repo: Path, capsys: pytest.CaptureFixture[str], obstacle: str, flags: list[str]
) -> None:
    run(capsys)
    (repo / "cors" / "api.toml").write_text(POLICY + "max_age = 60\n")  # three files to rewrite
    target = repo / "deploy" / "nginx" / "web.conf"
    target.unlink()
    why = OBSTACLES[obstacle](target)
    path = (
        repo / "deploy" / "nginx" / ("api.conf" if obstacle == "parent-is-a-file" else "web.conf")
    )
    before = snapshot(repo)
    code, out, err = run(capsys, *flags)
    assert (code, out) == (1, "")
    assert err == f"corsgen: cannot write {path}: {why}; nothing was written\n"
    assert snapshot(repo) == before
    assert run(capsys, "--check")[0] == 1


def test_printed_paths_are_escaped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_repo(tmp_path / "re\npo\x1b[31m")
    monkeypatch.chdir(root)
    (root / "deploy" / "caddy" / "api.caddy").mkdir(parents=True)
    code, _, err = run(capsys)
    assert code == 1 and len(err.splitlines()) == 1
    assert "re\\npo\\x1b[31m" in err


# --- All or nothing, at every step --------------------------------------------------------------


def _no_link(*args: Any, **kwargs: Any) -> None:
    raise OSError(errno.EPERM, "Operation not permitted")


class Faults:
    """Make the Nth call to any function that changes the disk fail, as a full disk would.

    Only calls made while sync writes count: the nginx check's own temporary files do not.
    """

    NAMES = ("replace", "rename", "unlink", "link", "mkdir", "rmdir", "open")

    def __init__(self, monkeypatch: pytest.MonkeyPatch, fail_at: int, links: bool) -> None:
        self.calls = 0
        self.fail_at = fail_at
        self.failed = ""
        self.writing = False
        for name in self.NAMES:
            real = _no_link if name == "link" and not links else getattr(os, name)
            monkeypatch.setattr(os, name, self._wrap(name, real))
        # sync calls the write_atomically it imports from writing; wrap that one under sync's name.
        monkeypatch.setattr(sync, "write_atomically", self._writing(writing.write_atomically))

    def _writing(self, real: Callable[..., None]) -> Callable[..., None]:
        def call(*args: Any, **kwargs: Any) -> None:
            self.writing = True
            try:
                real(*args, **kwargs)
            finally:
                self.writing = False

        return call

    def _wrap(self, name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            if not self.writing or (name == "open" and not args[1] & os.O_CREAT):
                return real(*args, **kwargs)  # reading changes nothing
            self.calls += 1
            if self.calls == self.fail_at:
                self.failed = name
                raise OSError(errno.EIO, "Input/output error (injected)", str(args[0]))
            return real(*args, **kwargs)

        return call


def _prepared(root: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """A repo where sync --prune has every kind of work: replace, create, mkdir and remove."""
    make_repo(root)
    manifest = root / "corsgen.toml"
    assert run(capsys, "--manifest", str(manifest))[0] == 0
    (root / "cors" / "api.toml").write_text(POLICY + "max_age = 60\n")
    (root / "deploy" / "nginx" / "api.conf").chmod(0o640)  # the mode must come back too
    (root / "cors" / "web.toml").unlink()
    (root / "cors" / "shop.toml").write_text(POLICY.replace("app.", "shop."))
    shutil.rmtree(root / "deploy" / "caddy")
    return manifest


@pytest.mark.parametrize("links", [True, False], ids=["hard-links", "no-hard-links"])
def test_a_failure_at_any_step_changes_nothing(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    links: bool,
) -> None:
    base = tmp_path / "base"
    _prepared(base, capsys)
    before = snapshot(base)
    clean = tmp_path / "clean"
    shutil.copytree(base, clean, symlinks=True)
    assert run(capsys, "--prune", "--manifest", str(clean / "corsgen.toml"))[0] == 0
    after = snapshot(clean)
    assert after != before
    injected = set()
    fail_at = 0
    while True:
        fail_at += 1
        root = tmp_path / f"run{fail_at}"
        shutil.copytree(base, root, symlinks=True)
        with monkeypatch.context() as patch:
            faults = Faults(patch, fail_at, links)
            code, _, err = run(capsys, "--prune", "--manifest", str(root / "corsgen.toml"))
        if faults.calls < fail_at:
            assert code == 0 and snapshot(root) == after
            break
        injected.add(faults.failed)
        where = f"failing call {fail_at} (os.{faults.failed})"
        if code == 0:  # a failed hard link falls back to a copy
            assert faults.failed == "link", where
            assert snapshot(root) == after, where
        elif "wrote every file, but cannot remove the temporary" in err:
            # After the last rename: the new state stands, and the one leftover is named.
            assert faults.failed == "unlink", where
            (leftover,) = leftovers(root)
            assert f"temporary {root / leftover} (Input/output error" in err, where
            assert {k: v for k, v in snapshot(root).items() if k != leftover} == after, where
        else:
            assert code == 1 and len(err.splitlines()) == 1, where
            assert err.startswith("corsgen: cannot "), where
            assert err.endswith("; nothing was written\n"), where
            assert snapshot(root) == before, where
        shutil.rmtree(root)
    assert fail_at > 20
    assert injected >= {"open", "mkdir", "replace", "unlink"} | ({"link"} if links else set())


@contextlib.contextmanager
def _undeletable(directory: Path) -> Iterator[str]:
    """Entries in directory cannot be removed; yields the error the OS gives.

    Root ignores permission bits, so root (as in CI) sets the immutable flag instead.
    """
    if os.geteuid() == 0:
        made = subprocess.run(["chattr", "+i", str(directory)], capture_output=True, check=False)
        if made.returncode != 0:  # tmpfs and some others have no immutable flag
            pytest.skip(f"chattr +i: {made.stderr.decode(errors='replace').strip()}")
        try:
            yield "Operation not permitted"
        finally:
            subprocess.run(["chattr", "-i", str(directory)], check=True)
        return
    directory.chmod(0o555)
    try:
        yield "Permission denied"
    finally:
        directory.chmod(0o755)


def test_an_orphan_that_cannot_be_removed_changes_nothing(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys)
    (repo / "cors" / "web.toml").unlink()
    with _undeletable(repo / "deploy" / "caddy") as reason:
        before = snapshot(repo)
        code, out, err = run(capsys, "--prune")
        assert snapshot(repo) == before
    assert (code, out) == (1, "")
    orphan = repo / "deploy" / "caddy" / "web.caddy"
    assert err == f"corsgen: cannot remove {orphan}: {reason}; nothing was written\n"


# --- One sync at a time -------------------------------------------------------------------------


def test_concurrent_prunes_take_turns(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys)
    (repo / "cors" / "api.toml").write_text(POLICY + "max_age = 60\n")
    (repo / "cors" / "web.toml").unlink()
    argv = [sys.executable, "-m", "corsgen", "sync", "--prune"]
    # The corsgen under test, also when it is found through a relative PYTHONPATH (such as src).
    env = {**os.environ, "PYTHONPATH": str(Path(sync.__file__).parents[1])}
    procs = [
        subprocess.Popen(
            argv, cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(4)
    ]
    results = [(*p.communicate(timeout=120), p.returncode) for p in procs]
    assert [code for _, _, code in results] == [0] * 4, results
    printed = "".join(out for out, _, _ in results)
    assert printed.count("removed deploy/caddy/web.caddy (orphan)") == 1
    assert printed.count("wrote deploy/nginx/api.conf (stale)") == 1
    assert "Traceback" not in "".join(err for _, err, _ in results)
    assert run(capsys, "--check")[0] == 0
    assert leftovers(repo) == []


def test_a_held_lock_is_waited_for_then_refused(
    repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writing, "LOCK_WAIT", 0.2)
    with (repo / "corsgen.toml").open() as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        for flags in ([], ["--check"]):
            code, out, err = run(capsys, *flags)
            assert (code, out) == (1, "")
            assert err == f"corsgen: another corsgen sync is running on {repo / 'corsgen.toml'}\n"
    assert not (repo / "deploy").exists()
    monkeypatch.setattr(writing, "LOCK_WAIT", 30)
    held = (repo / "corsgen.toml").open()
    fcntl.flock(held, fcntl.LOCK_EX)
    threading.Timer(0.3, held.close).start()
    assert run(capsys)[0] == 0


# --- Staying inside the manifest's directory ----------------------------------------------------


@pytest.mark.parametrize("where", ["dotdot", "absolute", "symlinked-dir"])
def test_an_out_dir_outside_needs_allow_outside(
    repo: Path, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    outside = repo.parent / "outside"
    outside.mkdir()
    (outside / "web.conf").write_text("someone else's\n")
    out_dir = {"dotdot": "../outside", "absolute": str(outside), "symlinked-dir": "linked"}[where]
    (repo / "linked").symlink_to(outside)
    (repo / "corsgen.toml").write_text(MANIFEST.replace("deploy/{target}", out_dir))
    before = snapshot(repo.parent)
    code, out, err = run(capsys, "--prune")
    assert (code, out) == (1, "")
    assert err == (
        f"corsgen.toml:4: outputs[0].out_dir: error CG304 path-outside-root: {out_dir!r} leads to "
        f"{outside.resolve()}, outside the manifest's directory {repo.resolve()}; fix: keep it "
        "inside the manifest's directory, or pass --allow-outside\n"
    )
    assert snapshot(repo.parent) == before
    code, out, _ = run(capsys, "--allow-outside")
    assert code == 1, "the foreign web.conf is still refused"
    (outside / "web.conf").unlink()
    assert run(capsys, "--allow-outside")[0] == 0
    assert (outside / "api.caddy").read_text().startswith("# Generated by corsgen")


# --- render --out-dir shares the writer -----------------------------------------------------------


@pytest.mark.usefixtures("deadline")
@pytest.mark.parametrize("obstacle", ["directory", "fifo", "symlink-to-dev-zero"])
def test_render_out_dir_refuses_what_is_not_a_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], obstacle: str
) -> None:
    target = tmp_path / "spa_api.caddy"
    why = OBSTACLES[obstacle](target)
    before = snapshot(tmp_path)
    argv = ["render", str(EXAMPLES / "spa-api.toml"), "-t", "caddy", "-o", str(tmp_path)]
    assert main([*argv, "--force"]) == 1
    assert (
        capsys.readouterr().err == f"corsgen: cannot write {target}: {why}; nothing was written\n"
    )
    assert snapshot(tmp_path) == before


def test_sync_waits_for_a_render_into_its_out_dir(
    repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A render -o into a sync's directory ran beside it, and the sync sized the shared file
    without the render's policy (the red team): each now waits for the other."""
    run(capsys)
    monkeypatch.setattr(writing, "LOCK_WAIT", 0.2)
    out_dir = repo / "deploy" / "nginx"
    fd = os.open(out_dir, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        code, _, err = run(capsys)
        assert code == 1 and err == f"corsgen: another corsgen is writing to {out_dir}\n"
    finally:
        os.close(fd)
    assert run(capsys)[0] == 0


def test_render_out_dir_waits_for_another_writer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writing, "LOCK_WAIT", 0.2)
    out_dir = tmp_path / "new" / "cors"
    argv = ["render", str(EXAMPLES / "spa-api.toml"), "-t", "caddy", "-o", str(out_dir)]
    fd = os.open(tmp_path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        assert main(argv) == 1
        assert capsys.readouterr().err == f"corsgen: another corsgen is writing to {out_dir}\n"
    finally:
        os.close(fd)
    assert main(argv) == 0


def test_render_out_dir_writes_through_syncs_transaction(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """One function locks, refuses and writes for both: render --out-dir calls it as sync does,
    and like sync leaves a file that did not change untouched."""
    from corsgen import sync

    calls: list[tuple[list[Path], bool, tuple[str, str] | None]] = []
    real = sync.write_generated

    def spy(
        desired: sync.Desired,
        force: bool,
        prune: bool = False,
        alone: tuple[str, str] | None = None,
    ) -> list[sync.Change]:
        calls.append((sorted(desired.files), force, alone))
        return real(desired, force, prune, alone)

    monkeypatch.setattr(sync, "write_generated", spy)
    argv = ["render", str(EXAMPLES / "spa-api.toml"), "-t", "nginx", "-o", str(tmp_path)]
    assert main(argv) == 0
    written = sorted(tmp_path.iterdir())
    assert calls == [(written, False, ("spa_api", "nginx"))]
    before = {path: path.stat().st_ino for path in written}
    assert main([*argv, "--force"]) == 0
    assert {path: path.stat().st_ino for path in written} == before
    assert capsys.readouterr().out.splitlines()[-2:] == [str(p) for p in written][::-1]


def test_no_manifest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys)
    assert code == 1
    assert err.startswith("corsgen: no corsgen.toml, and no [tool.corsgen] in pyproject.toml")


def test_the_example_infra_repo_is_in_sync(capsys: pytest.CaptureFixture[str]) -> None:
    manifest = EXAMPLES / "infra-repo" / "corsgen.toml"
    code, out, err = run(capsys, "--check", "--manifest", str(manifest))
    assert (code, out) == (0, ""), err


# --- Files from earlier releases -----------------------------------------------------------------

# spa-api.toml rendered for nginx, Apache and Caddy by each marker format's last writer, with that
# commit's own code (see tests/earlier_releases/README.md). Every one of them said 0.1.0 on line 1.
EARLIER = Path(__file__).parent / "earlier_releases"
GOLDENS = Path(__file__).parent / "goldens"
EARLIER_MARKERS = {
    # The first 0.1.0: no body hash, no version field.
    "2675f13": r"policy=spa_api sha256=[0-9a-f]{64}",
    # 0.1.0 after sync's hardening: a body hash; the version is line 1's.
    "3a33bff": r"policy=spa_api sha256=[0-9a-f]{64} body=[0-9a-f]{64}",
    # 0.1.0 from cd9905c to the last commit before 0.2.0: today's format.
    "18d92a8": r"policy=spa_api sha256=[0-9a-f]{64} version=0\.1\.0 body=[0-9a-f]{64}",
}
EARLIER_FILES = (
    "deploy/nginx/spa_api.conf",
    "deploy/nginx/spa_api.http.conf",
    "deploy/apache/spa_api.conf",
    "deploy/caddy/spa_api.caddy",
)


def earlier_repo(root: Path, commit: str) -> Path:
    """An infra repo whose deploy/ holds what the corsgen of `commit` wrote for its manifest."""
    (root / "cors").mkdir(parents=True)
    shutil.copy(EARLIER / "spa-api.toml", root / "cors" / "spa-api.toml")
    shutil.copytree(EARLIER / commit / "deploy", root / "deploy")
    (root / "corsgen.toml").write_text(MANIFEST.replace('"caddy"', '"caddy", "apache"'))
    return root


@pytest.mark.parametrize("commit", EARLIER_MARKERS)
def test_every_marker_an_earlier_release_wrote_parses(commit: str) -> None:
    for name in EARLIER_FILES:
        text = (EARLIER / commit / name).read_text()
        assert text.startswith("# Generated by corsgen 0.1.0 from spa-api.toml; do not edit")
        assert re.fullmatch(f"# corsgen: {EARLIER_MARKERS[commit]}", text.split("\n")[1])
        mark = marker.parse_marker(text)
        assert mark is not None, name
        assert (mark.policy, mark.version) == ("spa_api", "0.1.0")
        assert (mark.body is None) == (commit == "2675f13")


@pytest.mark.parametrize("commit", EARLIER_MARKERS)
def test_sync_re_renders_every_earlier_releases_files_without_force(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], commit: str
) -> None:
    root = earlier_repo(tmp_path / "repo", commit)
    monkeypatch.chdir(root)
    code, out, err = run(capsys, "--check")
    assert code == 1 and "-# Generated by corsgen 0.1.0 from spa-api.toml;" in out
    assert "not generated by corsgen" not in err
    for name in EARLIER_FILES:
        assert f"{name}: generated by corsgen 0.1.0" in err
        assert (f"{name}: generated by corsgen 0.1.0 (a marker without a body hash" in err) == (
            commit == "2675f13"
        )
    assert err.endswith("corsgen: 4 file(s) out of date; run `corsgen sync`\n")
    code, out, _ = run(capsys)
    assert code == 0
    assert out == "".join(f"wrote {name} (upgrade)\n" for name in sorted(EARLIER_FILES))
    for name in EARLIER_FILES:
        assert marker.parse_marker((root / name).read_text()) == marker.parse_marker(
            (GOLDENS / "spa-api" / name[len("deploy/") :]).read_text()
        )
    assert run(capsys, "--check") == (0, "", "corsgen: 4 file(s) up to date\n")


def test_a_hand_edit_in_an_earlier_release_file_with_a_body_hash_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = earlier_repo(tmp_path / "repo", "3a33bff")
    monkeypatch.chdir(root)
    path = root / "deploy" / "nginx" / "spa_api.conf"
    path.write_text(path.read_text().replace("always;", "always; # mine", 1))
    _, _, err = run(capsys, "--check")
    assert "deploy/nginx/spa_api.conf: hand-edited" in err
    assert "deploy/caddy/spa_api.caddy: generated by corsgen 0.1.0; re-render" in err


def test_a_hand_edit_in_a_first_release_file_shows_only_in_the_diff(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Its marker has no body hash, so the edit cannot be told from corsgen's own text: the file is
    # re-rendered like its untouched neighbours, and --check says to read the diff, which has it.
    root = earlier_repo(tmp_path / "repo", "2675f13")
    monkeypatch.chdir(root)
    path = root / "deploy" / "nginx" / "spa_api.conf"
    path.write_text(path.read_text() + "# mine\n")
    code, out, err = run(capsys, "--check")
    assert code == 1 and "\n-# mine\n" in out
    assert "deploy/nginx/spa_api.conf: generated by corsgen 0.1.0 (a marker without a body" in err
    assert run(capsys)[0] == 0 and "# mine" not in path.read_text()


def test_a_marker_with_a_version_but_no_body_hash_was_never_corsgens(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # version= came after body=: no corsgen wrote this, so it is not re-rendered without --force.
    run(capsys)
    path = repo / "deploy" / "nginx" / "api.conf"
    path.write_text(re.sub(r" body=\S+", "", path.read_text(), count=1))
    assert marker.parse_marker(path.read_text()) is None
    code, _, err = run(capsys)
    assert code == 1 and "not generated by corsgen (--force)" in err
