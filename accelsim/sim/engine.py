"""The fast engine: whole networks with the closed-form timing of :mod:`accelsim.sim.timing`.

GEMM layers run on the array, everything else on the vector unit (one layer at a time). Memory is
ideal here: ``stall_cycles`` is 0 until a memory model supplies stalls per layer.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

from ..arch import ArrayConfig
from ..mapping.dataflow import DataflowSpec
from ..mapping.mapping import Mapping
from ..workload.graph import LayerGraph
from ..workload.layer import GemmView, Layer
from .timing import gemm_timeline, vector_cycles

RESULT_VERSION = 1


@dataclass(frozen=True)
class LayerResult:
    """Timing of one layer.

    ``cycles = compute_cycles + stall_cycles``; ``utilization`` is MACs per PE per cycle;
    ``unit`` is ``"array"`` or ``"vector"``; ``folds`` and ``stream_cycles`` describe the mapping
    (``stream_cycles`` are the cycles in which the array takes new operands).
    """

    name: str
    kind: str
    op: str
    shape: str
    unit: str
    macs: int
    cycles: int
    compute_cycles: int
    stall_cycles: int
    utilization: float
    folds: int
    stream_cycles: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SimResult:
    """Timing of a whole workload on one architecture and dataflow."""

    workload: str
    arch: ArrayConfig
    dataflow: str
    layers: tuple[LayerResult, ...]

    @property
    def total_cycles(self) -> int:
        return sum(r.cycles for r in self.layers)

    @property
    def total_macs(self) -> int:
        return sum(r.macs for r in self.layers)

    @property
    def utilization(self) -> float:
        return self.total_macs / (self.total_cycles * self.arch.pes) if self.total_cycles else 0.0

    @property
    def time_ms(self) -> float:
        return self.total_cycles / (self.arch.clock_mhz * 1e3)

    def to_dict(self) -> dict[str, Any]:
        return {"version": RESULT_VERSION, "workload": self.workload, "arch": self.arch.to_dict(),
                "dataflow": self.dataflow, "total_cycles": self.total_cycles, "total_macs": self.total_macs,
                "utilization": round(self.utilization, 6), "time_ms": round(self.time_ms, 6),
                "layers": [layer.to_dict() for layer in self.layers]}

    def to_json(self) -> str:
        """Stable JSON: same inputs, byte-identical text."""
        return json.dumps(self.to_dict(), indent=1, sort_keys=False)


@lru_cache(maxsize=4096)
def _gemm_timing(gemm: GemmView, dataflow: DataflowSpec, arch: ArrayConfig) -> tuple[int, int, int]:
    timeline = gemm_timeline(Mapping(gemm, dataflow, arch))
    return timeline.total, timeline.folds, timeline.stream_steps


def simulate_layer(layer: Layer, arch: ArrayConfig, dataflow: DataflowSpec) -> LayerResult:
    """Time one layer on the array (GEMM-like) or on the vector unit (everything else).

    Examples
    --------
    >>> from accelsim.mapping import load_dataflow
    >>> layer = Layer("fc", "linear", in_shapes=((16, 64),), out=32)
    >>> r = simulate_layer(layer, ArrayConfig(rows=8, cols=8), load_dataflow("ws"))
    >>> r.macs, r.cycles, r.folds
    (32768, 610, 32)
    """
    if layer.gemm is not None:
        Mapping.for_layer(layer, dataflow, arch)  # raises MappingError if it cannot run
        cycles, folds, steps = _gemm_timing(layer.gemm, dataflow, arch)
        unit = "array"
    else:
        cycles, folds, steps, unit = vector_cycles(layer, arch), 0, 0, "vector"
    util = layer.macs / (cycles * arch.pes) if cycles else 0.0
    return LayerResult(name=layer.name, kind=layer.kind, op=layer.op, shape=layer.shape_text, unit=unit,
                       macs=layer.macs, cycles=cycles, compute_cycles=cycles, stall_cycles=0,
                       utilization=round(util, 6), folds=folds, stream_cycles=steps)


def simulate(graph: LayerGraph, arch: ArrayConfig, dataflow: DataflowSpec) -> SimResult:
    """Time every layer of a workload, in topological order."""
    layers = tuple(simulate_layer(layer, arch, dataflow) for layer in graph)
    return SimResult(workload=graph.name, arch=arch, dataflow=dataflow.name, layers=layers)
