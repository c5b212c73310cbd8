"""How close NSGA-II gets to the exhaustive Pareto front: hypervolume ratios on an enumerable space, per seed.

    python benchmarks/dse_optimiser_quality.py [-o runs/optimiser] [--jobs 2] [--seeds 5] [--fraction 0.05]
                                                [--populations 10,20,30,50,80]

The space is ``benchmarks/spaces/resnet18_27648.yaml`` (ResNet-18 over rows × cols × dataflow × ifmap KiB ×
filter KiB × DRAM bandwidth = 27,648 points, the per-layer mapping search, objectives total_cycles, energy_pj,
area_um2). Steps, each timed:

1. **Exhaustive**: ``accelsim dse`` over every point into ``-o``/exhaustive (``--jobs``, no figures). The
   store is the cache: a second run resumes it and recomputes nothing (and everything after a model change,
   whose fingerprint is in every key).
2. **NSGA-II as a user runs it**: ``accelsim dse ... --budget N --seed S`` for each seed, N = ``--fraction`` of
   the space (5%: 1,382 points), fresh folders, the default population. Each run's ``points.csv`` is measured
   against the exhaustive front: the hypervolume ratio (:mod:`accelsim.dse.quality`: moocore's hypervolume in
   the exhaustive front's ideal–nadir box, reference point 1.1 in each normalised objective). The issue's bar:
   the median of the seeds ≥ 0.98.
3. **report.html says the same**: seed 0's search again into a copy of the exhaustive folder (``--resume``:
   the store holds every point, nothing is evaluated): its report's ratio must equal step 2's.
4. **Populations**: the search replayed in this process for each population and seed, its points answered
   from the exhaustive results (the optimiser's quality alone, no evaluation). The default population's replay
   must visit exactly the points of step 2's run of the same seed.
5. **Baselines**: random samples of the same size (seeded), and every ratio again with each objective on a log
   scale (a stricter view: a linear box gives the large, slow designs' corner most of the volume).
"""

from __future__ import annotations

import argparse
import csv
import math
import random
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from accelsim.dse.optimise import population_size, search_space  # noqa: E402
from accelsim.dse.pareto import OBJECTIVES  # noqa: E402
from accelsim.dse.quality import hypervolume_ratio  # noqa: E402
from accelsim.dse.space import Axis, count_points  # noqa: E402
from accelsim.dse.store import point_key  # noqa: E402

SPACE = ROOT / "benchmarks" / "spaces" / "resnet18_27648.yaml"
WORKLOAD = "resnet18"


def dse(folder: Path, *extra: str) -> float:
    """Run ``accelsim dse`` on the space into ``folder``; its wall time."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "accelsim", "dse", WORKLOAD, str(SPACE), "-o", str(folder), *extra],
                   check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def read_points(folder: Path, axes: list[Axis]) -> list[dict[str, Any]]:
    """``points.csv``'s rows: the axis values as the space file types them, feasibility, the objectives."""
    values = {a.name: {str(v): v for v in a.values} for a in axes}
    with (folder / "points.csv").open() as f:
        return [{**{name: values[name][row[name]] for name in values}, "feasible": row["feasible"] == "True",
                 **{o: float(row[o]) for o in OBJECTIVES if row[o]}} for row in csv.DictReader(f)]


def log_scale(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r | {o: math.log(r[o]) for o in OBJECTIVES} if r["feasible"] else r for r in rows]


class Replay:
    """An evaluator answering from the exhaustive results (the optimiser's :class:`Evaluator` protocol)."""

    def __init__(self, table: dict[str, dict[str, Any]]):
        self.context: dict[str, Any] = {}  # a replay's keys need no run context
        self.table: dict[str, dict[str, Any]] = table
        self.stored: dict[str, dict[str, Any]] = {}

    def evaluate(self, points: list[dict[str, Any]], *, first_seq: int = 0) -> None:
        for point in points:
            key = point_key(point, self.context)
            self.stored[key] = self.table[key]


def ratios(found: list[dict[str, Any]], every: list[dict[str, Any]]) -> tuple[float, float]:
    """The hypervolume ratio of ``found`` to ``every``: linear and on a log scale."""
    return hypervolume_ratio(found, every, OBJECTIVES), hypervolume_ratio(log_scale(found), log_scale(every),
                                                                          OBJECTIVES)


def line(label: str, values: list[tuple[float, float]], extra: str = "") -> str:
    linear = ", ".join(f"{v[0]:.4f}" for v in values)
    return (f"  {label:<24} {linear}  median {statistics.median(v[0] for v in values):.4f}  "
            f"(log scale: median {statistics.median(v[1] for v in values):.4f}){extra}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", default="runs/optimiser")
    parser.add_argument("--jobs", default="2")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--fraction", type=float, default=0.05)
    parser.add_argument("--populations", default="10,20,30,50,80")
    args = parser.parse_args()
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    axes = [Axis(name, tuple(values)) for name, values in yaml.safe_load(SPACE.read_text())["axes"].items()]
    size = count_points(axes)
    budget = int(size * args.fraction)
    seeds = range(args.seeds)
    print(f"{WORKLOAD} over {SPACE.relative_to(ROOT)}: {size:,} points; NSGA-II budget {budget:,} "
          f"({args.fraction:.0%}), population {population_size(budget)} (default), seeds {list(seeds)}")

    exhaustive = out / "exhaustive"
    again = (exhaustive / "results.sqlite").exists()
    took = dse(exhaustive, "--jobs", args.jobs, "--no-plots", *(["--resume"] if again else ["--force"]))
    every = read_points(exhaustive, axes)
    assert len(every) == size, f"{len(every)} of {size} points in {exhaustive}"
    print(f"exhaustive, --jobs {args.jobs}: {took:.1f} s ({'resumed from the store' if again else 'evaluated'}); "
          f"{sum(r['feasible'] for r in every):,} feasible")

    print(f"NSGA-II, accelsim dse --budget {budget} --jobs {args.jobs} --no-plots (whole process, fresh folder):")
    cli: dict[int, tuple[float, float]] = {}
    visits: dict[int, list[dict[str, Any]]] = {}
    times = []
    for seed in seeds:
        folder = out / f"nsga2-seed{seed}"
        times.append(dse(folder, "--budget", str(budget), "--seed", str(seed), "--jobs", args.jobs, "--no-plots",
                         "--force"))
        visits[seed] = read_points(folder, axes)
        cli[seed] = ratios(visits[seed], every)
        print(f"  seed {seed}: ratio {cli[seed][0]:.4f} (log scale {cli[seed][1]:.4f}), {times[-1]:.1f} s")
    median = statistics.median(r[0] for r in cli.values())
    print(f"  median ratio {median:.4f} over {len(cli)} seeds ({'meets' if median >= 0.98 else 'MISSES'} the "
          f"0.98 bar); median time {statistics.median(times):.1f} s")

    measured = out / "report-seed0"
    shutil.rmtree(measured, ignore_errors=True)
    shutil.copytree(exhaustive, measured)
    took = dse(measured, "--budget", str(budget), "--seed", "0", "--jobs", args.jobs, "--resume")
    page = (measured / "report.html").read_text()
    found = re.search(r"Ratio \(found / exhaustive\)</dt><dd>([0-9.]+)<", page)
    shown = float(found.group(1)) if found else float("nan")
    print(f"report.html of seed 0's search on the exhaustive store ({took:.1f} s, with figures): ratio {shown} "
          f"({'equal to' if shown == round(cli[0][0], 4) else 'DIFFERENT from'} the benchmark's)")

    table = {point_key({a.name: r[a.name] for a in axes}, {}): r for r in every}
    print("populations, replayed in process against the exhaustive results (ratio per seed):")
    for population in sorted({*(int(p) for p in args.populations.split(",")), population_size(budget)}):
        found_ratios, start = [], time.perf_counter()
        same = True
        for seed in seeds:
            replay = Replay(table)
            search = search_space(axes, OBJECTIVES, replay, budget=budget, time_limit=None, seed=seed,
                                  population=population)
            rows = [replay.stored[point_key(p, {})] for p in search.visited]
            found_ratios.append(ratios(rows, every))
            if population == population_size(budget):
                names = [a.name for a in axes]
                same &= [tuple(p[n] for n in names) for p in search.visited] == \
                    [tuple(r[n] for n in names) for r in visits[seed]]
        note = (f"; the CLI runs' points: {'the same' if same else 'DIFFERENT'}"
                if population == population_size(budget) else "")
        print(line(f"population {population}", found_ratios,
                   f", {(time.perf_counter() - start) / len(seeds):.1f} s a search{note}"))

    samples = [ratios(random.Random(seed).sample(every, budget), every) for seed in seeds]
    print(line(f"random {budget:,} points", samples))


if __name__ == "__main__":
    main()
