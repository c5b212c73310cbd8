#!/usr/bin/env python
"""Build the weight-stripped ONNX fixtures in this folder (see README.md here).

Not run by the test suite: it needs PyTorch, which the tests do not. Run it in its own venv:

    python3.11 -m venv ~/.venv-export
    ~/.venv-export/bin/pip install torch==2.13.0          # the CPU build (see README.md)
    ~/.venv-export/bin/pip install -c <(echo torch==2.13.0) numpy transformers onnx onnxscript onnxruntime
    ~/.venv-export/bin/python tests/data/onnx_exports/build.py

For every model below it builds the PyTorch module with seeded random weights (transformers models
from a config, nothing downloaded; the CNNs written here after torchvision's definitions), counts
MACs and linear/conv parameters *from the PyTorch module* (forward hooks plus the attention matmuls
from the config; never from the ONNX graph), exports it with the TorchScript exporter (opset 17) and
the dynamo exporter (opset 18), checks the raw export against PyTorch with onnxruntime, strips the
weights the way the onnx wheel's "light" models are made, checks the stripped file, and writes
``<model>.ts17.onnx``, ``<model>.dynamo18.onnx`` and ``manifest.json``. An export that fails is
recorded in the manifest (``export_error``) and the script goes on.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import platform
import sys
import tempfile
import traceback
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
import transformers
from onnx.tools.replace_constants import replace_initializer_by_constant_of_shape
from transformers.pytorch_utils import Conv1D

HERE = Path(__file__).resolve().parent
SEED = 0
THRESHOLD = 16  # initializers/Constant tensors with more elements than this become shape-only
TS_OPSET, DYNAMO_OPSET = 17, 18
VOCAB, SEQ = 128, 16


# ------------------------------------------------------------------------------------------------
# CNNs written after torchvision's definitions (torchvision's PyPI wheel does not import beside the
# CPU build of torch 2.13.0 on these machines: "operator torchvision::nms does not exist").
# ------------------------------------------------------------------------------------------------
def _make_divisible(v: float, divisor: int = 8, min_value: int | None = None) -> int:
    min_value = min_value or divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def conv_bn_act(cin, cout, k, stride=1, groups=1, act=None):
    layers = [nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    if act is not None:
        layers.append(act())
    return nn.Sequential(*layers)


class SqueezeExcitation(nn.Module):
    """torchvision.ops.SqueezeExcitation: avgpool, 1x1 conv, act, 1x1 conv, gate, scale."""

    def __init__(self, channels, squeeze, act=nn.ReLU, gate=nn.Sigmoid):
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeeze, 1)
        self.fc2 = nn.Conv2d(squeeze, channels, 1)
        self.act, self.gate = act(), gate()

    def forward(self, x):
        return x * self.gate(self.fc2(self.act(self.fc1(self.avgpool(x)))))


class MBV3Block(nn.Module):
    def __init__(self, cin, k, exp, cout, se, act, stride):
        super().__init__()
        act = nn.Hardswish if act == "HS" else nn.ReLU
        layers = []
        if exp != cin:
            layers.append(conv_bn_act(cin, exp, 1, act=act))
        layers.append(conv_bn_act(exp, exp, k, stride, groups=exp, act=act))
        if se:
            layers.append(SqueezeExcitation(exp, _make_divisible(exp // 4, 8), nn.ReLU, nn.Hardsigmoid))
        layers.append(conv_bn_act(exp, cout, 1))
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        y = self.block(x)
        return x + y if self.residual else y


class MobileNetV3Small(nn.Module):
    """torchvision.models.mobilenet_v3_small(width_mult=...) in eval mode."""

    CONFIG = [  # in, kernel, expanded, out, SE, activation, stride
        (16, 3, 16, 16, True, "RE", 2), (16, 3, 72, 24, False, "RE", 2), (24, 3, 88, 24, False, "RE", 1),
        (24, 5, 96, 40, True, "HS", 2), (40, 5, 240, 40, True, "HS", 1), (40, 5, 240, 40, True, "HS", 1),
        (40, 5, 120, 48, True, "HS", 1), (48, 5, 144, 48, True, "HS", 1), (48, 5, 288, 96, True, "HS", 2),
        (96, 5, 576, 96, True, "HS", 1), (96, 5, 576, 96, True, "HS", 1),
    ]

    def __init__(self, width_mult=0.5, num_classes=10):
        super().__init__()
        c = lambda v: _make_divisible(v * width_mult, 8)  # noqa: E731
        layers = [conv_bn_act(3, c(16), 3, 2, act=nn.Hardswish)]
        for cin, k, exp, cout, se, act, s in self.CONFIG:
            layers.append(MBV3Block(c(cin), k, c(exp), c(cout), se, act, s))
        last_in = c(96)
        layers.append(conv_bn_act(last_in, 6 * last_in, 1, act=nn.Hardswish))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        last = c(1024)
        self.classifier = nn.Sequential(nn.Linear(6 * last_in, last), nn.Hardswish(), nn.Dropout(0.2),
                                        nn.Linear(last, num_classes))

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


class MBConv(nn.Module):
    """torchvision's EfficientNet MBConv (stochastic depth is the identity in eval mode)."""

    def __init__(self, expand, k, stride, cin, cout):
        super().__init__()
        exp = _make_divisible(cin * expand, 8)
        layers = []
        if exp != cin:
            layers.append(conv_bn_act(cin, exp, 1, act=nn.SiLU))
        layers.append(conv_bn_act(exp, exp, k, stride, groups=exp, act=nn.SiLU))
        layers.append(SqueezeExcitation(exp, max(1, cin // 4), nn.SiLU, nn.Sigmoid))
        layers.append(conv_bn_act(exp, cout, 1))
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        y = self.block(x)
        return x + y if self.residual else y


class EfficientNetB0(nn.Module):
    """torchvision.models.efficientnet_b0 (width 1.0, depth 1.0) in eval mode."""

    CONFIG = [  # expand, kernel, stride, in, out, repeats
        (1, 3, 1, 32, 16, 1), (6, 3, 2, 16, 24, 2), (6, 5, 2, 24, 40, 2), (6, 3, 2, 40, 80, 3),
        (6, 5, 1, 80, 112, 3), (6, 5, 2, 112, 192, 4), (6, 3, 1, 192, 320, 1),
    ]

    def __init__(self, num_classes=10):
        super().__init__()
        layers = [conv_bn_act(3, 32, 3, 2, act=nn.SiLU)]
        for expand, k, s, cin, cout, n in self.CONFIG:
            stage = []
            for i in range(n):
                stage.append(MBConv(expand, k, s if i == 0 else 1, cin if i == 0 else cout, cout))
            layers.append(nn.Sequential(*stage))
        layers.append(conv_bn_act(320, 1280, 1, act=nn.SiLU))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, num_classes))

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


class LayerNorm2d(nn.LayerNorm):
    def forward(self, x):
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class CNBlock(nn.Module):
    """torchvision's ConvNeXt block: 7x7 depthwise conv, LayerNorm, Linear 4x, GELU, Linear, layer scale."""

    def __init__(self, dim):
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1, self.act, self.pwconv2 = nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim)
        self.layer_scale = nn.Parameter(torch.full((dim, 1, 1), 1e-6))

    def forward(self, x):
        y = self.dwconv(x).permute(0, 2, 3, 1)
        y = self.pwconv2(self.act(self.pwconv1(self.norm(y)))).permute(0, 3, 1, 2)
        return x + self.layer_scale * y


class ConvNeXt(nn.Module):
    """torchvision.models.ConvNeXt's structure with a tiny depth/width (ConvNeXt-T is 3,3,9,3 / 96..768)."""

    def __init__(self, depths=(1, 1, 3, 1), dims=(32, 64, 128, 256), num_classes=10):
        super().__init__()
        layers = [nn.Sequential(nn.Conv2d(3, dims[0], 4, 4), LayerNorm2d(dims[0], eps=1e-6))]
        for i, (depth, dim) in enumerate(zip(depths, dims)):
            layers.append(nn.Sequential(*[CNBlock(dim) for _ in range(depth)]))
            if i + 1 < len(dims):
                layers.append(nn.Sequential(LayerNorm2d(dim, eps=1e-6), nn.Conv2d(dim, dims[i + 1], 2, 2)))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(LayerNorm2d(dims[-1], eps=1e-6), nn.Flatten(1), nn.Linear(dims[-1], num_classes))

    def forward(self, x):
        return self.classifier(self.avgpool(self.features(x)))


# ------------------------------------------------------------------------------------------------
# transformers models, built from configs (random weights, nothing downloaded)
# ------------------------------------------------------------------------------------------------
class HFWrap(nn.Module):
    """Call a transformers model with keyword inputs and return the named outputs as a tuple."""

    def __init__(self, model, input_names, outputs):
        super().__init__()
        self.model, self.input_names, self.outputs = model, list(input_names), outputs

    def forward(self, *args):
        out = self.model(**dict(zip(self.input_names, args)))
        return tuple(getattr(out, k) for k in self.outputs)


def attention(layers, batch, heads, seq, head_dim, kv_heads=None):
    return {"layers": layers, "batch": batch, "heads": heads, "kv_heads": kv_heads or heads, "seq": seq,
            "head_dim": head_dim}


def build_bert():
    from transformers import BertConfig, BertModel
    cfg = BertConfig(vocab_size=VOCAB, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                     intermediate_size=256, max_position_embeddings=32, type_vocab_size=2, use_cache=False)
    model = perturb(BertModel(cfg))
    batch = 2
    x = torch.randint(0, VOCAB, (batch, SEQ), generator=torch.Generator().manual_seed(SEED))
    return dict(module=HFWrap(model, ["input_ids"], ["last_hidden_state", "pooler_output"]), hf=model, inputs=(x,),
                input_names=["input_ids"], output_names=["last_hidden_state", "pooler_output"],
                attention=attention(2, batch, 4, SEQ, 16), lm_head=None, config=cfg.to_diff_dict(),
                description="BertModel (encoder with pooler), 2 layers, hidden 64, 4 heads, FFN 256, "
                            f"vocab {VOCAB}, batch {batch}, seq {SEQ}; input_ids only (no attention_mask)")


# With no attention_mask, transformers' mask code (masking_utils.find_packed_sequence_indices) calls torch.diff,
# which the TorchScript exporter cannot export; deployed LM exports take the mask as an input anyway.
LM_INPUTS = ["input_ids", "attention_mask"]


def build_llama():
    from transformers import LlamaConfig, LlamaForCausalLM
    cfg = LlamaConfig(vocab_size=VOCAB, hidden_size=64, intermediate_size=172, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=32,
                      tie_word_embeddings=False, use_cache=False)
    model = perturb(LlamaForCausalLM(cfg))
    x = torch.randint(0, VOCAB, (1, SEQ), generator=torch.Generator().manual_seed(SEED))
    mask = torch.ones(1, SEQ, dtype=torch.int64)
    return dict(module=HFWrap(model, LM_INPUTS, ["logits"]), hf=model, inputs=(x, mask), input_names=LM_INPUTS,
                output_names=["logits"], attention=attention(2, 1, 4, SEQ, 16, kv_heads=2), lm_head="lm_head",
                config=cfg.to_diff_dict(),
                description="LlamaForCausalLM: 2 layers, hidden 64, 4 query heads / 2 KV heads (GQA), "
                            f"SwiGLU FFN 172, RMSNorm, rotary, untied LM head, vocab {VOCAB}, batch 1, seq {SEQ}; inputs input_ids and attention_mask (all ones)")


def build_gpt2():
    from transformers import GPT2Config, GPT2LMHeadModel
    cfg = GPT2Config(vocab_size=VOCAB, n_positions=32, n_embd=64, n_layer=2, n_head=4, n_inner=256,
                     bos_token_id=VOCAB - 1, eos_token_id=VOCAB - 1, tie_word_embeddings=True, use_cache=False)
    model = perturb(GPT2LMHeadModel(cfg))
    assert model.lm_head.weight is model.transformer.wte.weight, "GPT-2 LM head should be tied"
    x = torch.randint(0, VOCAB, (1, SEQ), generator=torch.Generator().manual_seed(SEED))
    mask = torch.ones(1, SEQ, dtype=torch.int64)
    return dict(module=HFWrap(model, LM_INPUTS, ["logits"]), hf=model, inputs=(x, mask), input_names=LM_INPUTS,
                output_names=["logits"], attention=attention(2, 1, 4, SEQ, 16), lm_head="lm_head",
                config=cfg.to_diff_dict(),
                description="GPT2LMHeadModel: 2 layers, hidden 64, 4 heads, FFN 256 (Conv1D layers), LM head tied "
                            f"to the token embedding, vocab {VOCAB}, batch 1, seq {SEQ}; inputs input_ids and attention_mask (all ones)")


def build_vit():
    from transformers import ViTConfig, ViTModel
    cfg = ViTConfig(image_size=32, patch_size=8, num_channels=3, hidden_size=64, num_hidden_layers=2,
                    num_attention_heads=4, intermediate_size=256)
    model = perturb(ViTModel(cfg))
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(SEED))
    seq = (32 // 8) ** 2 + 1
    return dict(module=HFWrap(model, ["pixel_values"], ["last_hidden_state", "pooler_output"]), hf=model, inputs=(x,),
                input_names=["pixel_values"], output_names=["last_hidden_state", "pooler_output"],
                attention=attention(2, 1, 4, seq, 16), lm_head=None, config=cfg.to_diff_dict(),
                description="ViTModel: image 32x32, patch 8 (16 patches + CLS = 17 tokens), hidden 64, 2 layers, "
                            "4 heads, FFN 256, with pooler, batch 1")


def perturb(model: nn.Module) -> nn.Module:
    """Make every parameter look trained: freshly initialised models have all-zero biases, all-one norm scales and
    identity BatchNorm statistics, and the dynamo exporter's optimiser then drops zero biases and merges equal
    tensors into one initializer (seen: every 64-element bias of BERT became one shared tensor), which a trained
    network's export would not do. Each parameter gets seeded noise; BatchNorm gets non-trivial statistics.
    Tied parameters stay tied (named_parameters yields a shared tensor once)."""
    g = torch.Generator().manual_seed(SEED)
    with torch.no_grad():
        for _, p in model.named_parameters():
            p.add_(0.02 * torch.randn(p.shape, generator=g))
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(0.1 * torch.randn(m.num_features, generator=g))
                m.running_var.copy_(0.5 + torch.rand(m.num_features, generator=g))
    return model


def build_cnn(cls, description, **kw):
    def build():
        model = perturb(cls(**kw))
        x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(SEED))
        return dict(module=model, hf=None, inputs=(x,), input_names=["input"], output_names=["logits"],
                    attention=None, lm_head=None, config={"class": cls.__name__, **kw}, description=description)
    return build


MODELS = {
    "bert": build_bert,
    "llama": build_llama,
    "gpt2": build_gpt2,
    "vit": build_vit,
    "mobilenetv3": build_cnn(MobileNetV3Small, "MobileNetV3-Small (torchvision's structure, width 0.5): hardswish, "
                             "squeeze-excitation with hardsigmoid gate; 10 classes, input 1x3x64x64",
                             width_mult=0.5, num_classes=10),
    "efficientnet": build_cnn(EfficientNetB0, "EfficientNet-B0 (torchvision's structure): MBConv with SiLU and "
                              "squeeze-excitation (sigmoid gate); 10 classes, input 1x3x64x64", num_classes=10),
    "convnext": build_cnn(ConvNeXt, "ConvNeXt (torchvision's structure, depths 1,1,3,1, dims 32..256): 7x7 "
                          "depthwise conv, channels-last LayerNorm and Linear, GELU, layer scale; 10 classes, "
                          "input 1x3x64x64", depths=[1, 1, 3, 1], dims=[32, 64, 128, 256], num_classes=10),
}


# ------------------------------------------------------------------------------------------------
# Independent counts, from the PyTorch module
# ------------------------------------------------------------------------------------------------
COUNTING = {
    "macs": "forward hooks on every nn.Linear (output elements x in_features), transformers Conv1D (output "
            "elements x weight rows) and nn.Conv2d (output elements x in_channels/groups x kh x kw), one count per "
            "call; plus, per attention layer, the score matmul Q.K^T and the context matmul P.V, each "
            "batch x query_heads x seq x seq x head_dim (from the config; GQA shares K/V heads but every query head "
            "does its own matmuls; causal masking does not reduce the count). The LM head is an nn.Linear "
            "(tied or not) and is counted once, as batch x seq x hidden x vocab. Not counted: embeddings "
            "(gathers), norms, activations, softmax, elementwise ops, pooling, and the rotary-embedding "
            "frequency outer product (llama; a matmul of constants, see flop_counter).",
    "params_linear_conv": "sum of weight and bias elements of every nn.Linear / Conv1D / nn.Conv2d that ran in "
                          "the forward pass, each parameter tensor counted once by identity (the tied GPT-2 LM "
                          "head's weight is the token embedding's; it is counted once, as the LM head's weight). "
                          "Embedding tables, norm scales, layer scales and BatchNorm statistics are not counted.",
    "params_linear_conv_bn_folded": "params_linear_conv plus out_channels for every bias-free nn.Conv2d whose "
                                    "output goes straight into an nn.BatchNorm2d: the bias such a conv carries "
                                    "once the exporter folds the BatchNorm into it",
    "flop_counter": "cross-check: torch.utils.flop_counter.FlopCounterMode's total FLOPs / 2 over the same "
                    "forward pass (aten mm/addmm/bmm/convolution/...; scaled_dot_product_attention forced to its "
                    "math backend so its matmuls are seen), with its per-op breakdown",
}


def count_module(spec) -> dict:
    model = spec["module"]
    linear_macs = conv_macs = lm_head_macs = 0
    ran: dict[str, nn.Module] = {}
    conv_outputs: dict[int, nn.Module] = {}  # id(output tensor) -> bias-free Conv2d that produced it
    folded = 0
    lm_head = spec["hf"].get_submodule(spec["lm_head"]) if spec["lm_head"] else None
    per_layer = []

    def hook(name):
        def fn(mod, inp, out):
            nonlocal linear_macs, conv_macs, lm_head_macs
            if isinstance(mod, nn.Conv2d):
                kh, kw = mod.kernel_size
                macs = out.numel() * (mod.in_channels // mod.groups) * kh * kw
                conv_macs += macs
                if mod.bias is None:
                    conv_outputs[id(out)] = mod
            else:
                k = mod.in_features if isinstance(mod, nn.Linear) else mod.weight.shape[0]  # Conv1D: (in, out)
                macs = out.numel() * k
                if mod is lm_head:
                    lm_head_macs += macs
                else:
                    linear_macs += macs
            ran[name] = mod
            per_layer.append((name, type(mod).__name__, macs))
        return fn

    def bn_hook(mod, inp, out):
        nonlocal folded
        conv = conv_outputs.pop(id(inp[0]), None)
        if conv is not None:
            folded += conv.out_channels

    handles = []
    for name, mod in model.named_modules():
        if isinstance(mod, (nn.Linear, nn.Conv2d, Conv1D)):
            handles.append(mod.register_forward_hook(hook(name)))
        elif isinstance(mod, nn.BatchNorm2d):
            handles.append(mod.register_forward_hook(bn_hook))
    with torch.no_grad():
        model(*spec["inputs"])
    for h in handles:
        h.remove()

    seen, params = set(), 0
    for mod in ran.values():
        for p in (mod.weight, getattr(mod, "bias", None)):
            if p is not None and id(p) not in seen:
                seen.add(id(p))
                params += p.numel()

    att = spec["attention"]
    att_each = att["layers"] * att["batch"] * att["heads"] * att["seq"] * att["seq"] * att["head_dim"] if att else 0
    macs = linear_macs + conv_macs + lm_head_macs + 2 * att_each

    from torch.utils.flop_counter import FlopCounterMode
    from torch.nn.attention import SDPBackend, sdpa_kernel
    # The math backend decomposes SDPA into bmm ops the counter sees (it has no rule for the CPU flash kernel).
    with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as fc:
        model(*spec["inputs"])
    by_op = {str(op): int(n) // 2 for op, n in sorted(fc.get_flop_counts().get("Global", {}).items(), key=str)}
    fc_total = fc.get_total_flops() // 2
    return {
        "macs": int(macs),
        "macs_breakdown": {"linear": int(linear_macs), "conv": int(conv_macs), "lm_head": int(lm_head_macs),
                           "attention_score": int(att_each), "attention_context": int(att_each)},
        "params_linear_conv": int(params),
        "params_linear_conv_bn_folded": int(params + folded),
        "layers_counted": len(per_layer),
        "flop_counter": {"macs": int(fc_total), "by_op": by_op,
                         "difference_from_macs": int(fc_total - macs)},
    }


# ------------------------------------------------------------------------------------------------
# Export, check, strip
# ------------------------------------------------------------------------------------------------
def export(spec, exporter: str, path: Path) -> None:
    common = dict(input_names=spec["input_names"], output_names=spec["output_names"])
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        if exporter == "torchscript":
            torch.onnx.export(spec["module"], spec["inputs"], str(path), dynamo=False, opset_version=TS_OPSET,
                              do_constant_folding=True, **common)
        else:
            prog = torch.onnx.export(spec["module"], spec["inputs"], dynamo=True, opset_version=DYNAMO_OPSET,
                                     external_data=False, **common)
            prog.save(str(path), external_data=False)


def run_ort(model_bytes: bytes, spec) -> list[np.ndarray] | None:
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    so = ort.SessionOptions()
    so.log_severity_level = 3
    sess = ort.InferenceSession(model_bytes, so, providers=["CPUExecutionProvider"])
    given = dict(zip(spec["input_names"], spec["inputs"]))
    feeds = {i.name: given[i.name].numpy() for i in sess.get_inputs()}
    return sess.run(None, feeds)


def clean_metadata(model: onnx.ModelProto) -> None:
    """Drop what makes files large or machine-specific (stack traces with local paths, doc strings)."""
    def graph(g):
        g.doc_string = ""
        for v in [*g.input, *g.output, *g.value_info]:
            v.doc_string = ""
            del v.metadata_props[:]
        for t in g.initializer:
            del t.metadata_props[:]
        for n in g.node:
            n.doc_string = ""
            del n.metadata_props[:]
            for a in n.attribute:
                if a.type == onnx.AttributeProto.TENSOR and not a.t.name and n.op_type == "Constant":
                    a.t.name = n.output[0]  # replace_constants names the shape tensor after it
                if a.type == onnx.AttributeProto.GRAPH:
                    graph(a.g)
                for sub in a.graphs:
                    graph(sub)
    graph(model.graph)
    del model.metadata_props[:]
    model.doc_string = ""
    for f in model.functions:
        for n in f.node:
            n.doc_string = ""
            del n.metadata_props[:]


def strip(model: onnx.ModelProto) -> onnx.ModelProto:
    """The onnx wheel's own tool for its light models: every initializer (and Constant tensor) with more than
    THRESHOLD elements becomes an int64 `<name>__SHAPE` initializer holding its dims and a `ConstantOfShape`
    node producing the original name. value_constant_of_shape=1 keeps the exporter's own ConstantOfShape
    nodes as they are (any other value makes the tool rewrite their fill values too); weights are filled 0.5."""
    clean_metadata(model)
    stripped = replace_initializer_by_constant_of_shape(model, threshold=THRESHOLD, value_constant_of_shape=1)
    # The tool rebuilds the graph without the exporter's value_info (the static shapes of every intermediate
    # tensor); put them back, so the file says what the exporter said.
    stripped.graph.value_info.extend(model.graph.value_info)
    return stripped


def graph_facts(model: onnx.ModelProto) -> dict:
    def vi(v):
        t = v.type.tensor_type
        return {"name": v.name, "dtype": onnx.helper.tensor_dtype_to_np_dtype(t.elem_type).name,
                "shape": [d.dim_value if d.HasField("dim_value") else d.dim_param for d in t.shape.dim]}
    ops: dict[str, int] = {}
    for n in model.graph.node:
        ops[n.op_type] = ops.get(n.op_type, 0) + 1
    return {"opset": next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")),
            "ir_version": model.ir_version,
            "inputs": [vi(v) for v in model.graph.input], "outputs": [vi(v) for v in model.graph.output],
            "nodes": len(model.graph.node), "op_types": dict(sorted(ops.items())),
            "functions": len(model.functions)}


def unknown_dims(model: onnx.ModelProto, data_prop: bool) -> list[str]:
    """Node outputs whose shape ONNX shape inference (strict) leaves unknown or partly symbolic."""
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True, data_prop=data_prop)
    known = {v.name: v.type.tensor_type for v in [*inferred.graph.value_info, *inferred.graph.output]}
    return [out for n in inferred.graph.node for out in n.output
            if out and (out not in known or not known[out].HasField("shape")
                        or any(not d.HasField("dim_value") for d in known[out].shape.dim))]


def build_one(name: str, spec, counts, exporter: str, out_dir: Path) -> dict:
    tag = "ts17" if exporter == "torchscript" else "dynamo18"
    fname = f"{name}.{tag}.onnx"
    entry = {"file": fname, "model": name, "exporter": exporter,
             "export_call": (f"torch.onnx.export(..., dynamo=False, opset_version={TS_OPSET}, do_constant_folding=True)"
                             if exporter == "torchscript" else
                             f"torch.onnx.export(..., dynamo=True, opset_version={DYNAMO_OPSET}, optimize=True)"),
             "description": spec["description"], "export_error": None}
    target = out_dir / fname
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / fname
        try:
            export(spec, exporter, raw)
            model = onnx.load(str(raw))
        except Exception as e:  # noqa: BLE001 - recorded, the script goes on
            entry["export_error"] = f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"
            entry["export_traceback_tail"] = traceback.format_exc().strip().splitlines()[-6:]
            target.unlink(missing_ok=True)
            print(f"  {fname}: EXPORT FAILED {entry['export_error']}", flush=True)
            return entry
    raw_bytes = len(model.SerializeToString())
    with torch.no_grad():
        out = spec["module"](*spec["inputs"])
        expected = [t.numpy() for t in (out if isinstance(out, tuple) else (out,))]
    raw_out = run_ort(model.SerializeToString(), spec)
    stripped = strip(model)
    onnx.checker.check_model(stripped)
    onnx.shape_inference.infer_shapes(stripped, strict_mode=True)
    data = stripped.SerializeToString()
    stripped_out = run_ort(data, spec)
    target.write_bytes(data)
    entry.update(graph_facts(stripped))
    entry.update({k: v for k, v in counts.items()})
    entry["bn_folded_into_conv"] = (counts["params_linear_conv_bn_folded"] != counts["params_linear_conv"]
                                    and "BatchNormalization" not in entry["op_types"])
    entry["params_linear_conv_in_file"] = (counts["params_linear_conv_bn_folded"] if entry["bn_folded_into_conv"]
                                           else counts["params_linear_conv"])
    entry["bytes"] = len(data)
    entry["bytes_before_stripping"] = raw_bytes
    entry["sha256"] = hashlib.sha256(data).hexdigest()
    plain, prop = unknown_dims(stripped, False), unknown_dims(stripped, True)
    entry["shape_inference"] = {
        "note": "node outputs left with an unknown or symbolic dim by onnx.shape_inference.infer_shapes("
                "strict_mode=True), with and without data_prop (which folds Shape/Slice/Concat arithmetic)",
        "unknown": len(plain), "unknown_with_data_prop": len(prop), "examples_with_data_prop": prop[:4]}
    entry["checks"] = {
        "onnx.checker.check_model": "ok",
        "onnx.shape_inference.infer_shapes(strict_mode=True)": "ok",
        "onnxruntime_raw_max_abs_diff_vs_torch": (None if raw_out is None else
                                                  float(max(np.abs(a - b).max() for a, b in zip(raw_out, expected)))),
        "onnxruntime_stripped_output_shapes_match": (None if stripped_out is None else
                                                     [list(a.shape) for a in stripped_out]
                                                     == [list(b.shape) for b in expected]),
    }
    print(f"  {fname}: {len(data):,} bytes (raw {raw_bytes:,}), {entry['nodes']} nodes, "
          f"ort diff {entry['checks']['onnxruntime_raw_max_abs_diff_vs_torch']}", flush=True)
    return entry


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=HERE, help="output folder (default: this script's folder)")
    ap.add_argument("--only", nargs="*", choices=sorted(MODELS), help="build only these models")
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    versions = {"python": platform.python_version(), "torch": torch.__version__,
                "transformers": transformers.__version__, "onnx": onnx.__version__}
    for mod in ("onnxscript", "onnxruntime"):
        try:
            versions[mod] = __import__(mod).__version__
        except ImportError:
            versions[mod] = None
    manifest_path = args.out / "manifest.json"
    old = json.loads(manifest_path.read_text()) if manifest_path.exists() and args.only else {}
    models, fixtures = old.get("models", {}), old.get("fixtures", {})
    for name in args.only or list(MODELS):
        print(f"{name}:", flush=True)
        torch.manual_seed(SEED)
        spec = MODELS[name]()
        spec["module"].eval()
        counts = count_module(spec)
        models[name] = {"description": spec["description"], "config": spec["config"],
                        "attention": spec["attention"], "lm_head": spec["lm_head"],
                        "tied_lm_head": name == "gpt2", **counts}
        print(f"  macs {counts['macs']:,}, params_linear_conv {counts['params_linear_conv']:,}, "
              f"flop counter {counts['flop_counter']['macs']:,}", flush=True)
        for exporter in ("torchscript", "dynamo"):
            torch.manual_seed(SEED)
            entry = build_one(name, spec, counts, exporter, args.out)
            fixtures[entry["file"]] = entry
    manifest = {
        "generator": "tests/data/onnx_exports/build.py",
        "versions": versions,
        "seed": SEED,
        "stripping": {"tool": "onnx.tools.replace_constants.replace_initializer_by_constant_of_shape",
                      "threshold_elements": THRESHOLD, "value_constant_of_shape": 1, "weight_fill": 0.5,
                      "also_removed": "node/value doc strings and metadata_props (exporter stack traces)"},
        "counting": COUNTING,
        "models": dict(sorted(models.items())),
        "fixtures": dict(sorted(fixtures.items())),
    }
    manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=False) + "\n")
    failed = [f for f, e in manifest["fixtures"].items() if e["export_error"]]
    total = sum(p.stat().st_size for p in args.out.iterdir() if p.is_file())
    print(f"{len(manifest['fixtures']) - len(failed)} fixtures written, {len(failed)} export failures "
          f"{failed}; folder {total:,} bytes", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
