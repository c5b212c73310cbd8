"""Exact functions of a length, evaluated once per period: a step's cost as a closed form in the KV length.

A layer's cost on the array grows with a length ``n`` through its folds (``⌈n / tile⌉``), its traffic
(linear in ``n``) and their maxima; once the mapping stops changing, the cost is *periodic-linear*:
``f(n + P) = f(n) + D`` for every ``n`` past a start. :class:`Curve` finds such segments from exact
evaluations of ``f`` (three periods: two whole periods of equal differences), checks each one at its far
end, and bisects to where a segment stops holding (the mapping changed) to start the next. Inside a
segment ``f(n) = f(s + (n - s) mod P) + ⌊(n - s) / P⌋ · D``: generating 2,048 tokens evaluates a few
dozen lengths, not 2,048. Values are tuples of exact numbers (ints, Fractions), so the form is exact;
``tests/llm`` checks it against direct evaluation at random lengths.

Examples
--------
>>> calls = []
>>> def f(n):
...     calls.append(n)
...     return (100 + 7 * n + 3 * (-(-n // 4)),)  # fold-quantised, then linear
>>> c = Curve(f)
>>> c.prepare(1, 10_000)
>>> c(9_999), f(9_999), len(calls) < 60
((77593,), (77593,), True)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

Number = int | Fraction
Value = tuple[Number, ...]
PERIODS = (1, 2, 4, 8, 16, 32)  # tried in order; a fold's tile along the length (in KV blocks) divides one
DIRECT = 3 * PERIODS[-1]  # ranges this short are evaluated point by point


@dataclass(frozen=True)
class Segment:
    """``f(n) = f(start + (n - start) % period) + (n - start) // period · delta`` for start ≤ n ≤ end."""

    start: int
    end: int
    period: int
    delta: Value


class Curve:
    """``f`` on positive integers: exact evaluations memoised, and proven periodic-linear segments."""

    def __init__(self, f: Callable[[int], Value]):
        self.f = f
        self.exact: dict[int, Value] = {}
        self.segments: list[Segment] = []

    def evaluate(self, n: int) -> Value:
        """``f(n)`` exactly (memoised)."""
        if n not in self.exact:
            self.exact[n] = tuple(self.f(n))
        return self.exact[n]

    def __call__(self, n: int) -> Value:
        for seg in self.segments:
            if seg.start <= n <= seg.end:
                return self._formula(seg, n)
        return self.evaluate(n)

    @property
    def evaluations(self) -> int:
        return len(self.exact)

    def _formula(self, seg: Segment, n: int) -> Value:
        k, r = divmod(n - seg.start, seg.period)
        base = self.evaluate(seg.start + r)
        return tuple(b + k * d for b, d in zip(base, seg.delta))

    def _fit(self, start: int, end: int, period: int) -> Segment | None:
        """A periodic-linear segment of ``period`` from ``start``: two whole periods of equal differences."""
        if start + 3 * period - 1 > end:
            return None
        values = [self.evaluate(start + i) for i in range(3 * period)]
        delta = tuple(b - a for a, b in zip(values[0], values[period]))
        if all(tuple(b - a for a, b in zip(values[i], values[i + period])) == delta for i in range(2 * period)):
            return Segment(start, end, period, delta)
        return None

    def _holds_until(self, seg: Segment) -> int:
        """The last length up to ``seg.end`` the form holds at, checked at the far end and bisected from
        there (a form that holds at both ends of a stretch is taken to hold inside it)."""
        good, bad = seg.start + 3 * seg.period - 1, seg.end
        if self._formula(seg, bad) == self.evaluate(bad):
            return bad
        while bad - good > 1:
            mid = (good + bad) // 2
            if self._formula(seg, mid) == self.evaluate(mid):
                good = mid
            else:
                bad = mid
        return good

    def prepare(self, lo: int, hi: int) -> None:
        """Make every ``n`` in ``[lo, hi]`` exact: direct evaluation of short ranges, else segments each
        checked at its far end and cut where the check fails (the first length the form misses); of the
        periods that fit, the one that holds furthest is kept."""
        n = lo
        while n <= hi:
            if hi - n < DIRECT:
                for m in range(n, hi + 1):
                    self.evaluate(m)
                return
            best: Segment | None = None
            for period in PERIODS:
                seg = self._fit(n, hi, period)
                if seg is None:
                    continue
                seg = Segment(seg.start, self._holds_until(seg), seg.period, seg.delta)
                if best is None or seg.end > best.end:
                    best = seg
                if seg.end == hi:
                    break
            if best is None or best.end < n + 3 * best.period:  # not periodic here yet: this length exactly
                self.evaluate(n)
                n += 1
                continue
            self.segments.append(best)
            n = best.end + 1
