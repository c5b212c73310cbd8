#!/usr/bin/env python
"""Build the ``decoders`` group of weight-stripped ONNX zoo fixtures (see README.decoders.md here).

Not run by the test suite (it needs PyTorch). Run it in the export venv (torch 2.13.0+cpu,
transformers 5.25.0, onnx 1.23.2, onnxscript, onnxruntime 1.32.0):

    ~/.venv-export/bin/python tests/data/onnx_zoo/build_decoders.py               # every model
    ~/.venv-export/bin/python tests/data/onnx_zoo/build_decoders.py --only qwen2  # some, merged into the manifest

Every model is a transformers decoder built from a tiny config (nothing downloaded), seeded
(SEED) random weights then perturbed so no bias is zero and no two tensors are equal. For each it
counts, from the PyTorch forward pass (never from the ONNX graph):

* ``macs``: torch.utils.flop_counter.FlopCounterMode total FLOPs / 2 with SDPA forced to its math
  backend, plus MACs of ops the counter does not see (``macs_uncounted_by_flop_counter``: grouped_mm
  experts, Mamba's recurrent state update), counted by hand from the shapes;
* ``params``: elements of every parameter tensor read (directly or through a view/index/copy) by a
  matmul-family aten op (mm, addmm, bmm, baddbmm, convolution, grouped_mm...), found with a
  TorchDispatchMode that tracks parameter storage, each tensor once; cross-checked with forward hooks
  on nn.Linear / nn.Conv1d / Conv1D (``params_hooked``);

exports it with the TorchScript exporter (dynamo=False, opset 17) and the dynamo exporter
(dynamo=True, opset 18), checks the raw export with onnxruntime against PyTorch, strips weights with
onnx.tools.replace_constants.replace_initializer_by_constant_of_shape (above 16 elements) and
writes ``<family>.<ts17|dynamo18>.onnx`` plus ``manifest.decoders.json``. A failed export is recorded
(``export_error``) and the script goes on.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import onnx
import torch
import torch.nn as nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten
from transformers.pytorch_utils import Conv1D

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # tests/data: the helpers the fixture builders share
import onnx_export_common as common  # noqa: E402
from onnx_export_common import SEED, perturb  # noqa: E402

GROUP = "decoders"
VOCAB, SEQ, HIDDEN, LAYERS, HEADS, KV_HEADS, FFN = 128, 16, 64, 2, 4, 2, 128
PAST = 15  # cached tokens of the decode step
LM_INPUTS = ["input_ids", "attention_mask"]


# ------------------------------------------------------------------------------------------------
# helpers (the shared ones: tests/data/onnx_export_common.py)
# ------------------------------------------------------------------------------------------------
class DecodeWrap(nn.Module):
    """One decode step: the per-layer cached keys/values are plain tensor inputs; the wrapper builds
    transformers' DynamicCache from them and returns the logits and the updated per-layer keys/values."""

    def __init__(self, model, layers):
        super().__init__()
        self.model, self.layers = model, layers

    def forward(self, input_ids, attention_mask, *kv):
        from transformers import DynamicCache
        cache = DynamicCache(ddp_cache_data=[(kv[2 * i], kv[2 * i + 1]) for i in range(self.layers)],
                             config=self.model.config)
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, past_key_values=cache, use_cache=True)
        present = []
        for layer in out.past_key_values.layers:
            present += [layer.keys, layer.values]
        return (out.logits, *present)


def ids(batch, seq=SEQ):
    return torch.randint(0, VOCAB, (batch, seq), generator=torch.Generator().manual_seed(SEED))


def lm_spec(model, cfg, batch, description, **extra):
    x, mask = ids(batch), torch.ones(batch, SEQ, dtype=torch.int64)
    return dict(module=common.hf_wrap(model, LM_INPUTS, ["logits"]), hf=model, inputs=(x, mask), input_names=LM_INPUTS,
                output_names=["logits"], config=cfg.to_diff_dict(), batch=batch, description=description, **extra)


# ------------------------------------------------------------------------------------------------
# models
# ------------------------------------------------------------------------------------------------
def build_qwen2():
    from transformers import Qwen2Config, Qwen2ForCausalLM
    cfg = Qwen2Config(vocab_size=VOCAB, hidden_size=HIDDEN, intermediate_size=FFN, num_hidden_layers=LAYERS,
                      num_attention_heads=HEADS, num_key_value_heads=KV_HEADS, max_position_embeddings=64,
                      tie_word_embeddings=False, use_cache=False)
    return lm_spec(perturb(Qwen2ForCausalLM(cfg)), cfg, 1,
                   "Qwen2ForCausalLM: 2 layers, hidden 64, 4 query / 2 KV heads (GQA), q/k/v biases, SwiGLU FFN 128, "
                   "RMSNorm, rotary, untied LM head, vocab 128, batch 1, seq 16; inputs input_ids, attention_mask")


def build_qwen3():
    from transformers import Qwen3Config, Qwen3ForCausalLM
    cfg = Qwen3Config(vocab_size=VOCAB, hidden_size=HIDDEN, intermediate_size=FFN, num_hidden_layers=LAYERS,
                      num_attention_heads=HEADS, num_key_value_heads=KV_HEADS, head_dim=16, max_position_embeddings=64,
                      tie_word_embeddings=False, use_cache=False)
    return lm_spec(perturb(Qwen3ForCausalLM(cfg)), cfg, 2,
                   "Qwen3ForCausalLM: 2 layers, hidden 64, 4 query / 2 KV heads, head_dim 16, q_norm/k_norm (RMSNorm "
                   "per head), SwiGLU FFN 128, untied LM head, vocab 128, BATCH 2, seq 16")


def build_mistral_sw():
    from transformers import MistralConfig, MistralForCausalLM
    cfg = MistralConfig(vocab_size=VOCAB, hidden_size=HIDDEN, intermediate_size=FFN, num_hidden_layers=LAYERS,
                        num_attention_heads=HEADS, num_key_value_heads=KV_HEADS, head_dim=16,
                        max_position_embeddings=64, sliding_window=8, tie_word_embeddings=False, use_cache=False)
    return lm_spec(perturb(MistralForCausalLM(cfg)), cfg, 1,
                   "MistralForCausalLM: 2 layers, hidden 64, 4 query / 2 KV heads, SLIDING WINDOW 8 (< seq 16; the "
                   "window is a mask, the score/context matmuls stay seq x seq), SwiGLU FFN 128, vocab 128, batch 1")


def build_gemma2():
    from transformers import Gemma2Config, Gemma2ForCausalLM
    cfg = Gemma2Config(vocab_size=VOCAB, hidden_size=HIDDEN, intermediate_size=FFN, num_hidden_layers=LAYERS,
                       num_attention_heads=HEADS, num_key_value_heads=KV_HEADS, head_dim=16, query_pre_attn_scalar=16,
                       max_position_embeddings=64, sliding_window=8, use_cache=False)
    return lm_spec(perturb(Gemma2ForCausalLM(cfg)), cfg, 1,
                   "Gemma2ForCausalLM: 2 layers (sliding window 8 / global alternating), hidden 64, 4 query / 2 KV "
                   "heads, head_dim 16, attention-logit softcapping 50 and final-logit softcapping 30 (tanh), GeGLU "
                   "FFN 128, pre+post RMSNorm, embedding scaled by sqrt(hidden), LM head TIED to the embedding, "
                   "eager attention (transformers: sdpa does not support softcapping), batch 1")


def build_phi3():
    from transformers import Phi3Config, Phi3ForCausalLM
    cfg = Phi3Config(vocab_size=VOCAB, hidden_size=HIDDEN, intermediate_size=FFN, num_hidden_layers=LAYERS,
                     num_attention_heads=HEADS, num_key_value_heads=KV_HEADS, max_position_embeddings=64,
                     original_max_position_embeddings=64, pad_token_id=0, bos_token_id=1, eos_token_id=2,
                     tie_word_embeddings=False, use_cache=False)
    return lm_spec(perturb(Phi3ForCausalLM(cfg)), cfg, 1,
                   "Phi3ForCausalLM: 2 layers, hidden 64, 4 query / 2 KV heads, fused qkv_proj (no bias) and fused "
                   "gate_up_proj (SwiGLU FFN 128), default partial_rotary_factor "
                   f"{cfg.rope_parameters.get('partial_rotary_factor')}, untied LM head, vocab 128, batch 1")


def build_falcon():
    from transformers import FalconConfig, FalconForCausalLM
    cfg = FalconConfig(vocab_size=VOCAB, hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
                       new_decoder_architecture=True, num_kv_heads=KV_HEADS, max_position_embeddings=64,
                       bos_token_id=1, eos_token_id=2, use_cache=False)
    return lm_spec(perturb(FalconForCausalLM(cfg)), cfg, 1,
                   "FalconForCausalLM (new_decoder_architecture, Falcon-40B style): 2 layers, hidden 64, 4 query / 2 "
                   "KV heads (fused query_key_value), parallel attention+MLP with two LayerNorms, GELU MLP 4x, rotary, "
                   "no biases, LM head tied to the embedding, vocab 128, batch 1")


def build_opt():
    from transformers import OPTConfig, OPTForCausalLM
    cfg = OPTConfig(vocab_size=VOCAB, hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
                    ffn_dim=256, word_embed_proj_dim=HIDDEN, max_position_embeddings=64, pad_token_id=1,
                    bos_token_id=2, eos_token_id=2, use_cache=False)
    return lm_spec(perturb(OPTForCausalLM(cfg)), cfg, 1,
                   "OPTForCausalLM: 2 layers, hidden 64, 4 heads, ReLU FFN 256, learned positions (offset 2, from "
                   "the attention_mask cumsum), pre-LayerNorm, LM head tied to the embedding, vocab 128, batch 1")


def build_bloom():
    from transformers import BloomConfig, BloomForCausalLM
    cfg = BloomConfig(vocab_size=VOCAB, hidden_size=HIDDEN, n_layer=LAYERS, n_head=HEADS, bos_token_id=1,
                      eos_token_id=2, pad_token_id=3, use_cache=False)
    return lm_spec(perturb(BloomForCausalLM(cfg)), cfg, 1,
                   "BloomForCausalLM: 2 layers, hidden 64, 4 heads, fused query_key_value with bias, ALiBi (baddbmm "
                   "of the alibi bias and Q.K^T), embedding LayerNorm, GELU MLP 4x, LM head tied, vocab 128, batch 1")


def build_gpt_neox():
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM
    cfg = GPTNeoXConfig(vocab_size=VOCAB, hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
                        intermediate_size=256, max_position_embeddings=64, bos_token_id=1, eos_token_id=2,
                        use_cache=False)
    return lm_spec(perturb(GPTNeoXForCausalLM(cfg)), cfg, 1,
                   "GPTNeoXForCausalLM: 2 layers, hidden 64, 4 heads, fused query_key_value with bias, partial "
                   f"rotary ({cfg.rope_parameters.get('partial_rotary_factor')}), parallel residual, GELU MLP 256, "
                   "untied embed_out, vocab 128, batch 1")


def build_qwen2_decode():
    from transformers import Qwen2Config, Qwen2ForCausalLM
    cfg = Qwen2Config(vocab_size=VOCAB, hidden_size=HIDDEN, intermediate_size=FFN, num_hidden_layers=LAYERS,
                      num_attention_heads=HEADS, num_key_value_heads=KV_HEADS, max_position_embeddings=64,
                      tie_word_embeddings=False, use_cache=True)
    model = perturb(Qwen2ForCausalLM(cfg))
    g = torch.Generator().manual_seed(SEED + 1)
    x = torch.randint(0, VOCAB, (1, 1), generator=g)
    mask = torch.ones(1, PAST + 1, dtype=torch.int64)
    kv = [torch.randn(1, KV_HEADS, PAST, HIDDEN // HEADS, generator=g) for _ in range(2 * LAYERS)]
    kv_names = [f"past_{kind}_{i}" for i in range(LAYERS) for kind in ("key", "value")]
    out_names = ["logits"] + [f"present_{kind}_{i}" for i in range(LAYERS) for kind in ("key", "value")]
    return dict(module=DecodeWrap(model, LAYERS), hf=model, inputs=(x, mask, *kv), input_names=LM_INPUTS + kv_names,
                output_names=out_names, config=cfg.to_diff_dict(), batch=1,
                description="Qwen2ForCausalLM DECODE step (same config as qwen2): one new token (input_ids [1,1]), "
                            f"attention_mask [1,{PAST + 1}], past keys/values of {PAST} cached tokens as explicit "
                            f"inputs past_key_i/past_value_i [1,{KV_HEADS},{PAST},16] (wrapped into a DynamicCache), "
                            "use_cache=True; outputs logits [1,1,128] and present_key_i/present_value_i "
                            f"[1,{KV_HEADS},{PAST + 1},16]")


def _mixtral(impl):
    from transformers import MixtralConfig, MixtralForCausalLM
    cfg = MixtralConfig(vocab_size=VOCAB, hidden_size=HIDDEN, intermediate_size=FFN, num_hidden_layers=LAYERS,
                        num_attention_heads=HEADS, num_key_value_heads=KV_HEADS, head_dim=16,
                        max_position_embeddings=64, num_local_experts=4, num_experts_per_tok=2,
                        tie_word_embeddings=False, use_cache=False, experts_implementation=impl)
    model = perturb(MixtralForCausalLM(cfg))
    return model, cfg


def build_mixtral_grouped():
    return _mixtral_default(None)


def build_mixtral_batched():
    return _mixtral_default("batched_mm")


def _mixtral_default(requested):
    model, cfg = _mixtral(requested)  # None: transformers' default experts implementation (grouped_mm)
    impl = model.config._experts_implementation
    return lm_spec(model, cfg, 1,
                   f"MixtralForCausalLM, experts_implementation '{impl}' "
                   + ("(transformers 5.25's default: tokens sorted by expert, histc offsets, torch._grouped_mm)"
                      if requested is None else "(gather each (token, expert) pair's expert weights, torch.bmm)")
                   + ": 2 layers, hidden "
                   "64, 4 query / 2 KV heads, 4 experts (SwiGLU FFN 128, stored as 3-D gate_up_proj [4,256,64] and "
                   "down_proj [4,64,128]), top-2 routing (softmax, topk, renormalise), vocab 128, batch 1",
                   experts_implementation=impl)


def build_mixtral_eager():
    model, cfg = _mixtral("eager")
    return lm_spec(model, cfg, 1,
                   "MixtralForCausalLM with experts_implementation='eager': the per-expert loop of older "
                   "transformers (one_hot expert mask, nonzero over the hit experts, torch.where for each expert's "
                   "tokens, gather hidden_states[token_idx], F.linear with gate_up_proj[e] / down_proj[e], scale by "
                   "the routing weight, index_add_ back); same sizes as mixtral_batched",
                   experts_implementation="eager")


def build_mamba():
    from transformers import MambaConfig, MambaForCausalLM
    cfg = MambaConfig(vocab_size=VOCAB, hidden_size=HIDDEN, state_size=16, num_hidden_layers=LAYERS, expand=2,
                      conv_kernel=4, use_mambapy=False, use_cache=False, bos_token_id=1, eos_token_id=2,
                      pad_token_id=0, tie_word_embeddings=True)
    model = perturb(MambaForCausalLM(cfg))
    x = ids(1)
    return dict(module=common.hf_wrap(model, ["input_ids"], ["logits"]), hf=model, inputs=(x,), input_names=["input_ids"],
                output_names=["logits"], config=cfg.to_diff_dict(), batch=1,
                description="MambaForCausalLM, slow pure-torch path (no CUDA kernels, use_mambapy=False: the "
                            "recurrent scan is a Python loop over the 16 tokens, unrolled in both exports): 2 layers, "
                            "hidden 64, d_inner 128, state 16, dt_rank 4, depthwise causal conv1d k=4, LM head tied, "
                            "vocab 128, batch 1; input input_ids only")


MODELS = {
    "qwen2": build_qwen2,
    "qwen3": build_qwen3,
    "mistral_sw": build_mistral_sw,
    "gemma2": build_gemma2,
    "phi3": build_phi3,
    "falcon": build_falcon,
    "opt": build_opt,
    "bloom": build_bloom,
    "gpt_neox": build_gpt_neox,
    "qwen2_decode": build_qwen2_decode,
    "mixtral_grouped": build_mixtral_grouped,
    "mixtral_batched": build_mixtral_batched,
    "mixtral_eager": build_mixtral_eager,
    "mamba": build_mamba,
}


# ------------------------------------------------------------------------------------------------
# counts from the PyTorch forward pass
# ------------------------------------------------------------------------------------------------
MATMUL_OPS = ("mm", "addmm", "bmm", "baddbmm", "addbmm", "mv", "addmv", "dot", "convolution", "_convolution",
              "conv1d", "conv2d", "_grouped_mm", "grouped_mm", "linear", "matmul", "einsum")
# ops through which a parameter reaches a matmul unchanged in value (views, index/gather copies, casts)
PASS_OPS = {"t", "transpose", "permute", "view", "_unsafe_view", "reshape", "expand", "clone", "contiguous",
            "_to_copy", "to", "unsqueeze", "squeeze", "select", "slice", "index", "index_select", "split",
            "split_with_sizes", "chunk", "unbind", "alias", "detach", "lift_fresh", "as_strided", "narrow",
            "lift_fresh_copy", "_reshape_alias", "unsafe_split", "repeat", "flatten"}


class ParamReads(TorchDispatchMode):
    """Records which parameters a matmul-family aten op reads, following a parameter through views, index
    copies and casts (tensor identity by storage pointer for views; copies are tracked by their output)."""

    def __init__(self, params: dict[int, tuple[str, torch.Tensor]]):
        super().__init__()
        self.by_ptr = params  # storage ptr -> (name, param)
        self.derived: dict[int, str] = {}  # storage ptr of a copy -> param name
        self.read: dict[str, set[str]] = {}  # param name -> matmul ops that read it
        self.keep: list[torch.Tensor] = []

    def _origin(self, t):
        if not isinstance(t, torch.Tensor):
            return None
        try:
            ptr = t.untyped_storage().data_ptr()
        except Exception:  # noqa: BLE001
            return None
        if ptr in self.by_ptr:
            return self.by_ptr[ptr][0]
        return self.derived.get(ptr)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        name = func.__name__.split(".")[0]
        flat, _ = tree_flatten((args, kwargs))
        if name in MATMUL_OPS or "grouped_mm" in str(func):
            for t in flat:
                o = self._origin(t)
                if o is not None:
                    self.read.setdefault(o, set()).add(str(func))
        elif name in PASS_OPS:
            first = next((t for t in flat if isinstance(t, torch.Tensor)), None)
            o = self._origin(first)
            if o is not None:
                outs, _ = tree_flatten(out)
                for t in outs:
                    if isinstance(t, torch.Tensor):
                        self.keep.append(t)  # kept alive, so no later tensor reuses its storage address
                        self.derived.setdefault(t.untyped_storage().data_ptr(), o)
        return out


def count_module(name, spec) -> dict:
    model, hf = spec["module"], spec["hf"]
    params = {}
    for pname, p in hf.named_parameters():  # shared tensors appear once
        params[p.untyped_storage().data_ptr()] = (pname, p)
    by_name = {n: p for n, p in params.values()}

    # 1. params read by matmul-family ops
    mode = ParamReads(params)
    with torch.no_grad(), mode:
        model(*spec["inputs"])
    read = dict(sorted(mode.read.items()))
    extra_params = {}
    if name == "mamba":
        # dt_proj's weight is used as `dt_proj.weight @ x` and its bias is added inside the scan (delta_bias);
        # the bias is the dt projection's bias: counted with it.
        for pname in by_name:
            if pname.endswith("dt_proj.bias"):
                extra_params[pname] = "dt_proj bias: added right after the dt_proj.weight matmul (delta_bias)"
    params_total = sum(by_name[n].numel() for n in read) + sum(by_name[n].numel() for n in extra_params)

    # 2. cross-check: forward hooks on modules
    ran = {}
    handles = [m.register_forward_hook(lambda mod, i, o, n=n: ran.__setitem__(n, mod))
               for n, m in hf.named_modules() if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d, Conv1D))]
    routing = []
    if name.startswith("mixtral"):
        for n, m in hf.named_modules():
            if type(m).__name__ == "MixtralTopKRouter":
                handles.append(m.register_forward_hook(
                    lambda mod, i, o: routing.append(torch.bincount(o[2].flatten(), minlength=mod.num_experts).tolist()) and None))
    with torch.no_grad():
        model(*spec["inputs"])
    for h in handles:
        h.remove()
    hooked = common.unique_param_elements(ran.values())

    # 3. MACs: FlopCounterMode with SDPA on its math backend
    fc_total, by_op = common.flop_counts(model, spec["inputs"])

    uncounted, uncounted_note = 0, None
    cfg = hf.config
    if name.startswith("mixtral") and cfg._experts_implementation == "grouped_mm" and not any("mm" in k and "grouped" in k for k in by_op):
        # grouped_mm (or its transformers fallback custom op) has no FlopCounterMode rule: count each routed
        # (token, expert) pair's gate_up (H x 2I) and down (I x H) matmuls
        pairs = sum(sum(r) for r in routing)
        h, i = cfg.hidden_size, cfg.intermediate_size
        uncounted = pairs * (h * 2 * i + i * h)
        uncounted_note = (f"experts via '{cfg._experts_implementation}' (not seen by FlopCounterMode): "
                          f"{pairs} routed (token, expert) pairs over all layers x (hidden {h} x 2*{i} gate_up + "
                          f"{i} x hidden {h} down) MACs")
    if name == "mamba":
        b, l, d, n = spec["batch"], SEQ, cfg.intermediate_size, cfg.state_size
        uncounted = cfg.num_hidden_layers * b * l * d * n
        uncounted_note = ("selective-scan state recurrence ssm_state = dA[:, :, t] * ssm_state + dBu[:, :, t]: "
                          f"one multiply-add per state element per token = layers {cfg.num_hidden_layers} x batch {b} "
                          f"x seq {l} x d_inner {d} x state {n} (elementwise aten.mul/add, not seen by "
                          "FlopCounterMode). Not counted as MACs: the discretisation exp(A*dt), dt*B*u (2 muls per "
                          "state element), D skip, gating. The per-token C readout matmul(ssm_state, C_t) IS seen by "
                          "FlopCounterMode (aten.bmm, d_inner x state per token)")
    res = {
        "macs": int(fc_total + uncounted),
        "macs_flop_counter": int(fc_total),
        "flop_counter_by_op": by_op,
        "macs_uncounted_by_flop_counter": int(uncounted),
        "macs_uncounted_note": uncounted_note,
        "params": int(params_total),
        "params_read_by": {n: {"numel": by_name[n].numel(), "shape": list(by_name[n].shape),
                               "ops": sorted(ops)} for n, ops in read.items()},
        "params_extra": extra_params,
        "params_hooked": int(hooked),
        "params_hooked_modules": sorted(ran),
    }
    if routing:
        res["routing"] = routing
    return res


# ------------------------------------------------------------------------------------------------
# export / check / strip (tests/data/onnx_export_common.py)
# ------------------------------------------------------------------------------------------------
def build_one(name, spec, counts, exporter, out_dir: Path) -> dict:
    entry = common.new_entry(name, exporter, spec["description"], **counts)
    fname = entry["file"]
    model = common.export_model(spec, exporter, entry, out_dir, limit=400, tail=8, tail_width=300, ansi=True,
                                causes=True)
    if model is None:
        return entry
    raw_bytes = len(model.SerializeToString())
    expected = common.torch_outputs(spec)
    try:
        raw_out = common.run_ort(model.SerializeToString(), spec)
        ort_diff = None if raw_out is None else common.max_abs_diff(raw_out, expected)
        ort_err = None
    except Exception as e:  # noqa: BLE001
        ort_diff, ort_err = None, common.first_line(e)
    stripped = common.strip(model)
    checks = {"onnx.checker.check_model": common.guarded(onnx.checker.check_model, stripped),
              "onnx.shape_inference.infer_shapes(strict_mode=True)":
                  common.guarded(lambda m: onnx.shape_inference.infer_shapes(m, strict_mode=True), stripped)}
    data = stripped.SerializeToString()
    try:
        stripped_out = common.run_ort(data, spec)
        checks["onnxruntime_stripped_output_shapes_match"] = (None if stripped_out is None else
                                                              common.shapes_match(stripped_out, expected))
    except Exception as e:  # noqa: BLE001
        checks["onnxruntime_stripped_output_shapes_match"] = common.first_line(e)
    checks["onnxruntime_raw_max_abs_diff_vs_torch"] = ort_diff
    if ort_err:
        checks["onnxruntime_raw_error"] = ort_err
    (out_dir / fname).write_bytes(data)
    entry.update(common.graph_facts(stripped))
    entry.update(common.file_fields(data, raw_bytes))
    entry["checks"] = checks
    print(f"  {fname}: {len(data):,} bytes (raw {raw_bytes:,}), {entry['nodes']} nodes, ort diff {ort_diff} "
          f"{ort_err or ''}", flush=True)
    return entry


COUNTING = {
    "macs": "torch.utils.flop_counter.FlopCounterMode total FLOPs / 2 over the exported forward pass (SDPA forced "
            "to its math backend via torch.nn.attention.sdpa_kernel(SDPBackend.MATH); Gemma2 runs eager "
            "attention), i.e. every aten mm/addmm/bmm/baddbmm/convolution, including the LM head and the "
            "attention score/context matmuls at their full (unmasked) size; plus macs_uncounted_by_flop_counter "
            "(see each entry's macs_uncounted_note). The rotary inv_freq x position outer product is a k=1 "
            "matmul that aten runs as a broadcast multiply: not counted.",
    "params": "elements of every parameter tensor that a matmul-family aten op (mm, addmm, bmm, baddbmm, "
              "convolution, _grouped_mm, transformers' grouped_mm fallback) reads, directly or through "
              "views/index copies/casts (a TorchDispatchMode tracking parameter storage), each tensor once "
              "(tied LM head = embedding table, counted once). params_read_by lists them. Embedding tables "
              "(only gathered), norm scales, Mamba's A_log and D are not params. params_extra: Mamba's "
              "dt_proj.bias (added right after its matmul). params_hooked: the same from forward hooks on "
              "nn.Linear/nn.Conv1d/Conv1D only (misses weights used directly: Mixtral's router weight and 3-D "
              "experts, Mamba's dt_proj.weight).",
    "routing": "MoE only: tokens per expert per MoE layer (bincount of the router's top-k indices over the "
               "batch x seq tokens, in layer order), measured in the same forward pass; also <model>.routing.json",
}


def main(argv=None) -> int:
    args, versions, manifest_path, old = common.start(__doc__, HERE, list(MODELS), f"manifest.{GROUP}.json",
                                                      ("torch", "transformers", "onnx"), argv)
    fixtures = old.get("fixtures", {})
    for name in args.only or list(MODELS):
        print(f"{name}:", flush=True)
        torch.manual_seed(SEED)
        spec = MODELS[name]()
        spec["module"].eval()
        spec["module"].requires_grad_(False)  # FlopCounterMode's module tracker trips on no-grad views of params
        counts = count_module(name, spec)
        counts["config"] = {k: v for k, v in spec["config"].items() if not k.startswith("_")}
        counts["batch"] = spec["batch"]
        counts["import_kwargs"] = {}
        if "experts_implementation" in spec:
            counts["experts_implementation"] = spec["experts_implementation"]
        if "routing" in counts:
            (args.out / f"{name}.routing.json").write_text(json.dumps({"tokens_per_expert": counts["routing"]}) + "\n")
            counts["import_kwargs"]["routing_file"] = f"{name}.routing.json"
        print(f"  macs {counts['macs']:,} (flop counter {counts['macs_flop_counter']:,} + "
              f"{counts['macs_uncounted_by_flop_counter']:,}), params {counts['params']:,} "
              f"(hooked {counts['params_hooked']:,}) {counts.get('routing', '')}", flush=True)
        common.build_both(build_one, name, spec, counts, args.out, fixtures)
    manifest = {"generator": f"tests/data/onnx_zoo/build_{GROUP}.py", "versions": versions, "seed": SEED,
                "stripping": common.stripping(also_removed=False),
                "counting": COUNTING, "fixtures": dict(sorted(fixtures.items()))}
    common.write_and_report(manifest_path, manifest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
