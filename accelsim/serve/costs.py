"""What one serving step costs: the protocol the scheduler consumes, and a toy model for tests.

The scheduler only ever asks "what does a step with these prefill chunks and these decoding sequences
cost?". The real answer comes from :mod:`accelsim.llm` (closed forms in the KV length, memoised by shape);
:class:`ToyCosts` answers with a small exact formula so the scheduler can be tested by hand.

Examples
--------
>>> toy = ToyCosts(base=100, per_token=10, per_attended=1)
>>> toy.step([(4, 0)], [7])          # a 4-token chunk (1+2+3+4 pairs) and a decode at KV length 7 (8 pairs)
StepCost(cycles=168, energy_pj=5.0, dram_bytes=0)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class StepCost:
    """The cost of one batched step on the device.

    Parameters
    ----------
    cycles
        The step's time on the device, in cycles (a positive integer).
    energy_pj
        Energy of the step, in picojoules.
    dram_bytes
        DRAM traffic of the step (weights streamed once per step, the KV cache read and written).

    Examples
    --------
    >>> StepCost(1000).energy_pj
    0.0
    """

    cycles: int
    energy_pj: float = 0.0
    dram_bytes: int = 0


class StepCosts(Protocol):
    """The cost model the scheduler consumes.

    ``clock_mhz`` converts cycles to seconds. :meth:`step` prices one step: ``prefill`` holds one
    ``(chunk_tokens, tokens_already_in_cache)`` per sequence prefilled this step, ``decode`` the KV length
    (tokens already cached) of each sequence generating one token this step. It must be deterministic.

    Examples
    --------
    >>> costs: StepCosts = ToyCosts()
    >>> costs.step([], [100]).cycles > 0
    True
    """

    @property
    def clock_mhz(self) -> float: ...  # a property so that frozen dataclasses satisfy the protocol

    def step(self, prefill: Sequence[tuple[int, int]], decode: Sequence[int]) -> StepCost: ...


@dataclass(frozen=True)
class ToyCosts:
    """An exact toy cost: ``cycles = base + per_token · tokens + per_attended · pairs``.

    ``tokens`` counts every token computed in the step (prefill chunk tokens plus one per decoding
    sequence); ``pairs`` counts attended (query, key) pairs: a chunk of ``n`` tokens after ``m`` cached
    ones attends ``n·m + n(n+1)/2`` pairs, a decode at KV length ``L`` attends ``L + 1``. Pairs add up the
    same however a prompt is chunked, so a prompt alone on an idle device costs least in the fewest chunks.
    Energy is ``pj_per_token · tokens``; DRAM traffic is ``weight_bytes`` per step plus
    ``kv_bytes_per_token`` per attended key.

    Examples
    --------
    >>> ToyCosts(base=10, per_token=2, per_attended=0).step([(3, 0), (2, 5)], [0, 1]).cycles
    24
    """

    clock_mhz: float = 1000.0
    base: int = 2_000_000
    per_token: int = 20_000
    per_attended: int = 10
    pj_per_token: float = 1.0
    weight_bytes: int = 0
    kv_bytes_per_token: int = 0

    def step(self, prefill: Sequence[tuple[int, int]], decode: Sequence[int]) -> StepCost:
        """The cost of one step (see the class).

        Examples
        --------
        >>> ToyCosts(base=1, per_token=1, per_attended=1).step([(2, 1)], [])
        StepCost(cycles=8, energy_pj=2.0, dram_bytes=0)
        """
        tokens = len(decode) + sum(n for n, _ in prefill)
        pairs = sum(decode) + len(decode) + sum(n * m + n * (n + 1) // 2 for n, m in prefill)
        return StepCost(self.base + self.per_token * tokens + self.per_attended * pairs,
                        self.pj_per_token * tokens, self.weight_bytes + self.kv_bytes_per_token * pairs)
