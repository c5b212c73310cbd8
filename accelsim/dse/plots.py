"""Figures of a design-space run: Pareto scatters, one design's per-layer breakdown, its roofline and
(in a space of systems) its schedule as a timeline.

Every figure is written as an SVG (what ``report.html`` inlines) and, when ``formats`` asks, a PNG with
the same stem into ``folder``; each function returns the paths. A figure is two steps: a *task*, the
few numbers it shows, taken from the run in this process (``*_tasks``), and :func:`render`, which draws a
task into ``(file name, bytes)`` pairs and can run in a worker process (``accelsim dse --jobs N``).

matplotlib is imported inside the functions (``import accelsim.dse`` stays light) and drives the Agg
canvas directly, never pyplot, so no global backend or figure registry is touched. The output is
byte-identical for identical inputs, in this process or a worker: matplotlib's default style (a user's
``matplotlibrc`` is ignored), a fixed ``svg.hashsalt`` per figure (which also keeps SVG ids distinct
between figures) and no date or software stamp in the files.

Drawing cost is mostly per tick and per text: the layout is computed once per figure (not once per
format), log axes carry few minor ticks, and their labels (``10³``, ``2×10³``) are plain text, which
needs no mathtext parser.
"""

from __future__ import annotations

import io
import itertools
import math
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..atomic import atomic_path

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ..schedule import SystemResult
    from ..sim.engine import SimResult

Task = tuple[str, dict[str, Any]]  # a figure to draw: its kind and what it shows (see render)
DPI = 150  # of a PNG, and of the bitmap an SVG embeds past RASTER_POINTS
FORMATS = ("svg",)  # written by default: report.html inlines the SVG; ("png", "svg") adds a PNG of each
RASTER_POINTS = 2000  # above this many grey points, the SVG carries them as one embedded bitmap (size)
_LABELS = {"total_cycles": "latency (cycles)", "energy_pj": "energy (pJ)", "area_um2": "area (µm²)",
           "pe_area_um2": "PE area (µm²)", "sram_area_um2": "SRAM area (µm²)",
           "dram_bytes": "DRAM traffic (bytes, with metadata)",
           "utilization": "utilization (MACs per PE per cycle)",
           # LLM points (accelsim.dse.llm): one request shape, or a served trace (means over its requests)
           "ttft_s": "time to first token (s)", "ttft_last_s": "time to the batch's last first token (s)",
           "ttft_p99_s": "time to first token, p99 (s)", "tpot_s": "time per output token, mean (s)",
           "tpot_p50_s": "time per output token, p50 (s)", "tpot_p90_s": "time per output token, p90 (s)",
           "tpot_p99_s": "time per output token, p99 (s)", "e2e_s": "end-to-end time (s)",
           "e2e_p99_s": "end-to-end time, p99 (s)", "tokens_per_s": "output tokens/s",
           "decode_tokens_per_s": "decode tokens/s",
           "tokens_per_s_per_mm2": "tokens/s per mm²",
           "tokens_per_s_per_w": "tokens/s per W",
           "energy_per_token_j": "energy per output token (J)", "average_power_w": "average power (W)",
           "dram_bytes_per_token": "DRAM traffic per output token (bytes)",
           "goodput_rps": "goodput (requests/s in the SLOs)",
           "goodput_fraction": "fraction of requests in the SLOs",
           "requests_per_s": "finished requests per second"}
_UNITS = (("_cycles", "cycles"), ("_pj", "pJ"), ("_um2", "µm²"), ("_bytes", "bytes"), ("_ms", "ms"), ("_s", "s"),
          ("_j", "J"), ("_w", "W"))


def axis_label(name: str) -> str:
    """A result key as an axis label with its unit; a maximised objective's label says so.

    Examples
    --------
    >>> axis_label("energy_pj"), axis_label("area_um2"), axis_label("stall_cycles")
    ('energy (pJ)', 'area (µm²)', 'stall (cycles)')
    >>> axis_label("tpot_s"), axis_label("tokens_per_s_per_w")
    ('time per output token, mean (s)', 'tokens/s per W (higher is better)')
    """
    from .pareto import maximised

    better = " (higher is better)" if maximised(name) else ""
    if name in _LABELS:
        return _LABELS[name] + better
    for suffix, unit in _UNITS:
        if name.endswith(suffix):
            return f"{name[:-len(suffix)].replace('_', ' ')} ({unit}){better}"
    return name.replace("_", " ") + better


def log_scale(values: Sequence[float]) -> bool:
    """Whether an axis over ``values`` reads better in log scale: all positive and spanning more than 10×.

    Examples
    --------
    >>> log_scale([2, 30]), log_scale([2, 20]), log_scale([0, 500])
    (True, False, False)
    """
    return bool(values) and min(values) > 0 and max(values) > 10 * min(values)


def pareto_figures(rows: Sequence[dict[str, Any]], front: Sequence[int], objectives: Sequence[str],
                   folder: str | Path, formats: Sequence[str] = FORMATS) -> list[Path]:
    """One scatter per pair of objectives: feasible points grey, Pareto points highlighted.

    Files are ``pareto_<a>_<b>.svg`` (and ``.png`` when ``formats`` has it). An axis is logarithmic
    when its values span more than 10×. Beyond ``RASTER_POINTS`` grey points the SVG embeds them as a
    bitmap, to stay small. A scatter needs something to show (:func:`pareto_tasks`): nothing is written
    (``[]``) with fewer than two feasible points (a front of one point says nothing a table does not), nor
    for a pair in which an objective is the same at every feasible point.

    Examples
    --------
    >>> import tempfile
    >>> rows = [{"feasible": True, "total_cycles": c, "energy_pj": e} for c, e in [(10, 9.0), (20, 4.0), (30, 8.0)]]
    >>> with tempfile.TemporaryDirectory() as d:
    ...     [p.name for p in pareto_figures(rows, [0, 1], ("total_cycles", "energy_pj"), d)]
    ['pareto_total_cycles_energy_pj.svg']
    >>> with tempfile.TemporaryDirectory() as d:  # one design: no figure of it
    ...     pareto_figures(rows[:1], [0], ("total_cycles", "energy_pj"), d)
    []
    """
    return write_figures(folder, pareto_tasks(rows, front, objectives, formats))


def pareto_tasks(rows: Sequence[dict[str, Any]], front: Sequence[int], objectives: Sequence[str],
                 formats: Sequence[str] = FORMATS) -> list[Task]:
    """The Pareto scatters to draw (:func:`render`), one per pair of objectives that has something to show:
    none with fewer than two feasible points, and none of a pair in which either objective has one value
    over every feasible point (its points would stand on one line: the other objective's spread, which the
    tables give, and a front of its smallest value).

    Examples
    --------
    >>> rows = [{"feasible": True, "total_cycles": c, "energy_pj": e, "area_um2": 5.0}
    ...         for c, e in [(10, 2.0), (20, 1.0)]]
    >>> [task["stem"] for _, task in pareto_tasks(rows, [0, 1], ("total_cycles", "energy_pj", "area_um2"))]
    ['pareto_total_cycles_energy_pj']
    >>> pareto_tasks(rows[:1], [0], ("total_cycles", "energy_pj"))
    []
    """
    feasible = [i for i, row in enumerate(rows) if row.get("feasible")]
    if len(feasible) < 2:
        return []
    on_front = set(front)
    rest = [i for i in feasible if i not in on_front]
    best = [i for i in feasible if i in on_front]
    varies = {name for name in objectives if len({rows[i][name] for i in feasible}) > 1}
    tasks = []
    for a, b in itertools.combinations(objectives, 2):
        if a not in varies or b not in varies:
            continue
        tasks.append(("pareto", {
            "stem": pareto_stem(a, b), "formats": tuple(formats), "a": a, "b": b, "feasible": len(feasible),
            "objectives": len(objectives), "rest": ([rows[i][a] for i in rest], [rows[i][b] for i in rest]),
            "best": ([rows[i][a] for i in best], [rows[i][b] for i in best]),
            "log": [(which, values) for name, which in ((a, "x"), (b, "y"))
                    if log_scale(values := [rows[i][name] for i in feasible])]}))
    return tasks


def _draw_pareto(fig: Figure, task: dict[str, Any]) -> None:
    a, b, (rest_x, rest_y), (best_x, best_y) = task["a"], task["b"], task["rest"], task["best"]
    ax = fig.add_subplot()
    ax.scatter(rest_x, rest_y, s=14, color="0.65", label=f"feasible ({task['feasible']})",
               rasterized=len(rest_x) > RASTER_POINTS)
    ax.scatter(best_x, best_y, s=30, color="C3", edgecolors="black", linewidths=0.5, zorder=3,
               label=f"Pareto front of all {task['objectives']} ({len(best_x)})" if task["objectives"] > 2
               else f"Pareto front ({len(best_x)})")
    for which, values in task["log"]:
        _log_axis(ax, which, values)
    ax.set_xlabel(axis_label(a))
    ax.set_ylabel(axis_label(b))
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)


def layer_breakdown_figure(sim_result: SimResult, folder: str | Path, formats: Sequence[str] = FORMATS) -> list[Path]:
    """Per-layer cycles (compute and stall, stacked) over per-layer energy stacked by component.

    Array layers get one bar each, named; the vector layers (pooling, activations, ...) are summed
    into one last bar, so ResNet-50's 122 layers become 55 bars. Energy components that are zero in
    every layer are left out of the legend. Files: ``layers.svg`` (and ``.png``); none for a result
    without layers.

    Examples
    --------
    >>> import tempfile
    >>> from accelsim.arch import resolve_arch
    >>> from accelsim.mapping import load_dataflow
    >>> from accelsim.sim import simulate
    >>> from accelsim.workload import resolve_workload
    >>> sim = simulate(resolve_workload("alexnet"), resolve_arch("sa32"), load_dataflow("ws"))
    >>> with tempfile.TemporaryDirectory() as d:
    ...     [p.name for p in layer_breakdown_figure(sim, d, formats=("png", "svg"))]
    ['layers.png', 'layers.svg']
    """
    return write_figures(folder, layer_tasks(sim_result, formats))


def layer_tasks(sim_result: SimResult, formats: Sequence[str] = FORMATS) -> list[Task]:
    """The per-layer figure to draw (:func:`render`): its bars and title; ``[]`` without layers."""
    bars = _layer_bars(sim_result)
    if not bars:
        return []
    return [("layers", {"stem": "layers", "formats": tuple(formats), "bars": bars, "title": _design_title(sim_result)})]


def _draw_layers(fig: Figure, task: dict[str, Any]) -> None:
    bars = task["bars"]
    names = list(bars)
    components = [c for c in dict.fromkeys(c for bar in bars.values() for c in bar["energy"])
                  if any(bar["energy"].get(c, 0.0) for bar in bars.values())]
    n = len(names)
    top, bottom = fig.subplots(2, 1)
    _stacked_bars(top, {part: [bars[k][part] for k in names] for part in ("compute", "stall")}, ["C0", "C3"])
    _stacked_bars(bottom, {c: [bars[k]["energy"].get(c, 0.0) for k in names] for c in components},
                  [f"C{i % 10}" for i in range(len(components))])
    top.set_ylabel("cycles")
    bottom.set_ylabel("energy (pJ)")
    top.set_xticks([])  # the names are under the energy bars
    step = -(-n // 200)  # at most 200 names under the bars
    bottom.set_xticks(range(0, n, step), names[::step], rotation=90, fontsize=5 if n > 30 else 7)
    for ax in (top, bottom):
        ax.grid(True, axis="y", alpha=0.3)
        ax.set_axisbelow(True)
        ax.set_xlim(-0.6, n - 0.4)
    fig.suptitle(task["title"], fontsize=9)


def _layers_size(task: dict[str, Any]) -> tuple[float, float]:
    return min(24.0, max(6.0, 2.0 + 0.11 * len(task["bars"]))), 6.5


def roofline_figure(sim_result: SimResult, folder: str | Path, formats: Sequence[str] = FORMATS) -> list[Path]:
    """The design's roofline with one dot per array layer.

    x is operational intensity, MACs per DRAM byte (data and sparsity metadata); y is achieved MACs
    per cycle (``macs / cycles``, stalls included). The roofs are the peak ``arch.pes`` MACs/cycle
    and ``intensity × memory.dram_bytes_per_cycle``. A layer with no DRAM traffic has infinite
    intensity: it is drawn as a triangle at the right edge of the plot. Zero-skipping or fusible
    PEs count dense MACs, so their dots may sit above the peak roof. Files: ``roofline.svg`` (and
    ``.png``); none for a result without an array layer (its roofline would be two lines, no dot).

    Examples
    --------
    >>> import tempfile
    >>> from accelsim.arch import resolve_arch
    >>> from accelsim.mapping import load_dataflow
    >>> from accelsim.sim import simulate
    >>> from accelsim.workload import resolve_workload
    >>> sim = simulate(resolve_workload("alexnet"), resolve_arch("sa32"), load_dataflow("ws"))
    >>> with tempfile.TemporaryDirectory() as d:
    ...     [p.name for p in roofline_figure(sim, d)]
    ['roofline.svg']
    """
    return write_figures(folder, roofline_tasks(sim_result, formats))


def roofline_tasks(sim_result: SimResult, formats: Sequence[str] = FORMATS) -> list[Task]:
    """The roofline to draw (:func:`render`): its dots, roofs and title; ``[]`` without an array layer."""
    points, edge = roofline_points(sim_result)
    if not points:
        return []
    return [("roofline", {"stem": "roofline", "formats": tuple(formats), "points": points, "edge": edge,
                          "peak": sim_result.arch.pes, "bandwidth": sim_result.arch.memory.dram_bytes_per_cycle,
                          "title": _design_title(sim_result)})]


def _draw_roofline(fig: Figure, task: dict[str, Any]) -> None:
    points, edge, peak, bandwidth = task["points"], task["edge"], task["peak"], task["bandwidth"]
    ridge = peak / bandwidth
    low = min([x for _, x, _ in points if x != edge] + [ridge]) / 4
    ax = fig.add_subplot()
    ax.plot([low, ridge, edge * 1.6], [low * bandwidth, peak, peak], color="black", linewidth=1.2)
    ax.annotate(f"peak {peak:,} MACs/cycle", (edge, peak), xytext=(0, 4), textcoords="offset points",
                ha="right", fontsize=7)
    middle = (low * ridge) ** 0.5  # halfway up the bandwidth roof, on a log axis
    ax.annotate(f"DRAM {bandwidth:g} B/cycle", (middle, middle * bandwidth), xytext=(-6, 6),
                textcoords="offset points", ha="right", va="bottom", fontsize=7)
    finite = [(x, y) for _, x, y in points if x != edge]
    infinite = [y for _, x, y in points if x == edge]
    ax.scatter([x for x, _ in finite], [y for _, y in finite], s=16, color="C0", zorder=3,
               label=f"array layers ({len(finite)})")
    if infinite:
        ax.scatter([edge] * len(infinite), infinite, s=24, marker=">", color="C1", zorder=3,
                   label=f"no DRAM traffic ({len(infinite)}), at the right edge")
    ys = [y for _, _, y in points] + [low * bandwidth]
    xlim, ylim = (low, edge * 1.6), (min(ys) / 2, max(ys + [peak]) * 2)
    _log_axis(ax, "x", xlim)
    _log_axis(ax, "y", ylim)
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_xlabel("operational intensity (MACs per DRAM byte)")
    ax.set_ylabel("achieved MACs per cycle")
    ax.set_title(task["title"], fontsize=9)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")


# The timeline's phases, in legend order: name, colour, what it is.
TIMELINE_PHASES = (("compute", "C0", "compute"), ("stall", "C3", "stall (the array waits for DRAM)"),
                   ("loads", "C2", "loads (first weights and inputs)"),
                   ("transfer", "0.7", "streamed transfers"), ("write", "C1", "last outputs written"),
                   ("reduce", "C4", "K-split reduction"))
_TRACE_PHASES = {"compute": "compute", "stall": "stall", "weights": "loads", "inputs": "loads",
                 "transfer": "transfer", "write": "write", "reduce": "reduce"}


def timeline_bars(detail: SimResult | SystemResult) -> tuple[list[str], list[tuple[int, str, int, int, str]], int]:
    """``(rows, bars, cycles)``: the rows top to bottom, and each bar ``(row, phase, start, cycles, layer)``.

    A system's schedule (:class:`~accelsim.schedule.SystemResult`) is read from its trace events
    (:func:`~accelsim.schedule.timeline.trace_events`): one row per core (or group of cores past
    16) with each layer's compute and stall, one per core's channel with its loads, streamed
    transfers and writes, and the network's reductions. One array (a ``SimResult``) runs its layers
    back to back on one row: each array layer waits the DRAM latency, computes, stalls; the bars end
    at the design's ``total_cycles``.

    Examples
    --------
    >>> from accelsim.arch import resolve_arch
    >>> from accelsim.mapping import load_dataflow
    >>> from accelsim.sim import simulate
    >>> from accelsim.workload import resolve_workload
    >>> sim = simulate(resolve_workload("alexnet"), resolve_arch("sa32"), load_dataflow("ws"))
    >>> rows, bars, cycles = timeline_bars(sim)
    >>> rows, cycles == sim.total_cycles == max(start + n for _, _, start, n, _ in bars)
    (['array'], True)
    """
    from ..schedule import SystemResult

    if isinstance(detail, SystemResult):
        from ..schedule.timeline import trace_events

        events = trace_events(detail)["traceEvents"]
        names = {(e["pid"], e["tid"]): e["args"]["name"] for e in events if e["name"] == "thread_name"}
        used = sorted({(e["tid"], e["pid"]) for e in events if e["ph"] == "X"})
        rows = [names[pid, tid] for tid, pid in used]
        index = {(pid, tid): i for i, (tid, pid) in enumerate(used)}
        bars = [(index[e["pid"], e["tid"]], _TRACE_PHASES[e["args"]["phase"]], e["args"]["start_cycle"],
                 e["args"]["cycles"], e["name"]) for e in events if e["ph"] == "X"]
        return rows, bars, detail.cycles
    total = detail.total_cycles
    arrays = [r for r in detail.layers if r.unit == "array"]
    latency = (total - sum(r.cycles for r in detail.layers)) // len(arrays) if arrays else 0
    bars, now = [], 0
    for r in detail.layers:
        for phase, cycles in ((("loads", latency),) if r.unit == "array" else ()) + (
                ("compute", r.compute_cycles), ("stall", r.stall_cycles)):
            if cycles:
                bars.append((0, phase, now, cycles, r.name))
                now += cycles
    return ["array"], bars, total


def timeline_figure(detail: SimResult | SystemResult, folder: str | Path,
                    formats: Sequence[str] = FORMATS) -> list[Path]:
    """The chosen design's schedule over time: one row per core (compute, stall) and per core's
    channel (loads, transfers, writes), one bar per layer and phase (:func:`timeline_bars`).
    Files: ``timeline.svg`` (and ``.png``); none for a schedule without a bar.

    Examples
    --------
    >>> import tempfile
    >>> from accelsim.arch import resolve_system
    >>> from accelsim.schedule import run_system
    >>> from accelsim.workload import resolve_workload
    >>> result = run_system(resolve_workload("alexnet"), resolve_system("tpuv4-tc"))
    >>> with tempfile.TemporaryDirectory() as d:
    ...     [p.name for p in timeline_figure(result, d)]
    ['timeline.svg']
    """
    return write_figures(folder, timeline_tasks(detail, formats))


def timeline_tasks(detail: SimResult | SystemResult, formats: Sequence[str] = FORMATS) -> list[Task]:
    """The timeline to draw (:func:`render`): its rows, bars and title; ``[]`` without a bar."""
    rows, bars, cycles = timeline_bars(detail)
    if not bars:
        return []
    return [("timeline", {"stem": "timeline", "formats": tuple(formats), "rows": rows, "bars": bars,
                          "cycles": cycles, "system": _is_system(detail), "title": _timeline_title(detail)})]


def _draw_timeline(fig: Figure, task: dict[str, Any]) -> None:
    from matplotlib.collections import PolyCollection
    from matplotlib.patches import Patch
    from matplotlib.ticker import FuncFormatter

    rows, bars, cycles = task["rows"], task["bars"], task["cycles"]
    colours = {name: colour for name, colour, _ in TIMELINE_PHASES}
    labels = {name: label for name, _, label in TIMELINE_PHASES}
    if not task["system"]:
        labels["loads"] = "DRAM latency (the first operands' trip)"
    ax = fig.add_subplot()
    for name, colour, _ in TIMELINE_PHASES:  # one collection per phase (thousands of patches draw slowly)
        boxes = [[(start, row - 0.4), (start + n, row - 0.4), (start + n, row + 0.4), (start, row + 0.4)]
                 for row, phase, start, n, _ in bars if phase == name]
        if boxes:
            ax.add_collection(PolyCollection(boxes, facecolors=colour, edgecolors="white", linewidths=0.2,
                                             rasterized=len(bars) > RASTER_POINTS))
    ax.set_xlim(0, cycles or 1)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_yticks(range(len(rows)), rows, fontsize=7 if len(rows) > 12 else 8)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:,.0f}"))
    ax.set_xlabel("cycle")
    ax.grid(True, axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    present = {phase for _, phase, _, _, _ in bars}
    fig.legend(handles=[Patch(facecolor=colours[name], label=labels[name]) for name, _, _ in TIMELINE_PHASES
                        if name in present], fontsize=7, loc="outside lower center", ncols=6, frameon=False)
    fig.suptitle(task["title"], fontsize=9)


def _timeline_size(task: dict[str, Any]) -> tuple[float, float]:
    return 11.0, 2.0 + 0.3 * len(task["rows"])


def _is_system(detail: Any) -> bool:
    from ..schedule import SystemResult

    return isinstance(detail, SystemResult)


def _timeline_title(detail: Any) -> str:
    layers = len({layer.name for layer in detail.layers})
    if _is_system(detail):
        from ..arch.system import cores_text

        return (f"{detail.workload} on {cores_text(detail.system)}, {detail.mode} schedule: "
                f"{detail.cycles:,} cycles, {layers} layers")
    return f"{_design_title(detail)}: one array, {detail.total_cycles:,} cycles, {layers} layers"


def roofline_points(sim_result: SimResult) -> tuple[list[tuple[str, float, float]], float]:
    """``(name, intensity, MACs per cycle)`` of each array layer, and the right edge of the plot.

    A layer without DRAM traffic gets the right edge as its intensity: four times the largest
    finite intensity or the ridge point (``pes / dram_bytes_per_cycle``), whichever is larger.

    Examples
    --------
    >>> from accelsim.arch import resolve_arch
    >>> from accelsim.mapping import load_dataflow
    >>> from accelsim.sim import simulate
    >>> from accelsim.workload import resolve_workload
    >>> sim = simulate(resolve_workload("alexnet"), resolve_arch("sa32"), load_dataflow("ws"))
    >>> points, edge = roofline_points(sim)
    >>> len(points), all(0 < y <= sim.arch.pes and 0 < x <= edge for _, x, y in points)
    (8, True)
    """
    measured = []
    for r in sim_result.layers:
        if r.unit != "array" or not r.macs or not r.cycles:
            continue
        traffic = r.traffic.total.dram_total
        measured.append((r.name, r.macs / traffic if traffic else None, r.macs / r.cycles))
    ridge = sim_result.arch.pes / sim_result.arch.memory.dram_bytes_per_cycle
    edge = 4 * max([x for _, x, _ in measured if x is not None] + [ridge])
    return [(name, edge if x is None else x, y) for name, x, y in measured], edge


def _log_axis(ax: Any, which: str, values: Sequence[float]) -> None:
    """Log scale labelled in plain text (``10³``, ``2×10³``: no mathtext parser to load): over three decades
    or fewer, major ticks at 1, 2 and 5 × 10^k and no minor ones; wider, decades with minor ticks at 2 and 5
    (each tick costs a few objects to draw, and matplotlib's default puts eight in a decade)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter, NullLocator

    getattr(ax, f"set_{which}scale")("log")
    axis = getattr(ax, f"{which}axis")
    few = max(values) <= 1000 * min(values)
    axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0) if few else (1.0,)))
    axis.set_minor_locator(NullLocator() if few else LogLocator(subs=(2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda x, _: power_text(x)))
    axis.set_minor_formatter(NullFormatter())


_SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")


def power_text(x: float) -> str:
    """A log axis's tick label: ``m×10^k`` in plain text, the mantissa to 3 digits and left out when 1.

    Examples
    --------
    >>> power_text(1000.0), power_text(0.2), power_text(5e-7), power_text(1.0), power_text(2.5e4)
    ('10³', '2×10⁻¹', '5×10⁻⁷', '10⁰', '2.5×10⁴')
    >>> power_text(0.0), power_text(float("inf"))
    ('', '')
    """
    if not (x > 0 and math.isfinite(x)):
        return ""
    exponent = math.floor(math.log10(x) + 1e-9)  # 999.9999999 is 10³, not 10×10²
    mantissa = f"{x / 10.0 ** exponent:.3g}"
    if mantissa == "10":
        mantissa, exponent = "1", exponent + 1
    power = "10" + str(exponent).translate(_SUPERSCRIPT)
    return power if mantissa == "1" else f"{mantissa}×{power}"


def _stacked_bars(ax: Any, series: dict[str, list[float]], colours: list[str]) -> None:
    """Stacked bars at x = 0, 1, ..., one collection per series (hundreds of patches draw slowly)."""
    from matplotlib.collections import PolyCollection

    base = [0.0] * len(next(iter(series.values()), []))
    for (label, heights), colour in zip(series.items(), colours):
        boxes = [[(x - 0.4, b), (x + 0.4, b), (x + 0.4, b + h), (x - 0.4, b + h)]
                 for x, (b, h) in enumerate(zip(base, heights))]
        ax.add_collection(PolyCollection(boxes, facecolors=colour, edgecolors="none", label=label))
        base = [b + h for b, h in zip(base, heights)]
    ax.set_ylim(0, max(base, default=0) * 1.05 or 1)
    if series:
        ax.legend(fontsize=7, loc="lower right", bbox_to_anchor=(1, 1), ncols=min(len(series), 6), frameon=False)


def _layer_bars(sim_result: SimResult) -> dict[str, dict[str, Any]]:
    """Cycles and energy per bar: one per array layer, then the vector layers summed."""
    bars: dict[str, dict[str, Any]] = {}
    vector = [r for r in sim_result.layers if r.unit != "array"]
    for r in sim_result.layers:
        if r.unit == "array":
            bars[r.name] = _bar([r])
    if vector:
        bars[f"{len(vector)} vector layers"] = _bar(vector)
    return bars


def _bar(layers: list[Any]) -> dict[str, Any]:
    energy: dict[str, float] = {}
    for r in layers:
        parts = dict(r.energy.by_component) if r.energy else {"total": r.energy_pj}
        for component, pj in parts.items():
            energy[component] = energy.get(component, 0.0) + pj
    return {"compute": sum(r.compute_cycles for r in layers), "stall": sum(r.stall_cycles for r in layers),
            "energy": energy}


def _design_title(sim_result: SimResult) -> str:
    arch = sim_result.arch
    return f"{sim_result.workload} on {arch.rows}×{arch.cols}, {sim_result.dataflow}"


def pareto_stem(a: str, b: str) -> str:
    """The file stem of the scatter of objective ``a`` against ``b`` (characters unsafe in names become ``_``).

    Examples
    --------
    >>> pareto_stem("total_cycles", "energy_pj")
    'pareto_total_cycles_energy_pj'
    """
    return "_".join(["pareto", *(re.sub(r"[^A-Za-z0-9_.-]", "_", name) for name in (a, b))])


# What each kind of task is drawn by, and its size in inches.
_DRAW = {"pareto": (_draw_pareto, lambda task: (5.0, 4.0)), "layers": (_draw_layers, _layers_size),
         "roofline": (_draw_roofline, lambda task: (5.5, 4.2)), "timeline": (_draw_timeline, _timeline_size)}
# A file's stamps, left out so the same figure gives the same bytes
_STAMPS = {"png": {"Software": None}, "svg": {"Date": None, "Creator": None, "Format": None, "Type": None}}


def render(task: Task) -> list[tuple[str, bytes]]:
    """Draw one figure task (from :func:`pareto_tasks`, :func:`layer_tasks`, ...) into its files' names and
    bytes, PNG before SVG: a module-level function of picklable data, so a worker process can run it.

    The layout is computed once; every format then draws it as it is (one draw per file).

    Examples
    --------
    >>> rows = [{"feasible": True, "total_cycles": c, "energy_pj": e} for c, e in [(10, 9.0), (20, 4.0)]]
    >>> [(name, data[:5]) for name, data in render(pareto_tasks(rows, [0, 1], ("total_cycles", "energy_pj"))[0])]
    [('pareto_total_cycles_energy_pj.svg', b'<?xml')]
    """
    import matplotlib
    import matplotlib.style
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.layout_engine import ConstrainedLayoutEngine

    kind, data = task
    draw, size = _DRAW[kind]
    stem = data["stem"]
    files = []
    with matplotlib.style.context("default", after_reset=True), \
            matplotlib.rc_context({"svg.hashsalt": f"accelsim-{stem}", "svg.fonttype": "path"}):
        layout = ConstrainedLayoutEngine()
        fig = Figure(figsize=size(data), layout=layout)
        FigureCanvasAgg(fig)
        draw(fig, data)
        layout.execute(fig)  # once, not once per format
        fig.set_layout_engine(None)  # savefig then draws once, without laying out again
        for fmt in ("png", "svg"):
            if fmt in data["formats"]:
                out = io.BytesIO()
                fig.savefig(out, format=fmt, dpi=DPI, metadata=_STAMPS[fmt])
                files.append((f"{stem}.{fmt}", out.getvalue()))
    return files


def write_figures(folder: str | Path, tasks: Iterable[Task]) -> list[Path]:
    """Draw ``tasks`` here, in order, and write each file atomically into ``folder``; the paths written."""
    return [write_file(folder, name, data) for task in tasks for name, data in render(task)]


def write_file(folder: str | Path, name: str, data: bytes) -> Path:
    """``folder/name`` with ``data``, written whole or not at all."""
    path = Path(folder) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as temporary:
        temporary.write_bytes(data)
    return path
