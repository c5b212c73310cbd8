"""`accelsim hdl generate|verify|area`."""

from __future__ import annotations

import argparse
import json
import math

from ._common import ARCH_NAME, DATAFLOW_NAME, FILE_NAME, positive_int, seed_int, table


def probability(text: str) -> float:
    """An argparse type: a stall probability in [0, MAX_STALL_P] (1 would stall forever)."""
    from ..sim.stalls import MAX_STALL_P, valid_stall_probability

    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not valid_stall_probability(value):
        raise argparse.ArgumentTypeError(f"must be in [0, {MAX_STALL_P}], not {text!r}")
    return value


def _hdl_target(args: argparse.Namespace):
    from ..arch import resolve_arch
    from ..mapping import load_dataflow
    from ..rtl import require

    require("amaranth", *(("cocotb", "cocotb_tools") if args.action == "verify" else ()))

    arch = resolve_arch(args.arch)
    changes = {name: value for name, value in (("sparse", args.sparse), ("weight_nm", args.weight_nm),
                                               ("pe_style", args.pe_style)) if value is not None}
    if changes:
        arch = arch.with_changes(**changes)  # a bad value is the config's own one-line SpecError
    dataflow = load_dataflow(args.dataflow or arch.dataflows[0])
    from ..rtl.array import check_supported

    check_supported(arch, dataflow)  # what the RTL does not build: one line, before any work
    return arch, dataflow


def _cmd_hdl_generate(args: argparse.Namespace) -> str:
    arch, dataflow = _hdl_target(args)  # first: it checks the hdl extra is installed
    from ..progress import progress_bar
    from ..rtl.export import write_design

    with progress_bar(desc="generating Verilog", unit="module") as bar:
        def on_module(name: str) -> None:
            bar.set_postfix_str(name)
            bar.update(1)

        written = write_design(arch, dataflow, args.output, force=args.force, on_module=on_module)
    if args.json:
        return json.dumps(written, indent=1)
    return (f"wrote {written['verilog']} ({written['lines']:,} lines, {written['bytes']:,} bytes), "
            f"{written['spec']}, {written['ports']}"
            f" (design {written['digest']})")


def _cmd_hdl_verify(args: argparse.Namespace) -> str:
    arch, dataflow = _hdl_target(args)
    from ..errors import HDLError
    from ..progress import progress_bar
    from ..rtl.cocotb_run import verify

    with progress_bar(total=args.cases, desc=f"verify {arch.name} {dataflow.name}", unit="case") as bar:
        done = [0]

        def on_case(n: int) -> None:
            bar.update(n - done[0])
            done[0] = n

        result = verify(arch, dataflow, cases=args.cases, seed=args.seed, stall_p=args.stall,
                        verilog=args.verilog, simulator=args.simulator, build_dir=args.build_dir,
                        nm_structured=not args.nm_dense, on_case=on_case)
    gated = f", {result['gated_checked']:,} gated MAC events" if "gated_checked" in result else ""
    variant = "".join([" gate" if arch.sparse == "gate" else "",
                       f" {arch.weight_nm}{' (dense weights)' if args.nm_dense else ''}" if arch.weight_nm else ""])
    text = json.dumps(result, indent=1) if args.json else (
        f"{result['simulator']}: {result['cases']} random cases on {arch.name} ({arch.rows}x{arch.cols}) "
        f"{dataflow.name}{variant}, {result['outputs_checked']:,} output rows and {result['cycles_checked']:,} cycles"
        f"{gated} checked against the reference engine: {result['mismatches']} mismatches "
        f"({result['total_seconds']:.1f} s)")
    if result["mismatches"]:
        if args.json:
            print(text)
        raise HDLError(f"{result['mismatches']} of {result['cases']} cases differ; first: {result['first_mismatch']}")
    return text


def _cmd_hdl_area(args: argparse.Namespace) -> str:
    arch, dataflow = _hdl_target(args)
    from ..progress import progress_bar
    from ..rtl.area import area_report

    sparse = arch.sparse != "none" or bool(arch.weight_nm)
    if args.liberty is not None:
        from ..rtl.area import read_liberty

        read_liberty(args.liberty)  # a missing or malformed file: one line, before any synthesis
    steps = 1 + bool(args.full) + sparse + (args.liberty is not None)
    with progress_bar(total=steps, desc="synthesising", unit="design") as bar:
        def on_step(name: str) -> None:
            if name != "PE":
                bar.update(1)
            bar.set_postfix_str(name)

        extra = {"liberty": args.liberty} if args.liberty is not None else {}
        report = area_report(arch, dataflow, full=args.full, on_step=on_step, **extra)
    if args.json:
        return json.dumps(report, indent=1)
    kinds = ("luts", "flip_flops", "carries", "cells")
    rows = [["one PE", *(f"{report['pe'][k]:,}" for k in kinds)],
            [f"array estimate ({report['pes']:,} PEs)", *(f"{report['array_estimate'][k]:,}" for k in kinds)]]
    if "array" in report:
        rows.append(["array, synthesised", *(f"{report['array'][k]:,}" for k in kinds)])
    if "pe_dense" in report:
        what = "gating" if arch.sparse == "gate" else f"N:M {arch.weight_nm} indices and mux"
        rows += [["dense PE, same widths", *(f"{report['pe_dense'][k]:,}" for k in kinds)],
                 [f"one PE's {what}", *(f"{report['pe_sparse_extra'][k]:+,}" for k in kinds)]]
    head = f"{arch.name} ({arch.rows}x{arch.cols}) {dataflow.name}, {report['target']}, {report['yosys']}"
    lines = [head, "", table(rows, ["", "LUT4", "flip-flops", "carries", "cells"], {1, 2, 3, 4})]
    if "pe_liberty" in report:
        mapped = report["pe_liberty"]
        cells = ", ".join(f"{n:,} {kind}" for kind, n in sorted(mapped["cells"].items()))
        lines += ["", (f"on {report['liberty']}: one PE {mapped['area_um2']:,.3f} um2 "
                       f"({mapped['sequential_um2']:,.3f} sequential; {cells}); "
                       f"{report['pes']:,} PEs {report['array_estimate_um2']:,.1f} um2")]
    return "\n".join([*lines, "", f"({report['seconds']:.1f} s)"])


def add_parser(sub) -> None:
    """Register the subcommand on the top-level parser's subparsers."""
    hdl = sub.add_parser("hdl", help="generate and verify the RTL").add_subparsers(dest="action", required=True,
                                                                                  metavar="ACTION")
    gen = hdl.add_parser("generate", help="write the array's Verilog, spec.json and ports.json")
    ver = hdl.add_parser("verify", help="prove the Verilog equal to the reference engine (cocotb)")
    area = hdl.add_parser("area", help="synthesise a PE (and optionally the array) with Yosys")
    for p in (gen, ver, area):
        p.add_argument("--arch", default="tiny", type=ARCH_NAME,
                       help="a preset name or an architecture YAML file (default: tiny)")
        p.add_argument("--dataflow", type=DATAFLOW_NAME, help="ws, os or is (default: the arch's first)")
        p.add_argument("--sparse", choices=["none", "gate", "skip"],
                       help="zero operands: 'gate' isolates the multiplier and counts gated MACs "
                            "(default: the arch's; 'skip' has no RTL)")
        p.add_argument("--weight-nm", metavar="N:M",
                       help="N:M weight-stationary PEs (kept weights with their indices), e.g. 2:4; WS only")
        p.add_argument("--pe-style", choices=["parallel", "bit-serial", "fusible"],
                       help="PE style (default: the arch's; only 'parallel' has RTL)")
        p.add_argument("--json", action="store_true")
    gen.add_argument("-o", "--output", required=True, help="folder to write into")
    gen.add_argument("--force", action="store_true", help="overwrite existing files")
    gen.set_defaults(func=_cmd_hdl_generate)
    ver.add_argument("--cases", type=positive_int, default=100, help="random multi-fold cases (default: 100)")
    ver.add_argument("--seed", type=seed_int, default=0, help="the random cases' seed, 0 to 2**32-1 (default: 0)")
    ver.add_argument("--stall", type=probability, default=0.3,
                     help="probability that a port stalls in a cycle, in [0, 0.9] (default: 0.3)")
    ver.add_argument("--verilog", type=FILE_NAME, help="verify this Verilog file instead of generating one")
    ver.add_argument("--simulator", choices=["icarus", "verilator"], default="icarus")
    ver.add_argument("--nm-dense", action="store_true",
                     help="N:M arrays: random dense weights run uncompressed (default: pruned to N:M and compressed)")
    ver.add_argument("--build-dir", type=FILE_NAME,
                     help="where the simulator builds (default: ~/.cache/accelsim/sim_build/DIGEST)")
    ver.set_defaults(func=_cmd_hdl_verify)
    area.add_argument("--full", action="store_true", help="also synthesise the whole array (slow for big ones)")
    area.add_argument("--liberty", type=FILE_NAME, metavar="FILE",
                      help="also map the PE to this standard-cell library (dfflibmap + abc) and report its area")
    area.set_defaults(func=_cmd_hdl_area)
