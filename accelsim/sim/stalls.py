"""Valid/ready stall patterns shared by the reference engine and the RTL testbenches.

A pattern says, for every clock cycle, whether the load and stream sources offer data (valid) and
whether the output sink takes it (ready). It is a pure function of (seed, port, cycle), so the
bench driving the RTL and the reference engine see the very same pattern.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

PORTS = ("load", "stream", "out")
_BLOCK = 4096
# A port stalled with probability p waits 1/(1 - p) cycles per transfer on average: 0.9 makes a case
# 10x longer, plenty of back-pressure; 0.999999 made three cases run for hours.
MAX_STALL_P = 0.9


def valid_stall_probability(p: object) -> bool:
    """Whether ``p`` is a stall probability the benches accept: a number in [0, MAX_STALL_P].

    Examples
    --------
    >>> [valid_stall_probability(p) for p in (0, 0.3, 0.9, 0.95, 1.0, float("nan"), True)]
    [True, True, True, False, False, False, False]
    """
    return isinstance(p, (int, float)) and not isinstance(p, bool) and 0 <= p <= MAX_STALL_P


@dataclass(frozen=True)
class Stalls:
    """Random stalls: each cycle a port is idle with probability ``p_<port>``.

    Examples
    --------
    >>> never = Stalls()
    >>> never.active("out", 123)
    True
    >>> s = Stalls(seed=1, p_stream=0.5)
    >>> [s.active("stream", t) for t in range(6)] == [s.active("stream", t) for t in range(6)]
    True
    """

    seed: int = 0
    p_load: float = 0.0
    p_stream: float = 0.0
    p_out: float = 0.0
    _cache: dict = field(default_factory=dict, compare=False, hash=False, repr=False)

    def active(self, port: str, cycle: int) -> bool:
        """Is ``port`` valid (load, stream) or ready (out) in ``cycle``?"""
        p = getattr(self, f"p_{port}")
        if p <= 0:
            return True
        block, offset = divmod(cycle, _BLOCK)
        key = (port, block)
        if key not in self._cache:
            rng = np.random.default_rng([self.seed, PORTS.index(port), block])
            self._cache[key] = rng.random(_BLOCK) >= p
        return bool(self._cache[key][offset])


NO_STALLS = Stalls()
