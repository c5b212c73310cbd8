"""`accelsim workload info|export|list`."""

from __future__ import annotations

import argparse
import json

from ._common import WORKLOAD_NAME, add_batch_option, load_workload, table


def _cmd_workload_info(args: argparse.Namespace) -> str:
    graph = load_workload(args)
    if args.json:
        return json.dumps({"workload": graph.name, "layers": len(graph), "macs": graph.macs,
                           "params": graph.params, "placeholders": graph.meta.get("placeholders", []),
                           "assumptions": graph.meta.get("assumptions", []),
                           "inputs": {k: list(v) for k, v in graph.inputs.items()}, "meta": graph.meta,
                           "per_layer": [{"name": layer.name, "kind": layer.kind, "op": layer.op,
                                          "shape": layer.shape_text, "out_shape": list(layer.out_shape),
                                          "macs": layer.macs, "params": layer.params} for layer in graph]},
                          indent=1)
    rows = [[layer.name, layer.kind, layer.op, layer.shape_text, f"{layer.macs:,}", f"{layer.params:,}"]
            for layer in graph]
    notes = [f"note: {note}" for note in graph.meta.get("assumptions", [])]
    return "\n".join([*notes, table(rows, ["layer", "kind", "op", "shape", "MACs", "params"], {4, 5}), "",
                      f"{graph.name}: {len(graph)} layers, {graph.macs:,} MACs, {graph.params:,} params"])


def _cmd_workload_export(args: argparse.Namespace) -> str:
    from ..outputs import output_file
    from ..workload import graph_to_yaml

    out = output_file(args.output, force=args.force)  # before the import: a refusal costs nothing
    graph = load_workload(args)
    out.write_text(graph_to_yaml(graph))
    return f"wrote {out}: {len(graph)} layers, {graph.macs:,} MACs, {graph.params:,} params"


def _cmd_workload_list(args: argparse.Namespace) -> str:
    from ..workload import resolve_workload, zoo_names

    rows = []
    for name in zoo_names():
        graph = resolve_workload(name)
        rows.append([name, str(len(graph)), f"{graph.macs:,}", f"{graph.params:,}"])
    return table(rows, ["workload", "layers", "MACs", "params"], {1, 2, 3})


def add_parser(sub) -> None:
    """Register the subcommand on the top-level parser's subparsers."""
    wl = sub.add_parser("workload", help="inspect workloads").add_subparsers(dest="action", required=True,
                                                                            metavar="ACTION")
    info = wl.add_parser("info", help="layers, MACs and parameters of a workload")
    info.add_argument("workload", type=WORKLOAD_NAME)
    info.add_argument("--json", action="store_true")
    info.add_argument("--lenient", action="store_true", help="ONNX: import unsupported ops as placeholders")
    add_batch_option(info)
    info.set_defaults(func=_cmd_workload_info)
    export = wl.add_parser("export", help="write a workload (e.g. an imported ONNX model) as editable YAML")
    export.add_argument("workload", type=WORKLOAD_NAME)
    export.add_argument("-o", "--output", required=True, help="the YAML file to write")
    export.add_argument("--force", action="store_true", help="overwrite an existing file")
    export.add_argument("--lenient", action="store_true", help="ONNX: import unsupported ops as placeholders")
    add_batch_option(export)
    export.set_defaults(func=_cmd_workload_export)
    wl.add_parser("list", help="the bundled workloads").set_defaults(func=_cmd_workload_list)
