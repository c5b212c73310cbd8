"""The reference engine against numpy, and the fast engine's closed forms against the reference."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accelsim.arch import ArrayConfig
from accelsim.mapping import Mapping, load_dataflow
from accelsim.sim import numerics, run_reference_gemm
from accelsim.sim.timing import gemm_timeline
from accelsim.workload import GemmView

DATAFLOWS = ["ws", "os", "is"]


@st.composite
def cases(draw, max_array=6, max_dim=13):
    arch = ArrayConfig(
        rows=draw(st.integers(1, max_array)), cols=draw(st.integers(1, max_array)),
        input_bits=draw(st.sampled_from([2, 4, 8])), weight_bits=draw(st.sampled_from([3, 8])),
        signed=draw(st.booleans()), double_buffered=draw(st.booleans()),
        overflow=draw(st.sampled_from(["wrap", "saturate"])), acc_bits=draw(st.integers(16, 40)))
    gemm = GemmView(M=draw(st.integers(1, max_dim)), N=draw(st.integers(1, max_dim)),
                    K=draw(st.sampled_from([1, 2, 3]) | st.integers(1, max_dim)), count=draw(st.integers(1, 2)))
    seed = draw(st.integers(0, 2**32 - 1))
    return arch, draw(st.sampled_from(DATAFLOWS)), gemm, seed


def operands(arch, gemm, seed, extremes=0.3):
    rng = np.random.default_rng(seed)
    pairs = [numerics.random_operands(rng, gemm.M, gemm.N, gemm.K, arch, extremes) for _ in range(gemm.count)]
    return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])


@settings(max_examples=400)
@given(cases(), st.none() | st.integers(1, 5))
def test_fast_cycles_equal_reference_cycles(case, chunk):
    arch, name, gemm, seed = case
    dataflow = load_dataflow(name)
    chunk = None if dataflow.mode == "output" or chunk is None else min(chunk, getattr(gemm, dataflow.temporal))
    # (OS streams the whole reduction; a chunk is at most the temporal dimension)
    a, w = operands(arch, gemm, seed)
    run = run_reference_gemm(a, w, arch, dataflow, temporal_tile=chunk)
    assert gemm_timeline(Mapping(gemm, dataflow, arch, chunk)).total == run.cycles
    if chunk:  # chunking the streamed dimension changes timing, never values
        assert (run.outputs == run_reference_gemm(a, w, arch, dataflow).outputs).all()


@settings(max_examples=300)
@given(cases())
def test_reference_outputs_are_bit_exact(case):
    arch, name, gemm, seed = case
    dataflow = load_dataflow(name)
    a, w = operands(arch, gemm, seed)
    run = run_reference_gemm(a, w, arch, dataflow)
    exact = np.einsum("gmk,gkn->gmn", a, w)
    if arch.overflow == "wrap":  # order-free: the exact product modulo 2**acc_bits
        assert (run.outputs == numerics.wrap(exact, arch.acc_bits, arch.signed)).all()
    chunk = arch.rows if dataflow.mode == "stationary" else None
    expected = np.stack([numerics.expected_gemm(a[g], w[g], arch, chunk) for g in range(gemm.count)])
    assert (run.outputs == expected).all()


@settings(max_examples=150)
@given(cases(max_array=4, max_dim=6))
def test_wide_accumulators_give_numpy_matmul(case):
    arch, name, gemm, seed = case
    arch = arch.with_changes(acc_bits=40)
    a, w = operands(arch, gemm, seed)
    assert (run_reference_gemm(a, w, arch, load_dataflow(name)).outputs == np.einsum("gmk,gkn->gmn", a, w)).all()


@settings(max_examples=150)
@given(cases())
def test_every_output_row_leaves_once_in_cycle_order(case):
    arch, name, gemm, seed = case
    run = run_reference_gemm(*operands(arch, gemm, seed), arch, load_dataflow(name))
    cycles = [e.cycle for e in run.events]
    assert cycles == sorted(set(cycles))  # one row per cycle at most, in order
    rows_per_fold = {}
    for e in run.events:
        rows_per_fold.setdefault(e.fold, []).append(e.row)
    assert all(rows == sorted(set(rows)) for rows in rows_per_fold.values())


# Hand-derived counts (docs/timing.md works each one out); independent of the code's formulas.
@pytest.mark.parametrize("name, double, gemm, array, expected", [
    # WS, one fold: load Rt=4, stream M=10, first output R+C−1 after the first input: 4+10+4+4−1
    ("ws", False, GemmView(M=10, N=4, K=4), (4, 4), 21),
    # WS, K=8 on 4 rows, single bank: fold 2's load waits for fold 1's last token to leave
    # (e=14, +Rt+C−3=5 → 19), loads 4 rows (23), streams 10 (33), drains R+C−1=7 → 40
    ("ws", False, GemmView(M=10, N=4, K=8), (4, 4), 40),
    # ... double-buffered: fold 2 loads during fold 1's stream and follows back to back: 4+10+10+7
    ("ws", True, GemmView(M=10, N=4, K=8), (4, 4), 31),
    # OS, one fold: stream K=6, outputs drain 2 cycles per row: 6 + 2·4 + 4 − 2
    ("os", True, GemmView(M=4, N=4, K=6), (4, 4), 16),
    # OS, two folds (M=8): the second starts at e=6 + max(0, 2·4−1−6) = 7, ends 13, drains: 13+8+2
    ("os", True, GemmView(M=8, N=4, K=6), (4, 4), 23),
    # ... single buffered: the second waits for the chain to empty: 6 + 2·4 + 4 − 2 = 16, ends 22 → 32
    ("os", False, GemmView(M=8, N=4, K=6), (4, 4), 32),
    # IS is WS with the operands' roles swapped: N streams
    ("is", False, GemmView(M=4, N=10, K=4), (4, 4), 21),
    # a 1×1 array and K=1: load 1, stream 1, out after R+C−1 = 1 → 3
    ("ws", True, GemmView(M=1, N=1, K=1), (1, 1), 3),
])
def test_hand_derived_cycle_counts(name, double, gemm, array, expected):
    arch = ArrayConfig(rows=array[0], cols=array[1], double_buffered=double)
    a, w = operands(arch, gemm, 7)
    assert run_reference_gemm(a, w, arch, load_dataflow(name)).cycles == expected
    assert gemm_timeline(Mapping(gemm, load_dataflow(name), arch)).total == expected


def test_first_and_last_output_cycles_follow_the_contract():
    # WS fold: row m of the output leaves at s + m + R + C − 1 where s = Rt (single load first)
    arch = ArrayConfig(rows=3, cols=5, double_buffered=False)
    a, w = operands(arch, GemmView(M=7, N=5, K=3), 1)
    run = run_reference_gemm(a, w, arch, load_dataflow("ws"))
    assert [e.cycle for e in run.events] == [3 + m + 3 + 5 - 1 for m in range(7)]
    # OS (double-buffered), folds of 3, 3 and 1 rows with K=3: tile row r leaves at e + 2r + C − 1;
    # e = 3, then each fold starts max(0, 2·3 − 1 − 3) = 2 cycles after the previous ended: e = 8, 13
    run = run_reference_gemm(a, w, arch.with_changes(double_buffered=True), load_dataflow("os"))
    assert [e.cycle for e in run.events] == [7, 9, 11, 12, 14, 16, 17]
    assert [(e.fold, e.row) for e in run.events] == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2), (2, 0)]


def test_long_runs_jump_exactly():
    """The fast engine's period jumps give the same totals as playing every fold."""
    arch = ArrayConfig(rows=3, cols=2, double_buffered=True)
    for name in DATAFLOWS:
        dataflow = load_dataflow(name)
        gemm = GemmView(M=7, N=11, K=13, count=37)
        mapping = Mapping(gemm, dataflow, arch)
        timeline = gemm_timeline(mapping)
        from accelsim.sim.timing import timeline_for
        slow = timeline_for(mapping)
        for _, _, fold in mapping.folds():
            slow.fold(fold)
        assert (timeline.total, timeline.folds, timeline.stream_steps) == (slow.total, slow.folds, slow.stream_steps)
        assert timeline.folds == mapping.fold_count


@settings(max_examples=200)
@given(cases(max_array=5, max_dim=9), st.integers(0, 2**31), st.sampled_from([0.0, 0.3, 0.7]),
       st.sampled_from([0.0, 0.3, 0.7]), st.sampled_from([0.0, 0.5]))
def test_stalls_change_timing_but_never_values(case, seed, p_load, p_stream, p_out):
    from accelsim.sim.stalls import Stalls

    arch, name, gemm, op_seed = case
    dataflow = load_dataflow(name)
    a, w = operands(arch, gemm, op_seed)
    stalls = Stalls(seed=seed, p_load=p_load, p_stream=p_stream, p_out=p_out)
    ideal = run_reference_gemm(a, w, arch, dataflow)
    stalled = run_reference_gemm(a, w, arch, dataflow, stalls=stalls)
    assert (stalled.outputs == ideal.outputs).all()
    assert [(e.fold, e.row, e.values) for e in stalled.events] == [(e.fold, e.row, e.values) for e in ideal.events]
    assert stalled.cycles >= ideal.cycles
    assert all(stalls.active("out", e.cycle) for e in stalled.events)


def test_the_reference_engine_runs_the_plan_it_is_given():
    """One plan in every engine (issue 17): the run is of the Mapping passed in, and only a resolved plan runs."""
    from accelsim.errors import MappingError, UnsupportedError
    from accelsim.sim import run_reference

    arch, dataflow = ArrayConfig(rows=2, cols=2), load_dataflow("ws")
    a, w = operands(arch, GemmView(M=3, N=2, K=5), 1)
    mapping = Mapping.for_gemm(GemmView(M=3, N=2, K=5), dataflow, arch, temporal_tile=2)
    run = run_reference(mapping, a, w)
    assert run.mapping is mapping and run.cycles == gemm_timeline(mapping).total
    with pytest.raises(MappingError, match="without resolved precision"):
        run_reference(Mapping(GemmView(M=3, N=2, K=5), dataflow, arch), a, w)
    with pytest.raises(MappingError, match=r"shapes \[1, 3, 5\] and \[1, 5, 2\] are not the mapping's GEMM: \[1, 3, 4\]"):
        run_reference(Mapping.for_gemm(GemmView(M=3, N=2, K=4), dataflow, arch), a, w)
    fp16 = Mapping.for_gemm(GemmView(M=3, N=2, K=5), dataflow, arch.with_changes(input_bits=16, acc_bits=32),
                            dtypes={"I": "fp16"})
    with pytest.raises(UnsupportedError, match="computes on integers, not fp16"):
        run_reference(fp16, a, w)
