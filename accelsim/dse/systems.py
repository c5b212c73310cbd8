"""Systems of cores in a design space (issue 18): the ``system.*`` axes and ``schedule``.

A point with any of :data:`~accelsim.dse.space.SYSTEM_AXES` is ``system.cores`` identical cores,
each the point's array (its private buffers; its ``memory.dram_bytes_per_cycle`` is the core's port),
sharing DRAM (``system.dram_bytes_per_cycle``, default the port × the cores), an optional global
buffer and an on-chip network (``docs/dse.md``). The workload is scheduled on it by
:func:`accelsim.schedule.run_system` (``schedule``: sequential or overlap; overlap by default on
several cores), whose task starts are closed forms: nothing in the design-space path replays events.

One core, no global buffer, the ideal crossbar, the array's own DRAM and the sequential schedule *is*
the array (``SystemConfig.single``): such a point is evaluated as the array, with the same numbers
and the same per-layer mapping search as a point without system axes.

Examples
--------
>>> from accelsim.arch import resolve_arch
>>> from accelsim.cost import load_energy_table
>>> table = load_energy_table("horowitz45")
>>> system, schedule = system_of(resolve_arch("sa32"), {"system.cores": 4, "system.topology": "mesh"}, table)
>>> len(system.cores), system.dram.bytes_per_cycle, (system.network.mesh_rows, system.network.mesh_cols), schedule
(4, 64.0, (2, 2), 'overlap')
>>> system_of(resolve_arch("sa32"), {"system.cores": 1}, table)  # one array: evaluated as the array
(None, 'sequential')
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from ..arch import ArrayConfig
from ..arch.config import DRAM_BYTES_PER_CYCLE
from ..arch.system import MAX_CORES, Dram, GlobalBuffer, Network, SystemConfig
from ..errors import AccelsimError, SpecError
from ..specio import Fields, printable
from .space import SYSTEM_AXES, Axis, design_of, workload_changes

if TYPE_CHECKING:
    from ..schedule import SystemResult
    from ..workload.graph import LayerGraph
    from .batch import Batch

SCHEDULES = ("sequential", "overlap")
CORES, DRAM, KIB, GB_BW = ("system.cores", "system.dram_bytes_per_cycle", "system.global_buffer_kib",
                           "system.global_buffer_bytes_per_cycle")
TOPOLOGY, LINK, HOP, PJ = ("system.topology", "system.link_bytes_per_cycle", "system.hop_latency_cycles",
                           "system.pj_per_byte_hop")
_IDEAL = Network()  # the network of a system without network axes: no dedicated links, no latency or energy


def has_system_axes(names: Any) -> bool:
    """Whether any of ``names`` (axis names, or :class:`~accelsim.dse.space.Axis` objects) is a system axis."""
    return any(getattr(n, "name", n) in SYSTEM_AXES for n in names)


# -- checking axes ----------------------------------------------------------------------------
def axis_design(name: str, value: Any) -> Any:
    """One system axis value checked on its own, as the design it makes (``8`` and ``8.0`` the same);
    a :class:`SpecError` with the reason, which :func:`~accelsim.dse.space.check_axes` names the axis and value in.

    Examples
    --------
    >>> axis_design("system.cores", 4), axis_design("system.link_bytes_per_cycle", 8)
    (4, 8.0)
    >>> axis_design("system.cores", 0)
    Traceback (most recent call last):
    ...
    accelsim.errors.SpecError: must be an integer in [1, 4096], not 0
    """
    try:
        if name == "schedule":
            if not isinstance(value, str) or value not in SCHEDULES:
                raise SpecError(f"must be one of {', '.join(SCHEDULES)}, not {printable(repr(value))}")
            return value
        if name == CORES:
            return Fields({"cores": value}, where="").int("cores", maximum=MAX_CORES)
        if name == DRAM:
            return Dram(bytes_per_cycle=value).bytes_per_cycle
        if name == KIB:
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value == 0:
                return 0.0  # no global buffer
            return GlobalBuffer(kib=value, bytes_per_cycle=1).kib
        if name == GB_BW:
            return GlobalBuffer(kib=1, bytes_per_cycle=value).bytes_per_cycle
        if name == TOPOLOGY:
            mesh = {"mesh_rows": 1, "mesh_cols": 1} if value == "mesh" else {}
            return Network(topology=value, **mesh).topology
        if name == LINK:
            return Network(link_bytes_per_cycle=value).link_bytes_per_cycle
        if name == HOP:
            return Network(hop_latency_cycles=value).hop_latency_cycles
        if name == PJ:
            return Network(pj_per_byte_hop=value).pj_per_byte_hop
    except SpecError as err:
        raise SpecError(err.message) from None  # the library's field path would name a spec nobody wrote
    raise SpecError(f"is not a system axis (choose from {', '.join(SYSTEM_AXES)})")


def check_system_axes(axes: list[Axis]) -> None:
    """What no single value shows: a global buffer needs both its axes, and every core count a mesh
    axis meets must factor into rows × cols (one line, before any work)."""
    by_name = {a.name: a for a in axes}
    if (KIB in by_name) != (GB_BW in by_name):
        given, missing = (KIB, GB_BW) if KIB in by_name else (GB_BW, KIB)
        raise SpecError(f"axis '{given}' needs the axis '{missing}' too: a global buffer has a size and a "
                        "bandwidth (give both axes, or neither; system.global_buffer_kib 0 is no buffer)")
    if TOPOLOGY in by_name and "mesh" in by_name[TOPOLOGY].values:
        for cores in by_name[CORES].values if CORES in by_name else (1,):
            try:
                mesh_shape(cores)
            except SpecError as err:
                raise SpecError(f"axis '{TOPOLOGY}' value 'mesh' with {CORES} {cores}: {err.message}") from None


def mesh_shape(cores: int) -> tuple[int, int]:
    """The most square ``rows × cols = cores`` (rows ≤ cols); a prime above 3 is refused (a line, not a mesh).

    Examples
    --------
    >>> [mesh_shape(n) for n in (1, 2, 3, 4, 6, 8, 12, 16)]
    [(1, 1), (1, 2), (1, 3), (2, 2), (2, 3), (2, 4), (3, 4), (4, 4)]
    >>> mesh_shape(7)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    accelsim.errors.SpecError: 7 is a prime above 3, so its only rows × cols is 1 × 7 (a line, not a mesh); use ...
    """
    rows = max(d for d in range(1, math.isqrt(cores) + 1) if cores % d == 0)
    if rows == 1 and cores > 3:
        raise SpecError(f"{cores} is a prime above 3, so its only rows × cols is 1 × {cores} (a line, not a mesh); "
                        f"use {TOPOLOGY} ring or crossbar for {cores} cores")
    return rows, cores // rows


# -- a point's system -------------------------------------------------------------------------
def system_of(arch: ArrayConfig, point: dict[str, Any], table: Any) -> tuple[SystemConfig | None, str]:
    """The point's system of cores built from its array ``arch``, and its schedule; ``None`` for a
    point that is the array itself (one core, its own DRAM, no global buffer, the ideal crossbar,
    sequential). The global buffer's energy per byte is the energy table's SRAM energy for an SRAM of
    its size (``table.sram_pj``); the DRAM latency is the array's ``memory.dram_latency_cycles``.
    """
    n = point.get(CORES, 1)
    port = arch.memory.dram_bytes_per_cycle
    gb = None
    kib = point.get(KIB, 0)
    if kib:
        if GB_BW not in point:
            raise SpecError(f"a global buffer ({KIB} {kib}) needs {GB_BW} too")
        smallest = min(arch.memory.ifmap_kib, arch.memory.filter_kib) / 2
        if kib < smallest:
            raise SpecError(f"{KIB} {kib:g} is smaller than one tile of a core's half buffers ({smallest:g} KiB): "
                            "it could not stage a tile")
        gb = GlobalBuffer(kib=kib, bytes_per_cycle=point[GB_BW])  # priced at the table's SRAM of its size
    topology = point.get(TOPOLOGY, "crossbar")
    rows, cols = mesh_shape(n) if topology == "mesh" else (0, 0)
    network = Network(topology=topology, link_bytes_per_cycle=point.get(LINK, _IDEAL.link_bytes_per_cycle),
                      hop_latency_cycles=point.get(HOP, _IDEAL.hop_latency_cycles),
                      pj_per_byte_hop=point.get(PJ, _IDEAL.pj_per_byte_hop), mesh_rows=rows, mesh_cols=cols)
    schedule = point.get("schedule", "overlap" if n > 1 else "sequential")
    dram = point.get(DRAM, min(port * n, DRAM_BYTES_PER_CYCLE[1]))
    if n == 1 and gb is None and network == _IDEAL and dram == port and schedule == "sequential":
        return None, schedule
    # as in a system YAML file: the DRAM latency is the system's (plus network hops), the cores' is 0
    core = arch.with_changes(memory=replace(arch.memory, dram_latency_cycles=0))
    return SystemConfig(name=arch.name, cores=(core,) * n, dram=Dram(dram, arch.memory.dram_latency_cycles),
                        global_buffer=gb, network=network), schedule


# -- evaluating system points -----------------------------------------------------------------
@dataclass(frozen=True)
class _Run:
    """One dataflow's schedule of a point, with the network priced at 1 pJ per byte-hop."""

    dataflow: str
    cycles: int
    energy: dict[str, Fraction]
    macs: int
    dram_bytes: int
    mapping: dict[str, dict[str, Any]]


def _key(values: dict[str, Any]) -> str:
    return json.dumps(values, sort_keys=True, default=repr)


class SystemPoints:
    """The system points of one :class:`~accelsim.dse.batch.Batch`: its table, mapping rule,
    objectives and caches (the array's area and dataflows), and its own cache of schedules.

    Points that differ only in ``system.pj_per_byte_hop`` share their schedules: the energy per
    byte-hop moves no cycle and scales the network's energy exactly (a fraction times a fraction).
    """

    def __init__(self, batch: Batch):
        self.batch = batch
        self._graphs: dict[str, LayerGraph | AccelsimError] = {}
        self._runs: dict[str, list[_Run] | AccelsimError] = {}

    def evaluate(self, point: dict[str, Any]) -> dict[str, Any] | None:
        """The point's result, or None when the point is the array itself (the caller's array path)."""
        from ..cost.energy import _round

        batch = self.batch
        rest = {k: v for k, v in point.items() if k not in SYSTEM_AXES}
        arch, dataflows = batch._arch(rest)
        system, schedule = system_of(arch, point, batch.table)
        if system is None:
            return None
        runs = self._schedules(point, system, schedule, dataflows)
        # a picojoule table's runs price the network at 1 pJ per byte-hop, scaled here; other units run as given
        pj = Fraction(system.network.pj_per_byte_hop) if batch.table.unit == "pJ" else Fraction(1)
        best = None
        for order, run in enumerate(runs):
            energy = sum((v * pj if k == "network" else v for k, v in run.energy.items()), Fraction(0))
            score = (*({"total_cycles": run.cycles, "energy_pj": energy}[o] for o in batch.objectives), order)
            if best is None or score < best[0]:
                best = (score, run, energy)
        assert best is not None  # _schedules raised if no dataflow could run
        _, run, energy = best
        n = len(system.cores)
        shared = system.global_buffer.kib if system.global_buffer else 0.0
        areas, note = batch._area_columns(arch, dataflows, rest, cores=n, shared_kib=shared)
        cycles, clock = run.cycles, Fraction(arch.clock_mhz)
        result: dict[str, Any] = {
            "feasible": True, "reason": note, "total_cycles": cycles, "energy_pj": _round(energy), **areas,
            "utilization": round(run.macs / (cycles * system.pes), 6) if cycles else 0.0,
            "dram_bytes": run.dram_bytes, "latency_ms": float(round(cycles / (clock * 1000), 6)),
            "power_mw": _round(energy * clock / (cycles * 1000)) if cycles else 0.0, "mapping": run.mapping}
        return batch._limited(result)

    def _schedules(self, point: dict[str, Any], system: SystemConfig, schedule: str, dataflows: list) -> list[_Run]:
        """The point's schedule for each dataflow it may run (cached without its energy per byte-hop)."""
        shared = self.batch.table.unit == "pJ"  # (a table in other units refuses picojoules per byte-hop)
        key = _key({k: v for k, v in point.items() if k != PJ or not shared})
        if key not in self._runs:
            from ..schedule import run_system

            unit = replace(system, network=replace(system.network, pj_per_byte_hop=1.0)) if shared else system
            runs: list[_Run] = []
            first_error: AccelsimError | None = None
            try:
                graph = self._graph(point)
                for dataflow in dataflows:
                    try:
                        r = run_system(graph, unit, dataflow, schedule=schedule, search=self.batch.search,
                                       energy_table=self.batch.table)
                    except AccelsimError as err:
                        first_error = first_error or err
                        continue
                    runs.append(_Run(dataflow.name, r.cycles, dict(r.energy_pj), r.macs, r.dram_bytes,
                                     system_mapping(r, dataflow.name)))
                if not runs:
                    assert first_error is not None
                    raise first_error
                self._runs[key] = runs
            except AccelsimError as err:
                self._runs[key] = err
        found = self._runs[key]
        if isinstance(found, AccelsimError):
            raise found
        return found

    def _graph(self, point: dict[str, Any]) -> LayerGraph:
        changes = workload_changes(point)
        key = _key(changes)
        if key not in self._graphs:
            try:
                graph = self.batch.graph
                self._graphs[key] = graph.with_gemm_changes(changes, where=" (design point)") if changes else graph
            except AccelsimError as err:
                self._graphs[key] = err
        found = self._graphs[key]
        if isinstance(found, AccelsimError):
            raise found
        return found


def system_mapping(result: SystemResult, dataflow: str) -> dict[str, dict[str, Any]]:
    """Each array layer's dataflow, split (M, N or K; ``""``: whole on its cores) and cores."""
    return {t.name: {"dataflow": dataflow, "split": t.split, "cores": t.to_dict()["cores"]}
            for t in result.layers if t.unit == "array"}


def system_detail(graph: LayerGraph, base: ArrayConfig, row: dict[str, Any], *, energy_table: str,
                  search: bool) -> SystemResult | None:
    """The schedule behind an evaluated system point (its dataflow from its mapping), or None for a
    point evaluated as the array."""
    from ..cost import load_energy_table
    from ..schedule import run_system
    from .run import RESULT_COLUMNS

    point = {k: v for k, v in row.items() if k not in RESULT_COLUMNS}
    arch, dataflows = design_of(base, {k: v for k, v in point.items() if k not in SYSTEM_AXES},
                                every_dataflow=search)
    table = load_energy_table(energy_table)
    system, schedule = system_of(arch, point, table)
    if system is None:
        return None
    mapping: dict[str, dict[str, Any]] = row.get("mapping") or {}
    chosen = next((m["dataflow"] for m in mapping.values()), dataflows[0].name)  # every layer runs the same one
    spec = next(d for d in dataflows if d.name == chosen)
    changes = workload_changes(point)
    return run_system(graph.with_gemm_changes(changes) if changes else graph, system, spec, schedule=schedule,
                      search=search, energy_table=table)
