"""The dse tests that need the optional `dse` extra skip without it on a user's machine, never in CI."""

from __future__ import annotations

import importlib.util
import os

import pytest

from accelsim.cli import main


def need(*modules: str) -> None:
    """Skip the calling test unless every module is importable (CI fails instead)."""
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing and not os.environ.get("CI"):
        pytest.skip(f"needs {', '.join(missing)}: pip install 'accelsim[dse]'")


@pytest.fixture(autouse=True)
def _dse_extra(request):
    marker = request.node.get_closest_marker("needs")
    if marker:
        need(*marker.args)


CHROMIUM_HINT = "needs a headless browser: apt-get install -y chromium (Debian)"


@pytest.fixture
def chromium() -> str:
    """The Chromium binary for tests that render report.html; skipped without it on a user's machine,
    a failure in CI (``.ci/run`` installs it next to iverilog)."""
    import shutil

    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(f"CI must render the report: {CHROMIUM_HINT}", pytrace=False)
        pytest.skip(CHROMIUM_HINT)
    return found


def one_line_error(capsys, argv: list[str]) -> str:
    """Run the CLI expecting exit 1 with nothing on stdout and one ``accelsim: error:`` line; return it."""
    assert main(argv) == 1
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert captured.out == "" and len(err.splitlines()) == 1 and err.startswith("accelsim: error: "), err
    return err
