"""SCALE-Sim inputs timed by accelsim's own engine (the default of ``accelsim scalesim``).

The layers and the array come from the SCALE-Sim files; the timing, SRAM and DRAM counts are
accelsim's RTL-true model (``docs/scalesim.md`` explains every difference with worked numbers).
Columns accelsim does not model per operand (start/stop cycles) span the layer: 0 to its last cycle,
as exact integers like every count (SCALE-Sim's own start/stop floats belong to ``--convention scalesim``).
"""

from __future__ import annotations

import math
from fractions import Fraction

from accelsim.arch import ArrayConfig
from accelsim.arch.config import MemorySpec
from accelsim.errors import SpecError, UnsupportedError
from accelsim.mapping import Mapping, load_dataflow
from accelsim.mapping.mapping import Fold, FoldSeq
from accelsim.scalesim.compat import LayerReport
from accelsim.scalesim.inputs import ScaleSimConfig, ScaleSimLayer
from accelsim.sim.engine import simulate_layer as native_layer
from accelsim.workload.layer import Layer

NM_REPRESENTATION = "accelsim_nm_index"  # SPARSE_REPORT's representation under --convention accelsim
UNLIMITED_BANDWIDTH = 1e9   # CALC mode sizes the bandwidth to the demand: nothing stalls on DRAM


def to_arch(config: ScaleSimConfig) -> ArrayConfig:
    """The accelsim architecture a SCALE-Sim config describes (int8 operands, 1-byte words)."""
    bandwidth = float(config.bandwidth) if config.user_bandwidth else UNLIMITED_BANDWIDTH
    return ArrayConfig(rows=config.rows, cols=config.cols, name=config.run_name, dataflows=(config.dataflow,),
                       memory=MemorySpec(ifmap_kib=config.ifmap_kib, filter_kib=config.filter_kib,
                                         ofmap_kib=config.ofmap_kib, dram_bytes_per_cycle=bandwidth))


def nm_of(layer: ScaleSimLayer, config: ScaleSimConfig) -> str:
    """``"N:M"`` when the topology's sparsity column applies (``[sparsity] SparsitySupport``), else ``""``."""
    if not config.sparsity_support or layer.sparsity_n >= layer.sparsity_m:
        return ""
    return f"{layer.sparsity_n}:{layer.sparsity_m}"


def to_layer(layer: ScaleSimLayer, nm: str = "") -> Layer:
    """The accelsim layer for a topology row (no padding, like SCALE-Sim; whole windows only).

    A row accelsim refuses (e.g. a tensor over 2**64 elements) is a :class:`SpecError` naming the
    topology file and line.
    """
    try:
        return Layer(layer.name, "conv2d", in_shapes=((layer.channels, layer.ifmap_h, layer.ifmap_w),),
                     out=layer.filters, kernel=(layer.filter_h, layer.filter_w),
                     stride=(layer.stride, layer.stride), padding=(0, 0, 0, 0), weight_structure=nm)
    except SpecError as exc:
        raise SpecError(exc.message, file=layer.source or None, path=exc.path) from None


def used_pes(seq: FoldSeq) -> tuple[int, int]:
    """``(sum of used PEs over the folds, number of folds)`` of a run-length fold sequence.

    Sums over the runs, never over single folds: a layer with millions of folds costs a few steps.

    Examples
    --------
    >>> used_pes([([(Fold(4, 4, 5), 2), (Fold(3, 4, 5), 1)], 3)])
    (132, 9)
    """
    pes = folds = 0
    for item, count in seq:
        if isinstance(item, Fold):
            item_pes, item_folds = item.rows * item.cols, 1
        else:
            item_pes, item_folds = used_pes(item)
        pes += count * item_pes
        folds += count * item_folds
    return pes, folds


def percent(numerator: int, denominator: int) -> float:
    """``100 · numerator / denominator`` rounded once (no ``3.0502000000000002`` artefacts).

    Examples
    --------
    >>> percent(30502, 1000000), 100 * (30502 / 1000000)
    (3.0502, 3.0502000000000002)
    """
    return float(Fraction(100 * numerator, denominator))


def simulate_layer(layer: ScaleSimLayer, config: ScaleSimConfig) -> LayerReport:
    """accelsim's timing of one SCALE-Sim layer, in SCALE-Sim's report fields."""
    arch, dataflow = to_arch(config), load_dataflow(config.dataflow)
    nm = nm_of(layer, config)
    ours = to_layer(layer, nm)
    if nm:  # the N:M column runs on accelsim's N:M weight-stationary PEs
        if not dataflow.supports_nm:
            raise UnsupportedError(f"{layer.source or 'topology'}: layer '{layer.name}' has N:M sparsity {nm}: "
                                   "accelsim models N:M weights on weight-stationary arrays only; "
                                   "--convention scalesim runs SCALE-Sim's own sparse model")
        arch = arch.with_changes(weight_nm=nm)
    result = native_layer(ours, arch, dataflow)
    pes = arch.pes
    # The closed form over the run-length fold sequence (the fold list of a 20000x20000 image has
    # millions of entries). Temporal chunks and repeated GEMMs repeat the same spatial folds: left out.
    fold_pes, folds = used_pes(Mapping.for_layer(ours, dataflow, arch, memory=False).run_length())
    last = result.cycles     # an int: a float would print 8.316064653939391e+21 for 8316064653939390820868
    sparse = {}
    if config.sparsity_support:  # SPARSE_REPORT: filter bytes dense, and as stored (kept values + indices)
        mapping = Mapping.for_layer(ours, dataflow, arch, memory=False)
        gemm, kept = mapping.gemm, mapping.kept_weight_elements()
        index = math.ceil(Fraction(kept * mapping.resolved.index_bits, 8))
        sparse = dict(filter_storage=gemm.count * gemm.K * gemm.N, filter_storage_compressed=kept + index,
                      metadata_reads=index)
    return LayerReport(
        name=layer.name, total_cycles_with_prefetch=result.cycles, total_cycles=result.cycles,
        stall_cycles=result.stall_cycles, overall_util=percent(result.mac_counts.issued, result.cycles * pes),
        mapping_efficiency=percent(fold_pes, folds * pes),
        compute_util=percent(result.mac_counts.issued, result.compute_cycles * pes),
        sram_ifmap_start=0, sram_ifmap_stop=last, sram_ifmap_reads=result.traffic.I.sram_reads,
        sram_filter_start=0, sram_filter_stop=last, sram_filter_reads=result.traffic.W.sram_reads,
        sram_ofmap_start=0, sram_ofmap_stop=last, sram_ofmap_writes=result.traffic.O.sram_writes,
        dram_ifmap_start=0, dram_ifmap_stop=last, dram_ifmap_reads=result.traffic.I.dram_bytes,
        dram_filter_start=0, dram_filter_stop=last, dram_filter_reads=result.traffic.W.dram_bytes,
        dram_ofmap_start=0, dram_ofmap_stop=last, dram_ofmap_writes=result.traffic.O.dram_bytes, **sparse)


def simulate(layers: list[ScaleSimLayer], config: ScaleSimConfig) -> list[LayerReport]:
    return [simulate_layer(layer, config) for layer in layers]
