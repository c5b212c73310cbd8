"""The ``accelsim`` command line. ``main(argv)`` returns the exit status (tests call it in-process)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from .errors import AccelsimError


def _table(rows: list[list[str]], header: list[str], right: set[int]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    fmt = lambda r: "  ".join(str(c).rjust(w) if i in right else str(c).ljust(w)  # noqa: E731
                              for i, (c, w) in enumerate(zip(r, widths))).rstrip()
    return "\n".join([fmt(header), fmt(["-" * w for w in widths]), *map(fmt, rows)])


def _cmd_simulate(args: argparse.Namespace) -> str:
    from .arch import resolve_arch
    from .mapping import load_dataflow
    from .sim import simulate
    from .workload import resolve_workload

    arch = resolve_arch(args.arch)
    graph = _load(args)
    dataflow = load_dataflow(args.dataflow or arch.dataflows[0])
    result = simulate(graph, arch, dataflow, memory=not args.ideal_memory)
    if args.json:
        return result.to_json()
    rows = [[r.name, r.op, r.shape, f"{r.macs:,}", f"{r.cycles:,}", f"{r.stall_cycles:,}", f"{r.utilization:.1%}",
             f"{(r.dram_ifmap_bytes + r.dram_filter_bytes + r.dram_ofmap_bytes) / 1024:,.0f}"]
            for r in result.layers]
    memory = "ideal memory" if args.ideal_memory else (
        f"memory: ifmap/filter/ofmap {arch.memory.ifmap_kib:g}/{arch.memory.filter_kib:g}/"
        f"{arch.memory.ofmap_kib:g} KiB, DRAM {arch.memory.dram_bytes_per_cycle:g} B/cycle")
    head = f"{graph.name} on {arch.name} ({arch.rows}x{arch.cols}), dataflow {dataflow.name}, {memory}"
    stalls = sum(r.stall_cycles for r in result.layers)
    total = (f"total: {result.total_macs:,} MACs in {result.total_cycles:,} cycles ({stalls:,} stalled; "
             f"{result.time_ms:.3f} ms at {arch.clock_mhz:g} MHz), utilisation {result.utilization:.1%}")
    header = ["layer", "op", "shape", "MACs", "cycles", "stall", "util", "DRAM KiB"]
    return "\n".join([head, "", _table(rows, header, {3, 4, 5, 6, 7}), "", total])


def _load(args: argparse.Namespace):
    """The workload named on the command line; placeholder warnings go to stderr."""
    from .workload import resolve_workload

    graph = resolve_workload(args.workload, lenient=args.lenient)
    for warning in graph.meta.get("placeholders", []):
        print(f"accelsim: warning: {warning}; imported as a zero-cost placeholder", file=sys.stderr)
    return graph


def _cmd_workload_info(args: argparse.Namespace) -> str:
    graph = _load(args)
    if args.json:
        return json.dumps({"workload": graph.name, "layers": len(graph), "macs": graph.macs,
                           "params": graph.params, "placeholders": graph.meta.get("placeholders", []), "inputs": {k: list(v) for k, v in graph.inputs.items()},
                           "meta": graph.meta,
                           "per_layer": [{"name": layer.name, "kind": layer.kind, "op": layer.op,
                                          "shape": layer.shape_text, "out_shape": list(layer.out_shape),
                                          "macs": layer.macs, "params": layer.params} for layer in graph]},
                          indent=1)
    rows = [[layer.name, layer.kind, layer.op, layer.shape_text, f"{layer.macs:,}", f"{layer.params:,}"]
            for layer in graph]
    return "\n".join([_table(rows, ["layer", "kind", "op", "shape", "MACs", "params"], {4, 5}), "",
                      f"{graph.name}: {len(graph)} layers, {graph.macs:,} MACs, {graph.params:,} params"])


def _cmd_workload_export(args: argparse.Namespace) -> str:
    from pathlib import Path

    from .errors import SpecError
    from .workload import graph_to_yaml

    graph = _load(args)
    out = Path(args.output)
    if out.exists() and not args.force:
        raise SpecError(f"{out} exists; pass --force to overwrite")
    out.write_text(graph_to_yaml(graph))
    return f"wrote {out}: {len(graph)} layers, {graph.macs:,} MACs, {graph.params:,} params"


def _cmd_workload_list(args: argparse.Namespace) -> str:
    from .workload import resolve_workload, zoo_names

    rows = []
    for name in zoo_names():
        graph = resolve_workload(name)
        rows.append([name, str(len(graph)), f"{graph.macs:,}", f"{graph.params:,}"])
    return _table(rows, ["workload", "layers", "MACs", "params"], {1, 2, 3})


def _cmd_arch_show(args: argparse.Namespace) -> str:
    import yaml

    from .arch import resolve_arch

    arch = resolve_arch(args.arch)
    return json.dumps(arch.to_dict(), indent=1) if args.json else yaml.safe_dump(arch.to_dict(), sort_keys=False).rstrip()


def _cmd_arch_list(args: argparse.Namespace) -> str:
    from .arch import PRESETS

    rows = [[name, f"{a.rows}x{a.cols}", ",".join(a.dataflows), f"int{a.input_bits}/acc{a.acc_bits}",
             "yes" if a.double_buffered else "no", f"{a.clock_mhz:g}"] for name, a in PRESETS.items()]
    return _table(rows, ["preset", "array", "dataflows", "numerics", "double-buffered", "MHz"], set())


def _hdl_target(args: argparse.Namespace):
    from .arch import resolve_arch
    from .mapping import load_dataflow
    from .rtl import require

    require("amaranth", *(("cocotb", "cocotb_tools") if args.action == "verify" else ()))

    arch = resolve_arch(args.arch)
    return arch, load_dataflow(args.dataflow or arch.dataflows[0])


def _cmd_hdl_generate(args: argparse.Namespace) -> str:
    arch, dataflow = _hdl_target(args)  # first: it checks the hdl extra is installed
    from .rtl.export import write_design

    written = write_design(arch, dataflow, args.output, force=args.force)
    if args.json:
        return json.dumps(written, indent=1)
    return (f"wrote {written['verilog']} ({written['lines']:,} lines), {written['spec']}, {written['ports']}"
            f" (design {written['digest']})")


def _cmd_hdl_verify(args: argparse.Namespace) -> str:
    arch, dataflow = _hdl_target(args)
    from .errors import HDLError
    from .rtl.cocotb_run import verify

    result = verify(arch, dataflow, cases=args.cases, seed=args.seed, stall_p=args.stall,
                    verilog=args.verilog, simulator=args.simulator, build_dir=args.build_dir)
    text = json.dumps(result, indent=1) if args.json else (
        f"{result['simulator']}: {result['cases']} random cases on {arch.name} ({arch.rows}x{arch.cols}) "
        f"{dataflow.name}, {result['outputs_checked']:,} output rows and {result['cycles_checked']:,} cycles "
        f"checked against the reference engine: {result['mismatches']} mismatches "
        f"({result['total_seconds']:.1f} s)")
    if result["mismatches"]:
        if args.json:
            print(text)
        raise HDLError(f"{result['mismatches']} of {result['cases']} cases differ; first: {result['first_mismatch']}")
    return text


def _cmd_hdl_area(args: argparse.Namespace) -> str:
    arch, dataflow = _hdl_target(args)
    from .rtl.area import area_report

    report = area_report(arch, dataflow, full=args.full)
    if args.json:
        return json.dumps(report, indent=1)
    rows = [["one PE", *(f"{report['pe'][k]:,}" for k in ("luts", "flip_flops", "carries", "cells"))],
            [f"array estimate ({report['pes']} PEs)",
             *(f"{report['array_estimate'][k]:,}" for k in ("luts", "flip_flops", "carries", "cells"))]]
    if "array" in report:
        rows.append(["array, synthesised", *(f"{report['array'][k]:,}" for k in ("luts", "flip_flops", "carries", "cells"))])
    head = f"{arch.name} ({arch.rows}x{arch.cols}) {dataflow.name}, {report['target']}, {report['yosys']}"
    return "\n".join([head, "", _table(rows, ["", "LUT4", "flip-flops", "carries", "cells"], {1, 2, 3, 4}),
                      "", f"({report['seconds']:.1f} s)"])


def _cmd_scalesim(args: argparse.Namespace) -> str:
    from pathlib import Path

    from .scalesim import run_scalesim_files

    reports, config, written = run_scalesim_files(
        args.config, args.topology, gemm=args.input_type == "gemm", output=Path(args.output),
        convention=args.convention, force=args.force)
    if args.json:
        return json.dumps({"run_name": config.run_name, "convention": args.convention,
                           "reports": [str(p) for p in written],
                           "layers": [r.as_dict() for r in reports]}, indent=1)
    rows = [[r.name, f"{r.total_cycles:,}", f"{r.stall_cycles:,}", f"{r.overall_util:.2f}",
             f"{r.mapping_efficiency:.2f}", f"{r.dram_ifmap_reads:,}", f"{r.dram_filter_reads:,}",
             f"{r.dram_ofmap_writes:,}"] for r in reports]
    header = ["layer", "cycles", "stall", "util %", "map eff %", "DRAM ifmap", "DRAM filter", "DRAM ofmap"]
    mode = "USER" if config.user_bandwidth else "CALC"
    head = (f"{config.run_name}: {config.rows}x{config.cols} {config.dataflow}, SRAM {config.ifmap_kib}/"
            f"{config.filter_kib}/{config.ofmap_kib} KiB, bandwidth {mode}, convention {args.convention}")
    return "\n".join([head, "", _table(rows, header, set(range(1, 8))), "",
                      f"reports: {written[0].parent}"])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="accelsim", description="Cycle-level systolic-array simulator.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sim = sub.add_parser("simulate", help="time a workload on an architecture")
    sim.add_argument("workload", help="a bundled workload name or a workload YAML file")
    sim.add_argument("--arch", default="sa32", help="a preset name or an architecture YAML file (default: sa32)")
    sim.add_argument("--dataflow", help="ws, os, is or a dataflow YAML file (default: the arch's first)")
    sim.add_argument("--json", action="store_true", help="print one JSON object")
    sim.add_argument("--ideal-memory", action="store_true", help="no memory model: operands always on time")
    sim.add_argument("--lenient", action="store_true", help="ONNX: import unsupported ops as zero-cost placeholders")
    sim.set_defaults(func=_cmd_simulate)

    wl = sub.add_parser("workload", help="inspect workloads").add_subparsers(dest="action", required=True,
                                                                            metavar="ACTION")
    info = wl.add_parser("info", help="layers, MACs and parameters of a workload")
    info.add_argument("workload")
    info.add_argument("--json", action="store_true")
    info.add_argument("--lenient", action="store_true", help="ONNX: import unsupported ops as placeholders")
    info.set_defaults(func=_cmd_workload_info)
    export = wl.add_parser("export", help="write a workload (e.g. an imported ONNX model) as editable YAML")
    export.add_argument("workload")
    export.add_argument("-o", "--output", required=True, help="the YAML file to write")
    export.add_argument("--force", action="store_true", help="overwrite an existing file")
    export.add_argument("--lenient", action="store_true", help="ONNX: import unsupported ops as placeholders")
    export.set_defaults(func=_cmd_workload_export)
    wl.add_parser("list", help="the bundled workloads").set_defaults(func=_cmd_workload_list)

    ar = sub.add_parser("arch", help="inspect architectures").add_subparsers(dest="action", required=True,
                                                                            metavar="ACTION")
    show = ar.add_parser("show", help="print an architecture as YAML (or JSON)")
    show.add_argument("arch")
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=_cmd_arch_show)
    ar.add_parser("list", help="the presets").set_defaults(func=_cmd_arch_list)

    ss = sub.add_parser("scalesim", help="run SCALE-Sim config + topology files, write its CSV reports")
    ss.add_argument("-c", "--config", required=True, help="a SCALE-Sim .cfg file")
    ss.add_argument("-t", "--topology", required=True, help="a SCALE-Sim topology .csv file")
    ss.add_argument("-i", "--input-type", choices=["conv", "gemm"], default="conv",
                    help="topology rows are conv layers (default) or M, N, K GEMMs")
    ss.add_argument("-o", "--output", default="results",
                    help="reports go to OUTPUT/<run_name>/ as in SCALE-Sim (default: results)")
    ss.add_argument("--convention", choices=["accelsim", "scalesim"], default="accelsim",
                    help="accelsim: RTL-true timing (default); scalesim: reproduce SCALE-Sim v3's numbers")
    ss.add_argument("--json", action="store_true", help="print the per-layer numbers as JSON")
    ss.add_argument("--force", action="store_true", help="overwrite existing reports")
    ss.set_defaults(func=_cmd_scalesim)

    hdl = sub.add_parser("hdl", help="generate and verify the RTL").add_subparsers(dest="action", required=True,
                                                                                  metavar="ACTION")
    gen = hdl.add_parser("generate", help="write the array's Verilog, spec.json and ports.json")
    ver = hdl.add_parser("verify", help="prove the Verilog equal to the reference engine (cocotb)")
    area = hdl.add_parser("area", help="synthesise a PE (and optionally the array) with Yosys")
    for p in (gen, ver, area):
        p.add_argument("--arch", default="tiny", help="a preset name or an architecture YAML file (default: tiny)")
        p.add_argument("--dataflow", help="ws, os or is (default: the arch's first)")
        p.add_argument("--json", action="store_true")
    gen.add_argument("-o", "--output", required=True, help="folder to write into")
    gen.add_argument("--force", action="store_true", help="overwrite existing files")
    gen.set_defaults(func=_cmd_hdl_generate)
    ver.add_argument("--cases", type=int, default=100, help="random multi-fold cases (default: 100)")
    ver.add_argument("--seed", type=int, default=0)
    ver.add_argument("--stall", type=float, default=0.3, help="probability that a port stalls in a cycle")
    ver.add_argument("--verilog", help="verify this Verilog file instead of generating one")
    ver.add_argument("--simulator", choices=["icarus", "verilator"], default="icarus")
    ver.add_argument("--build-dir", help="where the simulator builds (default: ./sim_build/DIGEST)")
    ver.set_defaults(func=_cmd_hdl_verify)
    area.add_argument("--full", action="store_true", help="also synthesise the whole array (slow for big ones)")
    area.set_defaults(func=_cmd_hdl_area)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return 0 on success, 1 on a user error (one line on stderr), 2 on bad usage."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    try:
        text = args.func(args)
    except AccelsimError as err:
        print(f"accelsim: error: {err}".splitlines()[0], file=sys.stderr)
        return 1
    try:
        print(text)
        sys.stdout.flush()
    except BrokenPipeError:  # e.g. `accelsim simulate resnet50 | head`
        sys.stdout = None
    return 0


def run() -> None:  # pragma: no cover - the console-script entry point
    sys.exit(main())
