"""`Layer`: one operator of a network, its shapes, and its canonical loop nest.

Every layer, whatever its kind, is described by the same seven-plus-one loop bounds
``B G K C P Q R S`` (batch, groups, output channels per group, input channels per group,
output rows, output columns, filter rows, filter columns):

============  =========================================================================
kind          loop nest
============  =========================================================================
conv2d        as written (depthwise: ``G = channels, K = C = 1``)
linear        ``K = out_features, C = in_features, P = tokens`` (leading dims)
matmul        ``G = leading dims (heads), P = M, K = N, C = reduction``; no weights
pool          ``G = channels, K = C = 1``, window ``R × S``
eltwise etc.  ``P = elements``, others 1
============  =========================================================================

``reshape`` and ``concat`` move data only (0 cycles); ``placeholder`` stands for an operator an
importer could not map (0 cycles, listed in reports).

GEMM-like layers also have a :class:`GemmView` (``count`` independent ``M×K · K×N`` products),
which is what a systolic array runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from functools import cached_property
from typing import Any

from ..specio import Fields, printable

FORMAT_VERSION = 1
GEMM_KINDS = ("conv2d", "linear", "matmul")
KINDS = (*GEMM_KINDS, "pool", "eltwise", "reshape", "concat", "placeholder")
POOL_OPS = ("max", "avg", "global_avg")
# Elementwise operations, as the number of vector-unit operations per output element. These are
# the cost model's assumptions for a simple SIMD unit (one op per lane per cycle), not measurements:
# softmax = max, subtract, exp, sum, divide; layernorm = mean, subtract, square, mean, rsqrt,
# multiply, scale+shift; rmsnorm drops the mean and shift; gelu/silu use a polynomial/sigmoid;
# lrn = 5-wide sum of squares, scale, power. A binary op with one input has a constant operand.
ELTWISE_OPS: dict[str, int] = {
    "add": 1, "sub": 1, "mul": 1, "relu": 1, "relu6": 1, "copy": 1,
    "batchnorm": 2, "sigmoid": 4, "silu": 4, "tanh": 4, "hardswish": 3, "gelu": 8,
    "softmax": 5, "layernorm": 7, "rmsnorm": 5, "rope": 3, "lrn": 8,
}
LOOP_DIMS = ("B", "G", "K", "C", "P", "Q", "R", "S")
# Counts are exact Python integers of any size, but a tensor beyond 64-bit element counts is a typo,
# not a network; the bound also keeps every derived count (MACs, cycles, bytes) to a few dozen digits.
MAX_ELEMENTS = 2**64
Shape = tuple[int, ...]


@dataclass(frozen=True)
class GemmView:
    """``count`` independent GEMMs ``O[M×N] = I[M×K] · W[K×N]``.

    Examples
    --------
    >>> GemmView(M=4, N=3, K=2).macs
    24
    """

    M: int
    N: int
    K: int
    count: int = 1

    @property
    def macs(self) -> int:
        return self.count * self.M * self.N * self.K


@dataclass(frozen=True)
class Layer:
    """One operator with resolved input shapes (batch excluded; ``batch`` is separate).

    Parameters
    ----------
    name, kind, op
        ``kind`` is one of :data:`KINDS`; ``op`` refines it (pool: max/avg/global_avg;
        eltwise: a key of :data:`ELTWISE_OPS`).
    in_shapes
        Shape of each input tensor: conv2d/pool take ``(C, H, W)``; linear ``(..., features)``;
        matmul two tensors ``(..., M, K)`` and ``(..., K, N)`` (``(..., N, K)`` with ``transpose_b``).
    out
        Output channels (conv2d) or features (linear).
    kernel, stride, dilation
        ``(rows, cols)`` pairs; padding is ``(top, left, bottom, right)``.
    shape, axis
        Target shape of a reshape (or output shape of a placeholder); concatenation axis of a concat.
    input_bits, weight_bits, output_bits
        Precision of each operand.
    input_density, weight_density, weight_structure
        Sparsity: fraction of non-zeros, and an optional ``"N:M"`` structure of the weights.

    Examples
    --------
    >>> conv = Layer("c1", "conv2d", in_shapes=((3, 224, 224),), out=64, kernel=(7, 7),
    ...              stride=(2, 2), padding=(3, 3, 3, 3))
    >>> conv.out_shape, conv.macs, conv.params
    ((64, 112, 112), 118013952, 9408)
    >>> conv.gemm
    GemmView(M=12544, N=64, K=147, count=1)
    """

    name: str
    kind: str
    in_shapes: tuple[Shape, ...]
    op: str = ""
    batch: int = 1
    out: int = 0
    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int, int, int] = (0, 0, 0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1
    bias: bool = False
    transpose_b: bool = False
    shape: Shape = ()
    axis: int = 0
    input_bits: int = 8
    weight_bits: int = 8
    output_bits: int = 8
    input_density: float = 1.0
    weight_density: float = 1.0
    weight_structure: str = ""

    def __post_init__(self):
        if not self.op and self.kind not in ("pool", "eltwise"):
            object.__setattr__(self, "op", self.kind)
        object.__setattr__(self, "in_shapes", tuple(tuple(s) for s in self.in_shapes))
        for name in ("kernel", "stride", "padding", "dilation", "shape"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if self.kind == "pool" and self.op == "global_avg" and _shapes_ok(self.in_shapes) and len(self.in_shapes[0]) == 3:
            object.__setattr__(self, "kernel", self.in_shapes[0][1:])  # the window is the whole map
        f = Fields(self.to_dict(versioned=False), where=f"layer '{printable(str(self.name))}'")
        _check(self, f)

    # -- derived shapes ---------------------------------------------------------------------
    @cached_property
    def out_shape(self) -> Shape:
        """Output tensor shape (batch excluded)."""
        return _out_shape(self)

    @cached_property
    def loops(self) -> dict[str, int]:
        """The canonical loop bounds ``B G K C P Q R S``."""
        k, ins, out = self.kind, self.in_shapes, self.out_shape
        one = dict.fromkeys(LOOP_DIMS, 1) | {"B": self.batch}
        if k == "conv2d":
            return one | dict(G=self.groups, K=self.out // self.groups, C=ins[0][0] // self.groups,
                              P=out[1], Q=out[2], R=self.kernel[0], S=self.kernel[1])
        if k == "linear":
            return one | dict(K=self.out, C=ins[0][-1], P=math.prod(ins[0][:-1]))
        if k == "matmul":
            return one | dict(G=math.prod(out[:-2]), P=out[-2], K=out[-1], C=ins[0][-1])
        if k == "pool":
            return one | dict(G=out[0], P=out[1], Q=out[2], R=self.kernel[0], S=self.kernel[1])
        return one | dict(P=math.prod(out))

    @cached_property
    def gemm(self) -> GemmView | None:
        """The GEMM a systolic array runs for this layer, or None for non-GEMM layers."""
        d = self.loops
        if self.kind == "matmul":  # both operands differ per batch and head
            return GemmView(M=d["P"], N=d["K"], K=d["C"], count=d["B"] * d["G"])
        if self.kind in GEMM_KINDS:  # weights shared across the batch: fold it into M
            return GemmView(M=d["B"] * d["P"] * d["Q"], N=d["K"], K=d["C"] * d["R"] * d["S"],
                            count=d["G"])
        return None

    @property
    def macs(self) -> int:
        """Multiply-accumulates (0 for non-GEMM layers)."""
        return self.gemm.macs if self.gemm else 0

    @property
    def params(self) -> int:
        """Weight and bias elements (0 for layers without weights)."""
        d = self.loops
        if self.kind == "conv2d":
            return d["G"] * d["K"] * (d["C"] * d["R"] * d["S"] + self.bias)
        if self.kind == "linear":
            return d["K"] * (d["C"] + self.bias)
        return 0

    @property
    def vector_ops(self) -> int:
        """Operations on the vector unit (pooling windows, elementwise work)."""
        d = self.loops
        if self.kind == "pool":
            return d["B"] * d["G"] * d["P"] * d["Q"] * d["R"] * d["S"]
        if self.kind == "eltwise":
            return self.batch * math.prod(self.out_shape) * ELTWISE_OPS[self.op] * max(1, len(self.in_shapes) - 1)
        return 0

    @property
    def shape_text(self) -> str:
        """A short human description of the layer's shape.

        Examples
        --------
        >>> Layer("attn", "matmul", in_shapes=((12, 128, 64), (12, 64, 128))).shape_text
        '12 x (128x64 @ 64x128)'
        >>> Layer("fc", "linear", in_shapes=((128, 64),), out=10).shape_text
        '128x64 @ 64x10'
        """
        d = self.loops
        if self.kind == "conv2d":
            g = f" g{d['G']}" if d["G"] > 1 else ""
            return (f"{self.in_shapes[0][0]}x{self.in_shapes[0][1]}x{self.in_shapes[0][2]}"
                    f" -> {self.out}@{d['R']}x{d['S']}/{self.stride[0]}{g}")
        if self.gemm is not None:  # the GEMM view: M×K · K×N, times count independent products
            gm = self.gemm
            product = f"{gm.M}x{gm.K} @ {gm.K}x{gm.N}"
            return f"{gm.count} x ({product})" if gm.count > 1 else product
        return "x".join(map(str, self.out_shape))

    # -- I/O --------------------------------------------------------------------------------
    def to_dict(self, versioned: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {"version": FORMAT_VERSION} if versioned else {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, tuple):
                value = [list(v) if isinstance(v, tuple) else v for v in value]
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: Any, *, file: str | None = None, where: str = "layer") -> "Layer":
        """Build from :meth:`to_dict` output; unknown keys or bad values raise :class:`SpecError`."""
        f = Fields(data, where=where, file=file)
        f.int("version", FORMAT_VERSION)
        kwargs = {fd.name: f.raw(fd.name) for fd in fields(cls) if f.has(fd.name)}
        f.done()
        if not _shapes_ok(kwargs.get("in_shapes")):
            raise f.error("in_shapes" if f.has("in_shapes") else None,
                          "must be a list of shapes (lists of positive integers)")
        try:
            return cls(**kwargs)
        except TypeError as err:  # a required field is missing
            raise f.error(None, str(err).split(") ", 1)[-1]) from None


def _shapes_ok(shapes: Any) -> bool:
    return (isinstance(shapes, (list, tuple)) and len(shapes) > 0 and all(
        isinstance(s, (list, tuple)) and len(s) > 0
        and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in s) for s in shapes))


def read_layer_fields(f: Fields) -> dict[str, Any]:
    """Read every field of a layer except its input shapes (shared by Layer and the YAML format)."""
    kind = f.str("kind", choices=KINDS)
    kw: dict[str, Any] = dict(name=f.str("name"), kind=kind, batch=f.int("batch", 1))
    if kind == "pool":
        kw["op"] = f.str("op", choices=POOL_OPS)
    elif kind == "eltwise":
        kw["op"] = f.str("op", choices=ELTWISE_OPS)
    else:
        kw["op"] = f.str("op", kind)
    if kind == "conv2d":
        kw["out"] = f.int("out_channels") if f.has("out_channels") else f.int("out")
        kw["groups"] = f.int("groups", 1)
    if kind == "linear":
        kw["out"] = f.int("out_features") if f.has("out_features") else f.int("out")
    if kind in ("conv2d", "pool") and not (kind == "pool" and kw["op"] == "global_avg"):
        kw["kernel"] = f.int_tuple("kernel", 2, 1)
        kw["stride"] = f.int_tuple("stride", 2, 1)
        pad = f.int_tuple("padding", (2, 4), 0, minimum=0)
        kw["padding"] = pad * 2 if len(pad) == 2 else (pad[0], pad[1], pad[2], pad[3])
        kw["dilation"] = f.int_tuple("dilation", 2, 1)
    elif kind == "pool":
        kw["kernel"] = f.int_tuple("kernel", 2, 1)
    if kind in ("conv2d", "linear"):
        kw["bias"] = f.bool("bias", False)
    if kind == "matmul":
        kw["transpose_b"] = f.bool("transpose_b", False)
    if kind in ("reshape", "placeholder"):
        kw["shape"] = f.int_tuple("shape", tuple(range(1, 9)))
    if kind == "concat":
        kw["axis"] = f.int("axis", 0, minimum=0)
    for name in ("input_bits", "weight_bits", "output_bits"):
        kw[name] = f.int(name, 8)
        if kw[name] > 64:
            raise f.error(name, f"must be at most 64, not {kw[name]}")
    kw["input_density"] = f.number("input_density", 1.0, low=0.0, high=1.0)
    kw["weight_density"] = f.number("weight_density", 1.0, low=0.0, high=1.0)
    kw["weight_structure"] = f.raw("weight_structure", "")
    if kw["weight_structure"] and _parse_nm(kw["weight_structure"]) is None:
        raise f.error("weight_structure", f"must be 'N:M' with 0 < N ≤ M, not '{kw['weight_structure']}'")
    return kw


def _parse_nm(text: Any) -> tuple[int, int] | None:
    if not isinstance(text, str) or text.count(":") != 1:
        return None
    n, m = text.split(":")
    if not (n.isdigit() and m.isdigit()) or not 0 < int(n) <= int(m):
        return None
    return int(n), int(m)


def _check(layer: Layer, f: Fields) -> None:
    """Validate a constructed layer; shape problems are :class:`SpecError` naming the field."""
    read_layer_fields(f)  # the same field checks as the YAML reader
    if not _shapes_ok(layer.in_shapes):
        raise f.error("in_shapes", "must be a non-empty list of shapes of positive integers")
    arity = {"conv2d": 1, "linear": 1, "pool": 1, "reshape": 1, "matmul": 2}
    want = arity.get(layer.kind)
    got = len(layer.in_shapes)
    if want and got != want:
        raise f.error("in_shapes", f"a {layer.kind} layer takes {want} input(s), not {got}")
    if layer.kind == "concat" and got < 2:
        raise f.error("in_shapes", f"a concat takes at least 2 inputs, not {got}")
    try:
        out = _out_shape(layer)
    except _ShapeError as err:
        raise f.error(err.field, str(err)) from None
    tensors = [("in_shapes", f"input {i} ({layer.batch} × {list(s)})", layer.batch * math.prod(s))
               for i, s in enumerate(layer.in_shapes)]
    tensors += [("in_shapes", f"the output ({layer.batch} × {list(out)})", layer.batch * math.prod(out)),
                ("out", "the weight tensor", layer.params)]
    for field, what, n in tensors:
        if n > MAX_ELEMENTS:
            raise f.error(field, f"{what} has {n:,} elements, more than the limit of 2**64 "
                                 "(accelsim.workload.layer.MAX_ELEMENTS)")


class _ShapeError(Exception):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def _conv_out(size: int, k: int, s: int, pad: int, dil: int, axis: str) -> int:
    span = dil * (k - 1) + 1
    if size + pad < span:
        raise _ShapeError("kernel", f"{axis} window {span} (kernel {k}, dilation {dil}) exceeds the "
                                    f"padded input size {size + pad}")
    return (size + pad - span) // s + 1


def _out_shape(layer: Layer) -> Shape:
    k, ins = layer.kind, layer.in_shapes
    if k in ("conv2d", "pool"):
        if len(ins[0]) != 3:
            raise _ShapeError("in_shapes", f"a {k} input must be (channels, height, width), not {list(ins[0])}")
        c, h, w = ins[0]
        if k == "pool" and layer.op == "global_avg":
            return (c, 1, 1)
        (kr, ks), (sr, ss), (dr, ds) = layer.kernel, layer.stride, layer.dilation
        top, left, bottom, right = layer.padding
        p = _conv_out(h, kr, sr, top + bottom, dr, "row")
        q = _conv_out(w, ks, ss, left + right, ds, "column")
        if k == "pool":
            return (c, p, q)
        if c % layer.groups or layer.out % layer.groups:
            raise _ShapeError("groups", f"{layer.groups} groups must divide the input channels ({c}) "
                                        f"and the output channels ({layer.out})")
        return (layer.out, p, q)
    if k == "linear":
        return (*ins[0][:-1], layer.out)
    if k == "matmul":
        a, b = ins
        if len(a) < 2 or len(b) < 2:
            raise _ShapeError("in_shapes", f"matmul operands need at least 2 dimensions, not {list(a)} and {list(b)}")
        bk, bn = (b[-1], b[-2]) if layer.transpose_b else (b[-2], b[-1])
        if a[:-2] != b[:-2] or a[-1] != bk:
            what = "transposed " if layer.transpose_b else ""
            raise _ShapeError("in_shapes", f"matmul shapes {list(a)} and {what}{list(b)} do not agree")
        return (*a[:-2], a[-2], bn)
    if k == "placeholder":
        return layer.shape
    if k == "reshape":
        if math.prod(layer.shape) != math.prod(ins[0]):
            raise _ShapeError("shape", f"cannot reshape {list(ins[0])} ({math.prod(ins[0])} elements) "
                                       f"to {list(layer.shape)} ({math.prod(layer.shape)} elements)")
        return layer.shape
    if k == "concat":
        first = ins[0]
        if layer.axis >= len(first):
            raise _ShapeError("axis", f"must be below the rank {len(first)} of the inputs, not {layer.axis}")
        for s in ins[1:]:
            if len(s) != len(first) or any(x != y for i, (x, y) in enumerate(zip(s, first)) if i != layer.axis):
                raise _ShapeError("in_shapes", f"concat inputs {list(first)} and {list(s)} differ "
                                               f"outside axis {layer.axis}")
        return tuple(sum(s[i] for s in ins) if i == layer.axis else n for i, n in enumerate(first))
    # eltwise
    for s in ins[1:]:
        if s != ins[0]:
            raise _ShapeError("in_shapes", f"eltwise inputs must have equal shapes, not {list(ins[0])} and {list(s)}")
    return ins[0]
