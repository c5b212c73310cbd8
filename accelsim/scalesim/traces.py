"""SCALE-Sim's per-cycle SRAM trace files, streamed to disk.

Layout (SCALE-Sim v3's, ``OUTPUT/<run_name>/layer<i>/``; integers, comma separated, no header),
one line per demand row (one per cycle of the stall-free schedule):

* ``IFMAP_SRAM_TRACE.csv``, ``FILTER_SRAM_TRACE.csv``: the cycle the row's reads are served
  (issue cycle, delayed by earlier stalls, plus the hit latency of 1 and any prefetch wait), then
  the address read on each array row (ifmap in OS/WS, filter in IS) or column, ``-1`` for none.
* ``OFMAP_SRAM_TRACE.csv``: the cycle the row's writes are accepted, then the address written
  on each array column, ``-1`` for none.
* ``IFMAP_DRAM_TRACE.csv``, ``FILTER_DRAM_TRACE.csv`` (CALC mode): one line per prefetch cycle:
  the cycle the line arrives, then the words fetched on it. Every half buffer of new words
  (50 sets of ``bytes // 100`` words) is fetched in the window between the two previous refills,
  at the bandwidth that fills it (the first half at 10 words/cycle before cycle 0); within a set
  the words come in the iteration order of the Python ``set`` SCALE-Sim collects them in. Lines
  narrower than the widest are padded with ``1.0`` (SCALE-Sim's ``np.ones`` padding), a short
  prefetch with ``-1.0``; printed as floats like the ofmap DRAM trace.
* ``IFMAP_DRAM_TRACE.csv``, ``FILTER_DRAM_TRACE.csv`` (USER mode): the operand's prefetch order
  cut into lines of the bank bandwidth; the first fill (its lines ending at cycle -1), then one
  prefetch of ``ceil(half / bandwidth)`` lines per window slide. SCALE-Sim v3 starts every such
  prefetch at the same line (it sets the next line to fetch instead of advancing it), and blanks
  (``-1``) the columns of a first or last line beyond the active half in its fetch matrix itself,
  so later fetches of those lines show the blanks too; accelsim writes the same lines.
* ``OFMAP_DRAM_TRACE.csv``: one line per DRAM write line: the cycle it is written, then its
  ``bandwidth`` words (the ofmap addresses in the order the SRAM received them; a line closed
  part-full when a drain starts is padded with ``-1``). SCALE-Sim prints this one as floats
  (``2286.0,20000000.0,...``), and so does accelsim.

Addresses include the config's offsets. Lines are formatted as SCALE-Sim's
``numpy.savetxt(fmt="%i", delimiter=",")`` does and written fold by fold, so no trace is held in
memory whole; each under a temporary name, renamed when complete (:mod:`accelsim.atomic`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import numpy as np

from accelsim.atomic import atomic_copy, atomic_open
from accelsim.scalesim import folds
from accelsim.scalesim.buffers import WriteBuffer
from accelsim.scalesim.folds import Fold, FoldSchedule

LAYER_FOLDER = "layer{}"
TRACE_NAMES = ("IFMAP_SRAM_TRACE.csv", "FILTER_SRAM_TRACE.csv", "OFMAP_SRAM_TRACE.csv", "OFMAP_DRAM_TRACE.csv",
               "IFMAP_DRAM_TRACE.csv", "FILTER_DRAM_TRACE.csv")



def trace_names(layers: int) -> list[str]:
    """Paths, relative to the run folder, of every trace file a run of ``layers`` layers writes."""
    return [f"{LAYER_FOLDER.format(i)}/{name}" for i in range(layers) for name in TRACE_NAMES]


def _write_rows(handle, cycles: Callable[[np.ndarray], np.ndarray], first: int, dense: np.ndarray) -> None:
    rows = first + np.arange(len(dense))
    np.savetxt(handle, np.column_stack([cycles(rows), dense]), fmt="%i", delimiter=",")


def _write_demand(handle, schedule: FoldSchedule, width: int, cycles: Callable[[np.ndarray], np.ndarray],
                  pieces_of: Callable) -> None:
    """One demand matrix: per fold, ``pieces_of(fold)`` yields ``(rows in fold, columns, addresses)`` of
    disjoint, increasing row ranges; every other entry is ``-1``."""
    per_fold = schedule.rows_per_fold
    blank_rows = max(1, folds.CHUNK_WORDS // width)
    for fold in schedule.folds():
        origin, done = fold.index * per_fold, 0

        def blank(upto: int, origin: int = origin) -> None:
            nonlocal done
            while done < upto:
                n = min(blank_rows, upto - done)
                _write_rows(handle, cycles, origin + done, np.full((n, width), -1, dtype=np.int64))
                done += n
        for rows, lanes, addresses in pieces_of(fold):
            if not len(rows):
                continue
            lo, hi = int(rows.min()), int(rows.max()) + 1
            blank(lo)
            dense = np.full((hi - lo, width), -1, dtype=np.int64)
            dense[rows - lo, lanes] = addresses
            _write_rows(handle, cycles, origin + lo, dense)
            done = hi
        blank(per_fold)


def _read_pieces(schedule: FoldSchedule, which: str, fold: Fold) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``(rows in fold, columns, addresses)`` of ``which`` operand's reads during ``fold``."""
    return ((rows, lanes, addresses) for addresses, rows, lanes in schedule.read_chunks(which, fold, with_lanes=True))


def write_sram_traces(folder: Path, schedule: FoldSchedule, read_cycles: Callable[[str, np.ndarray], np.ndarray],
                      write_cycles: Callable[[np.ndarray], np.ndarray]) -> list[Path]:
    """Write the three SRAM traces of one layer into ``folder``; returns the files."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for which, name in (("ifmap", TRACE_NAMES[0]), ("filter", TRACE_NAMES[1])):
        with atomic_open(folder / name) as handle:
            _write_demand(handle, schedule, schedule.demand_width(which), partial(read_cycles, which),
                          partial(_read_pieces, schedule, which))
        written.append(folder / name)
    with atomic_open(folder / TRACE_NAMES[2]) as handle:
        _write_demand(handle, schedule, schedule.array[1], write_cycles, schedule.ofmap_entries)
    written.append(folder / TRACE_NAMES[2])
    return written


def _ofmap_lines(schedule: FoldSchedule, writer: WriteBuffer):
    """The write buffer's DRAM lines in order, one block per segment (a segment ends when a drain
    closes the current line, which may then be part-full: padded with ``-1``)."""
    width, lines = writer.bandwidth, writer.lines
    words = (addresses for fold in schedule.folds() for _, _, addresses in schedule.ofmap_entries(fold))
    pending = np.empty(0, dtype=np.int64)
    ends = lines.firsts[1:] + [lines.length]
    for first, end, last in zip(lines.firsts, ends, lines.last_counts):
        size = (end - first - 1) * width + last
        parts, have = [pending], len(pending)
        while have < size:
            parts.append(next(words))
            have += len(parts[-1])
        stream = np.concatenate(parts)
        block = np.full((end - first) * width, -1, dtype=np.int64)
        block[:size], pending = stream[:size], stream[size:]
        yield block.reshape(-1, width)


def write_ofmap_dram_trace(path: Path, schedule: FoldSchedule, writer: WriteBuffer) -> None:
    """The ofmap DRAM trace from a finished :class:`WriteBuffer` replay (its drains and line segments)."""
    blocks = _ofmap_lines(schedule, writer)
    ready = np.empty((0, writer.bandwidth), dtype=np.int64)
    with atomic_open(path) as handle:
        for cycle, count in writer.drains:
            while len(ready) < count:
                ready = np.concatenate([ready, next(blocks)])
            lines, ready = ready[:count], ready[count:]
            table = np.column_stack([cycle + np.arange(count), lines]).astype(np.float64)
            np.savetxt(handle, table, fmt="%s", delimiter=",")


def write_calc_read_trace(path: Path, scan: Callable[[Callable[[np.ndarray], None]], None], base: int,
                          items: int, sets_per_half: int, triggers: list[int], first_cycle: int, words: int,
                          fill_bandwidth: int, latency: int) -> None:
    """A CALC-mode read buffer's DRAM trace; ``scan(sink)`` replays the operand's stream, calling
    ``sink`` with the words entering the buffer, in order; ``triggers`` are the refill cycles."""
    import math

    half = sets_per_half * items
    # (first request cycle, cycles, words per cycle, words) of every prefetch, as SCALE-Sim times them.
    plans = []
    if triggers:
        cycles = math.ceil(half / fill_bandwidth)
        end = first_cycle - 1 - latency
        plans.append((end - cycles + 1, cycles, fill_bandwidth, half))
        start, end = end + 1, triggers[0]
        for trigger in triggers[1:]:
            cycles = end - start + 1
            plans.append((start, cycles, math.ceil(half / cycles), half))
            start, end = end + 1, trigger
        rest = words - len(triggers) * half
        cycles = end - start + 1
        plans.append((start, cycles, math.ceil(math.ceil(rest / items) * items / cycles), rest))
    else:
        cycles = math.ceil(math.ceil(words / items) * items / fill_bandwidth)
        plans.append((-1 - latency - cycles + 1, cycles, fill_bandwidth, words))
    width = max(bandwidth for _, _, bandwidth, _ in plans)
    pending: list[np.ndarray] = []
    have = 0
    todo = iter(plans)
    plan: tuple[int, int, int, int] | None = next(todo)
    with atomic_open(path) as handle:
        def emit(plan) -> None:
            nonlocal pending, have
            start, cycles, bandwidth, count = plan
            stream = np.concatenate(pending) if pending else np.empty(0, dtype=np.int64)
            take, rest = stream[:count] + base, stream[count:]
            pending, have = [rest], len(rest)
            ordered = []
            for first in range(0, count, items):   # each set in Python's set iteration order
                ordered += list(set(take[first:first + items].tolist()))
            lines = np.full((cycles, width), 1.0)
            fetched = np.full(cycles * bandwidth, -1.0)
            fetched[:len(ordered)] = ordered
            lines[:, :bandwidth] = fetched.reshape(cycles, bandwidth)
            np.savetxt(handle, np.column_stack([start + latency + np.arange(cycles), lines]), fmt="%s", delimiter=",")

        def sink(fresh: np.ndarray) -> None:
            nonlocal plan, have
            pending.append(fresh)
            have += len(fresh)
            while plan is not None and plan[3] <= have and plans[-1] is not plan:
                emit(plan)
                plan = next(todo, None)
        scan(sink)
        emit(plan)


def write_user_read_trace(path: Path, sequence: np.ndarray, size_words: int, bandwidth: int, slides: int,
                          latency: int) -> None:
    """A USER-mode read buffer's DRAM trace: its first fill and ``slides`` prefetches (SCALE-Sim's
    ``read_buffer.prefetch_active_buffer`` / ``new_prefetch``, quirks included)."""
    import math

    active = math.ceil(size_words * 0.5)
    lines = math.ceil(len(sequence) / bandwidth)
    flat = np.full(lines * bandwidth, -1.0)
    flat[:len(sequence)] = sequence
    fetch = flat.reshape(lines, bandwidth)
    first = min(math.ceil(active / bandwidth), lines)
    next_col = 0
    with atomic_open(path) as handle:
        block = fetch[:first]                      # a view: SCALE-Sim's blanking below changes the matrix
        if first * bandwidth > active:
            next_col = active % bandwidth
            block[-1, next_col:] = -1
        np.savetxt(handle, np.column_stack([np.arange(first) - first, block]), fmt="%s", delimiter=",")
        last = -1
        count = math.ceil((size_words - active) / bandwidth)
        start = (first if first * bandwidth > active else first + 1) % lines
        after = (count if count * bandwidth > active else count + 1) % lines
        for _ in range(slides):
            if start + count > lines:              # wraps: a copy, so its blanking does not stick
                block = np.concatenate([fetch[start:], fetch[:min(start + count - lines, start)]])
            else:
                block = fetch[start:start + count]
            block[0, :next_col] = -1
            if count * bandwidth > active:
                block[-1, active % bandwidth:] = -1
            cycles = last + 1 + latency + np.arange(count)
            np.savetxt(handle, np.column_stack([cycles, block]), fmt="%s", delimiter=",")
            last = int(cycles[-1])
            start = after


def copy_traces(source: Path, folder: Path) -> None:
    """An identical layer's traces (e.g. a depthwise layer's channels) are copied, not recomputed."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in TRACE_NAMES:
        if (source / name).exists():
            atomic_copy(source / name, folder / name)


__all__ = [
    "LAYER_FOLDER",
    "TRACE_NAMES",
    "copy_traces",
    "trace_names",
    "write_ofmap_dram_trace",
    "write_sram_traces",
]
