"""The Amaranth generator: an R×C systolic array with its skew, de-skew and controller.

`SystolicArray(arch, dataflow)` builds exactly the micro-architecture of the reference engine
(:mod:`accelsim.sim.reference`; the contract is ``hdl/README.md``). Every width comes from the
`ArrayConfig`; the OS fold-spacing comparator is built by calling
:func:`accelsim.sim.timing.os_last_beat_earliest` on Amaranth values, and the saturation bounds come
from :func:`accelsim.sim.numerics.value_range`, so neither is restated here.

Ports (all valid/ready streams; the array takes a beat when valid and ready are both high):

* stationary dataflows (WS, IS): ``load_*`` — one row of the stationary tile per beat (``C``
  values, bottom row first, ``load_last`` on the tile's last row); ``stream_*`` — one row of the
  streamed operand (``R`` values, ``stream_mask`` the rows in use, ``stream_last`` on the fold's
  last row).
* output-stationary: ``stream_*`` — one reduction step: ``R`` left values, ``C`` top values
  (``stream_top``), ``stream_mask``, ``stream_last``.
* ``out_*`` — one de-skewed output row (``C`` accumulator-wide values).

When the output port holds a row that is not taken, every register keeps its value (one clock
enable); a stream port with no valid beat sends a bubble into the array.
"""

from __future__ import annotations

from amaranth.hdl import Const, Module, Mux, Shape, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..arch import ArrayConfig
from ..mapping.dataflow import OPERAND_DIMS, DataflowSpec
from ..sim.numerics import value_range
from ..sim.timing import os_last_beat_earliest


def operand_shape(arch: ArrayConfig, operand: str) -> Shape:
    """Shape of operand ``"I"`` or ``"W"`` (or ``"O"``, the accumulator)."""
    bits = {"I": arch.input_bits, "W": arch.weight_bits, "O": arch.acc_bits}[operand]
    return signed(bits) if arch.signed else unsigned(bits)


def port_operands(dataflow: DataflowSpec) -> tuple[str, str]:
    """Operands on the (load, stream) ports of a stationary dataflow, or (left, top) of OS."""
    if dataflow.mode == "stationary":
        return dataflow.stationary, dataflow.streamed
    left = next(op for op in ("I", "W") if set(OPERAND_DIMS[op]) == {dataflow.rows, "K"})
    return left, "W" if left == "I" else "I"


class SystolicArray(wiring.Component):
    """A systolic array generated from an `ArrayConfig` and a dataflow (see the module doc)."""

    def __init__(self, arch: ArrayConfig, dataflow: DataflowSpec):
        self.arch, self.dataflow = arch, dataflow
        R, C = arch.rows, arch.cols
        first, second = (operand_shape(arch, op) for op in port_operands(dataflow))
        ports = {
            "stream_valid": In(1), "stream_ready": Out(1), "stream_mask": In(R), "stream_last": In(1),
            "out_valid": Out(1), "out_ready": In(1),
            "out_data": Out(data.ArrayLayout(operand_shape(arch, "O"), C)),
        }
        if dataflow.mode == "stationary":
            ports |= {"load_valid": In(1), "load_ready": Out(1), "load_last": In(1),
                      "load_data": In(data.ArrayLayout(first, C)),
                      "stream_data": In(data.ArrayLayout(second, R))}
        else:
            ports |= {"stream_data": In(data.ArrayLayout(first, R)),
                      "stream_top": In(data.ArrayLayout(second, C))}
        super().__init__(ports)

    # -- arithmetic -------------------------------------------------------------------------
    def _reduce(self, value):
        """``value`` brought into the accumulator width by wrapping or saturating."""
        arch = self.arch
        if arch.overflow == "saturate":
            lo, hi = value_range(arch.acc_bits, arch.signed)
            value = Mux(value > hi, hi, Mux(value < lo, lo, value))
        low = value[:arch.acc_bits]
        return low.as_signed() if arch.signed else low

    def elaborate(self, platform):
        m = Module()
        R, C = self.arch.rows, self.arch.cols
        acc_shape = operand_shape(self.arch, "O")
        enable = Signal()
        m.d.comb += enable.eq(~(self.out_valid & ~self.out_ready))

        if self.dataflow.mode == "stationary":
            edge = self._stationary(m, enable)
        else:
            edge = self._output(m, enable)

        # de-skew: column c waits C-1-c enabled cycles, so a whole row leaves at once
        port_valid = []
        for c, (value, valid) in enumerate(edge):
            for stage in range(C - 1 - c):
                v, ok = Signal(acc_shape, name=f"dsk{c}_{stage}"), Signal(name=f"dsk{c}_{stage}_v")
                with m.If(enable):
                    m.d.sync += [v.eq(value), ok.eq(valid)]
                value, valid = v, ok
            m.d.comb += self.out_data[c].eq(value)
            port_valid.append(valid)
        m.d.comb += self.out_valid.eq(port_valid[0])
        return m

    # -- stationary dataflows (WS, IS) -------------------------------------------------------
    def _stationary(self, m: Module, enable):
        arch = self.arch
        R, C = arch.rows, arch.cols
        banks = 2 if arch.double_buffered else 1
        stat_shape, strm_shape = (operand_shape(arch, op) for op in port_operands(self.dataflow))
        acc_shape = operand_shape(arch, "O")
        w = [[[Signal(stat_shape, name=f"w{b}_{r}_{c}") for c in range(C)] for r in range(R)] for b in range(banks)]

        # controller state
        st_active, st_bank = Signal(), Signal()
        ld_active, ld_bank = Signal(), Signal()
        avail = Signal(range(banks + 1))  # tiles loaded but not yet streaming
        outstanding = Signal(range(banks + 1))  # tiles loaded or loading whose stream is not done

        fire_s = Signal()
        m.d.comb += [self.stream_ready.eq(enable & (st_active | (avail != 0))),
                     fire_s.eq(self.stream_ready & self.stream_valid)]
        s_start, s_done = fire_s & ~st_active, fire_s & self.stream_last

        # skew: row r's token waits r enabled cycles; a token is (value, valid, bank)
        issue = [(self.stream_data[r], fire_s & self.stream_mask[r], st_bank) for r in range(R)]
        xs = [[None] * C for _ in range(R)]
        pending = []  # tokens in skew registers that reach the array after this cycle
        for r in range(R):
            token = issue[r]
            if r > 0:
                pending.append(token)
            for stage in range(r):
                reg = (Signal(strm_shape, name=f"skw{r}_{stage}"), Signal(name=f"skw{r}_{stage}_v"),
                       Signal(name=f"skw{r}_{stage}_b"))
                with m.If(enable):
                    m.d.sync += [reg[0].eq(token[0]), reg[1].eq(token[1]), reg[2].eq(token[2])]
                if stage < r - 1:
                    pending.append(reg)
                token = reg
            xs[r][0] = token
            for c in range(1, C):
                reg = (Signal(strm_shape, name=f"x{r}_{c}"), Signal(name=f"x{r}_{c}_v"), Signal(name=f"x{r}_{c}_b"))
                prev = xs[r][c - 1]
                with m.If(enable):
                    m.d.sync += [reg[0].eq(prev[0]), reg[1].eq(prev[1]), reg[2].eq(prev[2])]
                xs[r][c] = reg

        # PEs: partial sums flow down
        p = [[Signal(acc_shape, name=f"p{r}_{c}") for c in range(C)] for r in range(R)]
        pv = [[Signal(name=f"p{r}_{c}_v") for c in range(C)] for r in range(R)]
        for r in range(R):
            for c in range(C):
                value, valid, bank = xs[r][c]
                weight = Mux(bank, w[1][r][c], w[0][r][c]) if banks == 2 else w[0][r][c]
                p_in = p[r - 1][c] if r else Const(0, acc_shape)
                pv_in = pv[r - 1][c] if r else Const(0, 1)
                with m.If(enable):
                    m.d.sync += [p[r][c].eq(Mux(valid, self._reduce(p_in + value * weight), p_in)),
                                 pv[r][c].eq(valid | pv_in)]

        # load port: a bank is reloaded once no token that reads it is left in flight
        def in_flight(bank):
            reads = [valid & (tag == bank) if banks == 2 else valid
                     for r in range(R) for c in range(C - 1) for (_, valid, tag) in [xs[r][c]]]
            reads += [valid & (tag == bank) if banks == 2 else valid for (_, valid, tag) in pending]
            out = Const(0, 1)
            for x in reads:
                out = out | x
            return out

        outstanding_now = Signal.like(outstanding)
        fire_l = Signal()
        m.d.comb += [outstanding_now.eq(outstanding - s_done),
                     self.load_ready.eq(enable & (ld_active | ((outstanding_now < banks) & ~in_flight(ld_bank)))),
                     fire_l.eq(self.load_ready & self.load_valid)]
        l_start, l_done = fire_l & ~ld_active, fire_l & self.load_last
        for b in range(banks):
            with m.If(fire_l & (ld_bank == b)):
                m.d.sync += [w[b][0][c].eq(self.load_data[c]) for c in range(C)]
                m.d.sync += [w[b][r][c].eq(w[b][r - 1][c]) for r in range(1, R) for c in range(C)]

        m.d.sync += [
            st_active.eq(Mux(s_done, 0, Mux(s_start, 1, st_active))),
            ld_active.eq(Mux(l_done, 0, Mux(l_start, 1, ld_active))),
            avail.eq(avail + l_done - s_start),
            outstanding.eq(outstanding + l_start - s_done),
        ]
        if banks == 2:
            m.d.sync += [st_bank.eq(st_bank ^ s_done), ld_bank.eq(ld_bank ^ l_done)]
        return [(p[R - 1][c], pv[R - 1][c]) for c in range(C)]

    # -- output stationary ------------------------------------------------------------------
    def _output(self, m: Module, enable):
        arch = self.arch
        R, C = arch.rows, arch.cols
        left_shape, top_shape = (operand_shape(arch, op) for op in port_operands(self.dataflow))
        acc_shape = operand_shape(arch, "O")

        in_fold = Signal()
        prev_rows = Signal(range(R + 1))
        since = Signal(range(2 * R + 2))  # enabled cycles since the previous fold ended (saturating)
        ov = [[Signal(name=f"o{r}_{c}_v") for c in range(C)] for r in range(R)]
        chain_busy = Const(0, 1)
        for row in ov:
            for bit in row:
                chain_busy = chain_busy | bit

        hold_last = Const(0, 1)
        if arch.double_buffered:
            hold_last = self.stream_last & (since < os_last_beat_earliest(0, prev_rows))
        may_open = Const(1, 1) if arch.double_buffered else ~chain_busy
        fire = Signal()
        m.d.comb += [self.stream_ready.eq(enable & (in_fold | may_open) & ~hold_last),
                     fire.eq(self.stream_ready & self.stream_valid)]
        rows_in_use = sum(self.stream_mask[r] for r in range(R))
        with m.If(fire):
            m.d.sync += in_fold.eq(~self.stream_last)
        with m.If(fire & self.stream_last):
            m.d.sync += [since.eq(0), prev_rows.eq(rows_in_use)]
        with m.Elif(enable & (since < 2 * R + 1)):
            m.d.sync += since.eq(since + 1)

        # skew: left tokens (value, valid, first, last) wait r cycles, top values wait c cycles
        xs = [[None] * C for _ in range(R)]
        for r in range(R):
            token = (self.stream_data[r], fire & self.stream_mask[r], ~in_fold, self.stream_last)
            for stage in range(r):
                reg = tuple(Signal(s, name=f"skl{r}_{stage}_{n}")
                            for s, n in ((left_shape, "x"), (1, "v"), (1, "f"), (1, "l")))
                with m.If(enable):
                    m.d.sync += [a.eq(b) for a, b in zip(reg, token)]
                token = reg
            xs[r][0] = token
            for c in range(1, C):
                reg = tuple(Signal(s, name=f"x{r}_{c}_{n}")
                            for s, n in ((left_shape, "x"), (1, "v"), (1, "f"), (1, "l")))
                with m.If(enable):
                    m.d.sync += [a.eq(b) for a, b in zip(reg, xs[r][c - 1])]
                xs[r][c] = reg
        ys = [[None] * C for _ in range(R)]
        for c in range(C):
            value = self.stream_top[c]
            for stage in range(c):
                reg = Signal(top_shape, name=f"skt{c}_{stage}")
                with m.If(enable):
                    m.d.sync += reg.eq(value)
                value = reg
            ys[0][c] = value
            for r in range(1, R):
                reg = Signal(top_shape, name=f"y{r}_{c}")
                with m.If(enable):
                    m.d.sync += reg.eq(ys[r - 1][c])
                ys[r][c] = reg

        # PEs accumulate in place; a fold's last step hands the sum to the drain chain (shifting up)
        acc = [[Signal(acc_shape, name=f"acc{r}_{c}") for c in range(C)] for r in range(R)]
        o = [[Signal(acc_shape, name=f"o{r}_{c}") for c in range(C)] for r in range(R)]
        for r in range(R):
            for c in range(C):
                x, valid, first, last = xs[r][c]
                total = Signal(acc_shape, name=f"sum{r}_{c}")
                m.d.comb += total.eq(self._reduce(Mux(first, 0, acc[r][c]) + x * ys[r][c]))
                below, below_v = (o[r + 1][c], ov[r + 1][c]) if r + 1 < R else (Const(0, acc_shape), Const(0, 1))
                capture = valid & last
                with m.If(enable):
                    with m.If(valid):
                        m.d.sync += acc[r][c].eq(total)
                    m.d.sync += [o[r][c].eq(Mux(capture, total, below)), ov[r][c].eq(capture | below_v)]
        return [(o[0][c], ov[0][c]) for c in range(C)]
