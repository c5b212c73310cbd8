"""Area of a design point: PEs from a synthesis table, SRAM from a density fit (``docs/area.md``).

PE area comes from ``data/pe_area.csv``, written by ``benchmarks/area_table.py``: the generated PE
synthesised by the pinned Yosys to generic gates, priced with NanGate 45 nm Open Cell Library X1 cell
areas. The DSE reads the table and never builds RTL. A width combination absent from the table is
interpolated: bilinear in the operand widths (bi, bw) between the four surrounding rows of the
32-bit-accumulator grid (the multiplier grows as bi·bw, registers and operand muxes as bi and bw:
exactly the bilinear form) plus (acc − 32) × a slope per accumulator bit (registers and adder ∝
acc), measured on the square widths 2×2, 4×4, 8×8 and 16×16 and linear in bi + bw between them.
Operand widths only inside the table's range (2 to 16 bits).

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
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ..arch import ArrayConfig
from ..errors import UnsupportedError
from ..mapping.dataflow import DataflowSpec, load_dataflow

TABLE = Path(__file__).resolve().parent / "data" / "pe_area.csv"
GRID_ACC_BITS = 32  # the accumulator width of the table's full width grid
SRAM_BITCELL_UM2 = 0.346  # Intel 45 nm 6T SRAM cell (Mistry et al., IEDM 2007)
SRAM_ARRAY_EFFICIENCY = 0.70  # bit cells / macro area (decoders, sense amplifiers, I/O): an assumption
SRAM_UM2_PER_KIB = 8192 * SRAM_BITCELL_UM2 / SRAM_ARRAY_EFFICIENCY
_VARIANT = ("dataflow", "double_buffered", "sparse", "weight_nm")


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
    for (p0, s0), (p1, s1) in zip(slopes, slopes[1:]):
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
    if arch.pe_style != "parallel":
        raise UnsupportedError(f"PE area: pe_style '{arch.pe_style}' has no RTL, so no synthesised area "
                               f"(only 'parallel')")
    if arch.sparse == "skip":
        raise UnsupportedError("PE area: sparse 'skip' has no RTL, so no synthesised area (only 'none' and 'gate')")
    if not arch.signed or arch.overflow != "wrap":
        raise UnsupportedError("PE area: the table covers signed operands that wrap; "
                               f"signed={arch.signed}, overflow '{arch.overflow}' is not in it")
    kind = pe_kind(dataflow)
    variant = (kind, arch.double_buffered, arch.sparse, arch.weight_nm)
    table = load_table()
    if variant not in table:
        known = sorted({f"{d}{' ' + nm if nm else ''}" for d, _, _, nm in table})
        shown = f"'{dataflow.name}'" + (f" (a {kind} PE)" if dataflow.name != kind else "")
        raise UnsupportedError(f"PE area: no table rows for dataflow {shown}"
                               f"{' with weight_nm ' + arch.weight_nm if arch.weight_nm else ''} "
                               f"(the table has: {', '.join(known)})")
    return variant


Dataflows = str | DataflowSpec | Sequence[str | DataflowSpec] | None


def pe_area_um2(arch: ArrayConfig, dataflow: Dataflows = None) -> float:
    """Area of one PE of ``arch`` in µm² (NanGate 45 nm cells), from the synthesis table.

    ``dataflow`` picks the PE: a :class:`~accelsim.mapping.dataflow.DataflowSpec`, a bundled name or
    a dataflow file, or several of them (the PE that runs them all). By default the largest PE among
    ``arch.dataflows`` (a PE that runs several dataflows needs at least the largest one's hardware; the
    mode muxes are not counted). The PE is looked up by what the dataflow holds (:func:`pe_kind`), never
    by its name. The exact table row when there is one, else the per-variant fit (see the module
    docstring), inside the table's range of widths; anything else is an :class:`UnsupportedError`.
    """
    if dataflow is None or not isinstance(dataflow, (str, DataflowSpec)):
        specs = [_spec(d) for d in (arch.dataflows if dataflow is None else dataflow)]
        if not specs:
            raise UnsupportedError("PE area: no dataflow to size the PE for")
        return max(_mode_area(arch, spec, specs) for spec in specs)
    spec = _spec(dataflow)
    variant = _variant(arch, spec)
    rows = load_table()[variant]
    key = (arch.input_bits, arch.weight_bits, arch.acc_bits)
    if key in rows:
        return rows[key]
    for i, name in enumerate(("input_bits", "weight_bits")):
        low, high = min(k[i] for k in rows), max(k[i] for k in rows)
        if not low <= key[i] <= high:
            raise UnsupportedError(f"PE area: {name} = {key[i]} is outside the table's range [{low}, {high}] "
                                   f"(extend the grid in benchmarks/area_table.py)")
    bi, bw, acc = key
    return _bilinear(rows, GRID_ACC_BITS, bi, bw) + acc_slope_um2(variant, bi + bw) * (acc - GRID_ACC_BITS)


def _mode_area(arch: ArrayConfig, dataflow: DataflowSpec, every: list[DataflowSpec]) -> float:
    """One dataflow's PE of a multi-dataflow array. N:M select logic serves weight-stationary only
    (the other dataflows run dense, ``docs/sparsity.md``), so a dataflow the table has no N:M row
    for is priced as its dense PE; the weight-stationary mode carries the N:M hardware."""
    try:
        return pe_area_um2(arch, dataflow)
    except UnsupportedError:
        holds_weights = [pe_kind(d) == "ws" for d in every]
        if not arch.weight_nm or pe_kind(dataflow) == "ws" or not any(holds_weights):
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
