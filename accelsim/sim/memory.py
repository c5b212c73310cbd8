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

import numpy as np

from ..arch import ArrayConfig
from ..counts import OperandCounts
from ..mapping.mapping import Mapping
from ..mapping.tiling import half_buffer
from ..sparsity import nm_stored_bits
from ..workload.layer import GemmView, Layer


@dataclass(frozen=True)
class MemoryPlan:
    """Exact access counts of one layer (words for SRAM, bytes for DRAM), per operand."""

    operands: dict[str, OperandCounts]
    first_bytes: int
    last_bytes: int
    first_input_bytes: int = 0  # the part of first_bytes that is operand I (rounded down)

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


def _raw_input_elements(layer: Layer, gemm: GemmView) -> int:
    """Elements of I actually in DRAM: the input tensor for convolutions (im2col is on chip)."""
    if layer.kind == "conv2d":
        return layer.batch * math.prod(layer.in_shapes[0])
    return gemm.count * gemm.M * gemm.K


# Byte counts are Fractions, not floats: a float loses exactness above 2**53, and layers with dimensions
# of a few billion reach that (counts must stay exact integers).
def _stored(layer: Layer, mapping: Mapping, op: str, operands: dict | None) -> tuple[Fraction, Fraction]:
    """Bytes of values and of metadata of one pass over operand ``I`` or ``W`` in DRAM.

    Dense storage is exact in fractional bytes (packed sub-byte elements); compressed formats
    come from :mod:`accelsim.formats`: exact from a tensor, else the expected size at the layer's
    density. Weights are compressed along the reduction (a row per output column); inputs as the
    tensor in DRAM (its last dimension a row).
    """
    prec, gemm = mapping.resolved, mapping.gemm
    fmt = mapping.arch.weight_format if op == "W" else mapping.arch.input_format
    if op == "W" and mapping.nm_groups:
        values, index = nm_stored_bits(gemm.count * gemm.N, gemm.K, *mapping.nm_groups, prec.W.bits)
        return Fraction(values, 8), Fraction(index, 8)
    elements = _raw_input_elements(layer, gemm) if op == "I" else gemm.count * gemm.K * gemm.N
    if fmt == "dense":
        return elements * prec.bytes(op), Fraction(0)
    from ..formats import expected_format_size, format_size

    dtype = prec.I if op == "I" else prec.W
    tensor = (operands or {}).get(op)
    if op == "W" and tensor is not None:
        size = format_size(np.swapaxes(tensor, 1, 2).reshape(-1, gemm.K), fmt, dtype.bits)
    else:
        density = mapping.densities[op]  # a tensor's measured density when one was given (Mapping.for_layer)
        cols = gemm.K if op == "W" else (layer.in_shapes[0][-1] if layer.kind != "matmul" else gemm.K)
        size = expected_format_size(elements // cols, cols, density, fmt, dtype.bits)
    return Fraction(size.values_bytes), Fraction(size.metadata_bytes)


def residency(layer: Layer, mapping: Mapping) -> tuple[bool, bool]:
    """Whether each operand's reuse working set fits half its buffer.

    This and the temporal tile are the only ways buffer sizes enter the traffic. Stationary mode:
    ``(the whole stationary tensor, the streamed rows one output tile reuses)``; output mode:
    ``(the left operand, the top operand)`` for the loop order's tiles. A stationary input (IS) is
    kept as the input tensor and unfolded on chip. Zero-skipping tiles keep different reduction
    rows per column tile, so their streamed rows are reused across column tiles only when the
    chunk's rows over all of K stay resident, whatever the loop order.
    """
    df, arch, prec = mapping.dataflow, mapping.arch, mapping.resolved
    size = {d: mapping.size(d) for d in ("M", "N", "K")}
    outer, inner = df.loop_order
    if df.mode == "stationary":
        stat, strm, X, T = df.stationary, df.left, df.cols, df.temporal
        t = mapping.temporal_tile or size[T]
        rt = min(arch.rows, size[df.rows])
        # N:M weights are stored compressed (the kept values and their index), inputs as their tensor
        if stat == "I":
            stat_whole = _raw_input_elements(layer, mapping.gemm) * prec.bytes("I")
        else:
            stat_whole = (size["K"] if mapping.nm_groups else mapping.data_K) * size[X] * prec.stored_bytes(stat)
        whole_rows = inner == "K" or mapping.rows_differ_per_tile
        strm_resident = (t * mapping.data_K if whole_rows else t * rt) * prec.word_bytes(strm)
        return stat_whole <= half_buffer(arch, stat), strm_resident <= half_buffer(arch, strm)
    tiles = {df.rows: arch.rows, df.cols: arch.cols}
    fits = []
    for dim, op in ((df.rows, df.left), (df.cols, df.top)):
        resident = (tiles[dim] if dim == outer else size[dim]) * mapping.data_K * prec.word_bytes(op)
        fits.append(resident <= half_buffer(arch, op))
    return fits[0], fits[1]


_PLANS: dict[tuple, MemoryPlan] = {}


def plan_memory(layer: Layer, mapping: Mapping, operands: dict | None = None, *, ideal: bool = False) -> MemoryPlan:
    """Count every SRAM and DRAM access of a mapped GEMM-like layer (``operands``: real tensors).

    ``ideal``: buffers that hold everything (ideal memory): each tensor crosses DRAM once and the
    array still reads its words from SRAM; stalls are the caller's to drop. Without tensors the plan
    is cached by everything it reads: design points that differ only in buffer sizes mostly share it
    (the sizes enter only through :func:`residency` and the tile).
    """
    fits = (True, True) if ideal else residency(layer, mapping)
    if operands:
        return _plan_memory(layer, mapping, operands, fits)
    arch = mapping.arch
    key = (layer, mapping.timing_key, mapping.precision, mapping.nm_groups, tuple(sorted(mapping.densities.items())),
           arch.weight_format, arch.input_format, fits)
    plan = _PLANS.get(key)
    if plan is None:
        if len(_PLANS) > 100_000:  # a bound on memory for very long design-space runs
            _PLANS.clear()
        plan = _PLANS[key] = _plan_memory(layer, mapping, None, fits)
    return plan


def _plan_memory(layer: Layer, mapping: Mapping, operands: dict | None, fits: tuple[bool, bool]) -> MemoryPlan:
    gemm, df, arch, prec = mapping.gemm, mapping.dataflow, mapping.arch, mapping.resolved
    size = {d: mapping.size(d) for d in ("M", "N", "K")}
    width = {op: prec.word_bytes(op) for op in ("I", "W", "O", "P")}  # on chip: datapath words
    R, C = arch.rows, arch.cols
    tiles = {df.rows: R, df.cols: C}
    count_tiles = {d: -(-size[d] // tiles[d]) for d in tiles}
    rt, ct = min(R, size[df.rows]), min(C, size[df.cols])
    sums = mapping.fold_sums()
    stored = {op: _stored(layer, mapping, op, operands) for op in ("I", "W")}
    stored_elements = {"I": _raw_input_elements(layer, gemm),
                       "W": mapping.kept_weight_elements()}
    moved = {}  # operand -> elements moved from DRAM (each pass costs its share of values and metadata)

    inner = df.loop_order[1]
    if df.mode == "stationary":
        stat, strm = df.stationary, df.left
        X, T = df.cols, df.temporal
        t = mapping.temporal_tile or size[T]
        chunks = -(-size[T] // t)
        stat_reads = 1 if fits[0] else chunks
        strm_reads = 1 if (fits[1] or (inner != "K" and not mapping.rows_differ_per_tile)) else count_tiles[X]
        out_words = gemm.count * size[T] * size[X]
        sram_reads = {stat: sums["rows_cols"], strm: sums["stream_words"], "O": sums["cols_steps"]}
        sram_writes = {"O": sums["cols_steps"]}
        # a stationary I (IS) is the im2col'd tiles the array takes (K×X elements per GEMM), reloaded per
        # chunk; one that stays resident is read once, as its tensor when that is smaller (the unfolding
        # repeats elements; a stride above the kernel skips some)
        if stat == "W":
            moved = {"W": stat_reads * stored_elements["W"]}
        else:
            im2col = gemm.count * gemm.K * size[X]
            moved = {"I": min(stored_elements["I"], im2col) if fits[0] else stat_reads * im2col}
        moved[strm] = strm_reads * stored_elements[strm]
        first_by_op = {stat: rt * ct * prec.stored_bytes(stat),
                       strm: min(t, size[T]) * mapping.stream_words(rt, 1) * width[strm]}
        last = min(t, size[T]) * ct * width["O"]
    else:
        left, top = df.left, df.top
        for fit, (dim, op) in zip(fits, ((df.rows, left), (df.cols, top))):
            other = df.cols if dim == df.rows else df.rows
            moved[op] = (1 if fit else count_tiles[other]) * stored_elements[op]
        out_words = gemm.count * size["M"] * size["N"]
        sram_reads = {left: sums["rows_steps"], top: sums["cols_steps"], "O": out_words}
        sram_writes = {"O": out_words}
        first_by_op = {left: rt * width[left] * size["K"], top: ct * width[top] * size["K"]}
        last = rt * ct * width["O"]
    dram, metadata = {"O": out_words * width["O"]}, {"O": Fraction(0)}
    for op in ("I", "W"):
        share = Fraction(moved[op], stored_elements[op])  # passes over the stored tensor
        dram[op], metadata[op] = stored[op][0] * share, stored[op][1] * share
        sram_writes[op] = math.ceil(Fraction(moved[op], prec.fusion))  # every value moved lands in a buffer
    # The first fold's operands (as the array takes them: im2col'd rows, whole words) are never more
    # than the operand's DRAM traffic; without this bound a 7x7 stride-2 conv's prologue charged more
    # DRAM time than the layer moves in all (issue 10: mobilenet_v1_025 and alexnet conv1 on sa128).
    first_parts = {op: min(first_by_op[op], dram[op] + metadata[op]) for op in ("I", "W")}
    first = sum(first_parts.values())
    last = min(last, dram["O"])
    counts = {op: OperandCounts(sram_reads=sram_reads[op], sram_writes=sram_writes[op],
                                dram_bytes=math.ceil(dram[op]), dram_metadata_bytes=math.ceil(metadata[op]))
              for op in ("I", "W", "O")}
    return MemoryPlan(counts, math.ceil(first), math.ceil(last), math.floor(first_parts["I"]))


def plan_lookup(layer: Layer) -> MemoryPlan:
    """The DRAM reads of a ``lookup`` (an embedding: rows of a constant table, :attr:`Layer.lookup_bytes`).

    The table is operand ``W`` (a constant, as weights are); the indices and the rows written stay on chip,
    as every vector layer's activations do. Its first row is the prologue (the copy starts when it has
    arrived, after the DRAM latency), the other rows stream while the vector unit copies: through
    :func:`stall_cycles`, a lookup takes ``row + latency + max(copy, rest)`` cycles.

    Examples
    --------
    >>> p = plan_lookup(Layer("embed", "reshape", op="lookup", in_shapes=((16,),), shape=(16, 64)))
    >>> p.dram_total, p.first_bytes, p.last_bytes
    (1024, 64, 0)
    """
    total = layer.lookup_bytes
    row = math.ceil(layer.out_shape[-1] * layer.dtypes["W"].bytes)
    return MemoryPlan({"I": OperandCounts(), "W": OperandCounts(dram_bytes=total), "O": OperandCounts()},
                      first_bytes=min(row, total), last_bytes=0)


def transfer_cycles(nbytes: int, bytes_per_cycle: float | Fraction) -> int:
    """``⌈nbytes / bytes_per_cycle⌉`` exactly, in integers (a float bandwidth is its exact binary value).

    Examples
    --------
    >>> transfer_cycles(10, 4.0), transfer_cycles(2, Fraction(1, 3))
    (3, 6)
    """
    num, den = bytes_per_cycle.as_integer_ratio()
    return -(-nbytes * den // num)


def stall_cycles(plan: MemoryPlan, compute_cycles: int, arch: ArrayConfig) -> int:
    """Cycles the array waits for DRAM: prologue, epilogue, and any transfer time compute cannot hide."""
    bandwidth = arch.memory.dram_bytes_per_cycle
    first, last = transfer_cycles(plan.first_bytes, bandwidth), transfer_cycles(plan.last_bytes, bandwidth)
    overlapped = transfer_cycles(plan.dram_total, bandwidth) - first - last
    return first + arch.memory.dram_latency_cycles + max(0, overlapped - compute_cycles) + last
