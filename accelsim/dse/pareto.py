"""The non-dominated set of feasible points (all objectives minimised)."""

from __future__ import annotations

from typing import Any

OBJECTIVES = ("total_cycles", "energy_pj", "area_um2")


def pareto(results: list[dict[str, Any]], objectives: tuple[str, ...] = OBJECTIVES) -> list[int]:
    """Indices of the feasible results no other feasible result dominates, in index order.

    Points are visited best-first by their objective tuple, so a point can only be dominated by one
    already on the front: each is compared with the front so far, not with every point (fast for
    a million points, whose front is small). Equal objective vectors are all kept.

    Examples
    --------
    >>> rs = [{"feasible": True, "a": 1, "b": 3}, {"feasible": True, "a": 2, "b": 2},
    ...       {"feasible": True, "a": 3, "b": 3}, {"feasible": False}]
    >>> pareto(rs, ("a", "b"))
    [0, 1]
    """
    feasible = sorted((tuple(r[o] for o in objectives), i) for i, r in enumerate(results) if r.get("feasible"))
    front: list[tuple[tuple, int]] = []
    for mine, i in feasible:
        if not any(all(o <= m for o, m in zip(other, mine)) and other != mine for other, _ in front):
            front.append((mine, i))
    return sorted(i for _, i in front)
