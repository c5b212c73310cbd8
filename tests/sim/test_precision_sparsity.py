"""Precision and sparsity in the fast engine: the properties issue 10 names, on random layers.

Each property could fail: sparse cycles above dense, gating that moves a cycle, bit-serial
stream time not proportional to the serial operand's bits, N:M not cutting the reduction folds
by exactly N/M, skipping that disagrees with a brute-force count, and fast/reference disagreement.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accelsim.arch import ArrayConfig
from accelsim.errors import MappingError, SpecError, UnsupportedError
from accelsim.mapping import Mapping, load_dataflow
from accelsim.sim import run_reference
from accelsim.sim.engine import simulate_layer
from accelsim.workload.layer import Layer

DATAFLOWS = ("ws", "os", "is")


def linear(m, k, n, **kw):
    return Layer("fc", "linear", in_shapes=((m, k),), out=n, **kw)


@st.composite
def cases(draw):
    m, k, n = (draw(st.integers(1, 70)) for _ in range(3))
    density = draw(st.sampled_from([1.0, 0.9, 0.5, 0.1]))
    structure = draw(st.sampled_from(["", "2:4", "1:4"]))
    layer = linear(m, k, n, input_density=draw(st.sampled_from([1.0, 0.5, 0.2])),
                   weight_density=1.0 if structure else density, weight_structure=structure)
    arch = ArrayConfig(rows=draw(st.integers(1, 8)), cols=draw(st.integers(1, 8)),
                       double_buffered=draw(st.booleans()))
    return layer, arch, draw(st.sampled_from(DATAFLOWS)), draw(st.booleans())


def _random_operands(layer, seed, which):
    """Seeded GEMM operands with the layer's densities (weights-only, inputs-only or both)."""
    rng = np.random.default_rng(seed)
    g = layer.gemm
    ops = {}
    if which in ("W", "both"):
        ops["W"] = rng.integers(-3, 4, size=(1, g.K, g.N)) * (rng.random((1, g.K, g.N)) < layer.weight_nonzero_fraction)
    if which in ("I", "both"):
        ops["I"] = rng.integers(-3, 4, size=(1, g.M, g.K)) * (rng.random((1, g.M, g.K)) < layer.input_density)
    return ops


@settings(max_examples=200, deadline=None)
@given(cases(), st.sampled_from(["gate", "skip", "nm"]), st.sampled_from([None, "W", "I", "both"]),
       st.integers(0, 2**31 - 1))
def test_sparse_cycles_never_exceed_dense_and_gating_never_moves_a_cycle(case, mode, tensors, seed):
    layer, arch, df, memory = case
    operands = _random_operands(layer, seed, tensors) if tensors else None
    if mode == "nm":  # N:M PEs need W stationary; weights drawn at the layer's density may not be N:M
        if df != "ws" or not layer.weight_structure or tensors in ("W", "both"):
            return
        arch, nm_arch = arch.with_changes(dataflows=("ws",)), arch.with_changes(dataflows=("ws",), weight_nm="2:4")
    dense = simulate_layer(layer, arch, load_dataflow(df), memory=memory, operands=operands)
    sparse = simulate_layer(layer, nm_arch if mode == "nm" else arch.with_changes(sparse=mode), load_dataflow(df),
                            memory=memory, operands=operands)
    assert sparse.cycles <= dense.cycles == sparse.dense_cycles
    assert sparse.mac_counts.issued + sparse.mac_counts.skipped == sparse.macs or (mode == "nm" and sparse.mac_counts.skipped == 0)
    assert 0 <= sparse.mac_counts.effective <= sparse.mac_counts.issued
    assert 0.0 <= sparse.utilization <= 1.0
    if mode == "gate":
        assert sparse.cycles == dense.cycles and sparse.mac_counts.skipped == 0
        assert sparse.mac_counts.gated == sparse.mac_counts.issued - sparse.mac_counts.effective


@settings(max_examples=60, deadline=None)
@given(cases(), st.integers(1, 16))
def test_bit_serial_stream_time_scales_exactly_with_the_serial_operands_bits(case, bits):
    layer, arch, df, _ = case
    dataflow = load_dataflow(df)
    one = simulate_layer(layer, arch.with_changes(pe_style="bit-serial"), dataflow, memory=False)
    serial = "input_type" if dataflow.left == "I" else "weight_type"
    wide = arch.with_changes(pe_style="bit-serial", input_bits=16, weight_bits=16)
    layer_b = Layer.from_dict(layer.to_dict() | {serial: f"int{bits}"})
    run = simulate_layer(layer_b, wide, dataflow, memory=False)
    assert run.stream_cycles == one.stream_cycles // 8 * bits  # the default int8 takes 8 cycles a step
    assert run.precision.serial_bits == bits


def test_bit_serial_cycles_are_linear_in_bits_when_the_stream_dominates():
    layer, arch = linear(4096, 64, 16), ArrayConfig(rows=16, cols=16, pe_style="bit-serial", input_bits=16)
    cycles = [simulate_layer(Layer.from_dict(layer.to_dict() | {"input_type": f"int{b}"}), arch,
                             load_dataflow("ws"), memory=False).cycles for b in (2, 4, 6, 8)]
    steps = {b - a for a, b in zip(cycles, cycles[1:])}
    assert len(steps) == 1 and steps.pop() == 4096 * 2 * 4  # 2 more bits: 2 cycles per step, 4 K×N folds


@pytest.mark.parametrize("nm", ["2:4", "1:4", "4:8", "1:2"])
@pytest.mark.parametrize("rows", [4, 8, 16])
def test_nm_cuts_the_reduction_folds_by_exactly_n_over_m(nm, rows):
    n, m = map(int, nm.split(":"))
    layer = linear(20, 16 * m, 12, weight_structure=nm)
    dense_arch = ArrayConfig(rows=rows, cols=4, dataflows=("ws",))
    dense = simulate_layer(layer, dense_arch, load_dataflow("ws"), memory=False)
    sparse = simulate_layer(layer, dense_arch.with_changes(weight_nm=nm), load_dataflow("ws"), memory=False)
    assert sparse.folds * m == dense.folds * n
    assert sparse.mac_counts.issued * m == dense.mac_counts.issued * n and sparse.cycles < dense.cycles


def test_nm_memory_counts_values_and_index_metadata_separately():
    layer = linear(64, 256, 64, weight_structure="2:4")
    arch = ArrayConfig(rows=16, cols=16, dataflows=("ws",), weight_nm="2:4")
    r = simulate_layer(layer, arch, load_dataflow("ws"))
    assert r.traffic.W.dram_bytes == 128 * 64  # half the 256 reduction rows kept, int8
    assert r.traffic.W.dram_metadata_bytes == 128 * 64 * 2 // 8  # a 2-bit index per kept weight
    dense = simulate_layer(layer, arch.with_changes(weight_nm=""), load_dataflow("ws"))
    assert dense.traffic.W.dram_bytes == 256 * 64 and dense.traffic.W.dram_metadata_bytes == 0


def _brute_stationary_rows(weights, cols):
    count, K, N = weights.shape
    return [[sum(any(weights[g, k, n] != 0 for n in range(x, min(x + cols, N))) for k in range(K))
             for x in range(0, N, cols)] for g in range(count)]


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 20), st.integers(1, 24), st.integers(1, 20), st.integers(1, 5), st.integers(1, 5),
       st.integers(0, 2**31 - 1))
def test_skipping_on_real_tensors_equals_a_brute_force_count(m, k, n, rows, cols, seed):
    rng = np.random.default_rng(seed)
    weights = rng.integers(-3, 4, size=(1, k, n)) * (rng.random((1, k, n)) < 0.3)
    inputs = rng.integers(-3, 4, size=(1, m, k)) * (rng.random((1, m, k)) < 0.5)
    layer = linear(m, k, n)
    arch = ArrayConfig(rows=rows, cols=cols, sparse="skip")
    ws = Mapping.for_layer(layer, load_dataflow("ws"), arch, memory=False, operands={"W": weights, "I": inputs})
    want = _brute_stationary_rows(weights, cols)
    assert [list(r) for r in ws.reduction] == want
    issued = sum(min(cols, n - x) * kept * m for x, kept in zip(range(0, n, cols), want[0]))
    assert ws.mac_counts({"W": weights, "I": inputs}).issued == issued
    brute_effective = sum(int(inputs[0, i, j] != 0 and weights[0, j, c] != 0)
                          for i in range(m) for j in range(k) for c in range(n))
    assert ws.mac_counts({"W": weights, "I": inputs}).effective == brute_effective
    os_ = Mapping.for_layer(layer, load_dataflow("os"), arch, memory=False, operands={"W": weights, "I": inputs})
    want_os = [sum(inputs[0, r:r + rows, j].any() and weights[0, j, c:c + cols].any() for j in range(k))
               for r in range(0, m, rows) for c in range(0, n, cols)]
    assert list(os_.reduction[0]) == want_os


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 12), st.integers(1, 12), st.integers(1, 12), st.integers(1, 4), st.integers(1, 4),
       st.sampled_from(DATAFLOWS), st.sampled_from(["bit-serial", "fusible", "nm"]), st.integers(0, 2**31 - 1))
def test_fast_and_reference_engines_agree(m, k, n, rows, cols, df, style, seed):
    """The closed forms equal the cycle-stepped engine for every PE style and N:M."""
    rng = np.random.default_rng(seed)
    kw: dict = {"weight_type": "int4"}
    if style == "nm":
        if df != "ws":
            return
        arch = ArrayConfig(rows=rows, cols=cols, dataflows=("ws",), weight_nm="2:4")
        weights = np.zeros((1, k, n), dtype=np.int64)
        for g in range(0, k, 4):  # two non-zeros per group of four at random positions
            for c in range(n):
                keep = rng.choice(min(4, k - g), size=min(2, k - g), replace=False)
                weights[0, g + keep, c] = rng.integers(-8, 8, size=len(keep))
        kw["weight_structure"] = "2:4"
    else:
        arch = ArrayConfig(rows=rows, cols=cols, pe_style=style)
        weights = rng.integers(-8, 8, size=(1, k, n))
    inputs = rng.integers(-128, 128, size=(1, m, k))
    layer = linear(m, k, n, **kw)
    dataflow = load_dataflow(df)
    operands = {"W": weights, "I": inputs}
    fast = simulate_layer(layer, arch, dataflow, memory=False, operands=operands)
    ref = run_reference(Mapping.for_layer(layer, dataflow, arch, memory=False, operands=operands), inputs, weights)
    assert fast.compute_cycles == ref.cycles
    assert (ref.outputs[0] == inputs[0] @ weights[0]).all()  # small values: no wrap at 32 bits


@pytest.mark.parametrize("arch, layer, error, message", [
    (ArrayConfig(rows=4, cols=4), linear(8, 8, 8, weight_type="int16"), MappingError,
     "weights are int16 but the array's weight datapath is 8-bit signed"),
    (ArrayConfig(rows=4, cols=4), linear(8, 8, 8, input_type="uint8"), MappingError,
     "inputs are uint8 but the array's input datapath is 8-bit signed"),
    (ArrayConfig(rows=4, cols=4, pe_style="fusible"), linear(8, 8, 8, weight_type="fp8"), MappingError,
     "fp8, a floating-point format; fusible PEs take integers"),
    (ArrayConfig(rows=4, cols=4, sparse="skip", pe_style="bit-serial"), linear(8, 8, 8), UnsupportedError,
     "sparse 'skip' with pe_style 'bit-serial' is not modelled"),
    (ArrayConfig(rows=4, cols=4, weight_nm="2:4"), linear(8, 8, 8), UnsupportedError,
     "need a weight-stationary dataflow with K on the rows, not 'os'"),
])
def test_what_cannot_run_is_refused_naming_both_values(arch, layer, error, message):
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
        simulate_layer(layer, arch, load_dataflow("os" if "K on the rows" in message else "ws"))


def test_bit_serial_takes_wider_operands_than_its_datapath():
    layer = linear(64, 64, 64, input_type="int16")
    with pytest.raises(MappingError):
        simulate_layer(layer, ArrayConfig(rows=8, cols=8), load_dataflow("ws"))
    serial = simulate_layer(layer, ArrayConfig(rows=8, cols=8, pe_style="bit-serial"), load_dataflow("ws"))
    assert serial.precision.serial_bits == 16


@pytest.mark.parametrize("kw, message", [
    (dict(weight_type="int0"), "must be a number format"),
    (dict(weight_type="int17"), "must be a number format"),
    (dict(weight_structure="3:2"), "must be 'N:M'"),
    (dict(weight_density=1.5), "must be a number in (0, 1]"),
    (dict(weight_density=0.8, weight_structure="2:4"), "0.8 exceeds the 2:4 structure's density of 0.5"),
])
def test_bad_precision_and_sparsity_are_one_line_spec_errors(kw, message):
    with pytest.raises(SpecError) as err:
        linear(4, 4, 4, **kw)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_vector_layers_refuse_sparsity_they_cannot_use():
    with pytest.raises(SpecError, match="runs on the vector unit"):
        Layer("r", "eltwise", op="relu", in_shapes=((8,),), input_density=0.5)


@pytest.mark.parametrize("fmt", ["bitmap", "csr", "rle"])
def test_compressed_weight_storage_moves_the_format_size_once_per_pass(fmt):
    from accelsim.formats import expected_format_size, format_size

    rng = np.random.default_rng(7)
    weights = rng.integers(-8, 8, size=(1, 96, 40)) * (rng.random((1, 96, 40)) < 0.3)
    layer = linear(50, 96, 40, weight_density=0.3)
    arch = ArrayConfig(rows=8, cols=8, weight_format=fmt)
    described = simulate_layer(layer, arch, load_dataflow("ws"))
    want = expected_format_size(40, 96, 0.3, fmt, 8)
    assert (described.traffic.W.dram_bytes, described.traffic.W.dram_metadata_bytes) == (want.values_bytes, want.metadata_bytes)
    real = simulate_layer(layer, arch, load_dataflow("ws"), operands={"W": weights})
    exact = format_size(weights[0].T, fmt, 8)
    assert (real.traffic.W.dram_bytes, real.traffic.W.dram_metadata_bytes) == (exact.values_bytes, exact.metadata_bytes)
    dense = simulate_layer(layer, ArrayConfig(rows=8, cols=8), load_dataflow("ws"))
    assert dense.traffic.W.dram_bytes == 96 * 40 and dense.traffic.W.dram_metadata_bytes == 0
    assert described.traffic.W.sram_writes == dense.traffic.W.sram_writes == 96 * 40  # decompressed on chip


@pytest.mark.parametrize("rows, k, nm", [(4, 16, "2:4"), (3, 16, "2:4"), (5, 23, "1:4"), (6, 40, "4:8"), (7, 9, "1:2")])
def test_nm_stream_reads_equal_the_words_the_reference_engine_takes(rows, k, nm):
    n, m = map(int, nm.split(":"))
    rng = np.random.default_rng(rows * k)
    weights = np.zeros((1, k, 5), dtype=np.int64)
    for g in range(0, k, m):
        for c in range(5):
            keep = rng.choice(min(m, k - g), size=min(n, k - g), replace=False)
            weights[0, g + keep, c] = rng.integers(1, 8, size=len(keep))
    inputs = rng.integers(-8, 8, size=(1, 6, k))
    arch = ArrayConfig(rows=rows, cols=3, dataflows=("ws",), weight_nm=nm,
                       memory={"ifmap_kib": 64, "filter_kib": 64, "ofmap_kib": 64})
    layer = linear(6, k, 5, weight_structure=nm)
    fast = simulate_layer(layer, arch, load_dataflow("ws"), operands={"W": weights})
    ref = run_reference(Mapping.for_layer(layer, load_dataflow("ws"), arch, operands={"W": weights}), inputs, weights)
    assert fast.traffic.I.sram_reads == ref.words["I"]
    assert fast.compute_cycles == ref.cycles and fast.temporal_tile == 0


def test_nm_that_would_lengthen_the_reduction_runs_dense():
    """K=9 (a depthwise 3x3) at 7:8 would compress to 14 rows: it runs uncompressed, like dense weights."""
    dw = Layer("dw", "conv2d", in_shapes=((32, 56, 56),), out=32, kernel=(3, 3), padding=(1, 1, 1, 1), groups=32,
               weight_structure="7:8")
    arch = ArrayConfig(rows=32, cols=32, dataflows=("ws",), weight_nm="7:8")
    r = simulate_layer(dw, arch, load_dataflow("ws"))
    assert (r.cycles, r.mac_counts.issued, r.mac_counts.skipped, r.traffic.W.dram_metadata_bytes) == (r.dense_cycles, r.macs, 0, 0)


def test_fusible_utilisation_counts_pe_slots_not_macs():
    layer = linear(1000, 16, 4, input_type="int4", weight_type="int4")
    r = simulate_layer(layer, ArrayConfig(rows=4, cols=4, pe_style="fusible"), load_dataflow("ws"), memory=False)
    assert r.precision.fusion == 4 and 0.9 < r.utilization <= 1.0  # 3.96 before: MACs over PE-cycles


def test_skipping_all_zero_weights_writes_zero_outputs_without_compute():
    layer = linear(16, 32, 8)
    arch = ArrayConfig(rows=4, cols=4, sparse="skip")
    r = simulate_layer(layer, arch, load_dataflow("ws"), operands={"W": np.zeros((1, 32, 8), dtype=np.int64)})
    assert (r.compute_cycles, r.mac_counts.issued, r.folds) == (0, 0, 0) and r.traffic.O.dram_bytes == 16 * 8


@pytest.mark.parametrize("arch, message", [
    (dict(pe_style="bit-serial", overflow="saturate"), "only 'wrap' is modelled"),
    (dict(dataflows=("ws",), weight_nm="2:4", sparse="skip"), "sparse 'skip' on N:M PEs"),
])
def test_switch_combinations_the_model_cannot_honour_are_refused(arch, message):
    with pytest.raises((SpecError, UnsupportedError), match=message):
        simulate_layer(linear(8, 8, 8), ArrayConfig(rows=4, cols=4, **arch), load_dataflow("ws"))


def test_a_coarser_nm_pattern_runs_on_finer_nm_pes():
    """1:8 weights hold at most 2 non-zeros in every aligned group of 4: they run on 2:4 PEs."""
    arch = ArrayConfig(rows=8, cols=8, dataflows=("ws",), weight_nm="2:4")
    r = simulate_layer(linear(32, 64, 16, weight_structure="1:8"), arch, load_dataflow("ws"))
    assert r.mac_counts.skipped == 32 * 64 * 16 // 2


def test_typed_results_round_trip_through_their_dicts():
    from accelsim.counts import MacCounts, OperandCounts
    from accelsim.sim.engine import LayerResult

    layer = linear(40, 96, 24, weight_structure="2:4", input_density=0.5)
    arch = ArrayConfig(rows=8, cols=8, dataflows=("ws",), weight_nm="2:4", sparse="gate")
    r = simulate_layer(layer, arch, load_dataflow("ws"))
    assert LayerResult.from_dict(r.to_dict()) == r
    w = r.operand("W")
    assert isinstance(w, OperandCounts) and w.dram_metadata_bytes == r.traffic.W.dram_metadata_bytes > 0
    assert OperandCounts.of(w.flat("W"), "W") == w
    everything = r.traffic.total  # the three operands summed
    assert everything.dram_bytes == r.traffic.I.dram_bytes + r.traffic.W.dram_bytes + r.traffic.O.dram_bytes
    assert everything.dram_metadata_bytes == r.traffic.W.dram_metadata_bytes > 0
    assert r.mac_counts == MacCounts(r.macs, r.mac_counts.issued, r.mac_counts.effective, r.mac_counts.gated, r.mac_counts.skipped)
    assert r.mac_counts.issued + r.mac_counts.skipped == r.macs and r.mac_counts.gated > 0
