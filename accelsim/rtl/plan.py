"""What a testbench drives into the array and what it must see come out (no Amaranth here).

A :class:`BenchPlan` is built from the same fold list and operand slicing as the reference engine,
so the RTL gets exactly the beats the model consumed, and is checked against the model's trace.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..arch import ArrayConfig
from ..compress.prune import prune_nm
from ..mapping.dataflow import DataflowSpec
from ..mapping.mapping import Mapping
from ..sim import numerics
from ..sim.nm import compress_nm, nm_stream, uncompressed_nm
from ..sim.reference import ReferenceRun, fold_matrices, run_reference
from ..sim.stalls import Stalls
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
    arch: ArrayConfig
    dataflow: DataflowSpec
    stalls: Stalls
    loads: list[LoadBeat]
    streams: list[StreamBeat]
    expected: ReferenceRun
    gemm: GemmView
    # zero-gated arrays: the gated MAC events (the hardware's gated_count at the end): the reference
    # engine's macs["gated"], and the same count by brute force over the tiles
    gated: int | None = None
    gated_brute_force: int | None = None


def make_plan(inputs: np.ndarray, weights: np.ndarray, arch: ArrayConfig, dataflow: DataflowSpec,
              stalls: Stalls = Stalls(), *, nm_structured: bool | None = None) -> BenchPlan:
    """Beats for ``count`` GEMMs ``inputs[g] @ weights[g]`` and the reference engine's trace.

    On an N:M array (``arch.weight_nm``) the weights are compressed (or, with
    ``nm_structured=False``, laid out dense) by :mod:`accelsim.sim.nm`, as the reference engine does.
    """
    inputs = np.asarray(inputs, dtype=np.int64)
    weights = np.asarray(weights, dtype=np.int64)
    if inputs.ndim == 2:
        inputs, weights = inputs[None], weights[None]
    if arch.nm is not None:
        return _make_nm_plan(inputs, weights, arch, dataflow, stalls, nm_structured)
    gemm = GemmView(M=inputs.shape[1], N=weights.shape[2], K=inputs.shape[2], count=inputs.shape[0])
    mapping = Mapping(gemm, dataflow, arch)
    operands = {"I": inputs, "W": weights}
    R, C = arch.rows, arch.cols
    loads, streams = [], []
    gated = 0
    for g, offsets, fold in mapping.folds():
        a, b = fold_matrices(dataflow, operands, g, offsets, fold)
        gated += _gated_in_fold(dataflow, a, b, fold)
        mask, cols = (1 << fold.rows) - 1, (1 << fold.cols) - 1
        if dataflow.mode == "stationary":
            for r in reversed(range(fold.rows)):
                loads.append(LoadBeat(_pad(a[r], C), last=r == 0, cols=cols))
            for m in range(fold.steps):
                streams.append(StreamBeat(_pad(b[m], R), (), mask, last=m + 1 == fold.steps))
        else:
            for k in range(fold.steps):
                streams.append(StreamBeat(_pad(a[:, k], R), _pad(b[k], C), mask, last=k + 1 == fold.steps,
                                          top_cols=cols))
    expected = run_reference(inputs, weights, arch, dataflow, stalls=stalls)
    plan = BenchPlan(arch, dataflow, stalls, loads, streams, expected, gemm)
    if arch.sparse == "gate":
        plan.gated, plan.gated_brute_force = expected.macs["gated"], gated
    return plan


def _gated_in_fold(dataflow: DataflowSpec, a: np.ndarray, b: np.ndarray, fold) -> int:
    """MACs of one fold with a zero operand (brute force over the tiles, not the engine's count).

    Stationary: ``a`` is the Rt×Ct tile, ``b`` the T×Rt stream; row r does ``T·Ct`` MACs of which
    ``nonzero(b[:, r]) · nonzero(a[r])`` have two non-zero operands. Output: ``a`` Rt×T, ``b`` T×Ct.
    """
    total = fold.rows * fold.cols * fold.steps
    if dataflow.mode == "stationary":
        return total - int(((b != 0).sum(axis=0) * (a != 0).sum(axis=1)).sum())
    return total - int(((a != 0).sum(axis=0) * (b != 0).sum(axis=1)).sum())


def _make_nm_plan(inputs: np.ndarray, weights: np.ndarray, arch: ArrayConfig, dataflow: DataflowSpec,
                  stalls: Stalls, nm_structured: bool | None) -> BenchPlan:
    """N:M weight-stationary beats: the tile is the compressed weights (value and index per PE), a
    step gives each row the M-wide input group of its compressed row; the fold list is the
    reference engine's (its mapping, with K replaced by K')."""
    expected = run_reference(inputs, weights, arch, dataflow, stalls=stalls, nm_structured=nm_structured)
    n, m = arch.nm
    values, index, groups = (uncompressed_nm(weights, m) if expected.nm_structured is False
                             else compress_nm(weights, n, m))
    stream = nm_stream(inputs, groups, m)  # (count, M, K', m)
    R, C = arch.rows, arch.cols
    loads, streams = [], []
    gated = 0
    for g, offsets, fold in expected.mapping.folds():
        tile, steps = fold_matrices(dataflow, {"I": stream, "W": values}, g, offsets, fold)
        indices, _ = fold_matrices(dataflow, {"I": stream, "W": index}, g, offsets, fold)
        # brute force: the input PE (r, c) meets at step t is steps[t, r, indices[r, c]]
        met = np.take_along_axis(steps[:, :, None, :], indices[None, :, :, None], axis=3)[..., 0]  # (T, Rt, Ct)
        gated += int(((met == 0) | (tile[None] == 0)).sum())
        for r in reversed(range(fold.rows)):
            loads.append(LoadBeat(_pad(tile[r], C), last=r == 0, cols=(1 << fold.cols) - 1,
                                  index=_pad(indices[r], C)))
        mask = (1 << fold.rows) - 1
        for t in range(fold.steps):  # row r's group in elements r·m … r·m + m − 1
            streams.append(StreamBeat(_pad(steps[t].reshape(-1), R * m), (), mask, last=t + 1 == fold.steps))
    gemm = GemmView(M=inputs.shape[1], N=weights.shape[2], K=inputs.shape[2], count=inputs.shape[0])
    plan = BenchPlan(arch, dataflow, stalls, loads, streams, expected, gemm)
    if arch.sparse == "gate":
        plan.gated, plan.gated_brute_force = expected.macs["gated"], gated
    return plan


def _pad(values: np.ndarray, size: int) -> tuple[int, ...]:
    out = [0] * size
    out[:len(values)] = [int(v) for v in values]
    return tuple(out)


def random_plan(rng: np.random.Generator, arch: ArrayConfig, dataflow: DataflowSpec, *,
                max_folds: int = 3, stall_p: float = 0.0, extremes: float = 0.25, zeros: float = 0.0,
                nm_structured: bool = True) -> BenchPlan:
    """A random multi-fold case: partial tiles, K = 1 at times, extreme values, random stalls;
    ``zeros`` is the fraction of operand values set to zero (so gating happens). On an N:M array
    the weights are pruned to N:M and compressed, or (``nm_structured=False``) left dense and run
    uncompressed."""
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
        pairs = [tuple(np.where(rng.random(x.shape) < zeros, 0, x) for x in pair) for pair in pairs]
    stalls = Stalls(seed=int(rng.integers(2**31)), p_load=stall_p, p_stream=stall_p, p_out=stall_p)
    inputs, weights = np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])
    if arch.nm is not None and nm_structured:
        weights = prune_nm(weights, *arch.nm, axis=1).astype(np.int64)  # N:M along K (the largest |w| kept)
    return make_plan(inputs, weights, arch, dataflow, stalls,
                     nm_structured=nm_structured if arch.nm is not None else None)
