"""`accelsim dse`: evaluate a design space into a resumable store, print the points and the Pareto set."""

from __future__ import annotations

import argparse
import json
import os

from ._common import ARCH_NAME, FILE_NAME, WORKLOAD_NAME, name_of, positive_float, positive_int, seed_int, table, warn

MAX_JOBS = 256  # more processes than this is a typo, and each one costs a Python start
DEFAULT_OBJECTIVES = "total_cycles,energy_pj,area_um2"
LLM_OBJECTIVES = "tpot_s,energy_per_token_j,area_um2"  # an LLM space's default: time, energy, area
SERVE_OBJECTIVES = "goodput_rps,energy_per_token_j,area_um2"
DSE_REQUESTS = 200  # a served point's default trace: seconds per point, not minutes


def _cmd_dse(args: argparse.Namespace) -> str:
    from ..errors import SpecError

    if args.jobs > MAX_JOBS:
        raise SpecError(f"--jobs {args.jobs:,}: at most {MAX_JOBS} worker processes (this machine has "
                        f"{os.cpu_count() or 1} cores)")
    if args.png and args.no_plots:
        raise SpecError("--png writes the figures as PNGs too: it cannot go with --no-plots")
    if args.llm is not None:
        if args.routing is not None:
            raise SpecError("--routing is an ONNX model's measured MoE routing: an LLM space routes by its config")
        return _cmd_llm_dse(args)
    if args.workload is None:
        raise SpecError("give a workload (a bundled name, a workload YAML file or an ONNX model) or --llm MODEL")
    llm_only = _llm_options_given(args)
    if llm_only:
        raise SpecError(f"{llm_only[0]} is an option of an LLM space: give --llm MODEL with it")
    if args.min:
        raise SpecError("--min bounds a rate of an LLM space (tokens_per_s, goodput_rps...): give --llm MODEL, "
                        "or bound this space's metrics from above with --max")
    from ..arch import resolve_arch
    from ..dse.pareto import OBJECTIVES
    from ..dse.run import Settings, run_space
    from ..dse.space import check_axes, load_space, parse_axis, parse_limit

    args.arch = args.arch or "sa32"
    args.objective = args.objective or DEFAULT_OBJECTIVES
    args.mapping = args.mapping or "search"
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
                    seed=args.seed or 0, plots=not args.no_plots, png=args.png, routing=args.routing)
    for note in run.notes:
        warn(note)
    if args.json:
        return json.dumps({"version": 1, "workload": args.workload, "base": base.name, "objectives": list(objectives),
                           "mapping": args.mapping, "search": run.search, "computed": run.computed,
                           "chosen": run.chosen, "files": run.files,
                           "points": run.points, "pareto": [run.points[i] for i in run.pareto]}, indent=1)
    return _summary(args, run, objectives, args.workload, base.name)


def _objectives(args: argparse.Namespace, allowed: tuple[str, ...]) -> tuple[str, ...]:
    from ..errors import SpecError

    objectives = tuple(o.strip() for o in args.objective.split(","))
    unknown = [o for o in objectives if o not in allowed]
    if unknown or not objectives:
        raise SpecError(f"--objective: choose from {', '.join(allowed)}, not '{args.objective}'")
    if len(set(objectives)) != len(objectives):
        raise SpecError(f"--objective '{args.objective}' names an objective twice")
    return objectives


# options of an LLM space only: (dest, flag); the deployment's come from accelsim llm's own parser
_LLM_ONLY = (("prompt", "--prompt"), ("generate", "--generate"), ("batch", "--batch"),
             ("max_num_batched_tokens", "--max-num-batched-tokens"), ("rate", "--rate"), ("requests", "--requests"),
             ("ttft_slo", "--ttft-slo"), ("tpot_slo", "--tpot-slo"), ("trace_seed", "--trace-seed"),
             ("max_num_seqs", "--max-num-seqs"), ("kv_utilization", "--kv-utilization"))
_SERVE_ONLY = ("requests", "ttft_slo", "tpot_slo", "trace_seed", "max_num_seqs", "kv_utilization")


def _deployment_defaults() -> dict[str, object]:
    """``accelsim llm``'s deployment options and their defaults (from its own argument group)."""
    from .llm import _deployment_options

    parser = argparse.ArgumentParser(add_help=False)
    _deployment_options(parser)
    return {a.dest: a.default for a in parser._actions}


def _llm_options_given(args: argparse.Namespace) -> list[str]:
    """The LLM options given on the command line (by their flags)."""
    given = [flag for dest, flag in _LLM_ONLY if getattr(args, dest) is not None]
    given += [f"--{dest.replace('_', '-')}" for dest, default in _deployment_defaults().items()
              if getattr(args, dest) != default]
    return given


def _cmd_llm_dse(args: argparse.Namespace) -> str:
    """``accelsim dse --llm MODEL``: serving objectives of each design (accelsim/dse/llm.py)."""
    from ..arch.system import resolve_system
    from ..dse.llm import LlmStudy, Serving, check_bounds, check_llm_axes, metrics
    from ..dse.run import Settings, run_llm_space
    from ..dse.space import load_space, parse_axis, parse_limit
    from ..errors import SpecError, UnsupportedError
    from ..llm.hf import load_model
    from .llm import deployment_from

    if args.workload is not None and args.space is not None:
        raise SpecError(f"--llm {args.llm} is the workload: give at most a space file, not '{args.workload}' and "
                        f"'{args.space}'")
    space = args.space or args.workload  # with --llm, the one positional is the space file
    serving = args.rate is not None
    if not serving:
        stray = [flag for dest, flag in _LLM_ONLY if dest in _SERVE_ONLY and getattr(args, dest) is not None]
        if stray:
            raise SpecError(f"{stray[0]} is an option of a served trace: give --rate R (requests per second) with it")
    elif args.batch is not None:
        raise SpecError("--batch is for one request shape: a served trace batches its requests itself "
                        "(--max-num-seqs)")
    if args.mapping is not None:
        raise SpecError("--mapping does not apply to --llm: each LLM operator is planned on every core as "
                        "'accelsim llm' plans it")
    for name in ("prompt", "generate"):
        if not serving and isinstance(getattr(args, name), tuple):
            raise SpecError(f"--{name} LOW-HIGH draws a served trace's lengths: give one N without --rate")
    offered = metrics(serving)
    args.objective = args.objective or (SERVE_OBJECTIVES if serving else LLM_OBJECTIVES)
    objectives = _objectives(args, offered)
    axes, limits = load_space(space, offered) if space else ([], {})
    axes = axes + [parse_axis(a) for a in args.axis or []]
    upper = [parse_limit(text, offered) for text in args.max or []]
    lower = [parse_limit(text, offered, flag="--min") for text in args.min or []]
    for flag, bounds in (("--max", upper), ("--min", lower)):
        if len({name for name, _ in bounds}) != len(bounds):
            raise SpecError(f"{flag}: a metric is bounded twice")
    limits |= dict(upper)  # the command line wins over the file
    minimums = dict(lower)
    check_bounds(objectives, limits, minimums, serving)
    if args.budget is None and args.time is None and args.seed is not None:
        raise SpecError("--seed seeds the optimiser: give --budget N or --time S with it")
    if args.scheduler is not None and not args.scheduler.strip():
        raise SpecError("--scheduler needs an address, e.g. tcp://host:8786")
    if args.pp != 1:
        raise UnsupportedError("dse --llm does not explore pipeline parallelism (--pp); use accelsim llm --pp")
    model = load_model(args.llm)
    base = resolve_system(args.arch or "tpuv4-chip")
    deployment = {dest: getattr(args, dest) for dest in ("weights", "weight_bits", "activations", "kv", "kv_bits",
                                                         "group", "weight_nm")}
    deployment_from(argparse.Namespace(**deployment), base)  # a conflict is one line before any work
    requests = DSE_REQUESTS if args.requests is None else args.requests
    study = LlmStudy(model, prompt=args.prompt or 512, generate=args.generate or 128, batch=args.batch or 1,
                     max_num_batched_tokens=args.max_num_batched_tokens or 2048,
                     deployment=tuple(sorted(deployment.items())), tp=args.tp, link_gb_s=args.link_gb_s,
                     link_latency_us=args.link_latency_us, kernel_overhead_us=args.kernel_overhead_us,
                     ideal_memory=args.ideal_memory, name=args.llm,
                     serving=Serving(rate=args.rate, requests=requests, seed=args.trace_seed or 0,
                                     ttft_slo_s=args.ttft_slo, tpot_slo_s=args.tpot_slo,
                                     max_num_seqs=args.max_num_seqs or 256,
                                     kv_utilization=args.kv_utilization or 0.9) if serving else None)
    if serving:
        from ..dse.llm import MAX_SERVE_REQUESTS
        from ..serve import ServeConfig

        if requests > MAX_SERVE_REQUESTS:
            raise SpecError(f"--requests {requests:,}: at most {MAX_SERVE_REQUESTS:,} per design point (each point "
                            "serves the whole trace)")
        assert study.serving is not None
        ServeConfig(kv_blocks=1, max_num_seqs=study.serving.max_num_seqs,  # the scheduler's options, checked once
                    max_num_batched_tokens=study.max_num_batched_tokens)
    check_llm_axes(base, axes, study)
    settings = Settings(energy_table=args.energy_table, objectives=objectives, limits=tuple(sorted(limits.items())),
                        minimums=tuple(sorted(minimums.items())))
    run = run_llm_space(study, base, axes, args.output, resume=args.resume, force=args.force, jobs=args.jobs,
                        scheduler=args.scheduler, settings=settings, budget=args.budget, time_limit=args.time,
                        seed=args.seed or 0, plots=not args.no_plots, png=args.png)
    for note in run.notes:
        warn(note)
    if args.json:
        return json.dumps({"version": 1, "llm": args.llm, "study": study.describe(), "base": base.name,
                           "objectives": list(objectives), "search": run.search, "computed": run.computed,
                           "chosen": run.chosen, "files": run.files,
                           "points": run.points, "pareto": [run.points[i] for i in run.pareto]}, indent=1)
    return _summary(args, run, objectives, f"{study.describe()};", base.name, number=_sig)


def _summary(args: argparse.Namespace, run, objectives: tuple[str, ...], workload: str, base: str, *,
             number=None) -> str:
    """The points (at most 200), the Pareto front marked, and the files written."""
    from ..dse.pareto import maximised

    number = number or _num
    names = [a.name for a in run.axes]
    rows = [[*(str(p[n]) for n in names), "yes" if p["feasible"] else "no",
             *(number(p[o]) if p["feasible"] else "-" for o in objectives), "*" if i in run.pareto else ""]
            for i, p in enumerate(run.points)]
    infeasible = sum(not p["feasible"] for p in run.points)
    how = "design points visited by NSGA-II" if run.search == "nsga2" else "design points"
    said = ", ".join(f"{o} (max)" if maximised(o) else o for o in objectives)
    head = (f"{workload} on {len(run.points):,} {how} around {base} "
            f"({run.computed:,} evaluated now, {len(run.points) - run.computed:,} from the store); "
            f"{len(run.pareto)} on the Pareto front (*) of {said}; {infeasible} infeasible")
    shown = table(rows[:200], [*names, "ok", *objectives, "pareto"],
                  set(range(len(names) + 1, len(names) + 1 + len(objectives))))
    more = f"\n... {len(rows) - 200:,} more in {args.output}/points.csv" if len(rows) > 200 else ""
    chosen = "" if run.chosen is None else f"\nchosen design (plots, report.html): point {run.chosen} (counting from 0)"
    return f"{head}\n\n{shown}{more}{chosen}\n\nwrote {args.output}/: {', '.join(run.files)}"


def _sig(value) -> str:
    """An LLM metric: 4 significant digits (seconds are small), thousands separated.

    >>> _sig(0.012621725), _sig(77.0095), _sig(16059990016), _sig(None)
    ('0.01262', '77.01', '16,059,990,016', '-')
    """
    if value is None:
        return "-"
    if isinstance(value, int) or abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.4g}"


def _num(value) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:,.1f}"


def add_parser(sub) -> None:
    """Register the subcommand on the top-level parser's subparsers."""
    p = sub.add_parser("dse", help="explore a design space: cycles, energy and area of every point, and the Pareto "
                                   "set; or an LLM's serving objectives (--llm)")
    p.add_argument("workload", nargs="?", type=WORKLOAD_NAME,
                   help="a bundled workload name or a workload YAML file (not with --llm)")
    p.add_argument("space", nargs="?", type=FILE_NAME, help="a space YAML file: {version: 1, axes: {NAME: [V1, V2]}}")
    p.add_argument("-o", "--output", required=True, help="the run's folder (results.sqlite, points.csv, pareto.csv)")
    p.add_argument("--arch", type=ARCH_NAME,
                   help="the base architecture the axes vary (default: sa32; with --llm a system or array, default "
                        "tpuv4-chip)")
    p.add_argument("--axis", action="append", metavar="NAME=V1,V2",
                   help="an axis: an ArrayConfig field (dotted for nested: memory.ifmap_kib), dataflow, "
                        "workload.input_bits / workload.weight_bits / workload.weight_sparsity "
                        "(every GEMM layer), system.* or schedule; with --llm also system.dram_capacity_gib, "
                        "llm.weights, llm.kv, llm.activations, llm.tp, llm.batch; repeatable")
    p.add_argument("--routing", type=FILE_NAME, metavar="FILE",
                   help="ONNX mixture of experts: measured routing (as simulate's --routing; default balanced top-k)")
    p.add_argument("--max", action="append", metavar="METRIC=MAX",
                   help="a derived constraint: points above it are infeasible (total_cycles, latency_ms, energy_pj, "
                        "power_mw, area_um2; with --llm its metrics, e.g. ttft_s=0.5); repeatable, and over a space "
                        "file's limits")
    p.add_argument("--min", action="append", metavar="METRIC=MIN",
                   help="with --llm: points below it are infeasible (a rate: tokens_per_s, tokens_per_s_per_mm2, "
                        "tokens_per_s_per_w, goodput_rps...); repeatable")
    p.add_argument("--objective",
                   help=f"objectives, comma-separated; minimised, but rates (tokens/s, goodput) maximised (default: "
                        f"{DEFAULT_OBJECTIVES}; with --llm {LLM_OBJECTIVES}, with --rate {SERVE_OBJECTIVES})")
    p.add_argument("--resume", action="store_true", help="continue a run in -o: finished points are not recomputed")
    p.add_argument("--force", action="store_true", help="replace a previous run in -o")
    p.add_argument("--jobs", type=positive_int, default=1, help="worker processes (default 1: this process)")
    p.add_argument("--scheduler", metavar="ADDRESS", help="evaluate on a Dask cluster (e.g. tcp://host:8786) instead")
    p.add_argument("--mapping", choices=("search", "fixed"),
                   help="search: each layer picks its best dataflow, loop order and temporal tile (default); "
                        "fixed: every layer runs the point's dataflow as simulate does")
    p.add_argument("--budget", type=positive_int, help="evaluate at most N distinct points, chosen by NSGA-II")
    p.add_argument("--time", type=positive_float, metavar="S", help="stop proposing points after S seconds (NSGA-II)")
    p.add_argument("--seed", type=seed_int,
                   help="the optimiser's seed, 0 to 2**32-1 (default 0): same seed, same points")
    p.add_argument("--no-plots", action="store_true", help="skip the figures and report.html")
    p.add_argument("--png", action="store_true",
                   help="write each figure as a PNG too (the SVGs, which report.html inlines, are always written)")
    p.add_argument("--energy-table", default="horowitz45", metavar="NAME|FILE",
                   type=name_of("horowitz45, normalised or an energy-table YAML file"),
                   help="energy per action (docs/energy.md)")
    p.add_argument("--json", action="store_true", help="print {points, pareto} as JSON")
    _llm_parser_options(p)
    p.set_defaults(func=_cmd_dse)


def _llm_parser_options(p: argparse.ArgumentParser) -> None:
    """``--llm MODEL`` and what it serves: one request shape, or a Poisson trace (``--rate``)."""
    from .llm import FRACTION, MODEL_NAME, POSITIVE, _deployment_options, _tokens

    g = p.add_argument_group("an LLM's serving objectives (docs/dse.md, LLM objectives)")
    g.add_argument("--llm", type=MODEL_NAME, metavar="MODEL",
                   help="explore designs serving this model (a bundled model or a config.json) instead of a workload")
    g.add_argument("--prompt", type=_tokens, metavar="N|LOW-HIGH",
                   help="prompt tokens (default 512; LOW-HIGH: a served trace's range)")
    g.add_argument("--generate", type=_tokens, metavar="N|LOW-HIGH",
                   help="tokens generated (default 128; LOW-HIGH: a served trace's range)")
    g.add_argument("--batch", type=positive_int, help="identical requests decoded together (default 1)")
    g.add_argument("--max-num-batched-tokens", type=positive_int, metavar="N",
                   help="tokens per step: a prefill step's, or the serving scheduler's (default 2048)")
    g.add_argument("--rate", type=POSITIVE, metavar="R",
                   help="serve a Poisson trace of R requests per second at each point (goodput_rps objectives)")
    g.add_argument("--requests", type=positive_int, metavar="N",
                   help=f"requests in the trace (default {DSE_REQUESTS}: every point serves them all)")
    g.add_argument("--ttft-slo", type=POSITIVE, metavar="S", help="goodput: time-to-first-token limit")
    g.add_argument("--tpot-slo", type=POSITIVE, metavar="S", help="goodput: time-per-output-token limit")
    g.add_argument("--trace-seed", type=seed_int, metavar="S", help="the trace's seed (default 0)")
    g.add_argument("--max-num-seqs", type=positive_int, metavar="N", help="most sequences in a step (default 256)")
    g.add_argument("--kv-utilization", type=FRACTION, metavar="F",
                   help="fraction of the DRAM beside the weights for the KV cache (default 0.9)")
    _deployment_options(p)
