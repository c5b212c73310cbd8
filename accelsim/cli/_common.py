"""Helpers every subcommand shares: tables and loading workloads."""

from __future__ import annotations

import argparse
import sys

from ..specio import printable


def _width(text: str) -> int:
    """Columns ``text`` takes on a terminal (wide CJK characters count 2, combining marks 0)."""
    from wcwidth import wcswidth

    width = wcswidth(text)
    return width if width >= 0 else len(text)


def table(rows: list[list[str]], header: list[str], right: set[int]) -> str:
    """Align ``rows`` under ``header`` (columns in ``right`` right-aligned), by displayed width.

    Examples
    --------
    >>> print(table([["日本", "1"], ["ab", "10"]], ["name", "n"], {1}))
    name   n
    ----  --
    日本   1
    ab    10
    """
    cells = [[printable(str(c)) for c in r] for r in [header, *rows]]
    widths = [max(_width(r[i]) for r in cells) for i in range(len(header))]

    def fmt(r: list[str]) -> str:
        padded = [(" " * (w - _width(c)) + c) if i in right else (c + " " * (w - _width(c)))
                  for i, (c, w) in enumerate(zip(r, widths))]
        return "  ".join(padded).rstrip()

    return "\n".join([fmt(cells[0]), fmt(["-" * w for w in widths]), *map(fmt, cells[1:])])


def load_workload(args: argparse.Namespace):
    """The workload named on the command line; placeholder warnings go to stderr."""
    from ..workload import resolve_workload

    graph = resolve_workload(args.workload, lenient=args.lenient, batch=getattr(args, "batch", None),
                             dims=onnx_dims(args), routing=getattr(args, "routing", None),
                             constant_matmuls=getattr(args, "constant_matmuls", None))
    for warning in graph.meta.get("placeholders", []):
        warn(f"{warning}; imported as a zero-cost placeholder")
    for warning in graph.meta.get("assumptions", []):
        warn(warning)
    return graph


MAX_CLI_INT = 2**31 - 1  # fits every library a count is handed to (ONNX's int64 dims, numpy seeds)


def positive_int(text: str) -> int:
    """An argparse type: a positive integer (else a usage error)."""
    if not text.isdigit() or not 1 <= int(text) <= MAX_CLI_INT:
        raise argparse.ArgumentTypeError(f"must be a positive integer up to {MAX_CLI_INT:,}, not {text!r}")
    return int(text)


def name_of(what: str):
    """An argparse type for a name or a file path: refused when empty (``Path('')`` is the current folder).

    >>> name_of("an architecture")("sa32")
    'sa32'
    """
    def check(text: str) -> str:
        if not text.strip():
            raise argparse.ArgumentTypeError(f"an empty name: give {what}")
        return text

    check.__name__ = "name"
    return check


ARCH_NAME = name_of("a preset name or an architecture YAML file")
DATAFLOW_NAME = name_of("ws, os, is or a dataflow YAML file")
WORKLOAD_NAME = name_of("a bundled workload name, a workload YAML file or an ONNX model")
FILE_NAME = name_of("a file name")


def seed_int(text: str) -> int:
    """An argparse type: a random seed from 0 to 2**32 - 1 (numpy's seeds are non-negative)."""
    if not (text.isascii() and text.isdigit()) or int(text) > 2**32 - 1:
        raise argparse.ArgumentTypeError(f"must be an integer from 0 to {2**32 - 1}, not {text!r}")
    return int(text)


def positive_float(text: str) -> float:
    """An argparse type: a finite positive number, e.g. seconds (else a usage error)."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < float("inf") or value > MAX_CLI_INT:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds up to {MAX_CLI_INT:,}, not {text!r}")
    return value


def add_batch_option(parser: argparse.ArgumentParser) -> None:
    """``--batch N``, ``--seq N``, ``--dim NAME=N``: values of an ONNX model's symbolic dimensions."""
    parser.add_argument("--batch", type=positive_int,
                        help="ONNX: the batch size for a symbolic batch dimension (default: 1, with a warning)")
    parser.add_argument("--seq", type=positive_int,
                        help="ONNX: the sequence length for a symbolic axis 1 of token inputs (ids, masks)")
    parser.add_argument("--dim", action="append", type=_dim, metavar="NAME=N",
                        help="ONNX: the value of a named symbolic dimension (repeatable)")
    parser.add_argument("--routing", type=FILE_NAME, metavar="FILE",
                        help='ONNX mixture of experts: measured routing, JSON {"tokens_per_expert": [[n0, n1, ...], '
                             '...]} per MoE layer (default: balanced top-k, said in the report)')
    parser.add_argument("--constant-matmuls", choices=("compiled", "every-run"),
                        help="ONNX: a MatMul of constants only is computed once when the model is compiled "
                             "(default; its MACs said in the report) or runs every inference, as PyTorch runs it")


def _dim(text: str) -> tuple[str, int]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip() or not value.strip().isdigit() or not 1 <= int(value) <= MAX_CLI_INT:
        raise argparse.ArgumentTypeError(f"--dim must look like NAME=N with N a positive integer, not {text!r}")
    return name.strip(), int(value)


def onnx_dims(args: argparse.Namespace) -> dict[str, int] | None:
    """The symbolic-dimension values given on the command line (None if none)."""
    from ..errors import SpecError

    dims: dict[str, int] = {}
    for name, value in getattr(args, "dim", None) or []:
        if name in dims:
            raise SpecError(f"--dim {name} is given twice ({name}={dims[name]} and {name}={value}): give it once")
        dims[name] = value
    if getattr(args, "seq", None):
        if "seq" in dims:
            raise SpecError(f"--seq {args.seq} and --dim seq={dims['seq']} both set the sequence length: give one")
        dims["seq"] = args.seq
    return dims or None


def warn(message: str) -> None:
    """Print one ``accelsim: warning:`` line on stderr (escape sequences in user text shown, not run)."""
    print(printable(f"accelsim: warning: {message}".splitlines()[0]), file=sys.stderr)
