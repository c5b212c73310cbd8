"""Design spaces as data: named axes, each a list of values, and the points of their product.

An axis names an ``ArrayConfig`` field (nested fields by dotted path, e.g.
``memory.dram_bytes_per_cycle``), ``dataflow``, a workload-side setting applied to every GEMM
layer (``workload.input_bits``, ``workload.weight_bits``, ``workload.weight_sparsity``), or a
system of cores built from the point's array (:data:`SYSTEM_AXES`, :mod:`accelsim.dse.systems`). Every value
is checked against the base architecture on its own before any work, so a typo is one line, not a
thousand failed points.

Examples
--------
>>> axes = [parse_axis("rows=8,16"), parse_axis("dataflow=ws,os")]
>>> for p in points(axes):
...     print(p)
{'rows': 8, 'dataflow': 'ws'}
{'rows': 8, 'dataflow': 'os'}
{'rows': 16, 'dataflow': 'ws'}
{'rows': 16, 'dataflow': 'os'}
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..arch import ArrayConfig
from ..errors import AccelsimError, SpecError, did_you_mean
from ..specio import Fields, printable, read_yaml_file

# Workload-side axes carry a "workload." prefix: ArrayConfig has its own input_bits/weight_bits (the datapath).
WORKLOAD_AXES = ("workload.input_bits", "workload.weight_bits", "workload.weight_sparsity")
# A system of identical cores, each the point's array, and how the network is scheduled on it
# (accelsim.dse.systems): a point with any of these is evaluated by the schedule's closed forms.
SYSTEM_AXES = ("system.cores", "system.dram_bytes_per_cycle", "system.global_buffer_kib",
               "system.global_buffer_bytes_per_cycle", "system.topology", "system.link_bytes_per_cycle",
               "system.hop_latency_cycles", "system.pj_per_byte_hop", "schedule")
MAX_POINTS = 2_000_000  # an exhaustive run beyond this would take hours: use --budget (NSGA-II) instead
# Metrics a space may bound (derived constraints): a point above a limit is infeasible, with the reason.
LIMITS = ("total_cycles", "latency_ms", "energy_pj", "power_mw", "area_um2")


@dataclass(frozen=True)
class Axis:
    """One axis: a name and its values, in the order given."""

    name: str
    values: tuple[Any, ...]


def parse_axis(text: str) -> Axis:
    """``NAME=V1,V2,...`` from the command line; values read as YAML scalars (``8`` int, ``ws`` str).

    Examples
    --------
    >>> parse_axis("memory.dram_bytes_per_cycle=8,16.5")
    Axis(name='memory.dram_bytes_per_cycle', values=(8, 16.5))
    """
    name, sep, rest = text.partition("=")
    name = name.strip()
    if not sep or not name or not rest.strip():
        raise SpecError(f"--axis '{printable(text)}' must look like NAME=V1,V2 (e.g. rows=8,16,32)")
    values = []
    for raw in rest.split(","):
        raw = raw.strip()
        if not raw:
            raise SpecError(f"--axis '{printable(text)}' has an empty value")
        values.append(_scalar(raw))
    return _checked(Axis(name, tuple(values)), where="--axis")


def _scalar(raw: str) -> Any:
    """A command-line value: an int, a float, true/false, else the text (``2:4`` stays text; YAML 1.1
    would read it as the base-60 number 124).

    Examples
    --------
    >>> [_scalar(v) for v in ("8", "16.5", "true", "ws", "2:4", "1e3")]
    [8, 16.5, True, 'ws', '2:4', 1000.0]
    """
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    for kind in (int, float):
        try:
            return kind(raw)
        except ValueError:
            pass
    return raw


def parse_limit(text: str, metrics: tuple[str, ...] = LIMITS, *, flag: str = "--max") -> tuple[str, float]:
    """``METRIC=MAX`` from the command line (``--max area_um2=5e6``): a derived constraint on one of
    ``metrics``; with ``flag="--min"``, ``METRIC=MIN`` (a lower bound).

    Examples
    --------
    >>> parse_limit("power_mw=1500")
    ('power_mw', 1500.0)
    """
    name, sep, value = text.partition("=")
    f = Fields({name.strip(): _scalar(value.strip())} if sep and name.strip() else {}, where=flag)
    if not sep or not name.strip():
        bound = flag.removeprefix("--").upper()
        example = "area_um2=5e6" if flag == "--max" else "tokens_per_s=100"
        raise SpecError(f"{flag} '{printable(text)}' must look like METRIC={bound} (e.g. {example})")
    try:
        return _limit(f, name.strip(), metrics)
    except SpecError as err:  # the option as the user typed it, not a field path ("--max.area_um2")
        reason = f"'{printable(name.strip())}' {err.message}" if err.message.startswith("is ") else err.message
        raise SpecError(f"{flag} {printable(text)}: {reason}") from None


def _limit(f: Fields, name: str, metrics: tuple[str, ...] = LIMITS) -> tuple[str, float]:
    if name not in metrics:
        raise f.error(name, f"is not a metric a space can bound (choose from {', '.join(metrics)})")
    return name, f.number(name)


def load_space(path: str, metrics: tuple[str, ...] = LIMITS) -> tuple[list[Axis], dict[str, float]]:
    """Axes and limits from a YAML file: ``{version: 1, axes: {NAME: [V1, V2], ...}, limits: {METRIC: MAX}}``.

    ``limits`` (optional) bound derived metrics (``metrics``, by default :data:`LIMITS`): a point above
    one is infeasible.
    """
    f = Fields(read_yaml_file(path), where="", file=str(path))
    version = f.int("version", 1)
    if version != 1:
        raise f.error("version", f"must be 1, not {version}")
    axes_f = f.sub("axes")
    if not isinstance(axes_f.data, dict) or not axes_f.data:
        raise f.error("axes", "must map axis names to lists of values")
    axes = []
    for name in axes_f.data:
        values = axes_f.raw(name)
        if not isinstance(values, list) or not values:
            raise axes_f.error(name, "must be a non-empty list of values")
        if str(name) == "dataflow":  # a dataflow file is found next to the space file that names it
            values = [_beside(path, v) for v in values]
        axes.append(_checked(Axis(str(name), tuple(values)), where=f"{path}: axes"))
    limits = {}
    if f.raw("limits", None) is not None:
        limits_f = f.sub("limits")
        if not isinstance(limits_f.data, dict):
            raise f.error("limits", f"must map metrics ({', '.join(metrics)}) to their largest allowed values")
        limits = dict(_limit(limits_f, str(name), metrics) for name in limits_f.data)
    f.done()
    return axes, limits


def _beside(space_file: str, value: Any) -> Any:
    """A relative dataflow file named in a space file, as a path from the space file's folder."""
    from pathlib import Path

    if isinstance(value, str) and value.endswith((".yaml", ".yml")) and not Path(value).is_absolute():
        candidate = Path(space_file).parent / value
        if candidate.is_file():
            return str(candidate)
    return value


def _checked(axis: Axis, *, where: str) -> Axis:
    for value in axis.values:  # a nested value would bypass the dotted-path checks (and the CSV)
        if not isinstance(value, (int, float, str, bool)):
            raise SpecError(f"{where}: axis '{printable(axis.name)}' has a value that is not a number, text or "
                            f"true/false ({type(value).__name__}); vary nested fields by dotted path, e.g. "
                            "memory.dram_latency_cycles")
    if len(set(map(repr, axis.values))) != len(axis.values):
        raise SpecError(f"{where}: axis '{printable(axis.name)}' repeats a value")
    return axis


def points(axes: list[Axis]) -> Iterator[dict[str, Any]]:
    """Every point of the axes' product, the first axis outermost."""
    names = [a.name for a in axes]
    if len(set(names)) != len(names):
        raise SpecError(f"an axis is given twice: {', '.join(n for n in names if names.count(n) > 1)}")
    for combo in itertools.product(*(a.values for a in axes)):
        yield dict(zip(names, combo))


def count_points(axes: list[Axis]) -> int:
    n = 1
    for a in axes:
        n *= len(a.values)
    return n


def arch_for(base: ArrayConfig, point: dict[str, Any]) -> ArrayConfig:
    """The architecture of a point: the base with the point's architecture axes changed."""
    data = base.to_dict()
    changed = False
    for name, value in point.items():
        if name in WORKLOAD_AXES or name in SYSTEM_AXES or name == "dataflow":
            continue
        changed = True
        target = data
        *parents, leaf = name.split(".")
        for part in parents:
            if not isinstance(target.get(part), dict):
                raise SpecError(f"axis '{printable(name)}': '{printable(part)}' is not a nested field "
                                "of the architecture")
            target = target[part]
        if leaf not in target and leaf not in ArrayConfig.__dataclass_fields__:
            raise SpecError(f"axis '{printable(name)}': not an architecture field, 'dataflow' or one of "
                            f"{', '.join(WORKLOAD_AXES + SYSTEM_AXES)}")
        target[leaf] = value
    if not changed:
        return base
    data["name"] = base.name
    return ArrayConfig.from_dict(data, file="design point")


def design_of(base: ArrayConfig, point: dict[str, Any], *, every_dataflow: bool):
    """A point's array and the dataflows its layers may run: ``(arch, [DataflowSpec, ...])``.

    A ``dataflow`` axis builds the array for that dataflow (its PE, its area). Without one, the
    base's dataflows: all of them (``every_dataflow``, a mapping search) or its first.
    """
    from ..mapping import load_dataflow

    arch = arch_for(base, point)
    if "dataflow" in point:
        dataflow = load_dataflow(str(point["dataflow"]))
        return arch.with_changes(dataflows=(dataflow.name,)), [dataflow]
    return arch, [load_dataflow(n) for n in (arch.dataflows if every_dataflow else arch.dataflows[:1])]


def check_axes(base: ArrayConfig, axes: list[Axis]) -> None:
    """Each value of each axis must make a valid architecture on its own, and no two values of an axis
    may make the same design (a label such as ``name``, or ``8`` and ``8.0``: every point would be
    computed twice under two names); else one line, before any work."""
    from ..mapping import load_dataflow
    from .systems import axis_design, check_system_axes

    for axis in axes:
        if axis.name.startswith("system.") and axis.name not in SYSTEM_AXES:
            raise SpecError(f"axis '{printable(axis.name)}' is not a system axis"
                            f"{did_you_mean(axis.name, SYSTEM_AXES)}: choose from {', '.join(SYSTEM_AXES)}")
        seen: dict[str, Any] = {}
        for value in axis.values:
            try:
                if axis.name == "dataflow":  # the spec without its name and description: what the engines read
                    spec = load_dataflow(str(value)).to_dict()
                    design: Any = {k: v for k, v in spec.items() if k not in ("name", "description")}
                elif axis.name in WORKLOAD_AXES:
                    design = workload_changes({axis.name: value})
                elif axis.name in SYSTEM_AXES:
                    design = axis_design(axis.name, value)
                else:
                    design = arch_for(base, {axis.name: value}).to_dict()  # a point keeps the base's name
            except AccelsimError as err:
                if str(err).startswith(f"axis '{printable(axis.name)}': "):  # about the axis, whatever its value
                    raise SpecError(str(err)) from None
                raise SpecError(f"axis '{printable(axis.name)}' value {printable(repr(value))}: {err}") from None
            key = repr(design)
            if key in seen:
                label = " (the design's name is a label, not part of the design)" if axis.name == "name" else ""
                raise SpecError(f"axis '{printable(axis.name)}' values {printable(repr(seen[key]))} and "
                                f"{printable(repr(value))} give the same design{label}: their points would be "
                                "identical; give each design once")
            seen[key] = value
    check_system_axes(axes)


def workload_changes(point: dict[str, Any]) -> dict[str, Any]:
    """The layer fields a point's workload axes set on every GEMM layer (weights: conv2d/linear only)."""
    from ..workload.layer import int_format, weight_sparsity_changes

    convert = {"workload.input_bits": lambda v: {"input_type": int_format(v)},
               "workload.weight_bits": lambda v: {"weight_type": int_format(v)},
               "workload.weight_sparsity": weight_sparsity_changes}
    changes: dict[str, Any] = {}
    for name in WORKLOAD_AXES:
        if name in point:
            changes |= convert[name](point[name])
    return changes
