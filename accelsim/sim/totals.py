"""How layers add up to a network: cycles (with the DRAM latency term), utilisation and time.

``simulate`` (:class:`~accelsim.sim.engine.SimResult`) and the design-space batch
(:mod:`accelsim.dse.batch`) both total through :class:`NetworkTotals`; a layer's utilisation is
:func:`utilization` of its own cycles. The DRAM latency is waited once per array layer, before its
first fold's operands arrive (``docs/memory.md``), never per fold and never by a vector layer.

Examples
--------
>>> t = NetworkTotals(array_cycles=1000, array_layers=3, latency_cycles=50, vector_cycles=20,
...                   busy=Fraction(2300), pes=4, clock_mhz=500)
>>> t.cycles, t.utilization, t.time_ms
(1170, 0.49145299145299143, Fraction(117, 50000))
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..arch import ArrayConfig
    from .engine import LayerResult


def busy_pe_cycles(issued_macs: int, fusion: int = 1) -> Fraction:
    """PE-cycles the issued MACs occupy: a fusible PE takes ``fusion`` MACs a cycle; skipped MACs are no work."""
    return Fraction(issued_macs, fusion)


def utilization(busy: Fraction, cycles: int, pes: int) -> float:
    """Occupied PE-cycles over available ones (``cycles × pes``); 0.0 for no cycles.

    Examples
    --------
    >>> utilization(busy_pe_cycles(300, fusion=2), cycles=50, pes=4), utilization(Fraction(0), 0, 4)
    (0.75, 0.0)
    """
    return float(busy / (cycles * pes)) if cycles else 0.0


@dataclass(frozen=True)
class NetworkTotals:
    """A network's totals: ``cycles = array_cycles + latency_cycles × array_layers + vector_cycles``.

    ``array_cycles`` are the array layers' cycles without the DRAM latency (compute plus bandwidth
    stalls); ``array_layers`` counts the layers that wait ``latency_cycles`` once each (none with
    ideal memory); ``busy`` are the occupied PE-cycles (:func:`busy_pe_cycles`) of every layer.
    """

    array_cycles: int
    array_layers: int
    latency_cycles: int
    vector_cycles: int
    busy: Fraction
    pes: int
    clock_mhz: float

    @property
    def cycles(self) -> int:
        return self.array_cycles + self.latency_cycles * self.array_layers + self.vector_cycles

    @property
    def utilization(self) -> float:
        return utilization(self.busy, self.cycles, self.pes)

    @property
    def time_ms(self) -> Fraction:
        """Milliseconds, exactly (a float would blur cycle counts above 2**53)."""
        return self.cycles / (Fraction(self.clock_mhz) * 1000)

    @classmethod
    def of_layers(cls, layers: Iterable[LayerResult], arch: ArrayConfig, memory: bool) -> NetworkTotals:
        """The totals of ``simulate``'s layer results (each array layer's cycles include its one latency wait)."""
        latency = arch.memory.dram_latency_cycles if memory else 0
        array = vector = layers_waiting = 0
        busy = Fraction(0)
        for r in layers:
            busy += busy_pe_cycles(r.mac_counts.issued, r.precision.fusion if r.precision else 1)
            if r.unit == "array":
                array += r.cycles - latency
                layers_waiting += 1
            else:
                vector += r.cycles
        return cls(array, layers_waiting, latency, vector, busy, arch.pes, arch.clock_mhz)
