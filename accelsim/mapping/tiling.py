"""Buffer-fitted tiling: the temporal chunk a mapping streams so its tiles fit half of each buffer.

Three double-buffered SRAMs (ifmap holds I, filter holds W, ofmap holds outputs and partial sums);
a tile must fit **half** of its buffer so the next one can arrive meanwhile. Stationary dataflows
keep the partial sums of an output tile in the ofmap buffer across the K folds; when they do not
fit, the temporal dimension is streamed in chunks (``Mapping.temporal_tile``), which reloads the
stationary tiles once per chunk. A stationary tile or one output row that cannot fit at all is a
:class:`~accelsim.errors.MappingError`. Derivations: ``docs/memory.md``.
"""

from __future__ import annotations

import math
from fractions import Fraction
from functools import lru_cache

from ..arch import ArrayConfig
from ..counts import BUFFER
from ..errors import MappingError


def half_buffer(arch: ArrayConfig, operand: str) -> Fraction:
    """Bytes of half the buffer that holds ``operand`` (I, W or O)."""
    return _half_bytes(getattr(arch.memory, f"{BUFFER[operand]}_kib"))


@lru_cache(maxsize=1024)
def _half_bytes(kib: float) -> Fraction:
    return Fraction(kib) * 512


def require_fit(name: str, arch: ArrayConfig, what: str, op: str, nbytes: Fraction) -> None:
    """Raise :class:`MappingError` unless ``nbytes`` fit half of ``op``'s buffer."""
    if nbytes > half_buffer(arch, op):
        raise MappingError(f"layer '{name}': {what} needs {round(nbytes):,} bytes but half of the "
                           f"{BUFFER[op]} buffer is {round(half_buffer(arch, op)):,} bytes "
                           f"(memory.{BUFFER[op]}_kib = {getattr(arch.memory, BUFFER[op] + '_kib'):g})")


def fit_temporal_tile(mapping, name: str) -> int | None:
    """The temporal chunk that fits the buffers (None: the whole temporal dimension), or MappingError.

    ``mapping`` is a :class:`~accelsim.mapping.mapping.Mapping` with its precision resolved.
    """
    df, arch, prec = mapping.dataflow, mapping.arch, mapping.precision
    size = {d: max(1, mapping.size(d)) for d in ("M", "N", "K")}  # all-zero weights skipped: still one row
    rt, ct = min(arch.rows, size[df.rows]), min(arch.cols, size[df.cols])
    if df.mode != "stationary":
        require_fit(name, arch, f"a {rt}x{ct} output tile", "O", rt * ct * prec.bytes("O"))
        return None
    stat, strm = df.stationary, df.left
    X, T = df.cols, df.temporal
    inner = df.loop_order[1]
    require_fit(name, arch, f"a {rt}x{ct} stationary tile of {stat}", stat, rt * ct * prec.stored_bytes(stat))
    psum_cols = ct if inner == "K" else size[X]  # partial sums that must stay resident
    require_fit(name, arch, f"one row of {psum_cols} partial sums", "O", psum_cols * prec.bytes("P"))
    t = min(size[T], math.floor(half_buffer(arch, "O") / (psum_cols * prec.bytes("P"))),
            max(1, math.floor(half_buffer(arch, strm) / (mapping.stream_words(rt, 1) * prec.bytes(strm)))))
    return t if t < size[T] else None
