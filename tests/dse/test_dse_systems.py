"""`accelsim dse` over systems of cores (issue 18): the system axes, their refusals, one core as the
array, the schedule's closed forms in the design-space path, and the timeline in the report."""

from __future__ import annotations

import json
import subprocess
import sys
from fractions import Fraction

import pytest

from accelsim.arch import resolve_arch
from accelsim.cli import main
from accelsim.cost import load_energy_table
from accelsim.dse.batch import Batch
from accelsim.dse.space import arch_for, parse_axis
from accelsim.dse.systems import mesh_shape, system_of
from accelsim.mapping import load_dataflow
from accelsim.schedule import run_system
from accelsim.workload import resolve_workload

from .conftest import one_line_error

GB = "system.global_buffer_bytes_per_cycle=8"


def _json(capsys, *args):
    assert main(["dse", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_system_axes_parse():
    assert parse_axis("system.cores=1,2,4").values == (1, 2, 4)
    assert parse_axis("system.topology=crossbar,ring,mesh").values == ("crossbar", "ring", "mesh")
    assert parse_axis("schedule=sequential,overlap").values == ("sequential", "overlap")
    assert parse_axis("system.pj_per_byte_hop=0,0.5").values == (0, 0.5)
    assert [mesh_shape(n) for n in (1, 2, 3, 4, 6, 9, 12, 16, 64)] == [
        (1, 1), (1, 2), (1, 3), (2, 2), (2, 3), (3, 3), (3, 4), (4, 4), (8, 8)]


@pytest.mark.parametrize("axes, message", [
    (["system.cores=0"], "axis 'system.cores' value 0: must be an integer in [1, 4096], not 0"),
    (["system.cores=2.5"], "axis 'system.cores' value 2.5: must be an integer in [1, 4096], not 2.5"),
    (["system.cores=5000"], "axis 'system.cores' value 5000: must be an integer in [1, 4096], not 5000"),
    (["system.topology=torus"],
     "axis 'system.topology' value 'torus': must be one of crossbar, ring, mesh, not 'torus'"),
    (["schedule=pipelined"], "axis 'schedule' value 'pipelined': must be one of sequential, overlap, not 'pipelined'"),
    (["system.link_bytes_per_cycle=-1"],
     "axis 'system.link_bytes_per_cycle' value -1: must be 0 (no dedicated links) or a number in "
     "[0.001, 1,000,000,000], not -1"),
    (["system.hop_latency_cycles=-1"],
     "axis 'system.hop_latency_cycles' value -1: must be an integer in [0, 4294967296], not -1"),
    (["system.pj_per_byte_hop=2e6"],
     "axis 'system.pj_per_byte_hop' value 2000000.0: must be a number in [0, 1,000,000], not 2000000.0"),
    (["system.dram_bytes_per_cycle=0"],
     "axis 'system.dram_bytes_per_cycle' value 0: must be a number in [0.001, 1,000,000,000], not 0"),
    (["system.global_buffer_kib=-1", GB],
     "axis 'system.global_buffer_kib' value -1: must be a number in (0, 1,073,741,824], not -1"),
    (["system.global_buffer_kib=0,64", "system.global_buffer_bytes_per_cycle=0"],
     "axis 'system.global_buffer_bytes_per_cycle' value 0: must be a number in [0.001, 1,000,000,000], not 0"),
    (["system.global_buffer_kib=64"],
     ("axis 'system.global_buffer_kib' needs the axis 'system.global_buffer_bytes_per_cycle' too: a global buffer "
      "has a size and a bandwidth (give both axes, or neither; system.global_buffer_kib 0 is no buffer)")),
    ([GB], ("axis 'system.global_buffer_bytes_per_cycle' needs the axis 'system.global_buffer_kib' too: a global "
            "buffer has a size and a bandwidth (give both axes, or neither; system.global_buffer_kib 0 is no buffer)")),
    (["system.cores=4,5", "system.topology=ring,mesh"],
     ("axis 'system.topology' value 'mesh' with system.cores 5: 5 is a prime above 3, so its only rows × cols is "
      "1 × 5 (a line, not a mesh); use system.topology ring or crossbar for 5 cores")),
    (["system.topology=mesh", "system.cores=2,7"],
     ("axis 'system.topology' value 'mesh' with system.cores 7: 7 is a prime above 3, so its only rows × cols is "
      "1 × 7 (a line, not a mesh); use system.topology ring or crossbar for 7 cores")),
    (["system.cores=4,4.0"], "axis 'system.cores' value 4.0: must be an integer in [1, 4096], not 4.0"),
    (["system.link_bytes_per_cycle=8,8.0"], ("axis 'system.link_bytes_per_cycle' values 8 and 8.0 give the same "
                                             "design: their points would be identical; give each design once")),
    (["system.core=4"], ("axis 'system.core' is not a system axis (did you mean 'system.cores'?): choose from "
                         "system.cores, system.dram_bytes_per_cycle, system.global_buffer_kib, "
                         "system.global_buffer_bytes_per_cycle, system.topology, system.link_bytes_per_cycle, "
                         "system.hop_latency_cycles, system.pj_per_byte_hop, schedule")),
])
def test_bad_system_axes_are_one_line_before_any_work(capsys, tmp_path, axes, message):
    argv = ["dse", "alexnet", *(a for axis in axes for a in ("--axis", axis)), "-o", str(tmp_path / "run")]
    assert one_line_error(capsys, argv) == f"accelsim: error: {message}"
    assert not (tmp_path / "run").exists()


def test_a_small_space_of_systems_runs_end_to_end(capsys, tmp_path):
    """alexnet on 8×8 and 32×32 arrays as 1, 2 and 4 cores: through the CLI into a folder, one core is the
    array's own row, the report draws the chosen design's schedule, and a resume recomputes nothing."""
    shapes = ["--axis", "rows=8,32", "--axis", "cols=8,32"]
    data = _json(capsys, "alexnet", *shapes, "--axis", "system.cores=1,2,4", "-o", str(tmp_path / "sys"))
    arrays = _json(capsys, "alexnet", *shapes, "-o", str(tmp_path / "arrays"), "--no-plots")
    assert len(data["points"]) == 12 and all(p["feasible"] for p in data["points"])
    same = [k for k in arrays["points"][0] if k not in ("rows", "cols")]
    for one in arrays["points"]:
        by_cores = {p["system.cores"]: p for p in data["points"]
                    if (p["rows"], p["cols"]) == (one["rows"], one["cols"])}
        assert {k: by_cores[1][k] for k in same} == {k: one[k] for k in same}  # cycles, energy, area, mapping: all
        assert by_cores[4]["area_um2"] == pytest.approx(4 * one["area_um2"])
    run = tmp_path / "sys"
    header = (run / "points.csv").read_text().splitlines()[0]
    assert header.startswith("rows,cols,system.cores,feasible,total_cycles,energy_pj,area_um2")
    assert {"timeline.svg", "report.html"} <= set(data["files"])
    page = (run / "report.html").read_text()
    assert "Schedule of the chosen design over time" in page and page.count("<svg") == 4  # 3 Pareto + the timeline
    chosen = data["points"][data["chosen"]]
    assert chosen["system.cores"] == 4  # the fastest design: its schedule, and no one-array figures
    assert "layers.svg" not in data["files"] and f"{chosen['total_cycles']:,}" in page
    again = _json(capsys, "alexnet", *shapes, "--axis", "system.cores=1,2,4", "-o", str(run), "--resume")
    assert again["computed"] == 0 and again["points"] == data["points"]
    assert (run / "timeline.svg").read_bytes() == (tmp_path / "sys" / "timeline.svg").read_bytes()


def test_a_chosen_single_array_in_a_space_of_systems_gets_its_timeline_too(capsys, tmp_path):
    data = _json(capsys, "alexnet", "--axis", "system.cores=1,2", "--objective", "area_um2,total_cycles",
                 "-o", str(tmp_path))
    assert data["points"][data["chosen"]]["system.cores"] == 1
    assert {"layers.svg", "roofline.svg", "timeline.svg"} <= set(data["files"])
    page = (tmp_path / "report.html").read_text()
    assert "Schedule of the chosen design over time" in page and "Per-layer cycles" in page


def test_more_cores_are_faster_when_compute_bound():
    """With DRAM scaled with the cores (the default) and a port far above what a core reads, the
    network is compute-bound: four cores finish in well under the time of one."""
    batch = Batch(resolve_workload("resnet18"), resolve_arch("sa32"), search=False)
    one, four = batch.evaluate([{"memory.dram_bytes_per_cycle": 4096, "system.cores": c} for c in (1, 4)])
    assert four["total_cycles"] < one["total_cycles"]
    assert four["total_cycles"] < 0.3 * one["total_cycles"]


def test_one_core_is_the_array_and_a_system_point_is_run_system():
    graph, arch, table = resolve_workload("alexnet"), resolve_arch("sa32"), load_energy_table("horowitz45")
    for search in (False, True):
        batch = Batch(graph, arch, search=search)
        plain, *ones = batch.evaluate([{}, {"system.cores": 1}, {"system.cores": 1, "schedule": "sequential",
                                                                  "system.dram_bytes_per_cycle": 16}])
        assert all(one == plain for one in ones)
    batch = Batch(graph, arch)  # fixed mapping rules: run_system's numbers, exactly
    for point in ({"system.cores": 1, "schedule": "overlap"}, {"system.cores": 4},
                  {"system.cores": 4, "system.topology": "ring", "system.pj_per_byte_hop": 0.7,
                   "system.hop_latency_cycles": 5, "memory.dram_latency_cycles": 40},
                  {"system.cores": 4, "system.global_buffer_kib": 2048, "system.global_buffer_bytes_per_cycle": 48,
                   "schedule": "sequential"},
                  {"system.cores": 6, "system.topology": "mesh", "system.link_bytes_per_cycle": 4}):
        row = batch.evaluate([point])[0]
        system, schedule = system_of(arch_for(arch, point), point, table)
        direct = run_system(graph, system, load_dataflow("ws"), schedule=schedule, energy_table=table)
        energy = sum(direct.energy_pj.values(), Fraction(0))
        assert (row["total_cycles"], row["energy_pj"], row["dram_bytes"]) == (
            direct.cycles, float(round(energy, 3)), direct.dram_bytes), point
        assert row["latency_ms"] == float(round(direct.time_ms, 6))
    mesh = system_of(arch, {"system.cores": 6, "system.topology": "mesh"}, table)[0]
    assert (mesh.network.mesh_rows, mesh.network.mesh_cols) == (2, 3)
    assert mesh.dram.bytes_per_cycle == 6 * arch.memory.dram_bytes_per_cycle  # the default: the port × the cores


def test_the_mapping_search_takes_the_best_dataflow_for_the_whole_network():
    batch = Batch(resolve_workload("alexnet"), resolve_arch("sa32"), search=True, objectives=("total_cycles",))
    points = [{"system.cores": 2}] + [{"system.cores": 2, "dataflow": d} for d in ("ws", "os", "is")]
    best, *each = batch.evaluate(points)
    assert best["total_cycles"] == min(p["total_cycles"] for p in each)
    assert len({m["dataflow"] for m in best["mapping"].values()}) == 1
    assert {m["split"] for m in best["mapping"].values()} <= {"M", "N", "K"}


def test_a_global_buffer_below_a_tile_is_an_infeasible_point():
    batch = Batch(resolve_workload("alexnet"), resolve_arch("sa32"))
    small, fits = batch.evaluate([{"system.cores": 2, "system.global_buffer_kib": k,
                                   "system.global_buffer_bytes_per_cycle": 32} for k in (64, 1024)])
    assert not small["feasible"] and small["reason"] == (
        "system.global_buffer_kib 64 is smaller than one tile of a core's half buffers (128 KiB): it could not "
        "stage a tile")
    assert fits["feasible"] and fits["sram_area_um2"] > 2 * batch.evaluate([{}])[0]["sram_area_um2"]


def test_timeline_bars_cover_the_schedule():
    from accelsim.dse.plots import timeline_bars

    arch, table = resolve_arch("sa32"), load_energy_table("horowitz45")
    system, _ = system_of(arch, {"system.cores": 4}, table)
    result = run_system(resolve_workload("resnet18"), system, load_dataflow("ws"), energy_table=table)
    rows, bars, cycles = timeline_bars(result)
    assert rows[:2] == ["core 0", "core 0 channel"] and cycles == result.cycles
    assert max(start + n for _, _, start, n, _ in bars) == cycles
    assert {phase for _, phase, _, _, _ in bars} >= {"compute", "loads", "transfer", "write"}
    computed = {layer for row, phase, _, _, layer in bars if phase == "compute" and row == 0}
    # every layer that takes time, on core 0 (each runs on every core here)
    assert computed == {t.name for t in result.layers if t.compute_end > t.compute_start}


def test_importing_the_dse_does_not_import_matplotlib():
    code = ("import sys, accelsim, accelsim.dse.batch, accelsim.dse.systems, accelsim.dse.run, accelsim.dse.plots; "
            "assert 'matplotlib' not in sys.modules, 'matplotlib imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
