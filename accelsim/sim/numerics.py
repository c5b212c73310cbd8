"""The one definition of the array's arithmetic, shared by the engines and the RTL testbenches.

Operands are ``input_bits``/``weight_bits`` wide, two's complement when ``signed``. Products are
exact. Every addition into an accumulator (a PE's partial sum, or the accumulator that adds the
partial sums of successive folds) is reduced to ``acc_bits`` by wrapping or saturating.
"""

from __future__ import annotations

import numpy as np

from ..arch import ArrayConfig
from ..precision import value_range


def wrap(x: np.ndarray, bits: int, signed: bool) -> np.ndarray:
    """Keep the low ``bits`` bits of ``x`` (two's complement if signed).

    Examples
    --------
    >>> wrap(np.array([127, 128, -129]), 8, True).tolist()
    [127, -128, 127]
    """
    x = np.asarray(x, dtype=np.int64)
    low = x & ((1 << bits) - 1)
    if signed:
        low = np.where(low >= (1 << (bits - 1)), low - (1 << bits), low)
    return low


def saturate(x: np.ndarray, bits: int, signed: bool) -> np.ndarray:
    """Clamp ``x`` to the range of a ``bits``-wide integer.

    Examples
    --------
    >>> saturate(np.array([127, 128, -129]), 8, True).tolist()
    [127, 127, -128]
    """
    lo, hi = value_range(bits, signed)
    return np.clip(np.asarray(x, dtype=np.int64), lo, hi)


def accumulate(acc: np.ndarray, addend: np.ndarray, arch: ArrayConfig) -> np.ndarray:
    """``acc + addend`` reduced to the accumulator width as ``arch.overflow`` says."""
    total = np.asarray(acc, dtype=np.int64) + np.asarray(addend, dtype=np.int64)
    reduce = saturate if arch.overflow == "saturate" else wrap
    return reduce(total, arch.acc_bits, arch.signed)


def operand_ranges(arch: ArrayConfig, input_bits: int | None = None,
                   weight_bits: int | None = None) -> dict[str, tuple[int, int]]:
    """Value ranges of the input (I) and weight (W) operands (the arch's widths unless given)."""
    return {"I": value_range(input_bits or arch.input_bits, arch.signed),
            "W": value_range(weight_bits or arch.weight_bits, arch.signed)}


def check_operands(inputs: np.ndarray, weights: np.ndarray, arch: ArrayConfig, *,
                   input_bits: int | None = None, weight_bits: int | None = None) -> None:
    """Raise ValueError if an operand value does not fit its width.

    The widths are the arch's unless ``input_bits``/``weight_bits`` (a layer's narrower widths) are given.
    """
    ranges = operand_ranges(arch, input_bits, weight_bits)
    for name, x in (("I", inputs), ("W", weights)):
        lo, hi = ranges[name]
        if x.size and (x.min() < lo or x.max() > hi):
            raise ValueError(f"operand {name} has values outside [{lo}, {hi}]")


def random_operands(rng: np.random.Generator, m: int, n: int, k: int, arch: ArrayConfig,
                    extremes: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Random ``I[m×k]`` and ``W[k×n]`` in range; a fraction ``extremes`` are the range's ends."""
    out = []
    for name, shape in (("I", (m, k)), ("W", (k, n))):
        lo, hi = operand_ranges(arch)[name]
        x = rng.integers(lo, hi, size=shape, endpoint=True, dtype=np.int64)
        if extremes:
            pick = rng.random(shape) < extremes
            x[pick] = rng.choice(np.array([lo, hi]), size=int(pick.sum()))
        out.append(x)
    return out[0], out[1]


def expected_gemm(inputs: np.ndarray, weights: np.ndarray, arch: ArrayConfig,
                  chunk: int | None) -> np.ndarray:
    """The exact result the array produces for ``inputs @ weights``.

    The reduction runs in order of k. With ``chunk`` (the array rows, when K is spread over them)
    each chunk of K is summed from zero in the PEs and the chunk sums are then added into the
    accumulator; with ``chunk=None`` (K temporal) one accumulator sums everything. With wrap-around
    arithmetic the order does not matter and this equals ``(inputs @ weights) mod 2**acc_bits``.
    """
    inputs = np.asarray(inputs, dtype=np.int64)
    weights = np.asarray(weights, dtype=np.int64)
    m, k = inputs.shape
    chunk = chunk or max(k, 1)
    total = np.zeros((m, weights.shape[1]), dtype=np.int64)
    for k0 in range(0, k, chunk):
        part = np.zeros_like(total)
        for kk in range(k0, min(k, k0 + chunk)):
            part = accumulate(part, np.outer(inputs[:, kk], weights[kk]), arch)
        total = accumulate(total, part, arch) if k0 else part
    return total
