"""Manifest globs: pathlib's meaning, one walk, bounded work whatever the pattern."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corsgen import globbing
from corsgen.cli import main
from corsgen.globbing import Budget, GlobRefused, expand
from corsgen.limits import MAX_GLOB_ENTRIES
from testing.bounded import cpu_seconds, frozen_heap

NAMES = ("a", "b", ".h", "x.toml", "y.txt", "ab.toml")
PARTS = ("*", "**", "?", "*.toml", "a", "b", "[ab]", "[!a]*", ".h", "x.toml", "a*", "?b.toml")
# A tree: each path a file, its parents directories (a name is never both in one tree).
trees = st.lists(
    st.lists(st.sampled_from(NAMES[:3]), max_size=3)
    .map(tuple)
    .flatmap(lambda dirs: st.sampled_from(NAMES[3:]).map(lambda leaf: (*dirs, leaf))),
    min_size=1,
    max_size=8,
)
patterns = st.lists(st.sampled_from(PARTS), min_size=1, max_size=5).map("/".join)


@settings(max_examples=300, deadline=None)
@given(trees, patterns)
def test_a_glob_matches_what_pathlib_matches(tree: list[tuple[str, ...]], pattern: str) -> None:
    with tempfile.TemporaryDirectory() as name:
        root = Path(name)
        for path in tree:
            (root.joinpath(*path[:-1])).mkdir(parents=True, exist_ok=True)
            root.joinpath(*path).write_text("")
        expected = sorted(p for p in root.glob(pattern) if p.is_file())
        assert expand(root, pattern, Budget()) == expected


def _chain(root: Path, depth: int) -> Path:
    deepest = root.joinpath(*(f"d{i}" for i in range(depth)))
    deepest.mkdir(parents=True)
    (deepest / "api.toml").write_text('allow_origins = ["https://app.example.com"]\n')
    return deepest / "api.toml"


@pytest.mark.parametrize(
    "pattern",
    ["/".join(["**"] * 7) + "/*.toml", "/".join(["**/d*"] * 6) + "/**/*.toml", "**/" * 40 + "*"],
)
def test_many_double_stars_over_a_deep_tree_take_one_walk(tmp_path: Path, pattern: str) -> None:
    """pathlib took 40 s for seven ** over 26 levels, each further ** multiplying it."""
    policy = _chain(tmp_path, 26)
    with frozen_heap():
        started = time.process_time()
        assert policy in expand(tmp_path, pattern, Budget())
        assert time.process_time() - started < cpu_seconds(0.5)


def test_a_glob_that_reads_too_much_is_refused_with_what_to_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _chain(tmp_path / "cors", 30)
    monkeypatch.setattr(globbing, "MAX_GLOB_ENTRIES", 20)
    with pytest.raises(GlobRefused):
        expand(tmp_path, "**/*.toml", Budget())
    assert expand(tmp_path, "cors/" + "/".join(f"d{i}" for i in range(30)) + "/*.toml", Budget())
    (tmp_path / "corsgen.toml").write_text(
        '[[outputs]]\npolicies = ["**/*.toml"]\ntargets = ["nginx"]\nout_dir = "deploy"\n'
    )
    assert main(["sync", "--check", "--manifest", str(tmp_path / "corsgen.toml")]) == 1
    err = capsys.readouterr().err
    assert "CG305 bad-path: '**/*.toml': the manifest's globs read more than 20 files" in err
    assert "start the glob with the directory that holds the policies" in err


@pytest.mark.parametrize(
    "pattern",
    [
        "**/*.toml",
        "cors/*/*.toml",
        "cors/*/**/*.toml",
        "*/*/*/*.toml",
        "cors/**/x/*.toml",
        "**/loop/*.toml",
        "cors/*/",
        "cors/*.toml/",
    ],
)
def test_symlinked_directories_and_trailing_slashes_as_pathlib_reads_them(
    tmp_path: Path, pattern: str
) -> None:
    """pathlib's ** never enters a symlink to a directory, and a part that names one does; a glob
    ending in / names directories."""
    (tmp_path / "cors" / "real" / "x").mkdir(parents=True)
    (tmp_path / "other" / "x").mkdir(parents=True)
    for path in ("cors/api.toml", "cors/real/r.toml", "cors/real/x/y.toml", "other/x/o.toml"):
        (tmp_path / path).write_text("")
    (tmp_path / "cors" / "linked").symlink_to(tmp_path / "other")
    (tmp_path / "cors" / "loop").symlink_to(tmp_path / "cors")
    expected = sorted(p for p in tmp_path.glob(pattern) if p.is_file())
    assert expand(tmp_path, pattern, Budget()) == expected


def test_a_glob_of_many_parts_is_refused_before_it_walks(tmp_path: Path) -> None:
    """400 levels of **/*/ over a tree 400 deep took 4.56 GB (the red team)."""
    with pytest.raises(GlobRefused) as info:
        expand(tmp_path, "tree/" + "**/*/" * 400 + "*.toml", Budget())
    assert info.value.violation.case == "glob-parts"
    assert expand(tmp_path, "tree/" + "**/*/" * 7 + "*.toml", Budget()) == []


def test_the_widest_deepest_walk_stays_within_its_share_of_the_bound(tmp_path: Path) -> None:
    """A quarter of MAX_GLOB_ENTRIES, each directory carrying every part of a 16-part glob: a
    quarter of the second and a half the limits allow."""
    level = tmp_path
    for _ in range(16):
        for sibling in range(MAX_GLOB_ENTRIES // 4 // 16):
            (level / f"s{sibling}").mkdir(parents=True)
        level = level / "d"
    level.mkdir()
    (level / "api.toml").write_text("")
    with frozen_heap():
        started = time.process_time()
        assert expand(tmp_path, "**/*/" * 7 + "*.toml", Budget()) == [level / "api.toml"]
        # Twice that, for a slower machine.
        assert time.process_time() - started < cpu_seconds(1.5 / 4 * 2)
