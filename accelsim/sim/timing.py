"""The one definition of the array's timing: cycle formulas per fold, and the vector unit.

Derivations are in ``docs/timing.md``; symbols: array ``R×C``; a fold uses ``Rt×Ct`` PEs and
streams ``T`` steps; ``s`` is the cycle its first element enters, ``e = s + T``.

Stationary mode (WS, IS; K on the rows)::

    load  l_f = max(l_{f-1} + Rt_{f-1},  free_f)          one load port; a bank is reloaded only
    free_f    = e_{f-B} + Rt_{f-B} + C - 3  (0 if f < B)   once its last token has left the array
    s_f       = max(e_{f-1}, l_f + Rt_f)                  B = 2 if double_buffered else 1
    total     = e_last + R + C - 1                        last output row + 1

Bit-serial PEs take every streamed step in ``b`` cycles (the left operand's bits), so each fold's
``T`` becomes ``T·b`` (:attr:`Mapping.serial_bits`); N:M weights, Bit Fusion packing and
zero-skipping shorten the reduction the folds cover (:attr:`Mapping.reduction`). The recursions
below are unchanged.

Output mode (OS; K temporal)::

    e_f = e_{f-1} + max(T_f, 2·Rt_{f-1} - 1)              double buffered: the last step is held so
                                                          the drain chain never collides
    s_f = e_{f-1} + 2·Rt_{f-1} + C - 2                    single: wait for the drain chain to empty
    total = e_last + 2·Rt_last + C - 2

The recursions are translation invariant, so a run of identical folds (or of identical blocks of
folds) becomes periodic; :meth:`Timeline.play` detects the period exactly and jumps over it,
which keeps whole networks on small arrays fast.
"""

from __future__ import annotations

from collections import deque

from ..arch import ArrayConfig
from ..mapping.mapping import Fold, FoldSeq, Mapping
from ..workload.layer import Layer


def os_last_beat_earliest(prev_end, prev_rows):
    """Earliest enabled cycle at which an OS fold may take its last step.

    A fold's finished outputs drain up a shift chain two cycles per row; the next fold's
    completion wavefront must trail by ``2·Rt − 1`` cycles or a capture would overwrite an output
    still in the chain, so the controller holds the last step until then. ``prev_end`` is the end
    (last step + 1) of the previous fold, ``prev_rows`` its rows; with no previous fold (0, 0) the
    bound is below any cycle. Works on ints and on Amaranth values (the RTL builds this comparator).
    """
    return prev_end + 2 * prev_rows - 2


class Timeline:
    """The schedule of a sequence of folds on one array; ``total`` is the cycle count so far."""

    def __init__(self, arch: ArrayConfig):
        self.arch = arch
        self.total = 0
        self.folds = 0
        self.stream_steps = 0

    def fold(self, fold: Fold) -> None:
        raise NotImplementedError

    def _state(self) -> tuple[int, ...]:
        raise NotImplementedError

    def _translate(self, delta: int) -> None:
        raise NotImplementedError

    def play(self, seq: FoldSeq, times: int = 1) -> None:
        """Run ``seq`` ``times`` times, jumping over whole periods once the schedule repeats."""
        seen: dict[tuple[int, ...], tuple[int, int, int, int]] = {}
        rep = 0
        while rep < times:
            ref = self._state()[0]
            key = tuple(v - ref for v in self._state())
            if key in seen:
                prev_rep, prev_ref, prev_folds, prev_steps = seen.pop(key)
                period = rep - prev_rep
                jumps = (times - rep) // period
                self._translate(jumps * (ref - prev_ref))
                self.folds += jumps * (self.folds - prev_folds)
                self.stream_steps += jumps * (self.stream_steps - prev_steps)
                rep += jumps * period
                seen.clear()
                if rep >= times:
                    break
            else:
                seen[key] = (rep, ref, self.folds, self.stream_steps)
            for item, count in seq:
                if isinstance(item, Fold) and count == 1:
                    self.fold(item)
                else:
                    self.play([(item, 1)] if isinstance(item, Fold) else item, count)
            rep += 1


class StationaryTimeline(Timeline):
    """WS/IS: stationary tiles are shifted in row by row; inputs stream through the rows."""

    def __init__(self, arch: ArrayConfig):
        super().__init__(arch)
        self.stream_free = 0  # e of the previous fold
        self.load_free = 0  # when the (single) load port is next idle
        self.bank_free: deque[int] = deque([0] * arch.stationary_banks)

    def fold(self, fold: Fold) -> None:
        load = max(self.load_free, self.bank_free.popleft())
        self.load_free = load + fold.rows
        start = max(self.stream_free, self.load_free)
        self.stream_free = start + fold.steps
        self.bank_free.append(self.stream_free + fold.rows + self.arch.cols - 3)
        self.total = self.stream_free + self.arch.rows + self.arch.cols - 1
        self.folds += 1
        self.stream_steps += fold.steps

    def _state(self) -> tuple[int, ...]:
        return (self.stream_free, self.load_free, self.total, *self.bank_free)

    def _translate(self, delta: int) -> None:
        self.stream_free += delta
        self.load_free += delta
        self.total += delta
        self.bank_free = deque(v + delta for v in self.bank_free)


class OutputTimeline(Timeline):
    """OS: each PE accumulates one output; results drain up a per-column shift chain."""

    def __init__(self, arch: ArrayConfig):
        super().__init__(arch)
        self.stream_free = 0
        self.prev_rows = 0

    def fold(self, fold: Fold) -> None:
        if self.arch.double_buffered:
            end = max(self.stream_free + fold.steps, os_last_beat_earliest(self.stream_free, self.prev_rows) + 1)
        else:  # the accumulators are the drain chain: start once it is empty
            wait = 2 * self.prev_rows + self.arch.cols - 2 if self.prev_rows else 0
            end = self.stream_free + wait + fold.steps
        self.stream_free = end
        self.prev_rows = fold.rows
        self.total = self.stream_free + 2 * fold.rows + self.arch.cols - 2
        self.folds += 1
        self.stream_steps += fold.steps

    def _state(self) -> tuple[int, ...]:
        return (self.stream_free, self.total, self.prev_rows + self.stream_free)

    def _translate(self, delta: int) -> None:
        self.stream_free += delta
        self.total += delta


def timeline_for(mapping: Mapping) -> Timeline:
    """A fresh timeline of the right kind for a mapping's dataflow."""
    kind = OutputTimeline if mapping.dataflow.mode == "output" else StationaryTimeline
    return kind(mapping.arch)


def gemm_timeline(mapping: Mapping) -> Timeline:
    """Play all folds of a mapped GEMM (ideal memory) and return the finished timeline.

    Examples
    --------
    >>> from accelsim.arch import ArrayConfig
    >>> from accelsim.mapping import load_dataflow
    >>> from accelsim.workload import GemmView
    >>> arch = ArrayConfig(rows=4, cols=4, double_buffered=False)
    >>> gemm_timeline(Mapping(GemmView(M=10, N=4, K=4), load_dataflow("ws"), arch)).total
    21
    """
    timeline = timeline_for(mapping)
    timeline.play(*mapping.play_sequence())
    return timeline


def vector_cycles(layer: Layer, arch: ArrayConfig) -> int:
    """Cycles of a non-GEMM layer on a vector unit of ``arch.lanes`` lanes (one op/lane/cycle)."""
    return -(-layer.vector_ops // arch.lanes)  # integer ceiling: exact for any size
