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


class StationaryPE(wiring.Component):
    """One PE of a stationary dataflow: ``banks`` stationary registers, a token register, a MAC.

    Each enabled cycle it passes its token (value, valid, bank) one column right, adds
    ``token × weight[bank]`` to the partial sum from above (if the token is valid) and registers the
    result for the PE below. While ``shift`` is high, bank ``shift_bank`` takes the value from above
    (the tile shifts down its column).
    """

    def __init__(self, arch: ArrayConfig, dataflow: DataflowSpec):
        self.arch = arch
        self.banks = 2 if arch.double_buffered else 1
        stat, strm = (operand_shape(arch, op) for op in port_operands(dataflow))
        acc = operand_shape(arch, "O")
        super().__init__({
            "enable": In(1), "shift": In(1), "shift_bank": In(1),
            "x": In(strm), "x_valid": In(1), "x_bank": In(1),
            "x_out": Out(strm), "x_out_valid": Out(1), "x_out_bank": Out(1),
            "p_in": In(acc), "p_in_valid": In(1), "p_out": Out(acc), "p_out_valid": Out(1),
            "w_in": In(data.ArrayLayout(stat, self.banks)), "w_out": Out(data.ArrayLayout(stat, self.banks)),
        })

    def elaborate(self, platform):
        m = Module()
        weight = self.w_out[self.x_bank] if self.banks == 2 else self.w_out[0]
        total = _reduce(self.arch, self.p_in + self.x * weight)
        with m.If(self.enable):
            m.d.sync += [self.x_out.eq(self.x), self.x_out_valid.eq(self.x_valid), self.x_out_bank.eq(self.x_bank),
                         self.p_out.eq(Mux(self.x_valid, total, self.p_in)),
                         self.p_out_valid.eq(self.x_valid | self.p_in_valid)]
        for b in range(self.banks):
            with m.If(self.shift & (self.shift_bank == b)):
                m.d.sync += self.w_out[b].eq(self.w_in[b])
        return m


class OutputPE(wiring.Component):
    """One PE of the output-stationary dataflow: an accumulator and one register of a drain chain.

    Each enabled cycle it passes the left token right and the top value down, accumulates
    ``left × top`` (restarting on *first*), and on *last* puts the finished sum into its chain
    register; otherwise the chain register takes the value from the PE below (the chain shifts up).
    """

    def __init__(self, arch: ArrayConfig, dataflow: DataflowSpec):
        self.arch = arch
        left, top = (operand_shape(arch, op) for op in port_operands(dataflow))
        acc = operand_shape(arch, "O")
        super().__init__({
            "enable": In(1),
            "x": In(left), "x_valid": In(1), "x_first": In(1), "x_last": In(1),
            "x_out": Out(left), "x_out_valid": Out(1), "x_out_first": Out(1), "x_out_last": Out(1),
            "y": In(top), "y_out": Out(top),
            "o_in": In(acc), "o_in_valid": In(1), "o_out": Out(acc), "o_out_valid": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        acc = Signal(operand_shape(self.arch, "O"))
        total = Signal.like(acc)
        capture = self.x_valid & self.x_last
        m.d.comb += total.eq(_reduce(self.arch, Mux(self.x_first, 0, acc) + self.x * self.y))
        with m.If(self.enable):
            m.d.sync += [self.x_out.eq(self.x), self.x_out_valid.eq(self.x_valid),
                         self.x_out_first.eq(self.x_first), self.x_out_last.eq(self.x_last), self.y_out.eq(self.y),
                         self.o_out.eq(Mux(capture, total, self.o_in)),
                         self.o_out_valid.eq(capture | self.o_in_valid)]
            with m.If(self.x_valid):
                m.d.sync += acc.eq(total)
        return m


def _reduce(arch: ArrayConfig, value):
    """``value`` brought into the accumulator width by wrapping or saturating."""
    if arch.overflow == "saturate":
        lo, hi = value_range(arch.acc_bits, arch.signed)
        value = Mux(value > hi, hi, Mux(value < lo, lo, value))
    low = value[:arch.acc_bits]
    return low.as_signed() if arch.signed else low


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
        strm_shape = operand_shape(arch, port_operands(self.dataflow)[1])
        pes = [[StationaryPE(arch, self.dataflow) for _ in range(C)] for _ in range(R)]
        for r in range(R):
            for c in range(C):
                m.submodules[f"pe_{r}_{c}"] = pes[r][c]

        # controller state
        st_active, st_bank = Signal(), Signal()
        ld_active, ld_bank = Signal(), Signal()
        avail = Signal(range(banks + 1))  # tiles loaded but not yet streaming
        outstanding = Signal(range(banks + 1))  # tiles loaded or loading whose stream is not done

        fire_s = Signal()
        m.d.comb += [self.stream_ready.eq(enable & (st_active | (avail != 0))),
                     fire_s.eq(self.stream_ready & self.stream_valid)]
        s_start, s_done = fire_s & ~st_active, fire_s & self.stream_last

        # skew: row r's token (value, valid, bank) waits r enabled cycles before entering column 0
        pending = []  # tokens in the skew that reach the array after this cycle
        for r in range(R):
            token = (self.stream_data[r], fire_s & self.stream_mask[r], st_bank)
            if r > 0:
                pending.append(token)
            for stage in range(r):
                reg = (Signal(strm_shape, name=f"skw{r}_{stage}"), Signal(name=f"skw{r}_{stage}_v"),
                       Signal(name=f"skw{r}_{stage}_b"))
                with m.If(enable):
                    m.d.sync += [a.eq(b) for a, b in zip(reg, token)]
                if stage < r - 1:
                    pending.append(reg)
                token = reg
            for c, pe in enumerate(pes[r]):
                m.d.comb += [pe.x.eq(token[0]), pe.x_valid.eq(token[1]), pe.x_bank.eq(token[2])]
                if c < C - 1:
                    pending.append(token)  # it moves on to the next column
                token = (pe.x_out, pe.x_out_valid, pe.x_out_bank)

        # partial sums flow down; tiles shift down from the load port
        fire_l = Signal()
        for r in range(R):
            for c, pe in enumerate(pes[r]):
                above = pes[r - 1][c] if r else None
                m.d.comb += [pe.enable.eq(enable), pe.shift.eq(fire_l), pe.shift_bank.eq(ld_bank),
                             pe.p_in.eq(above.p_out if above else 0),
                             pe.p_in_valid.eq(above.p_out_valid if above else 0)]
                for b in range(banks):
                    m.d.comb += pe.w_in[b].eq(above.w_out[b] if above else self.load_data[c])

        # load port: a bank is reloaded once no token that reads it is left in flight
        in_flight = Const(0, 1)
        for _, valid, tag in pending:
            in_flight = in_flight | (valid & (tag == ld_bank) if banks == 2 else valid)
        outstanding_now = Signal.like(outstanding)
        m.d.comb += [outstanding_now.eq(outstanding - s_done),
                     self.load_ready.eq(enable & (ld_active | ((outstanding_now < banks) & ~in_flight))),
                     fire_l.eq(self.load_ready & self.load_valid)]
        l_start, l_done = fire_l & ~ld_active, fire_l & self.load_last
        m.d.sync += [
            st_active.eq(Mux(s_done, 0, Mux(s_start, 1, st_active))),
            ld_active.eq(Mux(l_done, 0, Mux(l_start, 1, ld_active))),
            avail.eq(avail + l_done - s_start),
            outstanding.eq(outstanding + l_start - s_done),
        ]
        if banks == 2:
            m.d.sync += [st_bank.eq(st_bank ^ s_done), ld_bank.eq(ld_bank ^ l_done)]
        return [(pe.p_out, pe.p_out_valid) for pe in pes[R - 1]]

    # -- output stationary ------------------------------------------------------------------
    def _output(self, m: Module, enable):
        arch = self.arch
        R, C = arch.rows, arch.cols
        left_shape, top_shape = (operand_shape(arch, op) for op in port_operands(self.dataflow))
        pes = [[OutputPE(arch, self.dataflow) for _ in range(C)] for _ in range(R)]
        for r in range(R):
            for c in range(C):
                m.submodules[f"pe_{r}_{c}"] = pes[r][c]

        in_fold = Signal()
        prev_rows = Signal(range(R + 1))
        since = Signal(range(2 * R + 2))  # enabled cycles since the previous fold ended (saturating)
        chain_busy = Const(0, 1)
        for row in pes:
            for pe in row:
                chain_busy = chain_busy | pe.o_out_valid

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
        for r in range(R):
            token = (self.stream_data[r], fire & self.stream_mask[r], ~in_fold, self.stream_last)
            for stage in range(r):
                reg = tuple(Signal(shape, name=f"skl{r}_{stage}_{n}")
                            for shape, n in ((left_shape, "x"), (1, "v"), (1, "f"), (1, "l")))
                with m.If(enable):
                    m.d.sync += [a.eq(b) for a, b in zip(reg, token)]
                token = reg
            for pe in pes[r]:
                m.d.comb += [pe.x.eq(token[0]), pe.x_valid.eq(token[1]), pe.x_first.eq(token[2]),
                             pe.x_last.eq(token[3]), pe.enable.eq(enable)]
                token = (pe.x_out, pe.x_out_valid, pe.x_out_first, pe.x_out_last)
        for c in range(C):
            value = self.stream_top[c]
            for stage in range(c):
                reg = Signal(top_shape, name=f"skt{c}_{stage}")
                with m.If(enable):
                    m.d.sync += reg.eq(value)
                value = reg
            for r in range(R):
                m.d.comb += pes[r][c].y.eq(value)
                value = pes[r][c].y_out
                below = pes[r + 1][c] if r + 1 < R else None
                m.d.comb += [pes[r][c].o_in.eq(below.o_out if below else 0),
                             pes[r][c].o_in_valid.eq(below.o_out_valid if below else 0)]
        return [(pe.o_out, pe.o_out_valid) for pe in pes[0]]
