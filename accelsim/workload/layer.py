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

from ..errors import SpecError
from ..precision import MAX_INT_BITS, MAX_OUTPUT_BITS, TYPE_NAMES, DataType, dtype_named, int_type, parse_dtype
from ..sparsity import MAX_NM_GROUP, parse_nm
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
    # masks and shape logic around attention (imported graphs): compare, logical and/or/not, select
    "compare": 1, "logical": 1, "where": 1, "trig": 4, "log": 4,
    # a reduction (mean/sum/max over some axes): one op per *input* element; its output is `shape`
    "reduce": 1,
}
# Data movement that changes the element count (kind "reshape", zero cost except a gather's copy):
# an indexed gather of an activation, an embedding lookup, slices and splits, broadcasting copies,
# padding, and a concatenation with constant operands (a CLS token). Plain reshapes keep the element count.
# ``lookup`` is a gather of rows from a constant table held in DRAM (an embedding): its output (``shape``)
# is the rows it selects, which it reads from DRAM, ``batch × elements × bytes`` of the table's format
# (``weight_type``, the one operand format a lookup may state); its input is the indices.
RESIZING_MOVES = ("gather", "lookup", "slice", "expand", "tile", "pad", "concat", "trilu", "range")
# the moves that write a new tensor element by element (one vector-unit copy per output element); a slice,
# a concatenation with a constant or a mask's pattern are addressing and free
MATERIALISED = ("gather", "lookup", "expand", "tile", "pad")
# the moves that read a constant table from DRAM (the only vector-unit work with DRAM traffic)
DRAM_MOVES = ("lookup",)
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
    input_type, weight_type, output_type
        Number format of each operand (``int1``..``int16``, ``uint1``..``uint16``, ``fp16``,
        ``bf16``, ``fp8``; see :mod:`accelsim.precision`). The GEMM's second operand is "weight"
        even when it is an activation (matmul).
    input_density, weight_density, weight_structure
        Sparsity: fraction of non-zeros, and an optional ``"N:M"`` structure of the weights along
        the reduction dimension (its density is at most N/M; 1.0 with a structure means N/M).

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
    input_type: str = "int8"
    weight_type: str = "int8"
    output_type: str = "int8"
    input_density: float = 1.0
    weight_density: float = 1.0
    weight_structure: str = ""
    # Elements of this layer's weight and bias tensors that an earlier layer already holds (a weight
    # shared between layers, e.g. ALBERT's): not counted again in ``params``.
    shared_params: int = 0

    def __post_init__(self):
        if not self.op and self.kind not in ("pool", "eltwise"):
            object.__setattr__(self, "op", self.kind)
        object.__setattr__(self, "in_shapes", tuple(tuple(s) for s in self.in_shapes))
        for name in ("kernel", "stride", "padding", "dilation", "shape"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if (self.kind == "pool" and self.op == "global_avg" and _shapes_ok(self.in_shapes)
                and len(self.in_shapes[0]) == 3):
            object.__setattr__(self, "kernel", self.in_shapes[0][1:])  # the window is the whole map
        f = Fields(self.to_dict(versioned=False), where=f"layer '{printable(str(self.name))}'")
        _check(self, f)
        if self.nm:  # " 2 : 4" is stored as "2:4"
            object.__setattr__(self, "weight_structure", f"{self.nm[0]}:{self.nm[1]}")

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
    def dtypes(self) -> dict[str, DataType]:
        """Number format per GEMM operand: ``I``, ``W`` and ``O`` (outputs).

        Examples
        --------
        >>> Layer("fc", "linear", in_shapes=((4, 8),), out=2, weight_type="int4").dtypes["W"].bits
        4
        """
        return {op: dtype_named(getattr(self, f"{name}_type"))
                for op, name in (("I", "input"), ("W", "weight"), ("O", "output"))}

    @property
    def nm(self) -> tuple[int, int] | None:
        """``(N, M)`` of the weights' structure, or None."""
        return parse_nm(self.weight_structure) if self.weight_structure else None

    @property
    def weight_nonzero_fraction(self) -> float:
        """The weights' density, with an N:M structure's N/M when no density is given."""
        if self.nm and self.weight_density == 1.0:
            return self.nm[0] / self.nm[1]
        return self.weight_density

    @property
    def is_dense(self) -> bool:
        """True when no sparsity is described."""
        return self.input_density == 1.0 and self.weight_density == 1.0 and not self.weight_structure

    @property
    def macs(self) -> int:
        """Multiply-accumulates (0 for non-GEMM layers)."""
        return self.gemm.macs if self.gemm else 0

    @property
    def params(self) -> int:
        """Weight and bias elements (0 for layers without weights)."""
        d = self.loops
        if self.kind == "conv2d":
            return d["G"] * d["K"] * (d["C"] * d["R"] * d["S"] + self.bias) - self.shared_params
        if self.kind == "linear":
            return d["K"] * (d["C"] + self.bias) - self.shared_params
        return 0

    @property
    def vector_ops(self) -> int:
        """Operations on the vector unit (pooling windows, elementwise work)."""
        d = self.loops
        if self.kind == "pool":
            return d["B"] * d["G"] * d["P"] * d["Q"] * d["R"] * d["S"]
        if self.kind == "eltwise" and self.op == "reduce":
            return self.batch * math.prod(self.in_shapes[0])
        if self.kind == "eltwise":
            return self.batch * math.prod(self.out_shape) * ELTWISE_OPS[self.op] * max(1, len(self.in_shapes) - 1)
        if self.kind == "reshape" and self.op in MATERIALISED:  # a lookup copies what it selects; a broadcast,
            return self.batch * math.prod(self.out_shape)     # tiling or padding writes every element it makes
        return 0

    @property
    def lookup_bytes(self) -> int:
        """DRAM bytes a ``lookup`` reads: the rows it selects, in its table's format (0 for every other layer).

        Sized as every dense tensor in DRAM is (``accelsim.sim.memory``): elements × the format's exact
        bytes per element (a 4-bit table packs two a byte), rounded up once.

        Examples
        --------
        >>> Layer("embed", "reshape", op="lookup", in_shapes=((16,),), shape=(16, 64)).lookup_bytes
        1024
        """
        if self.kind != "reshape" or self.op not in DRAM_MOVES:
            return 0
        return math.ceil(self.batch * math.prod(self.out_shape) * self.dtypes["W"].bytes)

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
    def from_dict(cls, data: Any, *, file: str | None = None, where: str = "layer") -> Layer:
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


def read_layer_fields(f: Fields, defaults: dict[str, Any] | None = None) -> dict[str, Any]:
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
        kw["shared_params"] = f.int("shared_params", 0, minimum=0)
    if kind == "matmul":
        kw["transpose_b"] = f.bool("transpose_b", False)
    if kind in ("reshape", "placeholder") or (kind == "eltwise" and (f.raw("shape", ()) not in ((), [])
                                                                      or kw["op"] == "reduce")):
        kw["shape"] = f.int_tuple("shape", tuple(range(1, 9)))
    if kind == "concat":
        kw["axis"] = f.int("axis", 0, minimum=0)
    kw |= read_precision_and_sparsity(f, kind, defaults or {}, op=kw["op"])
    return kw


OPERAND_FIELDS = {"input": "input_type", "weight": "weight_type", "output": "output_type"}
SPARSITY_FIELDS = ("input_density", "weight_density", "weight_structure")
_LEGACY_BITS = {"input_bits": "input_type", "weight_bits": "weight_type", "output_bits": "output_type"}


def read_precision_and_sparsity(f: Fields, kind: str, defaults: dict[str, Any], *, op: str = "") -> dict[str, Any]:
    """Per-operand types and sparsity of a layer, from any of its spellings.

    A layer may write ``precision: {input: int4, weight: int4}`` and ``sparsity: {weight_density:
    0.5, weight_structure: "2:4"}`` blocks, the flat keys (``weight_type``, ``weight_density``…),
    or the version-1 integer widths ``input_bits``/``weight_bits``/``output_bits`` (integers of
    that width); ``defaults`` (a workload's network-wide blocks) fill what the layer leaves out of a
    GEMM layer. A ``lookup`` (``op``) states its table's format as its weight's, and nothing else.
    """
    given: dict[str, tuple[Fields, str]] = {}  # field -> (where it was written, key there)

    def note(field: str, where: Fields, key: str) -> None:
        if field in given:
            raise where.error(key, f"sets {field} a second time (also given as "
                                   f"'{given[field][0].path(given[field][1])}')")
        given[field] = (where, key)

    for key, field in (*OPERAND_FIELDS.items(), *_LEGACY_BITS.items()):
        if key in _LEGACY_BITS and f.has(key):
            note(field, f, key)
    for field in (*OPERAND_FIELDS.values(), *SPARSITY_FIELDS):
        if f.has(field):
            note(field, f, field)
    for block, keys in (("precision", OPERAND_FIELDS), ("sparsity", {k: k for k in SPARSITY_FIELDS})):
        if f.has(block):
            sub = f.sub(block)
            if not isinstance(sub.data, dict):
                raise f.error(block, "must be a mapping")
            for key, field in keys.items():
                if sub.has(key):
                    note(field, sub, key)
            sub._used.update(k for k in keys if sub.has(k))
            sub.done()
    out: dict[str, Any] = {}
    for field, (where, key) in given.items():
        if key in _LEGACY_BITS:
            bits = where.int(key, maximum=MAX_OUTPUT_BITS if field == "output_type" else MAX_INT_BITS)
            out[field] = int_type(bits).name
        elif field.endswith("_type"):
            out[field] = where.str(key)
            if parse_dtype(out[field], operand=field != "output_type") is None:
                raise where.error(key, f"must be a number format ({TYPE_NAMES}), not '{printable(out[field])}'")
        elif field == "weight_structure":
            value = where.raw(key)
            if isinstance(value, int) and not isinstance(value, bool):
                raise where.error(key, "must be a quoted 'N:M' string (YAML 1.1 reads an unquoted N:M as the "
                                       f"number {value})")
            nm = parse_nm(value) if value != "" else None
            if value != "" and nm is None:
                raise where.error(key, f"must be 'N:M' with 0 < N < M ≤ {MAX_NM_GROUP}, not "
                                       f"'{printable(str(value))}'")
            out[field] = f"{nm[0]}:{nm[1]}" if nm is not None else ""
        else:
            out[field] = where.number(key, low=0.0, high=1.0)
    if kind not in GEMM_KINDS:
        for field, (where, key) in given.items():
            value, default = out[field], _FIELD_DEFAULTS[field]
            if kind == "reshape" and op in DRAM_MOVES and field == "weight_type":
                continue  # the table's format: what its DRAM bytes are made of
            if value != default:
                raise where.error(key, f"applies to the operands of {', '.join(GEMM_KINDS)} layers; "
                                       f"a {kind} layer runs on the vector unit, which does not model it")
        return out
    for field, value in defaults.items():
        out.setdefault(field, value)
    structure = parse_nm(out.get("weight_structure", "")) if out.get("weight_structure") else None
    density = out.get("weight_density", 1.0)
    if structure and density != 1.0 and density > structure[0] / structure[1]:
        ratio = f"the {structure[0]}:{structure[1]} structure's density of {structure[0] / structure[1]:g}"
        if "weight_density" in given:
            where, key = given["weight_density"]
            raise where.error(key, f"{density:g} exceeds {ratio}")
        source, at = given.get("weight_structure", (f, None))
        raise source.error(at, f"{ratio} is below the workload's default weight_density {density:g}")
    return out


def _check(layer: Layer, f: Fields) -> None:
    """Validate a constructed layer; shape problems are :class:`SpecError` naming the field."""
    read_layer_fields(f)  # the same field checks as the YAML reader
    if not _shapes_ok(layer.in_shapes):
        raise f.error("in_shapes", "must be a non-empty list of shapes of positive integers")
    arity = {"conv2d": 1, "linear": 1, "pool": 1, "reshape": 1, "matmul": 2}
    want = None if layer.kind == "reshape" and layer.op in RESIZING_MOVES else arity.get(layer.kind)
    got = len(layer.in_shapes)
    if want and got != want:
        raise f.error("in_shapes", f"a {layer.kind} layer takes {want} input(s), not {got}")
    if layer.kind == "concat" and got < 2:
        raise f.error("in_shapes", f"a concat takes at least 2 inputs, not {got}")
    try:
        out = _out_shape(layer)
    except _ShapeError as err:
        raise f.error(err.field, str(err)) from None
    if layer.params < 0:
        raise f.error("shared_params", f"must be at most the layer's own weights and biases "
                                       f"({layer.params + layer.shared_params:,}), not {layer.shared_params:,}")
    tensors = [("in_shapes", f"input {i} ({layer.batch} × {list(s)})", layer.batch * math.prod(s))
               for i, s in enumerate(layer.in_shapes)]
    tensors += [("in_shapes", f"the output ({layer.batch} × {list(out)})", layer.batch * math.prod(out)),
                ("out", "the weight tensor", layer.params)]
    for field, what, n in tensors:
        if n > MAX_ELEMENTS:
            raise f.error(field, f"{what} has {n:,} elements, more than the limit of 2**64 "
                                 "(accelsim.workload.layer.MAX_ELEMENTS)")


_FIELD_DEFAULTS = {f.name: f.default for f in fields(Layer)}


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
        stack = _broadcast((a[:-2], b[:-2]), ())  # the leading (batch, head) dims broadcast, as in numpy
        if stack is None or a[-1] != bk:
            what = "transposed " if layer.transpose_b else ""
            why = "their reductions differ" if a[-1] != bk else "their leading dimensions do not broadcast"
            raise _ShapeError("in_shapes", f"matmul shapes {list(a)} and {what}{list(b)} do not agree ({why})")
        return (*stack, a[-2], bn)
    if k == "placeholder":
        return layer.shape
    if k == "reshape":
        if layer.op in RESIZING_MOVES:
            return layer.shape
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
    # eltwise: inputs broadcast (numpy rules) to the output; `shape` gives it when a constant operand
    # widens it further, or when the op reduces
    if layer.op == "reduce":
        if not layer.shape or math.prod(layer.shape) > math.prod(ins[0]):
            raise _ShapeError("shape", f"a reduction of {list(ins[0])} needs an output shape with fewer "
                                       f"elements, not {list(layer.shape)}")
        return layer.shape
    out = _broadcast(ins, layer.shape or ())
    if out is None:
        shown = " and ".join(str(list(s)) for s in ins) + (f" to {list(layer.shape)}" if layer.shape else "")
        raise _ShapeError("in_shapes", f"eltwise inputs {shown} do not broadcast")
    return out


def _broadcast(shapes: tuple[Shape, ...], target: Shape) -> Shape | None:
    """The numpy broadcast of ``shapes`` (and ``target`` if given, which must be the result), or None.

    Examples
    --------
    >>> _broadcast(((8, 1, 1), (8, 4, 4)), ()), _broadcast(((3,), (4,)), ()), _broadcast(((4,),), (2, 4))
    ((8, 4, 4), None, (2, 4))
    """
    rank = max(len(s) for s in (*shapes, target))
    out = []
    for axis in range(rank):
        sizes = {s[len(s) - rank + axis] for s in (*shapes, target) if len(s) - rank + axis >= 0} - {1}
        if len(sizes) > 1:
            return None
        out.append(sizes.pop() if sizes else 1)
    if target and tuple(out) != tuple(target):
        return None
    return tuple(out)


# -- settings a command applies to every GEMM layer (simulate's options, dse's workload axes) ----
def int_format(bits: Any) -> str:
    """``intB`` for an operand width 1–16, else :class:`SpecError`.

    Examples
    --------
    >>> int_format(4)
    'int4'
    """
    if isinstance(bits, bool) or not isinstance(bits, int) or not 1 <= bits <= MAX_INT_BITS:
        raise SpecError(f"must be an integer width from 1 to {MAX_INT_BITS}, not {printable(repr(bits))}")
    return f"int{bits}"


def density_value(value: Any) -> float:
    """A density in (0, 1] from a number or its text, else :class:`SpecError`."""
    try:
        number = float(value) if not isinstance(value, bool) else -1.0
    except (TypeError, ValueError):
        number = -1.0
    if not 0.0 < number <= 1.0:  # nan fails this too
        raise SpecError(f"a density is a number in (0, 1], not {printable(repr(value))}")
    return number


def weight_sparsity_changes(value: Any) -> dict[str, Any]:
    """The layer fields ``N:M`` or a density sets on a layer's weights.

    Examples
    --------
    >>> weight_sparsity_changes("2:4"), weight_sparsity_changes(0.5)
    ({'weight_structure': '2:4', 'weight_density': 1.0}, {'weight_structure': '', 'weight_density': 0.5})
    """
    if isinstance(value, str) and ":" in value:
        nm = parse_nm(value)
        if nm is None:
            raise SpecError(f"'N:M' needs 0 < N < M ≤ {MAX_NM_GROUP}, not '{printable(value)}'")
        return {"weight_structure": f"{nm[0]}:{nm[1]}", "weight_density": 1.0}
    if isinstance(value, int) and not isinstance(value, bool) and value > 1:
        raise SpecError(f"must be a density in (0, 1] or a quoted 'N:M', not {value} (YAML 1.1 reads an "
                        "unquoted N:M as a base-60 number)")
    return {"weight_structure": "", "weight_density": density_value(value)}
