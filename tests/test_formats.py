"""Compressed formats: sizes equal a brute-force count of the encoding, round trips, expectations."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from accelsim.errors import SpecError
from accelsim.formats import (FORMATS, FormatSize, decode, encode, expected_format_size, expected_rle_entries,
                              format_size)


# -- brute force: element by element, written independently of accelsim.formats ------------------
def brute_bits(a: np.ndarray, fmt: str, b: int, nm=(2, 4), run_bits: int = 4) -> tuple[int, int]:
    rows, cols = a.shape
    cells = [a[i, j] for i in range(rows) for j in range(cols)]
    nnz = sum(1 for v in cells if v != 0)
    if fmt == "dense":
        return rows * cols * b, 0
    if fmt == "bitmap":
        return nnz * b, rows * cols
    if fmt == "csr":
        col = 1
        while 2 ** col < cols:
            col += 1
        ptr = 1
        while 2 ** ptr < nnz + 1:
            ptr += 1
        return nnz * b, nnz * col + (rows + 1) * ptr
    if fmt == "rle":
        entries, run, pending = 0, 0, 0
        for v in cells:
            if v == 0:
                run += 1
                if run == 2 ** run_bits:  # the run counter would overflow: an explicit zero entry ...
                    pending, run = pending + 1, 0
            else:  # ... written only if a non-zero follows (trailing zeros are implied by the shape)
                entries, run, pending = entries + pending + 1, 0, 0
        return entries * b, entries * run_bits
    n, m = nm
    index = max(1, math.ceil(math.log2(m)))
    kept = rows * math.ceil(cols / m) * n
    return kept * b, kept * index


def bytes_of(bits: tuple[int, int]) -> FormatSize:
    return FormatSize(-(-bits[0] // 8), -(-bits[1] // 8))


def to_nm(a: np.ndarray, n: int, m: int) -> np.ndarray:
    """Zero all but the first ``n`` non-zeros of each group of ``m`` along rows."""
    out = a.copy()
    for i in range(a.shape[0]):
        for g in range(0, a.shape[1], m):
            nz = [j for j in range(g, min(g + m, a.shape[1])) if out[i, j] != 0]
            for j in nz[n:]:
                out[i, j] = 0
    return out


@st.composite
def matrices(draw):
    rows = draw(st.integers(0, 9))
    cols = draw(st.integers(1, 40))
    kind = draw(st.sampled_from(["random", "zeros", "dense", "long-runs", "empty-rows"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    a = rng.integers(-7, 8, size=(rows, cols))
    if kind == "zeros":
        a[:] = 0
    elif kind == "dense":
        a = np.where(a == 0, 1, a)
    elif kind == "long-runs":
        a = np.where(rng.random(a.shape) < 0.05, a, 0)
    elif kind == "empty-rows" and rows:
        a[rng.random(rows) < 0.5] = 0
    return a


@given(matrices(), st.sampled_from(FORMATS), st.integers(1, 16), st.integers(1, 5),
       st.sampled_from([(1, 2), (2, 4), (1, 4), (3, 8), (4, 16)]))
def test_size_is_brute_force_count_of_encoding_and_round_trips(a, fmt, b, run_bits, nm):
    if fmt == "nm":
        a = to_nm(a, *nm)
    size = format_size(a, fmt, b, nm=nm, run_bits=run_bits)
    enc = encode(a, fmt, b, nm=nm, run_bits=run_bits)
    assert enc.bits() == brute_bits(a, fmt, b, nm, run_bits)
    assert size == bytes_of(enc.bits())
    assert enc.metadata_stream().size == enc.bits()[1]  # every field fits its width
    assert np.array_equal(decode(enc), a)
    assert decode(enc).dtype == a.dtype


def test_rle_explicit_zero_entries_counted_exactly():
    a = np.zeros((1, 40), dtype=int)
    a[0, 15], a[0, 32], a[0, 39] = 1, 2, 3  # runs 15 (fits), 16 (one explicit zero), 6
    enc = encode(a, "rle", 8, run_bits=4)
    assert enc.values.tolist() == [1, 0, 2, 3]
    assert enc.metadata["runs"][0].tolist() == [15, 15, 0, 6]
    assert format_size(a, "rle", 8) == FormatSize(4, 2)
    a = np.zeros((3, 20), dtype=int)
    a[2, 19] = 9  # 59 zeros in a row-major stream that crosses rows: 3 explicit zeros, then run 11
    assert encode(a, "rle", 8).metadata["runs"][0].tolist() == [15, 15, 15, 11]
    assert np.array_equal(decode(encode(a, "rle", 8)), a)
    assert format_size(np.zeros((5, 5)), "rle", 8) == FormatSize(0, 0)  # trailing zeros are implied


def test_csr_widths_and_larger_than_dense_is_reported():
    a = np.ones((4, 4), dtype=np.int8)
    # 16 values; 16 column indices of 2 bits + 5 pointers of 5 bits (0..16)
    assert format_size(a, "csr", 8) == FormatSize(16, math.ceil((32 + 25) / 8))
    assert format_size(a, "csr", 8).total > format_size(a, "dense", 8).total
    assert format_size(a, "bitmap", 8).total > format_size(a, "dense", 8).total
    one = np.array([[5]])
    assert format_size(one, "csr", 4) == FormatSize(1, 1)  # 1 index bit + 2 pointers of 1 bit


def test_csr_accepts_scipy_sparse_and_ignores_explicit_zeros():
    from scipy import sparse

    m = sparse.csr_matrix((np.array([1, 0, 2]), np.array([0, 1, 3]), np.array([0, 2, 3])), shape=(2, 4))
    assert format_size(m, "csr", 8) == format_size(m.toarray(), "csr", 8) == FormatSize(2, 2)  # 2·2 + 3·2 bits
    assert m.nnz == 3


def test_nm_pads_explicit_zeros_and_refuses_unstructured():
    a = np.array([[0, 0, 0, 0, 5, 0]])  # 2 groups (second partial): 4 kept values, 3 of them explicit zeros
    enc = encode(a, "nm", 8, nm="2:4")
    assert enc.values.tolist() == [0, 0, 5, 0]
    assert enc.metadata["nm_index"][0].tolist() == [0, 1, 0, 1]
    assert format_size(a, "nm", 8, nm="2:4") == FormatSize(4, 1)
    with pytest.raises(SpecError, match=r"not 2:4 along its rows: row 1, columns 4..7 hold 3 non-zeros"):
        format_size(np.array([[1, 1, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 1, 1, 1, 0]]), "nm", 8, nm="2:4")


def test_bad_arguments_are_typed_errors():
    a = np.eye(3)
    with pytest.raises(SpecError, match="unknown format 'cssr'.*did you mean 'csr'"):
        format_size(a, "cssr", 8)
    with pytest.raises(SpecError, match="nm='N:M'"):
        format_size(a, "nm", 8, nm="3:2")
    with pytest.raises(SpecError, match="2-D matrix"):
        format_size(np.ones(3), "dense", 8)
    with pytest.raises(SpecError, match="value_bits"):
        format_size(a, "dense", 0)
    with pytest.raises(SpecError, match="density must be"):
        expected_format_size(3, 3, 1.5, "csr", 8)
    with pytest.raises(SpecError, match="cannot be 2:4"):
        expected_format_size(4, 4, 0.75, "nm", 8, nm="2:4")


def test_format_size_dict_round_trip():
    s = FormatSize(7, 3)
    assert FormatSize.from_dict(s.to_dict()) == s
    with pytest.raises(SpecError):
        FormatSize.from_dict({"version": 1, "values_bytes": 1, "metadata_bytes": 0, "extra": 1})
    with pytest.raises(SpecError):
        FormatSize(-1, 0)


def test_expected_closed_forms_exact():
    assert expected_format_size(100, 100, 0.1, "bitmap", 8) == FormatSize(1000, 1250)
    # 1000 non-zeros: 7-bit column indices, 101 pointers of 10 bits
    assert expected_format_size(100, 100, 0.1, "csr", 8) == FormatSize(1000, math.ceil((7000 + 1010) / 8))
    assert expected_format_size(10, 10, 1, "rle", 8, run_bits=4) == FormatSize(100, 50)
    assert expected_format_size(10, 10, 0, "rle", 8) == FormatSize(0, 0)
    assert expected_format_size(8, 10, 0.25, "nm", 8, nm="1:4") == FormatSize(24, 6)  # 8 rows · 3 groups


def test_expected_rle_matches_brute_force_expectation_on_a_tiny_stream():
    """The closed form equals the expectation summed over all 2**T zero patterns of T = 10."""
    t, d, run_bits = 10, 0.3, 1
    total = 0.0
    for pattern in range(2 ** t):
        a = np.array([[(pattern >> i) & 1 for i in range(t)]])
        p = d ** int(a.sum()) * (1 - d) ** int(t - a.sum())
        total += p * brute_bits(a, "rle", 1, run_bits=run_bits)[0]
    assert expected_rle_entries(t, d, run_bits) == pytest.approx(total, rel=1e-12)


@pytest.mark.parametrize("fmt", ["bitmap", "csr", "rle"])
@pytest.mark.parametrize("density", [0.05, 0.3, 0.8])
def test_expected_sizes_converge_to_mean_of_exact_sizes(fmt, density):
    """Mean exact size over 200 random 64×64 matrices versus the expectation.

    The exact size's standard deviation is at most ≈ (b + meta) · sqrt(T·d·(1−d)) bits
    (≈ 12·sqrt(4096/4) ≈ 384 bits for bitmap; rle's runs add a little), so the mean of 200 samples
    has a standard error under 5 bytes; rounding to bytes adds at most 2. We allow 5 standard
    errors plus rounding: 30 bytes, on totals of 300..8000 bytes.
    """
    rng = np.random.default_rng(1234)
    rows = cols = 64
    sizes = [format_size(np.where(rng.random((rows, cols)) < density, 1, 0), fmt, 8).total for _ in range(200)]
    expected = expected_format_size(rows, cols, density, fmt, 8).total
    assert abs(np.mean(sizes) - expected) <= 30, (np.mean(sizes), expected)


def test_dense_values_keep_dtype_for_floats():
    a = np.array([[0.0, 1.5], [np.float32(-2.25), 0.0]], dtype=np.float32)
    for fmt in ("dense", "bitmap", "csr", "rle"):
        out = decode(encode(a, fmt, 32))
        assert out.dtype == np.float32 and np.array_equal(out, a)
