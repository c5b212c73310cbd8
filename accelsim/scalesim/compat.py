"""``--convention scalesim``: SCALE-Sim v3's reported numbers, computed without its per-word loops.

:func:`simulate_layer` returns one :class:`LayerReport` holding every field of SCALE-Sim's
COMPUTE_REPORT, BANDWIDTH_REPORT, DETAILED_ACCESS_REPORT (and SPARSE_REPORT) for a layer.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from accelsim.errors import UnsupportedError
from accelsim.progress import progress
from accelsim.scalesim.buffers import (
    ESTIMATE_FILL_BANDWIDTH,
    HIT_LATENCY,
    READ_PORT_LATENCY,
    PrefetchBuffer,
    WriteBuffer,
    count_buffer_fills,
    set_size,
)
from accelsim.scalesim.folds import FoldSchedule
from accelsim.scalesim.inputs import ScaleSimConfig, ScaleSimLayer
from accelsim.scalesim.operands import Operands

SETS_PER_HALF = 50
# The memory bound of --convention scalesim (the default convention has none): SCALE-Sim's buffers
# are replayed word by word, with scratch arrays over each operand's address space (7 bytes per
# word) and, in USER mode, the operand's whole prefetch order (about 45 bytes per word at peak).
# Within these limits a layer took at most 441 MB (CALC) / 377 MB (USER); beyond them it is refused.
MAX_ADDRESS_WORDS = 1 << 26
MAX_PREFETCH_WORDS = 1 << 23


def check_limits(layer: ScaleSimLayer, config: ScaleSimConfig, schedule: FoldSchedule) -> None:
    """Raise :class:`UnsupportedError` (one line, naming the limit) for a layer beyond the memory bound."""
    spaces = {"ifmap": layer.ifmap_h * layer.ifmap_w * layer.channels, "filter": layer.window * layer.filters}
    where = f"{layer.source}: " if layer.source else ""
    for name, words in spaces.items():
        if words > MAX_ADDRESS_WORDS:
            raise UnsupportedError(
                f"{where}layer {layer.name}: its {name} has {words:,} words, over the limit of {MAX_ADDRESS_WORDS:,} "
                f"(2^26) words per operand that --convention scalesim tracks word by word; the default "
                f"convention (accelsim's closed forms) has no such limit")
    if config.user_bandwidth:
        for name in spaces:
            words = schedule.prefetch_length(name)
            if words > MAX_PREFETCH_WORDS:
                raise UnsupportedError(
                    f"{where}layer {layer.name}: its {name} prefetch order has {words:,} words, over the limit of "
                    f"{MAX_PREFETCH_WORDS:,} (2^23) words that --convention scalesim's USER bandwidth mode "
                    f"holds; use InterfaceBandwidth: CALC or the default convention")


@dataclass(frozen=True)
class LayerReport:
    """One layer's row in each of SCALE-Sim's reports (same units, same conventions).

    Start/stop cycles are floats in ``--convention scalesim`` (SCALE-Sim prints ``6.0``; its values
    stay far below 2**53 within the memory bound) and exact ints in the default convention.
    """

    name: str
    total_cycles_with_prefetch: int
    total_cycles: int
    stall_cycles: int
    overall_util: float
    mapping_efficiency: float
    compute_util: float
    sram_ifmap_start: int | float
    sram_ifmap_stop: int | float
    sram_ifmap_reads: float
    sram_filter_start: int | float
    sram_filter_stop: int | float
    sram_filter_reads: int
    sram_ofmap_start: int | float
    sram_ofmap_stop: int | float
    sram_ofmap_writes: int
    dram_ifmap_start: int | float
    dram_ifmap_stop: int | float
    dram_ifmap_reads: int
    dram_filter_start: int | float
    dram_filter_stop: int | float
    dram_filter_reads: int
    dram_ofmap_start: int | float
    dram_ofmap_stop: int | float
    dram_ofmap_writes: int
    metadata_reads: float = 0
    filter_storage: float = 0
    filter_storage_compressed: float = 0

    def as_dict(self) -> dict:
        return asdict(self)


class _Shifts:
    """Cycle of a demand row once earlier stalls have delayed it."""

    def __init__(self, stalls: list[tuple[int, int]]):
        self.rows = [row for row, _ in stalls]
        self.after = np.cumsum([delta for _, delta in stalls]).tolist()

    def many(self, rows: np.ndarray, *, through: bool) -> np.ndarray:
        """:meth:`before` (or :meth:`through`) of many rows at once."""
        if not hasattr(self, "_arrays"):
            self._arrays = (np.asarray(self.rows, dtype=np.int64),
                            np.concatenate([[0], np.asarray(self.after, dtype=np.int64)]))
        stall_rows, after = self._arrays
        return after[np.searchsorted(stall_rows, rows, side="right" if through else "left")]

    def before(self, row: int) -> int:
        """Stall cycles added before ``row`` starts."""
        i = bisect.bisect_left(self.rows, row)
        return self.after[i - 1] if i else 0

    def through(self, row: int) -> int:
        i = bisect.bisect_right(self.rows, row)
        return self.after[i - 1] if i else 0


@dataclass
class _Operand:
    """One read operand's geometry: demand rows, address base and space."""

    name: str
    size_words: int
    distinct: int
    base: int
    space: int

    def streams(self, schedule: FoldSchedule, desc: str = ""):
        """``(key, first row, produce)`` per run of folds (:meth:`FoldSchedule.stream_groups`):
        ``produce()`` yields the run's (addresses, demand rows) pieces. The buffers skip repeats
        whose outcome they already know."""
        per_fold = schedule.rows_per_fold

        def produce(folds):
            for fold in folds:
                for addresses, rows in schedule.read_chunks(self.name, fold):
                    yield addresses - self.base, rows + fold.index * per_fold
        groups = schedule.stream_groups(self.name)
        for key, folds in progress(groups, total=schedule.stream_group_count(self.name), desc=desc, unit="run"):
            yield key, folds[0].index * per_fold, (lambda folds=folds: produce(folds))

    def first_last_rows(self, schedule: FoldSchedule) -> tuple[int, int]:
        """First and last demand rows with a request (a fold can be all padding, e.g. stride 2 edges)."""
        per_fold, folds = schedule.rows_per_fold, schedule.num_folds

        def scan(order, pick):
            for index in order:
                rows = [rows for _, rows in schedule.read_chunks(self.name, schedule.fold(index)) if len(rows)]
                if rows:
                    return index * per_fold + int(pick(np.concatenate([rows[0], rows[-1]])))
            raise UnsupportedError(f"the layer reads no {self.name} word at all")
        return scan(range(folds), np.min), scan(range(folds - 1, -1, -1), np.max)


def _calc_dram(op: _Operand, schedule: FoldSchedule, first_cycle: int, shifts: _Shifts, trace: Path | None = None):
    """(DRAM start, stop, words) of a CALC-mode (estimated-bandwidth) read buffer; its DRAM trace to ``trace``."""
    items = set_size(op.size_words)
    if items == 0:
        raise UnsupportedError(f"a {op.name} SRAM under 100 bytes makes SCALE-Sim divide by zero")
    half = SETS_PER_HALF * items
    if op.distinct < half:
        words, refills = op.distinct, []
    else:
        counted = count_buffer_fills(op.streams(schedule, f"{schedule.ops.layer.name} {op.name}"), op.space, half)
        words, refills = counted.words, counted.refill_rows
    if not refills:
        fill = math.ceil(math.ceil(words / items) * items / ESTIMATE_FILL_BANDWIDTH)
        start, stop = -1 - READ_PORT_LATENCY - fill + 1, -1 - READ_PORT_LATENCY
    else:
        start = first_cycle - 1 - READ_PORT_LATENCY - math.ceil(half / ESTIMATE_FILL_BANDWIDTH) + 1
        stop = refills[-1] + shifts.before(refills[-1])
    if trace is not None:
        from accelsim.scalesim.traces import write_calc_read_trace

        def scan(sink) -> None:    # a second pass over the stream, handing out the words as they enter
            count_buffer_fills(op.streams(schedule), op.space, half, sink)
        write_calc_read_trace(trace, scan, op.base, items, SETS_PER_HALF, [r + shifts.before(r) for r in refills],
                              first_cycle, words, ESTIMATE_FILL_BANDWIDTH, READ_PORT_LATENCY)
    return float(start + READ_PORT_LATENCY), float(stop + READ_PORT_LATENCY), words


class _UserReads:
    """A fixed-bandwidth read buffer's misses and the stalls they cost, row by row."""

    def __init__(self, op: _Operand, schedule: FoldSchedule, bandwidth: int):
        sequence = schedule.prefetch_sequence(op.name)
        sequence = np.where(sequence >= 0, sequence - op.base, -1)
        self.buffer = PrefetchBuffer.build(sequence, op.size_words, bandwidth, op.space)
        self.by_row: dict[int, list[int]] = {}
        for row, slides in self.buffer.misses(op.streams(schedule, f"{schedule.ops.layer.name} {op.name}")):
            self.by_row.setdefault(row, []).append(slides)
        self.last_prefetch = -1        # the first fill, issued when row 0 is served at cycle 0
        self.slides = 0

    def row_offset(self, row: int, cycle: int) -> int:
        """Cycles after ``cycle`` the row's reads are served (1 on a hit), replaying each prefetch."""
        offset = HIT_LATENCY
        for slides in self.by_row.get(row, ()):
            for _ in range(slides):
                self.slides += 1
                self.last_prefetch += self.buffer.prefetch_lines + READ_PORT_LATENCY
                potential = self.last_prefetch - (cycle + offset)
                offset += potential                 # SCALE-Sim adds it once always, and again if > 0
                if potential > 0:
                    offset += potential
        return offset

    def dram(self) -> tuple[float, float, int]:
        b = self.buffer
        words = (b.first_fill_lines + self.slides * b.prefetch_lines) * b.bandwidth
        return float(-b.first_fill_lines), float(self.last_prefetch), words


def _sorted_items(special: dict[int, int]) -> tuple[np.ndarray, np.ndarray]:
    keys = np.fromiter(special, dtype=np.int64, count=len(special))
    order = np.argsort(keys)
    return keys[order], np.fromiter(special.values(), dtype=np.int64, count=len(special))[order]


def _override(rows: np.ndarray, values: np.ndarray, special: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """``values`` with the entries of ``rows`` found in ``special`` (sorted keys, values) replaced."""
    keys, vals = special
    if len(keys):
        at = np.minimum(np.searchsorted(keys, rows), len(keys) - 1)
        values = np.where(keys[at] == rows, vals[at], values)
    return values


def simulate_layer(layer: ScaleSimLayer, config: ScaleSimConfig, trace_folder: Path | None = None) -> LayerReport:
    """SCALE-Sim v3's report row for ``layer`` (and its SRAM traces in ``trace_folder``, if given).

    Examples
    --------
    >>> cfg = ScaleSimConfig("r", 8, 8, 64, 64, 32, "ws")
    >>> rep = simulate_layer(ScaleSimLayer("Conv1", 16, 16, 3, 3, 8, 16, 1), cfg)
    >>> rep.total_cycles, rep.dram_ofmap_writes, rep.total_cycles_with_prefetch
    (3923, 28231, 5665)
    """
    ops = Operands(layer, config)
    schedule = FoldSchedule(ops)
    check_limits(layer, config, schedule)
    cum = schedule.ofmap_cum      # closed form: no array with a row per cycle
    rows = len(cum)
    lay = layer
    operands = [
        _Operand("ifmap", config.ifmap_kib * 1024, ops.ifmap_distinct, config.ifmap_offset,
                 lay.ifmap_h * lay.ifmap_w * lay.channels),
        _Operand("filter", config.filter_kib * 1024, ops.filter_distinct,
                 config.filter_offset, lay.window * lay.filters)]
    writer = WriteBuffer(cum, config.ofmap_kib * 1024, config.bandwidth if config.user_bandwidth else config.cols)
    stalls: list[tuple[int, int]] = []
    read_offsets: dict[tuple[str, int], int] = {}
    write_offsets: dict[int, int] = {}
    shift = 0
    readers = []
    if config.user_bandwidth:
        bank = {"ifmap": config.ifmap_bank_bandwidth, "filter": config.filter_bank_bandwidth}
        readers = [_UserReads(op, schedule, bank[op.name]) for op in operands]
    for row in sorted(set().union(*(r.by_row for r in readers))):
        shift, more = writer.run(row, shift)
        stalls += more
        cycle = row + shift
        read = [reader.row_offset(row, cycle) for reader in readers]
        for op, offset in zip(operands, read):
            read_offsets[op.name, row] = offset
        after, _ = writer.run(row + 1, shift)
        write_offsets[row] = after - shift
        delta = int(max(*(o - HIT_LATENCY for o in read), after - shift))
        if delta:
            stalls.append((row, delta))
        shift += delta
    shift, more = writer.run(rows, shift)
    stalls += more
    shifts = _Shifts(stalls)

    def served(row: int) -> int:
        """Cycle the ofmap write of ``row`` is served (SCALE-Sim's total is the last one)."""
        if row in write_offsets:
            return row + shifts.before(row) + write_offsets[row]
        return row + shifts.through(row)

    def read_served(name: str, row: int) -> float:
        return float(row + shifts.before(row) + read_offsets.get((name, row), HIT_LATENCY))

    total_cycles = served(rows - 1)
    stall_cycles = shifts.through(rows - 1)
    writer.finish(total_cycles)
    if trace_folder is not None:
        from accelsim.scalesim.traces import (
            TRACE_NAMES,
            write_ofmap_dram_trace,
            write_sram_traces,
        )

        waits = {op.name: _sorted_items({r: o for (n, r), o in read_offsets.items() if n == op.name})
                 for op in operands}
        write_served = _sorted_items({r: served(r) for r in write_offsets})

        def read_cycles(name: str, rows: np.ndarray) -> np.ndarray:
            """Cycle each row's reads are served (the same rule as ``read_served``, for many rows)."""
            wait = _override(rows, np.full(len(rows), HIT_LATENCY), waits[name])
            return rows + shifts.many(rows, through=False) + wait

        def write_cycles(rows: np.ndarray) -> np.ndarray:
            """Cycle each row's writes are accepted (the same rule as ``served``, for many rows)."""
            return _override(rows, rows + shifts.many(rows, through=True), write_served)
        write_sram_traces(trace_folder, schedule, read_cycles, write_cycles)
        write_ofmap_dram_trace(trace_folder / TRACE_NAMES[3], schedule, writer)
    sides = {}
    for i, op in enumerate(operands):
        first, last = op.first_last_rows(schedule)
        if config.user_bandwidth:
            dram = readers[i].dram()
            if trace_folder is not None:
                from accelsim.scalesim.traces import write_user_read_trace

                buffer = readers[i].buffer
                write_user_read_trace(trace_folder / f"{op.name.upper()}_DRAM_TRACE.csv",
                                      schedule.prefetch_sequence(op.name), op.size_words, buffer.bandwidth,
                                      readers[i].slides, READ_PORT_LATENCY)
        else:
            trace = trace_folder / f"{op.name.upper()}_DRAM_TRACE.csv" if trace_folder is not None else None
            dram = _calc_dram(op, schedule, first + shifts.before(first), shifts, trace)
        sides[op.name] = (read_served(op.name, first), read_served(op.name, last), *dram)
    written = cum.written_rows()
    sram_ifmap, sram_filter, sram_ofmap = schedule.sram_counts()
    of_start = float(writer.drains[0][0])
    of_stop = float(max(c + n - 1 for c, n in writer.drains))
    original: float = 0
    compressed: float = 0
    metadata: float = 0
    if config.sparsity_support:
        original, compressed, metadata = ops.sparse_storage()
    if_ = sides["ifmap"]
    f_ = sides["filter"]
    return LayerReport(
        name=layer.name,
        total_cycles_with_prefetch=int(of_stop - min(if_[2], f_[2])),
        total_cycles=total_cycles,
        stall_cycles=stall_cycles,
        overall_util=(layer.macs * 100) / (total_cycles * config.rows * config.cols),
        mapping_efficiency=schedule.mapping_efficiency() * 100,
        compute_util=schedule.compute_utilization() * 100,
        sram_ifmap_start=if_[0], sram_ifmap_stop=if_[1], sram_ifmap_reads=sram_ifmap,
        sram_filter_start=f_[0], sram_filter_stop=f_[1], sram_filter_reads=sram_filter,
        sram_ofmap_start=float(served(written[0])), sram_ofmap_stop=float(served(written[1])),
        sram_ofmap_writes=sram_ofmap,
        dram_ifmap_start=if_[2], dram_ifmap_stop=if_[3], dram_ifmap_reads=if_[4],
        dram_filter_start=f_[2], dram_filter_stop=f_[3], dram_filter_reads=f_[4],
        dram_ofmap_start=of_start, dram_ofmap_stop=of_stop, dram_ofmap_writes=writer.dram_words,
        metadata_reads=metadata, filter_storage=original, filter_storage_compressed=compressed,
    )


def simulate(layers: Iterable[ScaleSimLayer], config: ScaleSimConfig, trace_dir: Path | None = None
             ) -> list[LayerReport]:
    """Every layer's report; identical layers (e.g. a depthwise layer's channels) are computed once.

    With ``trace_dir``, SCALE-Sim's trace files of layer ``i`` are written to ``trace_dir/layer<i>/``.
    """
    from accelsim.scalesim.traces import LAYER_FOLDER, copy_traces

    cache: dict[tuple, tuple[LayerReport, int]] = {}
    reports = []
    for index, layer in enumerate(layers):
        key = (layer.ifmap_h, layer.ifmap_w, layer.filter_h, layer.filter_w, layer.channels, layer.filters,
               layer.stride, layer.sparsity_n, layer.sparsity_m)
        folder = trace_dir / LAYER_FOLDER.format(index) if trace_dir is not None else None
        if key not in cache:
            cache[key] = simulate_layer(layer, config, folder), index
        elif trace_dir is not None and folder is not None:
            copy_traces(trace_dir / LAYER_FOLDER.format(cache[key][1]), folder)
        reports.append(replace(cache[key][0], name=layer.name))
    return reports
