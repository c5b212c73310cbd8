"""Run the real SCALE-Sim (v3, installed in its own venv) and accelsim's compatibility mode side by side.

SCALE-Sim pins ``numpy<2.4`` and pulls in heavy dependencies, so it lives in a separate venv:

    python3 -m venv ~/.venv-scalesim && ~/.venv-scalesim/bin/pip install scalesim "numpy<2.4"

Point ``SCALESIM_PYTHON`` at that venv's python (``~/.venv-scalesim/bin/python`` and
``/tmp/ss/bin/python`` are tried when it is unset).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from accelsim.scalesim.reports import read_report

CANDIDATES = ("~/.venv-scalesim/bin/python", "/tmp/ss/bin/python")

# SCALE-Sim's API needs a layout file even when custom layouts are off: one row of 21 integers per layer.
LAYOUT_ROW = "1,1,1,1,1,1,0,1,2,0,1,2,0,1,2,3,0,1,2,3,0"

# Times every layer's simulation (single_layer_sim.run, where SCALE-Sim spends its time) and writes
# the seconds to layer_seconds.json; traces are written when asked (save_disk_space=False).
RUNNER = """
import json, sys, time
from scalesim.scale_sim import scalesim
from scalesim.single_layer_sim import single_layer_sim
cfg, topo, layout, out, gemm, traces = sys.argv[1:7]
seconds, run = [], single_layer_sim.run
def timed(self):
    start = time.perf_counter()
    run(self)
    seconds.append(time.perf_counter() - start)
single_layer_sim.run = timed
scalesim(save_disk_space=traces != "traces", verbose=False, config=cfg, topology=topo, layout=layout,
         input_type_gemm=gemm == "gemm").run_scale(top_path=out)
json.dump(seconds, open(out + "/layer_seconds.json", "w"))
"""


def scalesim_python() -> str | None:
    """The SCALE-Sim venv's python, or None when it is not installed."""
    env = os.environ.get("SCALESIM_PYTHON")
    for candidate in ([env] if env else []) + [os.path.expanduser(c) for c in CANDIDATES]:
        if candidate and Path(candidate).exists():
            probe = subprocess.run([candidate, "-c", "import scalesim"], capture_output=True)
            if probe.returncode == 0:
                return candidate
    return None


def write_layout(topology: Path, layout: Path) -> None:
    """A layout file with one default row per topology layer (what SCALE-Sim's API insists on)."""
    names = [ln.split(",")[0] for ln in topology.read_text().splitlines()[1:] if ln.strip()]
    header = "Layer name," + ",".join(f"c{i}" for i in range(21)) + ","
    layout.write_text(header + "\n" + "".join(f"{n},{LAYOUT_ROW},\n" for n in names))


def run_scalesim(python: str, config: Path, topology: Path, out: Path, *, gemm: bool,
                 traces: bool = False) -> tuple[dict, float]:
    """Run SCALE-Sim; returns ({report file: rows}, wall seconds); per-layer seconds in ``out/layer_seconds.json``."""
    layout = out / "layout.csv"
    out.mkdir(parents=True, exist_ok=True)
    write_layout(topology, layout)
    start = time.perf_counter()
    proc = subprocess.run([python, "-c", RUNNER, str(config), str(topology), str(layout), str(out),
                           "gemm" if gemm else "conv", "traces" if traces else "none"],
                          capture_output=True, text=True, cwd=out)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"SCALE-Sim failed on {config} / {topology}:\n{proc.stderr[-2000:]}")
    run_dirs = [d for d in out.iterdir() if d.is_dir() and (d / "COMPUTE_REPORT.csv").exists()]
    if len(run_dirs) != 1:
        raise RuntimeError(f"SCALE-Sim wrote no report under {out}")
    reports = {p.name: read_report(p) for p in run_dirs[0].glob("*_REPORT.csv")}
    return reports, seconds


def layer_seconds(out: Path) -> list[float]:
    """SCALE-Sim's per-layer simulation seconds from a :func:`run_scalesim` run."""
    import json

    return json.loads((out / "layer_seconds.json").read_text())


def run_accelsim(config: Path, topology: Path, out: Path, *, gemm: bool) -> tuple[dict, float]:
    """Run ``accelsim scalesim --convention scalesim`` in a fresh process; returns (reports, seconds)."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "accelsim", "scalesim", "-c", str(config), "-t", str(topology),
                           "-i", "gemm" if gemm else "conv", "-o", str(out), "--convention", "scalesim",
                           "--force"], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"accelsim failed: {proc.stderr.strip()}")
    reports = {p.name: read_report(p) for p in out.glob("*/*_REPORT.csv")}
    return reports, seconds
