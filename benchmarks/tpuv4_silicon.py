"""Silicon check: 125 GEMMs measured on a TPU v4 against modelled cycles.

    python benchmarks/tpuv4_silicon.py [--csv benchmarks/data/tpuv4_gemm_latency.csv]

Each GEMM (m×k times k×n; bf16 operands, f32 results) is simulated on the ``tpuv4`` preset (one
128×128 weight-stationary TensorCore matrix unit with its share of HBM bandwidth). Two parameters
are fitted, as for SCALE-Sim: ``duration_us ≈ a·cycles + b`` (``b`` absorbs the ~1 µs launch cost).
Printed: Pearson r, mean absolute percentage error, and the clock implied by ``a`` (a sanity check:
the real clock is 1050 MHz). Nothing else is fitted: the bandwidth and sizes are published figures.

Then the same fit on the ``tpuv4-tc`` system preset, the whole TensorCore: four 128×128 MXUs sharing
its 571 bytes per cycle of HBM (``docs/multicore.md``). Each GEMM is a one-layer graph scheduled by
``run_system`` (sequential schedule: the one GEMM split over the four MXUs by M, N or K, whichever is
fastest), and the two fits are printed side by side. These lines come after the first table, which
is unchanged.
"""

from __future__ import annotations

import argparse
import csv
from collections import Counter
from math import ceil
from pathlib import Path

import numpy as np

from accelsim.arch import PRESETS, resolve_system
from accelsim.mapping import load_dataflow
from accelsim.schedule.schedule import run_system
from accelsim.sim import simulate_layer
from accelsim.workload import Layer
from accelsim.workload.graph import LayerGraph

DEFAULT_CSV = Path(__file__).resolve().parent / "data" / "tpuv4_gemm_latency.csv"  # provenance: data/README.md


def scalesim_ws_cycles(m: int, n: int, k: int, rows: int = 128, cols: int = 128) -> int:
    """SCALE-Sim v3's weight-stationary compute cycles (its closed form; see docs/timing.md)."""
    return ceil(k / rows) * ceil(n / cols) * (2 * rows + cols + m - 2) - 1


def fit(cycles: np.ndarray, us: np.ndarray) -> tuple[float, float, float]:
    a, b = np.polyfit(cycles, us, 1)
    predicted = a * cycles + b
    return float(np.corrcoef(cycles, us)[0, 1]), float(np.mean(np.abs(predicted - us) / us) * 100), 1 / a


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    args = parser.parse_args()
    try:
        text = args.csv.read_text()
    except OSError as err:
        parser.exit(1, f"tpuv4_silicon: error: {args.csv}: {err.strerror}\n")
    rows = [(int(r["m"]), int(r["n"]), int(r["k"]), float(r["duration_us"])) for r in csv.DictReader(text.splitlines())]
    us = np.array([r[3] for r in rows])
    tpu = PRESETS["tpuv4"]
    chip = tpu.with_changes(name="tpuv4-full-chip-bw",
                            memory=tpu.memory.__class__(**(tpu.memory.to_dict() | {"dram_bytes_per_cycle": 1143})))
    ws = load_dataflow("ws")

    def gemm(m: int, n: int, k: int) -> Layer:
        return Layer("gemm", "linear", in_shapes=((m, k),), out=n, input_type="bf16", weight_type="bf16",
                     output_type="fp32")

    def accelsim_cycles(arch, memory: bool) -> np.ndarray:
        out = []
        for m, n, k, _ in rows:
            out.append(simulate_layer(gemm(m, n, k), arch, ws, memory=memory).cycles)
        return np.array(out, dtype=float)

    splits: Counter[str] = Counter()

    def system_cycles(system, memory: bool) -> np.ndarray:
        out = []
        for m, n, k, _ in rows:
            graph = LayerGraph("gemm", inputs={"x": (m, k)})
            graph.add(gemm(m, n, k), ["x"])
            result = run_system(graph, system, schedule="sequential", memory=memory, energy_table=None)
            out.append(result.cycles)
            if memory:
                splits[result.layers[0].split] += 1
        return np.array(out, dtype=float)

    models = {
        "SCALE-Sim v3 WS formula (reproduced)": np.array([scalesim_ws_cycles(m, n, k) for m, n, k, _ in rows], float),
        "accelsim tpuv4, ideal memory": accelsim_cycles(tpu, False),
        "accelsim tpuv4, memory model (571 B/cycle)": accelsim_cycles(tpu, True),
        "accelsim, full-chip HBM (1143 B/cycle)": accelsim_cycles(chip, True),
    }
    print(f"{len(rows)} GEMMs measured on TPU v4; fit duration_us = a*cycles + b")
    print(f"{'model':44s} {'Pearson r':>9s} {'MAPE':>7s} {'implied MHz':>12s}")
    for label, cycles in models.items():
        r, mape, mhz = fit(cycles, us)
        print(f"{label:44s} {r:9.3f} {mape:6.1f}% {mhz:12.0f}")

    tc = resolve_system("tpuv4-tc")
    core = tc.cores[0]
    systems = {
        "accelsim tpuv4-tc (4 MXUs), ideal memory": system_cycles(tc, False),
        "accelsim tpuv4-tc (4 MXUs), memory model": system_cycles(tc, True),
    }
    print()
    print(f"4-MXU TensorCore: {tc.name} = {len(tc.cores)} x {core.rows}x{core.cols} sharing "
          f"{tc.dram.bytes_per_cycle:g} B/cycle of HBM; each GEMM a one-layer graph, sequential schedule; "
          f"splits M {splits['M']}, N {splits['N']}, K {splits['K']}")
    print(f"{'model':44s} {'Pearson r':>9s} {'MAPE':>7s} {'implied MHz':>12s}")
    for label, cycles in systems.items():
        r, mape, mhz = fit(cycles, us)
        print(f"{label:44s} {r:9.3f} {mape:6.1f}% {mhz:12.0f}")
    print()
    print(f"{'side by side (real clock 1050 MHz)':36s} {'1 MXU (tpuv4)':22s} {'4 MXUs (tpuv4-tc)'}")
    print((f"{'':36s} " + f"{'r':>6s} {'MAPE':>6s} {'MHz':>6s}   " * 2).rstrip())
    for kind, one, four in (("ideal memory", models["accelsim tpuv4, ideal memory"],
                             systems["accelsim tpuv4-tc (4 MXUs), ideal memory"]),
                            ("memory model", models["accelsim tpuv4, memory model (571 B/cycle)"],
                             systems["accelsim tpuv4-tc (4 MXUs), memory model"])):
        print((f"{kind:36s} " + "".join(f"{r:6.3f} {mape:5.1f}% {mhz:6.0f}   " for r, mape, mhz in
                                        (fit(one, us), fit(four, us)))).rstrip())


if __name__ == "__main__":
    main()
