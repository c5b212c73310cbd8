"""One design point: cycles (fast engine), energy (the energy table) and area (the area table).

A point that cannot run (a layer that maps onto no buffer, a width the datapath refuses, an area
the table cannot estimate) is *infeasible*: it keeps its axis values and the one-line reason, and
never enters the Pareto set. Nothing here raises for a bad point. Many points at once share work:
see :mod:`accelsim.dse.batch`, which this calls.
"""

from __future__ import annotations

from typing import Any

from ..arch import ArrayConfig
from ..workload.graph import LayerGraph
from .batch import Batch


def evaluate_point(graph: LayerGraph, base: ArrayConfig, point: dict[str, Any], *,
                   energy_table: str = "horowitz45", search: bool = False) -> dict[str, Any]:
    """The result of one point: objectives, feasibility and the per-layer mapping used.

    Examples
    --------
    >>> from accelsim.arch import resolve_arch
    >>> from accelsim.workload import resolve_workload
    >>> r = evaluate_point(resolve_workload("alexnet"), resolve_arch("sa32"), {"rows": 16, "dataflow": "os"})
    >>> r["feasible"], r["total_cycles"] > 0, r["area_um2"] > 0, r["mapping"]["conv2d1"]
    (True, True, True, {'dataflow': 'os', 'loop_order': 'MN', 'temporal_tile': None})
    """
    return Batch(graph, base, energy_table=energy_table, search=search).evaluate([point])[0]
