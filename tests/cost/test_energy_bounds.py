"""Energy that is left out or over-charged (issue 17 §2): ideal memory and Bit Fusion PEs."""

from __future__ import annotations

import pytest

from accelsim.arch import ArrayConfig
from accelsim.mapping import load_dataflow
from accelsim.sim.engine import simulate_layer
from accelsim.workload.layer import Layer
from accelsim.cost import layer_energy, load_energy_table

TABLE = load_energy_table("horowitz45")


def test_ideal_memory_still_prices_what_the_array_reads_and_each_tensor_once():
    """64×128×32 GEMM: ideal memory removes stalls, not data movement (0.47 µJ against 3.93 before)."""
    layer = Layer("fc", "linear", in_shapes=((64, 32),), out=128)
    arch, ws = ArrayConfig(rows=32, cols=32), load_dataflow("ws")
    modelled, ideal = simulate_layer(layer, arch, ws), simulate_layer(layer, arch, ws, memory=False)
    assert ideal.stall_cycles == 0 < modelled.stall_cycles
    # every tensor crosses DRAM exactly once: 64·32 inputs, 32·128 weights, 64·128 outputs (int8)
    assert (ideal.traffic.I.dram_bytes, ideal.traffic.W.dram_bytes, ideal.traffic.O.dram_bytes) == (2048, 4096, 8192)
    assert ideal.traffic.I.sram_reads == modelled.traffic.I.sram_reads > 0
    assert ideal.dram_bytes_per_cycle_needed == round((2048 + 4096 + 8192) / ideal.compute_cycles, 4)
    e_ideal, e_model = layer_energy(ideal, arch, TABLE), layer_energy(modelled, arch, TABLE)
    assert e_ideal.by_component["dram"] == e_model.by_component["dram"] > 0  # everything fits: the same bytes
    assert e_ideal.total_pj == e_model.total_pj == 3_851_059.2  # the bundled table leaks nothing


@pytest.mark.parametrize("bits, fusion", [(8, 1), (4, 4), (2, 16), (1, 16)])
def test_a_fused_pe_costs_one_full_width_mac_per_cycle_whatever_it_fuses(bits, fusion):
    """Bit Fusion: all bricks and the shift-add tree work every cycle, and the PE accumulates once;
    int4×int4 cost 0.6 pJ per PE-cycle (each narrow MAC a full 32-bit accumulate) before, 0.3 now."""
    layer = Layer("fc", "linear", in_shapes=((64, 256),), out=64, input_type=f"int{bits}", weight_type=f"int{bits}")
    arch = ArrayConfig(rows=8, cols=8, pe_style="fusible")
    r = simulate_layer(layer, arch, load_dataflow("ws"), memory=False)
    assert r.precision is not None and r.precision.fusion == fusion
    per_pe_cycle = layer_energy(r, arch, TABLE).by_component["mac"] / (r.mac_counts.issued / fusion)
    assert per_pe_cycle == pytest.approx(0.3)  # horowitz45's 8-bit MAC with its 32-bit accumulate
