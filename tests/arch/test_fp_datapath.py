"""Floating-point datapaths (``ArrayConfig.datapath``): validation, which operands run, what a MAC and a
PE cost, the RTL's refusal, the presets, and the datapath changing energy and area but never timing
(docs/precision.md "Floating-point datapaths", docs/energy.md, docs/area.md)."""

from __future__ import annotations

import dataclasses
from fractions import Fraction as F

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from accelsim.arch import PRESETS, ArrayConfig, load_arch, resolve_system
from accelsim.cli import main
from accelsim.cost import EnergyTable, layer_energy, load_energy_table
from accelsim.cost.area import CELL_UM2, HOROWITZ_FP_UM2, array_area, float_multiplier_um2, pe_area_um2
from accelsim.dse.space import arch_for, check_axes, parse_axis
from accelsim.errors import MappingError, SpecError, UnsupportedError
from accelsim.mapping import Mapping, load_dataflow
from accelsim.mapping.plan import Precision, resolve_precision
from accelsim.precision import FLOAT_BITS, FLOAT_DATAPATHS, parse_dtype
from accelsim.schedule import run_system
from accelsim.sim import run_reference
from accelsim.sim.engine import simulate_layer
from accelsim.workload import resolve_workload
from accelsim.workload.layer import Layer

H45, NORM = load_energy_table("horowitz45"), load_energy_table("normalised")


def fp_array(datapath: str = "fp16", **kw) -> ArrayConfig:
    bits = FLOAT_BITS[datapath]
    return ArrayConfig(rows=4, cols=4, input_bits=bits, weight_bits=bits, datapath=datapath, **kw)


def linear(m, k, n, **kw):
    return Layer("fc", "linear", in_shapes=((m, k),), out=n, **kw)


# -- the field --------------------------------------------------------------------------------------
def test_int_is_the_default_and_is_not_written():
    arch = ArrayConfig(rows=4, cols=4)
    assert arch.datapath == "int" and "datapath" not in arch.to_dict()
    assert all("datapath" not in PRESETS[n].to_dict() for n in ("tiny", "sa8", "edge", "sa32", "sa128", "tpuv1"))
    assert arch.with_changes(input_bits=16, weight_bits=16, datapath="fp16").digest != \
        arch.with_changes(input_bits=16, weight_bits=16).digest


@pytest.mark.parametrize("datapath", FLOAT_DATAPATHS)
def test_a_float_array_round_trips_through_yaml(tmp_path, datapath):
    arch = fp_array(datapath, sparse="gate")
    assert arch.to_dict()["datapath"] == datapath
    path = tmp_path / "a.yaml"
    path.write_text(yaml.safe_dump(arch.to_dict()))
    assert load_arch(path) == arch and load_arch(path).digest == arch.digest


@pytest.mark.parametrize("fields, message", [
    (dict(input_bits=8, weight_bits=16, datapath="fp16"),
     "`ArrayConfig.input_bits` must be 16 with datapath 'fp16' (the format's width), not 8"),
    (dict(input_bits=16, weight_bits=8, datapath="bf16"),
     "`ArrayConfig.weight_bits` must be 16 with datapath 'bf16' (the format's width), not 8"),
    (dict(input_bits=16, weight_bits=16, datapath="fp8_e4m3"),
     "`ArrayConfig.input_bits` must be 8 with datapath 'fp8_e4m3' (the format's width), not 16"),
    (dict(input_bits=16, weight_bits=16, acc_bits=40, datapath="fp16"),
     "`ArrayConfig.acc_bits` must be 32 with datapath 'fp16' (it accumulates in fp32), not 40"),
    (dict(datapath="fp8_e5m2", pe_style="bit-serial"),
     "`ArrayConfig.pe_style` must be 'parallel' with datapath 'fp8_e5m2'"),
    (dict(datapath="fp8_e4m3", pe_style="fusible"), "`ArrayConfig.pe_style` must be 'parallel'"),
    (dict(datapath="fp8_e4m3", overflow="saturate"),
     "`ArrayConfig.overflow` is an integer accumulator's; datapath 'fp8_e4m3' accumulates in fp32"),
    (dict(datapath="fp8_e4m3", signed=False), "`ArrayConfig.signed` is an integer datapath's"),
    (dict(datapath="fp32"), "`ArrayConfig.datapath` must be one of int, fp16, bf16, fp8_e4m3, fp8_e5m2, not 'fp32'"),
    (dict(datapath="fp8"), "`ArrayConfig.datapath` must be one of int, fp16, bf16, fp8_e4m3, fp8_e5m2, not 'fp8'"),
])
def test_validation_is_one_line_naming_the_field(fields, message):
    with pytest.raises(SpecError) as err:
        ArrayConfig(rows=4, cols=4, **fields)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_sparse_modes_are_allowed():
    for changes in (dict(sparse="gate"), dict(sparse="skip"), dict(dataflows=("ws",), weight_nm="2:4")):
        assert fp_array("bf16", **changes).datapath == "bf16"


def test_a_yaml_file_names_the_line(tmp_path):
    path = tmp_path / "a.yaml"
    path.write_text("rows: 2\ncols: 2\ndatapath: fp16\nacc_bits: 48\ninput_bits: 16\nweight_bits: 16\n")
    with pytest.raises(SpecError, match=r"a.yaml:4: `ArrayConfig.acc_bits` must be 32 with datapath 'fp16'"):
        load_arch(path)


# -- which operands run -------------------------------------------------------------------------------
RUNS = [  # (datapath, input, weight): runs
    ("fp16", "fp16", "fp16"), ("fp16", "fp8", "fp8_e5m2"), ("fp16", "fp16", "int4"), ("fp16", "fp16", "int8"),
    ("fp16", "int12", "uint11"), ("fp16", "fp8_e4m3", "int1"),
    ("bf16", "bf16", "bf16"), ("bf16", "fp8_e4m3", "fp8_e5m2"), ("bf16", "bf16", "int8"), ("bf16", "int9", "uint8"),
    ("fp8_e4m3", "fp8_e4m3", "fp8"), ("fp8_e4m3", "fp8_e4m3", "int4"), ("fp8_e4m3", "int5", "uint4"),
    ("fp8_e5m2", "fp8_e5m2", "fp8_e5m2"), ("fp8_e5m2", "fp8_e5m2", "int4"), ("fp8_e5m2", "uint3", "int2"),
]
REFUSED = [  # (datapath, input, weight, what the one-line MappingError says)
    ("fp16", "fp16", "int13", ("weights are int13 but the array's weight datapath is fp16 (datapath = fp16, "
                               "weight_bits = 16): int13 has 12 magnitude bits against fp16's 11-bit significand")),
    ("fp16", "uint12", "fp16", "inputs are uint12 but the array's input datapath is fp16"),
    ("fp16", "bf16", "fp16", ("inputs are bf16 but the array's input datapath is fp16 (datapath = fp16, "
                              "input_bits = 16): bf16 has 8 exponent and 7 mantissa bits against fp16's 5 and 10")),
    ("bf16", "fp16", "bf16", "inputs are fp16 but the array's input datapath is bf16"),
    ("bf16", "bf16", "int10", "weights are int10"),
    ("bf16", "bf16", "uint9", "weights are uint9"),
    ("fp8_e4m3", "fp16", "fp8_e4m3", "inputs are fp16 but the array's input datapath is fp8_e4m3"),
    ("fp8_e4m3", "fp8_e4m3", "int8", "weights are int8 but the array's weight datapath is fp8_e4m3"),
    ("fp8_e4m3", "fp8_e5m2", "fp8_e4m3", "inputs are fp8_e5m2"),
    ("fp8_e4m3", "fp8_e4m3", "int6", "int6 has 5 magnitude bits against fp8_e4m3's 4-bit significand"),
    ("fp8_e5m2", "fp8", "fp8_e5m2", "inputs are fp8 but the array's input datapath is fp8_e5m2"),
    ("fp8_e5m2", "fp8_e5m2", "uint4", "weights are uint4"),
    ("fp8_e5m2", "fp8_e5m2", "int5", "int5 has 4 magnitude bits against fp8_e5m2's 3-bit significand"),
]


def _types(i, w, o="fp32"):
    return {"I": parse_dtype(i), "W": parse_dtype(w), "O": parse_dtype(o)}


@pytest.mark.parametrize("datapath, i, w", RUNS)
def test_operands_the_format_holds_run(datapath, i, w):
    p = resolve_precision("fc", _types(i, w), fp_array(datapath), load_dataflow("ws"))
    bits = FLOAT_BITS[datapath]
    assert (p.datapath, p.mac_bits, p.acc_bits, p.fusion, p.serial_bits) == (datapath, (bits, bits), 32, 1, 1)
    assert (p.I.name, p.W.name) == (i, w)  # stored as they are: buffers and DRAM move their own bytes
    assert p.to_dict()["accumulator"] == "fp32" and p.to_dict()["datapath"] == datapath
    assert Precision.from_dict(p.to_dict()) == p


@pytest.mark.parametrize("datapath, i, w, message", REFUSED)
def test_operands_it_does_not_hold_are_refused_naming_both(datapath, i, w, message):
    with pytest.raises(MappingError) as err:
        resolve_precision("fc", _types(i, w), fp_array(datapath), load_dataflow("ws"))
    text = str(err.value)
    assert text.startswith("layer 'fc': ") and message in text and "\n" not in text


def test_the_integer_datapath_is_unchanged():
    """Floats stay storage formats as wide as the datapath; the new fp8 names are fp8's width."""
    dataflow = load_dataflow("ws")
    wide = ArrayConfig(rows=4, cols=4, input_bits=16, weight_bits=16)
    for i, w in (("fp16", "bf16"), ("bf16", "int16"), ("fp8_e5m2", "fp8_e4m3")):
        p = resolve_precision("fc", _types(i, w), wide, dataflow)
        assert p.datapath == "int" and p.mac_bits == (p.I.bits, p.W.bits) and p.to_dict()["accumulator"] == "int32"
        assert "datapath" not in p.to_dict()
    narrow = ArrayConfig(rows=4, cols=4)
    assert resolve_precision("fc", _types("fp8_e4m3", "fp8"), narrow, dataflow).W.bits == 8
    with pytest.raises(MappingError, match="inputs are fp16 but the array's input datapath is 8-bit signed"):
        resolve_precision("fc", _types("fp16", "int8"), narrow, dataflow)


def test_fp8_is_still_a_name_and_is_e4m3(tmp_path):
    assert parse_dtype("fp8").bits == parse_dtype("fp8_e4m3").bits == parse_dtype("fp8_e5m2").bits == 8
    assert parse_dtype("fp8").name == "fp8"  # results written before keep reading the same
    assert parse_dtype("fp8").significand_bits == parse_dtype("fp8_e4m3").significand_bits == 4
    path = tmp_path / "w.yaml"
    path.write_text("version: 1\nname: w\ninputs: {x: [4, 8]}\nlayers:\n  - {name: fc, kind: linear, out: 4, "
                    "precision: {input: fp8_e5m2, weight: fp8_e4m3, output: fp16}}\n")
    layer = next(iter(resolve_workload(str(path))))
    assert (layer.dtypes["I"].name, layer.dtypes["W"].name) == ("fp8_e5m2", "fp8_e4m3")


def test_the_reference_engine_refuses_a_float_datapath():
    import numpy as np

    mapping = Mapping.for_gemm(linear(2, 3, 2).gemm, load_dataflow("ws"), fp_array("fp16"),
                               dtypes={"I": "int8", "W": "int8"})
    with pytest.raises(UnsupportedError, match="computes integer datapaths, not datapath 'fp16'"):
        run_reference(mapping, np.ones((1, 2, 3), np.int64), np.ones((1, 3, 2), np.int64))


# -- energy --------------------------------------------------------------------------------------------
def test_float_mac_prices_are_the_tables():
    assert [H45.float_mac_pj(d) for d in FLOAT_DATAPATHS] == [F(2), F(2), F(23, 22), F(54, 55)]
    mult = {name: mac.mult for name, mac in H45.mac_float}
    assert mult == {"fp16": F(11, 10), "bf16": F(11, 10), "fp8_e4m3": F(4, 11) ** 2 * F(11, 10),
                    "fp8_e5m2": F(3, 11) ** 2 * F(11, 10)}
    assert all(mac.add == F(9, 10) for _, mac in H45.mac_float)
    # normalised: Horowitz's ratios to his 8-bit MAC (0.3 pJ), in units of that MAC
    assert [NORM.float_mac_pj(d) for d in FLOAT_DATAPATHS] == [H45.float_mac_pj(d) / F(3, 10)
                                                                for d in FLOAT_DATAPATHS]
    assert [NORM.float_mac_pj(d) for d in FLOAT_DATAPATHS] == [F(20, 3), F(20, 3), F(115, 33), F(36, 11)]
    for table in (H45, NORM):
        assert EnergyTable.from_dict(table.to_dict()) == table


def test_a_layer_on_a_float_datapath_pays_float_macs_and_registers_of_its_format():
    layer = linear(8, 16, 8, input_type="fp16", weight_type="int4", output_type="fp16", weight_density=0.5)
    for sparse in ("none", "gate"):
        arch = fp_array("fp16", sparse=sparse)
        r = simulate_layer(layer, arch, load_dataflow("ws"), memory=True)
        e = layer_energy(r, arch, H45)
        issued, gated = r.mac_counts.issued, r.mac_counts.gated
        assert (sparse == "gate") == (gated > 0)
        assert e.exact["component"]["mac"] == (issued - gated) * 2
        assert e.exact["component"]["gated_mac"] == gated * F(1, 10) * 2
        # both operands as the PE holds them (fp16: 2 bytes each), the fp32 partial sum read and written
        assert e.exact["component"]["pe_register"] == issued * 4 * F(15, 100) + (issued - gated) * 8 * F(15, 100)
        assert r.precision.W.bits == 4 and r.traffic["W"].dram_total == 16 * 8 // 2  # int4 weights move as int4


def test_leakage_is_as_for_integers():
    leaky = EnergyTable.from_dict(H45.to_dict() | {"leakage_per_pe_cycle": 0.01, "leakage_per_kib_cycle": 0.001})
    layer = linear(8, 16, 8)
    fp, integer = fp_array("bf16"), ArrayConfig(rows=4, cols=4, input_bits=16, weight_bits=16)
    a = layer_energy(simulate_layer(layer, fp, load_dataflow("ws")), fp, leaky)
    b = layer_energy(simulate_layer(layer, integer, load_dataflow("ws")), integer, leaky)
    assert a.by_component["leakage"] == b.by_component["leakage"] > 0


def test_a_table_without_the_datapaths_price_refuses_it(tmp_path, capsys):
    data = H45.to_dict()
    del data["mac_float"]
    mine = EnergyTable.from_dict(data | {"name": "mine"})
    assert "mac_float" not in mine.to_dict()
    arch = fp_array("bf16")
    r = simulate_layer(linear(4, 4, 4), arch, load_dataflow("ws"))
    with pytest.raises(UnsupportedError) as err:
        layer_energy(r, arch, mine)
    assert str(err.value) == ("energy table 'mine' prices no bf16 MAC (give it mac_float.bf16: {mult, add}); a "
                              "floating-point MAC is never priced as an integer one")
    only_fp16 = EnergyTable.from_dict(data | {"mac_float": {"fp16": {"mult": "1/2", "add": 1}}})
    assert only_fp16.float_mac_pj("fp16") == F(3, 2)
    with pytest.raises(UnsupportedError, match="prices no bf16 MAC"):
        only_fp16.float_mac_pj("bf16")
    # and on the command line: one line
    table = tmp_path / "mine.yaml"
    table.write_text(yaml.safe_dump(data))
    spec = tmp_path / "fp.yaml"
    spec.write_text(yaml.safe_dump(arch.to_dict()))
    assert main(["simulate", "alexnet", "--arch", str(spec), "--energy-table", str(table)]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err == "accelsim: error: energy table 'horowitz45' prices no bf16 MAC (give it " \
                                "mac_float.bf16: {mult, add}); a floating-point MAC is never priced as an integer one\n"


@pytest.mark.parametrize("mac_float, message", [
    ({"fp32": {"mult": 1, "add": 1}}, "`EnergyTable.mac_float.fp32` is not a floating-point datapath"),
    ({"fp16": {"mult": 1}}, "`EnergyTable.mac_float.fp16` is missing the required key 'add'"),
    ({"fp16": {"mult": -1, "add": 1}}, "`EnergyTable.mac_float.fp16.mult` must be a finite number ≥ 0, not -1"),
    ({"fp16": {"mult": "a lot", "add": 1}}, "`EnergyTable.mac_float.fp16.mult` must be a number ≥ 0 or a ratio"),
    ({"fp16": {"mult": 1, "add": 1, "x": 2}}, "`EnergyTable.mac_float.fp16.x` is not a known key"),
    ([1], "`EnergyTable.mac_float` must be a mapping"),
])
def test_a_malformed_float_price_is_a_spec_error(mac_float, message):
    with pytest.raises(SpecError) as err:
        EnergyTable.from_dict(H45.to_dict() | {"mac_float": mac_float})
    assert message in str(err.value)


# -- area ----------------------------------------------------------------------------------------------
def test_a_float_pe_is_its_multiplier_an_fp32_adder_and_the_integer_pes_registers():
    dff = CELL_UM2["DFF"]
    assert HOROWITZ_FP_UM2 == {"fp16_add": 1360, "fp16_mult": 1640, "fp32_add": 4184, "fp32_mult": 7700}
    assert float_multiplier_um2("fp16") == float_multiplier_um2("bf16") == 1640
    assert float_multiplier_um2("fp8_e4m3") == pytest.approx(1640 * 16 / 121)
    assert float_multiplier_um2("fp8_e5m2") == pytest.approx(1640 * 9 / 121)
    # the double-buffered WS PE has 83 flip-flops at 16x16 bits (a 32-bit accumulator), 59 at 8x8; OS 100 and 84
    assert pe_area_um2(fp_array("fp16"), "ws") == pytest.approx(1640 + 4184 + 83 * dff)  # 6,199.3
    assert pe_area_um2(fp_array("bf16"), "os") == pytest.approx(1640 + 4184 + 100 * dff)
    assert pe_area_um2(fp_array("fp8_e4m3"), "ws") == pytest.approx(1640 * 16 / 121 + 4184 + 59 * dff)
    assert pe_area_um2(fp_array("fp8_e5m2"), "is") == pytest.approx(1640 * 9 / 121 + 4184 + 59 * dff)
    assert pe_area_um2(fp_array("fp16", double_buffered=False), "ws") == pytest.approx(1640 + 4184 + 67 * dff)
    gated, skip = fp_array("fp16", sparse="gate"), fp_array("fp16", sparse="skip")
    assert pe_area_um2(gated, "ws") == pytest.approx(1640 + 4184 + 88 * dff)
    assert pe_area_um2(skip, "ws") == pytest.approx(pe_area_um2(fp_array("fp16"), "ws") + 16 * 1.064 + 2 * dff)
    for datapath in FLOAT_DATAPATHS:  # always above the integer PE of its widths
        bits = FLOAT_BITS[datapath]
        integer = ArrayConfig(rows=4, cols=4, input_bits=bits, weight_bits=bits)
        assert pe_area_um2(fp_array(datapath)) > pe_area_um2(integer)


def test_the_tpuv4_array_area():
    a = array_area(PRESETS["tpuv4"])
    assert a.pe_um2 == pytest.approx(128 * 128 * (1640 + 4184 + 83 * CELL_UM2["DFF"]))
    assert round(a.total_um2 / 1e6, 3) == 300.595  # was 244.978 with 16-bit integer PEs


# -- RTL -----------------------------------------------------------------------------------------------
def test_hdl_refuses_a_float_datapath_in_one_line(tmp_path, capsys):
    pytest.importorskip("amaranth")
    spec = tmp_path / "fp16.yaml"
    spec.write_text("rows: 4\ncols: 4\ninput_bits: 16\nweight_bits: 16\ndatapath: fp16\n")
    for action in (["generate", "-o", str(tmp_path / "out")], ["area"]):
        assert main(["hdl", action[0], "--arch", str(spec), *action[1:]]) == 1
        out, err = capsys.readouterr()
        assert out == "" and err == ("accelsim: error: `ArrayConfig.datapath` 'fp16' has no RTL; the generator "
                                     "builds integer datapaths only ('int')\n")
    assert not (tmp_path / "out").exists()


# -- presets -------------------------------------------------------------------------------------------
def test_the_tpu_and_a100_presets_declare_their_datapaths():
    assert PRESETS["tpuv4"].datapath == "bf16"
    assert {c.datapath for c in resolve_system("tpuv4-tc").cores} == {"bf16"}
    assert {c.datapath for c in resolve_system("a100-like").cores} == {"fp16"}
    chip = resolve_system("tpuv4-chip")
    core = chip.cores[0]
    assert len(chip.cores) == 8 and chip.identical and (core.rows, core.cols, core.datapath) == (128, 128, "bf16")
    assert (core.clock_mhz, core.dataflows, core.acc_bits) == (1050, ("ws",), 32)
    assert chip.dram.bytes_per_cycle == int(1200e9 / 1050e6) == 1142 and chip.dram.capacity_gib == 32
    assert chip.pes * 2 * chip.clock_mhz * 1e6 / 1e12 == pytest.approx(275, rel=2e-3)  # Google's 275 TFLOPS bf16


def _as_int(system):
    return dataclasses.replace(system, cores=tuple(c.with_changes(datapath="int") for c in system.cores))


@pytest.mark.parametrize("name", ["tpuv4-tc", "a100-like", "tpuv4-chip"])
def test_the_datapath_moves_preset_energy_not_cycles(name):
    system, graph = resolve_system(name), resolve_workload("alexnet")
    fp, integer = run_system(graph, system), run_system(graph, _as_int(system))
    assert fp.cycles == integer.cycles
    assert fp.energy_pj["mac"] == integer.energy_pj["mac"] * F(20, 3)  # int8 MACs at 0.3 pJ, now 2.0
    assert fp.energy_pj["dram"] == integer.energy_pj["dram"] and fp.energy_pj["sram"] == integer.energy_pj["sram"]


def test_a_datapath_design_space_axis():
    base = ArrayConfig(rows=4, cols=4, input_bits=16, weight_bits=16)
    axis = parse_axis("datapath=int,fp16,bf16")
    check_axes(base, [axis])
    assert [arch_for(base, {"datapath": v}).datapath for v in axis.values] == ["int", "fp16", "bf16"]
    with pytest.raises(SpecError, match="value 'fp8_e4m3': design point: `ArrayConfig.input_bits` must be 8"):
        check_axes(base, [parse_axis("datapath=int,fp8_e4m3")])


# -- properties ----------------------------------------------------------------------------------------
_BOTH = {  # operand formats that run on the float datapath and on the integer datapath of its width
    "fp16": ["fp16", "fp8", "fp8_e5m2", "int8", "int4", "uint8", "int12"],
    "bf16": ["bf16", "fp8_e4m3", "fp8_e5m2", "int8", "int4", "uint8"],
    "fp8_e4m3": ["fp8_e4m3", "fp8", "int4", "int2", "uint4"],
    "fp8_e5m2": ["fp8_e5m2", "int4", "int3", "uint3"],
}


@st.composite
def float_cases(draw):
    datapath = draw(st.sampled_from(FLOAT_DATAPATHS))
    i, w = (draw(st.sampled_from(_BOTH[datapath])) for _ in range(2))
    m, k, n = (draw(st.integers(1, 48)) for _ in range(3))
    layer = linear(m, k, n, input_type=i, weight_type=w, output_type="fp16",
                   weight_density=draw(st.sampled_from([1.0, 0.5, 0.2])))
    bits = FLOAT_BITS[datapath]
    shape = dict(rows=draw(st.sampled_from([2, 4, 8])), cols=draw(st.sampled_from([2, 4, 8])),
                 sparse=draw(st.sampled_from(["none", "gate", "skip"])),
                 memory=dict(ifmap_kib=draw(st.sampled_from([1, 64])), filter_kib=1, ofmap_kib=1,
                             dram_bytes_per_cycle=draw(st.sampled_from([2, 64]))))
    integer = ArrayConfig(input_bits=bits, weight_bits=bits, **shape)
    return layer, integer, integer.with_changes(datapath=datapath), draw(st.sampled_from(["ws", "os", "is"]))


@settings(max_examples=80)
@given(float_cases())
def test_the_datapath_changes_energy_and_area_never_timing(case):
    layer, integer, fp, dataflow = case
    spec = load_dataflow(dataflow)
    a, b = simulate_layer(layer, fp, spec), simulate_layer(layer, integer, spec)
    assert (a.cycles, a.compute_cycles, a.stall_cycles, a.folds) == (b.cycles, b.compute_cycles, b.stall_cycles,
                                                                      b.folds)
    assert a.mac_counts == b.mac_counts and a.traffic == b.traffic
    ea, eb = layer_energy(a, fp, H45), layer_energy(b, integer, H45)
    for component in ("mac", "gated_mac", "pe_register"):  # a float MAC never costs less than the integer one
        assert ea.exact["component"][component] >= eb.exact["component"][component]
    assert ea.exact["component"]["sram"] == eb.exact["component"]["sram"]
    assert ea.exact["component"]["dram"] == eb.exact["component"]["dram"]
    assert pe_area_um2(fp, dataflow) > pe_area_um2(integer, dataflow)


@given(st.sampled_from(FLOAT_DATAPATHS), st.sampled_from(["horowitz45", "normalised"]))
def test_a_float_mac_never_costs_less_than_an_integer_mac_of_its_width(datapath, name):
    table = load_energy_table(name)
    bits = FLOAT_BITS[datapath]
    assert table.float_mac_pj(datapath) >= table.mac_pj(bits, bits, 32)
