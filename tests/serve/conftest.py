"""Shared helpers for the serving tests: a toy cost that records every step it prices."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from accelsim.serve import StepCost, ToyCosts

# one cycle is one microsecond: hand-computed cycle counts read as microseconds
HAND = ToyCosts(clock_mhz=1.0, base=100, per_token=10, per_attended=1)


@dataclass
class Recorder:
    """Wraps a cost model and records ``(prefill, decode, cycles)`` for each step it prices."""

    inner: ToyCosts = HAND
    calls: list[tuple[list[tuple[int, int]], list[int], int]] = field(default_factory=list)

    @property
    def clock_mhz(self) -> float:
        return self.inner.clock_mhz

    def step(self, prefill: Sequence[tuple[int, int]], decode: Sequence[int]) -> StepCost:
        cost = self.inner.step(prefill, decode)
        self.calls.append((list(prefill), list(decode), cost.cycles))
        return cost

    def shapes(self) -> list[tuple[list[tuple[int, int]], list[int]]]:
        return [(p, d) for p, d, _ in self.calls]


def cycles(costs: ToyCosts, prefill: list[tuple[int, int]], decode: list[int]) -> int:
    """One step's cycles."""
    return costs.step(prefill, decode).cycles
