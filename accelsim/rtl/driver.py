"""The testbench logic shared by the Amaranth-simulator bench and the cocotb bench.

Each cycle a bench asks :meth:`Driver.drive` what to put on the inputs, lets the logic settle,
reports the outputs with :meth:`Driver.sample`, and ticks the clock. The driver offers beats when the
stall pattern says the source is valid, counts beats taken (valid and ready), records every output
row taken with its cycle, and :meth:`Driver.mismatch` compares them with the reference engine.
"""

from __future__ import annotations

from dataclasses import dataclass

from .plan import BenchPlan


@dataclass
class Observed:
    cycle: int
    values: tuple[int, ...]


class Driver:
    def __init__(self, plan: BenchPlan):
        self.plan = plan
        self.loads_taken = 0
        self.streams_taken = 0
        self.observed: list[Observed] = []
        self._last: dict[str, object] = {}  # the inputs drive() gave for the cycle being sampled
        self.stationary = plan.dataflow.mode == "stationary"
        self.max_cycles = 2 * plan.expected.cycles + 64
        self.gated_count: int | None = None  # a zero-gated array's counter, read once the run is done

    @property
    def done(self) -> bool:
        return len(self.observed) >= len(self.plan.expected.events)

    def drive(self, t: int) -> dict[str, object]:
        """Input port values for cycle ``t``."""
        arch, stalls = self.plan.arch, self.plan.stalls
        ins: dict[str, object] = {"out_ready": int(stalls.active("out", t))}
        stream = self.plan.streams[self.streams_taken] if self.streams_taken < len(self.plan.streams) else None
        ins["stream_valid"] = int(stream is not None and stalls.active("stream", t))
        ins["stream_data"] = list(stream.left) if stream else [0] * (arch.rows * (arch.nm[1] if arch.nm else 1))
        ins["stream_mask"] = stream.mask if stream else 0
        ins["stream_last"] = int(stream.last) if stream else 0
        gate = arch.sparse == "gate"
        if self.stationary:
            load = self.plan.loads[self.loads_taken] if self.loads_taken < len(self.plan.loads) else None
            ins["load_valid"] = int(load is not None and stalls.active("load", t))
            ins["load_data"] = list(load.data) if load else [0] * arch.cols
            ins["load_last"] = int(load.last) if load else 0
            if gate:
                ins["load_mask"] = load.cols if load else 0
            if arch.nm is not None:
                ins["load_index"] = list(load.index) if load else [0] * arch.cols
        else:
            ins["stream_top"] = list(stream.top) if stream else [0] * arch.cols
            if gate:
                ins["stream_top_mask"] = stream.top_cols if stream else 0
        self._last = ins
        return ins

    def sample(self, t: int, *, stream_ready: int, out_valid: int, out_data: list[int],
               load_ready: int = 0) -> None:
        """Outputs of cycle ``t`` (after the inputs from :meth:`drive` settled)."""
        ins = self._last
        if ins["stream_valid"] and stream_ready:
            self.streams_taken += 1
        if self.stationary and ins["load_valid"] and load_ready:
            self.loads_taken += 1
        if out_valid and ins["out_ready"]:
            index = len(self.observed)
            events = self.plan.expected.events
            width = len(events[index].values) if index < len(events) else len(out_data)
            self.observed.append(Observed(t, tuple(int(v) for v in out_data[:width])))

    def mismatch(self) -> str | None:
        """The first difference from the reference engine's trace, or None."""
        expected = self.plan.expected.events
        for i, (e, o) in enumerate(zip(expected, self.observed)):
            if (e.cycle, e.values) != (o.cycle, o.values):
                return (f"output {i} (fold {e.fold}, row {e.row}): expected {list(e.values)} at cycle {e.cycle}, "
                        f"got {list(o.values)} at cycle {o.cycle}")
        if len(self.observed) < len(expected):
            e = expected[len(self.observed)]
            return (f"output {len(self.observed)} (fold {e.fold}, row {e.row}): expected {list(e.values)} at cycle "
                    f"{e.cycle}, got nothing by cycle {self.max_cycles}")
        if len(self.observed) > len(expected):
            o = self.observed[len(expected)]
            return f"unexpected output {list(o.values)} at cycle {o.cycle}"
        if self.plan.gated is not None and self.gated_count != self.plan.gated:
            return f"gated MAC events: expected {self.plan.gated}, the counter says {self.gated_count}"
        return None
