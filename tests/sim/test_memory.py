"""The memory model: tiling that fits, exact access counts, stalls, and clear errors."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accelsim.arch import ArrayConfig, MemorySpec
from accelsim.cli import main
from accelsim.errors import MappingError
from accelsim.mapping import load_dataflow
from accelsim.sim import numerics, run_reference, simulate_layer
from accelsim.mapping import Mapping
from accelsim.sim.memory import plan_memory, stall_cycles


def plan_for(layer, dataflow, arch):
    """The memory plan of a layer, with its tile choice (the Mapping carries it)."""
    mapping = Mapping.for_layer(layer, dataflow, arch)
    plan = plan_memory(layer, mapping)
    plan.__dict__["temporal_tile"] = mapping.temporal_tile  # frozen dataclass: test-only view
    return plan
from accelsim.workload import Layer

BIG = MemorySpec(ifmap_kib=1024, filter_kib=1024, ofmap_kib=1024, dram_bytes_per_cycle=1e6)


def linear(m, k, n, **kw):
    return Layer("fc", "linear", in_shapes=((m, k),), out=n, **kw)


def test_hand_counted_weight_stationary_layer():
    # 10x8 · 8x6 on 4x4: 2 K-tiles x 2 N-tiles; everything fits, nothing is chunked
    plan = plan_for(linear(10, 8, 6), load_dataflow("ws"), ArrayConfig(rows=4, cols=4, memory=BIG))
    assert plan.temporal_tile is None
    assert plan.sram_reads == {"W": 8 * 6, "I": 10 * 8 * 2, "O": 10 * 6 * 2}  # I streamed once per N tile
    assert plan.dram_bytes == {"W": 48, "I": 80, "O": 60}  # each read or written once
    assert plan.sram_writes == {"O": 120, "I": 80, "W": 48}


@settings(max_examples=120)
@given(st.integers(1, 5), st.integers(1, 5), st.integers(1, 12), st.integers(1, 12), st.integers(1, 12),
       st.sampled_from(["ws", "is", "os"]), st.sampled_from([0.0625, 0.25, 64]))
def test_sram_reads_equal_the_words_the_reference_engine_takes(rows, cols, m, n, k, name, ofmap_kib):
    arch = ArrayConfig(rows=rows, cols=cols, acc_bits=32,
                       memory=MemorySpec(ifmap_kib=64, filter_kib=64, ofmap_kib=ofmap_kib))
    dataflow = load_dataflow(name)
    layer = linear(m, k, n)
    try:
        plan = plan_for(layer, dataflow, arch)
    except MappingError:
        return  # a tiny ofmap buffer cannot hold one row of partial sums: checked below
    a, w = numerics.random_operands(np.random.default_rng(0), m, n, k, arch)
    run = run_reference(Mapping.for_layer(layer, dataflow, arch), a, w)  # the plan's temporal tile
    assert run.words["I"] == plan.sram_reads["I"] and run.words["W"] == plan.sram_reads["W"]
    assert run.words["O"] == plan.sram_writes["O"]  # every emitted partial-sum or output word is written
    assert (run.outputs[0] == numerics.expected_gemm(a, w, arch, rows if dataflow.mode == "stationary" else None)).all()


def test_partial_sums_that_do_not_fit_chunk_the_stream():
    arch = ArrayConfig(rows=4, cols=4, memory=MemorySpec(ofmap_kib=0.125))  # 64 bytes per half: 4 rows of 4 psums
    result = simulate_layer(linear(10, 8, 4), arch, load_dataflow("ws"))
    assert result.temporal_tile == 4 and result.folds == 3 * 2  # chunks of 4, 4, 2 rows x 2 K-tiles
    ideal = simulate_layer(linear(10, 8, 4), arch, load_dataflow("ws"), memory=False)
    assert result.compute_cycles > ideal.compute_cycles  # the stationary tiles are loaded once per chunk
    assert result.traffic.W.sram_reads == 3 * 8 * 4


def test_tiles_that_cannot_fit_are_mapping_errors(capsys, tmp_path):
    arch = ArrayConfig(rows=32, cols=32, memory=MemorySpec(filter_kib=0.5))
    with pytest.raises(MappingError, match=r"layer 'fc': a 32x32 stationary tile of W needs 1,024 bytes but half of "
                                           r"the filter buffer is 256 bytes \(memory.filter_kib = 0.5\)"):
        plan_for(linear(64, 64, 64), load_dataflow("ws"), arch)
    path = tmp_path / "small.yaml"
    path.write_text("rows: 32\ncols: 32\nmemory: {filter_kib: 0.5}\n")
    assert main(["simulate", "resnet18", "--arch", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "stationary tile of W needs 1,024 bytes" in err
    assert main(["simulate", "resnet18", "--arch", str(path), "--ideal-memory"]) == 0


def test_bandwidth_turns_into_stalls():
    layer = linear(512, 256, 256)
    fast = ArrayConfig(rows=16, cols=16, memory=MemorySpec(dram_bytes_per_cycle=1e6))
    slow = fast.with_changes(memory=MemorySpec(dram_bytes_per_cycle=1, dram_latency_cycles=100))
    quick = simulate_layer(layer, fast, load_dataflow("ws"))
    starved = simulate_layer(layer, slow, load_dataflow("ws"))
    assert quick.compute_cycles == starved.compute_cycles
    assert quick.stall_cycles <= 2  # only the (rounded-up) prologue and epilogue
    dram = starved.traffic.I.dram_bytes + starved.traffic.W.dram_bytes + starved.traffic.O.dram_bytes
    assert starved.cycles >= dram + 100  # bandwidth bound: one byte per cycle, plus the latency
    assert starved.dram_bytes_per_cycle_needed == pytest.approx(dram / starved.compute_cycles, rel=1e-3)
    plan = plan_for(layer, load_dataflow("ws"), slow)
    assert starved.stall_cycles == stall_cycles(plan, starved.compute_cycles, slow)


def test_convolutions_read_the_input_tensor_not_its_im2col():
    conv = Layer("c", "conv2d", in_shapes=((16, 28, 28),), out=32, kernel=(3, 3), padding=(1, 1, 1, 1))
    plan = plan_for(conv, load_dataflow("ws"), ArrayConfig(rows=16, cols=16, memory=BIG))
    assert plan.dram_bytes["I"] == 16 * 28 * 28  # not 784 x 144
    assert plan.sram_reads["I"] == 784 * 144 * 2  # the array streams the im2col rows once per N tile


def test_whole_network_json_has_the_memory_fields(capsys):
    import json

    assert main(["simulate", "mobilenet_v2", "--arch", "edge", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["memory"] == "model" and result["stall_cycles"] > 0 and result["dram_bytes"] > 0
    conv = next(layer for layer in result["layers"] if layer["kind"] == "conv2d")
    for key in ("sram_ifmap_reads", "sram_filter_reads", "sram_ofmap_writes", "dram_ifmap_bytes",
                "dram_filter_bytes", "dram_ofmap_bytes", "dram_bytes_per_cycle_needed"):
        assert conv[key] > 0
    assert conv["cycles"] == conv["compute_cycles"] + conv["stall_cycles"]


def test_stalls_never_exceed_the_time_to_move_the_layers_dram_bytes():
    """A conv1 whose first fold's im2col'd rows exceed the input tensor: the prologue is bounded by
    the operand's DRAM bytes (it charged 6,864 stall cycles for 3,924 cycles of traffic before)."""
    from accelsim.arch import resolve_arch
    from accelsim.sim import simulate
    from accelsim.workload import resolve_workload

    arch = resolve_arch("sa128")
    result = simulate(resolve_workload("mobilenet_v1_025"), arch, load_dataflow("ws"))
    for layer in result.layers:
        dram = layer.traffic.I.dram_bytes + layer.traffic.W.dram_bytes + layer.traffic.O.dram_bytes
        assert layer.stall_cycles <= -(-dram // 64) + 2, layer.name
    conv1 = result.layers[0]
    assert (conv1.name, conv1.stall_cycles) == ("conv1", 3924)


@pytest.mark.parametrize("K, N, nm, bits", [(10, 6, "2:4", 4), (16, 8, "1:4", 8), (24, 5, "3:8", 3)])
def test_n_m_weight_bytes_are_the_formats_n_m_size(K, N, nm, bits):
    """The memory model's N:M weight traffic (one pass) is accelsim.formats' N:M storage size, from the
    description and from a real tensor: ⌈K/M⌉·N kept values with their indices per output column."""
    from accelsim.formats import expected_format_size, format_size
    from accelsim.sparsity import parse_nm

    n, m = parse_nm(nm)
    arch = ArrayConfig(rows=4, cols=4, dataflows=("ws",), weight_nm=nm, weight_bits=8)
    layer = Layer("fc", "linear", in_shapes=((8, K),), out=N, weight_type=f"int{bits}", weight_structure=nm)
    described = simulate_layer(layer, arch, load_dataflow("ws"))
    expected = expected_format_size(N, K, n / m, "nm", bits, nm=nm)
    assert (described.traffic.W.dram_bytes, described.traffic.W.dram_metadata_bytes) == (expected.values_bytes,
                                                                                   expected.metadata_bytes)
    weights = np.zeros((1, K, N), dtype=np.int64)
    weights[:, ::m] = 1  # one non-zero per group of M: N:M for every N
    real = simulate_layer(layer, arch, load_dataflow("ws"), operands={"W": weights})
    stored = format_size(weights[0].T, "nm", bits, nm=nm)
    assert (real.traffic.W.dram_bytes, real.traffic.W.dram_metadata_bytes) == (stored.values_bytes, stored.metadata_bytes)
    assert stored == expected
