"""The audit on every corpus config: it reports each planted flaw at its line and nothing else.

Every target with a directory under tests/audit/corpus/ (the directory's name is the target's)
is audited in-process, config by config, as `corsgen audit CONFIG --target NAME` reads it, and
the set of (file, line, slug) it reports is held to the `# expect-next: SLUG[, SLUG]` markers
(routing.py): a marker no finding answers is missing, a finding no marker names is extra. The
model tests (tests/audit/NAME_routing_test.py) hold each model to its real server, so a finding
here is a claim about what that server answers.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from corsgen.cli.audit import found
from corsgen.targets import by_name
from testing.model_diff import marked

CORPUS = Path(__file__).parent / "corpus"


@dataclass(frozen=True)
class Layout:
    """Which entries at the top of a target's corpus are configs (each corpus README says so):
    the files matching `config`, and when `directories`, each directory as one config of its
    files matching `config`, `main` read last (Traefik's file provider directory, HAProxy's -f
    files). Other entries are what configs include or serve (snippets, a document root)."""

    config: str
    directories: bool = False
    main: str | None = None
    # Placeholders the model tests fill, which decide what the audit sees (a document root whose
    # files exist), filled with the path of the corpus's copy.
    fill: tuple[str, ...] = ()
    env: tuple[str, ...] = ()  # environment variables the config reads it from (Caddy's {$NAME})


LAYOUTS = {
    "nginx": Layout("*.conf", fill=("ROOT",)),
    "apache": Layout("*.conf", fill=("/srv/corsgen",)),
    "caddy": Layout("*.Caddyfile", env=("CORSGEN_CORPUS",)),
    "haproxy": Layout("*.cfg", directories=True, main="haproxy.cfg"),
    "traefik": Layout("*", directories=True),
    "envoy": Layout("*.yaml", directories=True),
}


def _files(entry: Path, layout: Layout, copy: Path) -> list[Path]:
    """The files one config is read from, the main one last, in the corpus's copy at `copy`
    with the layout's placeholders filled."""
    copied = copy / entry.name
    files = [copied] if copied.is_file() else sorted(copied.glob(layout.config))
    files = sorted((p for p in files if p.is_file()), key=lambda p: p.name == layout.main)
    for file in files:
        text = file.read_text()
        for placeholder in layout.fill:
            text = text.replace(placeholder, str(copy))
        file.write_text(text)
    return files


def _configs() -> list[tuple[str, Path]]:
    """(target, entry) for every config of every corpus; a corpus of a target without a layout
    is one config that fails, asking for it."""
    found_ = []
    for corpus in sorted(p for p in CORPUS.iterdir() if p.is_dir()):
        layout = LAYOUTS.get(corpus.name)
        if layout is None:
            found_.append((corpus.name, corpus))
            continue
        for entry in sorted(corpus.iterdir()):
            if (entry.is_file() and entry.match(layout.config)) or (
                entry.is_dir() and layout.directories
            ):
                found_.append((corpus.name, entry))
    return found_


CONFIGS = _configs()


def _shown(file: str, line: int | None, slug: str, root: Path) -> str:
    name = Path(file).resolve()
    where = str(name.relative_to(root)) if name.is_relative_to(root) else str(name)
    return f"{where}:{line if line is not None else '-'} {slug}"


@pytest.mark.parametrize(("target", "entry"), CONFIGS, ids=[f"{t}/{e.name}" for t, e in CONFIGS])
def test_the_audit_reports_each_planted_flaw_at_its_line_and_nothing_else(
    target: str, entry: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    layout = LAYOUTS.get(target)
    assert layout is not None, f"add a Layout for {target} (its corpus is {entry})"
    copy = tmp_path / target
    shutil.copytree(entry.parent, copy)
    files = _files(entry, layout, copy)
    for name in layout.env:
        monkeypatch.setenv(name, str(copy))
    assert files, f"{entry} holds no config"
    result = found(files, by_name(target), [])
    got = {
        (str(Path(r.finding.file).resolve()), r.finding.line, r.finding.slug): r
        for r in result.findings
    }
    # Markers in the config's own files, and in any other file the audit reports a finding in
    # (an include: its markers are expected wherever a config reads it).
    read = {Path(f).resolve() for f, _, _ in got} | {p.resolve() for p in files}
    read = {p for p in read if p.is_relative_to(copy.resolve())}
    expected = {
        (str(Path(at.file).resolve()), at.line, slug.strip())
        for at, slugs in marked(sorted(read)).items()
        for slug in slugs.split(",")
    }
    root = copy.resolve()
    missing = sorted(_shown(*key, root) for key in expected - got.keys())
    extra = sorted(
        f"{_shown(*key, root)} {got[key].finding.rule_id}: {got[key].finding.message}"
        for key in got.keys() - expected
    )
    report = [f"missing (marked, not reported): {m}" for m in missing]
    report += [f"extra (reported, not marked): {e}" for e in extra]
    assert not report, f"{target}/{entry.name}:\n  " + "\n  ".join(report)
