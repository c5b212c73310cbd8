"""Hugging Face ``config.json`` files read into :class:`~accelsim.llm.model.ModelSpec`, and the bundled models.

A config is plain JSON (``transformers`` is never imported). Only the keys that set the shapes are read; the
many others a config carries (token ids, RoPE settings, dropout, ...) are ignored. A key that changes the
shapes in a way :class:`ModelSpec` cannot express is refused with an
:class:`~accelsim.errors.UnsupportedError`; a malformed or absurd config is a
:class:`~accelsim.errors.SpecError` naming the file and the key. Both are one line.

The bundled configs live in ``accelsim/llm/models/<name>.json``: each is the model's published
``config.json`` plus a ``"_source"`` key naming where the dimensions were published.

Examples
--------
>>> m = load_model("llama-2-7b")
>>> m.hidden, m.layers, m.heads, m.kv_heads, m.ffn, m.vocab, m.max_context
(4096, 32, 32, 32, 11008, 32000, 4096)
>>> m.kv_elements_per_token  # 2 · layers · kv_heads · head_dim
262144
>>> tiny = {"model_type": "mistral", "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
...         "num_key_value_heads": 1, "intermediate_size": 128, "vocab_size": 100, "sliding_window": 16}
>>> s = spec_from_config(tiny, name="tiny")
>>> s.group, s.head_dim, s.window(1)
(4, 16, 16)
>>> spec_from_config({"model_type": "llama"}, name="x", file="config.json")
Traceback (most recent call last):
...
accelsim.errors.SpecError: config.json: is missing the required key 'hidden_size'
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import SpecError, UnsupportedError, did_you_mean
from ..specio import Fields, JsonRefusal, printable, read_input, strict_json
from .model import Mla, ModelSpec, Moe

# Caps far above any published model; a config beyond them is a typo or an attack, not a model.
MAX_HIDDEN = 2**20
MAX_LAYERS = 10_000
MAX_HEADS = 2**16
MAX_HEAD_DIM = 2**16
MAX_FFN = 2**24
MAX_VOCAB = 2**24
MAX_EXPERTS = 4096
MAX_CONTEXT = 2**27
MAX_RANK = 2**16  # MLA ranks and per-head dimensions
MAX_CONFIG_BYTES = 2**20  # a config.json is a few kilobytes

MODELS_DIR = Path(__file__).resolve().parent / "models"
MODEL_NAMES: tuple[str, ...] = tuple(sorted(p.stem for p in MODELS_DIR.glob("*.json")))
"""The bundled models, as :func:`load_model` accepts them."""


@dataclass(frozen=True)
class _Family:
    """What a model type's config class assumes when a key is absent (the Hugging Face defaults)."""

    context: int  # max_position_embeddings
    tied: bool = False  # tie_word_embeddings
    sliding: str = "none"  # none | key (sliding_window alone) | qwen (use_sliding_window + max_window_layers)
    window: int | None = None  # sliding_window when the key is absent
    every: int = 1  # layers with index % every == 0 slide
    qkv_bias: bool = False  # Q, K and V always carry biases, whatever attention_bias says


FAMILY_DEFAULTS: dict[str, _Family] = {
    "llama": _Family(2048),
    "qwen2": _Family(32768, sliding="qwen", window=4096, qkv_bias=True),
    "qwen3": _Family(32768, sliding="qwen", window=4096),
    "mistral": _Family(4096 * 32, sliding="key", window=4096),
    "gemma2": _Family(8192, tied=True, sliding="key", window=4096, every=2),  # even layers are local
    "phi3": _Family(4096, sliding="key"),
    "mixtral": _Family(4096 * 32, sliding="key"),
    "qwen2_moe": _Family(8192, sliding="qwen", window=4096, qkv_bias=True),
    "deepseek_v2": _Family(2048),
    "gpt2": _Family(1024, tied=True),
}
MODEL_TYPES = tuple(FAMILY_DEFAULTS)
_QWEN_MAX_WINDOW_LAYERS = 28  # Qwen2Config, Qwen3Config and Qwen2MoeConfig all default to 28
_LAYER_TYPES = ("full_attention", "sliding_attention")


# -- reading ----------------------------------------------------------------------------------
def parse_config(raw: bytes | str, *, file: str | None = None) -> dict[str, Any]:
    """Parse the text of a ``config.json``: JSON with one object at the top and no duplicate keys.

    Examples
    --------
    >>> parse_config('{"model_type": "llama"}')
    {'model_type': 'llama'}
    >>> parse_config('{"a": 1,\\n "a": 2}', file="c.json")
    Traceback (most recent call last):
    ...
    accelsim.errors.SpecError: c.json: invalid JSON: duplicate key 'a'
    >>> parse_config('{"a": 1,\\n}', file="c.json")
    Traceback (most recent call last):
    ...
    accelsim.errors.SpecError: c.json:2: invalid JSON: Expecting property name enclosed in double quotes
    """
    try:
        data = strict_json(raw)
    except JsonRefusal as err:
        raise SpecError(f"invalid JSON: {err}", file=file) from None
    except json.JSONDecodeError as err:
        raise SpecError(f"invalid JSON: {err.msg}", file=file, line=err.lineno) from None
    except UnicodeDecodeError as err:
        raise SpecError(f"is not UTF-8 text ({err.reason} at byte {err.start})", file=file) from None
    except RecursionError:
        raise SpecError("invalid JSON: nested too deeply", file=file) from None
    except ValueError as err:  # an integer of more digits than Python converts
        raise SpecError(f"invalid JSON: {printable(str(err).split(':')[0])}", file=file) from None
    if not isinstance(data, dict):
        raise SpecError(f"must be a JSON object, not {_kind(data)}", file=file)
    return data


def _kind(value: Any) -> str:
    return {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(type(value), "a number")


def spec_from_config(data: Mapping[str, Any], *, name: str, source: str = "", file: str | None = None) -> ModelSpec:
    """The :class:`ModelSpec` a Hugging Face ``config.json`` (already parsed) describes.

    Parameters
    ----------
    data
        The config: ``model_type`` is one of :data:`MODEL_TYPES`.
    name
        The spec's name.
    source
        Where the dimensions were published; default: the config's ``"_source"`` key, if any.
    file
        The file the config came from, for error messages.

    Raises
    ------
    SpecError
        A key is missing, of the wrong type, out of range or inconsistent with another.
    UnsupportedError
        A key changes the shapes in a way a :class:`ModelSpec` cannot express.

    Examples
    --------
    >>> moe = spec_from_config({"model_type": "mixtral", "hidden_size": 64, "num_hidden_layers": 2,
    ...                         "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 96,
    ...                         "vocab_size": 100, "num_local_experts": 8, "num_experts_per_tok": 2}, name="m")
    >>> moe.moe
    Moe(experts=8, top_k=2, ffn=96, shared=0, shared_ffn=0, first_dense=0, every=1)
    """
    if not isinstance(data, Mapping):
        raise SpecError(f"must be a JSON object, not {_kind(data)}", file=file)
    f = Fields(data, where="", file=file)
    raw_type = data.get("model_type")
    if isinstance(raw_type, str) and len(raw_type) > 64:  # not echoed whole into the one-line message
        raise f.error("model_type", f"must be one of {', '.join(MODEL_TYPES)}, not a {len(raw_type):,}-character "
                      "string")
    model_type = f.str("model_type", choices=MODEL_TYPES)
    family = FAMILY_DEFAULTS[model_type]
    source = source or _opt(f, "_source", f.str, "")
    if model_type == "gpt2":
        fields = _gpt2(f, family)
    else:
        fields = _decoder(f, model_type, family)
    try:
        return ModelSpec(name=name, family=model_type, source=source, **fields)
    except SpecError as err:  # the checks above leave nothing for ModelSpec to refuse; keep the file anyway
        raise SpecError(err.message, file=file) from None


def _opt(f: Fields, key: str, getter: Any, default: Any, **kwargs: Any) -> Any:
    """``getter(key)``, with an absent key or a ``null`` value meaning ``default`` (as in Hugging Face)."""
    if f.data.get(key) is None:
        f.raw(key, None)
        return default
    return getter(key, **kwargs)


def _unsupported(f: Fields, key: str, message: str) -> UnsupportedError:
    where = f"{f.file}: " if f.file else ""
    return UnsupportedError(f"{where}`{key}` {message}")


def _decoder(f: Fields, model_type: str, family: _Family) -> dict[str, Any]:
    hidden = f.int("hidden_size", maximum=MAX_HIDDEN)
    layers = f.int("num_hidden_layers", maximum=MAX_LAYERS)
    heads = f.int("num_attention_heads", maximum=MAX_HEADS)
    kv_heads = _opt(f, "num_key_value_heads", f.int, heads, maximum=MAX_HEADS)
    ffn = f.int("intermediate_size", maximum=MAX_FFN)
    vocab = f.int("vocab_size", maximum=MAX_VOCAB)
    mla = _mla(f) if model_type == "deepseek_v2" else None
    if mla is not None:  # the config's head_dim (when a newer transformers wrote it) is the RoPE width there
        head_dim = mla.v_dim
    else:
        head_dim = _opt(f, "head_dim", f.int, 0, maximum=MAX_HEAD_DIM)
    _check_heads(f, hidden, heads, kv_heads, head_dim, "num_attention_heads", "hidden_size")
    bias = _opt(f, "attention_bias", f.bool, False)
    window, every = _sliding(f, family, layers)
    moe = {"mixtral": _mixtral, "qwen2_moe": _qwen2_moe, "deepseek_v2": _deepseek_moe}.get(model_type)
    return dict(
        hidden=hidden, layers=layers, heads=heads, kv_heads=kv_heads, ffn=ffn, vocab=vocab, head_dim=head_dim,
        tied_embeddings=_opt(f, "tie_word_embeddings", f.bool, family.tied),
        max_context=_opt(f, "max_position_embeddings", f.int, family.context, maximum=MAX_CONTEXT),
        sliding_window=window, sliding_every=every, attention_bias=bias or family.qkv_bias,
        moe=moe(f, ffn) if moe else None, mla=mla)


def _check_heads(f: Fields, hidden: int, heads: int, kv_heads: int, head_dim: int, heads_key: str,
                 hidden_key: str) -> None:
    if not head_dim and hidden % heads:
        raise f.error(heads_key, f"{heads} heads do not divide {hidden_key} {hidden} (and no head_dim is given)")
    if heads % kv_heads:
        raise f.error("num_key_value_heads", f"{kv_heads} key/value heads do not divide {heads_key} {heads}")


def _sliding(f: Fields, family: _Family, layers: int) -> tuple[int, int]:
    """``(sliding_window, sliding_every)``: the window and which layers use it (0, 1: none)."""
    window = 0
    if family.sliding != "none":
        default = family.window if "sliding_window" not in f.data else None
        window = _opt(f, "sliding_window", f.int, default or 0, minimum=0, maximum=MAX_CONTEXT)
    every = family.every
    types = f.data.get("layer_types")
    f.raw("layer_types", None)
    if family.sliding == "qwen":  # Hugging Face: layers from max_window_layers on slide, if use_sliding_window
        use = _opt(f, "use_sliding_window", f.bool, False)
        first = _opt(f, "max_window_layers", f.int, _QWEN_MAX_WINDOW_LAYERS, minimum=0, maximum=MAX_LAYERS)
        window, every = window if use else 0, 1
        if window and types is None and first >= layers:
            window = 0
        elif window and types is None and first > 0:
            raise _unsupported(f, "max_window_layers", f"= {first}: only layers {first} to {layers - 1} slide, and "
                               "accelsim slides every k-th layer from layer 0 (max_window_layers 0) or none")
    if window and types is not None:  # newer configs spell out each layer's attention; it takes precedence
        if (not isinstance(types, list) or len(types) != layers
                or not all(isinstance(t, str) and t in _LAYER_TYPES for t in types)):
            raise f.error("layer_types", f"must be a list of {layers} entries, each one of "
                          f"{', '.join(_LAYER_TYPES)}")
        sliding = [i for i, t in enumerate(types) if t == "sliding_attention"]
        every = sliding[1] - sliding[0] if len(sliding) > 1 else layers
        if sliding and sliding != list(range(0, layers, every)):
            raise _unsupported(f, "layer_types", "slides layers other than every k-th from layer 0 "
                               f"(layers {', '.join(map(str, sliding[:6]))}{', ...' if len(sliding) > 6 else ''})")
        window = window if sliding else 0
    return (window, every) if window else (0, 1)


def _experts(f: Fields, key: str) -> tuple[int, int]:
    experts = f.int(key, maximum=MAX_EXPERTS)
    top_k = f.int("num_experts_per_tok", maximum=MAX_EXPERTS)
    if top_k > experts:
        raise f.error("num_experts_per_tok", f"= {top_k} routes each token to more experts than the {experts} "
                      f"there are ({key})")
    return experts, top_k


def _mixtral(f: Fields, ffn: int) -> Moe:
    experts, top_k = _experts(f, "num_local_experts")
    return Moe(experts=experts, top_k=top_k, ffn=ffn)


def _qwen2_moe(f: Fields, ffn: int) -> Moe:
    experts, top_k = _experts(f, "num_experts")
    width = f.int("moe_intermediate_size", maximum=MAX_FFN)
    shared = f.int("shared_expert_intermediate_size", minimum=0, maximum=MAX_FFN)
    every = _opt(f, "decoder_sparse_step", f.int, 1, maximum=MAX_LAYERS)
    dense = _opt(f, "mlp_only_layers", f.raw, [])
    if not isinstance(dense, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in dense):
        raise f.error("mlp_only_layers", "must be a list of layer indices")
    if dense:
        raise _unsupported(f, "mlp_only_layers", f"makes layers {', '.join(map(str, dense[:6]))} dense; accelsim "
                           "places dense layers only below first_dense and between every-th layers")
    return Moe(experts=experts, top_k=top_k, ffn=width, shared=1 if shared else 0, shared_ffn=shared, every=every)


def _deepseek_moe(f: Fields, ffn: int) -> Moe | None:
    if f.data.get("n_routed_experts") is None:  # Hugging Face: a dense model
        f.raw("n_routed_experts", None)
        return None
    experts, top_k = _experts(f, "n_routed_experts")
    width = f.int("moe_intermediate_size", maximum=MAX_FFN)
    shared = _opt(f, "n_shared_experts", f.int, 0, minimum=0, maximum=MAX_EXPERTS)
    first = _opt(f, "first_k_dense_replace", f.int, 0, minimum=0, maximum=MAX_LAYERS)
    freq = _opt(f, "moe_layer_freq", f.int, 1, maximum=MAX_LAYERS)
    if freq != 1:  # Hugging Face puts experts on layers with index % freq == 0; Moe.every counts (index + 1)
        raise _unsupported(f, "moe_layer_freq", f"= {freq}: accelsim reads DeepSeek configs with experts on "
                           "every layer from first_k_dense_replace on (moe_layer_freq 1) only")
    return Moe(experts=experts, top_k=top_k, ffn=width, shared=shared, shared_ffn=width if shared else 0,
               first_dense=first)


def _mla(f: Fields) -> Mla:
    return Mla(kv_lora_rank=f.int("kv_lora_rank", maximum=MAX_RANK),
               q_lora_rank=_opt(f, "q_lora_rank", f.int, 0, minimum=0, maximum=MAX_RANK),
               nope_dim=f.int("qk_nope_head_dim", maximum=MAX_RANK),
               rope_dim=f.int("qk_rope_head_dim", maximum=MAX_RANK),
               v_dim=f.int("v_head_dim", maximum=MAX_RANK))


def _gpt2(f: Fields, family: _Family) -> dict[str, Any]:
    hidden = f.int("n_embd", maximum=MAX_HIDDEN)
    layers = f.int("n_layer", maximum=MAX_LAYERS)
    heads = f.int("n_head", maximum=MAX_HEADS)
    _check_heads(f, hidden, heads, heads, 0, "n_head", "n_embd")
    inner = _opt(f, "n_inner", f.int, 4 * hidden, maximum=MAX_FFN)
    if _opt(f, "add_cross_attention", f.bool, False):
        raise _unsupported(f, "add_cross_attention", "adds encoder-decoder attention; accelsim models decoder-only "
                           "transformers")
    return dict(hidden=hidden, layers=layers, heads=heads, kv_heads=heads, ffn=inner,
                vocab=f.int("vocab_size", maximum=MAX_VOCAB), gated_ffn=False, norm="layernorm",
                tied_embeddings=_opt(f, "tie_word_embeddings", f.bool, family.tied),
                max_context=_opt(f, "n_positions", f.int, family.context, maximum=MAX_CONTEXT),
                attention_bias=True)


# -- writing ------------------------------------------------------------------------------------
def config_of(spec: ModelSpec) -> dict[str, Any]:
    """The Hugging Face config that :func:`spec_from_config` reads back into ``spec`` (shape keys only).

    Raises :class:`UnsupportedError` for a spec its family's config cannot express (e.g. a Llama with a
    sliding window, a GPT-2 with gated feed-forwards).

    Examples
    --------
    >>> m = load_model("gemma2-2b")
    >>> spec_from_config(config_of(m), name=m.name) == m
    True
    """
    family = FAMILY_DEFAULTS.get(spec.family)
    if family is None:
        raise UnsupportedError(f"model '{spec.name}': family {spec.family!r} has no Hugging Face config")

    def need(ok: bool, what: str) -> None:
        if not ok:
            raise UnsupportedError(f"model '{spec.name}': a {spec.family} config cannot express {what}")

    out: dict[str, Any] = {"model_type": spec.family}
    if spec.source:
        out["_source"] = spec.source
    if spec.family == "gpt2":
        need(spec.kv_heads == spec.heads and spec.head_dim * spec.heads == spec.hidden, "grouped or wide heads")
        need(not spec.gated_ffn and spec.norm == "layernorm" and spec.attention_bias, "gated, RMS-normed or "
             "bias-free layers")
        need(spec.moe is None and spec.mla is None and not spec.sliding_window and spec.sliding_every == 1,
             "experts, latent attention or sliding windows")
        out.update(n_embd=spec.hidden, n_layer=spec.layers, n_head=spec.heads, n_inner=spec.ffn,
                   n_positions=spec.max_context, vocab_size=spec.vocab, tie_word_embeddings=spec.tied_embeddings)
        return out
    need(spec.gated_ffn and spec.norm == "rmsnorm", "ungated or layer-normed feed-forwards")
    need(spec.attention_bias or not family.qkv_bias, "attention without Q/K/V biases")
    out.update(hidden_size=spec.hidden, num_hidden_layers=spec.layers, num_attention_heads=spec.heads,
               num_key_value_heads=spec.kv_heads, intermediate_size=spec.ffn, vocab_size=spec.vocab,
               tie_word_embeddings=spec.tied_embeddings, max_position_embeddings=spec.max_context,
               attention_bias=spec.attention_bias)
    if spec.family != "deepseek_v2":
        out["head_dim"] = spec.head_dim
    if spec.sliding_window:
        need(family.sliding != "none", "a sliding window")
        if family.sliding == "qwen":
            out.update(use_sliding_window=True, max_window_layers=0)
        out["sliding_window"] = spec.sliding_window
        if spec.sliding_every != (family.every if family.sliding == "key" else 1):
            out["layer_types"] = [_LAYER_TYPES[spec.window(i) > 0] for i in range(spec.layers)]
    elif family.sliding != "none":
        need(spec.sliding_every == 1, "a sliding_every without a window")
        out["sliding_window"] = None
    moe, mla = spec.moe, spec.mla
    need((moe is not None) == (spec.family in ("mixtral", "qwen2_moe")) or spec.family == "deepseek_v2",
         "this choice of experts")
    need((mla is not None) == (spec.family == "deepseek_v2"), "this choice of latent attention")
    if mla is not None:
        need(spec.head_dim == mla.v_dim, "a head_dim other than v_head_dim")
        out.update(kv_lora_rank=mla.kv_lora_rank, q_lora_rank=mla.q_lora_rank or None, qk_nope_head_dim=mla.nope_dim,
                   qk_rope_head_dim=mla.rope_dim, v_head_dim=mla.v_dim, n_routed_experts=None)
    if moe is not None:
        key = {"mixtral": "num_local_experts", "qwen2_moe": "num_experts"}.get(spec.family, "n_routed_experts")
        out.update({key: moe.experts, "num_experts_per_tok": moe.top_k})
        if spec.family == "mixtral":
            need(moe.ffn == spec.ffn and moe.shared == 0 and moe.first_dense == 0 and moe.every == 1,
                 "experts unlike Mixtral's")
        elif spec.family == "qwen2_moe":
            need(moe.shared in (0, 1) and (moe.shared == 1) == (moe.shared_ffn > 0) and moe.first_dense == 0,
                 "experts unlike Qwen2-MoE's")
            out.update(moe_intermediate_size=moe.ffn, shared_expert_intermediate_size=moe.shared_ffn,
                       decoder_sparse_step=moe.every)
        else:
            need(moe.every == 1 and moe.shared_ffn == (moe.ffn if moe.shared else 0), "experts unlike DeepSeek's")
            out.update(moe_intermediate_size=moe.ffn, n_shared_experts=moe.shared,
                       first_k_dense_replace=moe.first_dense, moe_layer_freq=1)
    return out


# -- bundled models ---------------------------------------------------------------------------
def load_model(name_or_path: str) -> ModelSpec:
    """A bundled model by name (any case; see :data:`MODEL_NAMES`), or the ``config.json`` at a path.

    A directory is read as the ``config.json`` inside it. A spec read from a path is named after the
    file (``<dir>/config.json``: after the directory). A bundled name wins over a path spelled the same:
    write ``./llama-2-7b`` for a folder of that name.

    Examples
    --------
    >>> load_model("Mixtral-8x7B").moe.top_k
    2
    >>> load_model("llama-3.1-8")
    Traceback (most recent call last):
    ...
    accelsim.errors.SpecError: unknown model 'llama-3.1-8' (did you mean 'llama-3.1-8b'?): give a bundled model \
(accelsim.llm.hf.MODEL_NAMES) or the path of a config.json
    """
    key = name_or_path.strip().lower()
    if key in MODEL_NAMES:
        path, name = MODELS_DIR / f"{key}.json", key
    else:
        if "\x00" in name_or_path:
            raise SpecError(f"unknown model '{printable(name_or_path[:60])}': a name cannot hold a NUL")
        path = Path(name_or_path)
        try:
            if path.is_dir():
                path = path / "config.json"
            known = path.exists()
        except OSError:  # e.g. a name too long for the file system
            known = False
        if not known and not _looks_like_path(name_or_path):
            raise SpecError(f"unknown model '{printable(name_or_path[:60])}'{did_you_mean(key, MODEL_NAMES)}: "
                            "give a bundled model (accelsim.llm.hf.MODEL_NAMES) or the path of a config.json")
        name = path.parent.name if path.name == "config.json" and path.parent.name else path.stem
        if known and not path.is_file():  # a FIFO or device would block or never end: a config is a file
            raise SpecError(f"{printable(str(path)[:200])} is not a regular file: give a config.json")
    data = parse_config(read_input(path, limit=MAX_CONFIG_BYTES, what="model config"), file=str(path))
    return spec_from_config(data, name=name, file=str(path))


def _looks_like_path(text: str) -> bool:
    return "/" in text or "\\" in text or text.endswith(".json")
