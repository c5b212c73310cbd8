"""`ModelSpec`: a decoder-only language model's dimensions, the one description every LLM cost reads.

A spec is read from a Hugging Face ``config.json`` (:mod:`accelsim.llm.hf`) or built directly. It
holds shapes only: no weights. Counts derived here (parameters, KV-cache bytes) are exact integers.

Examples
--------
>>> m = ModelSpec(name="tiny", family="llama", hidden=64, layers=2, heads=4, kv_heads=2, ffn=128, vocab=100)
>>> m.head_dim, m.kv_elements_per_token, m.params
(16, 128, 86528)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import SpecError
from ..specio import printable

FAMILIES = ("llama", "qwen2", "qwen3", "mistral", "gemma2", "phi3", "mixtral", "qwen2_moe", "deepseek_v2", "gpt2")


@dataclass(frozen=True)
class Moe:
    """Mixture-of-experts feed-forward: ``experts`` routed experts of ``ffn`` each, ``top_k`` per token,
    plus ``shared`` always-on experts of ``shared_ffn`` each; layers below ``first_dense`` (and those not a
    multiple of ``every``) use the dense ``ModelSpec.ffn`` instead."""

    experts: int
    top_k: int
    ffn: int
    shared: int = 0
    shared_ffn: int = 0
    first_dense: int = 0
    every: int = 1

    def is_moe_layer(self, index: int) -> bool:
        return index >= self.first_dense and (index + 1) % self.every == 0


@dataclass(frozen=True)
class Mla:
    """DeepSeek-V2 multi-head latent attention: the cache holds ``kv_lora_rank + rope_dim`` per token and
    layer; queries come through ``q_lora_rank`` (0: a plain projection)."""

    kv_lora_rank: int
    q_lora_rank: int
    nope_dim: int
    rope_dim: int
    v_dim: int


@dataclass(frozen=True)
class ModelSpec:
    """A decoder-only transformer's shapes.

    Parameters
    ----------
    name, family, source
        ``family`` is one of :data:`FAMILIES`; ``source`` says where the dimensions were published.
    hidden, layers, heads, kv_heads, ffn, vocab
        Model width, decoder layers, query heads, key/value heads (GQA: fewer than ``heads``;
        MQA: 1), the dense feed-forward width, and the vocabulary.
    head_dim
        Per-head width (0: ``hidden // heads``).
    gated_ffn
        Three matrices (gate, up, down: SwiGLU/GeGLU) or two (up, down: GPT).
    norm
        ``rmsnorm`` or ``layernorm``.
    tied_embeddings
        The LM head reuses the embedding matrix (not counted twice in ``params``).
    max_context
        The longest sequence the model accepts (``max_position_embeddings``).
    sliding_window, sliding_every
        Layers with ``index % sliding_every == 0`` attend to the last ``sliding_window`` tokens only
        (0: none); Gemma 2 alternates (``sliding_every = 2``), Mistral 7B v0.1 slides every layer.
    attention_bias
        Q, K, V projections carry biases (Qwen2).
    moe, mla
        Mixture-of-experts and latent-attention descriptions, or None.
    """

    name: str
    family: str
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    ffn: int
    vocab: int
    head_dim: int = 0
    gated_ffn: bool = True
    norm: str = "rmsnorm"
    tied_embeddings: bool = False
    max_context: int = 4096
    sliding_window: int = 0
    sliding_every: int = 1
    attention_bias: bool = False
    moe: Moe | None = None
    mla: Mla | None = None
    source: str = ""
    extra: dict[str, object] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        where = f"model '{printable(str(self.name))}'"
        for key in ("hidden", "layers", "heads", "kv_heads", "ffn", "vocab", "max_context", "sliding_every"):
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise SpecError(f"{where}: {key} must be a positive integer, not {value!r}")
        if self.family not in FAMILIES:
            raise SpecError(f"{where}: family must be one of {', '.join(FAMILIES)}, not {self.family!r}")
        if self.head_dim == 0:
            if self.hidden % self.heads:
                raise SpecError(f"{where}: {self.heads} heads do not divide hidden size {self.hidden}")
            object.__setattr__(self, "head_dim", self.hidden // self.heads)
        if self.heads % self.kv_heads:
            raise SpecError(f"{where}: {self.kv_heads} key/value heads do not divide {self.heads} query heads")
        if self.norm not in ("rmsnorm", "layernorm"):
            raise SpecError(f"{where}: norm must be rmsnorm or layernorm, not {self.norm!r}")
        if self.sliding_window < 0:
            raise SpecError(f"{where}: sliding_window must be 0 (none) or positive, not {self.sliding_window}")

    # -- attention ------------------------------------------------------------------------
    @property
    def group(self) -> int:
        """Query heads per key/value head (1: MHA; ``heads``: MQA)."""
        return self.heads // self.kv_heads

    def window(self, index: int) -> int:
        """Tokens layer ``index`` attends to at most (0: all)."""
        return self.sliding_window if self.sliding_window and index % self.sliding_every == 0 else 0

    def attended(self, index: int, context: int) -> int:
        """Tokens layer ``index`` reads from its cache when the sequence holds ``context`` tokens."""
        window = self.window(index)
        return min(context, window) if window else context

    @property
    def kv_elements_per_token(self) -> int:
        """Cache elements one token adds over all layers: ``2 · layers · kv_heads · head_dim``, or MLA's
        latent ``layers · (kv_lora_rank + rope_dim)``."""
        if self.mla is not None:
            return self.layers * (self.mla.kv_lora_rank + self.mla.rope_dim)
        return 2 * self.layers * self.kv_heads * self.head_dim

    def kv_elements(self, context: int) -> int:
        """Cache elements a sequence of ``context`` tokens holds (sliding layers keep their window only)."""
        per_layer = self.kv_elements_per_token // self.layers
        return sum(per_layer * self.attended(i, context) for i in range(self.layers))

    # -- parameters -----------------------------------------------------------------------
    def attention_params(self) -> int:
        h, d = self.hidden, self.head_dim
        if self.mla is not None:
            a = self.mla
            q_dim = self.heads * (a.nope_dim + a.rope_dim)
            q = h * a.q_lora_rank + a.q_lora_rank * q_dim if a.q_lora_rank else h * q_dim
            kv = h * (a.kv_lora_rank + a.rope_dim) + a.kv_lora_rank * self.heads * (a.nope_dim + a.v_dim)
            return q + kv + self.heads * a.v_dim * h
        bias = (self.heads + 2 * self.kv_heads) * d if self.attention_bias else 0
        return h * self.heads * d + 2 * h * self.kv_heads * d + self.heads * d * h + bias

    def ffn_params(self, width: int) -> int:
        return (3 if self.gated_ffn else 2) * self.hidden * width

    def layer_params(self, index: int, active: bool = False) -> int:
        """Parameters of decoder layer ``index`` (``active``: only the experts one token uses)."""
        moe = self.moe
        if moe is None or not moe.is_moe_layer(index):
            ffn = self.ffn_params(self.ffn)
        else:
            routed = moe.top_k if active else moe.experts
            ffn = routed * self.ffn_params(moe.ffn) + moe.shared * self.ffn_params(moe.shared_ffn) \
                + self.hidden * moe.experts  # the router
        return self.attention_params() + ffn

    @property
    def embedding_params(self) -> int:
        return self.vocab * self.hidden * (1 if self.tied_embeddings else 2)

    @property
    def params(self) -> int:
        """All weights (norms excluded: a few thousand elements per layer)."""
        return self.embedding_params + sum(self.layer_params(i) for i in range(self.layers))

    @property
    def active_params(self) -> int:
        """Weights one token's forward pass multiplies by (MoE: the routed top-k and shared experts)."""
        return self.embedding_params + sum(self.layer_params(i, active=True) for i in range(self.layers))
