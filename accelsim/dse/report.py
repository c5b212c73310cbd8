"""``report.html``: one self-contained page for a design-space run.

The page needs nothing but itself: SVG figures are inlined as ``<svg>`` markup (a PNG without an
SVG twin becomes a ``data:`` URI), the CSS is one ``<style>`` block, and there are no scripts, links
or fonts to fetch. Every value from the run is passed through :func:`html.escape`, and ``://`` is
written ``:&#47;&#47;`` so no address in a value (or a figure) appears literally in the file. The same
inputs give the same bytes: no timestamps, rows in the order given.
"""

from __future__ import annotations

import base64
import html
import itertools
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..atomic import atomic_write_text
from ..errors import AccelsimError
from .pareto import maximised, score
from .plots import pareto_stem

if TYPE_CHECKING:
    from .optimise import Search

REPORT = "report.html"
MAX_INFEASIBLE = 50  # rows of the infeasible table; the rest are counted
DETAILS = ("pe_area_um2", "sram_area_um2", "utilization", "dram_bytes")
_CAPTIONS = {"layers": "Per-layer cycles (compute and stall) and energy by component of the chosen design",
             "roofline": "Roofline of the chosen design (one dot per array layer)",
             "timeline": "Schedule of the chosen design over time: one row per core (compute, stall) and per "
                         "core's channel to the shared memory (loads, streamed transfers, writes), one bar per "
                         "layer and phase"}
_STYLE = """body{font-family:sans-serif;margin:2em;max-width:80em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:90%}
th,td{border:1px solid #ccc;padding:.2em .5em;text-align:right}
th{background:#f0f0f0}td.text{text-align:left}tr.chosen{background:#fff3c4}
figure{margin:1em 0}figure svg{max-width:100%;height:auto}figcaption{font-size:90%;color:#555}
dl{display:grid;grid-template-columns:max-content auto;gap:.15em 1.5em;align-items:baseline}
dt{font-weight:bold}dd{margin:0}"""


def choose_design(rows: Sequence[dict[str, Any]], front: Sequence[int], objectives: Sequence[str]) -> int | None:
    """The Pareto point with the best first objective (the smallest, or the largest for a maximised one such
    as tokens/s); ties go to the next objectives, then the lower index.

    ``None`` when the front is empty (no feasible point).

    Examples
    --------
    >>> rows = [{"total_cycles": 5, "energy_pj": 3.0}, {"total_cycles": 4, "energy_pj": 9.0},
    ...         {"total_cycles": 4, "energy_pj": 2.0}, {"total_cycles": 4, "energy_pj": 2.0}]
    >>> choose_design(rows, [0, 1, 2, 3], ("total_cycles", "energy_pj"))
    2
    >>> choose_design(rows, [], ("total_cycles",)) is None
    True
    >>> choose_design([{"tokens_per_s": 5.0}, {"tokens_per_s": 9.0}], [0, 1], ("tokens_per_s",))
    1
    """
    if not front:
        return None
    return min(front, key=lambda i: (score(rows[i], objectives), i))


def write_report(folder: str | Path, *, title: str, workload: str, base_arch_name: str, axes: Sequence[Any],
                 rows: Sequence[dict[str, Any]], front: Sequence[int], objectives: Sequence[str],
                 chosen_index: int | None, figures: Sequence[str | Path], details: Sequence[str] = DETAILS,
                 search: Search | None = None) -> Path:
    """Write ``folder/report.html`` and return its path.

    ``axes`` are :class:`~accelsim.dse.space.Axis` objects or axis names; ``rows`` are the points
    (axis values and result), ``front`` the indices of the Pareto points, ``chosen_index`` the point
    to describe (see :func:`choose_design`), ``figures`` the files to show, in order (``.svg`` inlined),
    ``details`` the chosen design's columns shown beside its axes and objectives, ``search`` how NSGA-II
    searched (its section: the found front's hypervolume; None for an exhaustive run).

    Examples
    --------
    >>> import tempfile
    >>> rows = [{"rows": 8, "feasible": True, "total_cycles": 9, "energy_pj": 1.5},
    ...         {"rows": "<b>", "feasible": False, "reason": "no fit"}]
    >>> with tempfile.TemporaryDirectory() as d:
    ...     page = write_report(d, title="t", workload="w", base_arch_name="sa32", axes=["rows"], rows=rows,
    ...                         front=[0], objectives=("total_cycles", "energy_pj"), chosen_index=0,
    ...                         figures=[]).read_text()
    >>> "&lt;b&gt;" in page, "<b>" in page, "http" in page
    (True, False, False)
    """
    names = [_name(a) for a in axes]
    feasible = sum(1 for row in rows if row.get("feasible"))
    parts = [f"<h1>{_text(title)}</h1>", _summary(workload, base_arch_name, axes, rows, feasible, front, objectives)]
    parts += _search_section(search, rows, objectives) if search is not None else []
    parts += _pareto_section(rows, front, objectives, names, chosen_index, feasible)
    parts += _chosen_section(rows, front, objectives, names, chosen_index, feasible, details)
    parts += _figures_section(figures, feasible, objectives, rows)
    parts += _infeasible_section(rows, names)
    page = "\n".join(["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
                      f"<title>{_text(title)}</title>", f"<style>\n{_STYLE}\n</style>", "</head>", "<body>",
                      *parts, "</body>", "</html>", ""])
    path = Path(folder) / REPORT
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, page)
    return path


def _summary(workload, base_arch_name, axes, rows, feasible, front, objectives) -> str:
    items = [("Workload", workload), ("Base architecture", base_arch_name),
             *((f"Axis {_name(a)}", ", ".join(_value(v) for v in _axis_values(a, rows))) for a in axes),
             ("Points", len(rows)), ("Feasible", feasible), ("Infeasible", len(rows) - feasible),
             ("Pareto points", len(front)), _objectives_item(objectives)]
    # every label has a value on its own line: an empty one is said, never left to collapse
    return "<h2>Summary</h2>\n<dl>\n" + "\n".join(f"<dt>{_text(k)}</dt><dd>{_text(_value(v)) or '(none)'}</dd>"
                                                for k, v in items) + "\n</dl>"


def _objectives_item(objectives: Sequence[str]) -> tuple[str, str]:
    """The summary's objectives line: each one's direction said when any is maximised.

    Examples
    --------
    >>> _objectives_item(("total_cycles", "energy_pj"))
    ('Objectives (minimised)', 'total_cycles, energy_pj')
    >>> _objectives_item(("tpot_s", "tokens_per_s"))
    ('Objectives', 'tpot_s (minimised), tokens_per_s (maximised)')
    """
    if not any(maximised(o) for o in objectives):
        return "Objectives (minimised)", ", ".join(objectives)
    return "Objectives", ", ".join(f"{o} ({'maximised' if maximised(o) else 'minimised'})" for o in objectives)


def _name(axis: Any) -> str:
    return getattr(axis, "name", axis)


def _axis_values(axis: Any, rows: Sequence[dict[str, Any]]) -> list[Any]:
    """An :class:`~accelsim.dse.space.Axis`'s values; for a bare name, the values its points took, in order."""
    if hasattr(axis, "values"):
        return list(axis.values)
    seen: dict[str, Any] = {}
    for row in rows:
        if axis in row:
            seen.setdefault(repr(row[axis]), row[axis])
    return list(seen.values())


_STOPPED = {"budget": "at the budget", "time": "at the time limit",
            "converged": "after {n} generations in a row proposed no new point"}


def _search_section(search: Search, rows: Sequence[dict[str, Any]], objectives: Sequence[str]) -> list[str]:
    """How NSGA-II searched and how good its front is: the hypervolume (:mod:`accelsim.dse.quality`) of the
    found front, against the exhaustive front's when the store holds every point of the space."""
    from .optimise import STALE_GENERATIONS
    from .quality import Box, hypervolume

    space = search.space
    how = [("Optimiser", "NSGA-II (optuna's NSGAIISampler)"),
           ("Budget", "none" if search.budget is None else _count(search.budget, "point")),
           *([("Time limit", f"{search.time_limit:g} s")] if search.time_limit is not None else []),
           ("Seed", search.seed), ("Population", search.population), ("Generations", search.generations),
           ("Stopped", _STOPPED.get(search.stopped, search.stopped).format(n=STALE_GENERATIONS)),
           ("Points visited", len(rows))]
    parts = ["<h2>Search</h2>"]
    if not any(row.get("feasible") for row in rows):
        return [*parts, _items(how), "<p>No feasible point was found: no front, no hypervolume.</p>"]
    try:
        box = Box.of(space if space is not None else rows, objectives)
        found = hypervolume(rows, objectives, box)
        reference = hypervolume(space, objectives, box) if space is not None else None
    except AccelsimError as err:  # moocore missing
        return [*parts, _items(how), f"<p>No hypervolume: {_text(err)}.</p>"]
    if space is not None and reference is not None:
        intro = (f"The store holds every point of the space ({len(space):,}, from an exhaustive run of the same "
                 "settings in this folder), so the found front is measured against the exhaustive front: the "
                 "hypervolume of the points NSGA-II visited over that of every point, both in the exhaustive "
                 "front's box.")
        quality = [("Hypervolume of the found front", found), ("Hypervolume of the exhaustive front", reference),
                   ("Ratio (found / exhaustive)", f"{found / reference:.4f}")]
    else:
        intro = ("The store does not hold every point of the space, so there is no exhaustive front to measure "
                 "against: the found front's hypervolume is in its own box (an exhaustive run of the same "
                 "settings in this folder, then this search with --resume, gives the ratio).")
        quality = [("Hypervolume of the found front", found)]
    shown = [f"{o} (maximised: negated)" if maximised(o) else o for o in objectives]
    over = "exhaustive" if space is not None else "found"
    box_items = [("Normalised", f"each objective as (value - ideal) / (nadir - ideal) over the {over} front: "
                                + ", ".join(shown)),
                 ("Ideal", _point(box.ideal)), ("Nadir", _point(box.nadir)),
                 ("Reference point", f"{_point(box.reference())} (1.1 in every normalised objective)")]
    return [*parts, _items(how), f"<p>{_text(intro)}</p>", _items([*quality, *box_items])]


def _items(items: Sequence[tuple[str, Any]]) -> str:
    """A definition list, every label with its value on its line."""
    return "<dl>\n" + "\n".join(f"<dt>{_text(k)}</dt><dd>{_text(_value(v)) or '(none)'}</dd>"
                                 for k, v in items) + "\n</dl>"


def _point(values: Sequence[float]) -> str:
    return "(" + ", ".join(_value(float(v)) for v in values) + ")"


def _pareto_section(rows, front, objectives, names, chosen, feasible) -> list[str]:
    head = ["<h2>Pareto front</h2>"]
    if not feasible:
        return [*head, f"<p>No feasible point: {_count(len(rows), 'point')}, none can run (reasons below).</p>"]
    order = sorted(front, key=lambda i: (score(rows[i], objectives), i))
    columns = [*names, *objectives]
    best = ", ".join(f"{o} (largest first)" if maximised(o) else o for o in objectives)
    intro = (f"<p>{len(front)} of {feasible} feasible points are non-dominated, sorted by "
             f"{_text(best)}; the chosen design is highlighted.</p>")
    table = _table(["point", *columns], [[i, *(rows[i].get(k) for k in columns)] for i in order],
                   highlight=order.index(chosen) if chosen in order else None)
    return [*head, intro, table]


def _chosen_section(rows, front, objectives, names, chosen, feasible, details=DETAILS) -> list[str]:
    head = ["<h2>Chosen design</h2>"]
    if chosen is None:
        return [*head, "<p>No feasible point: nothing to choose.</p>" if not feasible else "<p>None chosen.</p>"]
    row = rows[chosen]
    if chosen == choose_design(rows, front, objectives):
        why = (f"it has the {'largest' if maximised(objectives[0]) else 'smallest'} {objectives[0]} of the "
               f"{len(front)} Pareto points")
        why += f" (ties broken by {', '.join(objectives[1:])}, then by point index)" if len(objectives) > 1 else ""
    else:
        why = f"it was chosen by the caller; it is {'' if chosen in front else 'not '}on the Pareto front"
    keys = list(dict.fromkeys(k for k in (*names, *objectives, *details) if k in row))
    parts = [*head, f"<p>Point {chosen}, because {_text(why)}.</p>",
             _table(["point", *keys], [[chosen, *(row[k] for k in keys)]])]
    mapping = row.get("mapping") or {}
    if mapping:
        parts.append(f"<details><summary>Mapping of its {len(mapping)} array layers</summary>\n"
                     + _table(["layer", "mapping"], [[layer, m] for layer, m in mapping.items()]) + "</details>")
    return parts


def _figures_section(figures, feasible, objectives, rows=()) -> list[str]:
    parts = ["<h2>Figures</h2>"]
    captions = _CAPTIONS | {pareto_stem(a, b): f"{a} against {b} of every feasible point (grey), Pareto points "
                            f"highlighted" for a, b in itertools.combinations(objectives, 2)}
    paths = [Path(f) for f in figures]
    svgs = {p.with_suffix("") for p in paths if p.suffix == ".svg"}
    for n, path in enumerate(paths):
        caption = f"<figcaption>{_text(captions.get(path.stem, path.stem))}</figcaption>"
        if path.suffix == ".svg":
            parts.append(f"<figure>\n{_inline_svg(path.read_text(), f'f{n}-')}\n{caption}</figure>")
        elif path.suffix == ".png" and path.with_suffix("") not in svgs:
            data = base64.b64encode(path.read_bytes()).decode("ascii")
            parts.append(f'<figure><img alt="{_text(path.stem)}" src="data:image/png;base64,{data}">{caption}</figure>')
    drawn = len(parts) > 1
    if not feasible:
        parts.append("<p>No figures: there is no feasible point to plot.</p>")
    elif feasible == 1 and not drawn:
        parts.append("<p>No figures: one feasible point, whose numbers are in the tables above.</p>")
    else:
        parts += _unplotted(paths, objectives, rows) or ([] if drawn else ["<p>No figures.</p>"])
    return parts


def _unplotted(paths: Sequence[Path], objectives: Sequence[str], rows: Sequence[dict[str, Any]]) -> list[str]:
    """Why a pair of objectives has no scatter: an objective with one value at every feasible point.

    Examples
    --------
    >>> rows = [{"feasible": True, "c": c, "a": 5.0} for c in (1, 2)]
    >>> _unplotted([], ("c", "a"), rows)
    ['<p>No scatter of a: it is 5 at every feasible point.</p>']
    """
    stems = {path.stem for path in paths}
    feasible = [row for row in rows if row.get("feasible")]
    missing = {name for a, b in itertools.combinations(objectives, 2) if pareto_stem(a, b) not in stems
               for name in (a, b)}
    same = [(o, feasible[0].get(o)) for o in objectives if o in missing and len({row.get(o) for row in feasible}) == 1]
    return [f"<p>No scatter of {_text(o)}: it is {_text(_value(v))} at every feasible point.</p>" for o, v in same]


def _infeasible_section(rows, names) -> list[str]:
    bad = [i for i, row in enumerate(rows) if not row.get("feasible")]
    if not bad:
        return ["<h2>Infeasible points</h2>", "<p>None: every point is feasible.</p>"]
    parts = ["<h2>Infeasible points</h2>", f"<p>{_count(len(bad), 'point')} cannot run; the reason of each:</p>",
             _table(["point", *names, "reason"], [[i, *(rows[i].get(k) for k in names), rows[i].get("reason", "")]
                                                  for i in bad[:MAX_INFEASIBLE]])]
    if len(bad) > MAX_INFEASIBLE:
        parts.append(f"<p>… and {len(bad) - MAX_INFEASIBLE} more infeasible points, not shown.</p>")
    return parts


def _table(header: list[str], body: list[list[Any]], highlight: int | None = None) -> str:
    lines = ["<table>", "<tr>" + "".join(f"<th>{_text(h)}</th>" for h in header) + "</tr>"]
    for n, cells in enumerate(body):
        row = '<tr class="chosen">' if n == highlight else "<tr>"
        lines.append(row + "".join(f'<td{"" if isinstance(c, (int, float)) else " class=text"}>{_text(_value(c))}</td>'
                                   for c in cells) + "</tr>")
    return "\n".join([*lines, "</table>"])


def _value(value: Any) -> str:
    """A cell: thousands separators, floats to 6 significant digits (whole numbers from 1,000), dicts as JSON.

    Examples
    --------
    >>> _value(1234567), _value(24777654321.2), _value(0.123456789), _value({"a": "ws"}), _value(None)
    ('1,234,567', '24,777,654,321', '0.123457', '{"a": "ws"}', '')
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.6g}"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _text(value: Any) -> str:
    """Escaped for HTML text and attributes, with ``://`` broken so no address appears literally.

    Examples
    --------
    >>> _text('<script>"x" & http://a')
    '&lt;script&gt;&quot;x&quot; &amp; http:&#47;&#47;a'
    """
    return html.escape(str(value)).replace("://", ":&#47;&#47;")


def _inline_svg(svg: str, prefix: str) -> str:
    """matplotlib's SVG file as inline markup: no XML prolog, DOCTYPE, namespaces, metadata or comments,
    and every ``id`` (and reference to it) prefixed so figures on one page cannot collide."""
    svg = svg[svg.index("<svg"):]
    svg = re.sub(r"<!--.*?-->|<metadata>.*?</metadata>", "", svg, flags=re.DOTALL)
    svg = re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", svg)
    svg = re.sub(r'\bid="([^"]+)"', rf'id="{prefix}\1"', svg)
    svg = re.sub(r'(href="#|url\(#)([^")]+)', rf"\g<1>{prefix}\2", svg)
    return svg.replace("://", ":&#47;&#47;").strip()
