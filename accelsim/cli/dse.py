"""`accelsim dse`: evaluate a design space into a resumable store, print the points and the Pareto set."""

from __future__ import annotations

import argparse
import json
import os

from ._common import ARCH_NAME, FILE_NAME, WORKLOAD_NAME, name_of, positive_float, positive_int, table, warn

MAX_JOBS = 256  # more processes than this is a typo, and each one costs a Python start


def _cmd_dse(args: argparse.Namespace) -> str:
    from ..arch import resolve_arch
    from ..dse.pareto import OBJECTIVES
    from ..dse.run import Settings, run_space
    from ..dse.space import check_axes, load_space, parse_axis, parse_limit
    from ..errors import SpecError

    if args.jobs > MAX_JOBS:
        raise SpecError(f"--jobs {args.jobs:,}: at most {MAX_JOBS} worker processes (this machine has "
                        f"{os.cpu_count() or 1} cores)")
    base = resolve_arch(args.arch)
    axes, limits = load_space(args.space) if args.space else ([], {})
    axes = axes + [parse_axis(a) for a in args.axis or []]
    given = [parse_limit(text) for text in args.max or []]
    if len({name for name, _ in given}) != len(given):
        raise SpecError("--max: a metric is bounded twice")
    limits |= dict(given)  # the command line wins over the file
    if args.scheduler is not None and not args.scheduler.strip():
        raise SpecError("--scheduler needs an address, e.g. tcp://host:8786")
    check_axes(base, axes)
    objectives = tuple(o.strip() for o in args.objective.split(","))
    unknown = [o for o in objectives if o not in OBJECTIVES]
    if unknown or not objectives:
        raise SpecError(f"--objective: choose from {', '.join(OBJECTIVES)}, not '{args.objective}'")
    if args.budget is None and args.time is None and args.seed is not None:
        raise SpecError("--seed seeds the optimiser: give --budget N or --time S with it")
    if len(set(objectives)) != len(objectives):
        raise SpecError(f"--objective '{args.objective}' names an objective twice")
    settings = Settings(energy_table=args.energy_table, mapping=args.mapping, objectives=objectives,
                        limits=tuple(sorted(limits.items())))
    run = run_space(args.workload, base, axes, args.output, resume=args.resume, force=args.force, jobs=args.jobs,
                    scheduler=args.scheduler, settings=settings, budget=args.budget, time_limit=args.time,
                    seed=args.seed or 0, plots=not args.no_plots)
    names = [a.name for a in run.axes]
    for note in run.notes:
        warn(note)
    if args.json:
        return json.dumps({"version": 1, "workload": args.workload, "base": base.name, "objectives": list(objectives),
                           "mapping": args.mapping, "search": run.search, "computed": run.computed,
                           "chosen": run.chosen, "files": run.files,
                           "points": run.points, "pareto": [run.points[i] for i in run.pareto]}, indent=1)
    rows = [[*(str(p[n]) for n in names), "yes" if p["feasible"] else "no",
             *(_num(p[o]) if p["feasible"] else "-" for o in objectives), "*" if i in run.pareto else ""]
            for i, p in enumerate(run.points)]
    infeasible = sum(not p["feasible"] for p in run.points)
    how = "design points visited by NSGA-II" if run.search == "nsga2" else "design points"
    head = (f"{args.workload} on {len(run.points):,} {how} around {base.name} "
            f"({run.computed:,} evaluated now, {len(run.points) - run.computed:,} from the store); "
            f"{len(run.pareto)} on the Pareto front (*) of {', '.join(objectives)}; {infeasible} infeasible")
    shown = table(rows[:200], [*names, "ok", *objectives, "pareto"],
                  set(range(len(names) + 1, len(names) + 1 + len(objectives))))
    more = f"\n... {len(rows) - 200:,} more in {args.output}/points.csv" if len(rows) > 200 else ""
    chosen = "" if run.chosen is None else f"\nchosen design (plots, report.html): point {run.chosen} (counting from 0)"
    return f"{head}\n\n{shown}{more}{chosen}\n\nwrote {args.output}/: {', '.join(run.files)}"


def _seed(text: str) -> int:
    if not text.isdigit() or int(text) > 2**32 - 1:
        raise argparse.ArgumentTypeError(f"must be an integer from 0 to 4294967295, not {text!r}")
    return int(text)


def _num(value) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:,.1f}"


def add_parser(sub) -> None:
    """Register the subcommand on the top-level parser's subparsers."""
    p = sub.add_parser("dse", help="explore a design space: cycles, energy and area of every point, and the Pareto set")
    p.add_argument("workload", type=WORKLOAD_NAME, help="a bundled workload name or a workload YAML file")
    p.add_argument("space", nargs="?", type=FILE_NAME, help="a space YAML file: {version: 1, axes: {NAME: [V1, V2]}}")
    p.add_argument("-o", "--output", required=True, help="the run's folder (results.sqlite, points.csv, pareto.csv)")
    p.add_argument("--arch", default="sa32", type=ARCH_NAME, help="the base architecture the axes vary (default: sa32)")
    p.add_argument("--axis", action="append", metavar="NAME=V1,V2",
                   help="an axis: an ArrayConfig field (dotted for nested: memory.ifmap_kib), dataflow, "
                        "or workload.input_bits / workload.weight_bits / workload.weight_sparsity "
                        "(every GEMM layer); repeatable")
    p.add_argument("--max", action="append", metavar="METRIC=MAX",
                   help="a derived constraint: points above it are infeasible (total_cycles, latency_ms, energy_pj, "
                        "power_mw, area_um2); repeatable, and over a space file's limits")
    p.add_argument("--objective", default="total_cycles,energy_pj,area_um2",
                   help="objectives to minimise, comma-separated (default: total_cycles,energy_pj,area_um2)")
    p.add_argument("--resume", action="store_true", help="continue a run in -o: finished points are not recomputed")
    p.add_argument("--force", action="store_true", help="replace a previous run in -o")
    p.add_argument("--jobs", type=positive_int, default=1, help="worker processes (default 1: this process)")
    p.add_argument("--scheduler", metavar="ADDRESS", help="evaluate on a Dask cluster (e.g. tcp://host:8786) instead")
    p.add_argument("--mapping", choices=("search", "fixed"), default="search",
                   help="search: each layer picks its best dataflow, loop order and temporal tile (default); "
                        "fixed: every layer runs the point's dataflow as simulate does")
    p.add_argument("--budget", type=positive_int, help="evaluate at most N distinct points, chosen by NSGA-II")
    p.add_argument("--time", type=positive_float, metavar="S", help="stop proposing points after S seconds (NSGA-II)")
    p.add_argument("--seed", type=_seed, help="the optimiser's seed, 0 to 2**32-1 (default 0): same seed, same points")
    p.add_argument("--no-plots", action="store_true", help="skip the figures and report.html")
    p.add_argument("--energy-table", default="horowitz45", metavar="NAME|FILE",
                   type=name_of("horowitz45, normalised or an energy-table YAML file"),
                   help="energy per action (docs/energy.md)")
    p.add_argument("--json", action="store_true", help="print {points, pareto} as JSON")
    p.set_defaults(func=_cmd_dse)
