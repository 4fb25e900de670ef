"""Bounded cost for every input (docs/limits.md, "Bounds"): a policy or manifest file of up to
64 MiB holding a key, value, name or glob of any length is refused in a few seconds and a few
hundred MiB, with one short line per finding, under a memory cap."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from corsgen.cli import main
from corsgen.limits import MAX_FINDINGS
from testing.bounded import run_capped

ORIGINS = 'allow_origins = ["https://app.example.com"]\n'
OUTPUTS = '[[outputs]]\npolicies = ["{glob}"]\ntargets = ["nginx"]\nout_dir = "{out_dir}"\n'
SECONDS = 10  # measured at about 1.5 s for 60 MB on the 2-core machine; CI shares its cores
MB = 1_000_000


def _outputs(glob: str = "cors/*.toml", out_dir: str = "deploy") -> str:
    return OUTPUTS.replace("{glob}", glob).replace("{out_dir}", out_dir)


def _escapes(text: str) -> str:
    return "\\U0001F600" * (len(text) // 10)


# (file, its text for a long part of `size` characters, the command, the rule that refuses it)
CASES: dict[str, tuple[str, Callable[[str], str], str]] = {
    "policy-key": ("api.toml", lambda long: f"{ORIGINS}{long} = 1\n", "CG002"),
    "policy-quoted-key": ("api.toml", lambda long: f'{ORIGINS}"{long}\\u00e9" = 1\n', "CG002"),
    "policy-table": ("api.toml", lambda long: f"{ORIGINS}[{long}]\nx = 1\n", "CG002"),
    # Each escape decoded on its own: 32 million \" took 17 s and 700 MB (the red team).
    "policy-escaped-key": ("api.toml", lambda text: f'{ORIGINS}"{_escapes(text)}" = 1\n', "CG120"),
    "policy-escaped-value": (
        "api.toml",
        lambda text: f'{ORIGINS}x = "{_escapes(text)}"\n',
        "CG120",
    ),
    "policy-name": ("api.toml", lambda long: f'{ORIGINS}name = "{long}"\n', "CG116"),
    "policy-origin": ("api.toml", lambda long: f'allow_origins = ["https://{long}"]\n', "CG120"),
    "policy-regex": (
        "api.toml",
        lambda long: f'allow_origins = []\nallow_origin_regex = "https://{long}"\n',
        "CG120",
    ),
    "manifest-key": ("corsgen.toml", lambda long: f"{_outputs()}{long} = 1\n", "CG002"),
    "manifest-glob": ("corsgen.toml", lambda long: _outputs(glob=f"cors/{long}*.toml"), "CG305"),
    "manifest-stars": (
        "corsgen.toml",
        lambda long: _outputs(glob="*a" * (len(long) // 2)),
        "CG305",
    ),
    "manifest-out-dir": ("corsgen.toml", lambda long: _outputs(out_dir=long), "CG305"),
}


def _command(path: Path) -> list[str]:
    if path.name == "corsgen.toml":
        return ["sync", "--check", "--manifest", str(path)]
    return ["check", str(path)]


def _refused_briefly(tmp_path: Path, name: str, text: str, rule: str | None) -> None:
    (tmp_path / "cors").mkdir(exist_ok=True)
    (tmp_path / "cors" / "api.toml").write_text(ORIGINS)
    path = tmp_path / name
    path.write_text(text)
    run = run_capped(*_command(path), cwd=tmp_path)
    assert run.code in (0, 1), run.err[-2000:]
    assert "Traceback" not in run.err and "MemoryError" not in run.err
    assert all(len(line) < 2_000 for line in run.err.splitlines())
    assert run.seconds < SECONDS
    if rule is not None:
        assert run.code == 1 and f" {rule} " in run.err, run.err[:2000]


@pytest.mark.parametrize("case", CASES)
def test_a_long_part_is_refused_in_bounded_time_and_memory(tmp_path: Path, case: str) -> None:
    name, text, rule = CASES[case]
    size = 60 * MB if case in ("policy-key", "manifest-key") else 8 * MB  # the review's 60 MB
    _refused_briefly(tmp_path, name, text("a" * size), rule)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    case=st.sampled_from(sorted(CASES)),
    size=st.integers(1, 4 * MB),
    char=st.sampled_from(["a", "-", "\u00e9", "\\\\", "\u4e00", "*"]),
)
def test_any_length_of_any_part_costs_a_bounded_time(
    tmp_path: Path, case: str, size: int, char: str
) -> None:
    name, text, _ = CASES[case]
    _refused_briefly(tmp_path, name, text(char * size), None)


def test_many_findings_are_a_screenful_and_a_count(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """100,000 origins one rule flags printed 100,001 lines, 40 MB (the red team)."""
    origins = ", ".join(f'"http://t{i}.example.com"' for i in range(2_000))
    (tmp_path / "api.toml").write_text(f"allow_origins = [{origins}]\n")
    for argv, code in ((["check"], 0), (["check", "--strict"], 1)):
        assert main([*argv, str(tmp_path / "api.toml")]) == code
        err = capsys.readouterr().err
        assert len([line for line in err.splitlines() if "CG201" in line]) == MAX_FINDINGS
        assert "api.toml: and 1,950 more findings; fix those above first" in err
