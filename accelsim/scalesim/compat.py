"""``--convention scalesim``: SCALE-Sim v3's reported numbers, computed without its per-word loops.

:func:`simulate_layer` returns one :class:`LayerReport` holding every field of SCALE-Sim's
COMPUTE_REPORT, BANDWIDTH_REPORT, DETAILED_ACCESS_REPORT (and SPARSE_REPORT) for a layer.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from accelsim.errors import UnsupportedError
from accelsim.scalesim.buffers import (ESTIMATE_FILL_BANDWIDTH, READ_PORT_LATENCY, count_buffer_fills,
                                       set_size, simulate_write_buffer)
from accelsim.scalesim.folds import FoldSchedule
from accelsim.scalesim.inputs import ScaleSimConfig, ScaleSimLayer
from accelsim.scalesim.operands import Operands

SETS_PER_HALF = 50


@dataclass(frozen=True)
class LayerReport:
    """One layer's row in each of SCALE-Sim's reports (same units, same conventions)."""

    name: str
    total_cycles_with_prefetch: int
    total_cycles: int
    stall_cycles: int
    overall_util: float
    mapping_efficiency: float
    compute_util: float
    sram_ifmap_start: float
    sram_ifmap_stop: float
    sram_ifmap_reads: float
    sram_filter_start: float
    sram_filter_stop: float
    sram_filter_reads: int
    sram_ofmap_start: float
    sram_ofmap_stop: float
    sram_ofmap_writes: int
    dram_ifmap_start: float
    dram_ifmap_stop: float
    dram_ifmap_reads: int
    dram_filter_start: float
    dram_filter_stop: float
    dram_filter_reads: int
    dram_ofmap_start: float
    dram_ofmap_stop: float
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

    def before(self, row: int) -> int:
        """Stall cycles added before ``row`` starts."""
        import bisect
        i = bisect.bisect_left(self.rows, row)
        return self.after[i - 1] if i else 0

    def through(self, row: int) -> int:
        import bisect
        i = bisect.bisect_right(self.rows, row)
        return self.after[i - 1] if i else 0


def _valid_rows(demand: np.ndarray) -> np.ndarray:
    return np.flatnonzero((demand >= 0).any(axis=1))


def _read_side(schedule: FoldSchedule, which: str, size_bytes: int, distinct: int, base: int, space: int,
               shifts: _Shifts):
    """(first row, last row, DRAM start, DRAM stop, DRAM words) of one operand in CALC mode."""
    demand = schedule.ifmap_demand if which == "ifmap" else schedule.filter_demand
    per_fold = schedule.rows_per_fold
    folds = schedule.num_folds

    def first_or_last(index: int, pick) -> int:
        rows = _valid_rows(demand(schedule.fold(index)))
        return index * per_fold + int(pick(rows))

    first_row = first_or_last(0, lambda r: r[0])
    last_row = first_or_last(folds - 1, lambda r: r[-1])
    items = set_size(size_bytes)
    half = SETS_PER_HALF * items
    if items == 0:
        raise UnsupportedError(f"a {which} SRAM under 100 bytes makes SCALE-Sim divide by zero")
    if distinct < half:
        words, refills = distinct, []
    else:
        def streams():
            for fold in schedule.folds():
                block = demand(fold)
                rows, _ = np.nonzero(block >= 0)
                yield block[block >= 0] - base, rows + fold.index * per_fold
        counted = count_buffer_fills(streams(), space, half)
        words, refills = counted.words, counted.refill_rows
    first_cycle = first_row + shifts.before(first_row)
    if not refills:
        sets = math.ceil(words / items)
        fill = math.ceil(sets * items / ESTIMATE_FILL_BANDWIDTH)
        start, stop = -1 - READ_PORT_LATENCY - fill + 1, -1 - READ_PORT_LATENCY
    else:
        start = first_cycle - 1 - READ_PORT_LATENCY - math.ceil(half / ESTIMATE_FILL_BANDWIDTH) + 1
        stop = refills[-1] + shifts.before(refills[-1])
    return first_row, last_row, float(start + READ_PORT_LATENCY), float(stop + READ_PORT_LATENCY), words


def simulate_layer(layer: ScaleSimLayer, config: ScaleSimConfig) -> LayerReport:
    """SCALE-Sim v3's report row for ``layer`` (CALC bandwidth mode).

    Examples
    --------
    >>> cfg = ScaleSimConfig("r", 8, 8, 64, 64, 32, "ws")
    >>> rep = simulate_layer(ScaleSimLayer("Conv1", 16, 16, 3, 3, 8, 16, 1), cfg)
    >>> rep.total_cycles, rep.dram_ofmap_writes, rep.total_cycles_with_prefetch
    (3923, 28231, 5665)
    """
    if config.user_bandwidth:
        raise UnsupportedError("InterfaceBandwidth: USER is not reproduced yet; use CALC")
    ops = Operands(layer, config)
    schedule = FoldSchedule(ops)
    counts = np.concatenate([schedule.ofmap_counts(f) for f in schedule.folds()])
    cum = np.cumsum(counts)
    writes = simulate_write_buffer(cum, config.ofmap_kib * 1024, config.cols)
    shifts = _Shifts(writes.stalls)
    total_rows = schedule.total_rows
    total_cycles = total_rows - 1 + writes.stall_cycles

    lay = layer
    in_base, in_space = config.ifmap_offset, lay.ifmap_h * lay.ifmap_w * lay.channels
    f_base, f_space = config.filter_offset, lay.window * lay.filters
    if_first, if_last, if_start, if_stop, if_words = _read_side(
        schedule, "ifmap", config.ifmap_kib * 1024, ops.ifmap_distinct, in_base, in_space, shifts)
    f_first, f_last, f_start, f_stop, f_words = _read_side(
        schedule, "filter", config.filter_kib * 1024, ops.filter_distinct, f_base, f_space, shifts)
    written = np.flatnonzero(counts)
    of_first, of_last = int(written[0]), int(written[-1])

    sram_ifmap, sram_filter, sram_ofmap = schedule.sram_counts()
    pes = config.rows * config.cols
    of_start = float(writes.drains[0][0])
    of_stop = float(max(c + n - 1 for c, n in writes.drains))
    metadata = original = compressed = 0
    if config.sparsity_support:
        original, compressed, metadata = ops.sparse_storage()
    return LayerReport(
        name=layer.name,
        total_cycles_with_prefetch=int(of_stop - min(if_start, f_start)),
        total_cycles=total_cycles,
        stall_cycles=writes.stall_cycles,
        overall_util=(layer.macs * 100) / (total_cycles * pes),
        mapping_efficiency=schedule.mapping_efficiency() * 100,
        compute_util=schedule.compute_utilization() * 100,
        sram_ifmap_start=float(if_first + shifts.before(if_first) + 1),
        sram_ifmap_stop=float(if_last + shifts.before(if_last) + 1),
        sram_ifmap_reads=sram_ifmap,
        sram_filter_start=float(f_first + shifts.before(f_first) + 1),
        sram_filter_stop=float(f_last + shifts.before(f_last) + 1),
        sram_filter_reads=sram_filter,
        sram_ofmap_start=float(of_first + shifts.through(of_first)),
        sram_ofmap_stop=float(of_last + shifts.through(of_last)),
        sram_ofmap_writes=sram_ofmap,
        dram_ifmap_start=if_start, dram_ifmap_stop=if_stop, dram_ifmap_reads=if_words,
        dram_filter_start=f_start, dram_filter_stop=f_stop, dram_filter_reads=f_words,
        dram_ofmap_start=of_start, dram_ofmap_stop=of_stop, dram_ofmap_writes=writes.dram_words,
        metadata_reads=metadata, filter_storage=original, filter_storage_compressed=compressed,
    )


def simulate(layers: list[ScaleSimLayer], config: ScaleSimConfig) -> list[LayerReport]:
    """Every layer's report; identical layers (e.g. a depthwise layer's channels) are computed once."""
    cache: dict[tuple, LayerReport] = {}
    reports = []
    for layer in layers:
        key = (layer.ifmap_h, layer.ifmap_w, layer.filter_h, layer.filter_w, layer.channels, layer.filters,
               layer.stride, layer.sparsity_n, layer.sparsity_m)
        if key not in cache:
            cache[key] = simulate_layer(layer, config)
        reports.append(cache[key] if cache[key].name == layer.name
                       else LayerReport(**{**cache[key].as_dict(), "name": layer.name}))
    return reports
