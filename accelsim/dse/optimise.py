"""Search a large space with NSGA-II (optuna's sampler through ask/tell), bounded by count and time.

accelsim's store is the truth; the optimiser only proposes. Each generation's proposals that the
store lacks are evaluated together (one batch, spread over the workers), then every proposal is
told its stored result (an infeasible point as one that violates a constraint: ranked below every
feasible point, but part of its generation).

Resuming replays the optimiser from the same seed: it proposes the same points in the same order,
the store answers every one it already holds, and evaluation continues where the killed run
stopped, so an interrupted and resumed run visits exactly the points an uninterrupted one does.
(A ``time_limit`` bounds wall-clock time, so how far a timed run gets is not reproducible; a
``budget`` is.)

The population (:func:`population_size`) was chosen by measurement
(``benchmarks/dse_optimiser_quality.py``, docs/dse.md "Search"): on an enumerated 27,648-point ResNet-18
space at a 5% budget, populations of 20 to 30 reached the highest hypervolume of the exhaustive front
and 50 or more slightly less; generations need no cap of their own (the budget, the time limit or
:data:`STALE_GENERATIONS` ends a run).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from .pareto import maximised
from .space import Axis, count_points, points
from .store import point_key

WORST = 1e300  # the objectives of a point that cannot map at all (it has none)
STALE_GENERATIONS = 20  # stop when this many generations in a row propose nothing new (converged)
POPULATION = 30  # points per generation (population_size): measured, see the module's docstring


class Evaluator(Protocol):
    context: dict[str, Any]
    stored: dict[str, dict[str, Any]]

    def evaluate(self, points: list[dict[str, Any]], *, first_seq: int = 0) -> None: ...


@dataclass
class Search:
    """What NSGA-II was asked and did: the points it visited, in the order first proposed, and how."""

    budget: int | None
    time_limit: float | None
    seed: int
    population: int
    generations: int = 0  # generations asked of the sampler (the last may be cut by the budget)
    stopped: str = ""  # "budget", "time" or "converged" (STALE_GENERATIONS generations without a new point)
    visited: list[dict[str, Any]] = field(default_factory=list)
    # every point of the space with its result, when the store holds them all (an exhaustive run of the
    # same settings in the same folder): the reference front the search is measured against
    space: list[dict[str, Any]] | None = None


def population_size(budget: int | None) -> int:
    """Points per generation: :data:`POPULATION` (30), fewer for budgets under 120 (at least 4 generations).

    Examples
    --------
    >>> population_size(None), population_size(1382), population_size(40), population_size(10)
    (30, 30, 10, 4)
    """
    return POPULATION if budget is None else max(4, min(POPULATION, budget // 4))


def optimise_space(axes: list[Axis], objectives: tuple[str, ...], evaluator: Evaluator, *,
                   budget: int | None, time_limit: float | None, seed: int) -> list[dict[str, Any]]:
    """Visit up to ``budget`` distinct points (or until ``time_limit`` seconds pass); return them in
    the order they were first proposed (:func:`search_space`'s visits)."""
    return search_space(axes, objectives, evaluator, budget=budget, time_limit=time_limit, seed=seed).visited


def search_space(axes: list[Axis], objectives: tuple[str, ...], evaluator: Evaluator, *,
                 budget: int | None, time_limit: float | None, seed: int, population: int | None = None) -> Search:
    """Visit up to ``budget`` distinct points (or until ``time_limit`` seconds pass) with generations of
    ``population`` points (default :func:`population_size`); return the search: its points in the order
    they were first proposed, how it ran, and every point of the space if the store holds them all."""
    try:
        import optuna
    except ImportError:
        from ..errors import UnsupportedError

        raise UnsupportedError("--budget and --time search with NSGA-II, which needs optuna: "
                               "pip install 'accelsim[dse]'") from None
    from optuna.distributions import BaseDistribution, CategoricalDistribution

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    size = population or population_size(budget)
    sampler = optuna.samplers.NSGAIISampler(population_size=size, seed=seed)
    # a rate (tokens/s, goodput) is maximised; its worst value is then the most negative
    directions = [optuna.study.StudyDirection.MAXIMIZE if maximised(o) else optuna.study.StudyDirection.MINIMIZE
                  for o in objectives]
    worst = [-WORST if maximised(o) else WORST for o in objectives]
    study = optuna.create_study(directions=directions, sampler=sampler)
    distributions: dict[str, BaseDistribution] = {a.name: CategoricalDistribution(list(a.values)) for a in axes}
    search = Search(budget, time_limit, seed, size, stopped="converged")
    visited = search.visited
    seen: set[str] = set()
    start, stale = time.monotonic(), 0
    while stale < STALE_GENERATIONS:
        if budget is not None and len(visited) >= budget:
            search.stopped = "budget"
            break
        if time_limit is not None and time.monotonic() - start >= time_limit:
            search.stopped = "time"
            break
        search.generations += 1
        trials = [study.ask(distributions) for _ in range(size)]
        proposed = [{name: trial.params[name] for name in distributions} for trial in trials]
        fresh: list[dict[str, Any]] = []
        for point in proposed:
            key = point_key(point, evaluator.context)
            if key not in seen and (budget is None or len(visited) + len(fresh) < budget):
                seen.add(key)
                fresh.append(point)
        evaluator.evaluate(fresh, first_seq=len(visited))
        visited += fresh
        stale = 0 if fresh else stale + 1
        for trial, point in zip(trials, proposed):
            result = evaluator.stored.get(point_key(point, evaluator.context))
            if result is None:  # beyond the budget: never evaluated, never told
                continue
            # An infeasible point is a completed trial that violates a constraint: NSGA-II ranks it
            # below every feasible one but still counts it in its generation (a failed trial would
            # not, and a space with many infeasible points would then never leave random sampling).
            trial.set_constraint("infeasible", 0.0 if result["feasible"] else 1.0)  # > 0: violated
            study.tell(trial, [result[o] if result["feasible"] else float(result.get(o) or w)
                               for o, w in zip(objectives, worst)])
    search.space = stored_space(axes, evaluator)
    return search


def stored_space(axes: list[Axis], evaluator: Evaluator) -> list[dict[str, Any]] | None:
    """Every point of the space with its stored result, if the store holds them all (else None)."""
    if len(evaluator.stored) < count_points(axes):
        return None
    found = []
    for point in points(axes):
        result = evaluator.stored.get(point_key(point, evaluator.context))
        if result is None:
            return None
        found.append(point | result)
    return found
