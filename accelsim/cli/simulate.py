"""`accelsim simulate`."""

from __future__ import annotations

import argparse
import json
from fractions import Fraction

from ._common import add_batch_option, load_workload, table


def _cmd_simulate(args: argparse.Namespace) -> str:
    from ..arch import resolve_arch
    from ..mapping import load_dataflow
    from ..sim import simulate

    arch = resolve_arch(args.arch)
    graph = load_workload(args)
    dataflow = load_dataflow(args.dataflow or arch.dataflows[0])
    result = simulate(graph, arch, dataflow, memory=not args.ideal_memory)
    notes = graph.meta.get("assumptions", [])  # e.g. a symbolic batch taken as 1
    if args.json:
        return json.dumps(result.to_dict() | {"assumptions": notes}, indent=1)
    rows = [[r.name, r.op, r.shape, f"{r.macs:,}", f"{r.cycles:,}", f"{r.stall_cycles:,}", f"{r.utilization:.1%}",
             f"{round(Fraction(r.dram_ifmap_bytes + r.dram_filter_bytes + r.dram_ofmap_bytes, 1024)):,}"]
            for r in result.layers]
    memory = "ideal memory" if args.ideal_memory else (
        f"memory: ifmap/filter/ofmap {arch.memory.ifmap_kib:g}/{arch.memory.filter_kib:g}/"
        f"{arch.memory.ofmap_kib:g} KiB, DRAM {arch.memory.dram_bytes_per_cycle:g} B/cycle")
    head = f"{graph.name} on {arch.name} ({arch.rows}x{arch.cols}), dataflow {dataflow.name}, {memory}"
    stalls = sum(r.stall_cycles for r in result.layers)
    total = (f"total: {result.total_macs:,} MACs in {result.total_cycles:,} cycles ({stalls:,} stalled; "
             f"{_fixed(result.time_ms, 3)} ms at {arch.clock_mhz:g} MHz), utilisation {result.utilization:.1%}")
    header = ["layer", "op", "shape", "MACs", "cycles", "stall", "util", "DRAM KiB"]
    return "\n".join([head, *(f"note: {note}" for note in notes), "", table(rows, header, {3, 4, 5, 6, 7}), "", total])


def _fixed(value: Fraction, digits: int) -> str:
    """``value`` with ``digits`` decimals, exactly (float formatting of huge counts shows binary noise).

    Examples
    --------
    >>> _fixed(Fraction(10**22 + 5, 10**6), 3)
    '10,000,000,000,000,000.000'
    """
    scaled = round(value * 10**digits)
    return f"{scaled // 10**digits:,}.{scaled % 10**digits:0{digits}d}"


def add_parser(sub) -> None:
    """Register the subcommand on the top-level parser's subparsers."""
    sim = sub.add_parser("simulate", help="time a workload on an architecture")
    sim.add_argument("workload", help="a bundled workload name or a workload YAML file")
    sim.add_argument("--arch", default="sa32", help="a preset name or an architecture YAML file (default: sa32)")
    sim.add_argument("--dataflow", help="ws, os, is or a dataflow YAML file (default: the arch's first)")
    sim.add_argument("--json", action="store_true", help="print one JSON object")
    sim.add_argument("--ideal-memory", action="store_true", help="no memory model: operands always on time")
    sim.add_argument("--lenient", action="store_true", help="ONNX: import unsupported ops as zero-cost placeholders")
    add_batch_option(sim)
    sim.set_defaults(func=_cmd_simulate)
