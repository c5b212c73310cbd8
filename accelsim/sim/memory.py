"""The memory model: on-chip buffers, the tiling that fits them, DRAM traffic and the stalls it causes.

Derivations and assumptions are in ``docs/memory.md``. In short, for a GEMM-like layer:

* Three double-buffered SRAMs (ifmap holds I, filter holds W, ofmap holds outputs and partial
  sums); a tile must fit **half** of its buffer so the next one can arrive meanwhile. Words are as
  wide as the layer's precision (partial sums: the accumulator width).
* Stationary dataflows keep the partial sums of an output tile in the ofmap buffer across the K
  folds; when they do not fit, the temporal dimension is streamed in chunks (``temporal_tile``),
  which reloads the stationary tiles once per chunk. A stationary tile or one output row that cannot
  fit at all is a :class:`~accelsim.errors.MappingError`.
* DRAM: every operand is read once when what must stay resident for reuse fits its half buffer, and
  re-read once per tile of the other spatial dimension otherwise; outputs are written once.
  Convolution inputs are read as the input tensor (im2col happens on chip).
* Time: transfers overlap compute (double buffering) except the first fold's operands (prologue,
  plus ``dram_latency_cycles``) and the last output tile (epilogue); whatever the bandwidth cannot
  hide becomes stall cycles.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from ..arch import ArrayConfig
from ..errors import MappingError
from ..mapping.dataflow import DataflowSpec
from ..workload.layer import GemmView, Layer

BUFFER = {"I": "ifmap", "W": "filter", "O": "ofmap"}


@dataclass(frozen=True)
class MemoryPlan:
    """Tiling and exact access counts of one layer (words for SRAM, bytes for DRAM)."""

    temporal_tile: int | None
    sram_reads: dict[str, int]
    sram_writes: dict[str, int]
    dram_bytes: dict[str, int]
    first_bytes: int
    last_bytes: int

    @property
    def dram_total(self) -> int:
        return sum(self.dram_bytes.values())


# Byte counts are Fractions, not floats: a float loses exactness above 2**53, and layers with dimensions
# of a few billion reach that (counts must stay exact integers).
def _bytes(layer: Layer, arch: ArrayConfig) -> dict[str, Fraction]:
    return {"I": Fraction(layer.input_bits, 8), "W": Fraction(layer.weight_bits, 8),
            "O": Fraction(layer.output_bits, 8), "P": Fraction(arch.acc_bits, 8)}


def _half(arch: ArrayConfig, operand: str) -> Fraction:
    return Fraction(getattr(arch.memory, f"{BUFFER[operand]}_kib")) * 512


def _raw_input_elements(layer: Layer, gemm: GemmView) -> int:
    """Elements of I actually in DRAM: the input tensor for convolutions (im2col is on chip)."""
    if layer.kind == "conv2d":
        return layer.batch * math.prod(layer.in_shapes[0])
    return gemm.count * gemm.M * gemm.K


def plan_memory(layer: Layer, dataflow: DataflowSpec, arch: ArrayConfig) -> MemoryPlan:
    """Choose the temporal tile and count every SRAM and DRAM access of a GEMM-like layer."""
    gemm = layer.gemm
    size = {"M": gemm.M, "N": gemm.N, "K": gemm.K}
    width = _bytes(layer, arch)
    R, C = arch.rows, arch.cols
    df = dataflow
    tiles = {df.rows: R, df.cols: C}
    count_tiles = {d: -(-size[d] // tiles[d]) for d in tiles}
    rt, ct = min(R, size[df.rows]), min(C, size[df.cols])

    def need(what: str, op: str, nbytes: Fraction) -> None:
        if nbytes > _half(arch, op):
            raise MappingError(f"layer '{layer.name}': {what} needs {round(nbytes):,} bytes but half of the "
                               f"{BUFFER[op]} buffer is {round(_half(arch, op)):,} bytes "
                               f"(memory.{BUFFER[op]}_kib = {getattr(arch.memory, BUFFER[op] + '_kib'):g})")

    def raw(op: str) -> int:
        return _raw_input_elements(layer, gemm) if op == "I" else gemm.count * gemm.K * gemm.N

    outer, inner = df.loop_order
    if df.mode == "stationary":
        stat, strm = df.stationary, df.streamed
        X, T = df.cols, df.temporal
        need(f"a {rt}x{ct} stationary tile of {stat}", stat, rt * ct * width[stat])
        psum_cols = ct if inner == "K" else size[X]  # partial sums that must stay resident
        need(f"one row of {psum_cols} partial sums", "O", psum_cols * width["P"])
        t = min(size[T], math.floor(_half(arch, "O") / (psum_cols * width["P"])),
                max(1, math.floor(_half(arch, strm) / (rt * width[strm]))))
        chunks = -(-size[T] // t)
        n_k, n_x = count_tiles["K"], count_tiles[X]
        stat_whole = size["K"] * size[X] * width[stat]
        stat_reads = 1 if stat_whole <= _half(arch, stat) else chunks
        strm_resident = (t * size["K"] if inner == "K" else t * rt) * width[strm]
        strm_reads = 1 if (strm_resident <= _half(arch, strm) or inner != "K") else n_x
        per_gemm_stat = size["K"] * size[X]
        out_words = gemm.count * size[T] * size[X]
        sram_reads = {stat: gemm.count * chunks * per_gemm_stat,
                      strm: gemm.count * size[T] * size["K"] * n_x, "O": out_words * n_k}
        sram_writes = {"O": out_words * n_k}
        dram = {stat: gemm.count * stat_reads * per_gemm_stat * width[stat],
                strm: raw(strm) * strm_reads * width[strm], "O": out_words * width["O"]}
        first = rt * ct * width[stat] + min(t, size[T]) * rt * width[strm]
        last = min(t, size[T]) * ct * width["O"]
        temporal_tile = t if t < size[T] else None
    else:
        left, top = df.left, df.top
        need(f"a {rt}x{ct} output tile", "O", rt * ct * width["O"])
        owner = {df.rows: left, df.cols: top}
        reads = {}
        for dim, op in owner.items():
            other = df.cols if dim == df.rows else df.rows
            resident = (tiles[dim] if dim == outer else size[dim]) * size["K"] * width[op]
            reads[op] = 1 if resident <= _half(arch, op) else count_tiles[other]
        out_words = gemm.count * size["M"] * size["N"]
        sram_reads = {left: gemm.count * size[df.rows] * size["K"] * count_tiles[df.cols],
                      top: gemm.count * size[df.cols] * size["K"] * count_tiles[df.rows], "O": out_words}
        sram_writes = {"O": out_words}
        dram = {op: raw(op) * reads[op] * width[op] for op in (left, top)} | {"O": out_words * width["O"]}
        first = (rt * width[left] + ct * width[top]) * size["K"]
        last = rt * ct * width["O"]
        temporal_tile = None
    for op in ("I", "W"):
        sram_writes[op] = math.ceil(dram[op] / width[op])  # every DRAM word is written into its buffer
    return MemoryPlan(temporal_tile, sram_reads, sram_writes, {k: math.ceil(v) for k, v in dram.items()},
                      math.ceil(first), math.ceil(last))


def stall_cycles(plan: MemoryPlan, compute_cycles: int, arch: ArrayConfig) -> int:
    """Cycles the array waits for DRAM: prologue, epilogue, and any transfer time compute cannot hide."""
    bw = Fraction(arch.memory.dram_bytes_per_cycle)
    first, last = math.ceil(plan.first_bytes / bw), math.ceil(plan.last_bytes / bw)
    overlapped = math.ceil(plan.dram_total / bw) - first - last
    return first + arch.memory.dram_latency_cycles + max(0, overlapped - compute_cycles) + last
