"""What a testbench drives into the array and what it must see come out (no Amaranth here).

A :class:`BenchPlan` is built from a :class:`~accelsim.mapping.Mapping` (the plan every engine
reads): its folds, and the reference engine's operand layout of the same mapping, so the RTL gets
exactly the beats the model consumed, and is checked against the model's trace.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..arch import ArrayConfig
from ..compress.prune import prune_nm
from ..mapping.dataflow import DataflowSpec
from ..mapping.mapping import Mapping
from ..sim import numerics
from ..sim.reference import ReferenceRun, fold_matrices, lay_out, run_reference
from ..sim.stalls import NO_STALLS, Stalls
from ..workload.layer import GemmView


@dataclass(frozen=True)
class LoadBeat:
    """One row of a stationary tile (``C`` values), bottom row first; ``last`` ends the tile."""

    data: tuple[int, ...]
    last: bool
    cols: int = 0  # zero-gated arrays: the columns the tile uses (low Ct bits set)
    index: tuple[int, ...] = ()  # N:M arrays: each kept weight's index inside its group of M


@dataclass(frozen=True)
class StreamBeat:
    """One step: ``R`` left values (+ ``C`` top values in OS), the rows in use, ``last`` ends the fold."""

    left: tuple[int, ...]
    top: tuple[int, ...]
    mask: int
    last: bool
    top_cols: int = 0  # zero-gated OS arrays: the columns the top values use (low Ct bits set)


@dataclass
class BenchPlan:
    mapping: Mapping
    stalls: Stalls
    loads: list[LoadBeat]
    streams: list[StreamBeat]
    expected: ReferenceRun
    # zero-gated arrays: the gated MAC events (the hardware's gated_count at the end): the reference
    # engine's macs["gated"], and the same count by brute force over the tiles
    gated: int | None = None
    gated_brute_force: int | None = None

    @property
    def arch(self) -> ArrayConfig:
        return self.mapping.arch

    @property
    def dataflow(self) -> DataflowSpec:
        return self.mapping.dataflow

    @property
    def gemm(self) -> GemmView:
        return self.mapping.gemm


def make_plan(mapping: Mapping, inputs: np.ndarray, weights: np.ndarray, stalls: Stalls = NO_STALLS) -> BenchPlan:
    """Beats for a mapping's ``count`` GEMMs ``inputs[g] @ weights[g]`` and the reference engine's trace.

    The mapping comes from :meth:`Mapping.for_layer <accelsim.mapping.Mapping.for_layer>` or
    :meth:`~accelsim.mapping.Mapping.for_gemm`. The beats slice the reference engine's operand
    layout (:func:`~accelsim.sim.reference.lay_out`) by the mapping's folds: on an N:M array the
    tile is the weights as the mapping runs them (compressed: value and index per PE), and a step
    gives each row the M-wide input group of its row of the reduction.

    Examples
    --------
    >>> from accelsim.mapping import load_dataflow
    >>> mapping = Mapping.for_gemm(GemmView(M=3, N=2, K=2), load_dataflow("ws"), ArrayConfig(rows=2, cols=2))
    >>> plan = make_plan(mapping, np.ones((3, 2), dtype=int), np.ones((2, 2), dtype=int))
    >>> len(plan.loads), len(plan.streams), plan.expected.cycles
    (2, 3, 8)
    """
    expected = run_reference(mapping, inputs, weights, stalls=stalls)
    datapath = lay_out(mapping, inputs, weights)
    df, R, C = mapping.dataflow, mapping.arch.rows, mapping.arch.cols
    loads, streams = [], []
    gated = 0
    for g, offsets, fold in mapping.folds():
        a, b = fold_matrices(df, datapath.operands, g, offsets, fold)  # with the trailing lane axis
        mask, cols = (1 << fold.rows) - 1, (1 << fold.cols) - 1
        if df.mode == "output":
            gated += _gated_in_fold(df, a, b)
            for k in range(fold.steps):
                streams.append(StreamBeat(_pad(a[:, k, 0], R), _pad(b[k, :, 0], C), mask, last=k + 1 == fold.steps,
                                          top_cols=cols))
            continue
        index = None
        if datapath.index is not None:
            index = fold_matrices(df, datapath.operands | {df.stationary: datapath.index}, g, offsets, fold)[0]
        gated += _gated_in_fold(df, a, b, index)
        for r in reversed(range(fold.rows)):
            loads.append(LoadBeat(_pad(a[r, :, 0], C), last=r == 0, cols=cols,
                                  index=() if index is None else _pad(index[r], C)))
        for t in range(fold.steps):  # N:M: row r's group in elements r·m … r·m + m − 1
            streams.append(StreamBeat(_pad(b[t].reshape(-1), R * b.shape[-1]), (), mask, last=t + 1 == fold.steps))
    plan = BenchPlan(mapping, stalls, loads, streams, expected)
    if mapping.arch.sparse == "gate":
        plan.gated, plan.gated_brute_force = expected.macs["gated"], gated
    return plan


def _gated_in_fold(dataflow: DataflowSpec, a: np.ndarray, b: np.ndarray, index: np.ndarray | None = None) -> int:
    """MACs of one fold with a zero operand (brute force over the tiles, not the engine's count).

    Stationary: ``a`` is the Rt×Ct tile, ``b`` the T×Rt stream; PE ``(r, c)`` meets ``b[t, r]`` at
    step t, or on N:M the input ``index[r, c]`` of row r's group. Output: ``a`` Rt×T, ``b`` T×Ct.
    Both carry a trailing lane axis (one lane, or the M-wide groups of an N:M stream).
    """
    if dataflow.mode == "output":
        return int((~((a[:, :, None, 0] != 0) & (b[None, :, :, 0] != 0))).sum())
    met = (b[:, :, None, 0] if index is None
           else np.take_along_axis(b[:, :, None, :], index[None, :, :, None], axis=3)[..., 0])  # (T, Rt, Ct or 1)
    return int(((met == 0) | (a[None, :, :, 0] == 0)).sum())


def _pad(values: np.ndarray, size: int) -> tuple[int, ...]:
    out = [0] * size
    out[:len(values)] = [int(v) for v in values]
    return tuple(out)


def random_plan(rng: np.random.Generator, arch: ArrayConfig, dataflow: DataflowSpec, *,
                max_folds: int = 3, stall_p: float = 0.0, extremes: float = 0.25, zeros: float = 0.0,
                nm_structured: bool = True) -> BenchPlan:
    """A random multi-fold case: partial tiles, K = 1 at times, extreme values, random stalls;
    ``zeros`` is the fraction of operand values set to zero (so gating happens). On an N:M array
    the weights are pruned to N:M and described so (the mapping compresses them where that shortens
    the reduction), or (``nm_structured=False``) left dense and run uncompressed."""
    def dim(extent: int) -> int:
        return int(rng.integers(1, extent * max_folds + 1))

    k = 1 if rng.random() < 0.15 else dim(arch.rows if dataflow.mode == "stationary" else 4)
    if arch.nm is not None:  # K' = ⌈K/M⌉·N rows should fold too: up to max_folds tiles of K'
        k = 1 if rng.random() < 0.15 else int(rng.integers(1, arch.rows * max_folds * arch.nm[1] // arch.nm[0] + 1))
    m = dim(arch.rows if dataflow.rows == "M" else (arch.cols if dataflow.cols == "M" else 4))
    n = dim(arch.cols if dataflow.cols == "N" else (arch.rows if dataflow.rows == "N" else 4))
    count = int(rng.integers(1, 3))
    pairs = [numerics.random_operands(rng, m, n, k, arch, extremes) for _ in range(count)]
    if zeros:  # drawn only when asked, so the dense benches' random cases stay as they were
        pairs = [(np.where(rng.random(x.shape) < zeros, 0, x), np.where(rng.random(w.shape) < zeros, 0, w))
                 for x, w in pairs]
    stalls = Stalls(seed=int(rng.integers(2**31)), p_load=stall_p, p_stream=stall_p, p_out=stall_p)
    inputs, weights = np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])
    structure = ""
    if arch.nm is not None and nm_structured:
        weights = prune_nm(weights, *arch.nm, axis=1).astype(np.int64)  # N:M along K (the largest |w| kept)
        structure = "{}:{}".format(*arch.nm)
    mapping = Mapping.for_gemm(GemmView(M=m, N=n, K=k, count=count), dataflow, arch, weight_structure=structure)
    return make_plan(mapping, inputs, weights, stalls)
