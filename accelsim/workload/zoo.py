"""Builders for the bundled networks, and the published figures each is checked against.

The YAML files in ``workloads/`` are generated from these builders
(``python -m accelsim.workload.zoo workloads/``); a test keeps the two equal. Batch norm is folded into
the preceding convolution (inference), so it has no layer of its own; activations, pooling,
residual additions, softmax and normalisation are layers costed on the vector unit.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from .builder import GraphBuilder
from .graph import LayerGraph
from .yamlio import graph_to_yaml

TORCHVISION = ("torchvision model documentation (weights tables: num_params and GFLOPS, "
               "where GFLOPS counts multiply-accumulates; parameters there include batch norm)")


def alexnet() -> LayerGraph:
    """AlexNet as in torchvision (single tower, 64-192-384-256-256 channels)."""
    b = GraphBuilder("alexnet", {"image": (3, 224, 224)},
                     meta=dict(source=TORCHVISION, published_macs=710_000_000, published_params=61_100_840))
    x = "image"
    for out, k, s, p, pool in ((64, 11, 4, 2, True), (192, 5, 1, 2, True), (384, 3, 1, 1, False),
                               (256, 3, 1, 1, False), (256, 3, 1, 1, True)):
        x = b.eltwise([b.conv(x, out, k, s, p, bias=True)], "relu")
        if pool:
            x = b.pool(x, "max", 3, 2)
    x = b.reshape(x, (1, 256 * 6 * 6), name="flatten")
    for out in (4096, 4096):
        x = b.eltwise([b.linear(x, out)], "relu")
    b.linear(x, 1000, name="classifier")
    return b.graph


def vgg16() -> LayerGraph:
    """VGG-16 (configuration D), as in torchvision."""
    b = GraphBuilder("vgg16", {"image": (3, 224, 224)},
                     meta=dict(source=TORCHVISION, published_macs=15_470_000_000, published_params=138_357_544))
    x = "image"
    for stage, (channels, convs) in enumerate(((64, 2), (128, 2), (256, 3), (512, 3), (512, 3)), 1):
        for i in range(1, convs + 1):
            x = b.eltwise([b.conv(x, channels, 3, bias=True, name=f"conv{stage}_{i}")], "relu")
        x = b.pool(x, "max", 2, 2)
    x = b.reshape(x, (1, 512 * 7 * 7), name="flatten")
    for out in (4096, 4096):
        x = b.eltwise([b.linear(x, out)], "relu")
    b.linear(x, 1000, name="classifier")
    return b.graph


def resnet(depth: int) -> LayerGraph:
    """ResNet-18/34 (basic blocks) or ResNet-50/101/152 (bottlenecks, stride on the 3×3: v1.5)."""
    blocks = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3), 50: (3, 4, 6, 3), 101: (3, 4, 23, 3),
              152: (3, 8, 36, 3)}[depth]
    published = {18: (1_810_000_000, 11_689_512), 50: (4_090_000_000, 25_557_032)}.get(depth)
    meta = dict(source=TORCHVISION, published_macs=published[0], published_params=published[1]) if published else {}
    b = GraphBuilder(f"resnet{depth}", {"image": (3, 224, 224)}, meta=meta)
    x = b.eltwise([b.conv("image", 64, 7, 2, 3, name="conv1")], "relu")
    x = b.pool(x, "max", 3, 2, 1, name="maxpool")
    in_ch = 64
    for stage, (count, width) in enumerate(zip(blocks, (64, 128, 256, 512)), 1):
        for i in range(count):
            stride = 2 if stage > 1 and i == 0 else 1
            tag = f"layer{stage}.{i}"
            if depth < 50:
                out_ch = width
                h = b.eltwise([b.conv(x, width, 3, stride, name=f"{tag}.conv1")], "relu")
                h = b.conv(h, width, 3, name=f"{tag}.conv2")
            else:
                out_ch = width * 4
                h = b.eltwise([b.conv(x, width, 1, name=f"{tag}.conv1")], "relu")
                h = b.eltwise([b.conv(h, width, 3, stride, name=f"{tag}.conv2")], "relu")
                h = b.conv(h, out_ch, 1, name=f"{tag}.conv3")
            skip = x
            if stride != 1 or in_ch != out_ch:
                skip = b.conv(x, out_ch, 1, stride, name=f"{tag}.downsample")
            x = b.eltwise([b.eltwise([h, skip], "add", name=f"{tag}.add")], "relu")
            in_ch = out_ch
    x = b.pool(x, "global_avg", name="avgpool")
    x = b.reshape(x, (1, in_ch), name="flatten")
    b.linear(x, 1000, name="fc")
    return b.graph


def mobilenet_v2() -> LayerGraph:
    """MobileNetV2 1.0 at 224×224 (torchvision; ReLU6, inverted residuals)."""
    b = GraphBuilder("mobilenet_v2", {"image": (3, 224, 224)},
                     meta=dict(source=TORCHVISION + "; the paper (Sandler et al. 2018) gives 300M MACs, 3.4M params",
                               published_macs=300_000_000, published_params=3_504_872))
    x = b.eltwise([b.conv("image", 32, 3, 2, name="features.0")], "relu6")
    in_ch, block = 32, 0
    for t, c, n, s in ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                       (6, 160, 3, 2), (6, 320, 1, 1)):
        for i in range(n):
            block += 1
            tag, stride, hidden = f"block{block}", s if i == 0 else 1, in_ch * t
            h = x
            if t != 1:
                h = b.eltwise([b.conv(h, hidden, 1, name=f"{tag}.expand")], "relu6")
            h = b.eltwise([b.conv(h, hidden, 3, stride, groups=hidden, name=f"{tag}.dw")], "relu6")
            h = b.conv(h, c, 1, name=f"{tag}.project")
            x = b.eltwise([x, h], "add", name=f"{tag}.add") if stride == 1 and in_ch == c else h
            in_ch = c
    x = b.eltwise([b.conv(x, 1280, 1, name="features.18")], "relu6")
    x = b.reshape(b.pool(x, "global_avg", name="avgpool"), (1, 1280), name="flatten")
    b.linear(x, 1000, name="classifier")
    return b.graph


def mobilenet_v1(width: float = 0.25, resolution: int = 224) -> LayerGraph:
    """MobileNetV1 with a width multiplier (the TinyML workhorse; 0.25 at 224 by default)."""
    label = f"mobilenet_v1_{str(width).replace('.', '')}"
    meta = {}
    if (width, resolution) == (0.25, 224):
        meta = dict(source="Howard et al. 2017, MobileNets, Table 6: 0.25 MobileNet-224 has 41M "
                           "mult-adds and 0.5M parameters", published_macs=41_000_000, published_params=500_000)
    b = GraphBuilder(label, {"image": (3, resolution, resolution)}, meta=meta)

    def ch(c: int) -> int:
        return int(c * width)

    x = b.eltwise([b.conv("image", ch(32), 3, 2, name="conv1")], "relu")
    in_ch = ch(32)
    plan = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5 + [(1024, 2), (1024, 1)]
    for i, (out, stride) in enumerate(plan, 1):
        x = b.eltwise([b.conv(x, in_ch, 3, stride, groups=in_ch, name=f"dw{i}")], "relu")
        x = b.eltwise([b.conv(x, ch(out), 1, name=f"pw{i}")], "relu")
        in_ch = ch(out)
    x = b.reshape(b.pool(x, "global_avg", name="avgpool"), (1, in_ch), name="flatten")
    b.linear(x, 1000, name="fc")
    return b.graph


def bert_encoder(seq: int = 128, layers: int = 12, hidden: int = 768, heads: int = 12,
                 ffn: int = 3072) -> LayerGraph:
    """BERT encoder layers (post-norm; embeddings and pooler are lookups/negligible, not included)."""
    meta = {}
    if (seq, layers, hidden) == (128, 12, 768):
        meta = dict(source="Sun et al. 2020, MobileBERT, Table 4: BERT-base has 22.5B FLOPs (= 11.25G MACs) "
                           "at sequence length 128 and 109M parameters (85M of them in the encoder)",
                    published_macs=11_250_000_000, published_params=85_000_000)
    b = GraphBuilder(f"bert_base_s{seq}" if hidden == 768 else f"bert_s{seq}", {"tokens": (seq, hidden)},
                     meta=meta)
    x, dh = "tokens", hidden // heads
    for i in range(layers):
        t = f"l{i}"
        q, k, v = (b.reshape(b.linear(x, hidden, name=f"{t}.{n}"), (heads, seq, dh), name=f"{t}.{n}_heads")
                   for n in ("query", "key", "value"))
        s = b.eltwise([b.matmul(q, k, transpose_b=True, name=f"{t}.scores")], "softmax", name=f"{t}.softmax")
        ctx = b.reshape(b.matmul(s, v, name=f"{t}.context"), (seq, hidden), name=f"{t}.merge")
        h = b.eltwise([b.linear(ctx, hidden, name=f"{t}.attn_out"), x], "add", name=f"{t}.add1")
        h = b.eltwise([h], "layernorm", name=f"{t}.ln1")
        f = b.eltwise([b.linear(h, ffn, name=f"{t}.ffn1")], "gelu", name=f"{t}.gelu")
        f = b.eltwise([b.linear(f, hidden, name=f"{t}.ffn2"), h], "add", name=f"{t}.add2")
        x = b.eltwise([f], "layernorm", name=f"{t}.ln2")
    return b.graph


LLAMA_SOURCE = ("Touvron et al. 2023, LLaMA, Table 2 (7B: dimension 4096, 32 heads, 32 layers; FFN 11008 in "
                "the released model; 6.7B parameters in all). MACs per token of a dense block equal its "
                "weights, plus 2·context·dimension for attention")


def llama_block(mode: str = "prefill", tokens: int = 512, context: int = 512, dim: int = 4096,
                heads: int = 32, ffn: int = 11008) -> LayerGraph:
    """One LLaMA-style decoder block (pre-RMSNorm, RoPE, SwiGLU).

    ``prefill`` runs ``tokens`` tokens of a prompt; ``decode`` runs one new token against a KV
    cache that already holds ``context`` tokens (cache tensors are graph inputs).
    """
    dh = dim // heads
    n = tokens if mode == "prefill" else 1
    kv = tokens if mode == "prefill" else context + 1
    weights = 4 * dim * dim + 3 * dim * ffn
    meta = dict(source=LLAMA_SOURCE, published_params=weights,
                published_macs=n * weights + 2 * heads * n * kv * dh)
    inputs: dict[str, tuple[int, ...]] = {"x": (n, dim)}
    if mode == "decode":
        inputs |= {"k_cache": (heads, context, dh), "v_cache": (heads, context, dh)}
    b = GraphBuilder(f"llama7b_block_{mode}", inputs, meta=meta)
    h = b.eltwise(["x"], "rmsnorm", name="attn_norm")
    q = b.reshape(b.eltwise([b.linear(h, dim, bias=False, name="wq")], "rope", name="rope_q"), (heads, n, dh),
                  name="q_heads")
    k = b.reshape(b.eltwise([b.linear(h, dim, bias=False, name="wk")], "rope", name="rope_k"), (heads, n, dh),
                  name="k_heads")
    v = b.reshape(b.linear(h, dim, bias=False, name="wv"), (heads, n, dh), name="v_heads")
    if mode == "decode":
        k = b.concat(["k_cache", k], axis=1, name="k_all")
        v = b.concat(["v_cache", v], axis=1, name="v_all")
    s = b.eltwise([b.matmul(q, k, transpose_b=True, name="scores")], "softmax", name="softmax")
    ctx = b.reshape(b.matmul(s, v, name="context"), (n, dim), name="merge")
    x = b.eltwise([b.linear(ctx, dim, bias=False, name="wo"), "x"], "add", name="add1")
    h = b.eltwise([x], "rmsnorm", name="ffn_norm")
    gate = b.eltwise([b.linear(h, ffn, bias=False, name="w_gate")], "silu", name="silu")
    up = b.linear(h, ffn, bias=False, name="w_up")
    f = b.linear(b.eltwise([gate, up], "mul", name="swiglu"), dim, bias=False, name="w_down")
    b.eltwise([f, x], "add", name="add2")
    return b.graph


ZOO: dict[str, Callable[[], LayerGraph]] = {
    "alexnet": alexnet,
    "vgg16": vgg16,
    "resnet18": lambda: resnet(18),
    "resnet50": lambda: resnet(50),
    "mobilenet_v2": mobilenet_v2,
    "mobilenet_v1_025": mobilenet_v1,
    "bert_base_s128": bert_encoder,
    "llama7b_block_prefill": lambda: llama_block("prefill"),
    "llama7b_block_decode": lambda: llama_block("decode"),
}


def write_zoo(folder: str | Path) -> list[Path]:
    """Regenerate every bundled workload file in ``folder``."""
    written = []
    for name, build in ZOO.items():
        path = Path(folder) / f"{name}.yaml"
        path.write_text("# Generated by `python -m accelsim.workload.zoo`: edit the builder, not this file.\n"
                        + graph_to_yaml(build()))
        written.append(path)
    return written


if __name__ == "__main__":  # pragma: no cover - a maintenance command
    for p in write_zoo(sys.argv[1] if len(sys.argv) > 1 else "workloads"):
        print(p)
