"""Ctrl-C while a serial dse draws its figures (issue 17): the store and the CSVs are complete, some figures
are, report.html is not; the one-line message says so, and --resume finishes without recomputing."""

from __future__ import annotations

import json

import pytest

from accelsim.cli import main
from accelsim.dse import plots

pytestmark = pytest.mark.needs("matplotlib")
SPACE = ["alexnet", "--axis", "rows=8,16", "--axis", "dataflow=ws,os"]


def test_ctrl_c_while_drawing_says_what_is_complete_and_resume_finishes(capsys, tmp_path, monkeypatch):
    run = tmp_path / "run"

    render = plots.render

    def interrupted(task):  # Ctrl-C after the Pareto and layer figures, before the roofline
        if task[0] == "roofline":
            raise KeyboardInterrupt
        return render(task)

    monkeypatch.setattr(plots, "render", interrupted)
    assert main(["dse", *SPACE, "-o", str(run)]) == 130
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        "accelsim: error: interrupted while drawing the figures: results.sqlite, points.csv and pareto.csv are "
        "complete, report.html is not written; rerun with --resume to finish (nothing is recomputed)"]
    files = sorted(p.name for p in run.iterdir())
    assert files == ["layers.svg", "pareto.csv", "pareto_energy_pj_area_um2.svg", "pareto_total_cycles_area_um2.svg",
                     "pareto_total_cycles_energy_pj.svg", "points.csv", "results.sqlite"]  # no .partial file either
    points = (run / "points.csv").read_text()
    assert points.count("\n") == 5

    monkeypatch.undo()
    assert main(["dse", *SPACE, "-o", str(run), "--resume", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["computed"] == 0 and len(data["points"]) == 4
    assert "report.html" in data["files"] and "roofline.svg" in data["files"]
    assert (run / "points.csv").read_text() == points
    assert "<dd>8, 16</dd>" in (run / "report.html").read_text()
