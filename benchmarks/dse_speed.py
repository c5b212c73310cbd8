"""Design points per minute: batched evaluation vs one ``simulate`` per point, measured in one run.

    python benchmarks/dse_speed.py [--workload resnet50] [--jobs 2] [--repeats 3] [--check 200]

The space varies architecture axes only, with the fixed mapping rules (every layer runs the
point's dataflow as ``simulate`` does): rows, cols, dataflow, double buffering, ifmap buffer,
DRAM bandwidth and latency, vector lanes (6·6·3·2·4·5·5·5 = 108,000 points). ``--check`` points,
sampled with a fixed seed, are recomputed by ``simulate`` and must match exactly (cycles, energy,
area, utilisation, DRAM bytes). The baseline runs ``simulate`` point by point on a sample and is
extrapolated per minute. Rates are medians of ``--repeats`` runs, each in fresh worker processes
(no cache carried between repeats). Prints one line per figure and the ratio.

What makes the batch fast (accelsim/dse/batch.py): identical layers are planned once, a layer's
plan is shared by every point that differs only in DRAM bandwidth, latency or lanes, and what
is left per point is closed forms. So the rate depends on how many distinct (array, buffer)
plans a space has: ``--worst`` gives every point its own buffer sizes to show the floor.
"""

from __future__ import annotations

import argparse
import itertools
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from accelsim.arch import resolve_arch
from accelsim.dse.batch import Batch
from accelsim.dse.executor import Executor
from accelsim.workload import resolve_workload

AXES = {"rows": [8, 16, 32, 64, 128, 256], "cols": [8, 16, 32, 64, 128, 256], "dataflow": ["ws", "os", "is"],
        "double_buffered": [True, False], "memory.ifmap_kib": [64, 128, 256, 512],
        "memory.dram_bytes_per_cycle": [4, 8, 16, 32, 64], "memory.dram_latency_cycles": [0, 25, 50, 100, 200],
        "vector_lanes": [0, 16, 32, 64, 128]}
WORST = {"rows": [8, 16, 32, 64, 128, 256], "cols": [8, 16, 32, 64, 128, 256], "dataflow": ["ws", "os", "is"],
         "memory.ifmap_kib": [32, 48, 64, 96, 128, 192, 256, 384, 512, 768],
         "memory.filter_kib": [64, 128, 256, 512, 1024]}

_state: dict = {}


def _setup(workload: str, base: str, search: bool = False) -> None:
    _state["batch"] = Batch(resolve_workload(workload), resolve_arch(base), search=search)


def _chunk(points: list[dict]) -> list[dict]:
    return _state["batch"].evaluate(points)


def batched(points: list[dict], workload: str, base: str, jobs: int,
            search: bool = False) -> tuple[float, float, list[dict]]:
    """``(seconds with the workers' start, seconds once they are up, results)``.

    Chunks in the space's order: neighbours share plans, and each worker keeps its Batch between chunks.
    The workers first take a tiny chunk each (below a block's size: the per-point path) so they are up,
    imported and holding the workload before the clock of the second figure starts.
    """
    size = max(1, len(points) // (4 * jobs))
    chunks = [points[i:i + size] for i in range(0, len(points), size)]
    results: list = [None] * len(chunks)
    start = time.perf_counter()
    with Executor(jobs=jobs, setup=_setup, setup_args=(workload, base, search)) as executor:
        for _ in executor.run(_warm, range(4 * jobs)):
            pass
        warm = time.perf_counter()
        for index, out in executor.run(_chunk, chunks):
            results[index] = out
        end = time.perf_counter()
    return end - start, end - warm, [r for chunk in results for r in chunk]


def _warm(_: int) -> None:
    time.sleep(0.05)  # long enough that every worker takes one


def point_by_point(points: list[dict], workload: str, base: str, search: bool = False) -> float:
    """One fresh evaluation per point (``simulate`` + area, nothing shared): seconds per point."""
    graph, arch = resolve_workload(workload), resolve_arch(base)
    start = time.perf_counter()
    for point in points:
        Batch(graph, arch, search=search, vectorise=False).evaluate([point])
    return (time.perf_counter() - start) / len(points)


def check(points: list[dict], results: list[dict], workload: str, base: str, n: int) -> int:
    """How many of ``n`` sampled points equal ``simulate`` exactly, with each point's own per-layer choices
    (tests/dse/test_batch.py has the comparison)."""
    from accelsim.mapping.choice import LayerChoice

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from dse.test_batch import _simulated  # the test's own definition of "what simulate says"

    graph, arch = resolve_workload(workload), resolve_arch(base)
    rng = random.Random(0)
    equal = 0
    for i in rng.sample(range(len(points)), n):
        got = results[i]
        choices = ({name: LayerChoice.from_dict(m) for name, m in got["mapping"].items()}
                   if got["feasible"] else None)
        expected = _simulated(graph, arch, points[i], choices)
        equal += got["feasible"] == expected["feasible"] and all(got[k] == v for k, v in expected.items())
    return equal


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", default="resnet50")
    parser.add_argument("--arch", default="sa32")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--check", type=int, default=200)
    parser.add_argument("--baseline", type=int, default=30, help="points timed one by one")
    parser.add_argument("--worst", action="store_true", help="a space where every point has its own plans")
    parser.add_argument("--search", action="store_true", help="the per-layer mapping search (the CLI's default)")
    args = parser.parse_args()
    axes = WORST if args.worst else AXES
    points = [dict(zip(axes, combo)) for combo in itertools.product(*axes.values())]
    rule = "the per-layer mapping search" if args.search else "the fixed mapping rules"
    print(f"{args.workload} on {args.arch}: {len(points):,} points over {', '.join(axes)}, {rule}")
    whole, steady = [], []
    for _ in range(args.repeats):
        seconds, running, results = batched(points, args.workload, args.arch, args.jobs, args.search)
        whole.append(seconds)
        steady.append(running)
    batch_rate = len(points) / statistics.median(steady) * 60
    print(f"batched, {args.jobs} processes: median {statistics.median(steady):.2f} s once the workers are up "
          f"(runs: {', '.join(f'{t:.2f}' for t in steady)}) = {batch_rate:,.0f} points/min; "
          f"{statistics.median(whole):.2f} s with their start = {len(points) / statistics.median(whole) * 60:,.0f}/min")
    sample = random.Random(1).sample(points, args.baseline)
    single = statistics.median(point_by_point(sample, args.workload, args.arch, args.search)
                               for _ in range(args.repeats))
    print(f"point by point, 1 process: {single * 1e3:.1f} ms/point = {60 / single:,.0f} points/min "
          f"(x{args.jobs} processes: {60 / single * args.jobs:,.0f})")
    print(f"ratio: batched / point-by-point on the same cores = {batch_rate / (60 / single * args.jobs):,.0f}x")
    print(f"feasible: {sum(r['feasible'] for r in results):,} of {len(results):,}; "
          f"equal to simulate: {check(points, results, args.workload, args.arch, args.check)} of {args.check} sampled")


if __name__ == "__main__":
    main()
