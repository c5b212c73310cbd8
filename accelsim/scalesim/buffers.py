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
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

ACTIVE_FRACTION = 0.5
ESTIMATE_FILL_BANDWIDTH = 10   # words/cycle SCALE-Sim assumes for the first fill in CALC mode
READ_PORT_LATENCY = 1         # DRAM to read buffer
HIT_LATENCY = 1               # read buffer to array, when the word is there


def set_size(size_bytes: int) -> int:
    """Words per bookkeeping set of SCALE-Sim's estimated-bandwidth read buffer (1% of it)."""
    return size_bytes // 100


# one request chunk: (key, first demand row, produce); produce() yields (addresses, demand rows) pieces
Chunk = tuple[object, int, Callable[[], Iterable[tuple[np.ndarray, np.ndarray]]]]


@dataclass
class ReadCount:
    """DRAM words entered into a CALC-mode read buffer, and the stream rows where it refilled."""

    words: int
    refill_rows: list[int] = field(default_factory=list)


def count_buffer_fills(chunks: Iterable[Chunk], space: int, half_words: int,
                       sink: Callable[[np.ndarray], None] | None = None) -> ReadCount:
    """Count the words a forgetful read buffer fetches for an address stream.

    Parameters
    ----------
    chunks
        ``(key, first row, produce)`` in request order; ``produce()`` yields ``(addresses, rows)``
        pieces: addresses relative to the operand's base (``0 <= a < space``, no ``-1``), demand
        row of each. A chunk with the same key as the one before reads the same addresses at the
        same rows relative to its first row. Repeats are skipped unread when their outcome is
        known: after a repeat with no refill (all its words are in the buffer, so nothing
        changes), or once two repeats in a row end with their last refill at the same position
        (the buffer then holds the same words after each, so every further repeat adds the same
        words and refills at the same relative rows).
    space
        Size of the address space (the scratch arrays take 6 bytes per word of it).
    half_words
        Words after which the buffer forgets what it holds.
    sink
        If given, called with every word entering the buffer, in order (arrays of them; for the traces).

    Examples
    --------
    >>> a = np.array([0, 1, 0, 2, 1, 0]); rows = np.arange(6)
    >>> r = count_buffer_fills([(None, 0, lambda: [(a, rows)])], 3, 2)
    >>> r.words, r.refill_rows
    (6, [1, 3, 5])
    """
    stamp = np.zeros(space, dtype=np.uint16)     # == generation: in the buffer now
    first_at = np.zeros(space, dtype=np.int32)   # scratch: first position of each address in a window
    generation, in_buffer, total = 1, 0, 0
    refills: list[int] = []
    window = min(max(2 * half_words, 4096), 1 << 22)
    previous, clean, last_at = object(), False, None
    period: tuple[int, list[int]] | None = None  # a repeat's (words, refill rows relative to its first row)
    for key, offset, produce in chunks:
        repeat = key is not None and key == previous
        if repeat and clean:
            continue
        if repeat and period is not None and sink is None:
            words, relative = period
            total += words
            refills += [offset + r for r in relative]
            continue
        start_total, start_refills, position, chunk_last_at = total, len(refills), 0, None
        for addresses, rows in produce():
            generation, in_buffer, total, at = _fill(addresses, rows, first_at, stamp, generation, in_buffer,
                                                     total, half_words, window, refills, sink)
            if at is not None:
                chunk_last_at = position + at
            position += len(addresses)
        clean = len(refills) == start_refills
        period = None
        if repeat and chunk_last_at is not None and chunk_last_at == last_at:
            period = (total - start_total, [r - offset for r in refills[start_refills:]])
        previous, last_at = key, chunk_last_at
    return ReadCount(total, refills)


def _fill(addresses, rows, first_at, stamp, generation, in_buffer, total, half_words, window, refills, sink):
    """One piece of :func:`count_buffer_fills`' stream; returns the updated counters and the
    position of the last refill in the piece (None if none)."""
    pos, n, last = 0, len(addresses), None
    while pos < n:
        part = addresses[pos:pos + window]
        # Only words not in the buffer can be fresh (most requests are hits): find first occurrences among those.
        candidates = np.flatnonzero(stamp[part] != generation)
        words = part[candidates]
        index = np.arange(len(words), dtype=np.int32)
        first_at[words] = len(words)
        np.minimum.at(first_at, words, index)      # each address's first index in this window
        fresh = candidates[first_at[words] == index]
        need = half_words - in_buffer
        if sink is not None:
            sink(part[fresh[:need]])
        if len(fresh) < need:
            stamp[part[fresh]] = generation
            in_buffer += len(fresh)
            total += len(fresh)
            pos += len(part)
            continue
        at = last = pos + int(fresh[need - 1])
        refills.append(int(rows[at]))
        total += need
        generation += 1
        if generation == np.iinfo(stamp.dtype).max:   # 16-bit stamps: restart them (buffer is empty now)
            stamp[:] = 0
            generation = 1
        in_buffer = 0
        pos = at + 1
    return generation, in_buffer, total, last


class _Lines:
    """The write buffer's line-packed trace: segments of full lines, the last one maybe partial."""

    def __init__(self, width: int):
        self.width, self.length = width, 0
        self.firsts: list[int] = []  # first line of each segment
        self.last_counts: list[int] = []  # words in each segment's last line

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


class CumWords(Protocol):
    """Cumulative ofmap words written up to and including each demand row."""

    def __len__(self) -> int: ...

    def at(self, row: int) -> int: ...

    def row_of(self, word: int) -> int: ...


class ArrayCum:
    """Cumulative words per demand row held in an array (small cases and tests)."""

    def __init__(self, cum: np.ndarray):
        self.cum = cum

    def __len__(self) -> int:
        return len(self.cum)

    def at(self, row: int) -> int:
        return int(self.cum[row])

    def row_of(self, word: int) -> int:
        """First row whose cumulative count reaches ``word``."""
        return int(np.searchsorted(self.cum, word, side="left"))


class WriteBuffer:
    """SCALE-Sim's double-buffered ofmap write buffer, replayed event by event.

    Parameters
    ----------
    cum_words
        Cumulative ofmap words written up to and including each demand row: an array, or any
        object with ``len``, ``at(row)`` and ``row_of(word)`` (e.g. the closed form of
        :class:`accelsim.scalesim.folds.OfmapCum`, which never holds a row per cycle).
    size_words
        Ofmap SRAM size in words.
    bandwidth
        Words per DRAM line (one line per cycle).

    Examples
    --------
    A 4-word buffer (2 active, 2 draining) with 2-word lines, written 1 word per cycle:

    >>> wb = WriteBuffer(np.cumsum([1] * 6), 4, 2)
    >>> wb.run(6, shift=0)
    (0, [])
    >>> wb.finish(last_cycle=5); wb.drains, wb.dram_words
    ([(2, 1), (4, 1), (5, 1), (5, 1)], 6)
    """

    def __init__(self, cum_words: np.ndarray | CumWords, size_words: int, bandwidth: int):
        self.cum: CumWords = ArrayCum(cum_words) if isinstance(cum_words, np.ndarray) else cum_words
        self.bandwidth, self.size = bandwidth, size_words
        self.active = math.ceil(size_words * ACTIVE_FRACTION)
        self.drain_lines = math.ceil((size_words - self.active) / bandwidth)
        self.lines = _Lines(bandwidth)
        self.drains: list[tuple[int, int]] = []
        self.dram_words, self.free, self.drained_to = 0, size_words, 0
        self.word, self.segment, self.drain_end = 0, 0, 0

    def _drain(self, cycle: int) -> int:
        start = self.drained_to
        end = min(start + self.drain_lines, self.lines.length)
        count = end - start
        words = count * self.bandwidth - (self.bandwidth - self.lines.words_in(end - 1))
        self.dram_words += words
        self.free += words
        self.drained_to = end
        self.drains.append((cycle, count))
        return cycle + count - 1

    def _store(self, upto: int) -> None:
        step = upto - self.word
        self.word, self.segment, self.free = upto, self.segment + step, self.free - step

    def run(self, until_row: int, shift: int) -> tuple[int, list[tuple[int, int]]]:
        """Write every word of rows ``< until_row``; row ``r`` starts at cycle ``r + shift``.

        Returns the shift after the stalls these writes caused, and those stalls as ``(row, cycles)``.
        """
        cum = self.cum
        limit = cum.at(until_row - 1) if until_row > 0 else 0
        stalls: list[tuple[int, int]] = []
        while self.word < limit:
            first_late_row = self.drain_end - shift     # first row whose cycle reaches drain_end
            if first_late_row <= 0:
                late_word = self.word + 1
            elif first_late_row >= len(cum):
                late_word = limit + 1
            else:
                late_word = max(self.word + 1, cum.at(first_late_row - 1) + 1)
            full_word = self.word + max(self.free, 1)
            if full_word < late_word and full_word <= limit:
                self._store(full_word)
                row = cum.row_of(self.word)
                delta = self.drain_end - (row + shift)
                shift += delta
                stalls.append((row, delta))
                continue
            trigger = max(self.word + max(self.free - self.active + 1, 1), late_word)
            if trigger > limit:
                self._store(limit)
                break
            self._store(trigger)
            self.lines.close_segment(self.segment)
            self.segment = 0
            row = cum.row_of(self.word)
            self.drain_end = self._drain(row + shift)
        return shift, stalls

    def finish(self, last_cycle: int) -> None:
        """Drain everything left, starting on the cycle the last demand row was served."""
        self.lines.close_segment(self.segment)
        self.segment = 0
        cycle = last_cycle
        while self.drained_to < self.lines.length:
            cycle = self._drain(cycle) + 1


def diagonal_order(rows: int, cols: int) -> np.ndarray:
    """Flat indices of a ``rows × cols`` matrix read by anti-diagonals, bottom row first.

    Built diagonal by diagonal (bottom row first is column order within a diagonal), without a sort.

    Examples
    --------
    >>> diagonal_order(2, 3).tolist()
    [0, 3, 1, 4, 2, 5]
    """
    diagonal = np.arange(rows + cols - 1)[:, None]
    col = np.arange(cols)[None, :]
    row = diagonal - col
    return (row * cols + col)[(row >= 0) & (row < rows)]


@dataclass
class PrefetchBuffer:
    """SCALE-Sim's fixed-bandwidth read buffer (``InterfaceBandwidth: USER``).

    The operand's prefetch sequence is cut into sets of ``ceil(bytes / 100)`` requested words;
    the active half of the buffer is a window of consecutive sets. A request for a word outside
    the window slides the window by the prefetch half (wrapping round the sequence) until it is
    inside; every slide is one prefetch of ``ceil(prefetch half / bandwidth)`` DRAM lines.
    """

    valid: np.ndarray         # the prefetch sequence without padding: set j is valid[j·per_set : (j+1)·per_set]
    keys: np.ndarray          # sorted (address · sets + set) of every prefetched word
    per_set: int
    sets: int
    active_sets: int
    slide_sets: int
    first_fill_lines: int
    prefetch_lines: int
    bandwidth: int
    space: int

    @classmethod
    def build(cls, sequence: np.ndarray, size_words: int, bandwidth: int, space: int | None = None
              ) -> PrefetchBuffer:
        """``sequence``: the operand's prefetch order, relative addresses (``< space``), ``-1`` = padding."""
        per_set = math.ceil(size_words / 100)
        active = math.ceil(size_words * ACTIVE_FRACTION)
        prefetch = size_words - active
        valid = sequence[sequence >= 0]
        sets = len(valid) // per_set + 1
        active_sets = min(math.ceil(active / per_set), sets)
        slide = min(math.ceil(prefetch / per_set), sets - active_sets)
        fetch_rows = math.ceil(len(sequence) / bandwidth)
        space = int(valid.max()) + 1 if space is None and len(valid) else (space or 1)
        keys = np.empty(0, dtype=np.int64)
        if active_sets < sets:      # else every request hits: no lookups needed
            # Sorted, duplicates kept: membership only needs searchsorted (deduplicating costs 10x more).
            keys = np.sort(valid.astype(np.int64) * sets + np.arange(len(valid)) // per_set)
        return cls(valid, keys, per_set, sets, active_sets, slide, min(math.ceil(active / bandwidth), fetch_rows),
                   math.ceil(prefetch / bandwidth), bandwidth, space)

    def _in_window(self, address: int, start: int) -> bool:
        """Whether ``address`` is in sets ``start .. start+active_sets-1`` (wrapping round)."""
        def within(lo: int, hi: int) -> bool:
            at = int(np.searchsorted(self.keys, address * self.sets + lo))
            return at < len(self.keys) and int(self.keys[at]) < address * self.sets + hi
        end = start + self.active_sets
        if end <= self.sets:
            return within(start, end)
        return within(start, self.sets) or within(0, end - self.sets)

    def _mark_window(self, present: np.ndarray, first: int, value: bool) -> None:
        """Set ``present`` of every word in the window starting at set ``first`` (wrapping round)."""
        number = self.active_sets
        for lo, hi in ((first, min(first + number, self.sets)), (0, first + number - self.sets)):
            if hi > lo:
                present[self.valid[lo * self.per_set:hi * self.per_set]] = value

    def misses(self, chunks: Iterable[Chunk]) -> list[tuple[int, int]]:
        """``(demand row, slides)`` for every request that missed the window, in order.

        ``chunks`` as in :func:`count_buffer_fills`: a repeat of a chunk that missed nothing
        (same addresses, same window) misses nothing either, and is skipped; once two repeats in
        a row leave the window at the same set, every further repeat misses the same way (rows
        shifted), and is skipped too.
        """
        if self.active_sets >= self.sets:   # every request hits: no lookups needed
            return []
        # Which words the active window holds: a request is one lookup. A miss finds its slides by
        # binary search (one miss may slide the window round the whole sequence), then the window
        # is marked afresh once.
        present = np.zeros(self.space, dtype=bool)
        self._mark_window(present, 0, True)
        start = 0
        found: list[tuple[int, int]] = []
        previous, clean, last_start = object(), False, None
        period: list[tuple[int, int]] | None = None  # a repeat's misses, rows relative to its first row
        for key, offset, produce in chunks:
            repeat = key is not None and key == previous
            if repeat and clean:
                continue
            if repeat and period is not None:
                found += [(offset + row, slides) for row, slides in period]
                continue
            before = len(found)
            for addresses, rows in produce():
                start = self._misses(addresses, rows, start, found, present)
            clean = len(found) == before
            period = [(row - offset, slides) for row, slides in found[before:]] \
                if repeat and not clean and start == last_start else None
            previous, last_start = key, start
        return found

    def _misses(self, addresses, rows, start, found, present):
        """Append the misses of one piece to ``found``; returns the window's new start set."""
        pos, chunk = 0, 4096
        while pos < len(addresses):
            part = addresses[pos:pos + chunk]
            hit = present[part]
            if hit.all():
                pos += len(part)
                chunk *= 2
                continue
            miss = pos + int(np.argmin(hit))
            one = int(addresses[miss])
            slides, old = 0, start
            while True:
                slides += 1
                start = (start + self.slide_sets) % self.sets
                if self._in_window(one, start):
                    break
                if slides > self.sets:
                    raise RuntimeError("address missing from the prefetch sequence")
            self._mark_window(present, old, False)
            self._mark_window(present, start, True)
            found.append((int(rows[miss]), slides))
            pos, chunk = miss + 1, 4096
        return start
