"""`SystemConfig`: an accelerator of cores sharing a memory system (``docs/multicore.md``).

A system is data: cores (each an :class:`ArrayConfig` with its private buffers; identical or a
list of different ones), an optional global buffer between the cores and DRAM, DRAM shared by
every core, and an on-chip network. One core and no global buffer *is* an :class:`ArrayConfig`
and gives its numbers byte for byte (:meth:`SystemConfig.single`).

How the shared levels are divided: each core owns ``1/N`` of the shared level's bandwidth (a
channel-partitioned memory system), capped by its own port (``memory.dram_bytes_per_cycle`` of the
core's ``ArrayConfig``) and its network link, so cores contend only through that share and the
shared level never delivers more than its bandwidth. The core's view of the memory system is
:meth:`SystemConfig.core_view`: the core with its share as its DRAM bandwidth and the shared
latency (DRAM latency plus network hops) as its DRAM latency, so the one memory model
(:mod:`accelsim.sim.memory`) times every core.

Examples
--------
>>> from accelsim.arch import resolve_arch
>>> one = SystemConfig.single(resolve_arch("sa32"))
>>> one.core_view(0) == resolve_arch("sa32")
True
>>> quad = SystemConfig(name="q", cores=(resolve_arch("sa32"),) * 4, dram=Dram(bytes_per_cycle=32))
>>> quad.core_view(0).memory.dram_bytes_per_cycle
8.0
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from fractions import Fraction
from functools import cached_property
from pathlib import Path
from typing import Any

from ..errors import SpecError, UnsupportedError, did_you_mean
from ..specio import Fields, read_yaml_file
from .config import DRAM_BYTES_PER_CYCLE, MAX_BUFFER_KIB, MAX_LATENCY_CYCLES, ArrayConfig, stable_digest

SYSTEM_VERSION = 1
MAX_CORES = 4096  # an A100 has 432 tensor cores; 4096 arrays is beyond any single package
TOPOLOGIES = ("crossbar", "ring", "mesh")
MAX_PJ = 1e6  # per byte or byte-hop: a nanojoule per byte is already DRAM-class; a microjoule is a typo


@dataclass(frozen=True)
class Dram:
    """DRAM shared by every core: bandwidth, latency and capacity (0: not stated).

    Its energy per byte is the energy table's ``dram`` action (``docs/energy.md``), as for one core.
    """

    bytes_per_cycle: float
    latency_cycles: int = 0
    capacity_gib: float = 0.0

    def __post_init__(self):
        _read_dram(Fields(_as_dict(self), where="SystemConfig.dram"))
        object.__setattr__(self, "bytes_per_cycle", float(self.bytes_per_cycle))
        object.__setattr__(self, "capacity_gib", float(self.capacity_gib))


def _read_dram(f: Fields) -> dict[str, Any]:
    return dict(bytes_per_cycle=f.number("bytes_per_cycle", low=DRAM_BYTES_PER_CYCLE[0], high=DRAM_BYTES_PER_CYCLE[1],
                                         low_open=False),
                latency_cycles=f.int("latency_cycles", 0, minimum=0, maximum=MAX_LATENCY_CYCLES),
                capacity_gib=f.number("capacity_gib", 0.0, low=0.0, high=2.0**20, low_open=False))


@dataclass(frozen=True)
class GlobalBuffer:
    """An SRAM level shared by the cores, between them and DRAM.

    ``pj_per_byte`` None (the default) is the energy table's SRAM energy per byte for an SRAM of
    ``kib`` (as for the cores' buffers, ``docs/energy.md``).
    """

    kib: float
    bytes_per_cycle: float
    pj_per_byte: float | None = None

    def __post_init__(self):
        _read_global_buffer(Fields({k: v for k, v in _as_dict(self).items() if v is not None},
                                   where="SystemConfig.global_buffer"))
        for name in ("kib", "bytes_per_cycle", "pj_per_byte"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, float(getattr(self, name)))

    @property
    def bytes(self) -> int:
        return int(self.kib * 1024)


def _read_global_buffer(f: Fields) -> dict[str, Any]:
    return dict(kib=f.number("kib", high=MAX_BUFFER_KIB),
                bytes_per_cycle=f.number("bytes_per_cycle", low=DRAM_BYTES_PER_CYCLE[0],
                                         high=DRAM_BYTES_PER_CYCLE[1], low_open=False),
                pj_per_byte=None if f.raw("pj_per_byte", None) is None
                else f.number("pj_per_byte", low=0.0, high=MAX_PJ, low_open=False))


@dataclass(frozen=True)
class Network:
    """The on-chip network joining the cores to each other and to the shared memory.

    ``crossbar``: every core one hop from memory and from every other core. ``ring``: cores on a
    bidirectional ring with the memory interface at core 0's router. ``mesh``: ``mesh_rows ×
    mesh_cols`` routers (one core each) with the memory interface on the west edge, next to
    column 0. A core's memory traffic crosses ``hops(core)`` links: each costs
    ``hop_latency_cycles`` once per layer (the first operands' trip) and ``pj_per_byte_hop`` per
    byte; a core's link caps its share of the shared bandwidth at ``link_bytes_per_cycle``, and a K
    split's partial sums are reduced over the links. ``link_bytes_per_cycle`` 0 (the default) means no
    dedicated links: cores reach memory through their ports only, and exchange partial sums through
    the shared memory level (the global buffer, or DRAM) at their shares of it.
    """

    topology: str = "crossbar"
    link_bytes_per_cycle: float = 0.0
    hop_latency_cycles: int = 0
    pj_per_byte_hop: float = 0.0
    mesh_rows: int = 0
    mesh_cols: int = 0

    def __post_init__(self):
        _read_network(Fields(_as_dict(self), where="SystemConfig.network"))
        for name in ("link_bytes_per_cycle", "pj_per_byte_hop"):
            object.__setattr__(self, name, float(getattr(self, name)))

    @property
    def has_links(self) -> bool:
        """Whether the network has dedicated links (else cores meet only in the shared memory level)."""
        return self.link_bytes_per_cycle > 0

    @property
    def link_cap(self) -> Fraction:
        """What a core's link lets through per cycle (no cap without dedicated links)."""
        return Fraction(self.link_bytes_per_cycle) if self.has_links else Fraction(10**18)

    def hops(self, core: int, cores: int) -> int:
        """Links between core ``core`` (of ``cores``) and the memory interface.

        Examples
        --------
        >>> [Network("ring").hops(i, 8) for i in range(8)]
        [1, 2, 3, 4, 5, 4, 3, 2]
        >>> [Network("mesh", mesh_rows=2, mesh_cols=2).hops(i, 4) for i in range(4)]
        [1, 2, 1, 2]
        """
        if self.topology == "ring":
            return 1 + min(core, cores - core)
        if self.topology == "mesh":
            return 1 + core % self.mesh_cols
        return 1


def _link(f: Fields) -> float:
    """``link_bytes_per_cycle``: 0 (no dedicated links) or a bandwidth."""
    value = f.raw("link_bytes_per_cycle", 0)
    if value == 0 and not isinstance(value, bool):
        return 0.0
    try:
        return f.number("link_bytes_per_cycle", low=DRAM_BYTES_PER_CYCLE[0], high=DRAM_BYTES_PER_CYCLE[1],
                        low_open=False)
    except SpecError as err:
        raise SpecError(err.message.replace("must be ", "must be 0 (no dedicated links) or ", 1), file=err.file,
                        path=err.path, line=err.line) from None


def _read_network(f: Fields) -> dict[str, Any]:
    out = dict(topology=f.str("topology", "crossbar", choices=TOPOLOGIES),
               link_bytes_per_cycle=_link(f),
               hop_latency_cycles=f.int("hop_latency_cycles", 0, minimum=0, maximum=MAX_LATENCY_CYCLES),
               pj_per_byte_hop=f.number("pj_per_byte_hop", 0.0, low=0.0, high=MAX_PJ, low_open=False),
               mesh_rows=f.int("mesh_rows", 0, minimum=0, maximum=MAX_CORES),
               mesh_cols=f.int("mesh_cols", 0, minimum=0, maximum=MAX_CORES))
    rows, cols = out["mesh_rows"], out["mesh_cols"]
    if out["topology"] == "mesh" and not (rows and cols):  # name the one missing, not always mesh_rows
        raise f.error("mesh_cols" if rows else "mesh_rows",
                      "must be given for a mesh (mesh_rows × mesh_cols routers, one per core)")
    if out["topology"] != "mesh" and (rows or cols):  # name the one given
        raise f.error("mesh_rows" if rows else "mesh_cols", f"describes a mesh, not a {out['topology']}")
    return out


@dataclass(frozen=True)
class SystemConfig:
    """Cores, their shared memory system and network.

    Parameters
    ----------
    cores
        One :class:`ArrayConfig` per core (a core's ``memory`` holds its private buffers, and its
        ``dram_bytes_per_cycle`` is the core's port to the shared level).
    dram
        DRAM shared by the cores.
    global_buffer
        An optional shared SRAM level (None: cores read DRAM directly).
    network
        The on-chip network (default: an ideal crossbar, one hop of no latency and no energy).
    """

    name: str
    cores: tuple[ArrayConfig, ...]
    dram: Dram
    global_buffer: GlobalBuffer | None = None
    network: Network = field(default_factory=Network)

    def __post_init__(self):
        if isinstance(self.cores, list):
            object.__setattr__(self, "cores", tuple(self.cores))
        where = Fields({}, where="SystemConfig")
        if not self.cores:
            raise where.error("cores", "must list at least one core, not none")
        if len(self.cores) > MAX_CORES:
            raise where.error("cores", f"must be at most {MAX_CORES:,} cores, not {len(self.cores):,}")
        clocks = sorted({core.clock_mhz for core in self.cores})
        if len(clocks) > 1:  # a schedule counts one clock's cycles: cores on other clocks would be silently wrong
            raise UnsupportedError(str(where.error("cores", _clock_message(clocks))))
        net = self.network
        n = len(self.cores)
        if n > 1 and Fraction(self.shared_bytes_per_cycle) / n < Fraction(DRAM_BYTES_PER_CYCLE[0]):
            level = "global_buffer.bytes_per_cycle" if self.global_buffer else "dram.bytes_per_cycle"
            raise where.error(level, f"= {self.shared_bytes_per_cycle:g} shared by {n} cores leaves each less than "
                                     f"{DRAM_BYTES_PER_CYCLE[0]:g} B/cycle")
        worst = self.dram.latency_cycles + max(net.hops(i, n) for i in range(n)) * net.hop_latency_cycles
        if worst > MAX_LATENCY_CYCLES:
            raise where.error("network", f"dram.latency_cycles + hops × hop_latency_cycles reaches {worst:,} cycles, "
                                         f"more than {MAX_LATENCY_CYCLES:,}")
        if net.topology == "mesh" and net.mesh_rows * net.mesh_cols != len(self.cores):
            raise where.error("network", f"mesh {net.mesh_rows}×{net.mesh_cols} has {net.mesh_rows * net.mesh_cols} "
                                         f"routers, not one per core ({len(self.cores)} cores)")

    # -- derived ----------------------------------------------------------------------------
    @classmethod
    def single(cls, arch: ArrayConfig) -> SystemConfig:
        """The one-core system that *is* ``arch`` (its DRAM, no global buffer, no network cost)."""
        return cls(name=arch.name, cores=(arch,),
                   dram=Dram(arch.memory.dram_bytes_per_cycle, arch.memory.dram_latency_cycles))

    @cached_property  # (cached in the instance's __dict__: not a field, no part of == or hash)
    def is_single_array(self) -> bool:
        """One core that sees exactly its own DRAM (bandwidth and latency), no global buffer and no network
        energy: it behaves as its :class:`ArrayConfig`, whatever the system's name or topology."""
        if len(self.cores) != 1 or self.global_buffer is not None or self.network.pj_per_byte_hop:
            return False
        mem, net = self.cores[0].memory, self.network
        share = min(Fraction(mem.dram_bytes_per_cycle), net.link_cap, Fraction(self.dram.bytes_per_cycle))
        latency = self.dram.latency_cycles + net.hops(0, 1) * net.hop_latency_cycles
        return share == Fraction(mem.dram_bytes_per_cycle) and latency == mem.dram_latency_cycles

    @property
    def identical(self) -> bool:
        """Whether every core is the same array."""
        return all(core == self.cores[0] for core in self.cores)

    @property
    def shared_bytes_per_cycle(self) -> float:
        """Bandwidth of the level the cores read: the global buffer's, else DRAM's."""
        return self.global_buffer.bytes_per_cycle if self.global_buffer else self.dram.bytes_per_cycle

    def core_view(self, index: int) -> ArrayConfig:
        """Core ``index`` as the memory model sees it: its share of the shared bandwidth and the
        shared latency as its DRAM (``docs/multicore.md``). The one-core system's view is its array.

        Views are memoised on the instance: a module-level cache keyed by the system would hash
        every core's ``ArrayConfig`` on each call (a frozen dataclass does not keep its hash), which
        made the 432-core ``a100-like`` spend most of its scheduling time hashing."""
        views = self.__dict__.get("_views")
        if views is None:
            views = {}
            object.__setattr__(self, "_views", views)  # not a field: no part of ==, hash or repr
        if index not in views:
            views[index] = self._view(index)
        return views[index]

    def plan_view(self, index: int) -> ArrayConfig:
        """:meth:`core_view` of the first core that differs from this one only in name: cores that differ only
        in name share their plans (memoised like the views)."""
        views = self.__dict__.setdefault("_plan_views", {})
        if index not in views:
            first = self.__dict__.setdefault("_first_alike", {})  # a view without its name -> the first core's
            view = self.core_view(index)
            views[index] = first.setdefault(view.with_changes(name="core"), view)
        return views[index]

    def share(self, index: int) -> Fraction:
        return self._shares[index]

    @cached_property
    def _shares(self) -> tuple[Fraction, ...]:
        return tuple(self._share(i) for i in range(len(self.cores)))

    def _share(self, index: int) -> Fraction:
        """Core ``index``'s bandwidth to the shared level, exactly (bytes per cycle): the view's float
        rounds ``shared / N`` down; transfers are timed with this.

        Examples
        --------
        >>> from accelsim.arch import resolve_arch
        >>> SystemConfig(name="t", cores=(resolve_arch("sa32"),) * 3, dram=Dram(bytes_per_cycle=16)).share(0)
        Fraction(16, 3)
        """
        core = self.cores[index]
        if self.is_single_array:
            return Fraction(core.memory.dram_bytes_per_cycle)
        return min(Fraction(core.memory.dram_bytes_per_cycle), self.network.link_cap,
                   Fraction(self.shared_bytes_per_cycle) / len(self.cores))

    def _view(self, index: int) -> ArrayConfig:
        core, n = self.cores[index], len(self.cores)
        if self.is_single_array:
            return core
        share = min(core.memory.dram_bytes_per_cycle, float(self.network.link_cap), _fair_share(
            self.shared_bytes_per_cycle, n))
        latency = self.dram.latency_cycles + self.network.hops(index, n) * self.network.hop_latency_cycles
        return core.with_changes(memory=replace(core.memory, dram_bytes_per_cycle=share,
                                                dram_latency_cycles=latency))

    @property
    def pes(self) -> int:
        return sum(core.pes for core in self.cores)

    @property
    def clock_mhz(self) -> float:
        return self.cores[0].clock_mhz

    @property
    def digest(self) -> str:
        return stable_digest(self.to_dict())

    # -- I/O --------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        if self.identical:
            cores: Any = {"count": len(self.cores), "array": self.cores[0].to_dict(versioned=False)}
        else:
            cores = [core.to_dict(versioned=False) for core in self.cores]
        out: dict[str, Any] = {"version": SYSTEM_VERSION, "name": self.name, "cores": cores,
                               "dram": _as_dict(self.dram)}
        if self.global_buffer:
            out["global_buffer"] = {k: v for k, v in _as_dict(self.global_buffer).items() if v is not None}
        if self.network != Network():
            out["network"] = {k: v for k, v in _as_dict(self.network).items() if v != getattr(Network(), k)}
        return out

    @classmethod
    def from_dict(cls, data: Any, *, file: str | None = None) -> SystemConfig:
        """Build from a dict (parsed YAML); any problem is a :class:`SpecError` naming the field."""
        f = Fields(data, where="SystemConfig", file=file)
        version = f.int("version", SYSTEM_VERSION)
        if version != SYSTEM_VERSION:
            raise f.error("version", f"must be {SYSTEM_VERSION}, not {version}")
        name = f.str("name", "system")
        for key in ("dram", "global_buffer", "network"):  # known keys, read below only when needed: a
            f.raw(key, None)                              # misspelt one must still get its did-you-mean
        cores = _read_cores(f, file)
        dram_fields = f.sub("dram", ...) if len(cores) > 1 or f.has("dram") else None
        if dram_fields is None:
            dram = Dram(cores[0].memory.dram_bytes_per_cycle, cores[0].memory.dram_latency_cycles)
        else:
            dram = Dram(**_read_dram(dram_fields))
            dram_fields.done()
            for i, core in enumerate(cores):
                # one core whose latency is the DRAM's is what SystemConfig.single writes (to_dict round trip)
                same = len(cores) == 1 and core.memory.dram_latency_cycles == dram.latency_cycles
                if core.memory.dram_latency_cycles and not same:
                    raise f.error("cores", f"core {i}'s memory.dram_latency_cycles = "
                                           f"{core.memory.dram_latency_cycles}: in a system the latency is "
                                           "dram.latency_cycles (plus network hops); leave the core's at 0")
        gb = None
        if f.has("global_buffer"):
            gf = f.sub("global_buffer")
            gb = GlobalBuffer(**_read_global_buffer(gf))
            gf.done()
        network = Network()
        if f.has("network"):
            nf = f.sub("network")
            network = Network(**_read_network(nf))
            nf.done()
        f.done()
        if gb is not None:
            for i, core in enumerate(cores):  # a tile a core loads must fit in the level that feeds it
                smallest = min(core.memory.ifmap_kib, core.memory.filter_kib) / 2
                if gb.kib < smallest:
                    raise f.error("global_buffer", f"kib = {gb.kib:g} is smaller than one tile of core {i}'s "
                                                   f"half buffers ({smallest:g} KiB): it could not stage a tile")
        clocks = sorted({core.clock_mhz for core in cores})
        if len(clocks) > 1:
            raise UnsupportedError(str(f.error("cores", _clock_message(clocks))))
        try:
            return cls(name=name, cores=tuple(cores), dram=dram, global_buffer=gb, network=network)
        except SpecError as err:  # the structural checks of __post_init__, with the file and the key's line
            field_name = err.path.split(".")[1] if err.path and "." in err.path else None
            line = getattr(data, "key_lines", {}).get(field_name) or getattr(data, "line", None)
            raise SpecError(err.message, file=file, path=err.path, line=line) from None


def _clock_message(clocks: list[float]) -> str:
    return (f"run at {', '.join(repr(c) for c in clocks)} MHz: cores on different clocks are not modelled "
            "(a schedule counts one clock's cycles); give every core one clock_mhz")


def _fair_share(total: float, n: int) -> float:
    """``total / n`` rounded down to a float, so ``n`` shares never add up to more than ``total``.

    Examples
    --------
    >>> 1 / 5 * 5 > 1, _fair_share(1.0, 5) * 5 <= 1
    (False, True)
    >>> from fractions import Fraction
    >>> Fraction(_fair_share(1.0, 5)) * 5 <= 1
    True
    """
    share = total / n
    while Fraction(share) * n > Fraction(total):
        share = math.nextafter(share, 0.0)
    return share


def _read_cores(f: Fields, file: str | None) -> list[ArrayConfig]:
    raw = f.raw("cores")
    if isinstance(raw, list):
        if not raw:
            raise f.error("cores", "must list at least one core, not none")
        if len(raw) > MAX_CORES:
            raise f.error("cores", f"must be at most {MAX_CORES:,} cores, not {len(raw):,}")
        lines = getattr(raw, "item_lines", None)
        return [_read_array(item, f"SystemConfig.cores[{i}]", file, lines[i] if lines else f.line)
                for i, item in enumerate(raw)]
    cf = f.sub("cores")
    count = cf.int("count", maximum=MAX_CORES)
    array = _read_array(cf.raw("array"), "SystemConfig.cores.array", file,
                        getattr(cf.data, "key_lines", {}).get("array", cf.line))  # the array's own line
    cf.done()
    return [array] * count


def _read_array(item: Any, where: str, file: str | None, line: int | None) -> ArrayConfig:
    """A core: a preset name or an ``ArrayConfig`` mapping."""
    if isinstance(item, str):
        from .presets import PRESETS

        if item not in PRESETS:
            raise SpecError(f"is not an array preset ({', '.join(PRESETS)})" + did_you_mean(item, PRESETS),
                            file=file, path=where, line=line)
        return PRESETS[item]
    if not isinstance(item, dict):
        raise SpecError("must be an array preset name or an ArrayConfig mapping", file=file, path=where, line=line)
    try:
        return ArrayConfig.from_dict(item, file=file)
    except SpecError as err:
        path = err.path.replace("ArrayConfig", where, 1) if err.path else where
        raise type(err)(err.message, file=file, path=path, line=err.line) from None


def _as_dict(obj: Any) -> dict[str, Any]:
    return {f.name: getattr(obj, f.name) for f in fields(obj)}


def is_system_spec(data: Any) -> bool:
    """Whether parsed YAML describes a system (it has ``cores``) rather than one array."""
    return isinstance(data, dict) and "cores" in data


def load_system(path: str | Path) -> SystemConfig:
    """A system from YAML; a one-array YAML file is the one-core system of that array."""
    data = read_yaml_file(path)
    if is_system_spec(data):
        return SystemConfig.from_dict(data, file=str(path))
    return SystemConfig.single(ArrayConfig.from_dict(data, file=str(path)))


def resolve_system(name_or_path: str) -> SystemConfig:
    """A system preset, an array preset (as its one-core system), or a YAML file.

    Examples
    --------
    >>> len(resolve_system("tpuv4-tc").cores), resolve_system("sa32").is_single_array
    (4, True)
    """
    from .presets import PRESETS, SYSTEM_PRESETS

    if name_or_path in SYSTEM_PRESETS:
        return SYSTEM_PRESETS[name_or_path]()
    if name_or_path in PRESETS:
        return SystemConfig.single(PRESETS[name_or_path])
    if Path(name_or_path).suffix in (".yaml", ".yml") or Path(name_or_path).exists():
        return load_system(name_or_path)
    names = [*PRESETS, *SYSTEM_PRESETS]
    raise SpecError(f"unknown architecture '{name_or_path}': not a preset ({', '.join(names)}) "
                    f"nor a YAML file" + did_you_mean(name_or_path, names))


def cores_text(system: SystemConfig) -> str:
    """``4 × sa32 (32x32)`` or a list of the distinct arrays."""
    if system.identical:
        c = system.cores[0]
        return f"{len(system.cores)} × {c.name} ({c.rows}x{c.cols})"
    return " + ".join(f"{c.name} ({c.rows}x{c.cols})" for c in system.cores)

