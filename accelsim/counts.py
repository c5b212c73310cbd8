"""Typed count records: what one layer reads, writes, moves and computes, per operand.

The JSON names (``sram_ifmap_reads``, ``dram_filter_metadata_bytes``…) are spelled in one place,
:meth:`OperandCounts.flat`, and read back by :meth:`OperandCounts.from_flat`.

Examples
--------
>>> c = OperandCounts(sram_reads=4, dram_bytes=16, dram_metadata_bytes=2)
>>> c.flat("W")["dram_filter_metadata_bytes"], OperandCounts.from_flat("W", c.flat("W")) == c
(2, True)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

BUFFER = {"I": "ifmap", "W": "filter", "O": "ofmap"}


@dataclass(frozen=True)
class OperandCounts:
    """One operand's traffic: SRAM words read and written, DRAM bytes of values and of metadata."""

    sram_reads: int = 0
    sram_writes: int = 0
    dram_bytes: int = 0
    dram_metadata_bytes: int = 0

    def flat(self, operand: str) -> dict[str, int]:
        """The report's keys for this operand (``I``, ``W`` or ``O``)."""
        b = BUFFER[operand]
        return {f"sram_{b}_reads": self.sram_reads, f"sram_{b}_writes": self.sram_writes,
                f"dram_{b}_bytes": self.dram_bytes, f"dram_{b}_metadata_bytes": self.dram_metadata_bytes}

    @classmethod
    def from_flat(cls, operand: str, data: dict[str, Any]) -> "OperandCounts":
        b = BUFFER[operand]
        return cls(sram_reads=data[f"sram_{b}_reads"], sram_writes=data[f"sram_{b}_writes"],
                   dram_bytes=data[f"dram_{b}_bytes"], dram_metadata_bytes=data.get(f"dram_{b}_metadata_bytes", 0))

    @property
    def dram_total(self) -> int:
        return self.dram_bytes + self.dram_metadata_bytes


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
        return {"effective_macs": self.effective, "issued_macs": self.issued,
                "gated_macs": self.gated, "skipped_macs": self.skipped}

    @classmethod
    def dense(cls, macs: int) -> "MacCounts":
        return cls(macs=macs, issued=macs, effective=macs)
