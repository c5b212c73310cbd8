"""RTL generation at every bundled preset and dataflow, and verification of sa128.

Prints, per preset × supported dataflow, the generation time and the Verilog's size (lines,
bytes), then runs the cocotb bench on sa128 (WS) with a handful of cases under Icarus and prints
the time. Usage: ``python benchmarks/bench_hdl.py [--repeat N] [--cases N] [--skip-verify]``;
with ``--repeat`` the median time is printed.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

from accelsim.arch import PRESETS
from accelsim.mapping import load_dataflow
from accelsim.rtl.cocotb_run import verify
from accelsim.rtl.export import generate_verilog


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, help="generations per design (median printed)")
    parser.add_argument("--cases", type=int, default=4, help="sa128 verification cases (default: 4)")
    parser.add_argument("--skip-verify", action="store_true")
    parser.add_argument("--only", nargs="*", help="preset names (default: all)")
    args = parser.parse_args()

    print(f"{'preset':8} {'array':>9} {'df':3} {'seconds':>8} {'lines':>10} {'bytes':>12}", flush=True)
    for name, arch in PRESETS.items():
        if args.only and name not in args.only:
            continue
        for df in arch.dataflows:
            times = []
            for _ in range(args.repeat):
                start = time.perf_counter()
                text = generate_verilog(arch, load_dataflow(df))
                times.append(time.perf_counter() - start)
            print(f"{name:8} {f'{arch.rows}x{arch.cols}':>9} {df:3} {statistics.median(times):8.1f} "
                  f"{text.count(chr(10)):10,} {len(text.encode()):12,}", flush=True)

    if not args.skip_verify:
        with tempfile.TemporaryDirectory() as build:
            start = time.perf_counter()
            result = verify(PRESETS["sa128"], load_dataflow("ws"), cases=args.cases, seed=1, stall_p=0.3,
                            max_folds=2, build_dir=build)
            print(f"\nsa128 ws verify (icarus): {result['cases']} cases, {result['outputs_checked']:,} output rows, "
                  f"{result['cycles_checked']:,} cycles, {result['mismatches']} mismatches; "
                  f"{time.perf_counter() - start:.1f} s in all (simulator build {result['build_seconds']:.1f} s, "
                  f"bench {result['seconds']:.1f} s)", flush=True)


if __name__ == "__main__":
    main()
