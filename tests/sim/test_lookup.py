"""An embedding lookup (``reshape`` op ``lookup``, issue 20) reads the rows it gathers from DRAM: the bytes are
counted, priced and timed (the single-array engine, the design-space batch and the YAML format)."""

from __future__ import annotations

import math
from dataclasses import replace
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accelsim.arch import ArrayConfig, resolve_arch
from accelsim.cost import layer_energy, load_energy_table
from accelsim.dse.batch import Batch
from accelsim.errors import SpecError
from accelsim.mapping import load_dataflow
from accelsim.sim import simulate
from accelsim.sim.engine import simulate_layer
from accelsim.specio import load_yaml
from accelsim.workload.graph import LayerGraph
from accelsim.workload.layer import Layer
from accelsim.workload.yamlio import graph_from_dict, graph_to_yaml

PROPERTY = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow])
WS = load_dataflow("ws")


def embedding(tokens: int = 16, width: int = 64, batch: int = 1, table: str = "int8") -> Layer:
    return Layer("embed", "reshape", op="lookup", in_shapes=((tokens,),), shape=(tokens, width), batch=batch,
                 weight_type=table)


def with_dram(arch: ArrayConfig, bytes_per_cycle: float, latency: int = 0) -> ArrayConfig:
    return arch.with_changes(memory=replace(arch.memory, dram_bytes_per_cycle=bytes_per_cycle,
                                            dram_latency_cycles=latency))


def test_16_tokens_of_64_int8_features_read_1024_bytes_and_take_their_dram_time():
    arch = ArrayConfig(rows=32, cols=32)
    r = simulate_layer(embedding(), arch, WS)
    assert r.traffic["W"].dram_bytes == r.traffic.total.dram_total == 1024
    assert r.cycles >= math.ceil(1024 / arch.memory.dram_bytes_per_cycle)
    # 1,024 copies on 32 lanes; 32 B/cycle: the first 64-byte row (2 cycles), then the other 960 bytes (30
    # cycles) stream under the 32 copy cycles
    assert (r.compute_cycles, r.stall_cycles, r.cycles) == (32, 2, 34)
    energy = layer_energy(r, arch, load_energy_table("horowitz45"))
    table = load_energy_table("horowitz45")
    assert energy.exact["component"]["dram"] == 1024 * Fraction(repr(table.dram_per_byte))
    assert energy.by_operand["W"] == energy.by_component["dram"] == energy.total_pj > 0


def test_the_dram_latency_is_waited_once_and_ideal_memory_counts_the_bytes_without_time():
    arch = with_dram(ArrayConfig(rows=32, cols=32), 4.0, latency=100)
    timed = simulate_layer(embedding(), arch, WS)
    assert timed.cycles == 16 + 100 + max(32, 256 - 16)  # first row, latency, the rest under the copy
    ideal = simulate_layer(embedding(), arch, WS, memory=False)
    assert (ideal.cycles, ideal.stall_cycles, ideal.traffic.total.dram_total) == (32, 0, 1024)


def test_the_table_format_sizes_the_bytes_packed_as_every_dense_tensor():
    assert [embedding(table=t).lookup_bytes for t in ("int8", "int4", "fp16", "int3")] == [1024, 512, 2048, 384]
    assert embedding(batch=3).lookup_bytes == 3 * 1024
    assert Layer("g", "reshape", op="gather", in_shapes=((16, 64),), shape=(8, 64)).lookup_bytes == 0


def test_a_gather_of_an_activation_still_moves_nothing_at_dram():
    gather = Layer("g", "reshape", op="gather", in_shapes=((16, 64),), shape=(8, 64))
    r = simulate_layer(gather, ArrayConfig(rows=32, cols=32), WS)
    assert (r.cycles, r.stall_cycles, r.traffic.total.dram_total) == (16, 0, 0)


@PROPERTY
@given(st.integers(1, 4096), st.integers(1, 1024), st.sampled_from([1, 2, 4]),
       st.sampled_from(["int8", "int4", "fp16", "int2"]), st.sampled_from([1, 3, 32, 128]),
       st.sampled_from([0.5, 1.0, 3.0, 16.0, 64.0, 1024.0]), st.sampled_from([0, 0, 40]), st.booleans())
def test_a_lookup_never_beats_its_roofline_nor_reads_less_than_its_rows(tokens, width, batch, table, lanes,
                                                                        bandwidth, latency, ideal):
    """cycles ≥ max(copies / lanes, bytes / bandwidth) (with modelled memory); bytes ≥ rows × width × bytes per
    element; more DRAM bandwidth never adds cycles."""
    layer = embedding(tokens, width, batch, table)
    arch = with_dram(ArrayConfig(rows=4, cols=4, vector_lanes=lanes), bandwidth, latency)
    r = simulate_layer(layer, arch, WS, memory=not ideal)
    rows_bytes = Fraction(batch * tokens * width * layer.dtypes["W"].bits, 8)
    assert r.traffic.total.dram_total >= rows_bytes
    assert r.cycles >= math.ceil(Fraction(layer.vector_ops, lanes))
    if not ideal:
        assert r.cycles >= math.ceil(rows_bytes / Fraction(bandwidth)) + latency
        faster = simulate_layer(layer, with_dram(arch, 2 * bandwidth, latency), WS)
        assert faster.cycles <= r.cycles
        assert faster.traffic == r.traffic


def graph_with_lookup(table: str = "int8") -> LayerGraph:
    graph = LayerGraph("embed-fc", inputs={"ids": (16,)})
    graph.add(embedding(table=table), ["ids"])
    graph.add(Layer("fc", "linear", in_shapes=((16, 64),), out=32), ["embed"])
    return graph


def test_simulate_totals_and_prices_the_lookup():
    arch = ArrayConfig(rows=32, cols=32)
    result = simulate(graph_with_lookup(), arch, WS)
    embed, fc = result.layers
    assert result.total_cycles == embed.cycles + fc.cycles
    assert result.traffic.dram_total == 1024 + fc.traffic.total.dram_total
    assert result.energy.breakdown.by_component["dram"] == pytest.approx(
        embed.energy.by_component["dram"] + fc.energy.by_component["dram"])


@pytest.mark.parametrize("bandwidth, latency", [(2.0, 0), (32.0, 7), (1024.0, 100)])
def test_the_design_space_batch_equals_simulate_on_a_lookup(bandwidth, latency):
    graph, base = graph_with_lookup("fp16"), resolve_arch("sa32")
    points = [{"memory.dram_bytes_per_cycle": bandwidth, "memory.dram_latency_cycles": latency, "vector_lanes": v}
              for v in (0, 3)]
    for point, got in zip(points, Batch(graph, base).evaluate(points)):
        arch = with_dram(base.with_changes(vector_lanes=point["vector_lanes"]), bandwidth, latency)
        sim = simulate(graph, arch, load_dataflow(arch.dataflows[0]))
        assert (got["total_cycles"], got["energy_pj"], got["dram_bytes"]) == (
            sim.total_cycles, sim.energy.total_pj, sim.traffic.dram_total)


def test_a_lookup_round_trips_through_yaml_with_its_table_format():
    graph = graph_with_lookup("fp16")
    text = graph_to_yaml(graph)
    assert "op: lookup" in text and "weight_type: fp16" in text
    again = graph_from_dict(load_yaml(text))
    assert [layer.to_dict() for layer in again] == [layer.to_dict() for layer in graph]
    assert again["embed"].lookup_bytes == 2048


def test_a_lookup_states_its_tables_format_and_nothing_else():
    with pytest.raises(SpecError, match="input_type"):
        Layer("embed", "reshape", op="lookup", in_shapes=((16,),), shape=(16, 64), input_type="int4")
    with pytest.raises(SpecError, match="weight_type"):
        Layer("g", "reshape", op="gather", in_shapes=((16, 64),), shape=(8, 64), weight_type="int4")
