#!/usr/bin/env python
"""Build the ``encoders`` group of weight-stripped ONNX zoo fixtures (see README.encoders.md here).

Not run by the test suite (needs PyTorch). Run it in the export venv from the repository root:

    ~/.venv-export/bin/python tests/data/onnx_zoo/build_encoders.py                  # all families
    ~/.venv-export/bin/python tests/data/onnx_zoo/build_encoders.py --only roberta   # some, merged into the manifest

Families: roberta, albert, deberta_v2, clip, segformer, detr, whisper_encoder, whisper_decoder, wav2vec2,
mobilevit, levit; all built from tiny transformers configs (nothing downloaded), seeded random weights then
perturbed (no zero bias, no two equal tensors). For each: reference counts from the PyTorch module
(``macs`` = FlopCounterMode FLOPs / 2 with SDPA on its math backend; ``params`` = weight/bias elements of every
linear/conv module that ran, shared tensors once), export with the TorchScript exporter (opset 17) and the
dynamo exporter (opset 18), onnxruntime check of the raw export vs torch, weight stripping with
``onnx.tools.replace_constants.replace_initializer_by_constant_of_shape`` (threshold 16), and
``<family>.ts17.onnx`` / ``<family>.dynamo18.onnx`` plus ``manifest.encoders.json``. A failed export is recorded
(``export_error``) and the script goes on. Shared helpers: tests/data/onnx_export_common.py.
"""

from __future__ import annotations

import sys
import traceback
from pathlib import Path

import numpy as np
import onnx
import torch
import torch.nn as nn
from torch.overrides import TorchFunctionMode
from transformers.pytorch_utils import Conv1D

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # tests/data: the helpers the fixture builders share
import onnx_export_common as common  # noqa: E402
from onnx_export_common import SEED, gen, perturb  # noqa: E402

GROUP = "encoders"
VOCAB = 128


def spec(model, inputs, input_names, output_names, cfg, description, **extra):
    model.eval()
    return dict(module=common.hf_wrap(model, input_names, output_names, **extra.pop("fixed", {})), hf=model,
                inputs=tuple(inputs), input_names=list(input_names), output_names=list(output_names),
                config=cfg.to_diff_dict() if hasattr(cfg, "to_diff_dict") else cfg, description=description, **extra)


# ------------------------------------------------------------------------------------------------
# Families
# ------------------------------------------------------------------------------------------------
def build_roberta():
    from transformers import RobertaConfig, RobertaModel
    cfg = RobertaConfig(vocab_size=VOCAB, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=128, max_position_embeddings=40, type_vocab_size=2, pad_token_id=1,
                        use_cache=False)
    model = perturb(RobertaModel(cfg))
    x = torch.randint(3, VOCAB, (1, 16), generator=gen())
    return spec(model, [x], ["input_ids"], ["last_hidden_state", "pooler_output"], cfg,
                "RobertaModel (with pooler): 2 layers, hidden 64, 4 heads, FFN 128, vocab 128; input_ids [1, 16] "
                "(no padding token, so position ids are 2..17)")


def build_albert():
    from transformers import AlbertConfig, AlbertModel
    cfg = AlbertConfig(vocab_size=VOCAB, embedding_size=32, hidden_size=64, num_hidden_layers=3,
                       num_hidden_groups=1, num_attention_heads=4, intermediate_size=128, inner_group_num=1,
                       max_position_embeddings=32, type_vocab_size=2)
    model = perturb(AlbertModel(cfg))
    x = torch.randint(3, VOCAB, (1, 16), generator=gen())
    return spec(model, [x], ["input_ids"], ["last_hidden_state", "pooler_output"], cfg,
                "AlbertModel (with pooler): embedding 32 projected to hidden 64, 3 layers sharing ONE layer's weights "
                "(num_hidden_groups=1), 4 heads, FFN 128, vocab 128; input_ids [1, 16]",
                params_note="ALBERT runs the same AlbertLayer 3 times: its linear weights count once; MACs count "
                            "3 times")


def build_deberta_v2():
    from transformers import DebertaV2Config, DebertaV2Model
    cfg = DebertaV2Config(vocab_size=VOCAB, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                          intermediate_size=128, max_position_embeddings=32, type_vocab_size=0,
                          relative_attention=True, position_buckets=8, max_relative_positions=-1,
                          pos_att_type=["p2c", "c2p"], norm_rel_ebd="layer_norm", share_att_key=True,
                          position_biased_input=False, hidden_act="gelu")
    model = perturb(DebertaV2Model(cfg))
    x = torch.randint(3, VOCAB, (1, 16), generator=gen())
    return spec(model, [x], ["input_ids"], ["last_hidden_state"], cfg,
                "DebertaV2Model: 2 layers, hidden 64, 4 heads, FFN 128, relative attention (c2p + p2c) with "
                "position_buckets 8 (log buckets, 16 relative embeddings), share_att_key, layer-normed relative "
                "embeddings, no absolute positions; input_ids [1, 16]",
                params_note="relative embeddings (rel_embeddings, an nn.Embedding table) go through the layers' "
                            "query_proj/key_proj (share_att_key): those linears run twice per layer (tokens and "
                            "relative positions), counted once")


def build_clip():
    from transformers import CLIPConfig, CLIPModel
    cfg = CLIPConfig(text_config=dict(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                      num_attention_heads=2, max_position_embeddings=16, eos_token_id=2,
                                      bos_token_id=0, pad_token_id=1),
                     vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                        num_attention_heads=2, image_size=32, patch_size=8),
                     projection_dim=16)
    model = perturb(CLIPModel(cfg))
    ids = torch.randint(3, VOCAB, (2, 8), generator=gen())
    ids[:, 0] = 0
    ids[0, 7] = 2
    ids[1, 5] = 2
    mask = torch.ones(2, 8, dtype=torch.int64)
    px = torch.randn(1, 3, 32, 32, generator=gen())
    return spec(model, [ids, mask, px], ["input_ids", "attention_mask", "pixel_values"],
                ["logits_per_image", "text_embeds", "image_embeds"], cfg,
                "CLIPModel: text tower (1 layer, hidden 32, 2 heads, FFN 64, causal, vocab 128, 2 texts x 8 tokens) "
                "+ vision tower (1 layer, hidden 32, 2 heads, FFN 64, image 32x32, patch 8: 16 patches + CLS, "
                "pre-LN), projections to 16, logits = scale * image_embeds @ text_embeds^T",
                params_note="text_projection and visual_projection are bias-free nn.Linear; the logit matmul is "
                            "between activations (no weight)")


def build_segformer():
    from transformers import SegformerConfig, SegformerForSemanticSegmentation
    cfg = SegformerConfig(num_channels=3, num_encoder_blocks=2, depths=[1, 1], sr_ratios=[4, 2],
                          hidden_sizes=[16, 32], patch_sizes=[7, 3], strides=[4, 2], num_attention_heads=[1, 2],
                          mlp_ratios=[2, 2], decoder_hidden_size=32, num_labels=4, drop_path_rate=0.0)
    model = perturb(SegformerForSemanticSegmentation(cfg))
    px = torch.randn(1, 3, 64, 64, generator=gen())
    return spec(model, [px], ["pixel_values"], ["logits"], cfg,
                "SegformerForSemanticSegmentation: 2 Mix-Transformer stages (hidden 16/32, overlapping patch "
                "embeddings 7x7/4 and 3x3/2, efficient self-attention with spatial-reduction convs sr 4/2, Mix-FFN "
                "with 3x3 depthwise conv), all-MLP decode head (32, bilinear upsampling, 1x1 fuse conv + BN + ReLU), "
                "4 classes; input 1x3x64x64, logits 1x4x16x16")


def build_detr():
    from transformers import DetrConfig, DetrForObjectDetection, ResNetConfig
    bb = ResNetConfig(num_channels=3, embedding_size=16, hidden_sizes=[16, 32], depths=[1, 1], layer_type="basic",
                      out_features=["stage2"])
    cfg = DetrConfig(backbone_config=bb, d_model=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
                     decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, num_queries=8, num_labels=4,
                     dropout=0.0)
    model = perturb(DetrForObjectDetection(cfg))
    px = torch.randn(1, 3, 64, 64, generator=gen())
    return spec(model, [px], ["pixel_values"], ["logits", "pred_boxes"], cfg,
                "DetrForObjectDetection without timm or pretrained weights: transformers ResNet backbone (basic "
                "blocks, stem 16, stages 16/32, depths 1/1, frozen batch norm), 1x1 input projection to d_model 32, "
                "sine position embedding, 1 encoder + 1 decoder layer (2 heads, FFN 64), 8 object queries, class "
                "head (4+1) and 3-layer box MLP; input 1x3x64x64 (no pixel_mask: all ones)")


WHISPER_CFG = dict(vocab_size=VOCAB, num_mel_bins=16, encoder_layers=1, decoder_layers=1, d_model=32,
                   encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64,
                   max_source_positions=16, max_target_positions=16, pad_token_id=1, bos_token_id=0, eos_token_id=2,
                   decoder_start_token_id=0, use_cache=False)


def _whisper():
    from transformers import WhisperConfig, WhisperModel
    cfg = WhisperConfig(**WHISPER_CFG)
    return cfg, perturb(WhisperModel(cfg))


def build_whisper_encoder():
    cfg, model = _whisper()
    feats = torch.randn(1, 16, 32, generator=gen())
    return spec(model.get_encoder(), [feats], ["input_features"], ["last_hidden_state"], cfg,
                "WhisperModel's encoder: log-mel input 16 bins x 32 frames, conv1d k3 (16->32) + GELU, conv1d k3 "
                "stride 2 (->16 frames) + GELU, sinusoidal positions (table), 1 pre-LN layer (d_model 32, 2 heads, "
                "FFN 64), final LayerNorm")


def build_whisper_decoder():
    cfg, model = _whisper()
    ids = torch.randint(3, VOCAB, (1, 8), generator=gen())
    ids[0, 0] = 0
    mask = torch.ones(1, 8, dtype=torch.int64)
    enc = torch.randn(1, 16, 32, generator=gen(1))
    return spec(model.get_decoder(), [ids, mask, enc], ["input_ids", "attention_mask", "encoder_hidden_states"],
                ["last_hidden_state"], cfg,
                "WhisperModel's decoder (no LM head): 1 pre-LN layer (d_model 32, 2 heads, FFN 64) with causal "
                "self-attention and cross-attention over encoder_hidden_states [1, 16, 32] (an input), learned "
                "positions, vocab 128; input_ids/attention_mask [1, 8]",
                fixed=dict(use_cache=False))


def build_wav2vec2():
    from transformers import Wav2Vec2Config, Wav2Vec2Model
    cfg = Wav2Vec2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                         conv_dim=(16, 16, 16), conv_stride=(5, 2, 2), conv_kernel=(10, 3, 3), conv_bias=False,
                         feat_extract_norm="group", num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4,
                         do_stable_layer_norm=False, mask_time_prob=0.0, vocab_size=VOCAB)
    model = perturb(Wav2Vec2Model(cfg))
    wav = torch.randn(1, 400, generator=gen())
    return spec(model, [wav], ["input_values"], ["last_hidden_state", "extract_features"], cfg,
                "Wav2Vec2Model: 400 raw samples, conv feature encoder (3 bias-free conv1d 16 ch: k10/s5 with "
                "GroupNorm, k3/s2, k3/s2 -> 19 frames, GELU), feature projection 16->32, weight-normed grouped "
                "positional conv1d (k16, 4 groups), 2 post-LN layers (hidden 32, 2 heads, FFN 64)",
                params_note="the positional conv's weight is weight-normed (parametrization weight_g/weight_v): "
                            "counted as one conv weight of its computed shape plus its bias")


def build_mobilevit():
    from transformers import MobileViTConfig, MobileViTModel
    cfg = MobileViTConfig(image_size=64, patch_size=2, hidden_sizes=[32, 32, 48],
                          neck_hidden_sizes=[8, 16, 16, 24, 32, 40, 64], num_attention_heads=2, mlp_ratio=2.0,
                          expand_ratio=2.0, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    model = MobileViTModel(cfg)
    # MobileViTEncoder hard-codes 2/4/3 transformer layers per MobileViT block (no config field); keep the first
    # layer of each so the TorchScript export stays small (285 KB stripped with all 9 layers). Same ops, fewer repeats.
    for stage in model.encoder.layer:
        if hasattr(stage, "transformer"):
            stage.transformer.layer = nn.ModuleList(stage.transformer.layer[:1])
    model = perturb(model)
    px = torch.randn(1, 3, 64, 64, generator=gen())
    return spec(model, [px], ["pixel_values"], ["last_hidden_state", "pooler_output"], cfg,
                "MobileViTModel (MobileViT-style, tiny): stem 3x3/2, inverted residuals (expand 2), 3 MobileViT "
                "blocks (local 3x3 + 1x1 convs, unfold to 2x2 patches, transformer hidden 32/32/48 with ONE "
                "layer each (the class hard-codes 2/4/3; the extra layers are removed after construction), 2 heads, "
                "FFN ratio 2, fold, fusion conv), 1x1 conv to 64, global pool; input 1x3x64x64")


def build_levit():
    from transformers import LevitConfig, LevitModel
    cfg = LevitConfig(image_size=64, num_channels=3, kernel_size=3, stride=2, padding=1, patch_size=16,
                      hidden_sizes=[32, 48, 64], num_attention_heads=[2, 3, 4], depths=[1, 1, 1], key_dim=[8, 8, 8],
                      drop_path_rate=0, mlp_ratio=[2, 2, 2], attention_ratio=[2, 2, 2])
    model = perturb(LevitModel(cfg))
    px = torch.randn(1, 3, 64, 64, generator=gen())
    return spec(model, [px], ["pixel_values"], ["last_hidden_state", "pooler_output"], cfg,
                "LevitModel: 4 conv3x3/2 + BN + hardswish patch embedding (64px -> 4x4 tokens), 3 stages "
                "(hidden 32/48/64, heads 2/3/4, key_dim 8, 1 block each) with attention biases (gathered from a "
                "table by relative offset), Linear+BatchNorm1d everywhere, attention-subsample blocks between "
                "stages (4x4 -> 2x2 -> 1x1), mean pool")


MODELS = {
    "roberta": build_roberta,
    "albert": build_albert,
    "deberta_v2": build_deberta_v2,
    "clip": build_clip,
    "segformer": build_segformer,
    "detr": build_detr,
    "whisper_encoder": build_whisper_encoder,
    "whisper_decoder": build_whisper_decoder,
    "wav2vec2": build_wav2vec2,
    "mobilevit": build_mobilevit,
    "levit": build_levit,
}


# What each file's graph does that a reader of the counts should know (observed in the exports; the counts
# themselves come from PyTorch only).
FIXTURE_NOTES = {
    "albert.dynamo18.onnx": "the dynamo exporter's optimiser folds the Transpose of each shared AlbertLayer weight "
                            "separately at each of the 3 call sites: the file holds 3 distinct (equal) transposed "
                            "copies of every shared weight matrix (biases stay shared), 2 x 32,768 extra weight "
                            "elements as initializers; the PyTorch params count them once. ts17 keeps one "
                            "initializer per shared weight.",
    "deberta_v2": "the relative-position path starts from a constant: rel_embeddings (table, 16 x 64) -> LayerNorm -> "
                  "query_proj/key_proj (the token path's linears, reused) -> per-head reshape; its projections are "
                  "2 x 16 x 64 x 64 MACs per layer (262,144 in all) in macs, and the projected tables are not params",
    "detr": "the decoder's queries start as zeros + query_position_embeddings (a table): the first decoder layer's "
            "self-attention and its cross-attention q_proj depend only on constants, so the cross-attention score "
            "matmul has a constant left operand [1, heads, queries, head_dim]; those MACs/weights are in the "
            "PyTorch counts (PyTorch runs them)",
    "clip": "two activation inputs with different leading dims: input_ids/attention_mask [2, 8] (2 texts) and "
            "pixel_values [1, 3, 32, 32] (1 image); logits_per_image is [1, 2]",
}


# ------------------------------------------------------------------------------------------------
# Reference counts from the PyTorch module
# ------------------------------------------------------------------------------------------------
COUNTING = {
    "macs": "torch.utils.flop_counter.FlopCounterMode total FLOPs / 2 over the exported forward pass (the wrapped "
            "module with the manifest's inputs), under torch.nn.attention.sdpa_kernel(SDPBackend.MATH) so SDPA is "
            "seen as its bmm ops; flop_counter_by_op splits it. macs_uncounted_by_flop_counter (0 for every model "
            "here: nothing ran that the counter does not count) would be added.",
    "macs_hooks": "cross-check: forward hooks on nn.Linear/Conv1D/nn.Conv1d/2d/3d/ConvTranspose (output elements x "
                  "fan-in per output), one count per call; the rest of macs is activation x activation matmuls "
                  "(attention scores/context, CLIP logits, DeBERTa relative terms) = macs - macs_hooks",
    "params_linear_conv": "weight and bias elements of every nn.Linear / transformers Conv1D / nn.Conv1d/2d/3d / "
                          "nn.ConvTranspose2d that ran (forward hooks), each module's tensors counted once (shared "
                          "modules like ALBERT's layer and tensors by identity once; a weight-normed weight counts "
                          "as the computed weight's shape). Parameters passed straight to matmul/linear/conv "
                          "functions outside those modules are caught with a TorchFunctionMode and listed in "
                          "params_direct_matmul (added to params when present). Embedding tables, norm scales, "
                          "BN statistics, attention-bias tables are not params.",
    "params_bn_folded": "params_bn_folded_conv / params_bn_folded_linear: out_channels of each bias-free conv / "
                        "nn.Linear whose output (or a view of it) goes straight into an nn.BatchNorm1d/2d (the bias it carries if an exporter folds the BN)",
    "params": "the count that applies to the file: params_linear_conv, plus the folded biases of the BN-fed "
              "convs (and/or linears) whose BatchNormalization the exporter removed (see bn_fold in the fixture)",
}

LINEAR_CONV = (nn.Linear, Conv1D, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d)


class DirectParamUse(TorchFunctionMode):
    """Records nn.Parameters passed directly to matmul-like functions."""

    FUNCS = {torch.matmul, torch.mm, torch.bmm, torch.einsum, torch.baddbmm, torch.addmm,
             torch.nn.functional.linear, torch.nn.functional.conv1d, torch.nn.functional.conv2d,
             torch.Tensor.matmul, torch.Tensor.__matmul__, torch.Tensor.__rmatmul__, torch.Tensor.mm,
             torch.Tensor.bmm}

    def __init__(self):
        super().__init__()
        self.used = {}

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in self.FUNCS:
            for a in [*args, *kwargs.values()]:
                for t in (a if isinstance(a, (list, tuple)) else [a]):
                    if isinstance(t, nn.Parameter):
                        self.used[id(t)] = t
        return func(*args, **kwargs)


def _key(t: torch.Tensor):
    """A BN's input is the conv/linear output itself or a view of it (LeViT flattens a Linear's output before its
    BatchNorm1d): match by storage and element count."""
    return (t.untyped_storage().data_ptr(), t.storage_offset(), t.numel())


def count_module(sp) -> dict:
    model = sp["module"]
    hook_macs = {"linear": 0, "conv": 0}
    ran: dict[int, tuple[str, nn.Module]] = {}
    calls: dict[str, int] = {}
    fed: dict[int, nn.Module] = {}
    folded = {"conv": 0, "linear": 0}
    names = {id(m): n for n, m in model.named_modules()}

    def hook(mod, inp, out):
        name = names[id(mod)]
        calls[name] = calls.get(name, 0) + 1
        if isinstance(mod, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d)):
            k = int(np.prod(mod.kernel_size))
            if isinstance(mod, (nn.ConvTranspose1d, nn.ConvTranspose2d)):
                hook_macs["conv"] += inp[0].numel() * mod.out_channels // mod.groups * k
            else:
                hook_macs["conv"] += out.numel() * (mod.in_channels // mod.groups) * k
        else:
            k = mod.in_features if isinstance(mod, nn.Linear) else mod.weight.shape[0]
            hook_macs["linear"] += out.numel() * k
        if getattr(mod, "bias", None) is None:
            fed[_key(out)] = (mod, out)  # keep the output alive: ids/storages of freed tensors get reused
        ran[id(mod)] = (name, mod)

    def bn_hook(mod, inp, out):
        src = fed.pop(_key(inp[0]), (None,))[0]
        if src is not None:
            folded["linear" if isinstance(src, (nn.Linear, Conv1D)) else "conv"] += mod.num_features

    direct = DirectParamUse()
    common.forward_hooked(model, sp["inputs"], LINEAR_CONV, lambda name: hook, bn_hook,
                          nn.modules.batchnorm._BatchNorm, mode=direct)

    seen, params = set(), 0
    module_tensors = set()
    for _, mod in ran.values():
        parametrized = getattr(mod, "parametrizations", None)
        for pname in ("weight", "bias"):
            if parametrized is not None and pname in parametrized:
                key = (id(mod), pname)
                t = getattr(mod, pname)
                for orig in parametrized[pname].parameters():
                    module_tensors.add(id(orig))
            else:
                t = getattr(mod, pname, None)
                if t is None:
                    continue
                key = id(t)
                module_tensors.add(id(t))
            if key not in seen:
                seen.add(key)
                params += t.numel()
    all_params = {id(p): n for n, p in model.named_parameters()}
    direct_extra = {all_params.get(i, "?"): list(t.shape) for i, t in direct.used.items() if i not in module_tensors}
    direct_params = sum(int(np.prod(s)) for s in direct_extra.values())

    macs, by_op = common.flop_counts(model, sp["inputs"])
    hooks_total = hook_macs["linear"] + hook_macs["conv"]
    return {
        "macs": int(macs),
        "flop_counter_by_op": by_op,
        "macs_uncounted_by_flop_counter": 0,
        "macs_hooks": {"linear": int(hook_macs["linear"]), "conv": int(hook_macs["conv"]),
                       "activation_matmuls (macs - hooks)": int(macs - hooks_total)},
        "params_linear_conv": int(params + direct_params),
        "params_direct_matmul": direct_extra,
        "params_bn_folded_conv": int(folded["conv"]),
        "params_bn_folded_linear": int(folded["linear"]),
        "modules_counted": len(ran),
        "module_calls_more_than_once": {n: c for n, c in calls.items() if c > 1},
        "params_note": sp.get("params_note"),
    }


# ------------------------------------------------------------------------------------------------
# Export, check, strip (tests/data/onnx_export_common.py)
# ------------------------------------------------------------------------------------------------
def build_one(name: str, sp, counts, exporter: str, out_dir: Path) -> dict:
    entry = common.new_entry(name, exporter, sp["description"])
    fname = entry["file"]
    model = common.export_model(sp, exporter, entry, out_dir, limit=400, tail=8)
    if model is None:
        return with_import_kwargs(entry, sp)
    raw_bytes = len(model.SerializeToString())
    expected = common.torch_outputs(sp)
    checks = {}
    try:
        raw_out = common.run_ort(model.SerializeToString(), sp)
        checks["onnxruntime_raw_max_abs_diff_vs_torch"] = (
            None if raw_out is None else common.max_abs_diff(raw_out, expected))
    except Exception as e:  # noqa: BLE001
        checks["onnxruntime_raw_error"] = f"{type(e).__name__}: {str(e).strip()[:300]}"
    stripped = common.strip(model)
    onnx.checker.check_model(stripped)
    try:
        onnx.shape_inference.infer_shapes(stripped, strict_mode=True)
        checks["onnx.shape_inference.infer_shapes(strict_mode=True)"] = "ok"
    except Exception as e:  # noqa: BLE001
        checks["onnx.shape_inference.infer_shapes(strict_mode=True)"] = f"{type(e).__name__}: {str(e)[:300]}"
    checks["onnx.checker.check_model"] = "ok"
    data = stripped.SerializeToString()
    try:
        stripped_out = common.run_ort(data, sp)
        checks["onnxruntime_stripped_output_shapes_match"] = (
            None if stripped_out is None else common.shapes_match(stripped_out, expected))
    except Exception as e:  # noqa: BLE001
        checks["onnxruntime_stripped_error"] = f"{type(e).__name__}: {str(e).strip()[:300]}"
    (out_dir / fname).write_bytes(data)
    entry["notes"] = [v for k, v in FIXTURE_NOTES.items() if k in (name, fname)]
    entry.update(common.graph_facts(stripped))
    entry.update(counts)
    left = entry["op_types"].get("BatchNormalization", 0)
    # BN nodes in the PyTorch forward that follow a bias-free conv/linear; the exporters fold BN after conv
    # (eval mode) but keep BatchNorm1d after a Linear; check which happened from what is left in the file.
    n_conv_bn, n_lin_bn = counts["_bn_after_conv_modules"], counts["_bn_after_linear_modules"]
    conv_folded = n_conv_bn > 0 and left <= counts["_bn_total_modules"] - n_conv_bn
    lin_folded = n_lin_bn > 0 and left <= counts["_bn_total_modules"] - n_lin_bn - (n_conv_bn if conv_folded else 0)
    entry["bn_fold"] = {"batchnorm_nodes_left_in_file": left, "bn_modules_in_forward": counts["_bn_total_modules"],
                        "conv_bn_folded": conv_folded, "linear_bn_folded": lin_folded}
    entry["params"] = (counts["params_linear_conv"] + (counts["params_bn_folded_conv"] if conv_folded else 0)
                       + (counts["params_bn_folded_linear"] if lin_folded else 0))
    for k in list(entry):
        if k.startswith("_"):
            del entry[k]
    entry.update(common.file_fields(data, raw_bytes))
    try:
        entry["shape_inference"] = common.shape_inference_record(stripped, note=False)
    except Exception as e:  # noqa: BLE001
        entry["shape_inference"] = {"error": f"{type(e).__name__}: {str(e)[:200]}"}
    entry["checks"] = checks
    print(f"  {fname}: {len(data):,} bytes (raw {raw_bytes:,}), {entry['nodes']} nodes, params {entry['params']:,}, "
          f"checks {checks}", flush=True)
    return with_import_kwargs(entry, sp)


def with_import_kwargs(entry: dict, sp) -> dict:
    if sp.get("import_kwargs"):
        entry["import_kwargs"] = sp["import_kwargs"]
    return entry


def bn_modules(sp) -> tuple[int, int, int]:
    """(BN modules that ran, those right after a bias-free conv, those right after a bias-free linear)."""
    fed, res = {}, [0, 0, 0]

    def src(mod, inp, out):
        if getattr(mod, "bias", None) is None:
            fed[_key(out)] = (mod, out)

    def bn(mod, inp, out):
        res[0] += 1
        s = fed.pop(_key(inp[0]), (None,))[0]
        if s is not None:
            res[2 if isinstance(s, (nn.Linear, Conv1D)) else 1] += 1
    common.forward_hooked(sp["module"], sp["inputs"], LINEAR_CONV, lambda name: src, bn,
                          nn.modules.batchnorm._BatchNorm)
    return tuple(res)


def main(argv=None) -> int:
    args, versions, manifest_path, old = common.start(__doc__, HERE, list(MODELS), f"manifest.{GROUP}.json",
                                                      ("torch", "transformers", "onnx"), argv)
    models, fixtures = old.get("models", {}), old.get("fixtures", {})
    for name in args.only or list(MODELS):
        print(f"{name}:", flush=True)
        torch.manual_seed(SEED)
        try:
            sp = MODELS[name]()
        except Exception as e:  # noqa: BLE001
            err = common.first_line(e, None)
            print(f"  BUILD FAILED {err}", flush=True)
            models[name] = {"build_error": err, "traceback_tail": traceback.format_exc().strip().splitlines()[-8:]}
            continue
        sp["module"].eval()
        counts = count_module(sp)
        total_bn, conv_bn, lin_bn = bn_modules(sp)
        models[name] = {"description": sp["description"], "config": sp["config"],
                        "inputs": {n: {"shape": list(t.shape), "dtype": str(t.dtype).replace("torch.", "")}
                                   for n, t in zip(sp["input_names"], sp["inputs"])},
                        "outputs": sp["output_names"], **counts}
        print(f"  macs {counts['macs']:,}, params_linear_conv {counts['params_linear_conv']:,}, "
              f"bn-folded conv +{counts['params_bn_folded_conv']} linear +{counts['params_bn_folded_linear']}, "
              f"direct {counts['params_direct_matmul']}", flush=True)
        c2 = dict(counts, _bn_total_modules=total_bn, _bn_after_conv_modules=conv_bn, _bn_after_linear_modules=lin_bn)
        common.build_both(build_one, name, sp, c2, args.out, fixtures)
    manifest = {
        "generator": f"tests/data/onnx_zoo/build_{GROUP}.py",
        "versions": versions,
        "seed": SEED,
        "stripping": common.stripping(),
        "counting": COUNTING,
        "models": models,
        "fixtures": dict(sorted(fixtures.items())),
    }
    common.write_and_report(manifest_path, manifest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
