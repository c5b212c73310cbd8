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
    g.add_argument("--kernel-overhead-us", type=_nonneg_float, default=0.0, metavar="US",
                   help="fixed time per array operator (a kernel launch; default 0)")
    g.add_argument("--ideal-memory", action="store_true", help="no memory model: operands always on time")


def add_parser(sub) -> None:
    llm = sub.add_parser("llm", help="one LLM request shape: TTFT, TPOT, tokens/s, energy per token")
    llm.add_argument("model", type=MODEL_NAME, help="a bundled model (accelsim llm --list) or a config.json")
    llm.add_argument("--arch", default="tpuv4-chip", type=ARCH_NAME, help="a system or array preset, or YAML")
    llm.add_argument("--prompt", type=positive_int, default=512, help="prompt tokens")
    llm.add_argument("--generate", type=positive_int, default=128, help="tokens generated")
    llm.add_argument("--batch", type=positive_int, default=1, help="identical requests decoded together")
    llm.add_argument("--budget", type=positive_int, default=2048,
                     help="tokens per prefill step (max_num_batched_tokens)")
    _deployment_options(llm)
    llm.add_argument("--json", action="store_true", help="print one JSON object")
    llm.add_argument("-o", "--output", type=name_of("an output folder"), metavar="DIR",
                     help="write llm.json, decode.csv and tpot.png here")
    llm.add_argument("--force", action="store_true", help="overwrite files of an earlier run in -o")
    llm.set_defaults(func=_cmd_llm)
    add_serve_parser(sub)


def _tokens(text: str) -> int | tuple[int, int]:
    """``N`` or ``LOW-HIGH`` tokens."""
    low, _, high = text.partition("-")
    try:
        values = [int(low)] + ([int(high)] if high else [])
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be N or LOW-HIGH tokens, not {text!r}") from None
    if any(not 1 <= v <= 10**7 for v in values) or (len(values) == 2 and values[0] > values[1]):
        raise argparse.ArgumentTypeError(f"must be N or LOW-HIGH with 1 ≤ LOW ≤ HIGH ≤ 10,000,000, not {text!r}")
    return values[0] if len(values) == 1 else (values[0], values[1])


def _fraction(text: str) -> float:
    value = _positive_float(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], not {text!r}")
    return value


def _cmd_serve(args: argparse.Namespace) -> str:
    from ..arch.system import resolve_system
    from ..llm.cost import CostModel
    from ..llm.graph import KV_BLOCK
    from ..llm.hf import load_model
    from ..llm.run import kv_bytes_per_token, weight_bytes
    from ..serve import ServeConfig, simulate_serving
    from ..serve.trace import poisson_trace, read_trace

    if (args.trace is None) == (args.rate is None):
        raise SpecError("give a trace (--trace FILE.jsonl) or a Poisson rate (--rate R --requests N), not both")
    if args.output:
        from ..outputs import claim_files, output_folder

        folder = output_folder(args.output)
        if folder.exists():
            claim_files(folder, ("serve.json", "requests.csv", "serving.png"), force=args.force)
    model = load_model(args.model)
    system = resolve_system(args.arch)
    deployment = deployment_from(args, system)
    if args.trace is not None:
        requests = read_trace(args.trace)
    else:
        requests = poisson_trace(args.rate, args.requests, input_tokens=args.input_tokens,
                                 output_tokens=args.output_tokens, seed=args.seed)
    weights = weight_bytes(model, deployment, args.tp)
    capacity = int(system.dram.capacity_gib * 2**30)
    if not capacity:
        raise SpecError(f"{system.name} declares no DRAM capacity (dram.capacity_gib): the KV cache cannot be sized")
    block = KV_BLOCK * kv_bytes_per_token(model, deployment, args.tp)
    blocks = int((capacity - weights) * args.kv_utilization) // block
    if blocks < 1:
        raise SpecError(f"{model.name} does not fit {system.name}: weights take {weights / 2**30:.2f} GiB of "
                        f"{system.dram.capacity_gib:g} GiB, leaving no 16-token KV block (try --tp or fewer bits)")
    config = ServeConfig(kv_blocks=blocks, max_num_seqs=args.max_num_seqs,
                         max_num_batched_tokens=args.max_num_batched_tokens,
                         chunked_prefill=not args.no_chunked_prefill,
                         prefix_caching=args.prefix_caching, max_context=model.max_context,
                         ttft_slo_s=args.ttft_slo, tpot_slo_s=args.tpot_slo)
    overhead = round(args.kernel_overhead_us * system.clock_mhz)
    costs = CostModel(model, deployment, system, tp=args.tp, link=link_from(args), memory=not args.ideal_memory,
                      kernel_overhead_cycles=overhead)
    longest = max((r.input_tokens + r.output_tokens for r in requests), default=1)
    costs.prepare_decode(1, min(longest, model.max_context))
    result = simulate_serving(requests, costs, config)
    data = {"model": model.name, "system": system.name, "deployment": deployment.label(), "tp": args.tp,
            "weight_bytes_per_device": weights, "kv_block_bytes": block, **result.to_dict(),
            "assumptions": _serve_assumptions(args)}
    if args.output:
        _write_serving(args, result, data)
    if args.json:
        return json.dumps(data, indent=1)
    return describe_serving(data)


def _serve_assumptions(args: argparse.Namespace) -> list[str]:
    notes = [("step costs as in 'accelsim llm' (operators one after another, 16-token KV blocks, padded token "
              "counts)"), f"KV cache: {args.kv_utilization:g} of the DRAM left beside the weights"]
    if args.tp > 1:
        notes.append(f"tensor parallelism over {args.tp} devices: two ring all-reduces per layer (α-β)")
    return notes


def _write_serving(args: argparse.Namespace, result, data: dict[str, Any]) -> None:
    from pathlib import Path

    from ..atomic import atomic_write_text
    from ..llm.plots import serving_figure
    from ..outputs import made_folder

    folder = Path(args.output)
    with made_folder(folder):
        atomic_write_text(folder / "serve.json", json.dumps(data, indent=1) + "\n")
        atomic_write_text(folder / "requests.csv", result.requests_csv())
        serving_figure(result.series.to_dict(), folder / "serving.png", f"{data['model']} on {data['system']}")


def describe_serving(d: dict[str, Any]) -> str:
    """The human summary of a serving run."""
    lines = [f"{d['model']} on {d['system']} ({d['deployment']})"]
    for key, value in d.items():
        if key in ("model", "system", "deployment", "requests", "series", "config", "assumptions"):
            continue
        lines.append(f"  {key}: {json.dumps(value)}")
    lines += [f"  assumption: {a}" for a in d["assumptions"]]
    return "\n".join(lines)


def add_serve_parser(sub) -> None:
    serve = sub.add_parser("serve", help="a request trace through a continuous-batching scheduler (vLLM-like)")
    serve.add_argument("model", type=MODEL_NAME, help="a bundled model or a config.json")
    serve.add_argument("--arch", default="tpuv4-chip", type=ARCH_NAME, help="a system or array preset, or YAML")
    src = serve.add_argument_group("requests")
    src.add_argument("--trace", type=name_of("a JSONL trace file"), metavar="FILE.jsonl",
                     help="one request per line: arrival_s, input_tokens, output_tokens")
    src.add_argument("--rate", type=_positive_float, metavar="R", help="Poisson arrivals per second")
    src.add_argument("--requests", type=positive_int, default=1000, metavar="N", help="requests to generate")
    src.add_argument("--input-tokens", type=_tokens, default=(128, 1024), metavar="N|LOW-HIGH")
    src.add_argument("--output-tokens", type=_tokens, default=(32, 256), metavar="N|LOW-HIGH")
    src.add_argument("--seed", type=int, default=0)
    sched = serve.add_argument_group("scheduler (vLLM's names)")
    sched.add_argument("--max-num-seqs", type=positive_int, default=256)
    sched.add_argument("--max-num-batched-tokens", type=positive_int, default=2048)
    sched.add_argument("--kv-utilization", type=_fraction, default=0.9,
                       help="fraction of the DRAM beside the weights for the KV cache")
    sched.add_argument("--no-chunked-prefill", action="store_true")
    sched.add_argument("--prefix-caching", action="store_true")
    sched.add_argument("--ttft-slo", type=_positive_float, metavar="S", help="goodput: time-to-first-token limit")
    sched.add_argument("--tpot-slo", type=_positive_float, metavar="S", help="goodput: time-per-output-token limit")
    _deployment_options(serve)
    serve.add_argument("--json", action="store_true", help="print one JSON object")
    serve.add_argument("-o", "--output", type=name_of("an output folder"), metavar="DIR",
                       help="write serve.json, requests.csv and serving.png here")
    serve.add_argument("--force", action="store_true", help="overwrite files of an earlier run in -o")
    serve.set_defaults(func=_cmd_serve)
