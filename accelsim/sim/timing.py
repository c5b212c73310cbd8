"""The one definition of the array's timing: cycle formulas per fold, and the vector unit.

Derivations are in ``docs/timing.md``; symbols: array ``R×C``; a fold uses ``Rt×Ct`` PEs and
streams ``T`` steps; ``s`` is the cycle its first element enters, ``e = s + T``.

Stationary mode (WS, IS; K on the rows)::

    load  l_f = max(l_{f-1} + Rt_{f-1},  free_f)          one load port; a bank is reloaded only
    free_f    = e_{f-B} + Rt_{f-B} + C - 3  (0 if f < B)   once its last token has left the array
    s_f       = max(e_{f-1}, l_f + Rt_f)                  B = 2 if double_buffered else 1
    total     = e_last + R + C - 1                        last output row + 1

Bit-serial PEs take every streamed step in ``b`` cycles (the left operand's bits), so each fold's
``T`` becomes ``T·b`` (:attr:`Mapping.serial_bits`); N:M weights, Bit Fusion packing and
zero-skipping shorten the reduction the folds cover (:attr:`Mapping.reduction`). The recursions
below are unchanged.

Output mode (OS; K temporal)::

    e_f = e_{f-1} + max(T_f, 2·Rt_{f-1} - 1)              double buffered: the last step is held so
                                                          the drain chain never collides
    s_f = e_{f-1} + 2·Rt_{f-1} + C - 2                    single: wait for the drain chain to empty
    total = e_last + 2·Rt_last + C - 2

The recursions are translation invariant, so a run of identical folds (or of identical blocks of
folds) becomes periodic; :meth:`Timeline.play` detects the period exactly and jumps over it,
which keeps whole networks on small arrays fast.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from ..arch import ArrayConfig
from ..mapping.mapping import Fold, FoldSeq, Mapping
from ..workload.layer import Layer


def os_last_beat_earliest(prev_end, prev_rows):
    """Earliest enabled cycle at which an OS fold may take its last step.

    A fold's finished outputs drain up a shift chain two cycles per row; the next fold's
    completion wavefront must trail by ``2·Rt − 1`` cycles or a capture would overwrite an output
    still in the chain, so the controller holds the last step until then. ``prev_end`` is the end
    (last step + 1) of the previous fold, ``prev_rows`` its rows; with no previous fold (0, 0) the
    bound is below any cycle. Works on ints and on Amaranth values (the RTL builds this comparator).
    """
    return prev_end + 2 * prev_rows - 2


class Timeline:
    """The schedule of a sequence of folds on one array; ``total`` is the cycle count so far."""

    def __init__(self, arch: ArrayConfig):
        self.arch = arch
        self.total = 0
        self.folds = 0
        self.stream_steps = 0

    def fold(self, fold: Fold) -> None:
        raise NotImplementedError

    def _state(self) -> tuple[int, ...]:
        raise NotImplementedError

    def _translate(self, delta: int) -> None:
        raise NotImplementedError

    def play(self, seq: FoldSeq, times: int = 1) -> None:
        """Run ``seq`` ``times`` times, jumping over whole periods once the schedule repeats."""
        seen: dict[tuple[int, ...], tuple[int, int, int, int]] = {}
        rep = 0
        while rep < times:
            ref = self._state()[0]
            key = tuple(v - ref for v in self._state())
            if key in seen:
                prev_rep, prev_ref, prev_folds, prev_steps = seen.pop(key)
                period = rep - prev_rep
                jumps = (times - rep) // period
                self._translate(jumps * (ref - prev_ref))
                self.folds += jumps * (self.folds - prev_folds)
                self.stream_steps += jumps * (self.stream_steps - prev_steps)
                rep += jumps * period
                seen.clear()
                if rep >= times:
                    break
            else:
                seen[key] = (rep, ref, self.folds, self.stream_steps)
            for item, count in seq:
                if isinstance(item, Fold) and count == 1:
                    self.fold(item)
                else:
                    self.play([(item, 1)] if isinstance(item, Fold) else item, count)
            rep += 1


class StationaryTimeline(Timeline):
    """WS/IS: stationary tiles are shifted in row by row; inputs stream through the rows."""

    def __init__(self, arch: ArrayConfig):
        super().__init__(arch)
        self.stream_free = 0  # e of the previous fold
        self.load_free = 0  # when the (single) load port is next idle
        self.bank_free: deque[int] = deque([0] * arch.stationary_banks)

    def fold(self, fold: Fold) -> None:
        load = max(self.load_free, self.bank_free.popleft())
        self.load_free = load + fold.rows
        start = max(self.stream_free, self.load_free)
        self.stream_free = start + fold.steps
        self.bank_free.append(self.stream_free + fold.rows + self.arch.cols - 3)
        self.total = self.stream_free + self.arch.rows + self.arch.cols - 1
        self.folds += 1
        self.stream_steps += fold.steps

    def _state(self) -> tuple[int, ...]:
        return (self.stream_free, self.load_free, self.total, *self.bank_free)

    def _translate(self, delta: int) -> None:
        self.stream_free += delta
        self.load_free += delta
        self.total += delta
        self.bank_free = deque(v + delta for v in self.bank_free)


class OutputTimeline(Timeline):
    """OS: each PE accumulates one output; results drain up a per-column shift chain."""

    def __init__(self, arch: ArrayConfig):
        super().__init__(arch)
        self.stream_free = 0
        self.prev_rows = 0

    def fold(self, fold: Fold) -> None:
        if self.arch.double_buffered:
            end = max(self.stream_free + fold.steps, os_last_beat_earliest(self.stream_free, self.prev_rows) + 1)
        else:  # the accumulators are the drain chain: start once it is empty
            wait = 2 * self.prev_rows + self.arch.cols - 2 if self.prev_rows else 0
            end = self.stream_free + wait + fold.steps
        self.stream_free = end
        self.prev_rows = fold.rows
        self.total = self.stream_free + 2 * fold.rows + self.arch.cols - 2
        self.folds += 1
        self.stream_steps += fold.steps

    def _state(self) -> tuple[int, ...]:
        return (self.stream_free, self.total, self.prev_rows + self.stream_free)

    def _translate(self, delta: int) -> None:
        self.stream_free += delta
        self.total += delta


def timeline_for(mapping: Mapping) -> Timeline:
    """A fresh timeline of the right kind for a mapping's dataflow."""
    kind = OutputTimeline if mapping.dataflow.mode == "output" else StationaryTimeline
    return kind(mapping.arch)


def gemm_timeline(mapping: Mapping) -> Timeline:
    """Play all folds of a mapped GEMM (ideal memory) and return the finished timeline.

    Examples
    --------
    >>> from accelsim.arch import ArrayConfig
    >>> from accelsim.mapping import load_dataflow
    >>> from accelsim.workload import GemmView
    >>> arch = ArrayConfig(rows=4, cols=4, double_buffered=False)
    >>> gemm_timeline(Mapping(GemmView(M=10, N=4, K=4), load_dataflow("ws"), arch)).total
    21
    """
    timeline = timeline_for(mapping)
    timeline.play(*mapping.play_sequence())
    return timeline


def vector_cycles(layer: Layer, arch: ArrayConfig) -> int:
    """Cycles of a non-GEMM layer on a vector unit of ``arch.lanes`` lanes (one op/lane/cycle)."""
    return -(-layer.vector_ops // arch.lanes)  # integer ceiling: exact for any size


# -- the same recursions as max-plus matrices, for many uniform GEMMs at once --------------------
# Each fold is a max-plus linear map of a small state (x'_i = max_j A_ij + x_j), so a run of n
# identical folds is a matrix power and a uniform mapping's nested runs (Mapping.run_length) are
# products of powers: exact integers, O(log n) products, and numpy evaluates many arrays at once
# (accelsim.dse.vectorised). The matrices restate Timeline.fold above; tests/sim/test_timing_maxplus.py
# checks them against it on random fold sequences.
_NEG = -(1 << 60)  # max-plus zero ("no path"); sums of two stay far from int64's limit


def _maxplus(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a ⊗ b`` over the leading axis: ``(K, n, n) × (K, n, n)`` (a running maximum over the inner index
    is three times faster than reducing a ``(K, n, n, n)`` array)."""
    out = a[:, :, 0, None] + b[:, None, 0, :]
    for j in range(1, a.shape[2]):
        np.maximum(out, a[:, :, j, None] + b[:, None, j, :], out=out)
    return np.maximum(out, _NEG, out=out)


def _power(a: np.ndarray, exponent: np.ndarray) -> np.ndarray:
    """``a ** exponent`` per leading index (exponent ≥ 0; the 0th power is the identity)."""
    k, n, _ = a.shape
    result = np.broadcast_to(_identity(n), (k, n, n)).copy()
    exponent = exponent.astype(np.int64).copy()
    base = a
    while exponent.any():
        odd = (exponent & 1).astype(bool)
        if odd.any():
            result[odd] = _maxplus(base[odd], result[odd])
        exponent >>= 1
        if exponent.any():
            base = _maxplus(base, base)
    return result


def _identity(n: int) -> np.ndarray:
    eye = np.full((n, n), _NEG, dtype=np.int64)
    np.fill_diagonal(eye, 0)
    return eye


def _fold_matrices(output_mode: bool, banks: int, fold_rows: np.ndarray, steps: np.ndarray,
                   cols: np.ndarray) -> np.ndarray:
    """The max-plus matrix of one fold of ``fold_rows`` rows and ``steps`` steps, per leading index.

    Stationary state ``(e, L, b_1 … b_B)``: stream end, load port free, bank free times (oldest
    first). Output state, double buffered ``(e, q, z)`` with ``q = e + 2·Rt_prev − 1`` (the earliest
    end :func:`os_last_beat_earliest` allows) and ``z`` the total; single buffered ``(e, w)`` with
    ``w = e + wait`` (also the total).
    """
    rt, t, c = fold_rows, steps, cols
    k = len(rt)
    if output_mode:
        n = 3 if banks == 2 else 2
        a = np.full((k, n, n), _NEG, dtype=np.int64)
        if banks == 2:
            a[:, 0, 0], a[:, 0, 1] = t, 0                               # e' = max(e + T, q)
            a[:, 1, 0], a[:, 1, 1] = t + 2 * rt - 1, 2 * rt - 1           # q' = e' + 2Rt − 1
            a[:, 2, 0], a[:, 2, 1] = t + 2 * rt + c - 2, 2 * rt + c - 2   # z' = e' + 2Rt + C − 2
        else:
            a[:, 0, 1] = t                                              # e' = w + T
            a[:, 1, 1] = t + 2 * rt + c - 2                             # w' = e' + 2Rt + C − 2
        return a
    n = 2 + banks
    a = np.full((k, n, n), _NEG, dtype=np.int64)
    a[:, 0, 0], a[:, 0, 1], a[:, 0, 2] = t, rt + t, rt + t              # e' = max(e, L + Rt, b_1 + Rt) + T
    a[:, 1, 1], a[:, 1, 2] = rt, rt                                     # L' = max(L, b_1) + Rt
    if banks == 2:
        a[:, 2, 3] = 0                                                  # the queue moves up
    freed = n - 1                                                       # the new bank: e' + Rt + C − 3
    a[:, freed, 0], a[:, freed, 1], a[:, freed, 2] = t + rt + c - 3, 2 * rt + t + c - 3, 2 * rt + t + c - 3
    return a


def uniform_cycles(output_mode: bool, banks: int, rows: np.ndarray, cols: np.ndarray, sizes: dict[str, np.ndarray],
                   row_dim: str, loop_order: tuple[str, str], temporal: str, chunk: np.ndarray,
                   count: int | np.ndarray, serial_bits: int | np.ndarray = 1) -> np.ndarray:
    """Compute cycles of uniform mappings (every tile the same reduction), one per leading index: what
    ``gemm_timeline(mapping).total`` gives, for arrays of ``rows``, ``cols``, GEMM ``sizes`` (as the
    array runs them: ``M``, ``N`` and reduced ``K``), temporal ``chunk``, GEMMs per layer ``count`` and
    cycles per step ``serial_bits`` (each a number or one per index). ``row_dim`` is the GEMM
    dimension on the array's rows; the other spatial one is on its columns.

    Examples
    --------
    >>> from accelsim.arch import ArrayConfig
    >>> from accelsim.mapping import load_dataflow
    >>> from accelsim.workload import GemmView
    >>> arch, ws = ArrayConfig(rows=4, cols=4, double_buffered=False), load_dataflow("ws")
    >>> one = lambda v: np.array([v])
    >>> uniform_cycles(False, 1, one(4), one(4), {"M": one(10), "N": one(4), "K": one(4)}, "K", ("N", "K"), "M",
    ...                one(10), 1).tolist(), gemm_timeline(Mapping(GemmView(M=10, N=4, K=4), ws, arch)).total
    ([21], 21)
    """
    outer, inner = loop_order
    tile = {row_dim: rows}
    col_dim = ({"M", "N", "K"} - {row_dim, temporal}).pop()
    tile[col_dim] = cols

    def runs(dim: str) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
        """(full tile size, how many), (remainder size, 0 or 1): Mapping.run_length's tile_sizes."""
        size, step = sizes[dim], tile[dim]
        full = np.minimum(step, size)
        return (full, size // full), (size % full, (size % full > 0).astype(np.int64))

    def then(first: np.ndarray, second: np.ndarray) -> np.ndarray:
        return _maxplus(second, first)

    outer_runs, inner_runs = runs(outer), runs(inner)
    t_size = sizes[temporal]
    t_full = np.minimum(chunk, t_size)
    t_runs = ((t_full, t_size // t_full), (t_size % t_full, (t_size % t_full > 0).astype(np.int64)))
    gemm = None
    for steps, t_count in t_runs:
        chunk_matrix = None
        for o_size, o_count in outer_runs:
            block = None
            for i_size, i_count in inner_runs:
                fold_rows = o_size if outer == row_dim else i_size
                fold = _fold_matrices(output_mode, banks, fold_rows, steps * serial_bits, cols)
                run = _power(fold, i_count)
                block = run if block is None else then(block, run)
            assert block is not None
            run = _power(block, o_count)
            chunk_matrix = run if chunk_matrix is None else then(chunk_matrix, run)
        assert chunk_matrix is not None
        run = _power(chunk_matrix, t_count)
        gemm = run if gemm is None else then(gemm, run)
    assert gemm is not None
    whole = _power(gemm, np.broadcast_to(np.asarray(count, dtype=np.int64), (len(rows),)))
    n = whole.shape[1]
    start = np.zeros(n, dtype=np.int64)
    if output_mode and banks == 2:
        start[1] = -1  # no previous fold: q = e − 1 lets the first fold end at e + T
    state = (whole + start[None, None, :]).max(axis=2)
    if output_mode:
        return state[:, n - 1]
    return state[:, 0] + rows + cols - 1
