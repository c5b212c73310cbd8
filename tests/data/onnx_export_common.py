"""What the offline ONNX fixture builders share: seeding and perturbing weights, exporting with both
exporters, onnxruntime checks, weight stripping, graph facts, manifest fields and PyTorch-side counting.

Used by tests/data/onnx_exports/build.py and tests/data/onnx_zoo/build_{decoders,encoders,vision,quant}.py,
each of which puts this folder on ``sys.path`` before importing it. The test suite never imports it
(tests/data/conftest.py ignores it). torch, numpy, onnx and onnxruntime are imported inside the functions, so
that ``build_quant.py --import-check`` (system python, no torch) can import this module too.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import json
import platform
import re
import tempfile
import traceback
import warnings
from pathlib import Path

SEED = 0
THRESHOLD = 16  # initializers/Constant tensors with more elements than this become shape-only
TS_OPSET, DYNAMO_OPSET = 17, 18
EXPORTERS = ("torchscript", "dynamo")
ANSI = re.compile(r"\x1b\[[0-9;]*m")
STRIP_TOOL = "onnx.tools.replace_constants.replace_initializer_by_constant_of_shape"


# ------------------------------------------------------------------------------------------------
# Run setup, manifest
# ------------------------------------------------------------------------------------------------
def parse_args(doc: str, here: Path, choices, argv=None):
    """--out (default: the script's folder) and --only (some models, merged into the existing manifest)."""
    import argparse
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=here, help="output folder (default: this script's folder)")
    ap.add_argument("--only", nargs="*", choices=choices, help="build only these models")
    return ap.parse_args(argv)


def start(doc: str, here: Path, choices, manifest_name: str, libraries, argv=None) -> tuple:
    """A build's setup: its arguments (parse_args), torch on 2 threads, the versions of python and `libraries`
    (plus onnxscript/onnxruntime), the manifest's path in --out and, with --only, the manifest already there
    (else {}). Returns (args, versions, manifest path, old manifest)."""
    import torch
    args = parse_args(doc, here, choices, argv)
    torch.set_num_threads(2)
    path = args.out / manifest_name
    return args, versions(*libraries), path, old_manifest(path, args.only)


def versions(*required: str, optional=("onnxscript", "onnxruntime")) -> dict:
    """{"python": ..., <module>: __version__ ...}, in that order; an optional module not installed is None."""
    out = {"python": platform.python_version()}
    for mod in required:
        out[mod] = __import__(mod).__version__
    for mod in optional:
        try:
            out[mod] = __import__(mod).__version__
        except ImportError:
            out[mod] = None
    return out


def stripping(also_removed: bool = True) -> dict:
    """The manifest's "stripping" record."""
    out = {"tool": STRIP_TOOL, "threshold_elements": THRESHOLD, "value_constant_of_shape": 1, "weight_fill": 0.5}
    if also_removed:
        out["also_removed"] = "node/value doc strings and metadata_props (exporter stack traces)"
    return out


def old_manifest(path: Path, merge) -> dict:
    """The manifest already written, when only some models are rebuilt (merge); else empty."""
    return json.loads(path.read_text()) if path.exists() and merge else {}


def write_manifest(path: Path, manifest: dict) -> None:
    path.write_text(json.dumps(manifest, indent=1) + "\n")


def export_failures(manifest: dict) -> list[str]:
    return [f for f, e in manifest["fixtures"].items() if e["export_error"]]


def report(manifest: dict, extra: str = "") -> None:
    """Print how many fixtures were written and which exports failed."""
    failed = export_failures(manifest)
    print(f"{len(manifest['fixtures']) - len(failed)} fixtures written, {len(failed)} export failures {failed}{extra}",
          flush=True)


def write_and_report(path: Path, manifest: dict) -> None:
    write_manifest(path, manifest)
    report(manifest)


def build_both(build_one, name: str, spec, counts, out_dir: Path, fixtures: dict) -> None:
    """build_one(name, spec, counts, exporter, out_dir) for each exporter, the global seed reset before each;
    the entries go into fixtures by file name."""
    import torch
    for exporter in EXPORTERS:
        torch.manual_seed(SEED)
        entry = build_one(name, spec, counts, exporter, out_dir)
        fixtures[entry["file"]] = entry


# ------------------------------------------------------------------------------------------------
# Weights
# ------------------------------------------------------------------------------------------------
def gen(seed: int = SEED):
    import torch
    return torch.Generator().manual_seed(seed)


def perturb(model, seed: int = SEED):
    """Make every parameter look trained: freshly initialised models have all-zero biases, all-one norm scales and
    identity BatchNorm statistics, and the dynamo exporter's optimiser then drops zero biases and merges equal
    tensors into one initializer (seen: every 64-element bias of BERT became one shared tensor), which a trained
    network's export would not do. Each parameter gets seeded noise; BatchNorm (and transformers'
    FrozenBatchNorm2d) gets non-trivial statistics. Tied parameters stay tied (named_parameters yields a shared
    tensor once)."""
    import torch
    from torch import nn
    g = gen(seed)
    with torch.no_grad():
        for _, p in model.named_parameters():
            p.add_(0.02 * torch.randn(p.shape, generator=g))
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.running_mean is not None:
                m.running_mean.copy_(0.1 * torch.randn(m.num_features, generator=g))
                m.running_var.copy_(0.5 + torch.rand(m.num_features, generator=g))
            elif type(m).__name__.endswith("FrozenBatchNorm2d"):
                m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape, generator=g))
                m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=g))
                m.weight.copy_(1 + 0.1 * torch.randn(m.weight.shape, generator=g))
                m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=g))
    return model


def hf_wrap(model, input_names, outputs, **fixed):
    """An nn.Module that calls a transformers model with its positional inputs as keywords (named by input_names,
    plus the `fixed` ones) and returns the named outputs as a tuple: what the exporters take."""
    return _hf_wrap_class()(model, input_names, outputs, **fixed)


@functools.cache
def _hf_wrap_class():
    from torch import nn

    class HFWrap(nn.Module):
        def __init__(self, model, input_names, outputs, **fixed):
            super().__init__()
            self.model, self.input_names, self.outputs, self.fixed = model, list(input_names), outputs, fixed

        def forward(self, *args):
            out = self.model(**dict(zip(self.input_names, args)), **self.fixed)
            return tuple(getattr(out, k) for k in self.outputs)
    return HFWrap


# ------------------------------------------------------------------------------------------------
# Counting from the PyTorch module
# ------------------------------------------------------------------------------------------------
def flop_counts(model, inputs, math_sdpa: bool = True) -> tuple[int, dict]:
    """(FlopCounterMode's total FLOPs / 2, its per-op breakdown / 2) over one no-grad forward pass. math_sdpa: the
    math backend decomposes SDPA into bmm ops the counter sees (it has no rule for the CPU flash kernel)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode
    if math_sdpa:
        from torch.nn.attention import SDPBackend, sdpa_kernel
        backend = sdpa_kernel(SDPBackend.MATH)
    else:
        backend = contextlib.nullcontext()
    with torch.no_grad(), backend, FlopCounterMode(display=False) as fc:
        model(*inputs)
    by_op = {str(op): int(n) // 2 for op, n in sorted(fc.get_flop_counts().get("Global", {}).items(), key=str)}
    return fc.get_total_flops() // 2, by_op


def forward_hooked(model, inputs, hooked_types, hook, bn_hook=None, bn_types=(), mode=None) -> None:
    """One no-grad forward pass with hook(name) on every module of hooked_types and bn_hook on every other module
    of bn_types (inside `mode`, a dispatch/function mode, if given); the hooks are removed after."""
    import torch
    handles = []
    for name, mod in model.named_modules():
        if isinstance(mod, hooked_types):
            handles.append(mod.register_forward_hook(hook(name)))
        elif bn_hook is not None and isinstance(mod, bn_types):
            handles.append(mod.register_forward_hook(bn_hook))
    with torch.no_grad(), (mode if mode is not None else contextlib.nullcontext()):
        model(*inputs)
    for h in handles:
        h.remove()


def unique_param_elements(modules) -> int:
    """Weight and bias elements of the modules, each tensor counted once by identity."""
    seen, params = set(), 0
    for mod in modules:
        for p in (mod.weight, getattr(mod, "bias", None)):
            if p is not None and id(p) not in seen:
                seen.add(id(p))
                params += p.numel()
    return params


class ConvBNFold:
    """Forward-hook bookkeeping of bias-free nn.Conv2d layers whose output goes straight into an nn.BatchNorm2d:
    the bias (out_channels) each carries once an exporter folds the BatchNorm into it. A conv's output is kept
    alive with its id: a freed tensor's id is reused by later ones, which would match a BatchNorm to a stale conv."""

    def __init__(self):
        self.conv_outputs: dict[int, tuple] = {}  # id(output) -> (output, bias-free conv that produced it)
        self.folded = self.foldable = self.batchnorms = 0

    def conv(self, mod, out) -> None:
        """Call from the conv's forward hook."""
        if mod.bias is None:
            self.conv_outputs[id(out)] = (out, mod)

    def bn_hook(self, mod, inp, out) -> None:
        self.batchnorms += 1
        _, conv = self.conv_outputs.pop(id(inp[0]), (None, None))
        if conv is not None:
            self.folded += conv.out_channels
            self.foldable += 1


# ------------------------------------------------------------------------------------------------
# Export, check, strip
# ------------------------------------------------------------------------------------------------
def export_call(exporter: str) -> str:
    return (f"torch.onnx.export(..., dynamo=False, opset_version={TS_OPSET}, do_constant_folding=True)"
            if exporter == "torchscript" else
            f"torch.onnx.export(..., dynamo=True, opset_version={DYNAMO_OPSET}, optimize=True)")


def new_entry(name: str, exporter: str, description: str, **extra) -> dict:
    """A fixture's manifest entry, its first fields: file, model, exporter, export_call, description, export_error."""
    tag = "ts17" if exporter == "torchscript" else "dynamo18"
    return {"file": f"{name}.{tag}.onnx", "model": name, "exporter": exporter, "export_call": export_call(exporter),
            "description": description, "export_error": None, **extra}


def export(spec, exporter: str, path: Path) -> None:
    import torch
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


def first_line(e: BaseException, width: int | None = 300) -> str:
    """'<type>: <first line of the message>' (the line cut to width)."""
    s = str(e).strip()
    return f"{type(e).__name__}: {s.splitlines()[0][:width] if s else ''}"


def guarded(fn, *args) -> str:
    """"ok", or the first line of what fn(*args) raised."""
    try:
        fn(*args)
        return "ok"
    except Exception as e:  # noqa: BLE001 - recorded
        return first_line(e)


def record_export_error(entry: dict, e: BaseException, limit=None, tail=6, tail_width=None, ansi=False,
                        causes=False) -> None:
    """Put a failed export's error (cut to limit), optionally its chain of causes, and its traceback's last `tail`
    lines (each cut to tail_width) in the entry; ansi: strip terminal colour codes. Call inside the except block."""
    clean = (lambda s: ANSI.sub("", s)) if ansi else (lambda s: s)
    msg = [clean(m) for m in str(e).strip().splitlines()]
    entry["export_error"] = f"{type(e).__name__}: {msg[0] if msg else ''}"[:limit]
    cause = e.__cause__ if causes else None
    while cause is not None:
        lines = [clean(m) for m in str(cause).strip().splitlines() if m.strip()]
        entry.setdefault("export_error_causes", []).append(f"{type(cause).__name__}: {' | '.join(lines[:3])}"[:600])
        cause = cause.__cause__
    entry["export_traceback_tail"] = [s[:tail_width] for s in traceback.format_exc().strip().splitlines()[-tail:]]


def export_model(spec, exporter: str, entry: dict, out_dir: Path, **error_style):
    """Export to a temporary file and load it; on failure record it in the entry (record_export_error's
    error_style), remove this fixture's own stale file (nothing else), say so and return None."""
    import onnx
    fname = entry["file"]
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / fname
        try:
            export(spec, exporter, raw)
            return onnx.load(str(raw))
        except Exception as e:  # noqa: BLE001 - recorded, the script goes on
            record_export_error(entry, e, **error_style)
            (out_dir / fname).unlink(missing_ok=True)
            print(f"  {fname}: EXPORT FAILED {entry['export_error']}", flush=True)
            return None


def torch_outputs(spec) -> list:
    """The PyTorch module's outputs on the spec's inputs, as numpy arrays."""
    import torch
    with torch.no_grad():
        out = spec["module"](*spec["inputs"])
    return [t.numpy() for t in (out if isinstance(out, tuple) else (out,))]


def max_abs_diff(got, expected) -> float:
    import numpy as np
    return float(max(np.abs(a - b).max() for a, b in zip(got, expected)))


def shapes_match(got, expected) -> bool:
    return [list(a.shape) for a in got] == [list(b.shape) for b in expected]


def run_ort(model_bytes: bytes, spec):
    """The model's outputs in onnxruntime on the spec's inputs (None without onnxruntime)."""
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


def clean_metadata(model) -> None:
    """Drop what makes files large or machine-specific (stack traces with local paths, doc strings)."""
    import onnx

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


def strip(model, keep_value_info: bool = True):
    """The onnx wheel's own tool for its light models: every initializer (and Constant tensor) with more than
    THRESHOLD elements becomes an int64 `<name>__SHAPE` initializer holding its dims and a `ConstantOfShape`
    node producing the original name, whose fill value has the original dtype. value_constant_of_shape=1 keeps
    the exporter's own ConstantOfShape nodes as they are (any other value makes the tool rewrite their fill values
    too); weights are filled 0.5. The tool rebuilds the graph without the exporter's value_info (the static
    shapes of every intermediate tensor); keep_value_info puts them back, so the file says what the exporter
    said."""
    from onnx.tools.replace_constants import replace_initializer_by_constant_of_shape
    clean_metadata(model)
    stripped = replace_initializer_by_constant_of_shape(model, threshold=THRESHOLD, value_constant_of_shape=1)
    if keep_value_info:
        stripped.graph.value_info.extend(model.graph.value_info)
    return stripped


def strip_and_check(spec, model, target: Path) -> tuple:
    """Run the raw export in onnxruntime against PyTorch, strip it, check the stripped model (onnx.checker and
    strict shape inference: a failure raises), run it in onnxruntime and write it to target.
    Returns (stripped model, its bytes, the raw model's size, the "checks" record)."""
    import onnx
    raw_bytes = len(model.SerializeToString())
    expected = torch_outputs(spec)
    raw_out = run_ort(model.SerializeToString(), spec)
    stripped = strip(model)
    onnx.checker.check_model(stripped)
    onnx.shape_inference.infer_shapes(stripped, strict_mode=True)
    data = stripped.SerializeToString()
    stripped_out = run_ort(data, spec)
    target.write_bytes(data)
    checks = {
        "onnx.checker.check_model": "ok",
        "onnx.shape_inference.infer_shapes(strict_mode=True)": "ok",
        "onnxruntime_raw_max_abs_diff_vs_torch": None if raw_out is None else max_abs_diff(raw_out, expected),
        "onnxruntime_stripped_output_shapes_match": (None if stripped_out is None else
                                                     shapes_match(stripped_out, expected)),
    }
    return stripped, data, raw_bytes, checks


def file_fields(data: bytes, raw_bytes: int) -> dict:
    return {"bytes": len(data), "bytes_before_stripping": raw_bytes, "sha256": hashlib.sha256(data).hexdigest()}


def graph_facts(model) -> dict:
    import onnx

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


def unshaped_outputs(model, data_prop: bool = False) -> list[tuple]:
    """(node, output) for every node output whose shape ONNX shape inference (strict) leaves unknown or partly
    symbolic."""
    import onnx
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True, data_prop=data_prop)
    known = {v.name: v.type.tensor_type for v in [*inferred.graph.value_info, *inferred.graph.output]}
    return [(n, out) for n in inferred.graph.node for out in n.output
            if out and (out not in known or not known[out].HasField("shape")
                        or any(not d.HasField("dim_value") for d in known[out].shape.dim))]


def shape_inference_record(model, note: bool = True) -> dict:
    plain = [o for _, o in unshaped_outputs(model, False)]
    prop = [o for _, o in unshaped_outputs(model, True)]
    out = {"note": "node outputs left with an unknown or symbolic dim by onnx.shape_inference.infer_shapes("
                   "strict_mode=True), with and without data_prop (which folds Shape/Slice/Concat arithmetic)"
           } if note else {}
    out.update({"unknown": len(plain), "unknown_with_data_prop": len(prop), "examples_with_data_prop": prop[:4]})
    return out
