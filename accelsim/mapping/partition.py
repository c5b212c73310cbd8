"""Partitioning a layer across cores: split output rows (M), output channels (N) or the reduction (K).

A split gives each core a part that is itself a :class:`~accelsim.workload.layer.Layer`, so each
core's part is mapped, timed and counted by the one single-array plan (``Mapping``, the memory
model) with nothing re-derived. Parts are balanced (sizes differ by at most one) and their MACs add
up to the layer's exactly. What each split costs beyond its parts (a shared operand read by every
core, the K split's partial-sum reduction) is the schedule's to price (``docs/multicore.md``).

* ``M``: batch × output positions. A conv splits its batch when it has at least one image per
  core, else its output rows (each part reads the input rows its rows need, halo included); a
  linear layer splits its tokens; a matmul its independent products (heads × batch) when there are
  enough, else its rows.
* ``N``: output channels (a grouped or depthwise conv splits whole groups).
* ``K``: input channels or features (not for grouped convolutions: their groups are N).
* ``MN``: a grid of ``pm × pn`` parts, M split ``pm`` ways and each of those N ``pn`` ways (as a GPU
  tiles a GEMM's output over its SMs); ``pm`` is the divisor of the core count nearest
  ``√(parts · M / N)``, which makes each part's operands, ``M/pm · K + K · N/pn``, smallest.

Examples
--------
>>> from accelsim.workload.layer import Layer
>>> conv = Layer("c", "conv2d", in_shapes=((64, 56, 56),), out=64, kernel=(3, 3), padding=(1, 1, 1, 1))
>>> [p.gemm.M for p in split_layer(conv, "M", 4)], sum(p.macs for p in split_layer(conv, "M", 4)) == conv.macs
([784, 784, 784, 784], True)
>>> [p.out for p in split_layer(conv, "N", 3)]
[22, 21, 21]
"""

from __future__ import annotations

import math
from dataclasses import replace
from functools import lru_cache

from ..workload.layer import Layer

SPLITS = ("M", "N", "K", "MN")


def balanced(size: int, parts: int) -> tuple[int, ...]:
    """``size`` in at most ``parts`` non-empty pieces differing by at most one.

    Examples
    --------
    >>> balanced(10, 4), balanced(3, 8)
    ((3, 3, 2, 2), (1, 1, 1))
    """
    q, r = divmod(size, parts)
    return tuple(q + 1 for _ in range(r)) + tuple(q for _ in range(parts - r) if q)


@lru_cache(maxsize=4096)  # a design-space run splits the same layers for every point
def split_layer(layer: Layer, dim: str, parts: int) -> tuple[Layer, ...] | None:
    """The parts of a GEMM layer split ``parts`` ways along ``dim`` (None: it cannot split that way)."""
    if parts == 1:
        return (layer,)
    if dim == "MN":
        return _grid(layer, parts)
    if layer.kind == "conv2d":
        return _conv(layer, dim, parts)
    if layer.kind == "linear":
        return _linear(layer, dim, parts)
    if layer.kind == "matmul":
        return _matmul(layer, dim, parts)
    return None


def _conv(layer: Layer, dim: str, parts: int) -> tuple[Layer, ...] | None:
    c, h, w = layer.in_shapes[0]
    g = layer.groups
    if dim == "M":
        if layer.batch >= parts:
            return tuple(_part(layer, batch=b) for b in balanced(layer.batch, parts))
        rows = layer.out_shape[1]
        if rows < 2:
            return None
        (kr, _), (sr, _), (dr, _) = layer.kernel, layer.stride, layer.dilation
        _, left, _, right = layer.padding
        # each part's output rows read (rows - 1)·stride + span input rows, halo included (no padding: the
        # widest part, as a conservative part for every core)
        return tuple(_part(layer, in_shapes=((c, (p - 1) * sr + dr * (kr - 1) + 1, w),),
                             padding=(0, left, 0, right)) for p in balanced(rows, parts))
    if dim == "N":
        if g == 1:
            return tuple(_part(layer, out=n) for n in balanced(layer.out, parts)) if layer.out >= 2 else None
        cg, kg = c // g, layer.out // g
        return tuple(_part(layer, in_shapes=((n * cg, h, w),), out=n * kg, groups=n)
                     for n in balanced(g, parts)) if g >= 2 else None
    if dim == "K" and g == 1 and c >= 2:
        return tuple(_part(layer, in_shapes=((k, h, w),)) for k in balanced(c, parts))
    return None


def _linear(layer: Layer, dim: str, parts: int) -> tuple[Layer, ...] | None:
    shape = layer.in_shapes[0]
    tokens, features = layer.batch * math.prod(shape[:-1]), shape[-1]
    if dim == "M" and tokens >= 2:
        return tuple(_part(layer, in_shapes=((m, features),), batch=1) for m in balanced(tokens, parts))
    if dim == "N" and layer.out >= 2:
        return tuple(_part(layer, out=n) for n in balanced(layer.out, parts))
    if dim == "K" and features >= 2:
        return tuple(_part(layer, in_shapes=((*shape[:-1], k),)) for k in balanced(features, parts))
    return None


def _matmul(layer: Layer, dim: str, parts: int) -> tuple[Layer, ...] | None:
    a, b = layer.in_shapes
    lead = layer.out_shape[:-2]
    count = layer.batch * math.prod(lead)
    M, K = a[-2], a[-1]
    if dim == "M":
        shared_b = math.prod(b[:-2]) == 1
        if count >= parts and (shared_b or math.prod(b[:-2]) == math.prod(lead)) and math.prod(a[:-2]) == math.prod(
                lead):
            if shared_b and layer.batch == 1:  # one weight-like operand for every product: keep it whole
                return tuple(_part(layer, in_shapes=((n, M, K), b)) for n in balanced(count, parts))
            if not shared_b:
                return tuple(_part(layer, in_shapes=((n, M, K), (n, *b[-2:])), batch=1)
                             for n in balanced(count, parts))
        if M >= 2:
            return tuple(_part(layer, in_shapes=((*a[:-2], m, K), b)) for m in balanced(M, parts))
        return None
    if dim == "N":
        n_axis = -2 if layer.transpose_b else -1
        if b[n_axis] < 2:
            return None
        return tuple(_part(layer, in_shapes=(a, _with(b, n_axis, n))) for n in balanced(b[n_axis], parts))
    if dim == "K" and K >= 2:
        k_axis = -1 if layer.transpose_b else -2
        return tuple(_part(layer, in_shapes=(_with(a, -1, k), _with(b, k_axis, k))) for k in balanced(K, parts))
    return None


def _grid(layer: Layer, parts: int) -> tuple[Layer, ...] | None:
    gemm = layer.gemm
    if gemm is None:
        return None
    ideal = math.sqrt(parts * gemm.M / gemm.N)
    divisors = [d for d in range(2, parts // 2 + 1) if parts % d == 0]
    if not divisors:
        return None
    pm = min(divisors, key=lambda d: (abs(math.log(d / ideal)), d))
    rows = split_layer(layer, "M", pm)
    if rows is None or len(rows) < 2:
        return None
    grid = [split_layer(row, "N", parts // pm) for row in rows]
    if any(cols is None or len(cols) < 2 for cols in grid):
        return None
    return tuple(part for cols in grid for part in cols or ())


@lru_cache(maxsize=65536)  # 432 cores take at most two distinct parts: make each once
def _replaced(layer: Layer, changes: tuple) -> Layer:
    return replace(layer, **dict(changes))


def _part(layer: Layer, **changes) -> Layer:
    return _replaced(layer, tuple(sorted(changes.items())))


def _with(shape: tuple[int, ...], axis: int, value: int) -> tuple[int, ...]:
    out = list(shape)
    out[axis] = value
    return tuple(out)
