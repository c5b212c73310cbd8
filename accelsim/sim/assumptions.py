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
from ..workload.layer import Layer

if TYPE_CHECKING:
    from .engine import LayerResult


def _names(layers: list[str]) -> str:
    shown = ", ".join(f"'{n}'" for n in layers[:3])
    return f"{len(layers)} layer{'s' if len(layers) > 1 else ''} ({shown}{', …' if len(layers) > 3 else ''})"


def fallbacks(layers: Iterable[Layer], results: Iterable["LayerResult"], arch: ArrayConfig) -> list[str]:
    """One line per fallback the run took, naming the layers (empty when everything ran as described).

    Examples
    --------
    >>> from accelsim.mapping import load_dataflow
    >>> from accelsim.sim.engine import simulate_layer
    >>> layer = Layer("fc", "linear", in_shapes=((16, 64),), out=32, weight_structure="2:4")
    >>> arch = ArrayConfig(rows=8, cols=8)
    >>> fallbacks([layer], [simulate_layer(layer, arch, load_dataflow("ws"))], arch)
    ["1 layer ('fc') describe zeros the array cannot use (sparse: none, no weight_nm): run dense, every zero multiplied"]
    """
    unusable, dense_on_nm, nothing_skipped = [], {}, []
    for layer, result in zip(layers, results):
        if result.unit != "array" or layer.is_dense:
            continue
        if arch.sparse == "none" and not arch.nm:
            unusable.append(layer.name)
        elif arch.nm and result.mac_counts.skipped == 0:
            reason = result.sparsity.realised if result.sparsity and result.sparsity.realised else "dense"
            dense_on_nm.setdefault(reason, []).append(layer.name)
        elif arch.sparse == "skip" and result.mac_counts.skipped == 0:
            nothing_skipped.append(layer.name)
    notes = []
    if unusable:
        notes.append(f"{_names(unusable)} describe zeros the array cannot use (sparse: none, no weight_nm): "
                     "run dense, every zero multiplied")
    for reason, names in dense_on_nm.items():
        notes.append(f"{_names(names)} ran {reason}")
    if nothing_skipped:
        notes.append(f"{_names(nothing_skipped)} skipped nothing on zero-skipping PEs: a step is skipped only "
                     "when its operand is zero across a whole tile of the array (docs/sparsity.md), which "
                     "unstructured zeros at this density almost never are")
    return notes
