from __future__ import annotations

from pathlib import Path

import pytest

from corsgen import marker
from corsgen.cli import main
from corsgen.errors import VerifyError
from corsgen.regex import OUTSIDE_AN_ORIGIN
from corsgen.render import render, render_shared
from corsgen.targets import nginx
from corsgen.verify import check_structure
from testing.policies import plan_of


def test_large_lists_size_the_map_hash() -> None:
    origins = ", ".join(f'"https://t{i}.example.com"' for i in range(1000))
    context = nginx.TARGET.context(plan_of(f"allow_origins = [{origins}]"))
    found = context["hash"]
    assert isinstance(found, nginx.Hash) and found.max_size >= 1000
    assert nginx.TARGET.context(plan_of('allow_origins = ["https://a.com"]'))["hash"] is None


NAMES = [f"X-Name-{i:04d}".ljust(256, "x") for i in range(1000)]


@pytest.mark.parametrize(
    ("text", "key", "parts"),
    [
        ('allow_origins = ["*"]\nexpose_headers = ["ETag"]', "expose", ()),
        ('allow_origins = ["https://a.com"]\nexpose_headers = ["ETag"]', "expose", ("expose",)),
        (f'allow_origins = ["*"]\nexpose_headers = {NAMES!r}', "expose", None),
        (f'allow_origins = ["https://a.com"]\nallow_headers = {NAMES!r}', "headers", None),
    ],
)
def test_long_values_are_sent_in_parts(text: str, key: str, parts: tuple[str, ...] | None) -> None:
    """A short constant goes in add_header, anything else in maps, cut to stay quotable."""
    header = next(h for h in plan_of(text).headers if h.role == key)
    found = nginx.value_parts(header)
    if parts is not None:
        assert tuple(suffix for suffix, _ in found) == parts
        return
    assert [suffix for suffix, _ in found] == [f"{key}_{n}" for n in range(1, len(found) + 1)]
    assert "".join(piece for _, piece in found) == ", ".join(NAMES)
    assert max(len(piece) for _, piece in found) <= nginx.MAX_PARAMETER - 800


def test_quoting_doubles_backslashes() -> None:
    assert nginx.quote(r"^https://a\.com$") == r'"^https://a\\.com$"'
    assert nginx.quote("a\\") == '"a\\\\"'  # doubled, so it cannot escape the closing quote


def test_a_regex_too_long_for_one_parameter_is_a_limit() -> None:
    # \w is written out as [0-9A-Za-z_]: 450 of them are short in the policy, long in nginx.
    plan = plan_of('allow_origins = []\nallow_origin_regex = "https://' + "\\\\w" * 450 + '"')
    limits = list(nginx.TARGET.limits(plan))
    assert [(limit.rule, limit.key) for limit in limits] == [("CG120", "allow_origin_regex")]
    assert not list(nginx.TARGET.limits(plan_of('allow_origins = ["https://a.com"]')))


def _listing(count: int, labels: int) -> str:
    """count origins, each with `labels` labels of 60 characters: long keys need wide buckets."""
    host = "x" * 50 + "." * (labels > 0) + ".".join(["y" * 60] * labels)
    origins = ", ".join(f'"https://t{i:05d}{host}.example.com"' for i in range(count))
    return f"allow_origins = [{origins}]\n"


def test_map_hash_sizes_live_in_one_file_sized_for_every_policy() -> None:
    """nginx takes map_hash_* once per http {}: the shared file holds the largest of each."""
    wide, many = plan_of(_listing(10, 3)), plan_of(_listing(5000, 0))
    alone = render(wide, "nginx")
    assert "\nmap_hash_bucket_size" not in alone["api.http.conf"]
    assert "include corsgen-map-hash.conf first" in alone["api.http.conf"]
    shared = render_shared((wide, many, plan_of('allow_origins = ["https://a.com"]')), "nginx")
    text = shared["corsgen-map-hash.conf"]
    wide_hash, many_hash = nginx._hash(wide.exact_origins), nginx._hash(many.exact_origins)
    assert wide_hash and many_hash and wide_hash.bucket_size > many_hash.bucket_size
    assert f"map_hash_bucket_size {wide_hash.bucket_size};" in text
    assert f"map_hash_max_size {many_hash.max_size};" in text
    assert text.count("map_hash_bucket_size ") == 1 + 2  # the directive and one comment per policy
    assert marker.parse_marker(text) is not None
    assert render_shared((plan_of('allow_origins = ["https://a.com"]'),), "nginx") == {}


def test_sync_sizes_the_shared_file_for_every_policy_in_the_directory(tmp_path: Path) -> None:
    (tmp_path / "cors").mkdir()
    (tmp_path / "cors" / "wide.toml").write_text(_listing(10, 3))
    (tmp_path / "cors" / "many.toml").write_text(_listing(5000, 0))
    (tmp_path / "corsgen.toml").write_text(
        '[[outputs]]\npolicies = ["cors/*.toml"]\ntargets = ["nginx"]\nout_dir = "deploy"\n'
    )
    manifest = str(tmp_path / "corsgen.toml")
    assert main(["sync", "--manifest", manifest]) == 0
    shared = (tmp_path / "deploy" / "corsgen-map-hash.conf").read_text()
    assert "#   many: " in shared and "#   wide: " in shared
    assert main(["sync", "--check", "--manifest", manifest]) == 0
    # No list needs it any more: the file is an orphan, which --prune removes.
    for name in ("wide", "many"):
        (tmp_path / "cors" / f"{name}.toml").write_text('allow_origins = ["https://a.com"]\n')
    assert main(["sync", "--prune", "--manifest", manifest]) == 0
    assert not (tmp_path / "deploy" / "corsgen-map-hash.conf").exists()


def test_render_refuses_to_resize_a_shared_file_other_policies_need(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A second render into one directory once sized corsgen-map-hash.conf for itself alone,
    too small for the policy rendered there first."""
    for name, text in (("wide", _listing(10, 3)), ("many", _listing(5000, 0))):
        (tmp_path / f"{name}.toml").write_text(text)
    out = tmp_path / "deploy"
    assert main(["render", str(tmp_path / "wide.toml"), "-t", "nginx", "-o", str(out)]) == 0
    before = (out / "corsgen-map-hash.conf").read_text()
    assert main(["render", str(tmp_path / "wide.toml"), "-t", "nginx", "-o", str(out)]) == 0
    capsys.readouterr()
    assert main(["render", str(tmp_path / "many.toml"), "-t", "nginx", "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert err == (
        f"corsgen: {out}/corsgen-map-hash.conf also serves wide, and render would size it for "
        "many alone; write this directory with corsgen sync, from a manifest that lists all of "
        "its policies\n"
    )
    assert (out / "corsgen-map-hash.conf").read_text() == before
    assert not (out / "many.conf").exists()


def test_a_policy_named_like_the_shared_files_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A 20,000-origin policy named corsgen once passed for the shared file's own marker, and a
    second render shrank corsgen-map-hash.conf under it without a word."""
    (tmp_path / "corsgen.toml").write_text(_listing(20, 0))
    (tmp_path / "named.toml").write_text('name = "corsgen"\n' + _listing(20, 0))
    out = tmp_path / "deploy"
    for policy in ("corsgen.toml", "named.toml"):
        assert main(["render", str(tmp_path / policy), "-t", "nginx", "-o", str(out)]) == 1
        err = capsys.readouterr().err
        assert "CG116 bad-name: policy name 'corsgen' is the name of the files corsgen's" in err
    assert not out.exists()


def _long_list() -> dict[str, str]:
    origins = ", ".join(f'"https://t{i}.example.com"' for i in range(200))
    return render(plan_of(f"allow_origins = [{origins}]"), "nginx")


def test_a_run_of_map_entries_is_judged_whole_with_its_lines_in_place() -> None:
    """crossplane reads the first entry of a run; the rest are blanked, not dropped."""
    text = _long_list()["api.http.conf"]
    thinned = nginx._thin(text, "api.http.conf")
    assert thinned.count("\n") == text.count("\n")
    kept = [line.strip() for line in thinned.split("\n") if line.startswith('    "')]
    # The run's first entry (the two-Origin guard) stands for the 200 origins after it.
    guard = nginx.quote("~" + OUTSIDE_AN_ORIGIN) + ' "";'
    assert kept[0] == guard and "example.com" not in thinned.split("{", 1)[1]


def _line_of(text: str, find: str, after: int = 0) -> int:
    return next(n for n, line in enumerate(text.split("\n"), 1) if n > after and find in line)


def test_an_overlong_key_deep_in_a_long_list_is_caught_at_its_line() -> None:
    files = _long_list()
    line = _line_of(files["api.http.conf"], "https://t150.example.com")
    files["api.http.conf"] = files["api.http.conf"].replace(
        '"https://t150.example.com"', '"' + "k" * 4_094 + '"'
    )
    with pytest.raises(VerifyError) as info:
        check_structure(files, "nginx")
    assert "a parameter of 4,094 bytes, more than the 4,093 nginx reads" in info.value.msg
    assert (info.value.file, info.value.line) == ("api.http.conf", line)


def test_lines_after_a_long_list_keep_their_numbers() -> None:
    """A map closed early in the list: crossplane finds the old closing brace where it was."""
    files = _long_list()
    text = files["api.http.conf"]
    closing = _line_of(text, "}", after=_line_of(text, "https://t150.example.com"))
    files["api.http.conf"] = text.replace('"https://t150.example.com" $http_origin;', "}")
    with pytest.raises(VerifyError) as info:
        check_structure(files, "nginx")
    assert 'unexpected "}"' in info.value.msg
    assert (info.value.file, info.value.line) == ("api.http.conf", closing)
