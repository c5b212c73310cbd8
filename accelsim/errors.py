"""Typed errors. Every error a user can cause is one of these, with a one-line message.

The CLI prints ``str(error)`` and exits non-zero; library code never prints or exits.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class AccelsimError(Exception):
    """Base class of every error accelsim raises on purpose."""


class SpecError(AccelsimError):
    """A workload, architecture or dataflow description is malformed.

    Parameters
    ----------
    message
        What is wrong, e.g. ``"must be a positive integer, not 0"``.
    file
        The file the spec came from, if any.
    path
        Where inside the spec, e.g. ``"layers[3].kernel"``.
    line
        1-based line in ``file``, if known.
    """

    def __init__(self, message: str, *, file: str | None = None, path: str | None = None,
                 line: int | None = None):
        self.message, self.file, self.path, self.line = message, file, path, line
        where = ""
        if file:
            where = f"{file}:{line}: " if line else f"{file}: "
        field = f"`{path}` " if path else ""
        super().__init__(f"{where}{field}{message}")


class MappingError(AccelsimError):
    """A layer cannot be mapped onto an architecture (the reason says why)."""


class UnsupportedError(AccelsimError):
    """A valid request that accelsim does not support (yet)."""


class HDLError(AccelsimError):
    """RTL generation, simulation or verification failed."""


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """Return ``" (did you mean 'x'?)"`` for the closest choice, or ``""``.

    Examples
    --------
    >>> did_you_mean("resnet5", ["resnet50", "alexnet"])
    " (did you mean 'resnet50'?)"
    """
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.5)
    return f" (did you mean '{close[0]}'?)" if close else ""


class OutputError(AccelsimError):
    """An output path cannot be written as asked (exists, is a file, or lies outside ``-o``)."""
