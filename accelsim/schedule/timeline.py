"""A schedule as Chrome/Perfetto trace events (open the JSON in ui.perfetto.dev or chrome://tracing).

Process 1 holds the cores (each layer's compute, and the cycles its array waits for DRAM inside
its body as ``stall``), process 2 the memory system (each core's channel: first weights, first
inputs, streamed transfers and last outputs; the network's reductions). Times are microseconds
(cycles divided by the clock in MHz). Systems of more than :data:`MAX_TRACKS` cores get one track
per group of cores a layer ran on instead of one per core.

Examples
--------
>>> from accelsim.arch import resolve_system
>>> from accelsim.workload import resolve_workload
>>> from accelsim.schedule import run_system
>>> events = trace_events(run_system(resolve_workload("alexnet"), resolve_system("sa32")))["traceEvents"]
>>> sorted({e["args"]["phase"] for e in events if e["ph"] == "X"})
['compute', 'inputs', 'stall', 'transfer', 'weights', 'write']
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path
from typing import Any

from .schedule import SystemResult

MAX_TRACKS = 16
_PHASE_NAMES = {"weights": "weights", "inputs": "inputs", "epilogue": "write", "reduce": "reduce"}


def trace_events(result: SystemResult) -> dict[str, Any]:
    """The trace-event JSON object of a schedule (complete events, named tracks)."""
    us = 1 / Fraction(result.system.clock_mhz)
    n = len(result.system.cores)
    groups = sorted({t.cores for t in result.layers}, key=lambda g: (g[0], -len(g)))
    track_of: dict[tuple[int, ...], list[int]] = {}
    names: dict[int, str] = {}
    if n <= MAX_TRACKS:
        for g in groups:
            track_of[g] = list(g)
        names = {c: f"core {c}" for c in range(n)}
    else:
        for i, g in enumerate(groups):
            track_of[g] = [i]
            names[i] = f"cores {g[0]}-{g[-1]}" if len(g) > 1 else f"core {g[0]}"
    events: list[dict[str, Any]] = [
        {"name": "process_name", "ph": "M", "pid": 1, "args": {"name": f"{result.system.name}: cores"}},
        {"name": "process_name", "ph": "M", "pid": 2, "args": {"name": "memory system"}}]
    for tid, name in sorted(names.items()):
        events.append({"name": "thread_name", "ph": "M", "pid": 1, "tid": tid, "args": {"name": name}})
        events.append({"name": "thread_name", "ph": "M", "pid": 2, "tid": tid, "args": {"name": f"{name} channel"}})
    events.append({"name": "thread_name", "ph": "M", "pid": 2, "tid": 10**6, "args": {"name": "network"}})
    timing = {t.name: t for t in result.layers}

    def add(pid: int, tid: int, name: str, phase: str, start: int, cycles: int) -> None:
        if cycles > 0:
            events.append({"name": name, "ph": "X", "pid": pid, "tid": tid, "ts": float(start * us),
                           "dur": float(cycles * us), "args": {"phase": phase, "cycles": cycles, "start_cycle": start}})

    for task, start in zip(result.tasks, result.starts):
        t = timing[task.layer]
        tracks = track_of[t.cores]
        if task.phase == "compute":
            for tid in tracks:
                add(1, tid, task.layer, "compute", start, t.phases.compute)
                add(1, tid, task.layer, "stall", start + t.phases.compute, t.phases.body - t.phases.compute)
                add(2, tid, task.layer, "transfer", start, t.phases.transfer)
        elif task.phase == "reduce" and not any(r.startswith("chan") for r, _ in task.holds):
            add(2, 10**6, task.layer, "reduce", start, task.duration)  # over the network's links
        elif task.phase == "reduce":  # through the shared memory level, on the cores' channels
            for tid in tracks:
                add(2, tid, task.layer, "reduce", start, task.duration)
        else:
            for tid in tracks:
                add(2, tid, task.layer, _PHASE_NAMES[task.phase], start, task.duration)
    return {"traceEvents": events, "displayTimeUnit": "ns",
            "otherData": {"workload": result.workload, "system": result.system.name, "schedule": result.mode,
                          "cycles": result.cycles, "clock_mhz": result.system.clock_mhz}}


def write_trace(result: SystemResult, path: str | Path, *, force: bool = False) -> Path:
    """Write :func:`trace_events` to ``path`` (refused if it exists, unless ``force``), atomically."""
    from ..atomic import atomic_open
    from ..errors import OutputError
    from ..outputs import output_file

    file = output_file(path, force=force)
    try:
        with atomic_open(file) as f:
            json.dump(trace_events(result), f, separators=(",", ":"))
    except OSError as err:  # a full disk, a read-only folder: name the file asked for, not the temporary one
        raise OutputError(f"cannot write {file}: {err.strerror or err}") from None
    return file
