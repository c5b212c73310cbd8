"""Import an ONNX model as a `LayerGraph` (needs the ``onnx`` extra, see :data:`INSTALL_HINT`).

ONNX shape inference gives every tensor's shape. A tensor is *constant* when it is an initializer,
the output of ``Constant``/``ConstantOfShape``, or computed only from constants (e.g. an
``Unsqueeze`` of a batch-norm scale); constants are weights, not layers. Every other node becomes a
layer (see :data:`SUPPORTED`); an unsupported op is an :class:`UnsupportedError` naming the node, or
with ``lenient=True`` a zero-cost ``placeholder`` layer that the report lists. The leading dimension
of activation tensors is the batch; layers and edges follow the ONNX data flow.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from ..errors import SpecError, UnsupportedError
from .graph import LayerGraph
from .layer import Layer

# ONNX op → (layer kind, op); elementwise ops cost ELTWISE_OPS[op] per element.
ELEMENTWISE = {
    "Relu": "relu", "LeakyRelu": "relu", "PRelu": "relu", "Clip": "relu6", "Sigmoid": "sigmoid",
    "HardSigmoid": "sigmoid", "HardSwish": "hardswish", "Tanh": "tanh", "Erf": "gelu", "Gelu": "gelu",
    "Exp": "sigmoid", "Sqrt": "sigmoid", "Reciprocal": "sigmoid", "Pow": "mul", "Neg": "copy", "Abs": "copy",
    "Add": "add", "Sum": "add", "Sub": "sub", "Mul": "mul", "Div": "mul", "Max": "add", "Min": "add",
    "Softmax": "softmax", "LogSoftmax": "softmax", "LayerNormalization": "layernorm",
    "BatchNormalization": "batchnorm", "InstanceNormalization": "layernorm", "LRN": "lrn",
}
MOVEMENT = {"Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze", "Dropout", "Identity", "Cast"}
CONSTANT_SOURCES = {"Constant", "ConstantOfShape"}
SUPPORTED = sorted({"Conv", "Gemm", "MatMul", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool",
                    "Concat", *ELEMENTWISE, *MOVEMENT, *CONSTANT_SOURCES})


# Right for both kinds of install: from PyPI, and editable from a checkout (as the README shows).
INSTALL_HINT = "pip install 'accelsim[onnx]' (or pip install -e '.[onnx]' in a checkout)"


def _require_onnx():
    try:
        import onnx
    except ImportError:
        raise UnsupportedError(f"ONNX import needs the onnx package: {INSTALL_HINT}") from None
    return onnx


class _Importer:
    def __init__(self, model, file: str, lenient: bool):
        self.file, self.lenient = file, lenient
        self.graph_proto = model.graph
        self.shapes: dict[str, tuple] = {}
        for v in [*model.graph.value_info, *model.graph.input, *model.graph.output]:
            dims = v.type.tensor_type.shape.dim
            if v.type.tensor_type.HasField("shape"):
                self.shapes[v.name] = tuple(d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else 1
                                            for d in dims)
        for init in model.graph.initializer:
            self.shapes[init.name] = tuple(init.dims)
        self.constants = {init.name for init in model.graph.initializer}
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 1)
        self.tensor_layer: dict[str, str] = {}  # ONNX tensor → the layer (or graph input) that carries it
        self.names: set[str] = set()
        self.placeholders: list[str] = []
        self.weights: dict[str, tuple[str, bool]] = {}  # layer → (its weight tensor, stored (in, out))

    # -- helpers ----------------------------------------------------------------------------
    def error(self, node, reason: str) -> SpecError:
        return SpecError(f"node '{node.name or node.op_type}' ({node.op_type}): {reason}", file=self.file)

    def shape(self, node, tensor: str) -> tuple:
        if tensor not in self.shapes:
            raise self.error(node, f"ONNX shape inference gave no shape for tensor '{tensor}'")
        return self.shapes[tensor]

    def unique(self, name: str) -> str:
        base, n = name, 1
        while name in self.names:
            n += 1
            name = f"{base}_{n}"
        self.names.add(name)
        return name

    def strip(self, node, shape: tuple, strict: bool = True) -> tuple:
        """An activation shape without its batch dimension (kept whole if not ``strict`` and it has none)."""
        if len(shape) < 2:
            return shape or (1,)
        if shape[0] != self.batch and not strict:
            return shape
        if shape[0] != self.batch:
            raise UnsupportedError(f"{self.file}: node '{node.name or node.op_type}' ({node.op_type}) mixes the "
                                   f"batch dimension ({self.batch}) into shape {list(shape)}")
        return shape[1:]

    def add(self, node, kind: str, activations: list[str], **kw) -> str:
        name = self.unique(node.name or f"{node.op_type}_{len(self.names)}")
        shapes = tuple(self.strip(node, self.shape(node, t)) for t in activations)
        try:
            layer = Layer(name, kind, shapes, batch=self.batch, **kw)
            self.graph.add(layer, [self.tensor_layer[t] for t in activations])
        except SpecError as err:
            raise self.error(node, err.message) from None
        out = self.strip(node, self.shape(node, node.output[0]))
        if layer.out_shape != out:
            raise self.error(node, f"accelsim infers output shape {list(layer.out_shape)} but ONNX infers {list(out)}")
        self.tensor_layer[node.output[0]] = name
        return name

    # -- the walk ---------------------------------------------------------------------------
    def run(self, name: str, meta: dict) -> LayerGraph:
        data_inputs = [v.name for v in self.graph_proto.input if v.name not in self.constants]
        if not data_inputs:
            raise SpecError("the graph has no input tensors that are not initializers", file=self.file)
        first = self.shapes.get(data_inputs[0], ())
        self.batch = first[0] if len(first) >= 2 else 1
        self.graph = LayerGraph(name, {}, meta=meta, file=self.file)
        for tensor in data_inputs:
            shape = self.shapes.get(tensor)
            if not shape:
                raise SpecError(f"input '{tensor}' has no static shape", file=self.file)
            self.graph.inputs[tensor] = self.strip(_Fake(tensor), shape)
            self.tensor_layer[tensor] = tensor
            self.names.add(tensor)
        for node in self.graph_proto.node:
            self.node(node)
        return self.graph

    def node(self, node) -> None:
        op = node.op_type
        inputs = [t for t in node.input if t]
        if op in CONSTANT_SOURCES or (inputs and all(t in self.constants for t in inputs)):
            self.constants.update(node.output)
            return
        if op not in SUPPORTED:
            return self.unsupported(node, f"op {op} is not supported")
        acts = [t for t in inputs if t not in self.constants]
        missing = [t for t in acts if t not in self.tensor_layer]
        if missing:
            raise self.error(node, f"reads tensor '{missing[0]}', which no earlier node produces")
        a = self.checked_attributes(node)
        if op == "Conv":
            return self.conv(node, a)
        if op in ("Gemm", "MatMul"):
            return self.gemm(node, a, acts)
        if op in ("MaxPool", "AveragePool"):
            return self.pool(node, a, "max" if op == "MaxPool" else "avg")
        if op in ("GlobalAveragePool", "GlobalMaxPool"):
            x = self.strip(node, self.shape(node, acts[0]))
            kw = {"op": "global_avg", "kernel": x[1:]} if op == "GlobalAveragePool" else {"op": "max", "kernel": x[1:]}
            self.add(node, "pool", acts, **kw)
            return
        if op == "Concat":
            axis = a.get("axis", 0)
            rank = len(self.shape(node, node.output[0]))
            axis = axis + rank if axis < 0 else axis
            if axis == 0:
                return self.unsupported(node, "concatenation along the batch axis is not supported")
            self.add(node, "concat", acts, axis=axis - 1)
            return
        if op in MOVEMENT:
            self.add(node, "reshape", acts[:1], op=op.lower(), shape=self.strip(node, self.shape(node, node.output[0])))
            return
        out_shape = self.shape(node, node.output[0])
        same = [t for t in acts if self.shape(node, t) == out_shape]
        if len(same) != len(acts):
            return self.unsupported(node, "elementwise inputs that broadcast against each other are not supported")
        self.add(node, "eltwise", acts, op=ELEMENTWISE[op])

    def checked_attributes(self, node) -> dict[str, Any]:
        """The node's attributes by name, once its inputs and attribute types match its operator's schema."""
        from onnx import AttributeProto, defs, helper

        schema = defs.get_schema(node.op_type, max_inclusive_version=self.opset)
        given = len(node.input)
        if given < schema.min_input or not all(node.input[:schema.min_input]):
            raise self.error(node, f"has {given} inputs; {node.op_type} needs at least {schema.min_input}")
        for attr in node.attribute:
            expected = schema.attributes.get(attr.name)
            if expected is None:
                raise self.error(node, f"has an attribute '{attr.name}' that {node.op_type} does not define")
            kinds = AttributeProto.AttributeType
            actual = kinds.Name(attr.type) if attr.type in kinds.values() else str(attr.type)
            if actual != expected.type.name:
                raise self.error(node, f"attribute '{attr.name}' must be {expected.type.name}, not {actual}")
        return {a.name: helper.get_attribute_value(a) for a in node.attribute}

    def conv(self, node, a) -> None:
        x, w = node.input[0], node.input[1]
        wshape = self.shape(node, w)
        if len(wshape) != 4:
            return self.unsupported(node, f"only 2-D convolutions are supported (weights {list(wshape)})")
        if x in self.constants or w not in self.constants:
            return self.unsupported(node, "convolution weights must be constant and its input an activation")
        kernel = tuple(a.get("kernel_shape", wshape[2:]))
        xshape, groups = self.shape(node, x), a.get("group", 1)
        # ONNX shape inference does not compare weight channels with the input: check it here
        if len(xshape) != 4 or wshape[1] * groups != xshape[1]:
            raise self.error(node, f"weight shape {list(wshape)} ({wshape[1]} channels × group {groups}) does "
                                   f"not fit input shape {list(xshape)}")
        if kernel != tuple(wshape[2:]):
            raise self.error(node, f"kernel_shape {list(kernel)} disagrees with weight shape {list(wshape)}")
        strides = tuple(a.get("strides", (1, 1)))
        dilations = tuple(a.get("dilations", (1, 1)))
        pads = self.pads(node, a, self.shape(node, x)[2:], kernel, strides, dilations)
        name = self.add(node, "conv2d", [x], out=wshape[0], kernel=kernel, stride=strides, padding=pads,
                        dilation=dilations, groups=groups, bias=len(node.input) > 2 and bool(node.input[2]))
        self.weights[name] = (w, False)

    def pads(self, node, a, size, kernel, strides, dilations, ceil_mode: int = 0) -> tuple[int, int, int, int]:
        auto = a.get("auto_pad", b"NOTSET")
        auto = auto.decode() if isinstance(auto, bytes) else auto
        if auto in ("SAME_UPPER", "SAME_LOWER"):
            out = []
            for n, k, s, d in zip(size, kernel, strides, dilations):
                total = max(0, (math.ceil(n / s) - 1) * s + d * (k - 1) + 1 - n)
                out.append((total // 2, total - total // 2) if auto == "SAME_UPPER" else (total - total // 2, total // 2))
            pads = [out[0][0], out[1][0], out[0][1], out[1][1]]
        elif auto == "VALID":
            pads = [0, 0, 0, 0]
        else:
            pads = list(a.get("pads", (0, 0, 0, 0)))
        if ceil_mode:  # pad the far side so that the floor division rounds up, as ONNX asks
            for i, (n, k, s, d) in enumerate(zip(size, kernel, strides, dilations)):
                span = d * (k - 1) + 1
                total = n + pads[i] + pads[i + 2]
                if (total - span) % s:
                    pads[i + 2] += s - (total - span) % s
        return tuple(pads)

    def pool(self, node, a, kind: str) -> None:
        kernel = tuple(a["kernel_shape"])
        strides = tuple(a.get("strides", (1,) * len(kernel)))
        dilations = tuple(a.get("dilations", (1,) * len(kernel)))
        if len(kernel) != 2:
            return self.unsupported(node, "only 2-D pooling is supported")
        x = node.input[0]
        pads = self.pads(node, a, self.shape(node, x)[2:], kernel, strides, dilations, a.get("ceil_mode", 0))
        self.add(node, "pool", [x], op=kind, kernel=kernel, stride=strides, padding=pads, dilation=dilations)

    def gemm(self, node, a, acts) -> None:
        first, second = node.input[0], node.input[1]
        if node.op_type == "Gemm" and a.get("transA", 0):
            return self.unsupported(node, "Gemm with transA=1 is not supported")
        if second in self.constants and first not in self.constants:
            wshape = self.shape(node, second)
            if len(wshape) != 2:
                return self.unsupported(node, f"a constant right operand must be 2-D, not {list(wshape)}")
            transposed = node.op_type == "Gemm" and a.get("transB", 0)
            reduction, out = (wshape[1], wshape[0]) if transposed else wshape
            xshape = self.shape(node, first)
            if xshape[-1] != reduction:
                raise self.error(node, f"weight shape {list(wshape)}{' (transB)' if transposed else ''} does "
                                       f"not fit input shape {list(xshape)}")
            bias = node.op_type == "Gemm" and len(node.input) > 2 and bool(node.input[2])
            name = self.add(node, "linear", [first], out=out, bias=bias)
            self.weights[name] = (second, not transposed)
            return
        if len(acts) == 2:
            self.add(node, "matmul", acts, transpose_b=bool(node.op_type == "Gemm" and a.get("transB", 0)))
            return
        self.unsupported(node, "a constant left operand is not supported")

    def unsupported(self, node, reason: str) -> None:
        where = f"node '{node.name or node.op_type}' ({node.op_type})"
        if not self.lenient:
            raise UnsupportedError(f"{self.file}: {where}: {reason} (use --lenient to import it as a zero-cost "
                                   "placeholder)")
        acts = [t for t in node.input if t and t not in self.constants and t in self.tensor_layer]
        for i, out in enumerate(node.output):
            if not out:
                continue
            name = self.unique((node.name or node.op_type) + (f":{i}" if i else ""))
            shape = self.strip(node, self.shape(node, out), strict=False)
            layer = Layer(name, "placeholder", tuple(self.strip(node, self.shape(node, t), strict=False)
                                                     for t in acts) or (shape,),
                          op=node.op_type, shape=shape, batch=self.batch)
            self.graph.add(layer, [self.tensor_layer[t] for t in acts] or [next(iter(self.graph.inputs))])
            self.tensor_layer[out] = name
        self.placeholders.append(f"{where}: {reason}")


class _Fake:
    """Stands in for a node when a graph input is checked."""

    def __init__(self, name: str):
        self.name, self.op_type = name, "input"


def _fix_batch(model, file: str, batch: int | None) -> str | None:
    """Give the batch dimension (axis 0 of each data input of rank ≥ 2) a value, before shape inference.

    A symbolic batch becomes ``batch`` (1 if None: the returned note says so), and so does every other
    dimension of the same name. Any other symbolic input dimension is a :class:`SpecError` naming it.
    A fixed batch must equal ``batch`` if one is asked for (reshapes in the model may depend on it).
    """
    graph = model.graph
    constants = {init.name for init in graph.initializer}
    inputs = [v for v in graph.input if v.name not in constants]
    dims = {v.name: list(v.type.tensor_type.shape.dim) for v in inputs}
    symbolic = [(name, d[0]) for name, d in dims.items() if len(d) >= 2 and not d[0].HasField("dim_value")]
    symbols = {d.dim_param for _, d in symbolic} - {""}
    for name, d in dims.items():
        for axis, dim in enumerate(d):
            if dim.HasField("dim_value") and dim.dim_value < 1:
                raise SpecError(f"input '{name}' has dimension {dim.dim_value} on axis {axis}; "
                                "dimensions must be positive", file=file)
            if axis == 0 and len(d) >= 2:
                if dim.HasField("dim_value") and batch is not None and dim.dim_value != batch:
                    raise SpecError(f"input '{name}' fixes the batch at {dim.dim_value}; batch {batch} "
                                    "cannot be asked for", file=file)
            elif not dim.HasField("dim_value") and dim.dim_param not in symbols:
                raise SpecError(f"input '{name}' has a symbolic dimension '{dim.dim_param or '?'}' (axis {axis}); "
                                "only the batch (axis 0) may be symbolic: fix it in the model", file=file)
    if not symbolic:
        return None
    note = (f"input '{symbolic[0][0]}' has a symbolic batch dimension '{symbolic[0][1].dim_param or '?'}': "
            "assumed batch 1 (pass --batch to choose)")
    for _, dim in symbolic:
        dim.dim_value = batch or 1  # clears dim_param (a oneof), so shape inference propagates the value
    for v in [*graph.input, *graph.output, *graph.value_info]:
        for dim in v.type.tensor_type.shape.dim:
            if not dim.HasField("dim_value") and dim.dim_param in symbols:
                dim.dim_value = batch or 1
    return None if batch else note


def load_onnx(path: str | Path, *, lenient: bool = False, batch: int | None = None) -> LayerGraph:
    """Import an ONNX file. Malformed files, failed shape inference and unsupported ops raise
    :class:`SpecError`/:class:`UnsupportedError`; ``lenient`` turns unsupported ops into placeholders
    (listed in ``graph.meta["placeholders"]``). A symbolic batch dimension takes ``batch``, or 1 with
    a note in ``graph.meta["assumptions"]``."""
    return _import(path, lenient=lenient, batch=batch)[0]


def onnx_weights(path: str | Path, *, lenient: bool = False) -> dict:
    """The weight array of every conv2d and linear layer of an ONNX file, keyed by :func:`load_onnx`'s layer names.

    Arrays are in the layout of :mod:`accelsim.tensors`: conv OIHW as stored, linear
    ``(out_features, in_features)`` (a ``MatMul``'s or ``Gemm``'s ``(in, out)`` weight is transposed).
    Weights are read from initializers, ``Constant`` nodes and ``ConstantOfShape`` of an initializer
    shape (ONNX's weight-free "light" models); a weight computed from constants by other nodes
    (e.g. a ``Reshape``) is evaluated with ONNX's reference evaluator.
    """
    from onnx import numpy_helper

    import numpy as np

    graph, importer, model = _import(path, lenient=lenient, batch=None)
    arrays = {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}
    for node in model.graph.node:  # Constant, and ConstantOfShape of a known shape (ONNX's "light" models)
        values = {attr.name: attr.t for attr in node.attribute if attr.name == "value"}
        if node.op_type == "Constant" and "value" in values:
            arrays[node.output[0]] = numpy_helper.to_array(values["value"])
        elif node.op_type == "ConstantOfShape" and node.input and node.input[0] in arrays:
            fill = numpy_helper.to_array(values["value"]) if "value" in values else np.zeros(1, np.float32)
            arrays[node.output[0]] = np.full(tuple(int(d) for d in arrays[node.input[0]]), fill.reshape(-1)[0],
                                             dtype=fill.dtype)
    missing = [t for t, _ in importer.weights.values() if t not in arrays]
    if missing:
        arrays |= _fold_constants(model, importer.constants, missing, str(path))
    out = {}
    for layer in graph:
        if layer.name in importer.weights:
            tensor, transpose = importer.weights[layer.name]
            out[layer.name] = arrays[tensor].T if transpose else arrays[tensor]
    return out


def _fold_constants(model, constants: set, wanted: list, file: str) -> dict:
    """Evaluate the constant-only nodes that compute ``wanted`` with ONNX's reference evaluator."""
    from onnx import helper
    from onnx.reference import ReferenceEvaluator

    nodes = [n for n in model.graph.node if n.output and all(o in constants for o in n.output if o)]
    graph = helper.make_graph(nodes, "constants", [], [helper.make_empty_tensor_value_info(t) for t in wanted],
                              list(model.graph.initializer))
    folded = helper.make_model(graph, opset_imports=list(model.opset_import), ir_version=model.ir_version)
    try:
        values = ReferenceEvaluator(folded).run(None, {})
    except (RuntimeError, ValueError, TypeError, KeyError, IndexError, NotImplementedError) as err:
        raise UnsupportedError(f"{file}: cannot compute weight '{wanted[0]}' from its constants: "
                               f"{str(err).splitlines()[0] if str(err) else type(err).__name__}") from None
    return dict(zip(wanted, values))


def _import(path: str | Path, *, lenient: bool, batch: int | None):
    """``(graph, importer, shape-inferred model)``: the one import that :func:`load_onnx` and
    :func:`onnx_weights` share, so both use the same layer names."""
    onnx = _require_onnx()
    from google.protobuf.message import DecodeError

    path = Path(path)
    if path.exists() and not path.is_file():  # a folder, a FIFO or a device such as /dev/zero
        raise SpecError("not a readable ONNX model: not a regular file", file=str(path))
    try:
        model = onnx.load(str(path))
    except (DecodeError, ValueError, OSError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err).splitlines()[0]
        raise SpecError(f"not a readable ONNX model: {reason}", file=str(path)) from None
    if not model.graph.node:
        raise SpecError("not a readable ONNX model: the graph has no nodes", file=str(path))
    assumption = _fix_batch(model, str(path), batch)
    try:
        model = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    except (onnx.shape_inference.InferenceError, onnx.checker.ValidationError, RuntimeError) as err:
        raise SpecError(f"ONNX shape inference failed: {str(err).splitlines()[0]}", file=str(path)) from None
    importer = _Importer(model, str(path), lenient)
    name = path.stem.removeprefix("light_")
    graph = importer.run(name, {"source": f"imported from {path.name} (ONNX opset "
                                          f"{model.opset_import[0].version if model.opset_import else '?'})"})
    if importer.placeholders:
        graph.meta["placeholders"] = importer.placeholders
    if assumption:
        graph.meta["assumptions"] = [assumption]
    return graph, importer, model
