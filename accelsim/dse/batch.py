"""Batched evaluation: many design points of one workload, sharing every per-layer result.

A point's numbers are ``simulate``'s (cycles, energy) plus the area, but most of the work behind
them is shared between points:

* identical layers are planned once per design (ResNet-50's 122 layers have 43 distinct shapes);
* a layer's plan (:class:`~accelsim.sim.engine.LayerPlan`: mapping, fold timing, traffic, its
  energy without leakage) does not depend on the DRAM (bandwidth, latency), the clock or the
  vector lanes, so points that differ only there share it;
* what is left per point are the closed forms over the plans: stalls from each plan's DRAM
  bytes and the bandwidth, leakage from the cycles, and sums over layers.

With ``search`` each layer also picks its best mapping (dataflow, fold loop order, temporal chunk)
by the objectives, and the choice is part of the result. Everything is exact (integers and
fractions), so a point equals ``simulate`` with the same choices, digit for digit (tested).

Examples
--------
>>> from accelsim.arch import resolve_arch
>>> from accelsim.workload import resolve_workload
>>> batch = Batch(resolve_workload("alexnet"), resolve_arch("sa32"))
>>> a, b = batch.evaluate([{"rows": 16, "dataflow": "os"}, {"rows": 16, "dataflow": "ws"}])
>>> a["feasible"], a["total_cycles"] > 0, a["mapping"]["conv2d1"]["dataflow"], b["mapping"]["conv2d1"]["dataflow"]
(True, True, 'os', 'ws')
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from fractions import Fraction
from functools import lru_cache
from typing import Any

from ..arch import ArrayConfig
from ..errors import AccelsimError
from ..mapping.choice import LayerChoice, loop_orders, tile_candidates
from ..mapping.dataflow import DataflowSpec
from ..sim.totals import NetworkTotals
from ..workload.graph import LayerGraph
from ..workload.layer import Layer
from .pareto import OBJECTIVES
from .space import SYSTEM_AXES, WORKLOAD_AXES, arch_for, design_of, workload_changes

# Axes a layer's plan does not read: points differing only here share every plan.
DRAM_AXES = ("memory.dram_bytes_per_cycle", "memory.dram_latency_cycles", "clock_mhz", "vector_lanes")
# ...and of those, the two a point's closed form adds on top of its group's sums.
GROUP_FREE = ("memory.dram_latency_cycles", "vector_lanes")
LAYER_OBJECTIVES = ("total_cycles", "energy_pj")  # the objectives a single layer's mapping moves


def _found(value):
    """A cached value, or the cached error raised again."""
    if isinstance(value, AccelsimError):
        raise value
    return value


@dataclass(frozen=True)
class _Shape:
    """A distinct layer of a workload: one representative, how often it occurs, and the names."""

    layer: Layer
    names: tuple[str, ...]


@dataclass(frozen=True)
class _Priced:
    """A layer plan with the numbers every point needs from it."""

    plan: Any  # LayerPlan
    choice: LayerChoice
    dynamic: Fraction  # energy without leakage
    dram_bytes: int


@dataclass(frozen=True)
class _Group:
    """The sums over a point's layers that do not depend on its DRAM latency or vector lanes.

    ``cycles`` are the GEMM layers' cycles at latency 0; a point's :class:`NetworkTotals` adds the
    latency each GEMM layer waits once and its vector layers' cycles.
    """

    arch: ArrayConfig
    shapes: list[_Shape]
    work_key: str
    cycles: int
    gemm_layers: int
    dynamic: Fraction
    leak: Fraction
    busy: Fraction
    dram_bytes: int
    mapping: dict[str, dict[str, Any]]
    area: dict[str, float | None]
    note: str = ""  # said in a feasible point's ``reason``: e.g. an area nobody asked for that was not estimated


@lru_cache(maxsize=64)
def _exact_clock(clock_mhz: float) -> Fraction:
    return Fraction(clock_mhz)


def _half_even(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` rounded to an integer, ties to even (as ``round`` rounds a Fraction).

    Examples
    --------
    >>> _half_even(5, 2), _half_even(7, 2), _half_even(7, 3), _half_even(-5, 2)
    (2, 4, 2, -2)
    """
    q, r = divmod(numerator, denominator)
    return q + (2 * r > denominator or (2 * r == denominator and q % 2 == 1))


def _key(values: dict[str, Any]) -> str:
    return json.dumps(values, sort_keys=True, default=repr)


class Batch:
    """Evaluate design points of one workload on variations of one base architecture.

    ``search``: each layer picks its best mapping among the point's dataflow (or, without a
    ``dataflow`` axis, every dataflow the array supports), both fold loop orders and up to four
    temporal chunks, by ``objectives`` (cycles and energy; area does not vary per layer). Without
    it every layer runs the point's dataflow with its own loop order and the largest chunk that
    fits, as ``simulate`` does.
    """

    def __init__(self, graph: LayerGraph, base: ArrayConfig, *, energy_table: str = "horowitz45",
                 search: bool = False, objectives: tuple[str, ...] = OBJECTIVES,
                 limits: dict[str, float] | None = None, vectorise: bool = True):
        from ..cost import load_energy_table

        self.graph, self.base, self.search, self.vectorise = graph, base, search, vectorise
        self.blocks: dict[str, Any] = {}  # accelsim.dse.vectorised's blocks, by the class of points they take
        self.table = load_energy_table(energy_table)
        self.limits = dict(limits or {})
        self.objectives = tuple(o for o in objectives if o in LAYER_OBJECTIVES) or LAYER_OBJECTIVES
        # area matters only as an objective or a limit: otherwise a PE the area model cannot price is a
        # feasible point with no area (and a note), never an infeasible one
        self.area_asked = "area_um2" in objectives or "area_um2" in self.limits
        self._archs: dict[str, ArrayConfig | AccelsimError] = {}
        self._shapes: dict[str, list[_Shape] | AccelsimError] = {}
        self._plans: dict[tuple, _Priced | AccelsimError] = {}
        self._areas: dict[str, Any] = {}
        self._groups: dict[str, _Group | AccelsimError] = {}
        self._rest: dict[str, tuple[int, int] | AccelsimError] = {}
        self._vector: dict[tuple, int] = {}
        self._names = [layer.name for layer in graph]
        self._system_points: Any = None  # accelsim.dse.systems.SystemPoints, made on the first system point

    def evaluate(self, points: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The result of every point, in order (see :func:`accelsim.dse.evaluate.evaluate_point`).

        Points that differ only in array shape, buffers and DRAM are evaluated a block at a time
        (:mod:`accelsim.dse.vectorised`); the rest, and whatever a block hands back, one by one.
        """
        from . import vectorised

        found = vectorised.evaluate(self, points) if self.vectorise else [None] * len(points)
        return [result if result is not None else self._point(point) for result, point in zip(found, points)]

    # what accelsim.dse.vectorised reads
    key_of = staticmethod(lambda values: _key(values))

    @property
    def layer_names(self) -> list[str]:
        return self._names

    def shapes_of(self, point: dict[str, Any], arch: ArrayConfig) -> list[_Shape]:
        return self._shapes_of(point, arch)

    def result(self, note: str, cycles: int, busy: Fraction, pes: int, clock_mhz: float, energy: tuple[int, int],
               area: dict[str, float | None], dram_bytes: int, mapping: dict[str, dict[str, Any]]) -> dict[str, Any]:
        """A feasible point's row (then the limits): ``simulate``'s roundings of its cycles, PE-cycles busy and
        energy (a numerator and a positive denominator), in integers (each float is the correctly rounded value
        of the exact ratio, as :class:`~accelsim.sim.totals.NetworkTotals` and :func:`~accelsim.cost.energy._round`
        give it)."""
        clock = _exact_clock(clock_mhz)
        e_num, e_den = energy
        result: dict[str, Any] = {"feasible": True, "reason": note, "total_cycles": cycles,
                                  "energy_pj": _half_even(e_num * 1000, e_den) / 1000, **area,
                                  "utilization": round(busy.numerator / (busy.denominator * cycles * pes), 6)
                                  if cycles else 0.0,
                                  "dram_bytes": dram_bytes,
                                  # simulate's time_ms to 6 decimals; power = energy / time
                                  "latency_ms": _half_even(cycles * clock.denominator * 1000,
                                                           clock.numerator) / 1_000_000,
                                  "power_mw": _half_even(e_num * clock.numerator, e_den * clock.denominator * cycles)
                                  / 1000 if cycles else 0.0,
                                  "mapping": mapping}
        return self._limited(result)

    # -- one point --------------------------------------------------------------------------
    def _point(self, point: dict[str, Any]) -> dict[str, Any]:
        if any(k in SYSTEM_AXES for k in point):
            try:
                system = self._systems().evaluate(point)
            except AccelsimError as err:
                return {"feasible": False, "reason": str(err)}
            if system is not None:
                return system
            point = {k: v for k, v in point.items() if k not in SYSTEM_AXES}  # one array: the array's numbers
        try:
            latency, lanes = self._dram_rest(point)
            group = self._group(point)
        except AccelsimError as err:
            return {"feasible": False, "reason": str(err)}
        vector = self.vector_cycles(group.shapes, group.arch, group.work_key, lanes or group.arch.cols,
                                    group.arch.memory.dram_bytes_per_cycle, latency)
        totals = NetworkTotals(group.cycles, group.gemm_layers, latency, vector, group.busy, group.arch.pes,
                               group.arch.clock_mhz)
        energy = group.dynamic + totals.cycles * group.leak if group.leak else group.dynamic
        return self.result(group.note, totals.cycles, group.busy, group.arch.pes, group.arch.clock_mhz,
                           (energy.numerator, energy.denominator),
                           group.area, group.dram_bytes, group.mapping)

    def unfit(self, point: dict[str, Any], index: int) -> dict[str, Any]:
        """The row of a point whose distinct layer ``index`` (of :meth:`shapes_of`) no candidate mapping fits, and
        every layer before it does: the error :meth:`_point` raises, from planning that layer alone."""
        from ..cost.energy import leakage_per_cycle

        try:
            rest = {k: v for k, v in point.items() if k not in GROUP_FREE}
            arch, dataflows = self._arch(rest | {"memory.dram_latency_cycles": 0})
            shapes = self._shapes_of(point, arch)
            keys = (self._plan_key(point), _key({k: v for k, v in point.items() if k in WORKLOAD_AXES}))
            self._best(shapes[index], index, arch, dataflows, keys, leakage_per_cycle(arch, self.table))
        except AccelsimError as err:
            return {"feasible": False, "reason": str(err)}
        return self._point(point)  # the layer fits after all: never expected, but then the whole per-point answer

    def _limited(self, result: dict[str, Any]) -> dict[str, Any]:
        """The result, infeasible with the reason if a metric is above its limit."""
        for metric, limit in self.limits.items():
            if result[metric] > limit:
                shown = f"{int(limit):,}" if float(limit).is_integer() else f"{limit:,}"
                result |= {"feasible": False, "reason": f"{metric} {result[metric]:,} is above the limit {shown}"}
                break
        return result

    def _systems(self):
        """The evaluator of this batch's system points (:mod:`accelsim.dse.systems`), made on first use."""
        if self._system_points is None:
            from .systems import SystemPoints

            self._system_points = SystemPoints(self)
        return self._system_points

    def _dram_rest(self, point: dict[str, Any]) -> tuple[int, int]:
        """The point's DRAM latency and vector lanes (each value checked once on the base)."""
        values = {k: point[k] for k in GROUP_FREE if k in point}
        key = _key(values)
        if key not in self._rest:
            try:
                arch = arch_for(self.base, values)
                self._rest[key] = (arch.memory.dram_latency_cycles, arch.vector_lanes)
            except AccelsimError as err:
                self._rest[key] = err
        return _found(self._rest[key])

    def _group(self, point: dict[str, Any]) -> _Group:
        """Everything about a point but its DRAM latency and vector lanes (shared by points differing there)."""
        key = _key({k: v for k, v in point.items() if k not in GROUP_FREE})
        if key not in self._groups:
            try:
                self._groups[key] = self._price_group(point)
            except AccelsimError as err:
                self._groups[key] = err
        return _found(self._groups[key])

    def _price_group(self, point: dict[str, Any]) -> _Group:
        from ..cost.energy import _exact, leakage_per_cycle

        rest = {k: v for k, v in point.items() if k not in GROUP_FREE}
        arch, dataflows = self._arch(rest | {"memory.dram_latency_cycles": 0})
        shapes = self._shapes_of(point, arch)
        plan_key = _key({k: v for k, v in point.items() if k not in DRAM_AXES and k not in WORKLOAD_AXES})
        work_key = _key({k: v for k, v in point.items() if k in WORKLOAD_AXES})
        leak = leakage_per_cycle(arch, self.table)
        cycles, gemm_layers, dynamic, busy, dram = 0, 0, Fraction(0), Fraction(0), 0
        mapping: dict[str, dict[str, Any]] = {}
        for index, shape in enumerate(shapes):
            if shape.layer.gemm is None:  # a lookup's DRAM bytes (its time is in vector_cycles)
                dram += len(shape.names) * shape.layer.lookup_bytes
                dynamic += len(shape.names) * shape.layer.lookup_bytes * _exact(self.table.dram_per_byte)
                continue
            times = len(shape.names)
            priced, c = self._best(shape, index, arch, dataflows, (plan_key, work_key), leak)
            cycles += times * c
            gemm_layers += times
            dynamic += times * priced.dynamic
            busy += times * priced.plan.busy
            dram += times * priced.dram_bytes
            mapping |= dict.fromkeys(shape.names, priced.choice.to_dict())
        areas, note = self._area_columns(arch, dataflows, point)
        return _Group(arch, shapes, work_key, cycles, gemm_layers, dynamic, leak, busy, dram,
                      {name: mapping[name] for name in self._names if name in mapping}, areas, note)

    def vector_cycles(self, shapes: list[_Shape], arch: ArrayConfig, work_key: str, lanes: int, bandwidth: Any,
                      latency: int) -> int:
        """The vector layers' cycles on ``lanes`` lanes: a lookup's include its DRAM time at this bandwidth and
        latency (cached by what they read)."""
        lookups = any(s.layer.lookup_bytes for s in shapes if s.layer.gemm is None)
        key = (work_key, lanes, (bandwidth, latency) if lookups else None)
        if key not in self._vector:
            from ..sim.engine import vector_layer

            arch = arch.with_changes(vector_lanes=lanes)
            if lookups:
                arch = arch.with_changes(memory=replace(arch.memory, dram_bytes_per_cycle=bandwidth,
                                                        dram_latency_cycles=latency))
            self._vector[key] = sum(len(s.names) * vector_layer(s.layer, arch).cycles for s in shapes
                                    if s.layer.gemm is None)
        return self._vector[key]

    def _best(self, shape: _Shape, index: int, arch: ArrayConfig, dataflows: list[DataflowSpec],
              keys: tuple[str, str], leak: Fraction) -> tuple[_Priced, int]:
        """The layer's best candidate on this DRAM (latency 0): ``(priced plan, cycles)``.

        The latency adds the same cycles to every candidate, so it never changes the choice.
        """
        best, first_error = None, None
        for order, priced in enumerate(self._candidates(shape, index, arch, dataflows, keys)):
            if isinstance(priced, AccelsimError):
                first_error = first_error or priced
                continue
            c = priced.plan.compute + priced.plan.stall(arch)
            e = priced.dynamic + c * leak
            score = (*({"total_cycles": c, "energy_pj": e}[o] for o in self.objectives), order)
            if best is None or score < best[0]:
                best = (score, priced, c)
        if best is None:
            assert first_error is not None  # a layer has at least one candidate
            raise first_error
        return best[1], best[2]

    def _candidates(self, shape: _Shape, index: int, arch: ArrayConfig, dataflows: list[DataflowSpec],
                    keys: tuple[str, str]):
        for dataflow in dataflows:
            for spec in (loop_orders(dataflow) if self.search else [dataflow]):
                largest = self._plan(shape, index, arch, spec, None, keys)
                yield largest
                if not self.search or isinstance(largest, AccelsimError) or spec.mode != "stationary":
                    continue
                for tile in tile_candidates(largest.plan.mapping.chunk)[1:]:
                    yield self._plan(shape, index, arch, spec, tile, keys)

    def _plan(self, shape: _Shape, index: int, arch: ArrayConfig, spec: DataflowSpec, tile: int | None,
              keys: tuple[str, str]) -> _Priced | AccelsimError:
        key = (*keys, index, spec.name, spec.loop_order, tile)
        if key not in self._plans:
            from ..cost.energy import dynamic_exact
            from ..sim.engine import plan_layer

            try:
                plan = plan_layer(shape.layer, arch, spec, temporal_tile=tile)
                traffic = plan.traffic
                dynamic = sum(dynamic_exact(traffic, plan.macs, plan.mapping.resolved, arch, self.table)[0].values(),
                              Fraction(0))
                self._plans[key] = _Priced(plan, LayerChoice(spec, tile), dynamic, traffic.total.dram_total)
            except AccelsimError as err:
                self._plans[key] = err
        return self._plans[key]

    # -- shared per point -------------------------------------------------------------------
    def _arch(self, point: dict[str, Any]) -> tuple[ArrayConfig, list[DataflowSpec]]:
        key = _key(point)
        if key not in self._archs:
            try:
                self._archs[key] = design_of(self.base, point, every_dataflow=self.search)
            except AccelsimError as err:
                self._archs[key] = err
        return _found(self._archs[key])

    def _shapes_of(self, point: dict[str, Any], arch: ArrayConfig) -> list[_Shape]:
        """The workload's distinct layers under the point's workload axes and its array's datapath (an imported
        model's float32 operands take its format, as ``simulate`` gives them), in first-seen order."""
        from ..workload.formats import with_datapath_formats

        changes = workload_changes(point)
        key = _key(changes | {"datapath": arch.datapath})
        if key not in self._shapes:
            try:
                graph = self.graph.with_gemm_changes(changes, where=" (design point)") if changes else self.graph
                graph = with_datapath_formats(graph, arch)[0]
                groups: dict[str, tuple[Layer, list[str]]] = {}
                for layer in graph:
                    sig = _key({k: v for k, v in layer.to_dict().items() if k not in ("name", "inputs")})
                    groups.setdefault(sig, (layer, []))[1].append(layer.name)
                self._shapes[key] = [_Shape(layer, tuple(names)) for layer, names in groups.values()]
            except AccelsimError as err:
                self._shapes[key] = err
        return _found(self._shapes[key])

    def _plan_key(self, point: dict[str, Any]) -> str:
        """What a point's layer plans (and its array's hardware) depend on: all but the DRAM and workload axes."""
        return _key({k: v for k, v in point.items() if k not in DRAM_AXES and k not in WORKLOAD_AXES})

    def _area_columns(self, arch: ArrayConfig, dataflows: list[DataflowSpec], point: dict[str, Any], *,
                      cores: int = 1, shared_kib: float = 0.0) -> tuple[dict[str, float | None], str]:
        """The area columns of ``cores`` copies of the point's array plus a shared SRAM of ``shared_kib``,
        and the note of an area nobody asked for that the model cannot estimate."""
        # the PE that runs every dataflow the array supports (a dataflow axis: the point's own spec)
        try:
            area = self._area(arch, dataflows if "dataflow" in point or self.search else None, self._plan_key(point))
            if cores == 1 and not shared_kib:
                pe, sram, total = area.pe_um2, area.sram_um2, area.total_um2
            else:
                from ..cost.area import sram_area_um2

                pe, sram = cores * area.pe_um2, cores * area.sram_um2 + sram_area_um2(shared_kib)
                total = pe + sram
            return {"area_um2": round(total, 3), "pe_area_um2": round(pe, 3), "sram_area_um2": round(sram, 3)}, ""
        except AccelsimError as err:
            if self.area_asked:
                raise
            return (dict.fromkeys(("area_um2", "pe_area_um2", "sram_area_um2")),
                    f"area not estimated (not an objective or a limit): {err}")

    def _area(self, arch: ArrayConfig, dataflows: list[DataflowSpec] | None, plan_key: str):
        key = plan_key  # everything the array's hardware reads, and the dataflow axis
        if key not in self._areas:
            from ..cost.area import array_area

            try:
                self._areas[key] = array_area(arch, dataflows)
            except AccelsimError as err:
                self._areas[key] = err
        return _found(self._areas[key])
