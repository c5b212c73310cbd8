"""Pruning keeps exact counts and N:M structure; quantization stays within scale/2; SQNR grows with bits."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from accelsim.compress import (density_of, dequantize, prune_global, prune_magnitude, prune_nm, quantize,
                               sqnr_db)
from accelsim.errors import SpecError, UnsupportedError
from accelsim.tensors import weight_matrix, weight_shape
from accelsim.workload.layer import Layer


def keep_count(density, n):
    return math.floor(density * n + 0.5)


@given(st.integers(0, 2**32 - 1), st.integers(1, 300), st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.77, 1.0]))
def test_prune_magnitude_keeps_exactly_the_largest(seed, n, density):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(n)
    out = prune_magnitude(w, density)
    k = keep_count(density, n)
    assert np.count_nonzero(out) == k
    kept = np.abs(w[out != 0])
    dropped = np.abs(w[out == 0])
    if kept.size and dropped.size:
        assert kept.min() >= dropped.max()
    assert np.array_equal(out[out != 0], w[out != 0])  # kept values unchanged


def test_prune_ties_are_broken_by_position_and_deterministic():
    w = np.array([1.0, -1.0, 1.0, 1.0, 2.0, -1.0])
    assert prune_magnitude(w, 0.5).tolist() == [1.0, -1.0, 0.0, 0.0, 2.0, 0.0]
    ints = np.ones((4, 4), dtype=np.int32)
    out = prune_magnitude(ints, 0.25)
    assert out.dtype == np.int32 and np.flatnonzero(out).tolist() == [0, 1, 2, 3]


def test_prune_channel_scope():
    rng = np.random.default_rng(3)
    w = rng.standard_normal((8, 4, 3, 3))
    out = prune_magnitude(w, 0.3, scope="channel")
    assert [np.count_nonzero(out[i]) for i in range(8)] == [keep_count(0.3, 36)] * 8


def test_prune_global_one_threshold():
    rng = np.random.default_rng(4)
    weights = {"a": rng.standard_normal((10, 10)) * 0.1, "b": rng.standard_normal((20, 5)), "c": rng.standard_normal(50)}
    out = prune_global(weights, 0.4)
    total = sum(w.size for w in weights.values())
    assert sum(np.count_nonzero(v) for v in out.values()) == keep_count(0.4, total)
    kept = np.concatenate([np.abs(weights[k][out[k] != 0]) for k in weights])
    dropped = np.concatenate([np.abs(weights[k][out[k] == 0]) for k in weights])
    assert kept.min() >= dropped.max()
    assert density_of(out["a"]) < density_of(out["b"])  # the small-magnitude layer loses more


def nm_ok(matrix: np.ndarray, n: int, m: int, axis: int) -> bool:
    """Every group of m consecutive elements along ``axis`` (a partial last group included) has ≤ n non-zeros."""
    a = np.moveaxis(matrix, axis, -1)
    for start in range(0, a.shape[-1], m):
        if (np.count_nonzero(a[..., start:start + m], axis=-1) > n).any():
            return False
    return True


@pytest.mark.parametrize("n, m", [(2, 4), (1, 4), (4, 8), (1, 2), (3, 16)])
@pytest.mark.parametrize("layer", [
    Layer("conv", "conv2d", in_shapes=((6, 8, 8),), out=8, kernel=(3, 3)),           # K = 54, not a multiple of 4
    Layer("gconv", "conv2d", in_shapes=((8, 8, 8),), out=4, kernel=(3, 3), groups=2),  # K = 36 per group
    Layer("dw", "conv2d", in_shapes=((4, 8, 8),), out=4, kernel=(3, 3), groups=4),    # K = 9
    Layer("fc", "linear", in_shapes=((37,),), out=5),
])
def test_prune_nm_is_nm_along_k_of_weight_matrix(layer, n, m):
    rng = np.random.default_rng(7)
    w = rng.standard_normal(weight_shape(layer))
    out = prune_nm(w, n, m)
    wm = weight_matrix(layer, out)  # (G, K, N)
    assert nm_ok(wm, n, m, axis=1)
    k = wm.shape[1]
    full, rest = divmod(k, m)
    assert np.count_nonzero(wm) == wm.shape[0] * wm.shape[2] * (full * n + min(n, rest))
    # the kept ones are the n largest of their group
    src = weight_matrix(layer, w)
    for g in range(wm.shape[0]):
        for col in range(wm.shape[2]):
            for start in range(0, k, m):
                kept = np.abs(src[g, start:start + m, col][wm[g, start:start + m, col] != 0])
                dropped = np.abs(src[g, start:start + m, col][wm[g, start:start + m, col] == 0])
                if kept.size and dropped.size:
                    assert kept.min() >= dropped.max()


def test_prune_nm_axis_choices():
    w = np.arange(1, 17).reshape(4, 4)
    assert prune_nm(w, 1, 2, axis=0).tolist() == [[0] * 4, [5, 6, 7, 8], [0] * 4, [13, 14, 15, 16]]
    assert prune_nm(w, 1, 2, axis=-1).tolist() == [[0, 2, 0, 4], [0, 6, 0, 8], [0, 10, 0, 12], [0, 14, 0, 16]]


def test_bad_prune_arguments():
    with pytest.raises(SpecError, match="0 < N < M"):
        prune_nm(np.ones((2, 4)), 3, 2)
    with pytest.raises(SpecError, match="density must be"):
        prune_magnitude(np.ones(4), 1.5)
    with pytest.raises(SpecError, match="scope"):
        prune_magnitude(np.ones(4), 0.5, scope="layer")
    with pytest.raises(SpecError, match="NaN"):
        prune_magnitude(np.array([np.nan, 1.0]), 0.5)
    with pytest.raises(SpecError, match="out of range"):
        prune_nm(np.ones((2, 4)), 1, 2, axis=2)


# -- quantization ---------------------------------------------------------------------------------
@given(st.integers(0, 2**32 - 1), st.integers(2, 16), st.booleans(), st.booleans(), st.booleans())
def test_quantize_error_is_at_most_half_a_step(seed, bits, symmetric, per_channel, unsigned):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((6, 5)) * rng.uniform(0.01, 100)
    w[rng.random(w.shape) < 0.3] = 0.0
    dtype = f"{'u' if unsigned and not symmetric else ''}int{bits}"
    q = quantize(w, dtype, symmetric=symmetric, per_channel=per_channel)
    from accelsim.precision import parse_dtype

    lo, hi = parse_dtype(dtype).range
    assert q.values.min() >= lo and q.values.max() <= hi
    deq = dequantize(q)
    step = q.scale[:, None] if per_channel else q.scale
    assert (np.abs(w - deq) <= step / 2 * (1 + 1e-9)).all()
    assert (deq[w == 0] == 0).all()  # pruned zeros stay exactly zero
    if symmetric:
        assert (q.zero_point == 0).all()
        assert np.array_equal(quantize(-w, dtype, per_channel=per_channel).values, -q.values)


def test_sqnr_grows_with_bits_by_about_6_db_per_bit():
    rng = np.random.default_rng(11)
    w = rng.standard_normal((64, 64))
    for symmetric in (True, False):
        values = [sqnr_db(w, dequantize(quantize(w, f"int{b}", symmetric=symmetric))) for b in range(2, 17)]
        assert all(b > a for a, b in zip(values, values[1:]))
        slopes = np.diff(values[4:])  # past the first few bits, uniform noise: 20·log10(2) ≈ 6.02 dB per bit
        assert np.allclose(slopes, 6.02, atol=0.3)


def test_per_channel_is_no_worse_than_per_tensor():
    rng = np.random.default_rng(12)
    w = rng.standard_normal((8, 16)) * np.logspace(-2, 1, 8)[:, None]
    per_tensor = sqnr_db(w, dequantize(quantize(w, "int4")))
    per_channel = sqnr_db(w, dequantize(quantize(w, "int4", per_channel=True)))
    assert per_channel > per_tensor + 3


def test_quantize_known_values_and_edges():
    q = quantize(np.array([-1.0, 0.25, 1.0]), "int2")  # qmax = 1, scale = 1
    assert q.values.tolist() == [-1, 0, 1] and float(q.scale) == 1.0
    z = quantize(np.zeros((3, 3)), "int8", per_channel=True)
    assert (z.values == 0).all() and (z.scale == 1.0).all()
    assert quantize(np.ones(3), "int4").values.dtype == np.int8
    assert quantize(np.ones(3), "uint12", symmetric=False).values.dtype == np.uint16
    assert sqnr_db([0.0], [0.0]) == math.inf and sqnr_db([0.0], [1.0]) == -math.inf


@pytest.mark.parametrize("dtype, kwargs, error, message", [
    ("int0", {}, SpecError, "unknown type 'int0'"),
    ("int17", {}, SpecError, "unknown type 'int17'"),
    ("fp16", {}, UnsupportedError, "fp16 is not supported"),
    ("uint8", {}, SpecError, "symmetric quantization needs a signed type"),
    ("int1", {}, SpecError, "at least 2 bits"),
    ("int8", {"per_channel": True, "axis": 3}, SpecError, "out of range"),
])
def test_bad_quantize_arguments(dtype, kwargs, error, message):
    with pytest.raises(error, match=message):
        quantize(np.ones((2, 2)), dtype, **kwargs)
