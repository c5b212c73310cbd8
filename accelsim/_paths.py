"""Where the bundled data (dataflows/, workloads/) lives: inside a wheel, or beside the package."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """Return the bundled data folder ``name`` (``"dataflows"`` or ``"workloads"``)."""
    packed = _PACKAGE / "_data" / name
    return packed if packed.is_dir() else _PACKAGE.parent / name
