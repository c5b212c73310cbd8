"""Batched evaluation equals `simulate` point by point, and the per-layer mapping search is replayable."""

from __future__ import annotations

import random

import pytest

from accelsim.arch import resolve_arch
from accelsim.cost.area import array_area
from accelsim.dse import batch as batch_module
from accelsim.dse.batch import Batch
from accelsim.dse.space import arch_for, workload_changes
from accelsim.errors import AccelsimError
from accelsim.mapping import load_dataflow
from accelsim.mapping.choice import LayerChoice
from accelsim.sim import simulate
from accelsim.workload import resolve_workload

SPACE = {"rows": [4, 8, 16, 32, 64], "cols": [4, 8, 16, 32, 128], "dataflow": ["ws", "os", "is"],
         "memory.dram_bytes_per_cycle": [2, 8, 12.5, 64], "memory.dram_latency_cycles": [0, 7, 100],
         "memory.ifmap_kib": [1, 8, 64], "memory.ofmap_kib": [0.5, 4, 64], "vector_lanes": [0, 3, 16],
         "double_buffered": [True, False], "sparse": ["none", "gate"],
         "workload.weight_bits": [4, 8], "workload.weight_sparsity": [1.0, 0.5]}


def _random_points(seed: int, n: int) -> list[dict]:
    rng = random.Random(seed)
    points = []
    for _ in range(n):
        names = rng.sample(sorted(SPACE), rng.randint(1, 6))
        points.append({name: rng.choice(SPACE[name]) for name in names})
    return points


def _simulated(graph, base, point, choices=None) -> dict:
    """What `simulate` (and the area model) say about a point, or the error it raises."""
    try:
        arch = arch_for(base, point)
        dataflow = load_dataflow(str(point.get("dataflow", arch.dataflows[0])))
        if "dataflow" in point:  # a dataflow axis builds the array for that dataflow (docs/dse.md)
            arch = arch.with_changes(dataflows=(dataflow.name,))
        sim = simulate(graph.with_gemm_changes(workload_changes(point)), arch, dataflow, choices=choices)
        area = array_area(arch)  # the PE that runs every dataflow the array supports
    except AccelsimError:
        return {"feasible": False}
    data = sim.to_dict()
    return {"feasible": True, "total_cycles": sim.total_cycles, "energy_pj": sim.energy.total_pj,
            "area_um2": round(area.total_um2, 3), "utilization": data["utilization"],
            "dram_bytes": data["dram_bytes"] + data["dram_metadata_bytes"], "latency_ms": data["time_ms"]}


@pytest.mark.parametrize("workload, seed", [("alexnet", 1), ("resnet18", 2), ("mobilenet_v1_025", 3)])
def test_a_batch_equals_simulate_point_by_point(workload, seed):
    graph, base = resolve_workload(workload), resolve_arch("sa32")
    points = _random_points(seed, 25)
    results = Batch(graph, base).evaluate(points)
    feasible = 0
    for point, result in zip(points, results):
        expected = _simulated(graph, base, point)
        assert result["feasible"] == expected["feasible"], (point, result.get("reason"))
        if result["feasible"]:
            feasible += 1
            assert {k: result[k] for k in expected} == expected, point
    assert feasible >= 10  # the sample must exercise the numbers, not only the refusals


def test_the_mapping_search_replays_in_simulate_and_never_loses_to_the_fixed_rules():
    graph, base = resolve_workload("resnet18"), resolve_arch("sa32")
    points = [{"rows": 16}, {"cols": 8, "memory.dram_bytes_per_cycle": 2}, {"dataflow": "ws", "memory.ofmap_kib": 4},
              {"memory.ifmap_kib": 2, "memory.dram_latency_cycles": 50}]
    searched = Batch(graph, base, search=True).evaluate(points)
    fixed = Batch(graph, base).evaluate(points)
    moved = 0
    for point, s, f in zip(points, searched, fixed):
        assert s["feasible"] and f["feasible"]
        choices = {name: LayerChoice.from_dict(m) for name, m in s["mapping"].items()}
        replay = _simulated(graph, base, point, choices)
        assert (s["total_cycles"], s["energy_pj"]) == (replay["total_cycles"], replay["energy_pj"])
        assert s["total_cycles"] <= f["total_cycles"]  # the fixed rule is one of the candidates
        moved += s["total_cycles"] < f["total_cycles"]
        if "dataflow" in point:
            assert {m["dataflow"] for m in s["mapping"].values()} == {"ws"}
    assert moved >= 2  # and the search finds better mappings than the fixed rules on most points
    kinds = {(m["dataflow"], m["loop_order"], m["temporal_tile"] is None) for m in searched[3]["mapping"].values()}
    assert len(kinds) > 1  # layers of one design pick different mappings


def test_identical_layers_and_dram_only_changes_are_planned_once(monkeypatch):
    graph, base = resolve_workload("resnet50"), resolve_arch("sa32")
    calls = []
    real = batch_module.Batch._plan

    def counting(self, shape, *args):
        calls.append(shape.layer.name)
        return real(self, shape, *args)

    monkeypatch.setattr(batch_module.Batch, "_plan", counting)
    batch = Batch(graph, base, vectorise=False)
    batch.evaluate([{"memory.dram_bytes_per_cycle": bw, "memory.dram_latency_cycles": lat}
                    for bw in (8, 16) for lat in (0, 10)])
    distinct = {repr({k: v for k, v in layer.to_dict().items() if k not in ("name", "inputs")})
                for layer in graph if layer.gemm is not None}
    gemm_layers = sum(layer.gemm is not None for layer in graph)
    assert len(distinct) < gemm_layers  # resnet50 repeats layers
    assert len(calls) == 2 * len(distinct)  # one plan lookup per distinct layer per bandwidth group
    assert len(batch._plans) == len(distinct)  # and one plan per distinct layer in all


def test_an_infeasible_point_keeps_its_reason():
    graph, base = resolve_workload("alexnet"), resolve_arch("tiny")
    bad, good = Batch(graph, base).evaluate([{"memory.ofmap_kib": 0.001}, {"memory.ofmap_kib": 8}])
    assert not bad["feasible"] and "ofmap buffer" in bad["reason"] and good["feasible"]


def test_an_imported_float_model_on_a_bf16_array_is_priced_as_simulate_prices_it():
    """An ONNX model's float32 operands take a float array's format in `simulate` (bf16 on tpuv4); the batch
    kept the layers' int8 default: half the weight bytes, another energy."""
    pytest.importorskip("onnx")
    from pathlib import Path

    from accelsim.workload.onnx_import import load_onnx

    graph = load_onnx(Path(__file__).resolve().parent.parent / "data" / "onnx_exports" / "bert.ts17.onnx")
    base = resolve_arch("tpuv4")
    points = [{}, {"memory.dram_bytes_per_cycle": 64}, {"rows": 64, "cols": 64}]
    for point, result in zip(points, Batch(graph, base).evaluate(points)):
        expected = _simulated(graph, base, point)
        assert result["feasible"] and {k: result[k] for k in expected} == expected, point
