"""`corsgen import` of Ingress manifests from the command line: a policy per Ingress that enables
CORS, each passing `corsgen check`, all written or none, never over a file; what it prints."""

from __future__ import annotations

from pathlib import Path

import pytest

from corsgen.cli import main
from testing.ingress_nginx import CORPUS

FILES = sorted(p.name for p in CORPUS.glob("*.yaml"))
# Per file, the Ingresses import writes no policy for: ingress-nginx sends them no CORS.
SKIPPED = {"fail_closed.yaml": 2, "versions.yaml": 1}


@pytest.mark.parametrize("name", FILES)
def test_each_written_policy_passes_check(name: str, tmp_path: Path) -> None:
    out = tmp_path / "cors"
    assert main(["import", str(CORPUS / name), "--out-dir", str(out)]) == 0
    written = sorted(out.glob("*.toml"))
    ingresses = (CORPUS / name).read_text().count("kind: Ingress")
    assert len(written) == ingresses - SKIPPED.get(name, 0)
    for policy in written:
        text = policy.read_text()
        assert "# Imported by `corsgen import` from Ingress shop/" in text
        keys = [line for line in text.splitlines() if line and not line.startswith("#")]
        comments = [line for line in text.splitlines() if line.startswith("# from ")]
        assert len(keys) == len(comments)  # a `# from file:line` above every key
        assert main(["check", str(policy)]) == 0


def test_it_writes_all_or_none_and_never_overwrites(tmp_path: Path) -> None:
    out = tmp_path / "cors"
    out.mkdir()
    (out / "api_defaults.toml").write_text("# mine\n")
    assert main(["import", str(CORPUS / "basics.yaml"), "--out-dir", str(out)]) == 1
    assert sorted(p.name for p in out.iterdir()) == ["api_defaults.toml"]
    assert (out / "api_defaults.toml").read_text() == "# mine\n"


def test_it_prints_what_differs_and_each_widening(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["import", str(CORPUS / "basics.yaml"), "--out-dir", str(tmp_path)]) == 0
    said = capsys.readouterr().out
    assert "basics.yaml:43: cors-allow-origin: (missing): every origin is allowed" in said
    assert "WIDENS: ingress2gateway's filter lets a page read more than ingress-nginx" in said
    assert "WIDENS: corsgen" not in said


@pytest.mark.parametrize(
    ("more", "code"),
    [(["--target", "nginx"], 2), ([], 2)],
    ids=["target", "mixed"],
)
def test_usage_errors(more: list[str], code: int, tmp_path: Path) -> None:
    other = tmp_path / "site.conf"
    other.write_text("server { listen 80; }\n")
    files = [str(CORPUS / "basics.yaml")] + ([str(other)] if not more else [])
    assert main(["import", *files, *more, "--out-dir", str(tmp_path / "cors")]) == code
    assert not (tmp_path / "cors").exists()


def test_no_ingress_enabling_cors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plain = tmp_path / "plain.yaml"
    plain.write_text("apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: a\n")
    assert main(["import", str(plain), "--out-dir", str(tmp_path / "cors")]) == 0
    assert "no Ingress enables ingress-nginx's CORS" in capsys.readouterr().out


def test_it_says_what_it_left_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Past MAX_SCOPES Ingresses with CORS, the first are imported and the rest counted."""
    import corsgen.audit.engine
    import corsgen.ingress.importing

    monkeypatch.setattr(corsgen.audit.engine, "MAX_SCOPES", 2)
    monkeypatch.setattr(corsgen.ingress.importing, "MAX_SCOPES", 2)
    out = tmp_path / "cors"
    assert main(["import", str(CORPUS / "basics.yaml"), "--out-dir", str(out)]) == 0
    assert len(list(out.glob("*.toml"))) == 2
    assert "the first 2 of 3 Ingresses with CORS; the other 1 are not imported" in (
        capsys.readouterr().err
    )
