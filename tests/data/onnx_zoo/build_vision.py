#!/usr/bin/env python
"""Build the weight-stripped ONNX fixtures of the ``vision`` group (CNNs) in this folder (README.vision.md).

Not run by the test suite: it needs PyTorch and torchvision, which the tests do not (the module imports
without them, so that pytest's ``--doctest-modules`` can collect it; it then has nothing to run). Its venv:

    python3.11 -m venv ~/.venv-vision
    ~/.venv-vision/bin/pip install torch==2.14.1 torchvision==0.29.1 onnx onnxscript onnxruntime
    ~/.venv-vision/bin/python tests/data/onnx_zoo/build_vision.py               # every model (~3 min, 2 cores)
    ~/.venv-vision/bin/python tests/data/onnx_zoo/build_vision.py --only unet   # some, merged into the manifest

(torchvision's PyPI wheel does not import beside torch 2.13.0 CPU: hence torch 2.14.1 here, not the 2.13.0 of
tests/data/onnx_exports.) For every model it builds the PyTorch module with seeded random weights (torchvision's
definitions with ``weights=None``; the UNet and the YOLO-style neck are written here), perturbs them so that no
bias is zero and no two tensors are equal, counts MACs (torch.utils.flop_counter.FlopCounterMode) and
linear/conv parameters (forward hooks) *from the PyTorch module*, exports it with the TorchScript exporter
(opset 17) and the dynamo exporter (opset 18), checks the raw export against PyTorch with onnxruntime, strips
the weights the way the onnx wheel's "light" models are made, checks the stripped file and writes
``<model>.ts17.onnx``, ``<model>.dynamo18.onnx`` and ``manifest.vision.json``. An export that fails is
recorded (``export_error``) and the script goes on.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # tests/data: the helpers the fixture builders share (import no torch)
import onnx_export_common as common  # noqa: E402
from onnx_export_common import SEED, perturb  # noqa: E402

GROUP = "vision"
NUM_CLASSES = 10


# ------------------------------------------------------------------------------------------------
# Models. Defined inside a function so that the module imports without torch (pytest collects it).
# ------------------------------------------------------------------------------------------------
def model_zoo() -> dict:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    import torchvision.models as tvm
    from torchvision.models import segmentation as tvseg

    def conv_bn(cin, cout, k, stride=1, act=nn.ReLU):
        return nn.Sequential(nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, bias=False), nn.BatchNorm2d(cout),
                             act(inplace=True))

    class UNet(nn.Module):
        """A small UNet: 3 levels of (conv-BN-ReLU) x2 with max-pool down, ConvTranspose2d up (kernel 2,
        stride 2 at two levels; kernel 4, stride 2, padding 1, output_padding 1 at the deepest, whose
        2H+1 output is cropped back to the skip's size by slicing), skip concatenation, 1x1 head."""

        def __init__(self, cin=3, base=16, num_classes=NUM_CLASSES):
            super().__init__()
            c1, c2, c3, c4 = base, 2 * base, 4 * base, 8 * base
            self.enc1 = nn.Sequential(conv_bn(cin, c1, 3), conv_bn(c1, c1, 3))
            self.enc2 = nn.Sequential(conv_bn(c1, c2, 3), conv_bn(c2, c2, 3))
            self.enc3 = nn.Sequential(conv_bn(c2, c3, 3), conv_bn(c3, c3, 3))
            self.bottom = nn.Sequential(conv_bn(c3, c4, 3), conv_bn(c4, c4, 3))
            self.pool = nn.MaxPool2d(2)
            self.up3 = nn.ConvTranspose2d(c4, c3, 4, stride=2, padding=1, output_padding=1)  # 8x8 -> 17x17
            self.dec3 = nn.Sequential(conv_bn(2 * c3, c3, 3), conv_bn(c3, c3, 3))
            self.up2 = nn.ConvTranspose2d(c3, c2, 2, stride=2)
            self.dec2 = nn.Sequential(conv_bn(2 * c2, c2, 3), conv_bn(c2, c2, 3))
            self.up1 = nn.ConvTranspose2d(c2, c1, 2, stride=2)
            self.dec1 = nn.Sequential(conv_bn(2 * c1, c1, 3), conv_bn(c1, c1, 3))
            self.head = nn.Conv2d(c1, num_classes, 1)

        def forward(self, x):
            e1 = self.enc1(x)
            e2 = self.enc2(self.pool(e1))
            e3 = self.enc3(self.pool(e2))
            b = self.bottom(self.pool(e3))
            u3 = self.up3(b)[:, :, : e3.shape[2], : e3.shape[3]]  # crop 17x17 -> 16x16
            d3 = self.dec3(torch.cat([u3, e3], 1))
            d2 = self.dec2(torch.cat([self.up2(d3), e2], 1))
            d1 = self.dec1(torch.cat([self.up1(d2), e1], 1))
            return self.head(d1)

    def cbs(cin, cout, k=1, stride=1):  # YOLOv5/v8's Conv: conv (no bias), BN, SiLU
        return conv_bn(cin, cout, k, stride, act=nn.SiLU)

    class CSP(nn.Module):
        """YOLOv5's C3 block, shortened: two 1x1 branches, a bottleneck (1x1, 3x3, residual) on one, concat, 1x1."""

        def __init__(self, cin, cout, shortcut=True):
            super().__init__()
            h = cout // 2
            self.cv1, self.cv2 = cbs(cin, h), cbs(cin, h)
            self.m = nn.Sequential(cbs(h, h, 1), cbs(h, h, 3))
            self.shortcut = shortcut
            self.cv3 = cbs(2 * h, cout)

        def forward(self, x):
            a = self.cv1(x)
            m = self.m(a)
            a = a + m if self.shortcut else m
            return self.cv3(torch.cat([a, self.cv2(x)], 1))

    class YoloNeck(nn.Module):
        """A YOLOv5-style detector, small: a stride-32 backbone (CBS stride-2 convs and CSP blocks) giving
        P3/P4/P5 (8x8, 4x4, 2x2 for a 64x64 input), an SPPF (three chained 5x5 max-pools, concat), an FPN top-down
        path (1x1 lateral, nn.Upsample(scale_factor=2, nearest) once and F.interpolate(size=skip's size, nearest)
        once, torch.cat, CSP), a PAN bottom-up path (3x3 stride-2 CBS, torch.cat, CSP) and three 1x1 detection
        heads of 3 anchors x (5 + classes) channels."""

        def __init__(self, w=16, num_classes=NUM_CLASSES):
            super().__init__()
            self.stem = cbs(3, w, 3, 2)                                             # 32x32
            self.s2 = nn.Sequential(cbs(w, 2 * w, 3, 2), CSP(2 * w, 2 * w))          # 16x16
            self.s3 = nn.Sequential(cbs(2 * w, 4 * w, 3, 2), CSP(4 * w, 4 * w))      # 8x8   P3
            self.s4 = nn.Sequential(cbs(4 * w, 8 * w, 3, 2), CSP(8 * w, 8 * w))      # 4x4   P4
            self.s5 = nn.Sequential(cbs(8 * w, 16 * w, 3, 2), CSP(16 * w, 16 * w))   # 2x2   P5
            self.sppf_cv1, self.sppf_cv2 = cbs(16 * w, 8 * w), cbs(32 * w, 16 * w)
            self.sppf_pool = nn.MaxPool2d(5, 1, 2)
            self.lat5 = cbs(16 * w, 8 * w)
            self.up = nn.Upsample(scale_factor=2, mode="nearest")
            self.fpn4 = CSP(16 * w, 8 * w, shortcut=False)
            self.lat4 = cbs(8 * w, 4 * w)
            self.fpn3 = CSP(8 * w, 4 * w, shortcut=False)                          # out P3
            self.down3 = cbs(4 * w, 4 * w, 3, 2)
            self.pan4 = CSP(8 * w, 8 * w, shortcut=False)                          # out P4
            self.down4 = cbs(8 * w, 8 * w, 3, 2)
            self.pan5 = CSP(16 * w, 16 * w, shortcut=False)                        # out P5
            no = 3 * (5 + num_classes)
            self.heads = nn.ModuleList([nn.Conv2d(c, no, 1) for c in (4 * w, 8 * w, 16 * w)])

        def forward(self, x):
            p3 = self.s3(self.s2(self.stem(x)))
            p4 = self.s4(p3)
            p5 = self.s5(p4)
            y = self.sppf_cv1(p5)
            y1 = self.sppf_pool(y)
            y2 = self.sppf_pool(y1)
            p5 = self.sppf_cv2(torch.cat([y, y1, y2, self.sppf_pool(y2)], 1))
            l5 = self.lat5(p5)
            f4 = self.fpn4(torch.cat([self.up(l5), p4], 1))                               # Upsample module
            l4 = self.lat4(f4)
            f3 = self.fpn3(torch.cat([F.interpolate(l4, size=p3.shape[-2:], mode="nearest"), p3], 1))  # Resize
            n4 = self.pan4(torch.cat([self.down3(f3), l4], 1))
            n5 = self.pan5(torch.cat([self.down4(n4), l5], 1))
            return tuple(h(f) for h, f in zip(self.heads, (f3, n4, n5)))

    class OutOnly(nn.Module):
        """torchvision's segmentation models return {"out": ...}; the export takes the tensor."""

        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, x):
            return self.m(x)["out"]

    nc = dict(num_classes=NUM_CLASSES)
    return {
        "resnext": (lambda: tvm.resnext50_32x4d(weights=None, **nc), 64, ["logits"],
                    "torchvision resnext50_32x4d (full width; bottlenecks with 32-group 3x3 convs), 10 classes",
                    {"fn": "torchvision.models.resnext50_32x4d", "weights": None, **nc}),
        "regnet": (lambda: tvm.regnet_y_400mf(weights=None, **nc), 64, ["logits"],
                   "torchvision regnet_y_400mf (full width; group convs of group width 8, squeeze-excitation "
                   "with 1x1 convs and a sigmoid gate), 10 classes",
                   {"fn": "torchvision.models.regnet_y_400mf", "weights": None, **nc}),
        "densenet": (lambda: tvm.densenet121(weights=None, **nc), 64, ["logits"],
                     "torchvision densenet121 (growth 32, blocks 6/12/24/16; pre-activation BN-ReLU-conv, feature "
                     "concatenation, average-pool transitions), 10 classes",
                     {"fn": "torchvision.models.densenet121", "weights": None, **nc}),
        "shufflenetv2": (lambda: tvm.shufflenet_v2_x0_5(weights=None, **nc), 64, ["logits"],
                         "torchvision shufflenet_v2_x0_5 (channel split by chunk, channel shuffle by "
                         "view/transpose/view, depthwise 3x3), 10 classes",
                         {"fn": "torchvision.models.shufflenet_v2_x0_5", "weights": None, **nc}),
        "squeezenet": (lambda: tvm.squeezenet1_1(weights=None, **nc), 64, ["logits"],
                       "torchvision squeezenet1_1 (fire modules: 1x1 squeeze, parallel 1x1/3x3 expand, concat; "
                       "ceil-mode max-pools; conv classifier and global average pool; no BatchNorm), 10 classes",
                       {"fn": "torchvision.models.squeezenet1_1", "weights": None, **nc}),
        "googlenet": (lambda: tvm.googlenet(weights=None, aux_logits=False, init_weights=False, **nc), 64, ["logits"],
                      "torchvision googlenet (inception modules with four branches, concat; ceil-mode max-pools; "
                      "no aux logits, transform_input False), 10 classes",
                      {"fn": "torchvision.models.googlenet", "weights": None, "aux_logits": False,
                       "init_weights": False, **nc}),
        "inceptionv3": (lambda: tvm.inception_v3(weights=None, aux_logits=False, init_weights=False, **nc), 96,
                        ["logits"],
                        "torchvision inception_v3 (factorised 1x7/7x1 and 1x3/3x1 convs, inception A-E, no aux "
                        "logits, transform_input False), 10 classes, input 96x96 (it needs at least 75x75)",
                        {"fn": "torchvision.models.inception_v3", "weights": None, "aux_logits": False,
                         "init_weights": False, **nc}),
        "mobilenetv2": (lambda: tvm.mobilenet_v2(weights=None, width_mult=0.5, **nc), 64, ["logits"],
                        "torchvision mobilenet_v2 with width_mult 0.5 (inverted residuals, ReLU6, depthwise 3x3), "
                        "10 classes",
                        {"fn": "torchvision.models.mobilenet_v2", "weights": None, "width_mult": 0.5, **nc}),
        "deeplabv3": (lambda: OutOnly(tvseg.deeplabv3_mobilenet_v3_large(weights=None, weights_backbone=None,
                                                                         aux_loss=False, **nc)), 64, ["out"],
                      "torchvision deeplabv3_mobilenet_v3_large (dilated MobileNetV3-Large backbone, output stride "
                      "16; ASPP with atrous 3x3 convs and an image-pooling branch upsampled by bilinear "
                      "F.interpolate; head; final bilinear upsampling to the input size), no aux head, 10 classes",
                      {"fn": "torchvision.models.segmentation.deeplabv3_mobilenet_v3_large", "weights": None,
                       "weights_backbone": None, "aux_loss": False, **nc}),
        "unet": (lambda: UNet(), 64, ["mask"], UNet.__doc__.split("\n\n")[0].replace("\n        ", " ")
                 + ". Base width 16 (16/32/64/128), 10 classes",
                 {"class": "UNet (build_vision.py)", "base": 16, **nc}),
        "yoloneck": (lambda: YoloNeck(), 64, ["p3", "p4", "p5"],
                     " ".join(YoloNeck.__doc__.split()) + " Width 16, 10 classes",
                     {"class": "YoloNeck (build_vision.py)", "width": 16, **nc}),
    }


def make_spec(name: str, zoo: dict) -> dict:
    import torch
    ctor, size, outputs, description, config = zoo[name]
    torch.manual_seed(SEED)
    model = perturb(ctor()).eval()
    x = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(SEED))
    return dict(module=model, inputs=(x,), input_names=["input"], output_names=outputs,
                description=f"{description}; input 1x3x{size}x{size}", config={**config, "input": [1, 3, size, size]})


# ------------------------------------------------------------------------------------------------
# Independent counts, from the PyTorch module
# ------------------------------------------------------------------------------------------------
COUNTING = {
    "macs": "torch.utils.flop_counter.FlopCounterMode's total FLOPs / 2 over the exported forward pass (eval mode, "
            "batch 1); flop_counter_by_op is its per-op breakdown. Every op these models run that does MACs "
            "(aten.convolution, aten.addmm/mm) is counted by it, so macs_uncounted_by_flop_counter is 0. Pooling, "
            "BatchNorm, activations, elementwise ops, interpolation and concatenation are not MACs.",
    "macs_by_hooks": "cross-check from forward hooks: nn.Conv2d output elements x in_channels/groups x kh x kw, "
                     "nn.Linear output elements x in_features, nn.ConvTranspose2d input elements x "
                     "out_channels/groups x kh x kw (the useful MACs); equals macs for every model",
    "macs_useful": "transposed convolutions only (unet): their useful MACs (as FlopCounterMode counts them: "
                   "every input element times out_channels/groups x kh x kw); included in macs",
    "macs_issued_zero_insertion": "transposed convolutions only (unet): the MACs of the same layers run as a "
                                  "stride-1 convolution over the zero-inserted, (kernel-1-pad)-padded input "
                                  "(output elements x in_channels/groups x kh x kw), which is how accelsim's "
                                  "importer runs them and reports their MACs; macs_as_issued = macs - "
                                  "macs_useful + macs_issued_zero_insertion",
    "params_linear_conv": "weight and bias elements of every nn.Linear / nn.Conv2d / nn.ConvTranspose2d that ran in "
                          "the forward pass (forward hooks), each tensor counted once by identity; no weight is used "
                          "through F.linear/matmul directly in these models. BatchNorm scales/statistics are not "
                          "counted.",
    "params_linear_conv_bn_folded": "params_linear_conv plus out_channels for every bias-free conv whose output goes "
                                    "straight into an nn.BatchNorm2d (foldable_batchnorms): the bias such a conv "
                                    "carries once the exporter folds the BatchNorm into it",
    "params_linear_conv_in_file": "the folded count when the file keeps exactly the BatchNorms that follow no conv "
                                  "(batchnorms - foldable_batchnorms BatchNormalization nodes: DenseNet's "
                                  "pre-activation ones), the unfolded count when it keeps them all",
}


def count_module(spec) -> dict:
    from torch import nn
    model = spec["module"]
    ran: dict[str, nn.Module] = {}
    fold = common.ConvBNFold()
    hook_macs = {"conv": 0, "linear": 0, "conv_transpose_useful": 0}
    issued = 0

    def hook(name):
        def fn(mod, inp, out):
            nonlocal issued
            if isinstance(mod, nn.ConvTranspose2d):
                kh, kw = mod.kernel_size
                useful = inp[0].numel() * (mod.out_channels // mod.groups) * kh * kw
                hook_macs["conv_transpose_useful"] += useful
                issued += out.numel() * (mod.in_channels // mod.groups) * kh * kw
            elif isinstance(mod, nn.Conv2d):
                kh, kw = mod.kernel_size
                hook_macs["conv"] += out.numel() * (mod.in_channels // mod.groups) * kh * kw
                fold.conv(mod, out)
            else:
                hook_macs["linear"] += out.numel() * mod.in_features
            ran[name] = mod
        return fn

    common.forward_hooked(model, spec["inputs"], (nn.Linear, nn.Conv2d, nn.ConvTranspose2d), hook, fold.bn_hook,
                          nn.BatchNorm2d)
    params = common.unique_param_elements(ran.values())
    macs, by_op = common.flop_counts(model, spec["inputs"], math_sdpa=False)
    out = {
        "macs": int(macs),
        "flop_counter_by_op": by_op,
        "macs_uncounted_by_flop_counter": 0,
        "macs_by_hooks": {k: int(v) for k, v in hook_macs.items()},
        "macs_by_hooks_difference_from_macs": int(sum(hook_macs.values()) - macs),
        "params_linear_conv": int(params),
        "params_linear_conv_bn_folded": int(params + fold.folded),
        "batchnorms": fold.batchnorms,
        "foldable_batchnorms": fold.foldable,
        "layers_counted": len(ran),
        "params_note": "nn.Linear/nn.Conv2d/nn.ConvTranspose2d weights and biases via forward hooks; none shared, "
                       "none used through F.linear/matmul",
    }
    if hook_macs["conv_transpose_useful"]:
        out["macs_useful"] = int(hook_macs["conv_transpose_useful"])
        out["macs_issued_zero_insertion"] = int(issued)
        out["macs_as_issued"] = int(macs - hook_macs["conv_transpose_useful"] + issued)
    return out


# ------------------------------------------------------------------------------------------------
# Export, check, strip (tests/data/onnx_export_common.py)
# ------------------------------------------------------------------------------------------------
def build_one(name: str, spec, counts, exporter: str, out_dir: Path) -> dict:
    entry = common.new_entry(name, exporter, spec["description"], import_kwargs={})
    fname, target = entry["file"], out_dir / entry["file"]
    model = common.export_model(spec, exporter, entry, out_dir)
    if model is None:
        return entry
    stripped, data, raw_bytes, checks = common.strip_and_check(spec, model, target)
    entry.update(common.graph_facts(stripped))
    entry.update(counts)
    bn_nodes = entry["op_types"].get("BatchNormalization", 0)
    if counts["batchnorms"] and bn_nodes == counts["batchnorms"] - counts["foldable_batchnorms"]:
        entry["bn_folded_into_conv"] = counts["foldable_batchnorms"] > 0
    elif bn_nodes == counts["batchnorms"]:
        entry["bn_folded_into_conv"] = False
    else:
        entry["bn_folded_into_conv"] = None  # partly: no reference applies
    entry["batchnorm_nodes_in_file"] = bn_nodes
    entry["params_linear_conv_in_file"] = (counts["params_linear_conv_bn_folded"] if entry["bn_folded_into_conv"]
                                           else counts["params_linear_conv"] if entry["bn_folded_into_conv"] is False
                                           else None)
    entry.update(common.file_fields(data, raw_bytes))
    entry["shape_inference"] = common.shape_inference_record(stripped)
    entry["checks"] = checks
    print(f"  {fname}: {len(data):,} bytes (raw {raw_bytes:,}), {entry['nodes']} nodes, BN nodes {bn_nodes}, "
          f"ort diff {entry['checks']['onnxruntime_raw_max_abs_diff_vs_torch']}", flush=True)
    return entry


def main(argv=None) -> int:
    zoo = model_zoo()
    args, versions, manifest_path, old = common.start(__doc__, HERE, list(zoo), f"manifest.{GROUP}.json",
                                                      ("torch", "torchvision", "onnx"), argv)
    models, fixtures = old.get("models", {}), old.get("fixtures", {})
    for name in args.only or list(zoo):
        print(f"{name}:", flush=True)
        spec = make_spec(name, zoo)
        counts = count_module(spec)
        models[name] = {"description": spec["description"], "config": spec["config"], **counts}
        print(f"  macs {counts['macs']:,} (hooks differ by {counts['macs_by_hooks_difference_from_macs']}), "
              f"params {counts['params_linear_conv']:,} / bn-folded {counts['params_linear_conv_bn_folded']:,}",
              flush=True)
        common.build_both(build_one, name, spec, counts, args.out, fixtures)
    manifest = {
        "generator": f"tests/data/onnx_zoo/build_{GROUP}.py",
        "versions": versions,
        "seed": SEED,
        "stripping": common.stripping(),
        "counting": COUNTING,
        "models": {k: models[k] for k in zoo if k in models},
        "fixtures": dict(sorted(fixtures.items())),
    }
    common.write_and_report(manifest_path, manifest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
