"""accelsim's cycle counts next to SCALE-Sim v3's closed forms, for a few real GEMMs.

    python benchmarks/compare_scalesim_formulas.py

SCALE-Sim's formulas (measured from its code, see docs/timing.md): per fold OS K+R+C−2,
WS 2R+C+M−2, IS 2R+C+N−2; folds never overlap; reported total = folds × per-fold − 1.
Ideal memory on both sides.
"""

from __future__ import annotations

from math import ceil

from accelsim.arch import ArrayConfig
from accelsim.mapping import Mapping, load_dataflow
from accelsim.sim.timing import gemm_timeline
from accelsim.workload import GemmView

GEMMS = {
    "resnet50 conv1 (7x7/2)": GemmView(M=12544, N=64, K=147),
    "resnet50 layer3 3x3": GemmView(M=196, N=256, K=2304),
    "bert ffn1 (seq 128)": GemmView(M=128, N=3072, K=768),
    "llama decode wq": GemmView(M=1, N=4096, K=4096),
}


def scalesim_cycles(g: GemmView, name: str, r: int, c: int) -> int:
    if name == "os":
        folds, per = ceil(g.M / r) * ceil(g.N / c), g.K + r + c - 2
    elif name == "ws":
        folds, per = ceil(g.K / r) * ceil(g.N / c), 2 * r + c + g.M - 2
    else:
        folds, per = ceil(g.K / r) * ceil(g.M / c), 2 * r + c + g.N - 2
    return folds * per - 1


def main() -> None:
    print(f"{'GEMM (MxKxN)':34s} {'array':>7s} {'df':>3s} {'SCALE-Sim':>11s} {'single':>11s} {'double':>11s}"
          f" {'single/SS':>9s} {'double/SS':>9s}")
    for label, g in GEMMS.items():
        for r in (32, 128):
            for name in ("ws", "os", "is"):
                ss = scalesim_cycles(g, name, r, r)
                ours = [gemm_timeline(Mapping(g, load_dataflow(name), ArrayConfig(rows=r, cols=r, double_buffered=d))).total
                        for d in (False, True)]
                shape = f"{label} {g.M}x{g.K}x{g.N}"
                print(f"{shape:34s} {f'{r}x{r}':>7s} {name:>3s} {ss:11,d} {ours[0]:11,d} {ours[1]:11,d}"
                      f" {ours[0] / ss:9.3f} {ours[1] / ss:9.3f}")


if __name__ == "__main__":
    main()
