"""Plans over points: a block of design points that differ only in array shape, buffers and DRAM, at once.

:mod:`accelsim.dse.batch` shares a layer's plan between points that differ only in their DRAM;
a space whose every point has its own array and buffers still paid one plan per layer per point.
Here the closed forms behind a plan — the temporal chunk that fits the buffers
(:mod:`accelsim.mapping.tiling`), residency and traffic (:mod:`accelsim.sim.memory`), fold timing
(:func:`accelsim.sim.timing.uniform_cycles`, the max-plus form of the fold recursions) and the energy
prices (:mod:`accelsim.cost.energy`) — are numpy arrays over the points of a block, with the
per-layer mapping search's candidates (dataflow, loop order, temporal chunk) as another loop.

Integers stay integers: byte counts are kept in bits (every width is whole bits), energies as integer
numerators over the table's common denominator, and a block whose numbers could leave int64 is handed
back. So every point equals what the per-point path (and ``simulate``) gives, digit for digit
(``tests/dse/test_vectorised.py``).

What a block does not cover it hands back (``None``) to the per-point path, which is exact for
everything: points with system axes; arrays with N:M PEs, zero-skipping, compressed formats or a
leaking energy table; a point whose value of an axis is not a valid array; a point where some layer
has no mapping that fits (the per-point path says why); layers whose candidates differ in precision.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any

import numpy as np

from ..counts import BUFFER
from ..errors import AccelsimError
from ..mapping.choice import LayerChoice, loop_orders
from ..mapping.dataflow import DataflowSpec
from ..mapping.mapping import Mapping
from ..sim.timing import uniform_cycles
from .space import SYSTEM_AXES, WORKLOAD_AXES, arch_for, design_of

# Axes whose values a block holds as arrays: everything else is the same across the block.
VECTOR_AXES = ("rows", "cols", "memory.ifmap_kib", "memory.filter_kib", "memory.ofmap_kib",
               "memory.dram_bytes_per_cycle", "memory.dram_latency_cycles", "vector_lanes")
MIN_BLOCK = 4  # fewer points than this: the per-point path (with its caches) is as fast
TILES = 4  # a stationary candidate's temporal chunks: the largest and up to three halvings (tile_candidates)
_SAFE = float(1 << 62)  # every int64 product is checked to stay below this (else the block is handed back)
_BITS = 4096  # bits in half a KiB: half of a buffer of `kib` KiB holds kib × 4096 bits


class _HandBack(Exception):
    """The per-point path must answer these points (it is exact for everything)."""


def _fits_int64(bound: float) -> None:
    """Hand back unless a bound on every value about to be computed stays inside int64 (checked before)."""
    if not bound < _SAFE:
        raise _HandBack


def evaluate(batch: Any, points: list[dict[str, Any]]) -> list[dict[str, Any] | None]:
    """The results of the points a block can evaluate, ``None`` for the rest (in order)."""
    out: list[dict[str, Any] | None] = [None] * len(points)
    classes: dict[str, tuple[dict[str, Any], list[int]]] = {}
    for i, point in enumerate(points):
        if any(k in SYSTEM_AXES for k in point):
            continue
        rest = {k: v for k, v in point.items() if k not in VECTOR_AXES}
        classes.setdefault(batch.key_of(rest), (rest, []))[1].append(i)
    for key, (rest, indices) in classes.items():
        if len(indices) < MIN_BLOCK:
            continue
        try:
            block = batch.blocks.get(key)
            if block is None:
                block = batch.blocks[key] = _Block(batch, rest)
            results = block.evaluate([points[i] for i in indices])
        except _HandBack:
            batch.blocks[key] = _Refused()
            continue
        for i, result in zip(indices, results):
            out[i] = result
    return out


class _Refused:
    """A class of points the block path cannot take: every call hands back."""

    def evaluate(self, points: list[dict[str, Any]]) -> list[dict[str, Any] | None]:
        raise _HandBack


@dataclass
class _Candidate:
    """A layer's mapping under one dataflow spec, before the points' arrays and buffers are known."""

    spec: DataflowSpec
    template: Mapping  # the mapping on the class's array without buffers (precision, reduction, MACs)
    raw_inputs: int  # elements of I in DRAM (the input tensor of a convolution)
    issued: int
    active: int
    gated: int


@dataclass
class _Shape:
    index: int  # among the workload's distinct layers (Batch.shapes_of)
    layer: Any
    times: int
    names: tuple[str, ...]
    candidates: list[_Candidate | None] = field(default_factory=list)  # None: this spec cannot run the layer


class _Block:
    """The points of one class (equal outside :data:`VECTOR_AXES`): their shared facts, made once."""

    def __init__(self, batch: Any, rest: dict[str, Any]):
        self.batch, self.rest = batch, rest
        try:
            self.arch, self.dataflows = design_of(batch.base, rest, every_dataflow=batch.search)
            shapes = batch.shapes_of(rest, self.arch)
        except AccelsimError:
            raise _HandBack from None
        arch = self.arch
        if arch.nm or arch.sparse == "skip" or arch.weight_format != "dense" or arch.input_format != "dense":
            raise _HandBack
        if batch.table.leakage_per_pe_cycle or batch.table.leakage_per_kib_cycle:
            raise _HandBack
        self.specs = [s for d in self.dataflows for s in (loop_orders(d) if batch.search else [d])]
        self.shapes: list[_Shape] = []
        self.lookups = []
        for index, shape in enumerate(shapes):
            if shape.layer.gemm is None:
                self.lookups.append(shape)
                continue
            self.shapes.append(_Shape(index, shape.layer, len(shape.names), shape.names,
                                      [self._candidate(shape.layer, spec) for spec in self.specs]))
        self.vector_shapes = shapes
        self.work_key = batch.key_of({k: v for k, v in rest.items() if k in WORKLOAD_AXES})
        self.gemm_layers = sum(s.times for s in self.shapes)
        self.busy = sum((s.times * Fraction(c.issued, c.template.resolved.fusion) for s in self.shapes
                         for c in s.candidates[:1] if c is not None), Fraction(0))
        from ..cost.energy import _exact

        lookup_bytes = sum(len(s.names) * s.layer.lookup_bytes for s in self.lookups)
        self.lookup_bytes = lookup_bytes
        self.lookup_energy = lookup_bytes * _exact(batch.table.dram_per_byte)
        self.values: dict[tuple[str, Any], Any] = {}
        self.prices: dict[tuple, tuple[dict[tuple[str, str], int], int]] = {}
        self.pe_area: dict[tuple[int, int], float] = {}
        self.mappings: dict[tuple, dict[str, dict[str, Any]]] = {}
        self.timings: dict[tuple, int] = {}

    def _candidate(self, layer: Any, spec: DataflowSpec) -> _Candidate | None:
        try:
            template = Mapping.for_layer(layer, spec, self.arch, memory=False)
        except AccelsimError:
            return None
        if template.nm_groups is not None or not template.uniform:
            raise _HandBack
        if any(template.size(d) < 1 for d in ("M", "N", "K")):
            raise _HandBack
        from ..sim.memory import _raw_input_elements

        macs = template.mac_counts()
        return _Candidate(spec, template, _raw_input_elements(layer, template.gemm), macs.issued,
                          macs.issued - macs.gated, macs.gated)

    # -- the points' values ------------------------------------------------------------------
    def _value(self, axis: str, value: Any) -> Any:
        """The value ``axis`` takes in the array (as ``ArrayConfig`` keeps it), or hand back if invalid."""
        key = (axis, repr(value))
        if key not in self.values:
            try:
                arch = arch_for(self.arch, {axis: value})
                *parents, leaf = axis.split(".")
                self.values[key] = getattr(arch.memory if parents else arch, leaf)
            except AccelsimError:
                self.values[key] = _HandBack
        found = self.values[key]
        if found is _HandBack:
            raise _HandBack
        return found

    def _half_bits(self, kib: float) -> int:
        """Bits in half a buffer of ``kib`` KiB (a whole number, else the per-point path)."""
        key = ("half", kib)
        if key not in self.values:
            bits = Fraction(kib) * _BITS
            self.values[key] = int(bits) if bits.denominator == 1 else _HandBack
        found = self.values[key]
        if found is _HandBack:
            raise _HandBack
        return found

    def _column(self, points: list[dict[str, Any]], axis: str) -> list[Any]:
        *parents, leaf = axis.split(".")
        default = getattr(self.arch.memory if parents else self.arch, leaf)
        return [self._value(axis, p[axis]) if axis in p else default for p in points]

    # -- a block of points ---------------------------------------------------------------------
    def evaluate(self, points: list[dict[str, Any]]) -> list[dict[str, Any] | None]:
        n = len(points)
        cols_of = {axis: self._column(points, axis) for axis in VECTOR_AXES}
        rows, cols = (np.array(cols_of[a], dtype=np.int64) for a in ("rows", "cols"))
        half = {op: np.array([self._half_bits(kib) for kib in cols_of[f"memory.{buf}_kib"]], dtype=np.int64)
                for op, buf in BUFFER.items()}
        bandwidth = [Fraction(*float(b).as_integer_ratio()) if not isinstance(b, Fraction) else b
                     for b in cols_of["memory.dram_bytes_per_cycle"]]
        bw_num = np.array([b.numerator for b in bandwidth], dtype=np.int64)
        bw_den = np.array([b.denominator for b in bandwidth], dtype=np.int64)
        kibs = list(zip(*(cols_of[f"memory.{buf}_kib"] for buf in BUFFER.values())))
        kib_index, kib_keys = _index(kibs)
        cycles = np.zeros(n, dtype=np.int64)
        dram = np.zeros(n, dtype=np.int64)
        energy: dict[Any, np.ndarray] = {}  # precision -> energy numerators over that precision's denominator
        unfit = np.full(n, -1, dtype=np.int64)  # the first layer (index in self.shapes) nothing fits, per point
        chosen: list[tuple[np.ndarray, np.ndarray]] = []  # per shape: (slot, chunk) of each point's choice
        prices: dict[Any, tuple[dict[tuple[str, str], np.ndarray], np.ndarray]] = {}
        plans = []  # every (shape, slot, candidate, chunk, fits) over the points, timed together below
        for shape in self.shapes:
            for s, candidate in enumerate(shape.candidates):
                if candidate is not None:
                    plans += [(shape, s * TILES + j, candidate, chunk, ok)
                              for j, (chunk, ok) in enumerate(self._plans(candidate, rows, cols, half))]
        compute = self._time([(candidate, chunk) for _, _, candidate, chunk, _ in plans], rows, cols)
        by_shape: dict[int, list] = {}
        for plan, computed in zip(plans, compute):
            by_shape.setdefault(id(plan[0]), []).append((*plan[1:], computed))
        for shape in self.shapes:
            best = _Best(n, self.batch.objectives)
            precision = None
            for slot, candidate, chunk, ok, computed in by_shape.get(id(shape), []):
                prec = candidate.template.resolved
                if precision is None:
                    precision = prec
                elif prec != precision:
                    raise _HandBack
                if prec not in prices:
                    prices[prec] = self._price_arrays(prec, kib_index, kib_keys)
                c, d, e = self._priced(candidate, half, chunk, computed, rows, cols, bw_num, bw_den, prices[prec][0])
                best.offer(slot, ok, c, e, d, chunk)
            if precision is None:
                raise _HandBack  # no spec runs this layer anywhere: the per-point path says why
            unfit[(unfit < 0) & ~best.found] = len(chosen)
            for total, part in ((cycles, best.cycles), (dram, best.dram), (energy.get(precision), best.energy)):
                _fits_int64((float(total.max()) if total is not None else 0.0) + shape.times * float(part.max()))
            cycles += shape.times * best.cycles
            dram += shape.times * best.dram
            energy[precision] = energy.get(precision, 0) + shape.times * best.energy
            chosen.append((best.slot, best.chunk))
        denominators_of = {p: prices[p][1] for p in energy}
        return self._results(points, cols_of, rows, cols, unfit, cycles, dram, energy, denominators_of, chosen)

    def _plans(self, candidate: _Candidate, rows: np.ndarray, cols: np.ndarray, half: dict[str, np.ndarray]):
        """``(chunk, fits, traffic numbers)`` of each temporal chunk the candidate tries, over the points.

        The largest chunk that fits is :func:`~accelsim.mapping.tiling.fit_temporal_tile`; with the
        search, its halvings follow (:func:`~accelsim.mapping.choice.tile_candidates`).
        """
        m, spec = candidate.template, candidate.spec
        prec = m.resolved
        size = {d: m.size(d) for d in ("M", "N", "K")}
        rt, ct = np.minimum(rows, size[spec.rows]), np.minimum(cols, size[spec.cols])
        bits = {op: int(prec.bytes(op) * 8) for op in ("I", "W", "O", "P")}
        stored = {op: int(prec.stored_bytes(op) * 8) for op in ("I", "W", "O")}
        if spec.mode != "stationary":
            ok = rt * ct * bits["O"] <= half["O"]
            yield np.full(len(rows), size[spec.temporal], dtype=np.int64), ok
            return
        stat, strm, X, T = spec.stationary, spec.left, spec.cols, spec.temporal
        psum_cols = ct if spec.loop_order[1] == "K" else np.full(len(rows), size[X], dtype=np.int64)
        ok = (rt * ct * stored[stat] <= half[stat]) & (psum_cols * bits["P"] <= half["O"])
        largest = np.minimum(np.minimum(size[T], half["O"] // (psum_cols * bits["P"])),
                             np.maximum(1, half[strm] // (rt * bits[strm])))
        largest = np.maximum(largest, 1)
        yield largest, ok
        if not self.batch.search:
            return
        chunk, present = largest, ok
        for _ in range(TILES - 1):
            present = present & (chunk > 1)
            chunk = np.where(chunk > 1, -(-chunk // 2), chunk)
            yield chunk, present

    def _priced(self, candidate: _Candidate, half: dict[str, np.ndarray], chunk: np.ndarray, compute: np.ndarray,
                rows: np.ndarray, cols: np.ndarray, bw_num: np.ndarray, bw_den: np.ndarray,
                numerators: dict[tuple[str, str], np.ndarray]):
        """``(cycles at latency 0, DRAM bytes, energy numerators)`` of a candidate at ``chunk``, over the points."""
        m, spec = candidate.template, candidate.spec
        prec, gemm = m.resolved, m.gemm
        size = {d: m.size(d) for d in ("M", "N", "K")}
        n = len(rows)
        tile = {spec.rows: rows, spec.cols: cols}
        tiles = {d: -(-size[d] // tile[d]) for d in tile}  # count_tiles
        rt, ct = np.minimum(rows, size[spec.rows]), np.minimum(cols, size[spec.cols])
        word = {op: int(prec.word_bytes(op) * 8) for op in ("I", "W", "O")}
        element = {op: int(prec.bytes(op) * 8) for op in ("I", "W")}
        stored_bits = {op: int(prec.stored_bytes(op) * 8) for op in ("I", "W")}
        elements = {"I": candidate.raw_inputs, "W": gemm.count * gemm.K * gemm.N}
        # Every count below is at most the MACs (SRAM words) or a tile or chunk count times a tensor's
        # elements (moved from DRAM), in bits; an energy at most sixteen such counts times a price numerator.
        macs = gemm.count * gemm.M * gemm.N * gemm.K
        moved_bound = max(*size.values(), gemm.count, gemm.K) * max(*elements.values(), gemm.count * gemm.M * gemm.N)
        _fits_int64(64.0 * max(macs, moved_bound))
        _fits_int64(16.0 * (macs + moved_bound) * max(float(v.max()) for v in numerators.values()))
        c = gemm.count
        T = spec.temporal
        chunks = -(-size[T] // chunk)
        inner = spec.loop_order[1]
        outer = spec.loop_order[0]
        if spec.mode == "stationary":
            stat, strm, X = spec.stationary, spec.left, spec.cols
            t = chunk
            # residency (sim.memory.residency): the whole stationary tensor, the streamed rows a tile reuses
            stat_whole = elements["I"] * element["I"] if stat == "I" else m.data_K * size[X] * stored_bits[stat]
            fits0 = stat_whole <= half[stat]
            resident = (t * m.data_K if inner == "K" else t * rt) * word[strm]
            fits1 = resident <= half[strm]
            stat_reads = np.where(fits0, 1, chunks)
            strm_reads = np.where(fits1 | (inner != "K"), 1, tiles[X])
            rows_cols = c * chunks * size[spec.rows] * size[spec.cols]
            stream_words = c * size[T] * size[spec.rows] * tiles[spec.cols]
            cols_steps = c * size[T] * size[spec.cols] * tiles[spec.rows]
            out_words = c * size[T] * size[X]
            sram: dict[str, Any] = {stat: rows_cols, strm: stream_words, "O": 2 * cols_steps}
            moved: dict[str, Any] = {}
            if stat == "W":
                moved["W"] = stat_reads * elements["W"]
            else:
                im2col = c * gemm.K * size[X]
                moved["I"] = np.where(fits0, min(elements["I"], im2col), stat_reads * im2col)
            moved[strm] = strm_reads * elements[strm]
            first = {stat: rt * ct * stored_bits[stat], strm: np.minimum(t, size[T]) * rt * word[strm]}
            last = np.minimum(t, size[T]) * ct * word["O"]
        else:
            left, top = spec.left, spec.top
            fits = []
            for dim, op in ((spec.rows, left), (spec.cols, top)):
                extent = tile[dim] if dim == outer else size[dim]
                fits.append(extent * m.data_K * word[op] <= half[op])
            moved = {}
            for fit, (dim, op) in zip(fits, ((spec.rows, left), (spec.cols, top))):
                other = spec.cols if dim == spec.rows else spec.rows
                moved[op] = np.where(fit, 1, tiles[other]) * elements[op]
            out_words = c * size["M"] * size["N"]
            rows_steps = c * size[T] * size[spec.rows] * tiles[spec.cols]
            cols_steps = c * size[T] * size[spec.cols] * tiles[spec.rows]
            sram = {left: rows_steps, top: cols_steps, "O": 2 * out_words}
            first = {left: rt * word[left] * size["K"], top: ct * word[top] * size["K"]}
            last = rt * ct * word["O"]
        # sim.memory._plan_memory with dense storage, in bits: a pass over a stored tensor moves its elements
        dram_bits = {op: moved[op] * element[op] for op in ("I", "W")}
        dram_bits["O"] = np.full(n, out_words * word["O"], dtype=np.int64)
        dram_bytes = {op: -(-dram_bits[op] // 8) for op in ("I", "W", "O")}
        writes = {op: -(-moved[op] // prec.fusion) for op in ("I", "W")}
        first_bits = np.minimum(first["I"], dram_bits["I"]) + np.minimum(first["W"], dram_bits["W"])
        first_bytes = -(-first_bits // 8)
        last_bytes = -(-np.minimum(last, dram_bits["O"]) // 8)
        total = dram_bytes["I"] + dram_bytes["W"] + dram_bytes["O"]
        # sim.memory.stall_cycles at latency 0: ⌈bytes / bandwidth⌉ = ⌈bytes · den / num⌉
        first_c, last_c = _transfer(first_bytes, bw_num, bw_den), _transfer(last_bytes, bw_num, bw_den)
        overlapped = _transfer(total, bw_num, bw_den) - first_c - last_c
        cycles = compute + first_c + np.maximum(0, overlapped - compute) + last_c
        # cost.energy.dynamic_exact: every action's count × its price numerator
        sram_counts = {"I": sram["I"] + writes["I"], "W": sram["W"] + writes["W"], "O": sram["O"]}
        energy = (candidate.active * numerators["mac", "none"] + candidate.gated * numerators["gated_mac", "none"]
                  + candidate.issued * (numerators["pe_register", "I"] + numerators["pe_register", "W"])
                  + candidate.active * numerators["pe_register", "O"])
        for op in ("I", "W", "O"):
            energy = energy + sram_counts[op] * numerators["sram", op] + dram_bytes[op] * numerators["dram", op]
        return cycles, total, energy

    def _time(self, plans: list[tuple[_Candidate, np.ndarray]], rows: np.ndarray,
              cols: np.ndarray) -> list[np.ndarray]:
        """Compute cycles (fold timing) of each plan per point: every distinct (layer, spec, rows, cols, chunk)
        timed once per run, and those still missing timed together, one call per dataflow spec."""
        found: list[tuple[list[tuple], np.ndarray]] = []
        wanted: dict[DataflowSpec, dict[tuple, _Candidate]] = {}
        for candidate, chunk in plans:
            unique, inverse = _unique_rows(rows, cols, chunk)
            keyed = [(id(candidate), r, c, t) for r, c, t in unique]
            for key in keyed:
                if key not in self.timings:
                    wanted.setdefault(candidate.spec, {})[key] = candidate
            found.append((keyed, inverse.reshape(-1)))
        for spec, missing in wanted.items():
            wanted_keys, candidates = list(missing), list(missing.values())
            sizes = {d: np.array([c.template.size(d) for c in candidates], dtype=np.int64) for d in ("M", "N", "K")}
            got = uniform_cycles(spec.mode == "output", self.arch.stationary_banks,
                                 np.array([k[1] for k in wanted_keys], dtype=np.int64),
                                 np.array([k[2] for k in wanted_keys], dtype=np.int64), sizes, spec.rows,
                                 spec.loop_order, spec.temporal, np.array([k[3] for k in wanted_keys], dtype=np.int64),
                                 np.array([c.template.gemm.count for c in candidates], dtype=np.int64),
                                 np.array([c.template.serial_bits for c in candidates], dtype=np.int64))
            self.timings.update(zip(wanted_keys, got.tolist()))
        return [np.array([self.timings[k] for k in keyed], dtype=np.int64)[inverse] for keyed, inverse in found]

    def _price_arrays(self, prec: Any, index: np.ndarray, keys: list[tuple]):
        """Each action's price numerator and the common denominator, per point (they follow its buffer sizes)."""
        from ..cost.energy import _prices

        rows = []
        for kibs in keys:
            key = (prec, kibs)
            if key not in self.prices:
                memory = replace(self.arch.memory, ifmap_kib=kibs[0], filter_kib=kibs[1], ofmap_kib=kibs[2])
                self.prices[key] = _prices(self.batch.table, self.arch.with_changes(memory=memory), prec)
            rows.append(self.prices[key])
        actions = list(rows[0][0])
        numerators = {a: np.array([r[0][a] for r in rows], dtype=np.int64)[index] for a in actions}
        denominators = np.array([r[1] for r in rows], dtype=np.int64)[index]
        return numerators, denominators

    # -- results ---------------------------------------------------------------------------------
    def _results(self, points, cols_of, rows, cols, unfit, cycles, dram, energy, denominators, chosen):
        from ..cost.area import pe_area_um2, sram_area_um2

        batch, arch = self.batch, self.arch
        lanes = [v or c for v, c in zip(cols_of["vector_lanes"], cols.tolist())]
        latency = cols_of["memory.dram_latency_cycles"]
        bandwidth = cols_of["memory.dram_bytes_per_cycle"]
        dataflows = self.dataflows if "dataflow" in self.rest or batch.search else None
        kibs = [cols_of[f"memory.{b}_kib"] for b in BUFFER.values()]
        matrix = np.stack([a for pair in chosen for a in pair], axis=1) if chosen else np.zeros((len(points), 0))
        unique, choice_index = np.unique(matrix, axis=0, return_inverse=True)
        choice_index = choice_index.reshape(-1)
        choices = [tuple(zip(row[0::2], row[1::2])) for row in unique.tolist()]
        out: list[dict[str, Any] | None] = []
        for i in range(len(points)):
            if unfit[i] >= 0:  # the error the per-point path raises there, from that one layer
                out.append(batch.unfit(points[i], self.shapes[int(unfit[i])].index))
                continue
            r, c = int(rows[i]), int(cols[i])
            vector = batch.vector_cycles(self.vector_shapes, arch, self.work_key, lanes[i], bandwidth[i], latency[i])
            num, den = self.lookup_energy.numerator, self.lookup_energy.denominator
            for p, numerators in energy.items():  # the sum of each precision's numerator over its denominator
                d = int(denominators[p][i])
                num, den = num * d + int(numerators[i]) * den, den * d
            if (r, c) not in self.pe_area:
                try:
                    self.pe_area[r, c] = pe_area_um2(arch.with_changes(rows=r, cols=c), dataflows)
                except AccelsimError:
                    raise _HandBack from None
            pe = r * c * self.pe_area[r, c]
            sram = sum(sram_area_um2(kib[i]) for kib in kibs)
            area = {"area_um2": round(pe + sram, 3), "pe_area_um2": round(pe, 3), "sram_area_um2": round(sram, 3)}
            mapping = self._mapping(choices[choice_index[i]])
            total = int(cycles[i]) + latency[i] * self.gemm_layers + vector  # NetworkTotals.cycles
            out.append(batch.result("", total, self.busy, r * c, arch.clock_mhz, (num, den), area,
                                    int(dram[i]) + self.lookup_bytes, mapping))
        return out

    def _mapping(self, choice: tuple[tuple[int, int], ...]) -> dict[str, dict[str, Any]]:
        if choice not in self.mappings:
            mapping: dict[str, dict[str, Any]] = {}
            for shape, (slot, chunk) in zip(self.shapes, choice):
                spec = self.specs[slot // TILES]
                tile = None if slot % TILES == 0 else chunk
                mapping |= dict.fromkeys(shape.names, LayerChoice(spec, tile).to_dict())
            self.mappings[choice] = {name: mapping[name] for name in self.batch.layer_names if name in mapping}
        return self.mappings[choice]


class _Best:
    """Each point's best candidate so far, by the objectives, ties to the first offered (``Batch._best``)."""

    def __init__(self, n: int, objectives: tuple[str, ...]):
        self.objectives = objectives
        self.found = np.zeros(n, dtype=bool)
        self.slot = np.zeros(n, dtype=np.int64)
        self.cycles = np.zeros(n, dtype=np.int64)
        self.energy = np.zeros(n, dtype=np.int64)
        self.dram = np.zeros(n, dtype=np.int64)
        self.chunk = np.zeros(n, dtype=np.int64)

    def offer(self, slot: int, ok: np.ndarray, cycles: np.ndarray, energy: np.ndarray, dram: np.ndarray,
              chunk: np.ndarray) -> None:
        score = {"total_cycles": (cycles, self.cycles), "energy_pj": (energy, self.energy)}
        better = np.zeros(len(ok), dtype=bool)
        equal = np.ones(len(ok), dtype=bool)
        for objective in self.objectives:
            new, old = score[objective]
            better |= equal & (new < old)
            equal &= new == old
        take = ok & (~self.found | better)
        self.found |= ok
        self.slot[take] = slot
        for mine, theirs in ((self.cycles, cycles), (self.energy, energy), (self.dram, dram), (self.chunk, chunk)):
            mine[take] = theirs[take]


def _transfer(nbytes: np.ndarray, num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``⌈nbytes / bandwidth⌉`` per point (:func:`~accelsim.sim.memory.transfer_cycles`): in int64 when the
    product fits, else in Python integers (a bandwidth such as 12.8 is a binary fraction with a 2**49-ish
    denominator)."""
    if not np.size(nbytes) or float(np.max(nbytes)) * float(np.max(den)) < _SAFE:
        return -(-nbytes * den // num)
    return np.array(-(-nbytes.astype(object) * den.astype(object) // num.astype(object)), dtype=np.int64)


def _unique_rows(*columns: np.ndarray) -> tuple[list[tuple[int, ...]], np.ndarray]:
    """The distinct rows of non-negative integer columns (sorted) and each point's index among them."""
    key = np.zeros(len(columns[0]), dtype=np.int64)
    scale = 1.0
    for column in columns:
        top = int(column.max()) + 1 if len(column) else 1
        scale *= top
        if scale >= _SAFE:  # too wide to pack in one int64: numpy's row-wise unique
            unique, inverse = np.unique(np.stack(columns, axis=1), axis=0, return_inverse=True)
            return [tuple(row) for row in unique.tolist()], inverse.reshape(-1)
        key = key * top + column
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    return [tuple(int(c[i]) for c in columns) for i in first.tolist()], inverse.reshape(-1)


def _index(values: list[Any]) -> tuple[np.ndarray, list[Any]]:
    """Each value's index among the distinct values (first-seen order), and those values."""
    seen: dict[Any, int] = {}
    index = np.array([seen.setdefault(v, len(seen)) for v in values], dtype=np.int64)
    return index, list(seen)
