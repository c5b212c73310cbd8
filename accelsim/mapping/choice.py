"""A layer's mapping choice: which dataflow (with its loop order) and which temporal chunk it runs.

``simulate`` takes one per layer (``choices``) so a mapping search's result can be replayed
exactly; :func:`candidates` lists what a search may pick from.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from .dataflow import DataflowSpec


@dataclass(frozen=True)
class LayerChoice:
    """One layer's mapping: a dataflow with its fold loop order, and a temporal chunk.

    ``temporal_tile`` None is the largest chunk that fits the buffers (the fixed mapping rule).

    Examples
    --------
    >>> from accelsim.mapping import load_dataflow
    >>> LayerChoice(with_loop_order(load_dataflow("ws"), ("K", "N")), 64).to_dict()
    {'dataflow': 'ws', 'loop_order': 'KN', 'temporal_tile': 64}
    """

    dataflow: DataflowSpec
    temporal_tile: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"dataflow": self.dataflow.name, "loop_order": "".join(self.dataflow.loop_order),
                "temporal_tile": self.temporal_tile}

    @classmethod
    def from_dict(cls, data: dict[str, Any], specs: dict[str, DataflowSpec] | None = None) -> LayerChoice:
        """The choice :meth:`to_dict` wrote (a design-space result's ``mapping`` entry); ``specs``
        gives dataflows by name that are not (or shadow) the bundled ones.

        Examples
        --------
        >>> LayerChoice.from_dict({"dataflow": "ws", "loop_order": "KN", "temporal_tile": 64}).dataflow.loop_order
        ('K', 'N')
        """
        from .dataflow import load_dataflow

        spec = (specs or {}).get(data["dataflow"]) or load_dataflow(data["dataflow"])
        return cls(with_loop_order(spec, tuple(data["loop_order"])), data["temporal_tile"])


def with_loop_order(dataflow: DataflowSpec, order: tuple[str, str]) -> DataflowSpec:
    """The same dataflow folding its spatial dimensions in ``order`` (outermost first)."""
    outer, inner = order
    return dataflow if (outer, inner) == dataflow.loop_order else replace(dataflow, loop_order=(outer, inner))


def loop_orders(dataflow: DataflowSpec) -> list[DataflowSpec]:
    """The dataflow in both fold loop orders, its own first.

    Examples
    --------
    >>> from accelsim.mapping import load_dataflow
    >>> [d.loop_order for d in loop_orders(load_dataflow("ws"))]
    [('N', 'K'), ('K', 'N')]
    """
    outer, inner = dataflow.loop_order
    return [dataflow, with_loop_order(dataflow, (inner, outer))]


def tile_candidates(largest: int, *, count: int = 4) -> list[int]:
    """Temporal chunks a search tries: the largest that fits, then halvings (at most ``count``).

    Examples
    --------
    >>> tile_candidates(100), tile_candidates(3), tile_candidates(1)
    ([100, 50, 25, 13], [3, 2, 1], [1])
    """
    out = [largest]
    while len(out) < count and out[-1] > 1:
        out.append(-(-out[-1] // 2))
    return out
