"""Run a design space: evaluate points not yet in the store, serially, in local processes or on Dask.

Points travel in chunks (each worker keeps one :class:`~accelsim.dse.batch.Batch`, so the plans a
chunk computes serve the next); only this (coordinating) process writes the store, one
transaction per finished chunk. A killed run resumes with ``resume``: exhaustively, every stored
point is skipped; with the optimiser, the optimiser is replayed from the same seed and every point
it proposes that the store already holds is answered from the store, so the run continues exactly
where it stopped.
"""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..arch import ArrayConfig
from ..arch.config import stable_digest
from ..atomic import atomic_write_text
from ..errors import AccelsimError, OutputError, SpecError
from ..outputs import claim_files, output_folder
from ..progress import progress_bar
from ..workload.graph import LayerGraph
from .executor import ClusterError, Executor
from .fingerprint import model_fingerprint
from .pareto import OBJECTIVES, pareto
from .space import MAX_POINTS, Axis, count_points, points
from .store import Store, point_key

if TYPE_CHECKING:
    from ..arch.system import SystemConfig
    from .llm import LlmStudy
    from .optimise import Search
    from .plots import Task

STORE, POINTS_CSV, PARETO_CSV, REPORT = "results.sqlite", "points.csv", "pareto.csv", "report.html"


def _all_outputs() -> tuple[str, ...]:
    """Every file any dse run may write (so --force and --resume remove exactly the stale ones)."""
    from .llm import ALL_METRICS

    pairs = itertools.permutations(dict.fromkeys((*OBJECTIVES, *ALL_METRICS)), 2)
    figures = [f"pareto_{a}_{b}.{ext}" for a, b in pairs for ext in ("png", "svg")]
    return (STORE, POINTS_CSV, PARETO_CSV, REPORT, *figures,
            *(f"{name}.{ext}" for name in ("layers", "roofline", "timeline") for ext in ("png", "svg")))


def output_names(objectives: tuple[str, ...], *, systems: bool = False, llm: bool = False,
                 png: bool = False) -> tuple[str, ...]:
    """Every file a run may write in its folder (so none is overwritten without --force); a space with
    system axes (``systems``) also draws the chosen design's timeline, and an LLM space (``llm``) only
    its Pareto scatters. Each figure is an SVG, and a PNG too with ``png``.

    Examples
    --------
    >>> output_names(("total_cycles", "area_um2"))[4:]
    ('pareto_total_cycles_area_um2.svg', 'layers.svg', 'roofline.svg')
    >>> output_names(("total_cycles", "area_um2"), png=True)[4:6]
    ('pareto_total_cycles_area_um2.png', 'pareto_total_cycles_area_um2.svg')
    >>> output_names(("total_cycles", "area_um2"), systems=True)[7:]
    ('timeline.svg',)
    >>> output_names(("tpot_s", "tokens_per_s"), llm=True)[4:]
    ('pareto_tpot_s_tokens_per_s.svg',)
    """
    extensions = ("png", "svg") if png else ("svg",)
    figures = [f"pareto_{a}_{b}.{ext}" for a, b in itertools.combinations(objectives, 2) for ext in extensions]
    details = () if llm else ("layers", "roofline", "timeline") if systems else ("layers", "roofline")
    return (STORE, POINTS_CSV, PARETO_CSV, REPORT, *figures,
            *(f"{name}.{ext}" for name in details for ext in extensions))


ALL_OUTPUTS = _all_outputs()


@dataclass
class DseRun:
    axes: list[Axis]
    points: list[dict[str, Any]]  # each: axis values + result
    pareto: list[int]  # indices into points
    computed: int  # points evaluated by this run (the rest came from the store)
    search: str = "exhaustive"  # or "nsga2" (the optimiser)
    chosen: int | None = None  # the design the plots and the report detail
    files: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what the run could not do (said on stderr by the CLI)
    optimiser: Search | None = None  # how NSGA-II searched (None: exhaustive)


@dataclass(frozen=True)
class Settings:
    """How a run evaluates: the energy table, the mapping rule and the objectives."""

    energy_table: str = "horowitz45"
    mapping: str = "search"  # "search": each layer picks its best mapping; "fixed": simulate's rules
    objectives: tuple[str, ...] = OBJECTIVES
    limits: tuple[tuple[str, float], ...] = ()  # derived constraints: (metric, largest allowed value)
    minimums: tuple[tuple[str, float], ...] = ()  # (metric, smallest allowed value): LLM spaces' rates


# -- workers ---------------------------------------------------------------------------------
_worker: dict[str, Any] = {}


def _setup_worker(graph: LayerGraph, base: dict[str, Any], settings: Settings) -> None:
    from .batch import Batch

    _worker["batch"] = Batch(graph, ArrayConfig.from_dict(base), energy_table=settings.energy_table,
                             search=settings.mapping == "search", objectives=settings.objectives,
                             limits=dict(settings.limits))


def _setup_llm_worker(base: SystemConfig, study: LlmStudy, settings: Settings) -> None:
    from .llm import LlmPoints

    _worker["batch"] = LlmPoints(base, study, energy_table=settings.energy_table, objectives=settings.objectives,
                                 limits=settings.limits, minimums=settings.minimums)


def _evaluate_chunk(chunk: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return _worker["batch"].evaluate(chunk)


# -- the run ---------------------------------------------------------------------------------
def run_space(workload: str, base: ArrayConfig, axes: list[Axis], output: str | Path, *, resume: bool = False,
              force: bool = False, jobs: int = 1, scheduler: str | None = None, settings: Settings = Settings(),
              budget: int | None = None, time_limit: float | None = None, seed: int = 0,
              plots: bool = True, png: bool = False, routing: str | None = None) -> DseRun:
    """Evaluate the space into ``output`` and return every point visited (``routing``: an ONNX mixture of
    experts' measured routing, :func:`accelsim.workload.onnx_import.load_routing`). The figures are SVGs
    (``plots``), and PNGs too with ``png``.

    Exhaustive unless ``budget`` (distinct points) is smaller than the space or ``time_limit``
    (seconds) is given: then NSGA-II (:mod:`accelsim.dse.optimise`) proposes the points.
    """
    from ..workload import resolve_workload
    from .systems import has_system_axes

    graph = resolve_workload(workload, routing=routing)
    systems = has_system_axes(axes)

    def context() -> dict[str, Any]:
        from ..cost import load_energy_table
        from ..mapping import load_dataflow

        # what the numbers depend on, by content: an edited table or dataflow file is a new run, not a resume
        dataflows = {str(v): load_dataflow(str(v)).to_dict() for a in axes if a.name == "dataflow" for v in a.values}
        found = {"workload": graph.name, "layers": stable_digest([layer.to_dict() for layer in graph]),
                 "base": base.to_dict(),
                 "energy_table": stable_digest(load_energy_table(settings.energy_table).to_dict()),
                 "dataflows": stable_digest(dataflows), "model": model_fingerprint(),
                 "mapping": settings.mapping, **({"objectives": list(settings.objectives)}
                                                  if settings.mapping == "search" else {}),
                 **({"limits": [list(x) for x in settings.limits]} if settings.limits else {})}
        if systems:  # the schedule's model too (a space without system axes keeps its keys)
            from .fingerprint import system_fingerprint

            found["system_model"] = system_fingerprint()
        return found

    run = _run(axes, output, context=context, setup=_setup_worker, setup_args=(graph, base.to_dict(), settings),
               outputs=output_names(settings.objectives, systems=systems, png=png), columns=RESULT_COLUMNS,
               draw=lambda folder, run, figures: _draw(folder, run, graph, base, settings, workload, figures),
               objectives=settings.objectives, resume=resume, force=force, jobs=jobs, scheduler=scheduler,
               budget=budget, time_limit=time_limit, seed=seed, plots=plots, png=png)
    from ..workload.formats import with_datapath_formats

    # what the workload's import assumed (a batch, balanced MoE routing, a float model's format): said as in simulate
    formats = with_datapath_formats(graph, base)[1]
    run.notes[:0] = [*graph.meta.get("assumptions", ()), *([f"{formats} (on the base {base.name})"] if formats else [])]
    return run


def run_llm_space(study: LlmStudy, base: SystemConfig, axes: list[Axis], output: str | Path, *,
                  resume: bool = False, force: bool = False, jobs: int = 1, scheduler: str | None = None,
                  settings: Settings = Settings(), budget: int | None = None, time_limit: float | None = None,
                  seed: int = 0, plots: bool = True, png: bool = False) -> DseRun:
    """Evaluate an LLM space (:mod:`accelsim.dse.llm`) into ``output``: the same store, resume, workers,
    search and outputs as :func:`run_space`, each point one request shape or one served trace."""
    from .llm import columns

    def context() -> dict[str, Any]:
        from ..cost import load_energy_table
        from ..mapping import load_dataflow
        from .fingerprint import llm_fingerprint, system_fingerprint

        dataflows = {str(v): load_dataflow(str(v)).to_dict() for a in axes if a.name == "dataflow" for v in a.values}
        return {"llm": study.to_dict(), "base_system": base.to_dict(),
                "energy_table": stable_digest(load_energy_table(settings.energy_table).to_dict()),
                "dataflows": stable_digest(dataflows), "model": model_fingerprint(),
                "system_model": system_fingerprint(), "llm_model": llm_fingerprint(),
                # an objective or a bound that has no value makes a point infeasible: part of its result
                "objectives": list(settings.objectives), "limits": [list(x) for x in settings.limits],
                "minimums": [list(x) for x in settings.minimums]}

    return _run(axes, output, context=context, setup=_setup_llm_worker, setup_args=(base, study, settings),
                outputs=output_names(settings.objectives, llm=True, png=png),
                columns=columns(study.serving is not None),
                draw=lambda folder, run, figures: _draw_llm(folder, run, study, base, settings, figures),
                objectives=settings.objectives, resume=resume, force=force, jobs=jobs, scheduler=scheduler,
                budget=budget, time_limit=time_limit, seed=seed, plots=plots, png=png)


def _run(axes: list[Axis], output: str | Path, *, context: Callable[[], dict[str, Any]],
         setup: Callable[..., None], setup_args: tuple, outputs: tuple[str, ...], columns: tuple[str, ...],
         draw: Callable[[Path, DseRun, _Figures], None], objectives: tuple[str, ...], resume: bool, force: bool,
         jobs: int, scheduler: str | None, budget: int | None, time_limit: float | None, seed: int, plots: bool,
         png: bool) -> DseRun:
    """The run both kinds of space share: claim the folder, evaluate what the store lacks (exhaustively or
    by NSGA-II) on the workers ``setup`` prepares, then write the CSVs and (``draw``) the figures, on the
    same workers when there are several."""
    folder = output_folder(output)
    if resume and force:
        raise OutputError("--resume continues a run and --force replaces it: give one of them")
    optimise = time_limit is not None or (budget is not None and budget < count_points(axes))
    if not optimise and count_points(axes) > MAX_POINTS:
        raise SpecError(f"the space has {count_points(axes):,} points, more than the {MAX_POINTS:,} an exhaustive "
                        "run takes: give --budget N (NSGA-II visits N of them)")
    if not plots:
        outputs = (STORE, POINTS_CSV, PARETO_CSV)
    if resume:
        if not (folder / STORE).is_file():
            raise OutputError(f"{folder}: nothing to resume (no {STORE})")
        claim_files(folder, outputs[1:], force=True, stale=ALL_OUTPUTS[1:])  # rewrites all but the store
    else:
        if (folder / STORE).exists() and not force:
            raise OutputError(f"{folder} holds a dse run: pass --resume to continue it or --force to replace it")
        claim_files(folder, outputs, force=force, stale=ALL_OUTPUTS)
        _remove_store(folder)  # --force starts a fresh store
    key_context = context()
    folder.mkdir(parents=True, exist_ok=True)
    store = Store(folder / STORE)
    try:
        # the model's own fingerprint is not a setting: after an upgrade that moves a number, a resume recomputes
        store.keep_settings({"axes": {axis.name: list(axis.values) for axis in axes}, "objectives": list(objectives),
                             "context": {k: v for k, v in key_context.items() if k != "model"}})
    except OutputError:
        store.close()
        raise
    evaluator = _Evaluator(store, key_context,
                           Executor(jobs=jobs, scheduler=scheduler, setup=setup, setup_args=setup_args))
    evaluated = False
    try:
        # one set of workers (and their caches) for the whole run, the figures included; leaving by an
        # exception (Ctrl-C included) stops them at once, before the store is closed
        with evaluator.executor:
            search = None
            if optimise:
                from .optimise import search_space

                search = search_space(axes, objectives, evaluator, budget=budget, time_limit=time_limit, seed=seed)
                visited = search.visited
            else:
                visited = list(points(axes))
                evaluator.evaluate(visited)
            keys = evaluator.keys if not optimise else [point_key(p, key_context) for p in visited]
            results = [evaluator.stored[k] for k in keys]
            evaluated = True
            evaluator.store.close()
            rows = [p | r for p, r in zip(visited, results)]
            front = pareto(results, objectives)
            run = DseRun(axes, rows, front, evaluator.computed, "nsga2" if optimise else "exhaustive",
                         optimiser=search)
            # local workers that evaluated are warm (Python, numpy and accelsim loaded): they draw, when every one
            # of them was started (a pool starts a process per task while none is idle); a cluster's may lack
            # matplotlib
            workers = evaluator.executor if scheduler is None and 1 < jobs <= evaluator.computed else None
            _write_outputs(folder, run, columns, draw, plots, _Figures(("png", "svg") if png else ("svg",), workers),
                           outputs)
    except BaseException:
        if not evaluated:
            evaluator.store.close()
            if not resume and not evaluator.stored:  # nothing finished: leave no empty store behind
                _remove_store(folder)
        raise
    return run


def _remove_store(folder: Path) -> None:
    for name in (STORE, STORE + "-wal", STORE + "-shm"):
        if (folder / name).is_file():
            (folder / name).unlink()
    with contextlib.suppress(OSError):
        folder.rmdir()  # only if empty: a folder this run made and filled with nothing


class _Evaluator:
    """Evaluates points into the store (skipping stored ones) and remembers every stored result."""

    def __init__(self, store: Store, context: dict[str, Any], executor: Executor):
        self.store, self.context, self.executor = store, context, executor
        self.jobs, self.scheduler = executor.jobs, executor.scheduler
        self.stored = store.results()
        self.computed = 0
        self.keys: list[str] = []  # the store keys of the points last given to evaluate, in order

    def evaluate(self, points_in_order: list[dict[str, Any]], *, first_seq: int = 0) -> None:
        """Evaluate every point not stored yet; ``first_seq`` numbers them in the store."""
        self.keys = [point_key(p, self.context) for p in points_in_order]  # in order: the caller reads them back
        todo = [(first_seq + i, p, k) for i, (p, k) in enumerate(zip(points_in_order, self.keys))
                if k not in self.stored]
        if not todo:
            return
        workers = 1 if self.scheduler is None and self.jobs <= 1 else max(self.jobs, 2)
        # several chunks per worker: balance, and a kill loses little
        # (at least 16: a generation of 30 split three a worker would be below a block, all the per-point path)
        size = max(min(16, len(todo)), min(512, len(todo) // (4 * workers)))
        chunks = [todo[i:i + size] for i in range(0, len(todo), size)]
        tasks = [[p for _, p, _ in chunk] for chunk in chunks]
        with progress_bar(total=len(todo), desc="points", unit="point") as bar, \
                contextlib.closing(self.executor.run(_evaluate_chunk, tasks)) as results:
            try:
                for index, chunk_results in results:
                    rows = [(key, seq, point, result)
                            for (seq, point, key), result in zip(chunks[index], chunk_results)]
                    self.store.put_many(rows)
                    self.stored.update((key, result) for key, _, _, result in rows)
                    self.computed += len(rows)
                    bar.update(len(rows))
            except BrokenProcessPool:
                raise AccelsimError("a worker process died (killed, or out of memory?); the finished points are "
                                    "kept: rerun with --resume") from None
            except ImportError as err:  # a cluster worker without (this) accelsim
                if self.scheduler is None:
                    raise
                raise ClusterError(f"a Dask worker of {self.scheduler} cannot import what accelsim needs "
                                   f"({err}): install the same accelsim on every worker") from None


# -- outputs ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Figures:
    """How a run's figures are drawn: their formats, and the workers that draw them (``None``: here)."""

    formats: tuple[str, ...]
    workers: Executor | None = None

    def draw(self, folder: Path, tasks: list[Task]) -> list[Path]:
        """Draw ``tasks`` (:mod:`accelsim.dse.plots`) into ``folder``: the paths written, in the tasks' order.

        On several workers each task is one figure, drawn where matplotlib is imported once per worker, and
        written here as it arrives (whole or not at all); the same bytes as drawn here. The per-layer figures
        (the slowest: a bar and a name per layer) go first, so no worker starts one while the others finish.
        """
        from .plots import render, write_figures, write_file

        if self.workers is None or len(tasks) < 2:
            return write_figures(folder, tasks)
        order = sorted(range(len(tasks)), key=lambda i: (tasks[i][0] not in ("layers", "timeline"), i))
        done: dict[int, list[Path]] = {}
        with contextlib.closing(self.workers.run(render, [tasks[i] for i in order])) as results:
            for index, files in results:
                done[order[index]] = [write_file(folder, name, data) for name, data in files]
        return [path for index in range(len(tasks)) for path in done[index]]


def _write_outputs(folder: Path, run: DseRun, columns: tuple[str, ...],
                   draw: Callable[[Path, DseRun, _Figures], None], plots: bool, figures: _Figures,
                   outputs: tuple[str, ...]) -> None:
    names = [a.name for a in run.axes]
    atomic_write_text(folder / POINTS_CSV, _csv(run.points, names, columns))
    atomic_write_text(folder / PARETO_CSV, _csv([run.points[i] for i in run.pareto], names, columns))
    run.files = [STORE, POINTS_CSV, PARETO_CSV]
    if not plots:
        return
    import importlib.util

    if importlib.util.find_spec("matplotlib") is None:
        run.notes.append("no figures or report.html: they need matplotlib (pip install 'accelsim[dse]')")
        return
    try:
        draw(folder, run, figures)
    except KeyboardInterrupt as err:
        # every file is written whole or not at all (atomic), so what is there is complete: say what is
        # missing and how to finish, in the one line the CLI prints (its __notes__)
        err.add_note(f"while drawing the figures: {STORE}, {POINTS_CSV} and {PARETO_CSV} are complete, "
                     f"{REPORT} is not written; rerun with --resume to finish (nothing is recomputed)")
        raise
    # a figure this run may draw but did not (nothing to show), left by the run --force or --resume replaces
    for name in set(outputs) - set(run.files):
        if (folder / name).is_file():
            (folder / name).unlink()


def _draw(folder: Path, run: DseRun, graph: LayerGraph, base: ArrayConfig, settings: Settings, workload: str,
          figures: _Figures) -> None:
    from .plots import layer_tasks, pareto_tasks, roofline_tasks, timeline_tasks
    from .report import choose_design, write_report
    from .systems import has_system_axes, system_detail

    run.chosen = choose_design(run.points, run.pareto, settings.objectives)
    tasks = pareto_tasks(run.points, run.pareto, settings.objectives, figures.formats)
    if run.chosen is not None:
        row = run.points[run.chosen]
        # a system's schedule is its detail; one array's is simulate's (with the per-layer figures)
        system = system_detail(graph, base, row, energy_table=settings.energy_table,
                               search=settings.mapping == "search") if has_system_axes(run.axes) else None
        if system is not None:
            tasks += timeline_tasks(system, figures.formats)
        else:
            detail = simulate_point(graph, base, row, settings)
            tasks += layer_tasks(detail, figures.formats) + roofline_tasks(detail, figures.formats)
            if has_system_axes(run.axes):
                tasks += timeline_tasks(detail, figures.formats)
    paths = figures.draw(folder, tasks)
    report = write_report(folder, title=f"accelsim dse: {graph.name}", workload=workload, base_arch_name=base.name,
                          axes=run.axes, rows=run.points, front=run.pareto, objectives=settings.objectives,
                          chosen_index=run.chosen, figures=paths, search=run.optimiser)
    run.files += [path.name for path in paths] + [report.name]


def _draw_llm(folder: Path, run: DseRun, study: LlmStudy, base: SystemConfig, settings: Settings,
              figures: _Figures) -> None:
    """An LLM space's figures (its Pareto scatters) and report."""
    from .llm import details
    from .plots import pareto_tasks
    from .report import choose_design, write_report

    run.chosen = choose_design(run.points, run.pareto, settings.objectives)
    paths = figures.draw(folder, pareto_tasks(run.points, run.pareto, settings.objectives, figures.formats))
    report = write_report(folder, title=f"accelsim dse: {study.model.name}", workload=study.describe(),
                          base_arch_name=base.name, axes=run.axes, rows=run.points, front=run.pareto,
                          objectives=settings.objectives, chosen_index=run.chosen, figures=paths,
                          details=details(study.serving is not None), search=run.optimiser)
    run.files += [path.name for path in paths] + [report.name]


def simulate_point(graph: LayerGraph, base: ArrayConfig, row: dict[str, Any], settings: Settings):
    """``simulate`` of one evaluated point with its per-layer mapping: the detail behind its numbers."""
    from ..mapping.choice import LayerChoice
    from ..sim import simulate
    from .space import SYSTEM_AXES, design_of, workload_changes

    point = {k: v for k, v in row.items() if k not in RESULT_COLUMNS and k not in SYSTEM_AXES}
    arch, dataflows = design_of(base, point, every_dataflow=settings.mapping == "search")
    specs = {d.name: d for d in dataflows}  # the point's own specs: a dataflow file may reuse a bundled name
    choices = {name: LayerChoice.from_dict(m, specs) for name, m in row["mapping"].items()}
    return simulate(graph.with_gemm_changes(workload_changes(point)), arch, dataflows[0],
                    energy_table=settings.energy_table, choices=choices)


# A result's fields, in points.csv's order after the axes.
RESULT_COLUMNS = ("feasible", *OBJECTIVES, "pe_area_um2", "sram_area_um2", "utilization", "dram_bytes",
                  "latency_ms", "power_mw", "mapping", "reason")


def _csv(rows: list[dict[str, Any]], axes: list[str], results: tuple[str, ...] = RESULT_COLUMNS) -> str:
    columns = [*axes, *results]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    mapping_cells: dict[int, str] = {}  # rows share their mapping objects: each summarised once
    for row in rows:
        mapping = row.get("mapping")
        if isinstance(mapping, dict) and id(mapping) not in mapping_cells:
            mapping_cells[id(mapping)] = _cell(mapping)
        writer.writerow(["" if row.get(c) is None else mapping_cells[id(mapping)] if c == "mapping"
                         and isinstance(mapping, dict) else _cell(row.get(c)) for c in columns])
    return out.getvalue()


def _cell(value: Any) -> Any:
    """A CSV cell: the per-layer mapping as a compact count of the choices (the JSON has every layer)."""
    if isinstance(value, dict):
        counts: dict[str, int] = {}
        for m in value.values():
            if "split" in m:  # a system's layer: its dataflow, and its split over its cores or "whole" on one
                cores = m["cores"] if isinstance(m["cores"], list) else m["cores"].split("-")
                width = len(cores) if isinstance(m["cores"], list) else int(cores[1]) - int(cores[0]) + 1
                text = f"{m['dataflow']}:{m['split']}/{width}" if m["split"] else f"{m['dataflow']}:whole"
            else:
                text = f"{m['dataflow']}:{m['loop_order']}" + (f":t{m['temporal_tile']}" if m["temporal_tile"] else "")
            counts[text] = counts.get(text, 0) + 1
        return " ".join(f"{k}x{n}" for k, n in sorted(counts.items()))
    return value
