"""Run a bench plan on the generated array in Amaranth's own simulator (no Verilog, no Icarus)."""

from __future__ import annotations

from amaranth.sim import Simulator

from .array import SystolicArray
from .driver import Driver
from .plan import BenchPlan


def simulate_plan(plan: BenchPlan, dut: SystolicArray | None = None) -> Driver:
    """Drive ``plan`` into the array cycle by cycle; the returned driver holds what came out."""
    dut = dut or SystolicArray(plan.arch, plan.dataflow)
    driver = Driver(plan)
    stationary = plan.dataflow.mode == "stationary"
    cols = plan.arch.cols

    async def bench(ctx):
        for t in range(driver.max_cycles):
            for name, value in driver.drive(t).items():
                ctx.set(getattr(dut, name), value)
            driver.sample(t, stream_ready=ctx.get(dut.stream_ready), out_valid=ctx.get(dut.out_valid),
                          out_data=[ctx.get(dut.out_data[c]) for c in range(cols)],
                          load_ready=ctx.get(dut.load_ready) if stationary else 0)
            if driver.done:
                break
            await ctx.tick()
        if plan.gated is not None:
            driver.gated_count = ctx.get(dut.gated_count)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return driver
