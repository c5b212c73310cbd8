"""N:M structured weight sparsity on the weight-stationary array: the one definition of the layout.

A PE of an N:M array holds one *kept* weight and its index inside its group of M reduction rows;
the streamed input of its row is that group's M-wide input vector, and the PE multiplies its weight
by the element the index selects. Compressing a weight matrix ``W[K×N]`` gives ``K' = ⌈K/M⌉·N``
compressed rows: row ``r`` belongs to group ``g = r // N`` (reduction rows ``g·M … g·M + M − 1``).

Canonical form (deterministic, so the reference engine and the RTL bench build identical tiles):
in each column, a group's N slots hold the indices of its non-zeros plus, if it has fewer than N,
the lowest indices not used by a non-zero (with weight 0), all N in ascending index order. So the
non-zeros appear in ascending k order and the padding takes the lowest unused indices.

A weight that is not N:M sparse can still run on N:M hardware uncompressed (:func:`uncompressed_nm`):
every reduction row is its own slot, ``K' = K``, group ``r // M``, index ``r % M``.

Examples
--------
>>> w = np.array([[0, 5], [3, 0], [0, 0], [4, 6]])       # K = 4, N = 2, one group of 4
>>> values, indices, groups = compress_nm(w, 2, 4)
>>> values[0].tolist(), indices[0].tolist(), groups.tolist()
([[3, 5], [4, 6]], [[1, 0], [3, 3]], [0, 0])
>>> bool((decompress_nm(values, indices, k=4, m=4)[0] == w).all())
True
"""

from __future__ import annotations

import numpy as np

from ..errors import MappingError
from ..sparsity import nm_rows

compressed_rows = nm_rows  # K' = ceil(K/M)·N, defined once in accelsim.sparsity


def compress_nm(weights: np.ndarray, n: int, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Compress ``weights`` (``(count, K, N)``, or ``(K, N)``) to N:M form.

    Returns ``(values, indices, groups)``: ``values`` and ``indices`` are ``(count, K', N)``
    (``indices`` in ``0 … M−1``, inside the group), ``groups`` is ``(K',)`` (``groups[r] = r // N``).
    A 2-D ``weights`` gives ``count = 1``. More than N non-zeros in a group of a column raises
    :class:`~accelsim.errors.MappingError` naming the group, the column and the count.
    """
    w = np.asarray(weights, dtype=np.int64)
    if w.ndim == 2:
        w = w[None]
    if not 0 < n < m:
        raise ValueError(f"N:M needs 0 < N < M, not {n}:{m}")
    count, k, cols = w.shape
    groups_n = -(-k // m)
    padded = np.zeros((count, groups_n * m, cols), dtype=np.int64)
    padded[:, :k] = w
    grouped = padded.reshape(count, groups_n, m, cols)  # (count, group, index, column)
    nz = grouped != 0
    per_group = nz.sum(axis=2)  # (count, group, column)
    if (per_group > n).any():
        g, grp, col = (int(v) for v in np.argwhere(per_group > n)[0])
        which = f" of GEMM {g}" if count > 1 else ""
        raise MappingError(f"weights{which} are not {n}:{m} sparse: group {grp} (k {grp * m}–"
                           f"{min(k, (grp + 1) * m) - 1}) of column {col} has {int(per_group[g, grp, col])} "
                           f"non-zeros, at most {n} fit")
    # Kept indices: every non-zero, then the lowest zeros until N are kept; in ascending index order.
    # Rank the candidate indices (non-zeros first, then by index) and keep the N best.
    order = np.where(nz, 0, m) + np.arange(m)[None, None, :, None]  # (count, group, index, column)
    rank = np.argsort(np.argsort(order, axis=2, kind="stable"), axis=2, kind="stable")
    keep = rank < n
    idx = np.broadcast_to(np.arange(m)[None, None, :, None], keep.shape)
    # Gather the kept indices in ascending order: move the index axis last and select.
    keep_t = np.moveaxis(keep, 2, 3)  # (count, group, column, index)
    idx_t = np.moveaxis(idx, 2, 3)
    kept = idx_t[keep_t].reshape(count, groups_n, cols, n)  # boolean selection keeps index order
    values_t = np.take_along_axis(np.moveaxis(grouped, 2, 3), kept, axis=3)
    indices = np.moveaxis(kept, 3, 2).reshape(count, groups_n * n, cols)
    values = np.moveaxis(values_t, 3, 2).reshape(count, groups_n * n, cols)
    return values, indices.astype(np.int64), np.arange(groups_n * n, dtype=np.int64) // n


def uncompressed_nm(weights: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A dense (unstructured) weight laid out for N:M hardware without compression.

    Same return form as :func:`compress_nm` with ``K' = K``: ``values`` is the weight itself, row
    ``r`` is in group ``r // M`` with index ``r % M``.

    Examples
    --------
    >>> v, i, g = uncompressed_nm(np.arange(6).reshape(3, 2), 2)
    >>> i[0].tolist(), g.tolist()
    ([[0, 0], [1, 1], [0, 0]], [0, 0, 1])
    """
    w = np.asarray(weights, dtype=np.int64)
    if w.ndim == 2:
        w = w[None]
    count, k, cols = w.shape
    rows = np.arange(k, dtype=np.int64)
    indices = np.broadcast_to((rows % m)[None, :, None], (count, k, cols)).copy()
    return w.copy(), indices, rows // m


def decompress_nm(values: np.ndarray, indices: np.ndarray, *, k: int, m: int,
                  groups: np.ndarray | None = None) -> np.ndarray:
    """The dense ``(count, K, N)`` weight that ``(values, indices)`` stand for.

    ``groups`` defaults to the compressed layout's ``r // N`` (``N`` read from ``values`` and ``k``);
    pass the groups of :func:`uncompressed_nm` for that layout.
    """
    values = np.asarray(values, dtype=np.int64)
    indices = np.asarray(indices, dtype=np.int64)
    if values.ndim == 2:
        values, indices = values[None], indices[None]
    count, rows, cols = values.shape
    if groups is None:
        n = rows // max(1, -(-k // m))
        groups = np.arange(rows) // n
    groups = np.asarray(groups, dtype=np.int64)
    dense = np.zeros((count, -(-k // m) * m, cols), dtype=np.int64)
    k_of = groups[None, :, None] * m + indices  # (count, K', N)
    g_idx = np.broadcast_to(np.arange(count)[:, None, None], k_of.shape)
    c_idx = np.broadcast_to(np.arange(cols)[None, None, :], k_of.shape)
    np.add.at(dense, (g_idx, k_of, c_idx), values)
    return dense[:, :k]


def nm_stream(inputs: np.ndarray, groups: np.ndarray, m: int) -> np.ndarray:
    """The streamed operand of an N:M array: ``(count, rows, K', M)``.

    Element ``[g, t, r]`` is the M-wide input vector ``I[g, t, G·M : G·M + M]`` of compressed row
    ``r``'s group ``G = groups[r]``, zero past K.

    Examples
    --------
    >>> nm_stream(np.arange(5)[None], np.array([0, 0, 1, 1]), 4)[0, 0].tolist()  # one row of I
    [[0, 1, 2, 3], [0, 1, 2, 3], [4, 0, 0, 0], [4, 0, 0, 0]]
    """
    x = np.asarray(inputs, dtype=np.int64)
    if x.ndim == 2:
        x = x[None]
    count, rows, k = x.shape
    groups = np.asarray(groups, dtype=np.int64)
    n_groups = -(-k // m)
    padded = np.zeros((count, rows, n_groups * m), dtype=np.int64)
    padded[:, :, :k] = x
    return padded.reshape(count, rows, n_groups, m)[:, :, groups, :]
