"""SCALE-Sim's fold schedule: what each operand asks of its SRAM on every cycle of a layer.

SCALE-Sim splits the GEMM into folds of at most ``R × C`` (column folds outer, row folds inner),
runs them back to back with no overlap, and describes each fold by three *demand* matrices with
one row per cycle: the addresses read from the ifmap and filter SRAMs and written to the ofmap
SRAM on that cycle. This module builds those rows exactly as SCALE-Sim lays them out (prefix gaps,
skew, flipped stationary blocks), but one fold at a time and only when asked, so whole networks
never sit in memory.

Dimension roles per dataflow (``Sr`` is folded over array rows, ``Sc`` over columns, ``T`` streams):

==========  =====  =====  =====  ==========================
dataflow    Sr     Sc     T      cycles per fold
==========  =====  =====  =====  ==========================
os          M      N      K      ``T + R + C - 2``
ws          K      N      M      ``2R + C + T - 2``
is          K      M      N      ``2R + C + T - 2``
==========  =====  =====  =====  ==========================
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np

from accelsim.scalesim.operands import NO_REQUEST, Operands

CHUNK_WORDS = 1 << 20   # requests generated at once (a few tens of MB of temporaries)


@lru_cache(maxsize=16)
def _skew_order(steps: int, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A ``steps × width`` block in skewed-issue order: each request's step, lane and diagonal (``step + lane``)."""
    step, lane = np.divmod(np.arange(steps * width), width)
    order = np.lexsort((lane, step + lane))
    return step[order], lane[order], (step + lane)[order]


def skewed_band_counts(rows: int, start: int, length: int, width: int) -> np.ndarray:
    """Requests per row when rows ``start..start+length-1`` of ``width`` columns are skewed.

    Examples
    --------
    >>> skewed_band_counts(6, 1, 3, 2).tolist()
    [0, 1, 2, 2, 1, 0]
    """
    r = np.arange(rows) - start
    hi = np.minimum(r, width - 1)
    lo = np.maximum(r - length + 1, 0)
    return np.maximum(hi - lo + 1, 0)


@dataclass(frozen=True)
class Fold:
    index: int
    row_fold: int
    col_fold: int
    used_rows: int
    used_cols: int


@dataclass(frozen=True)
class FoldSchedule:
    """The folds of one layer on an ``rows × cols`` array in one dataflow.

    Examples
    --------
    >>> from accelsim.scalesim.inputs import ScaleSimConfig, ScaleSimLayer
    >>> cfg = ScaleSimConfig("r", 8, 8, 64, 64, 32, "ws")
    >>> s = FoldSchedule(Operands(ScaleSimLayer("c", 16, 16, 3, 3, 8, 16, 1), cfg))
    >>> s.num_folds, s.rows_per_fold, s.total_rows - 1
    (18, 218, 3923)
    """

    ops: Operands

    @property
    def dataflow(self) -> str:
        return self.ops.config.dataflow

    @property
    def array(self) -> tuple[int, int]:
        return self.ops.config.rows, self.ops.config.cols

    @cached_property
    def dims(self) -> tuple[int, int, int]:
        """``(Sr, Sc, T)`` for this dataflow."""
        m, n, k = self.ops.m, self.ops.n, self.ops.k
        return {"os": (m, n, k), "ws": (k, n, m), "is": (k, m, n)}[self.dataflow]

    @cached_property
    def fold_grid(self) -> tuple[int, int]:
        sr, sc, _ = self.dims
        r, c = self.array
        return math.ceil(sr / r), math.ceil(sc / c)

    @property
    def num_folds(self) -> int:
        return self.fold_grid[0] * self.fold_grid[1]

    @cached_property
    def rows_per_fold(self) -> int:
        r, c = self.array
        t = self.dims[2]
        return t + r + c - 2 if self.dataflow == "os" else 2 * r + c + t - 2

    @property
    def total_rows(self) -> int:
        return self.num_folds * self.rows_per_fold

    @cached_property
    def used(self) -> tuple[np.ndarray, np.ndarray]:
        """Used rows per row fold, used columns per column fold."""
        sr, sc, _ = self.dims
        r, c = self.array
        used_rows = np.minimum(r, sr - r * np.arange(self.fold_grid[0]))
        used_cols = np.minimum(c, sc - c * np.arange(self.fold_grid[1]))
        return used_rows, used_cols

    def fold(self, index: int) -> Fold:
        row_folds = self.fold_grid[0]
        col, row = divmod(index, row_folds)
        used_rows, used_cols = self.used
        return Fold(index, row, col, int(used_rows[row]), int(used_cols[col]))

    def folds(self):
        for index in range(self.num_folds):
            yield self.fold(index)

    @cached_property
    def per_fold_pes(self) -> np.ndarray:
        """Used PEs of every fold, in SCALE-Sim's order (column folds outer)."""
        used_rows, used_cols = self.used
        return (used_cols[:, None] * used_rows[None, :]).ravel()

    def mapping_efficiency(self) -> float:
        """Mean over folds of used PEs / all PEs, summed in order as SCALE-Sim does."""
        r, c = self.array
        return float(np.cumsum(self.per_fold_pes / (r * c))[-1] / self.num_folds)

    def compute_utilization(self) -> float:
        r, c = self.array
        t = self.dims[2]
        span = t + r + c - 2 if self.dataflow == "os" else 2 * r + 2 * c + t - 3
        return float(np.cumsum(self.per_fold_pes * t / (r * c * span))[-1] / self.num_folds)

    def sram_counts(self) -> tuple[float, int, int]:
        """(ifmap reads, filter reads, ofmap writes) as SCALE-Sim counts them."""
        used_rows, used_cols = self.used
        rows_total, cols_total = int(used_rows.sum()), int(used_cols.sum())
        row_folds, col_folds = self.fold_grid
        r, c = self.array
        t = self.dims[2]
        if self.dataflow == "os":
            return (t * rows_total * col_folds, t * cols_total * row_folds,
                    int(self.per_fold_pes.sum()) + self.num_folds * (r + c))
        if self.dataflow == "ws":
            ifmap: float = t * rows_total * col_folds
            if self.ops.config.sparsity_support:
                ifmap = ifmap * (self.ops.layer.sparsity_m / self.ops.layer.sparsity_n)
            return ifmap, int(self.per_fold_pes.sum()), t * cols_total * row_folds
        return int(self.per_fold_pes.sum()), t * rows_total * col_folds, t * cols_total * row_folds

    @cached_property
    def ofmap_cum(self) -> OfmapCum:
        return OfmapCum(self)

    # -- demand rows -------------------------------------------------------------------------

    def ofmap_counts(self, fold: Fold) -> np.ndarray:
        """Ofmap words written on each cycle of ``fold``."""
        r = self.array[0]
        t = self.dims[2]
        if self.dataflow == "os":
            return skewed_band_counts(self.rows_per_fold, t - 1 + r - fold.used_rows, fold.used_rows,
                                      fold.used_cols)
        return skewed_band_counts(self.rows_per_fold, 2 * r - 1, t, fold.used_cols)

    def read_stream(self, which: str, fold: Fold) -> tuple[np.ndarray, np.ndarray]:
        """``which`` operand's requests during ``fold`` in SCALE-Sim's order, with their demand rows."""
        pieces = list(self.read_chunks(which, fold))
        return np.concatenate([p[0] for p in pieces]), np.concatenate([p[1] for p in pieces])

    def read_chunks(self, which: str, fold: Fold, max_words: int | None = None, with_lanes: bool = False):
        """``which`` operand's requests during ``fold``, in order, as ``(addresses, rows)`` pieces.

        Streaming operands enter skewed (column ``c`` delayed ``c`` cycles): row ``p + t + c`` of
        the fold asks for element ``(t, c)``, columns in order. The stationary operand is loaded
        bottom row first, one row per cycle, then the fold streams. ``-1`` (no request) is dropped.
        Pieces span whole anti-diagonals of about ``max_words`` requests, so a fold streaming
        millions of words never sits in memory at once. ``with_lanes`` adds each request's
        column in the demand matrix (for the SRAM traces).
        """
        r, c = self.array
        t = self.dims[2]
        ops, df = self.ops, self.dataflow
        max_words = max_words or CHUNK_WORDS
        ks = fold.row_fold * r + np.arange(fold.used_rows)
        if (which, df) in (("filter", "ws"), ("ifmap", "is")):
            if df == "ws":
                block = ops.filter(ks[:, None], fold.col_fold * c + np.arange(fold.used_cols)[None, :])
            else:
                block = ops.ifmap(fold.col_fold * c + np.arange(fold.used_cols)[None, :], ks[:, None])
            addresses = block[::-1].ravel()
            rows = np.repeat(r - fold.used_rows + np.arange(fold.used_rows), fold.used_cols)
            keep = addresses >= 0
            lanes = np.tile(np.arange(fold.used_cols), fold.used_rows)
            yield (addresses[keep], rows[keep]) + ((lanes[keep],) if with_lanes else ())
            return
        steps, step_rows, step_cols = self._step_parts(which)
        lanes, lane_rows, lane_cols = self._lane_parts(which, fold)
        width, prefix = len(lanes), (0 if df == "os" else r)
        partial = which == "ifmap" and self.ops.partial_windows

        def addresses_of(step: np.ndarray, lane: np.ndarray, step_part: np.ndarray | None = None) -> np.ndarray:
            address = (steps[step] if step_part is None else step_part) + lanes[lane]
            if partial:   # out-of-image reads of a window hanging over the edge are "no request"
                inside = ((step_rows[step] + lane_rows[lane] < self.ops.layer.ifmap_h)
                          & (step_cols[step] + lane_cols[lane] < self.ops.layer.ifmap_w))
                address = np.where(inside, address, NO_REQUEST)
            return address

        if t * width <= max_words:     # the usual fold: skew order and the step part cached per shape
            step, lane, diagonal = _skew_order(t, width)
            key = (which, t, width)
            if key not in self._step_cache:
                self._step_cache[key] = steps[step]
            addresses, rows = addresses_of(step, lane, self._step_cache[key]), prefix + diagonal
            if partial:
                keep = addresses >= 0
                addresses, rows, lane = addresses[keep], rows[keep], lane[keep]
            yield (addresses, rows) + ((lane,) if with_lanes else ())
            return
        per_piece = max(1, max_words // width)
        all_lanes = np.arange(width)
        for d0 in range(0, t + width - 1, per_piece):
            diagonal = np.arange(d0, min(d0 + per_piece, t + width - 1))[:, None]
            step = diagonal - all_lanes[None, :]
            inside = (step >= 0) & (step < t)
            lane = np.broadcast_to(all_lanes, step.shape)[inside]
            addresses = addresses_of(step[inside], lane)
            rows = np.broadcast_to(prefix + diagonal, step.shape)[inside]
            keep = addresses >= 0
            yield (addresses[keep], rows[keep]) + ((lane[keep],) if with_lanes else ())

    def demand_width(self, which: str) -> int:
        """Columns of ``which`` operand's demand matrix (array rows or columns it enters by)."""
        r, c = self.array
        by_rows = {"os": ("ifmap",), "ws": ("ifmap",), "is": ("filter",)}[self.dataflow]
        return r if which in by_rows else c

    def ofmap_entries(self, fold: Fold, max_words: int | None = None):
        """``(row in fold, column, address)`` pieces of ``fold``'s ofmap writes, rows increasing.

        OS drains the fold's outputs bottom row first after ``T - 1`` cycles, skewed by column;
        WS and IS write output ``(t, c)`` on row ``2R - 1 + t + c``. Address = offset + pixel · N + filter.
        """
        r, c = self.array
        t = self.dims[2]
        ops = self.ops
        base = ops.config.ofmap_offset
        lanes = np.arange(fold.used_cols)
        if self.dataflow == "os":
            i = np.arange(fold.used_rows)[:, None]
            rows = t - 1 + (r - 1 - i) + lanes[None, :]
            address = base + (fold.row_fold * r + i) * ops.n + fold.col_fold * c + lanes[None, :]
            order = np.argsort(rows.ravel(), kind="stable")
            yield rows.ravel()[order], np.broadcast_to(lanes, rows.shape).ravel()[order], address.ravel()[order]
            return
        width = fold.used_cols
        per_piece = max(1, (max_words or CHUNK_WORDS) // width)
        for d0 in range(0, t + width - 1, per_piece):
            diagonal = np.arange(d0, min(d0 + per_piece, t + width - 1))[:, None]
            step = diagonal - lanes[None, :]
            inside = (step >= 0) & (step < t)
            lane, step = np.broadcast_to(lanes, step.shape)[inside], step[inside]
            column = fold.col_fold * c + lane
            pixel, filt = (step, column) if self.dataflow == "ws" else (column, step)
            yield np.broadcast_to(2 * r - 1 + diagonal, inside.shape)[inside], lane, base + pixel * ops.n + filt

    @cached_property
    def _step_cache(self) -> dict:
        return {}

    def _step_parts(self, which: str):
        """A streaming operand's address is ``step part + lane part``: the step part (fold-independent),
        with the image row and column it adds for the out-of-image check (ifmap only)."""
        ops, df = self.ops, self.dataflow
        if df == "ws":                       # ifmap: steps are output pixels
            return self._pixel_corners
        offset, win_row, win_col = ops._window_tables
        if which == "ifmap":                 # os: steps are window columns
            return offset, win_row, win_col
        window = ops.layer.window
        if df == "os":                       # filter rows k
            return ops.kept_window + ops.config.filter_offset, None, None
        return np.arange(ops.n) * window + ops.config.filter_offset, None, None   # is: filter columns

    @cached_property
    def _pixel_corners(self):
        return self.ops.corners(np.arange(self.ops.m))

    def _lane_parts(self, which: str, fold: Fold):
        """The fold's lane parts (one per used array row or column), see :meth:`_step_parts`."""
        r, c = self.array
        ops, df = self.ops, self.dataflow
        ks = fold.row_fold * r + np.arange(fold.used_rows)
        if which == "ifmap" and df == "os":
            return ops.corners(ks)
        if which == "ifmap":
            offset, win_row, win_col = ops._window_tables
            return offset[ks], win_row[ks], win_col[ks]
        if df == "os":
            return (fold.col_fold * c + np.arange(fold.used_cols)) * ops.layer.window, None, None
        return ops.kept_window[ks], None, None

    def stream_groups(self, which: str):
        """``(key, folds)`` runs of consecutive folds, in order; runs with equal keys that follow
        each other read the same addresses in the same order (rows shifted by the run's length).

        The streaming operands depend on one fold coordinate only: OS filter on the column fold,
        so the row folds of a column fold repeat one stream; OS and WS ifmap and IS filter on the
        row fold, so every column fold repeats one sequence of streams. Stationary loads never repeat.
        """
        df = self.dataflow
        row_folds, col_folds = self.fold_grid
        if (which, df) in (("ifmap", "os"), ("ifmap", "ws"), ("filter", "is")):
            for col in range(col_folds):
                yield "column fold", [self.fold(col * row_folds + row) for row in range(row_folds)]
        elif (which, df) == ("filter", "os"):
            for fold in self.folds():
                yield fold.col_fold, [fold]
        else:
            for fold in self.folds():
                yield None, [fold]

    def stream_group_count(self, which: str) -> int:
        stationary = (which, self.dataflow) in (("filter", "ws"), ("ifmap", "is"))
        by_column = not stationary and (which, self.dataflow) != ("filter", "os")
        return self.fold_grid[1] if by_column else self.num_folds

    def prefetch_length(self, which: str) -> int:
        """Length of :meth:`prefetch_sequence` (padding included), without building it."""
        r, c = self.array
        sr, sc, _ = self.dims
        ops, df = self.ops, self.dataflow
        if which == "ifmap" and df in ("os", "is"):
            width, total = (r, sr) if df == "os" else (c, sc)
            return math.ceil(total / width) * ops.k * width
        if which == "ifmap":
            return math.ceil(sr / r) * ops.m * r
        if df in ("os", "ws"):
            return math.ceil(ops.n / c) * ops.k * c
        return math.ceil(ops.k / r) * ops.n * r

    def prefetch_sequence(self, which: str) -> np.ndarray:
        """The order SCALE-Sim's fixed-bandwidth buffers fetch ``which`` operand from DRAM.

        Tiles of the operand, one per fold along the dimension that operand is folded over, are
        stacked and read by anti-diagonals (row-major for the stationary operand of WS and IS).
        """
        from accelsim.scalesim.buffers import diagonal_order

        r, c = self.array
        sr, sc, _ = self.dims
        ops, df = self.ops, self.dataflow
        tiles = []
        if which == "ifmap" and df in ("os", "is"):   # ifmap transposed: K rows, pixels folded
            width, total = (r, sr) if df == "os" else (c, sc)
            for start in range(0, total, width):
                pixels = start + np.arange(min(width, total - start))
                tiles.append(ops.ifmap(pixels[None, :], np.arange(ops.k)[:, None]))
        elif which == "ifmap":                          # ws: M rows, K folded over array rows
            width = r
            for start in range(0, sr, width):
                ks = start + np.arange(min(width, sr - start))
                tiles.append(ops.ifmap(np.arange(ops.m)[:, None], ks[None, :]))
        elif df in ("os", "ws"):                        # filter: K rows, N folded over columns
            width = c
            for start in range(0, ops.n, width):
                cols = start + np.arange(min(width, ops.n - start))
                tiles.append(ops.filter(np.arange(ops.k)[:, None], cols[None, :]))
        else:                                           # is filter: N rows, K folded over rows
            width = r
            for start in range(0, ops.k, width):
                ks = start + np.arange(min(width, ops.k - start))
                tiles.append(ops.filter(ks[None, :], np.arange(ops.n)[:, None]))
        stacked = np.concatenate([np.pad(tile, ((0, 0), (0, width - tile.shape[1])), constant_values=NO_REQUEST)
                                  for tile in tiles])
        row_major = (which == "filter" and df == "ws") or (which == "ifmap" and df == "is")
        flat = stacked.ravel()
        return flat if row_major else flat[diagonal_order(*stacked.shape)]


class OfmapCum:
    """Cumulative ofmap words written up to each demand row of a layer, in closed form.

    SCALE-Sim's demand matrices have a row per cycle (tens of millions for a large layer); the
    write count of a row depends only on its place in its fold and on the fold's shape (at most
    four shapes: full, last row fold, last column fold, both), so one cumulative array per shape
    and an arithmetic fold prefix stand for the whole layer.

    Examples
    --------
    >>> from accelsim.scalesim.inputs import ScaleSimConfig, ScaleSimLayer
    >>> s = FoldSchedule(Operands(ScaleSimLayer("c", 9, 9, 3, 3, 2, 5, 1), ScaleSimConfig("r", 4, 4, 1, 1, 1, "os")))
    >>> full = np.cumsum(np.concatenate([s.ofmap_counts(f) for f in s.folds()]))
    >>> c = s.ofmap_cum
    >>> all(c.at(r) == full[r] for r in range(len(full))), len(c) == len(full)
    (True, True)
    >>> all(c.row_of(w) == np.searchsorted(full, w) for w in range(int(full[-1]) + 1))
    True
    """

    def __init__(self, schedule: FoldSchedule):
        self.schedule = schedule
        self.per_fold = schedule.rows_per_fold
        self.row_folds = schedule.fold_grid[0]
        self.length = schedule.total_rows
        self._local: dict[tuple[int, int], np.ndarray] = {}
        self.fold_words = lambda fold: int(self.local(fold)[-1])
        full = schedule.fold(0)
        # Words of a whole column fold of full-width folds (every column fold but the last).
        last_row = schedule.fold(self.row_folds - 1)
        self.column_words = (self.row_folds - 1) * self.fold_words(full) + self.fold_words(last_row)

    def __len__(self) -> int:
        return self.length

    def local(self, fold: Fold) -> np.ndarray:
        key = (fold.used_rows, fold.used_cols)
        if key not in self._local:
            self._local[key] = np.cumsum(self.schedule.ofmap_counts(fold))
        return self._local[key]

    def prefix(self, index: int) -> int:
        """Words written before fold ``index`` (earlier row and column folds are all full)."""
        col, row = divmod(index, self.row_folds)
        same_col_full = self.schedule.fold(col * self.row_folds)   # row fold 0 of this column fold
        return col * self.column_words + row * self.fold_words(same_col_full)

    def at(self, row: int) -> int:
        index, offset = divmod(row, self.per_fold)
        return self.prefix(index) + int(self.local(self.schedule.fold(index))[offset])

    def row_of(self, word: int) -> int:
        """First row whose cumulative count reaches ``word`` (``len`` if none does)."""
        folds = self.schedule.num_folds
        index = bisect.bisect_left(range(folds), word, key=lambda f: self.prefix(f + 1) if f + 1 < folds
                                   else self.prefix(f) + self.fold_words(self.schedule.fold(f)))
        if index >= folds:
            return self.length
        local = self.local(self.schedule.fold(index))
        return index * self.per_fold + int(np.searchsorted(local, word - self.prefix(index), side="left"))

    def written_rows(self) -> tuple[int, int]:
        """First and last demand rows that write an ofmap word."""
        first = self.schedule.ofmap_counts(self.schedule.fold(0))
        last_index = self.schedule.num_folds - 1
        last = self.schedule.ofmap_counts(self.schedule.fold(last_index))
        return int(np.flatnonzero(first)[0]), last_index * self.per_fold + int(np.flatnonzero(last)[-1])
