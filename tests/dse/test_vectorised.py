"""A block of points evaluated at once (accelsim.dse.vectorised) equals the per-point path, and so ``simulate``.

The per-point path is itself checked against ``simulate`` (tests/dse/test_batch.py); here every point a
block evaluates is compared with it whole (cycles, energy, area, utilisation, DRAM bytes, latency, power
and every layer's mapping), over random classes and random array shapes, buffers and DRAM, with and
without the per-layer mapping search.
"""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accelsim.arch import resolve_arch
from accelsim.dse import vectorised
from accelsim.dse.batch import Batch
from accelsim.workload import resolve_workload

from .test_batch import _simulated

CLASSES = {"dataflow": ["ws", "os", "is"], "double_buffered": [True, False], "sparse": ["none", "gate"],
           "workload.weight_bits": [4, 8], "workload.input_bits": [4, 8], "workload.weight_sparsity": [1.0, 0.5],
           "pe_style": ["parallel", "bit-serial", "fusible"]}
VECTOR = {"rows": [1, 3, 8, 17, 32, 128, 256], "cols": [1, 5, 8, 16, 64, 256],
          "memory.ifmap_kib": [0.5, 1, 3, 8, 64, 512], "memory.filter_kib": [0.25, 2, 16, 256],
          "memory.ofmap_kib": [0.5, 2, 16, 128], "memory.dram_bytes_per_cycle": [1, 2.5, 8, 12.8, 64],
          "memory.dram_latency_cycles": [0, 9, 100], "vector_lanes": [0, 3, 32]}
_GRAPHS = {name: resolve_workload(name) for name in ("alexnet", "mobilenet_v1_025", "resnet18", "bert_base_s128")}


def _block(rng: random.Random, n: int) -> list[dict]:
    fixed = {name: rng.choice(values) for name, values in CLASSES.items() if rng.random() < 0.4}
    axes = rng.sample(sorted(VECTOR), rng.randint(2, len(VECTOR)))
    return [fixed | {a: rng.choice(VECTOR[a]) for a in axes} for _ in range(n)]


def _compare(workload: str, points: list[dict], search: bool) -> int:
    """How many points the block evaluated (each equal to the per-point path, or the test fails)."""
    graph, base = _GRAPHS[workload], resolve_arch("sa32")
    batch = Batch(graph, base, search=search)
    blocked = vectorised.evaluate(batch, points)
    results = batch.evaluate(points)
    each = Batch(graph, base, search=search, vectorise=False)
    for point, got, result in zip(points, blocked, results):
        assert result == each.evaluate([point])[0], point
        if got is not None:
            assert got == result, point
    return sum(r is not None for r in blocked)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(_GRAPHS)), st.booleans(), st.integers(0, 2**32 - 1))
def test_a_block_equals_the_per_point_path(workload, search, seed):
    _compare(workload, _block(random.Random(seed), 10), search)


@pytest.mark.parametrize("search", [False, True])
def test_a_space_of_own_arrays_and_buffers_runs_in_blocks_and_equals_simulate(search):
    """The benchmark's --worst shape (every point its own array and buffers): all in blocks, all exact."""
    axes = {"rows": [8, 32, 256], "cols": [8, 64], "dataflow": ["ws", "os", "is"],
            "memory.ifmap_kib": [32, 384], "memory.filter_kib": [64, 1024]}
    points = [dict(zip(axes, combo)) for combo in itertools.product(*axes.values())]
    assert _compare("resnet18", points, search) == len(points)
    graph, base = _GRAPHS["resnet18"], resolve_arch("sa32")
    results = Batch(graph, base, search=search).evaluate(points)
    for i in random.Random(0).sample(range(len(points)), 4):
        from accelsim.mapping.choice import LayerChoice

        choices = {name: LayerChoice.from_dict(m) for name, m in results[i]["mapping"].items()} if search else None
        expected = _simulated(graph, base, points[i], choices)
        assert {k: results[i][k] for k in expected} == expected


def test_what_a_block_cannot_take_goes_point_by_point():
    """N:M PEs (their stream words follow the groups), zero-skipping and compressed formats are handed back."""
    graph, base = _GRAPHS["alexnet"], resolve_arch("sa32")
    for fixed in ({"sparse": "skip"}, {"weight_format": "csr"}):
        points = [fixed | {"rows": r, "cols": c} for r in (8, 16) for c in (8, 32)]
        assert vectorised.evaluate(Batch(graph, base), points) == [None] * 4


@pytest.mark.parametrize("search", [False, True])
def test_an_embedding_lookup_in_a_block_pays_its_rows_at_each_points_dram(search):
    """A lookup's cycles follow each point's bandwidth and latency (its rows come from DRAM): in a block too."""
    from pathlib import Path

    zoo = Path(__file__).resolve().parent.parent / "data" / "onnx_zoo" / "qwen2.dynamo18.onnx"
    graph = resolve_workload(str(zoo))
    assert any(layer.lookup_bytes for layer in graph)
    axes = {"rows": [8, 32], "cols": [8, 64], "memory.dram_bytes_per_cycle": [2.5, 64],
            "memory.dram_latency_cycles": [0, 50], "vector_lanes": [0, 16]}
    points = [dict(zip(axes, combo)) for combo in itertools.product(*axes.values())]
    _GRAPHS["qwen2"] = graph
    try:
        assert _compare("qwen2", points, search) == len(points)
    finally:
        del _GRAPHS["qwen2"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(_GRAPHS)), st.booleans(), st.integers(0, 2**32 - 1))
def test_a_blocks_numbers_obey_physics(workload, search, seed):
    """Within a block: no point busier than its PEs can be (utilisation ≤ 1: cycles ≥ the compute floor), and
    more DRAM bandwidth never costs cycles (the stalls shrink; a search's minimum over candidates too)."""
    rng = random.Random(seed)
    base_point = _block(rng, 1)[0]
    base_point = {k: v for k, v in base_point.items() if k != "memory.dram_bytes_per_cycle"}
    bandwidths = [1, 2.5, 8, 64, 4096]
    points = [base_point | {"memory.dram_bytes_per_cycle": b} for b in bandwidths]
    batch = Batch(_GRAPHS[workload], resolve_arch("sa32"), search=search)
    results = vectorised.evaluate(batch, points)
    if results[0] is None or not results[0]["feasible"]:
        return
    cycles = [r["total_cycles"] for r in results]
    assert cycles == sorted(cycles, reverse=True)
    assert all(0 < r["utilization"] <= 1 for r in results)
    assert len({r["dram_bytes"] for r in results}) == 1 or search  # traffic is the plan's, not the bandwidth's
