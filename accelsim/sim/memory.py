"""The memory model: SRAM and DRAM traffic of a mapped layer and the stalls it causes.

Derivations and assumptions are in ``docs/memory.md``. The tiling that fits the buffers is chosen
by :mod:`accelsim.mapping.tiling` and carried by the :class:`~accelsim.mapping.Mapping`; here:

* DRAM: every operand is read once when what must stay resident for reuse fits its half buffer,
  and re-read once per tile of the other spatial dimension otherwise; outputs are written once.
  Convolution inputs are read as the input tensor (im2col happens on chip). Widths come from the
  layer's resolved precision; N:M weights move their kept values plus their indices (metadata).
* Time: transfers overlap compute (double buffering) except the first fold's operands (prologue,
  plus ``dram_latency_cycles``) and the last output tile (epilogue); whatever the bandwidth cannot
  hide becomes stall cycles.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from ..arch import ArrayConfig
from ..mapping.mapping import Mapping
from ..mapping.tiling import half_buffer, stream_row_elements
from ..workload.layer import Layer
from ..counts import OperandCounts


@dataclass(frozen=True)
class MemoryPlan:
    """Exact access counts of one layer (words for SRAM, bytes for DRAM), per operand."""

    operands: dict[str, OperandCounts]
    first_bytes: int
    last_bytes: int

    @property
    def dram_total(self) -> int:
        return sum(c.dram_total for c in self.operands.values())

    @property
    def sram_reads(self) -> dict[str, int]:
        return {op: c.sram_reads for op, c in self.operands.items()}

    @property
    def sram_writes(self) -> dict[str, int]:
        return {op: c.sram_writes for op, c in self.operands.items()}

    @property
    def dram_bytes(self) -> dict[str, int]:
        """DRAM bytes of values per operand (metadata is separate, in ``operands``)."""
        return {op: c.dram_bytes for op, c in self.operands.items()}


def _raw_input_elements(layer: Layer) -> int:
    """Elements of I actually in DRAM: the input tensor for convolutions (im2col is on chip)."""
    gemm = layer.gemm
    if layer.kind == "conv2d":
        return layer.batch * math.prod(layer.in_shapes[0])
    return gemm.count * gemm.M * gemm.K


# Byte counts are Fractions, not floats: a float loses exactness above 2**53, and layers with dimensions
# of a few billion reach that (counts must stay exact integers).
def plan_memory(layer: Layer, mapping: Mapping) -> MemoryPlan:
    """Count every SRAM and DRAM access of a mapped GEMM-like layer."""
    gemm, df, arch, prec = mapping.gemm, mapping.dataflow, mapping.arch, mapping.precision
    size = {d: mapping.size(d) for d in ("M", "N", "K")}
    width = {op: prec.word_bytes(op) for op in ("I", "W", "O", "P")}  # on chip: datapath words
    elem = {op: prec.bytes(op) for op in ("I", "W")}  # in DRAM: packed elements
    R, C = arch.rows, arch.cols
    tiles = {df.rows: R, df.cols: C}
    count_tiles = {d: -(-size[d] // tiles[d]) for d in tiles}
    rt, ct = min(R, size[df.rows]), min(C, size[df.cols])
    sums = mapping.fold_sums()
    kept_w = mapping.kept_weight_elements()
    metadata = {"I": Fraction(0), "W": Fraction(prec.index_bits, 8) * kept_w, "O": Fraction(0)}

    def raw(op: str) -> Fraction:
        """Bytes of one pass over an operand in DRAM (conv inputs as the input tensor)."""
        return _raw_input_elements(layer) * elem["I"] if op == "I" else kept_w * elem["W"]

    outer, inner = df.loop_order
    if df.mode == "stationary":
        stat, strm = df.stationary, df.left
        X, T = df.cols, df.temporal
        t = mapping.temporal_tile or size[T]
        chunks = -(-size[T] // t)
        stat_whole = size["K"] * size[X] * prec.stored_bytes(stat)
        stat_reads = 1 if stat_whole <= half_buffer(arch, stat) else chunks
        strm_resident = (t * size["K"] if inner == "K" else t * rt) * width[strm]
        strm_reads = 1 if (strm_resident <= half_buffer(arch, strm) or inner != "K") else count_tiles[X]
        out_words = gemm.count * size[T] * size[X]
        sram_reads = {stat: sums["rows_cols"], strm: sums["stream_words"], "O": sums["cols_steps"]}
        sram_writes = {"O": sums["cols_steps"]}
        stat_bytes = raw("W") if stat == "W" else gemm.count * gemm.K * mapping.size(X) * elem["I"]
        dram = {stat: stat_reads * stat_bytes, strm: raw(strm) * strm_reads, "O": out_words * width["O"]}
        metadata = {op: v * (stat_reads if op == stat else strm_reads) for op, v in metadata.items()}
        first = rt * ct * prec.stored_bytes(stat) + min(t, size[T]) * stream_row_elements(mapping, rt) * width[strm]
        last = min(t, size[T]) * ct * width["O"]
    else:
        left, top = df.left, df.top
        owner = {df.rows: left, df.cols: top}
        reads = {}
        for dim, op in owner.items():
            other = df.cols if dim == df.rows else df.rows
            resident = (tiles[dim] if dim == outer else size[dim]) * size["K"] * width[op]
            reads[op] = 1 if resident <= half_buffer(arch, op) else count_tiles[other]
        out_words = gemm.count * size["M"] * size["N"]
        sram_reads = {left: sums["rows_steps"], top: sums["cols_steps"], "O": out_words}
        sram_writes = {"O": out_words}
        dram = {op: raw(op) * reads[op] for op in (left, top)} | {"O": out_words * width["O"]}
        metadata = {op: v * reads.get(op, 1) for op, v in metadata.items()}
        first = (rt * width[left] + ct * width[top]) * size["K"]
        last = rt * ct * width["O"]
    for op in ("I", "W"):
        sram_writes[op] = math.ceil(dram[op] / (elem[op] * prec.fusion))  # every DRAM word is written into its buffer
    operands = {op: OperandCounts(sram_reads=sram_reads[op], sram_writes=sram_writes[op],
                                  dram_bytes=math.ceil(dram[op]), dram_metadata_bytes=math.ceil(metadata[op]))
                for op in ("I", "W", "O")}
    return MemoryPlan(operands, math.ceil(first), math.ceil(last))


def stall_cycles(plan: MemoryPlan, compute_cycles: int, arch: ArrayConfig) -> int:
    """Cycles the array waits for DRAM: prologue, epilogue, and any transfer time compute cannot hide."""
    bw = Fraction(arch.memory.dram_bytes_per_cycle)
    first, last = math.ceil(plan.first_bytes / bw), math.ceil(plan.last_bytes / bw)
    overlapped = math.ceil(plan.dram_total / bw) - first - last
    return first + arch.memory.dram_latency_cycles + max(0, overlapped - compute_cycles) + last
