"""SCALE-Sim's operand address maps: which SRAM word each GEMM operand element lives at.

A layer is one GEMM: ``ifmap[M, K] @ filter[K, N] = ofmap[M, N]`` with ``M`` the output pixels
(row-major), ``K`` the window (filter row, filter column, channel) and ``N`` the filters. Addresses
follow SCALE-Sim's layouts (channel-last input, filter-major weights, plus the config's offsets);
an input window that hangs over the edge (SCALE-Sim keeps partial windows) reads address ``-1``,
which means "no request".

With N:M sparsity support on, the filter keeps the first ``N`` rows of every ``M`` (the
pattern SCALE-Sim uses) and the ifmap keeps the matching columns, so ``K`` shrinks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from accelsim.scalesim.inputs import ScaleSimConfig, ScaleSimLayer

NO_REQUEST = -1


@dataclass(frozen=True)
class Operands:
    """Address generator for one layer under one config.

    Examples
    --------
    >>> from accelsim.scalesim.inputs import ScaleSimConfig, ScaleSimLayer
    >>> cfg = ScaleSimConfig("r", 4, 4, 64, 64, 64, "ws")
    >>> ops = Operands(ScaleSimLayer("c", 4, 4, 3, 3, 1, 2, 1), cfg)
    >>> ops.m, ops.k, ops.n
    (4, 9, 2)
    >>> ops.ifmap(np.array([[1]]), np.array([[0, 1, 2]])).tolist()
    [[1, 2, 3]]
    """

    layer: ScaleSimLayer
    config: ScaleSimConfig

    @property
    def m(self) -> int:
        return self.layer.ofmap_h * self.layer.ofmap_w

    @property
    def n(self) -> int:
        return self.layer.filters

    @cached_property
    def kept_window(self) -> np.ndarray:
        """Window indices that survive N:M pruning (all of them when dense)."""
        window = np.arange(self.layer.window)
        if not self.config.sparsity_support:
            return window
        return window[window % self.layer.sparsity_m < self.layer.sparsity_n]

    @property
    def k(self) -> int:
        return len(self.kept_window)

    @cached_property
    def _window_tables(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per window column: address offset from the window's corner, and its row and column in the window."""
        lay = self.layer
        win_row, rest = np.divmod(self.kept_window, lay.filter_w * lay.channels)
        win_col, channel = np.divmod(rest, lay.channels)
        return (win_row * lay.ifmap_w + win_col) * lay.channels + channel + self.config.ifmap_offset, win_row, win_col

    @property
    def partial_windows(self) -> bool:
        """Whether the last output row or column's window hangs over the image (SCALE-Sim's ``ceil``)."""
        lay = self.layer
        return ((lay.ofmap_h - 1) * lay.stride + lay.filter_h > lay.ifmap_h
                or (lay.ofmap_w - 1) * lay.stride + lay.filter_w > lay.ifmap_w)

    def corners(self, pixel: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Address of each output pixel's window corner, and the corner's image row and column."""
        lay = self.layer
        in_row, in_col = np.divmod(pixel, lay.ofmap_w)
        in_row, in_col = in_row * lay.stride, in_col * lay.stride
        return (in_row * lay.ifmap_w + in_col) * lay.channels, in_row, in_col

    def ifmap(self, pixel: np.ndarray, col: np.ndarray) -> np.ndarray:
        """Addresses of ``ifmap[pixel, col]`` (broadcast), ``-1`` for out-of-image reads."""
        lay = self.layer
        offset, win_row, win_col = self._window_tables
        # The address is separable: window corner (per pixel) + offset (per window column).
        in_row, in_col = np.divmod(pixel, lay.ofmap_w)
        in_row, in_col = in_row * lay.stride, in_col * lay.stride
        address = (in_row * lay.ifmap_w + in_col) * lay.channels + offset[col]
        if not self.partial_windows:
            return address
        inside = (in_row + win_row[col] < lay.ifmap_h) & (in_col + win_col[col] < lay.ifmap_w)
        return np.where(inside, address, NO_REQUEST)

    def filter(self, row: np.ndarray, col: np.ndarray) -> np.ndarray:
        """Addresses of ``filter[row, col]`` (broadcast)."""
        return col * self.layer.window + self.kept_window[row] + self.config.filter_offset

    @cached_property
    def ifmap_distinct(self) -> int:
        """How many different ifmap words the layer reads at all."""
        lay = self.layer
        touched = np.zeros((lay.ifmap_h, lay.ifmap_w, lay.channels), dtype=bool)
        win_row, rest = np.divmod(self.kept_window, lay.filter_w * lay.channels)
        win_col, channel = np.divmod(rest, lay.channels)
        span_h = (lay.ofmap_h - 1) * lay.stride + 1
        span_w = (lay.ofmap_w - 1) * lay.stride + 1
        for r, c in set(zip(win_row.tolist(), win_col.tolist())):
            channels = channel[(win_row == r) & (win_col == c)]
            rows = slice(r, r + span_h, lay.stride)
            cols = slice(c, c + span_w, lay.stride)
            touched[rows, cols][..., channels] = True  # a basic slice is a view: this marks `touched`
        return int(touched.sum())

    @property
    def filter_distinct(self) -> int:
        return self.k * self.n

    def sparse_storage(self) -> tuple[float, float, float]:
        """(original filter words, filter + metadata words, metadata words) for the SPARSE_REPORT."""
        rows, cols, kept = self.layer.window, self.n, self.k
        nnz = kept * cols
        representation = self.config.sparse_representation
        if representation == "csr":
            return rows * cols, 2 * nnz + rows + 1, nnz + rows + 1
        if representation == "csc":
            return rows * cols, 2 * nnz + cols + 1, nnz + cols + 1
        metadata = (kept * cols * math.ceil(math.log2(self.layer.sparsity_m))) / 32
        return rows * cols, kept * cols + metadata, metadata
