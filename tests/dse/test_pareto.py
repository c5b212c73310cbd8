"""The front numpy computes a block at a time equals the front of the point-at-a-time definition."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from accelsim.dse.pareto import _front_numpy, _front_python, pareto, score

values = st.one_of(st.integers(0, 6), st.sampled_from([0.5, 1.5, 2.0]), st.floats(0, 10, allow_nan=False))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.booleans(), values, values, values), max_size=700), st.integers(1, 3),
       st.booleans())
def test_the_numpy_front_equals_the_definition(rows, width, rate):
    objectives = ("total_cycles", "energy_pj", "tokens_per_s" if rate else "area_um2")[:width]
    results = [{"feasible": f, "total_cycles": a, "energy_pj": b, "tokens_per_s": c, "area_um2": c}
               for f, a, b, c in rows]
    feasible = sorted((score(r, objectives), i) for i, r in enumerate(results) if r["feasible"])
    expected = _front_python(feasible)
    assert _front_numpy(feasible, block=7) == expected if feasible else True
    assert pareto(results, objectives) == expected
    front = {i: score(results[i], objectives) for i in expected}  # nothing on it is dominated by any point
    for i, mine in front.items():
        assert not any(all(o <= m for o, m in zip(other, mine)) and other != mine
                       for other, _ in feasible)


def test_cycles_beyond_float_precision_stay_exact():
    """2**53 + 1 and 2**53 are equal as float64: the exact path keeps them apart."""
    rows = [{"feasible": True, "total_cycles": 2**53 + 1, "energy_pj": 1.0},
            {"feasible": True, "total_cycles": 2**53, "energy_pj": 1.0}]
    assert pareto(rows, ("total_cycles", "energy_pj")) == [1]
