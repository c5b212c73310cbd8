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
    >>> m.fold_count
    4
    >>> [(f.rows, f.cols, f.steps) for _, _, f in m.folds()]
    [(4, 4, 5), (3, 4, 5), (4, 2, 5), (3, 2, 5)]
    >>> m2 = Mapping(GemmView(M=5, N=6, K=7), load_dataflow("ws"), ArrayConfig(rows=4, cols=4), temporal_tile=2)
    >>> m2.fold_count, [f.steps for _, _, f in m2.folds()][::4]
    (12, [2, 2, 1])
    """

    gemm: GemmView
    dataflow: DataflowSpec
    arch: ArrayConfig
    temporal_tile: int | None = None  # stream the temporal dimension in chunks of this many steps

    @classmethod
    def for_layer(cls, layer: Layer, dataflow: DataflowSpec, arch: ArrayConfig,
                  temporal_tile: int | None = None) -> "Mapping":
        """Map a GEMM-like layer; raise :class:`MappingError` if it cannot be."""
        if layer.gemm is None:
            raise MappingError(f"layer '{layer.name}' ({layer.kind}) is not a GEMM; it runs on the vector unit")
        mapping = cls(layer.gemm, dataflow, arch, temporal_tile)
        mapping.check()
        return mapping

    def check(self) -> None:
        if self.dataflow.name not in self.arch.dataflows:
            raise MappingError(f"architecture '{self.arch.name}' does not support dataflow "
                               f"'{self.dataflow.name}' (it supports {', '.join(self.arch.dataflows)})")
        if self.temporal_tile is not None and self.dataflow.mode == "output" and self.temporal_tile < self.gemm.K:
            raise MappingError("output-stationary folds stream the whole reduction; K cannot be chunked")

    @property
    def chunk(self) -> int:
        """Steps per temporal chunk (the whole temporal dimension unless tiled)."""
        size = self.size(self.dataflow.temporal)
        return min(size, self.temporal_tile) if self.temporal_tile else size

    def size(self, dim: str) -> int:
        return getattr(self.gemm, dim)

    def tile(self, dim: str) -> int:
        """Tile size along a GEMM dimension: the array extent if spatial, else the whole dimension."""
        df = self.dataflow
        return {df.rows: self.arch.rows, df.cols: self.arch.cols}.get(dim, self.size(dim))

    @property
    def fold_count(self) -> int:
        df = self.dataflow
        n = self.gemm.count * -(-self.size(df.temporal) // self.chunk)
        for dim in (df.rows, df.cols):
            n *= -(-self.size(dim) // self.tile(dim))
        return n

    def _fold(self, sizes: dict[str, int], steps: int) -> Fold:
        df = self.dataflow
        return Fold(rows=sizes[df.rows], cols=sizes[df.cols], steps=steps)

    def run_length(self) -> FoldSeq:
        """The fold sequence of one GEMM as nested runs: temporal chunks, outer loop, inner loop."""
        outer, inner = self.dataflow.loop_order
        seq: FoldSeq = []
        for steps, t_count in tile_sizes(self.size(self.dataflow.temporal), self.chunk):
            chunk: FoldSeq = []
            for o_size, o_count in tile_sizes(self.size(outer), self.tile(outer)):
                block = [(self._fold({outer: o_size, inner: i_size}, steps), i_count)
                         for i_size, i_count in tile_sizes(self.size(inner), self.tile(inner))]
                chunk.append((block, o_count))
            seq.append((chunk, t_count))
        return seq

    def folds(self) -> Iterator[tuple[int, dict[str, int], Fold]]:
        """Every fold in order, as ``(gemm index, tile offsets by dimension, Fold)``."""
        outer, inner = self.dataflow.loop_order
        temporal = self.dataflow.temporal
        for g in range(self.gemm.count):
            for t0 in range(0, self.size(temporal), self.chunk):
                steps = min(self.chunk, self.size(temporal) - t0)
                for o0 in range(0, self.size(outer), self.tile(outer)):
                    for i0 in range(0, self.size(inner), self.tile(inner)):
                        sizes = {outer: min(self.tile(outer), self.size(outer) - o0),
                                 inner: min(self.tile(inner), self.size(inner) - i0)}
                        yield g, {outer: o0, inner: i0, temporal: t0}, self._fold(sizes, steps)
