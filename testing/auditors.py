"""The auditors on the nginx corpus (tests/audit/corpus/nginx/): what gixy-ng and `corsgen audit`
each report on every config, beside the flaws planted in it, as the committed comparison
(corpus/nginx/auditors.json) that the README's table is generated from (docs/gen.py) and
tests/audit/nginx_gixy_test.py holds to a fresh run; with what Semgrep and Checkov found when run
by hand (SEMGREP, OTHERS below), and why Trivy is not run.

`python -m testing.auditors` runs gixy-ng and the audit again and rewrites auditors.json.

gixy-ng reads a whole nginx.conf: each corpus config is copied with its placeholders filled (as
the model test does; nothing is served) and included in http {} of a wrapper of its own, and one
gixy-ng run, in its JSON format and with its default options, reads every wrapper. A gixy-ng
finding is about CORS by the rules of RELATED, which also name the audit's rules that report the
same flaw and where (the test checks each CORS finding of gixy-ng's is one of the audit's there).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import re
import shutil
import subprocess
import sysconfig
import tempfile
from collections.abc import Mapping, Sequence
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import asdict, dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

from corsgen.audit.engine import PLACED_AT
from corsgen.cli import main
from testing.paths import ROOT

CORPUS = ROOT / "tests" / "audit" / "corpus" / "nginx"
RESULTS = CORPUS / "auditors.json"
GIXY = Path(sysconfig.get_path("scripts"), "gixy")
# What the placeholders become: nothing listens, only the files under ROOT must be there.
PORT, UPSTREAM = "8080", "127.0.0.1:9"
_WRAPPER = ".gixy.nginx"  # the suffix of each config's wrapper nginx.conf
_PLANTED = re.compile(r"^\s*# expect-next:(.*)$")
# A line that sets a CORS header (gixy-ng names the directive, not the header, in its reason).
_CORS_HEADER = r"^\s*(?:add_header|more_set_headers)\b.*access-control-"


@dataclass(frozen=True)
class Related:
    """When a finding of one gixy-ng plugin is about CORS, and the audit's rules that report the
    same flaw, `where` it says so:
    - "line": at the line gixy-ng names;
    - "nested": at a block nested in the one whose add_header gixy-ng names, that has add_header
      lines of its own (gixy-ng names the parent's first add_header; the nested block drops it);
    - "block": at the block that holds the directive gixy-ng names, or at one of its lines."""

    plugin: str
    read: str  # what `pattern` is searched in: "reason" (gixy-ng's), "line" (the config's line
    # gixy-ng names), "excerpt" (the blocks gixy-ng quotes around it)
    pattern: str  # case-insensitive
    rules: tuple[str, ...]  # the audit's rule ids; () where it has none yet (a gap)
    where: str
    flaw: str  # what the finding says, in the README's words (Markdown)
    when: str  # `pattern`'s test, in the README's words (Markdown)


RELATED: tuple[Related, ...] = (
    Related(
        "origins",
        "reason",
        r"as a valid origin\b",
        ("CG411",),
        "line",
        "a regex on Origin or Referer admits untrusted or malformed values",
        "the regex is one of `$http_origin`'s (not `$http_referer`'s)",
    ),
    Related(
        "add_header_redefinition",
        "reason",
        r'"access-control-',
        ("CG402",),
        "nested",
        "a nested `add_header` drops the headers of the block around it",
        "the headers dropped include an `Access-Control-*` one",
    ),
    Related(
        "if_is_evil",
        "line",
        _CORS_HEADER,
        tuple(PLACED_AT),  # whatever the if's answers get wrong
        "block",
        "a directive inside `if` in a location",
        "the directive sets an `Access-Control-*` header",
    ),
    Related(
        "regex_redos",
        "excerpt",
        r"\$http_origin\b",
        ("CG411",),  # CG121's backtracking check is part of CG411's proof
        "line",
        "a regex that can backtrack exponentially",
        "the regex is tested against `$http_origin`",
    ),
    Related(
        "add_header_multiline",
        "line",
        _CORS_HEADER,
        (),
        "line",
        "a header value written over several lines",
        "the header is an `Access-Control-*` one",
    ),
)
BY_PLUGIN = {r.plugin: r for r in RELATED}

# The other auditors: (auditor, how it ran here, what it finds on the corpus). Checkov was
# installed from PyPI and run by hand (`checkov -d` on the filled corpus, 3.3.30): none of its
# frameworks reads an nginx file. Trivy does not run here; what its rules cover is from their
# published lists (shared/reference/proxies-and-scanners.md), not measured. Semgrep: SEMGREP below.
OTHERS: tuple[tuple[str, str, str], ...] = (
    (
        "Checkov 3.3.30",
        "by hand, not by the tests: `checkov -d` on the corpus",
        "nothing: none of its frameworks reads nginx config (0 resources); its CORS checks are "
        "three cloud wildcard checks (CKV_AZURE_57, CKV_AZURE_62, CKV2_AWS_75)",
    ),
    (
        "Trivy",
        "no: Debian has no package, and PyPI's (trivy-py) downloads the binary as it installs, "
        "which nothing here may",
        "not measured: its published checks have no CORS check",
    ),
)


@dataclass(frozen=True, order=True)
class GixyFinding:
    file: str  # relative to the corpus
    line: int
    plugin: str
    severity: str
    cors: bool


@dataclass(frozen=True, order=True)
class AuditFinding:
    file: str  # relative to the corpus
    line: int
    rule: str
    slug: str
    severity: str


@dataclass(frozen=True)
class Compared:
    """One corpus config: its planted flaws, and what each auditor reports on it."""

    planted: tuple[tuple[int, str], ...]
    gixy: tuple[GixyFinding, ...]
    audit: tuple[AuditFinding, ...]


# Semgrep with the registry's nginx rules runs here by hand, never in the tests: Semgrep installs
# from PyPI, but its rules come from semgrep.dev or a checkout of semgrep-rules, neither the
# project's to fetch or commit. `python -m testing.auditors --semgrep SEMGREP RULES WHENCE` (RULES:
# the rules' folder, generic/nginx/security/; WHENCE: where they come from, in words) records its
# matches with each config's sha256; a run without --semgrep keeps them for each config whose text
# is unchanged and drops the others (the table then says it was not run there).
SEMGREP = "semgrep"


def run_semgrep(root: Path, names: Sequence[str], semgrep: Path, rules: Path, whence: str) -> Any:
    """Semgrep's matches on each config (in root): line, rule, whether the line sets a CORS
    header; with the version and the rules it ran."""
    command = [str(semgrep), "scan", "--metrics=off", "--disable-version-check", "--quiet"]
    ran = subprocess.run(
        [*command, "--json", "--config", str(rules), *(str(root / n) for n in names)],
        capture_output=True,
        text=True,
        check=True,
    )
    done = json.loads(ran.stdout)
    assert not done["errors"], done["errors"]
    found: dict[str, list[tuple[int, str, bool]]] = {name: [] for name in names}
    for match in done["results"]:
        name, line = Path(match["path"]).name, match["start"]["line"]
        text = (root / name).read_text().splitlines()[line - 1]
        cors = re.search(_CORS_HEADER, text, re.IGNORECASE) is not None
        found[name].append((line, match["check_id"].rsplit(".", 1)[-1], cors))
    shown = subprocess.run([str(semgrep), "--version"], capture_output=True, text=True, check=True)
    return {
        "version": shown.stdout.strip(),
        "rules": f"{len(list(rules.glob('*.yaml')))} rules: {whence}",
        "configs": {
            name: {"sha256": _digest(name), "found": [list(f) for f in sorted(found[name])]}
            for name in names
        },
    }


def kept(semgrep: Any) -> Any:
    """Semgrep's committed matches, for the configs whose text they were found in."""
    if not semgrep:
        return None
    same = {n: r for n, r in semgrep["configs"].items() if r["sha256"] == _digest(n)}
    return {**semgrep, "configs": same}


def _digest(name: str) -> str:
    path = CORPUS / name
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else ""


def configs() -> list[str]:
    return sorted(p.name for p in CORPUS.glob("*.conf"))


def fill(root: Path) -> None:
    """The corpus copied to root, its placeholders filled (line numbers unchanged)."""
    shutil.copytree(CORPUS, root, dirs_exist_ok=True)
    for name in configs():
        text = (CORPUS / name).read_text()
        text = text.replace("PORT", PORT).replace("UPSTREAM", UPSTREAM)
        (root / name).write_text(text.replace("ROOT", str(root)))


def planted(text: str) -> tuple[tuple[int, str], ...]:
    """(line, slug) of each flaw the config marks: the line after its `# expect-next:`."""
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        marked = _PLANTED.match(line)
        if marked:
            found += [(number + 1, slug.strip()) for slug in marked[1].split(",")]
    return tuple(found)


def related(raw: Mapping[str, object]) -> Related | None:
    """The rule that makes a gixy-ng finding (its JSON) one about CORS, if any."""
    rule = BY_PLUGIN.get(str(raw["plugin"]))
    if rule is None:
        return None
    if rule.read == "line":
        lines = Path(str(raw["file"])).read_text().splitlines()
        number = int(str(raw["line"]))
        text = lines[number - 1] if 0 < number <= len(lines) else ""
    else:
        text = str(raw["reason" if rule.read == "reason" else "config"])
    return rule if re.search(rule.pattern, text, re.IGNORECASE) else None


def run_gixy(root: Path, names: Sequence[str]) -> dict[str, list[GixyFinding]]:
    """Every gixy-ng finding on each config (in root), each marked when it is about CORS."""
    wrappers = []
    for name in names:
        wrapper = root / f"{name}{_WRAPPER}"
        # server_tokens off, as tests/gixy_test.py's wrapper has it: the version nginx names is
        # the wrapper's business, not the corpus's.
        http = f"    server_tokens off;\n    include {root / name};\n"
        wrapper.write_text(f"events {{}}\nhttp {{\n{http}}}\n")
        wrappers.append(str(wrapper))
    ran = subprocess.run(
        [str(GIXY), "--format", "json", *wrappers], capture_output=True, text=True, check=False
    )
    # gixy-ng exits 1 when it finds anything; a config it cannot read would say so on stderr.
    assert ran.returncode in (0, 1) and not ran.stderr.strip(), ran.stderr
    found: dict[str, list[GixyFinding]] = {name: [] for name in names}
    for raw in json.loads(ran.stdout or "[]"):
        name = Path(raw["path"]).name.removesuffix(_WRAPPER)
        cors = related(raw) is not None
        at = _relative(raw["file"], root)
        found[name].append(GixyFinding(at, raw["line"], raw["plugin"], raw["severity"], cors))
    return {name: sorted(findings) for name, findings in found.items()}


def run_audit(root: Path, name: str) -> list[AuditFinding]:
    """`corsgen audit CONFIG --target nginx --format json`, in this process."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(["audit", str(root / name), "--target", "nginx", "--format", "json"])
    assert code in (0, 1), err.getvalue()
    found = [
        AuditFinding(_relative(f["file"], root), f["line"], f["rule"], f["slug"], f["severity"])
        for f in json.loads(out.getvalue())["findings"]
    ]
    return sorted(found)


def _relative(file: str, root: Path) -> str:
    return Path(file).resolve().relative_to(root.resolve()).as_posix()


def compare(root: Path) -> dict[str, Compared]:
    """Both auditors on every config of the corpus, filled in root."""
    fill(root)
    names = configs()
    gixy = run_gixy(root, names)
    return {
        name: Compared(
            planted((CORPUS / name).read_text()),
            tuple(gixy[name]),
            tuple(run_audit(root, name)),
        )
        for name in names
    }


def as_json(compared: Mapping[str, Compared], semgrep: Any = None) -> str:
    """The committed comparison: what docs/gen.py reads."""
    document = {
        "about": "written by `python -m testing.auditors`; tests/audit/nginx_gixy_test.py "
        "holds it to a fresh run",
        "gixy-ng": version("gixy-ng"),
        "related": [asdict(r) for r in RELATED],
        "others": [{"auditor": a, "run here": r, "found": f} for a, r, f in OTHERS],
        SEMGREP: semgrep,
        "configs": {name: asdict(c) for name, c in compared.items()},
    }
    return _INNERMOST.sub(_one_line, json.dumps(document, indent=1)) + "\n"


# A list or object that holds no other (a finding, a planted flaw), to be written on one line.
_INNERMOST = re.compile(r"[\[{]\n[^\[\]{}]*\n *[\]}]")


def _one_line(found: re.Match[str]) -> str:
    text = found[0]
    return text[0] + ", ".join(p.strip() for p in text[1:-1].strip().split(",\n")) + text[-1]


def write(semgrep: tuple[Path, Path, str] | None = None) -> None:
    """Run gixy-ng and the audit again (and Semgrep, when given: its binary, its rules' folder and
    where they come from) and rewrite the committed comparison."""
    previous = json.loads(RESULTS.read_text()).get(SEMGREP) if RESULTS.exists() else None
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        compared = compare(root)
        matches = run_semgrep(root, configs(), *semgrep) if semgrep else kept(previous)
        RESULTS.write_text(as_json(compared, matches))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m testing.auditors", description=__doc__)
    parser.add_argument("--semgrep", nargs=3, metavar=("SEMGREP", "RULES", "WHENCE"))
    given = parser.parse_args().semgrep
    write((Path(given[0]), Path(given[1]), given[2]) if given else None)
    print(f"wrote {RESULTS.relative_to(ROOT)}")
