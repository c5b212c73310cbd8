"""What an LLM step costs on a system: cycles, energy and DRAM bytes, from the array model's plans.

Each distinct operator of a step (:mod:`accelsim.llm.graph`) is scheduled once on the device's cores
(:func:`~accelsim.schedule.run_system`, ``sequential``: the operator alone on every core) and memoised
by shape; a step is the sum of its operators, one after another. Decode attention, the only part that
grows with the KV length, is a :class:`~accelsim.llm.curve.Curve` in the number of KV blocks: exact,
and evaluated once per period of its folds rather than once per generated token. Beside the plans:

* integer weights' and caches' fp16 scales are read from DRAM at the device's bandwidth;
* with tensor parallelism, two all-reduces per layer of the step's activations over an α-β ring;
* an optional fixed overhead per array operator (a kernel launch; a fitted constant, never a default).

Examples
--------
>>> from accelsim.arch.system import SystemConfig
>>> from accelsim.arch import resolve_arch
>>> from accelsim.llm.model import ModelSpec
>>> m = ModelSpec(name="tiny", family="llama", hidden=256, layers=2, heads=4, kv_heads=2, ffn=512, vocab=1000)
>>> costs = CostModel(m, Deployment(weights="int8", activations="int8", kv="int8"),
...                   SystemConfig.single(resolve_arch("sa32")))
>>> costs.decode(cached=100).cycles == costs.step_cost(Step(decode=(100,))).cycles
True
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, fields, replace
from fractions import Fraction
from typing import Any

from ..arch.system import SystemConfig
from ..errors import SpecError
from ..sim.memory import transfer_cycles
from ..workload.graph import LayerGraph
from ..workload.layer import Layer
from .curve import Curve
from .graph import KV_BLOCK, Op, Parallel, Step, attention_keys, attention_ops, bucket, head_ops, layer_ops, step_ops
from .model import ModelSpec
from .quant import Deployment


@dataclass(frozen=True)
class Cost:
    """Exact totals of some operators: cycles, energy (pJ), DRAM bytes, MACs and array operators run."""

    cycles: int = 0
    energy_pj: Fraction = Fraction(0)
    dram_bytes: int = 0
    macs: int = 0
    kernels: int = 0

    def __add__(self, other: Cost) -> Cost:  # written out: a serving run adds millions of these
        return Cost(self.cycles + other.cycles, self.energy_pj + other.energy_pj, self.dram_bytes + other.dram_bytes,
                    self.macs + other.macs, self.kernels + other.kernels)

    def times(self, k: int) -> Cost:
        if k == 1:
            return self
        return Cost(self.cycles * k, self.energy_pj * k, self.dram_bytes * k, self.macs * k, self.kernels * k)

    def as_tuple(self) -> tuple[int | Fraction, ...]:
        return tuple(getattr(self, f.name) for f in fields(self))

    @staticmethod
    def of(values: tuple[int | Fraction, ...]) -> Cost:
        cycles, energy, dram, macs, kernels = values
        return Cost(int(cycles), Fraction(energy), int(dram), int(macs), int(kernels))


@dataclass(frozen=True)
class Link:
    """The device-to-device link tensor parallelism reduces over: bytes per second and latency (α-β)."""

    bytes_per_s: float
    latency_s: float

    def all_reduce_s(self, nbytes: int, devices: int) -> float:
        """A ring all-reduce: ``2(p-1)`` steps of ``nbytes / p`` each, every step paying the latency."""
        if devices < 2:
            return 0.0
        steps = 2 * (devices - 1)
        return steps * (self.latency_s + nbytes / devices / self.bytes_per_s)


class CostModel:
    """Step costs of ``model`` deployed as ``deployment`` on ``system`` (see the module docstring).

    Implements :class:`accelsim.serve.costs.StepCosts` (``step(prefill, decode)``)."""

    def __init__(self, model: ModelSpec, deployment: Deployment, system: SystemConfig, *, tp: int = 1,
                 pp: int = 1, link: Link | None = None, memory: bool = True, energy_table: Any = "horowitz45",
                 kernel_overhead_cycles: int = 0):
        from ..cost import load_energy_table

        if (tp > 1 or pp > 1) and link is None:
            raise SpecError("tensor and pipeline parallelism need the link between devices (bandwidth and latency)")
        if deployment.weight_nm and any(core.weight_nm != deployment.weight_nm for core in system.cores):
            raise SpecError(f"{deployment.weight_nm} weights run on N:M PEs (cores with weight_nm "
                            f"'{deployment.weight_nm}'); {system.name}'s cores would store them sparse but multiply "
                            "them dense")
        if pp > model.layers:
            raise SpecError(f"model '{model.name}': {model.layers} layers cannot fill {pp} pipeline stages (--pp)")
        self.pp = pp
        self.model, self.deployment, self.system = model, deployment, system
        self.parallel = Parallel(tp)
        self.link = link
        self.memory = memory
        self.table = load_energy_table(energy_table) if isinstance(energy_table, str) else energy_table
        self.kernel_overhead_cycles = kernel_overhead_cycles
        self.clock_mhz = system.clock_mhz
        self._ops: dict[Layer, Cost] = {}
        self._tokens: dict[int, Cost] = {}
        self._prefill: dict[tuple[int, tuple[tuple[int, int], ...]], Cost] = {}
        self._heads: dict[int, Cost] = {}
        self._decode: dict[int, Cost] = {}
        self.decode_curve = Curve(lambda blocks: self._attention(1, blocks * KV_BLOCK - 1).as_tuple())
        # validate the split and the shapes once (a model that does not divide over --tp fails here)
        layer_ops(model, deployment, 1, self.parallel)

    # -- operators ------------------------------------------------------------------------
    def op(self, layer: Layer) -> Cost:
        """One operator alone on the device (memoised by shape: its name is not part of the key)."""
        key = replace(layer, name="op")
        if key not in self._ops:
            self._ops[key] = self._run(key)
        return self._ops[key]

    def _run(self, layer: Layer) -> Cost:
        from ..schedule.schedule import run_system

        graph = LayerGraph("op", {f"in{i}": s for i, s in enumerate(layer.in_shapes)})
        graph.add(layer, list(graph.inputs))
        result = run_system(graph, self.system, schedule="sequential", memory=self.memory, energy_table=self.table)
        is_array = layer.gemm is not None
        return Cost(result.cycles + (self.kernel_overhead_cycles if is_array else 0),
                    sum(result.energy_pj.values(), Fraction(0)), result.dram_bytes, layer.macs, int(is_array))

    def ops(self, ops: list[Op]) -> Cost:
        """Σ count × (operator + its scales' DRAM transfer)."""
        total = Cost()
        for op in ops:
            total += (self.op(op.layer) + self.scales(op.scale_bytes)).times(op.count)
        return total

    def scales(self, nbytes: int) -> Cost:
        """Scale bytes read beside an operator: their DRAM transfer at the device's bandwidth, and its energy."""
        if not nbytes:
            return Cost()
        return Cost(transfer_cycles(nbytes, self.system.dram.bytes_per_cycle),
                    nbytes * Fraction(self.table.dram_per_byte), nbytes)

    def _cycles(self, seconds: float) -> int:
        return int(-(-Fraction(seconds) * Fraction(self.clock_mhz) * 1_000_000 // 1))

    def all_reduce(self, tokens: int) -> Cost:
        """The step's two all-reduces per layer of its activations (tensor parallelism), and with pipeline
        parallelism its activations sent from each stage to the next (point to point, α + bytes/β)."""
        if self.link is None:
            return Cost()
        nbytes = tokens * self.model.hidden * self.deployment.activation_bits // 8
        reduce = Cost(self._cycles(self.link.all_reduce_s(nbytes, self.parallel.tp))).times(2 * self.model.layers) \
            if self.parallel.tp > 1 else Cost()
        hop = Cost(self._cycles(self.link.latency_s + nbytes / self.link.bytes_per_s)).times(self.pp - 1)
        return reduce + hop

    # -- the parts of a step -----------------------------------------------------------------
    def tokens_part(self, tokens: int) -> Cost:
        """Everything but attention and the LM head, for a step of ``tokens`` new tokens (padded to its bucket)."""
        key = bucket(tokens)
        if key not in self._tokens:
            self._tokens[key] = self.ops(layer_ops(self.model, self.deployment, key, self.parallel)) + \
                self.all_reduce(key)
        return self._tokens[key]

    def _attention(self, queries: int, cached: int, layers: int | None = 1) -> Cost:
        return self.ops(attention_ops(self.model, self.deployment, queries, cached, self.parallel, layers))

    def decode_attention(self, cached: int) -> Cost:
        """One decoding sequence's attention in every layer, from the closed form in its KV blocks (a layer
        attends to ``min(context, window)`` tokens, whose blocks depend only on the context's blocks)."""
        key = -(-(cached + 1) // KV_BLOCK)
        if key not in self._decode:
            m = self.model
            counts: dict[int, int] = {}  # layers with the same window share their blocks
            for i in range(m.layers):
                blocks = -(-m.attended(i, cached + 1) // KV_BLOCK)
                counts[blocks] = counts.get(blocks, 0) + 1
            total = Cost()
            for blocks, count in counts.items():
                total += Cost.of(self.decode_curve(blocks)).times(count)
            self._decode[key] = total
        return self._decode[key]

    def prefill_attention(self, chunk: int, cached: int) -> Cost:
        """One prefilling sequence's attention in every layer (memoised by padded chunk and KV blocks)."""
        key = (bucket(chunk), attention_keys(self.model, chunk, cached))
        if key not in self._prefill:
            self._prefill[key] = self.ops(attention_ops(self.model, self.deployment, chunk, cached, self.parallel))
        return self._prefill[key]

    def head(self, sequences: int) -> Cost:
        if sequences not in self._heads:
            self._heads[sequences] = self.ops(head_ops(self.model, self.deployment, sequences, self.parallel))
        return self._heads[sequences]

    def prepare_decode(self, lo: int, hi: int) -> None:
        """Make decode attention exact for every cached length in ``[lo, hi]`` (the curve's segments)."""
        self.decode_curve.prepare(max(1, -(-(lo + 1) // KV_BLOCK)), -(-(hi + 1) // KV_BLOCK))

    # -- steps --------------------------------------------------------------------------------
    def step_cost(self, step: Step) -> Cost:
        """A whole step: its tokens' layers, each sequence's attention and the LM head."""
        total = self.tokens_part(step.tokens) + self.head(step.sequences)
        blocks = Counter(-(-(cached + 1) // KV_BLOCK) for cached in step.decode)  # equal blocks, equal costs
        for key, count in blocks.items():
            total += self.decode_attention(key * KV_BLOCK - 1).times(count)
        for chunk, cached in step.prefill:
            total += self.prefill_attention(chunk, cached)
        return total

    def decode(self, cached: int, batch: int = 1) -> Cost:
        """A decode step of ``batch`` sequences that each hold ``cached`` tokens."""
        return self.step_cost(Step(decode=(cached,) * batch))

    def step(self, prefill: Any, decode: Any) -> Any:
        """The :class:`accelsim.serve.costs.StepCosts` protocol."""
        from ..serve.costs import StepCost

        cost = self.step_cost(Step(decode=tuple(decode), prefill=tuple(map(tuple, prefill))))
        return StepCost(cost.cycles, float(cost.energy_pj), cost.dram_bytes)


def simulate_step(model: ModelSpec, deployment: Deployment, system: SystemConfig, step: Step, *,
                  memory: bool = True, energy_table: Any = "horowitz45") -> Cost:
    """The step as one workload: every operator instance a layer of one graph, scheduled sequentially
    (the reference the memoised, closed-form :class:`CostModel` must equal; scales added the same way)."""
    from ..schedule.schedule import run_system

    ops = step_ops(model, deployment, step)
    graph = LayerGraph("step", {})
    scale = Cost()
    costs = CostModel(model, deployment, system, memory=memory, energy_table=energy_table)
    for i, op in enumerate(ops):
        for j in range(op.count):
            layer = replace(op.layer, name=f"{i}.{j}")
            names = [f"{i}.{j}.in{k}" for k in range(len(layer.in_shapes))]
            graph.inputs.update(zip(names, layer.in_shapes))
            graph.add(layer, names)
        scale += costs.scales(op.scale_bytes).times(op.count)
    result = run_system(graph, system, schedule="sequential", memory=memory, energy_table=costs.table)
    kernels = sum(op.count for op in ops if op.layer.gemm is not None)
    return Cost(result.cycles, sum(result.energy_pj.values(), Fraction(0)), result.dram_bytes,
                sum(op.layer.macs * op.count for op in ops), kernels) + scale
