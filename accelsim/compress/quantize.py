"""Uniform integer quantization (symmetric or asymmetric, per tensor or per channel) and its error (SQNR).

With ``[lo, hi]`` the integer range of the type:

- **symmetric** (signed types, ≥ 2 bits): ``scale = max|w| / (2**(b−1) − 1)``, ``zero_point = 0``,
  ``q = clip(round(w / scale), −(2**(b−1) − 1), 2**(b−1) − 1)`` — the range is symmetric, so
  ``−2**(b−1)`` is unused and ``−w`` quantizes to ``−q``;
- **asymmetric**: the range ``[min(w, 0), max(w, 0)]`` (zero always included, so pruned zeros stay
  exactly zero) maps onto ``[lo, hi]``: ``scale = (max − min) / (hi − lo)``,
  ``zero_point = round(lo − min / scale)``, ``q = clip(round(w / scale) + zero_point, lo, hi)``.

``dequantize`` gives ``(q − zero_point) · scale``; every element is within ``scale / 2`` of ``w``
(rounding is half-to-even, numpy's ``rint``). An all-zero tensor or channel gets ``scale = 1``.
Per channel means one scale (and zero point) per index of ``axis`` (0: the output channel of the
OIHW and ``(out, in)`` layouts).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import SpecError, UnsupportedError
from ..precision import parse_dtype

MAX_BITS = 16  # tensors are quantized to operand types (int1..int16, as the datapath takes)
INT_TYPE_NAMES = "int1..int16, uint1..uint16"


@dataclass(frozen=True, eq=False)
class Quantized:
    """Integer ``values`` with ``scale`` and ``zero_point`` (scalars, or one per index of ``axis``)."""

    values: np.ndarray
    scale: np.ndarray
    zero_point: np.ndarray
    dtype: str
    axis: int | None = None

    def _broadcast(self, a: np.ndarray) -> np.ndarray:
        if self.axis is None or a.ndim == 0:
            return a
        shape = [1] * self.values.ndim
        shape[self.axis] = a.size
        return a.reshape(shape)


def _storage(bits: int, signed: bool):
    if bits <= 8:
        return np.int8 if signed else np.uint8
    return np.int16 if signed else np.uint16


def quantize(w, dtype: str, *, symmetric: bool = True, per_channel: bool = False, axis: int = 0) -> Quantized:
    """Quantize float ``w`` to the integer type ``dtype`` (``"int4"``, ``"uint8"``, ...).

    Examples
    --------
    >>> import numpy as np
    >>> q = quantize(np.array([-1.0, 0.0, 0.5, 2.0]), "uint2", symmetric=False)
    >>> q.values.tolist(), float(q.scale), int(q.zero_point)
    ([0, 1, 1, 3], 1.0, 1)
    >>> q = quantize(np.array([[1.0, -2.0], [0.1, 0.2]]), "int8", per_channel=True)
    >>> q.values.tolist(), q.scale.shape
    ([[64, -127], [63, 127]], (2,))
    """
    t = parse_dtype(dtype)
    if t is None or (not t.is_float and t.bits > MAX_BITS):
        raise SpecError(f"unknown type {dtype!r}; integer types are {INT_TYPE_NAMES}")
    if t.is_float:
        raise UnsupportedError(f"quantizing to {t.name} is not supported (a cast, not an integer quantization); "
                               "use an integer type such as int8")
    a = np.asarray(w)
    if not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
        raise SpecError(f"weights must be integers or floats, not {a.dtype}")
    a = a.astype(np.float64)
    if not np.isfinite(a).all():
        raise SpecError("weights contain NaN or infinity")
    lo, hi = t.range
    if symmetric and (not t.signed or t.bits < 2):
        raise SpecError(f"symmetric quantization needs a signed type of at least 2 bits, not {t.name} "
                        "(use asymmetric quantization)")
    if per_channel:
        if a.ndim == 0:
            raise SpecError("per-channel quantization needs an array with a channel axis, not a scalar")
        if not -a.ndim <= axis < a.ndim:
            raise SpecError(f"axis {axis} is out of range for an array of {a.ndim} dimensions")
        channel: int | None = axis % a.ndim
        reduce: tuple[int, ...] | None = tuple(i for i in range(a.ndim) if i != channel)
    else:
        channel, reduce = None, None
    if a.size == 0:
        mn = mx = np.zeros(() if channel is None else [a.shape[i] if i == channel else 1 for i in range(a.ndim)])
    else:
        keepdims = channel is not None
        mn = np.minimum(a.min(axis=reduce, keepdims=keepdims), 0.0)
        mx = np.maximum(a.max(axis=reduce, keepdims=keepdims), 0.0)
    if symmetric:
        qmax = hi
        scale = np.maximum(-mn, mx) / qmax
        scale = np.where(scale > 0, scale, 1.0)
        zero = np.zeros_like(scale, dtype=np.int64)
        q = np.clip(np.rint(a / scale), -qmax, qmax)
    else:
        scale = (mx - mn) / (hi - lo)
        scale = np.where(scale > 0, scale, 1.0)
        zero = np.clip(np.rint(lo - mn / scale), lo, hi).astype(np.int64)
        q = np.clip(np.rint(a / scale) + zero, lo, hi)
    shape = (-1,) if channel is not None else ()
    return Quantized(q.astype(_storage(t.bits, t.signed)), np.asarray(scale).reshape(shape).astype(np.float64),
                     np.asarray(zero).reshape(shape).astype(np.int64), t.name, channel)


def dequantize(q: Quantized) -> np.ndarray:
    """``(values − zero_point) · scale`` as float64.

    Examples
    --------
    >>> import numpy as np
    >>> dequantize(quantize(np.array([0.0, 0.5, -1.0]), "int8")).tolist() == [0.0, 64 / 127, -1.0]
    True
    """
    return (q.values.astype(np.float64) - q._broadcast(q.zero_point)) * q._broadcast(q.scale)


def sqnr_db(reference, approx) -> float:
    """Signal-to-quantization-noise ratio ``10·log10(Σ reference² / Σ (reference − approx)²)`` in dB.

    ``inf`` when ``approx`` equals ``reference`` exactly; ``-inf`` for a zero reference with noise.

    Examples
    --------
    >>> sqnr_db([1.0, 1.0], [1.0, 1.0]), round(sqnr_db([1.0, 1.0], [1.1, 0.9]), 3)
    (inf, 20.0)
    """
    r, a = np.asarray(reference, dtype=np.float64), np.asarray(approx, dtype=np.float64)
    if r.shape != a.shape:
        raise SpecError(f"SQNR compares arrays of one shape, not {list(r.shape)} and {list(a.shape)}")
    noise = float(np.sum((r - a) ** 2))
    if noise == 0.0:
        return math.inf
    signal = float(np.sum(r ** 2))
    return 10.0 * math.log10(signal / noise) if signal > 0 else -math.inf
