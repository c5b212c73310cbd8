"""Zero-gating and N:M weight sparsity in the reference engine, against numpy and brute-force counts."""

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accelsim.arch import ArrayConfig
from accelsim.errors import MappingError, UnsupportedError
from accelsim.mapping import Mapping, load_dataflow
from accelsim.mapping.plan import nm_compresses
from accelsim.sim import numerics, run_reference_gemm
from accelsim.sim.nm import compress_nm, compressed_rows, decompress_nm, nm_stream, uncompressed_nm
from accelsim.sim.stalls import Stalls
from accelsim.sim.timing import gemm_timeline
from accelsim.workload import GemmView


def brute_effective(a: np.ndarray, w: np.ndarray) -> int:
    """MACs with both operands non-zero: sum over k of nnz(I[:, k]) · nnz(W[k, :]), per GEMM."""
    return int(sum(np.count_nonzero(a[g, :, k]) * np.count_nonzero(w[g, k])
                   for g in range(a.shape[0]) for k in range(a.shape[2])))


def sparse_operands(rng, arch, count, m, n, k, density):
    pairs = [numerics.random_operands(rng, m, n, k, arch, 0.2) for _ in range(count)]
    a, w = np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])
    return a * (rng.random(a.shape) < density), w * (rng.random(w.shape) < density)


def nm_weights(rng, arch, count, k, n, keep, group, fill=1.0):
    """Random weights with at most ``keep`` non-zeros in every group of ``group`` rows of a column."""
    lo, hi = numerics.operand_ranges(arch)["W"]
    w = rng.integers(lo, hi, size=(count, k, n), endpoint=True)
    w[w == 0] = hi
    mask = np.zeros_like(w, dtype=bool)
    for g in range(count):
        for c in range(n):
            for k0 in range(0, k, group):
                size = min(group, k - k0)
                chosen = rng.permutation(size)[:int(rng.integers(0, min(keep, size) + 1))]
                mask[g, k0 + chosen, c] = rng.random(len(chosen)) < fill
    return w * mask


@st.composite
def arrays(draw, dataflows=("ws", "os", "is"), **fixed):
    kw = dict(rows=draw(st.integers(1, 5)), cols=draw(st.integers(1, 5)), signed=draw(st.booleans()),
              double_buffered=draw(st.booleans()), input_bits=draw(st.sampled_from([3, 8])),
              weight_bits=draw(st.sampled_from([2, 8])), acc_bits=draw(st.integers(16, 24)),
              overflow=draw(st.sampled_from(["wrap", "saturate"])))
    kw.update(fixed)
    return ArrayConfig(**kw), draw(st.sampled_from(dataflows))


stall_patterns = st.builds(lambda seed, p: Stalls(seed=seed, p_load=p[0], p_stream=p[1], p_out=p[2]),
                           st.integers(0, 2**31), st.tuples(*[st.sampled_from([0.0, 0.3, 0.6])] * 3))


# -- zero-gating --------------------------------------------------------------------------------

@settings(max_examples=40, deadline=None)
@given(arrays(), st.tuples(st.integers(1, 2), st.integers(1, 8), st.integers(1, 8), st.integers(1, 8)),
       st.sampled_from([0.3, 0.7, 1.0]), st.integers(0, 2**32 - 1), stall_patterns)
def test_gating_changes_no_value_and_no_cycle_and_counts_every_zero(case, dims, density, seed, stalls):
    (arch, name), (count, m, n, k) = case, dims
    dataflow = load_dataflow(name)
    a, w = sparse_operands(np.random.default_rng(seed), arch, count, m, n, k, density)
    dense = run_reference_gemm(a, w, arch, dataflow)
    gated = run_reference_gemm(a, w, arch.with_changes(sparse="gate"), dataflow)
    # values and the cycle of every output row unchanged
    assert [(e.cycle, e.fold, e.row, e.values) for e in gated.events] == \
           [(e.cycle, e.fold, e.row, e.values) for e in dense.events]
    assert gated.cycles == dense.cycles == gemm_timeline(Mapping(GemmView(M=m, N=n, K=k, count=count),
                                                                 dataflow, arch)).total
    issued, effective = count * m * n * k, brute_effective(a, w)
    assert gated.macs == {"issued": issued, "gated": issued - effective, "effective": effective}
    assert dense.macs == {"issued": issued, "gated": 0, "effective": effective}  # counted only when gating
    stalled = run_reference_gemm(a, w, arch.with_changes(sparse="gate"), dataflow, stalls=stalls)
    assert (stalled.outputs == gated.outputs).all() and stalled.macs == gated.macs
    if arch.overflow == "wrap":
        assert (gated.outputs == numerics.wrap(np.einsum("gmk,gkn->gmn", a, w), arch.acc_bits, arch.signed)).all()


def test_gated_counts_by_hand():
    # I = [[0, 2], [3, 0]], W = [[1, 0], [0, 5]]: of the 8 MACs only I[1,0]·W[0,0] and I[0,1]·W[1,1]
    # have two non-zero operands
    arch = ArrayConfig(rows=2, cols=2, sparse="gate")
    a, w = np.array([[0, 2], [3, 0]]), np.array([[1, 0], [0, 5]])
    for name in ("ws", "os", "is"):
        run = run_reference_gemm(a, w, arch, load_dataflow(name))
        assert run.macs == {"issued": 8, "gated": 6, "effective": 2}
        assert run.outputs[0].tolist() == [[0, 10], [3, 0]]


def test_partial_tiles_issue_only_inside_the_tile():
    # a 4×4 array running a 1×1×1 GEMM: tokens cross all four columns, but one PE holds the tile
    arch = ArrayConfig(rows=4, cols=4, sparse="gate")
    for name in ("ws", "os", "is"):
        run = run_reference_gemm(np.array([[3]]), np.array([[0]]), arch, load_dataflow(name))
        assert run.macs == {"issued": 1, "gated": 1, "effective": 0}


def test_skipping_is_refused_by_the_reference_engine():
    with pytest.raises(UnsupportedError, match="zero-skipping"):
        run_reference_gemm(np.ones((2, 2), int), np.ones((2, 2), int), ArrayConfig(rows=2, cols=2, sparse="skip"),
                           load_dataflow("ws"))


# -- N:M compression ----------------------------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(st.sampled_from([(2, 4), (1, 4), (4, 8), (1, 2), (3, 8)]), st.integers(1, 3), st.integers(1, 19),
       st.integers(1, 5), st.integers(0, 2**32 - 1))
def test_compression_round_trips_in_canonical_form(nm, count, k, n, seed):
    keep, group = nm
    w = nm_weights(np.random.default_rng(seed), ArrayConfig(rows=1, cols=1), count, k, n, keep, group)
    values, indices, groups = compress_nm(w, keep, group)
    rows = compressed_rows(k, keep, group)
    assert values.shape == indices.shape == (count, rows, n) and groups.tolist() == [r // keep for r in range(rows)]
    assert (decompress_nm(values, indices, k=k, m=group) == w).all()
    slots = indices.reshape(count, -1, keep, n)  # (count, group, slot, column)
    assert (np.diff(slots, axis=2) > 0).all() and ((0 <= indices) & (indices < group)).all()
    for g, grp, c in np.ndindex(count, rows // keep, n):
        block = np.zeros(-(-k // group) * group, dtype=int)
        block[:k] = w[g, :, c]
        block = block[grp * group:(grp + 1) * group]
        nonzero = np.flatnonzero(block).tolist()
        unused = [i for i in range(group) if i not in nonzero]
        assert sorted(slots[g, grp, :, c].tolist()) == sorted(nonzero + unused[:keep - len(nonzero)])
    # the dense layout for N:M hardware stands for the same matrix
    dv, di, dg = uncompressed_nm(w, group)
    assert (decompress_nm(dv, di, k=k, m=group, groups=dg) == w).all()


def test_compression_by_hand():
    # column 0 keeps k = 1, 3; column 1 keeps k = 5 (index 1) and pads with index 0; group 1 of
    # column 0 is empty: indices 0 and 1 with zero weights
    w = np.array([[0, 0], [7, 0], [0, 0], [-2, 0], [0, 0], [0, 9], [0, 0]])
    values, indices, groups = compress_nm(w, 2, 4)
    assert values[0].tolist() == [[7, 0], [-2, 0], [0, 0], [0, 9]]
    assert indices[0].tolist() == [[1, 0], [3, 1], [0, 0], [1, 1]]
    assert groups.tolist() == [0, 0, 1, 1]
    stream = nm_stream(np.arange(1, 8)[None, None], groups, 4)[0, 0]
    assert stream.tolist() == [[1, 2, 3, 4], [1, 2, 3, 4], [5, 6, 7, 0], [5, 6, 7, 0]]


def test_a_too_dense_group_names_group_column_and_count():
    w = np.zeros((2, 8, 3), dtype=int)
    w[1, 4:7, 2] = 5  # GEMM 1, group 1 (k 4–7), column 2: three non-zeros
    with pytest.raises(MappingError, match=r"GEMM 1 are not 2:4 sparse: group 1 \(k 4–7\) of column 2 has 3 non-zeros"):
        compress_nm(w, 2, 4)
    arch = ArrayConfig(rows=2, cols=2, dataflows=("ws",), weight_nm="2:4")
    with pytest.raises(MappingError, match="group 0 .* of column 0 has 4 non-zeros"):
        run_reference_gemm(np.ones((1, 4), int), np.ones((4, 1), int), arch, load_dataflow("ws"), weight_structure="2:4")


# -- N:M on the weight-stationary array ----------------------------------------------------------

@settings(max_examples=40, deadline=None)
@given(arrays(dataflows=("ws",)), st.sampled_from(["2:4", "1:4", "4:8"]), st.sampled_from(["none", "gate"]),
       st.tuples(st.integers(1, 2), st.integers(1, 7), st.integers(1, 6), st.integers(1, 17)),
       st.integers(0, 2**32 - 1), stall_patterns, st.none() | st.integers(1, 4))
def test_nm_values_cycles_and_macs(case, nm, sparse, dims, seed, stalls, chunk):
    (arch, name), (count, m, n, k) = case, dims
    arch = arch.with_changes(dataflows=("ws",), weight_nm=nm, sparse=sparse)
    keep, group = arch.nm
    rng = np.random.default_rng(seed)
    a, _ = sparse_operands(rng, arch, count, m, n, k, 0.7)
    w = nm_weights(rng, arch, count, k, n, keep, group, fill=0.9)
    dataflow = load_dataflow(name)
    chunk = None if chunk is None else min(chunk, m)
    # described N:M: compressed where that shortens the reduction, else run dense (the mapping's rule)
    run = run_reference_gemm(a, w, arch, dataflow, temporal_tile=chunk, weight_structure=nm)
    dense = run_reference_gemm(a, w, arch.with_changes(weight_nm="", sparse="none"), dataflow)
    compressed = nm_compresses(k, keep, group)
    assert (run.mapping.nm_groups is not None) == compressed
    rows, per_group = (compressed_rows(k, keep, group), keep) if compressed else (k, group)
    if arch.overflow == "wrap":
        assert (run.outputs == numerics.wrap(np.einsum("gmk,gkn->gmn", a, w), arch.acc_bits, arch.signed)).all()
    else:  # the same values as dense whenever no chunk sum saturates
        big = np.abs(np.einsum("gmk,gkn->gmn", np.abs(a), np.abs(w))) < (1 << (arch.acc_bits - 1))
        assert (run.outputs[big] == dense.outputs[big]).all()
    gemm = GemmView(M=m, N=n, K=k, count=count)
    assert run.mapping.gemm == gemm and run.mapping.size("K") == rows
    assert run.cycles == gemm_timeline(Mapping(replace(gemm, K=rows), dataflow, arch, chunk)).total
    issued, effective = count * m * n * rows, brute_effective(a, w)
    assert run.macs == {"issued": issued, "gated": issued - effective if sparse == "gate" else 0,
                        "effective": effective}
    assert run.words["W_index"] == run.words["W"] == sum(f.rows * f.cols for _, _, f in run.mapping.folds())
    # a step brings each distinct group among the fold's rows its M inputs
    assert run.words["I"] == sum(f.steps * group * len({r // per_group for r in range(o["K"], o["K"] + f.rows)})
                                 for _, o, f in run.mapping.folds())
    stalled = run_reference_gemm(a, w, arch, dataflow, stalls=stalls, temporal_tile=chunk, weight_structure=nm)
    assert (stalled.outputs == run.outputs).all() and stalled.macs == run.macs
    assert [(e.fold, e.row, e.values) for e in stalled.events] == [(e.fold, e.row, e.values) for e in run.events]


def test_nm_halves_the_reduction_folds_where_shapes_divide():
    # 4×4 WS, K = 16 on 2:4 → K' = 8: two row folds instead of four, the timing of dense WS on K = 8
    arch = ArrayConfig(rows=4, cols=4, dataflows=("ws",), weight_nm="2:4", double_buffered=False)
    rng = np.random.default_rng(3)
    w = nm_weights(rng, arch, 1, 16, 4, 2, 4)
    a = rng.integers(-128, 128, size=(1, 10, 16))
    run = run_reference_gemm(a, w, arch, load_dataflow("ws"), weight_structure="2:4")
    assert len({e.fold for e in run.events}) == 2
    assert run.cycles == 40  # docs/timing.md's worked example: M = 10, N = 4, K = 8, single bank
    assert (run.outputs == np.einsum("gmk,gkn->gmn", a, w)).all()


@settings(max_examples=25, deadline=None)
@given(arrays(dataflows=("ws",)), st.sampled_from(["2:4", "1:4", "4:8"]),
       st.tuples(st.integers(1, 2), st.integers(1, 7), st.integers(1, 6), st.integers(1, 13)),
       st.integers(0, 2**32 - 1), stall_patterns)
def test_dense_weights_on_nm_hardware_run_as_dense_ws(case, nm, dims, seed, stalls):
    (arch, name), (count, m, n, k) = case, dims
    rng = np.random.default_rng(seed)
    a, w = sparse_operands(rng, arch, count, m, n, k, 0.8)
    dataflow = load_dataflow(name)
    nm_arch = arch.with_changes(dataflows=("ws",), weight_nm=nm)
    for s in (Stalls(), stalls):
        dense = run_reference_gemm(a, w, arch, dataflow, stalls=s)
        run = run_reference_gemm(a, w, nm_arch, dataflow, stalls=s)  # described dense: not compressed
        assert [(e.cycle, e.fold, e.row, e.values) for e in run.events] == \
               [(e.cycle, e.fold, e.row, e.values) for e in dense.events]
        assert run.cycles == dense.cycles and run.macs == dense.macs and run.mapping.nm_groups is None


def test_nm_needs_weight_stationary_and_an_nm_array():
    arch = ArrayConfig(rows=2, cols=2, weight_nm="2:4")
    a, w = np.ones((1, 4), int), np.zeros((4, 1), int)
    for name in ("os", "is"):
        with pytest.raises(UnsupportedError, match=f"N:M weights .* need a weight-stationary dataflow .*'{name}'"):
            run_reference_gemm(a, w, arch, load_dataflow(name))
    # N:M-described weights on an array without N:M PEs run dense
    run = run_reference_gemm(a, w, ArrayConfig(rows=2, cols=2), load_dataflow("ws"), weight_structure="2:4")
    assert run.mapping.nm_groups is None and run.mapping.size("K") == 4
