"""LLM design points (``accelsim dse --llm MODEL``): serving objectives of a device built from a base system.

A point is a device: the base system (``--arch``, a system or an array preset or YAML) with the point's
axes applied, a deployment of the model on it, and either one request shape served by
:func:`~accelsim.llm.run.run_llm` (``--prompt``, ``--generate``, ``--batch``) or a seeded Poisson trace
served by :func:`~accelsim.serve.simulate_serving` (``--rate``, ``--requests``). Its numbers are exactly
those two functions' (``docs/dse.md``, "LLM objectives").

Axes:

* array fields (``rows``, ``memory.ifmap_kib``, ``dataflow``, ...) change every core (the base's cores
  must be identical);
* ``system.*`` axes: on a base that is one array, the system of cores is built as for a network's space
  (:func:`accelsim.dse.systems.system_of`: DRAM scales with the cores unless ``system.dram_bytes_per_cycle``
  is given); on a base system, each axis replaces that part of it (the DRAM keeps its bandwidth unless the
  axis is given). ``system.dram_capacity_gib`` sets the DRAM's capacity (an array has none);
* the deployment: ``llm.weights``, ``llm.kv`` (a format, or 4/8/16 bits), ``llm.activations``, ``llm.tp``
  (tensor-parallel devices) and, for one request shape, ``llm.batch``.

What cannot run (weights beyond the DRAM, a width that does not divide over the devices, a prompt beyond
the context window, no request finished) is an infeasible point with its one-line reason.

Examples
--------
>>> from accelsim.arch.system import resolve_system
>>> from accelsim.llm.model import ModelSpec
>>> m = ModelSpec(name="tiny", family="llama", hidden=128, layers=2, heads=4, kv_heads=2, ffn=256, vocab=1000)
>>> points = LlmPoints(resolve_system("npu4-edge"), LlmStudy(m, prompt=32, generate=4), objectives=("tpot_s",))
>>> a, b = points.evaluate([{"system.cores": 2}, {"llm.tp": 3}])
>>> a["feasible"], a["tpot_s"] > 0, b["feasible"], "divide" in b["reason"]
(True, True, False, True)
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any

from ..errors import AccelsimError, SpecError, did_you_mean
from ..specio import Fields, printable
from .pareto import MAXIMISED
from .space import SYSTEM_AXES, WORKLOAD_AXES, Axis, design_of
from .systems import CORES, DRAM, GB_BW, KIB, LINK, TOPOLOGY, axis_design, mesh_shape

if TYPE_CHECKING:
    from ..arch.system import SystemConfig
    from ..llm.model import ModelSpec

CAPACITY = "system.dram_capacity_gib"
# the system axes of an LLM space: a network's (but its schedule: every LLM operator runs alone on
# every core), and the DRAM's capacity, which the model and its KV cache must fit
LLM_SYSTEM_AXES = (*(a for a in SYSTEM_AXES if a != "schedule"), CAPACITY)
WEIGHTS, KV, ACTIVATIONS, BATCH, TP = "llm.weights", "llm.kv", "llm.activations", "llm.batch", "llm.tp"
LLM_AXES = (WEIGHTS, KV, ACTIVATIONS, BATCH, TP)
AREA = ("area_um2", "pe_area_um2", "sram_area_um2")
# what a point of one request shape reports (run_llm's metrics), and a served trace's
SHAPE_METRICS = ("ttft_s", "ttft_last_s", "tpot_s", "tpot_p50_s", "tpot_p90_s", "tpot_p99_s", "e2e_s",
                 "tokens_per_s", "decode_tokens_per_s", "tokens_per_s_per_mm2", "tokens_per_s_per_w",
                 "energy_per_token_j", "average_power_w", "dram_bytes_per_token")
SERVE_METRICS = ("goodput_rps", "goodput_fraction", "ttft_s", "ttft_p99_s", "tpot_s", "tpot_p99_s", "e2e_s",
                 "e2e_p99_s", "tokens_per_s", "requests_per_s", "tokens_per_s_per_mm2", "tokens_per_s_per_w",
                 "energy_per_token_j", "average_power_w", "dram_bytes_per_token")
ALL_METRICS = tuple(dict.fromkeys((*SHAPE_METRICS, *SERVE_METRICS, *AREA)))
MAX_SERVE_REQUESTS = 100_000  # a design point is one run of the trace: keep it to seconds (default 200)


def metrics(serving: bool) -> tuple[str, ...]:
    """The objectives (and bounds) an LLM point offers: its serving metrics and the area columns.

    Examples
    --------
    >>> metrics(False)[:3], "goodput_rps" in metrics(True), "goodput_rps" in metrics(False)
    (('ttft_s', 'ttft_last_s', 'tpot_s'), True, False)
    """
    return (*(SERVE_METRICS if serving else SHAPE_METRICS), *AREA)


def columns(serving: bool) -> tuple[str, ...]:
    """A result's fields, in ``points.csv``'s order after the axes."""
    extra = ("finished", "rejected", "preemptions", "kv_blocks") if serving else ("max_batch_at_context",)
    return ("feasible", *metrics(serving), "deployment", "weight_bytes_per_device", "kv_bytes_per_token", *extra,
            "reason")


def details(serving: bool) -> tuple[str, ...]:
    """The chosen design's columns in ``report.html`` beside its axes and objectives."""
    return ("ttft_s", "tpot_s", "tpot_p99_s", "tokens_per_s", "tokens_per_s_per_mm2", "tokens_per_s_per_w",
            "energy_per_token_j", *(("goodput_rps",) if serving else ()), *AREA, "deployment")


@dataclass(frozen=True)
class Serving:
    """A seeded Poisson trace every point serves (``accelsim serve``'s options, vLLM's names)."""

    rate: float
    requests: int = 200
    seed: int = 0
    ttft_slo_s: float | None = None
    tpot_slo_s: float | None = None
    max_num_seqs: int = 256
    kv_utilization: float = 0.9


@dataclass(frozen=True)
class LlmStudy:
    """What every point of an LLM space serves, and how (everything but the axes).

    ``prompt`` and ``generate`` are tokens (``(low, high)``: a served trace's lengths drawn uniformly);
    ``deployment`` holds :func:`accelsim.cli.llm.deployment_from`'s options (``weights``, ``weight_bits``,
    ``activations``, ``kv``, ``kv_bits``, ``group``, ``weight_nm``) as pairs, unset ones None.
    """

    model: ModelSpec
    prompt: int | tuple[int, int] = 512
    generate: int | tuple[int, int] = 128
    batch: int = 1
    max_num_batched_tokens: int = 2048
    deployment: tuple[tuple[str, Any], ...] = ()
    tp: int = 1
    link_gb_s: float = 300.0
    link_latency_us: float = 2.0
    kernel_overhead_us: float = 0.0
    ideal_memory: bool = False
    serving: Serving | None = None
    name: str = field(default="", compare=False)  # as the user named the model (a bundled name or a path)

    def options(self) -> dict[str, Any]:
        defaults = {"weights": None, "weight_bits": None, "activations": None, "kv": None, "kv_bits": None,
                    "group": 128, "weight_nm": None}
        return defaults | dict(self.deployment)

    def to_dict(self) -> dict[str, Any]:
        """Everything a point's numbers depend on but the base and the axes (the store key's part)."""
        from dataclasses import asdict

        model = {k: v for k, v in asdict(self.model).items() if k != "extra"}
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("model", "name", "serving")}
        out["deployment"] = self.options()
        return {"model": model, **out, "serving": asdict(self.serving) if self.serving else None}

    def describe(self) -> str:
        """One line: the model and what it serves.

        Examples
        --------
        >>> from accelsim.llm.model import ModelSpec
        >>> m = ModelSpec(name="tiny", family="llama", hidden=64, layers=2, heads=4, kv_heads=2, ffn=128, vocab=100)
        >>> LlmStudy(m, prompt=64, generate=8).describe()
        'tiny: prompt 64, generate 8, batch 1'
        >>> LlmStudy(m, prompt=(8, 64), generate=8, serving=Serving(rate=2.0, requests=50)).describe()
        'tiny: 50 Poisson requests at 2 per s (prompt 8-64, generate 8, seed 0)'
        """
        def tokens(value: int | tuple[int, int]) -> str:
            return f"{value[0]}-{value[1]}" if isinstance(value, tuple) else f"{value}"

        tp = f", tp {self.tp}" if self.tp > 1 else ""
        if self.serving is None:
            return f"{self.model.name}: prompt {tokens(self.prompt)}, generate {tokens(self.generate)}, " \
                   f"batch {self.batch}{tp}"
        s = self.serving
        slo = "".join(f", {name} SLO {value:g} s" for name, value in (("TTFT", s.ttft_slo_s), ("TPOT", s.tpot_slo_s))
                      if value is not None)
        return (f"{self.model.name}: {s.requests} Poisson requests at {s.rate:g} per s (prompt {tokens(self.prompt)}, "
                f"generate {tokens(self.generate)}, seed {s.seed}{tp}{slo})")


# -- the device of a point ----------------------------------------------------------------------
def is_array(base: SystemConfig) -> bool:
    """Whether the base is one array (an array preset or YAML, or a system that is exactly one): its
    ``system.*`` axes then build a system of it as a network's space does."""
    return len(base.cores) == 1 and base.global_buffer is None and base.is_single_array


def device_of(base: SystemConfig, point: dict[str, Any]) -> SystemConfig:
    """The point's device: ``base`` with the point's array and system axes applied (module docstring)."""
    from ..arch.system import Dram, GlobalBuffer, Network, SystemConfig
    from .systems import system_of

    array_point = {k: v for k, v in point.items() if not k.startswith(("system.", "llm."))}
    changed = bool(array_point) or any(k in LLM_SYSTEM_AXES for k in point)
    if not changed:
        return base
    core = base.cores[0]
    if array_point:
        core = design_of(core, array_point, every_dataflow=False)[0]
    capacity = point.get(CAPACITY, base.dram.capacity_gib)
    if is_array(base):
        system, _ = system_of(core, {k: v for k, v in point.items() if k in SYSTEM_AXES}, None)
        system = replace(system or SystemConfig.single(core), name=base.name)
        return replace(system, dram=replace(system.dram, capacity_gib=capacity))
    n = point.get(CORES, len(base.cores))
    cores = (core,) * n if array_point or n != len(base.cores) else base.cores
    dram = Dram(point.get(DRAM, base.dram.bytes_per_cycle), base.dram.latency_cycles, capacity)
    gb = base.global_buffer
    if KIB in point or GB_BW in point:
        kib = point.get(KIB, gb.kib if gb else 0)
        if not kib:
            gb = None
        else:
            if GB_BW not in point and gb is None:
                raise SpecError(f"a global buffer ({KIB} {kib}) needs {GB_BW} too")
            bandwidth = point.get(GB_BW, gb.bytes_per_cycle if gb else 0)
            # a new size is priced at the energy table's SRAM of that size; a new bandwidth keeps the base's price
            pj = gb.pj_per_byte if gb is not None and KIB not in point else None
            gb = GlobalBuffer(kib=kib, bytes_per_cycle=bandwidth, pj_per_byte=pj)
    net = base.network
    topology = point.get(TOPOLOGY, net.topology)
    if topology != "mesh":
        rows, cols = 0, 0
    elif net.topology == "mesh" and n == len(base.cores):
        rows, cols = net.mesh_rows, net.mesh_cols
    else:
        rows, cols = mesh_shape(n)
    network = Network(topology=topology, link_bytes_per_cycle=point.get(LINK, net.link_bytes_per_cycle),
                      hop_latency_cycles=point.get("system.hop_latency_cycles", net.hop_latency_cycles),
                      pj_per_byte_hop=point.get("system.pj_per_byte_hop", net.pj_per_byte_hop),
                      mesh_rows=rows, mesh_cols=cols)
    return SystemConfig(name=base.name, cores=cores, dram=dram, global_buffer=gb, network=network)


def _format(name: str, value: Any) -> tuple[str, Any]:
    """An ``llm.`` deployment axis value as the option it sets: ``("weights", "int4")`` or ``("weight_bits", 4)``."""
    from ..llm.quant import ACTIVATION_FORMATS, KV_FORMATS, WEIGHT_FORMATS

    role = name.removeprefix("llm.")
    allowed = {WEIGHTS: WEIGHT_FORMATS, KV: KV_FORMATS, ACTIVATIONS: ACTIVATION_FORMATS}[name]
    if name != ACTIVATIONS and value in (4, 8, 16) and not isinstance(value, bool):  # 16: the datapath's float
        return (role, f"int{value}") if value != 16 else (f"{role.removesuffix('s')}_bits", value)
    if not isinstance(value, str) or value not in allowed:
        bits = " or 4, 8, 16 (bits)" if name != ACTIVATIONS else ""
        raise SpecError(f"must be one of {', '.join(allowed)}{bits}, not {printable(repr(value))}")
    return role, value


def deployment_options(study: LlmStudy, point: dict[str, Any]) -> dict[str, Any]:
    """:func:`accelsim.cli.llm.deployment_from`'s options for the point (its ``llm.`` axes over the study's)."""
    options = study.options()
    for name in (WEIGHTS, KV, ACTIVATIONS):
        if name in point:
            key, value = _format(name, point[name])
            role = name.removeprefix("llm.")
            options |= {role: None, f"{role.removesuffix('s')}_bits": None} if name != ACTIVATIONS else {}
            options[key] = value
    return options


# -- checking a space before any work -----------------------------------------------------------
def check_llm_axes(base: SystemConfig, axes: list[Axis], study: LlmStudy) -> None:
    """Every axis value on its own, and what no single value shows; one line before any work."""
    names = {a.name for a in axes}
    for axis in axes:
        name = printable(axis.name)
        if axis.name in WORKLOAD_AXES or axis.name == "schedule":
            what = "the model's precision is its deployment's (llm.weights, llm.kv, llm.activations)" \
                if axis.name in WORKLOAD_AXES else "every LLM operator runs alone on every core, one after another"
            raise SpecError(f"axis '{name}' does not apply to an LLM space: {what}")
        if axis.name.startswith("llm.") and axis.name not in LLM_AXES:
            raise SpecError(f"axis '{name}' is not an LLM axis{did_you_mean(axis.name, LLM_AXES)}: choose from "
                            f"{', '.join(LLM_AXES)}")
        if axis.name.startswith("system.") and axis.name not in LLM_SYSTEM_AXES:
            raise SpecError(f"axis '{name}' is not a system axis{did_you_mean(axis.name, LLM_SYSTEM_AXES)}: "
                            f"choose from {', '.join(LLM_SYSTEM_AXES)}")
        if axis.name == BATCH and study.serving is not None:
            raise SpecError(f"axis '{BATCH}' is for one request shape: a served trace batches its requests itself "
                            "(--max-num-seqs)")
        if axis.name in (WEIGHTS, KV, ACTIVATIONS):
            role = axis.name.removeprefix("llm.")
            given = [f"--{o.replace('_', '-')}" for o in (role, f"{role.removesuffix('s')}_bits")
                     if dict(study.deployment).get(o) is not None]
            if given:
                raise SpecError(f"axis '{axis.name}' and {' and '.join(given)} both set the {role}: give one")
        if axis.name == TP and study.tp != 1:
            raise SpecError(f"axis '{TP}' and --tp {study.tp} both set the tensor-parallel devices: give one")
        if not base.identical and (axis.name == CORES or not axis.name.startswith(("system.", "llm."))):
            raise SpecError(f"axis '{name}' changes every core, but {base.name}'s cores are not identical")
        seen: dict[str, Any] = {}
        for value in axis.values:
            try:
                design = _axis_design(base, axis.name, value)
            except AccelsimError as err:
                reason = str(err).removeprefix(f"axis '{name}': ")
                raise SpecError(f"axis '{name}' value {printable(repr(value))}: {reason}") from None
            key = repr(design)
            if key in seen:
                raise SpecError(f"axis '{name}' values {printable(repr(seen[key]))} and {printable(repr(value))} give "
                                "the same design: their points would be identical; give each design once")
            seen[key] = value
    if is_array(base):
        from .systems import check_system_axes

        check_system_axes([a for a in axes if a.name in SYSTEM_AXES])
    else:
        if base.global_buffer is None and (KIB in names) != (GB_BW in names):
            raise SpecError(f"{base.name} has no global buffer: the axes '{KIB}' and '{GB_BW}' make one together "
                            "(give both, or neither)")
        by_name = {a.name: a for a in axes}
        meshes = "mesh" in by_name[TOPOLOGY].values if TOPOLOGY in by_name else base.network.topology == "mesh"
        if meshes and CORES in by_name:
            for cores in by_name[CORES].values:
                try:
                    mesh_shape(cores)
                except SpecError as err:
                    raise SpecError(f"a mesh with {CORES} {cores}: {err.message}") from None


def _axis_design(base: SystemConfig, name: str, value: Any) -> Any:
    """One axis value checked on its own, as the design it makes (``8`` and ``8.0`` the same)."""
    from ..arch.system import Dram
    from ..llm.run import MAX_BATCH

    if name in (WEIGHTS, KV, ACTIVATIONS):
        return _format(name, value)
    if name in (BATCH, TP):
        return Fields({"v": value}, where="").int("v", maximum=MAX_BATCH if name == BATCH else 4096)
    if name == CAPACITY:
        try:
            return Dram(bytes_per_cycle=1, capacity_gib=value).capacity_gib
        except SpecError as err:
            raise SpecError(err.message.replace("`SystemConfig.dram.capacity_gib` ", "")) from None
    if name.startswith("system."):
        return axis_design(name, value)
    return design_of(base.cores[0], {name: value}, every_dataflow=False)[0].to_dict()


# -- evaluating points -----------------------------------------------------------------------
class LlmPoints:
    """Evaluate LLM design points (a worker keeps one): ``evaluate(points)`` gives each point's result.

    Points whose device, deployment and devices (``tp``) agree share one
    :class:`~accelsim.llm.cost.CostModel` (its memoised operators and decode curve): e.g. an
    ``llm.batch`` axis. The trace of a served space is drawn once.
    """

    COST_MODELS = 8  # kept at once (each holds its memoised operators)

    def __init__(self, base: SystemConfig, study: LlmStudy, *, energy_table: str = "horowitz45",
                 objectives: tuple[str, ...] = (), limits: tuple[tuple[str, float], ...] = (),
                 minimums: tuple[tuple[str, float], ...] = ()):
        from ..cost import load_energy_table

        self.base, self.study = base, study
        self.table = load_energy_table(energy_table)
        self.limits, self.minimums = dict(limits), dict(minimums)
        # a metric nobody asked for never makes a point infeasible (an area the model cannot price, say)
        self.asked = tuple(dict.fromkeys((*objectives, *self.limits, *self.minimums)))
        self._costs: dict[str, Any] = {}
        self.requests: list[Any] = []
        if study.serving is not None:
            from ..serve import poisson_trace

            s = study.serving
            self.requests = poisson_trace(s.rate, s.requests, input_tokens=study.prompt,
                                          output_tokens=study.generate, seed=s.seed)

    def evaluate(self, points: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [self._point(point) for point in points]

    def _point(self, point: dict[str, Any]) -> dict[str, Any]:
        from ..cli.llm import deployment_from

        try:
            system = device_of(self.base, point)
            deployment = deployment_from(argparse.Namespace(**deployment_options(self.study, point)), system)
            tp = point.get(TP, self.study.tp)
            costs = self._cost_model(system, deployment, tp)
            if self.study.serving is None:
                row = self._shape(system, deployment, tp, point.get(BATCH, self.study.batch), costs)
            else:
                row = self._serve(system, deployment, tp, costs)
        except AccelsimError as err:
            return {"feasible": False, "reason": _one_line(err)}
        return self._bounded(row)

    def _cost_model(self, system: SystemConfig, deployment: Any, tp: int) -> Any:
        from ..arch.config import stable_digest
        from ..llm.cost import CostModel, Link

        key = stable_digest([system.to_dict(), repr(deployment), tp])
        if key not in self._costs:
            if len(self._costs) >= self.COST_MODELS:
                del self._costs[next(iter(self._costs))]
            s = self.study
            link = Link(bytes_per_s=s.link_gb_s * 1e9, latency_s=s.link_latency_us * 1e-6) if tp > 1 else None
            self._costs[key] = CostModel(self.study.model, deployment, system, tp=tp, link=link,
                                         memory=not s.ideal_memory, energy_table=self.table,
                                         kernel_overhead_cycles=round(s.kernel_overhead_us * system.clock_mhz))
        return self._costs[key]

    def _shape(self, system: SystemConfig, deployment: Any, tp: int, batch: int, costs: Any) -> dict[str, Any]:
        """One request shape: ``run_llm``'s numbers."""
        from ..llm.run import run_llm

        s = self.study
        assert isinstance(s.prompt, int) and isinstance(s.generate, int)  # the CLI allows ranges only for a trace
        result = run_llm(s.model, system, deployment, prompt=s.prompt, generate=s.generate, batch=batch, tp=tp,
                         link=costs.link, token_budget=s.max_num_batched_tokens,
                         kernel_overhead_cycles=costs.kernel_overhead_cycles, memory=not s.ideal_memory,
                         energy_table=self.table, costs=costs)
        d = result.to_dict()
        tpot = d["tpot_s"]
        row = {"ttft_s": d["ttft_s"]["first"], "ttft_last_s": d["ttft_s"]["last"], "tpot_s": tpot["mean"],
               "tpot_p50_s": tpot["p50"], "tpot_p90_s": tpot["p90"], "tpot_p99_s": tpot["p99"],
               **{k: d[k] for k in ("e2e_s", "tokens_per_s", "decode_tokens_per_s", "tokens_per_s_per_mm2",
                                    "tokens_per_s_per_w", "energy_per_token_j", "average_power_w",
                                    "dram_bytes_per_token")}}
        if not result.decode_cycles:  # one generated token: no step between two tokens
            row |= dict.fromkeys(("tpot_s", "tpot_p50_s", "tpot_p90_s", "tpot_p99_s"))
        return {"feasible": True, **row, **self._area(system),
                "deployment": d["deployment"], "weight_bytes_per_device": d["weight_bytes_per_device"],
                "kv_bytes_per_token": d["kv_bytes_per_token"], "max_batch_at_context": d["max_batch_at_context"]}

    def _serve(self, system: SystemConfig, deployment: Any, tp: int, costs: Any) -> dict[str, Any]:
        """The trace through the continuous-batching scheduler (as ``accelsim serve`` runs it)."""
        from ..llm.run import kv_bytes_per_token, kv_cache_blocks, system_area_mm2, weight_bytes
        from ..serve import ServeConfig, simulate_serving

        s, serving, model = self.study, self.study.serving, self.study.model
        assert serving is not None
        blocks = kv_cache_blocks(model, system, deployment, tp=tp, utilization=serving.kv_utilization,
                                 hint=f" (an axis {CAPACITY} gives one)")
        config = ServeConfig(kv_blocks=blocks, max_num_seqs=serving.max_num_seqs,
                             max_num_batched_tokens=s.max_num_batched_tokens, max_context=model.max_context,
                             ttft_slo_s=serving.ttft_slo_s, tpot_slo_s=serving.tpot_slo_s)
        longest = max(r.input_tokens + r.output_tokens for r in self.requests)
        costs.prepare_decode(1, min(longest, model.max_context))
        result = simulate_serving(self.requests, costs, config)
        d = result.to_dict()
        if not d["requests"]["finished"]:
            reason = result.rejected[0].rejected if result.rejected else "none finished"
            raise SpecError(f"no request finished ({d['requests']['rejected']} rejected: {reason})")
        tokens_per_s = d["output_tokens_per_s"]
        area, _ = system_area_mm2(system)
        joules = d["energy_pj"] * 1e-12
        row = {"goodput_rps": d["goodput"]["requests_per_s"], "goodput_fraction": d["goodput"]["fraction"],
               "ttft_s": d["ttft_s"]["mean"], "ttft_p99_s": d["ttft_s"]["p99"], "tpot_s": d["tpot_s"]["mean"],
               "tpot_p99_s": d["tpot_s"]["p99"], "e2e_s": d["e2e_s"]["mean"], "e2e_p99_s": d["e2e_s"]["p99"],
               "tokens_per_s": tokens_per_s, "requests_per_s": d["requests_per_s"],
               # per mm² and per W as run_llm counts them: one device's area, all devices' energy
               "tokens_per_s_per_mm2": tokens_per_s / area / tp if tokens_per_s and area else None,
               "tokens_per_s_per_w": d["output_tokens"] / joules if joules else None,
               "energy_per_token_j": d["energy_pj_per_output_token"] * 1e-12,
               "average_power_w": joules / d["makespan_s"] if d["makespan_s"] else None,
               "dram_bytes_per_token": d["dram_bytes_per_output_token"]}
        return {"feasible": True, **row, **self._area(system), "deployment": deployment.label(),
                "weight_bytes_per_device": weight_bytes(model, deployment, tp),
                "kv_bytes_per_token": kv_bytes_per_token(model, deployment, tp),
                "finished": d["requests"]["finished"], "rejected": d["requests"]["rejected"],
                "preemptions": d["preemptions"], "kv_blocks": blocks}

    def _area(self, system: SystemConfig) -> dict[str, Any]:
        """One device's area: every core's PEs and buffers, and the global buffer (``docs/area.md``)."""
        from ..cost.area import array_area, sram_area_um2

        try:
            parts = [array_area(core) for core in system.cores]
        except AccelsimError as err:
            return {**dict.fromkeys(AREA), "reason": f"area not estimated: {_one_line(err)}"}
        pe = sum(p.pe_um2 for p in parts)
        sram = sum(p.sram_um2 for p in parts) + (sram_area_um2(system.global_buffer.kib) if system.global_buffer else 0)
        return {"area_um2": round(pe + sram, 3), "pe_area_um2": round(pe, 3), "sram_area_um2": round(sram, 3)}

    def _bounded(self, row: dict[str, Any]) -> dict[str, Any]:
        """The row, infeasible with the reason if an asked metric has no value or is beyond its bound."""
        note = row.pop("reason", "")
        for metric in self.asked:
            if row.get(metric) is None:
                why = note if metric in (*AREA, "tokens_per_s_per_mm2") and note else \
                    "one generated token has no time between tokens" if metric.startswith("tpot") else "no value"
                return row | {"feasible": False, "reason": f"{metric} is not defined for this point: {why}"}
        for metric, limit in self.limits.items():
            if row[metric] > limit:
                return row | {"feasible": False, "reason": f"{metric} {_shown(row[metric])} is above the limit "
                                                           f"{_shown(limit)}"}
        for metric, limit in self.minimums.items():
            if row[metric] < limit:
                return row | {"feasible": False, "reason": f"{metric} {_shown(row[metric])} is below the limit "
                                                           f"{_shown(limit)}"}
        return row | {"reason": note}


def _shown(value: float) -> str:
    """A bound's or a metric's value in a reason: integers with separators, else 6 significant digits.

    >>> _shown(5000000.0), _shown(0.012621725474315707)
    ('5,000,000', '0.0126217')
    """
    return f"{int(value):,}" if float(value).is_integer() else f"{value:,.6g}"


def _one_line(err: Exception) -> str:
    return " ".join(str(err).split("\n"))


def check_bounds(objectives: tuple[str, ...], limits: dict[str, float], minimums: dict[str, float],
                 serving: bool) -> None:
    """Objectives and bounds must name this kind of point's metrics; an upper bound on a maximised one (or a
    lower bound on a minimised one) is a one-line error."""
    offered = metrics(serving)
    for where, names in (("--objective", objectives), ("--max", tuple(limits)), ("--min", tuple(minimums))):
        for name in names:
            if name not in offered:
                kind = "a served trace" if serving else "one request shape (a trace adds goodput_rps with --rate)"
                raise SpecError(f"{where} '{printable(name)}' is not a metric of {kind}"
                                f"{did_you_mean(name, offered)}: choose from {', '.join(offered)}")
    for name in limits:
        if name in MAXIMISED:
            raise SpecError(f"--max {name}: {name} is better larger; bound it from below with --min {name}=VALUE")
    for name in minimums:
        if name not in MAXIMISED:
            raise SpecError(f"--min {name}: {name} is better smaller; bound it from above with --max {name}=VALUE")
