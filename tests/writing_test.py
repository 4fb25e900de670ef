"""writing.write_atomically stopped half-way by Ctrl-C: nothing changed, nothing left behind."""

from __future__ import annotations

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
