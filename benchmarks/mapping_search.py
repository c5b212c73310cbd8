"""ResNet-18 per-layer mapping search on a TPU-like 32×32 weight-stationary array, next to ZigZag 3.9.1.

    python benchmarks/mapping_search.py [--repeats 5] [--peer-json FILE]

Runs in one go: ZigZag's ``get_hardware_performance_zigzag`` on its bundled ``tpu_like`` example
(in its own venv, ``~/.venv-zigzag``, through ``benchmarks/zigzag_peer.py``) and accelsim's full
per-layer mapping search (``accelsim.dse.batch.Batch(search=True)``: both fold loop orders × up
to four temporal chunks per layer, identical layers once) on ``benchmarks/tpu_like.yaml``. Both
are timed around the search call alone (imports and file parsing excluded on both sides), wall and
CPU, median of ``--repeats``; a fresh accelsim ``Batch`` each time, so nothing is cached between
repeats. Prints both latencies and energies per layer side by side and the speed ratio.

Then the user's whole command, issue 21's goal: ``accelsim dse resnet18 --arch sa32 -o DIR`` as a new
process (Python's start, imports, the search, the store, the CSVs, the figures and ``report.html``), and
the same with ``--no-plots``, each the median of ``--repeats`` runs interleaved with the other, wall
clock, and ZigZag's call against it (the goal: at least 100x). The command is run through the
``accelsim`` script beside this Python (a version manager's shim in front of it, e.g. pyenv's, adds its
own start-up of ~0.1 s).

``--peer-json`` reuses a saved peer run instead of running ZigZag (its figures are then not from
this run: the output says so); without ZigZag's venv, accelsim's numbers are printed and the peer is
said to be missing. docs/zigzag.md explains every difference.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))

from accelsim.arch import load_arch  # noqa: E402
from accelsim.dse.batch import Batch  # noqa: E402
from accelsim.workload import resolve_workload  # noqa: E402

PEER_PYTHON = Path.home() / ".venv-zigzag" / "bin" / "python"
COMMAND = ["dse", "resnet18", "--arch", "sa32"]  # issue 21's one-design run, figures and report.html included
PEER_MISSING = ("ZigZag's venv is missing: python3.11 -m venv ~/.venv-zigzag && "
                "~/.venv-zigzag/bin/pip install zigzag-dse==3.9.1 six")


def run_peer(repeats: int) -> list[dict]:
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(repeats):
            out = Path(tmp) / f"zigzag{i}.json"
            subprocess.run([str(PEER_PYTHON), str(ROOT / "zigzag_peer.py"), "--out", str(out)], check=True,
                           stdout=subprocess.DEVNULL)
            runs.append(json.loads(out.read_text()))
    return runs


def run_ours(repeats: int):
    graph, arch = resolve_workload("resnet18"), load_arch(str(ROOT / "tpu_like.yaml"))
    walls, cpus, result, batch = [], [], None, None
    for _ in range(repeats):
        cpu, wall = time.process_time(), time.perf_counter()
        batch = Batch(graph, arch, search=True)
        result = batch.evaluate([{}])[0]
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return walls, cpus, result, batch, graph, arch


def run_command(repeats: int) -> dict[str, list[float]]:
    """Wall seconds of each whole ``accelsim dse resnet18 --arch sa32 -o DIR`` process, with figures and
    with ``--no-plots``, the two interleaved (a shared machine's load falls on both alike)."""
    script = Path(sys.executable).with_name("accelsim")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "accelsim"]
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(ROOT.parent), os.environ.get("PYTHONPATH", "")])}
    walls: dict[str, list[float]] = {"figures": [], "no-plots": []}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(repeats):
            for kind, extra in (("figures", []), ("no-plots", ["--no-plots"])):
                out = Path(tmp) / f"{kind}{i}"
                wall = time.perf_counter()
                subprocess.run([*command, *COMMAND, "-o", str(out), *extra], check=True, env=env,
                               stdout=subprocess.DEVNULL)
                walls[kind].append(time.perf_counter() - wall)
                shutil.rmtree(out)
    return walls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--peer-json", help="a saved zigzag_peer.py output instead of running ZigZag")
    args = parser.parse_args()
    walls, cpus, ours, batch, graph, arch = run_ours(args.repeats)
    whole = {kind: statistics.median(w) for kind, w in run_command(args.repeats).items()}
    print(f"accelsim {' '.join(COMMAND)} -o DIR, whole process (median of {args.repeats}): "
          f"{whole['figures']:.2f} s with figures and report.html, {whole['no-plots']:.2f} s with --no-plots")
    if not args.peer_json and not PEER_PYTHON.exists():
        sys.exit(f"{PEER_MISSING}; no ratio to ZigZag without it")
    peers = [json.loads(Path(args.peer_json).read_text())] if args.peer_json else run_peer(args.repeats)
    peer_wall = statistics.median(p["seconds"] for p in peers)
    peer_cpu = statistics.median(p["cpu_seconds"] for p in peers)
    wall, cpu = statistics.median(walls), statistics.median(cpus)
    candidates = len(batch._plans)

    from accelsim.mapping.choice import LayerChoice
    from accelsim.sim import simulate

    choices = {name: LayerChoice.from_dict(m) for name, m in ours["mapping"].items()}
    detail = {r.name: r for r in simulate(graph, arch, choices[next(iter(choices))].dataflow, choices=choices).layers}
    peer = peers[0]
    print(f"{'layer':24} {'accelsim cycles':>15} {'ZigZag cycles':>14} {'accelsim µJ':>12} {'ZigZag µJ':>10}  accelsim mapping")
    for layer in peer["layers"]:
        name = _accelsim_name(layer["name"])
        mine = detail[name]
        m = ours["mapping"][name]
        print(f"{name:24} {mine.cycles:15,} {int(layer['latency_cycles']):14,} {mine.energy_pj / 1e6:12.2f} "
              f"{layer['energy_pj'] / 1e6:10.2f}  {m['loop_order']}{'' if m['temporal_tile'] is None else ' t' + str(m['temporal_tile'])}")
    gemm = sum(r.cycles for r in detail.values() if r.unit == "array")
    print(f"{'total (GEMM layers)':24} {gemm:15,} {int(peer['total_latency_cycles']):14,} "
          f"{sum(r.energy_pj for r in detail.values() if r.unit == 'array') / 1e6:12.2f} "
          f"{peer['total_energy_pj'] / 1e6:10.2f}")
    print(f"accelsim whole network (vector layers too): {ours['total_cycles']:,} cycles, "
          f"{ours['energy_pj'] / 1e6:,.2f} µJ")
    source = f"from {args.peer_json} (not this run)" if args.peer_json else f"this run, {len(peers)} runs"
    print(f"ZigZag {peer['zigzag_version']} ({source}): {peer_wall:.2f} s wall, {peer_cpu:.2f} s CPU; "
          f"{peer.get('mappings_evaluated') or '?':,} mappings")
    print(f"accelsim ({args.repeats} runs): {wall:.3f} s wall, {cpu:.3f} s CPU; {candidates} mappings "
          f"({len(ours['mapping'])} GEMM layers)")
    print(f"ratio: {peer_wall / wall:,.0f}x wall, {peer_cpu / cpu:,.0f}x CPU")
    print(f"whole process, figures included: ZigZag's call {peer_wall:.2f} s / accelsim's command "
          f"{whole['figures']:.2f} s = {peer_wall / whole['figures']:,.0f}x (goal: at least 100x; "
          f"{peer_wall / whole['no-plots']:,.0f}x with --no-plots)")


def _accelsim_name(onnx_name: str) -> str:
    """ZigZag's ONNX node name → accelsim's layer name.

    ``/layer1/layer1.0/conv1/Conv`` → ``layer1.0.conv1``; ``/layer2/layer2.0/downsample/downsample.0/Conv``
    → ``layer2.0.downsample``; ``/conv1/Conv`` → ``conv1``; ``/fc/Gemm`` → ``fc``.
    """
    parts = onnx_name.strip("/").split("/")[:-1]  # drop the op
    if len(parts) == 1:
        return parts[0]
    block, *rest = parts[1:]
    return f"{block}.{rest[0]}"


if __name__ == "__main__":
    main()
