"""Bounds on systems of cores and their schedules (issue 18; the reasons are in ``docs/bounds.md``).

Random layer graphs (chains, branches, residual adds; conv2d, linear and matmul layers with eltwise adds and
ReLUs) × systems of 1–6 cores (identical, or a list of different arrays with different first dataflows) ×
memory systems (DRAM bandwidth and latency, with and without a global buffer, crossbar, ring or mesh) ×
both schedules × modelled and ideal memory. As in ``tests/sim/test_bounds.py``, every bound is computed from
the layers and the system alone (MACs, PEs, bandwidth shares, the timing recursions of
``accelsim/sim/timing.py``), never from the schedule's own totals. A bound the model breaks today is a strict
``xfail`` with its smallest counterexample pinned (``docs/bounds.md``, "What the schedule bounds found").
"""

from __future__ import annotations

import itertools
import math
from dataclasses import replace
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from accelsim.arch import ArrayConfig, resolve_arch
from accelsim.arch.config import MemorySpec
from accelsim.arch.system import Dram, GlobalBuffer, Network, SystemConfig
from accelsim.errors import MappingError, UnsupportedError
from accelsim.mapping import load_dataflow
from accelsim.mapping.partition import split_layer
from accelsim.schedule import run_system
from accelsim.schedule.plan import plan_group
from accelsim.schedule.replay import replay
from accelsim.schedule.tasks import closed_form
from accelsim.sim import simulate
from accelsim.workload.graph import LayerGraph
from accelsim.workload.layer import Layer

# derandomised and without a database (the same cases on every run, as the project profile); small enough
# that the whole file stays well under a minute on two cores
PROPERTY = settings(max_examples=120, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
KIB = (0.25, 1.0, 4.0, 64.0)


# -- graphs ------------------------------------------------------------------------------------------------
class _Builder:
    def __init__(self, graph: LayerGraph, batch: int):
        self.graph, self.batch, self.count = graph, batch, 0

    def add(self, kind: str, inputs: list[str], **fields) -> str:
        self.count += 1
        name = f"{fields.get('op') or kind}{self.count}"
        self.graph.add(Layer(name, kind, batch=self.batch, **fields), inputs)
        return name

    def shape(self, tensor: str) -> tuple[int, ...]:
        return self.graph.shape_of(tensor)

    def eltwise(self, op: str, inputs: list[str]) -> str:
        return self.add("eltwise", inputs, op=op, in_shapes=tuple(self.shape(t) for t in inputs))


@st.composite
def graphs(draw, lookup: bool = False) -> LayerGraph:
    """A chain of blocks: single layers, ReLUs, residual blocks (two layers and an add back to the block's
    input) and branches (two layers reading one tensor, joined by an add; attention on tokens). ``lookup``:
    tokens whose features an embedding lookup reads from DRAM first (issue 20)."""
    family = "tokens" if lookup else draw(st.sampled_from(["conv", "tokens"]))
    batch = draw(st.sampled_from([1, 1, 2]))
    blocks = draw(st.lists(st.sampled_from(["layer", "relu", "residual", "branch"]), min_size=1, max_size=4))
    if family == "conv":
        shape = (draw(st.integers(1, 6)), *(draw(st.integers(3, 8)),) * 2)
    else:
        shape = (draw(st.integers(1, 12)), draw(st.integers(1, 16)))
    b = _Builder(LayerGraph(f"{family}-{'-'.join(blocks)}", inputs={"ids" if lookup else "x": shape[:1]
                                                                       if lookup else shape}), batch)
    t = "x"
    if lookup:
        t = b.add("reshape", ["ids"], op="lookup", in_shapes=(shape[:1],), shape=shape,
                  weight_type=draw(st.sampled_from(["int8", "int4", "fp16"])))

    def conv(src: str, out: int, k: int, stride: int = 1) -> str:
        pad = (k // 2,) * 4
        return b.add("conv2d", [src], in_shapes=(b.shape(src),), out=out, kernel=(k, k), stride=(stride, stride),
                     padding=pad)

    def linear(src: str, out: int) -> str:
        return b.add("linear", [src], in_shapes=(b.shape(src),), out=out)

    for block in blocks:
        width = b.shape(t)[0] if family == "conv" else b.shape(t)[-1]
        if block == "relu":
            t = b.eltwise("relu", [t])
        elif family == "conv" and block == "layer":
            stride = draw(st.sampled_from([1, 1, 2])) if b.shape(t)[1] >= 3 else 1
            t = conv(t, draw(st.integers(1, 12)), draw(st.sampled_from([1, 3])), stride)
        elif family == "conv" and block == "residual":
            inner = b.eltwise("relu", [conv(t, draw(st.integers(1, 8)), 3)])
            t = b.eltwise("add", [conv(inner, width, draw(st.sampled_from([1, 3]))), t])
        elif family == "conv":  # branch
            out = draw(st.integers(1, 8))
            t = b.eltwise("add", [conv(t, out, 1), conv(t, out, 3)])
        elif block == "layer":
            t = linear(t, draw(st.integers(1, 24)))
        elif block == "residual":
            inner = b.eltwise("relu", [linear(t, draw(st.integers(1, 24)))])
            t = b.eltwise("add", [linear(inner, width), t])
        else:  # attention: two branches of the same tensor meet in matmuls, then a residual add
            d = draw(st.integers(1, 12))
            q, k, v = linear(t, d), linear(t, d), linear(t, d)
            scores = b.add("matmul", [q, k], in_shapes=(b.shape(q), b.shape(k)), transpose_b=True)
            mixed = b.add("matmul", [scores, v], in_shapes=(b.shape(scores), b.shape(v)))
            t = b.eltwise("add", [linear(mixed, width), t])
    return b.graph


# -- systems -----------------------------------------------------------------------------------------------
@st.composite
def cores(draw, first_dataflow: str = "ws") -> ArrayConfig:
    """A core 2–8 PEs wide; its memory's DRAM figures are its port (no latency of its own in a system)."""
    memory = MemorySpec(ifmap_kib=draw(st.sampled_from(KIB)), filter_kib=draw(st.sampled_from(KIB)),
                        ofmap_kib=draw(st.sampled_from(KIB)),
                        dram_bytes_per_cycle=draw(st.sampled_from([2.0, 16.0, 1024.0])))
    order = ("ws", "os", "is")
    i = order.index(first_dataflow)
    return ArrayConfig(rows=draw(st.integers(2, 8)), cols=draw(st.integers(2, 8)), memory=memory,
                       double_buffered=draw(st.booleans()), dataflows=order[i:] + order[:i])


@st.composite
def systems(draw, count: int | None = None, identical: bool | None = None, global_buffer: bool | None = None,
            network: bool = True) -> SystemConfig:
    n = count or draw(st.integers(1, 6))
    same = draw(st.booleans()) if identical is None else identical
    if same:
        arrays = (draw(cores()),) * n
    else:
        arrays = tuple(draw(cores(draw(st.sampled_from(["ws", "os", "is"])))) for _ in range(n))
    dram = Dram(bytes_per_cycle=draw(st.sampled_from([1.0, 4.0, 16.0, 64.0])),
                latency_cycles=draw(st.sampled_from([0, 0, 25])))
    gb = None
    if global_buffer or (global_buffer is None and draw(st.booleans())):
        smallest = max(min(c.memory.ifmap_kib, c.memory.filter_kib) / 2 for c in arrays)  # from_dict's rule
        gb = GlobalBuffer(kib=max(smallest, draw(st.sampled_from([1.0, 64.0, 1024.0]))),
                          bytes_per_cycle=draw(st.sampled_from([8.0, 64.0])), pj_per_byte=0.5)
    net = Network()
    if network:
        meshes = [(r, n // r) for r in range(1, n + 1) if n % r == 0]
        topology = draw(st.sampled_from(["crossbar", "ring", "mesh"]))
        rows, cols = draw(st.sampled_from(meshes)) if topology == "mesh" else (0, 0)
        net = Network(topology, link_bytes_per_cycle=draw(st.sampled_from([1e9, 4.0])),
                      hop_latency_cycles=draw(st.sampled_from([0, 3])),
                      pj_per_byte_hop=draw(st.sampled_from([0, 0.25])), mesh_rows=rows, mesh_cols=cols)
    return SystemConfig(name="drawn", cores=arrays, dram=dram, global_buffer=gb, network=net)


class Case:
    """A graph on a system (a plain class: a falsifying example prints every layer, so it can be rebuilt)."""

    def __init__(self, graph: LayerGraph, system: SystemConfig, dataflow: str | None, memory: bool):
        self.graph, self.system, self.memory = graph, system, memory
        self.dataflow = dataflow  # None: each core runs its own first dataflow

    def __repr__(self) -> str:
        layers = "".join(f"\n  {layer!r} <- {list(self.graph.sources(layer.name))}" for layer in self.graph)
        return (f"Case(inputs={self.graph.inputs}, dataflow={self.dataflow!r}, memory={self.memory},\n"
                f"  system={self.system!r},{layers})")


@st.composite
def cases(draw, memory: bool | None = None, lookup: bool = False, **system) -> Case:
    s = draw(systems(**system))
    dataflow = draw(st.sampled_from(["ws", "os", "is", None])) if s.identical else None
    return Case(draw(graphs(lookup)), s, dataflow,
                draw(st.sampled_from([True, True, False])) if memory is None else memory)


def dataflows(case: Case) -> tuple:
    """Each core's dataflow, as ``run_system`` picks it."""
    if case.dataflow is not None:
        return tuple(load_dataflow(case.dataflow) for _ in case.system.cores)
    return tuple(load_dataflow(c.dataflows[0]) for c in case.system.cores)


def run(case: Case, schedule: str, system: SystemConfig | None = None, **kw):
    """The case's schedule; a layer the model cannot map on these cores is not drawn."""
    df = load_dataflow(case.dataflow) if case.dataflow else None
    try:
        return run_system(case.graph, system or case.system, df, schedule=schedule, memory=case.memory, **kw)
    except MappingError:
        assume(False)


def group(case: Case, layer: Layer, cores: tuple[int, ...], **kw):
    try:
        return plan_group(layer, case.system, cores, dataflows(case), memory=case.memory, **kw)
    except MappingError:
        assume(False)


# -- 1. the closed form is the event replay ---------------------------------------------------------------
@PROPERTY
@given(cases(), st.sampled_from(["sequential", "overlap"]))
def test_closed_form_equals_the_event_replay(case, schedule):
    result = run(case, schedule, energy_table=None)
    assert replay(result.tasks) == list(result.starts)
    assert closed_form(result.tasks) == list(result.starts)
    assert result.cycles == max((s + t.duration for s, t in zip(result.starts, result.tasks)), default=0)


# -- 2. one core, no global buffer, sequential: the single-array engine --------------------------------------
def _alone_and_on_one_core(graph, core, dataflow, memory, latency):
    """``simulate``'s result and the sequential one-core system's, with the same engine totals checked."""
    arch = core.with_changes(memory=replace(core.memory, dram_latency_cycles=latency))
    df = load_dataflow(dataflow)
    try:
        alone = simulate(graph, arch, df, memory=memory)
    except MappingError:
        assume(False)
    system = run_system(graph, SystemConfig.single(arch), df, schedule="sequential", memory=memory)
    assert system.cycles == alone.total_cycles
    total = sum(system.energy_pj.values(), Fraction(0))
    assert abs(float(total) - alone.energy.breakdown.total_pj) <= 1e-6 * max(1.0, abs(float(total)))
    return alone, system


@PROPERTY
@given(graphs(), cores(), st.sampled_from(["ws", "os", "is"]), st.booleans(), st.sampled_from([0, 0, 40]))
def test_one_core_sequential_is_the_single_array_engine(graph, core, dataflow, memory, latency):
    _alone_and_on_one_core(graph, core, dataflow, memory, latency)


@PROPERTY
@given(graphs(lookup=True), cores(), st.sampled_from(["ws", "os", "is"]), st.booleans(), st.sampled_from([0, 0, 40]))
def test_one_core_sequential_is_the_single_array_engine_with_an_embedding_lookup(graph, core, dataflow, memory,
                                                                                 latency):
    """An embedding lookup reads its rows from DRAM: on one core the schedule charges the engine's bytes, DRAM
    time and energy for it (issue 20)."""
    alone, system = _alone_and_on_one_core(graph, core, dataflow, memory, latency)
    embed = next(layer for layer in graph if layer.op == "lookup")
    timed = {t.name: t for t in system.layers}[embed.name]
    engine = {r.name: r for r in alone.layers}[embed.name]
    assert timed.dram_bytes == engine.traffic.total.dram_total == embed.lookup_bytes > 0
    assert timed.sequential_cycles == engine.cycles
    assert system.dram_bytes == alone.traffic.dram_total


@PROPERTY
@given(cases(lookup=True), st.sampled_from(["sequential", "overlap"]))
def test_a_lookup_on_any_system_moves_its_rows_within_the_bandwidth(case, schedule):
    """On any system and schedule an embedding lookup moves exactly its rows at DRAM, its cores' channels at most
    their shares while they hold them, the whole schedule within the DRAM bandwidth; the closed form is the
    replay and overlap never slower than sequential."""
    result = run(case, schedule)
    assert replay(result.tasks) == list(result.starts) == closed_form(result.tasks)
    if case.memory:  # ideal memory counts the bytes and takes no time for them
        assert result.dram_bytes <= Fraction(case.system.dram.bytes_per_cycle) * result.cycles
    assert result.cycles <= run(case, "sequential", energy_table=None).cycles
    holds, _ = channel_holds(result)
    count = len({t.name.partition("#")[2] for t in result.layers})
    lookups = 0
    for t in result.layers:
        base, _, micro = t.name.partition("#")
        layer = case.graph[base]
        if layer.op != "lookup":
            continue
        lookups += 1
        if micro:
            layer = replace(layer, name=t.name, batch=layer.batch // count)
        gp = group(case, layer, t.reserved)
        assert t.unit == "vector" and gp.cores == t.cores
        assert t.dram_bytes == sum(gp.core_bytes()) == layer.lookup_bytes > 0
        if case.memory:  # each core's rows through its channel at most at its share while it holds it
            for core, moved, share in zip(t.cores, gp.core_bytes(), t.shares):
                held = sum(h.get(core, 0) for (name, _), h in holds.items() if name == t.name)
                assert moved <= share * held, (t.name, core, moved, share, held)
    assert lookups >= 1


@PROPERTY
@given(cases(count=1, global_buffer=False))
def test_one_core_of_any_memory_system_is_the_engine_on_its_view(case):
    """A one-core system with its own DRAM and network is the engine on the core's view of it (its share
    of DRAM, the latency plus its hop), cycle for cycle; without network energy, energy for energy."""
    result = run(case, "sequential")
    view = case.system.core_view(0)
    alone = simulate(case.graph, view, dataflows(case)[0], memory=case.memory)
    assert result.cycles == alone.total_cycles
    if case.system.network.pj_per_byte_hop == 0:
        total = sum(result.energy_pj.values(), Fraction(0))
        assert abs(float(total) - alone.energy.breakdown.total_pj) <= 1e-6 * max(1.0, abs(float(total)))


# -- 3. N cores are never faster than N × one core on compute -----------------------------------------------
def array_layers(graph: LayerGraph) -> list[Layer]:
    return [layer for layer in graph if layer.gemm is not None]


def _two_cores(core: ArrayConfig, graph: LayerGraph, dataflow: str, memory: bool, dram: float = 16.0) -> Case:
    return Case(graph, SystemConfig(name="two", cores=(core,) * 2, dram=Dram(dram)), dataflow, memory)


def _one_layer(layer: Layer) -> LayerGraph:
    graph = LayerGraph("one", inputs={"x": layer.in_shapes[0]})
    graph.add(layer, ["x"])
    return graph


# the two counterexamples the property found (docs/bounds.md): an output-stationary drain chain, and a chunk
DRAIN_BOUND = _two_cores(ArrayConfig(rows=2, cols=2), _one_layer(Layer("fc", "linear", in_shapes=((2, 1),), out=5)),
                         "os", memory=False)
CHUNKED = _two_cores(ArrayConfig(rows=2, cols=3, double_buffered=False,
                                 memory=MemorySpec(0.25, 0.25, 0.25, dram_bytes_per_cycle=2.0)),
                     _one_layer(Layer("fc", "linear", in_shapes=((11, 3),), out=4)), "ws", memory=True, dram=4.0)


@PROPERTY
@example(DRAIN_BOUND)
@given(cases(identical=True, memory=False))
def test_n_cores_never_compute_faster_than_n_times_one_core(case):
    """With ideal memory, N cores' compute is at least one core's over N, less what splitting can save besides
    work: each of one core's folds waits at most 2·rows + cols cycles to fill and drain (docs/timing.md), and a
    part with fewer rows or columns waits less (the pinned drain example). Beating N × one core by more than
    that would be work done without a MAC."""
    n = len(case.system.cores)
    every = tuple(range(n))
    core = case.system.cores[0]
    for layer in array_layers(case.graph):
        whole = group(case, layer, (0,))
        split = group(case, layer, every)
        fill_drain = whole.plans[0].folds * (2 * core.rows + core.cols)
        assert split.phases.compute * n + fill_drain >= whole.phases.compute, (layer.name, split.split)


def test_n_cores_may_beat_n_times_one_core_under_the_fixed_mapping_rule():
    """The two counterexamples, pinned. Ideal memory, output-stationary 2×2 arrays: 2 tokens × 1 feature → 5
    outputs is three 2-row folds of one step, each waiting 2·Rt − 1 = 3 cycles for the drain chain (11 cycles);
    split over M each core runs three 1-row folds of 1 cycle (5), so 2 × 5 < 11. Modelled memory, a 2×3 WS
    array with 0.25 KiB buffers: 11 × 3 → 4 needs a temporal chunk of 10 tokens for its 3-wide output tile (8
    folds, 71 cycles); each N half (2 columns) fits unchunked (2 folds, 31), so 2 × 31 < 71."""
    for case, numbers in ((DRAIN_BOUND, (11, 5, "M")), (CHUNKED, (71, 31, "N"))):
        layer = next(iter(case.graph))
        whole, split = group(case, layer, (0,)), group(case, layer, (0, 1))
        assert (whole.phases.compute, split.phases.compute, split.split) == numbers


@st.composite
def token_splits(draw):
    """A linear layer of ``n × q × e`` tokens, ``e`` the array extent M maps to (rows for OS, columns for IS,
    1 for WS, where M is streamed): every core's part covers whole M-tiles."""
    core, dataflow = draw(cores()), draw(st.sampled_from(["ws", "os", "is"]))
    df = load_dataflow(dataflow)
    n = draw(st.integers(2, 6))
    extent = core.rows if df.rows == "M" else core.cols if df.cols == "M" else 1
    tokens = n * draw(st.integers(1, 3)) * extent
    layer = Layer("fc", "linear", in_shapes=((tokens, draw(st.integers(1, 40))),), out=draw(st.integers(1, 40)),
                  batch=1)
    return layer, core, dataflow, n


@PROPERTY
@given(token_splits())
def test_split_m_with_ideal_memory_is_one_core_over_n_within_fill_and_drain(args):
    """Ideal memory, M split over N identical cores, each part whole M-tiles:

        N × part ≥ whole   and   N × part ≤ whole + N × (folds + 1) × (2·rows + cols)

    The timing recursions (``accelsim/sim/timing.py``) add to a fold's ``T`` steps at most ``2·Rt + C − 3``
    (stationary, single-buffered: the bank drains ``Rt + C − 3`` cycles, then ``Rt`` rows load) or
    ``2·Rt + C − 2`` (output-stationary, single-buffered drain); the first load (``Rt``) and the final drain
    (``R + C − 1``, or ``2·Rt + C − 2``) once more. Splitting M divides the streamed steps, or the folds, by N
    exactly, so what a part pays beyond ``whole / N`` is at most that per-fold and once-per-layer overhead.
    """
    layer, core, dataflow, n = args
    system = SystemConfig(name="n", cores=(core,) * n, dram=Dram(64.0))
    case = Case(LayerGraph("one"), system, dataflow, memory=False)
    whole = group(case, layer, (0,))
    split = group(case, layer, tuple(range(n)), splits=("M",))
    assert split.split == "M" and len(split.plans) == n
    part = split.phases.compute
    folds = max(p.folds for p in split.plans)
    assert part * n >= whole.phases.compute
    assert part * n <= whole.phases.compute + n * (folds + 1) * (2 * core.rows + core.cols)


# -- 4. shared memory never delivers more than its bandwidth ------------------------------------------------
def shares(system: SystemConfig) -> list[Fraction]:
    """Each core's share of the shared level, exactly as the model times transfers (``SystemConfig.share``)."""
    return [system.share(i) for i in range(len(system.cores))]


def timed_layers(case: Case, result) -> list[tuple[Layer, object]]:
    """Each array layer's timing with the layer it times: the graph's, or for a pipelined batch the micro-batch
    copy ``name#i`` (the batch over the micro-batches)."""
    count = len({t.name.partition("#")[2] for t in result.layers})
    out = []
    for t in result.layers:
        base, _, micro = t.name.partition("#")
        layer = case.graph[base]
        if micro:
            layer = replace(layer, name=t.name, batch=layer.batch // count)
        if layer.gemm is not None:
            out.append((layer, t))
    return out


def weights_kept(gp, t) -> bool:
    """Whether the schedule kept the layer's weights in its core (a pipeline stage's later micro-batches): the
    timing is the plan's with them on chip and not without."""
    inside, outside = t.input_on_chip, t.output_on_chip
    kept = t.phases != gp.phases_with(inside, outside) or t.dram_bytes != gp.dram_bytes(inside, outside)
    assert (t.phases, t.dram_bytes) == (gp.phases_with(inside, outside, kept), gp.dram_bytes(inside, outside, kept))
    return kept


def phase_bytes(gp, inside: bool, outside: bool, kept: bool = False) -> list[dict[str, int]]:
    """What each used core's channel carries in each of the layer's phases (``Phases`` in
    ``accelsim/schedule/plan.py``): the first fold's weights, its inputs, the streamed rest during the body,
    the last output tile."""
    k = len(gp.plans) if gp.split == "K" else 1
    out = []
    for plan, total in zip(gp.plans, gp.core_bytes(inside, outside, kept)):
        mem = plan.memory
        first_w = 0 if kept else mem.first_bytes - mem.first_input_bytes
        first_i = 0 if inside else mem.first_input_bytes
        last = min(mem.last_bytes, 0 if outside else -(-mem.operands["O"].dram_total // k))
        out.append({"weights": first_w, "inputs": first_i, "compute": total - first_w - first_i - last,
                    "epilogue": last})
    return out


def channel_holds(result) -> tuple[dict[tuple[str, str], dict[int, int]], list[tuple[int, int, int]]]:
    """Cycles each (layer, phase) holds each core's channel, and every hold as (start, end, core)."""
    holds: dict[tuple[str, str], dict[int, int]] = {}
    intervals = []
    for task, start in zip(result.tasks, result.starts):
        for resource, cycles in task.holds:
            if resource.startswith("chan"):
                holds.setdefault((task.layer, task.phase), {})[int(resource[4:])] = cycles
                if cycles:
                    intervals.append((start, start + cycles, int(resource[4:])))
    return holds, intervals


@PROPERTY
@given(cases(memory=True), st.sampled_from(["sequential", "overlap"]))
def test_each_channel_moves_at_most_its_share(case, schedule):
    """Per layer and core: the first fold's weights ≤ share × the weights hold; the whole first fold ≤ share ×
    (weights + inputs holds), before compute may start; everything the layer moves through the channel ≤ share
    × all its holds. With a global buffer, the layer's DRAM bytes ≤ its cores' DRAM share × its holds. A
    channel serves one task at a time."""
    system = case.system
    result = run(case, schedule, energy_table=None)
    holds, intervals = channel_holds(result)
    for layer, t in timed_layers(case, result):
        gp = group(case, layer, t.reserved)
        assert gp.split == t.split and gp.cores == t.cores
        share = dict(zip(t.cores, t.shares))
        assert share == {c: gp.share(c) for c in gp.cores}
        moved_by_core = phase_bytes(gp, t.input_on_chip, t.output_on_chip, weights_kept(gp, t))
        for core, moved in zip(t.cores, moved_by_core):
            held = {phase: holds.get((layer.name, phase), {}).get(core, 0) for phase in moved}
            where = (layer.name, core, moved, held, share[core])
            assert moved["weights"] <= share[core] * held["weights"], where
            assert moved["weights"] + moved["inputs"] <= share[core] * (held["weights"] + held["inputs"]), where
            assert sum(moved.values()) <= share[core] * sum(held.values()), where
        if system.global_buffer is not None:  # DRAM behind the buffer: the group's share of it while it holds
            held_cycles = sum(h.get(t.cores[0], 0) for (name, _), h in holds.items() if name == layer.name)
            dram_share = Fraction(system.dram.bytes_per_cycle) * len(t.reserved) / len(system.cores)
            assert t.dram_bytes <= dram_share * held_cycles, layer.name
    by_core: dict[int, list[tuple[int, int]]] = {}
    for start, end, core in intervals:
        by_core.setdefault(core, []).append((start, end))
    for spans in by_core.values():
        spans.sort()
        assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))


FIVE_CORES = Case(_one_layer(Layer("fc", "linear", in_shapes=((10, 8),), out=10)),
                  SystemConfig(name="five", cores=(ArrayConfig(rows=2, cols=2),) * 5, dram=Dram(1.0)), "ws", True)


@PROPERTY
@example(FIVE_CORES, "sequential")  # 5 × fl(1/5) B/cycle was 2**-54 B/cycle above 1 (before the shares rounded down)
@given(cases(memory=True), st.sampled_from(["sequential", "overlap"]))
def test_the_channels_held_never_draw_more_than_the_shared_bandwidth(case, schedule):
    """The cores' shares add up to at most the shared level's bandwidth, and so, at any cycle, do the shares of
    the channels held then."""
    share, shared = shares(case.system), Fraction(case.system.shared_bytes_per_cycle)
    assert sum(share) <= shared
    result = run(case, schedule, energy_table=None)
    draw = {t.name: sum(t.shares, Fraction(0)) for t in result.layers}  # a layer's cores together
    reserved = {t.name: len(t.reserved) for t in result.layers}
    spans = [(start, start + cycles, task.layer) for task, start in zip(result.tasks, result.starts)
             for resource, cycles in task.holds if resource.startswith("chan") and cycles]
    for name, d in draw.items():  # a layer draws at most its reserved cores' part of the level
        assert d <= shared * reserved[name] / len(case.system.cores), name
    for start, _, _ in spans:
        active = {layer for s, e, layer in spans if s <= start < e}
        assert sum(draw[layer] for layer in active) <= shared, start


@pytest.mark.parametrize("n", range(1, 7))
@pytest.mark.parametrize("bandwidth", [1.0, 16.0, 64.0, 100.0])
def test_the_shares_add_up_to_at_most_the_dram_bandwidth(n, bandwidth):
    core = ArrayConfig(rows=2, cols=2, memory=MemorySpec(dram_bytes_per_cycle=1024))
    system = SystemConfig(name="n", cores=(core,) * n, dram=Dram(bandwidth))
    assert sum(shares(system)) <= Fraction(bandwidth)


@pytest.mark.parametrize("n", [3, 5, 6])
def test_a_share_of_the_dram_moves_the_first_fold_at_exactly_that_share(n):
    """n 2×2 cores sharing 1 B/cycle: the 2-byte first fold of a 1×1×1 linear layer takes 2n cycles at 1/n
    B/cycle (it took 2n + 1 while shares were floats rounded below 1/n: ⌈2 / share⌉ = 2n + 1)."""
    core = ArrayConfig(rows=2, cols=2, memory=MemorySpec(dram_bytes_per_cycle=16))
    system = SystemConfig(name="n", cores=(core,) * n, dram=Dram(1.0))
    layer = Layer("fc", "linear", in_shapes=((1, 1),), out=1)
    ph = plan_group(layer, system, (0,), (load_dataflow("ws"),) * n).phases
    assert ph.weights_first + ph.inputs_first == 2 * n


# -- 5. overlap is never slower than sequential --------------------------------------------------------------
@PROPERTY
@given(cases())
def test_overlap_is_never_slower_than_sequential(case):
    sequential = run(case, "sequential", energy_table=None)
    overlap = run(case, "overlap", energy_table=None)
    assert overlap.cycles <= sequential.cycles
    assert overlap.sequential_cycles == sequential.cycles == sequential.sequential_cycles
    assert sum(t.sequential_cycles for t in sequential.layers) == sequential.cycles
    for result in (sequential, overlap):  # each layer's critical cycles add up to the schedule's
        assert sum(t.critical_cycles for t in result.layers) == result.cycles


# -- 6. monotonicity, the compute roofline, compulsory traffic -----------------------------------------------
@PROPERTY
@given(cases(identical=True))
def test_doubling_shared_dram_bandwidth_never_adds_sequential_cycles(case):
    s = case.system
    faster = replace(s, dram=replace(s.dram, bytes_per_cycle=2 * s.dram.bytes_per_cycle))
    slow = run(case, "sequential", energy_table=None)
    fast = run(case, "sequential", system=faster, energy_table=None)
    assert fast.cycles <= slow.cycles


def touched_inputs(layer: Layer) -> int:
    """Input elements some window reads: a conv whose stride exceeds its kernel's span skips rows and columns
    (as in ``tests/sim/test_bounds.py``); every other layer reads its whole input."""
    g = layer.gemm
    if layer.kind != "conv2d":
        return g.count * g.M * g.K
    c, h, w = layer.in_shapes[0]
    _, p, q = layer.out_shape
    top, left = layer.padding[:2]
    rows = {o * layer.stride[0] + r * layer.dilation[0] - top for o in range(p) for r in range(layer.kernel[0])}
    cols = {o * layer.stride[1] + r * layer.dilation[1] - left for o in range(q) for r in range(layer.kernel[1])}
    return layer.batch * c * len(rows & set(range(h))) * len(cols & set(range(w)))


@PROPERTY
@given(cases(), st.sampled_from(["sequential", "overlap"]))
def test_cycles_never_beat_the_roofline_nor_bytes_the_compulsory(case, schedule):
    """cycles ≥ ⌈MACs / Σ PEs⌉ (parallel int8 PEs: one MAC each a cycle); each layer's DRAM bytes ≥ its outputs
    once and the inputs its windows read once (unless they stay on chip), and its weights once (over all the
    micro-batches of a pipelined batch, whose stages may keep them on chip after the first)."""
    result = run(case, schedule, energy_table=None)
    assert result.cycles >= math.ceil(Fraction(case.graph.macs, case.system.pes))
    weights: dict[str, int] = {}
    for layer, t in timed_layers(case, result):
        g = layer.gemm
        once = group(case, layer, t.cores).compulsory
        # GroupPlan.compulsory is each tensor once, from the layer alone (dense int8: a byte an element); a conv's
        # input is between what its windows read and its whole tensor (by dataflow), and an M split by output rows
        # reads only its rows' windows, so the bound takes the windows' inputs
        whole = layer.batch * math.prod(layer.in_shapes[0]) if layer.kind == "conv2d" else g.count * g.M * g.K
        assert (once["W"], once["O"]) == (g.count * g.K * g.N, g.count * g.M * g.N), t.name
        assert touched_inputs(layer) <= once["I"] <= whole, t.name
        need = (0 if t.input_on_chip else touched_inputs(layer)) + (0 if t.output_on_chip else once["O"])
        assert t.dram_bytes >= need, t.name
        base = t.name.partition("#")[0]
        weights[base] = weights.get(base, 0) + t.dram_bytes - need
    for layer in array_layers(case.graph):
        assert weights[layer.name] >= layer.gemm.count * layer.gemm.K * layer.gemm.N, layer.name


@PROPERTY
@example(Case(_one_layer(Layer("ffn2", "linear", in_shapes=((128, 3072),), out=768)),
              SystemConfig(name="four", cores=(ArrayConfig(rows=32, cols=32),) * 4, dram=Dram(16.0)), "ws", True),
         "sequential")
@given(cases(memory=True), st.sampled_from(["sequential", "overlap"]))
def test_dram_never_moves_more_than_its_bandwidth_over_the_schedule(case, schedule):
    """Every byte the schedule moves at DRAM takes DRAM time: Σ DRAM bytes ≤ bandwidth × cycles. (Found a K
    split reducing its partial sums through DRAM at twice the bandwidth: written and read back, timed once —
    BERT's ffn2 on four sa32 cores sharing 16 B/cycle moved 20.7 B/cycle.)"""
    result = run(case, schedule, energy_table=None)
    assert result.dram_bytes <= Fraction(case.system.dram.bytes_per_cycle) * result.cycles


# -- 7. partitions are exact and balanced --------------------------------------------------------------------
@st.composite
def gemm_layers(draw) -> Layer:
    kind = draw(st.sampled_from(["linear", "conv2d", "matmul"]))
    batch = draw(st.integers(1, 4))
    if kind == "linear":
        lead = tuple(draw(st.lists(st.integers(1, 9), min_size=0, max_size=2)))
        return Layer("fc", "linear", in_shapes=((*lead, draw(st.integers(1, 40))),), out=draw(st.integers(1, 40)),
                     batch=batch)
    if kind == "matmul":
        heads = tuple(draw(st.lists(st.integers(1, 4), min_size=0, max_size=2)))
        m, k, n = (draw(st.integers(1, 20)) for _ in range(3))
        shared_b = draw(st.booleans())
        transpose = draw(st.booleans())
        b = (n, k) if transpose else (k, n)
        return Layer("mm", "matmul", in_shapes=((*heads, m, k), b if shared_b else (*heads, *b)),
                     transpose_b=transpose, batch=batch)
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    r, s = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    hw = draw(st.integers(max(r, s) * 2, 12))
    return Layer("conv", "conv2d", in_shapes=((groups * draw(st.integers(1, 4)), hw, hw),),
                 out=groups * draw(st.integers(1, 8)), kernel=(r, s), stride=(draw(st.integers(1, 2)),) * 2,
                 dilation=(draw(st.integers(1, 2)),) * 2, padding=tuple(draw(st.integers(0, 1)) for _ in range(4)),
                 groups=groups, batch=batch)


def extent(layer: Layer, part: Layer, dim: str, n: int, parts: tuple[Layer, ...]) -> int:
    """The size of ``part`` along what ``dim`` splits (``docs/multicore.md``'s table): a conv's images when
    it has one per core, else its output rows; a matmul's products when the parts have fewer, else its rows."""
    g = part.gemm
    if dim == "K":
        return part.in_shapes[0][0] if part.kind == "conv2d" else g.K
    if dim == "N":
        return part.groups if part.kind == "conv2d" and layer.groups > 1 else g.N
    if part.kind == "conv2d":
        return part.batch if layer.batch >= n else part.out_shape[1]
    if part.kind == "linear":
        return part.batch * math.prod(part.in_shapes[0][:-1])
    return g.count if parts[0].gemm.count != layer.gemm.count else g.M


@settings(PROPERTY, max_examples=300)
@given(gemm_layers(), st.sampled_from(["M", "N", "K"]), st.integers(1, 6))
def test_every_split_is_exact_and_balanced(layer, dim, n):
    parts = split_layer(layer, dim, n)
    if parts is None:
        return
    assert 1 <= len(parts) <= n
    assert sum(p.macs for p in parts) == layer.macs
    if n == 1:
        assert parts == (layer,)
        return
    sizes = [extent(layer, p, dim, n, parts) for p in parts]
    assert max(sizes) - min(sizes) <= 1, sizes
    assert sum(sizes) == extent(layer, layer, dim, n, parts), sizes  # the parts cover the layer once


# -- pinned examples ---------------------------------------------------------------------------------------
def quad_sa32() -> SystemConfig:
    """Four sa32 arrays sharing one sa32's DRAM (16 B/cycle: 4 B/cycle each)."""
    sa32 = resolve_arch("sa32")
    return SystemConfig(name="sa32x4", cores=(sa32,) * 4, dram=Dram(bytes_per_cycle=16))


@pytest.mark.parametrize("schedule, cycles", [("sequential", 3_739_987), ("overlap", 3_732_307)])
def test_resnet50_on_four_sa32_cores(schedule, cycles):
    """Pinned: a change to these numbers must be deliberate (update them with the reason in the commit)."""
    from accelsim.workload import resolve_workload

    result = run_system(resolve_workload("resnet50"), quad_sa32(), schedule=schedule, energy_table=None)
    assert (result.cycles, result.sequential_cycles) == (cycles, 3_739_987)
    assert replay(result.tasks) == list(result.starts)


@pytest.mark.parametrize("layer", [
    Layer("fc", "linear", in_shapes=((1, 1),), out=1),  # M = N = K = 1
    Layer("c", "conv2d", in_shapes=((1, 3, 3),), out=1, kernel=(3, 3)),  # K = 9, but one channel, filter, row
], ids=["linear-1x1x1", "conv-1ch-3x3-to-1x1"])
def test_a_layer_no_split_applies_to_still_runs_on_several_cores(layer):
    one = run_system(_one_layer(layer), SystemConfig.single(resolve_arch("sa32")), schedule="sequential")
    two = run_system(_one_layer(layer), quad_sa32(), schedule="sequential")
    assert two.cycles > 0 and two.macs == one.macs


def test_an_unknown_schedule_is_refused():
    graph = LayerGraph("g", inputs={"x": (4, 8)})
    graph.add(Layer("fc", "linear", in_shapes=((4, 8),), out=2), ["x"])
    with pytest.raises(UnsupportedError, match="bogus"):
        run_system(graph, quad_sa32(), schedule="bogus")


def test_a_layer_larger_than_the_global_buffer_reaches_dram_blocked():
    """A 2,048 × 12,288 × 12,288 fp16 matmul on a100-like (40 MB L2) moved 38.8 GB, 96x its tensors, when every
    core's re-reads went to DRAM; blocked at the L2 it moves each tensor a few times, never less than once."""
    from accelsim.workload.graph import LayerGraph
    from accelsim.workload.layer import Layer

    layer = Layer("mm", "linear", in_shapes=((2048, 12288),), out=12288, input_type="fp16", weight_type="fp16",
                  output_type="fp16")
    graph = LayerGraph("mm", {"x": (2048, 12288)})
    graph.add(layer, ["x"])
    from accelsim.arch.system import resolve_system

    result = run_system(graph, resolve_system("a100-like"), schedule="sequential", energy_table=None)
    tensors = 2 * (2048 * 12288 + 12288 * 12288 + 2048 * 12288)
    assert tensors <= result.dram_bytes <= 8 * tensors


def test_a_grid_split_covers_the_layer_exactly():
    from accelsim.mapping.partition import split_layer
    from accelsim.workload.layer import Layer

    layer = Layer("mm", "linear", in_shapes=((2048, 12288),), out=12288)
    parts = split_layer(layer, "MN", 432)
    assert len(parts) == 432 and sum(p.macs for p in parts) == layer.macs
    assert {p.gemm.M for p in parts} == {256} and {p.gemm.N for p in parts} <= {227, 228}


def test_ideal_memory_has_no_dram_floor_behind_a_global_buffer():
    """With --ideal-memory a layer takes its compute (and reduction) only; the global buffer's DRAM floor applied
    anyway (a 64 x 12,288 x 12,288 matmul on a100-like took 227,337 cycles for 98,350 of compute)."""
    from accelsim.arch.system import resolve_system
    from accelsim.workload.graph import LayerGraph
    from accelsim.workload.layer import Layer

    layer = Layer("mm", "linear", in_shapes=((64, 12288),), out=12288, input_type="fp16", weight_type="fp16",
                  output_type="fp16")
    graph = LayerGraph("mm", {"x": (64, 12288)})
    graph.add(layer, ["x"])
    result = run_system(graph, resolve_system("a100-like"), schedule="sequential", memory=False, energy_table=None)
    timing = result.layers[0]
    assert result.cycles == timing.phases.compute + timing.phases.reduce
