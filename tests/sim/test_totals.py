"""Network totals: one definition for simulate and the design-space batch, the DRAM latency term apart."""

from fractions import Fraction

import pytest

from accelsim.arch import resolve_arch
from accelsim.dse.batch import Batch
from accelsim.dse.space import arch_for
from accelsim.mapping import load_dataflow
from accelsim.sim import simulate
from accelsim.sim.totals import NetworkTotals
from accelsim.workload import resolve_workload

LATENCY = 1_000


def test_the_latency_term_is_once_per_array_layer():
    t = NetworkTotals(array_cycles=5_000, array_layers=4, latency_cycles=300, vector_cycles=700,
                      busy=Fraction(9_000), pes=16, clock_mhz=250)
    assert t.cycles == 5_000 + 4 * 300 + 700 == 6_900
    assert t.utilization == 9_000 / (6_900 * 16)
    assert t.time_ms == Fraction(6_900, 250_000)


@pytest.fixture(scope="module")
def alexnet():
    graph, base = resolve_workload("alexnet"), resolve_arch("sa32")
    runs = {lat: simulate(graph, arch_for(base, {"memory.dram_latency_cycles": lat}), load_dataflow("ws"))
            for lat in (0, LATENCY)}
    return graph, base, runs


def test_simulate_waits_the_dram_latency_once_per_array_layer_not_per_fold(alexnet):
    _, _, runs = alexnet
    array = [r for r in runs[0].layers if r.unit == "array"]
    folds = sum(r.folds for r in array)
    assert (len(array), len(runs[0].layers), folds) == (8, 19, 60_176)  # vector layers wait nothing
    assert runs[LATENCY].total_cycles - runs[0].total_cycles == LATENCY * len(array)  # per fold: x folds
    zero, late = runs[0].totals, runs[LATENCY].totals
    assert (late.array_cycles, late.vector_cycles, late.array_layers) == (zero.array_cycles, zero.vector_cycles, 8)
    assert late.latency_cycles == LATENCY and zero.latency_cycles == 0
    ideal = simulate(resolve_workload("alexnet"), arch_for(resolve_arch("sa32"), {"memory.dram_latency_cycles": LATENCY}),
                     load_dataflow("ws"), memory=False)
    assert ideal.totals.latency_cycles == 0  # ideal memory waits for nothing


def test_the_batch_totals_a_point_as_simulate_does(alexnet):
    graph, base, runs = alexnet
    points = [{"memory.dram_latency_cycles": lat, "dataflow": "ws"} for lat in (0, LATENCY)]
    results = Batch(graph, base).evaluate(points)
    for sim, result in zip(runs.values(), results):
        data = sim.to_dict()
        assert (result["total_cycles"], result["utilization"], result["latency_ms"]) == (
            sim.total_cycles, data["utilization"], data["time_ms"])
    assert results[1]["total_cycles"] - results[0]["total_cycles"] == LATENCY * 8
