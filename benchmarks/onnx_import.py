"""Import time of every ONNX zoo fixture (issue 20's goal: each under 3 s), whole process and in process.

    python benchmarks/onnx_import.py            # medians of 5 in-process imports per file, and 3 CLI runs of the slowest
    python benchmarks/onnx_import.py --runs 3

In process: ``load_onnx`` after a warm-up import (so onnx and numpy are loaded once). Whole process:
``accelsim workload info FILE --json`` as a subprocess, Python start-up and imports included. Times are
medians on a shared 2-core machine: other processes move them by tens of percent.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

FOLDER = Path(__file__).resolve().parent.parent / "tests" / "data" / "onnx_zoo"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    from accelsim.workload.onnx_import import load_onnx

    manifest = {name: entry for path in sorted(FOLDER.glob("manifest.*.json"))
                for name, entry in json.loads(path.read_text())["fixtures"].items()}
    files = [name for name, entry in sorted(manifest.items())
             if not entry.get("export_error") and name != "mamba.ts17.onnx"]  # an invalid graph (its README)
    load_onnx(FOLDER / files[0])
    medians = {}
    for name in files:
        routing = manifest[name].get("import_kwargs", {}).get("routing_file")
        times = []
        for _ in range(args.runs):
            start = time.perf_counter()
            load_onnx(FOLDER / name, routing=FOLDER / routing if routing else None)
            times.append(time.perf_counter() - start)
        medians[name] = statistics.median(times)
    width = max(map(len, files))
    for name, seconds in sorted(medians.items(), key=lambda kv: -kv[1])[:10]:
        print(f"{name:<{width}}  {seconds * 1000:8.1f} ms  ({(FOLDER / name).stat().st_size / 1024:,.0f} KiB)")
    print(f"{len(files)} files: median {statistics.median(medians.values()) * 1000:.1f} ms, "
          f"slowest {max(medians.values()) * 1000:.1f} ms in process (goal: under 3 s each)")
    slowest = max(medians, key=lambda n: medians[n])
    whole = []
    for _ in range(3):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "accelsim", "workload", "info", str(FOLDER / slowest), "--json"],
                       check=True, capture_output=True)
        whole.append(time.perf_counter() - start)
    print(f"whole process, slowest file ({slowest}): median {statistics.median(whole):.2f} s "
          f"(min {min(whole):.2f}, max {max(whole):.2f})")


if __name__ == "__main__":
    main()
