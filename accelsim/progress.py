"""Progress bars for long work: shown on a terminal, silent otherwise (pipes, files, tests).

Uses tqdm, imported only when a bar is shown, so ``import accelsim`` stays light.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from tqdm import tqdm as Tqdm

T = TypeVar("T")


def wants_bar() -> bool:
    """True when stderr is an interactive terminal."""
    stream = sys.stderr
    return bool(stream is not None and hasattr(stream, "isatty") and stream.isatty())


def progress(items: Iterable[T], *, total: int | None = None, desc: str = "", unit: str = "it") -> Iterator[T]:
    """Iterate over ``items``, drawing a bar on stderr when it is a terminal.

    Examples
    --------
    >>> list(progress(range(3), desc="cases"))  # not a terminal under doctest: no bar
    [0, 1, 2]
    """
    if not wants_bar():
        yield from items
        return
    from tqdm import tqdm

    with tqdm(items, total=total, desc=desc, unit=unit, leave=False, file=sys.stderr, dynamic_ncols=True) as bar:
        yield from bar


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def set_postfix_str(self, text: str) -> None:
        pass


class progress_bar:  # lower case: used like a function, ``with progress_bar(total=n) as bar``
    """A bar to ``update(n)`` by hand, for work that is not a plain loop; a no-op off a terminal.

    Examples
    --------
    >>> with progress_bar(total=2, desc="PEs") as bar:
    ...     bar.update(2)
    """

    def __init__(self, *, total: int | None = None, desc: str = "", unit: str = "it"):
        self.total, self.desc, self.unit = total, desc, unit
        self._bar: Tqdm[Any] | None = None

    def __enter__(self) -> Tqdm[Any] | _NoBar:
        if not wants_bar():
            return _NoBar()
        from tqdm import tqdm

        self._bar = tqdm(total=self.total, desc=self.desc, unit=self.unit, leave=False, file=sys.stderr,
                         dynamic_ncols=True)
        return self._bar

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.close()
