"""One layer on a group of cores: its partition, each core's part plan, and its phases in cycles.

Each core's part is planned by the single-array plan (:func:`~accelsim.sim.engine.plan_layer`) on
the core's view of the memory system (:meth:`~accelsim.arch.system.SystemConfig.core_view`); a
layer's :class:`Phases` are the slowest part's. The one-core, sequential composition of the phases
is the single-array engine's ``compute_cycles + stall_cycles`` exactly (``docs/multicore.md``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from fractions import Fraction
from functools import cached_property, lru_cache

from ..arch import ArrayConfig
from ..arch.system import SystemConfig
from ..counts import OperandCounts
from ..errors import MappingError, UnsupportedError
from ..mapping.choice import LayerChoice, loop_orders, tile_candidates
from ..mapping.dataflow import DataflowSpec
from ..mapping.partition import SPLITS, split_layer
from ..sim.engine import LayerPlan, plan_layer
from ..sim.memory import MemoryPlan, plan_lookup, transfer_cycles
from ..workload.layer import Layer


@dataclass(frozen=True)
class Phases:
    """A layer's time on its cores, in cycles.

    The channel (each core's share of the shared memory level) carries ``weights_first`` then
    ``inputs_first`` (the first fold's operands), then ``transfer`` during compute (the rest of the
    inputs and outputs, front-loaded by double buffering), then ``epilogue`` (the last output
    tile). Compute starts ``latency`` cycles after the first operands left the channel and holds
    the array for ``body = max(compute, transfer)``; a K split then reduces partial sums over the
    network for ``reduce`` cycles.
    """

    weights_first: int = 0
    inputs_first: int = 0
    latency: int = 0
    compute: int = 0
    transfer: int = 0
    reduce: int = 0
    epilogue: int = 0

    @property
    def body(self) -> int:
        return max(self.compute, self.transfer)

    @property
    def sequential(self) -> int:
        """The layer's cycles when nothing overlaps it."""
        return self.weights_first + self.inputs_first + self.latency + self.body + self.reduce + self.epilogue

    def slowest(self, other: Phases) -> Phases:
        return Phases(*(max(a, b) for a, b in zip(self.astuple(), other.astuple())))

    def astuple(self) -> tuple[int, ...]:
        return (self.weights_first, self.inputs_first, self.latency, self.compute, self.transfer, self.reduce,
                self.epilogue)


def part_phases(plan: LayerPlan, view: ArrayConfig, *, input_on_chip: bool = False, output_on_chip: bool = False,
                output_parts: int = 1, weights_on_chip: bool = False, share: Fraction | None = None) -> Phases:
    """A part's phases on its core (``view``: the core with its share of the memory level; ``share``:
    that share exactly, when the view's float rounds it).

    ``input_on_chip``/``output_on_chip``: the layer's input comes from, or its output stays in,
    on-chip memory (no DRAM trip); ``output_parts``: a K split, whose cores each write a slice of
    the reduced output; ``weights_on_chip``: the weights stayed in the core's buffer from an earlier
    sample (layer pipelining). Without any, ``sequential`` is the engine's ``cycles`` for the part.
    """
    if plan.ideal_memory:
        return Phases(compute=plan.compute)
    return memory_phases(plan.memory, plan.compute, view, input_on_chip=input_on_chip, output_on_chip=output_on_chip,
                         output_parts=output_parts, weights_on_chip=weights_on_chip, share=share)


def memory_phases(mem: MemoryPlan, compute: int, view: ArrayConfig, *, input_on_chip: bool = False,
                  output_on_chip: bool = False, output_parts: int = 1, weights_on_chip: bool = False,
                  share: Fraction | None = None) -> Phases:
    """The phases of ``compute`` cycles beside the DRAM traffic ``mem`` (:func:`part_phases`; a lookup's rows too)."""
    bw = share if share is not None else Fraction(view.memory.dram_bytes_per_cycle)
    ops = mem.operands
    out_bytes = 0 if output_on_chip else -(-ops["O"].dram_total // output_parts)
    total = mem.dram_total - ops["O"].dram_total + out_bytes - (ops["I"].dram_total if input_on_chip else 0)
    first = mem.first_bytes - (mem.first_input_bytes if input_on_chip else 0)
    if weights_on_chip:
        total -= ops["W"].dram_total
        first = 0 if input_on_chip else mem.first_input_bytes
    last = min(mem.last_bytes, out_bytes)
    P, E = transfer_cycles(first, bw), transfer_cycles(last, bw)
    Pw = 0 if weights_on_chip else P if input_on_chip else transfer_cycles(mem.first_bytes - mem.first_input_bytes, bw)
    return Phases(weights_first=Pw, inputs_first=P - Pw, latency=view.memory.dram_latency_cycles,
                  compute=compute, transfer=max(0, transfer_cycles(total, bw) - P - E), epilogue=E)


@dataclass(frozen=True)
class GroupPlan:
    """One layer on a group of cores: the split and each used core's part plan.

    ``split`` is ``""`` when the layer runs whole on one core (or is vector work); ``plans`` holds
    one :class:`~accelsim.sim.engine.LayerPlan` per used core (empty for vector layers, which
    divide their elements over the group's vector units). ``fetches`` are a vector layer's DRAM reads per
    used core (a ``lookup``'s rows, divided as its elements are), counted under ideal memory too
    (``ideal_memory``), where they take no time.
    """

    layer: Layer
    system: SystemConfig
    cores: tuple[int, ...]
    split: str
    plans: tuple[LayerPlan, ...]
    vector: int = 0  # cycles of a vector layer on the group
    reserved: int = 0  # cores the layer holds (its share of the shared level), ≥ the cores it uses; 0: them
    fetches: tuple[MemoryPlan, ...] = ()  # a vector layer's DRAM reads, per used core
    ideal_memory: bool = False  # of a vector layer (an array layer's plans say it)

    def share(self, core: int) -> Fraction:
        """A used core's bandwidth to the shared level: the reserved cores' part of it, divided among the
        cores the layer uses (an idle reserved core's part goes to the others), capped by port and link."""
        memo = self.__dict__.setdefault("_shares", {})
        if core not in memo:
            memo[core] = self._share(core)
        return memo[core]

    def _share(self, core: int) -> Fraction:
        system = self.system
        if system.is_single_array:
            return system.share(core)
        port = system.cores[core].memory.dram_bytes_per_cycle
        by_port = self.__dict__.setdefault("_share_by_port", {})  # (432 alike cores: one Fraction, not 432)
        if port not in by_port:
            reserved = self.reserved or len(self.cores)
            level = Fraction(system.shared_bytes_per_cycle) * reserved / (len(system.cores) * len(self.cores))
            by_port[port] = min(Fraction(port), system.network.link_cap, level)
        return by_port[port]

    @property
    def is_array(self) -> bool:
        return bool(self.plans)

    def views(self) -> tuple[ArrayConfig, ...]:
        return tuple(self.system.core_view(c) for c in self.cores)

    @cached_property
    def phases(self) -> Phases:
        """The phases with every activation through DRAM (the sequential schedule's)."""
        return self.phases_with()

    def phases_with(self, input_on_chip: bool = False, output_on_chip: bool = False,
                    weights_on_chip: bool = False) -> Phases:
        """The slowest part's phases, the K split's reduction and, with a global buffer, the DRAM floor."""
        key = (input_on_chip, output_on_chip, weights_on_chip)
        memo = self.__dict__.setdefault("_phases", {})  # a schedule asks again for every placement it tries
        if key not in memo:
            memo[key] = self._phases_with(*key)
        return memo[key]

    def channel_flags(self, input_on_chip: bool, output_on_chip: bool) -> tuple[bool, bool]:
        """Whether a kept input or output skips the cores' channels: in one core's own input buffer it does;
        in the global buffer it only skips DRAM (the cores still read and write it through their channels)."""
        if self.system.global_buffer is not None:
            return False, False
        return input_on_chip, output_on_chip

    def _phases_with(self, input_on_chip: bool, output_on_chip: bool, weights_on_chip: bool) -> Phases:
        if not self.plans:
            return self._vector_phases()
        floor = self.dram_floor(input_on_chip, output_on_chip, weights_on_chip)
        input_on_chip, output_on_chip = self.channel_flags(input_on_chip, output_on_chip)
        k = len(self.plans) if self.split == "K" else 1
        out = Phases()
        shares = [self.share(c) for c in self.cores]
        # identical cores' parts once: a core's plan view is one object for every core alike but for its name
        # (keying on the view itself would hash an ArrayConfig per core)
        distinct = {(id(plan), id(self.system.plan_view(c)), share): (plan, view)
                    for plan, c, view, share in zip(self.plans, self.cores, self.views(), shares)}
        for (_, _, share), (plan, view) in distinct.items():
            out = out.slowest(part_phases(plan, view, input_on_chip=input_on_chip, output_on_chip=output_on_chip,
                                          output_parts=k, weights_on_chip=weights_on_chip, share=share))
        reduce = self.reduce_cycles
        transfer = max(out.transfer, floor - out.weights_first - out.inputs_first - out.epilogue)
        return Phases(out.weights_first, out.inputs_first, out.latency, out.compute, transfer, reduce, out.epilogue)

    def _vector_phases(self) -> Phases:
        """A vector layer: its cycles, and a lookup's rows through each core's channel at its share while the
        cores copy them (the engine's stall with one core), at least the group's DRAM floor."""
        if not self.fetches or self.ideal_memory:
            return Phases(compute=self.vector)
        out = Phases()
        for c, fetch in zip(self.cores, self.fetches):
            out = out.slowest(memory_phases(fetch, self.vector, self.system.core_view(c), share=self.share(c)))
        floor = self.dram_floor(False, False)
        transfer = max(out.transfer, floor - out.weights_first - out.inputs_first - out.epilogue)
        return replace(out, transfer=transfer)

    # -- what the split costs beyond its parts ----------------------------------------------
    @property
    def partial_sum_bytes(self) -> int:
        """One core's partial output of a K split (accumulator words), else 0."""
        if self.split != "K":
            return 0
        plan = max(self.plans, key=lambda p: p.mapping.gemm.count * p.mapping.gemm.M * p.mapping.gemm.N)
        g = plan.mapping.gemm
        return math.ceil(g.count * g.M * g.N * plan.mapping.resolved.word_bytes("P"))

    @property
    def reduce_bytes(self) -> int:
        """Bytes the K split's reduce-scatter moves over the network: ``(g - 1)`` partial outputs."""
        return (len(self.plans) - 1) * self.partial_sum_bytes

    @property
    def reduces_through_memory(self) -> bool:
        """A K split on a system that declares no network reduces its partial sums through the shared
        level (the global buffer, or DRAM: written, then read back) at the cores' shares."""
        return self.split == "K" and not self.system.network.has_links

    @property
    def reduce_cycles(self) -> int:
        """A ring reduce-scatter: ``g - 1`` steps, each a ``1/g`` slice over one link plus a hop (or, through
        memory, at the slowest used core's share of the shared level)."""
        g = len(self.plans)
        if self.split != "K" or g < 2:
            return 0
        net = self.system.network
        if self.reduces_through_memory:  # each step writes a slice to the shared level and reads the next one
            bw = min(self.share(c) for c in self.cores)
            return (g - 1) * transfer_cycles(2 * -(-self.partial_sum_bytes // g), bw)
        step = transfer_cycles(-(-self.partial_sum_bytes // g), net.link_bytes_per_cycle) + net.hop_latency_cycles
        return (g - 1) * step

    @property
    def reduce_dram_bytes(self) -> int:
        """DRAM bytes of a reduction through memory without a global buffer (each partial written and read)."""
        through_dram = self.reduces_through_memory and self.system.global_buffer is None
        return 2 * self.reduce_bytes if through_dram else 0

    def core_bytes(self, input_on_chip: bool = False, output_on_chip: bool = False,
                   weights_on_chip: bool = False) -> list[int]:
        """Each used core's bytes through its channel (to the global buffer, or DRAM without one)."""
        if not self.plans:
            return [fetch.dram_total for fetch in self.fetches]
        k = len(self.plans) if self.split == "K" else 1
        out = []
        seen: dict[int, int] = {}  # alike cores share their part's plan object
        for plan in self.plans:
            if id(plan) not in seen:
                ops = plan.memory.operands
                o = 0 if output_on_chip else -(-ops["O"].dram_total // k)
                seen[id(plan)] = (plan.memory.dram_total - ops["O"].dram_total + o
                                  - (ops["I"].dram_total if input_on_chip else 0)
                                  - (ops["W"].dram_total if weights_on_chip else 0))
            out.append(seen[id(plan)])
        return out

    def dram_bytes(self, input_on_chip: bool = False, output_on_chip: bool = False,
                   weights_on_chip: bool = False) -> int:
        """Bytes the layer moves at DRAM: the cores' own traffic, or with a global buffer that holds
        the layer's tensors, each tensor once (every core reads the shared copy)."""
        cores = sum(self.core_bytes(input_on_chip, output_on_chip, weights_on_chip))
        gb = self.system.global_buffer
        if gb is None or not self.plans:
            return cores + (self.reduce_dram_bytes if self.plans else 0)
        once = self.compulsory
        skip = {"I": input_on_chip, "W": weights_on_chip, "O": output_on_chip}
        if once["I"] + once["W"] + once["O"] > gb.bytes // 2:  # the other half holds activations kept on chip
            return min(cores, self.blocked_bytes(skip))
        return min(cores, sum(0 if skip[op] else once[op] for op in once))

    def blocked_bytes(self, skip: dict[str, bool]) -> int:
        """DRAM bytes when the layer does not fit half the global buffer: each product of its GEMM tiled into
        ``a × b`` blocks of output whose input rows, weight columns and output fit half the buffer, the
        inputs read ``b`` times and the weights ``a`` times (the fewest bytes over ``a``); without a tiling
        that fits, every core's own traffic. Never below each tensor once (compulsory)."""
        gb = self.system.global_buffer
        gemm = self.layer.gemm
        assert gb is not None and gemm is not None
        memo = self.__dict__.setdefault("_blocked", {})
        key = tuple(sorted(skip.items()))
        if key in memo:
            return memo[key]
        once = self.compulsory
        best = _blocked(gemm.M, gemm.N, gemm.count, once["I"], once["W"], once["O"], gb.bytes // 2,
                        skip["I"], skip["W"], skip["O"])
        out = best if best is not None else sum(self.core_bytes(skip["I"], skip["O"], skip["W"]))
        memo[key] = out
        return out

    @cached_property
    def compulsory(self) -> dict[str, int]:
        """Each tensor of the whole layer once (its DRAM bytes with buffers that hold everything)."""
        first = self.plans[0]
        return _compulsory(self.layer, first.mapping.arch, first.mapping.dataflow)

    def dram_floor(self, input_on_chip: bool, output_on_chip: bool, weights_on_chip: bool = False) -> int:
        """With a global buffer, the cycles DRAM needs for the layer at the group's share of it."""
        if self.system.global_buffer is None or (self.plans[0].ideal_memory if self.plans else
                                                 self.ideal_memory or not self.fetches):
            return 0  # ideal memory: operands always on time, DRAM included
        share = Fraction(self.system.dram.bytes_per_cycle) * (self.reserved or len(self.cores)) / len(self.system.cores)
        return transfer_cycles(self.dram_bytes(input_on_chip, output_on_chip, weights_on_chip), share)



def _lookup_parts(layer: Layer, lanes: tuple[int, ...]) -> tuple[MemoryPlan, ...]:
    """A lookup's rows read by each core, in proportion to its lanes (as its elements are), the bytes exactly
    divided (the first cores take the remainder); none for every other vector layer. One core: the engine's.

    Examples
    --------
    >>> embed = Layer("embed", "reshape", op="lookup", in_shapes=((16,),), shape=(16, 64))
    >>> [p.dram_total for p in _lookup_parts(embed, (32, 32, 32))]
    [342, 341, 341]
    """
    if not layer.lookup_bytes:
        return ()
    whole = plan_lookup(layer)
    total, row = whole.dram_total, whole.first_bytes
    parts = [total * n // sum(lanes) for n in lanes]
    for i in range(total - sum(parts)):
        parts[i] += 1
    return tuple(MemoryPlan({"I": OperandCounts(), "W": OperandCounts(dram_bytes=b), "O": OperandCounts()},
                            first_bytes=min(row, b), last_bytes=0) for b in parts)


@lru_cache(maxsize=4096)  # every split of a layer on every core count asks for the same layer's tensors
def _compulsory(layer: Layer, arch: ArrayConfig, dataflow: DataflowSpec) -> dict[str, int]:
    whole = plan_layer(layer, arch, dataflow, memory=False)
    return {op: whole.memory.operands[op].dram_total for op in ("I", "W", "O")}


@lru_cache(maxsize=4096)
def _blocked(M: int, N: int, count: int, I: int, W: int, O: int, capacity: int,
             skip_i: bool, skip_w: bool, skip_o: bool) -> int | None:
    """The fewest DRAM bytes of ``count`` products tiled into ``a × b`` output blocks that fit ``capacity``
    (per product: ``I/count`` input, ``W/count`` weights, ``O/count`` output), or None when none fits. In
    integers: a block fits when ``capacity·count·a > I`` and ``b = ⌈(W·a + O) / (capacity·count·a − I)⌉``."""
    best: int | None = None
    for a in _row_blocks(M):
        room = capacity * count * a - I
        if room <= 0:
            continue
        b = max(1, -(-(W * a + O) // room))
        if b > N:
            continue
        total = (0 if skip_i else I * b) + (0 if skip_w else W * a) + (0 if skip_o else O)
        if best is None or total < best:
            best = total
    return best


def _row_blocks(rows: int) -> list[int]:
    """Candidate counts of row blocks: 1 to 64, then powers of two, up to ``rows``."""
    out = list(range(1, min(rows, 64) + 1))
    power = 128
    while power < rows:
        out.append(power)
        power *= 2
    return out + ([rows] if rows > 64 else [])


def plan_group(layer: Layer, system: SystemConfig, cores: tuple[int, ...], dataflows: tuple[DataflowSpec, ...], *,
               memory: bool = True, search: bool = False, splits: tuple[str, ...] = SPLITS,
               choice: LayerChoice | None = None,
               alternatives: tuple[tuple[DataflowSpec, ...], ...] | None = None) -> GroupPlan:
    """The best plan of ``layer`` on ``cores`` (fewest sequential cycles; ties: fewest DRAM bytes,
    then the split's order M, N, K).

    ``dataflows[i]`` is core ``i``'s dataflow; ``search`` also tries each dataflow's other loop
    order and smaller temporal chunks per part (as ``--mapping search`` does for one array);
    ``choice`` is the layer's given mapping when it runs whole on one core (a mapping search's
    result, so one array's schedule replays exactly what its engine ran); ``alternatives[i]`` are
    other dataflows core ``i`` may run when searching.
    """
    others = alternatives or tuple(() for _ in system.cores)
    if choice is not None and len(cores) == 1 and layer.gemm is not None:
        view = system.core_view(cores[0])
        plan = plan_layer(layer, view, choice.dataflow, memory=memory, temporal_tile=choice.temporal_tile)
        return GroupPlan(layer, system, cores, "", (plan,))
    if layer.gemm is None:
        # the elements split over the cores in proportion to their lanes: ⌈ops / Σ lanes⌉, which for identical
        # cores is ⌈⌈ops / lanes⌉ / n⌉ (one core: the engine's vector_cycles)
        lanes = sum(system.cores[c].lanes for c in cores)
        return GroupPlan(layer, system, cores, "", (), vector=-(-layer.vector_ops // lanes),
                         fetches=_lookup_parts(layer, tuple(system.cores[c].lanes for c in cores)),
                         ideal_memory=not memory)
    best: tuple | None = None
    error: MappingError | None = None
    # all the cores, or fewer when every split would read too much twice (a shared operand read by each core)
    counts = sorted({len(cores), *(2**i for i in range(len(cores).bit_length()) if 2**i < len(cores))}, reverse=True)
    core = system.cores[cores[0]]
    can_prune = system.identical and core.sparse != "skip" and not core.weight_nm  # every MAC issued, same rate
    # fewer cores than the group: the largest arrays first (a slow core may be left idle), ties in core order
    ranked = cores if system.identical else tuple(sorted(cores, key=lambda c: (-system.cores[c].pes, c)))
    # (the value keeps the keyed objects alive, so no identity is reused while this call runs)
    seen: dict[tuple[int, int, int, int], tuple[LayerPlan, tuple]] = {}

    def planned(part: Layer, c: int) -> LayerPlan:
        """``_plan_part`` without hashing an ArrayConfig per core: parts and alike cores' views are shared
        objects, so their identities key the plans of this layer."""
        view = system.plan_view(c)
        key = (id(part), id(view), id(dataflows[c]), id(others[c]))
        if key not in seen:
            plan = _plan_part(part, view, dataflows[c], memory, search, others[c])
            seen[key] = (plan, (part, view, dataflows[c], others[c]))
        return seen[key][0]

    for k in counts:
        if can_prune and best is not None:  # k cores issue at most k·PEs·fusion MACs a cycle: no faster than this
            fusion = best[1].plans[0].mapping.resolved.fusion
            if -(-layer.macs // (k * core.pes * fusion)) >= best[0][0]:
                break
        for split in ([""] if k == 1 else splits):
            parts = (layer,) if split == "" else split_layer(layer, split, k)
            if parts is None:
                continue
            used = ranked[:len(parts)]
            try:
                plans = tuple(planned(part, c) for part, c in zip(parts, used))
            except MappingError as err:
                error = error or err
                continue
            group = GroupPlan(layer, system, used, split, plans, reserved=len(cores))
            key = (group.phases.sequential, group.dram_bytes())
            if best is None or key < best[0]:
                best = (key, group)
    if best is None:
        raise error or MappingError(f"layer '{layer.name}' cannot be mapped on {len(cores)} cores")
    return best[1]


@lru_cache(maxsize=65536)  # identical cores take equal parts: plan each distinct (part, core view) once
def _plan_part(part: Layer, view: ArrayConfig, dataflow: DataflowSpec, memory: bool, search: bool,
               others: tuple[DataflowSpec, ...] = ()) -> LayerPlan:
    """A part's plan: the fixed rule, or with ``search`` the fewest cycles over the dataflow and
    ``others``, both loop orders each and up to four temporal chunks."""
    if not search:
        return plan_layer(part, view, dataflow, memory=memory)
    best: tuple[int, LayerPlan] | None = None
    first_error: MappingError | UnsupportedError | None = None
    for df in (d for spec in (dataflow, *others) for d in loop_orders(spec)):
        try:  # a candidate that cannot map the part is skipped, as one array's search does
            largest = plan_layer(part, view, df, memory=memory)
        except (MappingError, UnsupportedError) as err:
            first_error = first_error or err
            continue
        chunk = largest.mapping.temporal_tile
        for tile in (tile_candidates(chunk) if chunk else [None]):
            try:
                p = largest if tile in (None, chunk) else plan_layer(part, view, df, memory=memory,
                                                                     temporal_tile=tile)
            except MappingError:
                continue
            cycles = p.compute + p.stall(view)
            if best is None or cycles < best[0]:
                best = (cycles, p)
    if best is None:
        assert first_error is not None
        raise first_error
    return best[1]
