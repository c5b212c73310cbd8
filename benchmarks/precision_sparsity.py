"""What precision and sparsity buy on a 32×32 weight-stationary array: the table in docs/sparsity.md.

    python benchmarks/precision_sparsity.py            # the table (markdown) and the speed figures

ResNet-50 and BERT-base (sequence 128) on ``sa32`` with the ``ws`` dataflow. The "real pruned
tensors" rows use seeded random weights pruned by magnitude with :mod:`accelsim.compress`
(the zero *pattern* is what matters to the array; nothing is downloaded). Speed: median of 5 runs
of the command line, process start included, on a shared machine (expect ±30% noise).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from accelsim.arch import resolve_arch
from accelsim.compress import prune_magnitude
from accelsim.mapping import load_dataflow
from accelsim.sim import simulate
from accelsim.tensors import save_tensors, weight_matrix, weight_shape
from accelsim.workload.graph import LayerGraph
from accelsim.workload.layer import Layer
from accelsim.workload.yamlio import resolve_workload

WORKLOADS = ("resnet50", "bert_base_s128")


def with_layers(graph: LayerGraph, **changes) -> LayerGraph:
    """Every GEMM layer changed; weight properties only where there are weights (not attention matmuls)."""
    out = LayerGraph(graph.name, graph.inputs, meta=graph.meta)
    for layer in graph:
        if layer.kind in ("conv2d", "linear") or (layer.gemm is not None and not any(k.startswith("weight") for k in changes)):
            layer = Layer.from_dict(layer.to_dict() | changes)
        out.add(layer, graph.sources(layer.name))
    return out


def pruned_weights(graph: LayerGraph, density: float, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {f"{layer.name}.weight": prune_magnitude(rng.standard_normal(weight_shape(layer)).astype(np.float32),
                                                   density)
            for layer in graph if layer.kind in ("conv2d", "linear")}


def rows(name: str):
    base, arch, ws = resolve_workload(name), resolve_arch("sa32"), load_dataflow("ws")
    half = pruned_weights(base, 0.5)
    operands = {key[:-len(".weight")]: {"W": weight_matrix(base[key[:-len(".weight")]], w)} for key, w in half.items()}
    cases = [
        ("dense int8", base, arch, None),
        ("int4 weights", with_layers(base, weight_type="int4"), arch, None),
        ("2:4 int8 (N:M PEs)", with_layers(base, weight_structure="2:4"), arch.with_changes(weight_nm="2:4"), None),
        ("50% int8, gating (tensors)", base, arch.with_changes(sparse="gate"), operands),
        ("50% int8, skipping (tensors)", base, arch.with_changes(sparse="skip"), operands),
        ("bit-serial, 4-bit inputs", with_layers(base, input_type="int4"), arch.with_changes(pe_style="bit-serial"), None),
        ("bit-serial, 8-bit inputs", base, arch.with_changes(pe_style="bit-serial"), None),
        ("fusible, int4 in and weights", with_layers(base, input_type="int4", weight_type="int4"),
         arch.with_changes(pe_style="fusible"), None),
    ]
    for label, graph, a, ops in cases:
        d = simulate(graph, a, ws, tensors=ops).to_dict()
        yield [name, label, d["total_cycles"], d["dense_cycles"], d["dram_bytes"], d["dram_metadata_bytes"],
               d["issued_macs"], d["gated_macs"], d["skipped_macs"]]


def median_seconds(cmd: list[str], runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    head = ["workload", "case", "cycles", "dense cycles", "DRAM values B", "DRAM metadata B",
            "MACs issued", "MACs gated", "MACs skipped"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for name in WORKLOADS:
        for row in rows(name):
            print("| " + " | ".join(f"{v:,}" if isinstance(v, int) else v for v in row) + " |")
    exe = [sys.executable, "-m", "accelsim"]
    with tempfile.TemporaryDirectory() as tmp:
        npz = Path(tmp) / "w.npz"
        save_tensors(npz, pruned_weights(resolve_workload("resnet50"), 0.5))
        described = median_seconds([*exe, "simulate", "resnet50", "--weight-sparsity", "0.5", "--sparse", "skip"])
        real = median_seconds([*exe, "simulate", "resnet50", "--tensors", str(npz), "--sparse", "skip"])
    print(f"\nResNet-50, fast engine, process start included (median of 5): density description "
          f"{described:.2f} s (goal < 0.5 s); real tensors for every layer {real:.2f} s (goal < 5 s)")


if __name__ == "__main__":
    main()
