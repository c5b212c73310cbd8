"""Real tensors attached to a :class:`~accelsim.workload.graph.LayerGraph`'s layers, and their GEMM operands.

A tensor file is an ``.npz`` keyed by layer name:

==========================  ============================================================================
key                         array
==========================  ============================================================================
``<layer>.weight``          PyTorch/ONNX layout: conv2d ``(out, in/groups, kh, kw)`` (OIHW), linear
                            ``(out_features, in_features)``
``<layer>.input``           optional, one sample activation (batch excluded): conv2d ``(C, H, W)``,
                            linear ``(..., in_features)``
``<layer>.weight.scale``    optional, written by ``accelsim compress --quantize`` (with
``<layer>.weight.zero_point``  integer weights): ``weight ≈ (weight − zero_point) · scale``
``<layer>.weight.dtype``    optional, a text scalar naming the weights' number format (``'int4'``;
``<layer>.input.dtype``     ``compress --quantize`` writes it): the values must lie in its range
==========================  ============================================================================

A tensor's **format** (:func:`tensor_format`) is its declared ``.dtype``, else its array's own type
when that is an operand format (``int8``, ``uint8``, ``int16``, ``uint16``); floats and ``int32``/
``int64`` arrays (numpy's default width) carry values only. :func:`with_tensor_formats` makes the
file's formats the layers' formats unless an option says otherwise, and refuses a contradiction.

:func:`weight_matrix` and :func:`input_matrix` are **the** definition every engine uses to turn
tensors into the operands of a layer's :class:`~accelsim.workload.layer.GemmView`
(``O[M×N] = I[M×K] · W[K×N]``, ``count`` times): ``K`` runs over ``(c, r, s)`` — input channel of
the group, filter row, filter column — as in im2col; ``N`` over the output channels of a group;
``M`` over ``(b, p, q)`` — batch, output row, output column.

Examples
--------
>>> import numpy as np
>>> from accelsim.workload.layer import Layer
>>> conv = Layer("c", "conv2d", in_shapes=((4, 5, 5),), out=6, kernel=(3, 3), padding=(1, 1, 1, 1), groups=2)
>>> w = np.arange(6 * 2 * 3 * 3, dtype=float).reshape(6, 2, 3, 3)
>>> x = np.ones((4, 5, 5))
>>> weight_matrix(conv, w).shape, input_matrix(conv, x).shape, conv.gemm
((2, 18, 3), (2, 25, 18), GemmView(M=25, N=3, K=18, count=2))
>>> out = input_matrix(conv, x) @ weight_matrix(conv, w)    # (groups, P·Q, out/groups)
>>> out.shape
(2, 25, 3)
"""

from __future__ import annotations

import io
import os
import zipfile
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import SpecError, UnsupportedError, did_you_mean
from .precision import DataType, dtype_named, parse_dtype

MAX_FILE_BYTES = 4 * 2**30
MAX_ARRAY_ELEMENTS = 2**31
MAX_ARRAY_BYTES = 2**31
WEIGHT_KINDS = ("conv2d", "linear")
SUFFIXES = ("weight", "input", "weight.scale", "weight.zero_point", "weight.dtype", "input.dtype")
FORMAT_SUFFIX = ".dtype"  # a text scalar naming the format of the tensor it follows
MAX_FORMAT_CHARS = 16
OPERAND_FORMATS = "int1..int16, uint1..uint16, fp16, bf16, fp8"


@dataclass(frozen=True, eq=False)
class LayerTensors:
    """The real tensors of one layer (arrays as read; see the module docstring for layouts)."""

    weight: np.ndarray
    input: np.ndarray | None = None
    scale: np.ndarray | None = None
    zero_point: np.ndarray | None = None
    weight_format: DataType | None = None  # declared by `<layer>.weight.dtype`
    input_format: DataType | None = None  # declared by `<layer>.input.dtype`


# -- shapes -----------------------------------------------------------------------------------------
def weight_shape(layer) -> tuple[int, ...]:
    """The weight array's shape in PyTorch/ONNX layout, or a :class:`SpecError` if the layer has none.

    Examples
    --------
    >>> from accelsim.workload.layer import Layer
    >>> weight_shape(Layer("fc", "linear", in_shapes=((7, 64),), out=10))
    (10, 64)
    """
    if layer.kind == "conv2d":
        return (layer.out, layer.in_shapes[0][0] // layer.groups, *layer.kernel)
    if layer.kind == "linear":
        return (layer.out, layer.in_shapes[0][-1])
    raise SpecError(f"layer '{layer.name}' ({layer.kind}) has no weights")


def _check_shape(layer, array: np.ndarray, expected: tuple[int, ...], what: str) -> None:
    if tuple(array.shape) != tuple(expected):
        raise SpecError(f"layer '{layer.name}' {what} must have shape {list(expected)}, not {list(array.shape)}")


# -- GEMM operands ----------------------------------------------------------------------------------
def weight_matrix(layer, w) -> np.ndarray:
    """``w`` as the GEMM's weight operand: shape ``(groups, K, N)``, ``K`` ordered ``(c, r, s)``.

    A view of ``w`` where possible (no copy): conv2d OIHW ``(G·N, C, R, S)`` becomes
    ``(G, C·R·S, N)``; linear ``(out, in)`` becomes ``(1, in, out)``.

    Examples
    --------
    >>> import numpy as np
    >>> from accelsim.workload.layer import Layer
    >>> fc = Layer("fc", "linear", in_shapes=((3,),), out=2)
    >>> weight_matrix(fc, np.array([[1, 2, 3], [4, 5, 6]])).tolist()
    [[[1, 4], [2, 5], [3, 6]]]
    """
    w = np.asarray(w)
    _check_shape(layer, w, weight_shape(layer), "weight")
    if layer.kind == "linear":
        return w.T[None]
    g = layer.groups
    n = layer.out // g
    return w.reshape(g, n, -1).transpose(0, 2, 1)


def input_matrix(layer, x) -> np.ndarray:
    """``x`` (one sample) as the GEMM's input operand: shape ``(count, M, K)`` (im2col for conv2d).

    Zero padding is materialised: padded positions are real zeros of the GEMM (they count as zero
    inputs for gating and skipping). ``M`` is ordered ``(b, p, q)``; with ``layer.batch > 1`` the one
    sample is repeated for every batch element (a tensor file holds a single sample). For linear,
    ``x`` is ``(..., in_features)`` and its leading dimensions are the tokens; for matmul, ``x`` is
    the left operand ``(..., M, K)``, one GEMM per leading index.

    Examples
    --------
    >>> import numpy as np
    >>> from accelsim.workload.layer import Layer
    >>> conv = Layer("c", "conv2d", in_shapes=((1, 3, 3),), out=1, kernel=(2, 2), stride=(1, 1))
    >>> input_matrix(conv, np.arange(9).reshape(1, 3, 3))[0].tolist()
    [[0, 1, 3, 4], [1, 2, 4, 5], [3, 4, 6, 7], [4, 5, 7, 8]]
    """
    x = np.asarray(x)
    _check_shape(layer, x, layer.in_shapes[0], "input")
    b = layer.batch
    if layer.kind == "linear":
        m = x.reshape(1, -1, x.shape[-1])
    elif layer.kind == "matmul":
        m = x.reshape(-1, *x.shape[-2:])
    elif layer.kind == "conv2d":
        m = _im2col(layer, x)
    else:
        raise SpecError(f"layer '{layer.name}' ({layer.kind}) has no GEMM input")
    return np.tile(m, (1, b, 1)) if b > 1 else m


def _im2col(layer, x: np.ndarray) -> np.ndarray:
    c, _, _ = x.shape
    g = layer.groups
    cg = c // g
    top, left, bottom, right = layer.padding
    xp = np.pad(x, ((0, 0), (top, bottom), (left, right))) if any(layer.padding) else x
    xp = np.ascontiguousarray(xp)
    (r, s), (sh, sw), (dh, dw) = layer.kernel, layer.stride, layer.dilation
    _, p, q = layer.out_shape
    s0, s1, s2 = xp.strides
    view = np.lib.stride_tricks.as_strided(
        xp, shape=(g, p, q, cg, r, s), strides=(cg * s0, sh * s1, sw * s2, s0, dh * s1, dw * s2), writeable=False)
    return view.reshape(g, p * q, cg * r * s)


# -- reading and writing ----------------------------------------------------------------------------
def read_npz(path: str | Path, check: Callable[[str, tuple, np.dtype], object] | None = None) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` file, checked: numeric, finite, no pickled objects, within the size limits.

    Each problem is a one-line :class:`SpecError` naming the file and the key: a file over 4 GiB or
    an array over ``2**31`` elements or 2 GiB (read from the array's header, before its data), a
    file that is not a zip of ``.npy`` arrays, a key given twice, an object (pickled) array, a
    non-numeric dtype, NaN or infinity. ``check(key, shape, dtype)`` runs on each header before its
    data is read (e.g. to compare the shape with the layer's), so a small file declaring a huge
    array is refused without allocating it. A key ending in ``.dtype`` may instead be a short text
    scalar (a number format's name; read as a numpy ``str_`` array, never unpickled).
    """
    file = str(path)
    try:
        size = os.stat(path).st_size
    except OSError as err:
        raise SpecError(f"cannot read the tensor file: {err.strerror or err}", file=file) from None
    if not Path(path).is_file():
        raise SpecError("not a readable .npz file: not a regular file", file=file)
    if size > MAX_FILE_BYTES:
        raise SpecError(f"the tensor file has {size:,} bytes, more than the limit of 4 GiB", file=file)
    out: dict[str, np.ndarray] = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                if info.is_dir():
                    continue
                key = info.filename.removesuffix(".npy")
                if not info.filename.endswith(".npy"):
                    raise SpecError(f"member '{info.filename}' is not a .npy array", file=file)
                if key in out:
                    raise SpecError(f"`{key}` is in the file twice", file=file)
                with archive.open(info) as f:
                    out[key] = _read_array(f, file, key, check)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError, zlib.error) as err:
        raise SpecError(f"not a readable .npz file: {str(err).splitlines()[0] if str(err) else type(err).__name__}",
                        file=file) from None
    return out


def _read_array(f, file: str, key: str, check=None) -> np.ndarray:
    fmt = np.lib.format
    version = fmt.read_magic(f)
    shape, fortran, dtype = (fmt.read_array_header_1_0(f) if version == (1, 0) else fmt.read_array_header_2_0(f))
    elements = int(np.prod(shape, dtype=object)) if shape else 1
    if elements > MAX_ARRAY_ELEMENTS:
        raise SpecError(f"`{key}` has {elements:,} elements, more than the limit of 2**31", file=file)
    if dtype.hasobject:
        raise SpecError(f"`{key}` is an object (pickled) array; only numeric arrays are read", file=file)
    if key.endswith(FORMAT_SUFFIX) and dtype.kind == "U":
        if shape != () or dtype.itemsize > 4 * MAX_FORMAT_CHARS:
            raise SpecError(f"`{key}` must be one format name (a text scalar such as 'int4'), not a "
                            f"{list(shape)} array of {dtype}", file=file)
    elif not (np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.floating)):
        raise SpecError(f"`{key}` has dtype {dtype}; tensors must be integers or floats", file=file)
    if any(n < 0 for n in shape):
        raise SpecError(f"`{key}` declares a negative dimension {list(shape)}", file=file)
    count = elements * dtype.itemsize
    if count > MAX_ARRAY_BYTES:
        raise SpecError(f"`{key}` has {count:,} bytes, more than the limit of 2 GiB", file=file)
    if check is not None:
        check(key, tuple(shape), dtype)
    data = f.read(count)
    if len(data) != count:
        raise SpecError(f"`{key}` is truncated ({len(data):,} of {count:,} bytes)", file=file)
    array = np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran else "C").copy()
    if np.issubdtype(dtype, np.floating) and not np.isfinite(array).all():
        bad = "NaN" if np.isnan(array).any() else "infinity"
        raise SpecError(f"`{key}` contains {bad}", file=file)
    return array


def split_key(key: str) -> tuple[str, str] | None:
    """``(layer name, suffix)`` of a tensor key, or None if it has none of :data:`SUFFIXES`.

    Examples
    --------
    >>> split_key("layer1.0.conv1.weight"), split_key("fc.weight.scale"), split_key("fc.bias")
    (('layer1.0.conv1', 'weight'), ('fc', 'weight.scale'), None)
    """
    for suffix in sorted(SUFFIXES, key=len, reverse=True):
        if key.endswith("." + suffix) and len(key) > len(suffix) + 1:
            return key[: -len(suffix) - 1], suffix
    return None


def load_tensors(path: str | Path, graph) -> dict[str, LayerTensors]:
    """Read ``path`` (an ``.npz``, see the module docstring) and check it against ``graph``'s layers.

    Returns the tensors per layer name. Unknown layers (with a did-you-mean), layers without weights,
    unknown keys, a shape that differs from the layer's, a ``.dtype`` that names no operand format
    or whose tensor is missing, holds the other kind of number (floats for an integer format) or
    values outside the format's range, and every problem of :func:`read_npz` are one-line
    :class:`SpecError` naming the file, the key and the reason.
    """
    file = str(path)
    layers = {layer.name: layer for layer in graph}
    splits: dict[str, tuple[str, str]] = {}  # (layer name, suffix) of every key `expected` accepted

    def expected(key: str, shape: tuple, dtype: np.dtype) -> tuple:
        """The shape ``key`` must have (raising for keys that name no tensor of the graph)."""
        split = split_key(key)
        if split is None:
            raise SpecError(f"`{key}` is not a tensor key; keys are '<layer>.' followed by one of "
                            f"{', '.join(SUFFIXES)}", file=file)
        name, suffix = splits[key] = split
        if name not in layers:
            raise SpecError(f"`{key}` names no layer of {graph.name}: '{name}'{did_you_mean(name, layers)}", file=file)
        layer = layers[name]
        if layer.kind not in WEIGHT_KINDS:
            raise SpecError(f"`{key}`: layer '{name}' ({layer.kind}) has no weights", file=file)
        if suffix.endswith(FORMAT_SUFFIX) and dtype.kind != "U":
            raise SpecError(f"`{key}` must be a format name such as 'int4' (a text scalar), not {dtype} numbers",
                            file=file)
        if suffix == "weight":
            want = weight_shape(layer)
        elif suffix == "input":
            want = layer.in_shapes[0]
        elif suffix.endswith(FORMAT_SUFFIX):
            want = ()
        else:  # a scale or zero point: one per tensor or one per output channel
            want = shape if shape in ((), (layer.out,)) else (layer.out,)
        if tuple(shape) != tuple(want):
            raise SpecError(f"`{key}` has shape {list(shape)}; layer '{name}' expects {list(want)}", file=file)
        return want

    arrays = read_npz(path, check=expected)
    found: dict[str, dict[str, np.ndarray]] = {}
    for key, array in arrays.items():
        name, suffix = splits[key]
        found.setdefault(name, {})[suffix] = array
    out = {}
    for name, parts in found.items():
        if "weight" not in parts:
            other = next(iter(parts))
            raise SpecError(f"`{name}.{other}` is given without `{name}.weight`", file=file)
        if "input.dtype" in parts and "input" not in parts:
            raise SpecError(f"`{name}.input.dtype` is given without `{name}.input`", file=file)
        declared = {part: _declared(file, f"{name}.{part}", parts[part + FORMAT_SUFFIX], parts[part])
                    for part in ("weight", "input") if part + FORMAT_SUFFIX in parts}
        out[name] = LayerTensors(parts["weight"], parts.get("input"), parts.get("weight.scale"),
                                 parts.get("weight.zero_point"), declared.get("weight"), declared.get("input"))
    return out


def _declared(file: str, key: str, text: np.ndarray, array: np.ndarray) -> DataType:
    """The operand format ``<key>.dtype`` names, checked against the tensor ``<key>`` it declares."""
    name = str(text)
    dtype = parse_dtype(name, operand=True)
    if dtype is None or (dtype.is_float and dtype.bits > 16):
        raise SpecError(f"`{key}{FORMAT_SUFFIX}` is {name!r}; a format is one of {OPERAND_FORMATS}", file=file)
    if dtype.is_float != np.issubdtype(array.dtype, np.floating):
        raise SpecError(f"`{key}` holds {array.dtype} values but `{key}{FORMAT_SUFFIX}` declares {dtype.name}",
                        file=file)
    why = value_error(array, dtype)
    if why:
        layer = key.rsplit(".", 1)[0]
        raise SpecError(f"`{key}` (layer '{layer}') {why} (declared by `{key}{FORMAT_SUFFIX}`)", file=file)
    return dtype


# -- number formats ---------------------------------------------------------------------------------
def tensor_format(array: np.ndarray, declared: DataType | None = None) -> DataType | None:
    """The number format a tensor file gives ``array``: ``declared`` (its ``.dtype``), else the array's
    own type when it is an operand format, else None (floats, and ``int32``/``int64``: numpy's
    default width says nothing about the values' format).

    Examples
    --------
    >>> import numpy as np
    >>> [getattr(tensor_format(np.zeros(2, t)), "name", None) for t in (np.int8, np.uint16, np.int64, np.float32)]
    ['int8', 'uint16', None, None]
    >>> tensor_format(np.zeros(2, np.int8), parse_dtype("int4")).name
    'int4'
    """
    if declared is not None:
        return declared
    kind = np.asarray(array).dtype
    if np.issubdtype(kind, np.integer) and kind.itemsize <= 2:
        return parse_dtype(f"{'u' if kind.kind == 'u' else ''}int{8 * kind.itemsize}")
    return None


def value_error(array: np.ndarray, dtype: DataType) -> str | None:
    """Why ``array``'s values do not fit ``dtype`` (``"holds values from A to B, outside …"``), or None.

    Integer arrays are checked against an integer format's range, exactly; anything else is None
    (floats are values whose format the file does not give; see :func:`load_tensors` for a
    ``.dtype`` that declares the other kind).

    Examples
    --------
    >>> import numpy as np
    >>> value_error(np.array([-8, 7]), parse_dtype("int4")) is None
    True
    >>> value_error(np.array([-8, 8]), parse_dtype("int4"))
    "holds values from -8 to 8, outside int4's range -8..7"
    """
    a = np.asarray(array)
    if dtype.is_float or not np.issubdtype(a.dtype, np.integer) or a.size == 0:
        return None
    lo, hi = dtype.range
    low, high = int(a.min()), int(a.max())
    if lo <= low and high <= hi:
        return None
    return f"holds values from {low} to {high}, outside {dtype.name}'s range {lo}..{hi}"


@dataclass(frozen=True)
class TensorFormats:
    """A workload with its tensor file's formats (:func:`with_tensor_formats`)."""

    graph: Any
    notes: tuple[str, ...]  # one line per format the file gave, e.g. "weights of 54 layers are int4, ..."
    origin: dict[str, str]  # layer name -> where its changed formats come from (for error messages)


def with_tensor_formats(graph, tensors: Mapping[str, LayerTensors], *, file: str,
                        given: Mapping[str, tuple[str, str]] | None = None) -> TensorFormats:
    """Make each tensor's format (:func:`tensor_format`) its layer's operand format, unless ``given``.

    ``given`` maps an operand (``"W"``, ``"I"``) to the format an option set on every layer and
    the words that set it, e.g. ``{"W": ("int4", "--weight-bits 4")}``: it wins, but a ``.dtype``
    declaring another format, or integer values outside its range, is a contradiction. Without it
    the file's format replaces the layer's; a tensor with no format of its own (floats, ``int64``)
    leaves the layer's, its integer values checked against it. Every problem is a one-line
    :class:`SpecError` naming the file, the key, the layer and the values; the first in graph order
    is raised. Formats wider than the array's datapath are refused later, by the precision check.
    """
    from .workload.layer import Layer

    given = given or {}
    changes: dict[str, dict[str, str]] = {}
    taken: dict[tuple[str, str, str], list[str]] = {}
    origin: dict[str, str] = {}
    for layer in graph:
        t = tensors.get(layer.name)
        if t is None:
            continue
        for op, part, array, declared in (("W", "weight", t.weight, t.weight_format),
                                          ("I", "input", t.input, t.input_format)):
            if array is None:
                continue
            key, current = f"{layer.name}.{part}", layer.dtypes[op]
            where = f"`{key}` (layer '{layer.name}')"
            if op in given:
                name, said = given[op]
                want = dtype_named(name, operand=True)
                if declared is not None and declared != want:
                    raise SpecError(f"`{key}{FORMAT_SUFFIX}` declares {declared.name} but {said} says "
                                    f"{want.name} (layer '{layer.name}')", file=file)
                if why := value_error(array, want):
                    raise SpecError(f"{where} {why} ({said})", file=file)
                continue
            own = tensor_format(array, declared)
            if own is None:
                if why := value_error(array, current):
                    raise SpecError(f"{where} {why} (the layer's {part} format)", file=file)
                continue
            if own != current:  # (a declared format's values were checked by load_tensors)
                how = (f"as their `.{part}{FORMAT_SUFFIX}` declares" if declared is not None
                       else "their arrays' numpy dtype")
                changes.setdefault(layer.name, {})[f"{part}_type"] = own.name
                taken.setdefault((part, own.name, how), []).append(layer.name)
                text = (f"{own.name} is the format of `{key}` in {file} "
                        f"({'declared by its .dtype' if declared is not None else 'its numpy dtype'})")
                origin[layer.name] = f"{origin[layer.name]}; {text}" if layer.name in origin else text
    notes = tuple(f"{file}: {part}s of {len(names)} layer{'s' if len(names) > 1 else ''} are {name}, {how}"
                  for (part, name, how), names in taken.items())
    if not changes:
        return TensorFormats(graph, notes, origin)
    out = type(graph)(graph.name, graph.inputs, meta=graph.meta, file=graph.file)
    out.batch = graph.batch
    for layer in graph:
        if layer.name in changes:
            layer = Layer.from_dict(layer.to_dict() | changes[layer.name], where=f"layer '{layer.name}' ({file})")
        out.add(layer, graph.sources(layer.name))
    return TensorFormats(out, notes, origin)


def save_tensors(path: str | Path, tensors: Mapping[str, np.ndarray]) -> None:
    """Write ``tensors`` as an ``.npz`` that is the same bytes for the same arrays.

    Keys are written sorted, with a fixed timestamp and deflate compression (pruned tensors shrink);
    ``numpy.load`` and :func:`read_npz` read it.
    """
    for key, array in tensors.items():
        if not isinstance(key, str) or not key or "/" in key:
            raise SpecError(f"tensor key {key!r} must be a non-empty name without '/'")
        if np.asarray(array).dtype.hasobject:
            raise UnsupportedError(f"tensor '{key}' is an object array; only numeric arrays are written")
    from .atomic import atomic_path

    # written under a temporary name and renamed when complete: Ctrl-C never leaves a corrupt file
    with atomic_path(Path(path)) as temporary, \
            zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for key in sorted(tensors):
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.asarray(tensors[key]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, buffer.getvalue(), compresslevel=6)
