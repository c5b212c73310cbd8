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
from ..errors import MappingError, UnsupportedError
from ..precision import DataType
from ..sparsity import nm_index_bits, nm_rows  # noqa: F401  (nm_rows: re-exported for the mapping)
from .dataflow import DataflowSpec

OPERAND_NAMES = {"I": "inputs", "W": "weights", "O": "outputs"}


@dataclass(frozen=True)
class Precision:
    """Resolved operand formats of a layer on an array.

    ``serial_bits`` is how many cycles one streamed step takes (bit-serial PEs; 1 otherwise) and
    ``fusion`` how many reduction elements one PE takes per cycle (Bit Fusion; 1 otherwise).
    ``index_bits`` is the per-weight index of N:M storage (0 when weights are stored dense).
    """

    I: DataType
    W: DataType
    O: DataType
    acc_bits: int
    serial_bits: int = 1
    fusion: int = 1
    index_bits: int = 0

    def bytes(self, operand: str) -> Fraction:
        """Bytes per element of ``I``, ``W``, ``O`` or ``P`` (partial sums, the accumulator width)."""
        return Fraction(self.acc_bits, 8) if operand == "P" else getattr(self, operand).bytes

    def word_bytes(self, operand: str) -> Fraction:
        """Bytes of one datapath word: Bit Fusion packs ``fusion`` narrow I or W values in one."""
        return self.bytes(operand) * (self.fusion if operand in ("I", "W") else 1)

    def stored_bytes(self, operand: str) -> Fraction:
        """Bytes per word as buffered on chip: N:M weights carry their index."""
        return self.word_bytes(operand) + (Fraction(self.index_bits, 8) if operand == "W" else 0)

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"input": self.I.name, "weight": self.W.name, "output": self.O.name,
                                  "accumulator": f"int{self.acc_bits}"}
        if self.serial_bits > 1:
            out["serial_bits"] = self.serial_bits
        if self.fusion > 1:
            out["fusion"] = self.fusion
        return out


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
    and the PE style cannot run it (bit-serial PEs take any integer width on the left edge).

    Examples
    --------
    >>> from accelsim.precision import parse_dtype
    >>> from accelsim.mapping import load_dataflow
    >>> t = {op: parse_dtype(n) for op, n in (("I", "int8"), ("W", "int4"), ("O", "int8"))}
    >>> resolve_precision("fc", t, ArrayConfig(rows=4, cols=4, pe_style="fusible"), load_dataflow("ws")).fusion
    2
    >>> resolve_precision("fc", t | {"W": parse_dtype("int16")}, ArrayConfig(rows=4, cols=4), load_dataflow("ws"))
    Traceback (most recent call last):
    ...
    accelsim.errors.MappingError: layer 'fc': weights are int16 but the array's weight datapath is 8-bit signed (weight_bits = 8, pe_style parallel)
    """
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
        from ..sim.numerics import fusion_factor

        fusion = fusion_factor(arch, dtypes["I"].bits, dtypes["W"].bits)
    return Precision(I=dtypes["I"], W=dtypes["W"], O=dtypes["O"], acc_bits=arch.acc_bits,
                     serial_bits=dtypes[serial].bits if serial else 1, fusion=fusion,
                     index_bits=nm_index_bits(arch.nm[1]) if nm_stored and arch.nm else 0)


# -- the reduction each tile runs -----------------------------------------------------------------
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
    frac = Fraction(1) - (Fraction(1) - Fraction(density)) ** width
    return min(length, math.ceil(length * frac))


def nonempty_counts(nonzero: np.ndarray, tile: int, axis: int) -> np.ndarray:
    """Per tile of ``tile`` slices along ``axis`` of a boolean ``(count, K, X)`` array: rows k with a non-zero.

    Returns ``(count, tiles)``: for each GEMM and each tile of X, how many k are not all zero
    across the tile's slices (the reduction rows a zero-skipping stationary tile really needs).

    Examples
    --------
    >>> nz = np.array([[[1, 0, 0], [0, 0, 0], [0, 0, 1]]], dtype=bool)   # K=3, X=3
    >>> nonempty_counts(nz, tile=2, axis=2).tolist()
    [[1, 1]]
    """
    count, K, X = nonzero.shape
    tiles = -(-X // tile)
    padded = np.zeros((count, K, tiles * tile), dtype=bool)
    padded[:, :, :X] = nonzero
    return padded.reshape(count, K, tiles, tile).any(axis=3).sum(axis=1)


def check_skip_supported(arch: ArrayConfig) -> None:
    """Zero-skipping is modelled for parallel PEs only."""
    if arch.sparse == "skip" and arch.pe_style != "parallel":
        raise UnsupportedError(f"architecture '{arch.name}': sparse 'skip' with pe_style "
                               f"'{arch.pe_style}' is not modelled (use parallel PEs or sparse 'gate')")
