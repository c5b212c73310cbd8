"""The fast engine: whole networks with the closed-form timing of :mod:`accelsim.sim.timing`.

GEMM layers run on the array, everything else on the vector unit (one layer at a time). With the
memory model (the default) each array layer is tiled to fit the buffers and DRAM transfers that
compute cannot hide become ``stall_cycles`` (:mod:`accelsim.sim.memory`); ``memory=False`` is ideal
memory. Vector layers read and write on-chip activations only.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Any

from ..arch import ArrayConfig
from ..mapping.dataflow import DataflowSpec
from ..mapping.mapping import Mapping
from ..workload.graph import LayerGraph
from ..workload.layer import GemmView, Layer
from .memory import BUFFER, plan_memory, stall_cycles
from .timing import gemm_timeline, vector_cycles

RESULT_VERSION = 1


@dataclass(frozen=True)
class LayerResult:
    """Timing of one layer.

    ``cycles = compute_cycles + stall_cycles``; ``utilization`` is MACs per PE per cycle;
    ``unit`` is ``"array"`` or ``"vector"``; ``folds`` and ``stream_cycles`` describe the mapping
    (``stream_cycles`` are the cycles in which the array takes new operands); ``temporal_tile`` is
    the chunk of the streamed dimension the buffers allow (0: not chunked). SRAM counts are words,
    DRAM counts bytes, per operand (ifmap = I, filter = W, ofmap = outputs and partial sums);
    ``dram_bytes_per_cycle_needed`` is the bandwidth that would hide all transfers behind compute.
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
    temporal_tile: int = 0
    sram_ifmap_reads: int = 0
    sram_filter_reads: int = 0
    sram_ofmap_reads: int = 0
    sram_ifmap_writes: int = 0
    sram_filter_writes: int = 0
    sram_ofmap_writes: int = 0
    dram_ifmap_bytes: int = 0
    dram_filter_bytes: int = 0
    dram_ofmap_bytes: int = 0
    dram_bytes_per_cycle_needed: float = 0.0
    dram_bytes_per_cycle_achieved: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SimResult:
    """Timing of a whole workload on one architecture and dataflow."""

    workload: str
    arch: ArrayConfig
    dataflow: str
    layers: tuple[LayerResult, ...]
    memory: bool = True

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
    def time_ms(self) -> Fraction:
        """Milliseconds, exactly (a float would blur cycle counts above 2**53)."""
        return self.total_cycles / (Fraction(self.arch.clock_mhz) * 1000)

    def to_dict(self) -> dict[str, Any]:
        return {"version": RESULT_VERSION, "workload": self.workload, "arch": self.arch.to_dict(),
                "dataflow": self.dataflow, "memory": "model" if self.memory else "ideal",
                "total_cycles": self.total_cycles, "total_macs": self.total_macs,
                "stall_cycles": sum(r.stall_cycles for r in self.layers),
                "dram_bytes": sum(r.dram_ifmap_bytes + r.dram_filter_bytes + r.dram_ofmap_bytes for r in self.layers),
                "utilization": round(self.utilization, 6), "time_ms": float(round(self.time_ms, 6)),
                "layers": [layer.to_dict() for layer in self.layers]}

    def to_json(self) -> str:
        """Stable JSON: same inputs, byte-identical text."""
        return json.dumps(self.to_dict(), indent=1, sort_keys=False)


@lru_cache(maxsize=4096)
def _gemm_timing(gemm: GemmView, dataflow: DataflowSpec, arch: ArrayConfig,
                 temporal_tile: int | None) -> tuple[int, int, int]:
    timeline = gemm_timeline(Mapping(gemm, dataflow, arch, temporal_tile))
    return timeline.total, timeline.folds, timeline.stream_steps


def simulate_layer(layer: Layer, arch: ArrayConfig, dataflow: DataflowSpec, *, memory: bool = True) -> LayerResult:
    """Time one layer on the array (GEMM-like) or on the vector unit (everything else).

    Examples
    --------
    >>> from accelsim.mapping import load_dataflow
    >>> layer = Layer("fc", "linear", in_shapes=((16, 64),), out=32)
    >>> r = simulate_layer(layer, ArrayConfig(rows=8, cols=8), load_dataflow("ws"), memory=False)
    >>> r.macs, r.cycles, r.folds
    (32768, 610, 32)
    """
    extra: dict[str, Any] = {}
    stall = 0
    if layer.gemm is not None:
        Mapping.for_layer(layer, dataflow, arch)  # raises MappingError if it cannot run
        plan = plan_memory(layer, dataflow, arch) if memory else None
        tile = plan.temporal_tile if plan else None
        compute, folds, steps = _gemm_timing(layer.gemm, dataflow, arch, tile)
        unit = "array"
        if plan:
            stall = stall_cycles(plan, compute, arch)
            extra = {f"sram_{BUFFER[op]}_reads": n for op, n in plan.sram_reads.items()}
            extra |= {f"sram_{BUFFER[op]}_writes": n for op, n in plan.sram_writes.items()}
            extra |= {f"dram_{BUFFER[op]}_bytes": n for op, n in plan.dram_bytes.items()}
            extra |= {"temporal_tile": tile or 0,
                      "dram_bytes_per_cycle_needed": round(plan.dram_total / compute, 4),
                      "dram_bytes_per_cycle_achieved": round(plan.dram_total / (compute + stall), 4)}
    else:
        compute, folds, steps, unit = vector_cycles(layer, arch), 0, 0, "vector"
    cycles = compute + stall
    util = layer.macs / (cycles * arch.pes) if cycles else 0.0
    return LayerResult(name=layer.name, kind=layer.kind, op=layer.op, shape=layer.shape_text, unit=unit,
                       macs=layer.macs, cycles=cycles, compute_cycles=compute, stall_cycles=stall,
                       utilization=round(util, 6), folds=folds, stream_cycles=steps, **extra)


def simulate(graph: LayerGraph, arch: ArrayConfig, dataflow: DataflowSpec, *, memory: bool = True) -> SimResult:
    """Time every layer of a workload, in topological order (``memory=False``: ideal memory)."""
    layers = tuple(simulate_layer(layer, arch, dataflow, memory=memory) for layer in graph)
    return SimResult(workload=graph.name, arch=arch, dataflow=dataflow.name, layers=layers, memory=memory)
