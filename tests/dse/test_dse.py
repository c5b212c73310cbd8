"""`accelsim dse`: points equal `simulate`, the Pareto set is non-dominated, runs resume and parallel runs agree."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from accelsim.arch import resolve_arch
from accelsim.cli import main
from accelsim.dse.space import arch_for
from accelsim.mapping import load_dataflow
from accelsim.mapping.choice import LayerChoice
from accelsim.sim import simulate
from accelsim.workload import resolve_workload

AXES = ["--axis", "rows=8,16,32", "--axis", "cols=8,16,32", "--axis", "dataflow=ws,os,is"]


def _json(capsys, *args):
    code = main(["dse", *args, "--json"])
    captured = capsys.readouterr()
    return code, (json.loads(captured.out) if code == 0 else None), captured.err


def test_27_points_equal_simulate_and_their_pareto_set_is_non_dominated(capsys, tmp_path):
    code, data, _ = _json(capsys, "resnet18", *AXES, "-o", str(tmp_path / "run"))
    assert code == 0 and len(data["points"]) == 27
    base, graph = resolve_arch("sa32"), resolve_workload("resnet18")
    for p in data["points"][::7]:  # every 7th point, recomputed by simulate
        arch = arch_for(base, {"rows": p["rows"], "cols": p["cols"]})
        choices = {name: LayerChoice.from_dict(m) for name, m in p["mapping"].items()}
        sim = simulate(graph, arch, load_dataflow(p["dataflow"]), choices=choices)  # the searched mapping, replayed
        assert (p["total_cycles"], p["energy_pj"]) == (sim.total_cycles, sim.energy.total_pj)
        assert {m["dataflow"] for m in p["mapping"].values()} == {p["dataflow"]}
        fixed = simulate(graph, arch, load_dataflow(p["dataflow"]))  # the search never loses to the fixed rules
        assert p["total_cycles"] <= fixed.total_cycles
    objectives = ("total_cycles", "energy_pj", "area_um2")
    front = data["pareto"]
    assert front and all(p["feasible"] for p in front)

    def dominates(a, b):
        return all(a[o] <= b[o] for o in objectives) and any(a[o] < b[o] for o in objectives)

    for p in front:
        assert not any(dominates(q, p) for q in data["points"] if q["feasible"])
    for p in data["points"]:  # every point off the front is dominated by one on it
        if p not in front:
            assert any(dominates(q, p) for q in front)
    run = tmp_path / "run"
    assert (run / "points.csv").read_text().count("\n") == 28 and (run / "pareto.csv").read_text().count("\n") == len(front) + 1


def test_an_infeasible_point_stays_with_its_reason_and_the_run_goes_on(capsys, tmp_path):
    code, data, _ = _json(capsys, "alexnet", "--arch", "tiny", "--axis", "memory.ofmap_kib=0.001,8", "-o", str(tmp_path))
    assert code == 0 and [p["feasible"] for p in data["points"]] == [False, True]
    bad = data["points"][0]
    assert "ofmap buffer" in bad["reason"] and "\n" not in bad["reason"] and bad not in data["pareto"]


def test_outputs_are_never_overwritten_and_bad_axes_are_one_line(capsys, tmp_path):
    assert main(["dse", "alexnet", "--axis", "rows=4,8", "-o", str(tmp_path)]) == 0
    capsys.readouterr()
    for args, message in [(["--axis", "rows=4,8"], "holds a dse run: pass --resume to continue it or --force"),
                          (["--axis", "rows=0,8", "--force"], "axis 'rows' value 0"),
                          (["--axis", "rowz=8", "--force"], "axis 'rowz': not an architecture field"),
                          (["--axis", "rows=8,8", "--force"], "repeats a value"),
                          (["--axis", "workload.weight_sparsity=3:2", "--force"], "N:M"),
                          (["--axis", "rows", "--force"], "must look like NAME=V1,V2"),
                          (["--axis", "rows=8", "--resume", "--force"], "give one of them"),
                          (["--axis", "rows=8", "--jobs", "1000", "--force"], "at most 256 worker processes")]:
        assert main(["dse", "alexnet", *args, "-o", str(tmp_path)]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, err
    assert main(["dse", "alexnet", "--axis", "rows=4", "--resume", "-o", str(tmp_path / "none")]) == 1
    assert "nothing to resume" in capsys.readouterr().err


def _rows(folder):
    if not (folder / "results.sqlite").is_file():
        return []
    db = sqlite3.connect(f"file:{folder / 'results.sqlite'}?mode=ro", uri=True)  # never create the store
    try:
        return sorted(db.execute("SELECT key, seq, point, result FROM points"))
    finally:
        db.close()


def test_process_pool_and_serial_runs_give_identical_stores(capsys, tmp_path):
    args = ["alexnet", "--axis", "rows=8,16", "--axis", "dataflow=ws,os", "--axis", "workload.weight_bits=4,8"]
    assert main(["dse", *args, "-o", str(tmp_path / "serial")]) == 0
    assert main(["dse", *args, "-o", str(tmp_path / "pool"), "--jobs", "2"]) == 0
    assert _rows(tmp_path / "serial") == _rows(tmp_path / "pool")
    assert (tmp_path / "serial" / "points.csv").read_bytes() == (tmp_path / "pool" / "points.csv").read_bytes()


def _accelsim(*args, **kw):
    return subprocess.Popen([sys.executable, "-m", "accelsim", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True, **kw)


def _wait_rows(folder, n, timeout=60):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if len(_rows(folder)) >= n:
                return
        except sqlite3.Error:
            pass
        time.sleep(0.05)
    raise AssertionError(f"no {n} rows in {folder} after {timeout} s")


# zero-skipping PEs take the per-point path (tens of ms a point, not a block's microseconds): long enough a run
# to be killed or interrupted between its chunks of 16
SPACE = ["resnet50", "--arch", "sa32", "--axis", "rows=8,16,32,64", "--axis", "cols=8,16,32", "--axis", "dataflow=ws,os",
         "--axis", "sparse=skip"]


def test_sigkill_midway_then_resume_equals_an_uninterrupted_run(tmp_path):
    killed, whole = tmp_path / "killed", tmp_path / "whole"
    proc = _accelsim("dse", *SPACE, "-o", str(killed))
    _wait_rows(killed, 3)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = len(_rows(killed))
    assert 3 <= partial < 24
    done = subprocess.run([sys.executable, "-m", "accelsim", "dse", *SPACE, "-o", str(killed), "--resume"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and f"({24 - partial} evaluated now, {partial} from the store)" in done.stdout
    assert subprocess.run([sys.executable, "-m", "accelsim", "dse", *SPACE, "-o", str(whole)],
                          capture_output=True, timeout=300).returncode == 0
    assert _rows(killed) == _rows(whole)
    assert (killed / "points.csv").read_bytes() == (whole / "points.csv").read_bytes()


@pytest.mark.skipif(sys.platform != "linux", reason="process groups as on Linux")
def test_ctrl_c_is_one_line_and_no_worker_outlives_the_command(tmp_path):
    proc = _accelsim("dse", *SPACE, "-o", str(tmp_path), "--jobs", "2")
    _wait_rows(tmp_path, 2)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and err.strip().splitlines() == ["accelsim: error: interrupted"]
    deadline = time.monotonic() + 5  # multiprocessing's resource tracker exits on its pipe's EOF
    while (leftover := subprocess.run(["pgrep", "-g", str(proc.pid)], capture_output=True, text=True).stdout.split()):
        if time.monotonic() > deadline:
            names = subprocess.run(["ps", "-o", "pid,args", "-p", ",".join(leftover)], capture_output=True, text=True)
            raise AssertionError(f"left running after the command: {names.stdout}")
        time.sleep(0.1)


def test_an_nm_axis_value_stays_text():
    """YAML 1.1 reads 2:4 as the base-60 number 124: command-line axis values must not go through it."""
    from accelsim.dse.space import parse_axis

    assert parse_axis("workload.weight_sparsity=2:4,0.5").values == ("2:4", 0.5)


@pytest.mark.parametrize("changed, message", [
    (["--axis", "rows=8,32"], "axes.rows: [8, 16] then, [8, 32] now"),
    (["--axis", "rows=8,16", "--mapping", "fixed"], 'context.mapping: "search" then, "fixed" now'),
    (["--axis", "rows=8,16", "--objective", "energy_pj"], "context.objectives"),
])
def test_a_resume_with_other_settings_is_refused_not_mixed_into_the_store(capsys, tmp_path, changed, message):
    """--resume with other axes, mapping rule or objectives added a second run's rows to the store, silently."""
    import sqlite3

    assert main(["dse", "alexnet", "--axis", "rows=8,16", "--no-plots", "-o", str(tmp_path)]) == 0
    capsys.readouterr()
    assert main(["dse", "alexnet", *changed, "--resume", "--no-plots", "-o", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--resume with other settings than the stored run's" in err and message in err
    with sqlite3.connect(tmp_path / "results.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM points").fetchone()[0] == 2  # the stored run only
    assert main(["dse", "alexnet", "--axis", "rows=8,16", "--resume", "--no-plots", "-o", str(tmp_path)]) == 0


def test_the_store_keeps_each_layer_choice_once_and_gives_the_mappings_back_whole(capsys, tmp_path):
    """A point's row held ~4.6 KB of per-layer mapping choices (ResNet-50): a million points, 5 GB."""
    import os
    import sqlite3

    from accelsim.dse.store import Store

    argv = ["dse", "resnet50", "--arch", "sa32", "--axis", "rows=8,16,32", "--axis", "cols=8,16,32", "--no-plots",
            "--json", "-o", str(tmp_path)]
    assert main(argv) == 0
    points = json.loads(capsys.readouterr().out)["points"]
    with sqlite3.connect(tmp_path / "results.sqlite") as db:
        stored = [r for (r,) in db.execute("SELECT result FROM points")]
        distinct = db.execute("SELECT COUNT(*) FROM choices").fetchone()[0]
        mappings = db.execute("SELECT COUNT(*) FROM mappings").fetchone()[0]
    # a row names its mapping (stored once per distinct mapping, of choices each stored once)
    assert all(len(r) < 300 and '"mapping":"#' in r for r in stored) and distinct < 9 * 54 and mappings <= 9
    assert os.path.getsize(tmp_path / "results.sqlite") < 10 * 4096  # a page per table and few more
    store = Store(tmp_path / "results.sqlite")
    mappings = [result["mapping"] for _, _, result in store.rows()]
    store.close()
    assert all(isinstance(m, dict) and len(m) == 54 for m in mappings)  # whole again: every GEMM layer's choice
    assert main([*argv[:-2], "--resume", "-o", str(tmp_path)]) == 0  # a resume reads them back: nothing recomputed
    again = json.loads(capsys.readouterr().out)
    assert again["computed"] == 0 and again["points"] == points


def test_an_imported_models_assumptions_are_said_and_its_routing_honoured(capsys, tmp_path):
    """dse said nothing of what an ONNX import assumed (balanced MoE routing) and had no --routing."""
    pytest.importorskip("onnx")
    from pathlib import Path

    zoo = Path(__file__).resolve().parent.parent / "data" / "onnx_zoo"
    model = str(zoo / "mixtral_batched.ts17.onnx")
    assert main(["dse", model, "--axis", "rows=8,16", "--no-plots", "--json", "-o", str(tmp_path / "a")]) == 0
    captured = capsys.readouterr()
    balanced = json.loads(captured.out)
    assert "balanced top-k routing assumed" in captured.err
    assert main(["dse", model, "--axis", "rows=8,16", "--no-plots", "--json", "-o", str(tmp_path / "b"),
                 "--routing", str(zoo / "mixtral_batched.routing.json")]) == 0
    captured = capsys.readouterr()
    measured = json.loads(captured.out)
    assert "balanced" not in captured.err
    assert [p["total_cycles"] for p in measured["points"]] != [p["total_cycles"] for p in balanced["points"]]
    assert main(["dse", "--llm", "llama-3.1-8b", "--routing", "x.json", "-o", str(tmp_path / "d")]) == 1
    assert "--routing is an ONNX model's" in capsys.readouterr().err
