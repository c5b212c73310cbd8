"""Where commands may write: one folder or file named by the user, never beyond it, never over old results.

Every command that writes (``hdl generate``, ``scalesim``, ``workload export``) goes through these
helpers, so the rules are written once: an output folder must not be an existing file; a name read
from an input file (e.g. SCALE-Sim's ``run_name``) must stay inside the folder; existing files are
kept unless ``force``; a forced rerun removes the files of the earlier run that it would not write.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePath

from .errors import OutputError

MAX_NAME_BYTES = 255  # the longest file name Linux and macOS file systems accept


def output_folder(path: str | Path) -> Path:
    """``path`` as a folder to write into; refused if a file of that name exists.

    Examples
    --------
    >>> output_folder("build/x")
    PosixPath('build/x')
    """
    if not str(path).strip():
        raise OutputError("the output folder must be named (an empty -o would write into the current folder)")
    folder = Path(path)
    if folder.is_symlink() and not folder.exists():
        raise OutputError(f"{folder} is a symlink to {folder.readlink()}, which does not exist; "
                          "the output must be a folder")
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{folder} is a file; the output must be a folder")
    return folder


def output_file(path: str | Path, *, force: bool = False) -> Path:
    """``path`` as one file to write; refused if it is a folder, or exists and not ``force``."""
    if not str(path).strip():
        raise OutputError("the output file must be named, not ''")
    file = Path(path)
    if file.is_dir():
        raise OutputError(f"{file} is a folder; the output must be a file name")
    if file.is_symlink():  # replacing the link (the file is written aside, then renamed) would not write its target
        raise OutputError(f"{file} is a symbolic link; give the output a regular file's name")
    if file.exists() and not file.is_file():  # a device, FIFO or socket: a rename would replace the node itself
        raise OutputError(f"{file} is not a regular file; give the output a regular file's name")
    if file.exists() and not force:
        raise OutputError(f"{file} exists; pass --force to overwrite")
    if not file.parent.is_dir():
        raise OutputError(f"cannot write {file}: the folder {file.parent} does not exist")
    return file


def child_name(name: str, *, what: str) -> str:
    """``name`` if it is one plain path component (so ``folder / name`` stays inside ``folder``).

    Examples
    --------
    >>> child_name("run1", what="run_name")
    'run1'
    >>> child_name("../escape", what="run_name")  # doctest: +NORMALIZE_WHITESPACE
    Traceback (most recent call last):
    ...
    accelsim.errors.OutputError: run_name '../escape' must be a plain name of at most 255 bytes
    (no '/', '\\\\', '..' or absolute path)
    """
    parts = PurePath(name).parts
    if (not name.strip() or len(parts) != 1 or parts[0] in (".", "..") or "/" in name or "\\" in name
            or "\0" in name or PurePath(name).is_absolute() or len(name.encode()) > MAX_NAME_BYTES):
        raise OutputError(f"{what} {name!r} must be a plain name of at most {MAX_NAME_BYTES} bytes "
                          "(no '/', '\\\\', '..' or absolute path)")
    return name


def claim_files(folder: Path, names: Iterable[str], *, force: bool, stale: Iterable[str] = ()) -> None:
    """Make ``folder`` ready for a run writing ``names``.

    Refuses if any of ``names`` exists and not ``force``. With ``force``, also deletes the files in
    ``stale`` (those an earlier run may have written) that this run will not write, so the folder
    holds exactly the new run's files.
    """
    names = list(names)
    existing = [n for n in names if (folder / n).exists()]
    if existing and not force:
        raise OutputError(f"{folder / existing[0]} exists; pass --force to overwrite")
    for name in existing:
        if (folder / name).is_dir():
            raise OutputError(f"{folder / name} is a folder; cannot write a file there")
    if force:
        for name in set(stale) - set(names):
            if (folder / name).is_file():
                (folder / name).unlink()


@contextlib.contextmanager
def made_folder(folder: Path) -> Iterator[Path]:
    """Create ``folder`` (and missing parents) for the block; if the block fails or is interrupted,
    remove the folders this call created that are left empty, so an interrupted run leaves nothing.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     try:
    ...         with made_folder(Path(d) / "a" / "b"):
    ...             raise KeyboardInterrupt
    ...     except KeyboardInterrupt:
    ...         pass
    ...     sorted(p.name for p in Path(d).iterdir())
    []
    """
    created = [parent for parent in (folder, *folder.parents) if not parent.exists()]
    folder.mkdir(parents=True, exist_ok=True)
    try:
        yield folder
    except BaseException:
        for path in created:  # deepest first
            try:
                path.rmdir()
            except OSError:  # not empty (another writer), or already gone
                break
        raise
