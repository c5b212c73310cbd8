"""One request shape end to end: prefill in chunks, then decode, with the metrics a deployment is judged by.

:func:`run_llm` serves ``batch`` identical requests of ``prompt`` tokens that each generate ``generate``
tokens: the prompts are prefilled in steps of at most ``token_budget`` tokens (several sequences share
a step when they fit, as a continuous-batching engine packs them), then every sequence decodes together,
one token per step, each step at its own KV length. The first token comes out of the last prefill step.

Examples
--------
>>> from accelsim.arch import resolve_arch
>>> from accelsim.arch.system import SystemConfig
>>> from accelsim.llm.model import ModelSpec
>>> from accelsim.llm.quant import Deployment
>>> m = ModelSpec(name="tiny", family="llama", hidden=256, layers=2, heads=4, kv_heads=2, ffn=512, vocab=1000)
>>> r = run_llm(m, SystemConfig.single(resolve_arch("sa32")), Deployment("int8", "int8", "int8"), prompt=64, generate=8)
>>> r.prefill_steps, r.decode_steps, r.output_tokens
(1, 7, 8)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..arch.system import SystemConfig
from ..errors import AccelsimError, SpecError
from .cost import Cost, CostModel, Link
from .graph import KV_BLOCK, Parallel, Step
from .model import ModelSpec
from .quant import SCALE_BYTES, Deployment

MAX_TOKENS = 10_000_000
MAX_BATCH = 65_536


@dataclass(frozen=True)
class Phase:
    """A phase's totals and where it sits on the roofline."""

    cycles: int
    macs: int
    dram_bytes: int
    energy_pj: float
    peak_macs_per_cycle: float
    dram_bytes_per_cycle: float
    memory: bool = True  # False: ideal memory, whose only roof is the compute peak

    @property
    def intensity(self) -> float | None:
        """MACs per DRAM byte (None when the phase moved nothing: no steps, or ideal memory)."""
        return self.macs / self.dram_bytes if self.dram_bytes and self.memory else None

    @property
    def ridge(self) -> float:
        """The intensity where compute and DRAM take equal time."""
        return self.peak_macs_per_cycle / self.dram_bytes_per_cycle

    def to_dict(self) -> dict[str, Any]:
        attained = self.macs / self.cycles if self.cycles else 0.0
        intensity = self.intensity
        roof = self.peak_macs_per_cycle if intensity is None else \
            min(self.peak_macs_per_cycle, intensity * self.dram_bytes_per_cycle)
        if not self.cycles:
            bound = None
        elif intensity is None:
            bound = "compute"
        else:
            bound = "memory" if intensity < self.ridge else "compute"
        return {"cycles": self.cycles, "macs": self.macs, "dram_bytes": self.dram_bytes,
                "energy_pj": round(self.energy_pj, 3),
                "intensity_macs_per_byte": None if intensity is None else round(intensity, 4),
                "ridge_macs_per_byte": round(self.ridge, 4),
                "bound": bound,
                "attained_macs_per_cycle": round(attained, 3),
                "roofline_macs_per_cycle": round(roof, 3),
                "fraction_of_roofline": round(attained / roof, 4) if self.cycles else None}


@dataclass(frozen=True)
class LlmResult:
    """Times (s), throughputs and per-token costs of one request shape."""

    model: str
    system: str
    deployment: str
    prompt: int
    generate: int
    batch: int
    tp: int
    pp: int
    clock_mhz: float
    ttft_cycles: tuple[int, ...]
    decode_cycles: tuple[int, ...]
    prefill: Phase
    decode: Phase
    weight_bytes: int
    kv_bytes_per_token: int
    capacity_bytes: int
    area_mm2: float | None
    prefill_steps: int
    max_context: int = 0  # the model's window: what fits is never reported beyond it
    assumptions: tuple[str, ...] = field(default_factory=tuple)

    @property
    def output_tokens(self) -> int:
        return self.batch * self.generate

    @property
    def decode_steps(self) -> int:
        return len(self.decode_cycles)

    def seconds(self, cycles: float) -> float:
        return cycles / (self.clock_mhz * 1e6)

    @property
    def e2e_cycles(self) -> int:
        return self.prefill.cycles + self.decode.cycles

    def fits(self, batch: int, context: int) -> bool:
        return self.weight_bytes + batch * self.kv_bytes(context) <= self.capacity_bytes

    def kv_bytes(self, context: int) -> int:
        """KV-cache bytes a sequence of ``context`` tokens holds in whole 16-token blocks (per device)."""
        return -(-context // KV_BLOCK) * KV_BLOCK * self.kv_bytes_per_token

    def to_dict(self) -> dict[str, Any]:
        s = self.seconds
        energy = self.prefill.energy_pj + self.decode.energy_pj
        e2e = s(self.e2e_cycles)
        tpot = np.array([s(c) for c in self.decode_cycles]) if self.decode_cycles else np.zeros(1)
        context = self.prompt + self.generate
        free = self.capacity_bytes - self.weight_bytes
        per_seq = self.kv_bytes(context)
        tokens_per_s = self.output_tokens / e2e if e2e else 0.0
        joules = energy * 1e-12
        watts = joules / e2e if e2e else 0.0
        return {
            "model": self.model, "system": self.system, "deployment": self.deployment,
            "prompt": self.prompt, "generate": self.generate, "batch": self.batch, "tp": self.tp, "pp": self.pp,
            "ttft_s": {"first": s(self.ttft_cycles[0]), "last": s(self.ttft_cycles[-1])},
            "tpot_s": {"mean": float(tpot.mean()), "p50": float(np.percentile(tpot, 50)),
                       "p90": float(np.percentile(tpot, 90)), "p99": float(np.percentile(tpot, 99))},
            "e2e_s": e2e,
            "tokens_per_s": tokens_per_s,
            "decode_tokens_per_s": self.batch / float(tpot.mean()) if self.decode_cycles else None,
            "tokens_per_s_per_mm2": tokens_per_s / self.area_mm2 / (self.tp * self.pp) if self.area_mm2 else None,
            "tokens_per_s_per_w": self.output_tokens / joules if joules else None,
            "average_power_w": watts,
            "energy_per_token_j": joules / self.output_tokens,
            "dram_bytes_per_token": (self.prefill.dram_bytes + self.decode.dram_bytes) / self.output_tokens,
            "kv_bytes_per_token": self.kv_bytes_per_token,
            "weight_bytes_per_device": self.weight_bytes,
            "capacity_bytes_per_device": self.capacity_bytes,
            "max_batch_at_context": free // per_seq if per_seq and free > 0 else 0,
            "max_context_at_batch": min(_max_context(free, self.batch, self.kv_bytes_per_token), self.max_context),
            "prefill": self.prefill.to_dict(), "decode": self.decode.to_dict(),
            "area_mm2_per_device": self.area_mm2, "clock_mhz": self.clock_mhz,
            "assumptions": list(self.assumptions),
        }


def _max_context(free: int, batch: int, per_token: int) -> int:
    if free <= 0 or per_token == 0:
        return 0
    return (free // batch // per_token) // KV_BLOCK * KV_BLOCK


def weight_bytes(model: ModelSpec, dep: Deployment, tp: int = 1, pp: int = 1) -> int:
    """Bytes of one device's weights (and their scales): every parameter over ``tp · pp`` devices."""
    params = -(-model.params // (tp * pp))
    nm = dep.weight_nm
    values = params * dep.weight_bits // 8
    if nm:  # N:M weights store N of every M values and their indices (docs/sparsity.md)
        n, m = (int(x) for x in nm.split(":"))
        values = params * n // m * dep.weight_bits // 8 + params * n // m * (m - 1).bit_length() // 8
    return values + dep.weight_scale_bytes(params)


def kv_bytes_per_token(model: ModelSpec, dep: Deployment, tp: int = 1, pp: int = 1) -> int:
    """Cache bytes one token adds on one device: ``2 · layers · kv_heads · head_dim · bits / 8`` (MLA: its
    latent), plus one fp16 scale per layer, head and K/V entry for an integer cache; a pipeline stage holds
    its ``⌈layers / pp⌉`` layers' share."""
    _, heads = Parallel(tp).heads(model)
    layers = -(-model.layers // pp)
    if model.mla is not None:
        elements, scales = model.kv_elements_per_token // model.layers * layers, layers
    else:
        elements, scales = 2 * layers * heads * model.head_dim, 2 * layers * heads
    return elements * dep.kv_bits // 8 + (scales * SCALE_BYTES if dep.is_int(dep.kv) else 0)


def kv_cache_blocks(model: ModelSpec, system: SystemConfig, dep: Deployment, *, tp: int = 1, pp: int = 1,
                    utilization: float = 0.9, option: str = "a KV utilisation of", hint: str = "") -> int:
    """16-token KV blocks one device holds: ``(DRAM − weights) × utilization // block bytes`` (the one rule
    ``accelsim serve`` and the design-space search size the paged cache by). A system without a DRAM
    capacity, or whose weights leave no block, is a :class:`SpecError` (``option`` names the utilisation's
    option and ``hint`` says how to give a capacity).

    Examples
    --------
    >>> from accelsim.arch.system import resolve_system
    >>> from accelsim.llm.hf import load_model
    >>> kv_cache_blocks(load_model("llama-3.1-8b"), resolve_system("tpuv4-chip"), Deployment("bf16", "bf16", "bf16"))
    7853
    """
    capacity = int(system.dram.capacity_gib * 2**30)
    if not capacity:
        raise SpecError(f"{system.name} declares no DRAM capacity (dram.capacity_gib): the KV cache cannot be "
                        f"sized{hint}")
    weights = weight_bytes(model, dep, tp, pp)
    if weights >= capacity:
        raise SpecError(f"{model.name} does not fit {system.name}: its weights take {weights / 2**30:.2f} GiB per "
                        f"device of {system.dram.capacity_gib:g} GiB (try --tp, --pp or fewer weight bits)")
    block = KV_BLOCK * kv_bytes_per_token(model, dep, tp, pp)
    blocks = int((capacity - weights) * utilization) // block
    if blocks < 1:
        raise SpecError(f"{option} {utilization:g} of the {(capacity - weights) / 2**30:.3g} GiB beside "
                        f"{model.name}'s weights on {system.name} holds no {KV_BLOCK}-token KV block ({block:,} bytes)")
    return blocks


def system_area_mm2(system: SystemConfig) -> tuple[float | None, str]:
    from ..cost.area import array_area, sram_area_um2

    try:
        um2 = sum(array_area(core).total_um2 for core in system.cores)
        if system.global_buffer is not None:
            um2 += sram_area_um2(system.global_buffer.kib)
    except AccelsimError as err:
        return None, f"area not estimated: {err}"
    return um2 / 1e6, ""


def run_llm(model: ModelSpec, system: SystemConfig, deployment: Deployment, *, prompt: int, generate: int,
            batch: int = 1, tp: int = 1, pp: int = 1, link: Link | None = None, token_budget: int = 2048,
            kernel_overhead_cycles: int = 0, memory: bool = True, energy_table: Any = "horowitz45",
            costs: CostModel | None = None) -> LlmResult:
    """Serve ``batch`` requests of ``prompt`` tokens generating ``generate`` each (module docstring)."""
    for name, value, high in (("prompt", prompt, MAX_TOKENS), ("generate", generate, MAX_TOKENS),
                              ("batch", batch, MAX_BATCH), ("token budget", token_budget, MAX_TOKENS)):
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= high:
            raise SpecError(f"{name} must be an integer from 1 to {high:,}, not {value!r}")
    if prompt + generate > model.max_context:
        raise SpecError(f"prompt + generate = {prompt + generate:,} tokens exceeds {model.name}'s context window "
                        f"of {model.max_context:,} (max_position_embeddings)")
    costs = costs or CostModel(model, deployment, system, tp=tp, pp=pp, link=link, memory=memory,
                               energy_table=energy_table, kernel_overhead_cycles=kernel_overhead_cycles)
    weights = weight_bytes(model, deployment, tp, pp)
    capacity = int(system.dram.capacity_gib * 2**30) if system.dram.capacity_gib else 0
    per_token = kv_bytes_per_token(model, deployment, tp, pp)
    notes = [deployment.label(),
             "operators of a step run one after another, each on every core (no overlap across operators)",
             ("attention reads whole 16-token KV blocks (decode) or 128-token K/V tiles (prefill) and computes "
              "the causal mask's upper half (not skipped)"),
             "step token counts are padded to 1, 2, 4, 8, multiples of 16 to 512, then of 128"]
    if model.moe is not None:
        notes.append("MoE: tokens spread evenly over experts (every expert touched once tokens × top_k ≥ "
                     "experts): the most expert weights a step can read")
    if model.mla is not None:
        notes.append("MLA runs in its absorbed form (latent cache, per-head up-projections as matmuls) in "
                     "prefill and decode")
    if tp > 1:
        notes.append(f"tensor parallelism over {tp} devices: two ring all-reduces per layer (α-β); link "
                     "energy not priced")
    if pp > 1:
        notes.append(f"pipeline parallelism over {pp} stages: a step runs its stages one after another with "
                     "a point-to-point send between them (no micro-batches in flight: stages add capacity, "
                     "not speed); each device holds ⌈params / (tp·pp)⌉ weights")
    if capacity and weights > capacity:
        raise SpecError(f"{model.name} does not fit: its weights take {weights / 2**30:.2f} GiB per device but "
                        f"{system.name}'s DRAM holds {system.dram.capacity_gib:g} GiB (try --tp or fewer weight bits)")
    if not capacity:
        notes.append(f"{system.name} declares no DRAM capacity: nothing is checked to fit")
    elif weights + batch * (-(-(prompt + generate) // KV_BLOCK) * KV_BLOCK * per_token) > capacity:
        raise SpecError(f"batch {batch} × {prompt + generate:,} tokens of KV cache do not fit {system.name}'s "
                        f"{system.dram.capacity_gib:g} GiB beside the weights")

    # prefill: chunks packed into steps of at most token_budget tokens, sequence by sequence
    remaining, done = [prompt] * batch, [0] * batch
    ttft = [0] * batch
    clock = steps = seq = 0
    prefill = Cost()
    while seq < batch:
        budget, chunks, finished = token_budget, [], []
        while seq < batch and budget:
            take = min(budget, remaining[seq])
            chunks.append((take, done[seq]))
            remaining[seq] -= take
            done[seq] += take
            budget -= take
            if remaining[seq] == 0:
                finished.append(seq)
                seq += 1
        cost = costs.step_cost(Step(prefill=tuple(chunks)))
        prefill += cost
        clock += cost.cycles
        steps += 1
        for s in finished:
            ttft[s] = clock
    # decode: every sequence together, one token per step (the first came from prefill)
    costs.prepare_decode(prompt, prompt + generate - 2)
    decode = Cost()
    decode_cycles = []
    for i in range(generate - 1):
        cost = costs.decode(prompt + i, batch)
        decode += cost
        decode_cycles.append(cost.cycles)
    peak = sum(core.pes for core in system.cores)
    bw = system.dram.bytes_per_cycle
    area, note = system_area_mm2(system)
    if note:
        notes.append(note)

    def phase(c: Cost) -> Phase:
        return Phase(c.cycles, c.macs, c.dram_bytes, float(c.energy_pj), peak, bw, memory)

    return LlmResult(model=model.name, system=system.name, deployment=deployment.label(), prompt=prompt,
                     generate=generate, batch=batch, tp=tp, pp=pp, clock_mhz=system.clock_mhz, ttft_cycles=tuple(ttft),
                     decode_cycles=tuple(decode_cycles), prefill=phase(prefill), decode=phase(decode),
                     weight_bytes=weights, kv_bytes_per_token=per_token, capacity_bytes=capacity, area_mm2=area,
                     prefill_steps=steps, max_context=model.max_context, assumptions=tuple(notes))

