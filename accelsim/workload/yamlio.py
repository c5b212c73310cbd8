"""The YAML workload format: read, write, and find workloads by name or path.

A file looks like::

    version: 1
    name: tiny
    batch: 1
    meta: {source: "where the published figures come from", published_macs: 1000}
    precision: {input: int8, weight: int4}      # optional network-wide defaults for GEMM layers
    sparsity: {weight_structure: "2:4"}
    inputs: {image: [3, 32, 32]}
    layers:
      - {name: conv1, kind: conv2d, out_channels: 8, kernel: 3, padding: 1,
         precision: {weight: int8}, sparsity: {weight_density: 1.0}}
      - {name: relu1, kind: eltwise, op: relu}
      - {name: res, kind: eltwise, op: add, inputs: [conv1, relu1]}

A layer without ``inputs`` reads the previous layer (the first one reads the only graph input).
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any

import yaml

from .._paths import data_dir
from ..errors import SpecError, did_you_mean
from ..specio import Fields, plain, read_yaml_file
from .graph import LayerGraph
from .layer import Layer, read_layer_fields, read_precision_and_sparsity

FORMAT_VERSION = 1


def graph_from_dict(data: Any, *, file: str | None = None) -> LayerGraph:
    """Build a :class:`LayerGraph` from the parsed YAML format (strict; errors name file and line)."""
    top = Fields(data, where="", file=file)
    version = top.int("version", FORMAT_VERSION)
    if version != FORMAT_VERSION:
        raise top.error("version", f"must be {FORMAT_VERSION}, not {version}")
    name = top.str("name")
    batch = top.int("batch", 1)
    meta = top.raw("meta", {})
    if not isinstance(meta, dict):
        raise top.error("meta", "must be a mapping")
    inputs_f = top.sub("inputs")
    inputs = {}
    for key in inputs_f.data:
        inputs[str(key)] = inputs_f.int_tuple(key, tuple(range(1, 9)))
    if not inputs:
        raise top.error("inputs", "must name at least one input tensor")
    layers = top.raw("layers")
    if not isinstance(layers, list) or not layers:
        raise top.error("layers", "must be a non-empty list of layers")
    defaults = read_precision_and_sparsity(top, "conv2d", {})  # network-wide, for GEMM layers
    top.done()
    graph = LayerGraph(name, inputs, meta=plain(meta), file=file)
    graph.batch = batch
    previous = next(iter(inputs)) if len(inputs) == 1 else None
    for i, entry in enumerate(layers):
        f = Fields(entry, where=f"layers[{i}]", file=file, line=top.data.key_lines.get("layers")
                   if hasattr(top.data, "key_lines") else None)
        sources = _read_sources(f, previous)
        kw = read_layer_fields(f, defaults)
        kw.setdefault("batch", batch)
        if not f.has("batch"):
            kw["batch"] = batch
        f.done()
        for tensor in sources:
            if tensor not in inputs and tensor not in graph:
                raise f.error("inputs", f"unknown tensor '{tensor}'"
                              + did_you_mean(tensor, [*inputs, *(layer.name for layer in graph)]))
        try:
            layer = Layer(**kw, in_shapes=tuple(graph.shape_for(t, kw["batch"], batch) for t in sources))
            graph.add(layer, sources)
        except SpecError as err:
            field = err.path.split("'.", 1)[1] if err.path and "'." in err.path else None
            raise f.error(field if field and f.has(field) else ("inputs" if f.has("inputs") else None),
                          err.message) from None
        previous = layer.name
    return graph


def _read_sources(f: Fields, previous: str | None) -> list[str]:
    value = f.raw("inputs", None)
    if value is None:
        if previous is None:
            raise f.error(None, "needs 'inputs': the graph has several inputs and no previous layer")
        return [previous]
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise f.error("inputs", "must be a tensor name or a list of tensor names")
    return value


def load_workload(path: str | Path) -> LayerGraph:
    """Read a workload from a YAML file."""
    return graph_from_dict(read_yaml_file(path), file=str(path))


def zoo_names() -> list[str]:
    """Names of the bundled workloads."""
    return sorted(p.stem for p in data_dir("workloads").glob("*.yaml"))


def resolve_workload(name_or_path: str, *, lenient: bool = False, batch: int | None = None,
                     dims: dict[str, int] | None = None, routing: str | None = None,
                     constant_matmuls: str | None = None) -> LayerGraph:
    """A bundled workload by name, or a workload file by path (YAML, or ONNX: ``lenient`` imports
    unsupported ONNX ops as zero-cost placeholders instead of failing; ``batch`` sets a symbolic batch).

    Examples
    --------
    >>> resolve_workload("resnet50").macs
    4089184256
    """
    path = Path(name_or_path)
    if path.suffix.lower() == ".onnx":
        from .onnx_import import load_onnx

        return load_onnx(path, lenient=lenient, batch=batch, dims=dims, routing=routing,
                         constant_matmuls=constant_matmuls or "compiled")
    for option, value in (("--routing", routing), ("--constant-matmuls", constant_matmuls)):
        if value is not None:
            raise SpecError(f"{option} applies to ONNX models only; '{name_or_path}' states its layers in its YAML")
    if batch is not None:  # a YAML workload states its batch; silently overriding it would be a guess
        raise SpecError(f"a batch size applies to ONNX models only; '{name_or_path}' sets `batch` in its YAML")
    if dims:
        raise SpecError(f"--seq and --dim apply to ONNX models only; '{name_or_path}' states its shapes in its YAML")
    if path.suffix.lower() in (".yaml", ".yml") or path.exists():
        return load_workload(path)
    bundled = data_dir("workloads") / f"{name_or_path}.yaml"
    if bundled.is_file():
        return load_workload(bundled)
    names = zoo_names()
    raise SpecError(f"unknown workload '{name_or_path}': not a bundled workload ({', '.join(names)}) "
                    "nor a file" + did_you_mean(name_or_path, names))


# -- writing -------------------------------------------------------------------------------
_DEFAULTS = {f.name: f.default for f in fields(Layer) if f.name not in ("name", "kind", "in_shapes")}


def _compact(value: tuple) -> Any:
    if len(set(value)) == 1:
        return value[0]
    if len(value) == 4 and value[:2] == value[2:]:
        return list(value[:2])
    return list(value)


def layer_to_yaml_dict(layer: Layer, sources: tuple[str, ...], previous: str | None,
                       batch: int) -> dict[str, Any]:
    """The YAML entry of one layer: defaults and the implied input left out."""
    out: dict[str, Any] = {"name": layer.name, "kind": layer.kind}
    if layer.op != layer.kind:
        out["op"] = layer.op
    if list(sources) != [previous]:
        out["inputs"] = list(sources)
    for key, default in _DEFAULTS.items():
        value = getattr(layer, key)
        if key == "op" or (key == "batch" and value == batch) or (key != "batch" and value == default):
            continue
        if key == "kernel" and layer.kind == "pool" and layer.op == "global_avg":
            continue
        if key == "out":
            key = "out_channels" if layer.kind == "conv2d" else "out_features"
        out[key] = _compact(value) if isinstance(value, tuple) and key != "shape" else (
            list(value) if isinstance(value, tuple) else value)
    return out


class _NameDumper(yaml.SafeDumper):
    """Quotes a string our reader would take for something else (``1e3``, ``NaN``): names round-trip."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    from ..errors import SpecError
    from ..specio import load_yaml

    try:
        same = load_yaml(value) == value
    except SpecError:
        same = False
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=None if same else '"')


_NameDumper.add_representer(str, _represent_str)


def graph_to_yaml(graph: LayerGraph, batch: int | None = None) -> str:
    """Serialise a graph to the YAML format, one line per layer (round-trips exactly)."""
    # the batch the inputs carry: a layer of batch 1 may hold it inside its shapes ([B·S, D] tokens)
    batch = batch if batch is not None else graph.batch or max(layer.batch for layer in graph)
    head = {"version": FORMAT_VERSION, "name": graph.name, "batch": batch}
    meta = {k: v for k, v in graph.meta.items() if k != "assumptions"}  # about the import, not this file
    if meta:
        head["meta"] = meta
    head["inputs"] = {k: list(v) for k, v in graph.inputs.items()}
    text = yaml.safe_dump(head, sort_keys=False, default_flow_style=None, width=100)
    lines = [text.rstrip("\n"), "layers:"]
    previous = next(iter(graph.inputs)) if len(graph.inputs) == 1 else None
    for layer in graph:
        entry = layer_to_yaml_dict(layer, graph.sources(layer.name), previous, batch)
        flow = yaml.dump(entry, Dumper=_NameDumper, sort_keys=False, default_flow_style=True, width=10_000).strip()
        lines.append(f"  - {flow}")
        previous = layer.name
    return "\n".join(lines) + "\n"
