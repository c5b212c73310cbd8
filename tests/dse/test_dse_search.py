"""`accelsim dse` at scale: the NSGA-II search is seeded, bounded and resumable; Dask runs equal serial ones."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from accelsim.cli import main

from .test_dse import _accelsim, _rows, _wait_rows

WIDE = ["resnet18", "--axis", "rows=4,8,16,32,64", "--axis", "cols=4,8,16,32,64", "--axis", "dataflow=ws,os,is",
        "--axis", "workload.weight_bits=4,8", "--axis", "memory.dram_bytes_per_cycle=4,16", "--no-plots"]


def _points(folder):
    return (folder / "points.csv").read_text().splitlines()


@pytest.mark.needs('optuna')
def test_the_optimiser_visits_exactly_the_budget_and_the_seed_fixes_which_points(capsys, tmp_path):
    for name, seed in (("a", "7"), ("b", "7"), ("c", "8")):
        assert main(["dse", *WIDE, "--budget", "60", "--seed", seed, "-o", str(tmp_path / name), "--json"]) == 0
        data = json.loads(capsys.readouterr().out)
        assert data["search"] == "nsga2" and data["computed"] == 60 and len(data["points"]) == 60
        keys = {json.dumps({k: p[k] for k in ("rows", "cols", "dataflow")}) for p in data["points"]}
        assert len({json.dumps(p, sort_keys=True) for p in data["points"]}) == 60  # distinct points
        assert len(keys) > 10
    assert _points(tmp_path / "a") == _points(tmp_path / "b")
    assert _points(tmp_path / "a") != _points(tmp_path / "c")
    assert len(_rows(tmp_path / "a")) == 60


def test_a_budget_covering_the_space_is_exhaustive_and_seed_needs_a_budget(capsys, tmp_path):
    assert main(["dse", "alexnet", "--axis", "rows=8,16", "--budget", "5", "-o", str(tmp_path), "--json",
                 "--no-plots"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["search"] == "exhaustive" and len(data["points"]) == 2
    assert main(["dse", "alexnet", "--axis", "rows=8,16", "--seed", "1", "-o", str(tmp_path / "x")]) == 1
    assert "--seed seeds the optimiser" in capsys.readouterr().err


@pytest.mark.needs('optuna')
def test_an_optimiser_run_killed_midway_and_resumed_visits_what_an_uninterrupted_one_does(tmp_path):
    killed, whole = tmp_path / "killed", tmp_path / "whole"
    args = ["dse", *WIDE, "--budget", "150", "--seed", "3"]
    proc = _accelsim(*args, "-o", str(killed))
    _wait_rows(killed, 40)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = len(_rows(killed))
    assert 40 <= partial < 150
    done = subprocess.run([sys.executable, "-m", "accelsim", *args, "-o", str(killed), "--resume"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"({150 - partial} evaluated now, {partial} from the store)" in done.stdout
    assert subprocess.run([sys.executable, "-m", "accelsim", *args, "-o", str(whole)], capture_output=True,
                          timeout=300).returncode == 0
    assert _rows(killed) == _rows(whole)
    assert _points(killed) == _points(whole)


@pytest.fixture(scope="module")
def cluster():
    try:
        from distributed import LocalCluster
    except ImportError:
        if os.environ.get("CI"):
            raise
        pytest.skip("dask/distributed is not installed: pip install 'accelsim[dse]'")
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as c:
        yield c


def test_a_dask_cluster_gives_the_store_a_serial_run_gives(capsys, tmp_path, cluster):
    args = ["dse", "resnet18", "--axis", "rows=8,16,32", "--axis", "dataflow=ws,os,is",
            "--axis", "memory.dram_bytes_per_cycle=4,16", "--no-plots"]
    assert main([*args, "-o", str(tmp_path / "serial")]) == 0
    assert main([*args, "-o", str(tmp_path / "dask"), "--scheduler", cluster.scheduler_address]) == 0
    capsys.readouterr()
    assert len(_rows(tmp_path / "serial")) == 18
    assert _rows(tmp_path / "serial") == _rows(tmp_path / "dask")
    assert _points(tmp_path / "serial") == _points(tmp_path / "dask")


def test_an_unreachable_scheduler_is_one_line(capsys, tmp_path):
    assert main(["dse", "alexnet", "--axis", "rows=8,16", "--scheduler", "tcp://127.0.0.1:1", "-o", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "tcp://127.0.0.1:1" in err
    assert not tmp_path.exists() or not any(tmp_path.iterdir())  # no empty store left behind


def test_limits_make_points_infeasible_with_the_reason_and_keep_them_off_the_front(capsys, tmp_path):
    space = tmp_path / "space.yaml"
    space.write_text("version: 1\naxes:\n  rows: [8, 16, 32]\nlimits:\n  area_um2: 3.2e6\n")
    assert main(["dse", "alexnet", str(space), "--max", "power_mw=1e9", "-o", str(tmp_path / "run"), "--json",
                 "--no-plots"]) == 0
    data = json.loads(capsys.readouterr().out)
    ok = [p["feasible"] for p in data["points"]]
    assert ok == [True, False, False]
    assert data["points"][1]["reason"] == f"area_um2 {data['points'][1]['area_um2']:,} is above the limit 3,200,000"
    assert data["points"][1]["area_um2"] > 3.2e6 >= data["points"][0]["area_um2"]
    assert [p["rows"] for p in data["pareto"]] == [8]
    p = data["points"][0]  # power = energy / time, from the point's own numbers
    assert p["power_mw"] == pytest.approx(p["energy_pj"] / (p["latency_ms"] * 1e9) * 1e3, rel=1e-6)
    for args, message in [(["--max", "watts=3"], "is not a metric a space can bound"),
                          (["--max", "area_um2=-1"], "must be a finite number > 0"),
                          (["--max", "area_um2"], "must look like METRIC=MAX"),
                          (["--objective", "area_um2,area_um2"], "names an objective twice")]:
        assert main(["dse", "alexnet", "--axis", "rows=8", *args, "-o", str(tmp_path / "bad")]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, err


def test_a_refused_connection_says_so_at_once(capsys, tmp_path):
    """It said 'Timed out trying to connect … after 5 s', five seconds later, for a port nothing listens on."""
    import time

    start = time.monotonic()
    assert main(["dse", "alexnet", "--axis", "rows=8,16", "--scheduler", "tcp://127.0.0.1:1", "-o", str(tmp_path)]) == 1
    assert "connection refused (nothing listens on that port)" in capsys.readouterr().err
    assert time.monotonic() - start < 4


@pytest.mark.parametrize("argv, message", [
    (["--axis", "bogus=1,2"], "accelsim: error: axis 'bogus': not an architecture field"),
    (["--max", "area_um2=abc"], "accelsim: error: --max area_um2=abc: must be a finite number > 0, not 'abc'"),
    (["--max", "foo=3"], "accelsim: error: --max foo=3: 'foo' is not a metric a space can bound"),
])
def test_space_messages_say_each_thing_once_as_the_user_typed_it(capsys, tmp_path, argv, message):
    """They said "axis 'bogus' value 1: axis 'bogus' is not …" and "`--max.area_um2` must be …"."""
    assert main(["dse", "alexnet", *argv, "-o", str(tmp_path / "out")]) == 1
    assert capsys.readouterr().err.startswith(message)
