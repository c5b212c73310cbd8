"""`accelsim dse` against hostile input: each case was a traceback, a stale result or a lost file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from accelsim.cli import main
from accelsim.dse.pareto import pareto

from .test_dse import _accelsim, _wait_rows


def _one_line(capsys, argv, message, code=1):
    assert main(argv) == code
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err


def test_a_space_file_without_limits_is_read(capsys, tmp_path):
    space = tmp_path / "rows.yaml"
    space.write_text("version: 1\naxes: {rows: [8, 16]}\n")
    assert main(["dse", "alexnet", str(space), "-o", str(tmp_path / "o"), "--no-plots", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["points"]) == 2


def test_an_edited_energy_table_is_not_a_stale_resume(capsys, tmp_path):
    """A resume under an edited table is refused, saying what changed (it was a second run mixed into the
    store); --force recomputes with the new table."""
    from accelsim.cost.energy import TABLES_DIR

    table = tmp_path / "et.yaml"
    table.write_text((TABLES_DIR / "horowitz45.yaml").read_text())
    argv = ["dse", "alexnet", "--axis", "rows=8", "--energy-table", str(table), "-o", str(tmp_path / "o"),
            "--no-plots", "--json"]
    assert main(argv) == 0
    before = json.loads(capsys.readouterr().out)["points"][0]["energy_pj"]
    table.write_text(table.read_text().replace("dram_per_byte: 162.5", "dram_per_byte: 1625"))
    assert main([*argv, "--resume"]) == 1
    err = capsys.readouterr().err
    assert "--resume with other settings than the stored run's (context." in err and err.count("\n") == 1
    assert main([*argv, "--force"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["computed"] == 1 and data["points"][0]["energy_pj"] > before


@pytest.mark.needs('optuna')
def test_a_corrupt_store_and_bad_options_are_one_line(capsys, tmp_path):
    run = tmp_path / "o"
    run.mkdir()
    (run / "results.sqlite").write_text("garbage")
    _one_line(capsys, ["dse", "alexnet", "--axis", "rows=8", "-o", str(run), "--resume"], "not an accelsim dse store")
    _one_line(capsys, ["dse", "alexnet", "--axis", "rows=8", "--max", "area_um2=1", "--max", "area_um2=2",
                       "-o", str(tmp_path / "x")], "bounded twice")
    _one_line(capsys, ["dse", "alexnet", "--axis", "rows=8", "--scheduler", " ", "-o", str(tmp_path / "x")],
              "--scheduler needs an address")
    assert main(["dse", "alexnet", "--axis", "rows=8,16", "--budget", "1", "--seed", "-5", "-o", str(tmp_path)]) == 2
    assert "from 0 to 4294967295" in capsys.readouterr().err
    _one_line(capsys, ["dse", "alexnet", "--axis", "rows=" + ",".join(map(str, range(1, 1501))),
                       "--axis", "cols=" + ",".join(map(str, range(1, 1501))), "-o", str(tmp_path / "x")],
              "give --budget N")
    assert not (tmp_path / "x").exists()


@pytest.mark.needs('matplotlib')
def test_force_removes_every_stale_output_and_nothing_else(capsys, tmp_path):
    run = tmp_path / "o"
    assert main(["dse", "alexnet", "--axis", "rows=8,16", "-o", str(run)]) == 0
    assert (run / "report.html").is_file() and (run / "pareto_total_cycles_energy_pj.svg").is_file()
    (run / "pareto_my_notes.txt").write_text("mine")
    assert main(["dse", "alexnet", "--axis", "cols=8,16", "-o", str(run), "--force", "--no-plots"]) == 0
    capsys.readouterr()
    assert sorted(p.name for p in run.iterdir()) == ["pareto.csv", "pareto_my_notes.txt", "points.csv",
                                                     "results.sqlite"]


def test_the_pareto_front_of_a_million_points_takes_seconds():
    import random

    rng = random.Random(0)
    rows = [{"feasible": True, "a": rng.random(), "b": rng.random(), "c": rng.random()} for _ in range(200_000)]
    start = time.perf_counter()
    front = pareto(rows, ("a", "b", "c"))
    assert time.perf_counter() - start < 30
    sample = rng.sample(range(len(rows)), 300)  # brute force on a sample: nothing on the front is dominated,
    dominated = [j for j in sample if any(all(rows[i][o] <= rows[j][o] for o in "abc") and rows[i] != rows[j]
                                          for i in front)]
    assert not set(dominated) & set(front) and set(sample) - set(front) <= set(dominated)


@pytest.mark.skipif(sys.platform != "linux", reason="PR_SET_PDEATHSIG is Linux's")
def test_workers_die_with_a_sigkilled_coordinator(tmp_path):
    proc = _accelsim("dse", "resnet18", "--axis", "rows=4,8,12,16,20,24,28,32", "--axis", "cols=4,8,16,32",
                     "--axis", "dataflow=ws,os,is", "--jobs", "2", "--no-plots", "-o", str(tmp_path))
    _wait_rows(tmp_path, 1)
    workers = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
    assert workers
    os.kill(proc.pid, signal.SIGKILL)  # the coordinator only: no handler runs
    proc.wait()
    deadline = time.monotonic() + 10
    while any(os.path.exists(f"/proc/{pid}") and "Z" not in open(f"/proc/{pid}/stat").read().split()[2]
              for pid in workers):
        assert time.monotonic() < deadline, "a worker outlived its coordinator"
        time.sleep(0.1)
    for pid in workers:  # reap nothing of ours; just make sure none is left running
        if os.path.exists(f"/proc/{pid}"):
            os.kill(int(pid), signal.SIGKILL)


def test_nm_arrays_are_feasible_under_the_default_search_and_nested_axis_values_are_refused(capsys, tmp_path):
    assert main(["dse", "resnet18", "--axis", "weight_nm=2:4,1:4", "-o", str(tmp_path / "o"), "--no-plots",
                 "--json"]) == 0
    points = json.loads(capsys.readouterr().out)["points"]
    assert all(p["feasible"] for p in points), [p["reason"] for p in points]
    assert {m["dataflow"] for p in points for m in p["mapping"].values()} <= {"ws", "os", "is"}
    space = tmp_path / "s.yaml"
    space.write_text("version: 1\naxes:\n  memory: [{dram_latency_cycles: 5000}]\n")
    _one_line(capsys, ["dse", "resnet18", str(space), "-o", str(tmp_path / "x")], "vary nested fields by dotted path")
