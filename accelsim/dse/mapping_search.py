"""The per-layer mapping search of a design point, for one architecture (``simulate --mapping search``).

The same search as a design-space run's (:class:`~accelsim.dse.batch.Batch`): each GEMM layer picks,
by cycles then energy, among the given dataflow (or every dataflow the array supports), both fold
loop orders and up to four temporal chunks. ``simulate`` then replays those choices exactly.
"""

from __future__ import annotations

from ..arch import ArrayConfig
from ..errors import MappingError
from ..mapping.choice import LayerChoice
from ..workload.graph import LayerGraph


def search_mapping(graph: LayerGraph, arch: ArrayConfig, dataflow: str | None = None, *,
                   energy_table: str = "horowitz45") -> dict[str, LayerChoice]:
    """Each GEMM layer's best mapping on ``arch`` (with the memory model), by layer name.

    ``dataflow``: a bundled name or a dataflow file to search within (its two loop orders and
    chunks); None searches every dataflow ``arch`` supports. A layer that fits no candidate raises
    the first candidate's :class:`~accelsim.errors.MappingError`.

    Examples
    --------
    >>> from accelsim.arch import resolve_arch
    >>> from accelsim.workload import resolve_workload
    >>> choices = search_mapping(resolve_workload("alexnet"), resolve_arch("sa32"), "ws")
    >>> sorted({c.dataflow.name for c in choices.values()}), len(choices)
    (['ws'], 8)
    """
    from ..mapping import load_dataflow
    from .batch import Batch

    point = {} if dataflow is None else {"dataflow": dataflow}
    batch = Batch(graph, arch, energy_table=energy_table, search=True, objectives=("total_cycles", "energy_pj"))
    row = batch.evaluate([point])[0]
    if not row["feasible"]:
        raise MappingError(row["reason"])
    specs = {} if dataflow is None else {(spec := load_dataflow(dataflow)).name: spec}
    return {name: LayerChoice.from_dict(choice, specs) for name, choice in row["mapping"].items()}
