"""A 1,000-point ResNet-50 space end to end: uninterrupted, SIGKILLed and resumed, and on a Dask LocalCluster.

    python benchmarks/dse_end_to_end.py [-o runs/e2e] [--jobs 2]

Runs ``accelsim dse resnet50 benchmarks/spaces/resnet50_1000.yaml`` three ways into ``-o``:
``whole/`` uninterrupted (with plots and report.html), ``killed/`` killed with SIGKILL once a third
of the points are stored and then resumed, ``dask/`` on a 2-worker ``LocalCluster``. Prints the
wall times and whether the three stores (and points.csv files) are identical.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPACE = ROOT / "benchmarks" / "spaces" / "resnet50_1000.yaml"


def rows(folder: Path) -> list:
    db = sqlite3.connect(f"file:{folder / 'results.sqlite'}?mode=ro", uri=True)
    try:
        return sorted(db.execute("SELECT key, seq, point, result FROM points"))
    finally:
        db.close()


def dse(folder: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "accelsim", "dse", "resnet50", str(SPACE), "-o", str(folder), *extra]


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", default="runs/e2e")
    parser.add_argument("--jobs", default="2")
    args = parser.parse_args()
    out = Path(args.output)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)

    whole = timed(dse(out / "whole", "--jobs", args.jobs))
    print(f"uninterrupted, --jobs {args.jobs}: {whole:.1f} s; files: "
          f"{', '.join(sorted(p.name for p in (out / 'whole').iterdir()))}")

    proc = subprocess.Popen(dse(out / "killed", "--jobs", args.jobs, "--no-plots"), stdout=subprocess.DEVNULL,
                            start_new_session=True)
    while True:
        time.sleep(0.2)
        try:
            stored = len(rows(out / "killed"))
        except sqlite3.Error:
            continue
        if stored >= 333 or proc.poll() is not None:
            break
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    stored = len(rows(out / "killed"))
    resumed = timed(dse(out / "killed", "--jobs", args.jobs, "--resume"))
    same = rows(out / "killed") == rows(out / "whole")
    same_csv = (out / "killed" / "points.csv").read_bytes() == (out / "whole" / "points.csv").read_bytes()
    print(f"SIGKILL after {stored} of 1,000 points stored; --resume: {resumed:.1f} s; "
          f"store identical: {same}; points.csv identical: {same_csv}")

    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster:
        on_dask = timed(dse(out / "dask", "--scheduler", cluster.scheduler_address, "--no-plots"))
    same = rows(out / "dask") == rows(out / "whole")
    print(f"Dask LocalCluster (2 workers): {on_dask:.1f} s; store identical: {same}")


if __name__ == "__main__":
    main()
