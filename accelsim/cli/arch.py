"""`accelsim arch show|list`."""

from __future__ import annotations

import argparse
import json

from ._common import ARCH_NAME, table


def _cmd_arch_show(args: argparse.Namespace) -> str:
    import yaml

    from ..arch import resolve_system

    system = resolve_system(args.arch)
    spec = system.cores[0].to_dict() if system.is_single_array else system.to_dict()
    if args.json:
        return json.dumps(spec, indent=1)
    return yaml.safe_dump(spec, sort_keys=False).rstrip()


def _cmd_arch_list(args: argparse.Namespace) -> str:
    from ..arch import PRESETS, SYSTEM_PRESETS
    from ..arch.system import cores_text

    rows = [[name, f"{a.rows}x{a.cols}", ",".join(a.dataflows), f"int{a.input_bits}/acc{a.acc_bits}",
             "yes" if a.double_buffered else "no", f"{a.clock_mhz:g}"] for name, a in PRESETS.items()]
    arrays = table(rows, ["preset", "array", "dataflows", "numerics", "double-buffered", "MHz"], set())
    systems = []
    for name, load in SYSTEM_PRESETS.items():
        s = load()
        gb = f"{s.global_buffer.kib:,g} KiB" if s.global_buffer else "-"
        systems.append([name, cores_text(s), f"{s.dram.bytes_per_cycle:g}", gb, s.network.topology,
                        f"{s.clock_mhz:g}"])
    return arrays + "\n\n" + table(systems, ["system", "cores", "DRAM B/cycle", "global buffer", "network", "MHz"],
                                    set())


def add_parser(sub) -> None:
    """Register the subcommand on the top-level parser's subparsers."""
    ar = sub.add_parser("arch", help="inspect architectures").add_subparsers(dest="action", required=True,
                                                                            metavar="ACTION")
    show = ar.add_parser("show", help="print an architecture as YAML (or JSON)")
    show.add_argument("arch", type=ARCH_NAME)
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=_cmd_arch_show)
    ar.add_parser("list", help="the presets").set_defaults(func=_cmd_arch_list)
