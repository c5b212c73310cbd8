"""What a testbench drives into the array and what it must see come out (no Amaranth here).

A :class:`BenchPlan` is built from the same fold list and operand slicing as the reference engine,
so the RTL gets exactly the beats the model consumed, and is checked against the model's trace.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..arch import ArrayConfig
from ..mapping.dataflow import DataflowSpec
from ..mapping.mapping import Mapping
from ..sim import numerics
from ..sim.reference import ReferenceRun, fold_matrices, run_reference
from ..sim.stalls import Stalls
from ..workload.layer import GemmView


@dataclass(frozen=True)
class LoadBeat:
    """One row of a stationary tile (``C`` values), bottom row first; ``last`` ends the tile."""

    data: tuple[int, ...]
    last: bool


@dataclass(frozen=True)
class StreamBeat:
    """One step: ``R`` left values (+ ``C`` top values in OS), the rows in use, ``last`` ends the fold."""

    left: tuple[int, ...]
    top: tuple[int, ...]
    mask: int
    last: bool


@dataclass
class BenchPlan:
    arch: ArrayConfig
    dataflow: DataflowSpec
    stalls: Stalls
    loads: list[LoadBeat]
    streams: list[StreamBeat]
    expected: ReferenceRun
    gemm: GemmView


def make_plan(inputs: np.ndarray, weights: np.ndarray, arch: ArrayConfig, dataflow: DataflowSpec,
              stalls: Stalls = Stalls()) -> BenchPlan:
    """Beats for ``count`` GEMMs ``inputs[g] @ weights[g]`` and the reference engine's trace."""
    inputs = np.asarray(inputs, dtype=np.int64)
    weights = np.asarray(weights, dtype=np.int64)
    if inputs.ndim == 2:
        inputs, weights = inputs[None], weights[None]
    gemm = GemmView(M=inputs.shape[1], N=weights.shape[2], K=inputs.shape[2], count=inputs.shape[0])
    mapping = Mapping(gemm, dataflow, arch)
    operands = {"I": inputs, "W": weights}
    R, C = arch.rows, arch.cols
    loads, streams = [], []
    for g, offsets, fold in mapping.folds():
        a, b = fold_matrices(dataflow, operands, g, offsets, fold)
        mask = (1 << fold.rows) - 1
        if dataflow.mode == "stationary":
            for r in reversed(range(fold.rows)):
                loads.append(LoadBeat(_pad(a[r], C), last=r == 0))
            for m in range(fold.steps):
                streams.append(StreamBeat(_pad(b[m], R), (), mask, last=m + 1 == fold.steps))
        else:
            for k in range(fold.steps):
                streams.append(StreamBeat(_pad(a[:, k], R), _pad(b[k], C), mask, last=k + 1 == fold.steps))
    expected = run_reference(inputs, weights, arch, dataflow, stalls=stalls)
    return BenchPlan(arch, dataflow, stalls, loads, streams, expected, gemm)


def _pad(values: np.ndarray, size: int) -> tuple[int, ...]:
    out = [0] * size
    out[:len(values)] = [int(v) for v in values]
    return tuple(out)


def random_plan(rng: np.random.Generator, arch: ArrayConfig, dataflow: DataflowSpec, *,
                max_folds: int = 3, stall_p: float = 0.0, extremes: float = 0.25) -> BenchPlan:
    """A random multi-fold case: partial tiles, K = 1 at times, extreme values, random stalls."""
    def dim(extent: int) -> int:
        return int(rng.integers(1, extent * max_folds + 1))

    k = 1 if rng.random() < 0.15 else dim(arch.rows if dataflow.mode == "stationary" else 4)
    m = dim(arch.rows if dataflow.rows == "M" else (arch.cols if dataflow.cols == "M" else 4))
    n = dim(arch.cols if dataflow.cols == "N" else (arch.rows if dataflow.rows == "N" else 4))
    count = int(rng.integers(1, 3))
    pairs = [numerics.random_operands(rng, m, n, k, arch, extremes) for _ in range(count)]
    stalls = Stalls(seed=int(rng.integers(2**31)), p_load=stall_p, p_stream=stall_p, p_out=stall_p)
    return make_plan(np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs]), arch, dataflow, stalls)
