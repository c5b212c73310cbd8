"""`accelsim compress MODEL.onnx|weights.npz --prune 2:4|0.5 --quantize int4 -o DIR`: compressed tensors + report.

Writes ``DIR/weights.npz`` (``<layer>.weight``: integers after ``--quantize``, else the pruned floats;
``<layer>.weight.scale``, ``.zero_point`` and ``.dtype`` (the format's name) when quantized;
``<layer>.input`` of an ``.npz`` input passed through unchanged) and ``DIR/report.csv`` +
``DIR/report.json`` with one row per layer.
Nothing is overwritten without ``--force``.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
from pathlib import Path

from ._common import FILE_NAME, table

OUTPUTS = ("weights.npz", "report.csv", "report.json")
COLUMNS = ("layer", "shape", "params", "density_before", "density_after", "structure", "dtype",
           "sqnr_prune_db", "sqnr_quantize_db", "sqnr_total_db")


def parse_prune(text: str | None):
    """``(n, m)`` for ``"N:M"``, a density for a number in [0, 1], None for None; else a SpecError."""
    from ..errors import SpecError
    from ..sparsity import parse_nm

    if text is None:
        return None
    if ":" in text:
        nm = parse_nm(text)
        if nm is None:
            raise SpecError(f"--prune must be N:M with 0 < N < M ≤ 16 or a density from 0 to 1, not '{text}'")
        return nm
    try:
        density = float(text)
    except ValueError:
        density = math.nan
    if not 0.0 <= density <= 1.0:
        raise SpecError(f"--prune must be N:M with 0 < N < M ≤ 16 or a density from 0 to 1, not '{text}'")
    return density


def read_weights(path: str, *, lenient: bool = False) -> tuple[dict, dict]:
    """``({layer: weight}, {key: array passed through})`` from an ONNX model or a tensor ``.npz``."""
    from ..errors import SpecError, UnsupportedError
    from ..tensors import read_npz, split_key

    suffix = Path(path).suffix.lower()
    if suffix == ".onnx":
        from ..workload.onnx_import import onnx_weights

        weights = onnx_weights(path, lenient=lenient)
        if not weights:
            raise SpecError("has no conv or linear layer with constant weights (initializers or Constant nodes; "
                            "a --lenient placeholder has none): nothing to compress", file=path)
        return weights, {}
    if suffix != ".npz":
        raise UnsupportedError(f"{path}: unknown file type '{suffix or Path(path).name}'; compress reads "
                               "an ONNX model (.onnx) or a tensor file (.npz)")
    weights, passed = {}, {}
    for key, array in read_npz(path).items():
        split = split_key(key)
        if split is None or split[1] not in ("weight", "input"):
            raise SpecError(f"`{key}` is not '<layer>.weight' or '<layer>.input' (compress reads float weights, "
                            "not an already quantized file)", file=path)
        if split[1] == "weight":
            weights[split[0]] = array
        else:
            passed[key] = array
    if not weights:
        raise SpecError("holds no '<layer>.weight' arrays", file=path)
    return weights, passed


def compress_weights(weights: dict, prune, scope: str, dtype: str | None, *, symmetric: bool,
                     per_channel: bool) -> tuple[dict, list[dict]]:
    """Prune then quantize every weight; return the arrays to write and one report row per layer."""
    import numpy as np

    from ..compress import density_of, dequantize, prune_global, prune_magnitude, prune_nm, quantize, sqnr_db

    if isinstance(prune, tuple):
        pruned = {name: prune_nm(w, *prune) for name, w in weights.items()}
        structure = f"{prune[0]}:{prune[1]}"
    elif prune is not None:
        pruned = (prune_global(weights, prune) if scope == "global"
                  else {name: prune_magnitude(w, prune, scope=scope) for name, w in weights.items()})
        structure = "unstructured"
    else:
        pruned, structure = dict(weights), "dense"
    out: dict[str, np.ndarray] = {}
    rows: list[dict] = []
    for name, w in weights.items():
        p = pruned[name]
        row = {"layer": name, "shape": "x".join(map(str, w.shape)), "params": int(w.size),
               "density_before": density_of(w), "structure": structure,
               "sqnr_prune_db": sqnr_db(w, p) if prune is not None else None, "sqnr_quantize_db": None}
        if dtype is not None:
            q = quantize(p, dtype, symmetric=symmetric, per_channel=per_channel)
            final = dequantize(q)
            row["sqnr_quantize_db"] = sqnr_db(w, dequantize(quantize(w, dtype, symmetric=symmetric,
                                                                     per_channel=per_channel)))
            out |= {f"{name}.weight": q.values, f"{name}.weight.scale": q.scale,
                    f"{name}.weight.zero_point": q.zero_point,
                    f"{name}.weight.dtype": np.array(q.dtype)}  # the format: `simulate --tensors` runs it
            row["dtype"] = q.dtype
        else:
            final = p
            out[f"{name}.weight"] = p
            row["dtype"] = str(np.asarray(w).dtype)
        row["density_after"] = density_of(final)
        row["sqnr_total_db"] = sqnr_db(w, final)
        rows.append({c: row[c] for c in COLUMNS})
    return out, rows


def _number(value, digits: int = 6):
    if value is None:
        return None
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return round(value, digits) if isinstance(value, float) else value


def _csv(rows: list[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow(["" if row[c] is None else _number(row[c]) for c in COLUMNS])
    return buffer.getvalue()


def _cmd_compress(args: argparse.Namespace) -> str:
    from ..atomic import atomic_write_text
    from ..compress.quantize import MAX_BITS
    from ..errors import SpecError
    from ..outputs import claim_files, made_folder, output_folder
    from ..precision import parse_dtype
    from ..tensors import save_tensors

    prune = parse_prune(args.prune)
    dtype = parse_dtype(args.quantize) if args.quantize is not None else None
    if args.quantize is not None and (dtype is None or (not dtype.is_float and dtype.bits > MAX_BITS)):
        raise SpecError(f"--quantize must be an integer type (int1..int16, uint1..uint16), not '{args.quantize}'")
    if prune is None and args.quantize is None:
        raise SpecError("nothing to do: give --prune and/or --quantize")
    for option, given in (("--asymmetric", args.asymmetric), ("--per-channel", args.per_channel)):
        if given and args.quantize is None:
            raise SpecError(f"{option} applies to quantization: give --quantize TYPE too")
    if args.prune_scope is not None and prune is None:
        raise SpecError(f"--prune-scope {args.prune_scope} applies to pruning to a density: give --prune DENSITY too")
    if args.prune_scope is not None and isinstance(prune, tuple):
        raise SpecError(f"--prune-scope {args.prune_scope} applies to a density; N:M keeps N of every M in each "
                        "layer's reduction")
    scope = args.prune_scope or "tensor"
    folder = output_folder(args.output)
    claim_files(folder, OUTPUTS, force=args.force)  # refuse before any work
    weights, passed = read_weights(args.model, lenient=args.lenient)
    tensors, rows = compress_weights(weights, prune, scope, args.quantize,
                                     symmetric=not args.asymmetric, per_channel=args.per_channel)
    params = sum(r["params"] for r in rows)
    before = sum(r["density_before"] * r["params"] for r in rows) / params if params else 1.0
    after = sum(r["density_after"] * r["params"] for r in rows) / params if params else 1.0
    report = {"version": 1, "source": Path(args.model).name, "prune": args.prune,
              "prune_scope": scope if args.prune and ":" not in args.prune else None,
              "quantize": args.quantize, "symmetric": not args.asymmetric if args.quantize else None,
              "per_channel": args.per_channel if args.quantize else None,
              "totals": {"layers": len(rows), "params": params, "density_before": round(before, 6),
                         "density_after": round(after, 6)},
              "layers": [{k: _number(v) for k, v in r.items()} for r in rows]}
    written = []
    # each file appears whole (renamed when complete); an interrupted run leaves none of them, nor
    # the folder when this run created it
    with made_folder(folder):
        try:
            save_tensors(folder / "weights.npz", tensors | passed)
            written.append(folder / "weights.npz")
            atomic_write_text(folder / "report.csv", _csv(rows))
            written.append(folder / "report.csv")
            atomic_write_text(folder / "report.json", json.dumps(report, indent=1) + "\n")
        except BaseException:
            for path in written:
                path.unlink(missing_ok=True)
            raise

    def db(v):
        return "" if v is None else ("inf" if v == math.inf else f"{v:.1f}")

    lines = [[r["layer"], r["shape"], f"{r['density_before']:.3f}", f"{r['density_after']:.3f}", r["structure"],
              r["dtype"], db(r["sqnr_prune_db"]), db(r["sqnr_quantize_db"]), db(r["sqnr_total_db"])] for r in rows]
    header = ["layer", "shape", "density", "after", "structure", "dtype", "SQNR prune dB", "SQNR quant dB",
              "SQNR dB"]
    return "\n".join([table(lines, header, {2, 3, 6, 7, 8}), "",
                      (f"{len(rows)} layers, {params:,} weights, density {before:.3f} -> {after:.3f}; "
                       f"wrote {folder / 'weights.npz'}, report.csv, report.json")])


def add_parser(sub) -> None:
    """Register the subcommand on the top-level parser's subparsers."""
    cp = sub.add_parser("compress", help="prune and quantize a model's weights; write them and a per-layer report")
    cp.add_argument("model", type=FILE_NAME,
                    help="an ONNX model (.onnx) or a tensor file (.npz, keys '<layer>.weight')")
    cp.add_argument("--prune", metavar="N:M|DENSITY",
                    help="keep N of every M weights along the reduction (e.g. 2:4), or a density (e.g. 0.5)")
    cp.add_argument("--prune-scope", choices=["tensor", "channel", "global"],
                    help="for a density: rank each tensor (default), each output channel, or all layers at once")
    cp.add_argument("--quantize", metavar="TYPE", help="integer type: int1..int16, uint1..uint16 (e.g. int4)")
    cp.add_argument("--asymmetric", action="store_true", help="asymmetric quantization (a zero point)")
    cp.add_argument("--per-channel", action="store_true", help="one scale per output channel")
    cp.add_argument("-o", "--output", required=True, help="the folder to write weights.npz and the reports into")
    cp.add_argument("--force", action="store_true", help="overwrite existing files")
    cp.add_argument("--lenient", action="store_true", help="ONNX: import unsupported ops as placeholders")
    cp.set_defaults(func=_cmd_compress)
