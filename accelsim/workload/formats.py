"""Number formats a workload leaves to the array: the float operands of an imported model.

An ONNX file says which GEMM operands are integers (a QDQ or QOperator graph) or half-precision floats;
those formats are the layers' own. Float32 operands say only "a float": the importer lists them in
``graph.meta["float_operands"]`` (operand letters ``I``, ``W``, ``O`` → layer names) and they run in the
format the array computes in, which :func:`with_datapath_formats` gives them and says so.

Examples
--------
>>> from accelsim.arch import ArrayConfig
>>> from accelsim.workload import LayerGraph
>>> from accelsim.workload.layer import Layer
>>> g = LayerGraph("t", inputs={"x": (4, 8)}, meta={"float_operands": {"IWO": ["fc"]}})
>>> g.add(Layer("fc", "linear", in_shapes=((4, 8),), out=2), ["x"])
>>> bf16, note = with_datapath_formats(g, ArrayConfig(rows=4, cols=4, datapath="bf16", input_bits=16,
...                                                   weight_bits=16, acc_bits=32))
>>> bf16["fc"].weight_type, note
('bf16', "1 layer ('fc') with float32 operands in the file: run in bf16, the datapath's format")
>>> with_datapath_formats(g, ArrayConfig(rows=4, cols=4))[0]["fc"].weight_type  # an int8 array
'int8'
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .layer import Layer

if TYPE_CHECKING:
    from ..arch import ArrayConfig
    from .graph import LayerGraph

FIELDS = {"I": "input_type", "W": "weight_type", "O": "output_type"}


def float_operands(graph: LayerGraph) -> dict[str, str]:
    """Layer name → the letters of its operands that are float32 in the file it came from."""
    out: dict[str, str] = {}
    for operands, names in (graph.meta.get("float_operands") or {}).items():
        for name in names:
            out[name] = out.get(name, "") + str(operands)
    return out


def without_float_operands(meta: dict, operands: str) -> dict:
    """``meta`` once ``operands`` (letters of ``IWO``) of every GEMM layer have been given formats."""
    left: dict[str, list[str]] = {}
    for letters, names in (meta.get("float_operands") or {}).items():
        rest = "".join(op for op in str(letters) if op not in operands)
        if rest:
            left.setdefault(rest, []).extend(names)
    return {k: v for k, v in meta.items() if k != "float_operands"} | ({"float_operands": left} if left else {})


def with_datapath_formats(graph: LayerGraph, arch: ArrayConfig) -> tuple[LayerGraph, str | None]:
    """``graph`` with its float32 operands in ``arch``'s float format, and the line that says so (None when the
    graph has none or ``arch`` has an integer datapath, where the layers keep their integer defaults like every
    workload's)."""
    floats = {name: ops for name, ops in float_operands(graph).items() if name in graph}
    if not floats or arch.datapath == "int":
        return graph, None
    names = list(floats)
    shown = ", ".join(f"'{n}'" for n in names[:3]) + (", …" if len(names) > 3 else "")
    what = f"{len(names)} layer{'s' if len(names) > 1 else ''} ({shown}) with float32 operands in the file"
    from .graph import LayerGraph

    out = LayerGraph(graph.name, graph.inputs, meta=without_float_operands(graph.meta, "IWO"), file=graph.file)
    out.batch = graph.batch
    for layer in graph:
        ops = floats.get(layer.name, "")
        if ops:
            layer = Layer.from_dict(layer.to_dict() | {FIELDS[op]: arch.datapath for op in ops},
                                    where=f"layer '{layer.name}'")
        out.add(layer, graph.sources(layer.name))
    return out, f"{what}: run in {arch.datapath}, the datapath's format"
