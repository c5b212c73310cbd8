"""The ``accelsim`` command line. ``main(argv)`` returns the exit status (tests call it in-process)."""

from __future__ import annotations

import argparse
import signal
import sys
import warnings
from collections.abc import Sequence
from typing import NoReturn

from ..errors import AccelsimError
from . import arch, hdl, scalesim, simulate, workload


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors are one ``accelsim: error:`` line (exit 2), not a
    usage block: every subcommand's parser is one of these (``add_subparsers`` reuses the class)."""

    def error(self, message: str) -> NoReturn:
        from ..specio import printable

        line = printable(f"accelsim: error: {message} (see '{self.prog} --help')".splitlines()[0])
        self.exit(2, line + "\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="accelsim", description="Cycle-level systolic-array simulator.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    for module in (simulate, workload, arch, scalesim, hdl):
        module.add_parser(sub)
    __import__(f"{__name__}.compress", fromlist=["add_parser"]).add_parser(sub)  # accelsim compress
    __import__(f"{__name__}.dse", fromlist=["add_parser"]).add_parser(sub)  # accelsim dse
    __import__(f"{__name__}.llm", fromlist=["add_parser"]).add_parser(sub)  # accelsim llm, accelsim serve
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return 0 on success, 1 on a user error (one line on stderr), 2 on bad usage.

    Ctrl-C (and SIGTERM, see :func:`run`) prints one line and returns 130; the work it interrupted
    unwinds normally, so child processes and temporary files are cleaned up on the way out.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    try:
        text = args.func(args)
    except AccelsimError as err:
        return _fail(str(err))
    except KeyboardInterrupt as err:
        warnings.simplefilter("ignore")  # e.g. Amaranth's UnusedElaboratable for a half-built design
        notes = getattr(err, "__notes__", None)  # what the interrupted work left, e.g. dse's complete files
        return _fail("interrupted" + (f" {notes[-1]}" if notes else ""), code=130)
    except OSError as err:  # a file system refusal (permissions, disk full, ...) is the user's to fix
        where = f"{err.filename}: " if err.filename else ""
        return _fail(f"{where}{err.strerror or err}")
    try:
        print(text)
        sys.stdout.flush()
    except BrokenPipeError:  # e.g. `accelsim simulate resnet50 | head`
        sys.stdout = None
    return 0


def _fail(message: str, code: int = 1) -> int:
    from ..specio import printable

    print(printable(f"accelsim: error: {message}".splitlines()[0]), file=sys.stderr)
    return code


def _terminate(signum, frame) -> None:
    raise KeyboardInterrupt


def run() -> None:  # pragma: no cover - the console-script entry point
    signal.signal(signal.SIGTERM, _terminate)  # unwind like Ctrl-C so children are ended
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # a second Ctrl-C during clean-up
        print("accelsim: error: interrupted", file=sys.stderr)
        sys.exit(130)
