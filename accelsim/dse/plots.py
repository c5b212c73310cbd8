"""Figures of a design-space run: Pareto scatters, one design's per-layer breakdown, its roofline and
(in a space of systems) its schedule as a timeline.

Every function writes a PNG and an SVG with the same stem into ``folder`` and returns both paths.
matplotlib is imported inside the functions (``import accelsim.dse`` stays light) and drives the Agg
canvas directly, never pyplot, so no global backend or figure registry is touched. The output is
byte-identical for identical inputs: matplotlib's default style (a user's ``matplotlibrc`` is ignored),
a fixed ``svg.hashsalt`` per figure (which also keeps SVG ids distinct between figures) and no date or
software stamp in the files.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import re
from collections.abc import Iterator, Sequence
from math import inf
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..atomic import atomic_path

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ..schedule import SystemResult
    from ..sim.engine import SimResult

DPI = 150
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
                   folder: str | Path) -> list[Path]:
    """One scatter per pair of objectives: feasible points grey, Pareto points highlighted.

    Files are ``pareto_<a>_<b>.png`` and ``.svg``. An axis is logarithmic when its values span more
    than 10×. Beyond ``RASTER_POINTS`` grey points the SVG embeds them as a bitmap, to stay small.
    Nothing is written (``[]``) with fewer than two feasible points (a front of one point says nothing a
    table does not) or fewer than two objectives.

    Examples
    --------
    >>> import tempfile
    >>> rows = [{"feasible": True, "total_cycles": c, "energy_pj": e} for c, e in [(10, 9.0), (20, 4.0), (30, 8.0)]]
    >>> with tempfile.TemporaryDirectory() as d:
    ...     [p.name for p in pareto_figures(rows, [0, 1], ("total_cycles", "energy_pj"), d)]
    ['pareto_total_cycles_energy_pj.png', 'pareto_total_cycles_energy_pj.svg']
    >>> with tempfile.TemporaryDirectory() as d:  # one design: no figure of it
    ...     pareto_figures(rows[:1], [0], ("total_cycles", "energy_pj"), d)
    []
    """
    feasible = [i for i, row in enumerate(rows) if row.get("feasible")]
    if len(feasible) < 2:
        return []
    on_front = set(front)
    written: list[Path] = []
    for a, b in itertools.combinations(objectives, 2):
        stem = pareto_stem(a, b)
        with _figure(stem, (5.0, 4.0)) as fig:
            ax = fig.add_subplot()
            rest = [i for i in feasible if i not in on_front]
            best = [i for i in feasible if i in on_front]
            ax.scatter([rows[i][a] for i in rest], [rows[i][b] for i in rest], s=14, color="0.65",
                       label=f"feasible ({len(feasible)})", rasterized=len(rest) > RASTER_POINTS)
            ax.scatter([rows[i][a] for i in best], [rows[i][b] for i in best], s=30, color="C3", edgecolors="black",
                       linewidths=0.5, zorder=3, label=f"Pareto front of all {len(objectives)} ({len(best)})"
                       if len(objectives) > 2 else f"Pareto front ({len(best)})")
            for name, which in ((a, "x"), (b, "y")):
                values = [rows[i][name] for i in feasible]
                if log_scale(values):
                    _log_axis(ax, which, values)
            ax.set_xlabel(axis_label(a))
            ax.set_ylabel(axis_label(b))
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize=8)
            written += _save(fig, Path(folder), stem)
    return written


def layer_breakdown_figure(sim_result: SimResult, folder: str | Path) -> list[Path]:
    """Per-layer cycles (compute and stall, stacked) over per-layer energy stacked by component.

    Array layers get one bar each, named; the vector layers (pooling, activations, ...) are summed
    into one last bar, so ResNet-50's 122 layers become 55 bars. Energy components that are zero in
    every layer are left out of the legend. Files: ``layers.png`` and ``layers.svg``.

    Examples
    --------
    >>> import tempfile
    >>> from accelsim.arch import resolve_arch
    >>> from accelsim.mapping import load_dataflow
    >>> from accelsim.sim import simulate
    >>> from accelsim.workload import resolve_workload
    >>> sim = simulate(resolve_workload("alexnet"), resolve_arch("sa32"), load_dataflow("ws"))
    >>> with tempfile.TemporaryDirectory() as d:
    ...     [p.name for p in layer_breakdown_figure(sim, d)]
    ['layers.png', 'layers.svg']
    """
    bars = _layer_bars(sim_result)
    names = list(bars)
    components = [c for c in dict.fromkeys(c for bar in bars.values() for c in bar["energy"])
                  if any(bar["energy"].get(c, 0.0) for bar in bars.values())]
    n = len(names)
    with _figure("layers", (min(24.0, max(6.0, 2.0 + 0.11 * n)), 6.5)) as fig:
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
        fig.suptitle(_design_title(sim_result), fontsize=9)
        return _save(fig, Path(folder), "layers")


def roofline_figure(sim_result: SimResult, folder: str | Path) -> list[Path]:
    """The design's roofline with one dot per array layer.

    x is operational intensity, MACs per DRAM byte (data and sparsity metadata); y is achieved MACs
    per cycle (``macs / cycles``, stalls included). The roofs are the peak ``arch.pes`` MACs/cycle
    and ``intensity × memory.dram_bytes_per_cycle``. A layer with no DRAM traffic has infinite
    intensity: it is drawn as a triangle at the right edge of the plot. Zero-skipping or fusible
    PEs count dense MACs, so their dots may sit above the peak roof. Files: ``roofline.png``, ``.svg``.

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
    ['roofline.png', 'roofline.svg']
    """
    points, edge = roofline_points(sim_result)
    peak, bandwidth = sim_result.arch.pes, sim_result.arch.memory.dram_bytes_per_cycle
    ridge = peak / bandwidth
    low = min([x for _, x, _ in points if x != edge] + [ridge]) / 4
    with _figure("roofline", (5.5, 4.2)) as fig:
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
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(low, edge * 1.6)
        ax.set_ylim(min(ys) / 2, max(ys + [peak]) * 2)
        ax.set_xlabel("operational intensity (MACs per DRAM byte)")
        ax.set_ylabel("achieved MACs per cycle")
        ax.set_title(_design_title(sim_result), fontsize=9)
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
        return _save(fig, Path(folder), "roofline")


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


def timeline_figure(detail: SimResult | SystemResult, folder: str | Path) -> list[Path]:
    """The chosen design's schedule over time: one row per core (compute, stall) and per core's
    channel (loads, transfers, writes), one bar per layer and phase (:func:`timeline_bars`).
    Files: ``timeline.png`` and ``timeline.svg``.

    Examples
    --------
    >>> import tempfile
    >>> from accelsim.arch import resolve_system
    >>> from accelsim.schedule import run_system
    >>> from accelsim.workload import resolve_workload
    >>> result = run_system(resolve_workload("alexnet"), resolve_system("tpuv4-tc"))
    >>> with tempfile.TemporaryDirectory() as d:
    ...     [p.name for p in timeline_figure(result, d)]
    ['timeline.png', 'timeline.svg']
    """
    from matplotlib.collections import PolyCollection
    from matplotlib.patches import Patch
    from matplotlib.ticker import FuncFormatter

    rows, bars, cycles = timeline_bars(detail)
    colours = {name: colour for name, colour, _ in TIMELINE_PHASES}
    labels = {name: label for name, _, label in TIMELINE_PHASES}
    if not _is_system(detail):
        labels["loads"] = "DRAM latency (the first operands' trip)"
    with _figure("timeline", (11.0, 2.0 + 0.3 * len(rows))) as fig:
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
        fig.suptitle(_timeline_title(detail), fontsize=9)
        return _save(fig, Path(folder), "timeline")


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
    """Log scale; over three decades or fewer, labels at 1, 2 and 5 × 10^k instead of crowded minor labels."""
    from matplotlib.ticker import LogFormatterSciNotation, LogLocator, NullFormatter

    getattr(ax, f"set_{which}scale")("log")
    axis = getattr(ax, f"{which}axis")
    if max(values) <= 1000 * min(values):
        axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        axis.set_major_formatter(LogFormatterSciNotation(labelOnlyBase=False, minor_thresholds=(inf, inf)))
    axis.set_minor_formatter(NullFormatter())


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


@contextlib.contextmanager
def _figure(stem: str, size: tuple[float, float]) -> Iterator[Figure]:
    """A figure on the Agg canvas under matplotlib's default style, with this figure's SVG hash salt."""
    import matplotlib.style
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with matplotlib.style.context("default", after_reset=True), \
            matplotlib.rc_context({"svg.hashsalt": f"accelsim-{stem}", "svg.fonttype": "path"}):
        fig = Figure(figsize=size, layout="constrained")
        FigureCanvasAgg(fig)
        yield fig


def _save(fig: Figure, folder: Path, stem: str) -> list[Path]:
    """``stem.png`` and ``stem.svg``, each written atomically and without a date or software stamp.

    The layout is computed once, for the PNG; the SVG reuses it (same positions, half the layout time).
    """
    folder.mkdir(parents=True, exist_ok=True)
    stamps = {"png": {"Software": None}, "svg": {"Date": None, "Creator": None, "Format": None, "Type": None}}
    paths = []
    for fmt, metadata in stamps.items():
        data = io.BytesIO()
        fig.savefig(data, format=fmt, dpi=DPI, metadata=metadata)
        path = folder / f"{stem}.{fmt}"
        with atomic_path(path) as temporary:
            temporary.write_bytes(data.getvalue())
        paths.append(path)
        fig.set_layout_engine("none")
    return paths
