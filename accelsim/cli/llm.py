"""``accelsim llm`` (one request shape) and ``accelsim serve`` (a trace through a continuous-batching scheduler)."""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import math
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ..errors import SpecError
from ..specio import printable
from ._common import ARCH_NAME, name_of, positive_int, seed_int

MODEL_NAME = name_of("a bundled model name or a Hugging Face config.json")
BITS = {4: "int4", 8: "int8"}


def _float_in(low: float, high: float, *, low_open: bool = False):
    """An argparse type: a number in ``[low, high]`` (``(low, high]`` if ``low_open``); refused, never clamped,
    outside it (a link of 1e-300 GB/s or a kernel launch of a billion years is a unit mistake)."""
    def check(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if not (low < value <= high if low_open else low <= value <= high):
            raise argparse.ArgumentTypeError(f"must be a number {'above' if low_open else 'from'} {low:g} to "
                                             f"{high:g}, not {text!r}")
        return value

    check.__name__ = "number"
    return check


POSITIVE = _float_in(0, 1e18, low_open=True)  # a rate, a time limit: above 0, finite
FRACTION = _float_in(0, 1, low_open=True)


def datapath_format(system) -> str:
    """The float format the system's datapath computes in, or ``int8`` for an integer datapath."""
    datapath = getattr(system.cores[0], "datapath", "int")
    return "int8" if datapath == "int" else datapath


def deployment_from(args: argparse.Namespace, system, *, check: bool = False):
    """Formats from the options; unset ones follow the datapath (its float format, or int8); ``16`` bits is
    the datapath's 16-bit float (fp16 where it has none). With ``check``, refused with one line naming the
    option when the system's cores cannot multiply them (:func:`check_deployment`; ``accelsim dse`` leaves
    that to each design point, whose cores its axes may change)."""
    from ..llm.quant import Deployment

    native = datapath_format(system)
    activations = args.activations or native
    given = {"activations": f"--activations {args.activations}" if args.activations else f"{native} activations "
             f"(the datapath's, the default)"}

    def role(fmt: str | None, bits: int | None, what: str) -> str:
        option = "--weight-bits" if what == "weights" else "--kv-bits"
        if fmt and bits:
            raise SpecError(f"give --{what} or {option}, not both")
        if bits == 16:  # the datapath's 16-bit float; an integer datapath has none
            if check and native == "int8":
                raise SpecError(f"{option} 16 means the datapath's 16-bit float, but {system.name} multiplies "
                                f"integers (datapath int): give {option} 8 or 4")
            given[what] = f"{option} 16"
            return native if native in ("fp16", "bf16") else "fp16"
        if bits:
            given[what] = f"{option} {bits}"
            return BITS[bits]
        given[what] = f"--{what} {fmt}" if fmt else given["activations"]
        return fmt or activations

    deployment = Deployment(weights=role(args.weights, args.weight_bits, "weights"), activations=activations,
                            kv=role(args.kv, args.kv_bits, "kv"), group=args.group, weight_nm=args.weight_nm or "")
    if check:
        check_deployment(deployment, system, given)
    return deployment


def check_deployment(deployment, system, given: dict[str, str] | None = None) -> None:
    """Refuse formats the system's cores cannot multiply, naming the option, before any work.

    An integer datapath multiplies integers: a float format there is refused (the array model would price
    it as an integer as wide as the datapath). A floating-point datapath runs a format whose every value
    it holds (``accelsim.precision.converts_exactly``: fp8 and int4 on bf16, not fp16 on bf16). 2:4 weights
    need N:M PEs that take them; without them the weights would be stored sparse but multiplied dense.
    """
    from ..precision import converts_exactly, parse_dtype

    given = given or {}
    roles = (("activations", deployment.activations), ("weights", deployment.weights), ("kv", deployment.kv))
    cores = system.cores
    for core in cores:
        datapath = core.datapath
        where = system.name if core.name == system.name else f"{system.name}'s {core.name}"
        for role, fmt in roles:
            dtype = parse_dtype(fmt)
            assert dtype is not None  # Deployment checked the names
            option = given.get(role, f"--{role} {fmt}")
            if datapath == "int" and dtype.is_float:
                choices = "int8" if role == "activations" else "int8 or int4"
                raise SpecError(f"{option} is a floating-point format, but {where} multiplies integers (datapath "
                                f"int): give {choices}, or a system with a float datapath")
            if datapath != "int" and not converts_exactly(dtype, datapath):
                raise SpecError(f"{option}: {where} multiplies {datapath}, which does not hold every {fmt} value "
                                f"(docs/precision.md): give a format it holds, e.g. {datapath}")
    if deployment.weight_nm:
        n, m = (int(x) for x in deployment.weight_nm.split(":"))
        lacking = [core for core in cores if core.nm is None or m % core.nm[1]
                   or core.nm[0] < n]
        if lacking:
            have = f"weight_nm '{lacking[0].weight_nm}'" if lacking[0].weight_nm else "no N:M PEs"
            where = system.name if lacking[0].name == system.name else f"{system.name}'s {lacking[0].name}"
            raise SpecError(f"--weight-nm {deployment.weight_nm} runs on N:M PEs that take {deployment.weight_nm} "
                            f"weights (an array with weight_nm: \"{deployment.weight_nm}\"), and {where} has "
                            f"{have}: its weights would be stored sparse but multiplied dense")


def link_from(args: argparse.Namespace):
    from ..llm.cost import Link

    if args.tp == 1 and args.pp == 1:
        return None
    return Link(bytes_per_s=args.link_gb_s * 1e9, latency_s=args.link_latency_us * 1e-6)


def _bits(text: str) -> int:
    if text not in ("4", "8", "16"):
        raise argparse.ArgumentTypeError(f"must be 4, 8 or 16, not {text!r}")
    return int(text)


def _interruptible(command: Callable[[argparse.Namespace], str]) -> Callable[[argparse.Namespace], str]:
    """A Ctrl-C that lands inside an import of a C extension or a class body comes out as the ImportError
    ("initialization failed") or RuntimeError ("Error calling __set_name__") it interrupted, with the
    KeyboardInterrupt as its cause: give it back as the interrupt it is (one line, exit 130)."""
    @functools.wraps(command)
    def run(args: argparse.Namespace) -> str:
        try:
            return command(args)
        except (ImportError, RuntimeError) as err:
            cause: BaseException | None = err
            for _ in range(20):  # (a chain can loop)
                if cause is None:
                    break
                if isinstance(cause, KeyboardInterrupt):
                    raise KeyboardInterrupt from None
                cause = cause.__cause__ or cause.__context__
            raise

    return run


@_interruptible
def _cmd_llm(args: argparse.Namespace) -> str:
    from ..arch.system import resolve_system
    from ..llm.hf import load_model
    from ..llm.run import run_llm

    if args.output:  # refuse an output that cannot be written before any work
        _claim(args)
    model = load_model(args.model)
    system = resolve_system(args.arch)
    deployment = deployment_from(args, system, check=True)
    overhead = round(args.kernel_overhead_us * system.clock_mhz)
    with _on(deployment, system):
        result = run_llm(model, system, deployment, prompt=args.prompt, generate=args.generate, batch=args.batch,
                         tp=args.tp, pp=args.pp, link=link_from(args), token_budget=args.budget,
                         kernel_overhead_cycles=overhead, memory=not args.ideal_memory)
    data = finite(result.to_dict())
    if args.output:
        _write(args, result, data)
    if args.json:
        return json.dumps(data, indent=1, allow_nan=False)
    return describe(data)


@contextlib.contextmanager
def _on(deployment, system) -> Iterator[None]:
    """A format the array refuses names the deployment and the system, not the memoised operator ('op')."""
    from ..errors import MappingError

    try:
        yield
    except MappingError as err:
        reason = str(err).removeprefix("layer 'op': ")
        raise MappingError(f"{deployment.label()} cannot run on {system.name}: {reason}") from None


def finite(value: Any) -> Any:
    """``value`` with every infinite or NaN float replaced by None, so that ``--json`` is valid JSON (e.g. the
    arithmetic intensity of a decode phase of no steps, ``--generate 1``, divides by zero DRAM bytes)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def _claim(args: argparse.Namespace) -> None:
    from ..outputs import claim_files, output_folder

    folder = output_folder(args.output)
    if folder.exists():
        claim_files(folder, ("llm.json", "decode.csv", "tpot.png"), force=args.force)


def write_outputs(folder: Path, writers: list[tuple[str, Callable[[Path], None]]]) -> None:
    """Write every output under a hidden temporary name, then rename them all into ``folder``: a run that
    fails or is interrupted (Ctrl-C, SIGTERM) on the way leaves none of them (and not the folder, if it made
    it), never a result without its figure or a new file beside an old run's."""
    from ..atomic import partial_name
    from ..outputs import made_folder

    with made_folder(folder):
        staged: list[Path] = []
        placed: list[Path] = []
        try:
            for name, write in writers:
                staged.append(partial_name(folder / name))
                write(staged[-1])
            for (name, _), temporary in zip(writers, staged, strict=True):
                os.replace(temporary, folder / name)
                placed.append(folder / name)
        except BaseException:
            for path in staged + placed:
                path.unlink(missing_ok=True)
            raise


def _text(text: str) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)

    return write


def _write(args: argparse.Namespace, result, data: dict[str, Any]) -> None:
    from ..llm.plots import tpot_figure

    rows = ["step,kv_tokens,cycles,seconds"]
    for i, cycles in enumerate(result.decode_cycles):
        rows.append(f"{i + 1},{result.prompt + i},{cycles},{result.seconds(cycles):.9g}")
    write_outputs(Path(args.output), [("llm.json", _text(json.dumps(data, indent=1, allow_nan=False) + "\n")),
                                      ("decode.csv", _text("\n".join(rows) + "\n")),
                                      ("tpot.png", lambda path: tpot_figure(result, path))])


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
        if not p["cycles"] or p["intensity_macs_per_byte"] is None:
            lines.append(f"  {name:<11} no steps" + (" (the prefill gives the one token generated)"
                                                     if name == "decode" else ""))
            continue
        lines.append(f"  {name:<11} {p['bound']}-bound: {p['intensity_macs_per_byte']:,.2f} MACs/B (ridge "
                     f"{p['ridge_macs_per_byte']:,.1f}), {p['fraction_of_roofline']:.1%} of its roofline")
    lines += [f"  assumption: {a}" for a in d["assumptions"]]
    return "\n".join(printable(line) for line in lines)


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
    g.add_argument("--pp", type=positive_int, default=1,
                   help="pipeline stages, one device each (capacity, not speed: docs/llm.md)")
    g.add_argument("--link-gb-s", type=_float_in(1e-3, 1e6), default=300.0, metavar="GB/s",
                   help="device link bandwidth per direction for --tp (default 300: NVLink 3)")
    g.add_argument("--link-latency-us", type=_float_in(0, 1e6), default=2.0, metavar="US",
                   help="per-step link latency for --tp's ring all-reduce (default 2)")
    g.add_argument("--kernel-overhead-us", type=_float_in(0, 1e6), default=0.0, metavar="US",
                   help="fixed time per array operator (a kernel launch; default 0)")
    g.add_argument("--ideal-memory", action="store_true", help="no memory model: operands always on time")


def _output_options(p: argparse.ArgumentParser, files: str) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("-o", "--output", type=name_of("an output folder"), metavar="DIR", help=f"write {files} here")
    p.add_argument("--force", action="store_true", help="overwrite files of an earlier run in -o")


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
    _output_options(llm, "llm.json, decode.csv and tpot.png")
    llm.set_defaults(func=_cmd_llm)
    add_serve_parser(sub)


def _tokens(text: str) -> int | tuple[int, int]:
    """``N`` or ``LOW-HIGH`` tokens."""
    low, dash, high = text.partition("-")
    try:
        values = [int(low)] + ([int(high)] if dash else [])
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be N or LOW-HIGH tokens, not {text!r}") from None
    if any(not 1 <= v <= 10**7 for v in values) or (len(values) == 2 and values[0] > values[1]):
        raise argparse.ArgumentTypeError(f"must be N or LOW-HIGH with 1 ≤ LOW ≤ HIGH ≤ 10,000,000, not {text!r}")
    return values[0] if len(values) == 1 else (values[0], values[1])


_CONFIG_OPTIONS = {"ServeConfig.max_num_seqs": "--max-num-seqs",
                   "ServeConfig.max_num_batched_tokens": "--max-num-batched-tokens",
                   "ServeConfig.ttft_slo_s": "--ttft-slo", "ServeConfig.tpot_slo_s": "--tpot-slo"}
_POISSON_OPTIONS = (("requests", "--requests", 1000), ("input_tokens", "--input-tokens", (128, 1024)),
                    ("output_tokens", "--output-tokens", (32, 256)), ("seed", "--seed", 0))


@_interruptible
def _cmd_serve(args: argparse.Namespace) -> str:
    from ..arch.system import resolve_system
    from ..llm.cost import CostModel
    from ..llm.graph import KV_BLOCK
    from ..llm.hf import load_model
    from ..llm.run import kv_bytes_per_token, kv_cache_blocks, weight_bytes
    from ..serve import ServeConfig, simulate_serving
    from ..serve.trace import poisson_trace, read_trace

    if (args.trace is None) == (args.rate is None):
        raise SpecError("give a trace (--trace FILE.jsonl) or a Poisson rate (--rate R --requests N), not both")
    for key, option, default in _POISSON_OPTIONS:  # options of the Poisson trace are not ignored beside a file
        if getattr(args, key) is None:
            setattr(args, key, default)
        elif args.trace is not None:
            raise SpecError(f"{option} shapes the Poisson requests of --rate; --trace {args.trace} gives its own")
    if args.output:
        from ..outputs import claim_files, output_folder

        folder = output_folder(args.output)
        if folder.exists():
            claim_files(folder, ("serve.json", "requests.csv", "serving.png"), force=args.force)
    model = load_model(args.model)
    system = resolve_system(args.arch)
    deployment = deployment_from(args, system, check=True)
    weights = weight_bytes(model, deployment, args.tp, args.pp)
    block = KV_BLOCK * kv_bytes_per_token(model, deployment, args.tp, args.pp)
    blocks = kv_cache_blocks(model, system, deployment, tp=args.tp, pp=args.pp, utilization=args.kv_utilization,
                             option="--kv-utilization")
    try:
        config = ServeConfig(kv_blocks=blocks, max_num_seqs=args.max_num_seqs,
                             max_num_batched_tokens=args.max_num_batched_tokens,
                             chunked_prefill=not args.no_chunked_prefill,
                             prefix_caching=args.prefix_caching, max_context=model.max_context,
                             ttft_slo_s=args.ttft_slo, tpot_slo_s=args.tpot_slo)
    except SpecError as err:
        raise _config_error(err, model, blocks) from None
    overhead = round(args.kernel_overhead_us * system.clock_mhz)
    costs = CostModel(model, deployment, system, tp=args.tp, pp=args.pp, link=link_from(args),
                      memory=not args.ideal_memory, kernel_overhead_cycles=overhead)  # refuses what does not divide
    if args.trace is not None:
        requests = read_trace(args.trace)
    else:
        requests = poisson_trace(args.rate, args.requests, input_tokens=args.input_tokens,
                                 output_tokens=args.output_tokens, seed=args.seed)
    # (the longest request the scheduler can admit: longer ones are rejected before any step)
    longest = max((r.input_tokens + r.output_tokens for r in requests
                   if r.input_tokens + r.output_tokens <= model.max_context), default=1)
    with _on(deployment, system):
        costs.prepare_decode(1, longest)
        result = simulate_serving(requests, costs, config)
    data = finite({"model": model.name, "system": system.name, "deployment": deployment.label(), "tp": args.tp,
                   "pp": args.pp, "weight_bytes_per_device": weights, "kv_block_bytes": block, **result.to_dict(),
                   "assumptions": _serve_assumptions(args)})
    if args.output:
        _write_serving(args, result, data)
    if args.json:
        return json.dumps(data, indent=1, allow_nan=False)
    rejected = result.rejected
    return describe_serving(data, f"'{rejected[0].request.id}': {rejected[0].rejected}" if rejected else "")


def _config_error(err: SpecError, model, blocks: int) -> SpecError:
    """A :class:`ServeConfig` refusal in the command line's words (its options, the model, the DRAM)."""
    message = err.message.replace("max_num_seqs", "--max-num-seqs")
    if err.path in _CONFIG_OPTIONS:
        return SpecError(f"{_CONFIG_OPTIONS[err.path]} {message}")
    if err.path == "ServeConfig.max_context":
        return SpecError(f"{model.name}'s context window (max_position_embeddings {model.max_context:,}) cannot "
                         "hold a request of one prompt and one output token")
    if err.path == "ServeConfig.kv_blocks":
        return SpecError(f"the KV cache would hold {blocks:,} blocks, more than the scheduler's 10**9: "
                         "lower --kv-utilization")
    return err


def _serve_assumptions(args: argparse.Namespace) -> list[str]:
    notes = [("step costs as in 'accelsim llm' (operators one after another, 16-token KV blocks, padded token "
              "counts)"), f"KV cache: {args.kv_utilization:g} of the DRAM left beside the weights"]
    if args.tp > 1:
        notes.append(f"tensor parallelism over {args.tp} devices: two ring all-reduces per layer (α-β)")
    if args.pp > 1:
        notes.append(f"pipeline parallelism over {args.pp} stages run one after another per step (no micro-batches "
                     "in flight)")
    return notes


def _write_serving(args: argparse.Namespace, result, data: dict[str, Any]) -> None:
    from ..llm.plots import serving_figure

    title = printable(f"{data['model']} on {data['system']}")

    def figure(path: Path) -> None:
        serving_figure(result.series, result.config.kv_blocks, path, title)

    write_outputs(Path(args.output), [("serve.json", _text(json.dumps(data, indent=1, allow_nan=False) + "\n")),
                                      ("requests.csv", _text(result.requests_csv())),
                                      ("serving.png", figure)])


def describe_serving(d: dict[str, Any], rejection: str = "") -> str:
    """The human summary of a serving run (``rejection``: the first rejected request's id and reason)."""
    n = d["requests"]
    lines = [f"{d['model']} on {d['system']} ({d['deployment']})",
             f"  requests: {n['total']:,} total, {n['finished']:,} finished, {n['rejected']:,} rejected"
             + (f" (first: {rejection})" if rejection else "")]
    for key, value in d.items():
        if key in ("model", "system", "deployment", "requests", "series", "config", "assumptions"):
            continue
        lines.append(f"  {key}: {json.dumps(value)}")
    lines += [f"  assumption: {a}" for a in d["assumptions"]]
    return "\n".join(printable(line) for line in lines)


def add_serve_parser(sub) -> None:
    serve = sub.add_parser("serve", help="a request trace through a continuous-batching scheduler (vLLM-like)")
    serve.add_argument("model", type=MODEL_NAME, help="a bundled model or a config.json")
    serve.add_argument("--arch", default="tpuv4-chip", type=ARCH_NAME, help="a system or array preset, or YAML")
    src = serve.add_argument_group("requests")
    src.add_argument("--trace", type=name_of("a JSONL trace file"), metavar="FILE.jsonl",
                     help="one request per line: arrival_s, input_tokens, output_tokens")
    src.add_argument("--rate", type=POSITIVE, metavar="R", help="Poisson arrivals per second")
    src.add_argument("--requests", type=positive_int, metavar="N", help="requests to generate (default 1000)")
    src.add_argument("--input-tokens", type=_tokens, metavar="N|LOW-HIGH", help="prompt tokens (default 128-1024)")
    src.add_argument("--output-tokens", type=_tokens, metavar="N|LOW-HIGH", help="output tokens (default 32-256)")
    src.add_argument("--seed", type=seed_int, help="of the Poisson requests (default 0)")
    sched = serve.add_argument_group("scheduler (vLLM's names)")
    sched.add_argument("--max-num-seqs", type=positive_int, default=256)
    sched.add_argument("--max-num-batched-tokens", type=positive_int, default=2048)
    sched.add_argument("--kv-utilization", type=FRACTION, default=0.9,
                       help="fraction of the DRAM beside the weights for the KV cache")
    sched.add_argument("--no-chunked-prefill", action="store_true")
    sched.add_argument("--prefix-caching", action="store_true")
    sched.add_argument("--ttft-slo", type=_float_in(0, 1e9, low_open=True), metavar="S",
                       help="goodput: time-to-first-token limit")
    sched.add_argument("--tpot-slo", type=_float_in(0, 1e9, low_open=True), metavar="S",
                       help="goodput: time-per-output-token limit")
    _deployment_options(serve)
    _output_options(serve, "serve.json, requests.csv and serving.png")
    serve.set_defaults(func=_cmd_serve)
