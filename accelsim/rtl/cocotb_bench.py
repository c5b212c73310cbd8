"""The cocotb testbench of the generated Verilog (run by :mod:`accelsim.rtl.cocotb_run`).

Driver, model and scoreboard are the shared :class:`~accelsim.rtl.driver.Driver`, the reference
engine and :meth:`Driver.mismatch`; this module only moves values between them and the simulator.
The job (config, dataflow, cases, seed, stall probability, folds per dimension) comes from the
JSON file named by ``ACCELSIM_BENCH``; the outcome is written to the ``result`` path inside it, and
a line per finished case to its ``progress`` path.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge

from accelsim.arch import ArrayConfig
from accelsim.mapping.dataflow import DataflowSpec
from accelsim.rtl.driver import Driver
from accelsim.rtl.plan import random_plan


def pack(values, width: int) -> int:
    """Elements into one flat vector, element 0 in the low bits (two's complement)."""
    mask = (1 << width) - 1
    return sum((int(v) & mask) << (i * width) for i, v in enumerate(values))


def unpack(word: int, count: int, width: int, signed: bool) -> list[int]:
    out = []
    for i in range(count):
        v = (word >> (i * width)) & ((1 << width) - 1)
        out.append(v - (1 << width) if signed and v >> (width - 1) else v)
    return out


@cocotb.test()
async def random_tiles(dut):
    job = json.loads(Path(os.environ["ACCELSIM_BENCH"]).read_text())
    arch = ArrayConfig.from_dict(job["arch"])
    dataflow = DataflowSpec.from_dict(job["dataflow"])
    widths = {p["name"]: p for p in job["ports"]}
    rng = np.random.default_rng(job["seed"])
    Clock(dut.clk, 10, unit="ns").start()
    stationary = dataflow.mode == "stationary"
    inputs = [p["name"] for p in job["ports"] if p["direction"] == "input" and p["name"] not in ("clk", "rst")]
    out_w = widths["out_data"]
    result: dict[str, Any] = {"cases": 0, "mismatches": 0, "cycles_checked": 0, "outputs_checked": 0,
                              "first_mismatch": None}
    start = time.perf_counter()
    for case in range(job["cases"]):
        plan = random_plan(rng, arch, dataflow, stall_p=job["stall_p"] if case % 4 else 0.0,
                           extremes=job.get("extremes", 0.25), max_folds=job.get("max_folds", 3),
                           zeros=job.get("zeros", 0.0), nm_structured=job.get("nm_structured", True))
        driver = Driver(plan)
        dut.rst.value = 1
        for name in inputs:
            getattr(dut, name).value = 0
        await RisingEdge(dut.clk)
        dut.rst.value = 0
        for t in range(driver.max_cycles):
            ins = driver.drive(t)
            for name, value in ins.items():
                port = widths[name]
                getattr(dut, name).value = pack(value, port["element_width"]) if "elements" in port else value
            await ReadOnly()
            out_valid = int(dut.out_valid.value)
            taken = out_valid and ins["out_ready"]  # out_data is read only when a row is taken (C values)
            driver.sample(t, stream_ready=int(dut.stream_ready.value),
                          load_ready=int(dut.load_ready.value) if stationary else 0, out_valid=out_valid,
                          out_data=unpack(dut.out_data.value.to_unsigned(), out_w["elements"], out_w["element_width"],
                                          out_w["signed"]) if taken else [])
            await RisingEdge(dut.clk)
            if driver.done:
                break
        if plan.gated is not None:  # the counter of gated MAC events, once every output has left
            driver.gated_count = dut.gated_count.value.to_unsigned()
            result["gated_checked"] = result.get("gated_checked", 0) + plan.gated
        result["cases"] += 1
        result["cycles_checked"] += t + 1
        result["outputs_checked"] += len(driver.observed)
        problem = driver.mismatch()
        if problem:
            result["mismatches"] += 1
            if result["first_mismatch"] is None:
                result["first_mismatch"] = f"case {case} ({plan.gemm}): {problem}"
        if job.get("progress"):
            with open(job["progress"], "a") as f:
                f.write(f"{case}\n")
    result["seconds"] = round(time.perf_counter() - start, 3)
    with open(job["result"], "w") as f:
        json.dump(result, f)
    assert result["mismatches"] == 0, result["first_mismatch"]
