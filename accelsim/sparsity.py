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


def nm_rows(K: int, n: int, m: int) -> int:
    """Reduction rows of N:M weights: ``ceil(K / M)`` groups of ``N`` kept weights.

    Examples
    --------
    >>> nm_rows(64, 2, 4), nm_rows(10, 1, 4)
    (32, 3)
    """
    return -(-K // m) * n


def nm_stored_bits(rows: int, K: int, n: int, m: int, value_bits: int) -> tuple[int, int]:
    """Bits of values and of indices of ``rows`` rows of ``K`` weights stored N:M: the one definition.

    Every row keeps :func:`nm_rows` values (``⌈K/M⌉·N``, zero-padded to whole groups), each
    ``value_bits`` wide with an :func:`nm_index_bits` ``(M)``-bit index, whatever the zero pattern.

    Examples
    --------
    >>> nm_stored_bits(3, 10, 2, 4, 8)   # 3 rows of 3 groups of 2 kept int8 values with 2-bit indices
    (144, 36)
    """
    kept = rows * nm_rows(K, n, m)
    return kept * value_bits, kept * nm_index_bits(m)


def max_group_nonzeros(weights, m: int) -> int:
    """Most non-zeros in any group of ``m`` consecutive reduction elements of ``(count, K, N)`` weights.

    Weights are N:M-structured along K exactly when this is at most N (K is zero-padded to whole groups).

    Examples
    --------
    >>> import numpy as np
    >>> w = np.array([[[1], [0], [2], [0], [0], [0], [0], [3]]])   # K=8, N=1
    >>> max_group_nonzeros(w, 4)
    2
    """
    import numpy as np

    count, K, N = weights.shape
    groups = -(-K // m)
    padded = np.zeros((count, groups * m, N), dtype=bool)
    padded[:, :K] = weights != 0
    return int(padded.reshape(count, groups, m, N).sum(axis=2).max(initial=0))
