"""Typed results of the fast engine: one layer (:class:`LayerResult`) and a whole run (:class:`SimResult`).

Counts are typed records (:class:`~accelsim.counts.Traffic`, :class:`~accelsim.counts.MacCounts`,
:class:`~accelsim.mapping.plan.Precision`, :class:`~accelsim.mapping.mapping.SparsityReport`,
:class:`~accelsim.cost.energy.EnergyBreakdown`); they are flattened to the report's JSON keys only
in ``to_dict`` and read back by ``from_dict``, so a stored result round-trips exactly.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cached_property
from typing import Any

from ..arch import ArrayConfig
from ..cost.energy import EnergyBreakdown
from ..counts import KEYS, MAC_KEYS, OPERANDS, MacCounts, OperandCounts, Traffic
from ..mapping.mapping import SparsityReport
from ..mapping.plan import Precision
from .totals import NetworkTotals

RESULT_VERSION = 1
# The scalar fields of a layer's report, in the JSON's order (typed records are placed between them).
_TIMING = ("name", "kind", "op", "shape", "unit", "macs", "cycles", "compute_cycles", "stall_cycles",
           "utilization", "folds", "stream_cycles", "temporal_tile")
_BANDWIDTH = ("dram_bytes_per_cycle_needed", "dram_bytes_per_cycle_achieved")
_COUNTS = tuple(KEYS[op][count] for count in ("sram_reads", "sram_writes", "dram_bytes") for op in OPERANDS)
_METADATA = tuple(KEYS[op]["dram_metadata_bytes"] for op in OPERANDS)


@dataclass(frozen=True)
class LayerResult:
    """Timing, counts and energy of one layer.

    ``cycles = compute_cycles + stall_cycles``; ``utilization`` is occupied PE-cycles over available
    ones; ``unit`` is ``"array"`` or ``"vector"``; ``folds`` and ``stream_cycles`` describe the
    mapping (``stream_cycles`` are the cycles in which the array takes new operands);
    ``temporal_tile`` is the chunk of the streamed dimension the buffers allow (0: not chunked);
    ``dense_cycles`` the same layer with every zero computed. ``traffic`` has SRAM words and DRAM
    bytes per operand; ``dram_bytes_per_cycle_needed`` is the bandwidth that would hide every
    transfer behind compute.
    """

    name: str
    kind: str
    op: str
    shape: str
    unit: str
    cycles: int
    compute_cycles: int
    stall_cycles: int
    utilization: float
    folds: int
    stream_cycles: int
    dense_cycles: int
    mac_counts: MacCounts = field(default_factory=MacCounts)
    temporal_tile: int = 0
    traffic: Traffic = field(default_factory=Traffic)
    dram_bytes_per_cycle_needed: float = 0.0
    dram_bytes_per_cycle_achieved: float = 0.0
    precision: Precision | None = None
    sparsity: SparsityReport | None = None
    energy: EnergyBreakdown | None = None

    @property
    def macs(self) -> int:
        """Multiply-accumulates of the layer (its dense work; 0 on the vector unit)."""
        return self.mac_counts.macs

    @property
    def energy_pj(self) -> float:
        """Total energy in the table's unit (0.0 when not priced)."""
        return self.energy.total_pj if self.energy is not None else 0.0

    def operand(self, operand: str) -> OperandCounts:
        """The traffic record of ``I``, ``W`` or ``O``."""
        return self.traffic[operand]

    def to_dict(self) -> dict[str, Any]:
        """The report's flat JSON (key order fixed: results are stored and compared as text)."""
        flat = self.traffic.flat()
        return ({key: getattr(self, key) for key in _TIMING} | {key: flat[key] for key in _COUNTS}
                | {key: getattr(self, key) for key in _BANDWIDTH}
                | {"dense_cycles": self.dense_cycles} | self.mac_counts.to_dict()
                | {key: flat[key] for key in _METADATA}
                | {"precision": self.precision.to_dict() if self.precision else None,
                   "sparsity": self.sparsity.to_dict() if self.sparsity else None,
                   "energy_pj": self.energy_pj,
                   "energy": ({"by_component": dict(self.energy.by_component),
                               "by_operand": dict(self.energy.by_operand)} if self.energy else None)})

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LayerResult:
        """The result :meth:`to_dict` wrote (a missing count is 0, a missing record None)."""
        energy = data.get("energy")
        return cls(**{key: data[key] for key in _TIMING if key not in ("macs", "temporal_tile")},
                   temporal_tile=data.get("temporal_tile", 0), dense_cycles=data.get("dense_cycles", data["cycles"]),
                   mac_counts=MacCounts.from_dict(data["macs"], data),
                   traffic=Traffic.from_flat(data), **{key: data.get(key, 0.0) for key in _BANDWIDTH},
                   precision=Precision.from_dict(data["precision"]) if data.get("precision") else None,
                   sparsity=SparsityReport.from_dict(data["sparsity"]) if data.get("sparsity") else None,
                   energy=EnergyBreakdown(data["energy_pj"], dict(energy["by_component"]),
                                          dict(energy["by_operand"])) if energy else None)


@dataclass(frozen=True)
class NetworkEnergy:
    """A run's energy: the network's breakdown, and the table (and its unit) that priced it."""

    breakdown: EnergyBreakdown
    table: str
    unit: str

    @property
    def total_pj(self) -> float:
        return self.breakdown.total_pj

    def to_dict(self) -> dict[str, Any]:
        return {"energy_pj": self.breakdown.total_pj, "table": self.table, "unit": self.unit,
                "by_component": dict(self.breakdown.by_component), "by_operand": dict(self.breakdown.by_operand)}


@dataclass(frozen=True)
class SimResult:
    """Timing of a whole workload on one architecture and dataflow."""

    workload: str
    arch: ArrayConfig
    dataflow: str  # the dataflow the array layers ran ("os/ws" when per-layer choices mix them)
    layers: tuple[LayerResult, ...]
    memory: bool = True
    energy: NetworkEnergy | None = None
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

    @property
    def traffic(self) -> OperandCounts:
        """Every layer's traffic, all operands summed."""
        return sum((r.traffic.total for r in self.layers), OperandCounts())

    def to_dict(self) -> dict[str, Any]:
        macs = {key: sum(r.mac_counts.to_dict()[key] for r in self.layers) for key in MAC_KEYS}
        return {"version": RESULT_VERSION, "workload": self.workload, "arch": self.arch.to_dict(),
                "dataflow": self.dataflow, "mapping": self.mapping, "memory": "model" if self.memory else "ideal",
                "total_cycles": self.total_cycles, "total_macs": self.total_macs,
                "stall_cycles": sum(r.stall_cycles for r in self.layers),
                "dram_bytes": self.traffic.dram_bytes, "dram_metadata_bytes": self.traffic.dram_metadata_bytes,
                "dense_cycles": sum(r.dense_cycles for r in self.layers), **macs,
                "utilization": round(self.utilization, 6), "time_ms": float(round(self.time_ms, 6)),
                **({"energy_pj": self.energy.total_pj, "energy": self.energy.to_dict()} if self.energy else {}),
                "layers": [layer.to_dict() for layer in self.layers], "assumptions": list(self.assumptions)}

    def to_json(self) -> str:
        """Stable JSON: same inputs, byte-identical text."""
        return json.dumps(self.to_dict(), indent=1, sort_keys=False)
