"""Number formats of tensors (integers of 1–16 bits; fp16, bf16, fp8_e4m3, fp8_e5m2) and of datapaths.

A layer says what its tensors *are* (:class:`DataType` per operand); the array says what its
datapath *supports* (``ArrayConfig.input_bits``/``weight_bits``/``signed`` and ``datapath``: an
integer multiplier, or a floating-point one with fp32 accumulation). The rule that joins them is in
:func:`accelsim.mapping.plan.resolve_precision` and ``docs/precision.md``.

Examples
--------
>>> parse_dtype("int4").range, parse_dtype("uint4").range
((-8, 7), (0, 15))
>>> parse_dtype("bf16").bits, parse_dtype("bf16").is_float
(16, True)
>>> parse_dtype("fp8").significand_bits == parse_dtype("fp8_e4m3").significand_bits == 4
True
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .arch import ArrayConfig

MAX_INT_BITS = 16  # operands (inputs, weights)
MAX_OUTPUT_BITS = 32  # outputs may keep the accumulator's width
# Floating-point formats: (exponent bits, stored mantissa bits); the width is 1 + both. `fp8` is the
# name fp8 had before its two OCP variants were named: the same format as fp8_e4m3.
FLOAT_FORMATS = {"fp32": (8, 23), "fp16": (5, 10), "bf16": (8, 7), "fp8": (4, 3), "fp8_e4m3": (4, 3),
                 "fp8_e5m2": (5, 2)}
FLOAT_BITS = {name: 1 + e + m for name, (e, m) in FLOAT_FORMATS.items()}
TYPE_NAMES = ("int1..int16, uint1..uint16, fp16, bf16, fp8_e4m3 (or fp8), fp8_e5m2; "
              "outputs also up to int32 and fp32")
# What an array multiplies (ArrayConfig.datapath): integers, or one floating-point format with fp32
# accumulation (docs/precision.md, "Floating-point datapaths").
FLOAT_DATAPATHS = ("fp16", "bf16", "fp8_e4m3", "fp8_e5m2")
DATAPATHS = ("int", *FLOAT_DATAPATHS)
FLOAT_ACC_BITS = 32  # a floating-point datapath accumulates in fp32


def value_range(bits: int, signed: bool) -> tuple[int, int]:
    """Smallest and largest value of a ``bits``-wide integer: the one definition of the range.

    Examples
    --------
    >>> value_range(8, True), value_range(8, False), value_range(1, True)
    ((-128, 127), (0, 255), (-1, 0))
    """
    return (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)


@dataclass(frozen=True)
class DataType:
    """A tensor's number format: ``bits`` per element, two's complement if ``signed``."""

    name: str
    bits: int
    signed: bool
    is_float: bool = False

    @property
    def bytes(self) -> Fraction:
        """Bytes per element, exactly (a 4-bit tensor packs two elements per byte)."""
        return Fraction(self.bits, 8)

    @property
    def significand_bits(self) -> int:
        """Bits of precision: a float's stored mantissa + its implicit bit; an integer's magnitude bits."""
        if self.is_float:
            return FLOAT_FORMATS[self.name][1] + 1
        return self.bits - self.signed

    @property
    def range(self) -> tuple[int, int]:
        """Smallest and largest integer value (integer types only)."""
        if self.is_float:
            raise TypeError(f"{self.name} is a floating-point storage format")
        return value_range(self.bits, self.signed)


def parse_dtype(text: object, *, operand: bool = False) -> DataType | None:
    """The :class:`DataType` named ``text`` (``int8``, ``uint4``, ``fp16``, ...), or None.

    ``operand``: an input or weight, at most 16 bits (outputs may be up to 32).
    """
    dtype = _parse(text) if isinstance(text, str) else None  # (lists and dicts cannot key the cache)
    return None if dtype is None or (operand and dtype.bits > MAX_INT_BITS) else dtype


def dtype_named(text: str, *, operand: bool = False) -> DataType:
    """:func:`parse_dtype` where a format is required (names already checked): else a :class:`SpecError`.

    Examples
    --------
    >>> dtype_named("uint4").range
    (0, 15)
    """
    dtype = parse_dtype(text, operand=operand)
    if dtype is None:
        from .errors import SpecError

        raise SpecError(f"'{text}' is not a number format{' for an operand' if operand else ''} ({TYPE_NAMES})")
    return dtype


@lru_cache(maxsize=256)
def _parse(text: object) -> DataType | None:
    if not isinstance(text, str):
        return None
    if text in FLOAT_BITS:
        return DataType(text, FLOAT_BITS[text], signed=True, is_float=True)
    match = re.fullmatch(r"(u?)int([0-9]{1,2})", text)
    if not match or not 1 <= int(match[2]) <= MAX_OUTPUT_BITS:
        return None
    return DataType(text, int(match[2]), signed=not match[1])


def converts_exactly(dtype: DataType, datapath: str) -> bool:
    """Is every value of ``dtype`` exactly a value of the floating-point format ``datapath``?

    An integer of ``s`` magnitude bits (``intB``: ``B − 1``, ``uintB``: ``B``) converts exactly when
    ``s`` is at most the format's significand (mantissa + 1: fp16 11, bf16 8, fp8_e4m3 4, fp8_e5m2 3;
    the largest magnitude, ``2^(B−1)`` of ``intB``, is a power of two and within every format's
    range). A float converts exactly when neither its exponent nor its mantissa is wider.

    Examples
    --------
    >>> [converts_exactly(parse_dtype(t), "fp16") for t in ("int12", "int13", "uint11", "uint12", "fp8")]
    [True, False, True, False, True]
    >>> [converts_exactly(parse_dtype(t), "bf16") for t in ("int9", "uint8", "fp16", "bf16")]
    [True, True, False, True]
    """
    exponent, mantissa = FLOAT_FORMATS[datapath]
    if not dtype.is_float:
        return dtype.significand_bits <= mantissa + 1
    own_exponent, own_mantissa = FLOAT_FORMATS[dtype.name]
    return own_exponent <= exponent and own_mantissa <= mantissa


def int_type(bits: int, signed: bool = True) -> DataType:
    """The integer type of ``bits`` bits.

    Examples
    --------
    >>> int_type(8).name, int_type(3, signed=False).name
    ('int8', 'uint3')
    """
    return DataType(f"{'' if signed else 'u'}int{bits}", bits, signed)


def fused_bits(datapath_bits: int, bits: int, brick_bits: int = 1) -> int:
    """The narrowest lane width ``datapath_bits / 2^k`` (an integer, at least ``brick_bits``) that holds ``bits``.

    Examples
    --------
    >>> [fused_bits(8, b) for b in (1, 2, 3, 4, 5, 8)]
    [1, 2, 4, 4, 8, 8]
    >>> fused_bits(8, 1, brick_bits=2), fused_bits(6, 2)
    (2, 3)
    """
    width, bits = datapath_bits, max(bits, brick_bits)
    while width % 2 == 0 and width // 2 >= bits:
        width //= 2
    return width


def fusion_factor(arch: ArrayConfig, input_bits: int, weight_bits: int) -> int:
    """MACs a PE performs per cycle on ``input_bits`` × ``weight_bits`` operands.

    ``fusible`` (Bit Fusion): with datapath widths ``Wi = arch.input_bits``, ``Ww = arch.weight_bits``
    and operand widths rounded up to ``bi' = Wi/2^a`` and ``bw' = Ww/2^b`` (:func:`fused_bits`), never
    below the PE's brick (``arch.fusion_brick_bits``, 2 in Bit Fusion), a PE performs
    ``f = (Wi/bi')·(Ww/bw')`` MACs per cycle, on ``f`` consecutive elements of K. Other PE styles
    perform one. An operand wider than the datapath (or below 1 bit) is a
    :class:`~accelsim.errors.MappingError` naming both widths.

    Examples
    --------
    >>> from accelsim.arch import ArrayConfig
    >>> arch = ArrayConfig(rows=2, cols=2, pe_style="fusible")
    >>> fusion_factor(arch, 8, 8), fusion_factor(arch, 4, 8), fusion_factor(arch, 4, 4), fusion_factor(arch, 2, 3)
    (1, 2, 4, 8)
    >>> fusion_factor(arch, 1, 1), fusion_factor(arch.with_changes(fusion_brick_bits=1), 1, 1)
    (16, 64)
    >>> fusion_factor(arch.with_changes(pe_style="parallel"), 4, 4)
    1
    """
    from .errors import MappingError

    widths = []
    for name, bits, datapath in (("input", input_bits, arch.input_bits), ("weight", weight_bits, arch.weight_bits)):
        try:
            width = None if isinstance(bits, bool) else operator.index(bits)  # numpy integers too
        except TypeError:
            width = None
        if width is None or not 1 <= width <= datapath:
            raise MappingError(f"{name} operands of {bits} bits do not fit the array's {datapath}-bit "
                               f"{name} datapath (ArrayConfig.{name}_bits)")
        widths.append(width)
    if arch.pe_style != "fusible":
        return 1
    brick = arch.fusion_brick_bits
    return (arch.input_bits // fused_bits(arch.input_bits, widths[0], brick)) * \
        (arch.weight_bits // fused_bits(arch.weight_bits, widths[1], brick))
