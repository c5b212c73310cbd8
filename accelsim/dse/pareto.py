"""The non-dominated set of feasible points (all objectives minimised)."""

from __future__ import annotations

from typing import Any

OBJECTIVES = ("total_cycles", "energy_pj", "area_um2")


def pareto(results: list[dict[str, Any]], objectives: tuple[str, ...] = OBJECTIVES) -> list[int]:
    """Indices of the feasible results no other feasible result dominates.

    Examples
    --------
    >>> rs = [{"feasible": True, "a": 1, "b": 3}, {"feasible": True, "a": 2, "b": 2},
    ...       {"feasible": True, "a": 3, "b": 3}, {"feasible": False}]
    >>> pareto(rs, ("a", "b"))
    [0, 1]
    """
    feasible = [(i, tuple(r[o] for o in objectives)) for i, r in enumerate(results) if r.get("feasible")]
    front = []
    for i, mine in feasible:
        dominated = any(all(o <= m for o, m in zip(other, mine)) and other != mine for _, other in feasible)
        if not dominated:
            front.append(i)
    return front
