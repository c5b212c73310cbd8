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

import sys
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from transformers.pytorch_utils import Conv1D

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # tests/data: the helpers the fixture builders share
import onnx_export_common as common  # noqa: E402
from onnx_export_common import SEED, perturb  # noqa: E402

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
    return dict(module=common.hf_wrap(model, ["input_ids"], ["last_hidden_state", "pooler_output"]), hf=model, inputs=(x,),
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
    return dict(module=common.hf_wrap(model, LM_INPUTS, ["logits"]), hf=model, inputs=(x, mask), input_names=LM_INPUTS,
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
    return dict(module=common.hf_wrap(model, LM_INPUTS, ["logits"]), hf=model, inputs=(x, mask), input_names=LM_INPUTS,
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
    return dict(module=common.hf_wrap(model, ["pixel_values"], ["last_hidden_state", "pooler_output"]), hf=model, inputs=(x,),
                input_names=["pixel_values"], output_names=["last_hidden_state", "pooler_output"],
                attention=attention(2, 1, 4, seq, 16), lm_head=None, config=cfg.to_diff_dict(),
                description="ViTModel: image 32x32, patch 8 (16 patches + CLS = 17 tokens), hidden 64, 2 layers, "
                            "4 heads, FFN 256, with pooler, batch 1")


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
    fold = common.ConvBNFold()
    lm_head = spec["hf"].get_submodule(spec["lm_head"]) if spec["lm_head"] else None
    per_layer = []

    def hook(name):
        def fn(mod, inp, out):
            nonlocal linear_macs, conv_macs, lm_head_macs
            if isinstance(mod, nn.Conv2d):
                kh, kw = mod.kernel_size
                macs = out.numel() * (mod.in_channels // mod.groups) * kh * kw
                conv_macs += macs
                fold.conv(mod, out)
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

    common.forward_hooked(model, spec["inputs"], (nn.Linear, nn.Conv2d, Conv1D), hook, fold.bn_hook, nn.BatchNorm2d)
    params = common.unique_param_elements(ran.values())

    att = spec["attention"]
    att_each = att["layers"] * att["batch"] * att["heads"] * att["seq"] * att["seq"] * att["head_dim"] if att else 0
    macs = linear_macs + conv_macs + lm_head_macs + 2 * att_each

    fc_total, by_op = common.flop_counts(model, spec["inputs"])
    return {
        "macs": int(macs),
        "macs_breakdown": {"linear": int(linear_macs), "conv": int(conv_macs), "lm_head": int(lm_head_macs),
                           "attention_score": int(att_each), "attention_context": int(att_each)},
        "params_linear_conv": int(params),
        "params_linear_conv_bn_folded": int(params + fold.folded),
        "layers_counted": len(per_layer),
        "flop_counter": {"macs": int(fc_total), "by_op": by_op,
                         "difference_from_macs": int(fc_total - macs)},
    }


# ------------------------------------------------------------------------------------------------
# Export, check, strip (tests/data/onnx_export_common.py)
# ------------------------------------------------------------------------------------------------
def build_one(name: str, spec, counts, exporter: str, out_dir: Path) -> dict:
    entry = common.new_entry(name, exporter, spec["description"])
    fname, target = entry["file"], out_dir / entry["file"]
    model = common.export_model(spec, exporter, entry, out_dir)
    if model is None:
        return entry
    stripped, data, raw_bytes, checks = common.strip_and_check(spec, model, target)
    entry.update(common.graph_facts(stripped))
    entry.update({k: v for k, v in counts.items()})
    entry["bn_folded_into_conv"] = (counts["params_linear_conv_bn_folded"] != counts["params_linear_conv"]
                                    and "BatchNormalization" not in entry["op_types"])
    entry["params_linear_conv_in_file"] = (counts["params_linear_conv_bn_folded"] if entry["bn_folded_into_conv"]
                                           else counts["params_linear_conv"])
    entry.update(common.file_fields(data, raw_bytes))
    entry["shape_inference"] = common.shape_inference_record(stripped)
    entry["checks"] = checks
    print(f"  {fname}: {len(data):,} bytes (raw {raw_bytes:,}), {entry['nodes']} nodes, "
          f"ort diff {entry['checks']['onnxruntime_raw_max_abs_diff_vs_torch']}", flush=True)
    return entry


def main(argv=None) -> int:
    args, versions, manifest_path, old = common.start(__doc__, HERE, sorted(MODELS), "manifest.json",
                                                      ("torch", "transformers", "onnx"), argv)
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
        common.build_both(build_one, name, spec, counts, args.out, fixtures)
    manifest = {
        "generator": "tests/data/onnx_exports/build.py",
        "versions": versions,
        "seed": SEED,
        "stripping": common.stripping(),
        "counting": COUNTING,
        "models": dict(sorted(models.items())),
        "fixtures": dict(sorted(fixtures.items())),
    }
    common.write_manifest(manifest_path, manifest)
    total = sum(p.stat().st_size for p in args.out.iterdir() if p.is_file())
    common.report(manifest, f"; folder {total:,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
