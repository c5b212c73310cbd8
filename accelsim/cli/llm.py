"""``accelsim llm`` (one request shape) and ``accelsim serve`` (a trace through a continuous-batching scheduler)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..errors import SpecError
from ._common import ARCH_NAME, name_of, positive_int

MODEL_NAME = name_of("a bundled model name or a Hugging Face config.json")
BITS = {4: "int4", 8: "int8"}


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive number, not {text!r}") from None
    if not 0 < value < 1e18:
        raise argparse.ArgumentTypeError(f"must be a positive finite number, not {text!r}")
    return value


def _nonneg_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number ≥ 0, not {text!r}") from None
    if not 0 <= value < 1e18:
        raise argparse.ArgumentTypeError(f"must be a finite number ≥ 0, not {text!r}")
    return value


def datapath_format(system) -> str:
    """The float format the system's datapath computes in, or ``int8`` for an integer datapath."""
    datapath = getattr(system.cores[0], "datapath", "int")
    return "int8" if datapath == "int" else datapath


def deployment_from(args: argparse.Namespace, system):
    """Formats from the options; unset ones follow the datapath (its float format, or int8)."""
    from ..llm.quant import Deployment

    native = datapath_format(system)
    activations = args.activations or ("fp16" if native.startswith("fp8") else native)

    def role(fmt: str | None, bits: int | None, what: str) -> str:
        if fmt and bits:
            raise SpecError(f"give --{what} or --{what.removesuffix('s')}-bits, not both")
        if bits:
            return BITS.get(bits) or activations if bits == 16 else BITS[bits]
        return fmt or activations

    return Deployment(weights=role(args.weights, args.weight_bits, "weights"), activations=activations,
                      kv=role(args.kv, args.kv_bits, "kv"), group=args.group, weight_nm=args.weight_nm or "")


def link_from(args: argparse.Namespace):
    from ..llm.cost import Link

    if args.tp == 1:
        return None
    return Link(bytes_per_s=args.link_gb_s * 1e9, latency_s=args.link_latency_us * 1e-6)


def _bits(text: str) -> int:
    if text not in ("4", "8", "16"):
        raise argparse.ArgumentTypeError(f"must be 4, 8 or 16, not {text!r}")
    return int(text)


def _cmd_llm(args: argparse.Namespace) -> str:
    from ..arch.system import resolve_system
    from ..llm.hf import load_model
    from ..llm.run import run_llm

    if args.output:  # refuse an output that cannot be written before any work
        _claim(args)
    model = load_model(args.model)
    system = resolve_system(args.arch)
    deployment = deployment_from(args, system)
    overhead = round(args.kernel_overhead_us * system.clock_mhz)
    result = run_llm(model, system, deployment, prompt=args.prompt, generate=args.generate, batch=args.batch,
                     tp=args.tp, link=link_from(args), token_budget=args.budget, kernel_overhead_cycles=overhead,
                     memory=not args.ideal_memory)
    data = result.to_dict()
    if args.output:
        _write(args, result, data)
    if args.json:
        return json.dumps(data, indent=1)
    return describe(data)


def _claim(args: argparse.Namespace) -> None:
    from ..outputs import claim_files, output_folder

    folder = output_folder(args.output)
    if folder.exists():
        claim_files(folder, ("llm.json", "decode.csv", "tpot.png"), force=args.force)


def _write(args: argparse.Namespace, result, data: dict[str, Any]) -> None:
    from pathlib import Path

    from ..atomic import atomic_write_text
    from ..outputs import made_folder

    folder = Path(args.output)
    with made_folder(folder):
        atomic_write_text(folder / "llm.json", json.dumps(data, indent=1) + "\n")
        rows = ["step,kv_tokens,cycles,seconds"]
        for i, cycles in enumerate(result.decode_cycles):
            rows.append(f"{i + 1},{result.prompt + i},{cycles},{result.seconds(cycles):.9g}")
        atomic_write_text(folder / "decode.csv", "\n".join(rows) + "\n")
        from ..llm.plots import tpot_figure

        tpot_figure(result, folder / "tpot.png")


def describe(d: dict[str, Any]) -> str:
    """The human summary of :meth:`LlmResult.to_dict`."""
    ms = 1e3
    lines = [(f"{d['model']} on {d['system']}  (prompt {d['prompt']:,}, generate {d['generate']:,}, batch {d['batch']}"
             f"{', tp ' + str(d['tp']) if d['tp'] > 1 else ''}; {d['deployment']})"),
             f"  TTFT        {d['ttft_s']['first'] * ms:,.2f} ms" + (
                 f" (last sequence {d['ttft_s']['last'] * ms:,.2f} ms)" if d["batch"] > 1 else ""),
             (f"  TPOT        mean {d['tpot_s']['mean'] * ms:,.3f} ms, p50 {d['tpot_s']['p50'] * ms:,.3f}, "
             f"p90 {d['tpot_s']['p90'] * ms:,.3f}, p99 {d['tpot_s']['p99'] * ms:,.3f}"),
             f"  end to end  {d['e2e_s'] * ms:,.1f} ms; {d['tokens_per_s']:,.1f} tokens/s"
             + (f" ({d['decode_tokens_per_s']:,.1f} while decoding)" if d["decode_tokens_per_s"] else ""),
             f"  energy      {d['energy_per_token_j'] * 1e3:,.2f} mJ/token; {d['average_power_w']:,.1f} W average"
             + (f"; {d['tokens_per_s_per_mm2']:,.4f} tokens/s/mm²" if d["tokens_per_s_per_mm2"] else ""),
             (f"  DRAM        {d['dram_bytes_per_token'] / 2**20:,.1f} MiB/token; KV cache "
             f"{d['kv_bytes_per_token']:,} B/token; weights {d['weight_bytes_per_device'] / 2**30:,.2f} GiB/device"),
             (f"  fits        batch ≤ {d['max_batch_at_context']:,} at {d['prompt'] + d['generate']:,} tokens; "
             f"context ≤ {d['max_context_at_batch']:,} at batch {d['batch']}")]
    for name in ("prefill", "decode"):
        p = d[name]
        lines.append(f"  {name:<11} {p['bound']}-bound: {p['intensity_macs_per_byte']:,.2f} MACs/B (ridge "
                     f"{p['ridge_macs_per_byte']:,.1f}), {p['fraction_of_roofline']:.1%} of its roofline")
    lines += [f"  assumption: {a}" for a in d["assumptions"]]
    return "\n".join(lines)


def _deployment_options(p: argparse.ArgumentParser) -> None:
    from ..llm.quant import ACTIVATION_FORMATS, KV_FORMATS, WEIGHT_FORMATS

    g = p.add_argument_group("deployment (docs/llm.md)")
    g.add_argument("--weights", choices=WEIGHT_FORMATS, help="weight format (default: the datapath's)")
    g.add_argument("--weight-bits", type=_bits, metavar="4|8|16", help="int4, int8 or the datapath's 16-bit float")
    g.add_argument("--activations", choices=ACTIVATION_FORMATS, help="activation format (default: the datapath's)")
    g.add_argument("--kv", choices=KV_FORMATS, help="KV-cache format (default: the activations')")
    g.add_argument("--kv-bits", type=_bits, metavar="4|8|16", help="int4, int8 or 16-bit float KV cache")
    g.add_argument("--group", type=positive_int, default=128, help="weights per fp16 scale (integer weights)")
    g.add_argument("--weight-nm", choices=("2:4",), help="2:4 structured-sparse weights (on N:M PEs)")
    g.add_argument("--tp", type=positive_int, default=1, help="tensor-parallel devices")
    g.add_argument("--link-gb-s", type=_positive_float, default=300.0, metavar="GB/s",
                   help="device link bandwidth per direction for --tp (default 300: NVLink 3)")
    g.add_argument("--link-latency-us", type=_nonneg_float, default=2.0, metavar="US",
                   help="per-step link latency for --tp's ring all-reduce (default 2)")
    g.add_argument("--budget", type=positive_int, default=2048, help="tokens per step (max_num_batched_tokens)")
    g.add_argument("--kernel-overhead-us", type=_nonneg_float, default=0.0, metavar="US",
                   help="fixed time per array operator (a kernel launch; default 0)")
    g.add_argument("--ideal-memory", action="store_true", help="no memory model: operands always on time")


def add_parser(sub) -> None:
    llm = sub.add_parser("llm", help="one LLM request shape: TTFT, TPOT, tokens/s, energy per token")
    llm.add_argument("model", type=MODEL_NAME, help="a bundled model (accelsim llm --list) or a config.json")
    llm.add_argument("--arch", default="tpuv4-tc", type=ARCH_NAME, help="a system or array preset, or YAML")
    llm.add_argument("--prompt", type=positive_int, default=512, help="prompt tokens")
    llm.add_argument("--generate", type=positive_int, default=128, help="tokens generated")
    llm.add_argument("--batch", type=positive_int, default=1, help="identical requests decoded together")
    _deployment_options(llm)
    llm.add_argument("--json", action="store_true", help="print one JSON object")
    llm.add_argument("-o", "--output", type=name_of("an output folder"), metavar="DIR",
                     help="write llm.json, decode.csv and tpot.png here")
    llm.add_argument("--force", action="store_true", help="overwrite files of an earlier run in -o")
    llm.set_defaults(func=_cmd_llm)
