"""The operators of one LLM step: a batch of prefill chunks and decode tokens through every layer.

A step is described by what each sequence does in it (:class:`Step`); :func:`step_ops` lists the
operators one device runs, each an ordinary :class:`~accelsim.workload.layer.Layer` with a
multiplicity, so every cost comes from the same array, memory and precision model as any network:

* per decoder layer, on all ``T`` tokens of the step together: norms, the fused QKV projection (or
  MLA's down/up projections and its absorbed per-head matrices), RoPE, the output projection, the
  residual adds and the feed-forward network (dense, or MoE: router, routed experts, shared experts);
* per sequence and layer, its attention: scores ``QK^T`` and context ``PV`` as matmuls whose second
  operand is the cache (read from DRAM in the KV format), the softmax, and with an integer cache on a
  floating-point datapath its dequantisation; grouped queries (GQA/MQA) share their K/V head, so the
  scores of a group are one matmul of ``group × tokens`` rows; MLA reads one latent cache for all heads;
  sliding-window layers attend to their window only;
* once per step: the final norm and the LM head for each sequence's last token.

Attention reads whole blocks of the paged KV cache (:data:`KV_BLOCK` tokens), as paged-attention
kernels do: a sequence of ``n`` cached tokens costs as ``⌈n / 16⌉ · 16``. A prefill chunk's queries
attend to every cached token and to the whole chunk (the causal mask is applied, not skipped).

Examples
--------
>>> from accelsim.llm.model import ModelSpec
>>> m = ModelSpec(name="tiny", family="llama", hidden=64, layers=2, heads=4, kv_heads=2, ffn=128, vocab=100)
>>> ops = step_ops(m, Deployment(), Step(decode=(31,)))
>>> sum(op.layer.macs * op.count for op in ops) - (m.params - m.vocab * m.hidden)  # 2 layers' attention
8192
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from ..errors import SpecError
from ..specio import printable
from ..workload.layer import Layer
from .model import ModelSpec
from .quant import Deployment

KV_BLOCK = 16  # tokens per block of the paged KV cache (vLLM's default)
KV_TILE = 128  # key/value tokens a prefill kernel reads per tile (FlashAttention's K/V blocks)


def bucket(tokens: int) -> int:
    """The token count a step runs for ``tokens`` new tokens: 1, 2, 4, 8, then multiples of 16 up to 512
    and of 128 beyond, as serving engines pad batches to their captured graph sizes (the padding is
    computed and counted).

    Examples
    --------
    >>> [bucket(t) for t in (1, 3, 8, 9, 500, 513, 2048)]
    [1, 4, 8, 16, 512, 640, 2048]
    """
    if tokens <= 8:
        return 1 << (tokens - 1).bit_length()
    quantum = 16 if tokens <= 512 else 128
    return -(-tokens // quantum) * quantum


def padded(tokens: int, tile: int = KV_BLOCK) -> int:
    """Tokens an attention kernel reads for ``tokens`` keys: whole KV blocks (decode), or whole K/V tiles
    of :data:`KV_TILE` (prefill chunks).

    Examples
    --------
    >>> padded(1), padded(16), padded(17), padded(17, KV_TILE)
    (16, 16, 32, 128)
    """
    return -(-tokens // tile) * tile


@dataclass(frozen=True)
class Step:
    """One step of a batch: ``decode`` holds each decoding sequence's cached tokens (it adds one),
    ``prefill`` each prefilling sequence's ``(chunk tokens, tokens already cached)``."""

    decode: tuple[int, ...] = ()
    prefill: tuple[tuple[int, int], ...] = ()

    def __post_init__(self) -> None:
        if not self.decode and not self.prefill:
            raise SpecError("a step needs at least one sequence")
        if any(t < 0 for t in self.decode) or any(c < 1 or p < 0 for c, p in self.prefill):
            raise SpecError("a step's cached lengths must be ≥ 0 and its chunks ≥ 1")

    @property
    def tokens(self) -> int:
        """New tokens the step computes (the M of every projection)."""
        return len(self.decode) + sum(c for c, _ in self.prefill)

    @property
    def sequences(self) -> int:
        return len(self.decode) + len(self.prefill)


@dataclass(frozen=True)
class Op:
    """A layer the step runs ``count`` times; ``scale_bytes`` are the fp16 scales its integer weights
    read from DRAM beside it (each time)."""

    layer: Layer
    count: int
    scale_bytes: int = 0


@dataclass(frozen=True)
class Parallel:
    """Tensor parallelism: each of ``tp`` devices holds ``1/tp`` of every layer's heads and widths."""

    tp: int = 1

    def split(self, n: int, what: str, model: str) -> int:
        if n % self.tp:
            raise SpecError(f"model '{printable(model)}': {what} = {n} does not divide over {self.tp} devices (--tp)")
        return n // self.tp

    def heads(self, m: ModelSpec) -> tuple[int, int]:
        """One device's query and key/value heads (fewer K/V heads than devices: each device keeps a copy of one)."""
        kv = 1 if m.kv_heads < self.tp else self.split(m.kv_heads, "kv heads", m.name)
        return self.split(m.heads, "heads", m.name), kv


def _matmul(name: str, a: tuple[int, ...], b: tuple[int, ...], second: str, dep: Deployment, *,
            transpose_b: bool = False) -> Layer:
    """A matmul whose second operand (weights, or the cache) is in the ``second`` format."""
    return Layer(name, "matmul", in_shapes=(a, b), transpose_b=transpose_b, input_type=dep.activations,
                 weight_type=second, output_type=dep.activations)


def _linear(name: str, tokens: int, features_in: int, out: int, dep: Deployment) -> Layer:
    return Layer(name, "linear", in_shapes=((tokens, features_in),), out=out, weight_type=dep.weights,
                 weight_structure=dep.weight_nm, input_type=dep.activations, output_type=dep.activations)


def _vector(name: str, op: str, shape: tuple[int, ...]) -> Layer:
    return Layer(name, "eltwise", op=op, in_shapes=(shape,))


def _weight_ops(name: str, tokens: int, k: int, n: int, dep: Deployment, count: int) -> list[Op]:
    """A projection with its weights' scales, and their dequantisation on the vector unit."""
    ops = [Op(_linear(name, tokens, k, n, dep), count, dep.weight_scale_bytes(k * n))]
    if dep.dequantises_weights:
        ops.append(Op(_vector(f"{name}.dequant", "mul", (k * n,)), count))
    return ops


def _ffn(prefix: str, tokens: int, width: int, m: ModelSpec, dep: Deployment, count: int) -> list[Op]:
    h = m.hidden
    act = "silu" if m.family not in ("gemma2", "gpt2") else "gelu"
    ops = _weight_ops(f"{prefix}.up", tokens, h, (2 if m.gated_ffn else 1) * width, dep, count)
    ops.append(Op(_vector(f"{prefix}.{act}", act, (tokens, width)), count))
    if m.gated_ffn:
        ops.append(Op(_vector(f"{prefix}.gate", "mul", (tokens, width)), count))
    return ops + _weight_ops(f"{prefix}.down", tokens, width, h, dep, count)


def _expert_loads(tokens: int, experts: int, top_k: int) -> Counter[int]:
    """Tokens per active expert when ``tokens · top_k`` choices spread evenly (every expert touched once
    there are enough): the most weights a step can read. Maps tokens per expert to the expert count."""
    choices = tokens * top_k
    active = min(experts, choices)
    base, extra = divmod(choices, active)
    loads: Counter[int] = Counter({base: active - extra})
    if extra:
        loads[base + 1] += extra
    return loads


def layer_ops(m: ModelSpec, dep: Deployment, tokens: int, par: Parallel = Parallel()) -> list[Op]:
    """Everything a step does on its ``tokens`` tokens in all decoder layers, attention excepted."""
    h, name = m.hidden, m.name
    heads, kv_heads = par.heads(m)
    norms = 4 if m.family == "gemma2" else 2
    ops = [Op(_vector("norm", m.norm, (tokens, h)), m.layers * norms),
           Op(_vector("residual", "add", (tokens, h)), m.layers * 2)]
    if m.mla is not None:
        a = m.mla
        q_dim = heads * (a.nope_dim + a.rope_dim)
        if a.q_lora_rank:
            ops += _weight_ops("q_down", tokens, h, a.q_lora_rank, dep, m.layers)
            ops.append(Op(_vector("q_norm", m.norm, (tokens, a.q_lora_rank)), m.layers))
            ops += _weight_ops("q_up", tokens, a.q_lora_rank, q_dim, dep, m.layers)
        else:
            ops += _weight_ops("q_proj", tokens, h, q_dim, dep, m.layers)
        ops += _weight_ops("kv_down", tokens, h, a.kv_lora_rank + a.rope_dim, dep, m.layers)
        ops.append(Op(_vector("kv_norm", m.norm, (tokens, a.kv_lora_rank)), m.layers))
        ops.append(Op(_vector("rope", "rope", (tokens, heads * a.rope_dim + a.rope_dim)), m.layers))
        # the per-head up-projections absorbed into the query (W_UK) and applied to the context (W_UV)
        ops.append(Op(_matmul("absorb_k", (heads, tokens, a.nope_dim), (heads, a.nope_dim, a.kv_lora_rank),
                              dep.weights, dep), m.layers,
                      dep.weight_scale_bytes(heads * a.nope_dim * a.kv_lora_rank)))
        ops.append(Op(_matmul("absorb_v", (heads, tokens, a.kv_lora_rank), (heads, a.kv_lora_rank, a.v_dim),
                              dep.weights, dep), m.layers,
                      dep.weight_scale_bytes(heads * a.kv_lora_rank * a.v_dim)))
        ops += _weight_ops("o_proj", tokens, heads * a.v_dim, h, dep, m.layers)
    else:
        d = m.head_dim
        ops += _weight_ops("qkv_proj", tokens, h, (heads + 2 * kv_heads) * d, dep, m.layers)
        if m.family != "gpt2":  # GPT-2/GPT-3 add learned position embeddings once, at the input: no RoPE
            ops.append(Op(_vector("rope", "rope", (tokens, (heads + kv_heads) * d)), m.layers))
        ops += _weight_ops("o_proj", tokens, heads * d, h, dep, m.layers)
    moe = m.moe
    moe_layers = sum(moe.is_moe_layer(i) for i in range(m.layers)) if moe else 0
    if m.layers - moe_layers:
        ops += _ffn("ffn", tokens, par.split(m.ffn, "ffn width", name), m, dep, m.layers - moe_layers)
    if moe is not None and moe_layers:
        ops += _weight_ops("router", tokens, h, moe.experts, dep, moe_layers)
        ops.append(Op(_vector("router.topk", "softmax", (tokens, moe.experts)), moe_layers))
        width = par.split(moe.ffn, "expert width", name)
        for load, count in sorted(_expert_loads(tokens, moe.experts, moe.top_k).items()):
            ops += _ffn(f"expert[{load} tok]", load, width, m, dep, moe_layers * count)
        if moe.shared:
            ops += _ffn("shared_expert", tokens, par.split(moe.shared * moe.shared_ffn, "shared width", name), m,
                        dep, moe_layers)
    return ops


def _keys(m: ModelSpec, index: int, cached: int, queries: int) -> int:
    """Cached and new tokens that ``queries`` new tokens attend to in layer ``index`` (a sliding window
    reaches ``window - 1`` tokens behind each query)."""
    window = m.window(index)
    return min(cached + queries, window + queries - 1) if window else cached + queries


def attention_keys(m: ModelSpec, queries: int, cached: int, layers: int | None = None, *,
                   pad: bool = True) -> tuple[tuple[int, int], ...]:
    """``(keys read, layers)`` of one sequence's attention: the keys each layer reads, padded to whole KV
    blocks (one query) or K/V tiles (a chunk), grouped by equal counts. Everything a sequence's attention
    costs depends on these and the chunk's bucket (the memo key of :class:`~accelsim.llm.cost.CostModel`)."""
    counts = Counter(_keys(m, i, cached, queries) for i in range(m.layers)) if layers is None \
        else Counter({cached + queries: layers})
    tile = KV_BLOCK if queries == 1 else KV_TILE
    out: Counter[int] = Counter()
    for keys, count in counts.items():
        out[padded(keys, tile) if pad else keys] += count
    return tuple(sorted(out.items()))


def attention_ops(m: ModelSpec, dep: Deployment, queries: int, cached: int, par: Parallel = Parallel(),
                  layers: int | None = None, *, pad: bool = True) -> list[Op]:
    """One sequence's attention in every layer (or in ``layers`` layers that all see ``cached + queries``
    tokens): ``queries`` new tokens against their cache (``pad=False``: the exact tokens, no whole blocks
    or buckets, for counting)."""
    out: list[Op] = []
    windows = attention_keys(m, queries, cached, layers, pad=pad)
    queries = bucket(queries) if pad else queries
    heads, kv_heads = par.heads(m)
    for n, count in windows:
        if m.mla is not None:
            a = m.mla
            width, groups, rows, v_dim = a.kv_lora_rank + a.rope_dim, 1, heads * queries, a.kv_lora_rank
        else:
            width, groups, rows, v_dim = m.head_dim, kv_heads, (heads // kv_heads) * queries, m.head_dim
        scores = _matmul("scores", (groups, rows, width), (groups, n, width), dep.kv, dep, transpose_b=True)
        context = _matmul("context", (groups, rows, n), (groups, n, v_dim), dep.kv, dep)
        scale = dep.kv_scale_bytes_per_entry_head() * n * groups  # one per token and K/V head
        cache = groups * n * (width if m.mla is not None else 2 * width)
        out += [Op(scores, count, scale),
                Op(_vector("softmax", "softmax", (heads, queries, n)), count),
                Op(context, count, 0 if m.mla is not None else scale)]
        if dep.dequantises_kv:
            out.append(Op(_vector("kv.dequant", "mul", (cache,)), count))
    return out


def head_ops(m: ModelSpec, dep: Deployment, sequences: int, par: Parallel = Parallel()) -> list[Op]:
    """The final norm and the LM head on each sequence's last token (the vocabulary split over devices)."""
    vocab = -(-m.vocab // par.tp)
    return [Op(_vector("final_norm", m.norm, (sequences, m.hidden)), 1),
            *_weight_ops("lm_head", sequences, m.hidden, vocab, dep, 1)]


def step_ops(m: ModelSpec, dep: Deployment, step: Step, par: Parallel = Parallel(), *, pad: bool = True) -> list[Op]:
    """Every operator of ``step`` on one device (see the module docstring; ``pad=False``: exact token
    counts, for counting operations rather than timing them)."""
    ops = layer_ops(m, dep, bucket(step.tokens) if pad else step.tokens, par)
    for cached in step.decode:
        ops += attention_ops(m, dep, 1, cached, par, pad=pad)
    for chunk, cached in step.prefill:
        ops += attention_ops(m, dep, chunk, cached, par, pad=pad)
    return ops + head_ops(m, dep, step.sequences, par)
