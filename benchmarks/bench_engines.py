"""Speed of the two engines (issue 2's goals). Prints medians of several runs.

    python benchmarks/bench_engines.py [--runs 7]

1. The fast engine on whole ResNet-50 (224×224, batch 1), 128×128 array, each dataflow, timed as a
   fresh ``accelsim simulate`` process (interpreter start and imports included). Goals: < 0.5 s
   with ideal memory, < 1 s with the memory model.
2. The reference engine's PE-cycle updates per second on a 32×32 array. Goal: ≥ 1e7.

Machines here are shared and noisy: compare medians, not single runs.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time

import numpy as np

from accelsim.arch import ArrayConfig
from accelsim.mapping import Mapping, load_dataflow
from accelsim.sim import numerics, run_reference
from accelsim.workload import GemmView


def median_seconds(fn, runs: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def bench_fast_engine(runs: int) -> None:
    exe = shutil.which("accelsim")
    command = [exe] if exe else [sys.executable, "-c", "from accelsim.cli import run; run()"]
    for memory, goal in (("--ideal-memory", "0.5"), ("", "1")):
        label = "ideal memory" if memory else "with the memory model"
        print(f"fast engine, whole ResNet-50 on sa128 (128x128), {label}, one process per run (goal < {goal} s):")
        for dataflow in ("ws", "os", "is"):
            argv = [*command, "simulate", "resnet50", "--arch", "sa128", "--dataflow", dataflow, "--json"]
            argv += [memory] if memory else []
            med, times = median_seconds(lambda: subprocess.run(argv, check=True, capture_output=True), runs)
            print(f"  {dataflow}: median {med:.3f} s  (runs: {', '.join(f'{t:.3f}' for t in times)})")
    start_only = [sys.executable, "-c", "pass"]
    med, _ = median_seconds(lambda: subprocess.run(start_only, check=True), runs)
    print(f"  (a bare `python -c pass` takes {med:.3f} s here)")


def bench_reference(runs: int) -> None:
    arch = ArrayConfig(rows=32, cols=32)
    rng = np.random.default_rng(0)
    print("reference engine on a 32x32 array (goal >= 1e7 PE-cycle updates/s):")
    for name, (m, n, k) in (("ws", (256, 64, 64)), ("os", (64, 64, 256)), ("is", (64, 256, 64))):
        a, w = numerics.random_operands(rng, m, n, k, arch)
        mapping = Mapping.for_gemm(GemmView(M=m, N=n, K=k), load_dataflow(name), arch)
        cycles = run_reference(mapping, a, w).cycles
        med, _ = median_seconds(lambda: run_reference(mapping, a, w), runs)
        rate = cycles * arch.pes / med
        print(f"  {name}: GEMM {m}x{k}x{n}, {cycles:,} cycles in {med:.3f} s -> {rate:.2e} PE-cycle updates/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    bench_fast_engine(args.runs)
    bench_reference(max(3, args.runs // 2))


if __name__ == "__main__":
    main()
