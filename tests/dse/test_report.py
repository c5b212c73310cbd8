"""DSE figures and report.html: the right files, self-contained, escaped, deterministic, and light to import."""

from __future__ import annotations

import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import replace

import pytest

from accelsim.arch import resolve_arch
from accelsim.counts import Traffic
from accelsim.dse.evaluate import evaluate_point
from accelsim.dse.pareto import pareto
from accelsim.dse.plots import (
    layer_breakdown_figure,
    pareto_figures,
    roofline_figure,
    roofline_points,
)
from accelsim.dse.report import choose_design, write_report
from accelsim.dse.space import Axis, arch_for, points
from accelsim.mapping import load_dataflow
from accelsim.sim import simulate
from accelsim.workload import resolve_workload

OBJECTIVES = ("total_cycles", "energy_pj", "area_um2")
AXES = [Axis("rows", (8, 32)), Axis("dataflow", ("ws", "os")), Axis("memory.ofmap_kib", (0.001, 64))]


@pytest.fixture(scope="module")
def run():
    """A real alexnet space: 8 points, the 4 with a 1-byte ofmap buffer infeasible."""
    graph, base = resolve_workload("alexnet"), resolve_arch("sa32")
    rows = [p | evaluate_point(graph, base, p) for p in points(AXES)]
    front = pareto(rows, OBJECTIVES)
    chosen = choose_design(rows, front, OBJECTIVES)
    point = rows[chosen]
    sim = simulate(graph, arch_for(base, {k: point[k] for k in ("rows", "memory.ofmap_kib")}),
                   load_dataflow(point["dataflow"]))
    return rows, front, chosen, sim


def _everything(folder, rows, front, chosen, sim, formats=("svg",)):
    figures = [*pareto_figures(rows, front, OBJECTIVES, folder, formats), *layer_breakdown_figure(sim, folder, formats),
               *roofline_figure(sim, folder, formats)]
    report = write_report(folder, title="alexnet space", workload="alexnet", base_arch_name="sa32", axes=AXES,
                          rows=rows, front=front, objectives=OBJECTIVES, chosen_index=chosen, figures=figures)
    return figures, report


def test_the_space_has_feasible_and_infeasible_points(run):
    rows, front, chosen, _ = run
    assert [r["feasible"] for r in rows] == [False, True] * 4
    assert front and chosen in front
    assert rows[chosen]["total_cycles"] == min(rows[i]["total_cycles"] for i in front)


STEMS = ["pareto_total_cycles_energy_pj", "pareto_total_cycles_area_um2", "pareto_energy_pj_area_um2", "layers",
         "roofline"]


def test_figures_are_svg_by_default(run, tmp_path):
    figures, _ = _everything(tmp_path, *run)
    assert [p.name for p in figures] == [f"{s}.svg" for s in STEMS]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([p.name for p in figures] + ["report.html"])


def test_files_have_the_right_names_and_are_png_and_svg(run, tmp_path):
    figures, report = _everything(tmp_path, *run, formats=("png", "svg"))
    assert [p.name for p in figures] == [f"{s}.{ext}" for s in STEMS for ext in ("png", "svg")]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([p.name for p in figures] + ["report.html"])
    assert report == tmp_path / "report.html"
    for path in figures:
        if path.suffix == ".png":
            assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        else:
            assert ET.parse(path).getroot().tag == "{http://www.w3.org/2000/svg}svg"


def test_report_is_self_contained_with_every_svg_inlined(run, tmp_path):
    figures, report = _everything(tmp_path, *run)
    page = report.read_text()
    svgs = [p for p in figures if p.suffix == ".svg"]
    assert "http" not in page and "<script" not in page and "<link" not in page and "src=" not in page
    assert page.count("<svg ") == len(svgs) == 5
    assert ".svg" not in page and ".png" not in page  # inlined, never referenced
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert len(ids) == len(set(ids))  # each figure's ids are prefixed: no collisions
    assert set(re.findall(r'(?:href="#|url\(#)([^")]+)', page)) <= set(ids)
    _, front, chosen, _ = run
    assert f"<p>Point {chosen}, because it has the smallest total_cycles of the {len(front)} Pareto points" in page
    assert "<dt>Points</dt><dd>8</dd>" in page and "<dt>Feasible</dt><dd>4</dd>" in page
    assert f"<dt>Pareto points</dt><dd>{len(front)}</dd>" in page
    assert page.count("ofmap buffer") == 4  # the four reasons
    assert page.count('<tr class="chosen">') == 1


def test_same_inputs_give_byte_identical_files(run, tmp_path):
    first, _ = _everything(tmp_path / "a", *run, formats=("png", "svg"))
    second, _ = _everything(tmp_path / "b", *run, formats=("png", "svg"))
    for a, b in zip([*first, tmp_path / "a/report.html"], [*second, tmp_path / "b/report.html"]):
        assert a.read_bytes() == b.read_bytes(), a.name


def test_hostile_text_is_escaped(run, tmp_path):
    rows = [{"rows": 8, "dataflow": "<script>alert(1)</script>", "feasible": False,
             "reason": 'no fit: <b>"x"</b> & see http://example.org'}, {**run[0][1], "dataflow": "os"}]
    page = write_report(tmp_path, title="<i>t</i>", workload="w&", base_arch_name="<a>", axes=["rows", "dataflow"],
                        rows=rows, front=[1], objectives=OBJECTIVES, chosen_index=1, figures=[]).read_text()
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<b>" not in page and "&lt;b&gt;&quot;x&quot;&lt;/b&gt; &amp; see http:&#47;&#47;example.org" in page
    assert "<title>&lt;i&gt;t&lt;/i&gt;</title>" in page and "<dd>w&amp;</dd>" in page and "<a>" not in page
    assert "http://" not in page


def test_all_infeasible_gives_a_report_without_figures(tmp_path):
    rows = [{"rows": r, "feasible": False, "reason": f"too small ({r})"} for r in range(60)]
    front = pareto(rows, OBJECTIVES)
    assert front == [] and choose_design(rows, front, OBJECTIVES) is None
    assert pareto_figures(rows, front, OBJECTIVES, tmp_path) == []
    page = write_report(tmp_path, title="t", workload="w", base_arch_name="sa32", axes=[Axis("rows", tuple(range(60)))],
                        rows=rows, front=front, objectives=OBJECTIVES, chosen_index=None, figures=[]).read_text()
    assert "No feasible point: 60 points, none can run" in page and "No feasible point: nothing to choose." in page
    assert "No figures: there is no feasible point to plot." in page and "<svg" not in page
    assert page.count("too small (") == 50 and "too small (49)" in page and "too small (50)" not in page
    assert "… and 10 more infeasible points, not shown." in page
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]


def test_choose_design_takes_the_smallest_first_objective_then_the_next_then_the_index():
    rows = [{"c": 3, "e": 1.0}, {"c": 2, "e": 5.0}, {"c": 2, "e": 4.0}, {"c": 2, "e": 4.0}, {"c": 1, "e": 9.0}]
    assert choose_design(rows, [0, 1, 2, 3], ("c", "e")) == 2  # c ties at 2, e ties at 4.0, lower index
    assert choose_design(rows, [3, 2, 1], ("c", "e")) == 2  # order of the front does not matter
    assert choose_design(rows, [0, 1, 2, 3, 4], ("c", "e")) == 4
    assert choose_design(rows, [0, 1, 2, 3, 4], ("e", "c")) == 0
    assert choose_design(rows, [], ("c", "e")) is None


def test_layers_without_dram_traffic_sit_at_the_right_edge_of_the_roofline(run, tmp_path):
    sim = run[3]
    layers = list(sim.layers)
    first = next(i for i, r in enumerate(layers) if r.unit == "array")
    no_dram = {op: replace(layers[first].traffic[op], dram_bytes=0, dram_metadata_bytes=0) for op in "IWO"}
    layers[first] = replace(layers[first], traffic=Traffic(**no_dram))
    changed = replace(sim, layers=tuple(layers))
    measured, edge = roofline_points(changed)
    assert [p.name for p in roofline_figure(changed, tmp_path)] == ["roofline.svg"]
    ridge = sim.arch.pes / sim.arch.memory.dram_bytes_per_cycle
    assert measured[0][0] == layers[first].name and measured[0][1] == edge
    assert edge == 4 * max([x for _, x, _ in measured[1:]] + [ridge]) and all(x < edge for _, x, _ in measured[1:])
    assert measured[0][2] == layers[first].macs / layers[first].cycles
    assert len(measured) == sum(r.unit == "array" for r in sim.layers)


def test_importing_accelsim_and_dse_does_not_import_matplotlib():
    code = ("import sys, accelsim, accelsim.dse, accelsim.dse.plots, accelsim.dse.report, accelsim.dse.run; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'matplotlib'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_one_design_draws_no_pareto_figure(tmp_path, capsys):
    """`dse resnet18 --arch sa32` drew three Pareto plots of a single point: 85% of the run went into figures."""
    from accelsim.cli import main

    assert main(["dse", "alexnet", "-o", str(tmp_path)]) == 0
    capsys.readouterr()
    assert not list(tmp_path.glob("pareto_*")) and (tmp_path / "report.html").is_file()
    assert (tmp_path / "layers.svg").is_file()  # what one design does show
