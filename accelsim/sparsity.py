"""Sparsity descriptions: densities and N:M structure (no tensors here; see :mod:`accelsim.tensors`).

Examples
--------
>>> parse_nm("2:4"), parse_nm("4:2"), parse_nm("2:x")
((2, 4), None, None)
"""

from __future__ import annotations

MAX_NM_GROUP = 16  # an index of at most 4 bits per kept weight


def parse_nm(text: object) -> tuple[int, int] | None:
    """``(N, M)`` from ``"N:M"`` with ``0 < N < M ≤ 16``, else None."""
    if not isinstance(text, str) or text.count(":") != 1:
        return None
    n, m = (part.strip() for part in text.split(":"))
    if not (n.isascii() and m.isascii() and n.isdigit() and m.isdigit()) or not 0 < int(n) < int(m) <= MAX_NM_GROUP:
        return None
    return int(n), int(m)


def nm_index_bits(m: int) -> int:
    """Bits of the index of one kept weight inside its group of ``m``.

    Examples
    --------
    >>> nm_index_bits(4), nm_index_bits(8), nm_index_bits(2)
    (2, 3, 1)
    """
    return max(1, (m - 1).bit_length())
