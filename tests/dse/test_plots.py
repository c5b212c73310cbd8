"""Figures that cost what they show (issue 21): SVG by default (PNG on request), drawn once each, on the
run's workers with --jobs N (the same bytes as drawn here), and none of too few points to say something."""

from __future__ import annotations

import json
import multiprocessing
import subprocess
import sys
from dataclasses import replace

import pytest

from accelsim.arch import resolve_arch
from accelsim.cli import main
from accelsim.dse import plots
from accelsim.mapping import load_dataflow
from accelsim.sim import simulate
from accelsim.workload import resolve_workload

from .conftest import one_line_error

pytestmark = pytest.mark.needs("matplotlib")
SPACE = ["dse", "alexnet", "--axis", "rows=8,16", "--axis", "dataflow=ws,os"]
FIGURES = ["layers.svg", "pareto_energy_pj_area_um2.svg", "pareto_total_cycles_area_um2.svg",
           "pareto_total_cycles_energy_pj.svg", "roofline.svg"]


def _files(folder) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.suffix in (".svg", ".png", ".html")}


def test_workers_draw_the_same_bytes_as_this_process(capsys, tmp_path):
    assert main([*SPACE, "-o", str(tmp_path / "serial")]) == 0
    assert main([*SPACE, "-o", str(tmp_path / "pool"), "--jobs", "2"]) == 0
    capsys.readouterr()
    serial, pool = _files(tmp_path / "serial"), _files(tmp_path / "pool")
    assert sorted(serial) == [*FIGURES[:4], "report.html", "roofline.svg"]
    assert pool == serial


def test_with_jobs_the_figures_are_drawn_by_the_workers(tmp_path):
    """The coordinator never imports matplotlib: the workers that evaluated the points draw every figure."""
    code = ("import sys; from accelsim.cli import main; "
            f"assert main({[*SPACE, '--jobs', '2', '-o', str(tmp_path)]!r}) == 0; "
            "print('matplotlib' in sys.modules, file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300)
    assert done.stderr.strip() == "False"
    assert sorted(p.name for p in tmp_path.glob("*.svg")) == FIGURES


def test_png_on_request_beside_each_svg_and_a_later_run_without_it_removes_them(capsys, tmp_path):
    data = json.loads(_run(capsys, *SPACE, "-o", str(tmp_path), "--png", "--json"))
    pngs = sorted(name for name in data["files"] if name.endswith(".png"))
    assert pngs == [name.replace(".svg", ".png") for name in FIGURES]
    for name in pngs:
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert ".png" not in (tmp_path / "report.html").read_text()  # the SVGs are inlined, the PNGs not referenced
    _run(capsys, *SPACE, "-o", str(tmp_path), "--resume")
    assert not list(tmp_path.glob("*.png")) and sorted(p.name for p in tmp_path.glob("*.svg")) == FIGURES


def test_png_without_plots_is_one_line(capsys, tmp_path):
    assert "--png" in one_line_error(capsys, [*SPACE, "-o", str(tmp_path), "--png", "--no-plots"])
    assert not tmp_path.exists() or not list(tmp_path.iterdir())


def test_a_run_that_draws_fewer_figures_leaves_none_of_the_replaced_runs(capsys, tmp_path):
    _run(capsys, *SPACE, "-o", str(tmp_path))
    assert sorted(p.name for p in tmp_path.glob("*.svg")) == FIGURES
    _run(capsys, "dse", "alexnet", "-o", str(tmp_path), "--force")  # one design: no Pareto scatter
    assert sorted(p.name for p in tmp_path.glob("*.svg")) == ["layers.svg", "roofline.svg"]


def test_ctrl_c_while_the_workers_draw_stops_them_and_is_one_line(capsys, tmp_path, monkeypatch):
    def interrupted(*args):  # Ctrl-C in the coordinator as the first figure comes back from a worker
        raise KeyboardInterrupt

    monkeypatch.setattr(plots, "write_file", interrupted)
    assert main([*SPACE, "-o", str(tmp_path), "--jobs", "2"]) == 130
    captured = capsys.readouterr()
    assert captured.out == "" and len(captured.err.strip().splitlines()) == 1
    assert "interrupted while drawing the figures" in captured.err and "--resume" in captured.err
    assert multiprocessing.active_children() == []  # the workers are stopped, not left drawing
    assert not list(tmp_path.glob("*.svg")) and not (tmp_path / "report.html").exists()
    monkeypatch.undo()
    _run(capsys, *SPACE, "-o", str(tmp_path), "--resume", "--jobs", "2")
    assert sorted(p.name for p in tmp_path.glob("*.svg")) == FIGURES


def test_no_scatter_of_a_pair_with_an_objective_that_does_not_vary():
    rows = [{"feasible": True, "total_cycles": c, "energy_pj": 7.0, "area_um2": a} for c, a in [(1, 3.0), (2, 2.0)]]
    rows.append({"feasible": False, "total_cycles": None, "energy_pj": None, "area_um2": None})
    tasks = plots.pareto_tasks(rows, [0, 1], ("total_cycles", "energy_pj", "area_um2"))
    assert [task["stem"] for _, task in tasks] == ["pareto_total_cycles_area_um2"]
    assert tasks[0][1]["best"] == ([1, 2], [3.0, 2.0]) and tasks[0][1]["feasible"] == 2


def test_the_report_says_why_a_scatter_is_not_drawn(tmp_path):
    from accelsim.dse.report import write_report

    rows = [{"rows": r, "feasible": True, "total_cycles": c, "energy_pj": 7.0, "area_um2": a}
            for r, c, a in [(8, 1, 3.0), (16, 2, 2.0)]]
    objectives = ("total_cycles", "energy_pj", "area_um2")
    figures = plots.pareto_figures(rows, [0, 1], objectives, tmp_path)
    page = write_report(tmp_path, title="t", workload="w", base_arch_name="sa32", axes=["rows"], rows=rows,
                        front=[0, 1], objectives=objectives, chosen_index=0, figures=figures).read_text()
    assert [p.name for p in figures] == ["pareto_total_cycles_area_um2.svg"] and page.count("<svg ") == 1
    assert "<p>No scatter of energy_pj: it is 7 at every feasible point.</p>" in page
    one = write_report(tmp_path, title="t", workload="w", base_arch_name="sa32", axes=["rows"], rows=rows[:1],
                       front=[0], objectives=objectives, chosen_index=0, figures=[]).read_text()
    assert "<p>No figures: one feasible point, whose numbers are in the tables above.</p>" in one


def test_no_layer_or_roofline_figure_without_array_layers(tmp_path):
    sim = simulate(resolve_workload("alexnet"), resolve_arch("sa32"), load_dataflow("ws"))
    vector_only = replace(sim, layers=tuple(r for r in sim.layers if r.unit != "array"))
    assert vector_only.layers and plots.roofline_figure(vector_only, tmp_path) == []
    assert plots.layer_tasks(replace(sim, layers=())) == []
    assert [p.name for p in plots.layer_breakdown_figure(vector_only, tmp_path)] == ["layers.svg"]


def test_log_axes_are_labelled_without_mathtext(tmp_path):
    """Plain-text powers (10³) need no mathtext parser, which took a fifth of a roofline's drawing."""
    sim = simulate(resolve_workload("alexnet"), resolve_arch("sa32"), load_dataflow("ws"))
    (_, task), = plots.roofline_tasks(sim)
    (name, svg), = plots.render(("roofline", task))
    assert name == "roofline.svg" and "10³" in svg.decode() and "mathdefault" not in svg.decode()


def _run(capsys, *argv: str) -> str:
    assert main(list(argv)) == 0
    return capsys.readouterr().out
