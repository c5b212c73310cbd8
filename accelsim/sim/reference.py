"""The reference engine: the systolic array stepped cycle by cycle, register by register.

This is the micro-architecture the RTL implements (see ``hdl/README.md`` and ``docs/timing.md``).
It moves real integers through the array and records the cycle at which every output row leaves
the output port. Its controller decides from the array's state — e.g. a stationary bank is
reloaded only when no token that uses it is left in flight — so the closed forms in
:mod:`accelsim.sim.timing` are checked against it, not copied into it. Every PE is updated each
cycle with numpy, so a cycle costs a few dozen array operations whatever the array size.

Cycle conventions: cycle 0 is the first cycle after start. A register written "at the end of
cycle t" holds the new value during cycle t+1. An output row "appears at cycle t" when it is on
the de-skewed output port during cycle t. ``cycles`` is the last output's cycle plus one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..arch import ArrayConfig
from ..mapping.dataflow import OPERAND_DIMS, DataflowSpec
from ..mapping.mapping import Fold, Mapping
from ..workload.layer import GemmView
from . import numerics
from .stalls import NO_STALLS, Stalls
from .timing import os_last_beat_earliest


@dataclass(frozen=True)
class OutputEvent:
    """One output row on the output port: fold index, row within the fold's tile, its values."""

    cycle: int
    fold: int
    row: int
    values: tuple[int, ...]


@dataclass
class ReferenceRun:
    """What the reference engine produced for a batch of GEMMs."""

    cycles: int
    outputs: np.ndarray  # (count, M, N)
    events: list[OutputEvent] = field(default_factory=list)
    words: dict[str, int] = field(default_factory=dict)  # operand words the array took in: I, W; O emitted


def fold_matrices(dataflow: DataflowSpec, operands: dict[str, np.ndarray], g: int,
                  offsets: dict[str, int], fold: Fold) -> tuple[np.ndarray, np.ndarray]:
    """The two matrices the array takes for one fold of GEMM ``g``.

    Stationary mode: ``(stationary Rt×Ct, streamed T×Rt)``. Output mode: ``(left Rt×T, top T×Ct)``.
    ``operands`` maps ``"I"`` and ``"W"`` to ``(count, M, K)`` and ``(count, K, N)`` arrays.
    """
    df = dataflow
    sizes = {df.rows: fold.rows, df.cols: fold.cols, df.temporal: fold.steps}

    def take(op: str, want: tuple[str, str]) -> np.ndarray:
        matrix = operands[op][g] if OPERAND_DIMS[op] == want else operands[op][g].T
        (d0, d1) = want
        return matrix[offsets[d0]:offsets[d0] + sizes[d0], offsets[d1]:offsets[d1] + sizes[d1]]

    if df.mode == "stationary":
        return take(df.stationary, (df.rows, df.cols)), take(df.streamed, (df.temporal, df.rows))
    return take(df.left, (df.rows, "K")), take(df.top, ("K", df.cols))


def _down(a: np.ndarray, fill: object) -> np.ndarray:
    """``a`` moved one row down (what each row receives from the row above), ``fill`` on top."""
    out = np.empty_like(a)
    out[0] = fill
    out[1:] = a[:-1]
    return out


def _up(a: np.ndarray, fill: object) -> np.ndarray:
    """``a`` moved one row up (what each row receives from the row below), ``fill`` at the bottom."""
    out = np.empty_like(a)
    out[-1] = fill
    out[:-1] = a[1:]
    return out


class _Ring:
    """A skew (or de-skew) buffer: lane i sees what was pushed ``delay[i]`` cycles ago."""

    def __init__(self, depth: int, lanes: int, delays: np.ndarray, fill: dict[str, object]):
        self.depth, self.delays, self.lane = depth, delays, np.arange(lanes)
        self.data = {k: np.full((depth, lanes), v, dtype=np.asarray(v).dtype) for k, v in fill.items()}
        self.fill = fill

    def push(self, t: int, **values: np.ndarray) -> None:
        slot = t % self.depth
        for k, arr in self.data.items():
            arr[slot] = values.get(k, self.fill[k])

    def read(self, t: int) -> dict[str, np.ndarray]:
        slots = (t - self.delays) % self.depth
        return {k: arr[slots, self.lane] for k, arr in self.data.items()}

    def pending(self, t: int) -> np.ndarray:
        """Mask (slot, lane) of pushed entries that have not reached their lane yet after cycle t."""
        ages = (t - np.arange(self.depth)) % self.depth
        return self.delays[None, :] > ages[:, None]


def run_reference(inputs: np.ndarray, weights: np.ndarray, arch: ArrayConfig,
                  dataflow: DataflowSpec, *, stalls: Stalls = NO_STALLS, temporal_tile: int | None = None,
                  max_cycles: int = 50_000_000) -> ReferenceRun:
    """Run ``count`` GEMMs ``inputs[g] @ weights[g]`` on the array, cycle by cycle.

    Parameters
    ----------
    inputs, weights
        ``(count, M, K)`` and ``(count, K, N)`` integer arrays (2-D arrays mean ``count = 1``),
        within the widths of ``arch``.
    arch, dataflow
        The array and how the GEMM maps onto it.
    stalls
        Valid/ready pattern of the load, stream and output ports (none by default).
    temporal_tile
        Stream the temporal dimension in chunks of this many steps (as the memory model may ask).

    Examples
    --------
    >>> from accelsim.mapping import load_dataflow
    >>> a = np.arange(6).reshape(2, 3); w = np.ones((3, 2), dtype=int)
    >>> run = run_reference(a, w, ArrayConfig(rows=2, cols=2), load_dataflow("ws"))
    >>> run.outputs[0].tolist(), run.cycles
    ([[3, 3], [12, 12]], 9)
    """
    inputs = np.asarray(inputs, dtype=np.int64)
    weights = np.asarray(weights, dtype=np.int64)
    if inputs.ndim == 2:
        inputs, weights = inputs[None], weights[None]
    numerics.check_operands(inputs, weights, arch)
    count, m, k = inputs.shape
    gemm = GemmView(M=m, N=weights.shape[2], K=k, count=count)
    mapping = Mapping(gemm, dataflow, arch, temporal_tile)
    mapping.check()
    engine = _StationaryArray if dataflow.mode == "stationary" else _OutputArray
    return engine(mapping, inputs, weights, stalls).run(max_cycles)


class _Engine:
    """Shared plumbing: fold list, operand slicing, output collection."""

    def __init__(self, mapping: Mapping, inputs: np.ndarray, weights: np.ndarray, stalls: Stalls):
        self.arch, self.df, self.stalls = mapping.arch, mapping.dataflow, stalls
        self.R, self.C = self.arch.rows, self.arch.cols
        self.operands = {"I": inputs, "W": weights}
        self.folds: list[tuple[int, dict[str, int], Fold]] = list(mapping.folds())
        self.out = np.zeros((mapping.gemm.count, mapping.gemm.M, mapping.gemm.N), dtype=np.int64)
        self.events: list[OutputEvent] = []
        self.tiles: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self.words = {"I": 0, "W": 0, "O": 0}
        self.rows_expected = sum(self._rows_out(f) for _, _, f in self.folds)
        self.deskew = _Ring(self.C, self.C, self.C - 1 - np.arange(self.C),
                            dict(val=np.int64(0), vld=False, fold=np.int64(-1), row=np.int64(-1)))

    def _rows_out(self, fold: Fold) -> int:
        raise NotImplementedError

    def tile(self, f: int) -> tuple[np.ndarray, np.ndarray]:
        """The matrices of fold f (see :func:`fold_matrices`), kept until its stream is done."""
        if f not in self.tiles:
            g, offsets, fold = self.folds[f]
            self.tiles[f] = fold_matrices(self.df, self.operands, g, offsets, fold)
        return self.tiles[f]

    def port(self, tau: int, edge: dict[str, np.ndarray]) -> dict[str, np.ndarray] | None:
        """Push this enabled cycle's edge outputs into the de-skew buffer; return the port's row."""
        self.deskew.push(tau, **edge)
        port = self.deskew.read(tau)
        return port if port["vld"].any() else None

    def take(self, t: int, port: dict[str, np.ndarray]) -> None:
        """The sink took the port's row in cycle t: record it and store the values."""
        fold_ids = port["fold"][port["vld"]]
        f = int(fold_ids[0])
        assert (fold_ids == f).all(), f"cycle {t}: outputs of folds {set(fold_ids.tolist())} mixed on the port"
        g, offsets, fold = self.folds[f]
        row = int(port["row"][0])
        assert port["vld"][:fold.cols].all() and (port["row"][:fold.cols] == row).all(), \
            f"cycle {t}: a ragged output row"
        values = port["val"][:fold.cols].copy()
        self.words["O"] += fold.cols
        self.events.append(OutputEvent(t, f, row, tuple(values.tolist())))
        self.store(g, offsets, fold, row, values)

    def store(self, g: int, offsets: dict[str, int], fold: Fold, row: int, values: np.ndarray) -> None:
        raise NotImplementedError

    def run(self, max_cycles: int) -> ReferenceRun:
        t = tau = 0
        while len(self.events) < self.rows_expected:
            if t >= max_cycles:
                raise RuntimeError(f"reference engine did not finish in {max_cycles} cycles")
            port = self.port(tau, self.edge())
            if port is not None:
                if not self.stalls.active("out", t):
                    t += 1  # back-pressure: the whole array holds its state
                    continue
                self.take(t, port)
            self.step(t, tau)
            t, tau = t + 1, tau + 1
        return ReferenceRun(cycles=self.events[-1].cycle + 1, outputs=self.out, events=self.events, words=self.words)

    def edge(self) -> dict[str, np.ndarray]:
        """The array's output edge (values, valid, fold and row tags) during this cycle."""
        raise NotImplementedError

    def step(self, t: int, tau: int) -> None:
        """One enabled cycle: ports, PEs, shifts. ``t`` is the clock cycle (for the stall pattern)."""
        raise NotImplementedError


class _StationaryArray(_Engine):
    """K on the rows: a stationary tile per PE, streamed tokens move right, partial sums down."""

    def __init__(self, mapping: Mapping, inputs: np.ndarray, weights: np.ndarray, stalls: Stalls):
        super().__init__(mapping, inputs, weights, stalls)
        R, C = self.R, self.C
        self.banks = self.arch.stationary_banks
        self.w = np.zeros((self.banks, R, C), dtype=np.int64)
        z = lambda dtype=np.int64: np.zeros((R, C), dtype=dtype)  # noqa: E731
        self.x, self.x_vld, self.x_bank, self.x_fold, self.x_row = z(), z(bool), z(), z(), z()
        self.p, self.p_vld, self.p_fold, self.p_row = z(), z(bool), z(), z()
        self.skew = _Ring(R, R, np.arange(R), dict(val=np.int64(0), vld=False, bank=np.int64(0),
                                                   fold=np.int64(-1), row=np.int64(-1)))
        self.rows_idx, self.cols_idx = np.indices((R, C))
        # controller
        self.next_load = 0
        self.load: tuple[int, int] | None = None  # (fold, step)
        self.loaded_by: dict[int, int] = {}  # fold -> last cycle of its load
        self.next_stream = 0
        self.stream: tuple[int, int] | None = None
        self.streamed = -1  # highest fold whose stream has fully issued

    def _rows_out(self, fold: Fold) -> int:
        return fold.steps

    def store(self, g, offsets, fold, row, values):
        df = self.df
        index = {df.temporal: row + offsets[df.temporal], df.cols: np.arange(fold.cols) + offsets[df.cols]}
        m, n = index["M"], index["N"]
        if offsets["K"] == 0:  # the first chunk of the reduction initialises the accumulator
            self.out[g, m, n] = values
        else:
            self.out[g, m, n] = numerics.accumulate(self.out[g, m, n], values, self.arch)

    def edge(self) -> dict[str, np.ndarray]:
        R = self.R
        return dict(val=self.p[R - 1], vld=self.p_vld[R - 1], fold=self.p_fold[R - 1], row=self.p_row[R - 1])

    def step(self, t: int, tau: int) -> None:
        R, C, folds = self.R, self.C, self.folds
        # 1. stream port: ready within a fold, or for the next fold once its tile is loaded
        ready = self.stream is not None or (self.next_stream < len(folds)
                                            and self.loaded_by.get(self.next_stream, tau) < tau)
        if ready and self.stalls.active("stream", t):
            if self.stream is None:
                self.stream, self.next_stream = (self.next_stream, 0), self.next_stream + 1
            f, m = self.stream
            fold = folds[f][2]
            vals = np.zeros(R, dtype=np.int64)
            vals[:fold.rows] = self.tile(f)[1][m]
            self.words[self.df.streamed] += fold.rows
            self.skew.push(tau, val=vals, vld=np.arange(R) < fold.rows, bank=np.int64(f % self.banks),
                           fold=np.int64(f), row=np.int64(m))
            if m + 1 == fold.steps:
                self.stream, self.streamed = None, f
                del self.tiles[f]
            else:
                self.stream = (f, m + 1)
        else:
            self.skew.push(tau)  # a bubble
        edge = self.skew.read(tau)
        self.x[:, 0], self.x_vld[:, 0], self.x_bank[:, 0] = edge["val"], edge["vld"], edge["bank"]
        self.x_fold[:, 0], self.x_row[:, 0] = edge["fold"], edge["row"]

        # 3. PEs: multiply by the bank each token names, add the partial sum from above
        weight = self.w[self.x_bank, self.rows_idx, self.cols_idx] if self.banks > 1 else self.w[0]
        p_in, p_in_vld = _down(self.p, 0), _down(self.p_vld, False)
        summed = numerics.accumulate(p_in, self.x * weight, self.arch)
        self.p = np.where(self.x_vld, summed, p_in)
        self.p_fold = np.where(self.x_vld, self.x_fold, _down(self.p_fold, -1))
        self.p_row = np.where(self.x_vld, self.x_row, _down(self.p_row, -1))
        self.p_vld = self.x_vld | p_in_vld

        # 4. load port: shift the next stationary tile into its bank once nothing in flight uses it
        ready = self.load is not None
        if not ready and self.next_load < len(folds):
            older = self.next_load - self.banks
            ready = older < 0 or (self.streamed >= older
                                  and not self._bank_in_flight(tau, self.next_load % self.banks))
        if ready and self.stalls.active("load", t):
            if self.load is None:
                self.load, self.next_load = (self.next_load, 0), self.next_load + 1
            f, j = self.load
            fold = folds[f][2]
            bank = f % self.banks
            row = np.zeros(C, dtype=np.int64)
            row[:fold.cols] = self.tile(f)[0][fold.rows - 1 - j]  # the bottom row goes in first
            self.words[self.df.stationary] += fold.cols
            self.w[bank, 1:] = self.w[bank, :-1].copy()
            self.w[bank, 0] = row
            if j + 1 == fold.rows:
                self.loaded_by[f], self.load = tau, None
            else:
                self.load = (f, j + 1)

        # 5. tokens move one PE to the right
        for arr in (self.x, self.x_vld, self.x_bank, self.x_fold, self.x_row):
            arr[:, 1:] = arr[:, :-1].copy()

    def _bank_in_flight(self, tau: int, bank: int) -> bool:
        """Will any token that reads ``bank`` be inside the array after this cycle?"""
        moving = self.x_vld[:, :-1] & (self.x_bank[:, :-1] == bank)
        pending = self.skew.pending(tau) & self.skew.data["vld"] & (self.skew.data["bank"] == bank)
        return bool(moving.any() or pending.any())


class _OutputArray(_Engine):
    """K temporal: each PE accumulates one output; finished outputs drain up a shift chain."""

    def __init__(self, mapping: Mapping, inputs: np.ndarray, weights: np.ndarray, stalls: Stalls):
        super().__init__(mapping, inputs, weights, stalls)
        R, C = self.R, self.C
        z = lambda dtype=np.int64: np.zeros((R, C), dtype=dtype)  # noqa: E731
        self.x, self.y, self.vld, self.first, self.last, self.fold_tag = z(), z(), z(bool), z(bool), z(bool), z()
        self.acc = z()
        self.o, self.o_vld, self.o_fold, self.o_row = z(), z(bool), z(), z()
        tags = dict(val=np.int64(0), vld=False, first=False, last=False, fold=np.int64(-1))
        self.left = _Ring(R, R, np.arange(R), tags)
        self.top = _Ring(C, C, np.arange(C), dict(val=np.int64(0)))
        self.row_idx = np.broadcast_to(np.arange(R)[:, None], (R, C))
        self.next_stream = 0
        self.stream: tuple[int, int] | None = None
        self.prev_end, self.prev_rows = 0, 0

    def _rows_out(self, fold: Fold) -> int:
        return fold.rows

    def store(self, g, offsets, fold, row, values):
        df = self.df
        index = {df.rows: row + offsets[df.rows], df.cols: np.arange(fold.cols) + offsets[df.cols]}
        self.out[g, index["M"], index["N"]] = values

    def edge(self) -> dict[str, np.ndarray]:
        return dict(val=self.o[0], vld=self.o_vld[0], fold=self.o_fold[0], row=self.o_row[0])

    def _ready(self, tau: int) -> bool:
        """Stream port ready? Single-buffered folds start on an empty drain chain; with double
        buffering a fold's last step waits until its outputs cannot collide in the chain."""
        if self.stream is None:
            if self.next_stream == len(self.folds) or (not self.arch.double_buffered and self.o_vld.any()):
                return False
            f, k = self.next_stream, 0
        else:
            f, k = self.stream
        last = k + 1 == self.folds[f][2].steps
        return not (last and self.arch.double_buffered
                    and tau < os_last_beat_earliest(self.prev_end, self.prev_rows))

    def step(self, t: int, tau: int) -> None:
        R, C, folds = self.R, self.C, self.folds
        # 1. stream port: one step of the left and top tiles into the skew buffers
        if self._ready(tau) and self.stalls.active("stream", t):
            if self.stream is None:
                self.stream, self.next_stream = (self.next_stream, 0), self.next_stream + 1
            f, k = self.stream
            fold = folds[f][2]
            left, top = self.tile(f)
            lv = np.zeros(R, dtype=np.int64)
            lv[:fold.rows] = left[:, k]
            tv = np.zeros(C, dtype=np.int64)
            tv[:fold.cols] = top[k]
            self.words["I"] += fold.rows if self.df.rows == "M" else fold.cols
            self.words["W"] += fold.cols if self.df.rows == "M" else fold.rows
            self.left.push(tau, val=lv, vld=np.arange(R) < fold.rows, first=np.bool_(k == 0),
                           last=np.bool_(k + 1 == fold.steps), fold=np.int64(f))
            self.top.push(tau, val=tv)
            if k + 1 == fold.steps:
                self.stream, self.prev_end, self.prev_rows = None, tau + 1, fold.rows
                del self.tiles[f]
            else:
                self.stream = (f, k + 1)
        else:  # a bubble
            self.left.push(tau)
            self.top.push(tau)
        edge = self.left.read(tau)
        self.x[:, 0], self.vld[:, 0], self.first[:, 0] = edge["val"], edge["vld"], edge["first"]
        self.last[:, 0], self.fold_tag[:, 0] = edge["last"], edge["fold"]
        self.y[0, :] = self.top.read(tau)["val"]

        # 3. PEs accumulate; a fold's last step hands the result to the drain chain
        base = np.where(self.first, 0, self.acc)
        summed = numerics.accumulate(base, self.x * self.y, self.arch)
        self.acc = np.where(self.vld, summed, self.acc)
        capture = self.vld & self.last
        below_vld = _up(self.o_vld, False)
        assert not (capture & below_vld).any(), f"cycle {t}: drain chain collision"
        self.o = np.where(capture, self.acc, _up(self.o, 0))
        self.o_fold = np.where(capture, self.fold_tag, _up(self.o_fold, -1))
        self.o_row = np.where(capture, self.row_idx, _up(self.o_row, -1))
        self.o_vld = capture | below_vld

        # 4. left operands move right, top operands move down (tags ride with the left ones)
        for arr in (self.x, self.vld, self.first, self.last, self.fold_tag):
            arr[:, 1:] = arr[:, :-1].copy()
        self.y[1:, :] = self.y[:-1, :].copy()
