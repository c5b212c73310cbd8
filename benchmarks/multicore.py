"""Systems of cores (issue 18): scaling, per-layer overlap savings, whole-process time.

    python benchmarks/multicore.py                       # all three parts (about 15 s on 2 cores)
    python benchmarks/multicore.py --only scaling        # or overlap, cli (comma-separated)
    python benchmarks/multicore.py --stream-python /path/to/python3.12   # also time the Stream peer

**scaling**: ResNet-50 and BERT-base (sequence 128) on 1, 2, 4 and 16 identical ``sa32`` or ``sa128``
cores (``SystemConfig(cores=(arch,) * n)``, no global buffer, no dedicated network links, so a K split's
partial sums are reduced through DRAM), with DRAM either *shared* (fixed at the one-core preset's
bandwidth, so each core gets ``1/n`` of it) or *scaled* (``n`` times the preset's). For both schedules:
cycles, speed-up over one core of the same schedule, parallel efficiency (speed-up / n) and where the
cycles go. ``compute ×`` is the speed-up of the compute alone (the layers' ``phases.compute`` summed),
flagged with ``!`` if it ever exceeds ``n``. ``compute %`` is the layers' compute on the arrays and
vector units (``phases.compute``); ``DRAM %`` the rest of their phases (the body's cycles beyond
compute, ``body − compute``, plus the first-operand loads, latency and last write, and the K split's
reduction, which these systems without dedicated links run through DRAM). For the sequential schedule
the phases add up to the cycles exactly; for the overlapped one ``DRAM %`` is what overlap left exposed
(cycles minus compute). ``DRAM MB``, ``array util`` (MACs / (array compute cycles × the PEs of all ``n``
cores)), ``splits M/N/K/1`` (array layers split along M, N or K, or run whole on one core) and ``cores
used`` (the mean over array layers of the cores a layer uses) are the sequential schedule's. Every layer
holds every core (and so all of DRAM); it may use 1, 2, 4 … of them, the idle ones' share of DRAM going
to the used ones, and its phases are its slowest used core's.

**overlap**: what the overlapped schedule saved per layer against the sequential one (each layer alone
on every core, every activation through DRAM): ResNet-50 (batch 1) on one ``sa128`` and on ``tpuv4-tc``;
a LLaMA-7B decode block on ``tpuv4-tc`` and on ``sa128``; ResNet-50 on ``npu4-edge`` (DRAM latency and a
global buffer). ``split × cores`` is a layer's split and the cores it uses (of the ones it
holds). ``on chip`` is the part of the saving from activations kept on chip (the layer's phases with its
input or output on chip against all through DRAM), ``hidden`` the rest (its first weights, DRAM latency
or last write overlapped with other layers' work).

**cli**: whole-process wall time of ``accelsim simulate resnet18 --arch tpuv4-tc`` (median of
``--runs`` subprocess runs), also with ``--timeline``. ``--stream-python`` times the Stream peer
(stream-dse, which needs Python ≥ 3.12; its ``evaluate_mapping`` on its ``tpu_like_quad_core``
example with ResNet-18 written as ONNX here) for comparison; make one with
``python3.12 -m venv ~/stream312 && ~/stream312/bin/pip install stream-dse==2.1.1 six``.

Times are medians on a shared 2-core machine: other processes move them by tens of percent.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass

from accelsim.arch import resolve_arch, resolve_system
from accelsim.arch.presets import SYSTEM_PRESETS
from accelsim.arch.system import Dram, SystemConfig
from accelsim.schedule.schedule import SystemResult, run_system
from accelsim.workload import resolve_workload

NETWORKS = ("resnet50", "bert_base_s128")
ARRAYS = ("sa32", "sa128")
CORES = (1, 2, 4, 16)
PARTS = ("scaling", "overlap", "cli")
OVERLAP_CASES = (("resnet50", "sa128"), ("resnet50", "tpuv4-tc"),
                 ("llama7b_block_decode", "tpuv4-tc"), ("llama7b_block_decode", "sa128"))
CLI = ("simulate", "resnet18", "--arch", "tpuv4-tc")
NOISE = "medians on a shared 2-core machine: other processes move single runs by tens of percent"


# -- scaling -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Shares:
    """Where a schedule's cycles go (fractions of its cycles)."""

    compute: float
    dram: float  # includes the K split's reduction when it runs through memory (no dedicated links)
    reduce: float


def shares(result: SystemResult) -> Shares:
    """Compute, DRAM and reduction shares of ``result``'s cycles (see the module docstring)."""
    compute = sum(t.phases.compute for t in result.layers)
    reduce = sum(t.phases.reduce for t in result.layers)
    network = 0 if not result.system.network.has_links else reduce  # else the reduction is DRAM traffic
    cycles = result.cycles or 1
    if result.mode == "sequential":
        dram = sum(t.phases.sequential - t.phases.compute for t in result.layers) - network
    else:
        dram = max(0, result.cycles - compute - network)
    return Shares(compute / cycles, dram / cycles, reduce / cycles)


def system_of(array: str, n: int, scaled: bool) -> SystemConfig:
    arch = resolve_arch(array)
    if n == 1:
        return SystemConfig.single(arch)
    bw = arch.memory.dram_bytes_per_cycle * (n if scaled else 1)
    return SystemConfig(name=f"{n}x{array}-{'scaled' if scaled else 'shared'}", cores=(arch,) * n, dram=Dram(bw))


def compute_cycles(result: SystemResult) -> int:
    """The layers' compute on the arrays and vector units (each layer's slowest used core)."""
    return sum(t.phases.compute for t in result.layers)


def cores_used(result: SystemResult) -> float:
    """The mean over array layers of the cores a layer uses (of the ``n`` it holds)."""
    used = [len(t.cores) for t in result.layers if t.unit == "array"]
    return sum(used) / len(used) if used else 0.0


def array_util(result: SystemResult, n: int) -> float:
    compute = sum(t.phases.compute for t in result.layers if t.unit == "array")
    return result.macs / (compute * result.system.cores[0].pes * n) if compute else 0.0


def scaling() -> None:
    print("## Scaling: 1, 2, 4, 16 identical cores, DRAM shared (fixed) or scaled with the cores\n")
    for network in NETWORKS:
        graph = resolve_workload(network)
        print(f"### {network} ({graph.macs / 1e9:.2f} GMACs)\n")
        print("| array | DRAM | cores | B/cycle | seq cycles | seq × | seq eff | compute × | seq compute % "
              "| seq DRAM % | ovl cycles | ovl × | ovl eff | ovl compute % | ovl DRAM % | DRAM MB | array util "
              "| splits M/N/K/1 | cores used |")
        print("|---" * 19 + "|")
        notes = []
        for array in ARRAYS:
            base: dict[str, int] = {}
            rows: dict[tuple[bool, int], tuple] = {}
            for scaled in (False, True):
                for n in CORES:
                    if n == 1 and scaled:
                        rows[True, 1] = rows[False, 1]
                        continue
                    system = system_of(array, n, scaled)
                    seq = run_system(graph, system, schedule="sequential", energy_table=None)
                    ovl = run_system(graph, system, schedule="overlap", energy_table=None)
                    if n == 1:
                        base = {"sequential": seq.cycles, "overlap": ovl.cycles, "compute": compute_cycles(seq)}
                    if any(len(t.reserved or t.cores) != n for t in (*seq.layers, *ovl.layers)):
                        raise AssertionError(f"{network} {system.name}: a layer holds part of the system; "
                                             "the shares assume every layer holds every core")
                    rows[scaled, n] = (system, seq, ovl)
                    s, o = shares(seq), shares(ovl)
                    xs, xo = base["sequential"] / seq.cycles, base["overlap"] / ovl.cycles
                    xc = base["compute"] / compute_cycles(seq)
                    splits = Counter(t.split if len(t.cores) > 1 else "1" for t in seq.layers if t.unit == "array")
                    regime = "-" if n == 1 else ("scaled" if scaled else "shared")
                    print(f"| {array} | {regime} | {n} | {system.dram.bytes_per_cycle:g} | {seq.cycles:,} | "
                          f"{xs:.2f} | {xs / n:.0%} | {xc:.2f}{'!' if xc > n else ''} | "
                          f"{100 * s.compute:.0f} | {100 * s.dram:.0f} | "
                          f"{ovl.cycles:,} | {xo:.2f} | {xo / n:.0%} | {100 * o.compute:.0f} | {100 * o.dram:.0f} | "
                          f"{seq.dram_bytes / 1e6:.1f} | {array_util(seq, n):.2f} | "
                          f"{splits['M']}/{splits['N']}/{splits['K']}/{splits['1']} | "
                          f"{cores_used(seq):.2f} |")
            for scaled in (False, True):
                _, one, _ = rows[scaled, 1]
                _, four, _ = rows[scaled, 4]
                _, sixteen, _ = rows[scaled, 16]
                notes.append(
                    f"- {array}, DRAM {'scaled' if scaled else 'shared'}: sequential 4 → 16 cores gains "
                    f"{four.cycles / sixteen.cycles:.2f}× (of 4×); DRAM-bound share 1 / 4 / 16 cores "
                    f"{shares(one).dram:.0%} / {shares(four).dram:.0%} / {shares(sixteen).dram:.0%}; "
                    f"DRAM bytes at 16 cores {sixteen.dram_bytes / one.dram_bytes:.2f}× one core's; "
                    f"array utilisation {array_util(one, 1):.2f} → {array_util(sixteen, 16):.2f}; "
                    f"K-split reductions at 4 / 16 cores {shares(four).reduce:.1%} / {shares(sixteen).reduce:.1%} "
                    f"of the cycles; cores used per array layer at 4 / 16 cores {cores_used(four):.2f} / "
                    f"{cores_used(sixteen):.2f}")
        print()
        print("\n".join(notes))
        print()


# -- overlap -----------------------------------------------------------------------------------------
def overlap(top: int = 10) -> None:
    """The ``top`` layers by saved cycles (those that saved any) and the total, per case."""
    print("## Overlap: what the overlapped schedule saved per layer (against the sequential one)\n")
    cases = list(OVERLAP_CASES)
    if "npu4-edge" in SYSTEM_PRESETS:  # DRAM latency and a global buffer: the two savings the others lack
        cases.append(("resnet50", "npu4-edge"))
    for network, arch in cases:
        system = resolve_system(arch)
        result = run_system(resolve_workload(network), system, schedule="overlap", energy_table=None)
        on_chip = sum(t.sequential_cycles - t.phases.sequential for t in result.layers)
        kept = sum(t.output_on_chip for t in result.layers)
        arrays = sum(t.unit == "array" for t in result.layers)
        print(f"### {network} on {arch} ({len(system.cores)} core{'s' * (len(system.cores) > 1)})\n")
        print(f"sequential {result.sequential_cycles:,} → overlap {result.cycles:,} cycles: saved "
              f"{result.saved_cycles:,} ({result.saved_cycles / result.sequential_cycles:.2%}); of which on chip "
              f"{on_chip:,}, hidden {result.saved_cycles - on_chip:,}; {kept} of {arrays} array layers keep "
              f"their output on chip\n")
        print("| layer | split × cores | alone | critical | saved | on chip | hidden | in/out on chip | first weights "
              "| latency |")
        print("|---" * 10 + "|")
        saving = sorted((t for t in result.layers if t.saved_cycles), key=lambda t: (-t.saved_cycles, t.name))
        for t in saving[:top]:
            chip = t.sequential_cycles - t.phases.sequential
            flags = f"{'in' if t.input_on_chip else '-'}/{'out' if t.output_on_chip else '-'}"
            where = f"{t.split or '-'} × {len(t.cores)}" if len(system.cores) > 1 else "-"
            print(f"| {t.name} | {where} | {t.sequential_cycles:,} | {t.critical_cycles:,} | "
                  f"{t.saved_cycles:,} | {chip:,} | {t.saved_cycles - chip:,} | {flags} | "
                  f"{t.phases.weights_first:,} | {t.phases.latency:,} |")
        print(f"| total ({len(result.layers)} layers, {len(saving)} saving) | | {result.sequential_cycles:,} | "
              f"{result.cycles:,} | "
              f"{result.saved_cycles:,} | {on_chip:,} | {result.saved_cycles - on_chip:,} | | | |\n")


# -- whole-process time ------------------------------------------------------------------------------
def timed(cmd: list[str], runs: int, env: dict[str, str] | None = None) -> list[float]:
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=env)
        out.append(time.perf_counter() - t)
    return out


def spread(times: list[float]) -> str:
    return f"median {statistics.median(times):.2f} s (min {min(times):.2f}, max {max(times):.2f}, {len(times)} runs)"


STREAM_ONNX = '''
import numpy as np, onnx, sys
from onnx import TensorProto, helper, shape_inference
nodes, inits = [], []
def w(name, shape):
    inits.append(helper.make_tensor(name, TensorProto.FLOAT, shape, np.zeros(shape, np.float32).ravel()))
    return name
def conv(x, cin, cout, k, s, name):
    nodes.append(helper.make_node("Conv", [x, w(name + ".w", [cout, cin, k, k])], [name], kernel_shape=[k, k],
                                  strides=[s, s], pads=[k // 2] * 4, name=name))
    return name
def relu(x, name):
    nodes.append(helper.make_node("Relu", [x], [name], name=name))
    return name
x = relu(conv("input", 3, 64, 7, 2, "conv1"), "relu1")
nodes.append(helper.make_node("MaxPool", [x], ["maxpool"], kernel_shape=[3, 3], strides=[2, 2], pads=[1] * 4,
                              name="maxpool"))
x, cin = "maxpool", 64
for li, (c, s) in enumerate([(64, 1), (128, 2), (256, 2), (512, 2)], 1):
    for b in range(2):
        st, p = (s if b == 0 else 1), f"layer{li}.{b}"
        y = conv(relu(conv(x, cin, c, 3, st, p + ".conv1"), p + ".relu1"), c, c, 3, 1, p + ".conv2")
        sc = conv(x, cin, c, 1, st, p + ".downsample") if (st != 1 or cin != c) else x
        nodes.append(helper.make_node("Add", [y, sc], [p + ".add"], name=p + ".add"))
        x, cin = relu(p + ".add", p + ".relu2"), c
nodes.append(helper.make_node("GlobalAveragePool", [x], ["gap"], name="gap"))
nodes.append(helper.make_node("Flatten", ["gap"], ["flat"], name="flat"))
nodes.append(helper.make_node("Gemm", ["flat", w("fc.w", [1000, 512])], ["output"], transB=1, name="fc"))
graph = helper.make_graph(nodes, "resnet18",
                          [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 224, 224])],
                          [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 1000])], inits)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
onnx.save(shape_inference.infer_shapes(model), sys.argv[1])
'''

STREAM_RUN = '''
import logging, os, sys
logging.disable(logging.WARNING)
import stream
from stream.api import SolveOptions, evaluate_mapping
hw = os.path.join(os.path.dirname(stream.__file__), "inputs/examples/hardware/tpu_like_quad_core.yaml")
est = evaluate_mapping(hw, sys.argv[1], sys.argv[2], options=SolveOptions(artifacts=False))
print(f"{est.cycles:.0f} cycles in {len(est.group_cycles)} fused groups")
'''


def stream_peer(python: str, runs: int) -> None:
    """Stream's ResNet-18 on its quad-core TPU-like example, whole process, ``runs`` times."""
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = os.path.join(tmp, "resnet18.onnx")
        subprocess.run([python, "-c", STREAM_ONNX, onnx_path], check=True)
        version = subprocess.run([python, "-c", "import importlib.metadata as m; print(m.version('stream-dse'))"],
                                 check=True, capture_output=True, text=True).stdout.strip()
        times, answer = [], ""
        for i in range(runs):
            t = time.perf_counter()
            done = subprocess.run([python, "-c", STREAM_RUN, onnx_path, os.path.join(tmp, f"out{i}")], check=True,
                                  capture_output=True, text=True)
            times.append(time.perf_counter() - t)
            answer = done.stdout.strip().splitlines()[-1]
        print(f"Stream {version} (measured here): evaluate_mapping(tpu_like_quad_core, resnet18.onnx): "
              f"{spread(times)}; {answer}")


def cli(runs: int, stream_python: str | None, stream_runs: int) -> None:
    print("## Whole-process time\n")
    exe = shutil.which("accelsim")
    base = [exe] if exe else [sys.executable, "-m", "accelsim"]
    timed(base + list(CLI), 1)  # warm the file cache and bytecode
    print(f"`accelsim {' '.join(CLI)}`: {spread(timed(base + list(CLI), runs))}")
    with tempfile.TemporaryDirectory() as tmp:
        trace = os.path.join(tmp, "resnet18.json")
        times = timed(base + [*CLI, "--timeline", trace, "--force"], runs)
        print(f"`accelsim {' '.join(CLI)} --timeline FILE.json`: {spread(times)}")
    if stream_python:
        stream_peer(stream_python, stream_runs)
    else:
        print("Stream: not measured in this run (pass --stream-python, an interpreter ≥ 3.12 with stream-dse); "
              "issue 18 quotes ~150 s for ResNet-18 on a quad-core TPU-like design (published, not measured here)")
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"({NOISE}; load average at the end {load})\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(PARTS), help=f"comma-separated parts: {', '.join(PARTS)}")
    parser.add_argument("--runs", type=int, default=5, help="subprocess runs per whole-process time (default 5)")
    parser.add_argument("--stream-python", help="a Python ≥ 3.12 with stream-dse installed: also time Stream")
    parser.add_argument("--stream-runs", type=int, default=1, help="Stream runs (about a minute each; default 1)")
    args = parser.parse_args()
    parts = [p.strip() for p in args.only.split(",") if p.strip()]
    if unknown := [p for p in parts if p not in PARTS]:
        parser.error(f"unknown part(s) {', '.join(unknown)}: choose from {', '.join(PARTS)}")
    if args.runs < 1 or args.stream_runs < 1:
        parser.error("--runs and --stream-runs must be at least 1")
    if "scaling" in parts:
        scaling()
    if "overlap" in parts:
        overlap()
    if "cli" in parts:
        cli(args.runs, args.stream_python, args.stream_runs)


if __name__ == "__main__":
    main()
