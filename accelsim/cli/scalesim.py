"""`accelsim scalesim`: SCALE-Sim's files in, its reports out."""

from __future__ import annotations

import argparse
import json

from ._common import FILE_NAME, table, warn


def _cmd_scalesim(args: argparse.Namespace) -> str:
    from ..scalesim import run_scalesim_files

    reports, config, written, warnings = run_scalesim_files(
        args.config, args.topology, gemm=args.input_type == "gemm", output=args.output,
        convention=args.convention, force=args.force, traces=args.traces)
    for warning in warnings:
        warn(warning)
    if args.json:
        return json.dumps({"run_name": config.run_name, "convention": args.convention,
                           "reports": [str(p) for p in written],
                           "layers": [r.as_dict() for r in reports]}, indent=1)
    rows = [[r.name, f"{r.total_cycles:,}", f"{r.stall_cycles:,}", f"{r.overall_util:.2f}",
             f"{r.mapping_efficiency:.2f}", f"{r.dram_ifmap_reads:,}", f"{r.dram_filter_reads:,}",
             f"{r.dram_ofmap_writes:,}"] for r in reports]
    header = ["layer", "cycles", "stall", "util %", "map eff %", "DRAM ifmap B", "DRAM filter B", "DRAM ofmap B"]
    mode = "USER" if config.user_bandwidth else "CALC"
    head = (f"{config.run_name}: {config.rows}x{config.cols} {config.dataflow}, SRAM {config.ifmap_kib}/"
            f"{config.filter_kib}/{config.ofmap_kib} KiB, bandwidth {mode}, convention {args.convention}")
    return "\n".join([head, "", table(rows, header, set(range(1, 8))), "",
                      "DRAM columns are bytes (SCALE-Sim's words are 1 byte)", f"reports: {written[0].parent}"])


def add_parser(sub) -> None:
    """Register the subcommand on the top-level parser's subparsers."""
    ss = sub.add_parser("scalesim", help="run SCALE-Sim config + topology files, write its CSV reports")
    ss.add_argument("-c", "--config", required=True, type=FILE_NAME, help="a SCALE-Sim .cfg file")
    ss.add_argument("-t", "--topology", required=True, type=FILE_NAME, help="a SCALE-Sim topology .csv file")
    ss.add_argument("-i", "--input-type", choices=["conv", "gemm"], default="conv",
                    help="topology rows are conv layers (default) or M, N, K GEMMs")
    ss.add_argument("-o", "--output", default="results",
                    help="reports go to OUTPUT/<run_name>/ as in SCALE-Sim (default: results)")
    ss.add_argument("--convention", choices=["accelsim", "scalesim"], default="accelsim",
                    help="accelsim: RTL-true timing (default); scalesim: reproduce SCALE-Sim v3's numbers")
    ss.add_argument("--json", action="store_true", help="print the per-layer numbers as JSON")
    ss.add_argument("--force", action="store_true",
                    help="overwrite existing reports (files of an earlier run not rewritten are removed)")
    ss.add_argument("--traces", action="store_true",
                    help="also write SCALE-Sim's per-cycle SRAM/DRAM traces to layer<i>/ (--convention scalesim)")
    ss.set_defaults(func=_cmd_scalesim)
