"""Bit-serial and fusible (Bit Fusion) PEs in the reference engine: bit-exact values, closed-form
cycles and brute-force MAC counts."""

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accelsim.arch import ArrayConfig
from accelsim.errors import MappingError, SpecError, UnsupportedError
from accelsim.mapping import Fold, Mapping, load_dataflow
from accelsim.sim import numerics, run_reference_gemm
from accelsim.precision import fused_bits, fusion_factor
from accelsim.sim.stalls import Stalls
from accelsim.sim.timing import gemm_timeline, timeline_for
from accelsim.workload import GemmView


def brute_effective(a: np.ndarray, w: np.ndarray) -> int:
    return int(sum(np.count_nonzero(a[g, :, k]) * np.count_nonzero(w[g, k])
                   for g in range(a.shape[0]) for k in range(a.shape[2])))


def operands(rng, shape_i, shape_w, bits_i, bits_w, signed, density):
    def draw(shape, bits):
        lo, hi = numerics.value_range(bits, signed)
        x = rng.integers(lo, hi, size=shape, endpoint=True)
        ends = rng.random(shape) < 0.25
        x[ends] = rng.choice([lo, hi], size=int(ends.sum()))
        return x * (rng.random(shape) < density)
    return draw(shape_i, bits_i), draw(shape_w, bits_w)


def serial_total(mapping: Mapping, bits: int) -> int:
    """The closed form of a bit-serial run: the dense schedule with every fold's steps × bits."""
    timeline = timeline_for(mapping)
    for _, _, fold in mapping.folds():
        timeline.fold(Fold(fold.rows, fold.cols, fold.steps * bits))
    return timeline.total


def wrapped(a, w, arch):
    return numerics.wrap(np.einsum("gmk,gkn->gmn", a, w), arch.acc_bits, arch.signed)


stall_patterns = st.builds(lambda seed, p: Stalls(seed=seed, p_load=p[0], p_stream=p[1], p_out=p[2]),
                           st.integers(0, 2**31), st.tuples(*[st.sampled_from([0.0, 0.3, 0.6])] * 3))


@st.composite
def cases(draw, style):
    fused = style == "fusible"  # a fused datapath is whole bricks in powers of two; the brick is drawn too
    arch = ArrayConfig(rows=draw(st.integers(1, 5)), cols=draw(st.integers(1, 5)), signed=draw(st.booleans()),
                       double_buffered=draw(st.booleans()), input_bits=draw(st.sampled_from([4, 8] if fused else [4, 8, 6])),
                       weight_bits=draw(st.sampled_from([2, 4, 8] if fused else [4, 8, 3])),
                       acc_bits=draw(st.integers(16, 24)), pe_style=style, sparse=draw(st.sampled_from(["none", "gate"])),
                       **({"fusion_brick_bits": draw(st.sampled_from([1, 2]))} if fused else {}))
    dims = (draw(st.integers(1, 2)), draw(st.integers(1, 6)), draw(st.integers(1, 6)), draw(st.integers(1, 11)))
    return arch, load_dataflow(draw(st.sampled_from(["ws", "os", "is"]))), dims


# -- bit-serial ------------------------------------------------------------------------------

@settings(max_examples=40, deadline=None)
@given(cases("bit-serial"), st.integers(1, 9), st.sampled_from([0.5, 1.0]), st.integers(0, 2**32 - 1),
       stall_patterns)
def test_bit_serial_is_bit_exact_with_steps_times_bits(case, bits, density, seed, stalls):
    arch, dataflow, (count, m, n, k) = case
    rng = np.random.default_rng(seed)
    width = {"I": bits, "W": arch.weight_bits} if dataflow.left == "I" else {"I": arch.input_bits, "W": bits}
    a, w = operands(rng, (count, m, k), (count, k, n), width["I"], width["W"], arch.signed, density)
    run = run_reference_gemm(a, w, arch, dataflow, dtypes={dataflow.left: bits})
    assert (run.outputs == wrapped(a, w, arch)).all()
    gemm = GemmView(M=m, N=n, K=k, count=count)
    assert run.cycles == serial_total(Mapping(gemm, dataflow, arch), bits)
    issued, effective = count * m * n * k, brute_effective(a, w)
    assert run.macs == {"issued": issued, "gated": issued - effective if arch.sparse == "gate" else 0,
                        "effective": effective}
    assert run.mapping.serial_bits == bits and run.mapping.precision.fusion == 1
    stalled = run_reference_gemm(a, w, arch, dataflow, dtypes={dataflow.left: bits}, stalls=stalls)
    assert (stalled.outputs == run.outputs).all() and stalled.macs == run.macs
    assert [(e.fold, e.row, e.values) for e in stalled.events] == [(e.fold, e.row, e.values) for e in run.events]


@settings(max_examples=15, deadline=None)
@given(st.integers(1, 4), st.integers(1, 4), st.booleans(), st.integers(1, 6), st.integers(1, 9),
       st.integers(1, 5), st.integers(1, 8), st.integers(0, 2**32 - 1))
def test_bit_serial_cycles_equal_a_parallel_run_streaming_each_row_bits_times(rows, cols, double, m, k, n, bits,
                                                                              seed):
    arch = ArrayConfig(rows=rows, cols=cols, double_buffered=double)
    rng = np.random.default_rng(seed)
    a, w = operands(rng, (1, m, k), (1, k, n), bits, 8, True, 1.0)
    serial = run_reference_gemm(a, w, arch.with_changes(pe_style="bit-serial"), load_dataflow("ws"), dtypes={"I": bits})
    repeated = run_reference_gemm(np.repeat(a, bits, axis=1), w, arch, load_dataflow("ws"))
    assert serial.cycles == repeated.cycles
    # each row leaves with its last plane: the cycle of repeated row m·b + b − 1
    assert [e.cycle for e in serial.events] == [e.cycle for e in repeated.events][bits - 1::bits]


def test_bit_serial_by_hand():
    # 2×2 WS, single bank, M = 3, K = 2, N = 2, 4-bit inputs: load 2 rows (cycles 0–1), stream
    # 3 × 4 = 12 planes from s = 2 (e = 14), last row leaves at e + R + C − 2 = 16 → 17 cycles;
    # row m leaves with its last plane at s + 4m + 3 + R + C − 1 = 8, 12, 16
    arch = ArrayConfig(rows=2, cols=2, double_buffered=False, pe_style="bit-serial", input_bits=4)
    a = np.array([[-8, 7], [5, -1], [0, 3]])
    w = np.array([[2, -3], [1, 4]])
    run = run_reference_gemm(a, w, arch, load_dataflow("ws"))
    assert run.mapping.serial_bits == 4  # the default: the width of the left operand (I under WS)
    assert run.cycles == 17 and [e.cycle for e in run.events] == [8, 12, 16]
    assert run.outputs[0].tolist() == (a @ w).tolist() == [[-9, 52], [9, -19], [3, 12]]
    # IS streams the weights: 8 planes by default (weight_bits), 2 steps each → 16 sub-steps
    run = run_reference_gemm(a, w, arch, load_dataflow("is"))
    assert run.mapping.serial_bits == 8 and run.outputs[0].tolist() == (a @ w).tolist()


def test_bit_serial_refusals():
    arch = ArrayConfig(rows=2, cols=2, pe_style="bit-serial")
    a, w = np.array([[4, -5]]), np.array([[1], [2]])
    with pytest.raises(ValueError, match=r"operand I has values outside \[-4, 3\]"):
        run_reference_gemm(a, w, arch, load_dataflow("ws"), dtypes={"I": 3})
    with pytest.raises(UnsupportedError, match="only 'wrap' is modelled"):
        arch.with_changes(overflow="saturate")
    with pytest.raises(SpecError, match="must be a number format"):
        run_reference_gemm(a, w, arch, load_dataflow("ws"), dtypes={"I": 0})
    with pytest.raises(MappingError, match="inputs are uint4 but the bit-serial array takes signed operands"):
        run_reference_gemm(a, w, arch, load_dataflow("ws"), dtypes={"I": "uint4"})


# -- fusible -----------------------------------------------------------------------------------

def test_fusion_factor_table():
    arch = ArrayConfig(rows=1, cols=1, pe_style="fusible")  # 8-bit × 8-bit PEs
    table = {(8, 8): 1, (4, 8): 2, (8, 4): 2, (4, 4): 4, (2, 2): 16, (1, 1): 16, (3, 5): 2, (2, 4): 8}
    assert {bw: fusion_factor(arch, *bw) for bw in table} == table
    assert [fused_bits(6, b) for b in (1, 2, 3, 4, 6)] == [3, 3, 3, 6, 6]  # the halving rule alone
    assert fusion_factor(arch.with_changes(weight_bits=4), 2, 1) == 4 * 2  # 4-bit weights: two 2-bit bricks
    assert fusion_factor(arch.with_changes(fusion_brick_bits=1), 1, 1) == 64
    assert fusion_factor(arch.with_changes(pe_style="parallel"), 2, 2) == 1
    with pytest.raises(MappingError, match="weight operands of 9 bits do not fit the array's 8-bit weight datapath"):
        fusion_factor(arch, 8, 9)
    with pytest.raises(MappingError, match="input operands of 0 bits"):
        fusion_factor(arch, 0, 8)


@settings(max_examples=80, deadline=None)
@given(cases("fusible"), st.data(), st.sampled_from([0.5, 1.0]), st.integers(0, 2**32 - 1), stall_patterns,
       st.none() | st.integers(1, 3))
def test_fusible_is_bit_exact_on_k_over_f(case, data, density, seed, stalls, chunk):
    arch, dataflow, (count, m, n, k) = case
    chunk = None if dataflow.mode == "output" or chunk is None else min(chunk, m if dataflow.temporal == "M" else n)
    bi = data.draw(st.integers(1, arch.input_bits), label="input_bits")
    bw = data.draw(st.integers(1, arch.weight_bits), label="weight_bits")
    rng = np.random.default_rng(seed)
    a, w = operands(rng, (count, m, k), (count, k, n), bi, bw, arch.signed, density)
    f = fusion_factor(arch, bi, bw)
    run = run_reference_gemm(a, w, arch, dataflow, dtypes={"I": bi, "W": bw}, temporal_tile=chunk)
    assert run.mapping.precision.fusion == f
    assert (run.outputs == wrapped(a, w, arch)).all()
    lanes_k = -(-k // f)
    gemm = GemmView(M=m, N=n, K=k, count=count)
    assert run.mapping.gemm == gemm and run.mapping.size("K") == lanes_k
    assert run.cycles == gemm_timeline(Mapping(replace(gemm, K=lanes_k), dataflow, arch, chunk)).total
    issued, effective = count * m * n * k, brute_effective(a, w)  # lane pairs; the padding past K is not issued
    assert run.macs == {"issued": issued, "gated": issued - effective if arch.sparse == "gate" else 0,
                        "effective": effective}
    stalled = run_reference_gemm(a, w, arch, dataflow, dtypes={"I": bi, "W": bw}, stalls=stalls, temporal_tile=chunk)
    assert (stalled.outputs == run.outputs).all() and stalled.macs == run.macs


def test_fusible_by_hand():
    # 8×8-bit PEs on 4-bit operands: f = 4 lanes, K = 6 → K' = 2 (the last two lanes padded)
    arch = ArrayConfig(rows=2, cols=1, pe_style="fusible", double_buffered=False)
    a = np.array([[1, -2, 3, -4, 5, -6], [7, 7, 7, 7, 7, 7]])
    w = np.array([[1], [1], [1], [1], [2], [-8]])
    run = run_reference_gemm(a, w, arch, load_dataflow("ws"), dtypes={"I": 4, "W": 4})
    assert run.mapping.precision.fusion == 4 and run.mapping.size("K") == 2
    assert run.outputs[0].tolist() == (a @ w).tolist() == [[56], [-14]]
    # one fold of 2 rows: load 2, stream M = 2, drain R + C − 1 = 2 → 6 cycles (K = 6 dense: 3 folds)
    assert run.cycles == 6
    assert run.macs == {"issued": 2 * 1 * 6, "gated": 0, "effective": 12}  # 2 padded lanes per PE not issued
    with pytest.raises(ValueError, match=r"operand I has values outside \[-8, 7\]"):
        run_reference_gemm(a * 2, w, arch, load_dataflow("ws"), dtypes={"I": 4, "W": 4})
    with pytest.raises(MappingError, match="inputs are int9 but the array's input datapath is 8-bit signed"):
        run_reference_gemm(a, w, arch, load_dataflow("ws"), dtypes={"I": 9})
    with pytest.raises(UnsupportedError, match="only 'wrap' is modelled"):
        arch.with_changes(overflow="saturate")


def test_layer_widths_on_parallel_pes_only_check_the_operands():
    arch = ArrayConfig(rows=2, cols=2)
    a, w = np.array([[1, -2]]), np.array([[3], [-4]])
    run = run_reference_gemm(a, w, arch, load_dataflow("os"), dtypes={"I": 2, "W": 3})
    assert run.mapping.precision.fusion == 1 and run.outputs[0].tolist() == [[11]]
    with pytest.raises(ValueError, match=r"operand W has values outside \[-2, 1\]"):
        run_reference_gemm(a, w, arch, load_dataflow("os"), dtypes={"I": 2, "W": 2})


def test_bit_serial_left_operand_may_be_wider_than_its_datapath():
    # 16-bit inputs on an 8-bit bit-serial WS array: 16 planes; the weights must still fit 8 bits
    arch = ArrayConfig(rows=2, cols=2, pe_style="bit-serial", acc_bits=40)
    a, w = np.array([[-32768, 12345]]), np.array([[127], [-128]])
    run = run_reference_gemm(a, w, arch, load_dataflow("ws"), dtypes={"I": 16})
    assert run.mapping.serial_bits == 16 and run.outputs[0].tolist() == (a @ w).tolist()
    with pytest.raises(MappingError, match="weights are int9 but the array's weight datapath is 8-bit signed"):
        run_reference_gemm(a, w, arch, load_dataflow("ws"), dtypes={"I": 16, "W": 9})


def test_fusion_stops_at_the_brick_width():
    """Bit Fusion's bricks are 2 bits: int1 × int1 on 8-bit PEs fuses 16 MACs, not 64 (issue 17)."""
    from accelsim.errors import SpecError

    arch = ArrayConfig(rows=1, cols=1, pe_style="fusible")
    assert fusion_factor(arch, 1, 1) == fusion_factor(arch, 2, 2) == 16
    assert fusion_factor(arch.with_changes(fusion_brick_bits=4), 2, 2) == 4
    with pytest.raises(SpecError, match="fusion_brick_bits.*fusible PEs only"):
        ArrayConfig(rows=1, cols=1, fusion_brick_bits=1)
    with pytest.raises(SpecError, match="fusion_brick_bits.*at most the narrower datapath"):
        arch.with_changes(fusion_brick_bits=16)


@pytest.mark.parametrize("changes, field", [({"input_bits": 6, "weight_bits": 6}, "input_bits"),
                                            ({"weight_bits": 12, "acc_bits": 32}, "weight_bits"),
                                            ({"fusion_brick_bits": 3}, "input_bits")])
def test_a_fused_datapath_is_whole_bricks_in_powers_of_two(changes, field):
    """6-bit PEs with 2-bit bricks would fuse 3-bit lanes, which Bit Fusion cannot build (issue 17 review)."""
    from accelsim.errors import SpecError

    with pytest.raises(SpecError, match=f"{field}.*brick times a power of two"):
        ArrayConfig(rows=1, cols=1, pe_style="fusible", **changes)
