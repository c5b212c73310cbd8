"""SCALE-Sim and ``accelsim scalesim --convention scalesim`` on the same files, side by side.

    python benchmarks/bench_scalesim.py [--workload resnet18] [--rows 32 --cols 32] [--dataflow os]
                                        [--mode CALC|USER] [--repeat 5] [--skip-scalesim]

Writes a SCALE-Sim config and a conv topology for a bundled accelsim workload (convolutions with
their padding folded into the input size, since SCALE-Sim does not pad; the classifier as a
1×1 convolution), runs SCALE-Sim once (it is slow) and accelsim ``--repeat`` times (median),
each as a fresh process including start-up, and prints per-layer cycles from both, whether every
report file is identical, and the speed ratios: whole network (fresh processes, start-up
included) and per layer (each tool's own time for that layer inside one run: SCALE-Sim's
``single_layer_sim.run``, accelsim's ``compat.simulate_layer``, median of ``--repeat``).
Timings are wall-clock on a shared machine.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from scalesim_agreement import CFG  # noqa: E402
from scalesim_peer import layer_seconds, run_accelsim, run_scalesim, scalesim_python  # noqa: E402

from accelsim.scalesim.compat import simulate_layer  # noqa: E402
from accelsim.scalesim.inputs import load_config, load_topology, topology_rows  # noqa: E402
from accelsim.workload import resolve_workload  # noqa: E402


def accelsim_layer_seconds(cfg: Path, topo: Path, repeat: int) -> list[float]:
    """Median seconds of ``compat.simulate_layer`` per layer, all layers in this one process."""
    config, layers = load_config(cfg), load_topology(topo)
    times: list[list[float]] = [[] for _ in layers]
    for _ in range(repeat):
        for i, layer in enumerate(layers):
            start = time.perf_counter()
            simulate_layer(layer, config)
            times[i].append(time.perf_counter() - start)
    return [statistics.median(t) for t in times]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", default="resnet18")
    parser.add_argument("--rows", type=int, default=32)
    parser.add_argument("--cols", type=int, default=32)
    parser.add_argument("--dataflow", default="os", choices=["os", "ws", "is"])
    parser.add_argument("--mode", default="CALC", choices=["CALC", "USER"])
    parser.add_argument("--sram-kib", type=int, default=64)
    parser.add_argument("--bandwidth", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--skip-scalesim", action="store_true")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-scalesim-"))
    cfg, topo = work / "scale.cfg", work / "topology.csv"
    cfg.write_text(CFG.format(index=0, rows=args.rows, cols=args.cols, ifmap=args.sram_kib, filter=args.sram_kib,
                              ofmap=args.sram_kib, bandwidth=args.bandwidth, dataflow=args.dataflow, bank_bw=10,
                              sparse="false", rep="csr", mode=args.mode))
    topo.write_text("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, "
                    "Strides,\n" + "\n".join(topology_rows(resolve_workload(args.workload))) + "\n")
    times, ours = [], None
    for i in range(args.repeat):
        ours, seconds = run_accelsim(cfg, topo, work / f"accelsim{i}", gemm=False)
        times.append(seconds)
    ours_s = statistics.median(times)
    print(f"{args.workload} on {args.rows}x{args.cols} {args.dataflow}, SRAM {args.sram_kib} KiB each, {args.mode}")
    print(f"accelsim --convention scalesim: median {ours_s:.2f} s over {args.repeat} runs "
          f"(min {min(times):.2f}, max {max(times):.2f}), start-up included")
    python = None if args.skip_scalesim else scalesim_python()
    if python is None:
        print("SCALE-Sim not run (not installed or --skip-scalesim); see benchmarks/scalesim_peer.py")
        return
    theirs, ss_seconds = run_scalesim(python, cfg, topo, work / "scalesim", gemm=False)
    ss_layers = layer_seconds(work / "scalesim")
    ours_layers = accelsim_layer_seconds(cfg, topo, args.repeat)
    print(f"SCALE-Sim v3: {ss_seconds:.1f} s (one run)")
    print(f"whole-network speed ratio: {ss_seconds / ours_s:.0f}x (fresh processes, start-up included)")
    names = [layer.name for layer in load_topology(topo)]
    print(f"\n{'layer':20s} {'SCALE-Sim s':>12s} {'accelsim s':>11s} {'ratio':>8s}")
    ratios = []
    for name, a, b in zip(names, ss_layers, ours_layers):
        ratios.append(a / b)
        print(f"{name:20s} {a:12.2f} {b:11.4f} {a / b:7.0f}x")
    print(f"per-layer ratio: min {min(ratios):.0f}x, median {statistics.median(ratios):.0f}x, "
          f"max {max(ratios):.0f}x; sum of layer times {sum(ss_layers):.1f} s vs {sum(ours_layers):.2f} s "
          f"({sum(ss_layers) / sum(ours_layers):.0f}x)")
    mismatched = [name for name in theirs if theirs[name] != ours.get(name)]
    print("reports identical: " + ("all of " + ", ".join(sorted(theirs)) if not mismatched
                                     else "NO — differ in " + ", ".join(mismatched)))
    print(f"\n{'layer':>5s} {'SCALE-Sim cycles':>17s} {'accelsim cycles':>16s} {'stall (both)':>13s}")
    for a, b in zip(theirs["COMPUTE_REPORT.csv"], ours["COMPUTE_REPORT.csv"]):
        print(f"{int(a['LayerID']):5d} {int(a['Total Cycles']):17,d} {int(b['Total Cycles']):16,d} "
              f"{int(a['Stall Cycles']):6,d}/{int(b['Stall Cycles']):,d}")
    tot_a = sum(r["Total Cycles"] for r in theirs["COMPUTE_REPORT.csv"])
    tot_b = sum(r["Total Cycles"] for r in ours["COMPUTE_REPORT.csv"])
    print(f"{'all':>5s} {int(tot_a):17,d} {int(tot_b):16,d}")


if __name__ == "__main__":
    main()
