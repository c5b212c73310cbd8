"""The fast engine: whole networks with the closed-form timing of :mod:`accelsim.sim.timing`.

GEMM layers run on the array, everything else on the vector unit (one layer at a time). With the
memory model (the default) each array layer is tiled to fit the buffers and DRAM transfers that
compute cannot hide become ``stall_cycles`` (:mod:`accelsim.sim.memory`); ``memory=False`` is ideal
memory. Vector layers read and write on-chip activations only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields, replace
from functools import cached_property
from fractions import Fraction
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from ..arch import ArrayConfig
import numpy as np

from ..mapping.dataflow import DataflowSpec
from ..mapping.mapping import Mapping
from ..workload.graph import LayerGraph
from ..workload.layer import Layer
from ..counts import MAC_KEYS, MacCounts, OperandCounts
from .memory import MemoryPlan, plan_memory, stall_cycles
from .timing import gemm_timeline, vector_cycles
from .totals import NetworkTotals, busy_pe_cycles, utilization

if TYPE_CHECKING:
    from ..cost import EnergyTable
    from ..mapping.choice import LayerChoice

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
    # Precision and sparsity (issue 10): dense_cycles is the same layer with every zero computed.
    dense_cycles: int = 0
    issued_macs: int = 0
    effective_macs: int = 0
    gated_macs: int = 0
    skipped_macs: int = 0
    dram_ifmap_metadata_bytes: int = 0
    dram_filter_metadata_bytes: int = 0
    dram_ofmap_metadata_bytes: int = 0
    precision: dict[str, Any] | None = None
    sparsity: dict[str, Any] | None = None
    # Energy (issue 11): counts × the energy table (docs/energy.md), by component and by operand.
    energy_pj: float = 0.0
    energy: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        # Shallow: the two dict fields are plain JSON data already (asdict's deep copy cost 40% of a run).
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "LayerResult":
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})

    def operand(self, operand: str) -> OperandCounts:
        """The typed traffic record of ``I``, ``W`` or ``O``."""
        return OperandCounts.of(self, operand)

    @property
    def mac_counts(self) -> MacCounts:
        return MacCounts(self.macs, self.issued_macs, self.effective_macs, self.gated_macs, self.skipped_macs)


@dataclass(frozen=True)
class SimResult:
    """Timing of a whole workload on one architecture and dataflow."""

    workload: str
    arch: ArrayConfig
    dataflow: str  # the dataflow the array layers ran ("os/ws" when per-layer choices mix them)
    layers: tuple[LayerResult, ...]
    memory: bool = True
    energy: dict[str, Any] | None = None  # the network's breakdown and the table used
    mapping: str = "fixed"  # the mapping rule: "fixed", "search" or "given" (per-layer choices)
    assumptions: tuple[str, ...] = ()  # what the run did not do as described (accelsim.sim.assumptions)

    @cached_property
    def totals(self) -> NetworkTotals:
        """Cycles (with the DRAM latency term apart), utilisation and time of the whole network."""
        return NetworkTotals.of_layers(self.layers, self.arch, self.memory)

    @property
    def total_cycles(self) -> int:
        return self.totals.cycles

    @property
    def total_macs(self) -> int:
        return sum(r.macs for r in self.layers)

    @property
    def utilization(self) -> float:
        return self.totals.utilization

    @property
    def time_ms(self) -> Fraction:
        """Milliseconds, exactly (a float would blur cycle counts above 2**53)."""
        return self.totals.time_ms

    def to_dict(self) -> dict[str, Any]:
        return {"version": RESULT_VERSION, "workload": self.workload, "arch": self.arch.to_dict(),
                "dataflow": self.dataflow, "mapping": self.mapping, "memory": "model" if self.memory else "ideal",
                "total_cycles": self.total_cycles, "total_macs": self.total_macs,
                "stall_cycles": sum(r.stall_cycles for r in self.layers),
                "dram_bytes": sum(OperandCounts.of(r).dram_bytes for r in self.layers),
                "dram_metadata_bytes": sum(OperandCounts.of(r).dram_metadata_bytes for r in self.layers),
                "dense_cycles": sum(r.dense_cycles for r in self.layers),
                **{key: sum(getattr(r, key) for r in self.layers) for key in MAC_KEYS},
                "utilization": round(self.utilization, 6), "time_ms": float(round(self.time_ms, 6)),
                **({"energy_pj": self.energy["energy_pj"], "energy": self.energy} if self.energy else {}),
                "layers": [layer.to_dict() for layer in self.layers], "assumptions": list(self.assumptions)}

    def to_json(self) -> str:
        """Stable JSON: same inputs, byte-identical text."""
        return json.dumps(self.to_dict(), indent=1, sort_keys=False)


_TIMINGS: dict[tuple, tuple[int, int, int]] = {}


def _timing(mapping: Mapping) -> tuple[int, int, int]:
    """Compute cycles, folds and stream cycles (cached for regular mappings: networks repeat shapes,
    and design points that differ only in buffers or DRAM share the folds' timing)."""
    if not mapping.uniform:
        timeline = gemm_timeline(mapping)
        return timeline.total, timeline.folds, timeline.stream_steps
    key = mapping.timing_key
    if key not in _TIMINGS:
        if len(_TIMINGS) > 100_000:  # a bound on memory for very long design-space runs
            _TIMINGS.clear()
        timeline = gemm_timeline(mapping)
        _TIMINGS[key] = timeline.total, timeline.folds, timeline.stream_steps
    return _TIMINGS[key]


def simulate_layer(layer: Layer, arch: ArrayConfig, dataflow: DataflowSpec, *, memory: bool = True,
                   operands: dict[str, np.ndarray] | None = None, temporal_tile: int | None = None) -> LayerResult:
    """Time one layer on the array (GEMM-like) or on the vector unit (everything else).

    ``operands`` optionally gives the layer's real GEMM operands (``"W"``: ``(count, K, N)``,
    ``"I"``: ``(count, M, K)``; see :mod:`accelsim.tensors`) so zero-skipping and MAC counts come
    from the exact zero pattern instead of the density description. ``temporal_tile`` streams a
    smaller chunk than the largest that fits (see :meth:`Mapping.for_layer`).

    Examples
    --------
    >>> from accelsim.mapping import load_dataflow
    >>> layer = Layer("fc", "linear", in_shapes=((16, 64),), out=32)
    >>> r = simulate_layer(layer, ArrayConfig(rows=8, cols=8), load_dataflow("ws"), memory=False)
    >>> r.macs, r.cycles, r.folds
    (32768, 610, 32)
    >>> sparse = Layer("fc", "linear", in_shapes=((16, 64),), out=32, weight_structure="2:4")
    >>> nm = ArrayConfig(rows=8, cols=8, dataflows=("ws",), weight_nm="2:4")
    >>> r = simulate_layer(sparse, nm, load_dataflow("ws"), memory=False)
    >>> r.cycles, r.dense_cycles, r.skipped_macs
    (314, 610, 16384)
    """
    if layer.gemm is None:
        compute = vector_cycles(layer, arch)
        return LayerResult(name=layer.name, kind=layer.kind, op=layer.op, shape=layer.shape_text, unit="vector",
                           macs=0, cycles=compute, compute_cycles=compute, stall_cycles=0,
                           utilization=0.0, folds=0, stream_cycles=0, dense_cycles=compute)
    return plan_layer(layer, arch, dataflow, memory=memory, operands=operands,
                      temporal_tile=temporal_tile).result(arch)


@dataclass(frozen=True)
class LayerPlan:
    """What a GEMM layer's timing and traffic are before DRAM bandwidth is known.

    Everything here depends on the array, its buffers and the mapping, not on
    ``memory.dram_bytes_per_cycle`` or ``memory.dram_latency_cycles``: a design-space run shares one
    plan across points that differ only there (:mod:`accelsim.dse.batch`). :meth:`result` adds
    the stalls of a given DRAM.
    """

    layer: Layer
    mapping: Mapping
    compute: int
    folds: int
    steps: int
    memory: MemoryPlan
    macs: MacCounts
    operands: dict[str, np.ndarray] | None = None
    ideal_memory: bool = False  # traffic counted as if the buffers held everything; no stalls

    def counts(self) -> dict[str, Any]:
        """The traffic and MAC counts a report (and the energy table) reads, by their JSON names."""
        out: dict[str, Any] = {}
        for op, counts in self.memory.operands.items():
            out |= counts.flat(op)
        return out | self.macs.to_dict() | {"unit": "array", "precision": self.mapping.precision.to_dict()}

    @property
    def busy(self) -> Fraction:
        """PE-cycles occupied: issued MACs over the MACs a PE takes a cycle (its fusion)."""
        return busy_pe_cycles(self.macs.issued, self.mapping.precision.fusion)

    def stall(self, arch: ArrayConfig) -> int:
        """Cycles waiting for DRAM on ``arch``'s DRAM (0 with ideal memory)."""
        return 0 if self.ideal_memory else stall_cycles(self.memory, self.compute, arch)

    def result(self, arch: ArrayConfig) -> LayerResult:
        """The full report of this layer on ``arch`` (the plan's array with its DRAM)."""
        layer, mapping, compute = self.layer, self.mapping, self.compute
        stall = self.stall(arch)
        extra = {}
        if not self.ideal_memory:
            total = self.memory.dram_total
            extra = {"temporal_tile": mapping.temporal_tile or 0,
                     "dram_bytes_per_cycle_needed": round(total / compute, 4) if compute else 0.0,
                     "dram_bytes_per_cycle_achieved": round(total / (compute + stall), 4) if compute + stall else 0.0}
        cycles = compute + stall
        memory = not self.ideal_memory
        dense = mapping.dense_equivalent(memory)
        dense_cycles = cycles if dense is mapping else _dense_cycles(layer, dense, memory, self.operands)
        counts = self.counts()
        del counts["unit"], counts["precision"]
        util = utilization(self.busy, cycles, arch.pes)
        return LayerResult(name=layer.name, kind=layer.kind, op=layer.op, shape=layer.shape_text, unit="array",
                           macs=layer.macs, cycles=cycles, compute_cycles=compute, stall_cycles=stall,
                           utilization=round(util, 6), folds=self.folds, stream_cycles=self.steps, **extra,
                           dense_cycles=dense_cycles, **counts,
                           precision=mapping.precision.to_dict(), sparsity=mapping.sparsity_report(self.operands))


def plan_layer(layer: Layer, arch: ArrayConfig, dataflow: DataflowSpec, *, memory: bool = True,
               operands: dict[str, np.ndarray] | None = None, temporal_tile: int | None = None) -> LayerPlan:
    """Map a GEMM layer, time its folds and count its traffic (see :func:`simulate_layer`)."""
    mapping = Mapping.for_layer(layer, dataflow, arch, memory=memory, operands=operands, temporal_tile=temporal_tile)
    compute, folds, steps = _timing(mapping)
    plan = plan_memory(layer, mapping, operands, ideal=not memory)
    return LayerPlan(layer, mapping, compute, folds, steps, plan, mapping.mac_counts(operands), operands,
                     ideal_memory=not memory)


def _dense_cycles(layer: Layer, dense: Mapping, memory: bool, operands: dict[str, np.ndarray] | None) -> int:
    compute = _timing(dense)[0]
    return compute + (stall_cycles(plan_memory(layer, dense, operands), compute, dense.arch) if memory else 0)


def simulate(graph: LayerGraph, arch: ArrayConfig, dataflow: DataflowSpec, *, memory: bool = True,
             tensors: dict[str, dict[str, np.ndarray]] | None = None,
             energy_table: "EnergyTable | str | None" = "horowitz45",
             choices: "dict[str, LayerChoice] | None" = None, mapping: str | None = None) -> SimResult:
    """Time every layer of a workload, in topological order (``memory=False``: ideal memory).

    ``choices`` maps layer names to their own mapping (dataflow, loop order, temporal chunk; a
    mapping search's result), overriding ``dataflow`` for those layers, and ``mapping`` names the
    rule that chose them for the report ("search"; default "given", or "fixed" without choices);
    ``tensors`` maps layer names to their GEMM operands (see :func:`simulate_layer`);
    ``energy_table`` (a bundled name, a YAML path, an :class:`~accelsim.cost.EnergyTable` or None
    for no energy) prices every layer's counts (``docs/energy.md``).
    """
    from ..cost import layer_energy, network_energy

    tensors, choices = tensors or {}, choices or {}
    layers = tuple(_simulate_chosen(layer, arch, dataflow, choices.get(layer.name), memory, tensors.get(layer.name))
                   for layer in graph)
    energy = None
    if energy_table is not None:
        table = _energy_table(energy_table) if isinstance(energy_table, str) else energy_table
        layers = tuple(replace(r, energy_pj=(e := layer_energy(r, arch, table)).total_pj,
                               energy={"by_component": dict(e.by_component), "by_operand": dict(e.by_operand)})
                       for r in layers)
        total = network_energy(layers, arch, table)
        energy = {"energy_pj": total.total_pj, "table": table.name, "unit": table.unit,
                  "by_component": dict(total.by_component),
                  "by_operand": dict(total.by_operand)}
    used = sorted({(choices[layer.name].dataflow if layer.name in choices else dataflow).name
                   for layer in graph if layer.gemm is not None}) or [dataflow.name]
    from .assumptions import fallbacks

    notes = (*graph.meta.get("assumptions", ()), *fallbacks(graph, layers, arch))
    return SimResult(workload=graph.name, arch=arch, dataflow="/".join(used), layers=layers, memory=memory,
                     energy=energy, mapping=mapping or ("given" if choices else "fixed"), assumptions=notes)


def _simulate_chosen(layer: Layer, arch: ArrayConfig, dataflow: DataflowSpec, choice: "LayerChoice | None",
                     memory: bool, operands: dict[str, np.ndarray] | None) -> LayerResult:
    if choice is None:
        return simulate_layer(layer, arch, dataflow, memory=memory, operands=operands)
    return simulate_layer(layer, arch, choice.dataflow, memory=memory, operands=operands,
                          temporal_tile=choice.temporal_tile)


@lru_cache(maxsize=16)
def _energy_table(name_or_path: str):
    from ..cost import load_energy_table

    return load_energy_table(name_or_path)
