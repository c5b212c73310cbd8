"""Write the example inputs the README's commands use (small text files, deterministic).

    python examples/make_examples.py                          # rewrites the files listed below
    python examples/make_examples.py --weights resnet50 weights.npz   # stand-in float weights

Written into ``examples/`` (the committed copies are this script's output; a test-free check:
run it and ``git diff --exit-code examples/``):

- ``scalesim/scale.cfg``: a SCALE-Sim v3 config, 32×32 output stationary, 64 KiB SRAMs, CALC bandwidth;
- ``scalesim/topology.csv``: ResNet-18's convolutions and classifier as SCALE-Sim conv rows (padding
  folded into the input size, since SCALE-Sim does not pad; the classifier as a 1×1 convolution);
- ``scalesim/gemms.csv``: a GEMM topology (``-i gemm``): BERT-base's four GEMM shapes at sequence
  128, the last also with 2:4 weights (SCALE-Sim's N:M sparsity column);
- ``big_space.yaml``: a 34,560-point ResNet-50 design space for ``accelsim dse --budget`` (NSGA-II).

``--weights WORKLOAD FILE`` writes seeded random float32 weights (He-normal) for every conv2d and
linear layer of a bundled workload, keyed ``<layer>.weight`` as ``accelsim compress`` and
``accelsim simulate --tensors`` read them (docs/compression.md). It is not committed: ResNet-50's
25.5 M weights make a ~100 MB file. The zero pattern of real trained weights is what ``--tensors``
is for; these only stand in for them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

SCALE_CFG = """\
[general]
run_name = resnet18_32x32_os

[architecture_presets]
ArrayHeight: 32
ArrayWidth: 32
IfmapSramSzkB: 64
FilterSramSzkB: 64
OfmapSramSzkB: 64
IfmapOffset: 0
FilterOffset: 10000000
OfmapOffset: 20000000
Bandwidth : 10
Dataflow : os
ReadRequestBuffer: 32
WriteRequestBuffer: 32

[layout]
IfmapCustomLayout: False
IfmapSRAMBankBandwidth: 10
IfmapSRAMBankNum: 1
IfmapSRAMBankPort: 2
FilterCustomLayout: False
FilterSRAMBankBandwidth: 10
FilterSRAMBankNum: 1
FilterSRAMBankPort: 2

[sparsity]
SparsitySupport : false
SparseRep : ellpack_block
OptimizedMapping : false
BlockSize : 4
RandomNumberGeneratorSeed : 40

[run_presets]
InterfaceBandwidth: CALC
UseRamulatorTrace: False
"""

# BERT-base at sequence 128: QKV/output projections, FFN up and down (M = tokens, N = out, K = in)
GEMMS = [("qkv_proj", 128, 768, 768, "1:1"), ("ffn_up", 128, 3072, 768, "1:1"),
         ("ffn_down", 128, 768, 3072, "1:1"), ("ffn_down_2of4", 128, 768, 3072, "2:4")]

BIG_SPACE = """\
# A large ResNet-50 design space (6·6·5·4·3·2·2·2·2 = 34,560 points) for NSGA-II:
#   accelsim dse resnet50 examples/big_space.yaml -o runs/big --budget 2000 --seed 1
# Written by examples/make_examples.py.
version: 1
axes:
  rows: [8, 16, 32, 64, 128, 256]
  cols: [8, 16, 32, 64, 128, 256]
  memory.dram_bytes_per_cycle: [4, 8, 16, 32, 64]
  memory.ifmap_kib: [64, 256, 1024, 4096]
  dataflow: [ws, os, is]
  double_buffered: [true, false]
  workload.weight_bits: [4, 8]
  sparse: [none, gate]
  workload.weight_sparsity: [0.5, 1.0]
"""


def write_examples(folder: Path = HERE) -> list[Path]:
    from accelsim.scalesim.inputs import topology_rows
    from accelsim.workload import resolve_workload

    scalesim = folder / "scalesim"
    scalesim.mkdir(parents=True, exist_ok=True)
    files = {
        scalesim / "scale.cfg": SCALE_CFG,
        scalesim / "topology.csv": "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, "
                                   "Channels, Num Filter, Strides,\n"
                                   + "\n".join(topology_rows(resolve_workload("resnet18"))) + "\n",
        scalesim / "gemms.csv": "Layer, M, N, K, Sparsity,\n"
                                + "".join(f"{n}, {m}, {nn}, {k}, {s},\n" for n, m, nn, k, s in GEMMS),
        folder / "big_space.yaml": BIG_SPACE,
    }
    for path, text in files.items():
        path.write_text(text)
    return list(files)


def write_weights(workload: str, path: Path, seed: int = 0) -> int:
    """Seeded He-normal float32 weights for every conv2d/linear layer; returns the weight count."""
    import numpy as np

    from accelsim.tensors import save_tensors, weight_shape
    from accelsim.workload import resolve_workload

    rng = np.random.default_rng(seed)
    tensors = {}
    for layer in resolve_workload(workload):
        if layer.kind in ("conv2d", "linear"):
            shape = weight_shape(layer)
            fan_in = int(np.prod(shape[1:]))
            tensors[f"{layer.name}.weight"] = (rng.standard_normal(shape, dtype=np.float32)
                                               * np.float32(np.sqrt(2.0 / fan_in)))
    save_tensors(path, tensors)
    return sum(t.size for t in tensors.values())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", nargs=2, metavar=("WORKLOAD", "FILE"),
                        help="write random float weights of a bundled workload to FILE (.npz) instead")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.weights:
        workload, file = args.weights
        n = write_weights(workload, Path(file), args.seed)
        print(f"wrote {file}: {n:,} random weights of {workload}")
        return 0
    for path in write_examples():
        print(f"wrote {path.relative_to(HERE.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
