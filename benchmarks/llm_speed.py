"""Whole-process time of the LLM commands (issue 19's goals: ``llm`` under 2 s, a 1,000-request ``serve`` under 10 s).

    python benchmarks/llm_speed.py            # medians of 5 runs each (about a minute on 2 cores)
    python benchmarks/llm_speed.py --runs 3

Runs each command as a subprocess (imports included), checks that repeated runs print byte-identical
JSON, and prints the median and the spread. Also prints how many decode-attention evaluations the
closed form needed against the lengths it covered. Times are medians on a shared 2-core machine: other
processes move them by tens of percent.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

COMMANDS = {
    "llm llama-3.1-8b on tpuv4-chip, 2048 + 256":
        ["llm", "llama-3.1-8b", "--arch", "tpuv4-chip", "--prompt", "2048", "--generate", "256", "--json"],
    "llm llama-3.1-8b on tpuv4 (one MXU), 2048 + 256":
        ["llm", "llama-3.1-8b", "--arch", "tpuv4", "--prompt", "2048", "--generate", "256", "--json"],
    "serve llama-3.1-8b on tpuv4-chip, 1,000 Poisson requests at 4/s":
        ["serve", "llama-3.1-8b", "--arch", "tpuv4-chip", "--rate", "4", "--requests", "1000", "--json"],
    "serve mixtral-8x7b on a100-like (tp 2), 1,000 requests at 2/s":
        ["serve", "mixtral-8x7b", "--arch", "a100-like", "--tp", "2", "--rate", "2", "--requests", "1000", "--json"],
}


def timed(argv: list[str]) -> tuple[float, bytes]:
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "accelsim", *argv], capture_output=True, check=True).stdout
    return time.perf_counter() - start, out


def evaluations() -> str:
    from accelsim.arch import resolve_system
    from accelsim.llm.cost import CostModel
    from accelsim.llm.hf import load_model
    from accelsim.llm.quant import Deployment

    lines = []
    for arch in ("sa128", "tpuv4", "tpuv4-chip"):
        system = resolve_system(arch)
        fmt = "int8" if getattr(system.cores[0], "datapath", "int") == "int" else system.cores[0].datapath
        costs = CostModel(load_model("llama-3.1-8b"), Deployment(fmt, fmt, fmt), system)
        start = time.perf_counter()
        costs.prepare_decode(0, 32_767)
        lines.append(f"  {arch:<11} 2,048 KV-block lengths (32,768 tokens): {costs.decode_curve.evaluations:,} "
                     f"evaluations, {len(costs.decode_curve.segments)} periodic segments, "
                     f"{time.perf_counter() - start:.2f} s")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    for name, argv in COMMANDS.items():
        times, outputs = [], set()
        for _ in range(runs):
            seconds, out = timed(argv)
            times.append(seconds)
            outputs.add(out)
        print(f"{name}: median {statistics.median(times):.2f} s (min {min(times):.2f}, max {max(times):.2f}; "
              f"{runs} runs; JSON {'identical' if len(outputs) == 1 else 'DIFFERS'})")
    print("decode attention, the closed form (llama-3.1-8b, native formats):")
    print(evaluations())


if __name__ == "__main__":
    main()
