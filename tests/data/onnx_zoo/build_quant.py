#!/usr/bin/env python
"""Build the int8 (onnxruntime-quantized) fixtures of the `quant` group (see README.quant.md here).

Two steps, two interpreters:

    ~/.venv-export/bin/python tests/data/onnx_zoo/build_quant.py          # build the files + manifest.quant.json
    python tests/data/onnx_zoo/build_quant.py --import-check              # accelsim's importer (system python),
                                                                          # results merged into the manifest

Build: a MobileNetV2 (torchvision's structure, width 0.5, 10 classes, 64x64 input) and a small BertModel
(2 layers, hidden 64, 4 heads, FFN 256, vocab 128, batch 2, seq 16), seeded random weights perturbed like
tests/data/onnx_exports/build.py. Reference counts (MACs from FlopCounterMode, linear/conv params from forward
hooks) come from the float PyTorch module. The float model is exported with the TorchScript exporter (opset 17),
pre-processed with onnxruntime's `quant_pre_process`, quantized with `quantize_static` (uint8 activations, int8
weights, MinMax calibration over a few seeded random inputs) in QDQ and QOperator formats (MobileNetV2 QDQ also
per-channel), run in onnxruntime, weight-stripped (every initializer above 16 elements -> ConstantOfShape of its
dtype) and checked with onnx.checker and strict onnx shape inference. The dynamo (opset 18) export is quantized
too and its outcome recorded (no file kept). Everything is seeded; no download.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import sys
import tempfile
import traceback
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # tests/data: the helpers the fixture builders share (import no torch)
import onnx_export_common as common  # noqa: E402
from onnx_export_common import SEED, THRESHOLD, TS_OPSET, export, perturb  # noqa: E402

MANIFEST = HERE / "manifest.quant.json"
VOCAB, SEQ, BERT_BATCH = 128, 16, 2
N_CALIB = 4
COMPUTE_OPS = {"Conv", "ConvTranspose", "MatMul", "Gemm", "QLinearConv", "QLinearMatMul", "MatMulInteger",
               "ConvInteger", "QGemm", "MatMulIntegerToFloat", "DynamicQuantizeMatMul"}


# ------------------------------------------------------------------------------------------------
# Models (torch imported lazily: --import-check runs in the system python, which has no torch)
# ------------------------------------------------------------------------------------------------
def _make_divisible(v, divisor=8, min_value=None):
    min_value = min_value or divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def build_models():
    import torch
    import torch.nn as nn

    class ConvBNReLU6(nn.Sequential):
        def __init__(self, cin, cout, k=3, stride=1, groups=1, act=True):
            layers = [nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
            if act:
                layers.append(nn.ReLU6(inplace=False))
            super().__init__(*layers)

    class InvertedResidual(nn.Module):
        """torchvision.models.mobilenetv2.InvertedResidual."""

        def __init__(self, inp, oup, stride, expand_ratio):
            super().__init__()
            hidden = int(round(inp * expand_ratio))
            self.use_res_connect = stride == 1 and inp == oup
            layers = []
            if expand_ratio != 1:
                layers.append(ConvBNReLU6(inp, hidden, 1))
            layers += [ConvBNReLU6(hidden, hidden, 3, stride, groups=hidden), ConvBNReLU6(hidden, oup, 1, act=False)]
            self.conv = nn.Sequential(*layers)

        def forward(self, x):
            return x + self.conv(x) if self.use_res_connect else self.conv(x)

    class MobileNetV2(nn.Module):
        """torchvision.models.mobilenet_v2(width_mult=..., num_classes=...) in eval mode."""

        SETTING = [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1], [6, 160, 3, 2],
                   [6, 320, 1, 1]]

        def __init__(self, width_mult=0.5, num_classes=10):
            super().__init__()
            input_channel = _make_divisible(32 * width_mult, 8)
            self.last_channel = _make_divisible(1280 * max(1.0, width_mult), 8)
            features = [ConvBNReLU6(3, input_channel, 3, 2)]
            for t, c, n, s in self.SETTING:
                out = _make_divisible(c * width_mult, 8)
                for i in range(n):
                    features.append(InvertedResidual(input_channel, out, s if i == 0 else 1, t))
                    input_channel = out
            features.append(ConvBNReLU6(input_channel, self.last_channel, 1))
            self.features = nn.Sequential(*features)
            self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(self.last_channel, num_classes))

        def forward(self, x):
            x = nn.functional.adaptive_avg_pool2d(self.features(x), (1, 1))
            return self.classifier(torch.flatten(x, 1))

    def mobilenetv2():
        torch.manual_seed(SEED)
        model = perturb(MobileNetV2(0.5, 10)).eval()
        x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(SEED))
        calib = [torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(SEED + 1 + i)).numpy()
                 for i in range(N_CALIB)]
        return dict(module=model, inputs=(x,), input_names=["input"], output_names=["logits"],
                    calib=[{"input": c} for c in calib],
                    config={"class": "MobileNetV2 (torchvision structure)", "width_mult": 0.5, "num_classes": 10,
                            "input": [1, 3, 64, 64]},
                    description="MobileNetV2 (torchvision's structure, width 0.5: stem 16 ch, last 1280 ch), "
                                "ReLU6 (Clip), inverted residuals with depthwise 3x3 convs, BatchNorm folded by the "
                                "exporter; 10 classes, input 1x3x64x64")

    def bert():
        from transformers import BertConfig, BertModel
        torch.manual_seed(SEED)
        cfg = BertConfig(vocab_size=VOCAB, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                         intermediate_size=256, max_position_embeddings=32, type_vocab_size=2, use_cache=False)
        hf = perturb(BertModel(cfg)).eval()
        x = torch.randint(0, VOCAB, (BERT_BATCH, SEQ), generator=torch.Generator().manual_seed(SEED))
        calib = [torch.randint(0, VOCAB, (BERT_BATCH, SEQ), generator=torch.Generator().manual_seed(SEED + 1 + i))
                 .numpy() for i in range(N_CALIB)]
        return dict(module=common.hf_wrap(hf, ["input_ids"], ["last_hidden_state", "pooler_output"]).eval(), inputs=(x,),
                    input_names=["input_ids"], output_names=["last_hidden_state", "pooler_output"],
                    calib=[{"input_ids": c} for c in calib], config=cfg.to_diff_dict(),
                    description=f"BertModel (encoder with pooler), 2 layers, hidden 64, 4 heads, FFN 256, vocab "
                                f"{VOCAB}, batch {BERT_BATCH}, seq {SEQ}; input_ids only (no attention_mask)")

    return {"mobilenetv2": mobilenetv2, "bert": bert}


# ------------------------------------------------------------------------------------------------
# Reference counts from the float PyTorch module
# ------------------------------------------------------------------------------------------------
def count_module(spec) -> dict:
    from torch import nn
    model = spec["module"]
    ran, fold = {}, common.ConvBNFold()

    def hook(name):
        def fn(mod, inp, out):
            ran[name] = mod
            if isinstance(mod, nn.Conv2d):
                fold.conv(mod, out)
        return fn

    common.forward_hooked(model, spec["inputs"], (nn.Linear, nn.Conv2d), hook, fold.bn_hook, nn.BatchNorm2d)
    params = common.unique_param_elements(ran.values())
    macs, by_op = common.flop_counts(model, spec["inputs"])
    return {"macs": int(macs), "flop_counter_by_op": by_op,
            "params": int(params), "params_bn_folded": int(params + fold.folded),
            "linear_conv_modules": len(ran)}


# ------------------------------------------------------------------------------------------------
# Export, quantize, strip, analyse
# ------------------------------------------------------------------------------------------------
def ort_session(model_bytes, disable_opt=False, level=None):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.log_severity_level = 4
    if disable_opt:
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    elif level is not None:
        so.graph_optimization_level = getattr(ort.GraphOptimizationLevel, level)
    return ort.InferenceSession(model_bytes, so, providers=["CPUExecutionProvider"])


ORT_NOTES: list = []  # session failures at the default optimisation level, retried at ORT_ENABLE_BASIC


def run_ort(model_bytes, feeds):
    try:
        sess = ort_session(model_bytes)
    except Exception as e:  # noqa: BLE001 - seen: pre-processed BERT at ORT_ENABLE_EXTENDED/ALL
        ORT_NOTES.append("default optimisation level (ORT_ENABLE_ALL) failed: " + err1(e)[:300]
                         + "; ran with ORT_ENABLE_BASIC")
        sess = ort_session(model_bytes, level="ORT_ENABLE_BASIC")
    return sess.run(None, {i.name: feeds[i.name] for i in sess.get_inputs()})


class Reader:
    """A CalibrationDataReader over a few seeded random inputs."""

    def __init__(self, samples):
        self.samples = list(samples)
        self.it = iter(self.samples)

    def get_next(self):
        return next(self.it, None)

    def rewind(self):
        self.it = iter(self.samples)


def quantize(src: Path, dst: Path, fmt: str, per_channel: bool, calib):
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        quantize_static(str(src), str(dst), Reader(calib),
                        quant_format=QuantFormat.QDQ if fmt == "qdq" else QuantFormat.QOperator,
                        per_channel=per_channel, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)


def preprocess(src: Path, dst: Path) -> str | None:
    from onnxruntime.quantization.shape_inference import quant_pre_process
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            quant_pre_process(str(src), str(dst))
        return None
    except Exception as e:  # noqa: BLE001
        return f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"


def strip(model):
    """common.strip: initializers (and Constant tensors) above THRESHOLD elements -> an int64 `<name>__SHAPE`
    initializer + ConstantOfShape whose fill value has the original dtype (float, int8, uint8, int32). Smaller
    tensors (scalar scales and zero points, shape constants) stay. The tool drops value_info; it is not put back
    here: in these files it came from quant_pre_process's shape inference, not from the exporter (the TorchScript
    exporter writes none), and keeping it would take the per-channel QDQ file over 150 KB. accelsim runs onnx
    shape inference itself."""
    return common.strip(model, keep_value_info=False)


def op_hist(model):
    ops = {}
    for n in model.graph.node:
        key = n.op_type if n.domain in ("", "ai.onnx") else f"{n.domain}.{n.op_type}"
        ops[key] = ops.get(key, 0) + 1
    return dict(sorted(ops.items()))


def tensor_types(model, feeds) -> dict[str, str]:
    """Element type of every tensor, as onnxruntime computes it (all node outputs made graph outputs, no
    graph optimisation, so the graph runs as written)."""
    import onnx
    m = onnx.ModelProto()
    m.CopyFrom(model)
    known = {o.name for o in m.graph.output}
    for n in m.graph.node:
        for o in n.output:
            if o and o not in known:
                m.graph.output.append(onnx.ValueInfoProto(name=o))
                known.add(o)
    sess = ort_session(m.SerializeToString(), disable_opt=True)
    names = [o.name for o in sess.get_outputs()]
    outs = sess.run(names, {i.name: feeds[i.name] for i in sess.get_inputs()})
    types = {n: np.asarray(v).dtype.name for n, v in zip(names, outs)}
    for t in model.graph.initializer:
        types[t.name] = onnx.helper.tensor_dtype_to_np_dtype(t.data_type).name
    for i in model.graph.input:
        types[i.name] = onnx.helper.tensor_dtype_to_np_dtype(i.type.tensor_type.elem_type).name
    return types


def compute_nodes(model, feeds) -> tuple[list[dict], list[str]]:
    """For every conv/matmul-like node of the quantized graph: element types of its activation input, weight,
    bias and output (in QDQ graphs looking through DequantizeLinear/QuantizeLinear to the integer tensors),
    how many scale elements its weight has, and whether it stays float."""
    from onnx import numpy_helper
    types = tensor_types(model, feeds)
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    producer = {o: n for n in model.graph.node for o in n.output}
    consumers = {}
    for n in model.graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)

    def numel(name):
        return int(inits[name].size) if name in inits else None

    def through_dq(name):
        """(integer dtype behind a DequantizeLinear, its scale element count) or (own dtype, None)."""
        p = producer.get(name)
        hops = []
        while p is not None and p.op_type in ("Transpose", "Reshape") and p.input[0] not in inits:
            hops.append(p.op_type)  # ORT QDQ: weights of MatMul can sit behind a Transpose
            p = producer.get(p.input[0])
            break
        if p is not None and p.op_type == "DequantizeLinear":
            return types.get(p.input[0]), numel(p.input[1]), True
        return types.get(name), None, False

    out, left_float = [], []
    for n in model.graph.node:
        if n.op_type not in COMPUTE_OPS:
            continue
        e = {"name": n.name, "op": n.op_type if n.domain in ("", "ai.onnx") else f"{n.domain}.{n.op_type}"}
        if n.op_type in ("Conv", "ConvTranspose", "MatMul", "Gemm"):
            (a_t, _, a_dq), (w_t, w_sc, w_dq) = through_dq(n.input[0]), through_dq(n.input[1])
            e["input"], e["weight"] = a_t, w_t
            e["weight_is_constant"] = (n.input[1] in inits or w_dq and producer[n.input[1]].input[0] in inits
                                       or producer.get(n.input[1]) is not None
                                       and producer[n.input[1]].op_type == "ConstantOfShape")
            if len(n.input) > 2 and n.input[2]:
                e["bias"] = through_dq(n.input[2])[0]
            cons = consumers.get(n.output[0], [])
            if cons and all(c.op_type == "QuantizeLinear" for c in cons):
                e["output"] = types.get(cons[0].output[0])
            else:
                e["output"] = types.get(n.output[0])
            e["weight_scale_elements"] = w_sc
            e["format"] = "qdq" if (a_dq and w_dq) else "float"
            bias_add = _bias_add(n, cons, consumers, producer, inits)
            if bias_add is not None:  # MatMul -> [Q -> DQ ->] Add(constant): the bias as a separate, quantized Add
                add, bias_in = bias_add
                e["bias_add"] = {"node": add.name, "bias": through_dq(bias_in)[0],
                                 "bias_scale_elements": through_dq(bias_in)[1]}
            if not (a_dq and w_dq):
                left_float.append(n.name)
        elif n.op_type in ("QLinearConv", "QLinearMatMul"):
            e.update(input=types.get(n.input[0]), weight=types.get(n.input[3]), output=types.get(n.output[0]),
                     weight_scale_elements=numel(n.input[4]), weight_is_constant=n.input[3] in inits,
                     format="qoperator")
            if n.op_type == "QLinearConv" and len(n.input) > 8:
                e["bias"] = types.get(n.input[8])
        elif n.op_type == "QGemm":
            e.update(input=types.get(n.input[0]), weight=types.get(n.input[3]), output=types.get(n.output[0]),
                     weight_scale_elements=numel(n.input[4]), weight_is_constant=n.input[3] in inits,
                     format="qoperator")
            if len(n.input) > 6 and n.input[6]:
                e["bias"] = types.get(n.input[6])
        else:  # MatMulInteger / ConvInteger: no scales, zero points only
            e.update(input=types.get(n.input[0]), weight=types.get(n.input[1]), output=types.get(n.output[0]),
                     weight_scale_elements=None,
                     weight_zero_point_elements=numel(n.input[3]) if len(n.input) > 3 and n.input[3] else None,
                     weight_is_constant=n.input[1] in inits, format="qoperator")
        sc = e.get("weight_scale_elements")
        e["weight_scales"] = None if sc is None else ("per-tensor" if sc == 1 else "per-channel")
        out.append(e)
    return out, left_float


def _is_const(name, producer, inits):
    p = producer.get(name)
    if name in inits:
        return True
    if p is None:
        return False
    if p.op_type in ("ConstantOfShape", "Constant"):
        return True
    return p.op_type == "DequantizeLinear" and _is_const(p.input[0], producer, inits)


def _bias_add(n, cons, consumers, producer, inits):
    """The Add that adds a constant bias to a MatMul's output, directly or through a QuantizeLinear ->
    DequantizeLinear pair (QDQ), as (Add node, bias input name)."""
    if n.op_type != "MatMul":
        return None
    nxt = cons
    if len(nxt) == 1 and nxt[0].op_type == "QuantizeLinear":
        dq = consumers.get(nxt[0].output[0], [])
        nxt = consumers.get(dq[0].output[0], []) if len(dq) == 1 and dq[0].op_type == "DequantizeLinear" else []
    if len(nxt) == 1 and nxt[0].op_type == "Add":
        for i in nxt[0].input:
            if _is_const(i, producer, inits):
                return nxt[0], i
    return None


def summarize_compute(nodes):
    summ = {}
    for e in nodes:
        bias = e.get("bias") or (f"separate Add({e['bias_add']['bias']})" if e.get("bias_add") else None)
        key = (f"{e['op']} in={e['input']} w={e['weight']} b={bias} out={e['output']} "
               f"w_scales={e['weight_scales']} const_w={e['weight_is_constant']}")
        summ[key] = summ.get(key, 0) + 1
    return dict(sorted(summ.items()))


def shape_check(model) -> str:
    import onnx
    return common.guarded(lambda m: onnx.shape_inference.infer_shapes(m, strict_mode=True), model)


def checker(model) -> str:
    import onnx
    return common.guarded(onnx.checker.check_model, model)


def err1(e):
    return common.first_line(e, 400)


def finish(model, fname, feeds, expected, entry, out_dir):
    """Analyse the (unstripped) model, strip it, check the stripped file, write it."""
    entry.update({"file": fname, "op_types": op_hist(model), "nodes": len(model.graph.node),
                  "opset": {o.domain or "ai.onnx": o.version for o in model.opset_import},
                  "ir_version": model.ir_version, "bytes_before_stripping": len(model.SerializeToString())})
    ORT_NOTES.clear()
    got = run_ort(model.SerializeToString(), feeds)
    entry["onnxruntime_runs"] = True
    entry["onnxruntime_note"] = ORT_NOTES[0] if ORT_NOTES else None
    entry["onnxruntime_max_abs_diff_vs_torch_float"] = float(max(np.abs(a - b).max() for a, b in zip(got, expected)))
    nodes, left_float = compute_nodes(model, feeds)
    entry["compute_nodes_summary"] = summarize_compute(nodes)
    entry["compute_nodes"] = nodes
    entry["compute_left_float"] = left_float
    stripped = strip(model)
    data = stripped.SerializeToString()
    entry["checks_stripped"] = {"onnx.checker.check_model": checker(stripped),
                                "onnx.shape_inference.infer_shapes(strict_mode=True)": shape_check(stripped)}
    unknown = [n for n, _ in common.unshaped_outputs(stripped)]
    entry["checks_stripped"]["node_outputs_without_static_shape"] = {
        "count": len(unknown), "by_op": dict(sorted({k: sum(1 for n in unknown if n.op_type == k)
                                                     for k in {n.op_type for n in unknown}}.items())),
        "note": "onnx shape inference has no schema for onnxruntime's com.microsoft ops (QLinearAdd, QGemm, ...): "
                "it passes in strict mode but leaves their outputs, and everything downstream, unshaped"}
    try:
        so = run_ort(data, feeds)
        entry["checks_stripped"]["onnxruntime_output_shapes_match"] = ([list(a.shape) for a in so]
                                                                      == [list(b.shape) for b in expected])
    except Exception as e:  # noqa: BLE001
        entry["checks_stripped"]["onnxruntime_output_shapes_match"] = f"failed: {err1(e)}"
    (out_dir / fname).write_bytes(data)
    entry["bytes"] = len(data)
    entry["sha256"] = hashlib.sha256(data).hexdigest()
    print(f"  {fname}: {len(data):,} B, {entry['nodes']} nodes, ort diff "
          f"{entry['onnxruntime_max_abs_diff_vs_torch_float']:.3g}, left float {len(left_float)}, "
          f"shape inf {entry['checks_stripped']['onnx.shape_inference.infer_shapes(strict_mode=True)']}", flush=True)


VARIANTS = {  # family -> [(suffix, format, per_channel)]
    "mobilenetv2": [("qdq", "qdq", False), ("qdq_perchannel", "qdq", True), ("qop", "qoperator", False)],
    "bert": [("qdq", "qdq", False), ("qop", "qoperator", False)],
}


def build_family(name, spec, counts, out_dir) -> dict:
    import onnx
    import torch
    fixtures = {}
    feeds = {k: v.numpy() for k, v in zip(spec["input_names"], spec["inputs"])}
    with torch.no_grad():
        out = spec["module"](*spec["inputs"])
    expected = [t.numpy() for t in (out if isinstance(out, tuple) else (out,))]
    base = {"model": name, "description": spec["description"], "macs": counts["macs"],
            "params": counts["params_bn_folded"], "params_unfolded": counts["params"],
            "params_note": "weight+bias elements of every nn.Linear/nn.Conv2d that ran (forward hooks), plus "
                           "out_channels per bias-free conv whose BatchNorm the exporter folded into it "
                           "(params_unfolded without those biases); in the int8 files weights are int8 and "
                           "biases int32 (QOperator, QDQ) -- same element counts",
            "import_kwargs": {}}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for exporter, tag in (("torchscript", "ts17"), ("dynamo", "dynamo18")):
            raw = tmp / f"{name}.{tag}.raw.onnx"
            pre = tmp / f"{name}.{tag}.pre.onnx"
            export_error = None
            try:
                export(spec, exporter, raw)
            except Exception as e:  # noqa: BLE001
                export_error = err1(e)
                print(f"  {name} {tag}: EXPORT FAILED {export_error}", flush=True)
            record = {"exporter": exporter, "export_error": export_error}
            if export_error is None:
                fm = onnx.load(str(raw))
                record["float_op_types"] = op_hist(fm)
                pre_err = preprocess(raw, pre)
                record["quant_pre_process_error"] = pre_err
                if pre_err is None:
                    record["float_op_types_after_pre_process"] = op_hist(onnx.load(str(pre)))
                src = raw if pre_err else pre
                if exporter == "torchscript":
                    e = dict(base, exporter="torchscript", quantized=False,
                             export_call=f"torch.onnx.export(..., dynamo=False, opset_version={TS_OPSET}, "
                                         "do_constant_folding=True)", export_error=None,
                             quant_pre_process=("applied: this is the model quantize_static was given"
                                                if pre_err is None else f"failed ({pre_err}); the raw export"))
                    finish(onnx.load(str(src)), f"{name}.float.ts17.onnx", feeds, expected, e, out_dir)
                    fixtures[e["file"]] = e
                for suffix, fmt, pc in VARIANTS[name]:
                    qpath = tmp / f"{name}.{tag}.{suffix}.onnx"
                    key = f"quantize_{suffix}"
                    try:
                        quantize(src, qpath, fmt, pc, spec["calib"])
                        qm = onnx.load(str(qpath))
                        got = run_ort(qm.SerializeToString(), feeds)
                        record[key] = {"error": None, "op_types": op_hist(qm),
                                       "onnxruntime_max_abs_diff_vs_torch_float":
                                           float(max(np.abs(a - b).max() for a, b in zip(got, expected)))}
                    except Exception as ex:  # noqa: BLE001
                        record[key] = {"error": err1(ex), "traceback_tail":
                                       traceback.format_exc().strip().splitlines()[-4:]}
                        print(f"  {name} {tag} {suffix}: QUANTIZATION FAILED {record[key]['error']}", flush=True)
                        continue
                    if exporter == "torchscript":
                        e = dict(base, exporter="torchscript", quantized=True, quant_format=fmt, per_channel=pc,
                                 float_source=f"{name}.float.ts17.onnx",
                                 quant_pre_process=("applied" if pre_err is None else f"failed ({pre_err}); "
                                                    "quantized the raw export"),
                                 quantize_call=(f"quantize_static(model, out, reader({N_CALIB} seeded random "
                                                f"inputs), quant_format=QuantFormat.{'QDQ' if fmt == 'qdq' else 'QOperator'}, "
                                                f"per_channel={pc}, activation_type=QuantType.QUInt8, "
                                                "weight_type=QuantType.QInt8)  # MinMax calibration"),
                                 export_error=None)
                        finish(qm, f"{name}.int8.{suffix}.onnx", feeds, expected, e, out_dir)
                        fixtures[e["file"]] = e
            if exporter == "dynamo":
                dyn = record
            else:
                ts = record
    for e in fixtures.values():
        e["torchscript_pipeline"] = {k: v for k, v in ts.items() if k.startswith(("quant_pre", "export_error"))}
    return fixtures, {"torchscript": ts, "dynamo18_quantization_attempt": dyn}


def build(args) -> int:
    import torch
    torch.set_num_threads(2)
    versions = common.versions("torch", "transformers", "onnx", "onnxruntime", optional=("onnxscript",))
    models, fixtures, pipelines = {}, {}, {}
    for name, make in build_models().items():
        print(f"{name}:", flush=True)
        spec = make()
        counts = count_module(spec)
        print(f"  macs {counts['macs']:,} params {counts['params']:,} (bn folded {counts['params_bn_folded']:,})",
              flush=True)
        models[name] = {"description": spec["description"], "config": spec["config"], **counts}
        fx, pipe = build_family(name, spec, counts, args.out)
        fixtures.update(fx)
        pipelines[name] = pipe
    manifest = {
        "generator": "tests/data/onnx_zoo/build_quant.py",
        "versions": versions, "seed": SEED,
        "quantization": {
            "tool": "onnxruntime.quantization.quantize_static (after quant_pre_process)",
            "calibration": f"MinMax over {N_CALIB} seeded random inputs (CalibrationDataReader)",
            "activation_type": "QUInt8 (passed explicitly: onnxruntime 1.32's default activation_type is QInt8)",
            "weight_type": "QInt8", "formats": "QDQ and QOperator; MobileNetV2 QDQ also per_channel=True"},
        "stripping": {"tool": "onnx.tools.replace_constants.replace_initializer_by_constant_of_shape",
                      "threshold_elements": THRESHOLD, "value_constant_of_shape": 1,
                      "note": "ConstantOfShape keeps the initializer's dtype (float32/int8/uint8/int32); scalar "
                              "scales and zero points stay; per-channel scale/zero-point vectors above 16 "
                              "elements are stripped too (their shape stays)"},
        "counting": {
            "macs": "torch.utils.flop_counter.FlopCounterMode total FLOPs / 2 over the float PyTorch forward "
                    "(SDPA forced to the math backend); flop_counter_by_op has the breakdown. Nothing uncounted.",
            "params": "forward hooks on nn.Linear/nn.Conv2d, weight+bias elements once per tensor, plus the "
                      "bias each bias-free conv gets when its BatchNorm is folded (both exporters fold it)",
        },
        "models": models,
        "pipelines": pipelines,
        "fixtures": dict(sorted(fixtures.items())),
    }
    common.write_manifest(MANIFEST, manifest)
    print(f"{len(fixtures)} fixtures written", flush=True)
    return 0


# ------------------------------------------------------------------------------------------------
# accelsim importer check (system python)
# ------------------------------------------------------------------------------------------------
def import_check(args) -> int:
    sys.path.insert(0, str(HERE.parents[2]))
    from accelsim.workload.onnx_import import load_onnx
    manifest = json.loads(MANIFEST.read_text())
    for fname, e in manifest["fixtures"].items():
        res = {}
        try:
            g = g0 = load_onnx(HERE / fname, **e.get("import_kwargs", {}))
            res["strict"] = {"ok": True, "macs": int(g.macs), "params": int(g.params),
                             "macs_match": int(g.macs) == e["macs"], "params_match": int(g.params) == e["params"],
                             "meta": {k: v for k, v in g.meta.items() if k in ("assumptions", "placeholders")}}
        except Exception as ex:  # noqa: BLE001
            res["strict"] = {"ok": False, "error": err1(ex)}
        try:
            g = load_onnx(HERE / fname, lenient=True, **e.get("import_kwargs", {}))
            res["lenient"] = {"ok": True, "macs": int(g.macs), "params": int(g.params),
                              "placeholders": g.meta.get("placeholders", []),
                              "assumptions": g.meta.get("assumptions", [])}
        except Exception as ex:  # noqa: BLE001
            res["lenient"] = {"ok": False, "error": err1(ex)}
        if res["strict"]["ok"]:
            ref = {c["name"]: c for c in e["compute_nodes"]}
            layers = [layer.to_dict() for layer in g0 if layer.macs > 0]
            res["strict"]["compute_layers"] = len(layers)
            res["strict"]["layer_types"] = {}
            for d in layers:
                key = f"{d['kind']} in={d.get('input_type')} w={d.get('weight_type')} out={d.get('output_type')}"
                res["strict"]["layer_types"][key] = res["strict"]["layer_types"].get(key, 0) + 1
            res["strict"]["layers_not_in_manifest_compute_nodes"] = [d["name"] for d in layers if d["name"] not in ref]
        e["accelsim_import"] = res
        s = res["strict"]
        print(f"{fname}: ref macs {e['macs']:,} params {e['params']:,} | strict "
              + (f"macs {s['macs']:,} params {s['params']:,}" if s["ok"] else s["error"])
              + f" | lenient placeholders {len(res['lenient'].get('placeholders', []))}", flush=True)
    common.write_manifest(MANIFEST, manifest)
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=HERE)
    ap.add_argument("--import-check", action="store_true", help="run accelsim's importer on the built files")
    args = ap.parse_args(argv)
    return import_check(args) if args.import_check else build(args)


if __name__ == "__main__":
    sys.exit(main())
