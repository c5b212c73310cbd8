"""Number formats of tensors: integers of 1–16 bits, and fp16, bf16, fp8 as storage formats.

A layer says what its tensors *are* (:class:`DataType` per operand); the array says what its
datapath *supports* (``ArrayConfig.input_bits``/``weight_bits``/``signed``). The rule that joins
them is in :func:`accelsim.mapping.plan.resolve_precision` and ``docs/precision.md``.

Examples
--------
>>> parse_dtype("int4").range, parse_dtype("uint4").range
((-8, 7), (0, 15))
>>> parse_dtype("bf16").bits, parse_dtype("bf16").is_float
(16, True)
"""

from __future__ import annotations

import re
from functools import lru_cache
from dataclasses import dataclass
from fractions import Fraction

MAX_INT_BITS = 16  # operands (inputs, weights)
MAX_OUTPUT_BITS = 32  # outputs may keep the accumulator's width
FLOAT_BITS = {"fp32": 32, "fp16": 16, "bf16": 16, "fp8": 8}
TYPE_NAMES = "int1..int16, uint1..uint16, fp16, bf16, fp8; outputs also up to int32 and fp32"


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
    def range(self) -> tuple[int, int]:
        """Smallest and largest integer value (integer types only)."""
        if self.is_float:
            raise TypeError(f"{self.name} is a floating-point storage format")
        if self.signed:
            return -(1 << (self.bits - 1)), (1 << (self.bits - 1)) - 1
        return 0, (1 << self.bits) - 1


def parse_dtype(text: object, *, operand: bool = False) -> DataType | None:
    """The :class:`DataType` named ``text`` (``int8``, ``uint4``, ``fp16``, ...), or None.

    ``operand``: an input or weight, at most 16 bits (outputs may be up to 32).
    """
    dtype = _parse(text) if isinstance(text, str) else None  # (lists and dicts cannot key the cache)
    return None if dtype is None or (operand and dtype.bits > MAX_INT_BITS) else dtype


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


def int_type(bits: int, signed: bool = True) -> DataType:
    """The integer type of ``bits`` bits.

    Examples
    --------
    >>> int_type(8).name, int_type(3, signed=False).name
    ('int8', 'uint3')
    """
    return DataType(f"{'' if signed else 'u'}int{bits}", bits, signed)
