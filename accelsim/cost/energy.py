"""Energy = counts × a per-action table, per layer and per network (``docs/energy.md``).

A table (:class:`EnergyTable`) prices one action each: a MAC by operand widths, a gated MAC, a PE
register byte, an SRAM byte by buffer size class, a DRAM byte, and leakage per PE and per KiB of
SRAM per cycle. :func:`layer_energy` multiplies a :class:`~accelsim.sim.results.LayerResult`'s
counts by it. Arithmetic is exact (:class:`~fractions.Fraction`; a table's decimal ``0.3`` is 3/10);
reported figures are rounded to 3 decimals (half to even) only at the end.

Examples
--------
>>> from accelsim.arch import ArrayConfig
>>> from accelsim.sim.results import LayerResult
>>> table = load_energy_table("horowitz45")
>>> r = LayerResult.from_dict({"name": "fc", "kind": "linear", "op": "linear", "shape": "", "unit": "array",
...     "macs": 10, "cycles": 4, "compute_cycles": 4, "stall_cycles": 0, "utilization": 0.0, "folds": 1,
...     "stream_cycles": 1, "issued_macs": 10,
...     "precision": {"input": "int8", "weight": "int8", "output": "int8", "accumulator": "int32"}})
>>> e = layer_energy(r, ArrayConfig(rows=2, cols=2), table)
>>> e.by_component["mac"], e.by_component["pe_register"], e.total_pj
(3.0, 15.0, 18.0)
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cache, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ..counts import BUFFER, MacCounts, Traffic
from ..errors import SpecError, UnsupportedError, did_you_mean
from ..precision import FLOAT_DATAPATHS
from ..specio import Fields, read_yaml_file

if TYPE_CHECKING:
    from ..mapping.plan import Precision

TABLES_DIR = Path(__file__).resolve().parent / "tables"
UNITS = ("pJ", "mac")  # a table in pJ, or relative to one 8-bit MAC
MAC_SCALINGS = ("product", "constant")
COMPONENTS = ("mac", "gated_mac", "pe_register", "sram", "dram", "leakage")
OPERANDS = ("I", "W", "O", "none")
_RATIONAL = re.compile(r"\s*([0-9]+)\s*/\s*([1-9][0-9]*)\s*")


@lru_cache(maxsize=1024)
def _exact(x: float) -> Fraction:
    """A table number as the decimal its author wrote (``0.3`` is 3/10, not the nearest double)."""
    return Fraction(x) if isinstance(x, int) else Fraction(repr(float(x)))


@dataclass(frozen=True)
class SramClass:
    """SRAM energy per byte (read or write) of buffers up to ``max_kib`` KiB."""

    max_kib: float
    pj: float


@dataclass(frozen=True)
class FloatMac:
    """One MAC of a floating-point datapath (``ArrayConfig.datapath``): the format's multiply and the
    fp32 accumulate, each exact (a table writes them as decimals or ratios such as ``"8/55"``)."""

    mult: Fraction
    add: Fraction

    @property
    def total(self) -> Fraction:
        return self.mult + self.add


@dataclass(frozen=True)
class EnergyTable:
    """Energy per action, in pJ (the ``normalised`` table: in units of one 8-bit MAC).

    ``mac_8x8`` is an 8-bit × 8-bit multiply with its 32-bit accumulate; with ``mac_scaling:
    product`` the multiplier share ``1 − mac_adder_fraction`` scales with ``bi·bw/64`` and the adder
    share with ``acc_bits/32`` (``constant``: every MAC costs ``mac_8x8``). ``sram_per_byte`` is a
    tuple of size classes by increasing ``max_kib``; a buffer larger than the last class pays the
    last class × √(size / max_kib). ``mac_float`` prices a MAC of each floating-point datapath it
    names (``(("bf16", FloatMac(...)), ...)``; a YAML mapping ``{bf16: {mult: 1.1, add: 0.9}}``): a
    float MAC is never priced from ``mac_8x8``, and a datapath the table does not name is refused.
    """

    name: str
    source: str
    mac_8x8: float
    mac_scaling: str
    mac_adder_fraction: Fraction
    gated_mac_fraction: float
    pe_register_per_byte: float
    sram_per_byte: tuple[SramClass, ...]
    dram_per_byte: float
    leakage_per_pe_cycle: float = 0.0
    leakage_per_kib_cycle: float = 0.0
    unit: str = "pJ"  # "pJ", or "mac" for tables relative to one 8-bit MAC (normalised)
    mac_float: tuple[tuple[str, FloatMac], ...] = ()

    def __post_init__(self):
        if isinstance(self.mac_float, dict):  # a mapping is accepted, stored as a hashable tuple
            object.__setattr__(self, "mac_float", tuple(self.mac_float.items()))

    # -- derived prices (exact) -------------------------------------------------------------
    @lru_cache(maxsize=256)  # noqa: B019 -- a few long-lived tables; the bundled ones live for the process
    def mac_pj(self, bi: int, bw: int, acc: int, serial_bits: int = 1) -> Fraction:
        """Energy of one MAC of ``bi``-bit inputs, ``bw``-bit weights, an ``acc``-bit accumulator.

        Bit-serial (``serial_bits = b``): ``b`` one-bit partial products, each with its accumulate:
        ``b · mac(1, other, acc)`` = the multiplier share of ``mac(bi, bw)`` plus ``b`` adds.

        Examples
        --------
        >>> t = load_energy_table("horowitz45")
        >>> t.mac_pj(8, 8, 32), t.mac_pj(8, 4, 32), t.mac_pj(8, 8, 32, serial_bits=8)
        (Fraction(3, 10), Fraction(1, 5), Fraction(1, 1))
        """
        base = _exact(self.mac_8x8)
        if self.mac_scaling == "constant":
            return base * serial_bits
        adder = self.mac_adder_fraction
        return base * ((1 - adder) * Fraction(bi * bw, 64) + adder * Fraction(acc * serial_bits, 32))

    def float_mac_pj(self, datapath: str) -> Fraction:
        """Energy of one MAC of a floating-point datapath: its format's multiply + the fp32 accumulate.

        Examples
        --------
        >>> t = load_energy_table("horowitz45")
        >>> t.float_mac_pj("bf16"), t.float_mac_pj("fp8_e4m3"), t.float_mac_pj("fp8_e5m2")
        (Fraction(2, 1), Fraction(23, 22), Fraction(54, 55))
        """
        for name, mac in self.mac_float:
            if name == datapath:
                return mac.total
        raise UnsupportedError(f"energy table '{self.name}' prices no {datapath} MAC (give it mac_float.{datapath}: "
                               "{mult, add}); a floating-point MAC is never priced as an integer one")

    @lru_cache(maxsize=256)  # noqa: B019 -- as mac_pj
    def sram_pj(self, size_kib: float) -> Fraction:
        """Energy per byte of a buffer of ``size_kib`` KiB: its size class (√-scaled past the last).

        Examples
        --------
        >>> t = load_energy_table("horowitz45")
        >>> t.sram_pj(8), t.sram_pj(8.5), t.sram_pj(4096)
        (Fraction(5, 4), Fraction(5, 2), Fraction(25, 1))
        """
        for cls in self.sram_per_byte:
            if size_kib <= cls.max_kib:
                return _exact(cls.pj)
        last = self.sram_per_byte[-1]
        ratio = Fraction(repr(float(size_kib))) / _exact(last.max_kib)
        root = _exact_sqrt(ratio)
        return _exact(last.pj) * (root if root is not None else Fraction(repr(math.sqrt(ratio))))

    def to_dict(self) -> dict[str, Any]:
        out = {"name": self.name, "source": self.source, "mac_8x8": self.mac_8x8, "mac_scaling": self.mac_scaling,
               "mac_adder_fraction": str(self.mac_adder_fraction), "gated_mac_fraction": self.gated_mac_fraction,
               "pe_register_per_byte": self.pe_register_per_byte,
               "sram_per_byte": [{"max_kib": c.max_kib, "pj": c.pj} for c in self.sram_per_byte],
               "dram_per_byte": self.dram_per_byte, "leakage_per_pe_cycle": self.leakage_per_pe_cycle,
               "leakage_per_kib_cycle": self.leakage_per_kib_cycle, "unit": self.unit}
        if self.mac_float:  # written only when given: a table without it keeps its dict (and digest)
            out["mac_float"] = {name: {"mult": _written(mac.mult), "add": _written(mac.add)}
                                for name, mac in self.mac_float}
        return out

    @classmethod
    def from_dict(cls, data: Any, *, file: str | None = None) -> EnergyTable:
        """Read a table strictly: every problem is a one-line :class:`SpecError` naming the field."""
        f = Fields(data, where="EnergyTable", file=file)
        table = cls(
            name=f.str("name"),
            source=f.str("source"),
            mac_8x8=f.number("mac_8x8"),
            mac_scaling=f.str("mac_scaling", "product", choices=MAC_SCALINGS),
            mac_adder_fraction=_fraction(f, "mac_adder_fraction", Fraction(1, 3)),
            gated_mac_fraction=f.number("gated_mac_fraction", low=0.0, high=1.0, low_open=False),
            pe_register_per_byte=f.number("pe_register_per_byte", low=0.0, low_open=False),
            sram_per_byte=_sram_classes(f),
            dram_per_byte=f.number("dram_per_byte", low=0.0, low_open=False),
            leakage_per_pe_cycle=f.number("leakage_per_pe_cycle", 0.0, low=0.0, low_open=False),
            leakage_per_kib_cycle=f.number("leakage_per_kib_cycle", 0.0, low=0.0, low_open=False),
            unit=f.str("unit", "pJ", choices=UNITS),
            mac_float=_float_macs(f),
        )
        f.done()
        return table


def _exact_sqrt(x: Fraction) -> Fraction | None:
    num, den = math.isqrt(x.numerator), math.isqrt(x.denominator)
    return Fraction(num, den) if num * num == x.numerator and den * den == x.denominator else None


def _fraction(f: Fields, key: str, default: Fraction) -> Fraction:
    """A number in [0, 1], or a ratio written ``"1/3"``."""
    value = f.raw(key, default)
    if isinstance(value, Fraction):
        return value
    if isinstance(value, str):
        match = _RATIONAL.fullmatch(value)
        if match and int(match[1]) <= int(match[2]):
            return Fraction(int(match[1]), int(match[2]))
        raise f.error(key, f"must be a number in [0, 1] or a ratio like '1/3', not {value!r}")
    return _exact(f.number(key, low=0.0, high=1.0, low_open=False))


def _amount(f: Fields, key: str) -> Fraction:
    """An energy ≥ 0: a number (read as the decimal written) or a ratio written ``"8/55"``."""
    value = f.raw(key)
    if isinstance(value, str):
        match = _RATIONAL.fullmatch(value)
        if match:
            return Fraction(int(match[1]), int(match[2]))
        raise f.error(key, f"must be a number ≥ 0 or a ratio like '8/55', not {value!r}")
    return _exact(f.number(key, low=0.0, low_open=False))


def _written(x: Fraction) -> float | int | str:
    """An exact amount as a table writes it: the decimal when it is one, else ``"p/q"``."""
    if x.denominator == 1:
        return int(x)
    return float(x) if _exact(float(x)) == x else f"{x.numerator}/{x.denominator}"


def _float_macs(f: Fields) -> tuple[tuple[str, FloatMac], ...]:
    """``mac_float``: for each floating-point datapath priced, its multiply and its fp32 accumulate."""
    if not f.has("mac_float"):
        return ()
    sub = f.sub("mac_float")
    out = []
    for name in sub.data:
        if name not in FLOAT_DATAPATHS:
            raise sub.error(name, "is not a floating-point datapath: one of " + ", ".join(FLOAT_DATAPATHS)
                            + did_you_mean(str(name), FLOAT_DATAPATHS))
        entry = sub.sub(name)
        out.append((str(name), FloatMac(mult=_amount(entry, "mult"), add=_amount(entry, "add"))))
        entry.done()
    return tuple(out)


def _sram_classes(f: Fields) -> tuple[SramClass, ...]:
    value = f.raw("sram_per_byte")
    if not isinstance(value, list) or not value:
        raise f.error("sram_per_byte", "must be a non-empty list of {max_kib, pj} size classes")
    classes: list[SramClass] = []
    lines = getattr(f.data, "key_lines", {})
    for i, item in enumerate(value):
        c = Fields(item, where=f"{f.path('sram_per_byte')}[{i}]", file=f.file,
                   line=lines.get("sram_per_byte", f.line))
        cls = SramClass(max_kib=c.number("max_kib"), pj=c.number("pj", low=0.0, low_open=False))
        c.done()
        if classes and cls.max_kib <= classes[-1].max_kib:
            raise c.error("max_kib", f"must be larger than the previous class's ({classes[-1].max_kib:g} KiB): "
                                     f"size classes go by increasing max_kib, not {cls.max_kib:g}")
        classes.append(cls)
    return tuple(classes)


def bundled_tables() -> list[str]:
    """Names of the bundled tables (``horowitz45``, ``normalised``)."""
    return sorted(p.stem for p in TABLES_DIR.glob("*.yaml"))


def _load_path(path: str) -> EnergyTable:
    return EnergyTable.from_dict(read_yaml_file(path), file=path)


@cache
def _load_bundled(name: str) -> EnergyTable:
    return _load_path(str(TABLES_DIR / f"{name}.yaml"))


def load_energy_table(name_or_path: str | Path = "horowitz45") -> EnergyTable:
    """A bundled table by name, or a YAML file by path.

    Examples
    --------
    >>> load_energy_table("horowitz45").dram_per_byte
    162.5
    >>> load_energy_table("horowitz")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    accelsim.errors.SpecError: unknown energy table 'horowitz': ... (did you mean 'horowitz45'?)
    """
    text = str(name_or_path)
    names = bundled_tables()
    if text in names:
        return _load_bundled(text)
    path = Path(text)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return _load_path(str(path))
    raise SpecError(f"unknown energy table '{text}': not a bundled table ({', '.join(names)}) nor a YAML file"
                    + did_you_mean(text, names))


# -- energy of results ------------------------------------------------------------------------
@dataclass(frozen=True)
class EnergyBreakdown:
    """Energy of a layer or network, in the table's unit (pJ), rounded to 3 decimals.

    ``by_component`` and ``by_operand`` each add up to ``total_pj`` before rounding; ``exact``
    keeps the unrounded components and operands (for summing layers without drift).
    """

    total_pj: float
    by_component: dict[str, float]
    by_operand: dict[str, float]
    exact: dict[str, dict[str, Fraction]] = field(repr=False, compare=False, default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"energy_pj": self.total_pj, "by_component": dict(self.by_component),
                "by_operand": dict(self.by_operand)}

    @classmethod
    def from_exact(cls, components: dict[str, Fraction], operands: dict[str, Fraction]) -> EnergyBreakdown:
        total = sum(components.values(), Fraction(0))
        return cls(total_pj=_round(total), by_component={k: _round(components[k]) for k in COMPONENTS},
                   by_operand={k: _round(operands[k]) for k in OPERANDS},
                   exact={"component": dict(components), "operand": dict(operands)})


def _round(x: Fraction) -> float:
    return float(round(x, 3))


class PricedCounts(Protocol):
    """What the energy table prices: a layer result (:class:`~accelsim.sim.results.LayerResult`)."""

    @property
    def unit(self) -> str: ...
    @property
    def cycles(self) -> int: ...
    @property
    def traffic(self) -> Traffic: ...
    @property
    def mac_counts(self) -> MacCounts: ...
    @property
    def precision(self) -> Precision | None: ...


def layer_energy(result: PricedCounts, arch: Any, table: EnergyTable) -> EnergyBreakdown:
    """Energy of one layer: its counts × ``table``. See ``docs/energy.md`` for every formula."""
    return EnergyBreakdown.from_exact(*_layer_exact(result, arch, table))


def _layer_exact(result: PricedCounts, arch: Any,
                 table: EnergyTable) -> tuple[dict[str, Fraction], dict[str, Fraction]]:
    """Exact energy of one layer by component and by operand."""
    if result.unit == "vector" or result.precision is None:
        comp, oper = {k: Fraction(0) for k in COMPONENTS}, {k: Fraction(0) for k in OPERANDS}
        for op in BUFFER:  # a vector layer's DRAM reads (an embedding lookup's rows), priced as an array layer's
            dram = result.traffic[op].dram_total * _exact(table.dram_per_byte)
            comp["dram"] += dram
            oper[op] += dram
    else:
        comp, oper = dynamic_exact(result.traffic, result.mac_counts, result.precision, arch, table)
    leak = result.cycles * leakage_per_cycle(arch, table)
    comp["leakage"] = leak
    oper["none"] += leak
    return comp, oper


def leakage_per_cycle(arch: Any, table: EnergyTable) -> Fraction:
    """Leakage of the whole array and its buffers in one cycle (exact).

    Examples
    --------
    >>> from accelsim.arch import ArrayConfig
    >>> table = EnergyTable.from_dict(load_energy_table("horowitz45").to_dict() | {"leakage_per_pe_cycle": 0.01})
    >>> leakage_per_cycle(ArrayConfig(rows=2, cols=2), table)  # 4 PEs; the bundled tables leak nothing
    Fraction(1, 25)
    """
    mem = arch.memory
    total_kib = _exact(mem.ifmap_kib) + _exact(mem.filter_kib) + _exact(mem.ofmap_kib)
    return arch.pes * _exact(table.leakage_per_pe_cycle) + total_kib * _exact(table.leakage_per_kib_cycle)


def dynamic_exact(traffic: Traffic, macs: MacCounts, precision: Precision, arch: Any,
                  table: EnergyTable) -> tuple[dict[str, Fraction], dict[str, Fraction]]:
    """An array layer's energy without leakage, by component and operand (exact; leakage is 0 here).

    Leakage is ``cycles × leakage_per_cycle``; keeping it apart lets a design-space run price a
    layer's counts once and its cycles per DRAM configuration.
    """
    active = macs.issued - macs.gated
    # every action: (component, operand) -> how many (an integer count); priced below
    counts = {("mac", "none"): active, ("gated_mac", "none"): macs.gated,
              ("pe_register", "I"): macs.issued, ("pe_register", "W"): macs.issued, ("pe_register", "O"): active}
    for op in BUFFER:
        c = traffic[op]
        counts["sram", op] = c.sram_reads + c.sram_writes
        counts["dram", op] = c.dram_total
    numerators, denominator = _prices(table, arch, precision)
    comp_n = dict.fromkeys(COMPONENTS, 0)
    oper_n = dict.fromkeys(OPERANDS, 0)
    for (component, operand), n in counts.items():
        amount = n * numerators[component, operand]
        comp_n[component] += amount
        oper_n[operand] += amount
    return ({k: Fraction(v, denominator) for k, v in comp_n.items()},
            {k: Fraction(v, denominator) for k, v in oper_n.items()})


def _prices(table: EnergyTable, arch: Any, precision: Precision) -> tuple[dict[tuple[str, str], int], int]:
    """The price of one of each action of :func:`dynamic_exact`, as integer numerators over one
    common denominator (so a layer's energy is integer sums, made a fraction once): cached per
    table, widths and buffer sizes, which a design-space run repeats for thousands of layers."""
    mem = arch.memory
    key = (precision, arch.input_bits, arch.weight_bits, arch.acc_bits, mem.ifmap_kib, mem.filter_kib,
           mem.ofmap_kib, arch.pe_style)
    cache = table.__dict__.setdefault("_price_cache", {})  # on the (frozen) table: dies with it
    if key in cache:
        return cache[key]
    acc = precision.acc_bits
    bi, bw = precision.mac_bits  # as the PE holds them: a float datapath's format, whatever is stored
    fusion, serial = precision.fusion, precision.serial_bits
    if precision.datapath != "int":
        # the datapath's multiply and an fp32 add, whatever the operands were before conversion
        mac = table.float_mac_pj(precision.datapath)
    elif arch.pe_style == "fusible":
        # A fused PE runs all its bricks and its shift-add tree every cycle, as a full-width multiply
        # does, and accumulates once: one full-width MAC per PE-cycle, shared by its `fusion` MACs.
        mac = table.mac_pj(arch.input_bits, arch.weight_bits, acc) / fusion
    else:
        mac = table.mac_pj(bi, bw, acc, serial)
    # PE registers: both operands per issued MAC (gated ones too: operand isolation latches them);
    # the partial sum is read and written once per PE step: b times per MAC bit-serial, 1/f fused.
    reg = _exact(table.pe_register_per_byte)
    stored_i, stored_w = precision.I.bits, precision.W.bits  # buffers hold the operands as stored
    word = {"I": Fraction(stored_i, 8) * fusion,
            "W": Fraction(stored_w, 8) * fusion + Fraction(precision.index_bits, 8),
            "O": Fraction(acc, 8)}
    prices = {("mac", "none"): mac, ("gated_mac", "none"): _exact(table.gated_mac_fraction) * mac,
              ("pe_register", "I"): Fraction(bi, 8) * reg, ("pe_register", "W"): Fraction(bw, 8) * reg,
              ("pe_register", "O"): 2 * Fraction(acc, 8) * Fraction(serial, fusion) * reg}
    for op, buf in BUFFER.items():
        prices["sram", op] = word[op] * table.sram_pj(getattr(mem, f"{buf}_kib"))
        prices["dram", op] = _exact(table.dram_per_byte)
    denominator = math.lcm(*(p.denominator for p in prices.values()))
    cache[key] = ({k: p.numerator * (denominator // p.denominator) for k, p in prices.items()}, denominator)
    return cache[key]


def network_energy(results: Iterable[PricedCounts] | Any, arch: Any, table: EnergyTable) -> EnergyBreakdown:
    """Energy of every layer summed (exactly, then rounded once); ``results`` may be a ``SimResult``."""
    layers = getattr(results, "layers", results)
    comp = {k: Fraction(0) for k in COMPONENTS}
    oper = {k: Fraction(0) for k in OPERANDS}
    for r in layers:
        layer_comp, layer_oper = _layer_exact(r, arch, table)
        for k in COMPONENTS:
            comp[k] += layer_comp[k]
        for k in OPERANDS:
            oper[k] += layer_oper[k]
    return EnergyBreakdown.from_exact(comp, oper)
