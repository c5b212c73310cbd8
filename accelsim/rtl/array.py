"""The Amaranth generator: an R×C systolic array with its skew, de-skew and controller.

`SystolicArray(arch, dataflow)` builds exactly the micro-architecture of the reference engine
(:mod:`accelsim.sim.reference`; the contract is ``hdl/README.md``). Every width comes from the
`ArrayConfig`; the OS fold-spacing comparator is built by calling
:func:`accelsim.sim.timing.os_last_beat_earliest` on Amaranth values, and the saturation bounds come
from :func:`accelsim.precision.value_range`, so neither is restated here.

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

Sparse arrays (``hdl/README.md``, "Sparse arrays"): with ``arch.sparse == "gate"`` zero flags
ride with the operands, a PE isolates its multiplier when either is zero, and ``gated_count``
counts those MAC events (``load_mask`` / ``stream_top_mask`` name the columns a tile uses); with
``arch.weight_nm`` (WS only) each PE holds kept weights with their indices (``load_index``) and
selects its input from the M-wide group its row streams (``stream_data`` is R×M values).
`check_supported` refuses, in one line, what is not built.

Structure: R rows of C PEs. For Verilog export (``modules``, see `SystolicArray`) the rows are
built as a tree of instances (`_Rows`: a block of n rows is two blocks of about n/2 rows), so the
Verilog holds each PE and row-block module once, about 2·log2(R) modules, and no module's wiring
grows with R·C. The skew and de-skew of the data values (R²/2 and C²/2 registers) are instances of
delay modules too (`_skew_values`: log2 of a side modules per skewed operand, each written once);
the one-bit skews (valid flags) stay one register per stage in the top. Amaranth's simulator cannot
run an ``Instance`` and runs the same trees flat. No expression nests deeper as the array grows:
wide reductions are single ``any()`` operators or balanced trees.
"""

from __future__ import annotations

from typing import ClassVar

from amaranth.hdl import (
    Cat,
    ClockSignal,
    Const,
    Instance,
    Module,
    Mux,
    ResetSignal,
    Shape,
    Signal,
    Value,
    signed,
    unsigned,
)
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..arch import ArrayConfig
from ..errors import UnsupportedError
from ..mapping.dataflow import DataflowSpec
from ..precision import value_range
from ..sim.timing import os_last_beat_earliest
from ..sparsity import nm_index_bits

ROWS_MODULE = "accelsim_array_rows"
PE_MODULE = "accelsim_array_pe"
DELAY_MODULE = "accelsim_array_delay"
GATED_COUNT_BITS = 48  # the gated-MAC event counter: 2**48 events, e.g. 4·10^9 cycles of a 256x256 array


def check_supported(arch: ArrayConfig, dataflow: DataflowSpec) -> None:
    """Raise :class:`UnsupportedError` (one line, naming the field) for a config the RTL does not build."""
    if arch.datapath != "int":
        raise UnsupportedError(f"`ArrayConfig.datapath` '{arch.datapath}' has no RTL; the generator builds integer "
                               "datapaths only ('int')")
    if arch.pe_style != "parallel":
        raise UnsupportedError(f"`ArrayConfig.pe_style` '{arch.pe_style}' has no RTL; the generator builds "
                               "parallel PEs only")
    if arch.sparse == "skip":
        raise UnsupportedError("`ArrayConfig.sparse` 'skip' has no RTL; the generator builds 'none' or 'gate'")
    if arch.nm is not None and not dataflow.supports_nm:
        raise UnsupportedError(f"`ArrayConfig.weight_nm` '{arch.weight_nm}' has RTL for the weight-stationary "
                               f"dataflow only, not '{dataflow.name}'")


def gated(arch: ArrayConfig) -> bool:
    """Does the generated array isolate its multipliers on zero operands (and count the events)?"""
    return arch.sparse == "gate"


def _gate_condition(zero_left, zero_top):
    """A MAC is gated when either operand is zero (each operand's zero flag rides with it)."""
    return zero_left | zero_top


def _select(group, index):
    """N:M: the input a PE multiplies, element ``index`` of its row's group of M."""
    return group[index]


def operand_shape(arch: ArrayConfig, operand: str) -> Shape:
    """Shape of operand ``"I"`` or ``"W"`` (or ``"O"``, the accumulator)."""
    bits = {"I": arch.input_bits, "W": arch.weight_bits, "O": arch.acc_bits}[operand]
    return signed(bits) if arch.signed else unsigned(bits)


def port_operands(dataflow: DataflowSpec) -> tuple[str, str]:
    """Operands on the (load, stream) ports of a stationary dataflow, or (left, top) of OS."""
    if dataflow.mode == "stationary":
        return dataflow.stationary, dataflow.left
    return dataflow.left, dataflow.top


class StationaryPE(wiring.Component):
    """One PE of a stationary dataflow: ``banks`` stationary registers, a token register, a MAC.

    Each enabled cycle it passes its token (value, valid, bank) one column right, adds
    ``token × weight[bank]`` to the partial sum from above (if the token is valid) and registers the
    result for the PE below. While ``shift`` is high, bank ``shift_bank`` takes the value from above
    (the tile shifts down its column).

    Zero-gated (``arch.sparse == "gate"``): a zero flag rides with the token (``x_zero``) and with
    every stationary value (``wz``, computed once at the load port); when either operand of a valid
    token is zero, both multiplier inputs are forced to zero (AND-type operand isolation) and the
    partial sum passes through without the adder; ``gated`` is high for that MAC event.

    N:M (``arch.weight_nm``): the token is the M-wide group of its row; each bank also holds the
    kept weight's index (``i``) and the PE multiplies element ``index`` of the group.
    """

    def __init__(self, arch: ArrayConfig, dataflow: DataflowSpec):
        self.arch = arch
        super().__init__(self.ports(arch, dataflow))

    @staticmethod
    def ports(arch: ArrayConfig, dataflow: DataflowSpec) -> wiring.Signature:
        stat, strm = (operand_shape(arch, op) for op in port_operands(dataflow))
        acc = operand_shape(arch, "O")
        banks = arch.stationary_banks
        tile = data.ArrayLayout(stat, banks)
        if arch.nm is not None:
            strm = data.ArrayLayout(strm, arch.nm[1])
        members = {
            "enable": In(1), "shift": In(1), "shift_bank": In(1),
            "x": In(strm), "x_valid": In(1), "x_bank": In(1),
            "x_out": Out(strm), "x_out_valid": Out(1), "x_out_bank": Out(1),
            "p_in": In(acc), "p_in_valid": In(1), "p_out": Out(acc), "p_out_valid": Out(1),
            "w_in": In(tile), "w_out": Out(tile),
        }
        if gated(arch):
            flags = data.ArrayLayout(1, banks)
            lane_flags = arch.nm[1] if arch.nm is not None else 1  # N:M: a zero flag per group element
            members |= {"x_zero": In(lane_flags), "x_out_zero": Out(lane_flags),
                        "wz_in": In(flags), "wz_out": Out(flags), "wu_in": In(flags), "wu_out": Out(flags),
                        "gated": Out(1)}
        if arch.nm is not None:
            index = data.ArrayLayout(unsigned(nm_index_bits(arch.nm[1])), banks)
            members |= {"i_in": In(index), "i_out": Out(index)}
        return wiring.Signature(members)

    def elaborate(self, platform):
        m = Module()
        banks = self.arch.stationary_banks

        def bank(array):
            return array[self.x_bank] if banks == 2 else array[0]

        weight = bank(self.w_out)
        x = _select(self.x, bank(self.i_out)) if self.arch.nm is not None else self.x
        if gated(self.arch):
            gate = Signal()
            x_zero = self.x_zero.bit_select(bank(self.i_out), 1) if self.arch.nm is not None else self.x_zero
            m.d.comb += [gate.eq(_gate_condition(x_zero, bank(self.wz_out))),
                         self.gated.eq(self.x_valid & bank(self.wu_out) & gate)]
            total = _reduce(self.arch, self.p_in + Mux(gate, 0, x) * Mux(gate, 0, weight))
            p_next = Mux(self.x_valid & ~gate, total, self.p_in)
        else:
            total = _reduce(self.arch, self.p_in + x * weight)
            p_next = Mux(self.x_valid, total, self.p_in)
        with m.If(self.enable):
            m.d.sync += [self.x_out.eq(self.x), self.x_out_valid.eq(self.x_valid), self.x_out_bank.eq(self.x_bank),
                         self.p_out.eq(p_next), self.p_out_valid.eq(self.x_valid | self.p_in_valid)]
            if gated(self.arch):
                m.d.sync += self.x_out_zero.eq(self.x_zero)
        for b in range(banks):
            with m.If(self.shift & (self.shift_bank == b)):
                m.d.sync += self.w_out[b].eq(self.w_in[b])
                if gated(self.arch):
                    m.d.sync += [self.wz_out[b].eq(self.wz_in[b]), self.wu_out[b].eq(self.wu_in[b])]
                if self.arch.nm is not None:
                    m.d.sync += self.i_out[b].eq(self.i_in[b])
        return m


class OutputPE(wiring.Component):
    """One PE of the output-stationary dataflow: an accumulator and one register of a drain chain.

    Each enabled cycle it passes the left token right and the top value down, accumulates
    ``left × top`` (restarting on *first*), and on *last* puts the finished sum into its chain
    register; otherwise the chain register takes the value from the PE below (the chain shifts up).

    Zero-gated (``arch.sparse == "gate"``): zero flags ride with the left token (``x_zero``) and the
    top value (``y_zero``); when either is set on a valid token, the multiplier inputs are forced to
    zero, the accumulator register is not enabled (except on *first*, where it restarts at 0) and
    ``gated`` is high for that MAC event.
    """

    def __init__(self, arch: ArrayConfig, dataflow: DataflowSpec):
        self.arch = arch
        super().__init__(self.ports(arch, dataflow))

    @staticmethod
    def ports(arch: ArrayConfig, dataflow: DataflowSpec) -> wiring.Signature:
        left, top = (operand_shape(arch, op) for op in port_operands(dataflow))
        acc = operand_shape(arch, "O")
        members = {
            "enable": In(1),
            "x": In(left), "x_valid": In(1), "x_first": In(1), "x_last": In(1),
            "x_out": Out(left), "x_out_valid": Out(1), "x_out_first": Out(1), "x_out_last": Out(1),
            "y": In(top), "y_out": Out(top),
            "o_in": In(acc), "o_in_valid": In(1), "o_out": Out(acc), "o_out_valid": Out(1),
        }
        if gated(arch):
            members |= {"x_zero": In(1), "x_out_zero": Out(1), "y_zero": In(1), "y_out_zero": Out(1),
                        "y_used": In(1), "y_out_used": Out(1), "gated": Out(1)}
        return wiring.Signature(members)

    def elaborate(self, platform):
        m = Module()
        acc = Signal(operand_shape(self.arch, "O"))
        total = Signal.like(acc)
        capture = self.x_valid & self.x_last
        write_acc = self.x_valid
        if gated(self.arch):
            gate = Signal()
            m.d.comb += [gate.eq(_gate_condition(self.x_zero, self.y_zero)),
                         self.gated.eq(self.x_valid & self.y_used & gate)]
            product = Mux(gate, 0, self.x) * Mux(gate, 0, self.y)
            write_acc = self.x_valid & (~gate | self.x_first)
            with m.If(self.enable):
                m.d.sync += [self.x_out_zero.eq(self.x_zero), self.y_out_zero.eq(self.y_zero),
                             self.y_out_used.eq(self.y_used)]
        else:
            product = self.x * self.y
        m.d.comb += total.eq(_reduce(self.arch, Mux(self.x_first, 0, acc) + product))
        with m.If(self.enable):
            m.d.sync += [self.x_out.eq(self.x), self.x_out_valid.eq(self.x_valid),
                         self.x_out_first.eq(self.x_first), self.x_out_last.eq(self.x_last), self.y_out.eq(self.y),
                         self.o_out.eq(Mux(capture, total, self.o_in)),
                         self.o_out_valid.eq(capture | self.o_in_valid)]
            with m.If(write_acc):
                m.d.sync += acc.eq(total)
        return m


def _reduce(arch: ArrayConfig, value):
    """``value`` brought into the accumulator width by wrapping or saturating."""
    if arch.overflow == "saturate":
        lo, hi = value_range(arch.acc_bits, arch.signed)
        value = Mux(value > hi, hi, Mux(value < lo, lo, value))
    low = value[:arch.acc_bits]
    return low.as_signed() if arch.signed else low


class _Rows(wiring.Component):
    """``n`` consecutive rows of the array: one row of C PEs if ``n`` is 1, else two blocks of
    about ``n/2`` rows, chained. The blocks of one size are one module, so the design holds about
    2·log2(R) row modules whatever R, and no module's wiring grows with R·C.

    Every port is an array of scalar ports (one per row for the ``LANES``, one per column for the
    rest), never one wide vector: a simulator re-evaluates every slice of a vector whenever any of
    its bits changes, which made Icarus quadratic in C. ``busy`` is the OR of the rows' (see the
    subclasses).
    """

    PE: ClassVar[type[StationaryPE | OutputPE]]
    LANES: ClassVar[dict[str, str]]  # row-wise input (also the PE's input) -> the PE output feeding the next column
    DOWN: tuple[tuple[str, str], ...]  # column-wise (input, output) pairs flowing from row 0 down
    UP: tuple[tuple[str, str], ...]  # column-wise (input, output) pairs flowing up to row 0
    BROADCAST: tuple[str, ...]  # one-bit inputs every PE takes (besides enable)

    def __init__(self, arch: ArrayConfig, dataflow: DataflowSpec, n: int, modules: dict | None = None):
        self.arch, self.dataflow, self.n, self.modules = arch, dataflow, n, modules
        super().__init__(self.ports(arch, dataflow, n))

    EXTRA_LANES: ClassVar[dict[str, str]] = {}  # gated arrays: the zero flags that ride with the lanes
    EXTRA_DOWN: tuple[tuple[str, str], ...] = ()  # gated arrays: the zero flags flowing down

    @classmethod
    def wiring_of(cls, arch: ArrayConfig) -> tuple[dict[str, str], tuple, tuple]:
        """``(LANES, DOWN, UP)`` of this array: the dense ones plus what gating or N:M adds."""
        lanes, down = dict(cls.LANES), cls.DOWN
        if gated(arch):
            lanes |= cls.EXTRA_LANES
            down = down + cls.EXTRA_DOWN
        if arch.nm is not None:
            down = down + (("i_in", "i_out"),)
        return lanes, down, cls.UP

    @classmethod
    def ports(cls, arch: ArrayConfig, dataflow: DataflowSpec, n: int) -> wiring.Signature:
        pe = cls.PE.ports(arch, dataflow).members
        lanes, down, up = cls.wiring_of(arch)
        members = {"enable": In(1), "busy": Out(1)}
        members |= {name: In(1) for name in cls.BROADCAST}
        members |= {lane: In(pe[lane].shape).array(n) for lane in lanes}
        members |= {name: pe[name].flow(pe[name].shape).array(arch.cols)
                    for pair in down + up for name in pair}
        if gated(arch):  # gated MAC events of this cycle in these rows
            members["gated"] = Out(range(n * arch.cols + 1))
        return wiring.Signature(members)

    def elaborate(self, platform):
        m = Module()
        broadcast = ("enable", *self.BROADCAST)
        lanes, down, up = self.wiring_of(self.arch)
        if self.n == 1:
            pes = [_place(m, f"pe_{c}", lambda: self.PE(self.arch, self.dataflow), PE_MODULE, self.modules)
                   for c in range(self.arch.cols)]
            for c, pe in enumerate(pes):
                m.d.comb += [getattr(pe, name).eq(getattr(self, name)) for name in broadcast]
                m.d.comb += [getattr(pe, port).eq(getattr(self, port)[0] if c == 0 else getattr(pes[c - 1], out))
                             for port, out in lanes.items()]
                for i, o in down + up:
                    m.d.comb += [getattr(pe, i).eq(getattr(self, i)[c]), getattr(self, o)[c].eq(getattr(pe, o))]
            m.d.comb += self.busy.eq(self._row_busy(pes))
            if gated(self.arch):
                m.d.comb += self.gated.eq(_count_ones(Cat(*(pe.gated for pe in pes))))
            return m
        size = (self.n + 1) // 2
        blocks = []
        for i, n in enumerate((size, self.n - size)):
            def make(n: int = n) -> _Rows:
                return type(self)(self.arch, self.dataflow, n, self.modules)

            blocks.append(_place(m, f"rows_{i}", make, f"{ROWS_MODULE}{n}", self.modules))
        upper, lower = blocks
        for block, part in ((upper, slice(0, size)), (lower, slice(size, self.n))):
            m.d.comb += [getattr(block, name).eq(getattr(self, name)) for name in broadcast]
            m.d.comb += [a.eq(b) for lane in lanes for a, b in zip(getattr(block, lane), getattr(self, lane)[part])]
        for pairs, first, second in ((down, upper, lower), (up, lower, upper)):
            for i, o in pairs:
                for c in range(self.arch.cols):
                    m.d.comb += [getattr(first, i)[c].eq(getattr(self, i)[c]),
                                 getattr(second, i)[c].eq(getattr(first, o)[c]),
                                 getattr(self, o)[c].eq(getattr(second, o)[c])]
        m.d.comb += self.busy.eq(upper.busy | lower.busy)
        if gated(self.arch):
            m.d.comb += self.gated.eq(upper.gated + lower.gated)
        return m


class StationaryRows(_Rows):
    """Rows of `StationaryPE`: tokens enter column 0 and move right; partial sums and the tile
    enter the top row and leave the bottom row.

    ``busy`` is high while a token that will still move to another column reads bank
    ``shift_bank`` (the array's load port must not overwrite that bank yet).
    """

    PE = StationaryPE
    LANES: ClassVar[dict[str, str]] = {"x": "x_out", "x_valid": "x_out_valid", "x_bank": "x_out_bank"}
    DOWN = (("p_in", "p_out"), ("p_in_valid", "p_out_valid"), ("w_in", "w_out"))
    UP = ()
    BROADCAST = ("shift", "shift_bank")
    EXTRA_LANES: ClassVar[dict[str, str]] = {"x_zero": "x_out_zero"}
    EXTRA_DOWN = (("wz_in", "wz_out"), ("wu_in", "wu_out"))

    def _row_busy(self, pes):
        # tokens leaving columns 0 … C-3 still enter another column after this cycle
        moving = [pe.x_out_valid & (pe.x_out_bank == self.shift_bank if self.arch.stationary_banks == 2 else 1)
                  for pe in pes[:-2]]
        return Cat(*moving).any() if moving else 0


class OutputRows(_Rows):
    """Rows of `OutputPE`: left tokens enter column 0 and move right; top values enter the top
    row and move down; the drain chain enters the bottom row and leaves the top row.

    ``busy`` is high while any PE holds a finished sum in its chain register.
    """

    PE = OutputPE
    LANES: ClassVar[dict[str, str]] = {"x": "x_out", "x_valid": "x_out_valid", "x_first": "x_out_first",
                                       "x_last": "x_out_last"}
    DOWN = (("y", "y_out"),)
    UP = (("o_in", "o_out"), ("o_in_valid", "o_out_valid"))
    BROADCAST = ()
    EXTRA_LANES: ClassVar[dict[str, str]] = {"x_zero": "x_out_zero"}
    EXTRA_DOWN = (("y_zero", "y_out_zero"), ("y_used", "y_out_used"))

    def _row_busy(self, pes):
        return Cat(*(pe.o_out_valid for pe in pes)).any()


def _place(m: Module, name: str, make, module: str, modules: dict | None):
    """Add the component ``make()`` to ``m`` as ``name``; or, if ``modules`` is a dict, an instance
    of the Verilog module ``module``, recording ``make()`` there once as its definition. Returns
    what the caller connects: the component, or signals wired to the instance's ports."""
    if modules is None:
        m.submodules[name] = component = make()
        return component
    if module not in modules:
        modules[module] = make()
    signature = modules[module].signature
    ports = signature.create(path=(name,))
    wires = {("i_" if member.flow == In else "o_") + "__".join(map(str, path)): Value.cast(value)
             for path, member, value in signature.flatten(ports)}
    m.submodules[name] = Instance(module, i_clk=ClockSignal(), i_rst=ResetSignal(), **wires)
    return ports


def _skew(m: Module, enable, lanes: list, name: str) -> tuple[list, list[Signal]]:
    """Lane ``i`` delayed by ``i`` enabled cycles, and the stage registers.

    Stage ``s`` is one register holding lanes ``s+1 … n−1`` (lane ``s+1`` in the low bits): the
    Verilog grows by one register per stage, not one per lane and stage.
    """
    width = len(lanes[0])
    stages, held = [], Cat(*lanes[1:])
    for s in range(len(lanes) - 1):
        stage = Signal(len(held), name=f"{name}{s}")
        with m.If(enable):
            m.d.sync += stage.eq(held)
        stages.append(stage)
        held = stage[width:]
    return [lanes[0]] + [stage[:width] for stage in stages], stages


class _Delay(wiring.Component):
    """``lanes`` values of ``width`` bits, each delayed by ``depth`` enabled cycles (``depth`` a power
    of two): one register per lane if ``depth`` is 1, else two delays of ``depth/2`` in a chain, so
    each depth is one module and a module's size does not grow with ``depth``.
    """

    def __init__(self, width: int, lanes: int, depth: int, modules: dict | None = None):
        self.width, self.lanes, self.depth, self.modules = width, lanes, depth, modules
        super().__init__({"enable": In(1), "d": In(width).array(lanes), "q": Out(width).array(lanes)})

    @staticmethod
    def module_name(width: int, lanes: int, depth: int) -> str:
        return f"{DELAY_MODULE}{depth}_{lanes}x{width}"

    def elaborate(self, platform):
        m = Module()
        if self.depth == 1:
            with m.If(self.enable):
                m.d.sync += [q.eq(d) for q, d in zip(self.q, self.d)]
            return m
        half = self.depth // 2
        first, second = (_place(m, f"delay_{i}", lambda: _Delay(self.width, self.lanes, half, self.modules),
                                _Delay.module_name(self.width, self.lanes, half), self.modules) for i in range(2))
        m.d.comb += [first.enable.eq(self.enable), second.enable.eq(self.enable)]
        m.d.comb += [a.eq(b) for a, b in zip(first.d, self.d)]
        m.d.comb += [a.eq(b) for a, b in zip(second.d, first.q)]
        m.d.comb += [a.eq(b) for a, b in zip(self.q, second.q)]
        return m


def _skew_values(m: Module, enable, lanes: list, name: str, modules: dict | None,
                 delays: list[int] | None = None) -> list:
    """Lane ``i`` delayed by ``delays[i]`` (default ``i``) enabled cycles, built from instanced delays.

    Stage ``k`` delays by 2**k the lanes whose delay has bit ``k`` set, through one `_Delay` of
    ``L`` lanes (the most any stage needs; spare lanes idle at 0). The registers are the same count
    as a triangle, but the design holds log2(n) delay modules of ``L`` lanes each, written once, and
    the module instantiating them only wires n lanes per stage.
    """
    delays = list(range(len(lanes))) if delays is None else delays
    width = len(lanes[0])
    stages = max(delays).bit_length()
    chosen = [[i for i, d in enumerate(delays) if d >> k & 1] for k in range(stages)]
    count = max((len(c) for c in chosen), default=0)
    current = list(lanes)
    for k, picked in enumerate(chosen):
        delay = _place(m, f"{name}_{k}", lambda k=k: _Delay(width, count, 1 << k, modules),
                       _Delay.module_name(width, count, 1 << k), modules)
        m.d.comb += delay.enable.eq(enable)
        m.d.comb += [delay.d[j].eq(current[i]) for j, i in enumerate(picked)]
        m.d.comb += [delay.d[j].eq(0) for j in range(len(picked), count)]
        for j, i in enumerate(picked):
            current[i] = delay.q[j]
    return current


def _history(m: Module, enable, value, depth: int, name: str) -> list:
    """``value`` now and as it was 1 … ``depth`` enabled cycles ago (a one-bit shift register)."""
    if depth == 0:
        return [value]
    past = Signal(depth, name=name)
    with m.If(enable):
        m.d.sync += past.eq(Cat(value, past[:-1]))
    return [value] + [past[d] for d in range(depth)]


def _count_ones(bits) -> object:
    """The number of set bits of ``bits`` as a balanced adder tree (a chain would nest per bit)."""
    terms = [bits[i] for i in range(len(bits))]
    while len(terms) > 1:
        terms = [terms[i] + terms[i + 1] if i + 1 < len(terms) else terms[i] for i in range(0, len(terms), 2)]
    return terms[0]


class SystolicArray(wiring.Component):
    """A systolic array generated from an `ArrayConfig` and a dataflow (see the module doc).

    With ``modules`` (a dict), the rows are an instance of a Verilog module and every module the
    design instantiates is recorded there once, by name, as the component that defines it (for
    Verilog export); without it the design is flat, as Amaranth's simulator needs.
    """

    def __init__(self, arch: ArrayConfig, dataflow: DataflowSpec, *, modules: dict | None = None):
        try:
            check_supported(arch, dataflow)
        except UnsupportedError:
            self._MustUse__silence = True  # never built, so never elaborated
            raise
        self.arch, self.dataflow, self.modules = arch, dataflow, modules
        R, C = arch.rows, arch.cols
        first, second = (operand_shape(arch, op) for op in port_operands(dataflow))
        ports = {
            "stream_valid": In(1), "stream_ready": Out(1), "stream_mask": In(R), "stream_last": In(1),
            "out_valid": Out(1), "out_ready": In(1),
            "out_data": Out(data.ArrayLayout(operand_shape(arch, "O"), C)),
        }
        # N:M: row r's step is its group of M inputs, elements r·M … r·M + M − 1 of stream_data
        group = arch.nm[1] if arch.nm is not None else 1
        if dataflow.mode == "stationary":
            ports |= {"load_valid": In(1), "load_ready": Out(1), "load_last": In(1),
                      "load_data": In(data.ArrayLayout(first, C)),
                      "stream_data": In(data.ArrayLayout(second, R * group))}
            if arch.nm is not None:
                ports["load_index"] = In(data.ArrayLayout(unsigned(nm_index_bits(arch.nm[1])), C))
        else:
            ports |= {"stream_data": In(data.ArrayLayout(first, R)),
                      "stream_top": In(data.ArrayLayout(second, C))}
        if gated(arch):  # the columns the tile uses (only their MACs count), and the counter
            ports["load_mask" if dataflow.mode == "stationary" else "stream_top_mask"] = In(C)
            ports["gated_count"] = Out(GATED_COUNT_BITS)
        super().__init__(ports)

    def elaborate(self, platform):
        m = Module()
        C = self.arch.cols
        enable = Signal()
        m.d.comb += enable.eq(~(self.out_valid & ~self.out_ready))

        kind = StationaryRows if self.dataflow.mode == "stationary" else OutputRows
        rows = _place(m, "rows", lambda: kind(self.arch, self.dataflow, self.arch.rows, self.modules),
                      f"{ROWS_MODULE}{self.arch.rows}", self.modules)
        m.d.comb += rows.enable.eq(enable)
        if gated(self.arch):  # every gated MAC event of an enabled cycle, modulo 2**GATED_COUNT_BITS
            with m.If(enable):
                m.d.sync += self.gated_count.eq(self.gated_count + rows.gated)
        if self.dataflow.mode == "stationary":
            values, valids = self._stationary(m, enable, rows)
        else:
            values, valids = self._output(m, enable, rows)

        # de-skew: column c waits C-1-c enabled cycles, so a whole row leaves at once
        values = _skew_values(m, enable, values[::-1], "dsk", self.modules)[::-1]
        valids = _skew(m, enable, valids[::-1], "dsk_v")[0][::-1]
        for c in range(C):
            m.d.comb += self.out_data[c].eq(values[c])
        m.d.comb += self.out_valid.eq(valids[0])
        return m

    # -- stationary dataflows (WS, IS) -------------------------------------------------------
    def _stationary(self, m: Module, enable, rows):
        arch = self.arch
        R, C = arch.rows, arch.cols
        banks = arch.stationary_banks

        # controller state
        st_active, st_bank = Signal(), Signal()
        ld_active, ld_bank = Signal(), Signal()
        avail = Signal(range(banks + 1))  # tiles loaded but not yet streaming
        outstanding = Signal(range(banks + 1))  # tiles loaded or loading whose stream is not done

        fire_s = Signal()
        m.d.comb += [self.stream_ready.eq(enable & (st_active | (avail != 0))),
                     fire_s.eq(self.stream_ready & self.stream_valid)]
        s_start, s_done = fire_s & ~st_active, fire_s & self.stream_last

        # skew: row r's token (value, valid, bank) waits r enabled cycles before entering column 0;
        # every lane of a stage was issued in the same cycle, so a stage's bank is one bit
        if arch.nm is None:
            lanes = [self.stream_data[r] for r in range(R)]
        else:  # a lane is the row's whole group of M
            M = arch.nm[1]
            lanes = [Cat(*(self.stream_data[r * M + j] for j in range(M))) for r in range(R)]
        xs = _skew_values(m, enable, lanes, "skw", self.modules)
        valid_in = [fire_s & self.stream_mask[r] for r in range(R)]
        valids, valid_stages = _skew(m, enable, valid_in, "skw_v")
        bank_at = _history(m, enable, st_bank, R - 1, "skw_b")

        # partial sums flow down; tiles shift down from the load port
        fire_l = Signal()
        m.d.comb += [rows.shift.eq(fire_l), rows.shift_bank.eq(ld_bank),
                     *(rows.x[r].eq(xs[r]) for r in range(R)), *(rows.x_valid[r].eq(valids[r]) for r in range(R)),
                     *(rows.x_bank[r].eq(bank_at[r]) for r in range(R)),
                     *(rows.w_in[c][b].eq(self.load_data[c]) for c in range(C) for b in range(banks))]
        if gated(arch):  # zero flags: detected once at the array's edge, then they ride with the values
            group = arch.nm[1] if arch.nm is not None else 1
            zeros, _ = _skew(m, enable, [Cat(*(self.stream_data[r * group + j] == 0 for j in range(group)))
                                         for r in range(R)], "skw_z")
            m.d.comb += [*(rows.x_zero[r].eq(zeros[r]) for r in range(R)),
                         *(rows.wz_in[c][b].eq(self.load_data[c] == 0) for c in range(C) for b in range(banks)),
                         *(rows.wu_in[c][b].eq(self.load_mask[c]) for c in range(C) for b in range(banks))]
        if arch.nm is not None:
            m.d.comb += [rows.i_in[c][b].eq(self.load_index[c]) for c in range(C) for b in range(banks)]

        # load port: a bank is reloaded once no token that reads it is left in flight, i.e. in the
        # skew or in a PE with a column still to its right (a token at column 0 counts if C > 1)
        def reads_loading_bank(bank):
            return (bank == ld_bank) if banks == 2 else 1
        skip = 0 if C > 1 else 1  # lane s+1 of stage s sits in front of column 0
        in_flight = [rows.busy]
        if R > skip:
            in_flight.append(Cat(*valid_in[skip:]).any() & reads_loading_bank(st_bank))
        in_flight += [stage[skip:].any() & reads_loading_bank(bank_at[s + 1])
                      for s, stage in enumerate(valid_stages) if len(stage) > skip]
        outstanding_now = Signal.like(outstanding)
        m.d.comb += [outstanding_now.eq(outstanding - s_done),
                     self.load_ready.eq(enable & (ld_active | ((outstanding_now < banks) & ~Cat(*in_flight).any()))),
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
        return [rows.p_out[c] for c in range(C)], [rows.p_out_valid[c] for c in range(C)]

    # -- output stationary ------------------------------------------------------------------
    def _output(self, m: Module, enable, rows):
        arch = self.arch
        R, C = arch.rows, arch.cols

        in_fold = Signal()
        prev_rows = Signal(range(R + 1))
        since = Signal(range(2 * R + 2))  # enabled cycles since the previous fold ended (saturating)

        hold_last = Const(0, 1)
        if arch.double_buffered:
            hold_last = self.stream_last & (since < os_last_beat_earliest(0, prev_rows))
        may_open = Const(1, 1) if arch.double_buffered else ~rows.busy
        fire = Signal()
        m.d.comb += [self.stream_ready.eq(enable & (in_fold | may_open) & ~hold_last),
                     fire.eq(self.stream_ready & self.stream_valid)]
        with m.If(fire):
            m.d.sync += in_fold.eq(~self.stream_last)
        with m.If(fire & self.stream_last):
            m.d.sync += [since.eq(0), prev_rows.eq(_count_ones(self.stream_mask))]
        with m.Elif(enable & (since < 2 * R + 1)):
            m.d.sync += since.eq(since + 1)

        # skew: left tokens (value, valid, first, last) wait r cycles, top values wait c cycles;
        # first and last are the same in every lane of a step, so their skew is one bit per stage
        xs = _skew_values(m, enable, [self.stream_data[r] for r in range(R)], "skl", self.modules)
        valids, _ = _skew(m, enable, [fire & self.stream_mask[r] for r in range(R)], "skl_v")
        firsts = _history(m, enable, ~in_fold, R - 1, "skl_f")
        lasts = _history(m, enable, self.stream_last, R - 1, "skl_l")
        tops = _skew_values(m, enable, [self.stream_top[c] for c in range(C)], "skt", self.modules)
        m.d.comb += [*(rows.x[r].eq(xs[r]) for r in range(R)), *(rows.x_valid[r].eq(valids[r]) for r in range(R)),
                     *(rows.x_first[r].eq(firsts[r]) for r in range(R)),
                     *(rows.x_last[r].eq(lasts[r]) for r in range(R)),
                     *(rows.y[c].eq(tops[c]) for c in range(C))]
        if gated(arch):  # zero flags: detected once at the array's edges, then they ride with the values
            zl, _ = _skew(m, enable, [self.stream_data[r] == 0 for r in range(R)], "skl_z")
            zt, _ = _skew(m, enable, [self.stream_top[c] == 0 for c in range(C)], "skt_z")
            ut, _ = _skew(m, enable, [self.stream_top_mask[c] for c in range(C)], "skt_u")
            m.d.comb += [*(rows.x_zero[r].eq(zl[r]) for r in range(R)), *(rows.y_zero[c].eq(zt[c]) for c in range(C)),
                         *(rows.y_used[c].eq(ut[c]) for c in range(C))]
        return [rows.o_out[c] for c in range(C)], [rows.o_out_valid[c] for c in range(C)]
