"""Run a design space: evaluate every point not yet in the store, in this process or a pool.

Only this (coordinating) process writes the store, as results complete. Workers ignore Ctrl-C and
are shut down with the run, so none outlives the command; a killed run resumes with ``resume``.
"""

from __future__ import annotations

import csv
import io
import signal
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from ..arch import ArrayConfig
from ..arch.config import stable_digest
from ..atomic import atomic_write_text
from ..errors import OutputError
from ..outputs import claim_files, output_folder
from ..progress import progress_bar
from .evaluate import MODEL_VERSION, evaluate_point
from .pareto import OBJECTIVES, pareto
from .space import Axis, points
from .store import Store, point_key

STORE, POINTS_CSV, PARETO_CSV = "results.sqlite", "points.csv", "pareto.csv"
OUTPUTS = (STORE, POINTS_CSV, PARETO_CSV)


@dataclass
class DseRun:
    axes: list[Axis]
    points: list[dict[str, Any]]  # each: axis values + result
    pareto: list[int]  # indices into points
    computed: int  # points evaluated by this run (the rest came from the store)


_worker: dict[str, Any] = {}


def _init_worker(workload: str, base: dict[str, Any], table: str) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the coordinator handles Ctrl-C and shuts us down
    from ..workload import resolve_workload

    _worker.update(graph=resolve_workload(workload), base=ArrayConfig.from_dict(base), table=table)


def _evaluate_in_worker(point: dict[str, Any]) -> dict[str, Any]:
    return evaluate_point(_worker["graph"], _worker["base"], point, energy_table=_worker["table"])


def run_space(workload: str, base: ArrayConfig, axes: list[Axis], output: str | Path, *, resume: bool = False,
              force: bool = False, jobs: int = 1, energy_table: str = "horowitz45",
              objectives: tuple[str, ...] = OBJECTIVES) -> DseRun:
    """Evaluate the space into ``output`` (store, points.csv, pareto.csv) and return every point."""
    from ..workload import resolve_workload

    graph = resolve_workload(workload)
    folder = output_folder(output)
    if resume and force:
        raise OutputError("--resume continues a run and --force replaces it: give one of them")
    if resume:
        if not (folder / STORE).is_file():
            raise OutputError(f"{folder}: nothing to resume (no {STORE})")
        claim_files(folder, (POINTS_CSV, PARETO_CSV), force=True)
    else:
        claim_files(folder, OUTPUTS, force=force)
    context = {"workload": graph.name, "layers": stable_digest([layer.to_dict() for layer in graph]),
               "base": base.to_dict(), "energy_table": energy_table, "model": MODEL_VERSION}
    space = list(points(axes))
    keys = [point_key(p, context) for p in space]
    folder.mkdir(parents=True, exist_ok=True)
    store = Store(folder / STORE)
    try:
        done = store.done()
        todo = [(seq, p, k) for seq, (p, k) in enumerate(zip(space, keys)) if k not in done]
        _evaluate(store, todo, graph, workload, base, energy_table, jobs)
        stored = {point_key(p, context): r for _, p, r in store.rows()}
    finally:
        store.close()
    results = [stored[k] for k in keys]
    rows = [p | r for p, r in zip(space, results)]
    front = pareto(results, objectives)
    names = [a.name for a in axes]
    atomic_write_text(folder / POINTS_CSV, _csv(rows, names))
    atomic_write_text(folder / PARETO_CSV, _csv([rows[i] for i in front], names))
    return DseRun(axes, rows, front, len(todo))


def _evaluate(store: Store, todo, graph, workload: str, base: ArrayConfig, table: str, jobs: int) -> None:
    with progress_bar(total=len(todo), desc="points", unit="point") as bar:
        if jobs <= 1 or len(todo) <= 1:
            for seq, point, key in todo:
                store.put(key, seq, point, evaluate_point(graph, base, point, energy_table=table))
                bar.update(1)
            return
        pool = ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn"), initializer=_init_worker,
                                   initargs=(workload, base.to_dict(), table))
        try:
            pending = {pool.submit(_evaluate_in_worker, point): (seq, point, key) for seq, point, key in todo}
            while pending:
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    seq, point, key = pending.pop(future)
                    store.put(key, seq, point, future.result())
                    bar.update(1)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def _csv(rows: list[dict[str, Any]], axes: list[str]) -> str:
    columns = [*axes, "feasible", *OBJECTIVES, "pe_area_um2", "sram_area_um2", "utilization", "dram_bytes", "reason"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row.get(c) is None else row.get(c) for c in columns])
    return out.getvalue()
