"""How good a searched front is: its hypervolume on the run's objectives, and its ratio to a reference front.

The hypervolume is moocore's (``moocore.hypervolume``, exact in 2-D and 3-D, imported only when asked:
``pip install 'accelsim[dse]'``), in a **normalised box** so that objectives of different units and
magnitudes (cycles, picojoules, square micrometres) weigh alike and the reference point is well defined:

* every objective is put in minimised form (a maximised one, :data:`~accelsim.dse.pareto.MAXIMISED`,
  negated, as :func:`~accelsim.dse.pareto.score` does);
* the box is spanned by the **ideal** (each objective's best) and the **nadir** (each objective's worst)
  of the non-dominated feasible points of a set: the reference front (the exhaustive one, when the space
  was enumerated) or, without one, the front that was found;
* each objective is mapped linearly to ``(value - ideal) / (nadir - ideal)``, so the front spans [0, 1]
  in every objective (an objective every front point shares has a span of 1 in its own units);
* the **reference point** is 1.1 in every normalised objective (:data:`REFERENCE`): the nadir plus 10%
  of the front's range, so the front's extreme points still add volume. A point beyond it in any
  objective adds nothing; infeasible points add nothing.

A ratio is the found set's hypervolume over the reference set's, both in the reference front's box: at
most 1 when the found points are points of the reference set (an optimiser's visits within an
enumerated space), 1 when the found front covers the reference front.

Examples
--------
>>> rows = [{"feasible": True, "a": 1.0, "b": 4.0}, {"feasible": True, "a": 2.0, "b": 2.0},
...         {"feasible": True, "a": 4.0, "b": 1.0}, {"feasible": False, "a": 0.0, "b": 0.0}]
>>> box = Box.of(rows, ("a", "b"))
>>> box.ideal, box.nadir, [round(r, 6) for r in box.reference()]
((1.0, 1.0), (4.0, 4.0), [4.3, 4.3])
>>> box.normalised(rows[1:])   # the infeasible point has no place in it
[(0.3333333333333333, 0.3333333333333333), (1.0, 0.0)]
>>> round(hypervolume(rows, ("a", "b"), box), 6)   # 1/3 × 0.1 + 2/3 × (1.1 - 1/3) + 0.1 × 1.1
0.654444
>>> round(hypervolume_ratio(rows[1:2], rows, ("a", "b")), 4)   # (1.1 - 1/3)² of it
0.8981
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .pareto import score

REFERENCE = 1.1  # the reference point in every normalised objective: the front's nadir plus 10% of its range


@dataclass(frozen=True)
class Box:
    """The normalisation of a set's objectives (in minimised form): ``ideal`` maps to 0, ``nadir`` to 1."""

    objectives: tuple[str, ...]
    ideal: tuple[float, ...]
    nadir: tuple[float, ...]

    @classmethod
    def of(cls, rows: Sequence[dict[str, Any]], objectives: Sequence[str]) -> Box:
        """The box of the non-dominated feasible ``rows`` (each objective's best and worst on that front)."""
        import numpy as np

        objectives = tuple(objectives)
        points = np.array(_matrix(rows, objectives), dtype=float).reshape(-1, len(objectives))
        if not len(points):
            raise ValueError("no feasible point: a hypervolume needs a front")
        front = points[_moocore().is_nondominated(points, keep_weakly=True)]  # pareto()'s front, in C
        return cls(objectives, tuple(float(v) for v in front.min(axis=0)), tuple(float(v) for v in front.max(axis=0)))

    def spans(self) -> tuple[float, ...]:
        """Each objective's range on the front, 1 (in its own units) where the front does not vary."""
        return tuple((n - i) if n > i else 1.0 for i, n in zip(self.ideal, self.nadir))

    def reference(self) -> tuple[float, ...]:
        """The reference point in the objectives' own (minimised) units: ideal + 1.1 × span."""
        return tuple(i + REFERENCE * s for i, s in zip(self.ideal, self.spans()))

    def normalised(self, rows: Sequence[dict[str, Any]]) -> list[tuple[float, ...]]:
        """The feasible rows' objectives in the box's coordinates (the front within [0, 1])."""
        spans = self.spans()
        return [tuple((v - i) / s for v, i, s in zip(point, self.ideal, spans))
                for point in _matrix(rows, self.objectives)]


def hypervolume(rows: Sequence[dict[str, Any]], objectives: Sequence[str], box: Box | None = None) -> float:
    """The hypervolume the feasible ``rows`` dominate up to the reference point, in ``box``'s normalised units
    (default: the box of ``rows``' own front). At most 1.1 to the power of the objectives' count."""
    import numpy as np

    box = box if box is not None else Box.of(rows, objectives)
    if tuple(objectives) != box.objectives:
        raise ValueError(f"the box is over {box.objectives}, not {tuple(objectives)}")
    points = box.normalised(rows)
    if not points:
        return 0.0
    return float(_moocore().hypervolume(np.array(points, dtype=float), ref=[REFERENCE] * len(box.objectives)))


def hypervolume_ratio(found: Sequence[dict[str, Any]], reference: Sequence[dict[str, Any]],
                      objectives: Sequence[str]) -> float:
    """``found``'s hypervolume over ``reference``'s, both in the box of ``reference``'s front.

    In [0, 1] when ``found`` is a subset of ``reference`` (what an optimiser visited of an enumerated space).
    """
    box = Box.of(reference, objectives)
    return hypervolume(found, objectives, box) / hypervolume(reference, objectives, box)


def _matrix(rows: Sequence[dict[str, Any]], objectives: Sequence[str]) -> list[tuple[float, ...]]:
    """The feasible rows' objectives, each in minimised form."""
    return [tuple(float(v) for v in score(row, objectives)) for row in rows if row.get("feasible")]


def _moocore():
    try:
        import moocore
    except ImportError:
        from ..errors import UnsupportedError

        raise UnsupportedError("the hypervolume needs moocore: pip install 'accelsim[dse]'") from None
    return moocore
