"""Write a report or trace so that it exists only once complete.

The file is written under a temporary name in the same folder and renamed when done; on any
exception (``KeyboardInterrupt`` and SIGTERM's ``SystemExit`` included) the temporary file is
removed, so an interrupted run never leaves a file cut mid-row for a rerun to refuse.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import IO


def partial_name(path: Path) -> Path:
    """The temporary name ``path`` is written under (hidden, same folder, so the rename is atomic)."""
    return path.with_name(f".{path.name}.partial")


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path to write; renamed to ``path`` when the block completes, removed otherwise."""
    temporary = partial_name(Path(path))
    try:
        yield temporary
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_open(path: Path) -> Iterator[IO[str]]:
    """``open(path, "w")`` that creates ``path`` only when the block completes.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     try:
    ...         with atomic_open(Path(d) / "a.csv") as f:
    ...             _ = f.write("1,2\\n")
    ...             raise KeyboardInterrupt
    ...     except KeyboardInterrupt:
    ...         pass
    ...     os.listdir(d)
    []
    """
    with atomic_path(path) as temporary, open(temporary, "w") as handle:
        yield handle


def atomic_write_text(path: Path, text: str) -> None:
    with atomic_open(path) as handle:
        handle.write(text)


def atomic_copy(source: Path, path: Path) -> None:
    with atomic_open(path) as handle, open(source) as original:
        shutil.copyfileobj(original, handle)
