"""SCALE-Sim's SRAM buffer conventions, computed event by event instead of word by word.

SCALE-Sim walks every requested word through Python sets; the counts and cycles it reports depend
only on a few events (buffer refills, drains, stalls). These functions jump from event to event
with numpy, which is where the compatibility mode's speed comes from.

Conventions reproduced (all measured against SCALE-Sim v3.0.0's output, see ``docs/scalesim.md``):

* **Estimated-bandwidth read buffer** (``InterfaceBandwidth: CALC``): reads never stall. Words
  enter the buffer the first time they are requested; after every half buffer of new words
  (``50 · floor(bytes / 100)``) the buffer forgets everything it holds, so a word requested again
  later is fetched from DRAM again. DRAM reads = words entered.
* **Write buffer** (both modes): written words fill lines of ``bandwidth`` words. When less than
  the active half is free and the previous drain has finished, the partly filled line is closed
  and the next ``ceil(half / bandwidth)`` lines go to DRAM, one line per cycle. A line closed
  part-full in the middle of the trace is counted as a full line (SCALE-Sim's off-by-some DRAM
  write counts). A write that finds no free space while a drain is running stalls the array
  until the drain ends.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

ACTIVE_FRACTION = 0.5
ESTIMATE_FILL_BANDWIDTH = 10   # words/cycle SCALE-Sim assumes for the first fill in CALC mode
READ_PORT_LATENCY = 1


def set_size(size_bytes: int) -> int:
    """Words per bookkeeping set of SCALE-Sim's estimated-bandwidth read buffer (1% of it)."""
    return size_bytes // 100


@dataclass
class ReadCount:
    """DRAM words entered into a CALC-mode read buffer, and the stream rows where it refilled."""

    words: int
    refill_rows: list[int] = field(default_factory=list)


def count_buffer_fills(streams: Iterable[tuple[np.ndarray, np.ndarray]], space: int,
                       half_words: int) -> ReadCount:
    """Count the words a forgetful read buffer fetches for an address stream.

    Parameters
    ----------
    streams
        ``(addresses, rows)`` chunks in request order: addresses relative to the operand's base
        (``0 <= a < space``, no ``-1``) and the demand row each came from.
    space
        Size of the address space.
    half_words
        Words after which the buffer forgets what it holds.

    Examples
    --------
    >>> a = np.array([0, 1, 0, 2, 1, 0]); rows = np.arange(6)
    >>> r = count_buffer_fills([(a, rows)], 3, 2)
    >>> r.words, r.refill_rows
    (4, [1, 4])
    """
    stamp = np.zeros(space, dtype=np.int64)
    generation, in_buffer, refills, total = 1, 0, [], 0
    window = max(2 * half_words, 4096)
    for addresses, rows in streams:
        pos, n = 0, len(addresses)
        while pos < n:
            end = min(n, pos + window)
            unique, first = np.unique(addresses[pos:end], return_index=True)
            new = stamp[unique] != generation
            need = half_words - in_buffer
            fresh = int(new.sum())
            if fresh < need:
                stamp[unique[new]] = generation
                in_buffer += fresh
                total += fresh
                pos = end
                continue
            at = pos + int(np.sort(first[new])[need - 1])
            refills.append(int(rows[at]))
            total += need
            generation += 1
            in_buffer = 0
            pos = at + 1
    return ReadCount(total, refills)


@dataclass
class WriteTrace:
    """What SCALE-Sim's ofmap write buffer did over one layer."""

    stalls: list[tuple[int, int]]          # (demand row, cycles stalled there)
    drains: list[tuple[int, int]]          # (first cycle, lines), one line per cycle
    dram_words: int

    @property
    def stall_cycles(self) -> int:
        return sum(delta for _, delta in self.stalls)


class _Lines:
    """The write buffer's line-packed trace: segments of full lines, the last one maybe partial."""

    def __init__(self, width: int):
        self.width, self.firsts, self.last_counts, self.length = width, [], [], 0

    def close_segment(self, words: int) -> None:
        if words == 0:
            return
        full, part = divmod(words, self.width)
        self.firsts.append(self.length)
        self.last_counts.append(part or self.width)
        self.length += full + (1 if part else 0)

    def words_in(self, line: int) -> int:
        seg = bisect.bisect_right(self.firsts, line) - 1
        seg_end = self.firsts[seg + 1] if seg + 1 < len(self.firsts) else self.length
        return self.last_counts[seg] if line == seg_end - 1 else self.width


def simulate_write_buffer(cum_words: np.ndarray, size_words: int, bandwidth: int,
                          extra_stalls: dict[int, int] | None = None) -> WriteTrace:
    """Replay SCALE-Sim's double-buffered ofmap write buffer.

    Parameters
    ----------
    cum_words
        Cumulative ofmap words written up to and including each demand row.
    size_words
        Ofmap SRAM size in words.
    bandwidth
        Words per DRAM line (per cycle).

    Examples
    --------
    A 4-word buffer (2 active, 2 draining) with 2-word lines, written 1 word per cycle:

    >>> t = simulate_write_buffer(np.cumsum([1] * 6), 4, 2)
    >>> t.drains, t.dram_words, t.stall_cycles
    ([(2, 2), (5, 1)], 6, 0)
    """
    active = math.ceil(size_words * ACTIVE_FRACTION)
    drain_lines = math.ceil((size_words - active) / bandwidth)
    rows = len(cum_words)
    total = int(cum_words[-1]) if rows else 0
    lines = _Lines(bandwidth)
    stalls: list[tuple[int, int]] = []
    drains: list[tuple[int, int]] = []
    state = {"drained_to": 0, "dram": 0, "free": size_words}

    def drain(cycle: int) -> int:
        start = state["drained_to"]
        end = min(start + drain_lines, lines.length)
        count = end - start
        words = count * bandwidth - (bandwidth - lines.words_in(end - 1))
        state["dram"] += words
        state["free"] += words
        state["drained_to"] = end
        drains.append((cycle, count))
        return cycle + count - 1

    def row_of(word: int) -> int:
        return int(np.searchsorted(cum_words, word, side="left"))

    word, shift, drain_end, segment = 0, 0, 0, 0
    while word < total:
        first_late_row = drain_end - shift         # first row whose cycle reaches drain_end
        if first_late_row <= 0:
            late_word = word + 1
        elif first_late_row >= rows:
            late_word = total + 1
        else:
            late_word = max(word + 1, int(cum_words[first_late_row - 1]) + 1)
        full_word = word + max(state["free"], 1)
        if full_word < late_word and full_word <= total:
            step = full_word - word
            word, segment, state["free"] = full_word, segment + step, state["free"] - step
            row = row_of(word)
            delta = drain_end - (row + shift)
            shift += delta
            stalls.append((row, delta))
            continue
        trigger = max(word + max(state["free"] - active + 1, 1), late_word)
        if trigger > total:
            break
        step = trigger - word
        word, segment, state["free"] = trigger, segment + step, state["free"] - step
        lines.close_segment(segment)
        segment = 0
        drain_end = drain(row_of(word) + shift)
    lines.close_segment(segment + total - word)
    cycle = rows - 1 + shift
    while state["drained_to"] < lines.length:
        cycle = drain(cycle) + 1
    return WriteTrace(stalls, drains, state["dram"])
