"""Silicon check: 125 GEMMs measured on a TPU v4 against modelled cycles.

    python benchmarks/tpuv4_silicon.py [--csv benchmarks/data/tpuv4_gemm_latency.csv]

Each GEMM (m×k times k×n; bf16 operands, f32 results) is simulated on the ``tpuv4`` preset (one
128×128 weight-stationary TensorCore matrix unit with its share of HBM bandwidth). Two parameters
are fitted, as for SCALE-Sim: ``duration_us ≈ a·cycles + b`` (``b`` absorbs the ~1 µs launch cost).
Printed: Pearson r, mean absolute percentage error, and the clock implied by ``a`` (a sanity check:
the real clock is 1050 MHz). Nothing else is fitted: the bandwidth and sizes are published figures.
"""

from __future__ import annotations

import argparse
import csv
from math import ceil
from pathlib import Path

import numpy as np

from accelsim.arch import PRESETS
from accelsim.mapping import load_dataflow
from accelsim.sim import simulate_layer
from accelsim.workload import Layer

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

    def accelsim_cycles(arch, memory: bool) -> np.ndarray:
        out = []
        for m, n, k, _ in rows:
            layer = Layer("gemm", "linear", in_shapes=((m, k),), out=n, input_type="bf16", weight_type="bf16", output_type="fp32")
            out.append(simulate_layer(layer, arch, ws, memory=memory).cycles)
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


if __name__ == "__main__":
    main()
