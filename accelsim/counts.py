"""Typed count records: what one layer reads, writes, moves and computes, per operand.

The JSON names (``sram_ifmap_reads``, ``dram_filter_metadata_bytes``…) are spelled in one place,
:data:`KEYS` (from :data:`BUFFER`, the operand → buffer map), written by :meth:`OperandCounts.flat`
and read back by :meth:`OperandCounts.of`.

Examples
--------
>>> c = OperandCounts(sram_reads=4, dram_bytes=16, dram_metadata_bytes=2)
>>> c.flat("W")["dram_filter_metadata_bytes"], OperandCounts.of(c.flat("W"), "W") == c
(2, True)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

OPERANDS = ("I", "W", "O")
BUFFER = {"I": "ifmap", "W": "filter", "O": "ofmap"}  # the buffer (and the report's name) of each operand
# the report's key of each operand's count, by OperandCounts field: KEYS["W"]["sram_reads"] is "sram_filter_reads"
KEYS = {op: {"sram_reads": f"sram_{b}_reads", "sram_writes": f"sram_{b}_writes",
             "dram_bytes": f"dram_{b}_bytes", "dram_metadata_bytes": f"dram_{b}_metadata_bytes"}
        for op, b in BUFFER.items()}
MAC_KEYS = ("issued_macs", "effective_macs", "gated_macs", "skipped_macs")


@dataclass(frozen=True)
class OperandCounts:
    """One operand's traffic: SRAM words read and written, DRAM bytes of values and of metadata."""

    sram_reads: int = 0
    sram_writes: int = 0
    dram_bytes: int = 0
    dram_metadata_bytes: int = 0

    def flat(self, operand: str) -> dict[str, int]:
        """The report's keys for this operand (``I``, ``W`` or ``O``)."""
        return {key: getattr(self, name) for name, key in KEYS[operand].items()}

    @classmethod
    def of(cls, report: dict[str, Any], operand: str | None = None) -> OperandCounts:
        """An operand's counts in a layer's flat report (``None``: the three operands summed); a
        count it lacks is 0.

        Examples
        --------
        >>> report = {"dram_ifmap_bytes": 10, "dram_filter_bytes": 6, "dram_filter_metadata_bytes": 1}
        >>> OperandCounts.of(report, "W"), OperandCounts.of(report).dram_total
        (OperandCounts(sram_reads=0, sram_writes=0, dram_bytes=6, dram_metadata_bytes=1), 17)
        """
        if not isinstance(report, dict):  # a typed result has its record: LayerResult.traffic
            raise TypeError(f"OperandCounts.of reads a flat report (a dict), not {type(report).__name__}")
        if operand is not None:
            return cls(**{name: int(report.get(key, 0)) for name, key in KEYS[operand].items()})
        return cls(**{name: sum(int(report.get(KEYS[op][name], 0)) for op in OPERANDS) for name in KEYS["I"]})

    @property
    def dram_total(self) -> int:
        return self.dram_bytes + self.dram_metadata_bytes

    def __add__(self, other: OperandCounts) -> OperandCounts:
        return OperandCounts(self.sram_reads + other.sram_reads, self.sram_writes + other.sram_writes,
                             self.dram_bytes + other.dram_bytes, self.dram_metadata_bytes + other.dram_metadata_bytes)


@dataclass(frozen=True)
class Traffic:
    """A layer's traffic per operand: ``I`` (ifmap), ``W`` (filter), ``O`` (ofmap: outputs and partial sums).

    Examples
    --------
    >>> t = Traffic(I=OperandCounts(dram_bytes=10), W=OperandCounts(dram_bytes=6, dram_metadata_bytes=1))
    >>> t["W"].dram_total, t.total.dram_total, t.flat()["dram_ifmap_bytes"]
    (7, 17, 10)
    >>> Traffic.from_flat(t.flat()) == t
    True
    """

    I: OperandCounts = OperandCounts()
    W: OperandCounts = OperandCounts()
    O: OperandCounts = OperandCounts()

    def __getitem__(self, operand: str) -> OperandCounts:
        return {"I": self.I, "W": self.W, "O": self.O}[operand]

    @property
    def total(self) -> OperandCounts:
        """The three operands summed."""
        return self.I + self.W + self.O

    def flat(self) -> dict[str, int]:
        """Every count under its report key (:data:`KEYS`), operand by operand."""
        out: dict[str, int] = {}
        for op in OPERANDS:
            out |= self[op].flat(op)
        return out

    @classmethod
    def from_flat(cls, report: dict[str, Any]) -> Traffic:
        """The record :meth:`flat` wrote (a missing key is 0)."""
        return cls(**{op: OperandCounts.of(report, op) for op in OPERANDS})


@dataclass(frozen=True)
class MacCounts:
    """MACs of a layer: ``macs`` (dense work) = ``issued`` + ``skipped``; of the issued,
    ``effective`` have two non-zero operands and ``gated`` were gated (zero-gating PEs only)."""

    macs: int = 0
    issued: int = 0
    effective: int = 0
    gated: int = 0
    skipped: int = 0

    def to_dict(self) -> dict[str, int]:
        return dict(zip(MAC_KEYS, (self.issued, self.effective, self.gated, self.skipped)))

    @classmethod
    def from_dict(cls, macs: int, report: dict[str, Any]) -> MacCounts:
        """The record :meth:`to_dict` wrote, with the layer's dense ``macs``."""
        return cls(macs, *(int(report.get(key, 0)) for key in MAC_KEYS))

    @classmethod
    def dense(cls, macs: int) -> MacCounts:
        return cls(macs=macs, issued=macs, effective=macs)
