"""The optimiser's quality measure (accelsim/dse/quality.py): moocore's hypervolume in the reference front's box."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accelsim.cli import main
from accelsim.dse.pareto import pareto
from accelsim.dse.quality import REFERENCE, Box, hypervolume, hypervolume_ratio

pytestmark = pytest.mark.needs("moocore")

OBJECTIVES = ("total_cycles", "energy_pj", "area_um2")
_value = st.integers(min_value=1, max_value=1000)
_row = st.builds(lambda c, e, a, ok: {"feasible": ok, "total_cycles": c, "energy_pj": e, "area_um2": a},
                 _value, _value, _value, st.booleans() | st.just(True))
# a set with at least one feasible point (a hypervolume needs a front), and a subset of it
_rows = st.lists(_row, min_size=1, max_size=40).filter(lambda rows: any(r["feasible"] for r in rows))
_with_subset = _rows.flatmap(lambda rows: st.tuples(st.just(rows), st.lists(st.sampled_from(rows), max_size=40)))


@settings(max_examples=60, deadline=None)
@given(_with_subset)
def test_a_subset_never_has_more_hypervolume_and_its_ratio_is_in_0_1(data):
    rows, subset = data
    box = Box.of(rows, OBJECTIVES)
    assert hypervolume(subset, OBJECTIVES, box) <= hypervolume(rows, OBJECTIVES, box) * (1 + 1e-12)
    assert 0.0 <= hypervolume_ratio(subset, rows, OBJECTIVES) <= 1.0 + 1e-12
    assert hypervolume_ratio(rows, rows, OBJECTIVES) == 1.0


@settings(max_examples=60, deadline=None)
@given(_rows)
def test_a_front_has_the_hypervolume_of_all_its_points_and_infeasible_ones_add_nothing(rows):
    front = [rows[i] for i in pareto(rows, OBJECTIVES)]
    box = Box.of(rows, OBJECTIVES)
    assert Box.of(front, OBJECTIVES) == box
    assert hypervolume(front, OBJECTIVES, box) == pytest.approx(hypervolume(rows, OBJECTIVES, box), rel=1e-12)
    feasible = [r for r in rows if r["feasible"]]
    assert hypervolume(feasible, OBJECTIVES, box) == hypervolume(rows, OBJECTIVES, box)
    assert 0.0 < hypervolume(rows, OBJECTIVES, box) <= REFERENCE ** 3 * (1 + 1e-12)


@settings(max_examples=40, deadline=None)
@given(_rows, st.sampled_from([0.001, 3.0, 1e9]))
def test_the_normalised_box_makes_the_units_irrelevant(rows, scale):
    """Cycles in thousands, energy in joules: the same front, the same hypervolume."""
    scaled = [r | {"energy_pj": r["energy_pj"] * scale} for r in rows]
    assert hypervolume(scaled, OBJECTIVES) == pytest.approx(hypervolume(rows, OBJECTIVES), rel=1e-9)


@settings(max_examples=40, deadline=None)
@given(_rows)
def test_a_maximised_objective_is_measured_negated(rows):
    """tokens/s is better larger: the same volume as a minimised objective of the negated values."""
    as_rate = [{"feasible": r["feasible"], "tpot_s": r["total_cycles"], "tokens_per_s": -r["energy_pj"]} for r in rows]
    as_cost = [{"feasible": r["feasible"], "tpot_s": r["total_cycles"], "energy_pj": r["energy_pj"]} for r in rows]
    assert hypervolume(as_rate, ("tpot_s", "tokens_per_s")) == hypervolume(as_cost, ("tpot_s", "energy_pj"))


def test_the_box_and_the_reference_point_are_the_fronts_ideal_and_nadir_plus_a_tenth():
    rows = [{"feasible": True, "total_cycles": 10, "energy_pj": 50.0, "area_um2": 7.0},
            {"feasible": True, "total_cycles": 20, "energy_pj": 10.0, "area_um2": 7.0},
            {"feasible": True, "total_cycles": 30, "energy_pj": 60.0, "area_um2": 9.0},  # dominated: not in the box
            {"feasible": False, "total_cycles": 1, "energy_pj": 1.0, "area_um2": 1.0}]
    box = Box.of(rows, OBJECTIVES)
    assert (box.ideal, box.nadir) == ((10.0, 10.0, 7.0), (20.0, 50.0, 7.0))
    assert box.reference() == pytest.approx((21.0, 54.0, 8.1))  # area does not vary: a span of 1 in µm²
    # normalised (0, 1, 0) and (1, 0, 0): in cycles x energy 1.1 x 0.1 + 0.1 x 1.0, times 1.1 of area
    assert hypervolume(rows, OBJECTIVES) == pytest.approx((1.1 * 0.1 + 0.1 * 1.0) * 1.1)
    assert hypervolume(rows[2:], OBJECTIVES, box) == 0.0  # beyond the reference point: nothing


def test_no_feasible_point_has_no_box():
    with pytest.raises(ValueError, match="no feasible point"):
        Box.of([{"feasible": False}], OBJECTIVES)
    with pytest.raises(ValueError, match="the box is over"):
        hypervolume([{"feasible": True, "a": 1, "b": 1}], ("b", "a"), Box.of([{"feasible": True, "a": 1, "b": 1}],
                                                                                ("a", "b")))


def _section(folder) -> str:
    import re

    page = (folder / "report.html").read_text()
    if "<h2>Search</h2>" not in page:
        return ""
    part = page[page.index("<h2>Search</h2>"):page.index("<h2>Pareto front</h2>")]
    return " ".join(re.sub(r"<[^>]+>", " ", part).split())


SMALL = ["resnet18", "--axis", "rows=8,16,32,64", "--axis", "cols=8,16,32", "--axis", "dataflow=ws,os"]


@pytest.mark.needs("optuna", "matplotlib")
def test_the_report_measures_a_search_against_the_exhaustive_front_when_the_store_holds_every_point(tmp_path):
    exhaustive, alone = tmp_path / "exhaustive", tmp_path / "alone"
    assert main(["dse", *SMALL, "-o", str(exhaustive)]) == 0
    assert _section(exhaustive) == ""  # no search, no section
    every = (exhaustive / "points.csv").read_text()
    assert main(["dse", *SMALL, "-o", str(exhaustive), "--resume", "--budget", "12", "--seed", "1"]) == 0
    assert main(["dse", *SMALL, "-o", str(alone), "--budget", "12", "--seed", "1"]) == 0
    measured, unmeasured = _section(exhaustive), _section(alone)
    for text in (measured, unmeasured):
        assert "Budget 12 points Seed 1 Population 4 Generations" in text and "Stopped at the budget" in text
        assert "Reference point (" in text and "(1.1 in every normalised objective)" in text
    assert "The store holds every point of the space (24," in measured and "Ratio (found / exhaustive) 0." in measured
    assert "does not hold every point" in unmeasured and "Ratio" not in unmeasured
    # the same seed visits the same points, so both report the same found front (in different boxes)
    assert (exhaustive / "points.csv").read_text() == (alone / "points.csv").read_text() != every
    ratio = float(measured.split("Ratio (found / exhaustive) ")[1].split()[0])
    assert ratio == round(hypervolume_ratio(_rows(alone / "points.csv"), _rows(every), OBJECTIVES), 4)


def _rows(csv_file) -> list[dict]:
    """points.csv's rows with their objectives as numbers (``csv_file``: a path or the file's text)."""
    import csv
    import io

    text = csv_file if isinstance(csv_file, str) else csv_file.read_text()
    return [{"feasible": r["feasible"] == "True", **{o: float(r[o]) for o in OBJECTIVES if r[o]}}
            for r in csv.DictReader(io.StringIO(text))]
