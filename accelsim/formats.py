"""Compressed storage formats of a 2-D matrix: exact sizes from a tensor, expected sizes from a density.

A matrix is compressed **along its rows**, in row-major order: the caller orients it so that each row
is what the hardware streams (e.g. weights as ``(N, K)``, so each output column's reduction is a
row; see :func:`accelsim.tensors.weight_matrix`). Sizes are counted in bits per tensor, then values
and metadata are each rounded up to whole bytes (:class:`FormatSize`).

==========  ===============================  ============================================================
format      Sparseloop name                  what is stored (``T = rows·cols`` elements, ``nnz`` non-zeros)
==========  ===============================  ============================================================
``dense``   U (uncompressed)                 ``T`` values, no metadata
``bitmap``  B                                ``nnz`` values + ``T`` one-bit flags
``csr``     UOP + CP (rows, then columns)    ``nnz`` values + ``nnz`` column indices of
                                             ``max(1, ⌈log2 cols⌉)`` bits + ``rows+1`` row pointers of
                                             ``max(1, ⌈log2(nnz+1)⌉)`` bits
``rle``     RLE                              per entry a value and the run of zeros before it in
                                             ``run_bits`` bits; a run longer than ``2**run_bits − 1``
                                             costs an explicit zero entry per ``2**run_bits`` zeros
``nm``      N:M (an offset index per kept    per group of ``M`` consecutive elements of a row, exactly
            value, CP-like within a group)   ``N`` values (explicit zeros if fewer non-zeros) and an index
                                             of :func:`~accelsim.sparsity.nm_index_bits` ``(M)`` bits each
==========  ===============================  ============================================================

Conventions that make the counts exact (and the decoders possible):

- ``rle`` runs over the whole matrix in row-major order (a run may cross a row boundary); the zeros
  after the last non-zero are implied by the shape and cost nothing. A run of ``z`` zeros before a
  non-zero costs ``⌊z / 2**run_bits⌋`` explicit zero entries ``(run = 2**run_bits − 1, value 0)``,
  each standing for ``2**run_bits`` positions, then the entry ``(z mod 2**run_bits, value)``.
- ``nm`` pads each row with zeros to a multiple of ``M`` (the last group of a row may be partial);
  a row group with more than ``N`` non-zeros is not N:M and raises :class:`SpecError`. The kept
  positions of a group with fewer than ``N`` non-zeros are its non-zeros, then its first zeros.
- A format can be larger than ``dense`` (e.g. CSR of a dense matrix): it is reported as such, never
  clamped; compare :attr:`FormatSize.total` with the dense size.

Examples
--------
>>> import numpy as np
>>> a = np.array([[0, 3, 0, 0], [0, 0, 0, 0], [1, 0, 0, 2]])
>>> format_size(a, "dense", 8), format_size(a, "bitmap", 8)
(FormatSize(values_bytes=12, metadata_bytes=0), FormatSize(values_bytes=3, metadata_bytes=2))
>>> format_size(a, "csr", 8)      # 3 column indices of 2 bits + 4 row pointers of 2 bits
FormatSize(values_bytes=3, metadata_bytes=2)
>>> format_size(a, "nm", 8, nm=(2, 4))   # 6 kept values (3 explicit zeros), 6 indices of 2 bits
FormatSize(values_bytes=6, metadata_bytes=2)
>>> np.array_equal(decode(encode(a, "rle", run_bits=2)), a)
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from .errors import SpecError, did_you_mean
from .sparsity import nm_index_bits, nm_stored_bits, parse_nm

FORMATS = ("dense", "bitmap", "csr", "rle", "nm")
SPARSELOOP_NAMES = {"dense": "U", "bitmap": "B", "csr": "UOP+CP", "rle": "RLE", "nm": "N:M"}
FORMAT_VERSION = 1
MAX_RUN_BITS = 32


@dataclass(frozen=True)
class FormatSize:
    """Bytes of one compressed tensor: values and metadata, each rounded up to whole bytes.

    Examples
    --------
    >>> s = FormatSize(values_bytes=10, metadata_bytes=3)
    >>> s.total, FormatSize.from_dict(s.to_dict()) == s
    (13, True)
    """

    values_bytes: int
    metadata_bytes: int

    def __post_init__(self):
        for name in ("values_bytes", "metadata_bytes"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise SpecError(f"must be a non-negative integer, not {value!r}", path=f"FormatSize.{name}")

    @property
    def total(self) -> int:
        """Values plus metadata, in bytes."""
        return self.values_bytes + self.metadata_bytes

    def to_dict(self) -> dict[str, int]:
        return {"version": FORMAT_VERSION, "values_bytes": self.values_bytes, "metadata_bytes": self.metadata_bytes}

    @classmethod
    def from_dict(cls, data: Any) -> FormatSize:
        from .specio import Fields

        f = Fields(data, where="FormatSize")
        f.int("version", FORMAT_VERSION)
        out = cls(f.int("values_bytes", minimum=0), f.int("metadata_bytes", minimum=0))
        f.done()
        return out


@dataclass(frozen=True)
class Encoded:
    """A matrix in one format: its kept values and its metadata fields with their bit widths.

    ``values`` are the stored values in stream order (including explicit zeros); ``metadata`` maps a
    field name to ``(unsigned integer array, bits per entry)``. :meth:`bits` counts exactly what a
    packed stream holds; :meth:`metadata_stream` packs the metadata into that many bits.
    """

    fmt: str
    shape: tuple[int, int]
    value_bits: int
    values: np.ndarray
    metadata: dict[str, tuple[np.ndarray, int]] = field(default_factory=dict)
    nm: tuple[int, int] | None = None
    run_bits: int = 4

    def bits(self) -> tuple[int, int]:
        """``(value bits, metadata bits)`` of the encoding."""
        return (int(self.values.size) * self.value_bits,
                sum(int(arr.size) * width for arr, width in self.metadata.values()))

    def metadata_stream(self) -> np.ndarray:
        """The metadata fields packed MSB-first, field after field, as an array of 0/1 of length ``bits()[1]``."""
        parts = []
        for arr, width in self.metadata.values():
            a = np.asarray(arr, dtype=np.uint64)
            if a.size and int(a.max()) >> width:
                raise SpecError(f"a metadata entry {int(a.max())} does not fit in {width} bits")
            shifts = np.arange(width - 1, -1, -1, dtype=np.uint64)
            parts.append(((a[:, None] >> shifts) & np.uint64(1)).astype(np.uint8).ravel())
        return np.concatenate(parts) if parts else np.zeros(0, np.uint8)


# -- widths ---------------------------------------------------------------------------------------
def _ceil_log2(x: int) -> int:
    return (x - 1).bit_length() if x > 1 else 0


def column_index_bits(cols: int) -> int:
    """Bits of a column index: ``max(1, ⌈log2 cols⌉)``.

    Examples
    --------
    >>> column_index_bits(1), column_index_bits(4), column_index_bits(5)
    (1, 2, 3)
    """
    return max(1, _ceil_log2(cols))


def row_pointer_bits(nnz: int) -> int:
    """Bits of a row pointer (values ``0..nnz``): ``max(1, ⌈log2(nnz+1)⌉)``.

    Examples
    --------
    >>> row_pointer_bits(0), row_pointer_bits(3), row_pointer_bits(4)
    (1, 2, 3)
    """
    return max(1, _ceil_log2(nnz + 1))


def _bytes(bits) -> int:
    if isinstance(bits, float):  # rle expectations: forgive float noise such as 100 · 0.1 = 10.000000000000002
        return math.ceil(bits / 8 * (1 - 1e-12))
    return math.ceil(Fraction(bits) / 8)


# -- argument checks ------------------------------------------------------------------------------
def _check_fmt(fmt: str, value_bits: int, nm, run_bits: int) -> tuple[int, int] | None:
    if fmt not in FORMATS:
        raise SpecError(f"unknown format '{fmt}'; choose one of {', '.join(FORMATS)}" + did_you_mean(str(fmt), FORMATS))
    if not isinstance(value_bits, int) or isinstance(value_bits, bool) or value_bits < 1:
        raise SpecError(f"value_bits must be a positive integer, not {value_bits!r}")
    if not isinstance(run_bits, int) or isinstance(run_bits, bool) or not 1 <= run_bits <= MAX_RUN_BITS:
        raise SpecError(f"run_bits must be an integer from 1 to {MAX_RUN_BITS}, not {run_bits!r}")
    if fmt != "nm":
        return None
    parsed = parse_nm(nm) if isinstance(nm, str) else (tuple(nm) if nm is not None else None)
    if parsed is None or parse_nm(f"{parsed[0]}:{parsed[1]}") is None:
        raise SpecError(f"format 'nm' needs nm='N:M' (or (N, M)) with 0 < N < M ≤ 16, not {nm!r}")
    return int(parsed[0]), int(parsed[1])


def _matrix(matrix) -> np.ndarray:
    if hasattr(matrix, "tocsr") and hasattr(matrix, "nnz"):  # a scipy.sparse matrix or array
        matrix = matrix.toarray()
    a = np.asarray(matrix)
    if a.ndim != 2:
        raise SpecError(f"a format compresses a 2-D matrix, not an array of shape {list(a.shape)}")
    return a


def _nm_groups(a: np.ndarray, n: int, m: int) -> np.ndarray:
    """``a`` padded with zero columns to a multiple of ``m`` and viewed as ``(rows, groups, m)``."""
    rows, cols = a.shape
    groups = -(-cols // m)
    padded = np.zeros((rows, groups * m), dtype=a.dtype)
    padded[:, :cols] = a
    g = padded.reshape(rows, groups, m)
    counts = np.count_nonzero(g, axis=2)
    if counts.size and counts.max() > n:
        r, grp = np.argwhere(counts > n)[0]
        raise SpecError(f"the matrix is not {n}:{m} along its rows: row {r}, columns "
                        f"{grp * m}..{min(cols, grp * m + m) - 1} hold {counts[r, grp]} non-zeros")
    return g


# -- exact sizes ----------------------------------------------------------------------------------
def format_size(matrix, fmt: str, value_bits: int, *, nm=None, run_bits: int = 4) -> FormatSize:
    """Exact size of ``matrix`` stored in ``fmt`` with ``value_bits`` per value.

    Parameters
    ----------
    matrix
        A 2-D array (any dtype; non-zero means ``!= 0``) or a ``scipy.sparse`` matrix (its
        explicit zeros are not counted), compressed along its rows.
    fmt
        One of :data:`FORMATS`.
    value_bits
        Bits per stored value.
    nm
        ``"N:M"`` or ``(N, M)``, for ``fmt="nm"``.
    run_bits
        Bits of an ``rle`` run length (default 4: runs up to 15).

    Examples
    --------
    >>> import numpy as np
    >>> a = np.zeros((2, 20)); a[1, 19] = 5.0     # 39 zeros, then one value
    >>> format_size(a, "rle", 8)                  # 2 explicit zeros (16 zeros each) + 1 entry
    FormatSize(values_bytes=3, metadata_bytes=2)
    >>> format_size(np.ones((4, 4)), "csr", 8).total > format_size(np.ones((4, 4)), "dense", 8).total
    True
    """
    nm_pair = _check_fmt(fmt, value_bits, nm, run_bits)
    if fmt == "csr" and hasattr(matrix, "tocsr") and hasattr(matrix, "nnz"):
        csr = matrix.tocsr(copy=True)  # eliminate_zeros must not change the caller's matrix
        csr.eliminate_zeros()
        (rows, cols), nnz = csr.shape, int(csr.nnz)
        return FormatSize(_bytes(nnz * value_bits),
                          _bytes(nnz * column_index_bits(cols) + (rows + 1) * row_pointer_bits(nnz)))
    a = _matrix(matrix)
    rows, cols = a.shape
    if fmt == "dense":
        return FormatSize(_bytes(rows * cols * value_bits), 0)
    if nm_pair is not None:  # fmt 'nm'
        _nm_groups(a, *nm_pair)  # refuses a matrix that is not N:M
        return FormatSize(*map(_bytes, nm_stored_bits(rows, cols, *nm_pair, value_bits)))
    if fmt == "csr":  # the same count as scipy.sparse.csr_matrix(a).nnz, without building it
        nnz = int(np.count_nonzero(a))
        return FormatSize(_bytes(nnz * value_bits),
                          _bytes(nnz * column_index_bits(cols) + (rows + 1) * row_pointer_bits(nnz)))
    if fmt == "bitmap":
        return FormatSize(_bytes(int(np.count_nonzero(a)) * value_bits), _bytes(rows * cols))
    # rle
    nz = np.flatnonzero(a)
    nnz = int(nz.size)
    runs = np.diff(nz, prepend=-1) - 1
    entries = nnz + int((runs >> run_bits).sum())
    return FormatSize(_bytes(entries * value_bits), _bytes(entries * run_bits))


# -- expected sizes -------------------------------------------------------------------------------
def _fraction(density) -> Fraction:
    if isinstance(density, bool) or not isinstance(density, (int, float, Fraction)):
        raise SpecError(f"density must be a number from 0 to 1, not {density!r}")
    if isinstance(density, float) and not math.isfinite(density):
        raise SpecError(f"density must be a number from 0 to 1, not {density!r}")
    d = Fraction(repr(density)) if isinstance(density, float) else Fraction(density)
    if not 0 <= d <= 1:
        raise SpecError(f"density must be a number from 0 to 1, not {density!r}")
    return d


def expected_rle_entries(elements: int, density, run_bits: int = 4) -> float:
    """Expected ``rle`` entries of ``elements`` iid elements, each non-zero with probability ``density``.

    With ``q = 1 − d``, ``L = 2**run_bits`` and ``x = q**L``: the non-zero at position ``p`` has
    ``z`` zeros before it with ``P(z ≥ k) = q**k`` for ``k ≤ p`` (the run cannot start before the
    stream), and costs ``1 + ⌊z/L⌋`` entries, so

    ``E = T·d + d·Σ_{j=1..J} (T − j·L)·x**j``  with ``J = ⌊(T−1)/L⌋``,

    summed in closed form (``Σ x**j`` and ``Σ j·x**j``). For long streams this tends to
    ``T·d / (1 − q**L)``: each non-zero's geometric run adds ``x/(1−x)`` explicit zeros on average.

    Examples
    --------
    >>> expected_rle_entries(100, 1.0), expected_rle_entries(100, 0.0)
    (100.0, 0.0)
    >>> round(expected_rle_entries(10**6, 0.1, 4) / (10**6 * 0.1 / (1 - 0.9**16)), 4)
    1.0
    """
    t, d = int(elements), float(_fraction(density))
    if t <= 0 or d == 0.0:
        return 0.0
    big = 1 << run_bits
    x = (1.0 - d) ** big
    j = (t - 1) // big
    if x == 0.0 or j == 0:
        return t * d
    if x == 1.0:  # d too small for float: the sum is Σ (T − jL)
        extra = j * t - big * j * (j + 1) / 2
    else:
        xj = x ** j
        s0 = x * (1 - xj) / (1 - x)
        s1 = x * (1 - (j + 1) * xj + j * xj * x) / (1 - x) ** 2
        extra = t * s0 - big * s1
    return t * d + d * extra


def expected_format_size(rows: int, cols: int, density, fmt: str, value_bits: int, *, nm=None,
                         run_bits: int = 4) -> FormatSize:
    """Expected size of a ``rows × cols`` matrix whose elements are non-zero with probability ``density``.

    Closed forms (exact :class:`~fractions.Fraction` arithmetic except ``rle``), ``T = rows·cols``,
    each of values and metadata rounded up to bytes:

    - ``dense``: ``T·b`` bits of values;
    - ``bitmap``: ``T·d·b`` bits of values, ``T`` bits of flags;
    - ``csr``: ``T·d·b`` values; ``T·d·⌈log2 cols⌉ + (rows+1)·ptr`` metadata, the pointer width
      taken at the expected non-zero count ``⌈T·d⌉`` (:func:`row_pointer_bits`);
    - ``rle``: :func:`expected_rle_entries` ``× (b + run_bits)`` (iid zeros, geometric runs);
    - ``nm``: independent of the zero pattern, ``rows·⌈cols/M⌉·N`` values and indices; a density
      above ``N/M`` cannot be N:M and raises :class:`SpecError`.

    Examples
    --------
    >>> expected_format_size(64, 64, 0.5, "bitmap", 8)
    FormatSize(values_bytes=2048, metadata_bytes=512)
    >>> expected_format_size(64, 64, 0.5, "nm", 4, nm="2:4")
    FormatSize(values_bytes=1024, metadata_bytes=512)
    """
    nm_pair = _check_fmt(fmt, value_bits, nm, run_bits)
    for name, value in (("rows", rows), ("cols", cols)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise SpecError(f"{name} must be a non-negative integer, not {value!r}")
    d = _fraction(density)
    t = rows * cols
    if fmt == "dense":
        return FormatSize(_bytes(t * value_bits), 0)
    if nm_pair is not None:  # fmt 'nm'
        n, m = nm_pair
        if d > Fraction(n, m):
            raise SpecError(f"density {float(d):g} cannot be {n}:{m} (at most {n}/{m} = {n / m:g})")
        return FormatSize(*map(_bytes, nm_stored_bits(rows, cols, n, m, value_bits)))
    nnz = t * d
    if fmt == "bitmap":
        return FormatSize(_bytes(nnz * value_bits), _bytes(t))
    if fmt == "csr":
        ptr = row_pointer_bits(math.ceil(nnz))
        return FormatSize(_bytes(nnz * value_bits), _bytes(nnz * column_index_bits(cols) + (rows + 1) * ptr))
    entries = expected_rle_entries(t, d, run_bits)
    return FormatSize(_bytes(entries * value_bits), _bytes(entries * run_bits))


# -- encode / decode ------------------------------------------------------------------------------
def encode(matrix, fmt: str, value_bits: int = 8, *, nm=None, run_bits: int = 4) -> Encoded:
    """``matrix`` in ``fmt``: the stored values and metadata fields (see the module docstring).

    ``encode(a, ...).bits()`` rounded up to bytes equals :func:`format_size`; :func:`decode` inverts it.

    Examples
    --------
    >>> import numpy as np
    >>> e = encode(np.array([[0, 7, 0, 0, 0, 0, 0, 1]]), "rle", run_bits=2)
    >>> e.values.tolist(), e.metadata["runs"][0].tolist()
    ([7, 0, 1], [1, 3, 1])
    """
    nm_pair = _check_fmt(fmt, value_bits, nm, run_bits)
    a = _matrix(matrix)
    rows, cols = a.shape
    flat = a.ravel()

    def make(values, **meta):
        return Encoded(fmt, (rows, cols), value_bits, np.ascontiguousarray(values), meta, nm_pair, run_bits)

    if fmt == "dense":
        return make(flat.copy())
    if fmt == "bitmap":
        mask = flat != 0
        return make(flat[mask], bitmap=(mask.astype(np.uint8), 1))
    if fmt == "csr":
        from scipy import sparse

        csr = sparse.csr_matrix(a) if a.size else sparse.csr_matrix((rows, cols), dtype=a.dtype)
        csr.sort_indices()
        nnz = int(csr.nnz)
        return make(csr.data.astype(a.dtype, copy=False),
                    col_index=(csr.indices.astype(np.uint64), column_index_bits(cols)),
                    row_pointer=(csr.indptr.astype(np.uint64), row_pointer_bits(nnz)))
    if fmt == "rle":
        nz = np.flatnonzero(flat)
        runs = np.diff(nz, prepend=-1) - 1
        extra = runs >> run_bits
        limit = (1 << run_bits) - 1
        per = extra + 1  # entries per non-zero: its explicit zeros, then itself
        owner = np.repeat(np.arange(nz.size), per)
        last = np.cumsum(per) - 1
        values = np.zeros(owner.size, dtype=a.dtype)
        values[last] = flat[nz]
        out_runs = np.full(owner.size, limit, dtype=np.uint64)
        out_runs[last] = (runs & limit).astype(np.uint64)
        return make(values, runs=(out_runs, run_bits))
    assert nm_pair is not None  # the last format: _check_fmt gave 'nm' its (N, M)
    n, m = nm_pair
    g = _nm_groups(a, n, m)
    order = np.argsort(g == 0, axis=2, kind="stable")[:, :, :n]  # non-zeros first, then first zeros
    kept = np.sort(order, axis=2)
    values = np.take_along_axis(g, kept, axis=2)
    return make(values.ravel(), nm_index=(kept.ravel().astype(np.uint64), nm_index_bits(m)))


def decode(encoded: Encoded) -> np.ndarray:
    """The matrix that :func:`encode` encoded (values keep their dtype)."""
    rows, cols = encoded.shape
    values, meta = encoded.values, encoded.metadata
    out = np.zeros(rows * cols, dtype=values.dtype)
    if encoded.fmt == "dense":
        out[:] = values
    elif encoded.fmt == "bitmap":
        out[meta["bitmap"][0].astype(bool)] = values
    elif encoded.fmt == "csr":
        from scipy import sparse

        ptr, idx = meta["row_pointer"][0].astype(np.int64), meta["col_index"][0].astype(np.int64)
        return sparse.csr_matrix((values, idx, ptr), shape=(rows, cols)).toarray().astype(values.dtype)
    elif encoded.fmt == "rle":
        positions = np.cumsum(meta["runs"][0].astype(np.int64) + 1) - 1
        out[positions] = values
    elif encoded.fmt == "nm":
        if encoded.nm is None:
            raise SpecError("an 'nm' encoding needs its (N, M)")
        n, m = encoded.nm
        groups = -(-cols // m)
        padded = np.zeros((rows, groups, m), dtype=values.dtype)
        idx = meta["nm_index"][0].astype(np.int64).reshape(rows, groups, n)
        np.put_along_axis(padded, idx, values.reshape(rows, groups, n), axis=2)
        return padded.reshape(rows, groups * m)[:, :cols]
    else:
        raise SpecError(f"unknown format '{encoded.fmt}'")
    return out.reshape(rows, cols)
