"""The dse tests that need the optional `dse` extra skip without it on a user's machine, never in CI."""

from __future__ import annotations

import importlib.util
import os

import pytest


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
