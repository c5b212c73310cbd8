"""Magnitude pruning: to a density (per tensor, per output channel, or one threshold across layers) or to N:M.

Kept counts are exact: a density ``d`` of ``n`` elements keeps ``⌊d·n + ½⌋`` of them (the largest
``|w|``); equal magnitudes are kept in order of position (flat C-order index, then, across layers,
the order of the dict), so the result never depends on the sort algorithm.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from fractions import Fraction

import numpy as np

from ..errors import SpecError
from ..sparsity import parse_nm

SCOPES = ("tensor", "channel")


def density_of(w) -> float:
    """Fraction of non-zero elements (1.0 for an empty array).

    Examples
    --------
    >>> density_of([[0, 1], [2, 0]])
    0.5
    """
    a = np.asarray(w)
    return float(np.count_nonzero(a)) / a.size if a.size else 1.0


def _finite(w, what: str = "weights") -> np.ndarray:
    a = np.asarray(w)
    if not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
        raise SpecError(f"{what} must be integers or floats, not {a.dtype}")
    if np.issubdtype(a.dtype, np.floating) and not np.isfinite(a).all():
        raise SpecError(f"{what} contain NaN or infinity")
    return a


def _keep_count(density, n: int) -> int:
    if isinstance(density, bool) or not isinstance(density, (int, float, Fraction)) or not (
            isinstance(density, Fraction) or math.isfinite(density)) or not 0 <= density <= 1:
        raise SpecError(f"density must be a number from 0 to 1, not {density!r}")
    d = Fraction(repr(density)) if isinstance(density, float) else Fraction(density)
    return math.floor(d * n + Fraction(1, 2))


def _top_mask(magnitude: np.ndarray, k: int) -> np.ndarray:
    """Mask of the ``k`` largest of a 1-D array; ties go to the lower index. O(n) (a partition, no sort)."""
    n = magnitude.size
    mask = np.zeros(n, dtype=bool)
    if k <= 0:
        return mask
    if k >= n:
        mask[:] = True
        return mask
    threshold = np.partition(magnitude, n - k)[n - k]  # the k-th largest
    mask[:] = magnitude > threshold
    need = k - int(mask.sum())
    mask[np.flatnonzero(magnitude == threshold)[:need]] = True
    return mask


def prune_magnitude(w, density, *, scope: str = "tensor") -> np.ndarray:
    """A copy of ``w`` keeping the ``⌊density·n + ½⌋`` largest ``|w|`` (the rest set to 0).

    ``scope="tensor"`` ranks the whole tensor; ``scope="channel"`` ranks each output channel
    (``w[i]``, axis 0 of the OIHW or ``(out, in)`` layout) on its own, each keeping its share.

    Examples
    --------
    >>> import numpy as np
    >>> prune_magnitude(np.array([3.0, -1.0, 1.0, 0.5]), 0.5).tolist()   # tie at |1|: index 1 wins
    [3.0, -1.0, 0.0, 0.0]
    >>> prune_magnitude(np.array([[4, 3], [1, 2]]), 0.5, scope="channel").tolist()
    [[4, 0], [0, 2]]
    """
    a = _finite(w)
    if scope not in SCOPES:
        raise SpecError(f"scope must be one of {', '.join(SCOPES)}, not {scope!r}")
    if scope == "channel" and a.ndim >= 1:
        rows = a.reshape(a.shape[0], -1) if a.size else a.reshape(a.shape[0], 0)
        k = _keep_count(density, rows.shape[1])
        mask = np.stack([_top_mask(np.abs(r), k) for r in rows]) if rows.shape[0] else np.zeros(rows.shape, bool)
        return np.where(mask.reshape(a.shape), a, 0).astype(a.dtype)
    mask = _top_mask(np.abs(a).ravel(), _keep_count(density, a.size))
    return np.where(mask.reshape(a.shape), a, 0).astype(a.dtype)


def prune_global(weights: Mapping[str, np.ndarray], density) -> dict[str, np.ndarray]:
    """Prune every tensor of ``weights`` with one magnitude threshold, keeping ``density`` of all elements.

    Layers end with different densities (small-magnitude layers lose more); ties are kept in dict
    order, then by position.

    Examples
    --------
    >>> import numpy as np
    >>> out = prune_global({"a": np.array([5.0, 4.0]), "b": np.array([1.0, 0.5, 3.0, 2.0])}, 0.5)
    >>> {k: v.tolist() for k, v in out.items()}
    {'a': [5.0, 4.0], 'b': [0.0, 0.0, 3.0, 0.0]}
    """
    arrays = {name: _finite(w, f"weights '{name}'") for name, w in weights.items()}
    if not arrays:
        return {}
    flat = np.concatenate([np.abs(a).ravel().astype(np.float64) for a in arrays.values()])
    mask = _top_mask(flat, _keep_count(density, flat.size))
    out, start = {}, 0
    for name, a in arrays.items():
        part = mask[start:start + a.size].reshape(a.shape)
        out[name] = np.where(part, a, 0).astype(a.dtype)
        start += a.size
    return out


def reduction_axes(ndim: int, axis=None) -> tuple[int, ...]:
    """The axes whose flattening (C order) is the reduction: all but axis 0 by default.

    Examples
    --------
    >>> reduction_axes(4), reduction_axes(2), reduction_axes(2, 0), reduction_axes(4, (2, 3))
    ((1, 2, 3), (1,), (0,), (2, 3))
    """
    if axis is None:
        return tuple(range(1, ndim)) if ndim > 1 else (0,)
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    norm = []
    for ax in axes:
        if not isinstance(ax, (int, np.integer)) or not -ndim <= ax < ndim:
            raise SpecError(f"axis {ax!r} is out of range for an array of {ndim} dimensions")
        norm.append(int(ax) % ndim)
    if not norm or len(set(norm)) != len(norm):
        raise SpecError(f"axis must name distinct axes, not {axis!r}")
    return tuple(norm)


def prune_nm(w, n: int, m: int, axis=None) -> np.ndarray:
    """A copy of ``w`` keeping the ``n`` largest ``|w|`` of every ``m`` consecutive elements along the reduction.

    The reduction is ``axis`` (an int or a tuple of axes, flattened in C order); by default every
    axis but 0, which is the GEMM's ``K`` for the PyTorch/ONNX layouts: ``(in/groups, kh, kw)`` in
    ``(c, r, s)`` order for a conv's OIHW weights, ``in_features`` for a linear layer's
    ``(out, in)`` — so the result is N:M along ``K`` of :func:`accelsim.tensors.weight_matrix`.
    A last, partial group of ``L < m`` elements keeps its ``min(n, L)`` largest (as if padded with
    zeros). Ties go to the lower position.

    Examples
    --------
    >>> import numpy as np
    >>> prune_nm(np.array([[1, 2, 3, 4, 5, 6]]), 1, 4).tolist()   # groups [1 2 3 4] and [5 6]
    [[0, 0, 0, 4, 0, 6]]
    >>> prune_nm(np.array([[1, 2], [3, 4], [5, 6], [7, 8]]), 2, 4, axis=0).tolist()
    [[0, 0], [0, 0], [5, 6], [7, 8]]
    """
    if parse_nm(f"{n}:{m}") is None or isinstance(n, bool) or isinstance(m, bool):
        raise SpecError(f"N:M must have 0 < N < M ≤ 16, not {n}:{m}")
    a = _finite(w)
    axes = reduction_axes(a.ndim, axis)
    others = [ax for ax in range(a.ndim) if ax not in axes]
    moved = np.transpose(a, [*others, *axes])
    k = math.prod(a.shape[ax] for ax in axes)
    rows = moved.reshape(-1, k)
    groups = -(-k // m)
    key = np.full((rows.shape[0], groups * m), -np.inf)
    key[:, :k] = np.abs(rows)
    order = np.argsort(-key.reshape(rows.shape[0], groups, m), axis=2, kind="stable")[:, :, :n]
    mask = np.zeros((rows.shape[0], groups, m), dtype=bool)
    np.put_along_axis(mask, order, True, axis=2)
    kept = np.where(mask.reshape(rows.shape[0], -1)[:, :k], rows, 0).astype(a.dtype)
    return np.transpose(kept.reshape(moved.shape), np.argsort([*others, *axes]))
