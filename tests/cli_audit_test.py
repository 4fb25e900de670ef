"""`corsgen audit`, `corsgen import` and `check --format` from the command line, each target's
model stood in for by a scripted one (testing/fake_routes.py): the target inferred from the
files, exit codes, the three formats, --policy, and the files import writes."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from corsgen.cli import main
from corsgen.routing import Routes
from corsgen.targets import TARGETS
from corsgen.targets.base import Loaded, Target
from testing.fake_routes import Block, Cors, FakeConfig

LINES = {"origin": 5, "credentials": 6, "methods": 7, "headers": 8, "max_age": 9, "vary": 10}
GOOD = Cors(LINES, origins=("https://app.example.com",), credentials=True, methods=("GET", "PUT"))
CONFIGS = {
    "correct": [Block(1, "/"), Block(3, "/api/", cors=GOOD)],
    "warning": [Block(1, "/"), Block(3, "/api/", cors=Cors(LINES, origins=GOOD.origins,
                                                            vary=False))],
    "error": [Block(1, "/"), Block(3, "/api/", cors=Cors(LINES, origins=GOOD.origins,
                                                          always=False))],
}  # fmt: skip
API = 'name = "api"\nallow_origins = ["https://app.example.com"]\n'


def modelled(
    monkeypatch: pytest.MonkeyPatch, blocks: Sequence[Block], target: str = "nginx"
) -> None:
    """The target reads any config as `blocks`; import holds its output to the promise (the
    output's own config would be read as `blocks` too)."""

    def routes(self: Target, configs: Sequence[Path]) -> Loaded:
        model: Routes = FakeConfig(list(blocks))
        return Loaded(model, [])

    monkeypatch.setattr(type(TARGETS[target]), "routes", routes)
    monkeypatch.setattr(type(TARGETS[target]), "in_place", Target.in_place)


def claimed_by(monkeypatch: pytest.MonkeyPatch, *names: str) -> None:
    """Only these targets claim a file that says `server`."""
    for name, target in TARGETS.items():
        claims: Callable[[Target, str], bool] = (
            (lambda self, text: "server" in text) if name in names else (lambda self, text: False)
        )
        monkeypatch.setattr(type(target), "claims", claims)


@pytest.fixture
def conf(tmp_path: Path) -> Path:
    path = tmp_path / "site.conf"
    path.write_text("server {}\n")
    return path


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(("name", "code"), [("correct", 0), ("warning", 0), ("error", 1)])
def test_audit_exits_1_on_an_error_finding_only(
    name: str,
    code: int,
    conf: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    modelled(monkeypatch, CONFIGS[name])
    result, out, err = _run(capsys, "audit", str(conf), "-t", "nginx")
    assert result == code
    findings = [line for line in err.splitlines() if line.startswith("site.conf:")]
    assert len(findings) == {"correct": 0, "warning": 1, "error": 1}[name]
    if name == "warning":
        assert findings[0].startswith("site.conf:3: warning CG413 vary-origin-missing: ")
        assert out == f"{conf}: ok (1 warning(s) above)\n"
    if name == "error":
        assert findings[0].startswith("site.conf:3: error CG412 cors-missing-on-errors: ")
        assert err.endswith(f"corsgen: 1 problem(s) in {conf} and what it includes\n")
    if name == "correct":
        assert (out, err) == (f"{conf}: ok\n", "")


def test_audit_infers_the_one_target_that_claims_the_file(
    conf: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    name = list(TARGETS)[2]
    modelled(monkeypatch, CONFIGS["error"], name)
    claimed_by(monkeypatch, name)
    code, _, err = _run(capsys, "audit", str(conf))
    assert code == 1 and "CG412 cors-missing-on-errors" in err


@pytest.mark.parametrize("claiming", [(), tuple(TARGETS)[:2]])
def test_audit_names_target_when_it_cannot_tell(
    claiming: tuple[str, ...],
    conf: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    claimed_by(monkeypatch, *claiming)
    code, _, err = _run(capsys, "audit", str(conf))
    assert code == 2 and "name it with --target" in err
    assert (" or ".join(claiming) if claiming else "no target recognises it") in err


def test_audit_writes_json_and_sarif_on_stdout(
    conf: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    modelled(monkeypatch, CONFIGS["error"])
    code, out, _ = _run(capsys, "audit", str(conf), "-t", "nginx", "--format", "json")
    (finding,) = json.loads(out)["findings"]
    assert code == 1 and (finding["file"], finding["line"], finding["rule"]) == (
        "site.conf",
        3,
        "CG412",
    )
    assert finding["requests"] and finding["request_count"] == len(finding["requests"])
    code, out, _ = _run(capsys, "audit", str(conf), "-t", "nginx", "--format", "sarif")
    log = json.loads(out)
    assert code == 1 and log["version"] == "2.1.0"
    assert [r["ruleId"] for r in log["runs"][0]["results"]] == ["CG412"]


def test_audit_holds_the_config_to_a_policy(
    conf: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    wider = Cors(LINES, origins=("https://app.example.com", "https://old.example.com"))
    modelled(monkeypatch, [Block(1, "/"), Block(3, "/api/", cors=wider)])
    policy = tmp_path / "api.toml"
    policy.write_text(API)
    code, _, err = _run(capsys, "audit", str(conf), "-t", "nginx", "--policy", str(policy))
    assert code == 1 and "site.conf:5: error CG422 policy-differs: " in err
    other = tmp_path / "other.toml"
    other.write_text(API.replace('"api"', '"other"'))
    argv = ["audit", str(conf), "-t", "nginx", "-p", str(policy), "-p", str(other)]
    code, _, err = _run(capsys, *argv)
    assert code == 2 and "no snippet in the config names api, other" in err


@pytest.mark.parametrize("kind", ["json", "sarif"])
def test_check_writes_json_and_sarif(
    kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good, bad = tmp_path / "good.toml", tmp_path / "bad.toml"
    good.write_text(API + "max_age = 9000\n")
    bad.write_text('allow_origins = ["*"]\nallow_credentials = true\n')
    code, out, err = _run(capsys, "check", "--format", kind, str(good), str(bad))
    assert code == 1 and err == "corsgen: 1 of 2 policies refused\n"
    document = json.loads(out)
    if kind == "json":
        found = {(f["file"], f["rule"], f["severity"]) for f in document["findings"]}
    else:
        found = {
            (
                r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
                r["ruleId"],
                r["level"],
            )
            for r in document["runs"][0]["results"]
        }
    # At the path as given (absolute here: a file: URI in SARIF), not the text lines' name.
    where = str(good) if kind == "json" else f"file://{good}"
    assert (where, "CG202", "warning") in found
    assert any(r == "CG101" and s == "error" for _, r, s in found)
    assert main(["check", "--format", kind, str(good)]) == 0
    assert main(["check", "--format", kind, "--strict", str(good)]) == 1


def test_import_writes_each_policy_once_and_never_the_config(
    conf: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    modelled(monkeypatch, CONFIGS["error"])
    out_dir = tmp_path / "cors"
    code, out, _ = _run(capsys, "import", str(conf), "-t", "nginx", "-o", str(out_dir))
    written = out_dir / "api_api.toml"
    assert code == 0 and written.exists() and conf.read_text() == "server {}\n"
    assert out.splitlines()[0] == f"{written}: location /api/ at site.conf:3 (host api.example.com)"
    assert "  rendering it changes error answers that gain their CORS headers: " in out
    assert main(["check", str(written)]) == 0
    code, _, err = _run(capsys, "import", str(conf), "-t", "nginx", "-o", str(out_dir))
    assert code == 1 and err == f"corsgen: refusing to overwrite {written}; nothing was written\n"


def test_import_says_what_it_dropped_when_it_imports_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A grant of nothing corsgen accepts (a regex anchored at the end only): no file, the
    reason, and the regex that was dropped and why, at its line; a site of any host is said so."""
    config = Path(__file__).parent / "audit" / "corpus" / "haproxy" / "suffix-match.cfg"
    code, out, _ = _run(capsys, "import", str(config), "-o", str(tmp_path / "cors"))
    assert code == 0 and not (tmp_path / "cors").exists()
    nothing, dropped = out.splitlines()
    assert nothing == (
        f"frontend web at {config}:10 (any host): nothing imported: "
        "corsgen accepts none of the origins or regexes it grants"
    )
    assert dropped == (
        rf"  dropped: the origin regex example\.com$ at {config}:13 is "
        "dropped: corsgen cannot prove that it admits only origins it names"
    )


@pytest.mark.parametrize(
    ("target", "config"),
    [
        ("nginx", 'events {}\nhttp { include "/etc/x\0y.conf"; }\n'),
        ("caddy", ":8080 {\n\timport /etc/x\0y\n\trespond 200\n}\n"),
        ("haproxy", 'defaults\n\tmode http\n\terrorfile 503 "/etc/x\0y"\n'),
    ],
)
@pytest.mark.parametrize("command", ["audit", "import"])
def test_an_include_whose_name_holds_a_nul_is_one_line(
    command: str, target: str, config: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """os.stat raises ValueError on a NUL, which was exit 3 with a traceback file."""
    path = tmp_path / "site.conf"
    path.write_text(config)
    out_dir = ("-o", str(tmp_path / "cors")) if command == "import" else ()
    code, _, err = _run(capsys, command, str(path), "-t", target, *out_dir)
    assert code == 1 and "CG401" in err and "internal error" not in err, err


def test_a_doubled_end_anchor_is_audited_and_imported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`^https://(app|admin).example.com$$` (an HAProxy ACL): the samplers were handed a $ and
    both commands exited 3."""
    text = Path(__file__).parent / "audit" / "corpus" / "haproxy" / "unanchored-regex.cfg"
    config = tmp_path / "haproxy.cfg"
    config.write_text(
        text.read_text().replace(
            r"-m reg -i https?://(www\.)?app\.example.com", r"-m reg ^https://app.example.com$$"
        )
    )
    assert _run(capsys, "audit", str(config))[0] == 1
    code, out, _ = _run(capsys, "import", str(config), "-o", str(tmp_path / "cors"))
    assert (
        code == 0
        and 'allow_origins = ["https://app.example.com"]'
        in (tmp_path / "cors" / "site_web.toml").read_text()
    ), out


@pytest.mark.parametrize("command", ["audit", "import"])
def test_a_class_python_would_warn_of_prints_no_warning(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """[[ in a config's class: Python's re printed a FutureWarning, with a line of our source."""
    import warnings

    config = tmp_path / "site.conf"
    config.write_text(
        "events {}\nhttp { server { listen 8080; location /api/ {\n"
        # a regex of this test's own: one compiled before (re's cache, the model's) warns no more
        f'    if ($http_origin ~ "^https://[[{command}]\\.com$") {{ set $cors $http_origin; }}\n'
        "    add_header Access-Control-Allow-Origin $cors always;\n    return 200 ok;\n} } }\n"
    )
    out_dir = ("-o", str(tmp_path / "cors")) if command == "import" else ()
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        _run(capsys, command, str(config), "-t", "nginx", *out_dir)
    assert [str(w.message) for w in shown] == []


def test_a_config_named_twice_is_read_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`corsgen import a.cfg ./a.cfg` imports each place once: it wrote site_web and site_web_2."""
    config = Path(__file__).parent / "audit" / "corpus" / "haproxy" / "correct-allowlist.cfg"
    monkeypatch.chdir(config.parent)
    code, out, _ = _run(capsys, "import", config.name, f"./{config.name}", "-o", str(tmp_path))
    assert code == 0
    assert [p.name for p in tmp_path.iterdir()] == ["site_web.toml"], out


def test_import_refuses_a_config_the_server_would_not_load(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`Include conf.d/*.conf` of an empty conf.d: httpd does not start, so the config grants
    nothing today; import said nothing of it and wrote policies (red team)."""
    (tmp_path / "conf.d").mkdir()
    config = tmp_path / "site.conf"
    config.write_text(
        f"Include {tmp_path}/conf.d/*.conf\n<VirtualHost 127.0.0.1:8080>\n"
        '    Header always set Access-Control-Allow-Origin "https://app.example.com"\n'
        "</VirtualHost>\n"
    )
    code, out, err = _run(capsys, "import", str(config), "-t", "apache", "-o", str(tmp_path / "o"))
    assert (code, out) == (1, "")
    assert "CG401" in err and "no file matches" in err
    assert not (tmp_path / "o").exists()
