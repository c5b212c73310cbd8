"""Precision and sparsity of one layer on one array: the rules, resolved once per mapping.

* :func:`resolve_precision` joins what a layer's tensors are (``Layer.dtypes``) with what the
  array's datapath supports (``ArrayConfig``), per PE style; see ``docs/precision.md``.
* :func:`reduction_table` gives the reduction length each spatial tile of a GEMM really runs after
  N:M compression, Bit Fusion packing or zero-skipping; see ``docs/sparsity.md``.

Both feed :class:`~accelsim.mapping.mapping.Mapping`, which every engine reads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from ..arch import ArrayConfig
from ..errors import MappingError, SpecError, UnsupportedError
from ..precision import (
    FLOAT_BITS,
    FLOAT_DATAPATHS,
    FLOAT_FORMATS,
    DataType,
    converts_exactly,
    fusion_factor,
    parse_dtype,
)
from ..sparsity import nm_index_bits, nm_rows
from .dataflow import DataflowSpec

OPERAND_NAMES = {"I": "inputs", "W": "weights", "O": "outputs"}


@dataclass(frozen=True)
class Precision:
    """Resolved operand formats of a layer on an array.

    ``serial_bits`` is how many cycles one streamed step takes (bit-serial PEs; 1 otherwise) and
    ``fusion`` how many reduction elements one PE takes per cycle (Bit Fusion; 1 otherwise).
    ``index_bits`` is the per-weight index of N:M storage (0 when weights are stored dense).
    ``datapath`` is what the PEs multiply (``ArrayConfig.datapath``): ``"int"``, or a floating-point
    format into which every operand is converted before the array (accumulating in fp32).
    """

    I: DataType
    W: DataType
    O: DataType
    acc_bits: int
    serial_bits: int = 1
    fusion: int = 1
    index_bits: int = 0
    datapath: str = "int"

    @property
    def mac_bits(self) -> tuple[int, int]:
        """Widths of the two operands as a PE holds and multiplies them: the operands' own widths on an
        integer datapath, the datapath's format on a floating-point one (converted before the array)."""
        if self.datapath == "int":
            return self.I.bits, self.W.bits
        return FLOAT_BITS[self.datapath], FLOAT_BITS[self.datapath]

    def bytes(self, operand: str) -> Fraction:
        """Bytes per element of ``I``, ``W``, ``O`` or ``P`` (partial sums, the accumulator width)."""
        return self._sizes[operand][0]

    def word_bytes(self, operand: str) -> Fraction:
        """Bytes of one datapath word: Bit Fusion packs ``fusion`` narrow I or W values in one."""
        return self._sizes[operand][1]

    def stored_bytes(self, operand: str) -> Fraction:
        """Bytes per word as buffered on chip: N:M weights carry their index."""
        return self._sizes[operand][2]

    @property
    def _sizes(self) -> dict[str, tuple[Fraction, Fraction, Fraction]]:
        """(element, word, stored word) bytes per operand, computed once (the memory model asks often)."""
        sizes = self.__dict__.get("_size_cache")
        if sizes is None:
            sizes = {}
            for op in ("I", "W", "O", "P"):
                element = Fraction(self.acc_bits, 8) if op == "P" else getattr(self, op).bytes
                word = element * (self.fusion if op in ("I", "W") else 1)
                sizes[op] = (element, word, word + (Fraction(self.index_bits, 8) if op == "W" else 0))
            self.__dict__["_size_cache"] = sizes  # a frozen dataclass: outside its fields, never compared
        return sizes

    def to_dict(self) -> dict[str, object]:
        floating = self.datapath != "int"
        out: dict[str, object] = {"input": self.I.name, "weight": self.W.name, "output": self.O.name,
                                  "accumulator": f"fp{self.acc_bits}" if floating else f"int{self.acc_bits}"}
        if floating:
            out["datapath"] = self.datapath
        if self.serial_bits > 1:
            out["serial_bits"] = self.serial_bits
        if self.fusion > 1:
            out["fusion"] = self.fusion
        if self.index_bits:
            out["index_bits"] = self.index_bits
        return out

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Precision:
        """The precision :meth:`to_dict` wrote.

        Examples
        --------
        >>> p = Precision.from_dict({"input": "int4", "weight": "int8", "output": "int8", "accumulator": "int32",
        ...                          "fusion": 2})
        >>> p.I.bits, p.acc_bits, p.fusion, Precision.from_dict(p.to_dict()) == p
        (4, 32, 2, True)
        >>> f = Precision.from_dict({"input": "int8", "weight": "bf16", "output": "fp32", "accumulator": "fp32",
        ...                          "datapath": "bf16"})
        >>> f.mac_bits, f.to_dict()["accumulator"], Precision.from_dict(f.to_dict()) == f
        ((16, 16), 'fp32', True)
        """
        def dtype(key: str) -> DataType:
            found = parse_dtype(data.get(key))
            if found is None:
                raise SpecError(f"precision.{key} must be a number format, not {data.get(key)!r}")
            return found

        def count(key: str, default: int) -> int:
            value = data.get(key, default)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise SpecError(f"precision.{key} must be a non-negative integer, not {value!r}")
            return value

        datapath = data.get("datapath", "int")
        if datapath not in ("int", *FLOAT_DATAPATHS):
            raise SpecError(f"precision.datapath must be one of int, {', '.join(FLOAT_DATAPATHS)}, not {datapath!r}")
        return cls(dtype("input"), dtype("weight"), dtype("output"), dtype("accumulator").bits,
                   serial_bits=count("serial_bits", 1), fusion=count("fusion", 1), index_bits=count("index_bits", 0),
                   datapath=str(datapath))


def _datapath(arch: ArrayConfig, operand: str) -> int:
    return arch.input_bits if operand == "I" else arch.weight_bits


def _fits(dtype: DataType, bits: int, signed: bool) -> bool:
    """Does every value of ``dtype`` fit a ``bits``-wide datapath of the given signedness?"""
    if dtype.is_float:
        return dtype.bits <= bits  # storage formats: the datapath must be as wide as the word
    if dtype.signed and not signed:
        return False
    return dtype.bits + (not dtype.signed and signed) <= bits


def resolve_precision(name: str, dtypes: dict[str, DataType], arch: ArrayConfig,
                      dataflow: DataflowSpec, *, nm_stored: bool = False) -> Precision:
    """Check a layer's operand formats against the array and say how the PEs run them.

    Raises :class:`MappingError` naming both values when an operand is wider than the datapath
    and the PE style cannot run it (bit-serial PEs take any integer width on the left edge). On an
    integer datapath (``arch.datapath == "int"``) a float is a storage format as wide as the
    datapath; on a floating-point one an operand runs when the datapath's format holds all its values
    (:func:`~accelsim.precision.converts_exactly`).

    Examples
    --------
    >>> from accelsim.precision import parse_dtype
    >>> from accelsim.mapping import load_dataflow
    >>> t = {op: parse_dtype(n) for op, n in (("I", "int8"), ("W", "int4"), ("O", "int8"))}
    >>> resolve_precision("fc", t, ArrayConfig(rows=4, cols=4, pe_style="fusible"), load_dataflow("ws")).fusion
    2
    >>> wide = t | {"W": parse_dtype("int16")}
    >>> resolve_precision("fc", wide, ArrayConfig(rows=4, cols=4), load_dataflow("ws"))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    accelsim.errors.MappingError: layer 'fc': weights are int16 but the array's weight datapath is 8-bit signed ...
    """
    if arch.datapath != "int":
        return _resolve_float(name, dtypes, arch, nm_stored=nm_stored)
    style = arch.pe_style
    serial = dataflow.left if style == "bit-serial" else None
    for op in ("I", "W"):
        dtype = dtypes[op]
        if style != "parallel" and dtype.is_float:
            raise MappingError(f"layer '{name}': {OPERAND_NAMES[op]} are {dtype.name}, a floating-point "
                               f"format; {style} PEs take integers")
        if op == serial:
            if dtype.signed != arch.signed:
                raise MappingError(f"layer '{name}': {OPERAND_NAMES[op]} are {dtype.name} but the bit-serial "
                                   f"array takes {'signed' if arch.signed else 'unsigned'} operands")
            continue
        bits = _datapath(arch, op)
        if not _fits(dtype, bits, arch.signed):
            field = "input_bits" if op == "I" else "weight_bits"
            raise MappingError(f"layer '{name}': {OPERAND_NAMES[op]} are {dtype.name} but the array's "
                               f"{OPERAND_NAMES[op][:-1]} datapath is {bits}-bit "
                               f"{'signed' if arch.signed else 'unsigned'} ({field} = {bits}, pe_style {style})")
    fusion = 1
    if style == "fusible":
        fusion = fusion_factor(arch, dtypes["I"].bits, dtypes["W"].bits)
    return Precision(I=dtypes["I"], W=dtypes["W"], O=dtypes["O"], acc_bits=arch.acc_bits,
                     serial_bits=dtypes[serial].bits if serial else 1, fusion=fusion,
                     index_bits=nm_index_bits(arch.nm[1]) if nm_stored and arch.nm else 0)


def _resolve_float(name: str, dtypes: dict[str, DataType], arch: ArrayConfig, *, nm_stored: bool) -> Precision:
    """A floating-point datapath runs every operand whose values its format holds exactly: floats with
    no wider exponent nor mantissa (fp8 on fp16), integers of at most its significand's magnitude
    bits (weight-only int4/int8: dequantised before the array, on the vector unit, whose cost the
    caller counts). Parallel PEs only (``ArrayConfig`` enforces it), one MAC per PE per cycle."""
    datapath = arch.datapath
    for op in ("I", "W"):
        dtype = dtypes[op]
        if not converts_exactly(dtype, datapath):
            field = "input_bits" if op == "I" else "weight_bits"
            exponent, mantissa = FLOAT_FORMATS[datapath]
            if dtype.is_float:
                own = FLOAT_FORMATS[dtype.name]
                why = f"{own[0]} exponent and {own[1]} mantissa bits against {datapath}'s {exponent} and {mantissa}"
            else:
                why = f"{dtype.significand_bits} magnitude bits against {datapath}'s {mantissa + 1}-bit significand"
            raise MappingError(f"layer '{name}': {OPERAND_NAMES[op]} are {dtype.name} but the array's "
                               f"{OPERAND_NAMES[op][:-1]} datapath is {datapath} (datapath = {datapath}, "
                               f"{field} = {_datapath(arch, op)}): {dtype.name} has {why}, so not all its "
                               f"values are {datapath} values")
    return Precision(I=dtypes["I"], W=dtypes["W"], O=dtypes["O"], acc_bits=arch.acc_bits, datapath=datapath,
                     index_bits=nm_index_bits(arch.nm[1]) if nm_stored and arch.nm else 0)


# -- the reduction each tile runs -----------------------------------------------------------------
def fused_rows(K: int, fusion: int) -> int:
    """Reduction rows when each PE takes ``fusion`` consecutive elements of K (Bit Fusion).

    Examples
    --------
    >>> fused_rows(10, 4), fused_rows(8, 1)
    (3, 8)
    """
    return -(-K // fusion)


def nm_compresses(K: int, n: int, m: int) -> bool:
    """N:M compression shortens the reduction (with K < M·N/(M−N)-ish padding it would lengthen it).

    Examples
    --------
    >>> nm_compresses(64, 2, 4), nm_compresses(1, 2, 4), nm_compresses(9, 7, 8)
    (True, False, False)
    """
    return nm_rows(K, n, m) < K


def nonzero_probability(density: float, width: int) -> Fraction:
    """Probability that ``width`` iid elements of density ``density`` are not all zero: ``1 − (1−d)^w``."""
    return Fraction(1) - (Fraction(1) - Fraction(density)) ** width


def expected_nonempty(length: int, density: float, width: int) -> int:
    """Expected count, rounded up, of ``length`` vectors of ``width`` iid elements that are not all zero.

    This is the density-only (expected-value) model of zero-skipping: a step (or stationary row)
    can be skipped only when all ``width`` elements the array would take in it are zero.

    Examples
    --------
    >>> expected_nonempty(100, 0.5, 1), expected_nonempty(100, 0.5, 4), expected_nonempty(100, 1.0, 4)
    (50, 94, 100)
    """
    if density >= 1.0:
        return length
    return min(length, math.ceil(length * nonzero_probability(density, width)))


def tile_any(nonzero: np.ndarray, tile: int) -> np.ndarray:
    """``(count, tiles, K)``: for a boolean ``(count, X, K)`` array, is any of a tile of X non-zero at each k.

    The one definition of "a reduction index a tile needs" for zero-skipping.

    Examples
    --------
    >>> nz = np.array([[[1, 0, 0], [0, 0, 0], [0, 0, 1]]], dtype=bool)   # X=3, K=3
    >>> tile_any(nz, 2).astype(int).tolist(), tile_any(nz, 2).sum(axis=2).tolist()
    ([[[1, 0, 0], [0, 0, 1]]], [[1, 1]])
    """
    count, X, K = nonzero.shape
    tiles = -(-X // tile)
    padded = np.zeros((count, tiles * tile, K), dtype=bool)
    padded[:, :X] = nonzero
    return np.asarray(padded.reshape(count, tiles, tile, K).any(axis=2))


def check_skip_supported(arch: ArrayConfig) -> None:
    """Zero-skipping is modelled for parallel dense-weight PEs only."""
    if arch.sparse == "skip" and arch.pe_style != "parallel":
        raise UnsupportedError(f"architecture '{arch.name}': sparse 'skip' with pe_style "
                               f"'{arch.pe_style}' is not modelled (use parallel PEs or sparse 'gate')")
    if arch.sparse == "skip" and arch.nm:
        raise UnsupportedError(f"architecture '{arch.name}': sparse 'skip' on N:M PEs (weight_nm "
                               f"{arch.weight_nm}) is not modelled (N:M already skips; use sparse 'gate' or 'none')")
