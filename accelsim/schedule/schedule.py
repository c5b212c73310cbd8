"""The network on a system of cores over time: sequential or overlapped (``docs/multicore.md``).

``sequential``: layers one after another in topological order, each split over every core, each
starting when everything before it has finished (with one core this is the single-array engine's
total, cycle for cycle). ``overlap``: the same graph as a dependency graph:

* a layer's first operands load while the previous layer on its cores computes (each core's
  channel serves the next layer's weights and inputs before the previous layer's last outputs);
* its DRAM latency overlaps the previous layer's compute;
* activations stay on chip between layers when they fit (the global buffer, or one core's input
  buffer), with their whole lifetime counted (residual branches keep a tensor live);
* independent branches may run on different cores at once (a greedy earliest-finish placement
  over the whole system and single cores, kept only when it beats placing every layer on every core).

Both are lists of :class:`~accelsim.schedule.tasks.Task`; their start cycles are the closed form
:func:`~accelsim.schedule.tasks.closed_form`, which the event replay reproduces.

Examples
--------
>>> from accelsim.arch import resolve_system
>>> from accelsim.workload import resolve_workload
>>> seq = run_system(resolve_workload("alexnet"), resolve_system("sa32"), schedule="sequential")
>>> ovl = run_system(resolve_workload("alexnet"), resolve_system("sa32"), schedule="overlap")
>>> seq.cycles, ovl.cycles <= seq.cycles
(4356878, True)
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field, fields, replace
from fractions import Fraction
from functools import cache
from typing import Any

from ..arch.system import SystemConfig, cores_text
from ..errors import UnsupportedError
from ..mapping.choice import LayerChoice
from ..mapping.dataflow import DataflowSpec
from ..workload.graph import LayerGraph
from ..workload.layer import Layer
from .plan import GroupPlan, Phases, plan_group
from .tasks import Task, issue

MODES = ("sequential", "overlap")
MAX_MICRO_BATCHES = 64  # layer pipelining unrolls the graph once per micro-batch
# A layer's plan depends on everything but its name
_SHAPE_FIELDS = tuple(f.name for f in fields(Layer) if f.name != "name")


@dataclass(frozen=True)
class LayerTiming:
    """One layer in a schedule: where, when, and what overlap saved it.

    ``start``..``end`` spans its first load to its last write; ``compute_start``..``compute_end``
    its body on the array (or vector unit). ``sequential_cycles`` is its time alone on every core
    with every activation through DRAM (the sequential schedule's); ``critical_cycles`` how much it
    moved the schedule's end (the latest end so far, in topological order, minus the one before
    it), so the layers' critical cycles add up to the schedule's and ``saved_cycles`` to its saving.
    """

    name: str
    unit: str
    cores: tuple[int, ...]
    split: str
    start: int
    compute_start: int
    compute_end: int
    end: int
    sequential_cycles: int
    critical_cycles: int
    input_on_chip: bool
    output_on_chip: bool
    macs: int
    dram_bytes: int
    phases: Phases
    reserved: tuple[int, ...] = ()  # the cores it holds (their share of the shared level); ⊇ cores
    shares: tuple[Fraction, ...] = ()  # each used core's bandwidth to the shared level, bytes per cycle

    @property
    def saved_cycles(self) -> int:
        """What overlap saved on this layer: its time alone minus what it added to the schedule."""
        return self.sequential_cycles - self.critical_cycles

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "unit": self.unit, "cores": list(self.cores) if len(self.cores) < 8
                else f"{self.cores[0]}-{self.cores[-1]}", "split": self.split, "start": self.start,
                "compute_start": self.compute_start, "compute_end": self.compute_end, "end": self.end,
                "sequential_cycles": self.sequential_cycles, "critical_cycles": self.critical_cycles,
                "saved_cycles": self.saved_cycles, "input_on_chip": self.input_on_chip,
                "output_on_chip": self.output_on_chip, "macs": self.macs, "dram_bytes": self.dram_bytes}


@dataclass(frozen=True)
class SystemResult:
    """A workload's schedule on a system: per-layer timing, the tasks, totals and energy."""

    workload: str
    system: SystemConfig
    mode: str
    layers: tuple[LayerTiming, ...]
    tasks: tuple[Task, ...]
    starts: tuple[int, ...]
    cycles: int
    sequential_cycles: int
    energy_pj: dict[str, Fraction] = field(default_factory=dict)
    assumptions: tuple[str, ...] = ()

    @property
    def saved_cycles(self) -> int:
        """What the schedule saved against the sequential one (0 for the sequential schedule)."""
        return self.sequential_cycles - self.cycles

    @property
    def macs(self) -> int:
        return sum(t.macs for t in self.layers)

    @property
    def dram_bytes(self) -> int:
        return sum(t.dram_bytes for t in self.layers)

    @property
    def time_ms(self) -> Fraction:
        return self.cycles / (Fraction(self.system.clock_mhz) * 1000)

    busy: Fraction = Fraction(0)  # occupied PE-cycles of every part (issued MACs over each PE's fusion)

    @property
    def utilization(self) -> float:
        """Occupied PE-cycles over the system's (``cycles × Σ PEs``), as for one array."""
        return float(self.busy / (self.cycles * self.system.pes)) if self.cycles else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"version": 1, "workload": self.workload, "system": self.system.to_dict(), "schedule": self.mode,
                "total_cycles": self.cycles, "sequential_cycles": self.sequential_cycles,
                "saved_cycles": self.saved_cycles, "total_macs": self.macs, "dram_bytes": self.dram_bytes,
                "energy_pj": {k: float(round(v, 3)) for k, v in self.energy_pj.items()},
                "layers": [t.to_dict() for t in self.layers], "assumptions": list(self.assumptions)}


def run_system(graph: LayerGraph, system: SystemConfig, dataflow: DataflowSpec | None = None, *,
               schedule: str = "overlap", memory: bool = True, search: bool = False,
               energy_table: Any = "horowitz45", choices: dict[str, LayerChoice] | None = None) -> SystemResult:
    """Schedule ``graph`` on ``system`` (``schedule``: ``"sequential"`` or ``"overlap"``).

    ``dataflow`` runs on every core (each must support it); None runs each core's first dataflow.
    ``search`` picks each part's loop order and chunk by fewest cycles (``--mapping search``);
    ``memory=False`` is ideal memory (no DRAM time, no on-chip decisions); ``choices`` gives layers'
    mappings for when they run whole on one core (``simulate``'s ``choices``).
    """
    if schedule not in MODES:
        raise UnsupportedError(f"schedule must be one of {', '.join(MODES)}, not '{schedule}'")
    from ..mapping import load_dataflow

    if dataflow is not None:
        for i, core in enumerate(system.cores):
            if dataflow.name not in core.dataflows:
                raise UnsupportedError(f"core {i} ({core.name}) of '{system.name}' does not support dataflow "
                                       f"'{dataflow.name}' (it supports {', '.join(core.dataflows)})")
        dataflows = tuple(dataflow for _ in system.cores)
    else:
        by_name = {name: load_dataflow(name) for name in {c.dataflows[0] for c in system.cores}}
        dataflows = tuple(by_name[c.dataflows[0]] for c in system.cores)
    alternatives = None
    if search and dataflow is None:  # the search may pick each part's dataflow among its core's
        alternatives = tuple(tuple(load_dataflow(n) for n in c.dataflows[1:]) for c in system.cores)
    graph, formats = _datapath_formats(graph, system)
    _require_capacity(graph, system)
    planner = _Planner(graph, system, dataflows, memory, search, choices or {}, alternatives)
    every = tuple(range(len(system.cores)))
    order = [layer.name for layer in graph]
    sequential = planner.build(order, dict.fromkeys(order, every), set(), sequential=True)
    best = sequential
    notes: list[str] = [*graph.meta.get("assumptions", ()), *([formats] if formats else [])]
    if schedule == "overlap":
        keep = planner.on_chip() if memory else set()
        whole = planner.build(order, dict.fromkeys(order, every), keep, sequential=False)
        best = min((whole, sequential), key=lambda b: b.makespan)  # the sequential one is never better (a property)
        if len(every) > 1 and planner.has_branches:
            placed = planner.place(order, keep)
            if placed.makespan < best.makespan:
                best = placed
        batch = _uniform_batch(graph)
        if len(every) > 1 and batch > 1 and len(graph) > 1:
            tried = []
            for count in _micro_batch_counts(batch, min(len(every), len(graph))):
                piped = _Planner(_unrolled(graph, batch // count, count), system, dataflows, memory, search, {},
                             alternatives)
                p_order, p_groups, stages = piped.pipeline(count)
                built = piped.build(p_order, p_groups, piped.on_chip() if memory else set(), sequential=False)
                tried.append(f"{count} × {batch // count}: {built.makespan:,}")
                if built.makespan < best.makespan:
                    planner, best, chosen = piped, built, (count, stages)
            if not tried:
                notes.append(f"layer pipelining of batch {batch} was not tried: it needs a power-of-two count of "
                             f"micro-batches, at least one per stage and at most {MAX_MICRO_BATCHES}, to divide it")
            elif planner.graph is graph:
                notes.append(f"layer pipelining of the batch in micro-batches (count × size: cycles; "
                             f"{'; '.join(tried)}) is slower than splitting every layer over the cores")
            else:
                count, stages = chosen
                notes.append(f"batch {batch} pipelined as {count} micro-batches of {batch // count} over {stages} "
                             "stages of consecutive layers, one core each, weights kept in a stage's core when they "
                             "fit half its weight buffer (layer#i is micro-batch i; its alone is its own on every "
                             f"core); tried {'; '.join(tried)}")
    if not system.is_single_array and system.network.topology != "crossbar":
        notes.append(f"{system.network.topology}: each core's traffic crosses its hops (latency and energy per hop) "
                     "at its link's bandwidth; links shared by several cores' traffic are not contended")
    return planner.result(best, schedule, sequential.makespan, energy_table, tuple(notes))


def _require_capacity(graph: LayerGraph, system: SystemConfig) -> None:
    """Refuse a workload whose weights do not fit the DRAM capacity the system states (nothing pages them)."""
    if not system.dram.capacity_gib:
        return
    weights = sum(math.ceil(Fraction(layer.params * layer.dtypes["W"].bits, 8)) for layer in graph
                  if layer.gemm is not None and layer.kind != "matmul")
    capacity = Fraction(system.dram.capacity_gib) * 2**30
    if weights > capacity:
        raise UnsupportedError(f"{graph.name}'s weights take {weights:,} bytes but '{system.name}' states "
                               f"dram.capacity_gib {system.dram.capacity_gib:g} ({int(capacity):,} bytes): nothing "
                               "pages weights in from elsewhere; give a larger capacity_gib, or 0 for unstated")


def _uniform_batch(graph: LayerGraph) -> int:
    """The batch every layer carries (1 when they differ or a layer holds it inside its shapes)."""
    batches = {layer.batch for layer in graph}
    return batches.pop() if len(batches) == 1 else 1


def _micro_batch_counts(batch: int, stages: int) -> list[int]:
    """Micro-batch counts a pipeline tries: at least one per stage, dividing the batch, at most three.

    Examples
    --------
    >>> _micro_batch_counts(64, 4), _micro_batch_counts(6, 4), _micro_batch_counts(3, 8), _micro_batch_counts(100003, 4)
    ([4, 8, 16], [6], [3], [])
    """
    if batch <= MAX_MICRO_BATCHES:
        candidates = sorted({*(2**i for i in range(batch.bit_length()) if 2**i >= stages), batch})
    else:  # a schedule of a few hundred micro-batches per layer says nothing more; only powers of two divide
        candidates = [2**i for i in range(MAX_MICRO_BATCHES.bit_length()) if stages <= 2**i <= MAX_MICRO_BATCHES]
    return [c for c in candidates if batch % c == 0 and c >= min(stages, batch)][:3]


def _unrolled(graph: LayerGraph, micro: int, count: int) -> LayerGraph:
    """The graph once per micro-batch of ``micro`` samples: layer ``name`` of micro-batch ``i`` is ``name#i``."""
    out = LayerGraph(graph.name, {f"{t}#{b}": shape for b in range(count) for t, shape in graph.inputs.items()},
                     meta=dict(graph.meta))
    for b in range(count):
        for layer in graph:
            out.add(replace(layer, name=f"{layer.name}#{b}", batch=micro),
                    [f"{t}#{b}" for t in graph.sources(layer.name)])
    return out


def _stages(loads: list[int], count: int) -> list[int]:
    """Cut ``loads`` (in order) into at most ``count`` consecutive stages minimising the largest
    stage's sum; returns each item's stage.

    Examples
    --------
    >>> _stages([5, 1, 1, 5, 2, 2], 3)
    [0, 0, 1, 1, 2, 2]
    """
    def cuts(limit: int) -> list[int] | None:
        stage, total, out = 0, 0, []
        for x in loads:
            if total + x > limit and total:
                stage, total = stage + 1, 0
            total += x
            out.append(stage)
        return out if stage < count else None

    low, high = max(loads, default=0), sum(loads)
    while low < high:
        mid = (low + high) // 2
        if cuts(mid) is None:
            low = mid + 1
        else:
            high = mid
    result = cuts(low)
    assert result is not None
    return result


@dataclass
class _Built:
    """A schedule under construction: tasks, their closed-form starts and ends, resource frees."""

    tasks: list[Task] = field(default_factory=list)
    starts: list[int] = field(default_factory=list)
    ends: list[int] = field(default_factory=list)
    free: dict[str, int] = field(default_factory=dict)
    index: dict[tuple[str, str], int] = field(default_factory=dict)
    groups: dict[str, tuple[int, ...]] = field(default_factory=dict)
    pending: dict[str, int] = field(default_factory=dict)  # layer -> epilogue cycles not yet issued
    flags: dict[str, tuple[bool, bool]] = field(default_factory=dict)
    plans: dict[str, GroupPlan] = field(default_factory=dict)

    def add(self, layer: str, phase: str, holds: list[tuple[str, int]], after: list[tuple[int, int]]) -> int:
        holds = [(r, c) for r, c in holds if c]  # a phase with nothing to move takes no turn on its resource
        task = Task(layer, phase, tuple(holds), tuple(after))
        start = issue(task, self.ends, self.free)
        self.tasks.append(task)
        self.starts.append(start)
        self.ends.append(start + task.duration)
        self.index[layer, phase] = len(self.tasks) - 1
        return len(self.tasks) - 1

    @property
    def makespan(self) -> int:
        return max(self.ends, default=0)

    def checkpoint(self) -> tuple:
        return len(self.tasks), dict(self.free), dict(self.pending)

    def rollback(self, mark: tuple, layer: str) -> None:
        """Forget everything added since ``mark`` (a placement tried and not kept)."""
        n, free, pending = mark
        for task in self.tasks[n:]:
            self.index.pop((task.layer, task.phase), None)
        del self.tasks[n:], self.starts[n:], self.ends[n:]
        self.free, self.pending = free, pending
        self.groups.pop(layer, None)
        self.flags.pop(layer, None)
        self.plans.pop(layer, None)


class _Planner:
    def __init__(self, graph: LayerGraph, system: SystemConfig, dataflows: tuple[DataflowSpec, ...],
                 memory: bool, search: bool, choices: dict[str, LayerChoice],
                 alternatives: tuple[tuple[DataflowSpec, ...], ...] | None = None):
        self.graph, self.system, self.dataflows, self.memory, self.search = graph, system, dataflows, memory, search
        self.choices, self.alternatives = choices, alternatives
        self.resident: set[str] = set()  # layers whose weights an earlier micro-batch left in their core
        self._plans: dict[tuple[str, tuple[int, ...]], GroupPlan] = {}
        self._alike: dict[tuple, tuple[tuple[int, ...], GroupPlan]] = {}
        classes: dict[tuple, int] = {}  # cores that plan alike: the same view and dataflow
        self.core_class = [classes.setdefault((system.plan_view(c), dataflows[c],
                                               alternatives[c] if alternatives else ()), len(classes))
                           for c in range(len(system.cores))]
        self.preds = {layer.name: [s for s in dict.fromkeys(graph.sources(layer.name)) if s in graph]
                      for layer in graph}
        succ: dict[str, list[str]] = {name: [] for name in self.preds}
        for name, ps in self.preds.items():
            for p in ps:
                succ[p].append(name)
        self.succ = succ
        self.has_branches = any(len(s) > 1 for s in succ.values())

    def plan(self, name: str, group: tuple[int, ...]) -> GroupPlan:
        """The layer's plan on ``group``, shared by layers of the same shape on cores that look the same
        (same array, dataflow and view of the memory system): ResNet-50 repeats its blocks, and a
        system of identical cores has one plan per group size."""
        layer = self.graph[name]
        key = (name, group)
        if key not in self._plans:
            shape = tuple(getattr(layer, f) for f in _SHAPE_FIELDS)
            alike = (shape, tuple(self.core_class[c] for c in group), self.choices.get(name))
            if alike not in self._alike:
                self._alike[alike] = (group, plan_group(layer, self.system, group, self.dataflows,
                                                        memory=self.memory, search=self.search,
                                                        choice=self.choices.get(name),
                                                        alternatives=self.alternatives))
            first, shared = self._alike[alike]
            # the same plan on these cores: they plan alike position by position with the group it was made for
            used = tuple(group[first.index(c)] for c in shared.cores)
            self._plans[key] = shared if shared.cores == used else replace(shared, cores=used)
        return self._plans[key]

    # -- where activations live -----------------------------------------------------------------
    def array_sources(self, name: str, slot: int | None = None) -> frozenset[str]:
        return self._array_sources(name, slot)

    @cache  # noqa: B019 (one planner per run: the cache dies with it)
    def _array_sources(self, name: str, slot: int | None) -> frozenset[str]:
        """Array layers whose output reaches ``name``'s inputs (``slot``: one input) through non-array layers."""
        tensors = self.graph.sources(name)
        todo = [t for i, t in enumerate(tensors) if (slot is None or i == slot) and t in self.graph]
        found: set[str] = set()
        seen: set[str] = set()
        while todo:
            t = todo.pop()
            if t in seen:
                continue
            seen.add(t)
            if self.graph[t].gemm is not None:
                found.add(t)
            else:
                todo.extend(s for s in self.graph.sources(t) if s in self.graph)
        return frozenset(found)

    def on_chip(self) -> set[str]:
        """Array layers whose output stays on chip: every array layer reading it takes it as its
        input operand, it fits with every other live kept tensor, and it is not a graph output."""
        system = self.system
        if system.global_buffer is not None:
            capacity = system.global_buffer.bytes // 2
        elif len(system.cores) == 1:
            capacity = int(system.cores[0].memory.ifmap_kib * 1024) // 2
        else:
            return set()  # cores exchange activations through DRAM without a shared level (docs/multicore.md)
        order = [layer.name for layer in self.graph]
        pos = {name: i for i, name in enumerate(order)}
        arrays = [n for n in order if self.graph[n].gemm is not None]
        readers: dict[str, list[tuple[str, bool]]] = {n: [] for n in arrays}  # (consumer, as its input operand)
        for j in arrays:
            as_input = self.array_sources(j, 0)
            for p in self.array_sources(j):
                readers[p].append((j, p in as_input and p not in self.array_sources(j, 1)))
        every = tuple(range(len(system.cores)))
        live = [0] * len(order)
        keep: set[str] = set()
        for p in arrays:
            if not readers[p] or not all(ok for _, ok in readers[p]):
                continue
            size = self.plan(p, every).compulsory["O"]
            last = max(pos[j] for j, _ in readers[p])
            span = range(pos[p], last + 1)
            if max(live[i] for i in span) + size <= capacity:
                keep.add(p)
                for i in span:
                    live[i] += size
        changed = True
        while changed:  # a consumer reads its input on chip only if all of it is there
            changed = False
            for j in arrays:
                sources = self.array_sources(j, 0)
                if sources and not sources <= keep and sources & keep:
                    keep -= sources
                    changed = True
        return keep

    def input_on_chip(self, name: str, keep: set[str]) -> bool:
        sources = self.array_sources(name, 0)
        return bool(sources) and sources <= keep

    # -- placing layers on cores ---------------------------------------------------------------
    def place(self, order: list[str], keep: set[str]) -> _Built:
        """A greedy earliest-finish placement: every layer on the whole system or on one core (of
        cores that plan alike, the one free first: the others could only finish later)."""
        n = len(self.system.cores)
        every = tuple(range(n))
        state = _Built()
        groups: dict[str, tuple[int, ...]] = {}
        for name in order:
            best: tuple[int, tuple[int, ...]] | None = None
            first_free: dict[int, int] = {}
            for c in range(n):
                free = max(state.free.get(f"array{c}", 0), state.free.get(f"chan{c}", 0))
                k = self.core_class[c]
                if k not in first_free or free < max(state.free.get(f"array{first_free[k]}", 0),
                                                     state.free.get(f"chan{first_free[k]}", 0)):
                    first_free[k] = c
            for group in [every] + [(c,) for c in sorted(first_free.values())]:
                mark = state.checkpoint()
                self.issue(state, name, group, keep, sequential=False)
                done = state.ends[self._available(state, name)]
                state.rollback(mark, name)
                if best is None or done < best[0]:
                    best = (done, group)
            assert best is not None
            groups[name] = best[1]
            self.issue(state, name, best[1], keep, sequential=False)
        for name in list(state.pending):
            self._epilogue(state, name)
        return state

    def pipeline(self, batch: int) -> tuple[list[str], dict[str, tuple[int, ...]], int]:
        """Layer pipelining of an unrolled graph: consecutive layers in stages, one core each, balanced
        by their time alone on one core; samples enter one after another (a wavefront issue order)."""
        names = [layer.name for layer in self.graph]
        per_sample = len(names) // batch
        first = names[:per_sample]
        loads = [self.plan(name, (0,)).phases.sequential for name in first]
        stage = _stages(loads, len(self.system.cores))
        count = max(stage) + 1
        groups: dict[str, tuple[int, ...]] = {name: (stage[i % per_sample],) for i, name in enumerate(names)}
        for s in range(count):  # a stage whose weights fit half its core's weight buffer loads them once
            core = self.system.cores[s]
            weights = sum(self.plan(name, (s,)).compulsory["W"] for i, name in enumerate(first)
                          if stage[i] == s and self.graph[name].kind != "matmul" and self.graph[name].gemm)
            if weights <= core.memory.filter_kib * 1024 // 2:
                self.resident |= {name for i, name in enumerate(names)
                                  if i >= per_sample and stage[i % per_sample] == s and self.graph[name].gemm
                                  and self.graph[name].kind != "matmul"}
        order = [names[b * per_sample + i] for t in range(batch + count - 1) for s in range(count)
                 if 0 <= (b := t - s) < batch for i in range(per_sample) if stage[i] == s]
        return order, groups, count

    # -- building a schedule -------------------------------------------------------------------
    def build(self, order: list[str], groups: dict[str, tuple[int, ...]], keep: set[str], *,
              sequential: bool) -> _Built:
        built = _Built()
        for name in order:
            self.issue(built, name, groups[name], keep, sequential=sequential)
        for name in list(built.pending):
            self._epilogue(built, name)
        return built

    def issue(self, built: _Built, name: str, group: tuple[int, ...], keep: set[str], *, sequential: bool) -> None:
        gp = self.plan(name, group)
        layer = self.graph[name]
        inside, outside = self.input_on_chip(name, keep), name in keep
        ph = gp.phases_with(inside, outside, name in self.resident) if gp.is_array else gp.phases
        # the layer holds its whole group (its share of the shared level) even when it uses fewer cores
        built.groups[name], built.flags[name], built.plans[name] = group, (inside, outside), gp
        chans = [f"chan{c}" for c in group]
        barrier = [(len(built.tasks) - 1, 0)] if sequential and built.tasks else []
        w = built.add(name, "weights", [(c, ph.weights_first) for c in chans], barrier)
        if not sequential:
            for other in list(built.pending):  # the last outputs of layers on these cores, or that this layer reads
                if set(built.groups[other]) & set(group) or other in self.array_sources(name):
                    self._epilogue(built, other)
        ready = [(self._available(built, p), 0) for p in self.preds[name]]
        ready += [(built.index[p, "epilogue"], 0) for p in self.array_sources(name)
                  if (p, "epilogue") in built.index]
        i = built.add(name, "inputs", [(c, ph.inputs_first) for c in chans], ready + barrier)
        holds = [(f"array{c}", ph.body) for c in gp.cores] + [(c, ph.transfer) for c in chans]
        # the DRAM latency is waited after what came from DRAM (once per layer, in either order); overlapped,
        # a layer whose first operands are all on chip waits none (sequential keeps the engine's one wait)
        lag = {w: ph.latency if sequential or ph.weights_first else 0, i: ph.latency if sequential or ph.inputs_first
               else 0}
        body = built.add(name, "compute", holds, [(w, lag[w]), (i, lag[i])] + ready)
        if ph.reduce:  # over the links, or through the shared level on the cores' channels
            where = chans if gp.reduces_through_memory else ["noc"]
            built.add(name, "reduce", [(r, ph.reduce) for r in where], [(body, 0)])
        if layer.gemm is not None and (ph.epilogue or not outside):  # a kept output still writes its last
            built.pending[name] = ph.epilogue                          # tile to the global buffer
            if sequential:
                self._epilogue(built, name)

    def _epilogue(self, built: _Built, name: str) -> None:
        cycles = built.pending.pop(name)
        done = built.index.get((name, "reduce"), built.index[name, "compute"])
        built.add(name, "epilogue", [(f"chan{c}", cycles) for c in built.groups[name]], [(done, 0)])

    @staticmethod
    def _available(built: _Built, name: str) -> int:
        """The task after which ``name``'s output can be read on chip (its compute, or its reduction)."""
        return built.index.get((name, "reduce"), built.index[name, "compute"])

    # -- the result ---------------------------------------------------------------------------
    def result(self, built: _Built, mode: str, sequential: int, energy_table: Any,
               notes: tuple[str, ...]) -> SystemResult:
        every = tuple(range(len(self.system.cores)))
        timings = []
        latest = 0
        by_layer: dict[str, list[int]] = {}
        for i, t in enumerate(built.tasks):
            if t.duration:
                by_layer.setdefault(t.layer, []).append(i)
        for layer in self.graph:
            name = layer.name
            gp = built.plans[name]
            group = gp.cores
            inside, outside = built.flags[name]
            kept = name in self.resident
            ph = gp.phases_with(inside, outside, kept)
            body = built.index[name, "compute"]
            ids = by_layer.get(name) or [body]
            end = max(built.ends[i] for i in ids)
            critical, latest = max(0, end - latest), max(latest, end)
            timings.append(LayerTiming(
                name=name, unit="array" if gp.is_array else "vector", cores=group, split=gp.split,
                start=min(built.starts[i] for i in ids), compute_start=built.starts[body],
                compute_end=built.ends[body], end=end,
                sequential_cycles=self.plan(name, every).phases.sequential, critical_cycles=critical,
                input_on_chip=inside,
                output_on_chip=outside, macs=layer.macs, dram_bytes=gp.dram_bytes(inside, outside, kept), phases=ph,
                reserved=built.groups[name],
                shares=tuple(gp.share(c) for c in gp.cores) if gp.is_array or gp.fetches else ()))
        energy = self._energy(built, energy_table) if energy_table is not None else {}
        return SystemResult(workload=self.graph.name, system=self.system, mode=mode, layers=tuple(timings),
                            tasks=tuple(built.tasks), starts=tuple(built.starts), cycles=built.makespan,
                            sequential_cycles=sequential, energy_pj=energy, assumptions=notes,
                            busy=sum((p.busy for gp in built.plans.values() for p in gp.plans), Fraction(0)))

    def _energy(self, built: _Built, energy_table: Any) -> dict[str, Fraction]:
        """Every part's dynamic energy on its core, DRAM at the bytes DRAM moves, the global buffer
        and network per byte, and every core's leakage for the whole schedule."""
        from ..cost import load_energy_table
        from ..cost.energy import COMPONENTS, dynamic_exact, leakage_per_cycle

        table = load_energy_table(energy_table) if isinstance(energy_table, str) else energy_table
        out = dict.fromkeys((*COMPONENTS, "global_buffer", "network"), Fraction(0))
        system, net, gb = self.system, self.system.network, self.system.global_buffer
        # a global buffer's energy per byte: its own, else the table's SRAM of its size (as the cores' buffers)
        gb_price = Fraction(0) if gb is None else (Fraction(gb.pj_per_byte) if gb.pj_per_byte is not None
                                                   else Fraction(table.sram_pj(gb.kib)))
        if table.unit != "pJ" and (net.pj_per_byte_hop or (gb is not None and gb.pj_per_byte is not None)):
            raise UnsupportedError(f"energy table '{table.name}' counts {table.unit}, but the system's "
                                   "pj_per_byte_hop / global_buffer.pj_per_byte are picojoules: price them in "
                                   "the table's unit or use a picojoule table (horowitz45)")
        for layer in self.graph:
            name = layer.name
            gp = built.plans[name]
            if not gp.is_array and not gp.fetches:
                continue
            inside, outside = built.flags[name]
            parts: dict[tuple[int, int], tuple[Any, int]] = {}  # alike cores' parts priced once, counted each
            for plan, core, view in zip(gp.plans, gp.cores, gp.views()):
                key = (id(plan), id(system.plan_view(core)))
                parts[key] = (parts[key][0], parts[key][1] + 1) if key in parts else ((plan, view), 1)
            for (plan, view), count in parts.values():
                comp, _ = dynamic_exact(plan.traffic, plan.macs, plan.mapping.resolved, view, table)
                for k, v in comp.items():
                    if k != "dram":
                        out[k] += v * count
            dram = gp.dram_bytes(inside, outside, name in self.resident)
            out["dram"] += dram * Fraction(table.dram_per_byte)
            per_core = gp.core_bytes(*gp.channel_flags(inside, outside), name in self.resident)
            if gb is not None:
                out["global_buffer"] += sum(per_core) * gb_price
            if not system.is_single_array:
                hops = sum(b * net.hops(c, len(system.cores)) for b, c in zip(per_core, gp.cores))
                out["network"] += hops * Fraction(net.pj_per_byte_hop)
                if not gp.reduces_through_memory:
                    out["network"] += gp.reduce_bytes * Fraction(net.pj_per_byte_hop)
                elif gb is not None:  # through DRAM it is in the layer's DRAM bytes
                    out["global_buffer"] += 2 * gp.reduce_bytes * gb_price
        alike = Counter(system.cores)  # (432 identical cores: one price, not 432)
        out["leakage"] = built.makespan * sum((leakage_per_cycle(c, table) * n for c, n in alike.items()), Fraction(0))
        return out


def describe(result: SystemResult) -> str:
    """One line naming the system and schedule."""
    s = result.system
    gb = f", global buffer {s.global_buffer.kib:,.10g} KiB" if s.global_buffer else ""
    return (f"{result.workload} on {s.name}: {cores_text(s)}, DRAM {s.dram.bytes_per_cycle:g} B/cycle shared{gb}, "
            f"{s.network.topology} network, {result.mode} schedule")


def _datapath_formats(graph: LayerGraph, system: SystemConfig) -> tuple[LayerGraph, str | None]:
    """The graph's float32 operands in the cores' datapath format (one format: a layer runs on any core)."""
    from ..workload.formats import float_operands, with_datapath_formats

    datapaths = sorted({core.datapath for core in system.cores})
    if len(datapaths) > 1 and float_operands(graph):
        raise UnsupportedError(f"'{system.name}' has cores of different datapaths ({', '.join(datapaths)}) and the "
                               "workload has float32 operands, which take the datapath's format: give the layers "
                               "formats (--input-bits/--weight-bits) or use cores of one datapath")
    return with_datapath_formats(graph, system.cores[0])
