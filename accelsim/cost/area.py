"""Area of a design point: PEs from a synthesis table, SRAM from a density fit (``docs/area.md``).

PE area comes from ``data/pe_area.csv``, written by ``benchmarks/area_table.py``: the generated PE
synthesised by the pinned Yosys to generic gates, priced with NanGate 45 nm Open Cell Library X1 cell
areas. The DSE reads the table and never builds RTL. A width combination absent from the table is
interpolated: bilinear in the operand widths (bi, bw) between the four surrounding rows of the
32-bit-accumulator grid (the multiplier grows as bi·bw, registers and operand muxes as bi and bw:
exactly the bilinear form) plus (acc − 32) × a slope per accumulator bit (registers and adder ∝
acc), measured on the square widths 2×2, 4×4, 8×8 and 16×16 and linear in bi + bw between them.
Operand widths only inside the table's range (2 to 16 bits).

The PE is found by what the dataflow holds (:func:`pe_kind`: output-stationary, weight- or
input-stationary), never by the dataflow's name. Bit-serial, fusible and zero-skipping PEs have no RTL;
their areas are estimates on the table's parallel PE (``docs/area.md``): fusible × 1,733.1 / 687.6
(Bit Fusion, ISCA 2018); bit-serial with the serial operand at 2 bits plus a shift-add accumulator per
column (per PE in output mode); skipping adds zero detectors and flags counted in NanGate cells.

A floating-point datapath's PE (``ArrayConfig.datapath``) is its multiplier plus an fp32 adder, Horowitz's
45 nm areas (ISSCC 2014; fp8 multipliers scaled from fp16 by the squared significand ratio, bf16 as
fp16), plus the registers of the integer PE of the same widths (the table's flip-flops × DFF_X1).

SRAM area is ``kib · 8192 · 0.346 µm² / 0.70``: Intel's 45 nm 6T bit cell (0.346 µm², Mistry et al.,
IEDM 2007) at an assumed 70 % array efficiency, i.e. 4,049.2 µm² per KiB.

Examples
--------
>>> from accelsim.arch import ArrayConfig
>>> round(sram_area_um2(1), 3)
4049.189
>>> arch = ArrayConfig(rows=2, cols=2, dataflows=("ws",), input_bits=4, weight_bits=4)
>>> a = array_area(arch)
>>> a.total_um2 == a.pe_um2 + a.sram_um2 and a.pe_um2 == 4 * pe_area_um2(arch)
True
"""

from __future__ import annotations

import csv
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ..arch import ArrayConfig
from ..errors import UnsupportedError
from ..mapping.dataflow import DataflowSpec, load_dataflow
from ..precision import FLOAT_FORMATS

TABLE = Path(__file__).resolve().parent / "data" / "pe_area.csv"
GRID_ACC_BITS = 32  # the accumulator width of the table's full width grid
SRAM_BITCELL_UM2 = 0.346  # Intel 45 nm 6T SRAM cell (Mistry et al., IEDM 2007)
SRAM_ARRAY_EFFICIENCY = 0.70  # bit cells / macro area (decoders, sense amplifiers, I/O): an assumption
SRAM_UM2_PER_KIB = 8192 * SRAM_BITCELL_UM2 / SRAM_ARRAY_EFFICIENCY
_VARIANT = ("dataflow", "double_buffered", "sparse", "weight_nm")
# NanGate 45 nm Open Cell Library X1 cells (µm²), as priced in the table (docs/area.md), for the estimates
CELL_UM2 = {"OR2": 1.064, "AND2": 1.064, "XOR2": 1.596, "MUX2": 1.862, "DFF": 4.522}
# Fusible PEs: Bit Fusion (Sharma et al., ISCA 2018), 45 nm: a fixed 8-bit PE 687.6 µm², a PE fusible
# down to 2-bit BitBricks 1,733.1 µm². The ratio scales the table's parallel PE (docs/area.md).
BITFUSION_FIXED_UM2, BITFUSION_FUSIBLE_UM2, BITFUSION_BRICK_BITS = 687.6, 1733.1, 2
FUSIBLE_AREA_FACTOR = BITFUSION_FUSIBLE_UM2 / BITFUSION_FIXED_UM2  # 2.52
SERIAL_TABLE_BITS = 2  # a bit-serial operand is priced at the table's narrowest width (an upper bound)
# Floating-point units in 45 nm (µm²): M. Horowitz, "Computing's energy problem (and what we can do about
# it)", ISSCC 2014, area of 16-bit FP add 1,360, mult 1,640; 32-bit FP add 4,184, mult 7,700 (docs/area.md).
HOROWITZ_FP_UM2 = {"fp16_add": 1360.0, "fp16_mult": 1640.0, "fp32_add": 4184.0, "fp32_mult": 7700.0}


@dataclass(frozen=True)
class AreaBreakdown:
    """Area of one design point in µm²: the PE array, the three SRAM buffers, their sum."""

    pe_um2: float
    sram_um2: float
    total_um2: float

    def to_dict(self) -> dict[str, float]:
        return {"pe_um2": self.pe_um2, "sram_um2": self.sram_um2, "total_um2": self.total_um2}


@lru_cache(maxsize=4)
def load_table(path: str | Path = TABLE) -> dict[tuple, dict[tuple[int, int, int], float]]:
    """``{(dataflow, double_buffered, sparse, weight_nm): {(input_bits, weight_bits, acc_bits): area_um2}}``."""
    out: dict[tuple, dict[tuple[int, int, int], float]] = {}
    with open(path, newline="") as f:
        reader = csv.DictReader(line for line in f if not line.startswith("#"))
        for row in reader:
            variant = (row["dataflow"], row["double_buffered"] == "1", row["sparse"], row["weight_nm"])
            widths = (int(row["input_bits"]), int(row["weight_bits"]), int(row["acc_bits"]))
            out.setdefault(variant, {})[widths] = float(row["area_um2"])
    return out


def table_rows(path: str | Path = TABLE) -> list[dict[str, str]]:
    """The table's rows as strings (every column), for reports and tests."""
    with open(path, newline="") as f:
        return list(csv.DictReader(line for line in f if not line.startswith("#")))


def _bracket(grid: list[int], x: int) -> tuple[int, int]:
    """The grid points around ``x`` (equal when ``x`` is one)."""
    low = max(g for g in grid if g <= x)
    high = min(g for g in grid if g >= x)
    return low, high


def _bilinear(rows: dict[tuple[int, int, int], float], acc: int, bi: int, bw: int) -> float:
    """Bilinear in (bi, bw) between the four surrounding grid rows at accumulator ``acc``."""
    grid_i = sorted({k[0] for k in rows if k[2] == acc})
    grid_w = sorted({k[1] for k in rows if k[2] == acc})
    i0, i1 = _bracket(grid_i, bi)
    w0, w1 = _bracket(grid_w, bw)
    ti = 0.0 if i1 == i0 else (bi - i0) / (i1 - i0)
    tw = 0.0 if w1 == w0 else (bw - w0) / (w1 - w0)
    return ((1 - ti) * (1 - tw) * rows[(i0, w0, acc)] + ti * (1 - tw) * rows[(i1, w0, acc)]
            + (1 - ti) * tw * rows[(i0, w1, acc)] + ti * tw * rows[(i1, w1, acc)])


def acc_slopes_um2(variant: tuple) -> list[tuple[int, float]]:
    """``[(product_bits, µm² per accumulator bit)]`` of a variant, from its square-width rows.

    At each square width b×b with a second accumulator width in the table (2×2: 4 and 32 bits; 4×4:
    8 and 32; 8×8: 16 and 48; 16×16: 32 and 48) the slope is the area difference over the bit difference.
    """
    rows = load_table()[variant]
    out = []
    for b in sorted({k[0] for k in rows if k[0] == k[1]}):
        accs = sorted(k[2] for k in rows if k[0] == k[1] == b)
        if len(accs) >= 2:
            out.append((2 * b, (rows[(b, b, accs[-1])] - rows[(b, b, accs[0])]) / (accs[-1] - accs[0])))
    return out


def acc_slope_um2(variant: tuple, product_bits: int) -> float:
    """µm² per accumulator bit at ``product_bits = bi + bw``: linear between the measured slopes."""
    slopes = acc_slopes_um2(variant)
    if product_bits <= slopes[0][0]:
        return slopes[0][1]
    for (p0, s0), (p1, s1) in itertools.pairwise(slopes):
        if product_bits <= p1:
            return s0 + (s1 - s0) * (product_bits - p0) / (p1 - p0)
    return slopes[-1][1]


def pe_kind(dataflow: DataflowSpec) -> str:
    """The PE a dataflow needs, as the table names it: what the hardware holds, not what the file is called.

    ``"os"``: outputs accumulate in place (``mode`` output); ``"ws"`` / ``"is"``: the weight or the
    input is held (``mode`` stationary, :attr:`~accelsim.mapping.dataflow.DataflowSpec.stationary`).
    The loop order and which of M/N lies on the rows change the controller, not the PE.

    Examples
    --------
    >>> from accelsim.mapping import load_dataflow
    >>> [pe_kind(load_dataflow(n)) for n in ("ws", "os", "is")]
    ['ws', 'os', 'is']
    """
    if dataflow.mode == "output":
        return "os"
    return {"W": "ws", "I": "is"}[dataflow.stationary]


def _spec(dataflow: str | DataflowSpec) -> DataflowSpec:
    """A dataflow spec: given, or a bundled name / dataflow file loaded."""
    return dataflow if isinstance(dataflow, DataflowSpec) else load_dataflow(dataflow)


def _variant(arch: ArrayConfig, dataflow: DataflowSpec) -> tuple:
    """The table variant a PE starts from: its kind, buffering, zero handling (skip starts from the
    dense PE: zeros it does not skip are multiplied) and N:M."""
    if not arch.signed or arch.overflow != "wrap":
        raise UnsupportedError("PE area: the table covers signed operands that wrap; "
                               f"signed={arch.signed}, overflow '{arch.overflow}' is not in it")
    kind = pe_kind(dataflow)
    variant = (kind, arch.double_buffered, "none" if arch.sparse == "skip" else arch.sparse, arch.weight_nm)
    table = load_table()
    if variant not in table:
        known = sorted({f"{d}{' ' + nm if nm else ''}" for d, _, _, nm in table})
        shown = f"'{dataflow.name}'" + (f" (a {kind} PE)" if dataflow.name != kind else "")
        raise UnsupportedError(f"PE area: no table rows for dataflow {shown}"
                               f"{' with weight_nm ' + arch.weight_nm if arch.weight_nm else ''} "
                               f"(the table has: {', '.join(known)})")
    return variant


def _table_area(variant: tuple, bi: int, bw: int, acc: int) -> float:
    """The table row at these widths, else the per-variant fit, inside the table's range of widths."""
    rows = load_table()[variant]
    key = (bi, bw, acc)
    if key in rows:
        return rows[key]
    for i, name in enumerate(("input_bits", "weight_bits")):
        low, high = min(k[i] for k in rows), max(k[i] for k in rows)
        if not low <= key[i] <= high:
            raise UnsupportedError(f"PE area: {name} = {key[i]} is outside the table's range [{low}, {high}] "
                                   f"(extend the grid in benchmarks/area_table.py)")
    return _bilinear(rows, GRID_ACC_BITS, bi, bw) + acc_slope_um2(variant, bi + bw) * (acc - GRID_ACC_BITS)


def shift_add_um2(acc_bits: int) -> float:
    """A bit-serial shift-add accumulator of ``acc_bits``: per bit a DFF, a full adder (2 XOR2, 2 AND2,
    1 OR2) and a MUX2 for the shift, in NanGate 45 nm X1 cells (12.768 µm² a bit)."""
    return acc_bits * (CELL_UM2["DFF"] + 2 * CELL_UM2["XOR2"] + 3 * CELL_UM2["AND2"] + CELL_UM2["MUX2"])


def skip_logic_um2(arch: ArrayConfig, dataflow: DataflowSpec) -> float:
    """One PE's share of the zero-skipping logic (µm², NanGate 45 nm X1 cells; ``docs/area.md``).

    Stationary: each PE tests its held word for zero (``b − 1`` OR2), joins its row's all-zero chain
    (one OR2) and keeps the flag per bank (one DFF, two double-buffered); the streamer drops the rows
    the chain marks. Output mode: the test sits on the edges, one detector per entering word (rows left
    words, cols top words, ``b − 1`` OR2 each), OR-reduced (rows − 1 + cols − 1 OR2) and joined (one
    OR2), shared by the array's PEs.
    """
    if dataflow.mode == "stationary":
        held = arch.weight_bits if dataflow.stationary == "W" else arch.input_bits
        return held * CELL_UM2["OR2"] + (2 if arch.double_buffered else 1) * CELL_UM2["DFF"]
    left, top = (arch.input_bits, arch.weight_bits) if dataflow.left == "I" else (arch.weight_bits, arch.input_bits)
    gates = arch.rows * (left - 1) + arch.cols * (top - 1) + (arch.rows - 1) + (arch.cols - 1) + 1
    return gates * CELL_UM2["OR2"] / arch.pes


def float_multiplier_um2(datapath: str) -> float:
    """A floating-point datapath's multiplier (µm², 45 nm): Horowitz's 16-bit FP multiply for fp16, and
    for bf16 (no figure of its own; its 8-bit significand multiplier is smaller, so an upper bound);
    fp8 an estimate, the fp16 multiplier × the squared ratio of significand bits (the significand
    multiplier's array dominates and grows as the product of its widths): e4m3 (4/11)², e5m2 (3/11)².

    Examples
    --------
    >>> [round(float_multiplier_um2(d), 1) for d in ("fp16", "bf16", "fp8_e4m3", "fp8_e5m2")]
    [1640.0, 1640.0, 216.9, 122.0]
    """
    fp16_significand = FLOAT_FORMATS["fp16"][1] + 1
    if datapath in ("fp16", "bf16"):
        return HOROWITZ_FP_UM2["fp16_mult"]
    significand = FLOAT_FORMATS[datapath][1] + 1
    return HOROWITZ_FP_UM2["fp16_mult"] * (significand / fp16_significand) ** 2


@lru_cache(maxsize=4)
def _flip_flops(path: str | Path = TABLE) -> dict[tuple, dict[tuple[int, int, int], int]]:
    """The table's flip-flop count per variant and widths (as :func:`load_table` keys its areas)."""
    out: dict[tuple, dict[tuple[int, int, int], int]] = {}
    for row in table_rows(path):
        variant = (row["dataflow"], row["double_buffered"] == "1", row["sparse"], row["weight_nm"])
        widths = (int(row["input_bits"]), int(row["weight_bits"]), int(row["acc_bits"]))
        out.setdefault(variant, {})[widths] = int(row["flip_flops"])
    return out


def float_pe_um2(arch: ArrayConfig, dataflow: DataflowSpec) -> float:
    """A parallel PE of a floating-point datapath (µm²): the format's multiplier
    (:func:`float_multiplier_um2`), Horowitz's 32-bit FP adder (the fp32 accumulate) and the registers of
    the integer PE of the same kind, buffering, gating, N:M and widths, as the table counts them
    (its flip-flops × a NanGate DFF_X1; the integer PE's own multiplier, adder and muxes are not taken).
    """
    variant = _variant(arch, dataflow)
    widths = (arch.input_bits, arch.weight_bits, arch.acc_bits)
    flops = _flip_flops()[variant].get(widths)
    if flops is None:
        raise UnsupportedError(f"PE area: no table row for the registers of a {arch.datapath} PE "
                               f"({widths[0]}x{widths[1]}-bit operands, {widths[2]}-bit accumulator)")
    return float_multiplier_um2(arch.datapath) + HOROWITZ_FP_UM2["fp32_add"] + flops * CELL_UM2["DFF"]


def _one_pe(arch: ArrayConfig, dataflow: DataflowSpec) -> float:
    """One PE for one dataflow: the table's parallel PE, then what the PE style and skipping add."""
    if arch.datapath != "int":
        area = float_pe_um2(arch, dataflow)  # parallel PEs only (ArrayConfig enforces it)
        return area + (skip_logic_um2(arch, dataflow) if arch.sparse == "skip" else 0.0)
    variant = _variant(arch, dataflow)
    bi, bw, acc = arch.input_bits, arch.weight_bits, arch.acc_bits
    if arch.pe_style == "bit-serial":
        # the serial (left-edge) operand is one bit wide: the table's narrowest PE, 2 bits, bounds it above
        bi, bw = (SERIAL_TABLE_BITS, bw) if dataflow.left == "I" else (bi, SERIAL_TABLE_BITS)
        area = _table_area(variant, bi, bw, acc)
        # plane j is weighted 2^j: a shift-add accumulator per column (stationary: the planes leave the
        # bottom on consecutive cycles) or in every PE (output mode accumulates in place)
        area += shift_add_um2(acc) / (arch.rows if dataflow.mode == "stationary" else 1)
    else:
        area = _table_area(variant, bi, bw, acc)
        if arch.pe_style == "fusible":
            brick = getattr(arch, "fusion_brick_bits", BITFUSION_BRICK_BITS)
            if brick != BITFUSION_BRICK_BITS:
                raise UnsupportedError(f"PE area: fusible PEs are priced from Bit Fusion's {BITFUSION_BRICK_BITS}-bit "
                                       f"bricks; fusion_brick_bits = {brick} has no published area")
            area *= FUSIBLE_AREA_FACTOR
    if arch.sparse == "skip":
        area += skip_logic_um2(arch, dataflow)
    return area


Dataflows = str | DataflowSpec | Sequence[str | DataflowSpec] | None


def pe_area_um2(arch: ArrayConfig, dataflow: Dataflows = None) -> float:
    """Area of one PE of ``arch`` in µm² (NanGate 45 nm cells), from the synthesis table.

    ``dataflow`` picks the PE: a :class:`~accelsim.mapping.dataflow.DataflowSpec`, a bundled name or
    a dataflow file, or several of them (the PE that runs them all). By default the largest PE among
    ``arch.dataflows`` (a PE that runs several dataflows needs at least the largest one's hardware; the
    mode muxes are not counted). The PE is looked up by what the dataflow holds (:func:`pe_kind`), never
    by its name. Parallel PEs: the exact table row when there is one, else the per-variant fit (see the
    module docstring), inside the table's range of widths. Bit-serial, fusible and skipping PEs are
    estimates on top of it (``docs/area.md``). Anything else is an :class:`UnsupportedError`.
    """
    if dataflow is None or not isinstance(dataflow, (str, DataflowSpec)):
        specs = [_spec(d) for d in (arch.dataflows if dataflow is None else dataflow)]
        if not specs:
            raise UnsupportedError("PE area: no dataflow to size the PE for")
        return max(_mode_area(arch, spec, specs) for spec in specs)
    return _one_pe(arch, _spec(dataflow))


def _mode_area(arch: ArrayConfig, dataflow: DataflowSpec, every: list[DataflowSpec]) -> float:
    """One dataflow's PE of a multi-dataflow array. N:M select logic serves weight-stationary only
    (the other dataflows run dense, ``docs/sparsity.md``), so a dataflow the table has no N:M row
    for is priced as its dense PE; the weight-stationary mode carries the N:M hardware."""
    try:
        return pe_area_um2(arch, dataflow)
    except UnsupportedError:
        if not arch.weight_nm or dataflow.supports_nm or not any(d.supports_nm for d in every):
            raise  # an N:M array with no weight-stationary mode has nowhere to use its N:M hardware
        return pe_area_um2(arch.with_changes(weight_nm=""), dataflow)


def sram_area_um2(kib: float) -> float:
    """Area of an SRAM buffer of ``kib`` KiB in µm²: ``kib · 8192 · 0.346 / 0.70`` (45 nm; docs/area.md).

    Linear in capacity: meant for buffers of about 1 KiB and up (below that, decoders and sense
    amplifiers dominate and the fit is low). ``kib`` must be finite and ≥ 0.
    """
    if not isinstance(kib, (int, float)) or isinstance(kib, bool) or not 0 <= kib < float("inf"):
        raise UnsupportedError(f"SRAM area: capacity must be a finite number of KiB ≥ 0, not {kib!r}")
    return kib * SRAM_UM2_PER_KIB


def array_area(arch: ArrayConfig, dataflow: Dataflows = None) -> AreaBreakdown:
    """PEs × one PE's area + the ifmap, filter and ofmap buffers (µm²); ``dataflow`` as :func:`pe_area_um2`."""
    pe = arch.pes * pe_area_um2(arch, dataflow)
    m = arch.memory
    sram = sum(sram_area_um2(k) for k in (m.ifmap_kib, m.filter_kib, m.ofmap_kib))
    return AreaBreakdown(pe_um2=pe, sram_um2=sram, total_um2=pe + sram)
