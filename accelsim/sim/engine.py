"""The fast engine: whole networks with the closed-form timing of :mod:`accelsim.sim.timing`.

GEMM layers run on the array, everything else on the vector unit (one layer at a time). With the
memory model (the default) each array layer is tiled to fit the buffers and DRAM transfers that
compute cannot hide become ``stall_cycles`` (:mod:`accelsim.sim.memory`); ``memory=False`` is ideal
memory. Vector layers read and write on-chip activations only, but for a ``lookup`` (an embedding), which
reads the rows it gathers from a constant table in DRAM.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from fractions import Fraction
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from ..arch import ArrayConfig
from ..counts import MacCounts, Traffic
from ..mapping.dataflow import DataflowSpec
from ..mapping.mapping import Mapping
from ..workload.graph import LayerGraph
from ..workload.layer import Layer
from .memory import MemoryPlan, plan_lookup, plan_memory, stall_cycles
from .results import LayerResult, NetworkEnergy, SimResult
from .timing import gemm_timeline, vector_cycles
from .totals import busy_pe_cycles, utilization

if TYPE_CHECKING:
    from ..cost import EnergyTable
    from ..mapping.choice import LayerChoice

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
    >>> r.cycles, r.dense_cycles, r.mac_counts.skipped
    (314, 610, 16384)
    """
    if layer.gemm is None:
        return vector_layer(layer, arch, memory=memory)
    return plan_layer(layer, arch, dataflow, memory=memory, operands=operands,
                      temporal_tile=temporal_tile).result(arch)


def vector_layer(layer: Layer, arch: ArrayConfig, *, memory: bool = True) -> LayerResult:
    """A layer on the vector unit: ``vector_cycles``, and for a ``lookup`` (an embedding) the DRAM reads of
    the rows it gathers (:func:`~accelsim.sim.memory.plan_lookup`), whose time beyond the copy is stall
    (none with ideal memory, which still counts the bytes, as it does for GEMM layers)."""
    compute = vector_cycles(layer, arch)
    if not layer.lookup_bytes:
        return LayerResult(name=layer.name, kind=layer.kind, op=layer.op, shape=layer.shape_text, unit="vector",
                           cycles=compute, compute_cycles=compute, stall_cycles=0,
                           utilization=0.0, folds=0, stream_cycles=0, dense_cycles=compute)
    fetch = plan_lookup(layer)
    stall = stall_cycles(fetch, compute, arch) if memory else 0
    cycles, total = compute + stall, fetch.dram_total
    return LayerResult(name=layer.name, kind=layer.kind, op=layer.op, shape=layer.shape_text, unit="vector",
                       cycles=cycles, compute_cycles=compute, stall_cycles=stall, utilization=0.0, folds=0,
                       stream_cycles=0, dense_cycles=cycles, traffic=Traffic(**fetch.operands),
                       dram_bytes_per_cycle_needed=round(total / compute, 4) if compute else 0.0,
                       dram_bytes_per_cycle_achieved=round(total / cycles, 4) if cycles else 0.0)


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
    chosen_tile: int | None = None  # the temporal chunk a mapping choice asked for (None: the fixed rule)

    @property
    def traffic(self) -> Traffic:
        """The layer's SRAM and DRAM counts per operand."""
        return Traffic(**self.memory.operands)

    @property
    def busy(self) -> Fraction:
        """PE-cycles occupied: issued MACs over the MACs a PE takes a cycle (its fusion)."""
        return busy_pe_cycles(self.macs.issued, self.mapping.resolved.fusion)

    def stall(self, arch: ArrayConfig) -> int:
        """Cycles waiting for DRAM on ``arch``'s DRAM (0 with ideal memory)."""
        return 0 if self.ideal_memory else stall_cycles(self.memory, self.compute, arch)

    def result(self, arch: ArrayConfig) -> LayerResult:
        """The full report of this layer on ``arch`` (the plan's array with its DRAM)."""
        layer, mapping, compute = self.layer, self.mapping, self.compute
        stall = self.stall(arch)
        total = self.memory.dram_total
        needed = round(total / compute, 4) if compute else 0.0
        achieved = round(total / (compute + stall), 4) if compute + stall else 0.0
        cycles = compute + stall
        memory = not self.ideal_memory
        dense = mapping.dense_equivalent(memory, self.chosen_tile)
        dense_cycles = cycles if dense is mapping else _dense_cycles(layer, dense, memory, self.operands)
        return LayerResult(name=layer.name, kind=layer.kind, op=layer.op, shape=layer.shape_text, unit="array",
                           cycles=cycles, compute_cycles=compute, stall_cycles=stall,
                           utilization=round(utilization(self.busy, cycles, arch.pes), 6), folds=self.folds,
                           stream_cycles=self.steps, dense_cycles=dense_cycles, mac_counts=self.macs,
                           temporal_tile=mapping.temporal_tile or 0, traffic=self.traffic,
                           dram_bytes_per_cycle_needed=needed, dram_bytes_per_cycle_achieved=achieved,
                           precision=mapping.precision, sparsity=mapping.sparsity_report(self.operands))


def plan_layer(layer: Layer, arch: ArrayConfig, dataflow: DataflowSpec, *, memory: bool = True,
               operands: dict[str, np.ndarray] | None = None, temporal_tile: int | None = None) -> LayerPlan:
    """Map a GEMM layer, time its folds and count its traffic (see :func:`simulate_layer`)."""
    mapping = Mapping.for_layer(layer, dataflow, arch, memory=memory, operands=operands, temporal_tile=temporal_tile)
    compute, folds, steps = _timing(mapping)
    plan = plan_memory(layer, mapping, operands, ideal=not memory)
    return LayerPlan(layer, mapping, compute, folds, steps, plan, mapping.mac_counts(operands), operands,
                     ideal_memory=not memory, chosen_tile=temporal_tile)


def _dense_cycles(layer: Layer, dense: Mapping, memory: bool, operands: dict[str, np.ndarray] | None) -> int:
    compute = _timing(dense)[0]
    return compute + (stall_cycles(plan_memory(layer, dense, operands), compute, dense.arch) if memory else 0)


def simulate(graph: LayerGraph, arch: ArrayConfig, dataflow: DataflowSpec, *, memory: bool = True,
             tensors: dict[str, dict[str, np.ndarray]] | None = None,
             energy_table: EnergyTable | str | None = "horowitz45",
             choices: dict[str, LayerChoice] | None = None, mapping: str | None = None) -> SimResult:
    """Time every layer of a workload, in topological order (``memory=False``: ideal memory).

    ``choices`` maps layer names to their own mapping (dataflow, loop order, temporal chunk; a
    mapping search's result), overriding ``dataflow`` for those layers, and ``mapping`` names the
    rule that chose them for the report ("search"; default "given", or "fixed" without choices);
    ``tensors`` maps layer names to their GEMM operands (see :func:`simulate_layer`);
    ``energy_table`` (a bundled name, a YAML path, an :class:`~accelsim.cost.EnergyTable` or None
    for no energy) prices every layer's counts (``docs/energy.md``).
    """
    from ..cost import layer_energy, network_energy
    from ..workload.formats import with_datapath_formats

    graph, formats = with_datapath_formats(graph, arch)
    tensors, choices = tensors or {}, choices or {}
    layers = tuple(_simulate_chosen(layer, arch, dataflow, choices.get(layer.name), memory, tensors.get(layer.name))
                   for layer in graph)
    energy: NetworkEnergy | None = None
    if energy_table is not None:
        table = _energy_table(energy_table) if isinstance(energy_table, str) else energy_table
        layers = tuple(replace(r, energy=layer_energy(r, arch, table)) for r in layers)
        energy = NetworkEnergy(network_energy(layers, arch, table), table.name, table.unit)
    used = sorted({(choices[layer.name].dataflow if layer.name in choices else dataflow).name
                   for layer in graph if layer.gemm is not None}) or [dataflow.name]
    from .assumptions import fallbacks

    layer_dataflows = [choices[layer.name].dataflow if layer.name in choices else dataflow for layer in graph]
    notes = (*graph.meta.get("assumptions", ()), *([formats] if formats else []),
             *fallbacks(graph, layers, arch, layer_dataflows))
    return SimResult(workload=graph.name, arch=arch, dataflow="/".join(used), layers=layers, memory=memory,
                     energy=energy, mapping=mapping or ("given" if choices else "fixed"), assumptions=notes)


def _simulate_chosen(layer: Layer, arch: ArrayConfig, dataflow: DataflowSpec, choice: LayerChoice | None,
                     memory: bool, operands: dict[str, np.ndarray] | None) -> LayerResult:
    if choice is None:
        return simulate_layer(layer, arch, dataflow, memory=memory, operands=operands)
    return simulate_layer(layer, arch, choice.dataflow, memory=memory, operands=operands,
                          temporal_tile=choice.temporal_tile)


@lru_cache(maxsize=16)
def _energy_table(name_or_path: str):
    from ..cost import load_energy_table

    return load_energy_table(name_or_path)
