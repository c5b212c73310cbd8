"""run_tasks: serial, a process pool and a Dask cluster give the same results, set up each worker once
before its first task, re-raise a task's error, and leave nothing running when stopped early."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import time
import uuid

import pytest

from accelsim.dse import executor
from accelsim.dse.executor import ClusterError, run_tasks

_state: dict = {"run": None, "setups": {}}


def _setup(offset: int, run: str) -> None:
    _state["offset"], _state["run"] = offset, run
    _state["setups"][run] = _state["setups"].get(run, 0) + 1


def _square(x):
    """x*x + offset, and what this process saw: its pid, the run it was set up for, how often."""
    if x == "boom":
        raise ValueError("task failed: boom")
    return x * x + _state["offset"], os.getpid(), _state["run"], _state["setups"].get(_state["run"])


def _failing_setup() -> None:
    raise RuntimeError("setup failed: no workload")


def _sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@pytest.fixture(scope="module")
def dask() -> None:
    """Use in a test that needs distributed: missing, it skips here and fails in CI."""
    try:
        import distributed  # noqa: F401
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("CI must run the Dask tests: pip install 'accelsim[dse]'", pytrace=False)
        pytest.skip("dask/distributed not installed: pip install 'accelsim[dse]'")


@pytest.fixture(scope="module")
def dask_address(dask):
    """A two-process LocalCluster for the module: (scheduler address, cluster)."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster:
        yield cluster.scheduler_address, cluster


BACKENDS = ["serial", "pool", "dask"]


@pytest.fixture(params=BACKENDS)
def backend(request) -> dict:
    """run_tasks keyword arguments for each backend."""
    if request.param == "dask":
        return {"scheduler": request.getfixturevalue("dask_address")[0]}
    return {"jobs": 2} if request.param == "pool" else {"jobs": 1}


def _results(tasks, **kwargs) -> tuple[dict, str]:
    run = uuid.uuid4().hex
    return dict(run_tasks(_square, tasks, setup=_setup, setup_args=(10, run), **kwargs)), run


def test_every_backend_gives_the_same_results_after_setting_up_each_worker_once(dask_address):
    tasks = list(range(40))
    by_backend = {"serial": _results(tasks), "pool": _results(tasks, jobs=2),
                  "dask": _results(tasks, scheduler=dask_address[0])}
    expected = {i: i * i + 10 for i in tasks}
    for name, (results, run) in by_backend.items():
        assert {i: r[0] for i, r in results.items()} == expected, name
        # each task ran after this run's setup, which ran exactly once in that process
        assert {(r[2], r[3]) for r in results.values()} == {(run, 1)}, name
    assert {r[1] for r in by_backend["serial"][0].values()} == {os.getpid()}
    pool_pids = {r[1] for r in by_backend["pool"][0].values()}
    assert os.getpid() not in pool_pids and 1 <= len(pool_pids) <= 2
    assert os.getpid() not in {r[1] for r in by_backend["dask"][0].values()}


def test_serial_runs_in_order_and_no_tasks_start_nothing():
    assert [i for i, _ in run_tasks(_sleep, [0, 0, 0])] == [0, 1, 2]
    assert list(run_tasks(_sleep, [], jobs=4, scheduler="tcp://127.0.0.1:1")) == []


def test_a_task_error_is_re_raised(backend):
    with pytest.raises(ValueError, match="task failed: boom"):
        _results([1, "boom", 3], **backend)


def test_a_setup_error_is_re_raised(backend):
    with pytest.raises(RuntimeError, match="setup failed: no workload"):
        list(run_tasks(_sleep, [0, 0], setup=_failing_setup, **backend))


def test_an_unreachable_scheduler_is_one_line_within_seconds(dask, monkeypatch):
    assert executor.CONNECT_TIMEOUT_S <= 5
    monkeypatch.setattr(executor, "CONNECT_TIMEOUT_S", 1)  # the same path, sooner
    start = time.monotonic()
    with pytest.raises(ClusterError) as error:
        list(run_tasks(_sleep, [0], scheduler="tcp://127.0.0.1:1"))
    assert time.monotonic() - start < 4
    assert "tcp://127.0.0.1:1" in str(error.value) and "\n" not in str(error.value)
    with pytest.raises(ClusterError, match="http://127.0.0.1:1"):
        list(run_tasks(_sleep, [0], scheduler="http://127.0.0.1:1"))


def test_a_scheduler_without_dask_installed_is_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed now raises ImportError
    with pytest.raises(ClusterError, match=r"needs dask and distributed: pip install 'accelsim\[dse\]'"):
        list(run_tasks(_sleep, [0], scheduler="tcp://127.0.0.1:8786"))


def test_closing_early_stops_the_pool_without_waiting_for_running_tasks():
    before = set(multiprocessing.active_children())
    start = time.monotonic()
    results = run_tasks(_sleep, [0, 60, 60, 60], jobs=2)
    assert next(results) == (0, 0)
    results.close()
    assert set(multiprocessing.active_children()) <= before
    assert time.monotonic() - start < 15


def test_closing_early_cancels_the_dask_tasks_and_closes_the_client(dask_address):
    address, cluster = dask_address
    clients = set(cluster.scheduler.clients)
    results = run_tasks(_sleep, [0] + [0.5] * 20, scheduler=address)
    assert next(results) == (0, 0)
    assert len(cluster.scheduler.tasks) > 0 and set(cluster.scheduler.clients) > clients
    results.close()
    deadline = time.monotonic() + 5
    while (cluster.scheduler.tasks or set(cluster.scheduler.clients) != clients) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not cluster.scheduler.tasks and set(cluster.scheduler.clients) == clients


def test_importing_the_executor_does_not_import_dask():
    code = ("import sys, accelsim.dse, accelsim.dse.executor; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'dask', 'distributed'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
