"""writing: a write stopped half-way by Ctrl-C changes nothing; an out_dir that cannot be reached
is refused in one line."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from corsgen import writing


def test_ctrl_c_half_way_through_a_write_undoes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a.conf").write_text("old a\n")
    (tmp_path / "gone.conf").write_text("old gone\n")
    replace = writing._Transaction.replace
    calls = []

    def interrupted(
        self: writing._Transaction, staged: Path, path: Path, backup: Path | None
    ) -> None:
        calls.append(path)
        if len(calls) == 2:  # the first file is in place, the second not yet
            raise KeyboardInterrupt
        replace(self, staged, path, backup)

    monkeypatch.setattr(writing._Transaction, "replace", interrupted)
    files = {tmp_path / "a.conf": "new a\n", tmp_path / "b.conf": "new b\n"}
    with pytest.raises(KeyboardInterrupt):
        writing.write_atomically(files, remove=[tmp_path / "gone.conf"])
    assert len(calls) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.conf", "gone.conf"]
    assert (tmp_path / "a.conf").read_text() == "old a\n"


class _LateInterrupt:
    """The os module, but the n-th call of one function raises KeyboardInterrupt after it returns:
    Python raises a Ctrl-C that came during a system call as that call returns."""

    def __init__(self, function: str, nth: int) -> None:
        self.function, self.nth, self.calls = function, nth, 0

    def __getattr__(self, name: str) -> object:
        real = getattr(os, name)
        if name != self.function:
            return real

        def late(*args: object, **kwargs: object) -> object:
            result = real(*args, **kwargs)
            self.calls += 1
            if self.calls == self.nth:
                raise KeyboardInterrupt
            return result

        return late


def _tree(root: Path) -> dict[str, str | None]:
    return {
        str(p.relative_to(root)): p.read_text() if p.is_file() else None
        for p in sorted(root.rglob("*"))
    }


@pytest.mark.parametrize("nth", [1, 2, 3])
@pytest.mark.parametrize("function", ["open", "link", "replace", "unlink", "mkdir"])
def test_ctrl_c_as_a_system_call_returns_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, function: str, nth: int
) -> None:
    """A Ctrl-C during os.replace left the new file in place and deleted the old one's backup;
    during the os.open of a staged file, an empty hidden .tmp stayed behind (the red team)."""
    (tmp_path / "a.conf").write_text("old a\n")
    (tmp_path / "c.conf").write_text("old c\n")
    (tmp_path / "gone.conf").write_text("old gone\n")
    before = _tree(tmp_path)
    files = {
        tmp_path / "a.conf": "new a\n",
        tmp_path / "c.conf": "new c\n",
        tmp_path / "sub" / "deeper" / "b.conf": "new b\n",
    }
    late = _LateInterrupt(function, nth)
    monkeypatch.setattr(writing, "os", late)
    try:
        writing.write_atomically(files, remove=[tmp_path / "gone.conf"])
    except KeyboardInterrupt:
        assert _tree(tmp_path) == before
    else:
        assert late.calls < nth, "the write ran to its end"
        assert _tree(tmp_path) == {
            "a.conf": "new a\n",
            "c.conf": "new c\n",
            "sub": None,
            "sub/deeper": None,
            "sub/deeper/b.conf": "new b\n",
        }


def _hostile_out_dir(tmp_path: Path, kind: str) -> tuple[str, str]:
    """An out_dir that cannot be written, and the reason corsgen gives (the red team)."""
    if kind == "symlink-loop":
        (tmp_path / "loop").symlink_to("loop")
        return "loop", "cannot write into loop: it is a symlink loop"
    if kind == "inside-a-symlink-loop":
        (tmp_path / "loop").symlink_to("loop")
        return "loop/x", "cannot write into loop/x: it is a symlink loop"
    if kind == "dangling-symlink":
        (tmp_path / "gone").symlink_to("nowhere")
        return "gone", "cannot write gone/spa_api.conf: gone is a symlink to nowhere"
    name = "d" * 300
    return name, f"cannot list {name}: File name too long"


@pytest.mark.parametrize(
    "kind", ["symlink-loop", "inside-a-symlink-loop", "dangling-symlink", "name-too-long"]
)
def test_render_out_dir_refuses_a_directory_it_cannot_reach_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    """Each was an internal error (exit 3) or a baffling "File exists" (the red team)."""
    from corsgen.cli import main
    from testing.paths import EXAMPLES

    monkeypatch.chdir(tmp_path)
    out_dir, why = _hostile_out_dir(tmp_path, kind)
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(["render", str(EXAMPLES / "spa-api.toml"), "-t", "nginx", "-o", out_dir]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"corsgen: {why}") and err.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == before


@pytest.mark.parametrize("check", [False, True])
def test_sync_into_a_symlink_loop_is_refused_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], check: bool
) -> None:
    from corsgen.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "cors").mkdir()
    (tmp_path / "cors" / "api.toml").write_text('allow_origins = ["https://app.example.com"]\n')
    (tmp_path / "corsgen.toml").write_text(
        '[[outputs]]\npolicies = ["cors/*.toml"]\ntargets = ["nginx"]\nout_dir = "loop"\n'
    )
    (tmp_path / "loop").symlink_to("loop")
    argv = ["sync", "--allow-outside", *(["--check"] if check else [])]
    assert main(argv) == 1
    assert capsys.readouterr().err == (
        f"corsgen: cannot write into {tmp_path / 'loop'}: it is a symlink loop; "
        "nothing was written\n"
    )
