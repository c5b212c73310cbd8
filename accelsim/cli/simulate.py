"""`accelsim simulate`."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from fractions import Fraction

from ._common import (
    ARCH_NAME,
    DATAFLOW_NAME,
    FILE_NAME,
    WORKLOAD_NAME,
    add_batch_option,
    load_workload,
    name_of,
    table,
    warn,
)


def _cmd_simulate(args: argparse.Namespace) -> str:
    from ..arch import resolve_system
    from ..errors import MappingError
    from ..mapping import load_dataflow
    from ..sim import simulate

    if args.timeline:  # refuse an output that cannot be written before any work
        from ..outputs import output_file

        output_file(args.timeline, force=args.force)
    system = resolve_system(args.arch)
    system = replace(system, cores=tuple(_with_switches(core, args) for core in system.cores))
    graph = _with_layer_options(load_workload(args), args)
    if not system.is_single_array:
        return _system_report(system, graph, args)
    arch = system.cores[0]
    dataflow = load_dataflow(args.dataflow or arch.dataflows[0])
    graph, operands, formats = _tensor_operands(args.tensors, graph, args) if args.tensors else (graph, None, None)
    if operands and (args.weight_sparsity or args.input_sparsity):
        warn("--tensors: the tensors' own zeros replace --weight-sparsity/--input-sparsity for the operands they give")
    choices = _searched(graph, arch, args, operands) if args.mapping == "search" else None
    try:
        result = simulate(graph, arch, dataflow, memory=not args.ideal_memory, tensors=operands,
                          energy_table=args.energy_table, choices=choices, mapping=args.mapping)
    except MappingError as err:  # a format the tensor file gave is too wide for the datapath: say where it came from
        raise _from_tensors(err, formats) from None
    notes = list(result.assumptions) + list(formats.notes if formats else ())  # e.g. a batch taken as 1
    scheduled = _run_schedule(system, graph, args, args.schedule or "sequential", choices) \
        if args.schedule == "overlap" or args.timeline else None
    if args.json:
        schedule_json = {"schedule": _schedule_summary(scheduled)} if scheduled else {}
        return json.dumps(result.to_dict() | {"assumptions": notes} | schedule_json, indent=1)
    sparse = any(r.dense_cycles != r.cycles or r.mac_counts.effective != r.macs for r in result.layers)
    traffic = {r.name: r.traffic.total for r in result.layers}
    values = {name: t.dram_bytes for name, t in traffic.items()}
    meta = {name: t.dram_metadata_bytes for name, t in traffic.items()}
    with_meta = any(meta.values())  # compressed formats or N:M indices: a column next to the values' bytes
    rows = [[r.name, r.op, r.shape, f"{r.macs:,}", f"{r.cycles:,}", f"{r.stall_cycles:,}", f"{r.utilization:.1%}",
             f"{round(Fraction(values[r.name], 1024)):,}"]
            + ([f"{round(Fraction(meta[r.name], 1024)):,}"] if with_meta else [])
            + [f"{r.energy_pj / 1e6:,.1f}"]
            + ([f"{n:,}" for n in (r.dense_cycles, r.mac_counts.effective, r.mac_counts.gated, r.mac_counts.skipped)]
               if sparse else [])
            for r in result.layers]
    memory = "ideal memory" if args.ideal_memory else (
        f"memory: ifmap/filter/ofmap {arch.memory.ifmap_kib:g}/{arch.memory.filter_kib:g}/"
        f"{arch.memory.ofmap_kib:g} KiB, DRAM {arch.memory.dram_bytes_per_cycle:g} B/cycle")
    head = (f"{graph.name} on {arch.name} ({arch.rows}x{arch.cols}), dataflow {result.dataflow}, "
            f"{args.mapping} mapping, {memory}")
    stalls = sum(r.stall_cycles for r in result.layers)
    total = (f"total: {result.total_macs:,} MACs in {result.total_cycles:,} cycles ({stalls:,} stalled; "
             f"{_fixed(result.time_ms, 3)} ms at {arch.clock_mhz:g} MHz), utilisation {result.utilization:.1%}")
    # every byte moved (ideal memory too: each tensor once); the DRAM KiB column is the values, meta KiB the rest
    moved, extra = sum(values.values()), sum(meta.values())
    total += (f", DRAM {moved + extra:,} bytes ({moved:,} values + {extra:,} metadata)" if extra
              else f", DRAM {moved:,} bytes")
    header = ["layer", "op", "shape", "MACs", "cycles", "stall", "util", "DRAM KiB",
              *(["meta KiB"] if with_meta else []), "energy µJ"]
    energy = result.energy
    assert energy is not None  # the command always prices (--energy-table has a default)
    unit = "µJ" if energy.unit == "pJ" else "million MACs' worth"
    header[header.index("energy µJ")] = "energy µJ" if energy.unit == "pJ" else "energy (1e6 MAC)"
    parts = ", ".join(f"{k} {v / 1e6:,.1f}" for k, v in energy.breakdown.by_component.items() if v)
    total = f"energy ({energy.table}, docs/energy.md): {energy.total_pj / 1e6:,.1f} {unit} = {parts}\n{total}"
    if sparse:
        header += ["dense cycles", "effective", "gated", "skipped"]
        d = {"dense_cycles": sum(r.dense_cycles for r in result.layers)} | {
            key: sum(r.mac_counts.to_dict()[key] for r in result.layers)
            for key in ("effective_macs", "gated_macs", "skipped_macs")}
        total += (f"\nsparsity ({arch.sparse}{', N:M ' + arch.weight_nm if arch.weight_nm else ''}, "
                  f"{'tensors' if operands else 'density description'}): {d['dense_cycles']:,} dense cycles; "
                  f"MACs effective {d['effective_macs']:,}, gated {d['gated_macs']:,}, skipped {d['skipped_macs']:,}")
    if scheduled:
        total += "\n" + _schedule_line(scheduled, args)
    return "\n".join([head, *(f"note: {note}" for note in notes), "",
                      table(rows, header, set(range(3, len(header)))), "", total])


def _run_schedule(system, graph, args: argparse.Namespace, schedule: str, choices: dict | None = None):
    """The graph scheduled on ``system`` (``--schedule``), its timeline written if asked."""
    from ..errors import UnsupportedError
    from ..mapping import load_dataflow
    from ..schedule import run_system

    if args.tensors:
        raise UnsupportedError("--tensors with a schedule or a system of several cores is not modelled: real "
                               "tensors are read per layer on one array; drop --tensors or --schedule/--timeline")
    if args.ideal_memory and args.mapping == "search":  # as on one array: the search ranks by the memory model
        raise UnsupportedError("--mapping search with --ideal-memory is not modelled: the search ranks mappings "
                               "by the memory model's cycles from density descriptions; use --mapping fixed")
    dataflow = load_dataflow(args.dataflow) if args.dataflow else None
    result = run_system(graph, system, dataflow, schedule=schedule, memory=not args.ideal_memory,
                        search=args.mapping == "search" and choices is None, energy_table=args.energy_table,
                        choices=choices)
    if args.timeline:
        from ..schedule.timeline import write_trace

        write_trace(result, args.timeline, force=args.force)
    return result


def _schedule_summary(result) -> dict:
    return {"schedule": result.mode, "total_cycles": result.cycles, "sequential_cycles": result.sequential_cycles,
            "saved_cycles": result.saved_cycles,
            "layers": {t.name: {"critical_cycles": t.critical_cycles, "saved_cycles": t.saved_cycles,
                                "input_on_chip": t.input_on_chip, "output_on_chip": t.output_on_chip}
                       for t in result.layers}}


def _schedule_line(result, args: argparse.Namespace) -> str:
    line = (f"schedule ({result.mode}, docs/multicore.md): {result.cycles:,} cycles, "
            f"{_saving(result)} against the sequential {result.sequential_cycles:,}")
    return line + (f"; timeline written to {args.timeline}" if args.timeline else "")


def _saving(result) -> str:
    seq = result.sequential_cycles
    return f"saved {result.saved_cycles:,} ({float(Fraction(result.saved_cycles, seq or 1) * 100):.1f}%)"


def _system_report(system, graph, args: argparse.Namespace) -> str:
    """The per-layer schedule of a system of cores (``docs/multicore.md``)."""
    from ..schedule.schedule import describe

    result = _run_schedule(system, graph, args, args.schedule or "overlap")
    if args.json:
        return json.dumps(result.to_dict(), indent=1)
    rows = [[t.name, t.unit, t.split or "-", str(len(t.cores)), f"{t.macs:,}", f"{t.sequential_cycles:,}",
             f"{t.start:,}", f"{t.end:,}", f"{t.saved_cycles:,}",
             ("in" if t.input_on_chip else "") + ("/out" if t.output_on_chip else ""),
             f"{round(Fraction(t.dram_bytes, 1024)):,}"] for t in result.layers]
    header = ["layer", "unit", "split", "cores", "MACs", "alone", "start", "end", "saved", "on chip", "DRAM KiB"]
    energy = sum(result.energy_pj.values())
    parts = ", ".join(f"{k} {float(v) / 1e6:,.1f}" for k, v in result.energy_pj.items() if v)
    from ..cost import load_energy_table

    unit = "µJ" if load_energy_table(args.energy_table).unit == "pJ" else "million MACs' worth"
    total = (f"total: {result.macs:,} MACs in {result.cycles:,} cycles ({_fixed(result.time_ms, 3)} ms at "
             f"{system.clock_mhz:g} MHz), utilisation {result.utilization:.1%} of {system.pes:,} PEs, "
             f"DRAM {result.dram_bytes:,} bytes\n"
             f"schedule: {result.mode}, {_saving(result)} against the sequential {result.sequential_cycles:,} "
             f"(alone: a layer on every core, activations through DRAM; saved: alone minus how far it moved the end)\n"
             f"energy ({args.energy_table}): {float(energy) / 1e6:,.1f} {unit} = {parts}")
    if args.timeline:
        total += f"\ntimeline written to {args.timeline} (open it in ui.perfetto.dev)"
    return "\n".join([describe(result), *(f"note: {n}" for n in result.assumptions), "",
                      table(rows, header, set(range(3, len(header)))), "", total])


def _searched(graph, arch, args: argparse.Namespace, operands) -> dict:
    """Each layer's mapping by the design-space search (``--mapping search``)."""
    from ..dse.mapping_search import search_mapping
    from ..errors import UnsupportedError

    for given, option in ((args.ideal_memory, "--ideal-memory"), (operands, "--tensors")):
        if given:  # the search ranks candidates by the memory model's cycles from density descriptions
            raise UnsupportedError(f"--mapping search with {option} is not modelled: the search ranks mappings "
                                   "by the memory model's cycles from density descriptions; use --mapping fixed")
    return search_mapping(graph, arch, args.dataflow, energy_table=args.energy_table)


def _with_switches(arch, args: argparse.Namespace):
    """The architecture with the command line's PE style and sparsity switches."""
    changes = {k: v for k, v in (("pe_style", args.pe), ("sparse", args.sparse), ("weight_nm", args.weight_nm),
                                 ("weight_format", args.weight_format), ("input_format", args.input_format))
               if v is not None}
    if not changes:
        return arch
    from ..arch import ArrayConfig

    return ArrayConfig.from_dict(arch.to_dict() | changes, file="command line")


def _with_layer_options(graph, args: argparse.Namespace):
    """The workload with the command line's precision and sparsity applied to every GEMM layer."""
    from ..errors import SpecError
    from ..workload.layer import density_value, int_format, weight_sparsity_changes

    changes: dict = {}
    for option, value, convert in (
            ("--input-bits", args.input_bits, lambda v: {"input_type": int_format(v)}),
            ("--weight-bits", args.weight_bits, lambda v: {"weight_type": int_format(v)}),
            ("--weight-sparsity", args.weight_sparsity, weight_sparsity_changes),
            ("--input-sparsity", args.input_sparsity, lambda v: {"input_density": density_value(v)})):
        if value is not None:
            try:
                changes |= convert(value)
            except SpecError as err:
                raise SpecError(f"{option}: {err}") from None
    return graph.with_gemm_changes(changes, where=" (with the command line's options)")


def _tensor_operands(path: str, graph, args: argparse.Namespace):
    """``(workload, operands, formats)``: the workload with the tensor file's number formats unless
    --weight-bits/--input-bits say otherwise (``accelsim.tensors.with_tensor_formats``), and each
    layer's real GEMM operands."""
    import numpy as np

    from ..tensors import input_matrix, load_tensors, weight_matrix, with_tensor_formats
    from ..workload.layer import int_format

    tensors = load_tensors(path, graph)
    given = {op: (int_format(bits), f"{option} {bits}")
             for op, option, bits in (("W", "--weight-bits", args.weight_bits), ("I", "--input-bits", args.input_bits))
             if bits is not None}
    formats = with_tensor_formats(graph, tensors, file=path, given=given)
    graph = formats.graph
    operands = {}
    for name, layer_tensors in tensors.items():
        layer = graph[name]
        weight = layer_tensors.weight
        if layer_tensors.zero_point is not None:  # asymmetric quantization stores a zero as the zero point
            zp = np.asarray(layer_tensors.zero_point)
            weight = weight - (zp.reshape(-1, *[1] * (weight.ndim - 1)) if zp.ndim else zp)
        ops = {"W": weight_matrix(layer, weight)}
        if layer_tensors.input is not None:
            ops["I"] = input_matrix(layer, layer_tensors.input)
        operands[name] = ops
    return graph, operands, formats


def _from_tensors(err: Exception, formats) -> Exception:
    """``err`` (a layer's format refused by the datapath) with where the tensor file set that format."""
    for name, origin in (formats.origin.items() if formats else ()):
        if str(err).startswith(f"layer '{name}':"):
            return type(err)(f"{err}; {origin}")
    return err


def _fixed(value: Fraction, digits: int) -> str:
    """``value`` with ``digits`` decimals, exactly (float formatting of huge counts shows binary noise).

    Examples
    --------
    >>> _fixed(Fraction(10**22 + 5, 10**6), 3)
    '10,000,000,000,000,000.000'
    """
    scaled = round(value * 10**digits)
    return f"{scaled // 10**digits:,}.{scaled % 10**digits:0{digits}d}"


def _bits(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 16:
        raise argparse.ArgumentTypeError(f"must be an integer width from 1 to 16, not '{text}'")
    return int(text)


def add_parser(sub) -> None:
    """Register the subcommand on the top-level parser's subparsers."""
    sim = sub.add_parser("simulate", help="time a workload on an architecture")
    sim.add_argument("workload", type=WORKLOAD_NAME, help="a bundled workload name or a workload YAML file")
    sim.add_argument("--arch", default="sa32", type=ARCH_NAME,
                     help="a preset name or an architecture YAML file (default: sa32)")
    sim.add_argument("--dataflow", type=DATAFLOW_NAME,
                     help="ws, os, is or a dataflow YAML file (default: the arch's first)")
    sim.add_argument("--mapping", choices=("fixed", "search"), default="fixed",
                     help="fixed: every layer runs the dataflow with its own loop order and the largest chunk that "
                          "fits (default); search: each layer picks the fewest cycles among loop orders, chunks and "
                          "(without --dataflow) the array's dataflows, as dse does (docs/memory.md)")
    sim.add_argument("--schedule", choices=("sequential", "overlap"),
                     help="sequential: layers one after another (default for one array, SCALE-Sim's convention); "
                          "overlap: loads, latency and on-chip activations overlap across layers, branches may "
                          "run on different cores (default for systems of several cores; docs/multicore.md)")
    sim.add_argument("--timeline", type=FILE_NAME, metavar="FILE.json",
                     help="write the schedule as Chrome/Perfetto trace events (open in ui.perfetto.dev)")
    sim.add_argument("--force", action="store_true", help="overwrite an existing --timeline file")
    sim.add_argument("--json", action="store_true", help="print one JSON object")
    sim.add_argument("--ideal-memory", action="store_true", help="no memory model: operands always on time")
    sim.add_argument("--lenient", action="store_true", help="ONNX: import unsupported ops as zero-cost placeholders")
    add_batch_option(sim)
    p = sim.add_argument_group("precision and sparsity (docs/precision.md, docs/sparsity.md)")
    p.add_argument("--input-bits", type=_bits, metavar="B", help="inputs of every GEMM layer are intB (1-16)")
    p.add_argument("--weight-bits", type=_bits, metavar="B",
                   help="weights of every conv2d/linear layer are intB (1-16)")
    p.add_argument("--weight-sparsity", metavar="N:M|DENSITY",
                   help="weights of every conv2d/linear layer: N:M or a density")
    p.add_argument("--input-sparsity", metavar="DENSITY", help="inputs of every GEMM layer: a density in (0, 1]")
    p.add_argument("--sparse", choices=("none", "gate", "skip"), help="what the PEs do with zeros")
    p.add_argument("--weight-nm", metavar="N:M", help="weight-stationary PEs that hold N of every M weights")
    p.add_argument("--pe", choices=("parallel", "bit-serial", "fusible"), help="PE style")
    p.add_argument("--weight-format", choices=("dense", "bitmap", "csr", "rle"), help="weights' DRAM storage")
    p.add_argument("--input-format", choices=("dense", "bitmap", "csr", "rle"), help="inputs' DRAM storage")
    p.add_argument("--tensors", type=FILE_NAME, metavar="FILE.npz", help="real weights (and sample inputs) per layer")
    sim.add_argument("--energy-table", default="horowitz45", metavar="NAME|FILE",
                     type=name_of("horowitz45, normalised or an energy-table YAML file"),
                     help="energy per action: horowitz45 (default), normalised, or a YAML table (docs/energy.md)")
    sim.set_defaults(func=_cmd_simulate)
