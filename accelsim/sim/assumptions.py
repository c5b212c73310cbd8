"""What a run did not do as described: the fallbacks a report must say (never a silent wrong number).

A workload may describe sparsity the array cannot use, or sparsity its PEs could use but this layer's
structure or density gives them nothing to gain from. The engines then run those layers dense, which
is right, but a reader of the totals must be told. :func:`fallbacks` words each such case once, with
the layers it concerns.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from ..arch import ArrayConfig
from ..mapping.dataflow import DataflowSpec
from ..workload.layer import Layer

if TYPE_CHECKING:
    from .engine import LayerResult


def _names(layers: list[str]) -> str:
    shown = ", ".join(f"'{n}'" for n in layers[:3])
    return f"{len(layers)} layer{'s' if len(layers) > 1 else ''} ({shown}{', …' if len(layers) > 3 else ''})"


def fallbacks(layers: Iterable[Layer], results: Iterable[LayerResult], arch: ArrayConfig,
              dataflows: Iterable[DataflowSpec]) -> list[str]:
    """One line per fallback the run took, naming the layers (empty when everything ran as described).

    ``dataflows`` gives each layer's dataflow (what zero-skipping can use depends on it).

    Examples
    --------
    >>> from accelsim.mapping import load_dataflow
    >>> from accelsim.sim.engine import simulate_layer
    >>> layer = Layer("fc", "linear", in_shapes=((16, 64),), out=32, weight_structure="2:4")
    >>> arch, ws = ArrayConfig(rows=8, cols=8), load_dataflow("ws")
    >>> fallbacks([layer], [simulate_layer(layer, arch, ws)], arch, [ws])
    ["1 layer ('fc'): weight zeros multiplied (the array has no sparsity support: sparse none, no weight_nm)"]
    """
    notes: dict[str, list[str]] = {}
    for layer, result, dataflow in zip(layers, results, dataflows):
        if result.unit != "array" or layer.is_dense:
            continue
        for note in _layer_fallbacks(layer, result, arch, dataflow):
            notes.setdefault(note, []).append(layer.name)
    return [f"{_names(names)}: {note}" for note, names in notes.items()]


_NAMES = {"W": "weight", "I": "input"}


def _layer_fallbacks(layer: Layer, result: LayerResult, arch: ArrayConfig, dataflow: DataflowSpec) -> list[str]:
    """What this layer's zeros did not buy, operand by operand (gating saves every zero's switching)."""
    if arch.sparse == "gate":
        return []
    zeros = {"W": layer.weight_nonzero_fraction < 1, "I": layer.input_density < 1}
    formats = {"W": arch.weight_format, "I": arch.input_format}
    out = []
    for op in ("W", "I"):
        if not zeros[op]:
            continue
        name = _NAMES[op]
        stored = " (stored compressed, computed dense)" if formats[op] != "dense" else ""
        if arch.sparse == "none" and not arch.nm:
            out.append(f"{name} zeros multiplied{stored} (the array has no sparsity support: sparse none, "
                       "no weight_nm)")
        elif arch.nm and op == "W" and result.mac_counts.skipped == 0:
            realised = result.sparsity.realised if result.sparsity else None
            out.append(f"weights ran {realised or 'dense'}")
        elif arch.nm and op == "I":
            out.append(f"input zeros multiplied{stored} (N:M PEs skip by the weights' structure only)")
        elif arch.sparse == "skip" and dataflow.mode == "stationary" and op != dataflow.stationary:
            out.append(f"{name} zeros multiplied{stored} (stationary-mode skipping drops only "
                       f"{_NAMES[dataflow.stationary]} rows that are zero across a column tile)")
        elif arch.sparse == "skip" and result.mac_counts.skipped == 0:
            out.append(f"{name} zeros skipped nothing: a step is skipped only when its operand is zero across "
                       "a whole tile of the array (docs/sparsity.md), which unstructured zeros at this density "
                       "almost never are")
    return out
