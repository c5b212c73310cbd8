"""Energy = counts × table, checked by brute force against hand sums (docs/energy.md)."""

from __future__ import annotations

import json
from fractions import Fraction as F

import pytest

from accelsim.arch import ArrayConfig, resolve_arch
from accelsim.cost import COMPONENTS, OPERANDS, bundled_tables, layer_energy, load_energy_table, network_energy
from accelsim.cost.energy import EnergyTable
from accelsim.errors import SpecError
from accelsim.mapping import load_dataflow
from accelsim.sim import simulate, simulate_layer
from accelsim.sim.engine import LayerResult
from accelsim.workload.layer import Layer
from accelsim.workload.yamlio import resolve_workload

H45 = load_energy_table("horowitz45")
NORM = load_energy_table("normalised")
WS = load_dataflow("ws")
INT8 = {"input": "int8", "weight": "int8", "output": "int8", "accumulator": "int32"}
SMALL = dict(ifmap_kib=8, filter_kib=8, ofmap_kib=8)
# The bundled tables' figures, written out again by hand (pJ; normalised: MACs).
PRICES = {
    "horowitz45": dict(mac8=F(3, 10), adder=F(1, 3), gated=F(1, 10), reg=F(15, 100), dram=F(1625, 10),
                       sram={8: F(125, 100), 32: F(25, 10), 1024: F(125, 10)}),
    "normalised": dict(mac8=F(1), adder=F(1, 3), gated=F(1, 10), reg=F(1), dram=F(200), sram={2**30: F(6)}),
}


def brute_force(r: LayerResult, arch: ArrayConfig, prices: dict, index_bits: int = 0) -> F:
    """Every action counted and priced on its own, from the rules in docs/energy.md."""
    p = r.precision.to_dict()  # the report's names, parsed here independently of the model
    bits = {k: int(p[k].removeprefix("u").removeprefix("int")) for k in ("input", "weight", "accumulator")}
    bi, bw, acc = bits["input"], bits["weight"], bits["accumulator"]
    mult = prices["mac8"] * (1 - prices["adder"]) * F(bi * bw, 64)
    add = prices["mac8"] * prices["adder"] * F(acc, 32)
    total = F(0)
    active = r.mac_counts.issued - r.mac_counts.gated
    total += active * (mult + add)
    total += r.mac_counts.gated * prices["gated"] * (mult + add)
    total += active * (F(bi + bw, 8) + 2 * F(acc, 8)) * prices["reg"]
    total += r.mac_counts.gated * F(bi + bw, 8) * prices["reg"]

    def sram(kib: float) -> F:
        return next(v for k, v in sorted(prices["sram"].items()) if kib <= k)

    mem = arch.memory
    total += (r.traffic.I.sram_reads + r.traffic.I.sram_writes) * F(bi, 8) * sram(mem.ifmap_kib)
    total += (r.traffic.W.sram_reads + r.traffic.W.sram_writes) * (F(bw, 8) + F(index_bits, 8)) * sram(mem.filter_kib)
    total += (r.traffic.O.sram_reads + r.traffic.O.sram_writes) * F(acc, 8) * sram(mem.ofmap_kib)
    for op in ("I", "W", "O"):
        total += (r.traffic[op].dram_bytes + r.traffic[op].dram_metadata_bytes) * prices["dram"]
    return total


def exact_total(e) -> F:
    return sum(e.exact["component"].values(), F(0))


# -- a hand-built result --------------------------------------------------------------------------
def hand_result(**changes) -> LayerResult:
    base = dict(name="l", kind="linear", op="linear", shape="", unit="array", macs=100, cycles=50,
                compute_cycles=40, stall_cycles=10, utilization=0.5, folds=1, stream_cycles=10,
                sram_ifmap_reads=30, sram_filter_reads=20, sram_ofmap_reads=10,
                sram_ifmap_writes=3, sram_filter_writes=2, sram_ofmap_writes=10,
                dram_ifmap_bytes=7, dram_filter_bytes=5, dram_ofmap_bytes=4, issued_macs=100, effective_macs=100,
                precision=dict(INT8))
    return LayerResult.from_dict(base | changes)


def test_hand_built_result_horowitz45_by_hand():
    arch = ArrayConfig(rows=2, cols=2, memory=dict(ifmap_kib=8, filter_kib=32, ofmap_kib=64))
    e = layer_energy(hand_result(), arch, H45)
    # MAC 0.2 + 0.1 pJ; registers (1 + 1 + 4 + 4) bytes × 0.15 pJ; SRAM 1.25 / 2.5 / 12.5 pJ per byte
    mac = 100 * 0.3
    reg = 100 * 10 * 0.15
    sram = 33 * 1 * 1.25 + 22 * 1 * 2.5 + 20 * 4 * 12.5
    dram = 16 * 162.5
    assert e.by_component == {"mac": 30.0, "gated_mac": 0.0, "pe_register": 150.0, "sram": sram,
                              "dram": dram, "leakage": 0.0}
    assert e.total_pj == mac + reg + sram + dram == 30 + 150 + 1096.25 + 2600
    # operands: registers split I 1 B, W 1 B, O 8 B per MAC
    assert e.by_operand == {"I": 100 * 0.15 + 33 * 1.25 + 7 * 162.5, "W": 100 * 0.15 + 55 + 5 * 162.5,
                            "O": 100 * 8 * 0.15 + 1000 + 4 * 162.5, "none": 30.0}


def test_hand_built_result_normalised_by_hand():
    arch = ArrayConfig(rows=2, cols=2, memory=dict(ifmap_kib=8, filter_kib=32, ofmap_kib=64))
    e = layer_energy(hand_result(), arch, NORM)
    assert e.by_component == {"mac": 100.0, "gated_mac": 0.0, "pe_register": 1000.0,
                              "sram": (33 + 22 + 80) * 6.0, "dram": 16 * 200.0, "leakage": 0.0}
    assert e.total_pj == 100 + 1000 + 810 + 3200


@pytest.mark.parametrize("table", ["horowitz45", "normalised"])
@pytest.mark.parametrize("memory", [SMALL, dict(ifmap_kib=16, filter_kib=256, ofmap_kib=4)])
def test_simulated_layer_equals_brute_force(table, memory):
    arch = ArrayConfig(rows=4, cols=4, memory=memory)
    for layer in (Layer("fc", "linear", in_shapes=((16, 64),), out=32),
                  Layer("c", "conv2d", in_shapes=((8, 10, 10),), out=8, kernel=(3, 3), padding=(1, 1, 1, 1))):
        r = simulate_layer(layer, arch, WS)
        e = layer_energy(r, arch, load_energy_table(table))
        assert exact_total(e) == brute_force(r, arch, PRICES[table])
        assert e.total_pj == float(round(brute_force(r, arch, PRICES[table]), 3))
        assert sum(e.exact["operand"].values()) == exact_total(e)
        assert layer_energy(LayerResult.from_dict(r.to_dict()), arch, load_energy_table(table)) == e  # round trip


# -- precision and sparsity move energy the documented way ----------------------------------------
def test_int4_weights_cut_mac_energy_by_two_thirds():
    arch = ArrayConfig(rows=8, cols=8, memory=SMALL)
    r8 = simulate_layer(Layer("fc", "linear", in_shapes=((16, 64),), out=32), arch, WS)
    r4 = simulate_layer(Layer("fc", "linear", in_shapes=((16, 64),), out=32, weight_type="int4"), arch, WS)
    for table in (H45, NORM):
        e8, e4 = layer_energy(r8, arch, table), layer_energy(r4, arch, table)
        # multiplier share 2/3 halves, adder share 1/3 stays: 2/3·1/2 + 1/3 = 2/3
        assert e4.exact["component"]["mac"] / e8.exact["component"]["mac"] == F(2, 3)
        assert exact_total(e4) == brute_force(r4, arch, PRICES[table.name])
    assert layer_energy(r4, arch, H45).by_component["mac"] == 32768 * 0.2


def test_nm_24_halves_mac_energy_and_charges_metadata():
    nm = ArrayConfig(rows=8, cols=8, dataflows=("ws",), weight_nm="2:4", memory=SMALL)
    dense = ArrayConfig(rows=8, cols=8, dataflows=("ws",), memory=SMALL)
    rd = simulate_layer(Layer("fc", "linear", in_shapes=((16, 64),), out=32), dense, WS)
    rs = simulate_layer(Layer("fc", "linear", in_shapes=((16, 64),), out=32, weight_structure="2:4"), nm, WS)
    assert rs.traffic.W.dram_metadata_bytes == 256 and rs.mac_counts.issued * 2 == rd.mac_counts.issued
    ed, es = layer_energy(rd, dense, H45), layer_energy(rs, nm, H45)
    assert es.exact["component"]["mac"] / ed.exact["component"]["mac"] == F(rs.mac_counts.issued, rd.mac_counts.issued) == F(1, 2)
    # metadata bytes cost like data: 1,024 value bytes + 256 index bytes of weights
    assert es.exact["component"]["dram"] == (1024 + 1024 + 256 + 512) * F(1625, 10)
    # each buffered weight word carries its 2-bit index: 1.25 bytes
    assert exact_total(es) == brute_force(rs, nm, PRICES["horowitz45"], index_bits=2)


def test_gated_macs_cost_the_stated_fraction():
    arch = ArrayConfig(rows=8, cols=8, sparse="gate", memory=SMALL)
    r = simulate_layer(Layer("fc", "linear", in_shapes=((16, 64),), out=32, weight_density=0.5), arch, WS)
    assert r.mac_counts.gated == 16384 and r.mac_counts.issued == 32768
    e = layer_energy(r, arch, H45)
    assert e.exact["component"]["mac"] == 16384 * F(3, 10)
    assert e.exact["component"]["gated_mac"] == 16384 * F(1, 10) * F(3, 10)
    # registers: operands for every issued MAC, the partial sum only for the 16,384 that compute
    assert e.exact["component"]["pe_register"] == (32768 * 2 + 16384 * 8) * F(15, 100)
    assert exact_total(e) == brute_force(r, arch, PRICES["horowitz45"])


def test_skipped_macs_cost_nothing():
    arch = ArrayConfig(rows=2, cols=2)
    e = layer_energy(hand_result(issued_macs=40, skipped_macs=60, effective_macs=40), arch, H45)
    assert e.exact["component"]["mac"] == 40 * F(3, 10)


def test_bit_serial_and_fusible_mac_prices():
    arch = ArrayConfig(rows=2, cols=2)
    serial = layer_energy(hand_result(precision=INT8 | {"input": "int4", "serial_bits": 4}), arch, H45)
    # 4 one-bit partial products against 8-bit weights, each with a 32-bit accumulate
    per_mac = 4 * (F(3, 10) * F(2, 3) * F(1 * 8, 64) + F(1, 10))
    assert serial.exact["component"]["mac"] == 100 * per_mac
    assert serial.exact["component"]["pe_register"] == 100 * (F(12, 8) + 4 * 8) * F(15, 100)
    fused = layer_energy(hand_result(precision=INT8 | {"input": "int4", "weight": "int4", "fusion": 4}), arch, H45)
    assert fused.exact["component"]["mac"] == 100 * (F(3, 10) * F(2, 3) * F(16, 64) + F(1, 10))
    assert fused.exact["component"]["pe_register"] == 100 * (1 + F(8, 4)) * F(15, 100)
    # SRAM words of a fused PE carry 4 narrow values: 2 bytes
    assert fused.exact["component"]["sram"] == (33 * 2 + 22 * 2) * F(125, 10) + 20 * 4 * F(125, 10)


def test_vector_layer_is_leakage_only():
    table = EnergyTable.from_dict(H45.to_dict() | {"leakage_per_pe_cycle": 0.002, "leakage_per_kib_cycle": 0.01})
    arch = ArrayConfig(rows=4, cols=4, memory=SMALL)
    r = hand_result(unit="vector", cycles=100, dram_ifmap_bytes=0, dram_filter_bytes=0, dram_ofmap_bytes=0)
    e = layer_energy(r, arch, table)
    assert e.by_component == {"mac": 0.0, "gated_mac": 0.0, "pe_register": 0.0, "sram": 0.0, "dram": 0.0,
                              "leakage": 27.2}  # 100 · (16 · 0.002 + 24 · 0.01)
    assert e.by_operand["none"] == e.total_pj == 27.2


def test_a_vector_layers_dram_bytes_are_priced_as_an_array_layers():
    """An embedding lookup reads its rows from DRAM (issue 20): the table's DRAM price per byte, by operand."""
    arch = ArrayConfig(rows=4, cols=4, memory=SMALL)
    r = hand_result(unit="vector", cycles=100, dram_ifmap_bytes=0, dram_filter_bytes=1024, dram_ofmap_bytes=0)
    e = layer_energy(r, arch, H45)
    assert e.by_component["dram"] == e.by_operand["W"] == 1024 * H45.dram_per_byte == e.total_pj
    assert e.by_component["sram"] == e.by_component["mac"] == 0.0


def test_sram_size_classes_and_beyond_the_last():
    assert [H45.sram_pj(k) for k in (1, 8, 9, 32, 33, 1024)] == [F(5, 4), F(5, 4), F(5, 2), F(5, 2), F(25, 2), F(25, 2)]
    assert H45.sram_pj(4096) == 25 and abs(float(H45.sram_pj(2048)) - 12.5 * 2 ** 0.5) < 1e-12


def test_network_energy_sums_layers_and_is_deterministic():
    graph = resolve_workload("resnet18")
    arch = resolve_arch("sa32")
    result = simulate(graph, arch, WS)
    a, b = network_energy(result, arch, H45), network_energy(list(result.layers), arch, H45)
    assert a == b and json.dumps(a.to_dict()) == json.dumps(b.to_dict())
    per_layer = [layer_energy(r, arch, H45) for r in result.layers]
    assert exact_total(a) == sum(exact_total(e) for e in per_layer)
    assert set(a.by_component) == set(COMPONENTS) and set(a.by_operand) == set(OPERANDS)
    assert abs(sum(a.by_component.values()) - a.total_pj) < 0.01
    assert a.total_pj > 0 and a.by_component["dram"] > a.by_component["mac"]


# -- tables and their loader ----------------------------------------------------------------------
def test_bundled_tables_load():
    assert bundled_tables() == ["horowitz45", "normalised"]
    assert H45.mac_pj(8, 8, 32) == F(3, 10) and H45.dram_per_byte == 162.5
    assert NORM.mac_pj(8, 8, 32) == 1 and NORM.sram_pj(2048) == 6 and NORM.dram_per_byte == 200
    assert EnergyTable.from_dict(H45.to_dict()) == H45


def test_unknown_table_name_suggests():
    with pytest.raises(SpecError, match=r"unknown energy table 'normalized'.*did you mean 'normalised'"):
        load_energy_table("normalized")


def write_table(tmp_path, **changes):
    data = H45.to_dict() | changes
    data = {k: v for k, v in data.items() if v is not None}
    import yaml
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.mark.parametrize("changes, field, reason", [
    (dict(sram_pj=1.0), "EnergyTable.sram_pj", "is not a known key (did you mean 'sram_per_byte'?)"),
    (dict(dram_per_byte=-1.0), "EnergyTable.dram_per_byte", "must be a finite number ≥ 0, not -1.0"),
    (dict(mac_8x8="cheap"), "EnergyTable.mac_8x8", "must be a finite number > 0, not 'cheap'"),
    (dict(gated_mac_fraction=1.5), "EnergyTable.gated_mac_fraction", "must be a number in [0, 1], not 1.5"),
    (dict(mac_scaling="linear"), "EnergyTable.mac_scaling", "must be one of product, constant, not 'linear'"),
    (dict(mac_adder_fraction="4/3"), "EnergyTable.mac_adder_fraction", "ratio like '1/3', not '4/3'"),
    (dict(sram_per_byte=[{"max_kib": 32, "pj": 2.5}, {"max_kib": 8, "pj": 1.25}]),
     "EnergyTable.sram_per_byte[1].max_kib", "must be larger than the previous class's (32 KiB)"),
    (dict(sram_per_byte=[{"max_kib": 8, "pj": 1.0, "read": 2}]), "EnergyTable.sram_per_byte[0].read",
     "is not a known key"),
    (dict(sram_per_byte=[]), "EnergyTable.sram_per_byte", "must be a non-empty list"),
    (dict(name=None), "EnergyTable", "is missing the required key 'name'"),
])
def test_strict_loader_errors(tmp_path, changes, field, reason):
    path = write_table(tmp_path, **changes)
    with pytest.raises(SpecError) as err:
        load_energy_table(str(path))
    text = str(err.value)
    assert "\n" not in text and text.startswith(f"{path}:") and f"`{field}`" in text and reason in text


def test_import_stays_light():
    import subprocess
    import sys
    code = "import sys, accelsim.cost; print(sorted(m for m in ('scipy', 'matplotlib', 'networkx') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
