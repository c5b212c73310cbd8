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
    if system.is_single_array:
        spec = _with_datapath(spec)
    elif isinstance(spec["cores"], list):
        spec["cores"] = [_with_datapath(core) for core in spec["cores"]]
    else:
        spec["cores"]["array"] = _with_datapath(spec["cores"]["array"])
    if args.json:
        return json.dumps(spec, indent=1)
    return yaml.safe_dump(spec, sort_keys=False).rstrip()


def _with_datapath(spec: dict) -> dict:
    """An array's dict with its ``datapath`` after ``acc_bits``, shown even when it is the default ``int``
    (which ``to_dict`` leaves out to keep every integer config's digest): the YAML still loads as the same
    array."""
    datapath = spec.get("datapath", "int")
    out = {}
    for key, value in spec.items():
        if key != "datapath":
            out[key] = value
        if key == "acc_bits":
            out["datapath"] = datapath
    return out


def numerics(arch) -> str:
    """What an array multiplies and accumulates: ``int8/acc32``, or ``bf16/fp32`` on a float datapath."""
    if arch.datapath != "int":
        return f"{arch.datapath}/fp{arch.acc_bits}"
    return f"int{arch.input_bits}/acc{arch.acc_bits}"


def _cmd_arch_list(args: argparse.Namespace) -> str:
    from ..arch import PRESETS, SYSTEM_PRESETS
    from ..arch.system import cores_text

    rows = [[name, f"{a.rows}x{a.cols}", ",".join(a.dataflows), numerics(a),
             "yes" if a.double_buffered else "no", f"{a.clock_mhz:g}"] for name, a in PRESETS.items()]
    arrays = table(rows, ["preset", "array", "dataflows", "numerics", "double-buffered", "MHz"], set())
    systems = []
    for name, load in SYSTEM_PRESETS.items():
        s = load()
        gb = f"{s.global_buffer.kib:,g} KiB" if s.global_buffer else "-"
        kinds = dict.fromkeys(numerics(c) for c in s.cores)
        systems.append([name, cores_text(s), f"{s.dram.bytes_per_cycle:g}", gb, s.network.topology,
                        f"{s.clock_mhz:g}", ",".join(kinds)])
    return arrays + "\n\n" + table(systems, ["system", "cores", "DRAM B/cycle", "global buffer", "network", "MHz",
                                              "numerics"], set())


def add_parser(sub) -> None:
    """Register the subcommand on the top-level parser's subparsers."""
    ar = sub.add_parser("arch", help="inspect architectures").add_subparsers(dest="action", required=True,
                                                                            metavar="ACTION")
    show = ar.add_parser("show", help="print an architecture as YAML (or JSON)")
    show.add_argument("arch", type=ARCH_NAME)
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=_cmd_arch_show)
    ar.add_parser("list", help="the presets").set_defaults(func=_cmd_arch_list)
