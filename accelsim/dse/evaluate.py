"""One design point: cycles (fast engine), energy (the energy table) and area (the area table).

A point that cannot run (a layer that maps onto no buffer, a width the datapath refuses, an area
the table cannot estimate) is *infeasible*: it keeps its axis values and the one-line reason, and
never enters the Pareto set. Nothing here raises for a bad point.
"""

from __future__ import annotations

from typing import Any

from ..arch import ArrayConfig
from ..errors import AccelsimError
from ..workload.graph import LayerGraph
from .space import arch_for, workload_changes

MODEL_VERSION = 1  # bump when a change to the models changes a stored result


def evaluate_point(graph: LayerGraph, base: ArrayConfig, point: dict[str, Any], *,
                   energy_table: str = "horowitz45") -> dict[str, Any]:
    """The result of one point: objectives, feasibility and the per-layer mapping used.

    Examples
    --------
    >>> from accelsim.arch import resolve_arch
    >>> from accelsim.workload import resolve_workload
    >>> r = evaluate_point(resolve_workload("alexnet"), resolve_arch("sa32"), {"rows": 16, "dataflow": "os"})
    >>> r["feasible"], r["total_cycles"] > 0, r["area_um2"] > 0, r["mapping"]["conv2d1"]
    (True, True, True, 'os')
    """
    from ..cost.area import array_area
    from ..mapping import load_dataflow
    from ..sim import simulate

    try:
        arch = arch_for(base, point)
        dataflow = load_dataflow(str(point.get("dataflow", arch.dataflows[0])))
        if dataflow.name not in arch.dataflows:
            arch = arch.with_changes(dataflows=(*arch.dataflows, dataflow.name))
        result = simulate(graph.with_gemm_changes(workload_changes(point), where=" (design point)"), arch, dataflow,
                          energy_table=energy_table)
        area = array_area(arch, dataflow.name)
    except AccelsimError as err:
        return {"feasible": False, "reason": str(err)}
    return {"feasible": True, "reason": "", "total_cycles": result.total_cycles,
            "energy_pj": result.energy["energy_pj"], "area_um2": round(area.total_um2, 3),
            "pe_area_um2": round(area.pe_um2, 3), "sram_area_um2": round(area.sram_um2, 3),
            "utilization": round(result.utilization, 6), "dram_bytes": result.to_dict()["dram_bytes"],
            "mapping": {r.name: dataflow.name for r in result.layers if r.unit == "array"}}
