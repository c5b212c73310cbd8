"""The reference engine: the systolic array stepped cycle by cycle, register by register.

This is the micro-architecture the RTL implements (see ``hdl/README.md`` and ``docs/timing.md``).
It moves real integers through the array and records the cycle at which every output row leaves
the output port. Its controller decides from the array's state — e.g. a stationary bank is
reloaded only when no token that uses it is left in flight — so the closed forms in
:mod:`accelsim.sim.timing` are checked against it, not copied into it. Every PE is updated each
cycle with numpy, so a cycle costs a few dozen array operations whatever the array size.

Cycle conventions: cycle 0 is the first cycle after start. A register written "at the end of
cycle t" holds the new value during cycle t+1. An output row "appears at cycle t" when it is on
the de-skewed output port during cycle t. ``cycles`` is the last output's cycle plus one.

Precision and sparsity (``docs/timing.md``, "PE styles, zero-gating and N:M"): every stationary
register and token carries a trailing *lane* axis (one lane on a dense array; ``f`` lanes of K on a
fusible one; the M-wide group vector of the streamed input on an N:M one, whose PEs also hold the
index of their kept weight). A bit-serial array streams the left operand one bit plane per cycle.
The PEs count the MACs they perform from the values that actually meet in them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from ..arch import ArrayConfig
from ..errors import MappingError, UnsupportedError
from ..mapping.dataflow import OPERAND_DIMS, DataflowSpec
from ..mapping.mapping import Fold, Mapping
from ..workload.layer import GemmView
from . import numerics
from .nm import compress_nm, nm_stream, uncompressed_nm
from .stalls import NO_STALLS, Stalls
from .timing import os_last_beat_earliest


@dataclass(frozen=True)
class OutputEvent:
    """One output row on the output port: fold index, row within the fold's tile, its values."""

    cycle: int
    fold: int
    row: int
    values: tuple[int, ...]


@dataclass
class ReferenceRun:
    """What the reference engine produced for a batch of GEMMs, and the plan it ran (``mapping``:
    its serial bits, fusion, N:M groups and reduction)."""

    cycles: int
    outputs: np.ndarray  # (count, M, N)
    mapping: Mapping
    events: list[OutputEvent] = field(default_factory=list)
    words: dict[str, int] = field(default_factory=dict)  # operand words the array took in: I, W; O emitted
    # MACs counted in the PEs: issued (a valid token meeting a PE of its fold's tile; per lane pair
    # on a fusible array, per full-width MAC on a bit-serial one), gated (issued with a zero operand,
    # only when arch.sparse == "gate") and effective (issued with both operands non-zero)
    macs: dict[str, int] = field(default_factory=dict)


def fold_matrices(dataflow: DataflowSpec, operands: dict[str, np.ndarray], g: int,
                  offsets: dict[str, int], fold: Fold) -> tuple[np.ndarray, np.ndarray]:
    """The two matrices the array takes for one fold of GEMM ``g``.

    Stationary mode: ``(stationary Rt×Ct, streamed T×Rt)``. Output mode: ``(left Rt×T, top T×Ct)``.
    ``operands`` maps ``"I"`` and ``"W"`` to ``(count, M, K)`` and ``(count, K, N)`` arrays.
    """
    df = dataflow
    sizes = {df.rows: fold.rows, df.cols: fold.cols, df.temporal: fold.steps}

    def take(op: str, want: tuple[str, str]) -> np.ndarray:  # trailing (lane) axes stay in place
        matrix = operands[op][g] if OPERAND_DIMS[op] == want else np.swapaxes(operands[op][g], 0, 1)
        (d0, d1) = want
        return matrix[offsets[d0]:offsets[d0] + sizes[d0], offsets[d1]:offsets[d1] + sizes[d1]]

    if df.mode == "stationary":
        return take(df.stationary, (df.rows, df.cols)), take(df.streamed, (df.temporal, df.rows))
    return take(df.left, (df.rows, "K")), take(df.top, ("K", df.cols))


def _down(a: np.ndarray, fill: object) -> np.ndarray:
    """``a`` moved one row down (what each row receives from the row above), ``fill`` on top."""
    out = np.empty_like(a)
    out[0] = fill
    out[1:] = a[:-1]
    return out


def _up(a: np.ndarray, fill: object) -> np.ndarray:
    """``a`` moved one row up (what each row receives from the row below), ``fill`` at the bottom."""
    out = np.empty_like(a)
    out[-1] = fill
    out[:-1] = a[1:]
    return out


class _Ring:
    """A skew (or de-skew) buffer: lane i sees what was pushed ``delay[i]`` cycles ago."""

    def __init__(self, depth: int, lanes: int, delays: np.ndarray, fill: dict[str, npt.ArrayLike]):
        self.depth, self.delays, self.lane = depth, delays, np.arange(lanes)
        self.data = {k: np.full((depth, lanes) + np.shape(v), v, dtype=np.asarray(v).dtype) for k, v in fill.items()}
        self.fill = fill

    def push(self, t: int, **values: npt.ArrayLike) -> None:
        slot = t % self.depth
        for k, arr in self.data.items():
            arr[slot] = values.get(k, self.fill[k])

    def read(self, t: int) -> dict[str, np.ndarray]:
        slots = (t - self.delays) % self.depth
        return {k: arr[slots, self.lane] for k, arr in self.data.items()}

    def pending(self, t: int) -> np.ndarray:
        """Mask (slot, lane) of pushed entries that have not reached their lane yet after cycle t."""
        ages = (t - np.arange(self.depth)) % self.depth
        return self.delays[None, :] > ages[:, None]


def run_reference(mapping: Mapping, inputs: np.ndarray, weights: np.ndarray, *, stalls: Stalls = NO_STALLS,
                  max_cycles: int = 50_000_000) -> ReferenceRun:
    """Run a mapping's ``count`` GEMMs ``inputs[g] @ weights[g]`` on its array, cycle by cycle.

    Parameters
    ----------
    mapping
        The plan, from :meth:`Mapping.for_layer <accelsim.mapping.Mapping.for_layer>` (or
        :meth:`~accelsim.mapping.Mapping.for_gemm` for a bare GEMM): the array, the dataflow, the
        temporal chunk, the operand formats (the widths the values must fit, a bit-serial array's
        planes, a fusible one's lanes) and whether the weights run N:M-compressed all come from it.
    inputs, weights
        ``(count, M, K)`` and ``(count, K, N)`` integer arrays of the mapping's GEMM (2-D arrays mean
        ``count = 1``), within its operand formats (else ``ValueError``); N:M-compressed weights
        with more than N non-zeros in a group are a :class:`~accelsim.errors.MappingError`.
    stalls
        Valid/ready pattern of the load, stream and output ports (none by default).

    Bit-serial and fusible arrays have ``arch.overflow == "wrap"`` (ArrayConfig refuses others);
    ``sparse == "skip"`` and floating-point formats are not modelled here
    (:class:`~accelsim.errors.UnsupportedError`).

    Examples
    --------
    >>> from accelsim.mapping import load_dataflow
    >>> a = np.arange(6).reshape(2, 3); w = np.ones((3, 2), dtype=int)
    >>> mapping = Mapping.for_gemm(GemmView(M=2, N=2, K=3), load_dataflow("ws"), ArrayConfig(rows=2, cols=2))
    >>> run = run_reference(mapping, a, w)
    >>> run.outputs[0].tolist(), run.cycles, run.macs
    ([[3, 3], [12, 12]], 9, {'issued': 12, 'gated': 0, 'effective': 10})
    """
    if mapping.arch.sparse == "skip":
        raise UnsupportedError("the reference engine does not model zero-skipping (ArrayConfig.sparse 'skip'); "
                               "use 'gate' or 'none'")
    datapath = lay_out(mapping, inputs, weights)
    engine = _StationaryArray if mapping.dataflow.mode == "stationary" else _OutputArray
    return engine(mapping, datapath, stalls).run(max_cycles)


def run_reference_gemm(inputs: np.ndarray, weights: np.ndarray, arch: ArrayConfig, dataflow: DataflowSpec, *,
                       stalls: Stalls = NO_STALLS, max_cycles: int = 50_000_000, **plan) -> ReferenceRun:
    """:func:`run_reference` on raw operands, planned by ``Mapping.for_gemm(their GEMM, dataflow, arch, **plan)``.

    ``plan`` takes :meth:`~accelsim.mapping.Mapping.for_gemm`'s keywords (``dtypes``,
    ``weight_structure``, ``temporal_tile``, ...); by default the operands are as wide as the
    datapath and described dense.

    Examples
    --------
    >>> from accelsim.mapping import load_dataflow
    >>> a, w = np.array([[1, -2, 3, -4]]), np.array([[1], [1], [2], [-8]])
    >>> run = run_reference_gemm(a, w, ArrayConfig(rows=2, cols=1, pe_style="fusible"), load_dataflow("ws"),
    ...                          dtypes={"I": 4, "W": 4})
    >>> run.outputs[0].tolist(), run.mapping.precision.fusion, run.mapping.size("K")
    ([[37]], 4, 1)
    """
    inputs, weights = _batched(inputs, weights)
    gemm = GemmView(M=inputs.shape[1], N=weights.shape[2], K=inputs.shape[2], count=inputs.shape[0])
    return run_reference(Mapping.for_gemm(gemm, dataflow, arch, **plan), inputs, weights, stalls=stalls,
                         max_cycles=max_cycles)


def _batched(inputs: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    inputs, weights = np.asarray(inputs, dtype=np.int64), np.asarray(weights, dtype=np.int64)
    return (inputs[None], weights[None]) if inputs.ndim == 2 else (inputs, weights)


@dataclass(frozen=True)
class Datapath:
    """What the PEs compute on: operands with a trailing lane axis, N:M indices, bit planes, gating."""

    operands: dict[str, np.ndarray]  # "I": (count, M, K', lanes), "W": (count, K', N, lanes)
    index: np.ndarray | None  # N:M: (count, K', N), each kept weight's index in its group of M
    serial_bits: int | None  # bit-serial: planes of the left operand per step
    gate: bool  # zero-gating: a PE with a zero operand isolates its multiplier
    lane_counts: np.ndarray | None = None  # fusible: (K',) lanes of each K' row that hold an element of K
    groups: np.ndarray | None = None  # N:M: (K',) the group of M reduction rows of each compressed row

    def lanes(self, op: str) -> int:
        return self.operands[op].shape[-1]


def lay_out(mapping: Mapping, inputs: np.ndarray, weights: np.ndarray) -> Datapath:
    """The operands as the mapping's PEs take them, laid out over its reduction K'.

    Dense: one lane per value. Fusible: ``fusion`` consecutive elements of K per lane vector, K
    zero-padded to a multiple. N:M array: the compressed weights (value and index) when the
    mapping runs them N:M, else the weights uncompressed; each row of K' takes the M-wide input
    group it selects from. The values are checked against the mapping's operand formats.
    """
    precision, arch, gemm = mapping.precision, mapping.arch, mapping.gemm
    if precision is None:
        raise MappingError("a Mapping without resolved precision: build it with Mapping.for_layer or Mapping.for_gemm")
    inputs, weights = _batched(inputs, weights)
    want = [(gemm.count, gemm.M, gemm.K), (gemm.count, gemm.K, gemm.N)]
    if [inputs.shape, weights.shape] != want:
        raise MappingError(f"operands of shapes {list(inputs.shape)} and {list(weights.shape)} are not the "
                           f"mapping's GEMM: {list(want[0])} and {list(want[1])}")
    if arch.datapath != "int":
        raise UnsupportedError(f"the reference engine computes integer datapaths, not datapath '{arch.datapath}' "
                               "(fp32 accumulation rounds where integers wrap)")
    floats = [dtype.name for dtype in (precision.I, precision.W) if dtype.is_float]
    if floats:
        raise UnsupportedError(f"the reference engine computes on integers, not {' and '.join(floats)}")
    numerics.check_operands(inputs, weights, arch, input_bits=precision.I.bits, weight_bits=precision.W.bits)
    count, m, k = inputs.shape
    index = lane_counts = groups = None
    fusion = precision.fusion
    if arch.nm is not None:
        group = arch.nm[1]
        values, index, groups = compress_nm(weights, *arch.nm) if mapping.nm_groups else uncompressed_nm(weights, group)
        operands = {"I": nm_stream(inputs, groups, group), "W": values[..., None]}
    elif fusion > 1:  # f consecutive elements of K per PE value, K zero-padded to a multiple of f
        k_array = mapping.size("K")
        pad = k_array * fusion - k
        a = np.pad(inputs, ((0, 0), (0, 0), (0, pad))).reshape(count, m, k_array, fusion)
        b = np.pad(weights, ((0, 0), (0, pad), (0, 0))).reshape(count, k_array, fusion, gemm.N)
        operands = {"I": a, "W": np.moveaxis(b, 2, 3)}
        lane_counts = np.minimum(fusion, k - fusion * np.arange(k_array))  # lanes holding an element of K
    else:
        operands = {"I": inputs[..., None], "W": weights[..., None]}
    assert operands["W"].shape[1] == mapping.size("K"), "the layout and the mapping disagree on K'"
    return Datapath(operands, index, mapping.serial_bits if arch.pe_style == "bit-serial" else None,
                    arch.sparse == "gate", lane_counts, groups)


class _Engine:
    """Shared plumbing: fold list, operand slicing, output collection, the MAC itself."""

    def __init__(self, mapping: Mapping, datapath: Datapath, stalls: Stalls):
        self.mapping, self.arch, self.df, self.stalls = mapping, mapping.arch, mapping.dataflow, stalls
        self.R, self.C = self.arch.rows, self.arch.cols
        self.dp = datapath
        self.operands = datapath.operands
        self.sub = datapath.serial_bits or 1  # sub-steps (bit planes) per streamed step
        if datapath.serial_bits:  # weight of bit plane j: 2^j, the MSB −2^(b−1) in two's complement
            self.plane_weight = np.array([1 << j for j in range(self.sub)], dtype=np.int64)
            if self.arch.signed:
                self.plane_weight[-1] = -self.plane_weight[-1]
        # folds() counts a bit-serial step's planes in its steps; the engine streams elements, each in `sub` planes
        self.folds: list[tuple[int, dict[str, int], Fold]] = [
            (g, offsets, replace(fold, steps=fold.steps // mapping.serial_bits))
            for g, offsets, fold in mapping.folds()]
        self.fold_cols = np.array([f.cols for _, _, f in self.folds] + [0], dtype=np.int64)  # tag −1: none
        self.fold_k0 = np.array([o["K"] for _, o, _ in self.folds] + [0], dtype=np.int64)
        self.out = np.zeros((mapping.gemm.count, mapping.gemm.M, mapping.gemm.N), dtype=np.int64)
        self.events: list[OutputEvent] = []
        self.tiles: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray | None]] = {}
        self.words = {"I": 0, "W": 0, "O": 0}
        self.macs = {"issued": 0, "gated": 0, "effective": 0}
        self.rows_expected = sum(self._rows_out(f) for _, _, f in self.folds)
        self.cols_idx = np.broadcast_to(np.arange(self.C)[None, :], (self.R, self.C))
        self.deskew = _Ring(self.C, self.C, self.C - 1 - np.arange(self.C),
                            dict(val=np.int64(0), vld=False, fold=np.int64(-1), row=np.int64(-1)))

    def _rows_out(self, fold: Fold) -> int:
        raise NotImplementedError

    def tile(self, f: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """The matrices of fold f (see :func:`fold_matrices`) and, on N:M, the stationary tile's
        indices; kept until its stream is done."""
        if f not in self.tiles:
            g, offsets, fold = self.folds[f]
            a, b = fold_matrices(self.df, self.operands, g, offsets, fold)
            idx = None
            if self.dp.index is not None:
                idx = fold_matrices(self.df, {"I": self.operands["I"], "W": self.dp.index}, g, offsets, fold)[0]
            self.tiles[f] = (a, b, idx)
        return self.tiles[f]

    def mac(self, x: np.ndarray, y: np.ndarray, live: np.ndarray, index: np.ndarray | None = None,
            serial: tuple[np.ndarray, np.ndarray] | None = None, k_row: np.ndarray | None = None) -> np.ndarray:
        """Every PE's product this cycle, and the MAC counts.

        ``x`` (R, C, lanes) is the left operand, ``y`` (R, C, lanes) the other one; ``live`` marks
        the PEs where a MAC is issued (a valid token inside its fold's tile). N:M: ``index`` selects
        the lane of ``x`` that meets the kept weight. Bit-serial: ``serial`` is ``(plane, x_nonzero)``,
        ``x`` is one bit of plane ``plane`` and ``x_nonzero`` says whether the whole left value is
        non-zero (a MAC is counted once, at plane 0). Fusible: ``k_row`` is each PE's row of K', and
        only lanes holding an element of K (not the zero padding past K) are issued. A gated
        multiplier outputs 0, which is the product anyway: values never change.
        """
        if index is not None:
            x = np.take_along_axis(x, index[..., None], axis=-1)
        if serial is not None:
            plane, x_nonzero = serial
            products = x * y * self.plane_weight[plane][..., None]
            nonzero = x_nonzero[..., None] & (y != 0)
        else:
            products = x * y
            nonzero = (x != 0) & (y != 0)
        live = live[..., None]
        if self.dp.lane_counts is not None:
            assert k_row is not None, "fusible lanes need each PE's row of K'"  # (fusible PEs are not bit-serial)
            counts = self.dp.lane_counts[np.minimum(k_row, len(self.dp.lane_counts) - 1)]
            live = live & (np.arange(products.shape[-1]) < counts[..., None])
        else:
            live = np.broadcast_to(live, products.shape)
        self.macs["issued"] += int(live.sum())
        self.macs["effective"] += int((live & nonzero).sum())
        if self.dp.gate:
            self.macs["gated"] += int((live & ~nonzero).sum())
            products = np.where(nonzero, products, 0)
        return products.sum(axis=-1)

    def port(self, tau: int, edge: dict[str, np.ndarray]) -> dict[str, np.ndarray] | None:
        """Push this enabled cycle's edge outputs into the de-skew buffer; return the port's row."""
        self.deskew.push(tau, **edge)
        port = self.deskew.read(tau)
        return port if port["vld"].any() else None

    def take(self, t: int, port: dict[str, np.ndarray]) -> None:
        """The sink took the port's row in cycle t: record it and store the values."""
        fold_ids = port["fold"][port["vld"]]
        f = int(fold_ids[0])
        assert (fold_ids == f).all(), f"cycle {t}: outputs of folds {set(fold_ids.tolist())} mixed on the port"
        g, offsets, fold = self.folds[f]
        row = int(port["row"][0])
        assert port["vld"][:fold.cols].all() and (port["row"][:fold.cols] == row).all(), \
            f"cycle {t}: a ragged output row"
        values = port["val"][:fold.cols].copy()
        self.words["O"] += fold.cols
        self.events.append(OutputEvent(t, f, row, tuple(values.tolist())))
        self.store(g, offsets, fold, row, values)

    def store(self, g: int, offsets: dict[str, int], fold: Fold, row: int, values: np.ndarray) -> None:
        raise NotImplementedError

    def run(self, max_cycles: int) -> ReferenceRun:
        t = tau = 0
        while len(self.events) < self.rows_expected:
            if t >= max_cycles:
                raise RuntimeError(f"reference engine did not finish in {max_cycles} cycles")
            port = self.port(tau, self.edge())
            if port is not None:
                if not self.stalls.active("out", t):
                    t += 1  # back-pressure: the whole array holds its state
                    continue
                self.take(t, port)
            self.step(t, tau)
            t, tau = t + 1, tau + 1
        return ReferenceRun(cycles=self.events[-1].cycle + 1, outputs=self.out, mapping=self.mapping,
                            events=self.events, words=self.words, macs=self.macs)

    def edge(self) -> dict[str, np.ndarray]:
        """The array's output edge (values, valid, fold and row tags) during this cycle."""
        raise NotImplementedError

    def step(self, t: int, tau: int) -> None:
        """One enabled cycle: ports, PEs, shifts. ``t`` is the clock cycle (for the stall pattern)."""
        raise NotImplementedError

    def _serialise(self, vals: np.ndarray, plane: int) -> dict[str, np.ndarray]:
        """Bit-serial stream port: bit ``plane`` of each left value (lane axis kept), its plane and
        whether the whole value is non-zero (the zero-detect a gated PE needs)."""
        return dict(val=(vals >> plane) & 1, plane=np.int64(plane), nz=vals[..., 0] != 0)


class _StationaryArray(_Engine):
    """K on the rows: a stationary tile per PE, streamed tokens move right, partial sums down.

    Bit-serial: each step's tokens become ``b`` plane tokens; the ``b`` partial sums of a step leave
    the bottom of a column on consecutive cycles and a per-column output accumulator adds them (the
    row leaves with its last plane).
    """

    def __init__(self, mapping: Mapping, datapath: Datapath, stalls: Stalls):
        super().__init__(mapping, datapath, stalls)
        R, C = self.R, self.C
        self.banks = self.arch.stationary_banks
        self.w = np.zeros((self.banks, R, C, datapath.lanes(self.df.stationary)), dtype=np.int64)
        self.w_idx = np.zeros((self.banks, R, C), dtype=np.int64) if datapath.index is not None else None

        def z(dtype: npt.DTypeLike = np.int64) -> np.ndarray:
            return np.zeros((R, C), dtype=dtype)

        lanes = datapath.lanes(self.df.streamed)
        self.x = np.zeros((R, C, lanes), dtype=np.int64)
        self.x_vld, self.x_bank, self.x_fold, self.x_row = z(bool), z(), z(), z()
        self.p, self.p_vld, self.p_fold, self.p_row = z(), z(bool), z(), z()
        tags: dict[str, npt.ArrayLike] = dict(val=np.zeros(lanes, dtype=np.int64), vld=False, bank=np.int64(0),
                                              fold=np.int64(-1), row=np.int64(-1))
        self.token = [self.x, self.x_vld, self.x_bank, self.x_fold, self.x_row]
        if datapath.serial_bits:
            self.x_plane, self.x_nz, self.p_plane = z(), z(bool), z()
            self.token += [self.x_plane, self.x_nz]
            tags.update(plane=np.int64(0), nz=False)
            self.out_acc = np.zeros(C, dtype=np.int64)
        self.skew = _Ring(R, R, np.arange(R), tags)
        self.rows_idx, _ = np.indices((R, C))
        # controller
        self.next_load = 0
        self.load: tuple[int, int] | None = None  # (fold, step)
        self.loaded_by: dict[int, int] = {}  # fold -> last cycle of its load
        self.next_stream = 0
        self.stream: tuple[int, int] | None = None  # (fold, sub-step)
        self.streamed = -1  # highest fold whose stream has fully issued

    def _rows_out(self, fold: Fold) -> int:
        return fold.steps

    def store(self, g, offsets, fold, row, values):
        df = self.df
        index = {df.temporal: row + offsets[df.temporal], df.cols: np.arange(fold.cols) + offsets[df.cols]}
        m, n = index["M"], index["N"]
        if offsets["K"] == 0:  # the first chunk of the reduction initialises the accumulator
            self.out[g, m, n] = values
        else:
            self.out[g, m, n] = numerics.accumulate(self.out[g, m, n], values, self.arch)

    def edge(self) -> dict[str, np.ndarray]:
        R = self.R
        val, vld = self.p[R - 1], self.p_vld[R - 1]
        if self.dp.serial_bits:  # the output accumulator adds the planes; the row leaves with the last
            plane = self.p_plane[R - 1]
            val = numerics.accumulate(np.where(plane == 0, 0, self.out_acc), val, self.arch)
            vld = vld & (plane == self.sub - 1)
        return dict(val=val, vld=vld, fold=self.p_fold[R - 1], row=self.p_row[R - 1])

    def step(self, t: int, tau: int) -> None:
        R, C, folds = self.R, self.C, self.folds
        if self.dp.serial_bits:  # 0. the output accumulator takes the bottom partial sums
            self.out_acc = np.where(self.p_vld[R - 1], self.edge()["val"], self.out_acc)
        # 1. stream port: ready within a fold, or for the next fold once its tile is loaded
        ready = self.stream is not None or (self.next_stream < len(folds)
                                            and self.loaded_by.get(self.next_stream, tau) < tau)
        if ready and self.stalls.active("stream", t):
            if self.stream is None:
                self.stream, self.next_stream = (self.next_stream, 0), self.next_stream + 1
            f, u = self.stream
            fold = folds[f][2]
            m, plane = divmod(u, self.sub)
            vals = np.zeros((R, self.x.shape[-1]), dtype=np.int64)
            vals[:fold.rows] = self.tile(f)[1][m]
            if plane == 0:
                self.words[self.df.streamed] += self._stream_words(f)
            token = self._serialise(vals, plane) if self.dp.serial_bits else dict(val=vals)
            self.skew.push(tau, vld=np.arange(R) < fold.rows, bank=np.int64(f % self.banks),
                           fold=np.int64(f), row=np.int64(m), **token)
            if u + 1 == fold.steps * self.sub:
                self.stream, self.streamed = None, f
                del self.tiles[f]
            else:
                self.stream = (f, u + 1)
        else:
            self.skew.push(tau)  # a bubble
        edge = self.skew.read(tau)
        self.x[:, 0], self.x_vld[:, 0], self.x_bank[:, 0] = edge["val"], edge["vld"], edge["bank"]
        self.x_fold[:, 0], self.x_row[:, 0] = edge["fold"], edge["row"]
        if self.dp.serial_bits:
            self.x_plane[:, 0], self.x_nz[:, 0] = edge["plane"], edge["nz"]

        # 3. PEs: multiply by the bank each token names, add the partial sum from above
        if self.banks > 1:
            weight = self.w[self.x_bank, self.rows_idx, self.cols_idx]
            index = None if self.w_idx is None else self.w_idx[self.x_bank, self.rows_idx, self.cols_idx]
        else:
            weight, index = self.w[0], None if self.w_idx is None else self.w_idx[0]
        live = self.x_vld & (self.cols_idx < self.fold_cols[self.x_fold])
        if self.dp.serial_bits:
            product = self.mac(self.x, weight, live & (self.x_plane == 0), serial=(self.x_plane, self.x_nz))
        else:
            product = self.mac(self.x, weight, live, index=index, k_row=self.fold_k0[self.x_fold] + self.rows_idx)
        p_in, p_in_vld = _down(self.p, 0), _down(self.p_vld, False)
        summed = numerics.accumulate(p_in, product, self.arch)
        self.p = np.where(self.x_vld, summed, p_in)
        self.p_fold = np.where(self.x_vld, self.x_fold, _down(self.p_fold, -1))
        self.p_row = np.where(self.x_vld, self.x_row, _down(self.p_row, -1))
        if self.dp.serial_bits:
            self.p_plane = np.where(self.x_vld, self.x_plane, _down(self.p_plane, 0))
        self.p_vld = self.x_vld | p_in_vld

        # 4. load port: shift the next stationary tile into its bank once nothing in flight uses it
        ready = self.load is not None
        if not ready and self.next_load < len(folds):
            older = self.next_load - self.banks
            ready = older < 0 or (self.streamed >= older
                                  and not self._bank_in_flight(tau, self.next_load % self.banks))
        if ready and self.stalls.active("load", t):
            if self.load is None:
                self.load, self.next_load = (self.next_load, 0), self.next_load + 1
            f, j = self.load
            fold = folds[f][2]
            bank = f % self.banks
            stationary, _, idx = self.tile(f)
            row = np.zeros((C, self.w.shape[-1]), dtype=np.int64)
            row[:fold.cols] = stationary[fold.rows - 1 - j]  # the bottom row goes in first
            self.words[self.df.stationary] += fold.cols * row.shape[-1]
            self.w[bank, 1:] = self.w[bank, :-1].copy()
            self.w[bank, 0] = row
            if self.w_idx is not None:  # N:M: each kept weight's index rides with it
                assert idx is not None  # (the tile carries indices exactly when the datapath does)
                self.w_idx[bank, 1:] = self.w_idx[bank, :-1].copy()
                self.w_idx[bank, 0] = 0
                self.w_idx[bank, 0, :fold.cols] = idx[fold.rows - 1 - j]
                self.words["W_index"] = self.words.get("W_index", 0) + fold.cols
            if j + 1 == fold.rows:
                self.loaded_by[f], self.load = tau, None
            else:
                self.load = (f, j + 1)

        # 5. tokens move one PE to the right
        for arr in self.token:
            arr[:, 1:] = arr[:, :-1].copy()

    def _stream_words(self, f: int) -> int:
        """Words one step of fold f takes from the buffer: a word per row and lane; on N:M the
        M-wide vector of each distinct group among the fold's rows (rows of a group share it)."""
        _, offsets, fold = self.folds[f]
        if self.dp.groups is None:
            return fold.rows * self.x.shape[-1]
        k0 = offsets["K"]
        return len(np.unique(self.dp.groups[k0:k0 + fold.rows])) * self.x.shape[-1]

    def _bank_in_flight(self, tau: int, bank: int) -> bool:
        """Will any token that reads ``bank`` be inside the array after this cycle?"""
        moving = self.x_vld[:, :-1] & (self.x_bank[:, :-1] == bank)
        pending = self.skew.pending(tau) & self.skew.data["vld"] & (self.skew.data["bank"] == bank)
        return bool(moving.any() or pending.any())


class _OutputArray(_Engine):
    """K temporal: each PE accumulates one output; finished outputs drain up a shift chain.

    Bit-serial: each reduction step becomes ``b`` plane steps; the PE accumulates all ``K·b``.
    """

    def __init__(self, mapping: Mapping, datapath: Datapath, stalls: Stalls):
        super().__init__(mapping, datapath, stalls)
        R, C = self.R, self.C

        def z(dtype: npt.DTypeLike = np.int64) -> np.ndarray:
            return np.zeros((R, C), dtype=dtype)

        left_lanes, top_lanes = datapath.lanes(self.df.left), datapath.lanes(self.df.top)
        self.x = np.zeros((R, C, left_lanes), dtype=np.int64)
        self.y = np.zeros((R, C, top_lanes), dtype=np.int64)
        self.vld, self.first, self.last, self.fold_tag = z(bool), z(bool), z(bool), z()
        self.acc = z()
        self.o, self.o_vld, self.o_fold, self.o_row = z(), z(bool), z(), z()
        self.step_tag = z()  # the reduction step (row of K') the token belongs to
        tags: dict[str, npt.ArrayLike] = dict(val=np.zeros(left_lanes, dtype=np.int64), vld=False, first=False,
                                              last=False, fold=np.int64(-1), step=np.int64(0))
        self.token = [self.x, self.vld, self.first, self.last, self.fold_tag, self.step_tag]
        if datapath.serial_bits:
            self.plane, self.nz = z(), z(bool)
            self.token += [self.plane, self.nz]
            tags.update(plane=np.int64(0), nz=False)
        self.left = _Ring(R, R, np.arange(R), tags)
        self.top = _Ring(C, C, np.arange(C), dict(val=np.zeros(top_lanes, dtype=np.int64)))
        self.row_idx = np.broadcast_to(np.arange(R)[:, None], (R, C))
        self.next_stream = 0
        self.stream: tuple[int, int] | None = None  # (fold, sub-step)
        self.prev_end, self.prev_rows = 0, 0

    def _rows_out(self, fold: Fold) -> int:
        return fold.rows

    def store(self, g, offsets, fold, row, values):
        df = self.df
        index = {df.rows: row + offsets[df.rows], df.cols: np.arange(fold.cols) + offsets[df.cols]}
        self.out[g, index["M"], index["N"]] = values

    def edge(self) -> dict[str, np.ndarray]:
        return dict(val=self.o[0], vld=self.o_vld[0], fold=self.o_fold[0], row=self.o_row[0])

    def _ready(self, tau: int) -> bool:
        """Stream port ready? Single-buffered folds start on an empty drain chain; with double
        buffering a fold's last step waits until its outputs cannot collide in the chain."""
        if self.stream is None:
            if self.next_stream == len(self.folds) or (not self.arch.double_buffered and self.o_vld.any()):
                return False
            f, u = self.next_stream, 0
        else:
            f, u = self.stream
        last = u + 1 == self.folds[f][2].steps * self.sub
        return not (last and self.arch.double_buffered
                    and tau < os_last_beat_earliest(self.prev_end, self.prev_rows))

    def step(self, t: int, tau: int) -> None:
        R, C, folds = self.R, self.C, self.folds
        # 1. stream port: one step of the left and top tiles into the skew buffers
        if self._ready(tau) and self.stalls.active("stream", t):
            if self.stream is None:
                self.stream, self.next_stream = (self.next_stream, 0), self.next_stream + 1
            f, u = self.stream
            fold = folds[f][2]
            k, plane = divmod(u, self.sub)
            left, top, _ = self.tile(f)
            lv = np.zeros((R, self.x.shape[-1]), dtype=np.int64)
            lv[:fold.rows] = left[:, k]
            tv = np.zeros((C, self.y.shape[-1]), dtype=np.int64)
            tv[:fold.cols] = top[k]
            if plane == 0:
                lanes = {self.df.left: lv.shape[-1], self.df.top: tv.shape[-1]}
                self.words["I"] += (fold.rows if self.df.rows == "M" else fold.cols) * lanes["I"]
                self.words["W"] += (fold.cols if self.df.rows == "M" else fold.rows) * lanes["W"]
            token = self._serialise(lv, plane) if self.dp.serial_bits else dict(val=lv)
            last = u + 1 == fold.steps * self.sub
            self.left.push(tau, vld=np.arange(R) < fold.rows, first=np.bool_(u == 0), last=np.bool_(last),
                           fold=np.int64(f), step=np.int64(k), **token)
            self.top.push(tau, val=tv)
            if last:
                self.stream, self.prev_end, self.prev_rows = None, tau + 1, fold.rows
                del self.tiles[f]
            else:
                self.stream = (f, u + 1)
        else:  # a bubble
            self.left.push(tau)
            self.top.push(tau)
        edge = self.left.read(tau)
        self.x[:, 0], self.vld[:, 0], self.first[:, 0] = edge["val"], edge["vld"], edge["first"]
        self.last[:, 0], self.fold_tag[:, 0], self.step_tag[:, 0] = edge["last"], edge["fold"], edge["step"]
        if self.dp.serial_bits:
            self.plane[:, 0], self.nz[:, 0] = edge["plane"], edge["nz"]
        self.y[0, :] = self.top.read(tau)["val"]

        # 3. PEs accumulate; a fold's last step hands the result to the drain chain
        live = self.vld & (self.cols_idx < self.fold_cols[self.fold_tag])
        if self.dp.serial_bits:
            product = self.mac(self.x, self.y, live & (self.plane == 0), serial=(self.plane, self.nz))
        else:
            product = self.mac(self.x, self.y, live, k_row=self.step_tag)
        base = np.where(self.first, 0, self.acc)
        summed = numerics.accumulate(base, product, self.arch)
        self.acc = np.where(self.vld, summed, self.acc)
        capture = self.vld & self.last
        below_vld = _up(self.o_vld, False)
        assert not (capture & below_vld).any(), f"cycle {t}: drain chain collision"
        self.o = np.where(capture, self.acc, _up(self.o, 0))
        self.o_fold = np.where(capture, self.fold_tag, _up(self.o_fold, -1))
        self.o_row = np.where(capture, self.row_idx, _up(self.o_row, -1))
        self.o_vld = capture | below_vld

        # 4. left operands move right, top operands move down (tags ride with the left ones)
        for arr in self.token:
            arr[:, 1:] = arr[:, :-1].copy()
        self.y[1:, :] = self.y[:-1, :].copy()
