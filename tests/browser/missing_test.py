"""A missing engine, or a missing part of one, skips its tests on a developer's machine and fails
the run under CI=true, before anything is started. No browser runs here: a fast test."""

from __future__ import annotations

import pytest

from testing import engines

# (engine, the module constant naming one of its files, the Debian package the message names)
PARTS = (
    ("chromium", "CHROMIUM", "chromium"),
    ("chromium", "CHROMEDRIVER", "chromium-driver"),
    ("firefox", "FIREFOX", "firefox-esr"),
    ("webkit", "WEBKITDRIVER", "webkit2gtk-driver"),
    ("webkit", "MINIBROWSER", "libwebkit2gtk-4.1-0"),
    ("webkit", "XVFB", "xvfb"),
)


@pytest.mark.parametrize("ci", [True, False], ids=["CI", "developer"])
@pytest.mark.parametrize(("name", "constant", "package"), PARTS)
def test_missing_engine(
    monkeypatch: pytest.MonkeyPatch,
    name: engines.EngineName,
    constant: str,
    package: str,
    ci: bool,
) -> None:
    monkeypatch.setattr(engines, constant, "/nonexistent/" + constant.lower())
    if ci:
        monkeypatch.setenv("CI", "true")
    else:
        monkeypatch.delenv("CI", raising=False)
    outcome = pytest.fail.Exception if ci else pytest.skip.Exception
    with pytest.raises(outcome, match=f"^{package}.* is not installed"), engines.start(name):
        pytest.fail("started without its " + package)
