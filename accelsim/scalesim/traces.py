"""SCALE-Sim's per-cycle SRAM and DRAM trace files, streamed to disk.

Layout (SCALE-Sim v3's, ``OUTPUT/<run_name>/layer<i>/``; integers, comma separated, no header):
"""

from __future__ import annotations

LAYER_FOLDER = "layer{}"
TRACE_NAMES = ("IFMAP_SRAM_TRACE.csv", "FILTER_SRAM_TRACE.csv", "OFMAP_SRAM_TRACE.csv",
               "IFMAP_DRAM_TRACE.csv", "FILTER_DRAM_TRACE.csv", "OFMAP_DRAM_TRACE.csv")


def trace_names(layers: int) -> list[str]:
    """Paths, relative to the run folder, of every trace file a run of ``layers`` layers writes."""
    return [f"{LAYER_FOLDER.format(i)}/{name}" for i in range(layers) for name in TRACE_NAMES]
