"""The non-dominated set of feasible points: each objective minimised, or maximised when it is a
rate (:data:`MAXIMISED`: tokens/s, tokens/s per mm² or per W, goodput)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

OBJECTIVES = ("total_cycles", "energy_pj", "area_um2")
# Objectives where more is better; every other objective is minimised.
MAXIMISED = frozenset({"tokens_per_s", "decode_tokens_per_s", "tokens_per_s_per_mm2", "tokens_per_s_per_w",
                       "goodput_rps", "goodput_fraction", "requests_per_s"})


def maximised(objective: str) -> bool:
    """Whether ``objective`` is better larger (a rate) rather than smaller (a time, an energy, an area).

    Examples
    --------
    >>> maximised("tokens_per_s_per_mm2"), maximised("tpot_s")
    (True, False)
    """
    return objective in MAXIMISED


def score(row: dict[str, Any], objectives: Sequence[str]) -> tuple:
    """The row's objectives, each negated if maximised: smaller is better in every place.

    Examples
    --------
    >>> score({"tpot_s": 0.5, "tokens_per_s": 20.0}, ("tpot_s", "tokens_per_s"))
    (0.5, -20.0)
    """
    return tuple(-row[o] if o in MAXIMISED else row[o] for o in objectives)


def pareto(results: list[dict[str, Any]], objectives: tuple[str, ...] = OBJECTIVES) -> list[int]:
    """Indices of the feasible results no other feasible result dominates, in index order.

    Points are visited best-first by their objective tuple, so a point can only be dominated by one
    already on the front: each is compared with the front so far, not with every point (fast for
    a million points, whose front is small). Equal objective vectors are all kept. A maximised
    objective (:data:`MAXIMISED`) dominates by being larger.

    Examples
    --------
    >>> rs = [{"feasible": True, "a": 1, "b": 3}, {"feasible": True, "a": 2, "b": 2},
    ...       {"feasible": True, "a": 3, "b": 3}, {"feasible": False}]
    >>> pareto(rs, ("a", "b"))
    [0, 1]
    >>> rs = [{"feasible": True, "tpot_s": 1, "tokens_per_s": 5}, {"feasible": True, "tpot_s": 1, "tokens_per_s": 9}]
    >>> pareto(rs, ("tpot_s", "tokens_per_s"))
    [1]
    """
    feasible = sorted((score(r, objectives), i) for i, r in enumerate(results) if r.get("feasible"))
    if feasible and all(abs(v) < 2.0 ** 53 for mine, _ in feasible for v in mine):  # exact as float64
        return _front_numpy(feasible)
    return _front_python(feasible)


def _front_python(feasible: list[tuple[tuple, int]]) -> list[int]:
    """:func:`pareto`'s front of best-first ``(score, index)`` pairs, one point at a time (exact for any number)."""
    front: list[tuple[tuple, int]] = []
    for mine, i in feasible:
        if not any(all(o <= m for o, m in zip(other, mine)) and other != mine for other, _ in front):
            front.append((mine, i))
    return sorted(i for _, i in front)


def _front_numpy(feasible: list[tuple[tuple, int]], block: int = 256) -> list[int]:
    """:func:`pareto`'s front with numpy, a block of points at a time. In best-first order a point can only
    be dominated by an earlier one, and one dominated by a dominated point is dominated by its dominator
    too, so a point is on the front when no earlier point dominates it: the front so far, or an earlier
    point of its own block."""
    import numpy as np

    values = np.array([mine for mine, _ in feasible], dtype=np.float64)
    order = [i for _, i in feasible]
    front = np.empty((0, values.shape[1]))
    kept: list[int] = []
    def dominated(points: np.ndarray, by: np.ndarray) -> np.ndarray:
        """[p, q]: ``by[q]`` is no worse than ``points[p]`` everywhere and not equal to it."""
        return ((by[None, :, :] <= points[:, None, :]).all(axis=2) & (by[None, :, :] != points[:, None, :]).any(axis=2))

    for start in range(0, len(values), block):
        index = np.arange(start, min(start + block, len(values)))
        index = index[~dominated(values[index], front).any(axis=1)]
        # a point dominated by an earlier one of its block that the front dominates is dominated by the front
        survivors = values[index]
        inside = (dominated(survivors, survivors) & np.tri(len(index), k=-1, dtype=bool)).any(axis=1)
        index = index[~inside]
        front = np.concatenate([front, values[index]])
        kept += [order[k] for k in index.tolist()]
    return sorted(kept)
