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
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import SpecError, UnsupportedError
from .formats import FIELDS
from .graph import LayerGraph
from .layer import Layer

if TYPE_CHECKING:
    from onnx.defs import OpSchema

# ONNX op → (layer kind, op); elementwise ops cost ELTWISE_OPS[op] per element.
ELEMENTWISE = {
    "Relu": "relu", "LeakyRelu": "relu", "PRelu": "relu", "Clip": "relu6", "Sigmoid": "sigmoid",
    "HardSigmoid": "sigmoid", "HardSwish": "hardswish", "Tanh": "tanh", "Erf": "gelu", "Gelu": "gelu",
    "Exp": "sigmoid", "Sqrt": "sigmoid", "Reciprocal": "sigmoid", "Pow": "mul", "Neg": "copy", "Abs": "copy",
    "Add": "add", "Sum": "add", "Sub": "sub", "Mul": "mul", "Div": "mul", "Max": "add", "Min": "add",
    "Softmax": "softmax", "LogSoftmax": "softmax", "LayerNormalization": "layernorm",
    "BatchNormalization": "batchnorm", "InstanceNormalization": "layernorm", "LRN": "lrn",
    "Softplus": "sigmoid", "Elu": "sigmoid", "Selu": "sigmoid", "Celu": "sigmoid", "Mish": "silu",
    "Cos": "trig", "Sin": "trig", "Log": "log", "Floor": "copy", "Ceil": "copy", "Round": "copy",
    "Sign": "copy", "Mod": "mul", "CumSum": "add",
    "Equal": "compare", "Less": "compare", "Greater": "compare", "LessOrEqual": "compare",
    "GreaterOrEqual": "compare", "IsNaN": "compare", "IsInf": "compare",
    "And": "logical", "Or": "logical", "Xor": "logical", "Not": "logical", "Where": "where",
    # QDQ graphs: scaling an activation to and from its integer form (a multiply and a round per element);
    # on weights both are constants, computed once when the model is compiled
    "QuantizeLinear": "mul", "DequantizeLinear": "mul",
}
# nodes that give a constant another name without changing its elements (its parameters count once)
ALIASING = ("Identity", "Cast", "DequantizeLinear")
REDUCTIONS = {"ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL2", "ReduceL1",
              "ReduceSumSquare", "ReduceLogSumExp", "ArgMax", "ArgMin",
              "TopK",  # a MoE router's top-k: one compare per input element; values and indices are its outputs
              "NonZero"}  # eager MoE dispatch: which tokens an expert receives (one compare per input element)
MOVEMENT = {"Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze", "Dropout", "Identity", "Cast", "CastLike"}
# movement that changes the element count (a gather copies what it selects; the rest is free)
RESIZING = {"Gather": "gather", "GatherND": "gather", "GatherElements": "gather", "Slice": "slice",
            "Split": "slice", "Expand": "expand", "Tile": "tile", "Pad": "pad", "Trilu": "trilu",
            "Range": "range", "OneHot": "expand"}  # OneHot: eager MoE's expert mask, written element by element
# eager MoE's combine (index_add_): one add per update element, written into a copy of the data
SCATTERS = {"ScatterElements": 2, "ScatterND": 2}  # op → its updates' input slot
# QOperator graphs (onnxruntime's quantize_static, QOperator format): the float op each one is, and where its
# activation, weight and bias sit among the node's inputs; the integer ops' outputs are their int32 accumulators
QUANTIZED_OPS = {"QLinearConv": ("Conv", (0, 3, 8)), "QLinearMatMul": ("MatMul", (0, 3)),
                 "ConvInteger": ("Conv", (0, 1)), "MatMulInteger": ("MatMul", (0, 1))}
# ONNX element types (TensorProto.DataType) that are number formats a layer can carry
ONNX_FORMATS = {2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32", 10: "fp16", 16: "bf16",
                17: "fp8_e4m3", 19: "fp8_e5m2", 21: "uint4", 22: "int4"}
CONSTANT_SOURCES = {"Constant", "ConstantOfShape"}
SHAPE_OPS = {"Shape", "Size"}  # constant when their input's shape is static
SUPPORTED = sorted({*QUANTIZED_OPS, *SCATTERS, "Attention", "RMSNormalization", "Resize", "Upsample", "Conv",
                    "ConvTranspose", "Gemm", "MatMul", "Einsum", "MaxPool", "AveragePool", "GlobalAveragePool",
                    "GlobalMaxPool", "Concat", *ELEMENTWISE, *REDUCTIONS, *MOVEMENT, *RESIZING, *CONSTANT_SOURCES,
                    *SHAPE_OPS})
FOLD_LIMIT = 4096  # constants up to this many elements are computed (shape arithmetic, masks); weights are not
NEVER_FOLD = {"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial", "If", "Loop",
              "Scan"}


# Right for both kinds of install: from PyPI, and editable from a checkout (as the README shows).
INSTALL_HINT = "pip install 'accelsim[onnx]' (or pip install -e '.[onnx]' in a checkout)"


def _require_onnx():
    try:
        import onnx
    except ImportError:
        raise UnsupportedError(f"ONNX import needs the onnx package: {INSTALL_HINT}") from None
    return onnx


def _schema_type_name(attribute: OpSchema.Attribute) -> str:
    """The name of an operator schema attribute's type (``INT``, ``FLOATS``, ...)."""
    # OpSchema.AttrType is a pybind11 enum, which has `name`; onnx's stub (defs.pyi) leaves it out
    return attribute.type.name  # type: ignore[attr-defined]


class _Importer:
    def __init__(self, model, file: str, lenient: bool, routing: list[list[int]] | None = None,
                 every_run: bool = False):
        self.file, self.lenient = file, lenient
        self.every_run, self.run_constants = every_run, 0  # matmuls of constants run per inference, and how many
        self.routing = routing  # tokens per expert of each mixture-of-experts layer, in graph order (measured)
        # a Gather of expert weights → (table, indices, transposed since)
        self.expert_tables: dict[str, tuple[str, str, bool]] = {}
        self.moe_layers: dict[str, int] = {}  # a router's expert indices → its MoE layer's number
        self.eager_experts: set[int] = set()  # how many experts the weight tables an eager loop picks from hold
        self.balanced: list[int] = []  # MoE layers given balanced routing (no measured routing)
        self.idle_experts: list[str] = []  # experts a measured routing sends no token (their weights in no layer)
        self.graph_proto = model.graph
        self.shapes: dict[str, tuple] = {}  # None marks a dimension shape inference left unknown
        for v in [*model.graph.value_info, *model.graph.input, *model.graph.output]:
            dims = v.type.tensor_type.shape.dim
            if v.type.tensor_type.HasField("shape"):
                self.shapes[v.name] = tuple(d.dim_value if d.HasField("dim_value") and d.dim_value >= 0 else None
                                            for d in dims)
        self.elem_types: dict[str, int] = {}  # ONNX element type of every tensor inference typed
        for v in [*model.graph.value_info, *model.graph.input, *model.graph.output]:
            if v.type.tensor_type.elem_type:
                self.elem_types[v.name] = v.type.tensor_type.elem_type
        for init in model.graph.initializer:
            self.shapes[init.name] = tuple(init.dims)
            self.elem_types[init.name] = init.data_type
        self.constants = {init.name for init in model.graph.initializer}
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 1)
        self.tensor_layer: dict[str, str] = {}  # ONNX tensor → the layer (or graph input) that carries it
        self.names: set[str] = set()
        self.suffix: dict[str, int] = {}
        self.placeholders: list[str] = []
        self.weights: dict[str, tuple[str, bool]] = {}  # layer → (its weight tensor, stored (in, out))
        self.uses: dict[str, int] = {}  # how many nodes (and graph outputs) read each tensor
        self.readers: dict[str, list] = {}  # tensor → the nodes that read it
        self.producers = {t: node.op_type for node in model.graph.node for t in node.output}
        for node in model.graph.node:
            for t in node.input:
                self.uses[t] = self.uses.get(t, 0) + 1
                self.readers.setdefault(t, []).append(node)
        for out in model.graph.output:
            self.uses[out.name] = self.uses.get(out.name, 0) + 1
        self.empty: set[str] = set()  # tensors with a dimension of 0: nothing reads or writes them
        self.initializers = {init.name for init in model.graph.initializer}
        self.folded_nodes = self.folded_macs = self.folded_params = 0  # matmuls of constants only
        self.folded_weights: set[str] = set()  # weights read by matmuls of constants (params: those no layer reads)
        self.computed: set[str] = set()  # constants computed by MACs from other constants (not tensors of the file)
        self.transposed: list[tuple[str, int, int, tuple]] = []  # ConvTranspose: (layer, useful MACs, issued, out)
        self.aliases: dict[str, str] = _aliases(model)  # a constant passed through Identity/Cast → the tensor
        self.biases: dict[str, str] = {}  # layer → its bias tensor (Conv/Gemm third input, or a folded Add)
        self.biasless: dict[str, str] = {}  # MatMul output tensor → its linear layer (a bias Add may follow)
        self.flipped: set[str] = set()  # products W @ x of a constant W (features on axis -2)
        self.requantized: dict[str, str] = {}  # a Quantize/DequantizeLinear's output tensor → the activation it read
        # a dequantized tensor → how many scales it has (1: per tensor), also those constant folding computed
        self.scales: dict[str, int] = {k: int(v) for k, v in _scales(model).items()}
        self.per_channel: list[int] = []  # the scale elements of each layer with per-channel weight scales
        self.dequantized: dict[str, int] = {}  # a DequantizeLinear's output → the integer element type it read
        self.float_operands: dict[str, str] = {}  # GEMM layer → its operands (of "IWO") that are floats in the file
        self.shifted = 0  # layers whose uint8 activations run as int8 (shifted by 128)

    # -- helpers ----------------------------------------------------------------------------
    def error(self, node, reason: str) -> SpecError:
        return SpecError(f"node '{_shown(node.name or node.op_type)}' ({node.op_type}): {reason}", file=self.file)

    def shape(self, node, tensor: str) -> tuple:
        if tensor not in self.shapes:
            raise self.error(node, f"ONNX shape inference gave no shape for tensor '{tensor}'")
        shape = self.shapes[tensor]
        if 0 in shape:
            raise self.error(node, f"tensor '{tensor}' is empty (dimension 0 on axis {shape.index(0)}): "
                                   "an empty tensor has no work to model")
        if None in shape:
            axis = shape.index(None)
            if self.producers.get(tensor) == "NonZero":
                raise self.error(node, f"the size of tensor '{tensor}' depends on the data (NonZero): only an eager "
                                       "mixture-of-experts dispatch, whose sizes come from the routing, is modelled")
            raise self.error(node, f"tensor '{tensor}' has an unknown dimension on axis {axis} "
                                   f"({['?' if d is None else d for d in shape]}) that ONNX shape inference "
                                   "could not resolve; give the model's symbolic dimensions with --batch, --seq "
                                   "or --dim NAME=N")
        return shape

    def unique(self, name: str) -> str:
        """A layer name from a node name: control characters escaped, a suffix when taken."""
        base = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in name) or "node"
        name, n = base, self.suffix.get(base, 1)
        while name in self.names:
            n += 1
            name = f"{base}_{n}"
        self.suffix[base] = n  # the next clash starts counting here, not from 2 again
        self.names.add(name)
        return name

    def carries_batch(self, shapes: list[tuple]) -> bool:
        """Whether every tensor of a node leads with the batch (else the node's layer has batch 1 and
        whole shapes: a transformer's ``[B·S, D]`` tokens, or a tensor without a batch)."""
        return all(len(sh) >= 2 and sh[0] == self.batch for sh in shapes)

    def add(self, node, kind: str, activations: list[str], *, out_shape_field: bool = False, **kw) -> str:
        """Add a layer for ``node`` reading ``activations``; ``out_shape_field`` sets its ``shape`` to
        the ONNX output shape (movement, placeholders, widened or reduced elementwise ops)."""
        name = self.unique(node.name or f"{node.op_type}_{len(self.names)}")
        full = [self.shape(node, t) or (1,) for t in activations]  # a scalar is one element
        out = self.shape(node, node.output[0]) or (1,)
        if self.batch == 1:  # each tensor drops a leading batch of 1 on its own: one spelling per tensor
            carry = len(out) >= 2 and out[0] == 1
            shapes = tuple(sh[1:] if len(sh) >= 2 and sh[0] == 1 else sh for sh in full)
        else:
            carry = self.carries_batch([*full, out])
            shapes = tuple(sh[1:] if carry else sh for sh in full)
        batch = self.batch if carry else 1
        if not carry and kind in ("conv2d", "pool") and len({(len(sh), sh[0]) for sh in [*full, out]}) == 1:
            carry, batch = True, out[0]  # images of another batch than the first input's (CLIP's vision tower)
            shapes = tuple(sh[1:] for sh in full)
        out = out[1:] if carry else out
        if out_shape_field:
            kw["shape"] = out
        if "axis" in kw and carry:
            kw["axis"] -= 1
        try:
            layer = Layer(name, kind, shapes, batch=batch, **kw)
            self.graph.add(layer, [self.tensor_layer[t] for t in activations])
        except SpecError as err:
            raise self.error(node, err.message) from None
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
        self.batch = first[0] if len(first) >= 2 and first[0] else 1
        self.graph = LayerGraph(name, {}, meta=meta, file=self.file)
        self.graph.batch = self.batch
        for tensor in data_inputs:
            shape = self.shapes.get(tensor)
            if shape is None or None in shape or 0 in shape:
                raise SpecError(f"input '{tensor}' has no static shape", file=self.file)
            shape = shape or (1,)  # a scalar input (a flag, a temperature) is one element
            self.graph.inputs[tensor] = shape[1:] if self.carries_batch([shape]) else shape
            self.tensor_layer[tensor] = tensor
            self.names.add(tensor)
        for node in self.graph_proto.node:
            try:
                self.node(node)
            except (SpecError, UnsupportedError) as err:
                if not self.lenient:
                    raise
                self.placeholder(node, err.message if isinstance(err, SpecError) else str(err))
        self.mark_shared_weights()
        return self.graph

    def mark_shared_weights(self) -> None:
        """A weight (or bias) tensor read by several layers counts in the first one's params only, under any
        of its names (TorchScript hands ALBERT's shared weights to later layers through ``Identity`` nodes)."""
        seen: set[str] = set()
        for layer in list(self.graph):
            tensors = [self.aliases.get(t, t) for t in (self.weights.get(layer.name, (None,))[0],
                                                        self.biases.get(layer.name)) if t]
            # a weight the model computes from its constants (DeBERTa's projected relative positions) is not a
            # tensor of the file: its elements are not parameters
            shared = sum(math.prod(self.shapes.get(t, ())) for t in tensors if t in seen or t in self.computed)
            seen.update(tensors)
            if shared:
                self.graph.replace(replace(layer, shared_params=shared))
        self.folded_params = sum(math.prod(self.shapes.get(t, ())) for t in self.folded_weights - seen)

    def node(self, node) -> None:
        before = len(self.graph)
        self.node_layers(node)
        gemms = [layer for layer in list(self.graph)[before:] if layer.gemm is not None]
        if gemms:
            self.carry_formats(node, gemms)

    def carry_formats(self, node, layers: list[Layer]) -> None:
        """Give the GEMM layers made from ``node`` the number formats the file gives their operands: integers
        from a QDQ graph (what each DequantizeLinear read) or a QOperator one (the operands' own types), fp16
        or bf16 from a half-precision export. Float32 operands are listed in :attr:`float_operands`: they take
        the datapath's format when the workload runs (:func:`accelsim.workload.formats.with_datapath_formats`)."""
        float_op, slots = QUANTIZED_OPS.get(node.op_type, (node.op_type, (0, 1)))
        x, w = (node.input[i] if i < len(node.input) else "" for i in slots[:2])
        if float_op == "MatMul" and x in self.constants and w not in self.constants:
            x, w = w, x  # W @ x: the constant is the weight
        formats = {"I": self.file_format(x), "W": self.file_format(w), "O": self.output_format(node, float_op)}
        if node.op_type in ("QLinearConv", "QLinearMatMul"):  # the weight's scales are the node's fifth input
            scales = math.prod(self.shapes.get(node.input[4]) or ())
        else:  # what the weight's DequantizeLinear read (1 for a float or an integer op's weight)
            scales = self.scales.get(w, 1)
        if scales > 1:
            self.per_channel.extend([scales] * len(layers))
        if "uint8" in formats.values():  # an int8 array takes uint8 operands shifted by 128 (the zero-point
            self.shifted += 1  # correction folds into the bias)
            formats = {op: "int8" if fmt == "uint8" else fmt for op, fmt in formats.items()}
        for layer in layers:
            changes = {FIELDS[op]: fmt for op, fmt in formats.items() if fmt}
            if changes:
                self.graph.replace(Layer.from_dict(layer.to_dict() | changes, where=f"layer '{layer.name}'"))
            floats = "".join(op for op, fmt in formats.items() if not fmt)
            if floats:
                self.float_operands[layer.name] = floats

    def file_format(self, tensor: str) -> str | None:
        """The number format ``tensor`` holds in the file (through the DequantizeLinear, Identity or Cast that
        renamed it), or None for a float32 tensor."""
        code = self.dequantized.get(tensor) or self.elem_types.get(self.aliases.get(tensor, tensor))
        return ONNX_FORMATS.get(code) if code else None

    def output_format(self, node, float_op: str) -> str | None:
        """The format a GEMM node's result is stored in: a QOperator op's own (an integer op's int32), or in a
        QDQ graph that of the QuantizeLinear it feeds (past a bias Add); None for a float result."""
        out = node.output[0]
        if node.op_type in QUANTIZED_OPS:
            return "int32" if node.op_type.endswith("Integer") else self.file_format(out)
        for _ in range(2):
            readers = self.readers.get(out, [])
            if len(readers) != 1:
                return self.file_format(out)
            reader = readers[0]
            if reader.op_type == "QuantizeLinear":
                return ONNX_FORMATS.get(self.elem_types.get(reader.output[0], 0))
            if reader.op_type != "Add" or not any(t in self.constants for t in reader.input if t != out):
                break
            out = reader.output[0]
        return self.file_format(node.output[0])

    def node_layers(self, node) -> None:
        op = node.op_type
        inputs = [t for t in node.input if t]
        if op == "DequantizeLinear" and inputs and self.elem_types.get(inputs[0]):
            self.dequantized[node.output[0]] = self.elem_types[inputs[0]]
            if len(inputs) > 1:
                self.scales[node.output[0]] = math.prod(self.shapes.get(inputs[1]) or ())
        if op in ("MatMul", "Gemm") and self.every_run and inputs and all(t in self.constants for t in inputs):
            self.constant_input(node, inputs[0])  # run it every inference, as PyTorch does: its left operand is data
            inputs = [t for t in node.input if t]
        if op in CONSTANT_SOURCES or (inputs and all(t in self.constants for t in inputs) and not _has_subgraph(node)):
            if op in ("MatMul", "Gemm"):
                self.constant_matmul(node, inputs)
            if op in ("MatMul", "Gemm", "Einsum", "Conv") or any(t in self.computed for t in inputs):
                if op == "Add" and len(inputs) == 2:  # a vector added to a matmul of constants: its bias
                    product, bias = sorted(inputs, key=lambda t: t not in self.computed)
                    if bias not in self.computed and math.prod(self.shapes.get(bias) or (0,)) == \
                            (self.shapes.get(product) or (None,))[-1]:
                        self.folded_weights.add(self.aliases.get(bias, bias))
                self.computed.update(node.output)
            self.constants.update(node.output)
            if op in ALIASING and inputs:  # another name (or type, or scale) for the same weights
                self.aliases[node.output[0]] = self.aliases.get(inputs[0], inputs[0])
            return
        if op in SHAPE_OPS and inputs and None not in self.shapes.get(inputs[0], (None,)):
            self.constants.update(node.output)  # a static shape is a constant (folding missed it)
            return
        outputs = [t for t in node.output if t]
        if outputs and all(0 in self.shapes.get(t, ()) for t in outputs) and op in WEIGHT_SLOTS and \
                len(node.input) > 1 and node.input[1] in self.constants:
            raise self.error(node, f"its output {list(self.shapes[outputs[0]])} is empty (a kernel larger than its "
                                   "padded input?): its weights would do no work")
        if outputs and all(0 in self.shapes.get(t, ()) for t in outputs):  # no elements: no work, no layer
            self.empty.update(outputs)  # (Phi-3's rotary Slice of width 0, concatenated back)
            return
        inputs = [t for t in inputs if t not in self.empty]  # an empty operand adds nothing
        if op not in SUPPORTED or node.domain not in ("", "ai.onnx"):
            return self.unsupported(node, f"op {op} is not supported")
        acts = [t for t in inputs if t not in self.constants]
        missing = [t for t in acts if t not in self.tensor_layer and t not in self.expert_tables]
        if missing:
            raise self.error(node, f"reads tensor '{missing[0]}', which no earlier node produces")
        a = self.checked_attributes(node)
        if op == "Transpose" and acts and acts[0] in self.expert_tables and len(self.shape(node, acts[0])) == 2:
            table, indices, flipped = self.expert_tables[acts[0]]  # one expert's matrix, transposed for x @ Wᵀ
            self.expert_tables[node.output[0]] = (table, indices, not flipped)
            return
        if op in QUANTIZED_OPS:  # the float op it quantizes, on its activation, weight and bias
            float_op, slots = QUANTIZED_OPS[op]
            operands = [node.input[i] if i < len(node.input) else "" for i in slots]
            node, op = _Node(node, node.name or op, list(node.output[:1]), inputs=operands, op_type=float_op), float_op
            acts = [t for t in operands if t and t not in self.constants]
        if op == "Conv":
            return self.conv(node, a)
        if op in ("Gemm", "MatMul"):
            return self.gemm(node, a, acts)
        if op == "Einsum":
            return self.einsum(node, a, inputs, acts)
        if op == "ConvTranspose":
            return self.conv_transpose(node, a)
        if op == "Attention":
            return self.attention(node, a)
        if op in ("MaxPool", "AveragePool"):
            return self.pool(node, a, "max" if op == "MaxPool" else "avg")
        if op in ("GlobalAveragePool", "GlobalMaxPool"):
            x = self.shape(node, acts[0])[1:]
            self.add(node, "pool", acts, op="global_avg" if op == "GlobalAveragePool" else "max", kernel=x[1:])
            return
        if op == "Concat":
            return self.concat(node, a, inputs, acts)
        if op in SHAPE_OPS:
            raise self.error(node, f"reads the shape of '{inputs[0]}', which is not static")
        if op in MOVEMENT:
            self.add(node, "reshape", acts[:1], op=op.lower(), out_shape_field=True)
            return
        if op in ("Gather", "GatherND") and self.expert_gather(node, inputs):
            return
        if op in SCATTERS:
            data, updates = node.input[0], node.input[SCATTERS[op]]
            if updates in self.constants:
                return self.unsupported(node, "a scatter of constant updates is not supported")
            # the copy of the data with the updates added in: one vector op per element written
            self.add(node, "reshape", [*([data] if data not in self.constants else []), updates], op="pad",
                     out_shape_field=True)
            return
        if op in RESIZING:
            return self.resize(node, acts)
        if op in REDUCTIONS:
            name = self.add(node, "eltwise", acts[:1], op="reduce", out_shape_field=True)
            for extra in node.output[1:]:  # TopK's indices: the same layer's other output, of the same shape
                if extra:
                    self.tensor_layer[extra] = name
            return
        if op in ("RMSNormalization",):
            self.add(node, "eltwise", acts[:1], op="rmsnorm")
            return
        if op in ("Resize", "Upsample"):  # nearest/linear resampling: a copy per output element
            self.add(node, "reshape", acts[:1], op="gather", out_shape_field=True)
            return
        if op == "Add" and self.fold_bias(node, inputs, acts):
            return
        if op in ("QuantizeLinear", "DequantizeLinear"):
            self.requantized[node.output[0]] = acts[0]
        out_shape = self.shape(node, node.output[0])
        widened = _broadcast_shapes([self.shape(node, t) for t in acts]) != out_shape
        self.add(node, "eltwise", acts, op=ELEMENTWISE[op], out_shape_field=widened)

    def constant_input(self, node, tensor: str) -> None:
        """A constant read as data, from DRAM, every inference (``every_run``): a graph input of its own."""
        shape = self.shape(node, tensor) or (1,)
        self.graph.inputs[tensor] = shape[1:] if self.carries_batch([shape]) else shape
        self.tensor_layer[tensor] = tensor
        self.names.add(tensor)
        self.constants.discard(tensor)
        self.run_constants += 1

    def constant_matmul(self, node, inputs: list[str]) -> None:
        """A MatMul/Gemm of constants only (DeBERTa's relative-position projections, DETR's first decoder
        layer): a deployment compiler computes it once, so it is not a layer; its MACs and its weights are
        counted here so the report can say what was left out."""
        a, b = (self.shapes.get(t) for t in inputs[:2])
        if not a or not b or None in a or None in b:
            return
        attrs = {x.name: x.i for x in node.attribute}
        if node.op_type == "Gemm":
            m, k = (a[1], a[0]) if attrs.get("transA") else a
            n = b[0] if attrs.get("transB") else b[1]
            lead = 1
        else:
            a, b = (a if len(a) > 1 else (1, *a)), (b if len(b) > 1 else (*b, 1))
            m, k, n = a[-2], a[-1], b[-1]
            lead = math.prod(_broadcast_shapes([a[:-2], b[:-2]]) or ())
        self.folded_macs += lead * m * k * n
        for t in inputs[1:]:  # the weights (and a Gemm's bias); the left operand is data (an embedding table)
            root = self.aliases.get(t, t)
            if root not in self.computed:
                self.folded_weights.add(root)
        self.folded_nodes += 1

    def concat(self, node, a, inputs, acts) -> None:
        axis = a.get("axis", 0)
        rank = len(self.shape(node, node.output[0]))
        axis = axis + rank if axis < 0 else axis
        if len(acts) < 2 or len(acts) != len(inputs):  # a constant operand (a CLS token): movement
            self.add(node, "reshape", acts, op="concat", out_shape_field=True)
            return
        self.add(node, "concat", acts, axis=axis)

    def expert_gather(self, node, inputs: list[str]) -> bool:
        """A mixture of experts' weights picked per routed token (``experts.gate_up_proj[top_k_index]``, as
        transformers' batched experts export): no copy is made, the MatMuls it feeds become expert layers."""
        if len(inputs) != 2 or inputs[0] not in self.constants or inputs[1] in self.constants:
            return False
        table, indices = inputs
        if len(self.shapes.get(indices, (0,))) == 0 and node.op_type == "Gather":  # one expert, chosen at run time
            readers = self.readers.get(node.output[0], [])
            if len(self.shapes.get(table, ())) != 3 or not readers or any(
                    r.op_type not in ("MatMul", "Transpose") for r in readers):
                return False
            self.expert_tables[node.output[0]] = (table, indices, False)
            return True
        if node.op_type == "GatherND" and ((self.shapes.get(indices) or (0,))[-1] != 1 or any(
                a.name == "batch_dims" and a.i for a in node.attribute)):
            return False  # GatherND picks whole experts only with one index per row and no batch dimensions
        readers = self.readers.get(node.output[0], [])
        if len(self.shapes.get(table, ())) != 3 or not readers or any(r.op_type != "MatMul" for r in readers):
            return False
        self.expert_tables[node.output[0]] = (table, indices, False)
        return True

    def experts(self, node, first: str, second: str) -> None:
        """A batched expert matmul: each routed token (slot) times the weights of the expert it was sent to, as
        one linear layer per expert over the tokens it receives (a free dispatch slice in, a free concatenation
        back in slot order). The tokens per expert come from ``routing`` (measured), else balanced top-k
        routing, said in the assumptions; every expert's weights are parameters once."""
        left = first in self.expert_tables
        weights, x = (first, second) if left else (second, first)
        table, indices, flipped = self.expert_tables[weights]
        if len(self.shape(node, weights)) == 2:
            return self.one_expert(node, weights, x, left, flipped)
        experts, rows, cols = self.shape(node, table)
        xshape, slots = self.shape(node, x), math.prod(self.shape(node, indices))
        k, width = (cols, xshape[-1]) if left else (rows, xshape[-2])
        n = rows if left else cols
        if math.prod(xshape) != slots * k or width != 1 and xshape[-2 if left else -1] != k:
            return self.unsupported(node, f"expert weights {[experts, rows, cols]} times {list(xshape)} are not one "
                                          "routed token per expert matrix")
        layer = self.moe_layers.setdefault(indices, len(self.moe_layers))
        counts = self.expert_tokens(node, layer, experts, slots)
        base, out = node.name or node.op_type, node.output[0]
        tokens = f"{out}@tokens"
        self.shapes[tokens] = (slots, k)
        self.add(_Node(node, f"{base}.tokens", [tokens]), "reshape", [x], op="reshape", out_shape_field=True)
        parts, start = [], 0
        for expert, count in enumerate(counts):
            if not count:
                self.idle_experts.append(f"{table}[{expert}]")
                continue
            routed, result, matrix = f"{out}@e{expert}.in", f"{out}@e{expert}", f"{table}[{expert}]"
            self.shapes[routed], self.shapes[result], self.shapes[matrix] = (count, k), (count, n), (rows, cols)
            self.add(_Node(node, f"{base}.expert{expert}.tokens", [routed]), "reshape", [tokens], op="slice",
                     out_shape_field=True)
            name = self.add(_Node(node, f"{base}.expert{expert}", [result]), "linear", [routed], out=n)
            self.weights[name] = (matrix, not left)
            parts.append(result)
            start += count
        joined = f"{out}@joined"
        self.shapes[joined] = (slots, n)
        if len(parts) > 1:
            self.add(_Node(node, f"{base}.combine", [joined]), "concat", parts, axis=0)
        else:
            self.tensor_layer[joined] = self.tensor_layer[parts[0]]
        self.add(_Node(node, f"{base}.out", [out]), "reshape", [joined], op="reshape", out_shape_field=True)

    def one_expert(self, node, weights: str, x: str, left: bool, flipped: bool) -> None:
        """``x @ W_e`` with ``W_e`` the expert a loop iteration picked at run time (eager MoE dispatch): a linear
        layer over the tokens routed to it, its weights that expert's matrix (a parameter once)."""
        table, indices, _ = self.expert_tables[weights]
        wshape = self.shape(node, weights)
        self.eager_experts.add(self.shape(node, table)[0])
        if left:
            return self.unsupported(node, "an expert's weights as the left operand are not supported")
        k, n = wshape
        if self.shape(node, x)[-1] != k:
            raise self.error(node, f"expert weights {list(wshape)} do not fit the tokens {list(self.shape(node, x))}")
        name = self.add(node, "linear", [x], out=n)
        matrix = f"{table}[{indices}]"  # the expert this iteration's index picks: its own parameters
        self.shapes[matrix] = wshape
        self.weights[name] = (matrix, not flipped)
        self.biasless[node.output[0]] = name

    def expert_tokens(self, node, layer: int, experts: int, slots: int) -> list[int]:
        """Tokens each expert of MoE layer ``layer`` receives: measured, or top-k balanced (the remainder to
        the first experts)."""
        if self.routing is None:
            if layer not in self.balanced:
                self.balanced.append(layer)
            return _balanced(slots, experts)
        if layer >= len(self.routing):
            raise self.error(node, f"the routing gives {len(self.routing)} MoE layer(s); the model has more")
        counts = self.routing[layer]
        if len(counts) != experts or sum(counts) != slots:
            raise self.error(node, f"the routing of MoE layer {layer} gives {len(counts)} experts {sum(counts)} "
                                   f"tokens; the model routes {slots} tokens to {experts} experts")
        return list(counts)

    def resize(self, node, acts) -> None:
        """Movement that changes the element count; a multi-output Split becomes one slice per output."""
        kind = RESIZING[node.op_type]
        if node.op_type.startswith("Gather") and node.input[0] in self.constants:  # rows of a table in DRAM
            name = self.add(node, "reshape", acts, op="lookup", out_shape_field=True)
            table = node.input[0]
            fmt = self.file_format(table)
            if fmt:
                self.graph.replace(Layer.from_dict(self.graph[name].to_dict() | {"weight_type": fmt},
                                                   where=f"layer '{name}'"))
            else:
                self.float_operands[name] = "W"  # a float32 table: stored in the datapath's format
            return
        if len(node.output) == 1:
            self.add(node, "reshape", acts, op=kind, out_shape_field=True)
            return
        for i, out in enumerate(node.output):
            if out:
                part = _Node(node, f"{node.name or node.op_type}:{i}", [out])
                self.add(part, "reshape", acts[:1], op=kind, out_shape_field=True)

    def fold_bias(self, node, inputs, acts) -> bool:
        """``MatMul`` + a constant ``Add`` is one linear layer with a bias (every ``nn.Linear`` on a 3-D
        input exports so): fold it when the product feeds only this Add (in a quantized graph, through the
        QuantizeLinear and DequantizeLinear between them) and the constant is a per-output-feature vector."""
        if len(acts) != 1 or len(inputs) != 2:
            return False
        product = acts[0]
        while product not in self.biasless and product in self.requantized and self.uses.get(product, 0) == 1:
            product = self.requantized[product]  # a quantized graph's MatMul → Quantize → Dequantize → Add
        if product not in self.biasless or self.uses.get(product, 0) != 1:
            return False
        layer = self.graph[self.biasless[product]]
        bias = self.shapes.get(next(t for t in inputs if t != acts[0]), ())
        axis = -2 if product in self.flipped else -1  # W @ x has its output features on axis -2
        if not bias or None in bias or len(bias) < -axis or bias[axis] != layer.out or math.prod(bias) != layer.out:
            return False
        self.graph.replace(replace(layer, bias=True))
        self.biases[layer.name] = next(t for t in inputs if t != acts[0])
        self.tensor_layer[node.output[0]] = self.tensor_layer[acts[0]]
        del self.biasless[product]
        return True

    def checked_attributes(self, node) -> dict[str, Any]:
        """The node's attributes by name, once its inputs and attribute types match its operator's schema."""
        from onnx import AttributeProto, defs, helper

        try:
            schema = defs.get_schema(node.op_type, max_inclusive_version=self.opset)
        except defs.SchemaError:
            raise UnsupportedError(f"{self.file}: node '{_shown(node.name or node.op_type)}' ({node.op_type}): "
                                   f"{node.op_type} is not defined at the model's opset {self.opset} (use "
                                   "--lenient to import it as a zero-cost placeholder)") from None
        given = len(node.input)
        if given < schema.min_input or not all(node.input[:schema.min_input]):
            raise self.error(node, f"has {given} inputs; {node.op_type} needs at least {schema.min_input}")
        for attr in node.attribute:
            expected = schema.attributes.get(attr.name)
            if expected is None:
                raise self.error(node, f"has an attribute '{attr.name}' that {node.op_type} does not define")
            kinds = AttributeProto.AttributeType
            actual = kinds.Name(attr.type) if attr.type in kinds.values() else str(attr.type)
            want = _schema_type_name(expected)
            if actual != want:
                raise self.error(node, f"attribute '{attr.name}' must be {want}, not {actual}")
        return {a.name: helper.get_attribute_value(a) for a in node.attribute}

    def conv(self, node, a) -> None:
        x, w = node.input[0], node.input[1]
        wshape = self.shape(node, w)
        if len(wshape) == 3:
            return self.conv1d(node, a, x, w, wshape)
        if len(wshape) == 5:
            return self.conv3d(node, a, x, w, wshape)
        if len(wshape) != 4:
            return self.unsupported(node, f"only 1-D, 2-D and 3-D convolutions are supported (weights {list(wshape)})")
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
        if len(node.input) > 2 and node.input[2]:
            self.biases[name] = node.input[2]

    def conv1d(self, node, a, x: str, w: str, wshape: tuple) -> None:
        """A 1-D convolution (Whisper's and wav2vec2's front ends, Mamba's causal conv) as the 2-D one of height 1
        it is: the same GEMM, the same input bytes, between two zero-cost reshapes."""
        if x in self.constants or w not in self.constants:
            return self.unsupported(node, "convolution weights must be constant and its input an activation")
        xshape, out = self.shape(node, x), self.shape(node, node.output[0])
        groups = a.get("group", 1)
        if len(xshape) != 3 or wshape[1] * groups != xshape[1]:
            raise self.error(node, f"weight shape {list(wshape)} ({wshape[1]} channels × group {groups}) does "
                                   f"not fit input shape {list(xshape)}")
        two_d = dict(a)
        for key in ("kernel_shape", "strides", "dilations"):
            if key in a:
                two_d[key] = (1, *a[key])
        if "pads" in a:
            two_d["pads"] = (0, a["pads"][0], 0, a["pads"][1])
        kernel = tuple(two_d.get("kernel_shape", (1, wshape[2])))
        if kernel != (1, wshape[2]):
            raise self.error(node, f"kernel_shape {list(kernel[1:])} disagrees with weight shape {list(wshape)}")
        strides, dilations = tuple(two_d.get("strides", (1, 1))), tuple(two_d.get("dilations", (1, 1)))
        pads = self.pads(node, two_d, (1, xshape[2]), kernel, strides, dilations)
        base = node.name or node.op_type
        wide_in, wide_out = f"{node.output[0]}@in2d", f"{node.output[0]}@out2d"
        self.shapes[wide_in] = (xshape[0], xshape[1], 1, xshape[2])
        self.shapes[wide_out] = (out[0], out[1], 1, out[2])
        self.add(_Node(node, f"{base}.as2d", [wide_in]), "reshape", [x], op="reshape", out_shape_field=True)
        name = self.add(_Node(node, base, [wide_out]), "conv2d", [wide_in], out=wshape[0], kernel=kernel,
                        stride=strides, padding=pads, dilation=dilations, groups=groups,
                        bias=len(node.input) > 2 and bool(node.input[2]))
        self.add(_Node(node, f"{base}.as1d", [node.output[0]]), "reshape", [wide_out], op="reshape",
                 out_shape_field=True)
        self.weights[name] = (w, False)
        if len(node.input) > 2 and node.input[2]:
            self.biases[name] = node.input[2]

    def conv3d(self, node, a, x: str, w: str, wshape: tuple) -> None:
        """A 3-D convolution (video models) as the array runs it: each output frame gathers the ``kd`` input
        frames its kernel covers as channels (a materialising copy of ``C·kd`` channels, zero frames for the
        depth padding), then one 2-D convolution of ``kh×kw`` over them per output frame, the frames a batch:
        the GEMM ``M = B·D'·H'·W'``, ``K = C·kd·kh·kw``, ``N = out``, as im2col lowers it."""
        if x in self.constants or w not in self.constants:
            return self.unsupported(node, "convolution weights must be constant and its input an activation")
        xshape, out = self.shape(node, x), self.shape(node, node.output[0])
        groups = a.get("group", 1)
        if len(xshape) != 5 or wshape[1] * groups != xshape[1]:
            raise self.error(node, f"weight shape {list(wshape)} ({wshape[1]} channels × group {groups}) does "
                                   f"not fit input shape {list(xshape)}")
        auto = a.get("auto_pad", b"NOTSET")
        auto = auto.decode() if isinstance(auto, bytes) else auto
        if auto not in ("NOTSET", "VALID"):
            return self.unsupported(node, f"a 3-D convolution with auto_pad {auto} is not supported")
        kernel = tuple(a.get("kernel_shape", wshape[2:]))
        if kernel != tuple(wshape[2:]):
            raise self.error(node, f"kernel_shape {list(kernel)} disagrees with weight shape {list(wshape)}")
        strides, dilations = tuple(a.get("strides", (1, 1, 1))), tuple(a.get("dilations", (1, 1, 1)))
        pads = tuple(a.get("pads", (0,) * 6)) if auto == "NOTSET" else (0,) * 6
        batch, channels, depth = xshape[:3]
        frames = out[2]  # ONNX's output depth; the 2-D convolution below checks the rest of the shape
        if frames != (depth + pads[0] + pads[3] - dilations[0] * (kernel[0] - 1) - 1) // strides[0] + 1:
            raise self.error(node, f"output shape {list(out)} does not follow from the input {list(xshape)}")
        base = node.name or node.op_type
        gathered, flat = f"{node.output[0]}@frames", f"{node.output[0]}@conv2d"
        self.shapes[gathered] = (batch * frames, channels * kernel[0], *xshape[3:])
        self.shapes[flat] = (batch * frames, out[1], *out[3:])
        self.add(_Node(node, f"{base}.frames", [gathered]), "reshape", [x], op="gather", out_shape_field=True)
        name = self.unique(base)
        try:
            layer = Layer(name, "conv2d", (self.shapes[gathered][1:],), batch=batch * frames, out=wshape[0],
                          kernel=kernel[1:], stride=strides[1:], dilation=dilations[1:], groups=groups,
                          padding=(pads[1], pads[2], pads[4], pads[5]),
                          bias=len(node.input) > 2 and bool(node.input[2]))
            self.graph.add(layer, [self.tensor_layer[gathered]])
        except SpecError as err:
            raise self.error(node, err.message) from None
        if layer.out_shape != self.shapes[flat][1:]:
            raise self.error(node, f"accelsim infers output frames {list(layer.out_shape)} but ONNX infers "
                                   f"{list(out[1:2] + out[3:])}")
        self.tensor_layer[flat] = name
        self.add(_Node(node, f"{base}.frames_out", [node.output[0]]), "reshape", [flat], op="transpose",
                 out_shape_field=True)
        self.weights[name] = (w, False)
        if len(node.input) > 2 and node.input[2]:
            self.biases[name] = node.input[2]

    def pads(self, node, a, size, kernel, strides, dilations, ceil_mode: int = 0) -> tuple[int, int, int, int]:
        auto = a.get("auto_pad", b"NOTSET")
        auto = auto.decode() if isinstance(auto, bytes) else auto
        if auto in ("SAME_UPPER", "SAME_LOWER"):
            out = []
            for n, k, s, d in zip(size, kernel, strides, dilations):
                total = max(0, (math.ceil(n / s) - 1) * s + d * (k - 1) + 1 - n)
                half, rest = total // 2, total - total // 2
                out.append((half, rest) if auto == "SAME_UPPER" else (rest, half))
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
            if len(wshape) > 2 and node.op_type == "MatMul":
                return self.grouped_weights(node, first, second, wshape)
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
            if bias:
                self.biases[name] = node.input[2]
            if not bias:
                self.biasless[node.output[0]] = name
            return
        if node.op_type == "MatMul" and len(acts) == 2 and (first in self.expert_tables or
                                                            second in self.expert_tables):
            return self.experts(node, first, second)
        if len(acts) == 2:
            self.add(node, "matmul", acts, transpose_b=bool(node.op_type == "Gemm" and a.get("transB", 0)))
            return
        if node.op_type == "MatMul" and first in self.constants and len(acts) == 1:
            return self.left_weights(node, first, second)
        self.unsupported(node, "a constant left operand is not supported")

    def grouped_weights(self, node, x: str, w: str, wshape: tuple, *, left: bool = False) -> None:
        """``x @ W`` (``W @ x`` with ``left``) with one constant matrix per head (DeBERTa-v2's relative-position
        keys; DETR's first decoder layer, whose queries are constants): per head the grouped 1×1 convolution it
        is (``(W_h x_h)ᵀ = x_hᵀ W_hᵀ`` on the left), between zero-cost rearrangements of x and of the result."""
        xshape = self.shape(node, x)
        lead = tuple(wshape[:-2])
        while lead and lead[0] == 1:
            lead = lead[1:]
        n, k = wshape[-2:] if left else wshape[-1:-3:-1]  # output features, reduction
        reduced, rows = (-2, -1) if left else (-1, -2)  # x's reduction axis and the axis its rows run along
        x_lead = tuple(xshape[:-2])
        if len(xshape) < 3 or xshape[reduced] != k or (lead and x_lead[len(x_lead) - len(lead):] != lead):
            side = "left" if left else "right"
            return self.unsupported(node, f"a constant {side} operand {list(wshape)} must hold one matrix per "
                                          f"leading index of the other operand {list(xshape)}")
        groups, batch, m = math.prod(lead), math.prod(x_lead[:len(x_lead) - len(lead)]), xshape[rows]
        base = node.name or node.op_type
        grouped_in, grouped_out = f"{node.output[0]}@groups_in", f"{node.output[0]}@groups_out"
        self.shapes[grouped_in] = (batch, groups * k, m, 1)
        self.shapes[grouped_out] = (batch, groups * n, m, 1)
        self.add(_Node(node, f"{base}.grouped", [grouped_in]), "reshape", [x], op="transpose", out_shape_field=True)
        name = self.add(_Node(node, base, [grouped_out]), "conv2d", [grouped_in], out=groups * n, kernel=(1, 1),
                        groups=groups)
        self.add(_Node(node, f"{base}.heads", [node.output[0]]), "reshape", [grouped_out], op="transpose",
                 out_shape_field=True)
        self.weights[name] = (w, False)

    def conv_transpose(self, node, a) -> None:
        """A 2-D transposed convolution (UNet and decoder upsampling) as the array runs it: the input with
        ``stride - 1`` zeros inserted between its elements (a materialising copy), then a stride-1 convolution
        with ``kernel - 1 - pad`` padding. The array issues the zeros' MACs too; the useful MACs (every input
        element times the kernel) are said in the assumptions."""
        x, w = node.input[0], node.input[1]
        if x in self.constants or w not in self.constants:
            return self.unsupported(node, "transposed-convolution weights must be constant and its input an activation")
        wshape, xshape, out = self.shape(node, w), self.shape(node, x), self.shape(node, node.output[0])
        groups = a.get("group", 1)
        if len(wshape) != 4 or len(xshape) != 4 or wshape[0] != xshape[1]:
            return self.unsupported(node, f"only 2-D transposed convolutions whose weights [C, K/group, kh, kw] fit "
                                          f"the input are supported (weights {list(wshape)}, input {list(xshape)})")
        if tuple(a.get("dilations", (1, 1))) != (1, 1) or "output_shape" in a:
            return self.unsupported(node, "a transposed convolution with dilations or output_shape is not supported")
        kernel = tuple(a.get("kernel_shape", wshape[2:]))
        strides = tuple(a.get("strides", (1, 1)))
        extra = tuple(a.get("output_padding", (0, 0)))
        auto = a.get("auto_pad", b"NOTSET")
        auto = auto.decode() if isinstance(auto, bytes) else auto
        if auto != "NOTSET" and auto != "VALID":
            return self.unsupported(node, f"a transposed convolution with auto_pad {auto} is not supported")
        pads = tuple(a.get("pads", (0, 0, 0, 0))) if auto == "NOTSET" else (0, 0, 0, 0)
        inserted = tuple((size - 1) * s + 1 for size, s in zip(xshape[2:], strides))
        padding = (kernel[0] - 1 - pads[0], kernel[1] - 1 - pads[1],
                   kernel[0] - 1 - pads[2] + extra[0], kernel[1] - 1 - pads[3] + extra[1])
        if min(padding) < 0:
            return self.unsupported(node, f"a transposed convolution with pads {list(pads)} beyond its kernel "
                                          f"{list(kernel)} is not supported")
        base = node.name or node.op_type
        zeros = f"{node.output[0]}@zeros"
        self.shapes[zeros] = (xshape[0], xshape[1], *inserted)
        if strides != (1, 1):
            self.add(_Node(node, f"{base}.zeros", [zeros]), "reshape", [x], op="pad", out_shape_field=True)
        else:
            zeros = x
        name = self.add(_Node(node, base, [node.output[0]]), "conv2d", [zeros], out=wshape[1] * groups,
                        kernel=kernel, padding=padding, groups=groups,
                        bias=len(node.input) > 2 and bool(node.input[2]))
        self.weights[name] = (w, False)
        if len(node.input) > 2 and node.input[2]:
            self.biases[name] = node.input[2]
        useful = math.prod(xshape) * wshape[1] * kernel[0] * kernel[1]
        self.transposed.append((base, useful, self.graph[name].macs, out))

    def einsum(self, node, a, inputs: list[str], acts: list[str]) -> None:
        """A two-operand contraction as the (batched) matmul it is: indices in both operands and the output
        are the batch, in both but not the output the reduction, in one operand and the output its free
        dimensions. Each operand is rearranged to ``[batch, free, reduction]`` and the result back to the
        output's order by zero-cost movement; a constant second operand without batch indices is a linear
        layer's weights. Diagonals, sums over one operand's own indices and more than two operands are refused
        with the equation."""
        equation = a.get("equation", b"")
        equation = (equation.decode() if isinstance(equation, bytes) else str(equation)).replace(" ", "")
        terms = _einsum_terms(equation, [len(self.shape(node, t)) for t in inputs])
        if terms is None or len(inputs) != 2:
            return self.unsupported(node, f"Einsum '{equation}' is not a two-operand contraction accelsim lowers "
                                          "to a matmul")
        (left, right), result = terms
        shapes = [dict(zip(term, self.shape(node, t))) for term, t in zip((left, right), inputs)]
        batch = [i for i in left if i in right and i in result]
        reduce = [i for i in left if i in right and i not in result]
        free_a = [i for i in left if i not in right]
        free_b = [i for i in right if i not in left]
        if not reduce or any(i not in result for i in (*free_a, *free_b)) or \
                sorted(result) != sorted((*batch, *free_a, *free_b)):
            return self.unsupported(node, f"Einsum '{equation}' is not a two-operand contraction accelsim lowers "
                                          "to a matmul")
        size = {**shapes[1], **shapes[0]}
        b, m, k, n = (math.prod(size[i] for i in group) for group in (batch, free_a, reduce, free_b))
        base, out = node.name or node.op_type, node.output[0]
        if inputs[1] in self.constants and inputs[0] not in self.constants and not batch:
            if right not in ("".join((*reduce, *free_b)), "".join((*free_b, *reduce))):
                return self.unsupported(node, f"Einsum '{equation}': the constant operand's indices interleave "
                                              "its reduction and output dimensions")
            flat = f"{out}@a"
            self.shapes[flat] = (m, k)
            self.add(_Node(node, f"{base}.a", [flat]), "reshape", [inputs[0]], op="transpose", out_shape_field=True)
            self.shapes[f"{out}@y"] = (m, n)
            name = self.add(_Node(node, base, [f"{out}@y"]), "linear", [flat], out=n)
            self.weights[name] = (inputs[1], right == "".join((*reduce, *free_b)))  # stored (in, out)?
        elif len(acts) == 2:
            arranged = []
            for tag, t, rows, cols in (("a", inputs[0], m, k), ("b", inputs[1], k, n)):
                self.shapes[f"{out}@{tag}"] = (b, rows, cols)
                self.add(_Node(node, f"{base}.{tag}", [f"{out}@{tag}"]), "reshape", [t], op="transpose",
                         out_shape_field=True)
                arranged.append(f"{out}@{tag}")
            self.shapes[f"{out}@y"] = (b, m, n)
            self.add(_Node(node, base, [f"{out}@y"]), "matmul", arranged)
        else:
            return self.unsupported(node, f"Einsum '{equation}' with these constant operands is not supported")
        self.add(_Node(node, f"{base}.out", [out]), "reshape", [f"{out}@y"], op="transpose", out_shape_field=True)

    def attention(self, node, a) -> None:
        """Opset 23's ``Attention`` as the layers it computes: ``Q·Kᵀ`` (the query heads that share a K/V head
        stacked, so grouped-query attention reads each K/V head once), a softmax, ``P·V``; a KV cache
        (``past_key``/``past_value``) is concatenated in front of the new keys and values. Q, K and V come
        as ``[B, heads, S, d]`` or as ``[B, S, heads·d]`` with ``q_num_heads``/``kv_num_heads``; the mask, scale
        and soft cap are elementwise work inside the softmax's cost."""
        q, k, v = node.input[:3]
        past = [node.input[i] if len(node.input) > i and node.input[i] else "" for i in (4, 5)]
        if any(t in self.constants for t in (q, k, v)):
            return self.unsupported(node, "attention of constant queries, keys or values is not supported")
        qs, ks, vs = (self.shape(node, t) for t in (q, k, v))
        if bool(past[0]) != bool(past[1]):
            raise self.error(node, "a KV cache needs both past_key and past_value")
        if not len(qs) == len(ks) == len(vs):
            raise self.error(node, f"queries {list(qs)}, keys {list(ks)} and values {list(vs)} must all be 3-D or "
                                   "all 4-D")
        if len(qs) == 3:
            heads, kv_heads = a.get("q_num_heads", 0), a.get("kv_num_heads", 0)
            if not heads or not kv_heads or qs[2] % heads or ks[2] % kv_heads or vs[2] % kv_heads:
                raise self.error(node, f"3-D queries {list(qs)} and keys {list(ks)} need q_num_heads and "
                                       "kv_num_heads that divide their widths")
            batch, seq, dk, keys, dv = qs[0], qs[1], qs[2] // heads, ks[1], vs[2] // kv_heads
        elif len(qs) == 4:
            batch, heads, seq, dk = qs
            kv_heads, keys, dv = ks[1], ks[2], vs[3]
        else:
            return self.unsupported(node, f"attention queries of shape {list(qs)} are not supported")
        if heads % kv_heads:
            raise self.error(node, f"{heads} query heads do not share {kv_heads} K/V heads evenly")
        group, base = heads // kv_heads, node.name or node.op_type
        cache = [self.shape(node, t)[2] if t else 0 for t in past]
        total = keys + cache[0]

        def tensor(tag: str, shape: tuple) -> str:
            name = f"{node.output[0]}@{tag}"
            self.shapes[name] = shape
            return name

        def heads_first(t: str, tag: str, count: int, rows: int, width: int) -> str:
            """``t`` as ``[B, count, rows, width]`` (a free rearrangement when it is 3-D)."""
            if len(self.shape(node, t)) == 4:
                return t
            out = tensor(tag, (batch, count, rows, width))
            self.add(_Node(node, f"{base}.{tag}", [out]), "reshape", [t], op="transpose", out_shape_field=True)
            return out

        operands = []
        for t, old, present, tag, width in ((k, past[0], 1, "k", dk), (v, past[1], 2, "v", dv)):
            new = heads_first(t, tag, kv_heads, keys, width)
            out = node.output[present] if len(node.output) > present and node.output[present] else ""
            if old:
                out = out or tensor(f"{tag}_cache", (batch, kv_heads, total, width))
                self.add(_Node(node, f"{base}.{tag}_cache", [out]), "concat", [old, new], axis=2)
                new = out
            elif out:
                self.tensor_layer[out] = self.tensor_layer[new]
            operands.append(new)
        queries = tensor("q", (batch, kv_heads, group * seq, dk))
        self.add(_Node(node, f"{base}.q", [queries]), "reshape", [q], op="transpose", out_shape_field=True)
        scores = tensor("scores", (batch, kv_heads, group * seq, total))
        self.add(_Node(node, f"{base}.scores", [scores]), "matmul", [queries, operands[0]], transpose_b=True)
        probs = tensor("probs", (batch, kv_heads, group * seq, total))
        self.add(_Node(node, f"{base}.softmax", [probs]), "eltwise", [scores], op="softmax")
        context = tensor("context", (batch, kv_heads, group * seq, dv))
        self.add(_Node(node, f"{base}.context", [context]), "matmul", [probs, operands[1]])
        self.add(_Node(node, f"{base}.out", [node.output[0]]), "reshape", [context], op="transpose",
                 out_shape_field=True)
        if len(node.output) > 3 and node.output[3]:
            self.add(_Node(node, f"{base}.qk", [node.output[3]]), "reshape", [scores], op="transpose",
                     out_shape_field=True)

    def left_weights(self, node, w: str, x: str) -> None:
        """``W @ x`` (DETR's decoder cross-attention, Mamba's ``dt_proj.weight @ x``): the linear layer
        ``xᵀ Wᵀ`` between zero-cost transposes, so the array streams x's columns past W."""
        wshape, xshape, out = self.shape(node, w), self.shape(node, x), self.shape(node, node.output[0])
        if len(wshape) > 2:
            return self.grouped_weights(node, x, w, wshape, left=True)
        if len(wshape) != 2 or len(xshape) < 2 or xshape[-2] != wshape[1]:
            return self.unsupported(node, f"a constant left operand {list(wshape)} times {list(xshape)} is "
                                          "supported as a 2-D weight matrix only")
        base = node.name or node.op_type
        flipped_in, flipped_out = f"{node.output[0]}@xT", f"{node.output[0]}@yT"
        self.shapes[flipped_in] = (*xshape[:-2], xshape[-1], xshape[-2])
        self.shapes[flipped_out] = (*out[:-2], out[-1], out[-2])
        self.add(_Node(node, f"{base}.xT", [flipped_in]), "reshape", [x], op="transpose", out_shape_field=True)
        name = self.add(_Node(node, base, [flipped_out]), "linear", [flipped_in], out=wshape[0])
        self.add(_Node(node, f"{base}.yT", [node.output[0]]), "reshape", [flipped_out], op="transpose",
                 out_shape_field=True)
        self.weights[name] = (w, False)
        self.biasless[node.output[0]] = name  # Mamba's dt_proj: its bias [out, 1] follows
        self.flipped.add(node.output[0])

    def unsupported(self, node, reason: str) -> None:
        where = f"node '{_shown(node.name or node.op_type)}' ({node.op_type})"
        if not self.lenient:
            raise UnsupportedError(f"{self.file}: {where}: {reason} (use --lenient to import it as a zero-cost "
                                   "placeholder)")
        self.placeholder(node, reason)

    def placeholder(self, node, reason: str) -> None:
        """A zero-cost stand-in for a node that cannot be modelled (``lenient``): it never fails."""
        where = f"node '{_shown(node.name or node.op_type)}' ({node.op_type})"
        acts = [t for t in node.input if t and t not in self.constants and t in self.tensor_layer]
        shapes = [tuple(d or 1 for d in self.shapes.get(t, (1,))) or (1,) for t in acts]
        feeds = [self.tensor_layer[t] for t in acts]
        for i, out in enumerate(node.output):
            if not out:
                continue
            name = self.unique((node.name or node.op_type) + (f":{i}" if i else ""))
            shape = tuple(d or 1 for d in self.shapes.get(out, (1,))) or (1,)
            try:
                layer = Layer(name, "placeholder", tuple(self.graph_shape(t, sh) for t, sh in zip(feeds, shapes))
                              or (shape,), op=node.op_type, shape=shape, batch=1)
                self.graph.add(layer, feeds or [next(iter(self.graph.inputs))])
            except SpecError:  # whatever the shapes say, a placeholder must not end a lenient import
                layer = Layer(name, "placeholder", (shape,), op=node.op_type, shape=shape, batch=1)
                self.graph.add(layer, [])
            self.tensor_layer[out] = name
            self.constants.discard(out)
        for prefix in (f"{self.file}: {where}: ", f"{where}: "):  # the reason may name the node already
            reason = reason.removeprefix(prefix)
        self.placeholders.append(f"{where}: {reason}")

    def graph_shape(self, source: str, shape: tuple) -> tuple:
        """The whole shape (batch included) of what ``source`` carries, for a batch-1 placeholder."""
        if source in self.graph.inputs:
            inner = self.graph.inputs[source]
            return inner if tuple(shape) == inner else (*shape[:len(shape) - len(inner)], *inner)
        layer = self.graph[source]
        return layer.out_shape if layer.batch == 1 else (layer.batch, *layer.out_shape)


def _einsum_terms(equation: str, ranks: list[int]) -> tuple[list[str], str] | None:
    """The operands' index strings and the output's, with ``...`` spelled out, or None when the equation
    has no explicit output, repeats an index inside a term, or does not match the ranks."""
    if "->" not in equation:  # implicit output: the indices that appear once, in alphabetical order
        letters = equation.replace("...", "").replace(",", "")
        once = "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
        equation = f"{equation}->{'...' if '...' in equation else ''}{once}"
    lhs, result = equation.split("->")
    terms = lhs.split(",")
    if len(terms) != len(ranks):
        return None
    spare = [c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" if c not in equation]
    width = max((rank - len(term.replace("...", "")) for term, rank in zip(terms, ranks) if "..." in term), default=0)
    ellipsis = "".join(spare[:width])
    out = []
    for term, rank in zip(terms, ranks):
        extra = rank - len(term.replace("...", ""))
        term = term.replace("...", ellipsis[width - extra:] if extra >= 0 else "")
        if len(term) != rank or len(set(term)) != len(term) or not term.isalpha():
            return None
        out.append(term)
    result = result.replace("...", ellipsis)
    if len(set(result)) != len(result) or not set(result) <= set("".join(out)):
        return None
    return out, result


def _balanced(tokens: int, experts: int) -> list[int]:
    """Balanced top-k routing: ``tokens`` routed slots shared as evenly as can be, the remainder to the first experts.

    >>> _balanced(10, 4)
    [3, 3, 2, 2]
    """
    return [tokens // experts + (e < tokens % experts) for e in range(experts)]


def _shown(name: str) -> str:
    """A node name for a one-line message: control characters escaped."""
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in name)


def _broadcast_shapes(shapes: list[tuple]) -> tuple | None:
    """numpy's broadcast of ``shapes``, or None when they do not broadcast."""
    rank = max(len(s) for s in shapes)
    out = []
    for axis in range(rank):
        sizes = {s[len(s) - rank + axis] for s in shapes if len(s) - rank + axis >= 0} - {1}
        if len(sizes) > 1:
            return None
        out.append(sizes.pop() if sizes else 1)
    return tuple(out)


class _Node:
    """One output of a multi-output node, as a node of its own (a Split's parts)."""

    def __init__(self, node, name: str, outputs: list[str], *, inputs: list[str] | None = None,
                 op_type: str | None = None):
        self.name, self.output = name, outputs
        self.op_type, self.input = op_type or node.op_type, node.input if inputs is None else inputs


class _Fake:
    """Stands in for a node when a graph input is checked."""

    def __init__(self, name: str):
        self.name, self.op_type = name, "input"


WEIGHT_SLOTS = {"MatMul": 1, "Gemm": 1, "Conv": 1, "ConvTranspose": 1}  # op → its weight input's index


def _weight_input_note(graph) -> str:
    """Why a model whose weights are graph inputs (no initializer, e.g. exported with
    ``export_params=False``) fails to import, and what to do; "" if it has none.

    accelsim reads every graph input as data whose axis 0 is the batch, so such a weight loses or
    gains a batch axis (a matmul of ``[64]`` by ``[64, 32]``) and its symbolic dimensions are taken
    as the batch."""
    constants = {init.name for init in graph.initializer}
    inputs = {v.name: v for v in graph.input if v.name not in constants}
    for node in graph.node:
        slot = WEIGHT_SLOTS.get(node.op_type)
        if slot is None or len(node.input) <= slot or node.input[slot] not in inputs:
            continue
        tensor = node.input[slot]
        value = inputs[tensor].type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in value.shape.dim]
        where = f"node '{_shown(node.name or node.op_type)}' ({node.op_type})"
        if not value.HasField("shape") or any(isinstance(d, str) for d in dims):
            shape = f"symbolic dimensions {dims}" if value.HasField("shape") else "no shape"
            symbolic = [d for d in dims if isinstance(d, str) and d != "?"]
            return (f"the weight '{_shown(tensor)}' of {where} is a graph input with {shape}, not an initializer "
                    "(accelsim reads a graph input as data and its axis 0 as the batch): give its dimensions with "
                    f"--dim {symbolic[0] if symbolic else 'NAME'}=N, or store the "
                    "weights as initializers (e.g. export with export_params=True)")
        return (f"the weight '{_shown(tensor)}' {dims} of {where} is a graph input, not an initializer "
                "(accelsim reads a graph input as data and its axis 0 as the batch): store the weights as "
                "initializers (e.g. export with export_params=True)")
    return ""


def _fix_batch(model, file: str, batch: int | None, dims: dict[str, int]) -> str | None:
    """Give every symbolic input dimension a value, before shape inference.

    The batch (axis 0 of each data input of rank ≥ 2) takes ``batch``, or 1 with the returned note.
    ``dims`` names other symbolic dimensions (``--dim NAME=VALUE``; the key ``"seq"``, from
    ``--seq``, also sets axis 1 of rank-2 inputs: token ids and masks). Any other symbolic
    dimension is a :class:`SpecError` naming it: never a silent 1. A fixed batch must equal
    ``batch`` if one is asked for (reshapes in the model may depend on it).
    """
    graph = model.graph
    constants = {init.name for init in graph.initializer}
    inputs = [v for v in graph.input if v.name not in constants]
    shapes = {v.name: list(v.type.tensor_type.shape.dim) for v in inputs}
    values: dict[str, int] = {k: v for k, v in dims.items() if k != "seq"}
    has_seq = any(len(d) == 2 and not d[1].HasField("dim_value") for d in shapes.values())
    named = sorted({d.dim_param for ds in shapes.values() for d in ds if not d.HasField("dim_value") and d.dim_param})
    present = {d.dim_param for v in [*graph.input, *graph.output, *graph.value_info]
               for d in v.type.tensor_type.shape.dim if not d.HasField("dim_value") and d.dim_param}
    symbolic_batch = None
    for name, d in shapes.items():
        for axis, dim in enumerate(d):
            if dim.HasField("dim_value") and dim.dim_value < 1:
                raise SpecError(f"input '{name}' has dimension {dim.dim_value} on axis {axis}; "
                                "dimensions must be positive", file=file)
            if axis == 0 and len(d) >= 2:
                if dim.HasField("dim_value"):
                    if batch is not None and dim.dim_value != batch:
                        raise SpecError(f"input '{name}' fixes the batch at {dim.dim_value}; batch {batch} "
                                        "cannot be asked for", file=file)
                    continue
                if batch is None and dim.dim_param not in dims:  # else chosen (--batch, --dim NAME=N)
                    symbolic_batch = symbolic_batch or (name, dim.dim_param or "?")
                value = values.setdefault(dim.dim_param, batch or 1) if dim.dim_param else batch or 1
                if dim.dim_param and batch is not None and value != batch:
                    raise SpecError(f"input '{name}': dimension '{dim.dim_param}' is the batch ({batch}) "
                                    f"and --dim {dim.dim_param}={value}", file=file)
                dim.dim_value = value  # clears dim_param (a oneof), so shape inference propagates it
            elif not dim.HasField("dim_value"):
                if axis == 1 and len(d) == 2 and "seq" in dims and dim.dim_param not in values:
                    values[dim.dim_param or f"{name}[1]"] = dims["seq"]
                key = dim.dim_param or f"{name}[{axis}]"
                if key not in values:
                    raise SpecError(f"input '{name}' has a symbolic dimension '{dim.dim_param or '?'}' (axis {axis}): "
                                    f"give it a value with --dim {dim.dim_param or 'NAME'}=N"
                                    + (" or --seq N" if axis == 1 and len(d) == 2 else ""), file=file)
                dim.dim_value = values[key]
    unused = [k for k in dims if k != "seq" and k not in present]
    if unused:  # a typo (--dim sequence=... for seq) must not be silently ignored
        raise SpecError(f"--dim {unused[0]}: the model has no symbolic dimension '{unused[0]}'"
                        + (f" (its inputs have: {', '.join(named[:8])}{', ...' if len(named) > 8 else ''})"
                           if named else " (its inputs have none)"), file=file)
    if "seq" in dims and not has_seq:
        raise SpecError("--seq: the model has no symbolic sequence dimension (axis 1 of a rank-2 input)", file=file)
    for v in [*graph.input, *graph.output, *graph.value_info]:
        for dim in v.type.tensor_type.shape.dim:
            if not dim.HasField("dim_value") and dim.dim_param in values:
                dim.dim_value = values[dim.dim_param]
    if symbolic_batch is None or batch is not None:
        return None
    return (f"input '{symbolic_batch[0]}' has a symbolic batch dimension '{symbolic_batch[1]}': "
            "assumed batch 1 (pass --batch to choose)")


# onnxruntime's own quantized ops (domain com.microsoft, written by its QOperator quantizer): the standard op
# each computes on dequantized values, its quantized inputs (slots of (tensor, scale, zero point)) and its
# output's (scale, zero point) slots. Attributes the standard op does not define are dropped.
CONTRIB_QUANTIZED = {
    "QLinearAdd": ("Add", ((0, 1, 2), (3, 4, 5)), (6, 7)),
    "QLinearMul": ("Mul", ((0, 1, 2), (3, 4, 5)), (6, 7)),
    "QLinearSigmoid": ("Sigmoid", ((0, 1, 2),), (3, 4)),
    "QLinearLeakyRelu": ("LeakyRelu", ((0, 1, 2),), (3, 4)),
    "QLinearSoftmax": ("Softmax", ((0, 1, 2),), (3, 4)),
    "QLinearGlobalAveragePool": ("GlobalAveragePool", ((0, 1, 2),), (3, 4)),
    "QLinearAveragePool": ("AveragePool", ((0, 1, 2),), (3, 4)),
    "QLinearReduceMean": ("ReduceMean", ((0, 1, 2),), (3, 4)),
    "QGemm": ("Gemm", ((0, 1, 2), (3, 4, 5)), (7, 8)),
}


def _expand_contrib_quantized(model, file: str) -> None:
    """Rewrite onnxruntime's ``com.microsoft`` quantized ops, which ONNX shape inference does not know, as the
    QDQ form they compute: ``DequantizeLinear`` of each quantized input, the standard op, ``QuantizeLinear`` of
    its output (QGemm's int32 bias through a ``Cast``; QLinearConcat's inputs in triples after the output's).
    The layers keep the node's name; the dequantize and requantize arithmetic is vector work, as in a QDQ graph."""
    from onnx import defs, helper

    nodes, changed = [], False
    for node in model.graph.node:
        if node.domain != "com.microsoft" or node.op_type not in (*CONTRIB_QUANTIZED, "QLinearConcat",
                                                                   "QuantizeLinear", "DequantizeLinear"):
            nodes.append(node)
            continue
        changed = True
        name, ins = node.name or node.op_type, list(node.input)
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if node.op_type in ("QuantizeLinear", "DequantizeLinear"):  # the standard ops, by another domain
            nodes.append(helper.make_node(node.op_type, ins, list(node.output), name=node.name, **attrs))
            continue
        if attrs.pop("channels_last", 0):
            raise UnsupportedError(f"{file}: node '{_shown(name)}' ({node.op_type}): channels_last=1 is not "
                                   "supported (use --lenient to import it as a zero-cost placeholder)")

        def slot(i: int, ins: list[str] = ins) -> str:
            return ins[i] if i < len(ins) else ""

        if node.op_type == "QLinearConcat":
            op, quantized, output = "Concat", tuple((i, i + 1, i + 2) for i in range(2, len(ins), 3)), (0, 1)
        else:
            op, quantized, output = CONTRIB_QUANTIZED[node.op_type]
        floats = []
        for i, (x, scale, zero) in enumerate(quantized):
            floats.append(f"{node.output[0]}@dq{i}")
            nodes.append(helper.make_node("DequantizeLinear", [slot(x), slot(scale), slot(zero)], [floats[-1]],
                                          name=f"{name}.dq{i}", axis=0 if op == "Gemm" and i and attrs.get("transB")
                                          else 1))
        if op == "Gemm" and slot(6):
            floats.append(f"{node.output[0]}@bias")
            nodes.append(helper.make_node("Cast", [slot(6)], [floats[-1]], name=f"{name}.bias", to=1))
        schema = defs.get_schema(op)
        kept = {k: v for k, v in attrs.items() if k in schema.attributes}
        quantize = bool(slot(output[0]))  # QGemm without an output scale writes floats
        result = f"{node.output[0]}@float" if quantize else node.output[0]
        nodes.append(helper.make_node(op, floats, [result], name=name, **kept))
        if quantize:
            nodes.append(helper.make_node("QuantizeLinear", [result, slot(output[0]), slot(output[1])],
                                          [node.output[0]], name=f"{name}.q"))
    if changed:
        del model.graph.node[:]
        model.graph.node.extend(nodes)


def load_onnx(path: str | Path, *, lenient: bool = False, batch: int | None = None,
              dims: dict[str, int] | None = None, routing: str | Path | None = None,
              constant_matmuls: str = "compiled") -> LayerGraph:
    """Import an ONNX file. Malformed files, failed shape inference and unsupported ops raise
    :class:`SpecError`/:class:`UnsupportedError`; ``lenient`` turns every node it cannot model into a
    placeholder (listed in ``graph.meta["placeholders"]``). A symbolic batch dimension takes
    ``batch``, or 1 with a note in ``graph.meta["assumptions"]``; other symbolic dimensions take
    ``dims`` (by name; ``"seq"`` sets axis 1 of rank-2 inputs) or are an error naming them. ``routing``
    names a measured mixture-of-experts routing (:func:`load_routing`); without it, balanced top-k routing
    is assumed and said. ``constant_matmuls`` says what a MatMul/Gemm of constants only is: ``"compiled"``
    (computed once when the model is compiled: not a layer, its MACs said in the assumptions) or
    ``"every-run"`` (a layer every inference, as PyTorch runs it)."""
    return _import(path, lenient=lenient, batch=batch, dims=dims, routing=routing,
                   constant_matmuls=constant_matmuls)[0]


def onnx_weights(path: str | Path, *, lenient: bool = False) -> dict:
    """The weight array of every conv2d and linear layer of an ONNX file, keyed by :func:`load_onnx`'s layer names.

    Arrays are in the layout of :mod:`accelsim.tensors`: conv OIHW as stored, linear
    ``(out_features, in_features)`` (a ``MatMul``'s or ``Gemm``'s ``(in, out)`` weight is transposed).
    Weights are read from initializers, ``Constant`` nodes and ``ConstantOfShape`` of an initializer
    shape (ONNX's weight-free "light" models); a weight computed from constants by other nodes
    (e.g. a ``Reshape``) is evaluated with ONNX's reference evaluator.
    """
    import numpy as np
    from onnx import numpy_helper

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


def _infer(model, file: str, lenient: bool = False, notes: list | None = None):
    onnx = _require_onnx()
    try:
        # No data propagation: it materialises every Range it can compute (a Range to 1e9 took 24 GB)
        # and mis-propagates Unsqueeze (a valid dynamic-axes export failed). _fold_round computes the
        # same small constants itself, each bounded before it is evaluated.
        return onnx.shape_inference.infer_shapes(model, strict_mode=True)
    except (onnx.shape_inference.InferenceError, onnx.checker.ValidationError, RuntimeError, MemoryError) as err:
        reason = f"ONNX shape inference failed: {str(err).splitlines()[0]}"
        if not lenient:
            raise SpecError(reason, file=file) from None
    # lenient: infer what can be inferred; the nodes left without shapes become placeholders
    if notes is not None and not notes:
        notes.append(reason)
    try:
        return onnx.shape_inference.infer_shapes(model, strict_mode=False)
    except (onnx.shape_inference.InferenceError, onnx.checker.ValidationError, RuntimeError, MemoryError):
        return model


def _infer_and_fold(model, file: str, rounds: int = 1000, *, lenient: bool = False, notes: list | None = None):
    """Shape inference, then fold what static shapes make constant, until nothing changes.

    Exporters compute reshape targets, masks and position ids from ``Shape`` of activations; with
    every input dimension known those are constants. Each round computes the small constant
    tensors (:data:`FOLD_LIMIT` elements; weights are never materialised) with ONNX's reference
    evaluator, turns them into initializers, drops the nodes that made them and infers shapes
    again, which may make more shapes static.
    """
    _drop_unknown_value_info(model.graph)  # an exporter's symbolic shapes would shadow what inference finds
    model = _infer(model, file, lenient, notes)
    for _ in range(rounds):
        folded = _fold_round(model, file)
        if not folded:
            break
        model = _infer(folded, file, lenient, notes)
    return model


def _fold_round(model, file: str):
    """One round of :func:`_infer_and_fold`: the model with small constants folded, or None."""
    import numpy as np
    from onnx import helper, numpy_helper

    graph = model.graph
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 1)
    shapes = _static_shapes(model)
    values = {}
    for init in graph.initializer:
        if math.prod(init.dims) <= FOLD_LIMIT:
            try:
                values[init.name] = numpy_helper.to_array(init)
            except Exception:  # noqa: BLE001, S110 - a malformed initializer is not folded (the importer reports it)
                pass
    done: list = []
    aliases = _aliases(model)
    scales = _scales(model)
    for node in graph.node:
        inputs = [t for t in node.input if t]
        if node.domain not in ("", "ai.onnx") or node.op_type in NEVER_FOLD or len(node.output) == 0:
            continue
        if node.op_type in ("MatMul", "Gemm", "Einsum", "Conv"):  # MACs, however small: the importer says them
            continue
        if node.op_type in SHAPE_OPS and inputs and shapes.get(inputs[0]) is not None:
            full = np.array(shapes[inputs[0]], dtype=np.int64)
            if node.op_type == "Size":
                out = np.array(int(np.prod(full)), dtype=np.int64)
            else:
                attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
                out = full[attrs.get("start", 0):attrs.get("end", len(full))]
            values[node.output[0]] = out
            done.append(node)
            continue
        if node.op_type not in CONSTANT_SOURCES and (not inputs or not all(t in values for t in inputs)):
            continue
        if _has_subgraph(node):
            continue
        if node.op_type != "Constant" and _output_bound(node, [values.get(t) for t in inputs], shapes) > FOLD_LIMIT:
            continue  # large (a weight, a long Range) or unbounded: stays a constant the importer does not compute
        try:
            import warnings

            from onnx.reference import ReferenceEvaluator

            with warnings.catch_warnings(), np.errstate(all="ignore"):  # log(0) in a mask is the model's business
                warnings.simplefilter("ignore")
                results = ReferenceEvaluator(node, opsets={"": opset}).run(None, {t: values[t] for t in inputs})
        except Exception:  # noqa: BLE001, S112 - an op the reference evaluator cannot run stays as it is
            continue
        if any(np.asarray(r).size > FOLD_LIMIT for r in results):
            continue
        for name, value in zip(node.output, results):
            if name:
                values[name] = np.asarray(value)
        if node.op_type in ALIASING and inputs and node.output[0]:
            aliases[node.output[0]] = aliases.get(inputs[0], inputs[0])  # the same weights under a new name
        if node.op_type == "DequantizeLinear" and len(inputs) > 1 and node.output[0]:
            scales[node.output[0]] = str(np.asarray(values[inputs[1]]).size)  # per tensor or per channel
        done.append(node)
    if not done:
        return None
    removed = {id(n) for n in done}
    needed = {t for n in graph.node if id(n) not in removed for t in n.input} | {o.name for o in graph.output}
    new = helper.make_graph([n for n in graph.node if id(n) not in removed], graph.name,
                            list(graph.input), list(graph.output),
                            [*graph.initializer, *(numpy_helper.from_array(values[o], o) for n in done
                                                   for o in n.output if o and o in needed)],
                            value_info=[v for v in graph.value_info if _is_static(v)])
    folded = helper.make_model(new, opset_imports=list(model.opset_import), ir_version=model.ir_version)
    folded.functions.extend(model.functions)
    for key, root in aliases.items():
        folded.metadata_props.add(key=ALIAS_PREFIX + key, value=root)
    for key, count in scales.items():
        folded.metadata_props.add(key=SCALES_PREFIX + key, value=count)
    return folded


ALIAS_PREFIX = "accelsim.alias:"  # metadata carrying which folded constants are other names for a weight


SCALES_PREFIX = "accelsim.scales:"  # metadata carrying how many scales a folded DequantizeLinear's weight had


def _scales(model) -> dict[str, str]:
    """Weights that constant folding dequantized: their name → how many scales they had (as text)."""
    return {p.key[len(SCALES_PREFIX):]: p.value for p in model.metadata_props if p.key.startswith(SCALES_PREFIX)}


def _aliases(model) -> dict[str, str]:
    """Constants that constant folding made from a weight by ``Identity``/``Cast``: new name → the weight."""
    return {p.key[len(ALIAS_PREFIX):]: p.value for p in model.metadata_props if p.key.startswith(ALIAS_PREFIX)}


def _is_static(value_info) -> bool:
    tensor = value_info.type.tensor_type
    return tensor.HasField("shape") and all(d.HasField("dim_value") for d in tensor.shape.dim)


def _drop_unknown_value_info(graph) -> None:
    """Keep only fully known shapes: inference then works out the others afresh."""
    keep = [v for v in graph.value_info if _is_static(v)]
    del graph.value_info[:]
    graph.value_info.extend(keep)


def _has_subgraph(node) -> bool:
    """If/Loop/Scan carry graphs that may read any outer tensor: never constant, whatever their inputs."""
    from onnx import AttributeProto

    return node.op_type in NEVER_FOLD or any(
        a.type in (AttributeProto.GRAPH, AttributeProto.GRAPHS) for a in node.attribute)


def _output_bound(node, inputs: list, shapes: dict) -> float:
    """An upper bound on the elements ``node`` outputs, known before it is evaluated (inf: unknown)."""
    import numpy as np

    known = [shapes.get(o) for o in node.output if o]
    sizes = [math.prod(s) for s in known if s is not None]
    if known and len(sizes) == len(known):
        return max(sizes)
    try:
        if node.op_type == "Range":
            start, limit, delta = (float(np.asarray(v).reshape(-1)[0]) for v in inputs[:3])
            return math.ceil((limit - start) / delta) if delta else math.inf
        if node.op_type in ("ConstantOfShape", "Expand"):
            return float(np.prod(np.asarray(inputs[-1 if node.op_type == "Expand" else 0], dtype=float)))
        if node.op_type == "Tile":
            return float(np.asarray(inputs[0]).size * np.prod(np.asarray(inputs[1], dtype=float)))
    except (TypeError, ValueError, IndexError, OverflowError):
        return math.inf
    # any other op on small inputs: at most the product of their sizes (a broadcast), usually far less
    return float(np.prod([max(1, np.asarray(v).size) for v in inputs], dtype=float))


def _static_shapes(model) -> dict[str, tuple[int, ...] | None]:
    """Every tensor's shape when every dimension is known, else None."""
    out: dict[str, tuple[int, ...] | None] = {}
    for v in [*model.graph.value_info, *model.graph.input, *model.graph.output]:
        if v.type.tensor_type.HasField("shape"):
            dims = v.type.tensor_type.shape.dim
            out[v.name] = (tuple(d.dim_value for d in dims)
                           if all(d.HasField("dim_value") and d.dim_value >= 0 for d in dims) else None)
    for init in model.graph.initializer:
        out[init.name] = tuple(init.dims)
    return out


def _route_eager_experts(model, routing: list[list[int]] | None, file: str) -> tuple[list[str], int]:
    """Give eager MoE dispatch its token counts, before shape inference: ``(notes, MoE layers)``.

    An eager expert loop (transformers' ``experts_implementation="eager"``) finds with ``NonZero`` which experts
    received tokens and, per expert, which tokens: data-dependent shapes that ONNX cannot infer. The trace fixed
    how many experts the loop visits (one branch each); each ``OneHot`` of router indices starts a MoE layer,
    whose first ``NonZero`` lists the experts visited and the next ones, in graph order, each expert's tokens
    (``[rank, n]``). ``n`` comes from the measured ``routing`` or from balanced top-k routing over the visited
    experts (said)."""
    from onnx import TensorProto, helper, shape_inference

    onehots = [n for n in model.graph.node if n.op_type == "OneHot"]
    if not onehots:
        return [], 0
    readers: dict[str, list] = {}
    for n in model.graph.node:
        for t in n.input:
            readers.setdefault(t, []).append(n)
    order = {id(n): i for i, n in enumerate(model.graph.node)}
    inferred = shape_inference.infer_shapes(model)
    known = {v.name: v.type.tensor_type for v in [*inferred.graph.value_info, *inferred.graph.input]}

    def dims(t: str) -> list[int | None]:
        tensor = known.get(t)
        if tensor is None or not tensor.HasField("shape"):
            return []
        return [d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim]

    notes, balanced = [], 0
    for layer, onehot in enumerate(onehots):
        found, stack, seen = [], [onehot], {id(onehot)}
        while stack:  # the NonZeros this layer's expert mask feeds, up to the next router
            for out in stack.pop().output:
                for reader in readers.get(out, []):
                    if id(reader) in seen or reader.op_type in ("OneHot", "TopK"):
                        continue
                    seen.add(id(reader))
                    if reader.op_type == "NonZero":
                        found.append(reader)
                    else:
                        stack.append(reader)
        if len(found) < 2:
            continue
        found.sort(key=lambda n: order[id(n)])
        visited, branches = found[0], found[1:]
        slots_shape = dims(onehot.input[0])
        if not slots_shape or None in slots_shape:
            raise SpecError(f"node '{_shown(onehot.name)}' (OneHot): the router's indices have no static shape",
                            file=file)
        slots = math.prod(d or 0 for d in slots_shape)
        if routing is not None:
            if layer >= len(routing):
                raise SpecError(f"the routing gives {len(routing)} MoE layer(s); the model has more", file=file)
            counts = [c for c in routing[layer] if c]
            if sum(routing[layer]) != slots or len(counts) != len(branches):
                raise SpecError(f"the routing of MoE layer {layer} gives {len(routing[layer])} experts "
                                f"{sum(routing[layer])} tokens ({len(counts)} receiving any); the model routes "
                                f"{slots} tokens and its expert loop visits {len(branches)} experts", file=file)
        else:
            counts = _balanced(slots, len(branches))
            balanced += 1
        shapes = [(visited, [max(1, len(dims(visited.input[0])) or 1), len(branches)])]
        shapes += [(branch, [len(dims(branch.input[0])) or 2, count]) for branch, count in zip(branches, counts)]
        for node, shape in shapes:
            model.graph.value_info.append(helper.make_tensor_value_info(node.output[0], TensorProto.INT64, shape))
    if balanced:
        notes.append(f"{balanced} eager mixture-of-experts layer(s) without measured routing: balanced top-k routing "
                     "assumed over the experts the traced loop visits (give --routing FILE to use a measured one)")
    return notes, len(onehots)


MAX_ROUTING_BYTES = 16 * 2**20  # token counts of every expert of every layer fit in far less


def load_routing(path: str | Path) -> list[list[int]]:
    """A measured mixture-of-experts routing: a JSON file ``{"tokens_per_expert": [[n0, n1, ...], ...]}``, the
    tokens each expert receives, one list per MoE layer in graph order.

    Examples
    --------
    >>> import json, tempfile, os
    >>> with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
    ...     json.dump({"tokens_per_expert": [[3, 1], [2, 2]]}, f)
    >>> load_routing(f.name)
    [[3, 1], [2, 2]]
    >>> os.remove(f.name)
    """
    import json

    path = Path(path)
    if path.exists() and not path.is_file():  # a folder, a FIFO (which would block) or a device such as /dev/zero
        raise SpecError("cannot read the routing: not a regular file", file=str(path))
    try:
        if path.stat().st_size > MAX_ROUTING_BYTES:
            raise SpecError(f"the routing is {path.stat().st_size:,} bytes; a routing of token counts is at most "
                            f"{MAX_ROUTING_BYTES:,}", file=str(path))
        data = json.loads(path.read_text())
    except OSError as err:
        raise SpecError(f"cannot read the routing: {err.strerror or err}", file=str(path)) from None
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as err:
        reason = "nested too deeply" if isinstance(err, RecursionError) else str(err).splitlines()[0]
        raise SpecError(f"the routing is not JSON: {reason}", file=str(path)) from None
    layers = data.get("tokens_per_expert") if isinstance(data, dict) else None
    if not isinstance(layers, list) or not layers or not all(
            isinstance(row, list) and row and all(type(n) is int and 0 <= n < 2**40 for n in row) for row in layers):
        raise SpecError("`tokens_per_expert` must be a non-empty list (one per MoE layer) of non-empty lists of "
                        "token counts (integers ≥ 0)", file=str(path))
    return layers


CONSTANT_MATMULS = ("compiled", "every-run")  # matmuls of constants: computed once when compiled, or every run


def _import(path: str | Path, *, lenient: bool, batch: int | None, dims: dict[str, int] | None = None,
            routing: str | Path | None = None, constant_matmuls: str = "compiled"):
    """``(graph, importer, shape-inferred model)``: the one import that :func:`load_onnx` and
    :func:`onnx_weights` share, so both use the same layer names."""
    onnx = _require_onnx()
    from google.protobuf.message import DecodeError

    if constant_matmuls not in CONSTANT_MATMULS:
        raise SpecError(f"constant matmuls must be one of {', '.join(CONSTANT_MATMULS)}, not {constant_matmuls!r}",
                        file=str(path))
    path = Path(path)
    if path.exists() and not path.is_file():  # a folder, a FIFO or a device such as /dev/zero
        raise SpecError("not a readable ONNX model: not a regular file", file=str(path))
    try:
        model = onnx.load(str(path))
    except (DecodeError, ValueError, OSError, onnx.checker.ValidationError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else (str(err).splitlines() or ["?"])[0]
        raise SpecError(f"not a readable ONNX model: {reason}", file=str(path)) from None
    if model.functions:  # model-local functions (e.g. an exporter's own blocks): their nodes, inline
        from onnx import inliner

        try:
            model = inliner.inline_local_functions(model)
        except Exception as err:  # noqa: BLE001 - one line, whatever the inliner objects to
            raise SpecError(f"cannot inline the model's local functions: {(str(err).splitlines() or ['?'])[0]}",
                            file=str(path)) from None
    if not model.graph.node:
        raise SpecError("not a readable ONNX model: the graph has no nodes", file=str(path))
    _expand_contrib_quantized(model, str(path))
    note = _weight_input_note(model.graph)  # before _fix_batch gives the symbolic dimensions values
    try:
        assumption = _fix_batch(model, str(path), batch, dims or {})
        routed = load_routing(routing) if routing is not None else None
        eager_notes, eager_layers = _route_eager_experts(model, routed, str(path))
        inference_notes: list[str] = []
        model = _infer_and_fold(model, str(path), lenient=lenient, notes=inference_notes)
        importer = _Importer(model, str(path), lenient, routed, every_run=constant_matmuls == "every-run")
        name = path.stem.removeprefix("light_")
        graph = importer.run(name, {"source": f"imported from {path.name} (ONNX opset "
                                              f"{model.opset_import[0].version if model.opset_import else '?'})"})
    except SpecError as err:
        if not note:
            raise
        raise SpecError(f"{err.message}; {note}", file=err.file, path=err.path, line=err.line) from None
    if importer.placeholders:
        graph.meta["placeholders"] = importer.placeholders
    if inference_notes:  # lenient: the model's own shapes disagree somewhere; what follows is partial
        graph.meta.setdefault("placeholders", []).insert(0, f"the whole model: {inference_notes[0]}")
    if assumption:
        graph.meta["assumptions"] = [assumption]
    if importer.transposed:
        useful = sum(u for _, u, _, _ in importer.transposed)
        issued = sum(i for _, _, i, _ in importer.transposed)
        graph.meta.setdefault("assumptions", []).append(
            f"{len(importer.transposed)} transposed convolution(s) run as stride-1 convolutions over zero-inserted "
            f"inputs: the array issues {issued:,} MACs (the MACs and cycles reported) for {useful:,} useful ones")
    moe_layers = len(importer.moe_layers) or eager_layers
    if moe_layers:
        graph.meta["moe_layers"] = moe_layers
        if importer.routing is not None and len(importer.routing) != moe_layers:
            raise SpecError(f"the routing gives {len(importer.routing)} MoE layers; the model has {moe_layers}",
                            file=str(path))
    elif routed is not None:
        raise SpecError("--routing: the model has no mixture-of-experts layer", file=str(path))
    if eager_notes:
        graph.meta.setdefault("assumptions", []).extend(eager_notes)
    if importer.balanced:
        graph.meta.setdefault("assumptions", []).append(
            f"{len(importer.balanced)} mixture-of-experts layer(s) without measured routing: balanced top-k routing "
            "assumed (every expert receives an equal share of the routed tokens; give --routing FILE to use a "
            "measured one)")
    if importer.idle_experts:
        graph.meta.setdefault("assumptions", []).append(
            f"{len(importer.idle_experts)} expert(s) receive no token in the routing (e.g. "
            f"{importer.idle_experts[0]}): their weights are in no layer and not in the params")
    if importer.float_operands:
        grouped: dict[str, list[str]] = {}
        for layer, operands in importer.float_operands.items():
            grouped.setdefault(operands, []).append(layer)
        graph.meta["float_operands"] = grouped
    if importer.shifted:
        graph.meta.setdefault("assumptions", []).append(
            f"{importer.shifted} layer(s) read uint8 operands: run as int8 shifted by 128 (the zero-point "
            "correction folds into the bias), the same bytes and MACs")
    if importer.per_channel:
        graph.meta.setdefault("assumptions", []).append(
            f"{len(importer.per_channel)} layer(s) have per-channel weight scales ({sum(importer.per_channel):,} "
            "scales in all): the scales are not charged as bytes")
    if routed is not None and eager_layers and len(importer.eager_experts) == 1:
        experts = next(iter(importer.eager_experts))
        if any(len(row) != experts for row in routed):
            raise SpecError(f"the routing gives {sorted({len(row) for row in routed})} experts per layer; the model's "
                            f"experts are {experts}", file=str(path))
    if importer.run_constants:
        graph.meta.setdefault("assumptions", []).append(
            f"{importer.run_constants} MatMul/Gemm node(s) read only constants: run every inference "
            "(--constant-matmuls every-run), their left operands read from DRAM as inputs (what computed those "
            "operands from other constants, e.g. a LayerNorm of a table, is not modelled)")
    if importer.folded_nodes:
        graph.meta["constant_matmuls"] = {"nodes": importer.folded_nodes, "macs": importer.folded_macs,
                                          "params": importer.folded_params}
        graph.meta.setdefault("assumptions", []).append(
            f"{importer.folded_nodes} MatMul/Gemm node(s) read only constants: computed once when the model is "
            f"compiled, so their {importer.folded_macs:,} MACs are not modelled per inference, and the "
            f"{importer.folded_params:,} weight parameters only they read are not in the params")
    return graph, importer, model
