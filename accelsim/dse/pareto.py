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
    front: list[tuple[tuple, int]] = []
    for mine, i in feasible:
        if not any(all(o <= m for o, m in zip(other, mine)) and other != mine for other, _ in front):
            front.append((mine, i))
    return sorted(i for _, i in front)
