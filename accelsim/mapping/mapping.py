"""`Mapping`: one GEMM on one array under one dataflow, as a sequence of folds.

A *fold* is one placement of tiles on the array: ``rows`` (≤ R) by ``cols`` (≤ C) PEs used, and
``steps`` elements streamed through time. Folds follow the spec's loop order; the GEMMs of a layer
(groups, heads, batch) run one after another.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from ..arch import ArrayConfig
from ..errors import MappingError
from ..workload.layer import GemmView, Layer
from .dataflow import DataflowSpec


@dataclass(frozen=True)
class Fold:
    """The shape of one fold: PE rows and columns used, and streamed steps."""

    rows: int
    cols: int
    steps: int


# A run-length encoded fold sequence: items are (Fold or nested sequence, repeat count).
FoldSeq = list[tuple["Fold | FoldSeq", int]]


def tile_sizes(size: int, tile: int) -> list[tuple[int, int]]:
    """``(tile size, how many)`` covering ``size`` with tiles of at most ``tile``.

    Examples
    --------
    >>> tile_sizes(10, 4)
    [(4, 2), (2, 1)]
    """
    out = [(tile, size // tile)] if size >= tile else []
    return out + ([(size % tile, 1)] if size % tile else [])


@dataclass(frozen=True)
class Mapping:
    """A GEMM mapped onto an array by a dataflow.

    Examples
    --------
    >>> from accelsim.arch import ArrayConfig
    >>> from accelsim.mapping.dataflow import load_dataflow
    >>> m = Mapping(GemmView(M=5, N=6, K=7), load_dataflow("ws"), ArrayConfig(rows=4, cols=4))
    >>> m.fold_count, m.run_length()
    (4, [([(Fold(rows=4, cols=4, steps=5), 1), (Fold(rows=3, cols=4, steps=5), 1)], 1), ([(Fold(rows=4, cols=2, steps=5), 1), (Fold(rows=3, cols=2, steps=5), 1)], 1)])
    """

    gemm: GemmView
    dataflow: DataflowSpec
    arch: ArrayConfig

    @classmethod
    def for_layer(cls, layer: Layer, dataflow: DataflowSpec, arch: ArrayConfig) -> "Mapping":
        """Map a GEMM-like layer; raise :class:`MappingError` if it cannot be."""
        if layer.gemm is None:
            raise MappingError(f"layer '{layer.name}' ({layer.kind}) is not a GEMM; it runs on the vector unit")
        mapping = cls(layer.gemm, dataflow, arch)
        mapping.check()
        return mapping

    def check(self) -> None:
        if self.dataflow.name not in self.arch.dataflows:
            raise MappingError(f"architecture '{self.arch.name}' does not support dataflow "
                               f"'{self.dataflow.name}' (it supports {', '.join(self.arch.dataflows)})")

    def size(self, dim: str) -> int:
        return getattr(self.gemm, dim)

    def tile(self, dim: str) -> int:
        """Tile size along a GEMM dimension: the array extent if spatial, else the whole dimension."""
        df = self.dataflow
        return {df.rows: self.arch.rows, df.cols: self.arch.cols}.get(dim, self.size(dim))

    @property
    def fold_count(self) -> int:
        df = self.dataflow
        n = self.gemm.count
        for dim in (df.rows, df.cols):
            n *= -(-self.size(dim) // self.tile(dim))
        return n

    def _fold(self, sizes: dict[str, int]) -> Fold:
        df = self.dataflow
        return Fold(rows=sizes[df.rows], cols=sizes[df.cols], steps=self.size(df.temporal))

    def run_length(self) -> FoldSeq:
        """The fold sequence of one GEMM as nested runs (outer loop, then inner loop)."""
        outer, inner = self.dataflow.loop_order
        seq: FoldSeq = []
        for o_size, o_count in tile_sizes(self.size(outer), self.tile(outer)):
            block = [(self._fold({outer: o_size, inner: i_size}), i_count)
                     for i_size, i_count in tile_sizes(self.size(inner), self.tile(inner))]
            seq.append((block, o_count))
        return seq

    def folds(self) -> Iterator[tuple[int, dict[str, int], Fold]]:
        """Every fold in order, as ``(gemm index, tile offsets by dimension, Fold)``."""
        outer, inner = self.dataflow.loop_order
        for g in range(self.gemm.count):
            for o0 in range(0, self.size(outer), self.tile(outer)):
                for i0 in range(0, self.size(inner), self.tile(inner)):
                    sizes = {outer: min(self.tile(outer), self.size(outer) - o0),
                             inner: min(self.tile(inner), self.size(inner) - i0)}
                    offsets = {outer: o0, inner: i0, self.dataflow.temporal: 0}
                    yield g, offsets, self._fold(sizes)
