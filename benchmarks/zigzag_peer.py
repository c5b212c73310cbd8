"""Time ZigZag 3.9.1's mapping search on its bundled ``tpu_like`` example (ResNet-18) and dump what it found.

Runs INSIDE ZigZag's own venv (it does not import accelsim):

    python3.11 -m venv ~/.venv-zigzag
    ~/.venv-zigzag/bin/pip install zigzag-dse==3.9.1 six      # six: an undeclared dependency of 3.9.1
    ~/.venv-zigzag/bin/python benchmarks/zigzag_peer.py --out /tmp/zigzag.json

The timed call is ZigZag's documented entry point with the bundled inputs and its defaults
(LOMA temporal-mapping search, ``lpf_limit=6``, uneven mappings, ``opt="latency"``), in one process
and one thread (LOMA is sequential; BLAS threads are pinned to 1 before numpy is imported):

    get_hardware_performance_zigzag(
        "<site-packages>/zigzag/inputs/workload/resnet18.onnx",
        "<site-packages>/zigzag/inputs/hardware/tpu_like.yaml",
        "<site-packages>/zigzag/inputs/mapping/tpu_like.yaml",
        dump_folder=<temp dir>, loma_show_progress_bar=False)

Only display switches differ from the defaults: no tqdm bar, ZigZag's INFO log off (``--verbose``
turns it on). ``seconds`` is the wall clock (``time.perf_counter``) of that one call: ONNX and
accelerator parsing, the search over every layer, and ZigZag's own result files (JSON, pickle,
loop-ordering text, a PNG), which go to a temporary folder that is deleted afterwards. Nothing is
written outside that folder and ``--out`` (matplotlib's cache is pointed at the temporary folder too).

Counting: a thin wrapper around ``CostModelStage.run`` counts the cost-model evaluations (one per
temporal mapping LOMA yields) per layer, and one around ``LomaEngine.compute_nb_permutations``
records the loop prime factors LOMA permutes and how many orderings that makes (orderings whose
allocation does not fit the memories are dropped before evaluation). The wrappers add one dict
update per mapping (microseconds against milliseconds per evaluation); ``--no-count`` removes them.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"  # single-threaded, before numpy is imported (by zigzag)

import argparse
import json
import logging
import math
import platform
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

EXAMPLE = {
    "workload": "inputs/workload/resnet18.onnx",
    "accelerator": "inputs/hardware/tpu_like.yaml",
    "mapping": "inputs/mapping/tpu_like.yaml",
}


def _num(x: Any) -> Any:
    """Plain JSON numbers (ZigZag mixes numpy scalars, ints and floats)."""
    if isinstance(x, bool) or x is None:
        return x
    try:
        f = float(x)
    except (TypeError, ValueError):
        return str(x)
    if math.isfinite(f) and f == int(f) and abs(f) < 2**63:
        return int(f)
    return f


def _loops(loops) -> str:
    """``[(K, 2), (OX, 112)]`` -> ``"K2 OX112"``."""
    return " ".join(f"{dim}{_num(size)}" for dim, size in loops)


def accelerator_summary(acc, layer) -> dict[str, Any]:
    """Array size, precisions and memory levels (sizes, bandwidths, energy per access) of ZigZag's accelerator."""
    oa = acc.operational_array
    links = layer.memory_operand_links
    levels = []
    for ml in acc.memory_hierarchy.mem_level_list:
        mi = ml.memory_instance
        operands = {}
        for mem_op in ml.operands:
            layer_op = links.mem_to_layer_op(mem_op) if links.contains_mem_op(mem_op) else None
            bw_max = {d.value: _num(v) for d, v in ml.bandwidths_max[mem_op].items() if v is not None}
            bw_min = {d.value: _num(v) for d, v in ml.bandwidths_min[mem_op].items() if v is not None}
            operands[str(mem_op)] = {"layer_operand": str(layer_op) if layer_op is not None else None,
                                     "bandwidth_max_bits_per_cycle": bw_max,
                                     "bandwidth_min_bits_per_cycle": bw_min}
        levels.append({
            "name": ml.name,
            "size_bits": _num(mi.size),
            "size_bytes": _num(mi.size / 8),
            "instances": _num(ml.unroll_count),
            "total_bytes": _num(mi.size * ml.unroll_count / 8),
            "served_dimensions": sorted(str(d) for d in ml.served_dimensions),
            "read_pj_per_access": _num(mi.r_cost),
            "write_pj_per_access": _num(mi.w_cost),
            "latency_cycles": _num(mi.latency),
            "operands": operands,
        })
    return {
        "name": acc.name,
        "array": {str(d): _num(s) for d, s in oa.dimension_sizes.items()},
        "systolic_dimensions": [str(d) for d in getattr(oa, "systolic_dimensions", []) or []],
        "mac_pj": _num(oa.unit.energy_cost),
        "operand_precision_bits": {str(k): _num(v) for k, v in layer.operand_precision.data.items()},
        "memory_operand_links": {str(k): str(links.layer_to_mem_op(k)) for k in layer.layer_operands},
        "memory_levels": levels,
        "note": "sizes in ZigZag's yaml are bits per instance; bandwidths bits per cycle; energies pJ per access "
                "of bandwidth_max bits (ZigZag counts accesses in units of the port width)",
    }


def gemm_view(layer) -> dict[str, int]:
    """The layer as one GEMM O[M×N] = I[M×K]·W[K×N] (accelsim's view), from ZigZag's loop sizes."""
    s = {str(d): int(v) for d, v in layer.layer_dim_sizes.items()}
    if "OX" in s:  # conv: O[b][g][k][oy][ox] += W[g][k][c][fy][fx] * I[b][g][c][iy][ix]
        return {"M": s.get("B", 1) * s["OX"] * s["OY"], "N": s["K"],
                "K": s["C"] * s.get("FX", 1) * s.get("FY", 1), "groups": s.get("G", 1)}
    return {"M": s.get("D", 1) * s.get("B", 1) * s.get("H", 1), "N": s["K"], "K": s["C"], "groups": 1}


def layer_record(cme, counts: dict, loma: dict) -> dict[str, Any]:
    layer = cme.layer
    tm = cme.temporal_mapping.mapping_dic_origin  # {operand: [loops per memory level, innermost level first]}
    any_op = next(iter(tm))
    order = [loop for level in tm[any_op] for loop in level]  # innermost first
    allocation = {}
    for layer_op, per_level in tm.items():
        mem_op = layer.memory_operand_links.layer_to_mem_op(layer_op)
        names = [ml.name for ml in cme.accelerator.memory_hierarchy.get_memory_levels(mem_op)]
        allocation[str(layer_op)] = {name: _loops(reversed(loops)) for name, loops in zip(names, per_level) if loops}
    breakdown = {}
    for layer_op, per_level in cme.mem_energy_breakdown.items():
        mem_op = layer.memory_operand_links.layer_to_mem_op(layer_op)
        names = [ml.name for ml in cme.accelerator.memory_hierarchy.get_memory_levels(mem_op)]
        breakdown[str(layer_op)] = {name: _num(e) for name, e in zip(names, per_level)}
    accesses, dram_bytes = {}, {}
    for layer_op, per_level in cme.memory_word_access.items():
        mem_op = layer.memory_operand_links.layer_to_mem_op(layer_op)
        levels = cme.accelerator.memory_hierarchy.get_memory_levels(mem_op)
        accesses[str(layer_op)] = {ml.name: {d.value: _num(n) for d, n in acc.data.items()}
                                   for ml, acc in zip(levels, per_level)}
        for ml, acc in zip(levels, per_level):
            if ml.name == "dram":  # one access moves the port's bandwidth_max bits
                dram_bytes[str(layer_op)] = _num(sum(n * (ml.get_max_bandwidth(mem_op, d) or 0)
                                                     for d, n in acc.data.items()) / 8)
    sm = layer.spatial_mapping  # what the mapping file asked for: {D1: {K: 32}, D2: {C: 32}}
    # What was applied: clipped to the layer's sizes, fractional when a size is not a multiple of the
    # unrolling (ZigZag's greedy mapping: fc's K = 1000 runs as 32 temporal steps of 31.25 on D1).
    applied = next(iter(cme.spatial_mapping.mapping_dict_origin.values()))
    applied_loops = [loop for level in applied for loop in level]
    rec = {
        "name": layer.name,
        "type": layer.type,
        "loops": {str(d): int(v) for d, v in layer.layer_dim_sizes.items()},
        "gemm": gemm_view(layer),
        "dimension_relations": [str(r) for r in layer.dimension_relations],
        "padding": {str(k): list(v) for k, v in getattr(layer.padding, "data", {}).items()},
        "macs": _num(layer.total_mac_count),
        "latency_cycles": _num(cme.latency_total2),
        "latency": {
            "ideal_cycles": _num(cme.ideal_cycle),  # MACs / PEs
            "temporal_cycles": _num(cme.ideal_temporal_cycle),  # product of the temporal loops (spatial under-use)
            "stall_cycles": _num(cme.stall_slack_comb),
            "onloading_cycles": _num(cme.data_onloading_cycle),
            "offloading_cycles": _num(cme.data_offloading_cycle),
            # once per layer: (unrolling - 1) along each systolic dimension; 31 + 31 on tpu_like
            "systolic_drain_cycles": _num(getattr(cme, "systolic_drain_cycle", 0)),
        },
        "energy_pj": _num(cme.energy_total),
        "mac_energy_pj": _num(cme.mac_energy),
        "memory_energy_pj": _num(cme.mem_energy),
        "memory_energy_pj_by_operand_level": breakdown,
        "memory_word_accesses": accesses,  # per operand, memory level, direction (units of bandwidth_max bits)
        "dram_bytes": dram_bytes,
        "spatial_mapping": str(sm),
        "spatial_mapping_applied": _loops(applied_loops),
        "temporal_mapping": _loops(reversed(order)),  # outermost first
        "temporal_allocation": allocation,  # per operand: memory level -> its loops, outermost first
        "spatial_utilization": _num(cme.ideal_cycle / cme.ideal_temporal_cycle),
    }
    if counts:
        rec["mappings_evaluated"] = counts.get(layer.name, 0)
    if layer.name in loma:
        rec["loma"] = loma[layer.name]
    return rec


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="JSON file to write (its folder must exist)")
    ap.add_argument("--no-count", action="store_true", help="do not count evaluated mappings (no wrappers)")
    ap.add_argument("--verbose", action="store_true", help="show ZigZag's INFO log and LOMA's progress bars")
    args = ap.parse_args(argv)
    out = Path(args.out).resolve()
    if not out.parent.is_dir():
        ap.error(f"--out: folder {out.parent} does not exist")

    tmp = Path(tempfile.mkdtemp(prefix="zigzag_peer_"))
    old_cwd = os.getcwd()
    try:
        os.environ["MPLCONFIGDIR"] = str(tmp / "mpl")  # matplotlib would otherwise write ~/.cache/matplotlib
        os.environ["MPLBACKEND"] = "Agg"
        os.chdir(tmp)  # anything ZigZag writes relative to the working directory stays in the temp dir
        logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)  # api.py's own basicConfig
        t0 = time.perf_counter()                                                       # is then a no-op
        import zigzag
        from zigzag.api import get_hardware_performance_zigzag
        import_seconds = time.perf_counter() - t0
        from importlib.metadata import PackageNotFoundError, version
        try:
            zz_version = version("zigzag-dse")
        except PackageNotFoundError:  # e.g. run from a source checkout
            zz_version = getattr(zigzag, "__version__", "unknown")
        root = Path(zigzag.__file__).parent
        inputs = {k: str(root / v) for k, v in EXAMPLE.items()}

        counts: Counter = Counter()
        loma: dict[str, dict] = {}
        if not args.no_count:
            from zigzag.opt.loma.engine import LomaEngine
            from zigzag.stages.evaluation.cost_model_evaluation import CostModelStage

            run = CostModelStage.run

            def counted_run(self):
                counts[self.layer.name] += 1
                return run(self)

            nb_perm = LomaEngine.compute_nb_permutations

            def recorded_nb_permutations(self):
                nb_perm(self)
                loma[self.layer.name] = {"lpfs": _loops(self.lpfs), "orderings": int(self.nb_permutations)}

            CostModelStage.run = counted_run
            LomaEngine.compute_nb_permutations = recorded_nb_permutations

        dump = tmp / "outputs"
        cpu_start, start = time.process_time(), time.perf_counter()
        energy, latency, cmes = get_hardware_performance_zigzag(
            inputs["workload"], inputs["accelerator"], inputs["mapping"],
            dump_folder=str(dump), loma_show_progress_bar=args.verbose)
        seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start

        per_layer = [cme for cme, _ in cmes[0][1]]
        layers = [layer_record(cme, counts, loma) for cme in per_layer]
        result = {
            "zigzag_version": zz_version,
            "seconds": seconds,
            "cpu_seconds": cpu_seconds,  # this process's CPU time: less sensitive than wall time to a busy host
            "import_seconds": import_seconds,
            "total_latency_cycles": _num(latency),
            "total_energy_pj": _num(energy),
            "total_macs": sum(r["macs"] for r in layers),
            "total_ideal_cycles": sum(r["latency"]["ideal_cycles"] for r in layers),
            "mappings_evaluated": sum(counts.values()) if counts else None,
            "call": {
                "function": "zigzag.api.get_hardware_performance_zigzag",
                "inputs": {k: f"<site-packages>/zigzag/{v}" for k, v in EXAMPLE.items()},
                "kwargs": {"dump_folder": "<temp dir, deleted>", "loma_show_progress_bar": args.verbose},
                "defaults": {"temporal_mapping_search_engine": "loma", "temporal_mapping_type": "uneven",
                             "opt": "latency", "lpf_limit": 6, "nb_spatial_mappings_generated": 3,
                             "exploit_data_locality": False, "enable_mix_spatial_mapping": False},
            },
            "host": {"python": platform.python_version(), "machine": platform.machine(),
                     "cpu_count": os.cpu_count(), "threads": 1},
            "layers": layers,
            "skipped_by_zigzag": "ONNX nodes other than Conv/QLinearConv/MatMul/Gemm (Relu, Add, MaxPool, "
                                 "GlobalAveragePool, Flatten) become DummyNodes with no cost",
            "accelerator": accelerator_summary(per_layer[0].accelerator, per_layer[0].layer),
        }
    finally:
        os.chdir(old_cwd)
        shutil.rmtree(tmp, ignore_errors=True)

    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"zigzag {result['zigzag_version']}: {len(layers)} layers, {result['seconds']:.2f} s, "
          f"latency {result['total_latency_cycles']:,} cycles, energy {result['total_energy_pj']:.6g} pJ"
          + (f", {result['mappings_evaluated']:,} mappings evaluated" if counts else "") + f" -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
