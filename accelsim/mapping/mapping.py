"""`Mapping`: one GEMM on one array under one dataflow, as a sequence of folds.

A *fold* is one placement of tiles on the array: ``rows`` (≤ R) by ``cols`` (≤ C) PEs used, and
``steps`` elements streamed through time. Folds follow the spec's loop order; the GEMMs of a layer
(groups, heads, batch) run one after another.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any

import numpy as np

from ..arch import ArrayConfig
from ..counts import MacCounts
from ..errors import MappingError, UnsupportedError
from ..precision import int_type
from ..sparsity import max_group_nonzeros
from ..workload.layer import GemmView, Layer
from .dataflow import DataflowSpec
from .plan import (
    Precision,
    check_skip_supported,
    expected_nonempty,
    fused_rows,
    nm_compresses,
    nm_rows,
    nonzero_probability,
    resolve_precision,
    tile_any,
)
from .tiling import fit_temporal_tile


@dataclass(frozen=True)
class Fold:
    """The shape of one fold: PE rows and columns used, and streamed steps."""

    rows: int
    cols: int
    steps: int


@dataclass(frozen=True)
class SparsityReport:
    """What sparsity a layer's mapping used and how: the array's mode, the operand densities it ran
    from (measured when tensors were given), what the hardware realised (None: nothing to say) and
    whether the numbers come from tensors or from the density description (expected values)."""

    mode: str
    input_density: float
    weight_density: float
    realised: str | None = None
    source: str = "density (expected value)"

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"mode": self.mode, "input_density": self.input_density,
                                  "weight_density": self.weight_density}
        if self.realised is not None:
            out["realised"] = self.realised
        return out | {"source": self.source}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SparsityReport:
        return cls(data["mode"], data["input_density"], data["weight_density"], data.get("realised"), data["source"])


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
    precision: Precision | None = None  # None: operands as wide as the datapath, parallel timing
    # The reduction length the array runs, when it is not K: an int for every tile (N:M, Bit Fusion,
    # expected-value skipping), or per GEMM a tuple over spatial tiles (skipping measured on tensors):
    # stationary mode indexes the non-K spatial dimension's tiles, output mode row tile × col tile.
    reduction: int | tuple[tuple[int, ...], ...] | None = None
    nm_groups: tuple[int, int] | None = None  # (N, M) when weights run N:M-compressed
    densities: dict[str, float] = field(default_factory=lambda: {"I": 1.0, "W": 1.0}, compare=False, hash=False)

    @classmethod
    def for_layer(cls, layer: Layer, dataflow: DataflowSpec, arch: ArrayConfig, *, memory: bool = True,
                  operands: dict[str, np.ndarray] | None = None, temporal_tile: int | None = None) -> Mapping:
        """The plan of one layer: precision, sparsity, folds and (with ``memory``) buffer tiling.

        ``temporal_tile`` asks for a smaller temporal chunk than the largest that fits (a mapping
        search's choice); it must not exceed that largest chunk. Raises :class:`MappingError` if the
        layer cannot run, :class:`UnsupportedError` if the array's sparsity switches cannot apply to
        this dataflow.
        """
        if layer.gemm is None:
            raise MappingError(f"layer '{layer.name}' ({layer.kind}) is not a GEMM; it runs on the vector unit")
        mapping = cls(layer.gemm, dataflow, arch)
        mapping.check()
        check_skip_supported(arch)
        densities = {"I": layer.input_density, "W": layer.weight_nonzero_fraction}
        for op, tensor in (operands or {}).items():  # a tensor's own zeros replace the description
            densities[op] = round(float(np.count_nonzero(tensor)) / tensor.size, 6) if tensor.size else 1.0
        mapping = replace(mapping, densities=densities)
        nm = _nm_groups(layer, layer.gemm, dataflow, arch, operands)
        precision = resolve_precision(layer.name, layer.dtypes, arch, dataflow, nm_stored=nm is not None)
        reduction: int | tuple[tuple[int, ...], ...] | None = None
        if nm:
            reduction = nm_rows(layer.gemm.K, *nm)
        elif precision.fusion > 1:
            reduction = fused_rows(layer.gemm.K, precision.fusion)
        elif arch.sparse == "skip":
            reduction = _skipped_reduction(layer, mapping, operands)
            if reduction == layer.gemm.K:  # nothing to skip: the dense plan
                reduction = None
        mapping = replace(mapping, precision=precision, reduction=reduction, nm_groups=nm)
        if memory:
            mapping = replace(mapping, temporal_tile=fit_temporal_tile(mapping, layer.name))
        if temporal_tile is not None:
            mapping = mapping.with_temporal_tile(temporal_tile, layer.name)
        return mapping

    @classmethod
    def for_gemm(cls, gemm: GemmView, dataflow: DataflowSpec, arch: ArrayConfig, *,
                 dtypes: dict[str, str | int] | None = None, weight_structure: str = "",
                 densities: dict[str, float] | None = None, operands: dict[str, np.ndarray] | None = None,
                 memory: bool = False, temporal_tile: int | None = None) -> Mapping:
        """The plan of a bare GEMM (raw operands, no network): :meth:`for_layer` on the ``matmul``
        layer named ``gemm`` that it is, so every rule is :meth:`for_layer`'s.

        ``dtypes`` gives ``I``, ``W`` or ``O`` a format name (``"int4"``, ``"uint8"``) or a width in
        bits (an integer of the array's signedness); I and W default to the array's datapath widths,
        so any values the datapath holds are in range. ``weight_structure`` (``"2:4"``) and
        ``densities`` (``{"I": 0.5}``) describe sparsity as a layer's fields do; ``operands``,
        ``memory`` and ``temporal_tile`` are :meth:`for_layer`'s, except that ``memory`` defaults to
        False: a bare GEMM streams its whole temporal dimension per fold unless asked otherwise.

        Examples
        --------
        >>> from accelsim.mapping.dataflow import load_dataflow
        >>> fused = Mapping.for_gemm(GemmView(M=5, N=6, K=7), load_dataflow("ws"),
        ...                          ArrayConfig(rows=4, cols=4, pe_style="fusible"), dtypes={"I": 4, "W": 4})
        >>> fused.precision.fusion, fused.size("K"), fused.fold_count
        (4, 2, 2)
        >>> nm = Mapping.for_gemm(GemmView(M=5, N=6, K=16), load_dataflow("ws"),
        ...                       ArrayConfig(rows=4, cols=4, weight_nm="2:4"), weight_structure="2:4")
        >>> nm.nm_groups, nm.size("K")
        ((2, 4), 8)
        """
        def type_name(value: str | int) -> str:
            return int_type(value, arch.signed).name if isinstance(value, int) else value

        types = {"I": arch.input_bits, "W": arch.weight_bits} | dict(dtypes or {})
        densities = densities or {}
        fields: dict[str, Any] = {f"{name}_type": type_name(types[op])
                                  for op, name in (("I", "input"), ("W", "weight"), ("O", "output")) if op in types}
        shape = (gemm.count,) if gemm.count > 1 else ()
        layer = Layer("gemm", "matmul", in_shapes=((*shape, gemm.M, gemm.K), (*shape, gemm.K, gemm.N)),
                      input_density=densities.get("I", 1.0), weight_density=densities.get("W", 1.0),
                      weight_structure=weight_structure, **fields)
        return cls.for_layer(layer, dataflow, arch, memory=memory, operands=operands, temporal_tile=temporal_tile)

    def with_temporal_tile(self, tile: int, name: str) -> Mapping:
        """This mapping streaming its temporal dimension in chunks of ``tile`` (at most the fitted chunk)."""
        largest = self.chunk
        if not 1 <= tile <= largest:
            raise MappingError(f"layer '{name}': a temporal tile of {tile} is not in 1..{largest} "
                               f"(the largest chunk of {self.dataflow.temporal} that fits the buffers)")
        if self.dataflow.mode == "output" and tile < self.size("K"):
            raise MappingError(f"layer '{name}': output-stationary folds stream the whole reduction; "
                               "K cannot be chunked")
        return replace(self, temporal_tile=tile if tile < self.size(self.dataflow.temporal) else None)

    def dense_equivalent(self, memory: bool, chunk: int | None = None) -> Mapping:
        """This mapping with every zero computed (no N:M compression, no skipping); self if already so.

        ``chunk`` is a temporal chunk a mapping choice asked for: the dense layer streams the same
        (at most its own largest), so a search's sparse and dense figures share one mapping;
        without it, the largest that fits (the fixed rule).
        """
        if self.nm_groups is None and (self.reduction is None or self.resolved.fusion > 1):
            return self
        dense = replace(self, reduction=None, nm_groups=None, temporal_tile=None,
                        precision=replace(self.resolved, index_bits=0))
        dense = replace(dense, temporal_tile=fit_temporal_tile(dense, "dense") if memory else None)
        return dense.with_temporal_tile(min(chunk, dense.chunk), "dense") if memory and chunk else dense

    def mac_counts(self, operands: dict[str, np.ndarray] | None = None) -> MacCounts:
        """MACs issued, effective (both operands non-zero), gated and skipped; exact from ``operands``
        where given, else the expected value from the layer's densities (``docs/sparsity.md``)."""
        macs = self.gemm.macs
        issued = macs if self.resolved.fusion > 1 else self.fold_sums()["macs"]
        operands = operands or {}
        effective = _effective_macs(self, operands)
        effective = min(effective, issued)
        gated = issued - effective if self.arch.sparse == "gate" else 0
        return MacCounts(macs=macs, issued=issued, effective=effective, gated=gated, skipped=max(0, macs - issued))

    def sparsity_report(self, operands: dict[str, np.ndarray] | None = None) -> SparsityReport:
        """What sparsity this mapping used and how: for reports."""
        realised = None
        if self.nm_groups:
            realised = f"N:M {self.nm_groups[0]}:{self.nm_groups[1]} weights compressed in the reduction"
        elif self.arch.nm:
            n, m = self.arch.nm
            realised = f"dense on {n}:{m} PEs: " + (
                "the reduction is too short to gain" if not nm_compresses(self.gemm.K, n, m) else
                f"the weight tensor has a group of {m} with more than {n} non-zeros"
                if operands and "W" in operands else f"the weights are not described as n:{m}-structured with n ≤ {n}")
        elif self.arch.sparse == "skip":
            realised = ("stationary rows that are zero across a column tile skipped"
                        if self.dataflow.mode == "stationary" else "reduction steps with a zero operand vector skipped")
        return SparsityReport(self.arch.sparse, self.densities["I"], self.densities["W"], realised,
                              "tensors" if operands else "density (expected value)")

    def check(self) -> None:
        if self.dataflow.name not in self.arch.dataflows:
            raise MappingError(f"architecture '{self.arch.name}' does not support dataflow "
                               f"'{self.dataflow.name}' (it supports {', '.join(self.arch.dataflows)})")
        if self.temporal_tile is not None and self.dataflow.mode == "output" and self.temporal_tile < self.gemm.K:
            raise MappingError("output-stationary folds stream the whole reduction; K cannot be chunked")

    @property
    def timing_key(self) -> tuple:
        """Everything the fold timing (:mod:`accelsim.sim.timing`) reads: not the buffers or the DRAM."""
        a = self.arch
        return (self.gemm, self.dataflow, a.rows, a.cols, a.double_buffered, self.temporal_tile,
                self.serial_bits, self.reduction)

    @property
    def serial_bits(self) -> int:
        """Cycles per streamed step (bit-serial PEs take the left operand one bit per cycle)."""
        return self.precision.serial_bits if self.precision else 1

    @property
    def uniform(self) -> bool:
        """Every tile runs the same reduction (the fold sequence is a regular nest)."""
        return not isinstance(self.reduction, tuple)

    @property
    def reduced_K(self) -> int:
        """The reduction the array runs (the largest over tiles when they differ)."""
        if self.reduction is None:
            return self.gemm.K
        if isinstance(self.reduction, int):
            return self.reduction
        return max(max(row) for row in self.reduction)

    @property
    def chunk(self) -> int:
        """Steps per temporal chunk (the whole temporal dimension unless tiled)."""
        size = self.size(self.dataflow.temporal)
        return min(size, self.temporal_tile) if self.temporal_tile else size

    @property
    def data_K(self) -> int:
        """The reduction as the operands hold it, in datapath words: every element of K.

        N:M compression and zero-skipping shorten what the array *runs* (``size("K")``), not the
        data: an N:M PE selects its inputs from groups of M, and each column tile skips different
        rows, so all K inputs stay needed. Bit Fusion packs ``fusion`` elements in one word.

        Examples
        --------
        >>> from accelsim.arch import ArrayConfig
        >>> from accelsim.mapping.dataflow import load_dataflow
        >>> m = Mapping(GemmView(M=5, N=6, K=64), load_dataflow("ws"), ArrayConfig(rows=4, cols=4), reduction=32)
        >>> m.size("K"), m.data_K
        (32, 64)
        """
        fusion = self.precision.fusion if self.precision else 1
        return fused_rows(self.gemm.K, fusion) if fusion > 1 else self.gemm.K

    @property
    def resolved(self) -> Precision:
        """The resolved precision of a plan built by :meth:`for_layer` (a bare plan has none to price)."""
        if self.precision is None:
            raise MappingError("this plan has no resolved precision: build it with Mapping.for_layer")
        return self.precision

    @property
    def rows_differ_per_tile(self) -> bool:
        """Zero-skipping shortened the reduction: each column tile runs its own rows of K (N:M groups
        stay aligned across tiles; dense and fused tiles run all of K)."""
        return self.arch.sparse == "skip" and self.reduction is not None and self.nm_groups is None

    def size(self, dim: str) -> int:
        """Extent of a GEMM dimension as the array runs it (K after compression)."""
        return self.reduced_K if dim == "K" else getattr(self.gemm, dim)

    def tile(self, dim: str) -> int:
        """Tile size along a GEMM dimension: the array extent if spatial, else the whole dimension."""
        df = self.dataflow
        return {df.rows: self.arch.rows, df.cols: self.arch.cols}.get(dim, self.size(dim))

    @property
    def fold_count(self) -> int:
        """How many folds :meth:`folds` yields (in closed form when every tile runs the same reduction)."""
        if not self.uniform:
            return sum(1 for _ in self.folds())
        df = self.dataflow
        n = self.gemm.count * -(-self.size(df.temporal) // self.chunk)
        for dim in (df.rows, df.cols):
            n *= -(-self.size(dim) // self.tile(dim))
        return n

    def _fold(self, sizes: dict[str, int], steps: int) -> Fold:
        df = self.dataflow
        return Fold(rows=sizes[df.rows], cols=sizes[df.cols], steps=steps * self.serial_bits)

    def fold_sums(self) -> dict[str, int]:
        """Sums over the folds of :meth:`folds` of rows×cols, rows×steps and cols×steps (steps before
        bit-serial scaling), in closed form when every tile runs the same reduction.

        These are the SRAM word counts of the memory model: a stationary fold loads rows×cols words,
        streams rows words per step and writes cols partial sums per step.
        """
        if self.uniform:
            df = self.dataflow
            size = {d: self.size(d) for d in ("M", "N", "K")}
            n = {d: -(-size[d] // self.tile(d)) for d in (df.rows, df.cols)}
            chunks = -(-size[df.temporal] // self.chunk)
            c = self.gemm.count
            return {"macs": c * size["M"] * size["N"] * size["K"],
                    "rows_cols": c * chunks * size[df.rows] * size[df.cols],
                    "rows_steps": c * size[df.temporal] * size[df.rows] * n[df.cols],
                    "cols_steps": c * size[df.temporal] * size[df.cols] * n[df.rows],
                    "stream_words": c * size[df.temporal] * self.stream_words(size[df.rows], n[df.cols])}
        sums = dict.fromkeys(("macs", "rows_cols", "rows_steps", "cols_steps", "stream_words"), 0)
        b = self.serial_bits
        for _, _, fold in self.folds():
            steps = fold.steps // b
            sums["macs"] += fold.rows * fold.cols * steps
            sums["rows_cols"] += fold.rows * fold.cols
            sums["rows_steps"] += fold.rows * steps
            sums["cols_steps"] += fold.cols * steps
            sums["stream_words"] += steps * self.stream_words(fold.rows, 1)
        return sums

    def stream_words(self, rows: int, times: int) -> int:
        """Streamed words one step brings to ``rows`` reduction rows (tiled by the array), ``times`` times.

        Dense rows take one word each. N:M rows take the whole group of M inputs of every group a
        fold's rows touch (row r is in group r // N), so a fold that starts mid-group reads that
        group's inputs again.
        """
        if not self.nm_groups:
            return rows * times
        n, m = self.nm_groups
        R = self.arch.rows

        def groups(start: int, size: int) -> int:
            return (start + size - 1) // n - start // n + 1

        tiles = -(-rows // R)
        period = n // math.gcd(R, n)  # fold start offsets modulo N repeat every `period` tiles
        full, rest = divmod(tiles - 1, period)  # the last tile may be partial: counted alone
        per_period = sum(groups(j * R, R) for j in range(period))
        words = full * per_period + sum(groups((full * period + j) * R, R) for j in range(rest))
        last = (tiles - 1) * R
        return times * m * (words + groups(last, rows - last))

    def kept_weight_elements(self) -> int:
        """Weight values in storage: the compressed count for N:M weights, else all ``count·K·N``."""
        g = self.gemm
        return g.count * self.size("K") * g.N if self.nm_groups else g.count * g.K * g.N

    def play_sequence(self) -> tuple[FoldSeq, int]:
        """``(sequence, times)``: the folds of :meth:`folds` as runs the timeline plays."""
        if self.uniform:
            return self.run_length(), self.gemm.count
        runs: FoldSeq = []
        for _, _, fold in self.folds():
            if runs and runs[-1][0] == fold:
                runs[-1] = (fold, runs[-1][1] + 1)
            else:
                runs.append((fold, 1))
        return runs, 1

    def run_length(self) -> FoldSeq:
        """The fold sequence of one GEMM as nested runs: temporal chunks, outer loop, inner loop."""
        outer, inner = self.dataflow.loop_order
        seq: FoldSeq = []
        for steps, t_count in tile_sizes(self.size(self.dataflow.temporal), self.chunk):
            chunk: FoldSeq = []
            for o_size, o_count in tile_sizes(self.size(outer), self.tile(outer)):
                block: FoldSeq = [(self._fold({outer: o_size, inner: i_size}, steps), i_count)
                         for i_size, i_count in tile_sizes(self.size(inner), self.tile(inner))]
                chunk.append((block, o_count))
            seq.append((chunk, t_count))
        return seq

    def folds(self) -> Iterator[tuple[int, dict[str, int], Fold]]:
        """Every fold in order, as ``(gemm index, tile offsets by dimension, Fold)``: the one fold sequence.

        For each GEMM and temporal chunk, the spatial tiles in the dataflow's loop order. Where tiles
        run different reductions (zero-skipping measured on tensors), a stationary column of tiles
        folds its own reduction over the rows (its K offsets count the rows it keeps) and an output
        tile streams its own steps (a tile with none is skipped whole). :attr:`fold_count`,
        :meth:`fold_sums` and :meth:`play_sequence` count and play this sequence.

        Examples
        --------
        >>> from accelsim.arch import ArrayConfig
        >>> from accelsim.mapping.dataflow import load_dataflow
        >>> m = Mapping(GemmView(M=3, N=8, K=8), load_dataflow("ws"), ArrayConfig(rows=4, cols=4),
        ...             reduction=((8, 3),))   # the second column tile keeps 3 of its 8 rows
        >>> [(o["N"], o["K"], f.rows) for _, o, f in m.folds()], m.fold_count
        ([(0, 0, 4), (0, 4, 4), (4, 0, 3)], 3)
        """
        df = self.dataflow
        outer, inner = df.loop_order
        for g in range(self.gemm.count):
            for t0 in range(0, self.size(df.temporal), self.chunk or 1):  # 0: every tile skips all of K
                steps = min(self.chunk, self.size(df.temporal) - t0)
                for offsets, sizes, tile_steps in self._spatial_tiles(g, outer, inner):
                    yield g, offsets | {df.temporal: t0}, self._fold(sizes, steps if tile_steps is None else tile_steps)

    def _spatial_tiles(self, g: int, outer: str,
                       inner: str) -> Iterator[tuple[dict[str, int], dict[str, int], int | None]]:
        """``(offsets, sizes, steps)`` of GEMM ``g``'s spatial tiles in loop order; ``steps`` is None
        where the tile streams the temporal chunk, else its own reduction (output mode, per tile)."""
        df = self.dataflow
        table = self.reduction[g] if isinstance(self.reduction, tuple) else None

        def spans(dim: str, size: int) -> list[tuple[int, int]]:
            return [(o, min(self.tile(dim), size - o)) for o in range(0, size, self.tile(dim))]

        if df.mode == "output":
            n_cols = -(-self.size(df.cols) // self.tile(df.cols))
            for o0, o_size in spans(outer, self.size(outer)):
                for i0, i_size in spans(inner, self.size(inner)):
                    offsets = {outer: o0, inner: i0}
                    if table is None:
                        yield offsets, {outer: o_size, inner: i_size}, None
                        continue
                    row_tile, col_tile = offsets[df.rows] // self.tile(df.rows), offsets[df.cols] // self.tile(df.cols)
                    tile_index = row_tile * n_cols + col_tile
                    steps = table[tile_index]
                    if steps:
                        yield offsets, {outer: o_size, inner: i_size}, steps
            return
        x = df.cols  # stationary mode: K on the rows, each column tile of x folds its own reduction
        x_tiles = spans(x, self.size(x))
        k_tiles = [spans("K", self.size("K") if table is None else table[i]) for i in range(len(x_tiles))]
        if outer == x:
            order = [(i, j) for i in range(len(x_tiles)) for j in range(len(k_tiles[i]))]
        else:
            order = [(i, j) for j in range(max(map(len, k_tiles), default=0))
                     for i in range(len(x_tiles)) if j < len(k_tiles[i])]
        for i, j in order:
            (x0, x_size), (k0, k_size) = x_tiles[i], k_tiles[i][j]
            yield {x: x0, "K": k0}, {x: x_size, "K": k_size}, None


def _nm_groups(layer: Layer, gemm: GemmView, dataflow: DataflowSpec, arch: ArrayConfig,
               operands: dict[str, np.ndarray] | None) -> tuple[int, int] | None:
    """``(N, M)`` of the array when this layer's weights run compressed on its N:M PEs, else None."""
    if not arch.nm:
        return None
    if not dataflow.supports_nm:
        raise UnsupportedError(f"architecture '{arch.name}': N:M weights (weight_nm {arch.weight_nm}) need a "
                               f"weight-stationary dataflow with K on the rows, not '{dataflow.name}'")
    n, m = arch.nm
    if not nm_compresses(gemm.K, n, m):  # a short reduction would grow with the padding
        return None
    weights = (operands or {}).get("W")
    if weights is not None:
        return arch.nm if max_group_nonzeros(weights, m) <= n else None
    # n':m' weights fit N:M PEs when every aligned group of M holds at most N: m' a multiple of M, n' <= N
    if layer.nm and layer.nm[1] % m == 0 and layer.nm[0] <= n:
        return arch.nm
    return None


def _skipped_reduction(layer: Layer, mapping: Mapping, operands: dict[str, np.ndarray] | None):
    """The reduction each tile runs when the PEs skip zeros (``docs/sparsity.md``).

    Stationary mode: a row of the stationary tile is dropped when it is zero in every column of
    the tile (the streamer then skips that element). Output mode: a reduction step is dropped
    when the left operand's column or the top operand's row over the tile is all zero.
    """
    df, arch, gemm = mapping.dataflow, mapping.arch, mapping.gemm
    operands = operands or {}
    if df.mode == "stationary":
        stat = df.stationary
        tensor = operands.get(stat)
        if tensor is None:
            return expected_nonempty(gemm.K, mapping.densities[stat], min(arch.cols, mapping.size(df.cols)))
        table = tile_any(_spatial_by_k(stat, tensor), arch.cols).sum(axis=2)
        return tuple(tuple(int(v) for v in row) for row in table)
    left, top = df.left, df.top
    if left not in operands and top not in operands:
        p = [nonzero_probability(mapping.densities[op], min(tile, mapping.size(dim)))
             for op, tile, dim in ((left, arch.rows, df.rows), (top, arch.cols, df.cols))]
        return min(gemm.K, math.ceil(gemm.K * p[0] * p[1]))
    # per (row tile, col tile): step k is needed when both operand vectors over the tile are non-zero;
    # an operand without a tensor contributes its probability (expected value), the same for every tile
    needed = []
    for op, tile, dim in ((left, arch.rows, df.rows), (top, arch.cols, df.cols)):
        if op in operands:
            needed.append(tile_any(_spatial_by_k(op, operands[op]), tile).astype(float))
        else:
            tiles = -(-mapping.size(dim) // tile)
            prob = float(nonzero_probability(mapping.densities[op], min(tile, mapping.size(dim))))
            needed.append(np.full((gemm.count, tiles, gemm.K), prob))
    steps = np.einsum("grk,gck->grc", needed[0], needed[1])
    return tuple(tuple(math.ceil(v - 1e-9) for v in row.ravel()) for row in steps)


def _spatial_by_k(op: str, tensor: np.ndarray) -> np.ndarray:
    """Non-zeros of a GEMM operand as ``(count, spatial, K)``: I is ``(count, M, K)``, W ``(count, K, N)``."""
    return tensor != 0 if op == "I" else np.swapaxes(tensor != 0, 1, 2)


def _effective_macs(mapping: Mapping, operands: dict[str, np.ndarray]) -> int:
    """MACs whose two operands are non-zero: exact from tensors, else the expected value."""
    gemm = mapping.gemm
    d = mapping.densities
    inputs, weights = operands.get("I"), operands.get("W")
    if inputs is not None and weights is not None:
        per_k_i = (inputs != 0).sum(axis=1)  # (count, K): non-zero inputs per reduction index
        per_k_w = (weights != 0).sum(axis=2)
        return int((per_k_i.astype(np.int64) * per_k_w).sum())
    if weights is not None:
        return math.ceil(int((weights != 0).sum()) * gemm.M * Fraction(d["I"]))
    if inputs is not None:
        return math.ceil(int((inputs != 0).sum()) * gemm.N * Fraction(d["W"]))
    return math.ceil(gemm.macs * Fraction(d["I"]) * Fraction(d["W"]))
